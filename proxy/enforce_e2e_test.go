package proxy

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/policy/audit"
	"github.com/tdsproxy/tdsproxy/test/mssqlsim"
)

// The logins of reporting.yaml, all known to the simulator.
var enforceLogins = map[string]string{
	"reporter": "Rep-Passw0rd!",
	"app":      "App-Passw0rd!",
	"dba":      "Dba-Passw0rd!",
}

// enforceHarness is the simulator (with its sample demo database) behind a
// proxy that enforces a copy of reporting.yaml and writes an audit trail.
type enforceHarness struct {
	*harness
	policyFile string
	auditFile  string
}

func newEnforceHarness(t testing.TB) *enforceHarness {
	t.Helper()
	sim, err := mssqlsim.Start(mssqlsim.Config{Addr: "127.0.0.1:0", Logins: enforceLogins, SampleData: true})
	if err != nil {
		t.Fatalf("starting the simulator: %v", err)
	}
	t.Cleanup(func() { sim.Close() })
	dir := t.TempDir()
	policyFile, auditFile := filepath.Join(dir, "reporting.yaml"), filepath.Join(dir, "audit.jsonl")
	src, err := os.ReadFile(reportingPolicy)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, policyFile, src)
	tlsCert, tlsKey, caFile := proxyCertFiles(t)
	cfg := Config{
		TLSCert: tlsCert, TLSKey: tlsKey, Listen: "127.0.0.1:0", Primary: sim.Primary().Addr(),
		BackendEncrypt: BackendEncryptDisable, LoginTimeout: 5 * time.Second,
		BackendConnectTimeout: 3 * time.Second, ShutdownGrace: 3 * time.Second,
		PolicyFiles: []string{policyFile}, AuditLog: auditFile,
	}
	h := startProxy(t, sim, cfg, caFile)
	return &enforceHarness{harness: h, policyFile: policyFile, auditFile: auditFile}
}

// conn opens one client session of login through the proxy.
func (h *enforceHarness) conn(login string) *sql.Conn {
	h.t.Helper()
	db, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://%s:%s@%s?database=demo&dial+timeout=5&encrypt=disable",
		login, enforceLogins[login], h.srv.Addr()))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { db.Close() })
	c, err := db.Conn(context.Background())
	if err != nil {
		h.t.Fatalf("connecting as %s: %v", login, err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

// wantDenied checks that err is the policy's permission error.
func wantDenied(t *testing.T, err error, number int32, mention string) {
	t.Helper()
	e, ok := sqlError(err)
	if !ok {
		t.Fatalf("want error %d, got %v", number, err)
	}
	if e.Number != number || e.Class != 14 {
		t.Errorf("error %d class %d, want %d class 14: %s", e.Number, e.Class, number, e.Message)
	}
	if !strings.Contains(e.Message, mention) || !strings.Contains(e.Message, "reporting.yaml:") {
		t.Errorf("message %q does not mention %q and the rule's file:line", e.Message, mention)
	}
}

func countOrders(t *testing.T, c *sql.Conn) int {
	t.Helper()
	var n int
	if err := c.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM sales.orders").Scan(&n); err != nil {
		t.Fatalf("SELECT through the proxy: %v", err)
	}
	return n
}

func TestEnforceReporterEndToEnd(t *testing.T) {
	t.Parallel()
	h := newEnforceHarness(t)
	ctx := context.Background()
	c := h.conn("reporter")
	before := countOrders(t, c)

	steps := []struct {
		name    string
		run     func() error
		number  int32
		mention string
	}{
		{"UPDATE batch", func() error {
			_, err := c.ExecContext(ctx, "UPDATE sales.orders SET amount = 0")
			return err
		}, 229, "UPDATE sales.orders"},
		{"write through sp_executesql", func() error {
			_, err := c.ExecContext(ctx, "DELETE FROM sales.orders WHERE id = @p1", 1)
			return err
		}, 229, "DELETE sales.orders"},
		{"other schema", func() error {
			_, err := c.ExecContext(ctx, "SELECT * FROM sys.sql_logins")
			return err
		}, 229, "sys.sql_logins"},
		{"TM BEGIN (BeginTx)", func() error {
			tx, err := c.BeginTx(ctx, nil)
			if err == nil {
				tx.Rollback()
			}
			return err
		}, 262, "BEGIN TRANSACTION"},
		{"sp_prepexec of a write", func() error {
			var handle int32
			_, err := c.ExecContext(ctx, "sp_prepexec", sql.Named("handle", sql.Out{Dest: &handle}),
				sql.Named("params", ""), sql.Named("stmt", "DELETE FROM sales.orders"))
			return err
		}, 229, "DELETE"},
		{"sp_execute of a handle the proxy never saw", func() error {
			_, err := c.ExecContext(ctx, "sp_execute", sql.Named("handle", 1))
			return err
		}, 262, "handle 1"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			wantDenied(t, st.run(), st.number, st.mention)
			// The session goes on.
			if n := countOrders(t, c); n != before {
				t.Fatalf("orders %d → %d: a denied statement ran", before, n)
			}
		})
	}

	t.Run("prepared statement re-executed", func(t *testing.T) {
		stmt, err := c.PrepareContext(ctx, "SELECT COUNT(*) FROM sales.orders WHERE id > @p1")
		if err != nil {
			t.Fatal(err)
		}
		defer stmt.Close()
		for i := range 2 {
			var n int
			if err := stmt.QueryRowContext(ctx, 0).Scan(&n); err != nil || n != before {
				t.Fatalf("execution %d: %d, %v", i+1, n, err)
			}
		}
	})
	t.Run("sp_prepexec then sp_execute by handle", func(t *testing.T) {
		var handle int32
		var n int
		err := c.QueryRowContext(ctx, "sp_prepexec", sql.Named("handle", sql.Out{Dest: &handle}),
			sql.Named("params", ""), sql.Named("stmt", "SELECT COUNT(*) FROM sales.orders")).Scan(&n)
		if err != nil || n != before {
			t.Fatalf("sp_prepexec: %d, %v", n, err)
		}
		if handle == 0 {
			t.Fatal("no handle returned")
		}
		if err := c.QueryRowContext(ctx, "sp_execute", sql.Named("handle", handle)).Scan(&n); err != nil || n != before {
			t.Fatalf("sp_execute %d: %d, %v", handle, n, err)
		}
	})

	m := h.srv.enf.metrics
	if got := h.metric(m.Decisions.WithLabelValues("write", "deny")); got < 3 {
		t.Errorf("write denials counted %v, want ≥ 3", got)
	}
	if got := h.metric(m.Decisions.WithLabelValues("read", "allow")); got < 5 {
		t.Errorf("read allowances counted %v, want ≥ 5", got)
	}
}

