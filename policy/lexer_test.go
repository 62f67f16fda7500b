package policy

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

func kinds(src string) []TokenKind {
	var out []TokenKind
	for _, t := range Lex(src) {
		if t.Kind != TokSpace {
			out = append(out, t.Kind)
		}
	}
	return out
}

func TestLexTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []TokenKind
		bad  bool // some token is marked Bad
	}{
		{"words and operators", "SELECT a+b FROM t", []TokenKind{TokWord, TokWord, TokOperator, TokWord, TokWord, TokWord}, false},
		{"line comment ends at LF", "a -- x\nb", []TokenKind{TokWord, TokLineComment, TokWord}, false},
		{"line comment ends at CR", "a -- x\rb", []TokenKind{TokWord, TokLineComment, TokWord}, false},
		{"line comment with LS is bad", "a -- x\u2028b", []TokenKind{TokWord, TokLineComment}, true},
		{"nested block comment", "/* a /* b */ c */x", []TokenKind{TokBlockComment, TokWord}, false},
		{"unterminated nested comment", "/* /* */ x", []TokenKind{TokBlockComment}, true},
		{"string with doubled quote", "'it''s'x", []TokenKind{TokString, TokWord}, false},
		{"unterminated string", "'abc", []TokenKind{TokString}, true},
		{"nstring", "N'x' n'y'", []TokenKind{TokNString, TokNString}, false},
		{"bracket ident with escape", "[a]]b]c", []TokenKind{TokBracketIdent, TokWord}, false},
		{"quoted ident", `"a""b"`, []TokenKind{TokQuotedIdent}, false},
		{"non-ascii bracket ident is bad", "[ｈｒ]", []TokenKind{TokBracketIdent}, true},
		{"variables", "@a @@b", []TokenKind{TokVariable, TokGlobalVar}, false},
		{"temp names", "#t ##g", []TokenKind{TokTempName, TokGlobalTempName}, false},
		{"numbers", "1 1.5 .5 1e10 1.5E-3 1e", []TokenKind{TokNumber, TokNumber, TokNumber, TokNumber, TokNumber, TokNumber}, false},
		{"binary", "0x1F 0x", []TokenKind{TokBinary, TokBinary}, false},
		{"money", "$12.50 $-1", []TokenKind{TokMoney, TokMoney}, false},
		{"dollar words", "$action $identity", []TokenKind{TokWord, TokWord}, false},
		{"two-char operators", "<> != <= >= !< !> += -= *= /= %= &= |= ^= ::", []TokenKind{
			TokOperator, TokOperator, TokOperator, TokOperator, TokOperator, TokOperator, TokOperator,
			TokOperator, TokOperator, TokOperator, TokOperator, TokOperator, TokOperator, TokOperator, TokOperator}, false},
		{"punctuation", "(a.b, c); l:", []TokenKind{TokLParen, TokWord, TokDot, TokWord, TokComma, TokWord, TokRParen, TokSemicolon, TokWord, TokColon}, false},
		{"fullwidth letters are invalid", "ＳＥ", []TokenKind{TokInvalid, TokInvalid}, false},
		{"no-break space is invalid", "a\u00a0b", []TokenKind{TokWord, TokInvalid, TokWord}, false},
		{"lone bang is invalid", "!", []TokenKind{TokInvalid}, false},
		{"invalid utf-8 byte", "a\xffb", []TokenKind{TokWord, TokInvalid, TokWord}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := kinds(tc.src)
			if len(got) != len(tc.want) {
				t.Fatalf("Lex(%q) kinds = %v, want %v", tc.src, got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("Lex(%q) kinds = %v, want %v", tc.src, got, tc.want)
				}
			}
			bad := false
			for _, tok := range Lex(tc.src) {
				bad = bad || tok.Bad
			}
			if bad != tc.bad {
				t.Fatalf("Lex(%q) bad = %v, want %v", tc.src, bad, tc.bad)
			}
			checkRoundTrip(t, tc.src)
		})
	}
}

