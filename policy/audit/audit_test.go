package audit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tdsproxy/tdsproxy/policy"
)

// writeTrail writes n records to a fresh file trail and returns its files,
// oldest first.
func writeTrail(t *testing.T, n int, maxSize int64) (string, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	w, err := Open(Config{Path: path, MaxSize: maxSize})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		r := &Record{Login: "reporter", Request: "batch", SQL: "SELECT ?", Decision: "allow", Rows: int64(i),
			Time: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC)}
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
		if r.Seq != uint64(i+1) {
			t.Fatalf("record %d got seq %d", i, r.Seq)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rotated, err := RotatedFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, append(rotated, path)
}

func readLines(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n")
}

func writeLines(t *testing.T, file string, lines []string) {
	t.Helper()
	s := strings.Join(lines, "")
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyIntact(t *testing.T) {
	t.Parallel()
	_, files := writeTrail(t, 50, 0)
	p, res, err := VerifyResult(files)
	if err != nil || p != nil {
		t.Fatalf("Verify = %v, %v; want intact", p, err)
	}
	if res.Records != 50 || res.FirstSeq != 1 || res.LastSeq != 50 {
		t.Fatalf("result = %+v", res)
	}
}

func TestVerifyAcrossRotation(t *testing.T) {
	t.Parallel()
	path, files := writeTrail(t, 40, 1000) // ~250-byte records: several files
	if len(files) < 3 {
		t.Fatalf("expected rotation, got files %v", files)
	}
	// Any order of files verifies: they are ordered by first seq.
	rev := append([]string(nil), files...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	if p, err := Verify(rev); err != nil || p != nil {
		t.Fatalf("Verify(reversed) = %v, %v", p, err)
	}
	// Reopening continues the chain.
	w, err := Open(Config{Path: path, MaxSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	r := &Record{Login: "x", Request: "tm", Decision: "deny"}
	if err := w.Write(r); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if r.Seq != 41 {
		t.Fatalf("seq after reopen = %d, want 41", r.Seq)
	}
	rotated, _ := RotatedFiles(path)
	if p, err := Verify(append(rotated, path)); err != nil || p != nil {
		t.Fatalf("Verify after reopen = %v, %v", p, err)
	}
	// Dropping a middle file is a gap.
	p, err := Verify(append(append([]string(nil), rotated[:1]...), append(rotated[2:], path)...))
	if err != nil || p == nil || !strings.Contains(p.Reason, "missing") {
		t.Fatalf("Verify without a middle file = %v, %v; want missing", p, err)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tamper func(lines []string) []string
		seq    uint64
		line   int
		reason string
	}{
		{"flip a byte in a record", func(l []string) []string {
			l[9] = strings.Replace(l[9], `"rows":9`, `"rows":8`, 1)
			return l
		}, 10, 10, "modified"},
		{"flip a byte of the prev field", func(l []string) []string {
			b := []byte(l[9])
			i := strings.Index(l[9], `"prev":"`) + 8
			b[i] ^= 0x01
			l[9] = string(b)
			return l
		}, 10, 10, "modified"},
		{"break the json", func(l []string) []string {
			l[4] = strings.Replace(l[4], "{", "[", 1)
			return l
		}, 5, 5, "not a valid audit record"},
		{"delete a line", func(l []string) []string {
			return append(l[:6], l[7:]...)
		}, 7, 7, "missing"},
		{"swap two lines", func(l []string) []string {
			l[3], l[4] = l[4], l[3]
			return l
		}, 5, 4, "out of order"},
		{"duplicate a line", func(l []string) []string {
			return append(l[:5], append([]string{l[3]}, l[5:]...)...)
		}, 4, 6, "out of order"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, files := writeTrail(t, 20, 0)
			file := files[len(files)-1]
			writeLines(t, file, tc.tamper(readLines(t, file)))
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
			var out, errb bytes.Buffer
			if code := VerifyCmd(files, &out, &errb); code != 1 || !strings.Contains(out.String(), "BROKEN") {
				t.Fatalf("VerifyCmd = %d, %q", code, out.String())
			}
		})
	}
}

func TestVerifyCmd(t *testing.T) {
	t.Parallel()
	_, files := writeTrail(t, 3, 0)
	tests := []struct {
		name  string
		files []string
		code  int
		out   string
	}{
		{"intact", files, 0, "OK: 3 records intact, seq 1 to 3"},
		{"no files", nil, 2, ""},
		{"missing file", []string{filepath.Join(t.TempDir(), "nope")}, 1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := VerifyCmd(tc.files, &out, &errb); code != tc.code {
				t.Fatalf("code = %d, want %d (stdout %q, stderr %q)", code, tc.code, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), tc.out) {
				t.Fatalf("stdout %q lacks %q", out.String(), tc.out)
			}
		})
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrorIsReturned(t *testing.T) {
	t.Parallel()
	w := NewWriter(failingWriter{})
	if err := w.Write(&Record{Login: "a"}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Write error = %v, want disk full", err)
	}
	if w.Seq() != 0 {
		t.Fatal("a failed write advanced the chain")
	}
}

func TestFromDecisionNeverLogsPasswords(t *testing.T) {
	t.Parallel()
	pol, err := policy.LoadFiles("../../examples/policy/reporting.yaml")
	if err != nil {
		t.Fatal(err)
	}
	req := policy.Request{Kind: policy.RequestBatch, Login: "dba", Database: "shop",
		Text: "CREATE LOGIN bob WITH PASSWORD = 'Hunter2!'; SELECT * FROM sales.orders WHERE id = 42"}
	c, _ := policy.Classify(req)
	d := pol.Decide(req, c)
	rec := FromDecision(req, c, d)
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.Write(&rec); err != nil {
		t.Fatal(err)
	}
	line := buf.String()
	if strings.Contains(line, "Hunter2") {
		t.Fatalf("password in audit record: %s", line)
	}
	if !strings.Contains(line, "id = 42") { // dba does not redact literals
		t.Fatalf("literal unexpectedly redacted: %s", line)
	}
	for _, want := range []string{`"decision":"allow"`, `"rule":"dba/everything"`, `"kinds":["create","select"]`, `"select shop.sales.orders"`} {
		if !strings.Contains(line, want) {
			t.Errorf("record lacks %s: %s", want, line)
		}
	}
	// A reporter's denied update: literals redacted, error number set.
	req = policy.Request{Kind: policy.RequestBatch, Login: "reporter", Database: "shop", Text: "UPDATE sales.orders SET total = 0 WHERE id = 7"}
	c, _ = policy.Classify(req)
	d = pol.Decide(req, c)
	rec = FromDecision(req, c, d)
	if rec.Decision != "deny" || rec.Error != 229 || rec.SQL != "UPDATE sales.orders SET total = ? WHERE id = ?" {
		t.Fatalf("record = %+v", rec)
	}
}

func TestRetentionAndStats(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a.jsonl")
	w, err := Open(Config{Path: path, MaxSize: 600, MaxFiles: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		if err := w.Write(&Record{Login: "l", Request: "batch", Decision: "allow"}); err != nil {
			t.Fatal(err)
		}
	}
	st := w.Stats()
	w.Close()
	if st.Records != 30 || st.Rotations == 0 || st.WriteErrors != 0 {
		t.Fatalf("stats = %+v", st)
	}
	rotated, err := RotatedFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated) != 2 {
		t.Fatalf("kept %d rotated files, want 2", len(rotated))
	}
	var out, errb bytes.Buffer
	if code := VerifyCmd(append(rotated, path), &out, &errb); code != 0 || !strings.Contains(out.String(), "chain starts at seq") {
		t.Fatalf("VerifyCmd = %d, %q %q", code, out.String(), errb.String())
	}
	if err := w.Write(&Record{}); err == nil {
		t.Fatal("Write after Close succeeded")
	}
	fw := NewWriter(failingWriter{})
	fw.Write(&Record{})
	if fw.Stats().WriteErrors != 1 {
		t.Fatalf("write errors = %d", fw.Stats().WriteErrors)
	}
	if _, err := Open(Config{}); err == nil {
		t.Fatal("Open without a path succeeded")
	}
}
