package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMSDriversPatterns runs what the Microsoft-driver rows do beyond the
// shared scenarios, against every target:
//
//   - sqlalchemy/orm: the ORM pattern applications use (an engine with
//     pool_pre_ping=True on a pool of one connection, a SET at connect from an
//     event listener, Sessions, a Session rolled back after an error);
//   - mssql-python{,-rs}/pool-reset: mssql-python's own connection pool,
//     whose reuse of a connection must come back reset (the native core flags
//     the next request RESETCONNECTION).
//
// TestMSDriversPatterns/<target>/<client>/<pattern>.
func TestMSDriversPatterns(t *testing.T) {
	patterns := []struct {
		client *venvPyClient
		name   string
		check  func(t testing.TB, tg *Target, o *patternObservation)
	}{
		{venvClient(t, "sqlalchemy"), "orm", checkORM},
		{venvClient(t, "mssql-python"), "pool-reset", checkPoolReset},
		{venvClient(t, "mssql-python-rs"), "pool-reset", checkPoolReset},
	}
	for _, tf := range targets {
		t.Run(tf.name, func(t *testing.T) {
			t.Parallel()
			tg, skip := tf.start(t)
			if skip != "" {
				t.Skip(skip)
			}
			for _, p := range patterns {
				t.Run(p.client.Name()+"/"+p.name, func(t *testing.T) {
					if miss := p.client.Missing(); miss != "" {
						if inCI() {
							t.Fatalf("client not installed (CI=true, so this is a failure): %s", miss)
						}
						t.Skipf("client not installed: %s", miss)
					}
					o, conns := runPattern(t, tg, p.client, p.name)
					if o.Failure != nil {
						t.Fatalf("%s failed: %s", p.name, o.Failure)
					}
					// A pool of one: every checkout must have reused one TCP
					// connection, or no pooled reuse was tested.
					if len(conns) != 1 {
						t.Errorf("the client opened %d connections, want 1 (a pool of one): %v", len(conns), conns)
					}
					p.check(t, tg, o)
				})
			}
		})
	}
}

// venvClient finds one of msDriverClients by name.
func venvClient(t *testing.T, name string) *venvPyClient {
	for _, c := range msDriverClients {
		if v, ok := c.(*venvPyClient); ok && v.name == name {
			return v
		}
	}
	t.Fatalf("no venv client %q", name)
	return nil
}

// patternObservation is what driver.py prints for the orm and pool-reset
// scenarios, on top of the common fields.
type patternObservation struct {
	Observation
	Checkouts []checkout `json:"checkouts"`
	// orm
	ORMError       *ErrInfo `json:"orm_error"`
	RowsAfter      any      `json:"rows_after"`
	ValuesAfter    []string `json:"values_after"`
	LockTimeoutSet any      `json:"lock_timeout_set"`
}

// checkout is one use of a pooled connection.
type checkout struct {
	SPID        any `json:"spid"`
	LockTimeout any `json:"lock_timeout"`
	TranCount   any `json:"trancount"`
	TempExists  any `json:"temp_exists"`
	// pool-reset: the session's state just before the connection went back
	// to the pool.
	LockTimeoutBeforeClose any `json:"lock_timeout_before_close"`
	TempBeforeClose        any `json:"temp_before_close"`
}

