package proxy

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/tds"
)

func TestEncryptionModes(t *testing.T) {
	ca := newTestCA(t)
	backends := []struct {
		name   string
		simEnc bool
		config func(*Config)
	}{
		{"backend plaintext", false, func(c *Config) { c.BackendEncrypt = BackendEncryptDisable }},
		{"backend TLS verified", true, nil}, // set below: needs the CA file
	}
	clients := []struct {
		name, params, wantMode string
	}{
		{"no encryption", "encrypt=disable", "none"},
		{"login-only", "encrypt=false&TrustServerCertificate=true", "login-only"},
		{"full TLS", "encrypt=true&TrustServerCertificate=true", "full"},
		{"TDS 8 strict", "encrypt=strict&hostnameincertificate=localhost&certificate=", "strict"},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			opts := harnessOpts{simEncrypt: b.simEnc, config: b.config}
			if b.simEnc {
				opts.simTLS = simTLSConfig(t, ca)
				caFile := writeCAFile(t, ca)
				opts.config = func(c *Config) {
					c.BackendEncrypt = BackendEncryptTrue
					c.BackendCAFile = caFile
					c.BackendServerName = "localhost"
				}
			}
			h := newHarness(t, opts)
			for _, c := range clients {
				t.Run(c.name, func(t *testing.T) {
					params := c.params
					if c.wantMode == "strict" {
						params += h.caFile
					}
					db := h.open(params)
					var one int
					var dbName, app string
					err := db.QueryRow("SELECT 1, DB_NAME(), APP_NAME()").Scan(&one, &dbName, &app)
					if err != nil {
						t.Fatalf("query through the proxy: %v", err)
					}
					if one != 1 || dbName != "demo" {
						t.Errorf("got %d %q, want 1 demo", one, dbName)
					}
					db.Close()
					logged := h.logs.FilterMessage("session logged in").FilterField(zap.String("mode", c.wantMode))
					if logged.Len() == 0 {
						t.Errorf("no session logged in with mode %q; logs: %v", c.wantMode, h.logs.All())
					}
				})
			}
			h.waitIdle()
		})
	}
}

func TestBackendCertificateVerificationFails(t *testing.T) {
	t.Parallel()
	ca, other := newTestCA(t), newTestCA(t)
	caFile := writeCAFile(t, other) // the proxy trusts a different CA
	h := newHarness(t, harnessOpts{simEncrypt: true, simTLS: simTLSConfig(t, ca), config: func(c *Config) {
		c.BackendEncrypt = BackendEncryptTrue
		c.BackendCAFile = caFile
	}})
	db := h.open("encrypt=disable")
	err := db.Ping()
	e, ok := sqlError(err)
	if !ok || e.Number != 40613 {
		t.Fatalf("want error 40613, got %v", err)
	}
	if !strings.Contains(e.Message, "certificate") {
		t.Errorf("message %q does not mention the certificate", e.Message)
	}
}

func TestLoginFailureIsRelayed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	db, err := sql.Open("sqlserver", strings.Replace(h.dsn("encrypt=disable"), simPassword, "wrong", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Ping()
	e, ok := sqlError(err)
	if !ok || e.Number != 18456 {
		t.Fatalf("want the backend's 18456, got %v", err)
	}
	if !strings.Contains(e.Message, simUser) {
		t.Errorf("message %q does not name the login", e.Message)
	}
	db.Close()
	h.waitIdle()
	if got := h.metric(h.srv.metrics.Errors.WithLabelValues(string(ReasonBackendLoginFailed))); got != 1 {
		t.Errorf("backend_login_failed errors = %v, want 1", got)
	}
}

func TestBackendDownGives40613Quickly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{config: func(c *Config) { c.BackendConnectTimeout = time.Second }})
	if err := h.sim.Primary().Stop(); err != nil {
		t.Fatal(err)
	}
	db := h.open("encrypt=disable")
	start := time.Now()
	err := db.Ping()
	elapsed := time.Since(start)
	e, ok := sqlError(err)
	if !ok || e.Number != 40613 || e.Class != 17 {
		t.Fatalf("want error 40613 class 17, got %v", err)
	}
	if !strings.Contains(e.Message, "Database 'demo' on server") {
		t.Errorf("message %q", e.Message)
	}
	if elapsed > 2*time.Second {
		t.Errorf("took %s, want under the 1s connect timeout plus slack", elapsed)
	}
}

func TestBackendLoginTimeoutGives40613(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{config: func(c *Config) { c.BackendConnectTimeout = 300 * time.Millisecond }})
	h.sim.Primary().SetLoginDelay(3 * time.Second)
	db := h.open("encrypt=disable")
	start := time.Now()
	err := db.Ping()
	if e, ok := sqlError(err); !ok || e.Number != 40613 {
		t.Fatalf("want error 40613, got %v", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %s with a 300ms backend-connect-timeout", el)
	}
}

