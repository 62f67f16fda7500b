package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
)

// Problem names the first record where the chain breaks.
type Problem struct {
	File   string
	Line   int
	Seq    uint64 // the record concerned (for a missing record, the one missing)
	Reason string
}

// String renders "file:line: seq N: reason".
func (p *Problem) String() string {
	return fmt.Sprintf("%s:%d: seq %d: %s", p.File, p.Line, p.Seq, p.Reason)
}

type entry struct {
	file string
	line int
	raw  []byte
	h    header
	bad  error
}

// Result summarises a verified trail.
type Result struct {
	Records  int
	FirstSeq uint64
	LastSeq  uint64
}

// Verify checks the hash chain of the given audit files (in any order: they
// are ordered by their first sequence number). It returns the first broken,
// reordered or missing record, or nil when the chain is intact; err reports
// files that cannot be read.
//
// It also checks the links of result records: each must refer to an earlier
// request record of the same session that allowed its request, and no
// request may have two results. A result whose request is older than the
// files given (rotated away) is accepted; a request without a result is
// fine (its response had not ended when the proxy stopped).
func Verify(files []string) (firstBad *Problem, err error) {
	p, _, err := VerifyResult(files)
	return p, err
}

// VerifyResult is Verify that also reports what was verified.
func VerifyResult(files []string) (*Problem, Result, error) {
	var res Result
	type fileEntries struct {
		name    string
		entries []entry
	}
	var all []fileEntries
	for _, name := range files {
		es, err := readEntries(name)
		if err != nil {
			return nil, res, err
		}
		if len(es) > 0 {
			all = append(all, fileEntries{name, es})
		}
	}
	firstSeq := func(fe fileEntries) uint64 {
		for _, e := range fe.entries {
			if e.bad == nil {
				return e.h.Seq
			}
		}
		return ^uint64(0)
	}
	sort.SliceStable(all, func(i, j int) bool { return firstSeq(all[i]) < firstSeq(all[j]) })
	var es []entry
	for _, fe := range all {
		es = append(es, fe.entries...)
	}
	if len(es) == 0 {
		return nil, res, nil
	}
	where := make(map[uint64]int, len(es))
	for i, e := range es {
		if e.bad == nil {
			if _, dup := where[e.h.Seq]; !dup {
				where[e.h.Seq] = i
			}
		}
	}
	var expect uint64
	resulted := make(map[uint64]bool)
	// linkBad is the first result record with a wrong link. It is reported
	// unless the chain breaks at it or at the next record: a modified record
	// is named as modified, not by the link its modification broke.
	var linkBad *Problem
	linkAt := -1
	chainBad := func(i int, p *Problem) (*Problem, Result, error) {
		if linkBad != nil && linkAt < i-1 {
			return linkBad, res, nil
		}
		return p, res, nil
	}
	for i, e := range es {
		if e.bad != nil {
			return chainBad(i, &Problem{File: e.file, Line: e.line, Seq: expect, Reason: "not a valid audit record: " + e.bad.Error()})
		}
		if i == 0 {
			expect = e.h.Seq
			res.FirstSeq = e.h.Seq
			if e.h.Seq == 1 && e.h.Prev != genesis {
				return chainBad(i, &Problem{File: e.file, Line: e.line, Seq: 1, Reason: "first record does not start a chain (prev is not zero)"})
			}
		}
		if e.h.Seq != expect {
			if j, ok := where[expect]; ok && j > i {
				return chainBad(i, &Problem{File: e.file, Line: e.line, Seq: e.h.Seq,
					Reason: fmt.Sprintf("out of order: expected seq %d here, found %d (seq %d is at %s:%d)", expect, e.h.Seq, expect, es[j].file, es[j].line)})
			}
			if e.h.Seq > expect {
				return chainBad(i, &Problem{File: e.file, Line: e.line, Seq: expect,
					Reason: fmt.Sprintf("missing: records %d to %d are absent before this line", expect, e.h.Seq-1)})
			}
			return chainBad(i, &Problem{File: e.file, Line: e.line, Seq: e.h.Seq,
				Reason: fmt.Sprintf("out of order or duplicated: seq %d after seq %d", e.h.Seq, expect-1)})
		}
		if i > 0 {
			prev := es[i-1]
			if hashLine(prev.raw) != e.h.Prev {
				// Either prev was changed, or this record's prev field was. If
				// this record's own hash no longer matches the next record's
				// prev, this record is the one that changed.
				if i+1 < len(es) && es[i+1].bad == nil && hashLine(e.raw) != es[i+1].h.Prev {
					return chainBad(i, &Problem{File: e.file, Line: e.line, Seq: e.h.Seq,
						Reason: "modified: its prev field and its own hash both break the chain"})
				}
				return chainBad(i, &Problem{File: prev.file, Line: prev.line, Seq: prev.h.Seq,
					Reason: fmt.Sprintf("modified: its hash does not match the prev field of seq %d (%s:%d)", e.h.Seq, e.file, e.line)})
			}
		}
		if reason := checkLink(&e.h, es, where, resulted, res.FirstSeq); reason != "" && linkBad == nil {
			linkBad, linkAt = &Problem{File: e.file, Line: e.line, Seq: e.h.Seq, Reason: reason}, i
		}
		res.Records++
		res.LastSeq = e.h.Seq
		expect++
	}
	return linkBad, res, nil
}

