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
	for i, e := range es {
		if e.bad != nil {
			return &Problem{File: e.file, Line: e.line, Seq: expect, Reason: "not a valid audit record: " + e.bad.Error()}, res, nil
		}
		if i == 0 {
			expect = e.h.Seq
			res.FirstSeq = e.h.Seq
			if e.h.Seq == 1 && e.h.Prev != genesis {
				return &Problem{File: e.file, Line: e.line, Seq: 1, Reason: "first record does not start a chain (prev is not zero)"}, res, nil
			}
		}
		if e.h.Seq != expect {
			if j, ok := where[expect]; ok && j > i {
				return &Problem{File: e.file, Line: e.line, Seq: e.h.Seq,
					Reason: fmt.Sprintf("out of order: expected seq %d here, found %d (seq %d is at %s:%d)", expect, e.h.Seq, expect, es[j].file, es[j].line)}, res, nil
			}
			if e.h.Seq > expect {
				return &Problem{File: e.file, Line: e.line, Seq: expect,
					Reason: fmt.Sprintf("missing: records %d to %d are absent before this line", expect, e.h.Seq-1)}, res, nil
			}
			return &Problem{File: e.file, Line: e.line, Seq: e.h.Seq,
				Reason: fmt.Sprintf("out of order or duplicated: seq %d after seq %d", e.h.Seq, expect-1)}, res, nil
		}
		if i > 0 {
			prev := es[i-1]
			if hashLine(prev.raw) != e.h.Prev {
				// Either prev was changed, or this record's prev field was. If
				// this record's own hash no longer matches the next record's
				// prev, this record is the one that changed.
				if i+1 < len(es) && es[i+1].bad == nil && hashLine(e.raw) != es[i+1].h.Prev {
					return &Problem{File: e.file, Line: e.line, Seq: e.h.Seq,
						Reason: "modified: its prev field and its own hash both break the chain"}, res, nil
				}
				return &Problem{File: prev.file, Line: prev.line, Seq: prev.h.Seq,
					Reason: fmt.Sprintf("modified: its hash does not match the prev field of seq %d (%s:%d)", e.h.Seq, e.file, e.line)}, res, nil
			}
		}
		res.Records++
		res.LastSeq = e.h.Seq
		expect++
	}
	return nil, res, nil
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
