package policy

import "testing"

// TestSafetyNet feeds whole texts to the safety net as if the parser had
// classified them as one read-only statement: a dangerous keyword anywhere
// must make the statement unknown, except FOR UPDATE and INTO @variable.
func TestSafetyNet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text    string
		unknown bool
	}{
		{"SELECT a FROM t DELETE FROM t", true},
		{"SELECT a INTO x FROM t", true},
		{"SELECT a FROM t; EXEC p", true},
		{"SELECT * FROM OPENQUERY(s, 'x')", true},
		{"DECLARE c CURSOR FOR SELECT a FROM t FOR UPDATE OF a", false},
		{"FETCH NEXT FROM c INTO @a, @b", false},
		{"SELECT 'DELETE', [update] FROM t -- DROP", false},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			t.Parallel()
			p := newParser(tc.text, 0)
			defer p.release()
			b := p.begin(KindSelect)
			b.add(KindSelect, nil)
			p.pos = len(p.toks)
			p.safetyNet(b)
			got := false
			for _, a := range b.st.Accesses {
				got = got || a.Action == KindUnknown
			}
			if got != tc.unknown {
				t.Fatalf("unknown = %v, want %v (%+v)", got, tc.unknown, b.st.Accesses)
			}
		})
	}
}
