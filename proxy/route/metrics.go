package route

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the router's and breakers' Prometheus metrics. Labels are
// bounded: targets, reasons, configured backend names.
type Metrics struct {
	requests           *prometheus.CounterVec
	pins               *prometheus.CounterVec
	retries            prometheus.Counter
	breakerState       *prometheus.GaugeVec
	breakerTransitions *prometheus.CounterVec

	// routed caches the request counters, so Route neither hashes labels
	// nor locks once a (target, reason) pair has been seen.
	once   [numTargets][numReasons]sync.Once
	routed [numTargets][numReasons]prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tdsproxy_router_requests_total",
			Help: "Requests routed, by target (primary, replica, none) and reason.",
		}, []string{"target", "reason"}),
		pins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tdsproxy_router_pins_total",
			Help: "Sessions pinned to one backend, by the state change that could not be replayed.",
		}, []string{"reason"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tdsproxy_router_retries_total",
			Help: "Reads retried on another backend after failing before any byte reached the client.",
		}),
		breakerState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tdsproxy_breaker_state",
			Help: "Circuit breaker state per backend: 0 closed, 1 half-open, 2 open.",
		}, []string{"backend"}),
		breakerTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tdsproxy_breaker_transitions_total",
			Help: "Circuit breaker state changes per backend, by the state entered.",
		}, []string{"backend", "to"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.pins, m.retries, m.breakerState, m.breakerTransitions)
	}
	return m
}

// countRoute counts one routing decision.
func (m *Metrics) countRoute(t Target, r Reason) {
	if t >= numTargets || r >= numReasons {
		return
	}
	m.once[t][r].Do(func() { m.routed[t][r] = m.requests.WithLabelValues(t.String(), r.String()) })
	m.routed[t][r].Inc()
}
