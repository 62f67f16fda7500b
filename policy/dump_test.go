package policy

import (
	"os"
	"testing"
)

func TestDump(t *testing.T) {
	q := os.Getenv("Q")
	if q == "" {
		t.Skip()
	}
	t.Log("\n" + ClassifyText(q).Describe())
	pol, err := LoadFiles("../examples/policy/reporting.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"reporter", "app", "dba"} {
		d := pol.Decide(Request{Login: u, Database: "shop"}, ClassifyText(q))
		_, _, msg := d.Error()
		t.Log(u, d.Allowed, msg)
	}
}
