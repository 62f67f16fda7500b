package proxy

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/tds"
)

// rawLogin logs in to the proxy with the codec's client handshake.
func (h *harness) rawLogin(mod func(*tds.Login7)) (net.Conn, *tds.PacketReader) {
	h.t.Helper()
	return rawLogin(h.t, h.srv.Addr().String(), mod)
}

func TestUnsupportedAuthenticationIsRefused(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	tests := []struct {
		name string
		mod  func(*tds.Login7)
		want string
	}{
		{"SSPI", func(l *tds.Login7) { l.OptionFlags2 |= tds.Login7IntSecurity; l.SSPI = []byte("NTLMSSP\x00\x01") }, "integrated"},
		{"federated", func(l *tds.Login7) {
			l.FeatureExt = []tds.FeatureExt{{ID: tds.FeatureFedAuth, Data: []byte{0x02, 0x00}}}
		}, "federated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, r := h.rawLogin(tc.mod)
			e, ok := firstError(readTokens(t, r))
			if !ok || e.Number != 18456 {
				t.Fatalf("want 18456, got %+v", e)
			}
			if !strings.Contains(e.Message, "supports SQL Server authentication") || !strings.Contains(e.Message, tc.want) {
				t.Errorf("message %q", e.Message)
			}
			expectClosed(t, c, 2*time.Second)
		})
	}
	h.waitIdle()
}

func TestGarbageAfterLoginClosesOnlyThatSession(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	done := goroutineBaseline(t)
	good := h.open("encrypt=disable")
	if err := good.Ping(); err != nil {
		t.Fatal(err)
	}
	c, r := h.rawLogin(nil)
	readTokens(t, r) // login response
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, c, 2*time.Second)
	if err := good.Ping(); err != nil {
		t.Errorf("the other session broke: %v", err)
	}
	waitFor(t, 2*time.Second, "a protocol error to be counted", func() bool {
		return h.metric(h.srv.metrics.Errors.WithLabelValues(string(ReasonProtocol))) == 1
	})
	if h.logs.FilterField(zap.String("reason", "protocol")).Len() == 0 {
		t.Errorf("no log line with the reason")
	}
	good.Close()
	c.Close()
	h.waitIdle()
	done()
}

func TestClientVanishesMidRequest(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	done := goroutineBaseline(t)

	// 1. Half a message: a non-final packet, then the client goes away.
	c, r := h.rawLogin(nil)
	readTokens(t, r)
	w := tds.NewPacketWriter(c, 512)
	payload := sqlBatch(strings.Repeat("SELECT 1; ", 200))
	hdr := tds.Header{Type: tds.PacketSQLBatch, Status: 0, PacketID: 1}
	if err := w.WritePacket(hdr, payload[:400]); err != nil {
		t.Fatal(err)
	}
	c.Close()

	// 2. A long request, then the client goes away while it runs.
	c2, r2 := h.rawLogin(nil)
	readTokens(t, r2)
	w2 := tds.NewPacketWriter(c2, 4096)
	if err := w2.WriteMessage(tds.PacketSQLBatch, 0, sqlBatch("WAITFOR DELAY '00:00:00.300'; SELECT 1")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	c2.Close()

	h.waitIdle()
	done()
}

func TestSilentClientHitsLoginTimeout(t *testing.T) {
	h := newHarness(t, harnessOpts{config: func(c *Config) { c.LoginTimeout = 300 * time.Millisecond }})
	done := goroutineBaseline(t)
	c := h.rawConn()
	start := time.Now()
	expectClosed(t, c, 3*time.Second)
	if el := time.Since(start); el < 250*time.Millisecond || el > 2*time.Second {
		t.Errorf("closed after %s, want about the 300ms login timeout", el)
	}
	h.waitIdle()
	if got := h.metric(h.srv.metrics.Errors.WithLabelValues(string(ReasonLoginTimeout))); got != 1 {
		t.Errorf("login_timeout errors = %v, want 1", got)
	}
	done()
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{config: func(c *Config) { c.IdleTimeout = 200 * time.Millisecond }})
	c, r := h.rawLogin(nil)
	readTokens(t, r)
	start := time.Now()
	expectClosed(t, c, 3*time.Second)
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Errorf("closed after %s, before the idle timeout", el)
	}
	h.waitIdle()
	if got := h.metric(h.srv.metrics.Errors.WithLabelValues(string(ReasonIdleTimeout))); got != 1 {
		t.Errorf("idle_timeout errors = %v, want 1", got)
	}
}

