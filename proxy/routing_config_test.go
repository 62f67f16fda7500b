package proxy

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseReplica(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    ReplicaSpec
		wantErr string
	}{
		{in: "r1:1433", want: ReplicaSpec{Addr: "r1:1433", Weight: 1}},
		{in: "r1:1433;weight=3", want: ReplicaSpec{Addr: "r1:1433", Weight: 3}},
		{in: "r1:1433; max-lag=5s ;weight=2", want: ReplicaSpec{Addr: "r1:1433", Weight: 2, MaxLag: 5 * time.Second}},
		{in: "r1", wantErr: "not HOST:PORT"},
		{in: "r1:1;weight=0", wantErr: "weight"},
		{in: "r1:1;weight=x", wantErr: "weight"},
		{in: "r1:1;max-lag=-1s", wantErr: "max-lag"},
		{in: "r1:1;colour=red", wantErr: "unknown option"},
		{in: "r1:1;weight", wantErr: "key=value"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseReplica(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseReplica(%q) = %+v, %v; want an error with %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseReplica(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestRoutingConfigValidate(t *testing.T) {
	t.Parallel()
	base := func() Config {
		c := Config{Primary: "p:1", Replicas: []string{"r:1"}}
		c.SetDefaults()
		return c
	}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"ok", func(*Config) {}, ""},
		{"replica with options", func(c *Config) { c.Replicas = []string{"r:1;weight=2;max-lag=1s"} }, ""},
		{"bad replica", func(c *Config) { c.Replicas = []string{"r:1;weight=0"} }, "replicas: entry 0"},
		{"replica twice", func(c *Config) { c.Replicas = []string{"r:1", "r:1;weight=2"} }, "listed twice"},
		{"replica is the primary", func(c *Config) { c.Replicas = []string{"p:1"} }, "listed twice"},
		{"password without user", func(c *Config) { c.MonitorPassword = "x" }, "monitor-password"},
		{"negative interval", func(c *Config) { c.HealthInterval = -time.Second }, "health-interval"},
		{"negative breaker failures", func(c *Config) { c.BreakerFailures = -1 }, "breaker-failures"},
		{"bad procedure", func(c *Config) { c.ReadOnlyProcedures = []string{"a.b.c.d"} }, "read-only-procedures"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Validate = %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

func TestConfigStringHidesMonitorPassword(t *testing.T) {
	t.Parallel()
	c := Config{Primary: "p:1", MonitorUser: "mon", MonitorPassword: "Very-Secret-1"}
	for _, s := range []string{c.String(), fmt.Sprintf("%v %+v %#v %s", c, c, c, &c)} {
		if strings.Contains(s, "Very-Secret-1") {
			t.Fatalf("config printed its monitor password: %s", s)
		}
		if !strings.Contains(s, "mon") {
			t.Fatalf("config print lost its content: %s", s)
		}
	}
}

func TestRoutingOffWithoutReplicas(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	if h.srv.routing != nil {
		t.Fatal("a proxy without replicas built a router")
	}
	db := h.open("")
	if got := serverName(t, db, ""); got != h.sim.Primary().Name() {
		t.Errorf("read served by %s", got)
	}
	if s := h.onlySession(); s.rt != nil {
		t.Error("a session of a proxy without replicas has routing state")
	}
}

func TestRoutingWithoutMonitorLogin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{replicas: 2})
	if h.srv.routing == nil || h.srv.routing.checker != nil {
		t.Fatal("want routing without a health checker")
	}
	db := h.open("")
	db.SetMaxOpenConns(1)
	seen := map[string]int{}
	for range 10 {
		seen[serverName(t, db, "")]++
	}
	if seen[h.sim.Primary().Name()] != 0 || len(seen) != 2 {
		t.Errorf("reads served by %v, want both replicas", seen)
	}
	if got := serverName(t, db, "/* tdsproxy:primary */ "); got != h.sim.Primary().Name() {
		t.Errorf("hinted read served by %s", got)
	}
	if b := h.adminGet("/backends"); !strings.Contains(b, "no health checker") {
		t.Errorf("/backends without a checker: %q", b)
	}
}

func TestReloadRoutingRemovesAndAddsReplicas(t *testing.T) {
	h := newRoutedHarness(t, nil)
	reps := h.sim.Replicas()
	db := h.open("")
	db.SetMaxOpenConns(1) // one session, kept across the reloads
	spread := func() map[string]int {
		seen := map[string]int{}
		for range 10 {
			seen[serverName(t, db, "")]++
		}
		return seen
	}
	if seen := spread(); len(seen) != 2 {
		t.Fatalf("before the reload, reads on %v", seen)
	}
	cfg := h.cfg
	cfg.Replicas = []string{reps[1].Addr()}
	if err := h.srv.ReloadRouting(cfg); err != nil {
		t.Fatalf("ReloadRouting: %v", err)
	}
	if seen := spread(); len(seen) != 1 || seen[reps[1].Name()] != 10 {
		t.Errorf("after removing %s, reads on %v", reps[0].Name(), seen)
	}
	cfg.Replicas = []string{reps[1].Addr(), reps[0].Addr() + ";weight=3"}
	if err := h.srv.ReloadRouting(cfg); err != nil {
		t.Fatalf("ReloadRouting: %v", err)
	}
	waitFor(t, 5*time.Second, "the re-added replica to be probed up", func() bool {
		st, ok := h.srv.routing.checker.Status(reps[0].Addr())
		return ok && st.State.String() == "up"
	})
	if seen := spread(); seen[reps[0].Name()] <= seen[reps[1].Name()] {
		t.Errorf("after re-adding %s with weight 3, reads on %v", reps[0].Name(), seen)
	}
	if h.srv.sessionCount() != 1 {
		t.Errorf("%d sessions, want the one session kept across reloads", h.srv.sessionCount())
	}

	bad := h.cfg
	bad.Primary = reps[0].Addr()
	bad.Replicas = []string{reps[1].Addr()}
	if err := h.srv.ReloadRouting(bad); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Errorf("changing the primary by reload: %v, want a restart error", err)
	}
	bad = h.cfg
	bad.Replicas = nil
	if err := h.srv.ReloadRouting(bad); err == nil {
		t.Error("removing every replica by reload was accepted")
	}
}