// checkLink checks a record's kind and, for a result record, its link to
// its request record; it returns why the link is wrong, or "". first is
// the first sequence number of the trail given; where maps sequence numbers
// to entries; resulted holds the requests whose result was seen.
func checkLink(h *header, es []entry, where map[uint64]int, resulted map[uint64]bool, first uint64) string {
	switch h.Kind {
	case "", KindRequest:
		return ""
	case KindResult:
	default:
		return fmt.Sprintf("unknown record kind %q", h.Kind)
	}
	switch {
	case h.Ref == 0:
		return "result record without a ref to its request record"
	case h.Ref >= h.Seq:
		return fmt.Sprintf("result record refers to seq %d, which is not an earlier record", h.Ref)
	case h.Ref < first:
		return "" // its request record is in a file not given (rotated away)
	}
	j, ok := where[h.Ref]
	if !ok {
		return fmt.Sprintf("result record refers to seq %d, which is absent", h.Ref)
	}
	req := &es[j].h
	switch {
	case req.Kind != "" && req.Kind != KindRequest:
		return fmt.Sprintf("result record refers to seq %d, which is a %s record, not a request", h.Ref, req.Kind)
	case req.Decision != "allow":
		return fmt.Sprintf("result record refers to seq %d, a request that was not allowed (so never ran)", h.Ref)
	case req.Session != h.Session:
		return fmt.Sprintf("result record of session %d refers to seq %d of session %d", h.Session, h.Ref, req.Session)
	case resulted[h.Ref]:
		return fmt.Sprintf("second result record for the request at seq %d", h.Ref)
	}
	resulted[h.Ref] = true
	return ""
}

func readEntries(name string) ([]entry, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	var out []entry
	r := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("audit: reading %s: %w", name, err)
		}
		raw := bytes.TrimRight(line, "\n")
		if len(raw) > 0 {
			e := entry{file: name, line: n, raw: raw}
			if uerr := json.Unmarshal(raw, &e.h); uerr != nil {
				e.bad = uerr
			} else if len(e.h.Prev) != 64 || e.h.Seq == 0 {
				e.bad = fmt.Errorf("missing seq or prev")
			} else if len(line) == len(raw) {
				e.bad = fmt.Errorf("record is not terminated by a newline (truncated write?)")
			}
			out = append(out, e)
		}
		if err == io.EOF {
			return out, nil
		}
	}
}

// VerifyCmd is the "tdsproxy audit verify FILE..." command: it prints what
// it found and returns 0 when the chain is intact, 1 when it is broken or a
// file cannot be read, 2 when no file is given.
func VerifyCmd(files []string, stdout, stderr io.Writer) int {
	if len(files) == 0 {
		fmt.Fprintln(stderr, "audit verify: no files given (usage: audit verify FILE...)")
		return 2
	}
	p, res, err := VerifyResult(files)
	if err != nil {
		fmt.Fprintf(stderr, "audit verify: %v\n", err)
		return 1
	}
	if p != nil {
		fmt.Fprintf(stdout, "BROKEN: %s\n", p)
		return 1
	}
	if res.Records == 0 {
		fmt.Fprintln(stdout, "OK: no records")
		return 0
	}
	fmt.Fprintf(stdout, "OK: %d records intact, seq %d to %d\n", res.Records, res.FirstSeq, res.LastSeq)
	if res.FirstSeq > 1 {
		fmt.Fprintf(stdout, "note: the chain starts at seq %d; earlier records were not given (rotated away?)\n", res.FirstSeq)
	}
	return 0
}