func TestEnforceAppWrites(t *testing.T) {
	t.Parallel()
	h := newEnforceHarness(t)
	ctx := context.Background()
	c := h.conn("app")
	before := countOrders(t, c)
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("BeginTx (TM BEGIN) for app: %v", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO sales.orders (customer_id, amount, placed_at, status) VALUES (@p1, 10.5, '2026-01-01', 'new')", 1); err != nil {
		t.Fatalf("INSERT: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if n := countOrders(t, c); n != before+1 {
		t.Errorf("orders %d → %d, want one more", before, n)
	}
	_, err = c.ExecContext(ctx, "DROP TABLE sales.orders")
	wantDenied(t, err, 229, "DROP TABLE sales.orders")

	// Both writes and the denial are in the trail, which verifies.
	recs := readAudit(t, h.auditFile)
	var decisions []string
	for _, r := range recs {
		decisions = append(decisions, r.Decision+" "+strings.Join(r.Kinds, ","))
	}
	got := strings.Join(decisions, "; ")
	for _, want := range []string{"allow begin_tran", "allow insert", "allow commit", "deny drop"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit trail %q lacks %q", got, want)
		}
	}
	for _, r := range recs {
		if strings.Contains(r.SQL, "10.5") || strings.Contains(r.SQL, "new") {
			t.Errorf("literal in a redacted record: %q", r.SQL)
		}
		if r.IsResult() {
			if r.Session == 0 || r.Ref == 0 || r.Outcome != audit.OutcomeOK {
				t.Errorf("result record lacks session, ref or outcome ok: %+v", r)
			}
			continue
		}
		if r.Login != "app" || r.Session == 0 || r.Client == "" || r.Backend == "" || r.Database != "demo" {
			t.Errorf("record lacks identity: %+v", r)
		}
	}
}

