package policy

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// classifierSeeds returns every SQL text of the case files and the
// statement table, so the fuzzer starts from realistic input.
func classifierSeeds(t testing.TB) []string {
	seeds := append([]string(nil), lexSeeds...)
	for _, f := range []string{"testdata/reporter_denied.yaml", "testdata/reporter_allowed.yaml"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Cases []struct {
				SQL string `yaml:"sql"`
				RPC struct {
					Text string `yaml:"text"`
				} `yaml:"rpc"`
			} `yaml:"cases"`
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		for _, c := range doc.Cases {
			seeds = append(seeds, c.SQL, c.RPC.Text)
		}
	}
	return seeds
}

// FuzzClassify checks that classification never panics, that statement
// offsets stay inside the text, and that the decision of the example
// policy can always be computed.
func FuzzClassify(f *testing.F) {
	for _, s := range classifierSeeds(f) {
		f.Add(s)
	}
	pol := loadExamplePolicy(f)
	f.Fuzz(func(t *testing.T, src string) {
		c := ClassifyText(src)
		for _, st := range c.Statements {
			if st.Start < 0 || st.End > len(src) || st.Start > st.End {
				t.Fatalf("statement %+v out of range for %d bytes", st, len(src))
			}
			if len(st.Accesses) == 0 {
				t.Fatalf("statement %+v has no access", st)
			}
		}
		// Text the lexer does not understand must never be allowed to the
		// reporter.
		req := Request{Kind: RequestBatch, Text: src, Login: "reporter", Database: "shop"}
		d := pol.Decide(req, c)
		if d.Allowed && hasUntrusted(src) {
			t.Fatalf("reporter allowed text with untrusted tokens: %q\n%s", src, c.Describe())
		}
		_ = AuditText(src, true)
	})
}

// hasUntrusted reports invalid or bad tokens outside comments that end
// cleanly (the classifier must turn those into unknown).
func hasUntrusted(src string) bool {
	for _, tok := range Lex(src) {
		if tok.Kind == TokInvalid || tok.Bad {
			return true
		}
	}
	return false
}

// TestDeepNestingDoesNotOverflow guards the recursion bound on parentheses
// and dynamic SQL.
func TestDeepNestingDoesNotOverflow(t *testing.T) {
	t.Parallel()
	deep := "SELECT " + strings.Repeat("(", 100000) + "1" + strings.Repeat(")", 100000)
	if c := ClassifyText(deep); !c.Unknown() {
		t.Fatal("100000 nested parentheses not unknown")
	}
	dyn := "SELECT 1"
	for i := 0; i < 10; i++ {
		dyn = "EXEC('" + strings.ReplaceAll(dyn, "'", "''") + "')"
	}
	if c := ClassifyText(dyn); !c.Unknown() {
		t.Fatal("10 levels of dynamic SQL not unknown")
	}
}

// benchLoop runs fn b.N times and also reports CPU nanoseconds per
// operation of the benchmark's thread (cpu-ns/op), which stays meaningful
// when the machine is shared and wall-clock ns/op is not.
func benchLoop(b *testing.B, bytes int, fn func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start, ok := threadCPUTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fn()
	}
	b.StopTimer()
	if end, ok2 := threadCPUTime(); ok && ok2 && b.N > 0 && end > start {
		ns := float64(end-start) / float64(b.N)
		b.ReportMetric(ns, "cpu-ns/op")
		if bytes > 0 {
			b.ReportMetric(float64(bytes)/ns*1e3, "cpu-MB/s")
		}
	}
}

func BenchmarkClassifyUncached(b *testing.B) {
	b.SetBytes(int64(len(benchStatement)))
	b.ReportAllocs()
	benchLoop(b, len(benchStatement), func() { ClassifyText(benchStatement) })
}

func BenchmarkClassifyCached(b *testing.B) {
	cl, err := NewClassifier(1024)
	if err != nil {
		b.Fatal(err)
	}
	req := Request{Kind: RequestBatch, Text: benchStatement}
	cl.Classify(req)
	b.ReportAllocs()
	benchLoop(b, 0, func() { cl.Classify(req) })
}

func BenchmarkDecide(b *testing.B) {
	pol := loadExamplePolicy(b)
	req := Request{Kind: RequestBatch, Text: benchStatement, Login: "reporter", Database: "shop"}
	c := ClassifyText(benchStatement)
	b.ReportAllocs()
	benchLoop(b, 0, func() { pol.Decide(req, c) })
}

// TestClassifyLinear guards against quadratic behaviour of the classifier
// on pathological batches (see TestLexLinear for the method).
func TestClassifyLinear(t *testing.T) {
	t.Parallel()
	if raceEnabled || testing.Short() {
		t.Skip("timing guard: skipped under -race and -short")
	}
	units := []string{
		"SELECT 1 ", "x,", "ＳＥ", "(", ")", "FROM a JOIN b ON 1=1 ", "a.b.c.d ", "BEGIN ", "END ",
		"EXEC('SELECT 1') ", "WITH c AS (SELECT 1) ", "CASE WHEN 1=1 THEN ", "t x, ", "@v = ", "'", "/*",
	}
	for _, unit := range units {
		small := "SELECT * FROM " + strings.Repeat(unit, 1<<7)
		big := "SELECT * FROM " + strings.Repeat(unit, 1<<13)
		checkLinear(t, unit, func() { ClassifyText(small) }, func() { ClassifyText(big) })
	}
}
