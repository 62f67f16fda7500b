package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
)

// certSource provides the client-facing TLS certificate. With files it
// re-reads them when their modification time or size changes (checked on
// each new handshake, at most once per certCheckInterval); a failed reload
// keeps the previous certificate and logs why. Without files it serves a
// self-signed certificate generated at start-up.
type certSource struct {
	certFile, keyFile string
	log               *zap.Logger

	mu        sync.Mutex
	cert      *tls.Certificate
	certStamp fileStamp
	keyStamp  fileStamp
	checked   time.Time
	now       func() time.Time
}

// certCheckInterval bounds how often the certificate files are stat'ed.
const certCheckInterval = time.Second

type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

// newCertSource loads the certificate and key, or generates a self-signed
// certificate when both file names are empty.
func newCertSource(certFile, keyFile string, log *zap.Logger) (*certSource, error) {
	cs := &certSource{certFile: certFile, keyFile: keyFile, log: log, now: time.Now}
	if certFile == "" && keyFile == "" {
		cert, err := selfSignedCert()
		if err != nil {
			return nil, fmt.Errorf("generating a self-signed certificate: %w", err)
		}
		log.Warn("no tls-cert/tls-key given: serving a generated self-signed certificate; clients must trust it explicitly (TrustServerCertificate=true) or connect without encryption")
		cs.cert = cert
		return cs, nil
	}
	if err := cs.load(); err != nil {
		return nil, err
	}
	cs.checked = cs.now()
	return cs, nil
}

// load reads both files; it replaces the current certificate only on success.
func (cs *certSource) load() error {
	cst, err := stampOf(cs.certFile)
	if err != nil {
		return fmt.Errorf("tls-cert: %w", err)
	}
	kst, err := stampOf(cs.keyFile)
	if err != nil {
		return fmt.Errorf("tls-key: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(cs.certFile, cs.keyFile)
	if err != nil {
		return fmt.Errorf("loading tls-cert %s and tls-key %s: %w", cs.certFile, cs.keyFile, err)
	}
	cs.cert, cs.certStamp, cs.keyStamp = &cert, cst, kst
	return nil
}

// Certificate returns the current certificate, reloading the files first if
// they changed. It is used as tls.Config.GetCertificate.
func (cs *certSource) Certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.certFile == "" {
		return cs.cert, nil
	}
	now := cs.now()
	if now.Sub(cs.checked) < certCheckInterval {
		return cs.cert, nil
	}
	cs.checked = now
	cst, err1 := stampOf(cs.certFile)
	kst, err2 := stampOf(cs.keyFile)
	if err := errors.Join(err1, err2); err != nil {
		cs.log.Error("tls certificate files unreadable; keeping the loaded certificate", zap.Error(err))
		return cs.cert, nil
	}
	if cst == cs.certStamp && kst == cs.keyStamp {
		return cs.cert, nil
	}
	if err := cs.load(); err != nil {
		// A half-written pair is common while files are replaced; retry at the next check.
		cs.log.Error("reloading the tls certificate failed; keeping the previous one", zap.Error(err))
		return cs.cert, nil
	}
	cs.log.Info("tls certificate reloaded", zap.String("cert", cs.certFile))
	return cs.cert, nil
}

// selfSignedCert makes an ECDSA P-256 certificate for localhost and this
// host's name, valid for a year.
func selfSignedCert() (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	names := []string{"localhost"}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		names = append(names, h)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "tdsproxy self-signed", Organization: []string{"tdsproxy"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// clientTLSConfig is the TLS configuration the proxy serves to clients. TLS
// 1.2 is the minimum; ALPN tds/8.0 is offered for TDS 8 strict clients.
func (cs *certSource) clientTLSConfig() *tls.Config {
	return &tls.Config{
		GetCertificate: cs.Certificate,
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"tds/8.0"},
	}
}

// loadBackendRoots reads cfg.BackendCAFile; nil (the system roots) when unset.
func loadBackendRoots(cfg *Config) (*x509.CertPool, error) {
	if cfg.BackendCAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(cfg.BackendCAFile)
	if err != nil {
		return nil, fmt.Errorf("backend-ca-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("backend-ca-file: %s holds no PEM certificate", cfg.BackendCAFile)
	}
	return pool, nil
}

// backendTLSConfig builds the TLS configuration towards a backend at host:
// roots (nil: the system roots), the expected server name (BackendServerName
// or host), and no verification only when BackendTrustCert is set.
func backendTLSConfig(cfg *Config, roots *x509.CertPool, host string) *tls.Config {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, RootCAs: roots}
	if cfg.BackendServerName != "" {
		tc.ServerName = cfg.BackendServerName
	}
	tc.InsecureSkipVerify = cfg.BackendTrustCert
	return tc
}