// readAudit verifies the trail and returns its records.
func readAudit(t *testing.T, path string) []audit.Record {
	t.Helper()
	if bad, err := audit.Verify([]string{path}); err != nil || bad != nil {
		t.Fatalf("audit.Verify: %v %v", bad, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Record
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("record %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

func TestEnforceAuditTamperEvident(t *testing.T) {
	t.Parallel()
	h := newEnforceHarness(t)
	ctx := context.Background()
	dba := h.conn("dba") // audit: all
	for i := range 3 {
		if _, err := dba.ExecContext(ctx, fmt.Sprintf("SELECT %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := h.conn("reporter").ExecContext(ctx, "TRUNCATE TABLE sales.orders")
	wantDenied(t, err, 229, "TRUNCATE")
	recs := readAudit(t, h.auditFile)
	if len(recs) != 7 {
		t.Fatalf("%d records, want 7 (3 requests by dba and their 3 results, 1 denial)", len(recs))
	}
	data, err := os.ReadFile(h.auditFile)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(data), `"SELECT 1"`)
	if i < 0 {
		t.Fatalf("no SELECT 1 record in %s", data)
	}
	data[i+8] = '2' // SELECT 1 → SELECT 2
	tampered := filepath.Join(t.TempDir(), "audit.jsonl")
	writeFile(t, tampered, data)
	bad, err := audit.Verify([]string{tampered})
	if err != nil || bad == nil {
		t.Fatalf("Verify of a changed byte: %v %v, want a problem", bad, err)
	}
	if got := h.metric(h.srv.enf.metrics.AuditRecords); got != 7 {
		t.Errorf("audit records metric = %v, want 7", got)
	}
}

func TestEnforceAuditFailureRefuses(t *testing.T) {
	t.Parallel()
	h := newEnforceHarness(t)
	ctx := context.Background()
	// The trail breaks (as on a full or failed disk) before anyone connects.
	if err := h.srv.enf.audit.Close(); err != nil {
		t.Fatal(err)
	}
	app := h.conn("app") // audit: writes
	before := countOrders(t, app)
	_, err := app.ExecContext(ctx, "UPDATE sales.orders SET amount = 0")
	e, ok := sqlError(err)
	if !ok || e.Number != 33204 {
		t.Fatalf("UPDATE with a broken audit trail: want error 33204, got %v", err)
	}
	if n := countOrders(t, app); n != before {
		t.Errorf("orders changed")
	}
	var amount float64
	if err := app.QueryRowContext(ctx, "SELECT SUM(amount) FROM sales.orders").Scan(&amount); err != nil || amount == 0 {
		t.Errorf("the refused UPDATE ran (sum %v, %v)", amount, err)
	}
	if got := h.metric(h.srv.enf.metrics.AuditFailures); got != 1 {
		t.Errorf("audit failures metric = %v, want 1", got)
	}
	if h.logs.FilterMessage("audit record could not be written").Len() == 0 {
		t.Error("the audit failure was not logged")
	}
}

func TestEnforceAuditLogUnusable(t *testing.T) {
	t.Parallel()
	tlsCert, tlsKey, _ := proxyCertFiles(t)
	_, err := New(Config{TLSCert: tlsCert, TLSKey: tlsKey, Primary: "127.0.0.1:1",
		PolicyFiles: []string{reportingPolicy}, AuditLog: t.TempDir()}, zap.NewNop(), nil)
	if err == nil || !strings.Contains(err.Error(), "audit") {
		t.Fatalf("New with a directory as audit log: %v, want an audit error", err)
	}
	_, err = New(Config{TLSCert: tlsCert, TLSKey: tlsKey, Primary: "127.0.0.1:1",
		PolicyFiles: []string{filepath.Join(t.TempDir(), "missing.yaml")}}, zap.NewNop(), nil)
	if err == nil {
		t.Fatal("New with a missing policy file succeeded")
	}
}

func TestEnforceReload(t *testing.T) {
	t.Parallel()
	h := newEnforceHarness(t)
	ctx := context.Background()
	c := h.conn("reporter")
	m := h.srv.enf.metrics
	readCustomers := func() error {
		_, err := c.ExecContext(ctx, "SELECT name FROM dbo.customers")
		return err
	}
	if err := readCustomers(); err != nil {
		t.Fatalf("reporter reads dbo.customers: %v", err)
	}
	orig, err := os.ReadFile(h.policyFile)
	if err != nil {
		t.Fatal(err)
	}

	// An invalid file is rejected; the previous policy stays.
	writeFile(t, h.policyFile, append(append([]byte{}, orig...), "\nbogus_key: 1\n"...))
	if err := h.srv.ReloadPolicy(); err == nil {
		t.Fatal("ReloadPolicy accepted an invalid file")
	}
	if got := h.metric(m.Reloads.WithLabelValues("failure")); got < 1 {
		t.Errorf("failed reloads counted %v", got)
	}
	if err := readCustomers(); err != nil {
		t.Fatalf("after a failed reload the previous policy must stay: %v", err)
	}

	// A valid change applies from the session's next request (SIGHUP path).
	narrowed := strings.Replace(string(orig), `objects: ["*.dbo.*", "*.sales.*"]`, `objects: ["*.sales.*"]`, 1)
	if narrowed == string(orig) {
		t.Fatal("reporting.yaml changed: cannot narrow the reporter's rule")
	}
	writeFile(t, h.policyFile, []byte(narrowed))
	if err := h.srv.ReloadPolicy(); err != nil {
		t.Fatalf("ReloadPolicy: %v", err)
	}
	wantDenied(t, readCustomers(), 229, "dbo.customers")

	// The file watcher picks up the next change by itself.
	oks := h.metric(m.Reloads.WithLabelValues("success"))
	writeFile(t, h.policyFile, orig)
	waitFor(t, 5*time.Second, "the watcher to reload the policy", func() bool {
		return h.metric(m.Reloads.WithLabelValues("success")) > oks
	})
	if err := readCustomers(); err != nil {
		t.Fatalf("after the watcher's reload: %v", err)
	}
}

// TestEnforceBulkCopy drives go-mssqldb's bulk copy (an INSERT BULK batch,
// then a bulk load message) through the proxy: dba's is forwarded, app's
// (no bulk_insert in its role) is refused at the INSERT BULK.
func TestEnforceBulkCopy(t *testing.T) {
	t.Parallel()
	h := newEnforceHarness(t)
	ctx := context.Background()
	copyIn := func(c *sql.Conn) error {
		stmt, err := c.PrepareContext(ctx, mssql.CopyIn("sales.orders", mssql.BulkOptions{}, "customer_id", "amount", "placed_at", "status"))
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := range 3 {
			if _, err := stmt.ExecContext(ctx, i+1, 9.5, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "bulk"); err != nil {
				return err
			}
		}
		_, err = stmt.ExecContext(ctx)
		return err
	}
	dba := h.conn("dba")
	before := countOrders(t, dba)
	if err := copyIn(dba); err != nil {
		t.Fatalf("bulk copy as dba: %v", err)
	}
	if n := countOrders(t, dba); n != before+3 {
		t.Fatalf("orders %d → %d, want 3 more", before, n)
	}
	app := h.conn("app")
	wantDenied(t, copyIn(app), 229, "sales.orders")
	if n := countOrders(t, app); n != before+3 {
		t.Errorf("app's denied bulk copy changed the table: %d rows", n)
	}
	var kinds []string
	for _, r := range readAudit(t, h.auditFile) {
		if r.Login == "dba" && r.Request == "bulkload" {
			kinds = append(kinds, strings.Join(r.Kinds, ","))
		}
	}
	if len(kinds) != 1 || kinds[0] != "bulk_insert" {
		t.Errorf("dba's bulk load records: %q, want one bulk_insert", kinds)
	}
}

// BenchmarkEnforcedSelect measures a one-session SELECT round trip through
// a proxy enforcing reporting.yaml: reporter (decided, not audited), dba
// (decided and audited: a request record written before each request and a
// result record as its response ends) and the
// simulator directly for reference.
func BenchmarkEnforcedSelect(b *testing.B) {
	h := newEnforceHarness(b)
	const q = "SELECT COUNT(*) FROM sales.orders WHERE amount > 10"
	for _, target := range []struct{ name, login, addr string }{
		{"direct", "reporter", h.sim.Primary().Addr()},
		{"reporter", "reporter", h.srv.Addr().String()},
		{"dba-audited", "dba", h.srv.Addr().String()},
	} {
		b.Run(target.name, func(b *testing.B) {
			db, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://%s:%s@%s?database=demo&encrypt=disable",
				target.login, enforceLogins[target.login], target.addr))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			var n int
			for b.Loop() {
				if err := db.QueryRow(q).Scan(&n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
