package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tdsproxy/tdsproxy/test/mssqlsim"
)

// startSim starts an in-process simulator and returns a go-mssqldb DSN.
func startSim(t *testing.T) string {
	t.Helper()
	cl, err := mssqlsim.Start(mssqlsim.Config{Addr: "127.0.0.1:0", SampleData: true,
		Logins: map[string]string{"load": "Load-Passw0rd"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return fmt.Sprintf("sqlserver://load:Load-Passw0rd@%s?database=demo&encrypt=disable", cl.Primary().Addr())
}

// TestMainAgainstSimulator drives the real go-mssqldb path: two targets
// (the same server twice), JSON output, a count-bound run.
func TestMainAgainstSimulator(t *testing.T) {
	dsn := startSim(t)
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"-target", "a=" + dsn, "-target", "b=" + dsn,
		"-conns", "1,3", "-count", "60", "-warmup", "0", "-json", "-pid", "b=" + fmt.Sprint(os.Getpid()),
		"-query", "SELECT TOP 50 id, name, email FROM dbo.customers"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if strings.Contains(out.String(), "Load-Passw0rd") {
		t.Error("the output shows the DSN's password")
	}
	dec := json.NewDecoder(&out)
	var rows []Row
	for dec.More() {
		var r Row
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	if len(rows) != 4 {
		t.Fatalf("%d JSON rows, want 4 (2 targets x 2 conns)", len(rows))
	}
	for _, r := range rows {
		if r.Reqs != 60 || r.Errors != 0 || r.Rows != 60*50 || r.Error != "" {
			t.Errorf("%s@%d: requests %d errors %d rows %d error %q; want 60, 0, 3000", r.Target, r.Conns, r.Reqs, r.Errors, r.Rows, r.Error)
		}
		if r.Target == "b" && r.Ratio == 0 {
			t.Errorf("b@%d has no ratio to a", r.Conns)
		}
	}
}

func TestIdleAgainstSimulator(t *testing.T) {
	dsn := startSim(t)
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"-dsn", dsn, "-idle", "20", "-duration", "200ms",
		"-pid", "target=" + fmt.Sprint(os.Getpid())}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out.String(), errb.String())
	}
	for _, w := range []string{"20 connections open (0 failed)", "KiB per connection"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
}
