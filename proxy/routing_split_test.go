package proxy

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// newRoutedHarness starts a simulator with two replicas and a proxy routing
// between them, probing with the simulator's login every 100ms.
func newRoutedHarness(t *testing.T, more func(*Config)) *harness {
	t.Helper()
	h := newHarness(t, harnessOpts{replicas: 2, config: func(c *Config) {
		c.MonitorUser, c.MonitorPassword = simUser, simPassword
		c.HealthInterval = 100 * time.Millisecond
		c.HealthTimeout = time.Second
		c.BreakerFailures = 2
		c.BreakerOpenTimeout = 500 * time.Millisecond
		if more != nil {
			more(c)
		}
	}})
	h.waitRoles()
	return h
}

// waitRoles waits until the health checker has seen the primary and both
// replicas up.
func (h *harness) waitRoles() {
	h.t.Helper()
	waitFor(h.t, 5*time.Second, "the health checker to see every backend up", func() bool {
		up := 0
		for _, st := range h.srv.routing.checker.Snapshot() {
			if st.State.String() == "up" {
				up++
			}
		}
		return up == 3
	})
}

// serverName returns @@SERVERNAME through q.
func serverName(t *testing.T, q interface {
	QueryRow(string, ...any) *sql.Row
}, extra string) string {
	t.Helper()
	var name string
	if err := q.QueryRow(extra + "SELECT @@SERVERNAME").Scan(&name); err != nil {
		t.Fatalf("SELECT @@SERVERNAME: %v", err)
	}
	return name
}

