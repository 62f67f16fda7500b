package health

import (
	"encoding/json"
	"net/http"
)

// Handler serves the backends' statuses as JSON, for the admin endpoint's
// /backends: {"backends":[{name, addr, state, role, lag_seconds, …}]}.
// It exposes no credentials. Only GET and HEAD are allowed.
func (c *Checker) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body, err := json.MarshalIndent(struct {
			Backends []BackendStatus `json:"backends"`
		}{c.Snapshot()}, "", "  ")
		if err != nil {
			http.Error(w, "encoding backend status: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(append(body, '\n'))
	})
}
