package policy

import (
	"os"
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

func BenchmarkClassifyUncached(b *testing.B) {
	b.SetBytes(int64(len(benchStatement)))
	b.ReportAllocs()
	for b.Loop() {
		ClassifyText(benchStatement)
	}
}

func BenchmarkClassifyCached(b *testing.B) {
	cl, err := NewClassifier(1024)
	if err != nil {
		b.Fatal(err)
	}
	req := Request{Kind: RequestBatch, Text: benchStatement}
	cl.Classify(req)
	b.ReportAllocs()
	for b.Loop() {
		cl.Classify(req)
	}
}

func BenchmarkDecide(b *testing.B) {
	pol := loadExamplePolicy(b)
	req := Request{Kind: RequestBatch, Text: benchStatement, Login: "reporter", Database: "shop"}
	c := ClassifyText(benchStatement)
	b.ReportAllocs()
	for b.Loop() {
		pol.Decide(req, c)
	}
}
