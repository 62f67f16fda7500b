package health

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestApplyProbe(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	up := BackendStatus{Name: "r", State: StateUp, Role: RoleSecondary, MaxLag: 5 * time.Second}
	cases := []struct {
		name      string
		prev      BackendStatus
		res       probeResult
		err       error
		primaryLC time.Time
		reported  *remoteLag
		state     State
		role      Role
		lag       time.Duration
		lagKnown  bool
		applied   time.Time
		failures  int
	}{
		{name: "primary", prev: up, res: probeResult{role: RolePrimary}, state: StateUp, role: RolePrimary, lagKnown: true, applied: start},
		{name: "secondary in sync", prev: up, res: probeResult{role: RoleSecondary, lagKnown: true}, state: StateUp, role: RoleSecondary, lagKnown: true, applied: start.Add(-1500 * time.Millisecond)},
		{name: "secondary lagging 3s", prev: up, res: probeResult{role: RoleSecondary, lagKnown: true, lag: 3 * time.Second}, state: StateUp, role: RoleSecondary, lag: 3 * time.Second, lagKnown: true, applied: start.Add(-4500 * time.Millisecond)},
		{name: "secondary over its max lag", prev: up, res: probeResult{role: RoleSecondary, lagKnown: true, lag: 6 * time.Second}, state: StateLagging, role: RoleSecondary, lag: 6 * time.Second, lagKnown: true, applied: start.Add(-7500 * time.Millisecond)},
		{name: "lag estimated from commit times", prev: up, res: probeResult{role: RoleSecondary, lastCommit: start.Add(-3 * time.Second)}, primaryLC: start.Add(-time.Second),
			state: StateUp, role: RoleSecondary, lag: 2 * time.Second, lagKnown: true},
		{name: "lag reported by the primary", prev: up, res: probeResult{role: RoleSecondary, lastCommit: start}, primaryLC: start,
			reported: &remoteLag{lag: 2 * time.Second, at: start.Add(-time.Second)},
			state:    StateUp, role: RoleSecondary, lag: 2 * time.Second, lagKnown: true, applied: start.Add(-4500 * time.Millisecond)},
		{name: "lag unknown with a max lag: lagging", prev: up, res: probeResult{role: RoleSecondary}, state: StateLagging, role: RoleSecondary},
		{name: "lag unknown without a max lag: up", prev: BackendStatus{State: StateUp}, res: probeResult{role: RoleSecondary}, state: StateUp, role: RoleSecondary},
		{name: "first failure of an up backend", prev: up, err: errors.New("dial tcp: refused"), state: StateUp, role: RoleSecondary, failures: 1},
		{name: "second failure", prev: BackendStatus{State: StateUp, Failures: 1}, err: errors.New("eof"), state: StateDown, failures: 2},
		{name: "never answered", prev: BackendStatus{}, err: errors.New("dial tcp: refused"), state: StateDown, failures: 1},
		{name: "resolving role", prev: up, err: fmt.Errorf("%w: role_desc %q", errNotServing, "RESOLVING"), state: StateDown, role: RoleSecondary, failures: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := apply(tc.prev, tc.res, tc.err, start, time.Millisecond, applyParams{primaryLastCommit: tc.primaryLC, reported: tc.reported, downAfter: 2, lagSlack: 500 * time.Millisecond})
			if s.State != tc.state || s.Role != tc.role || s.Lag != tc.lag || s.LagKnown != tc.lagKnown || !s.AppliedThrough.Equal(tc.applied) || s.Failures != tc.failures {
				t.Fatalf("got state %v role %v lag %v known %v applied %v failures %d", s.State, s.Role, s.Lag, s.LagKnown, s.AppliedThrough, s.Failures)
			}
			if (tc.err != nil) != (s.LastError != "") {
				t.Errorf("LastError %q for error %v", s.LastError, tc.err)
			}
			if s.State != tc.prev.State && !s.Since.Equal(start) {
				t.Errorf("Since %v after a state change", s.Since)
			}
		})
	}
}

func TestConfigValidateAndDSN(t *testing.T) {
	t.Parallel()
	cfg := Config{User: "mon", Password: "p@ss/word?&", Backends: []Backend{
		{Addr: "db1:1433", TLS: TLS{TrustServerCertificate: true, CAFile: "/ca.pem", ServerName: "sql.example"}},
		{Name: "db1:1433", Addr: "db2:1433"},
		{Name: "x", Addr: "nohost", Weight: -1, MaxLag: -time.Second, TLS: TLS{Encrypt: "maybe"}},
	}}
	cfg.SetDefaults()
	err := cfg.Validate()
	for _, want := range []string{"backends[1].name", "backends[2].addr", "backends[2].weight", "backends[2].max-lag", "backends[2].encrypt"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	if err := (&Config{Interval: time.Second, Timeout: time.Second, DownAfter: 1}).Validate(); err == nil || !strings.Contains(err.Error(), "health.user") {
		t.Errorf("missing user: %v", err)
	}
	dsn := cfg.dsn(cfg.Backends[0])
	for _, want := range []string{"sqlserver://mon:p%40ss%2Fword%3F&@db1:1433?", "encrypt=true", "TrustServerCertificate=true",
		"certificate=%2Fca.pem", "hostNameInCertificate=sql.example", "app+name=tdsproxy-health"} {
		if !strings.Contains(dsn, want) {
			t.Errorf("dsn lacks %q", want)
		}
	}
	if s := fmt.Sprintf("%v|%+v|%#v|%s", cfg, cfg, cfg, cfg.String()); strings.Contains(s, "p@ss") {
		t.Errorf("password printed: %s", s)
	}
}
