package health

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/microsoft/go-mssqldb"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tdsproxy/tdsproxy/test/mssqlsim"
)

const (
	monitorUser     = "monitor"
	monitorPassword = "Mon-Passw0rd-42"
)

// startCluster starts a simulator with a primary and n replicas.
func startCluster(t *testing.T, n int) *mssqlsim.Cluster {
	t.Helper()
	cl, err := mssqlsim.Start(mssqlsim.Config{
		Addr: "127.0.0.1:0", Replicas: n, SampleData: true,
		Logins: map[string]string{monitorUser: monitorPassword, "app": "App-Passw0rd"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// clusterConfig probes every server of cl; maxLag applies to each.
func clusterConfig(cl *mssqlsim.Cluster, maxLag time.Duration) Config {
	cfg := Config{Interval: time.Hour, Timeout: 2 * time.Second, DownAfter: 2,
		User: monitorUser, Password: monitorPassword, Database: "demo"}
	for _, s := range cl.Servers() {
		cfg.Backends = append(cfg.Backends, Backend{Name: s.Name(), Addr: s.Addr(), MaxLag: maxLag,
			TLS: TLS{Encrypt: "disable"}})
	}
	return cfg
}

func newChecker(t *testing.T, cfg Config, m *Metrics) *Checker {
	t.Helper()
	c, err := New(cfg, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func status(t *testing.T, c *Checker, name string) BackendStatus {
	t.Helper()
	s, ok := c.Status(name)
	if !ok {
		t.Fatalf("no backend %q", name)
	}
	return s
}

// write inserts a row on the primary, directly.
func write(t *testing.T, addr string) time.Time {
	t.Helper()
	db, err := sql.Open("sqlserver", "sqlserver://app:App-Passw0rd@"+addr+"?database=demo&encrypt=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("INSERT INTO dbo.customers (name, email, created) VALUES ('w', 'w@example.com', '2025-01-01')"); err != nil {
		t.Fatal(err)
	}
	return time.Now()
}

func TestCheckerRolesAndServerNames(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, 2)
	reg := prometheus.NewRegistry()
	c := newChecker(t, clusterConfig(cl, 0), NewMetrics(reg))
	c.CheckNow(context.Background())
	for i, s := range cl.Servers() {
		st := status(t, c, s.Name())
		wantRole := RoleSecondary
		if i == 0 {
			wantRole = RolePrimary
		}
		if st.State != StateUp || st.Role != wantRole || st.ServerName != s.Name() || !st.LagKnown {
			t.Errorf("%s: state %v role %v server %q lag known %v; want up, %v, %q, true (error %q)",
				s.Name(), st.State, st.Role, st.ServerName, st.LagKnown, wantRole, s.Name(), st.LastError)
		}
		if st.AppliedThrough.IsZero() || st.AppliedThrough.After(st.CheckedAt) {
			t.Errorf("%s: applied through %v, checked at %v", s.Name(), st.AppliedThrough, st.CheckedAt)
		}
	}
	if got := value(c.metrics.role.WithLabelValues("mssqlsim-primary")); got != 1 {
		t.Errorf("tdsproxy_backend_role{primary} = %v, want 1", got)
	}
	if got := value(c.metrics.role.WithLabelValues("mssqlsim-replica2")); got != 2 {
		t.Errorf("tdsproxy_backend_role{replica2} = %v, want 2", got)
	}
	if got := value(c.metrics.checks.WithLabelValues("mssqlsim-replica1", "ok")); got != 1 {
		t.Errorf("health checks ok = %v, want 1", got)
	}
	if n, err := countSeries(reg, "tdsproxy_backend_up"); err != nil || n != 3 {
		t.Errorf("tdsproxy_backend_up series = %d (%v), want 3", n, err)
	}
}

func TestCheckerLagging(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, 1)
	cl.SetReplicaLag(4 * time.Second)
	c := newChecker(t, clusterConfig(cl, time.Second), nil)
	replica := cl.Servers()[1].Name()
	wrote := write(t, cl.Primary().Addr())
	time.Sleep(2100 * time.Millisecond) // the replica is now >= 2 s behind
	c.CheckNow(context.Background())
	st := status(t, c, replica)
	if st.State != StateLagging || st.Lag < 2*time.Second {
		t.Fatalf("replica: state %v lag %v, want lagging with lag >= 2s (error %q)", st.State, st.Lag, st.LastError)
	}
	if !st.AppliedThrough.Before(wrote) {
		t.Errorf("applied through %v is not before the write at %v", st.AppliedThrough, wrote)
	}
	cl.SetReplicaLag(0) // the replica applies the write now
	deadline := time.Now().Add(5 * time.Second)
	for {
		time.Sleep(300 * time.Millisecond)
		c.CheckNow(context.Background())
		st = status(t, c, replica)
		if st.State == StateUp && st.AppliedThrough.After(wrote) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica never caught up: state %v lag %v applied through %v (write %v)", st.State, st.Lag, st.AppliedThrough, wrote)
		}
	}
}

func TestCheckerStoppedReplicaGoesDownAndComesBack(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, 1)
	cfg := clusterConfig(cl, 0)
	cfg.Timeout = 500 * time.Millisecond
	reg := prometheus.NewRegistry()
	c := newChecker(t, cfg, NewMetrics(reg))
	var mu sync.Mutex
	var changes []string
	c.Subscribe(func(ev Event) {
		if ev.Changed {
			mu.Lock()
			changes = append(changes, ev.Status.Name+":"+ev.Status.State.String())
			mu.Unlock()
		}
	})
	rep := cl.Servers()[1]
	c.CheckNow(context.Background())
	if err := rep.Stop(); err != nil {
		t.Fatal(err)
	}
	c.CheckNow(context.Background())
	if st := status(t, c, rep.Name()); st.State != StateUp || st.Failures != 1 || st.LastError == "" {
		t.Fatalf("after one failure: state %v failures %d error %q; want still up (down-after 2)", st.State, st.Failures, st.LastError)
	}
	c.CheckNow(context.Background())
	if st := status(t, c, rep.Name()); st.State != StateDown {
		t.Fatalf("after two failures: state %v, want down", st.State)
	}
	if got := value(c.metrics.up.WithLabelValues(rep.Name())); got != 0 {
		t.Errorf("tdsproxy_backend_up = %v, want 0", got)
	}
	if st := status(t, c, cl.Servers()[0].Name()); st.State != StateUp {
		t.Errorf("primary: %v, want up", st.State)
	}
	if err := rep.Start(); err != nil {
		t.Fatal(err)
	}
	c.CheckNow(context.Background())
	if st := status(t, c, rep.Name()); st.State != StateUp || st.Failures != 0 || st.LastError != "" {
		t.Fatalf("after restart: state %v failures %d error %q, want up", st.State, st.Failures, st.LastError)
	}
	mu.Lock()
	got := strings.Join(changes, ",")
	mu.Unlock()
	want := "mssqlsim-primary:up,mssqlsim-replica1:up,mssqlsim-replica1:down,mssqlsim-replica1:up"
	if !sameSet(got, want) || !strings.HasSuffix(got, "replica1:down,mssqlsim-replica1:up") {
		t.Errorf("change events %q, want %q", got, want)
	}
}

func sameSet(a, b string) bool {
	x, y := strings.Split(a, ","), strings.Split(b, ",")
	if len(x) != len(y) {
		return false
	}
	n := map[string]int{}
	for _, s := range x {
		n[s]++
	}
	for _, s := range y {
		n[s]--
	}
	for _, v := range n {
		if v != 0 {
			return false
		}
	}
	return true
}

func TestCheckerFailoverFlipsRoles(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, 1)
	c := newChecker(t, clusterConfig(cl, 0), nil)
	c.CheckNow(context.Background())
	old, next := cl.Servers()[0].Name(), cl.Servers()[1].Name()
	if status(t, c, old).Role != RolePrimary || status(t, c, next).Role != RoleSecondary {
		t.Fatal("initial roles wrong")
	}
	if err := cl.Failover(1); err != nil {
		t.Fatal(err)
	}
	c.CheckNow(context.Background())
	// The failover dropped the pooled connections: a probe may fail once.
	c.CheckNow(context.Background())
	if st := status(t, c, old); st.Role != RoleSecondary || st.State != StateUp {
		t.Errorf("old primary: role %v state %v (error %q), want secondary, up", st.Role, st.State, st.LastError)
	}
	if st := status(t, c, next); st.Role != RolePrimary || st.State != StateUp {
		t.Errorf("new primary: role %v state %v (error %q), want primary, up", st.Role, st.State, st.LastError)
	}
}

func TestCheckerTimeout(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, 1)
	cfg := clusterConfig(cl, 0)
	cfg.Timeout = time.Second
	cfg.DownAfter = 1
	c := newChecker(t, cfg, NewMetrics(nil))
	rep := cl.Servers()[1]
	c.CheckNow(context.Background()) // logged in, pooled
	if st := status(t, c, rep.Name()); st.State != StateUp {
		t.Fatalf("replica %v before the delay (%s)", st.State, st.LastError)
	}
	before := value(c.metrics.checks.WithLabelValues(rep.Name(), "timeout"))
	rep.SetResponseDelay(5 * time.Second)
	start := time.Now()
	c.CheckNow(context.Background())
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("a probe of a backend answering in 5s took %v with a 1s timeout", took)
	}
	if st := status(t, c, rep.Name()); st.State != StateDown {
		t.Errorf("slow replica: %v, want down", st.State)
	}
	if got := value(c.metrics.checks.WithLabelValues(rep.Name(), "timeout")) - before; got != 1 {
		t.Errorf("timeouts counted %v, want 1", got)
	}
}

