package mssqlsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// ControlHandler returns the HTTP control endpoint of a cluster, served by the
// mssqlsim binary on -control ADDR (a loopback address: the endpoint has no
// authentication). Every fault of the Go API is reachable:
//
//	POST /servers/{name}/stop               stop the server (listener and connections)
//	POST /servers/{name}/start              start it again on the same address
//	POST /servers/{name}/drop               drop its client connections
//	POST /servers/{name}/login-delay?d=2s   delay logins (d=0 turns it off)
//	POST /servers/{name}/login-failure?on=1 fail every login with 18456 (on=0 turns it off)
//	POST /servers/{name}/response-delay?d=500ms  delay every response
//	POST /lag?d=3s                          set the replicas' replication lag
//	POST /failover?replica=1                make Servers()[1] ("…-replica1") the primary
//	GET  /status                            JSON: servers, roles, addresses, faults, lag
//
// {name} is a server's full name ("mssqlsim-replica1") or its suffix after the
// prefix ("replica1", "primary" — names are fixed at start and do not follow
// roles after a failover). Successful POSTs answer 200 with the new status;
// bad input answers 400, an unknown server 404, both with a plain-text reason.
func ControlHandler(c *Cluster) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, c)
	})
	mux.HandleFunc("POST /servers/{name}/{action}", func(w http.ResponseWriter, r *http.Request) {
		s := c.ServerByName(r.PathValue("name"))
		if s == nil {
			http.Error(w, fmt.Sprintf("no server named %q", r.PathValue("name")), http.StatusNotFound)
			return
		}
		if err := serverAction(s, r.PathValue("action"), r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeStatus(w, c)
	})
	mux.HandleFunc("POST /lag", func(w http.ResponseWriter, r *http.Request) {
		d, err := durationParam(r, "d")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.SetReplicaLag(d)
		writeStatus(w, c)
	})
	mux.HandleFunc("POST /failover", func(w http.ResponseWriter, r *http.Request) {
		i, err := strconv.Atoi(r.URL.Query().Get("replica"))
		if err != nil {
			http.Error(w, "failover: parameter replica must be a server number, e.g. replica=1", http.StatusBadRequest)
			return
		}
		if err := c.Failover(i); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeStatus(w, c)
	})
	return mux
}

func serverAction(s *Server, action string, r *http.Request) error {
	switch action {
	case "stop":
		return s.Stop()
	case "start":
		return s.Start()
	case "drop":
		s.DropConnections()
		return nil
	case "login-delay":
		d, err := durationParam(r, "d")
		if err != nil {
			return err
		}
		s.SetLoginDelay(d)
		return nil
	case "response-delay":
		d, err := durationParam(r, "d")
		if err != nil {
			return err
		}
		s.SetResponseDelay(d)
		return nil
	case "login-failure":
		on, err := strconv.ParseBool(r.URL.Query().Get("on"))
		if err != nil {
			return fmt.Errorf("login-failure: parameter on must be 1 or 0, got %q", r.URL.Query().Get("on"))
		}
		s.SetLoginFailure(on)
		return nil
	default:
		return fmt.Errorf("unknown action %q (stop, start, drop, login-delay, login-failure, response-delay)", action)
	}
}

func durationParam(r *http.Request, name string) (time.Duration, error) {
	v := r.URL.Query().Get(name)
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("parameter %s must be a non-negative duration such as 2s or 500ms, got %q", name, v)
	}
	return d, nil
}

// ServerStatus is one server's entry in Status.
type ServerStatus struct {
	Name          string `json:"name"`
	Addr          string `json:"addr"`
	Primary       bool   `json:"primary"`
	Running       bool   `json:"running"`
	Connections   int    `json:"connections"`
	LoginDelay    string `json:"login_delay"`
	LoginFailure  bool   `json:"login_failure"`
	ResponseDelay string `json:"response_delay"`
	// PendingTransactions is, on a replica, how many committed primary
	// transactions wait to be applied.
	PendingTransactions int `json:"pending_transactions"`
}

// Status is the cluster state reported by GET /status.
type Status struct {
	ReplicaLag string         `json:"replica_lag"`
	Servers    []ServerStatus `json:"servers"`
}

// Status returns a snapshot of the cluster's state.
func (c *Cluster) Status() Status {
	st := Status{ReplicaLag: c.ReplicaLag().String()}
	for _, s := range c.Servers() {
		st.Servers = append(st.Servers, ServerStatus{
			Name:                s.Name(),
			Addr:                s.Addr(),
			Primary:             s.IsPrimary(),
			Running:             s.Running(),
			Connections:         s.ActiveConnections(),
			LoginDelay:          s.LoginDelay().String(),
			LoginFailure:        s.LoginFailure(),
			ResponseDelay:       s.ResponseDelay().String(),
			PendingTransactions: s.pendingTransactions(),
		})
	}
	return st
}

func writeStatus(w http.ResponseWriter, c *Cluster) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(c.Status())
}
