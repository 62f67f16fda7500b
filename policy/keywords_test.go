package policy

import (
	"strings"
	"testing"
)

func TestLookupKw(t *testing.T) {
	t.Parallel()
	for k := kw(1); k < numKw; k++ {
		name := kwInfos[k].name
		for _, spelling := range []string{name, strings.ToLower(name), strings.ToLower(name[:1]) + name[1:]} {
			if got := lookupKw(spelling); got != k {
				t.Errorf("lookupKw(%q) = %d, want %d", spelling, got, k)
			}
		}
	}
	for _, w := range []string{"orders", "sales", "dbo", "SELECTS", "x", "", "deletee", "upd", "ＳＥＬＥＣＴ", "select_"} {
		if got := lookupKw(w); got != kwNone {
			t.Errorf("lookupKw(%q) = %s, want none", w, kwInfos[got].name)
		}
	}
}
