package proxy

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tdsproxy/tdsproxy/test/mssqlsim"
)

const (
	simUser     = "app"
	simPassword = "App-Passw0rd!"
)

// harness is a simulator cluster with the proxy in front of it.
type harness struct {
	t      testing.TB
	sim    *mssqlsim.Cluster
	srv    *Server
	reg    *prometheus.Registry
	logs   *observer.ObservedLogs
	cfg    Config
	caFile string // CA of the proxy's client-facing certificate
	cancel context.CancelFunc
	served chan error

	numbersOnce sync.Once // the numbers table of largeQuery
}

type harnessOpts struct {
	simTLS     *tls.Config // sim's TLS (nil: its self-signed certificate)
	simEncrypt bool        // sim forces encryption
	replicas   int         // simulator replicas, given to the proxy as Replicas
	config     func(*Config)
}

// newHarness starts a one-node simulator and a proxy in front of it. Both
// are stopped at the end of the test.
func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	simCfg := mssqlsim.Config{
		Addr:     "127.0.0.1:0",
		Logins:   map[string]string{simUser: simPassword},
		TLS:      o.simTLS,
		Replicas: o.replicas,
	}
	if o.simEncrypt {
		simCfg.Encryption = 1 // tds.EncryptOn
	}
	sim, err := mssqlsim.Start(simCfg)
	if err != nil {
		t.Fatalf("starting the simulator: %v", err)
	}
	t.Cleanup(func() { sim.Close() })
	createDatabase(t, sim.Primary().Addr(), "demo")

	tlsCert, tlsKey, caFile := proxyCertFiles(t)
	cfg := Config{
		TLSCert:               tlsCert,
		TLSKey:                tlsKey,
		Listen:                "127.0.0.1:0",
		Primary:               sim.Primary().Addr(),
		BackendEncrypt:        BackendEncryptDisable,
		LoginTimeout:          5 * time.Second,
		BackendConnectTimeout: 3 * time.Second,
		ShutdownGrace:         3 * time.Second,
	}
	for _, r := range sim.Replicas() {
		cfg.Replicas = append(cfg.Replicas, r.Addr())
	}
	if o.config != nil {
		o.config(&cfg)
	}
	return startProxy(t, sim, cfg, caFile)
}

// startProxy starts a proxy with cfg in front of sim, logging to an
// observer, and stops it at the end of the test. caFile is the CA of the
// proxy's client-facing certificate (cfg.TLSCert).
func startProxy(t testing.TB, sim *mssqlsim.Cluster, cfg Config, caFile string) *harness {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	reg := prometheus.NewRegistry()
	srv, err := New(cfg, zap.New(core), reg)
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, sim: sim, srv: srv, reg: reg, logs: logs, cfg: srv.cfg, caFile: caFile, cancel: cancel, served: make(chan error, 1)}
	go func() { h.served <- srv.ListenAndServe(ctx) }()
	waitFor(t, 5*time.Second, "the proxy to listen", func() bool { return srv.Addr() != nil })
	t.Cleanup(h.stop)
	return h
}

// createDatabase creates a database on the simulator, directly.
func createDatabase(t testing.TB, addr, name string) {
	t.Helper()
	db, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://%s:%s@%s?encrypt=true&TrustServerCertificate=true", simUser, simPassword, addr))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("creating database %s on the simulator: %v", name, err)
	}
}

// stop cancels the proxy and waits for ListenAndServe to return.
func (h *harness) stop() {
	h.cancel()
	select {
	case err := <-h.served:
		if err != nil {
			h.t.Errorf("ListenAndServe: %v", err)
		}
		h.served <- nil
	case <-time.After(10 * time.Second):
		h.t.Errorf("ListenAndServe did not return after cancel")
	}
}

// dsn is a go-mssqldb connection string to the proxy.
func (h *harness) dsn(params string) string {
	return fmt.Sprintf("sqlserver://%s:%s@%s?database=demo&dial+timeout=5&%s", simUser, simPassword, h.srv.Addr(), params)
}

// open returns a database handle through the proxy.
func (h *harness) open(params string) *sql.DB {
	h.t.Helper()
	db, err := sql.Open("sqlserver", h.dsn(params))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { db.Close() })
	return db
}

// metric reads a gauge or counter.
func (h *harness) metric(c prometheus.Metric) float64 { return metricValue(h.t, c) }

// waitIdle waits until the proxy has no client and no backend connections.
func (h *harness) waitIdle() {
	h.t.Helper()
	m := h.srv.metrics
	waitFor(h.t, 5*time.Second, "client and backend connections to return to 0", func() bool {
		return h.metric(m.ClientConns) == 0 && h.metric(m.BackendConns) == 0 && h.srv.sessionCount() == 0
	})
}

// goroutineBaseline returns a function that waits until the number of
// goroutines is back to at most the current one.
func goroutineBaseline(t testing.TB) func() {
	base := runtime.NumGoroutine()
	return func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Fatalf("goroutines: %d, baseline %d\n%s", n, base, buf)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// sqlError returns the SQL Server error in err, if any.
func sqlError(err error) (mssql.Error, bool) {
	var e mssql.Error
	if errors.As(err, &e) {
		return e, true
	}
	return e, false
}

// writeCAFile writes the CA's PEM to a temp file and returns its path.
func writeCAFile(t testing.TB, ca *testCA) string {
	p := filepath.Join(t.TempDir(), "ca.pem")
	writeFile(t, p, ca.pem)
	return p
}

// simTLSConfig is a TLS config for the simulator with a certificate for
// localhost and 127.0.0.1 issued by ca.
func simTLSConfig(t testing.TB, ca *testCA) *tls.Config {
	certPEM, keyPEM := ca.issue(t, "mssqlsim", "localhost")
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}
}

// rawConn dials the proxy over TCP.
func (h *harness) rawConn() net.Conn {
	h.t.Helper()
	c, err := net.DialTimeout("tcp", h.srv.Addr().String(), 2*time.Second)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

// onlySession returns the proxy's single live session.
func (h *harness) onlySession() *session {
	h.t.Helper()
	var found *session
	waitFor(h.t, 2*time.Second, "exactly one session", func() bool {
		h.srv.mu.Lock()
		defer h.srv.mu.Unlock()
		if len(h.srv.sessions) != 1 {
			return false
		}
		for s := range h.srv.sessions {
			found = s
		}
		return true
	})
	return found
}