// checkRoundTrip verifies that tokens are contiguous, non-empty and cover src.
func checkRoundTrip(t *testing.T, src string) {
	t.Helper()
	toks := Lex(src)
	var sb strings.Builder
	pos := 0
	for _, tok := range toks {
		if tok.Start != pos || tok.End <= tok.Start || tok.End > len(src) {
			t.Fatalf("token %+v breaks coverage at %d of %q", tok, pos, src)
		}
		sb.WriteString(tok.Text(src))
		pos = tok.End
	}
	if pos != len(src) || sb.String() != src {
		t.Fatalf("tokens do not concatenate back to %q", src)
	}
}

var lexSeeds = []string{
	"", "SELECT 1", "/* /* */", "--\r\n", "'''", "N'", "[]]", `""""`, "0x", "$", "$.", "@", "@@", "#", "##",
	"1e+", "..5", "a::b", "\x00\xff\xfe", "ＳＥＬＥＣＴ", "SELECT 1 -- x\u2028DELETE t", "[ｈ", "'\u0085'",
	"EXEC('EXEC(''SELECT 1'')')", "WITH c AS (SELECT 1) SELECT * FROM c",
}

// FuzzLex checks that lexing never panics and that the tokens concatenate
// back to the input.
func FuzzLex(f *testing.F) {
	for _, s := range lexSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		checkRoundTrip(t, src)
		checkSignificant(t, src)
	})
}

// TestLexLinear guards against quadratic behaviour on pathological inputs.
func TestLexLinear(t *testing.T) {
	t.Parallel()
	if raceEnabled || testing.Short() {
		t.Skip("timing guard: skipped under -race and -short")
	}
	buf := make([]Token, 0, 1<<18)
	for _, unit := range []string{"/*", "'", "[", "--", "a", "1e", "''", "/* */", "\xff", "ＳＥ", "N'"} {
		small := strings.Repeat(unit, 1<<10)
		big := strings.Repeat(unit, 1<<16)
		checkLinear(t, unit, func() { buf = AppendTokens(buf[:0], small) }, func() { buf = AppendTokens(buf[:0], big) })
	}
}

// checkLinear compares 64 runs over a small input with one run over an
// input 64 times larger: about equal when the work is linear, about 64
// times more when it is quadratic. Both are repeated until they last tens of
// milliseconds and measured in the thread's CPU time where the platform
// reports it (stable on a shared machine, but tick-grained), wall time
// otherwise; it fails only beyond 10x.
func checkLinear(t *testing.T, name string, small, big func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	smallBatch := func() {
		for i := 0; i < 64; i++ {
			small()
		}
	}
	rounds := 1
	for {
		start := time.Now()
		for r := 0; r < rounds; r++ {
			smallBatch()
		}
		if time.Since(start) >= 30*time.Millisecond || rounds >= 1<<12 {
			break
		}
		rounds *= 2
	}
	measure := func(fn func()) time.Duration {
		start, cpu := threadCPUTime()
		wall := time.Now()
		for r := 0; r < rounds; r++ {
			fn()
		}
		d := time.Since(wall)
		if end, ok := threadCPUTime(); cpu && ok {
			d = end - start
		}
		return d
	}
	ts := measure(smallBatch)
	tb := measure(big)
	if tb > 10*ts+20*time.Millisecond {
		t.Errorf("%q: the 64x input took %v, 64 small inputs %v (%d rounds): not linear", name, tb, ts, rounds)
	}
}

func BenchmarkLex(b *testing.B) {
	src := strings.Repeat(benchStatement+"\n", 64)
	buf := make([]Token, 0, 8192)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	benchLoop(b, len(src), func() { buf = AppendTokens(buf[:0], src) })
}

// benchStatement is a typical ~300-byte reporting statement.
const benchStatement = `SELECT o.id, o.created, c.name, SUM(l.qty * l.price) AS total
FROM sales.orders AS o
JOIN dbo.customers AS c ON c.id = o.customer_id
LEFT JOIN sales.order_lines AS l ON l.order_id = o.id
WHERE o.created >= @p1 AND c.region IN (N'EU', N'US') -- recent
GROUP BY o.id, o.created, c.name ORDER BY total DESC`
