package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/policy"
	"github.com/tdsproxy/tdsproxy/proxy/health"
	"github.com/tdsproxy/tdsproxy/proxy/route"
)

// ReplicaSpec is one configured read replica: its address and the options
// given after it (`HOST:PORT;weight=2;max-lag=5s`).
type ReplicaSpec struct {
	// Addr is HOST:PORT.
	Addr string
	// Weight is the replica's share of reads (default 1).
	Weight int
	// MaxLag is the lag above which the replica serves no reads (0 = no limit).
	MaxLag time.Duration
}

// ParseReplica parses a replica setting: HOST:PORT, optionally followed by
// ";weight=N" and ";max-lag=DURATION" in any order.
func ParseReplica(s string) (ReplicaSpec, error) {
	parts := strings.Split(s, ";")
	spec := ReplicaSpec{Addr: strings.TrimSpace(parts[0]), Weight: health.DefaultWeight}
	if _, _, err := net.SplitHostPort(spec.Addr); err != nil {
		return ReplicaSpec{}, fmt.Errorf("%q is not HOST:PORT: %w", spec.Addr, err)
	}
	for _, opt := range parts[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(opt), "=")
		if !ok {
			return ReplicaSpec{}, fmt.Errorf("option %q: want key=value (weight=N, max-lag=DURATION)", opt)
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "weight":
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 1 {
				return ReplicaSpec{}, fmt.Errorf("weight %q: want a whole number of at least 1", v)
			}
			spec.Weight = n
		case "max-lag", "max_lag", "maxlag":
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil || d < 0 {
				return ReplicaSpec{}, fmt.Errorf("max-lag %q: want a duration such as 5s", v)
			}
			spec.MaxLag = d
		default:
			return ReplicaSpec{}, fmt.Errorf("unknown option %q (want weight or max-lag)", k)
		}
	}
	return spec, nil
}

// routing is the server's per-request routing: the health checker (nil
// without a monitor login), the router and its breakers, and the
// classifier. It exists only when replicas are configured; without it
// every request goes to the session's single primary connection, as
// before.
type routing struct {
	router     *route.Router
	checker    *health.Checker
	classifier *policy.Classifier
	metrics    *route.Metrics
	stopWatch  func()
	log        *zap.Logger
	// backends are the configured backends, primary first (replaced by a
	// reload).
	backends atomic.Pointer[[]health.Backend]
}

// routingClassifierCache is how many statement texts the routing
// classifier caches.
const routingClassifierCache = 4096

// newRouting builds the routing of cfg, or returns nil when no replica is
// configured. Metrics are registered with reg (nil: none).
func newRouting(cfg *Config, log *zap.Logger, reg prometheus.Registerer) (*routing, error) {
	if len(cfg.Replicas) == 0 {
		return nil, nil
	}
	rm := route.NewMetrics(reg)
	breakers := route.NewBreakers(route.BreakerConfig{
		Failures:    uint32(cfg.BreakerFailures),
		OpenTimeout: cfg.BreakerOpenTimeout,
	}, log, rm)
	router, err := route.New(routeConfig(cfg), breakers, rm)
	if err != nil {
		return nil, fmt.Errorf("routing config: %w", err)
	}
	cls, err := policy.NewClassifier(routingClassifierCache)
	if err != nil {
		return nil, fmt.Errorf("routing classifier: %w", err)
	}
	rt := &routing{router: router, classifier: cls, metrics: rm, log: log}
	backends := routingBackends(cfg)
	rt.backends.Store(&backends)
	if cfg.MonitorUser == "" {
		log.Warn("no monitor login (monitor-user): backends are not health-checked; circuit breakers alone detect failures and failovers are not followed")
		router.Update(staticStatuses(backends))
		return rt, nil
	}
	checker, err := health.New(healthConfig(cfg, backends), log.Named("health"), health.NewMetrics(reg))
	if err != nil {
		return nil, fmt.Errorf("health checker: %w", err)
	}
	rt.checker = checker
	rt.stopWatch = router.Watch(checker)
	return rt, nil
}

