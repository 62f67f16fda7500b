package e2e

import (
	"context"
	"net"
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/tdsproxy/tdsproxy/proxy"
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
	cfg := proxy.Config{
		Listen:           "127.0.0.1:0",
		Primary:          cl.Primary().Addr(),
		Replicas:         []string{replica.Addr()},
		TLSCert:          certFile,
		TLSKey:           keyFile,
		ClientEncryption: proxy.ClientEncryptionOptional,
		BackendEncrypt:   proxy.BackendEncryptTrue,
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
	return &Target{
		Name:         "proxy",
		Addr:         ln.Addr().String(),
		ReadOnlyAddr: ln.Addr().String(),
		User:         simUser,
		Password:     simPassword,
		Database:     "demo",
		PrimaryName:  cl.Primary().Name(),
		ReplicaName:  replica.Name(),
		CAFile:       certFile,
	}, ""
}