func TestRoutingReadWriteSplit(t *testing.T) {
	h := newRoutedHarness(t, nil)
	primary := h.sim.Primary().Name()
	db := h.open("")
	db.SetMaxOpenConns(1) // one session: every request below shares it
	if _, err := db.Exec("CREATE TABLE dbo.items (id INT PRIMARY KEY, v NVARCHAR(20))"); err != nil {
		t.Fatalf("CREATE TABLE: %v", err)
	}
	// Let the replicas apply the table and the read-your-writes window pass.
	time.Sleep(2500 * time.Millisecond)

	t.Run("reads go to replicas and spread", func(t *testing.T) {
		seen := map[string]int{}
		for range 20 {
			seen[serverName(t, db, "")]++
		}
		if seen[primary] != 0 || len(seen) != 2 {
			t.Errorf("reads served by %v, want both replicas and not %s", seen, primary)
		}
	})
	t.Run("writes go to the primary", func(t *testing.T) {
		if got := serverName(t, db, "INSERT INTO dbo.items VALUES (1, N'a'); "); got != primary {
			t.Errorf("a write was served by %s, want %s", got, primary)
		}
	})
	t.Run("the hint sends a read to the primary", func(t *testing.T) {
		if got := serverName(t, db, "/* tdsproxy:primary */ "); got != primary {
			t.Errorf("a hinted read was served by %s, want %s", got, primary)
		}
	})
	t.Run("reads in BEGIN TRAN stay on the primary", func(t *testing.T) {
		conn, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(context.Background(), "BEGIN TRAN"); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			var name string
			if err := conn.QueryRowContext(context.Background(), "SELECT @@SERVERNAME").Scan(&name); err != nil {
				t.Fatal(err)
			}
			if name != primary {
				t.Errorf("a read inside BEGIN TRAN was served by %s", name)
			}
		}
		if _, err := conn.ExecContext(context.Background(), "COMMIT"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("reads in BeginTx (TM request) stay on the primary", func(t *testing.T) {
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if got := serverName(t, tx, ""); got != primary {
				t.Errorf("a read inside BeginTx was served by %s", got)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		if n := h.gathered("tdsproxy_router_requests_total", map[string]string{"target": "replica", "reason": "read"}); n < 20 {
			t.Errorf("tdsproxy_router_requests_total{target=replica,reason=read} = %v, want >= 20", n)
		}
		body := h.adminGet("/metrics")
		for _, name := range []string{"tdsproxy_router_requests_total", "tdsproxy_breaker_state", "tdsproxy_backend_up", "tdsproxy_backend_lag_seconds"} {
			if !strings.Contains(body, name) {
				t.Errorf("/metrics lacks %s", name)
			}
		}
		if b := h.adminGet("/backends"); !strings.Contains(b, `"secondary"`) || strings.Contains(b, simPassword) {
			t.Errorf("/backends: %s", b)
		}
	})
}

// adminGet fetches a path of the admin handler.
func (h *harness) adminGet(path string) string {
	h.t.Helper()
	rec := httptest.NewRecorder()
	h.srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return string(b)
}

// gathered sums the values of a registered metric's series whose labels
// include want.
func (h *harness) gathered(name string, want map[string]string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

func TestRoutingSessionStatePinsAndResets(t *testing.T) {
	h := newRoutedHarness(t, nil)
	primary := h.sim.Primary().Name()
	createDatabase(t, h.sim.Primary().Addr(), "other")
	time.Sleep(300 * time.Millisecond) // the replicas apply it
	ctx := context.Background()

	t.Run("a temp table pins the session to the primary", func(t *testing.T) {
		db := h.open("")
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "CREATE TABLE #scratch (a INT); INSERT INTO #scratch VALUES (1)"); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM #scratch").Scan(&n); err != nil || n != 1 {
			t.Fatalf("reading the temp table: %d, %v", n, err)
		}
		for range 3 {
			var got string
			if err := conn.QueryRowContext(ctx, "SELECT @@SERVERNAME").Scan(&got); err != nil || got != primary {
				t.Errorf("a pinned session's read was served by %q (%v)", got, err)
			}
		}
		if n := h.gathered("tdsproxy_router_pins_total", map[string]string{"reason": "temp_table"}); n < 1 {
			t.Errorf("pins{reason=temp_table} = %v", n)
		}
	})
	t.Run("a reset on one connection resets the others before their next use", func(t *testing.T) {
		db := h.open("")
		db.SetMaxOpenConns(1)
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, "USE other"); err != nil {
			t.Fatal(err)
		}
		for range 4 { // both replicas get the USE replayed
			var name string
			if err := conn.QueryRowContext(ctx, "SELECT DB_NAME()").Scan(&name); err != nil || name != "other" {
				t.Fatalf("DB_NAME() = %q, %v; want other", name, err)
			}
		}
		conn.Close()               // back to the pool: its next request carries RESETCONNECTION
		again, err := db.Conn(ctx) // the same session; only its first request resets
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		for range 6 {
			var name, server string
			if err := again.QueryRowContext(ctx, "SELECT DB_NAME(), @@SERVERNAME").Scan(&name, &server); err != nil {
				t.Fatal(err)
			}
			if name != "demo" {
				t.Errorf("after the client reset the session, %s answered in %q, want demo", server, name)
			}
		}
	})
}

// TestRoutingSettlesUnknownTransactionState guards against a session whose
// transaction state became unknown (a read mentioning ROLLBACK, before the
// server was seen reporting transactions) staying on the primary for good:
// the proxy asks @@TRANCOUNT and routes reads to replicas again.
func TestRoutingSettlesUnknownTransactionState(t *testing.T) {
	h := newRoutedHarness(t, nil)
	primary := h.sim.Primary().Name()
	db := h.open("")
	db.SetMaxOpenConns(1)
	var word string
	if err := db.QueryRow("SELECT 'ROLLBACK'").Scan(&word); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if got := serverName(t, db, ""); got == primary {
			t.Fatalf("after a read mentioning ROLLBACK, reads stay on the primary")
		}
	}
	// A real open transaction is found and kept on the primary.
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	if _, err := conn.ExecContext(ctx, "BEGIN TRAN"); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := conn.QueryRowContext(ctx, "SELECT @@SERVERNAME").Scan(&got); err != nil || got != primary {
		t.Errorf("inside BEGIN TRAN, read on %q (%v)", got, err)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
}
