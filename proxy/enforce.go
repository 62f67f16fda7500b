package proxy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/cache"
	"github.com/tdsproxy/tdsproxy/policy"
	"github.com/tdsproxy/tdsproxy/policy/audit"
)

// classificationCacheSize is how many statement texts the server-wide
// classification cache holds.
const classificationCacheSize = 8192

// policyWatchInterval is how often the policy files are checked for changes.
const policyWatchInterval = time.Second

// maxPreparedPerSession caps the prepared handles a session's enforcement
// remembers; further handles are unknown to it (and so denied on execute).
const maxPreparedPerSession = 4096

// enforcer applies the policy and writes the audit trail for every session
// of a server. Its zero parts are off: without a store every request is
// allowed, without a writer nothing is audited. Safe for concurrent use.
type enforcer struct {
	log     *zap.Logger
	store   *policy.Store      // nil: no policy, allow all
	cls     *policy.Classifier // nil when store is nil
	audit   *audit.Writer      // nil: no audit log
	metrics *EnforceMetrics
}

// newEnforcer loads cfg's policy files and opens its audit log. An invalid
// policy or an audit log that cannot be opened is an error: the proxy must
// not start without the policy it was given.
func newEnforcer(cfg *Config, log *zap.Logger, m *EnforceMetrics) (*enforcer, error) {
	e := &enforcer{log: log, metrics: m}
	if len(cfg.PolicyFiles) == 0 {
		log.Warn("no policy files configured: every request is allowed (use --policy to enforce one)")
	} else {
		st, err := policy.NewStore(cfg.PolicyFiles...)
		if err != nil {
			return nil, fmt.Errorf("loading the policy: %w", err)
		}
		st.OnReload = e.reloaded
		cls, err := policy.NewClassifier(classificationCacheSize)
		if err != nil {
			return nil, err
		}
		e.store, e.cls = st, cls
		m.cacheStats = cls.CacheStats
		log.Info("policy loaded", zap.Strings("files", cfg.PolicyFiles))
	}
	if cfg.AuditLog != "" {
		w, err := audit.Open(audit.Config{Path: cfg.AuditLog})
		if err != nil {
			return nil, fmt.Errorf("opening the audit log %s: %w", cfg.AuditLog, err)
		}
		e.audit = w
		log.Info("audit log open", zap.String("file", cfg.AuditLog), zap.Uint64("continues_after_seq", w.Seq()))
	} else if e.store != nil {
		log.Warn("a policy is enforced but no audit log is configured (use --audit-log): no audit records are written")
	}
	return e, nil
}

// newEnforcerFor creates the enforcement metrics (registered with reg) and
// the enforcer of a server.
func newEnforcerFor(cfg *Config, log *zap.Logger, reg prometheus.Registerer) (*enforcer, error) {
	m, err := NewEnforceMetrics(reg)
	if err != nil {
		return nil, err
	}
	e, err := newEnforcer(cfg, log, m)
	if err != nil {
		return nil, fmt.Errorf("proxy policy: %w", err)
	}
	return e, nil
}

// ReloadPolicy re-reads the policy files (the CLI calls it on SIGHUP). On
// error the previous policy stays in force; the failure is logged and
// counted in tdsproxy_policy_reloads_total{outcome="failure"}. Each session
// uses the new policy from its next request; no session is dropped.
func (s *Server) ReloadPolicy() error { return s.enf.reload() }

// EnforceMetrics returns the server's policy and audit collectors.
func (s *Server) EnforceMetrics() *EnforceMetrics {
	if s.enf == nil {
		return nil
	}
	return s.enf.metrics
}

// reloaded logs and counts the outcome of a policy reload (file watcher or
// SIGHUP).
func (e *enforcer) reloaded(err error) {
	if err != nil {
		e.metrics.reloadFailed.Inc()
		e.log.Error("policy reload failed; the previous policy stays in force", zap.Error(err))
		return
	}
	e.metrics.reloadOK.Inc()
	e.log.Info("policy reloaded", zap.Strings("files", e.store.Files()))
}

// start watches the policy files (reloading them when they change) until
// ctx is done or the returned stop is called; stop also closes the audit
// log. Serve calls it.
func (e *enforcer) start(ctx context.Context) (stop func()) {
	if e == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if e.store != nil {
			e.store.Watch(ctx, policyWatchInterval)
		}
	}()
	return func() {
		cancel()
		<-done
		if err := e.close(); err != nil {
			e.log.Error("closing the audit log", zap.Error(err))
		}
	}
}

// close closes the audit log.
func (e *enforcer) close() error {
	if e == nil || e.audit == nil {
		return nil
	}
	return e.audit.Close()
}

