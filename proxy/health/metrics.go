package health

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the health checker's Prometheus metrics. Labels are backend
// names from the config: bounded cardinality.
type Metrics struct {
	up     *prometheus.GaugeVec
	role   *prometheus.GaugeVec
	lag    *prometheus.GaugeVec
	checks *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tdsproxy_backend_up",
			Help: "1 when the backend's last health checks succeeded (state up or lagging), else 0.",
		}, []string{"backend"}),
		role: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tdsproxy_backend_role",
			Help: "The backend's availability role: 1 primary, 2 secondary, 0 unknown.",
		}, []string{"backend"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tdsproxy_backend_lag_seconds",
			Help: "Replica lag measured by the last health check (0 on a primary).",
		}, []string{"backend"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tdsproxy_backend_health_checks_total",
			Help: "Health checks by outcome: ok, error, timeout.",
		}, []string{"backend", "result"}),
	}
	if reg != nil {
		reg.MustRegister(m.up, m.role, m.lag, m.checks)
	}
	return m
}

// observe records one probe's outcome.
func (m *Metrics) observe(s BackendStatus, result string) {
	up := 0.0
	if s.Usable() {
		up = 1
	}
	m.up.WithLabelValues(s.Name).Set(up)
	m.role.WithLabelValues(s.Name).Set(float64(s.Role))
	m.lag.WithLabelValues(s.Name).Set(s.Lag.Seconds())
	m.checks.WithLabelValues(s.Name, result).Inc()
}

// forget removes a removed backend's series.
func (m *Metrics) forget(name string) {
	m.up.DeleteLabelValues(name)
	m.role.DeleteLabelValues(name)
	m.lag.DeleteLabelValues(name)
	for _, r := range []string{"ok", "error", "timeout"} {
		m.checks.DeleteLabelValues(name, r)
	}
}
