package audit

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// req and res build the records of a trail with result records.
func req(session uint64, decision string) Record {
	return Record{Kind: KindRequest, Session: session, Login: "app", Request: "batch", SQL: "UPDATE t SET a = ?", Decision: decision, Rows: -1}
}

func res(session, ref uint64, rows int64) Record {
	return Record{Kind: KindResult, Session: session, Ref: ref, Outcome: OutcomeOK, Rows: rows, DurationUS: 120}
}

// writeRecords writes recs, chained, to a new file (rotating at maxSize
// when > 0) and returns the trail's files, oldest first.
func writeRecords(t *testing.T, recs []Record, maxSize int64) []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	w, err := Open(Config{Path: path, MaxSize: maxSize})
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		recs[i].Time = time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC)
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rotated, err := RotatedFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	return append(rotated, path)
}

// goodTrail is two sessions' requests with their results interleaved, a
// denial, a request without a result (its response had not ended), and a
// record of an older trail without a kind.
func goodTrail() []Record {
	legacy := req(3, "allow")
	legacy.Kind = ""
	return []Record{
		req(1, "allow"), // 1
		req(2, "allow"), // 2
		res(2, 2, 5),    // 3
		res(1, 1, 3),    // 4
		req(1, "deny"),  // 5
		legacy,          // 6
		res(3, 6, 0),    // 7
		req(2, "allow"), // 8: no result yet
	}
}

func TestVerifyResultRecordsIntact(t *testing.T) {
	t.Parallel()
	files := writeRecords(t, goodTrail(), 0)
	p, r, err := VerifyResult(files)
	if err != nil || p != nil {
		t.Fatalf("Verify = %v, %v; want intact", p, err)
	}
	if r.Records != 8 {
		t.Errorf("%d records verified, want 8", r.Records)
	}
}

// TestVerifyResultLinks writes chains whose hashes are intact but whose
// result records do not refer to a request that could have had that result.
func TestVerifyResultLinks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		recs   []Record
		seq    uint64 // the record named
		reason string
	}{
		{"ref to itself", []Record{req(1, "allow"), res(1, 2, 0)}, 2, "not an earlier record"},
		{"ref to a later record", []Record{req(1, "allow"), res(1, 3, 0), req(1, "allow")}, 2, "not an earlier record"},
		{"no ref", []Record{req(1, "allow"), res(1, 0, 0)}, 2, "without a ref"},
		{"ref to a denied request", []Record{req(1, "deny"), res(1, 1, 0)}, 2, "not allowed"},
		{"ref to a result", []Record{req(1, "allow"), res(1, 1, 0), res(1, 2, 0)}, 3, "not a request"},
		{"ref to another session's request", []Record{req(1, "allow"), req(2, "allow"), res(2, 1, 0)}, 3, "session 2 refers to seq 1 of session 1"},
		{"two results for one request", []Record{req(1, "allow"), res(1, 1, 3), res(1, 1, 3)}, 3, "second result"},
		{"unknown kind", []Record{req(1, "allow"), {Kind: "note", Session: 1}}, 2, "unknown record kind"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			files := writeRecords(t, tc.recs, 0)
			p, err := Verify(files)
			if err != nil {
				t.Fatal(err)
			}
			if p == nil {
				t.Fatal("Verify found nothing")
			}
			if p.Seq != tc.seq || p.Line != int(tc.seq) || !strings.Contains(p.Reason, tc.reason) {
				t.Fatalf("Verify = %s; want seq %d reason %q", p, tc.seq, tc.reason)
			}
			var out bytes.Buffer
			if code := VerifyCmd(files, &out, &out); code != 1 || !strings.Contains(out.String(), "BROKEN") {
				t.Fatalf("VerifyCmd = %d, %q", code, out.String())
			}
		})
	}
}

// TestVerifyResultTampering edits a trail with result records after the
// fact: the hash chain names the record.
func TestVerifyResultTampering(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tamper func(l []string) []string
		seq    uint64
		line   int
		reason string
	}{
		{"change a result's rows", func(l []string) []string {
			l[3] = strings.Replace(l[3], `"rows":3`, `"rows":4`, 1)
			return l
		}, 4, 4, "modified"},
		{"change a result's ref", func(l []string) []string {
			l[2] = strings.Replace(l[2], `"ref":2`, `"ref":1`, 1)
			return l
		}, 3, 3, "modified"},
		{"change a result's outcome", func(l []string) []string {
			l[3] = strings.Replace(l[3], `"outcome":"ok"`, `"outcome":"error"`, 1)
			return l
		}, 4, 4, "modified"},
		{"delete a result", func(l []string) []string {
			return append(l[:2], l[3:]...)
		}, 3, 3, "missing"},
		{"swap a request and its result", func(l []string) []string {
			l[1], l[2] = l[2], l[1]
			return l
		}, 3, 2, "out of order"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			files := writeRecords(t, goodTrail(), 0)
			file := files[len(files)-1]
			lines := readLines(t, file)
			writeLines(t, file, tc.tamper(lines))
			p, err := Verify(files)
			if err != nil {
				t.Fatal(err)
			}
			if p == nil {
				t.Fatal("Verify found nothing")
			}
			if p.Seq != tc.seq || p.Line != tc.line || !strings.Contains(p.Reason, tc.reason) {
				t.Fatalf("Verify = %s; want seq %d line %d reason %q", p, tc.seq, tc.line, tc.reason)
			}
		})
	}
}

// TestVerifyResultOfRotatedRequest checks that a result whose request
// record is in a rotated file not given is accepted, and caught when the
// file is given and the link is wrong.
func TestVerifyResultOfRotatedRequest(t *testing.T) {
	t.Parallel()
	var recs []Record
	for range 6 {
		recs = append(recs, req(1, "allow"))
	}
	recs = append(recs, res(1, 1, 2), res(1, 2, 0)) // seq 7, 8
	files := writeRecords(t, recs, 700)             // ~250-byte records: rotation
	if len(files) < 2 {
		t.Fatalf("no rotation: %v", files)
	}
	last := files[len(files)-1:]
	p, r, err := VerifyResult(last)
	if err != nil || p != nil {
		t.Fatalf("Verify(%v) = %v, %v; want intact", last, p, err)
	}
	if r.FirstSeq <= 2 {
		t.Fatalf("the last file starts at seq %d; the test needs the requests rotated away", r.FirstSeq)
	}
	if p, err := Verify(files); err != nil || p != nil {
		t.Fatalf("Verify(all) = %v, %v; want intact", p, err)
	}
}