func TestTransactionStateTracking(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	db := h.open("encrypt=disable")
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	sess := h.onlySession()
	check := func(step string, want TxState, wantDB string) {
		t.Helper()
		st := sess.State()
		if st.Tx != want {
			t.Errorf("%s: tx %v, want %v", step, st.Tx, want)
		}
		if wantDB != "" && st.Database != wantDB {
			t.Errorf("%s: database %q, want %q", step, st.Database, wantDB)
		}
	}
	check("after login", TxNone, "demo")

	// SQL-text transactions.
	mustExec(t, conn, "BEGIN TRAN")
	check("BEGIN TRAN", TxOpen, "")
	mustExec(t, conn, "COMMIT")
	check("COMMIT", TxNone, "")
	mustExec(t, conn, "BEGIN TRANSACTION; SELECT 1")
	check("BEGIN TRANSACTION in a batch", TxOpen, "")
	mustExec(t, conn, "ROLLBACK")
	check("ROLLBACK", TxNone, "")

	// go-mssqldb's BeginTx uses TM requests.
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	check("BeginTx (TM BEGIN)", TxOpen, "")
	if st := sess.State(); st.TxDescriptor == 0 {
		t.Error("no transaction descriptor recorded")
	}
	if _, err := tx.Exec("SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	check("Commit (TM COMMIT)", TxNone, "")
	tx, err = conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	check("Rollback (TM ROLLBACK)", TxNone, "")

	mustExec(t, conn, "USE master")
	check("USE master", TxNone, "master")
	if got := h.metric(h.srv.metrics.request(tds.PacketTransMgr)); got < 3 {
		t.Errorf("tm requests counted: %v, want >= 3", got)
	}
}

func mustExec(t *testing.T, conn *sql.Conn, q string) {
	t.Helper()
	if _, err := conn.ExecContext(context.Background(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func TestResetConnectionPassesThrough(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	db := h.open("encrypt=disable")
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("USE master"); err != nil {
		t.Fatal(err)
	}
	sess := h.onlySession()
	if st := sess.State(); st.Database != "master" {
		t.Fatalf("database %q after USE master", st.Database)
	}
	// database/sql resets a pooled connection before reusing it: go-mssqldb
	// sets RESETCONNECTION on the next request.
	var name string
	if err := db.QueryRow("SELECT DB_NAME()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	st := sess.State()
	if st.Resets < 1 {
		t.Errorf("resets = %d, want at least 1", st.Resets)
	}
	if name != "demo" || st.Database != "demo" {
		t.Errorf("after the reset: server says %q, tracker says %q, want demo", name, st.Database)
	}
}

func TestCancelWithAttention(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	db := h.open("encrypt=disable")
	db.SetMaxOpenConns(1)
	// Log in first: under load a login can take longer than the 200 ms
	// below, and a cancel that lands during the login sends no Attention.
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	// A cancel, not a deadline: go-mssqldb treats context.DeadlineExceeded
	// as a net.Error and discards the connection, which would hide whether
	// the proxy kept the session consistent after DONE_ATTN.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := db.ExecContext(ctx, "WAITFOR DELAY '00:00:05'")
	if err == nil {
		t.Fatal("WAITFOR was not cancelled")
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("cancel took %s", el)
	}
	// The same session keeps working.
	for i := range 3 {
		var n int
		if err := db.QueryRow("SELECT @n", sql.Named("n", i)).Scan(&n); err != nil || n != i {
			t.Fatalf("query %d after the cancel: %d, %v", i, n, err)
		}
	}
	if got := h.metric(h.srv.metrics.request(tds.PacketAttention)); got != 1 {
		t.Errorf("attention requests = %v, want 1", got)
	}
	if h.srv.sessionCount() != 1 {
		t.Errorf("sessions = %d, want the one session kept", h.srv.sessionCount())
	}
	if n := h.logs.FilterMessage("session logged in").Len(); n != 1 {
		t.Errorf("%d logins, want 1: the client dropped its connection after the cancel", n)
	}
}

func TestLargeResultStreams(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const n = 50000
	query := h.largeQuery(n) // about 1 KB a row: 50 MB
	query = strings.Replace(query, "REPLICATE('x', 200)", "REPLICATE('x', 1000)", 1)
	direct := fmt.Sprintf("sqlserver://%s:%s@%s?database=demo&encrypt=disable", simUser, simPassword, h.sim.Primary().Addr())
	grewDirect, _ := readLarge(t, direct, query, n)
	grew, size := readLarge(t, h.dsn("encrypt=disable"), query, n)
	t.Logf("%d rows, %d MB: heap in use grew by at most %d MB through the proxy, %d MB directly",
		n, size>>20, grew>>20, grewDirect>>20)
	if grew > int64(size)/2 {
		t.Errorf("heap grew by %d MB for a %d MB result: the result is being buffered", grew>>20, size>>20)
	}
}

// readLarge reads the query's rows one by one and returns how much the
// heap in use grew at most meanwhile, and the bytes of text read.
func readLarge(t *testing.T, dsn, query string, want int) (grew int64, size int) {
	t.Helper()
	db, err := sql.Open("sqlserver", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	peak := sampleHeap(t)
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for rows.Next() {
		var i int
		var s string
		if err := rows.Scan(&i, &s); err != nil {
			t.Fatal(err)
		}
		count++
		size += len(s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	maxHeap := peak()
	if count != want {
		t.Fatalf("got %d rows, want %d", count, want)
	}
	return int64(maxHeap) - int64(before.HeapInuse), size
}

// largeQuery returns a query for n (at most 1,000,000) rows of about 200
// bytes each, creating the numbers table it reads on the simulator first.
func (h *harness) largeQuery(n int) string {
	h.t.Helper()
	h.numbersOnce.Do(func() {
		db, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://%s:%s@%s?database=demo&encrypt=true&TrustServerCertificate=true",
			simUser, simPassword, h.sim.Primary().Addr()))
		if err != nil {
			h.t.Fatal(err)
		}
		defer db.Close()
		vals := make([]string, 100)
		for i := range vals {
			vals[i] = fmt.Sprintf("(%d)", i)
		}
		for _, q := range []string{"CREATE TABLE n (i INT)", "INSERT INTO n VALUES " + strings.Join(vals, ",")} {
			if _, err := db.Exec(q); err != nil {
				h.t.Fatalf("%s: %v", q, err)
			}
		}
	})
	return fmt.Sprintf("SELECT TOP (%d) a.i * 10000 + b.i * 100 + c.i, REPLICATE('x', 200) "+
		"FROM n a CROSS JOIN n b CROSS JOIN n c", n)
}

// sampleHeap samples HeapInuse every few milliseconds until the returned
// function is called, which returns the peak.
func sampleHeap(t *testing.T) func() uint64 {
	stop := make(chan struct{})
	res := make(chan uint64)
	go func() {
		var peak uint64
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				res <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 { close(stop); return <-res }
}

func TestBulkLoad(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	db := h.open("encrypt=disable")
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE bulk_t (id INT NOT NULL, name NVARCHAR(50))"); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	stmt, err := tx.Prepare(mssql.CopyIn("bulk_t", mssql.BulkOptions{}, "id", "name"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		if _, err := stmt.Exec(i, fmt.Sprintf("row %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := stmt.Exec(); err != nil {
		t.Fatalf("bulk load through the proxy: %v", err)
	}
	stmt.Close()
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM bulk_t").Scan(&n); err != nil || n != 500 {
		t.Fatalf("count = %d, %v; want 500", n, err)
	}
	if got := h.metric(h.srv.metrics.request(tds.PacketBulkLoad)); got != 1 {
		t.Errorf("bulk_load requests = %v, want 1", got)
	}
}

func TestPacketSizeRepacketizing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	for _, size := range []int{512, 4096, 16384, 32767} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			db := h.open(fmt.Sprintf("encrypt=disable&packet+size=%d", size))
			long := strings.Repeat("y", 20000)
			var got string
			if err := db.QueryRow("SELECT @p1 + REPLICATE('z', 9000)", long).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != long+strings.Repeat("z", 9000) {
				t.Errorf("round trip of %d characters came back as %d", len(long)+9000, len(got))
			}
		})
	}
}

func TestReadIntentGoesToAReplica(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{replicas: 2})
	serverName := func(params string) string {
		t.Helper()
		db, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://%s:%s@%s?database=master&encrypt=disable&%s", simUser, simPassword, h.srv.Addr(), params))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var name string
		if err := db.QueryRow("/* tdsproxy:primary */ SELECT @@SERVERNAME").Scan(&name); err != nil {
			t.Fatalf("%s: %v", params, err)
		}
		return name
	}
	// With replicas, each request is routed: a read-write session's hinted
	// read runs on the primary, where the session logged in.
	if got := serverName("app+name=rw"); got != "mssqlsim-primary" {
		t.Errorf("read-write session's hinted read on %q, want the primary", got)
	}
	seen := map[string]bool{}
	for range 4 {
		seen[serverName("ApplicationIntent=ReadOnly")] = true
	}
	if !seen["mssqlsim-replica1"] || !seen["mssqlsim-replica2"] || len(seen) != 2 {
		t.Errorf("read-intent sessions on %v, want both replicas", seen)
	}
	// With every replica down, read-intent sessions never fall back to the
	// primary (docs/routing.md): they get the transient 40613.
	for _, r := range h.sim.Replicas() {
		if err := r.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://%s:%s@%s?database=master&encrypt=disable&ApplicationIntent=ReadOnly", simUser, simPassword, h.srv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var name string
	err = db.QueryRow("SELECT @@SERVERNAME").Scan(&name)
	if e, ok := sqlError(err); !ok || e.Number != 40613 {
		t.Errorf("with the replicas down, read-intent session: %q, %v; want error 40613", name, err)
	}
}
