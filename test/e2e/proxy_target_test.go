package e2e

import (
	"context"
	"database/sql"
	"net"
	"os"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/tdsproxy/tdsproxy/proxy"
	"github.com/tdsproxy/tdsproxy/test/mssqlsim"
)

// startViaProxy puts tdsproxy in front of a fresh simulator cluster (a
// primary and one replica): clients dial the proxy, which terminates their
// TDS and TLS and logs in to the simulator with full TLS, verifying the
// simulator's certificate. Read-only intent connections dial the proxy too:
// routing them to the replica is the proxy's job.
//
// TDSPROXY_E2E_PROXY=off skips this target (for debugging the direct matrix).
func startViaProxy(t *testing.T) (*Target, string) {
	if os.Getenv("TDSPROXY_E2E_PROXY") == "off" {
		return nil, "TDSPROXY_E2E_PROXY=off"
	}
	cl, certFile, keyFile := startSimCluster(t)
	replica := cl.Replicas()[0]
	addr := startProxy(t, cl, certFile, keyFile, proxy.BackendEncryptTrue, func(a string) string { return a })
	return &Target{
		Name:         "proxy",
		Addr:         addr,
		ReadOnlyAddr: addr,
		User:         simUser,
		Password:     simPassword,
		Database:     "demo",
		// PrimaryName is not checked: with a replica configured the proxy
		// routes each request, so an ordinary connection's SELECT
		// @@SERVERNAME names the replica for autocommit drivers and the
		// primary for those that turn IMPLICIT_TRANSACTIONS on (pyodbc,
		// pymssql), which pins them there. proxy/routing_*_test.go checks
		// routing itself.
		ReplicaName: replica.Name(),
		CAFile:      certFile,
	}, ""
}

// startProxy serves a proxy for cl until the test ends and returns its
// address. backend maps each backend address to the one the proxy dials (a
// wiretap, or the address itself).
func startProxy(t *testing.T, cl *mssqlsim.Cluster, certFile, keyFile string, enc proxy.BackendEncrypt, backend func(string) string) string {
	t.Helper()
	var replicas []string
	for _, r := range cl.Replicas() {
		replicas = append(replicas, backend(r.Addr()))
	}
	cfg := proxy.Config{
		Listen:           "127.0.0.1:0",
		Primary:          backend(cl.Primary().Addr()),
		Replicas:         replicas,
		TLSCert:          certFile,
		TLSKey:           keyFile,
		ClientEncryption: proxy.ClientEncryptionOptional,
		BackendEncrypt:   enc,
		BackendCAFile:    certFile, // the test certificate names 127.0.0.1
	}
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	srv, err := proxy.New(cfg, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening for the proxy: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxy Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// TestProxyBackendLegEncryption guards against a proxy that downgrades its
// own leg: whatever encryption a client uses towards the proxy, every
// connection the proxy opens to a backend must use the backend-encrypt
// setting, as seen on the wire between proxy and simulator.
func TestProxyBackendLegEncryption(t *testing.T) {
	if os.Getenv("TDSPROXY_E2E_PROXY") == "off" {
		t.Skip("TDSPROXY_E2E_PROXY=off")
	}
	cl, certFile, keyFile := startSimCluster(t)
	tests := []struct {
		backend proxy.BackendEncrypt
		want    string
	}{
		{proxy.BackendEncryptTrue, wireFull},
		{proxy.BackendEncryptStrict, wireStrict},
		{proxy.BackendEncryptFalse, wireLoginOnly},
	}
	for _, tc := range tests {
		t.Run("backend-encrypt="+string(tc.backend), func(t *testing.T) {
			var taps []*wiretap
			addr := startProxy(t, cl, certFile, keyFile, tc.backend, func(a string) string {
				w := startWiretap(t, a)
				taps = append(taps, w)
				return w.Addr()
			})
			for _, m := range []Mode{ModePlain, ModeLoginOnly, ModeTLS, ModeStrict} {
				r := runSpec{tg: &Target{User: simUser, Password: simPassword, Database: "demo", CAFile: certFile},
					sc: scenario{mode: m}}
				connector, err := mssql.NewConnector(goDSN(r, addr, false))
				if err != nil {
					t.Fatal(err)
				}
				db := sql.OpenDB(connector)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				var one int
				// The hint keeps the read on the primary connection the login
				// opened, so that the wiretap sees requests after the login.
				err = db.QueryRowContext(ctx, "/* tdsproxy:primary */ SELECT 1").Scan(&one)
				cancel()
				db.Close()
				if err != nil || one != 1 {
					t.Errorf("client %s through the proxy: SELECT 1 = %d, %v", m, one, err)
				}
			}
			seen := 0
			for _, w := range taps {
				for i, c := range w.Conns() {
					seen++
					if c.Mode != tc.want {
						t.Errorf("backend %s connection %d: wire shows %s, want %s", w.target, i+1, c, tc.want)
					}
				}
			}
			if seen == 0 {
				t.Errorf("the proxy opened no backend connection")
			}
			t.Logf("%d backend connections checked for %s", seen, tc.want)
		})
	}
}
