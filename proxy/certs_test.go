package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// testCA is a throw-away certificate authority for tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tdsproxy test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns PEM certificate and key for the DNS names, signed by the CA.
func (ca *testCA) issue(t testing.TB, cn string, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func leafCN(t *testing.T, c *tls.Certificate) string {
	t.Helper()
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.Subject.CommonName
}

func TestCertSourceReloadsChangedFiles(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	c1, k1 := ca.issue(t, "first", "localhost")
	writeFile(t, certFile, c1)
	writeFile(t, keyFile, k1)

	core, logs := observer.New(zap.InfoLevel)
	cs, err := newCertSource(certFile, keyFile, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cs.now = func() time.Time { return now }
	got, _ := cs.Certificate(nil)
	if cn := leafCN(t, got); cn != "first" {
		t.Fatalf("CN = %q, want first", cn)
	}

	// Replace the pair; the change is seen at the next check interval only.
	c2, k2 := ca.issue(t, "second", "localhost")
	writeFile(t, certFile, c2)
	writeFile(t, keyFile, k2)
	future := time.Now().Add(time.Minute)
	os.Chtimes(certFile, future, future)
	os.Chtimes(keyFile, future, future)
	got, _ = cs.Certificate(nil)
	if cn := leafCN(t, got); cn != "first" {
		t.Fatalf("within the check interval: CN = %q, want first", cn)
	}
	now = now.Add(2 * certCheckInterval)
	got, _ = cs.Certificate(nil)
	if cn := leafCN(t, got); cn != "second" {
		t.Fatalf("after a change: CN = %q, want second", cn)
	}
	if logs.FilterMessage("tls certificate reloaded").Len() != 1 {
		t.Errorf("want one reload log line, got %v", logs.All())
	}

	// A broken file keeps the previous certificate.
	writeFile(t, keyFile, []byte("not a key"))
	later := future.Add(time.Minute)
	os.Chtimes(keyFile, later, later)
	now = now.Add(2 * certCheckInterval)
	got, err = cs.Certificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cn := leafCN(t, got); cn != "second" {
		t.Fatalf("after a broken reload: CN = %q, want second", cn)
	}
	if logs.FilterMessage("reloading the tls certificate failed; keeping the previous one").Len() != 1 {
		t.Errorf("want a reload failure log line, got %v", logs.All())
	}
}

func TestCertSourceSelfSigned(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.WarnLevel)
	cs, err := newCertSource("", "", zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	c, err := cs.Certificate(nil)
	if err != nil || c == nil {
		t.Fatalf("Certificate: %v, %v", c, err)
	}
	if err := c.Leaf.VerifyHostname("localhost"); err != nil {
		t.Errorf("self-signed certificate does not cover localhost: %v", err)
	}
	if logs.Len() != 1 {
		t.Errorf("want one warning about the self-signed certificate, got %d", logs.Len())
	}
}

func TestNewCertSourceErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name, cert, key string
	}{
		{"missing files", filepath.Join(dir, "nope.crt"), filepath.Join(dir, "nope.key")},
		{"garbage files", writeTemp(t, dir, "g.crt", "garbage"), writeTemp(t, dir, "g.key", "garbage")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := newCertSource(tc.cert, tc.key, zap.NewNop()); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func writeTemp(t *testing.T, dir, name, data string) string {
	p := filepath.Join(dir, name)
	writeFile(t, p, []byte(data))
	return p
}

func TestBackendTLSConfig(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	writeFile(t, caFile, ca.pem)

	cfg := &Config{BackendCAFile: caFile}
	roots, err := loadBackendRoots(cfg)
	if err != nil || roots == nil {
		t.Fatalf("loadBackendRoots: %v, %v", roots, err)
	}
	tc := backendTLSConfig(cfg, roots, "db.internal")
	if tc.ServerName != "db.internal" || tc.InsecureSkipVerify {
		t.Errorf("got ServerName %q skip %v, want db.internal and verification", tc.ServerName, tc.InsecureSkipVerify)
	}
	cfg.BackendServerName = "sql.example.com"
	cfg.BackendTrustCert = true
	tc = backendTLSConfig(cfg, roots, "db.internal")
	if tc.ServerName != "sql.example.com" || !tc.InsecureSkipVerify {
		t.Errorf("got ServerName %q skip %v, want sql.example.com and no verification", tc.ServerName, tc.InsecureSkipVerify)
	}
	if _, err := loadBackendRoots(&Config{BackendCAFile: writeTemp(t, dir, "bad.pem", "nothing")}); err == nil {
		t.Error("a CA file without certificates must be an error")
	}
}
