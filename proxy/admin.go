package proxy

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AdminHandler serves the operations endpoints:
//
//	/metrics  Prometheus metrics (from the registerer given to New when it is
//	          also a Gatherer, such as a *prometheus.Registry; else the default)
//	/healthz  200 while the process serves HTTP (liveness)
//	/readyz   200 while listening and not draining, else 503 (readiness)
//	/startup  200 once the TDS listener has started, else 503
//	/backends the health checker's view of the backends, as JSON (routing.go)
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.gather, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeProbe(w, true, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		switch {
		case s.Ready():
			writeProbe(w, true, "ready")
		case s.draining.Load():
			writeProbe(w, false, "draining")
		default:
			writeProbe(w, false, "not listening yet")
		}
	})
	mux.HandleFunc("/startup", func(w http.ResponseWriter, _ *http.Request) {
		if s.started.Load() {
			writeProbe(w, true, "started")
			return
		}
		writeProbe(w, false, "starting")
	})
	mux.Handle("/backends", s.routing.backendsHandler())
	return mux
}

func writeProbe(w http.ResponseWriter, ok bool, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = w.Write([]byte(msg + "\n"))
}