// runPattern runs one pattern through a wiretap and returns what the driver
// observed and the connections it made.
func runPattern(t *testing.T, tg *Target, c *venvPyClient, scenarioName string) (*patternObservation, []wireSummary) {
	t.Helper()
	tap := startWiretap(t, tg.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	r := runSpec{tg: tg, sc: scenario{name: scenarioName, driver: scenarioName, mode: functionalMode},
		addr: tap.Addr(), roAddr: tg.ReadOnlyAddr, table: uniqueTable(c.Name(), scenarioName), tmp: t.TempDir()}
	cmd := exec.CommandContext(ctx, venvPython, filepath.Base(c.program))
	cmd.Dir = filepath.Dir(c.program)
	name := c.clientEnv
	if name == "" {
		name = c.name
	}
	cmd.Env = append(driverEnv(r, name), "TDS_ODBC_DRIVER="+odbcDriverPath())
	cmd.Env = append(cmd.Env, c.extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("running %s %s: %v (stderr: %s)", c.Name(), scenarioName, err, tail(stderr.String()))
	}
	o, err := decodePatternObservation(stdout.Bytes())
	if err != nil {
		t.Fatalf("%v (stderr: %s)", err, tail(stderr.String()))
	}
	if testing.Verbose() {
		t.Logf("observed: %s", truncate(strings.TrimSpace(stdout.String()), 2000))
	}
	return o, tap.Conns()
}

// decodePatternObservation parses the last line of a driver's output.
func decodePatternObservation(stdout []byte) (*patternObservation, error) {
	lines := bytes.Split(bytes.TrimSpace(stdout), []byte("\n"))
	last := lines[len(lines)-1]
	if len(last) == 0 || last[0] != '{' {
		return nil, fmt.Errorf("driver printed no JSON object (last line %q)", truncate(string(last), 200))
	}
	dec := json.NewDecoder(bytes.NewReader(last))
	dec.UseNumber()
	var o patternObservation
	if err := dec.Decode(&o); err != nil {
		return nil, fmt.Errorf("decoding driver output: %w", err)
	}
	return &o, nil
}

// checkORM: three Sessions on a pool of one connection. The first commits a
// row; the second adds a row, hits an error and is rolled back; the third
// sees only the committed row. Every checkout is the same pooled connection,
// carries the connect-time SET LOCK_TIMEOUT and is inside exactly the one
// transaction the Session began (the rollback left none behind).
func checkORM(t testing.TB, tg *Target, o *patternObservation) {
	wantErrNumber(t, "the failing statement inside the Session", o.ORMError, 208)
	wantInt(t, "rows after commit + rolled-back Session", o.RowsAfter, 1)
	if len(o.ValuesAfter) != 1 || o.ValuesAfter[0] != "kept" {
		t.Errorf("values after = %q, want only the committed [kept]", o.ValuesAfter)
	}
	want, ok := asInt(o.LockTimeoutSet)
	if !ok {
		t.Fatalf("lock_timeout_set = %v, want the SET LOCK_TIMEOUT value", o.LockTimeoutSet)
	}
	if len(o.Checkouts) != 3 {
		t.Fatalf("want 3 checkouts, got %d", len(o.Checkouts))
	}
	for i, c := range o.Checkouts {
		wantInt(t, fmt.Sprintf("checkout %d: @@LOCK_TIMEOUT (SET by the connect listener)", i+1), c.LockTimeout, want)
		wantInt(t, fmt.Sprintf("checkout %d: @@TRANCOUNT in a Session", i+1), c.TranCount, 1)
		checkSameSession(t, tg, i, c, o.Checkouts[0])
	}
}

// checkPoolReset: three checkouts from mssql-python's pool of one. Each one
// changes the session (SET LOCK_TIMEOUT, a #temp table) before giving the
// connection back; the next checkout must be the same server session
// (@@SPID), reset: default lock timeout and no #temp table.
func checkPoolReset(t testing.TB, tg *Target, o *patternObservation) {
	if len(o.Checkouts) != 3 {
		t.Fatalf("want 3 checkouts, got %d", len(o.Checkouts))
	}
	for i, c := range o.Checkouts {
		wantInt(t, fmt.Sprintf("checkout %d: @@LOCK_TIMEOUT after SET LOCK_TIMEOUT %d", i+1, 1000+i), c.LockTimeoutBeforeClose, int64(1000+i))
		wantInt(t, fmt.Sprintf("checkout %d: #reset_probe after CREATE TABLE", i+1), c.TempBeforeClose, 1)
		wantInt(t, fmt.Sprintf("checkout %d: @@LOCK_TIMEOUT", i+1), c.LockTimeout, -1)
		wantInt(t, fmt.Sprintf("checkout %d: #reset_probe exists", i+1), c.TempExists, 0)
		checkSameSession(t, tg, i, c, o.Checkouts[0])
	}
}

// checkSameSession asserts that a reused pooled connection is the same server
// session (@@SPID) when the client talks to the server itself. Through the
// proxy the client's one connection may be served by different backend
// sessions (the proxy pools them), so only the wiretap's connection count
// proves the reuse there.
func checkSameSession(t testing.TB, tg *Target, i int, c, first checkout) {
	t.Helper()
	if c.SPID == nil {
		t.Errorf("checkout %d: no @@SPID", i+1)
		return
	}
	if tg.Name != "proxy" && fmt.Sprint(c.SPID) != fmt.Sprint(first.SPID) {
		t.Errorf("checkout %d: @@SPID %v, want the pooled connection's %v", i+1, c.SPID, first.SPID)
	}
}
