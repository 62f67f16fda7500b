package route

import (
	"testing"
	"time"

	"github.com/tdsproxy/tdsproxy/policy"
	"github.com/tdsproxy/tdsproxy/proxy/health"
)

// fixed is the routers' clock in tests.
var fixed = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// statuses is a healthy primary "p" and replicas "r1", "r2" that have
// applied everything up to one second before fixed.
func statuses() []health.BackendStatus {
	return []health.BackendStatus{
		{Name: "p", Addr: "10.0.0.1:1433", Weight: 1, State: health.StateUp, Role: health.RolePrimary, LagKnown: true, AppliedThrough: fixed},
		{Name: "r1", Addr: "10.0.0.2:1433", Weight: 1, State: health.StateUp, Role: health.RoleSecondary, LagKnown: true, MaxLag: 5 * time.Second, AppliedThrough: fixed.Add(-time.Second)},
		{Name: "r2", Addr: "10.0.0.3:1433", Weight: 1, State: health.StateUp, Role: health.RoleSecondary, LagKnown: true, MaxLag: 5 * time.Second, AppliedThrough: fixed.Add(-time.Second)},
	}
}

func newRouter(t testing.TB, cfg Config, ss []health.BackendStatus) *Router {
	t.Helper()
	if cfg.Primary == "" {
		cfg.Primary = "p"
	}
	r, err := New(cfg, NewBreakers(BreakerConfig{Failures: 2, OpenTimeout: time.Minute}, nil, nil), NewMetrics(nil))
	if err != nil {
		t.Fatal(err)
	}
	r.now = func() time.Time { return fixed }
	r.Update(ss)
	return r
}

func batch(text string) *RequestInfo {
	return &RequestInfo{Class: policy.ClassifyText(text), Text: text, PrimaryHint: HasPrimaryHint(text)}
}