// staticStatuses is the topology without a health checker: the configured
// roles, every backend up; only the breakers notice a sick backend.
func staticStatuses(backends []health.Backend) []health.BackendStatus {
	statuses := make([]health.BackendStatus, len(backends))
	for i, b := range backends {
		role := health.RoleSecondary
		if i == 0 {
			role = health.RolePrimary
		}
		statuses[i] = health.BackendStatus{Name: b.Name, Addr: b.Addr, Weight: b.Weight, MaxLag: b.MaxLag, State: health.StateUp, Role: role}
	}
	return statuses
}

// healthConfig is the health checker's config for cfg.
func healthConfig(cfg *Config, backends []health.Backend) health.Config {
	return health.Config{
		Interval: cfg.HealthInterval,
		Timeout:  cfg.HealthTimeout,
		User:     cfg.MonitorUser,
		Password: cfg.MonitorPassword,
		Backends: backends,
	}
}

// routeConfig is the router's config for cfg.
func routeConfig(cfg *Config) route.Config {
	return route.Config{
		Primary:              cfg.Primary,
		ReadOnlyProcedures:   cfg.ReadOnlyProcedures,
		ReadYourWritesWindow: cfg.ReadYourWritesWindow,
		NoPrimaryReads:       cfg.NoPrimaryReads,
	}
}

// ReloadRouting applies a reloaded configuration's replicas (added,
// removed, new weights and lag limits) and routing settings
// (read-only-procedures, read-your-writes-window, no-primary-reads, health
// interval and timeout, monitor login) without dropping sessions: requests
// routed from now on use them; a removed replica's open connections serve
// no new request. The primary, the breaker settings, and turning routing
// or health checks on or off need a restart: they are refused with an
// error and nothing changes.
func (s *Server) ReloadRouting(cfg Config) error {
	cfg.SetDefaults()
	rt := s.routing
	switch {
	case rt == nil && len(cfg.Replicas) > 0:
		return errors.New("routing: replicas added to a proxy started without any: restart to route requests")
	case rt == nil:
		return nil
	case len(cfg.Replicas) == 0:
		return errors.New("routing: every replica removed: restart to stop routing requests")
	case cfg.Primary != s.cfg.Primary:
		return fmt.Errorf("routing: primary changed from %s to %s: restart to apply", s.cfg.Primary, cfg.Primary)
	case (cfg.MonitorUser == "") != (rt.checker == nil):
		return errors.New("routing: monitor-user set or cleared: restart to turn health checks on or off")
	}
	if err := cfg.validateRouting(); err != nil {
		return fmt.Errorf("routing config: %w", err)
	}
	backends := routingBackends(&cfg)
	if rt.checker != nil {
		if err := rt.checker.Reconfigure(healthConfig(&cfg, backends)); err != nil {
			return fmt.Errorf("routing: %w", err)
		}
	}
	if err := rt.router.SetConfig(routeConfig(&cfg)); err != nil {
		return fmt.Errorf("routing: %w", err)
	}
	if rt.checker == nil {
		rt.router.Update(staticStatuses(backends))
	}
	rt.backends.Store(&backends)
	s.log.Info("routing configuration reloaded", zap.Strings("replicas", cfg.Replicas))
	return nil
}

// routingBackends lists the backends to route to and probe: the primary
// first, then the replicas, named by their addresses.
func routingBackends(cfg *Config) []health.Backend {
	tls := health.TLS{
		Encrypt:                string(cfg.BackendEncrypt),
		TrustServerCertificate: cfg.BackendTrustCert,
		CAFile:                 cfg.BackendCAFile,
		ServerName:             cfg.BackendServerName,
	}
	out := []health.Backend{{Name: cfg.Primary, Addr: cfg.Primary, Weight: health.DefaultWeight, TLS: tls}}
	for _, r := range cfg.Replicas {
		spec, err := ParseReplica(r)
		if err != nil {
			continue // Validate has refused it already
		}
		out = append(out, health.Backend{Name: spec.Addr, Addr: spec.Addr, Weight: spec.Weight, MaxLag: spec.MaxLag, TLS: tls})
	}
	return out
}

