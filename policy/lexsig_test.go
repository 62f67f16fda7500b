package policy

import (
	"reflect"
	"sync"
	"testing"
)

// significantFromLex is the reference for appendSignificant: Lex, then the
// filtering and keyword lookup the classifier needs.
func significantFromLex(src string) (toks []stok, untrusted, danger bool) {
	for _, t := range Lex(src) {
		kind := t.Kind
		switch kind {
		case TokSpace:
			continue
		case TokLineComment, TokBlockComment:
			if !t.Bad {
				continue
			}
			kind = TokInvalid
		}
		untrusted = untrusted || t.Bad || kind == TokInvalid
		s := stok{kind: kind, bad: t.Bad, start: t.Start, end: t.End}
		if kind == TokWord {
			s.kw = lookupKw(src[t.Start:t.End])
			danger = danger || dangerous[s.kw]
		}
		toks = append(toks, s)
	}
	return toks, untrusted, danger
}

// checkSignificant verifies that the classifier's inline lexer agrees with
// Lex token for token.
func checkSignificant(t *testing.T, src string) {
	t.Helper()
	got, gu, gd := appendSignificant(nil, src)
	want, wu, wd := significantFromLex(src)
	if len(got) == 0 && len(want) == 0 {
		got, want = nil, nil
	}
	if !reflect.DeepEqual(got, want) || gu != wu || gd != wd {
		t.Fatalf("appendSignificant(%q) = %v untrusted=%v danger=%v\nLex gives %v untrusted=%v danger=%v",
			src, got, gu, gd, want, wu, wd)
	}
}

// TestSignificantMatchesLex guards the fast paths of appendSignificant
// (whitespace, words, punctuation) against drifting from lexOne.
func TestSignificantMatchesLex(t *testing.T) {
	t.Parallel()
	srcs := append([]string{
		benchStatement,
		"N'x'n'y'N N n Nx 'a' .5 a.b . .x 1.e5 t.*",
		"x,y;(z)", "$action $1 $", "a--c\nb/*d*/e/* /*", "a\u2028b -- \u2028\nDELETE",
		"select INTO DeLeTe exec(@s) EXECUTE sp_who", "$update #t ##g @v @@rowcount",
		"[a]]b] \"q\"\"r\" [ｈ] 0x1F 1e+ 12.5E-3 ::", "\t\r\n\v\fSELECT\x00", "ＳＥ\xff\xfe",
	}, lexSeeds...)
	for _, src := range srcs {
		checkSignificant(t, src)
	}
}

// TestPooledParserKeepsResults guards the parser pool: a classification
// must not change when later texts are classified with the recycled
// parser and its buffers.
func TestPooledParserKeepsResults(t *testing.T) {
	t.Parallel()
	first := ClassifyText("UPDATE dbo.a SET x = 1 FROM dbo.a JOIN sales.b ON 1=1")
	want := first.Describe()
	for _, src := range []string{
		benchStatement, "DELETE t; INSERT INTO u SELECT * FROM v; SET NOCOUNT ON",
		"EXEC('SELECT * FROM w')", "CREATE VIEW v AS SELECT * FROM x", "WITH c AS (SELECT 1 a) SELECT * FROM c",
	} {
		for i := 0; i < 4; i++ {
			ClassifyText(src)
		}
	}
	if got := first.Describe(); got != want {
		t.Fatalf("classification changed after later parses:\nbefore %s\nafter  %s", want, got)
	}
}

// TestConcurrentClassifyMatchesSerial guards the parser pool under
// concurrent use (run with -race): every goroutine gets the result a serial
// classification gives.
func TestConcurrentClassifyMatchesSerial(t *testing.T) {
	t.Parallel()
	srcs := []string{
		benchStatement, "UPDATE o SET x = 1 FROM dbo.orders o", "EXEC('DELETE FROM sales.t')",
		"WITH c AS (SELECT * FROM a) SELECT * FROM c JOIN b ON 1=1", "CREATE PROC p AS SELECT * FROM q",
		"USE shop; SELECT * INTO #t FROM x", "BEGIN TRAN; INSERT t VALUES (1); COMMIT",
	}
	want := make([]string, len(srcs))
	for i, src := range srcs {
		want[i] = ClassifyText(src).Describe()
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for n := 0; n < 50; n++ {
				i := (g + n) % len(srcs)
				if got := ClassifyText(srcs[i]).Describe(); got != want[i] {
					errs <- srcs[i] + ": " + got + " want " + want[i]
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