// errNoPolicy is returned by ReloadPolicy when no policy files are configured.
var errNoPolicy = errors.New("proxy: started without policy files, so there is no policy to reload; policy files take effect at the next start")

// reload re-reads the policy files (the CLI calls it on SIGHUP). On
// error the previous policy stays in force; the failure is logged and
// counted in tdsproxy_policy_reloads_total{outcome="failure"}. Each session
// uses the new policy from its next request; no session is dropped.
func (e *enforcer) reload() error {
	if e == nil || e.store == nil {
		return errNoPolicy
	}
	return e.store.Reload()
}

// EnforceMetrics holds the collectors of policy enforcement and auditing.
type EnforceMetrics struct {
	// Decisions counts requests by action (the statement-kind group that
	// decided: read, write, ddl, exec, …, unknown, none) and outcome
	// (allow, deny).
	Decisions *prometheus.CounterVec
	// Reloads counts policy reloads by outcome (success, failure).
	Reloads *prometheus.CounterVec
	// AuditRecords counts audit records (request and result) written.
	AuditRecords prometheus.Counter
	// AuditFailures counts audit records (request and result) that could
	// not be written.
	AuditFailures prometheus.Counter

	reloadOK, reloadFailed prometheus.Counter
	decisions              map[string][2]prometheus.Counter // action → allow, deny
	cacheStats             func() cache.Stats               // nil until a classifier exists
}

// actionLabels are the bounded values of the action label.
var actionLabels = []string{"read", "write", "ddl", "exec", "dynamic", "security", "session",
	"control", "transaction", "admin", "unknown", "none"}

// kindGroup maps each statement kind to its action label.
var kindGroup = func() map[policy.Kind]string {
	m := make(map[policy.Kind]string)
	for g, kinds := range policy.Groups {
		for _, k := range kinds {
			m[k] = g
		}
	}
	return m
}()

// NewEnforceMetrics creates the enforcement collectors and registers them
// with reg (nil: not registered).
func NewEnforceMetrics(reg prometheus.Registerer) (*EnforceMetrics, error) {
	m := &EnforceMetrics{
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tdsproxy_policy_decisions_total",
			Help: "Policy decisions on client requests, by statement-kind group and outcome.",
		}, []string{"action", "outcome"}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tdsproxy_policy_reloads_total",
			Help: "Policy reloads (file change or SIGHUP) by outcome.",
		}, []string{"outcome"}),
		AuditRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tdsproxy_audit_records_total",
			Help: "Audit records written.",
		}),
		AuditFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tdsproxy_audit_failures_total",
			Help: "Audit records (request or result) that could not be written; the request, or the session's later requests, were refused when the role requires a record.",
		}),
		decisions: make(map[string][2]prometheus.Counter, len(actionLabels)),
	}
	m.reloadOK = m.Reloads.WithLabelValues("success")
	m.reloadFailed = m.Reloads.WithLabelValues("failure")
	for _, a := range actionLabels {
		m.decisions[a] = [2]prometheus.Counter{m.Decisions.WithLabelValues(a, "allow"), m.Decisions.WithLabelValues(a, "deny")}
	}
	hits := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "tdsproxy_cache_hits_total",
		Help: "Statement classifications found in the classification cache.",
	}, func() float64 { return float64(m.cache().Hits) })
	misses := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "tdsproxy_cache_misses_total",
		Help: "Statement classifications not found in the classification cache.",
	}, func() float64 { return float64(m.cache().Misses) })
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.Decisions, m.Reloads, m.AuditRecords, m.AuditFailures, hits, misses} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering enforcement metrics: %w", err)
		}
	}
	return m, nil
}

func (m *EnforceMetrics) cache() cache.Stats {
	if m.cacheStats == nil {
		return cache.Stats{}
	}
	return m.cacheStats()
}

// decision counts one decision.
func (m *EnforceMetrics) decision(action string, allowed bool) {
	c, ok := m.decisions[action]
	if !ok {
		c = m.decisions["unknown"]
	}
	if allowed {
		c[0].Inc()
	} else {
		c[1].Inc()
	}
}

// actionOf is the action label of a decided request: for a denial, the
// group of the denied access; for an allowance, the group of the first
// statement that is not session state or control flow (else of the first
// statement).
func actionOf(d *policy.Decision, c *policy.Classification) string {
	if !d.Allowed {
		return groupOf(d.Kind)
	}
	if c == nil || len(c.Statements) == 0 {
		return "none"
	}
	for i := range c.Statements { // in order, as c.Kinds() lists them, without its slice
		if g := groupOf(c.Statements[i].Kind); g != "session" && g != "control" {
			return g
		}
	}
	return groupOf(c.Statements[0].Kind)
}

func groupOf(k policy.Kind) string {
	if g, ok := kindGroup[k]; ok {
		return g
	}
	return "unknown"
}