// start probes every backend once (bounded by the probe timeout) and then
// on the configured interval, until ctx ends or the returned function is
// called.
func (rt *routing) start(ctx context.Context) (stop func()) {
	if rt == nil || rt.checker == nil {
		return func() {}
	}
	first, cancel := context.WithTimeout(ctx, 5*time.Second)
	rt.checker.CheckNow(first)
	cancel()
	rt.checker.Start(ctx)
	return func() {
		rt.stopWatch()
		rt.checker.Close()
	}
}

// backendsHandler serves /backends: the health checker's view, or 404
// when there is none.
func (rt *routing) backendsHandler() http.Handler {
	if rt == nil || rt.checker == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "no health checker: configure replicas and a monitor login", http.StatusNotFound)
		})
	}
	return rt.checker.Handler()
}

// validateRouting reports invalid routing settings by their keys.
func (c *Config) validateRouting() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	seen := map[string]bool{c.Primary: true}
	for i, r := range c.Replicas {
		spec, err := ParseReplica(r)
		if err != nil {
			bad("replicas", "entry %d: %v", i, err)
			continue
		}
		if seen[spec.Addr] {
			bad("replicas", "entry %d: %s is listed twice (or is the primary)", i, spec.Addr)
		}
		seen[spec.Addr] = true
	}
	if c.MonitorUser == "" && c.MonitorPassword != "" {
		bad("monitor-password", "set without monitor-user")
	}
	if c.HealthInterval < 0 || c.HealthTimeout < 0 || c.BreakerOpenTimeout < 0 {
		bad("timeouts", "health-interval, health-timeout and breaker-open-timeout must not be negative")
	}
	if c.BreakerFailures < 0 {
		bad("breaker-failures", "must not be negative, got %d", c.BreakerFailures)
	}
	rc := route.Config{ReadOnlyProcedures: c.ReadOnlyProcedures}
	if err := rc.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// loginTargets lists the backends a new session logs in to, in order of
// preference: for ApplicationIntent=ReadOnly, the replicas the health
// checker sees usable (all configured replicas before any probe), starting
// at a rotating index, and never the primary; otherwise the backend that
// reports the primary role (after a failover, not the configured one),
// then the configured primary.
func (rt *routing) loginTargets(cfg *Config, readOnly bool, turn uint64) []string {
	var primary string
	var replicas []string
	if rt.checker != nil {
		for _, st := range rt.checker.Snapshot() {
			switch {
			case !st.Usable():
			case st.Role == health.RolePrimary && primary == "":
				primary = st.Addr
			case st.Role == health.RoleSecondary:
				replicas = append(replicas, st.Addr)
			}
		}
	}
	if !readOnly {
		if primary == "" || primary == cfg.Primary {
			return []string{cfg.Primary}
		}
		return []string{primary, cfg.Primary}
	}
	if len(replicas) == 0 {
		for _, b := range (*rt.backends.Load())[1:] {
			replicas = append(replicas, b.Addr)
		}
	}
	out := make([]string, 0, len(replicas))
	for i := range replicas {
		out = append(out, replicas[(int(turn%uint64(len(replicas)))+i)%len(replicas)])
	}
	return out
}

// setRoutingDefaults fills zero routing fields with their defaults.
func (c *Config) setRoutingDefaults() {
	if c.HealthInterval == 0 {
		c.HealthInterval = health.DefaultInterval
	}
	if c.HealthTimeout == 0 {
		c.HealthTimeout = health.DefaultTimeout
	}
	if c.ReadYourWritesWindow == 0 {
		c.ReadYourWritesWindow = route.DefaultReadYourWritesWindow
	}
	if c.BreakerFailures == 0 {
		c.BreakerFailures = route.DefaultBreakerFailures
	}
	if c.BreakerOpenTimeout == 0 {
		c.BreakerOpenTimeout = route.DefaultBreakerOpenTimeout
	}
}

// String describes the config without the monitor password.
func (c Config) String() string {
	type plain Config // no methods: no recursion
	p := plain(c)
	if p.MonitorPassword != "" {
		p.MonitorPassword = "REDACTED"
	}
	return fmt.Sprintf("%+v", p)
}

// GoString is String, so %#v does not print the password either.
func (c Config) GoString() string { return c.String() }