func TestCheckerStartProbesOnInterval(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, 1)
	cfg := clusterConfig(cl, 0)
	cfg.Interval = 50 * time.Millisecond
	c := newChecker(t, cfg, nil)
	events := make(chan Event, 100)
	c.Subscribe(func(ev Event) {
		select {
		case events <- ev:
		default:
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.Start(ctx)
	seen := map[string]int{}
	timeout := time.After(10 * time.Second)
	for seen["mssqlsim-primary"] < 3 || seen["mssqlsim-replica1"] < 3 {
		select {
		case ev := <-events:
			seen[ev.Status.Name]++
		case <-timeout:
			t.Fatalf("probes seen %v after 10s, want 3 per backend", seen)
		}
	}
}

func TestCheckerReloadChangesInterval(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, 0)
	cfg := clusterConfig(cl, 0)
	cfg.Interval = time.Hour
	c := newChecker(t, cfg, nil)
	probes := make(chan struct{}, 100)
	c.Subscribe(func(Event) {
		select {
		case probes <- struct{}{}:
		default:
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.Start(ctx)
	<-probes // the first probe runs at once; the next would be in an hour
	cfg.Interval = 20 * time.Millisecond
	if err := c.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		select {
		case <-probes:
		case <-time.After(10 * time.Second):
			t.Fatal("the new interval did not take effect")
		}
	}
}

func TestCheckerReconfigure(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, 2)
	full := clusterConfig(cl, 0)
	first := full
	first.Backends = full.Backends[:2]
	reg := prometheus.NewRegistry()
	c := newChecker(t, first, NewMetrics(reg))
	var removed []string
	var mu sync.Mutex
	c.Subscribe(func(ev Event) {
		if ev.Removed {
			mu.Lock()
			removed = append(removed, ev.Status.Name)
			mu.Unlock()
		}
	})
	c.CheckNow(context.Background())
	c.mu.Lock()
	keptProber := c.probers["mssqlsim-primary"]
	c.mu.Unlock()
	before := status(t, c, "mssqlsim-primary")

	// Drop replica1, add replica2, change the primary's weight only.
	next := full
	next.Backends = []Backend{full.Backends[0], full.Backends[2]}
	next.Backends[0].Weight = 5
	if err := c.Reconfigure(next); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	same := c.probers["mssqlsim-primary"] == keptProber
	c.mu.Unlock()
	if !same {
		t.Error("an unchanged backend got a new prober (and pool)")
	}
	after := status(t, c, "mssqlsim-primary")
	if after.CheckedAt != before.CheckedAt || after.State != StateUp || after.Weight != 5 {
		t.Errorf("unchanged backend: checked %v→%v state %v weight %d; want its state kept, weight 5",
			before.CheckedAt, after.CheckedAt, after.State, after.Weight)
	}
	var names []string
	for _, s := range c.Snapshot() {
		names = append(names, s.Name+"="+s.State.String())
	}
	if got := strings.Join(names, ","); got != "mssqlsim-primary=up,mssqlsim-replica2=unknown" {
		t.Errorf("snapshot %s", got)
	}
	mu.Lock()
	if fmt.Sprint(removed) != "[mssqlsim-replica1]" {
		t.Errorf("removed events %v", removed)
	}
	mu.Unlock()
	if n, _ := countSeries(reg, "tdsproxy_backend_up"); n != 1 {
		t.Errorf("tdsproxy_backend_up has %d series after removing one of two probed backends, want 1", n)
	}
	bad := next
	bad.Backends = append(bad.Backends, Backend{Name: "x", Addr: "nope"})
	if err := c.Reconfigure(bad); err == nil || !strings.Contains(err.Error(), "backends[2].addr") {
		t.Errorf("bad reload: %v", err)
	}
	if len(c.Snapshot()) != 2 {
		t.Error("a failed reload changed the backends")
	}
}

func TestHandlerAndSecrets(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, 1)
	cfg := clusterConfig(cl, 0)
	c := newChecker(t, cfg, nil)
	c.CheckNow(context.Background())
	rec := httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/backends", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var body struct {
		Backends []map[string]any `json:"backends"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Backends) != 2 || body.Backends[0]["state"] != "up" || body.Backends[0]["role"] != "primary" ||
		body.Backends[1]["role"] != "secondary" || body.Backends[1]["lag_seconds"] != 0.0 {
		t.Errorf("body %s", rec.Body)
	}
	rec = httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/backends", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
	for _, s := range []string{rec.Body.String(), cfg.String(), fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg)} {
		if strings.Contains(s, monitorPassword) {
			t.Errorf("password leaked: %s", s)
		}
	}
	// A wrong password: the error says so, without the password.
	cfg.Password = "Wrong-Secret-99"
	cfg.DownAfter = 1
	c2 := newChecker(t, cfg, nil)
	c2.CheckNow(context.Background())
	st := c2.Snapshot()[0]
	if st.State != StateDown || st.LastError == "" || strings.Contains(st.LastError, "Wrong-Secret-99") {
		t.Errorf("bad login: state %v error %q", st.State, st.LastError)
	}
}

// value reads a gauge's or counter's current value.
func value(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		panic(err)
	}
	if m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return m.Counter.GetValue()
}

// countSeries counts the series of the metric family name in reg.
func countSeries(reg *prometheus.Registry, name string) (int, error) {
	fams, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, f := range fams {
		if f.GetName() == name {
			return len(f.GetMetric()), nil
		}
	}
	return 0, nil
}