func TestMaxMessageSize(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{config: func(c *Config) { c.MaxMessageSize = 8192 }})
	db := h.open("encrypt=disable")
	// Far larger than the cap (~200 packets): the client is still sending
	// when the proxy refuses the message, and must still read the error.
	_, err := db.Exec("SELECT '" + strings.Repeat("x", 400000) + "'")
	e, ok := sqlError(err)
	if !ok || e.Number != 4002 || !strings.Contains(e.Message, "max-message-size") {
		t.Fatalf("want error 4002 naming max-message-size, got %v", err)
	}
	db.Close()
	h.waitIdle()
}

func TestMaxClientConns(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{config: func(c *Config) { c.MaxClientConns = 2 }})
	db := h.open("encrypt=disable")
	ctx := context.Background()
	var held []*sql.Conn
	for range 2 {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	_, err := db.Conn(ctx)
	e, ok := sqlError(err)
	if !ok || e.Number != 17809 || !strings.Contains(e.Message, "'2'") {
		t.Fatalf("want 17809 naming the limit, got %v", err)
	}
	for _, c := range held {
		c.Close()
	}
	db.Close()
	h.waitIdle()
}

func TestBackendDiesDuringLargeResult(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	done := goroutineBaseline(t)
	db := h.open("encrypt=disable")
	rows, err := db.Query(h.largeQuery(200000))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		n++
		if n == 1000 {
			h.sim.Primary().DropConnections()
		}
	}
	err = rows.Err()
	rows.Close()
	if err == nil {
		t.Fatalf("read %d rows and no error after the backend died", n)
	}
	t.Logf("after %d rows: %v", n, err)
	db.Close()
	h.waitIdle()
	if got := h.metric(h.srv.metrics.Errors.WithLabelValues(string(ReasonBackendLost))); got != 1 {
		t.Errorf("backend_lost errors = %v, want 1", got)
	}
	// The proxy still serves new sessions.
	db2 := h.open("encrypt=disable")
	if err := db2.Ping(); err != nil {
		t.Fatalf("new session after the failure: %v", err)
	}
	db2.Close()
	h.waitIdle()
	done()
}

func TestBackendDiesBetweenRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	db := h.open("encrypt=disable")
	db.SetMaxOpenConns(1)
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	h.sim.Primary().DropConnections()
	time.Sleep(50 * time.Millisecond)
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = conn.ExecContext(context.Background(), "SELECT 1")
	if e, ok := sqlError(err); ok {
		if e.Number != 40197 {
			t.Errorf("got error %d, want 40197", e.Number)
		}
	} else if err == nil {
		t.Fatal("no error although the backend connection is gone")
	}
}

func TestConcurrentSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 sessions")
	}
	h := newHarness(t, harnessOpts{config: func(c *Config) { c.BackendConnectTimeout = 30 * time.Second }})
	done := goroutineBaseline(t)
	const sessions, queries = 1000, 3
	opening := make(chan struct{}, 64) // open at most 64 at a time: logins are the costly part
	db := h.open("encrypt=disable")
	db.SetMaxOpenConns(sessions)
	db.SetMaxIdleConns(sessions)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	ready := make(chan struct{})
	for i := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opening <- struct{}{}
			conn, err := db.Conn(ctx)
			if err == nil {
				err = conn.PingContext(ctx)
			}
			<-opening
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			<-ready
			for q := range queries {
				var got int
				if err := conn.QueryRowContext(ctx, "SELECT @p1 * 10 + @p2", i, q).Scan(&got); err != nil {
					errs <- err
					return
				}
				if got != i*10+q {
					errs <- fmt.Errorf("session %d query %d: got %d", i, q, got)
					return
				}
			}
		}()
	}
	waitFor(t, 60*time.Second, "1,000 logged-in sessions", func() bool {
		return h.metric(h.srv.metrics.BackendConns) == sessions || len(errs) > 0
	})
	if got := h.metric(h.srv.metrics.ClientConns); got != sessions {
		t.Errorf("client connections = %v, want %d", got, sessions)
	}
	close(ready)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a session failed: %v", err)
	}
	t.Logf("%d sessions × %d queries in %s", sessions, queries, time.Since(start))
	if got := h.metric(h.srv.metrics.ClientConnsTotal); got != sessions {
		t.Errorf("connections accepted = %v, want %d", got, sessions)
	}
	db.Close()
	h.waitIdle()
	done()
}

