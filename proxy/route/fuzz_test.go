package route

import (
	"strings"
	"testing"
)

// FuzzRouteRecord routes and records arbitrary text: no panic, a decision
// always has a target or an error, and the replay batch is made only of
// the text's own statements.
func FuzzRouteRecord(f *testing.F) {
	for _, s := range []string{
		"SELECT 1", "SET NOCOUNT ON; USE demo; SELECT * FROM #t", "/* tdsproxy:primary */ UPDATE t SET a = 1",
		"IF 1=1 BEGIN SET XACT_ABORT ON END", "EXEC('USE x; SET ANSI_NULLS OFF')", "/*", "SET STATISTICS", "USE [a b]; SET LANGUAGE N'Deutsch'",
	} {
		f.Add(s, false)
	}
	r := newRouter(f, Config{ReadOnlyProcedures: []string{"dbo.report"}}, statuses())
	f.Fuzz(func(t *testing.T, text string, ro bool) {
		req := batch(text)
		d := r.Route(req, &SessionInfo{ReadOnlyIntent: ro})
		if (d.Target == TargetNone) != (d.Err != nil) {
			t.Fatalf("target %v with error %v", d.Target, d.Err)
		}
		l := NewStateLog(nil)
		l.Record(req)
		b, _ := l.Replay(0)
		for _, line := range strings.Split(strings.TrimSuffix(b, ";\n"), ";\n") {
			if line != "" && !strings.Contains(text, line) {
				t.Fatalf("replay line %q is not from the text %q", line, text)
			}
		}
	})
}
