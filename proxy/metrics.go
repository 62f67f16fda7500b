package proxy

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tdsproxy/tdsproxy/tds"
)

// Version is the proxy's version, reported by tdsproxy_build_info. The CLI
// sets it at link time (-ldflags "-X github.com/tdsproxy/tdsproxy/proxy.Version=…");
// otherwise the module version from the build info is used.
var Version = ""

// Metrics holds the proxy's Prometheus collectors. Create it with NewMetrics;
// nothing is registered at init time.
type Metrics struct {
	// ClientConns is the number of open client connections.
	ClientConns prometheus.Gauge
	// ClientConnsTotal counts accepted client connections.
	ClientConnsTotal prometheus.Counter
	// BackendConns is the number of open backend connections.
	BackendConns prometheus.Gauge
	// Requests counts client requests by type (sql_batch, rpc, tm, bulk_load, attention).
	Requests *prometheus.CounterVec
	// Bytes counts client-leg bytes by direction (in = from clients, out = to clients).
	Bytes *prometheus.CounterVec
	// RequestDuration is the time from a request's arrival to the end of its response.
	RequestDuration prometheus.Histogram
	// Errors counts failures by reason (see errors.go).
	Errors *prometheus.CounterVec
	// BuildInfo is always 1, labelled with the version and Go version.
	BuildInfo *prometheus.GaugeVec

	bytesIn, bytesOut prometheus.Counter
	reqByType         map[tds.PacketType]prometheus.Counter
	reqOther          prometheus.Counter
}

// NewMetrics creates the proxy's collectors and registers them with reg
// (nil: not registered, useful in tests).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		ClientConns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tdsproxy_client_connections",
			Help: "Open client connections.",
		}),
		ClientConnsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tdsproxy_client_connections_total",
			Help: "Client connections accepted.",
		}),
		BackendConns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tdsproxy_backend_connections",
			Help: "Open backend connections.",
		}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tdsproxy_client_requests_total",
			Help: "Client requests by message type.",
		}, []string{"type"}),
		Bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tdsproxy_client_bytes_total",
			Help: "Bytes on the client leg after login (TDS payload and headers), by direction.",
		}, []string{"direction"}),
		RequestDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tdsproxy_client_request_duration_seconds",
			Help:    "Time from a client request's arrival to the end of its response.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tdsproxy_client_errors_total",
			Help: "Client session failures by reason.",
		}, []string{"reason"}),
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tdsproxy_build_info",
			Help: "Always 1; labels carry the build's version and Go version.",
		}, []string{"version", "goversion"}),
	}
	m.bytesIn = m.Bytes.WithLabelValues("in")
	m.bytesOut = m.Bytes.WithLabelValues("out")
	m.BuildInfo.WithLabelValues(buildVersion(), runtime.Version()).Set(1)
	m.reqByType = make(map[tds.PacketType]prometheus.Counter, len(requestTypeLabels))
	for pt, label := range requestTypeLabels {
		m.reqByType[pt] = m.Requests.WithLabelValues(label)
	}
	m.reqOther = m.Requests.WithLabelValues("other")
	for _, r := range allReasons {
		m.Errors.WithLabelValues(string(r))
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.ClientConns, m.ClientConnsTotal, m.BackendConns,
		m.Requests, m.Bytes, m.RequestDuration, m.Errors, m.BuildInfo} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering proxy metrics: %w", err)
		}
	}
	return m, nil
}

// requestTypeLabels are the values of the type label of
// tdsproxy_client_requests_total ("other" for anything else).
var requestTypeLabels = map[tds.PacketType]string{
	tds.PacketSQLBatch:  "sql_batch",
	tds.PacketRPC:       "rpc",
	tds.PacketTransMgr:  "tm",
	tds.PacketBulkLoad:  "bulk_load",
	tds.PacketAttention: "attention",
}

// request returns the request counter for a client message type.
func (m *Metrics) request(t tds.PacketType) prometheus.Counter {
	if c, ok := m.reqByType[t]; ok {
		return c
	}
	return m.reqOther
}

func buildVersion() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "devel"
}