func TestShutdownDrains(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	admin := httptest.NewServer(h.srv.AdminHandler())
	defer admin.Close()
	if code := httpGet(t, admin.URL+"/readyz"); code != 200 {
		t.Fatalf("/readyz = %d before shutdown", code)
	}
	busy := h.open("encrypt=disable")
	idle := h.open("encrypt=disable")
	if err := idle.Ping(); err != nil {
		t.Fatal(err)
	}
	if err := busy.Ping(); err != nil {
		t.Fatal(err)
	}
	result := make(chan error, 1)
	go func() {
		var n int
		result <- busy.QueryRow("WAITFOR DELAY '00:00:00.400'; SELECT 7").Scan(&n)
	}()
	time.Sleep(100 * time.Millisecond) // the request is in flight
	shut := make(chan error, 1)
	go func() { shut <- h.srv.Shutdown(context.Background()) }()
	waitFor(t, time.Second, "readiness to drop", func() bool { return !h.srv.Ready() })
	if code := httpGet(t, admin.URL+"/readyz"); code != 503 {
		t.Errorf("/readyz = %d while draining, want 503", code)
	}
	if code := httpGet(t, admin.URL+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d while draining, want 200", code)
	}
	if err := <-result; err != nil {
		t.Errorf("the in-flight request failed during the drain: %v", err)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Shutdown did not finish")
	}
	if n := h.srv.sessionCount(); n != 0 {
		t.Errorf("%d sessions after Shutdown", n)
	}
	if _, err := net.DialTimeout("tcp", h.srv.Addr().String(), time.Second); err == nil {
		t.Error("the listener still accepts after Shutdown")
	}
}

func TestShutdownGraceClosesLongRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{config: func(c *Config) { c.ShutdownGrace = 200 * time.Millisecond }})
	db := h.open("encrypt=disable")
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	go db.Exec("WAITFOR DELAY '00:00:05'")
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := h.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Shutdown took %s with a 200ms grace", el)
	}
	if n := h.srv.sessionCount(); n != 0 {
		t.Errorf("%d sessions after Shutdown", n)
	}
}

func TestAdminEndpoints(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	db := h.open("encrypt=disable")
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	admin := httptest.NewServer(h.srv.AdminHandler())
	defer admin.Close()
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/startup": 200, "/metrics": 200} {
		if code := httpGet(t, admin.URL+path); code != want {
			t.Errorf("%s = %d, want %d", path, code, want)
		}
	}
	resp, err := http.Get(admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"tdsproxy_client_connections 1", "tdsproxy_client_connections_total 1",
		"tdsproxy_backend_connections 1", `tdsproxy_client_requests_total{type="sql_batch"}`,
		`tdsproxy_client_bytes_total{direction="in"}`, "tdsproxy_client_request_duration_seconds_bucket",
		`tdsproxy_client_errors_total{reason="backend_unavailable"} 0`, "tdsproxy_build_info{"} {
		if !strings.Contains(string(body), name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

func TestReadyzBeforeListening(t *testing.T) {
	t.Parallel()
	srv, err := New(Config{Listen: "127.0.0.1:0", Primary: "127.0.0.1:1"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	admin := httptest.NewServer(srv.AdminHandler())
	defer admin.Close()
	if code := httpGet(t, admin.URL+"/readyz"); code != 503 {
		t.Errorf("/readyz = %d before listening, want 503", code)
	}
	if code := httpGet(t, admin.URL+"/startup"); code != 503 {
		t.Errorf("/startup = %d before listening, want 503", code)
	}
}

func httpGet(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Regression: login-timeout once also cut the backend login short, killing
// clients whose backend was slow but within backend-connect-timeout.
func TestLoginTimeoutDoesNotCoverTheBackendLogin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{config: func(c *Config) {
		c.LoginTimeout = 200 * time.Millisecond
		c.BackendConnectTimeout = 5 * time.Second
	}})
	h.sim.Primary().SetLoginDelay(500 * time.Millisecond)
	db := h.open("encrypt=disable")
	if err := db.Ping(); err != nil {
		t.Fatalf("a slow backend login within backend-connect-timeout failed: %v", err)
	}
}

func TestShutdownWaitsForOpenTransaction(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	db := h.open("encrypt=disable")
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN TRAN"); err != nil {
		t.Fatal(err)
	}
	shut := make(chan error, 1)
	go func() { shut <- h.srv.Shutdown(ctx) }()
	waitFor(t, time.Second, "readiness to drop", func() bool { return !h.srv.Ready() })
	time.Sleep(100 * time.Millisecond)
	// The session is kept while its transaction is open …
	if _, err := conn.ExecContext(ctx, "SELECT 1"); err != nil {
		t.Fatalf("a request inside the open transaction failed during the drain: %v", err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatalf("COMMIT during the drain: %v", err)
	}
	// … and closed once it has ended.
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Shutdown did not finish after the transaction ended")
	}
	if n := h.srv.sessionCount(); n != 0 {
		t.Errorf("%d sessions after Shutdown", n)
	}
}
