package mssqlsim

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"
)

// selfSigned caches the generated certificate: RSA key generation is slow on
// small machines and every simulated server may share one certificate.
var selfSigned struct {
	once sync.Once
	cert tls.Certificate
	err  error
}

// serverTLSConfig returns the TLS configuration the servers use: cfg.TLS, the
// CertFile/KeyFile pair, or a self-signed certificate like the one SQL Server
// generates at start-up when none is configured.
func serverTLSConfig(cfg Config) (*tls.Config, error) {
	if cfg.TLS != nil {
		return cfg.TLS, nil
	}
	var cert tls.Certificate
	if cfg.CertFile != "" {
		c, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("mssqlsim: loading TLS certificate: %w", err)
		}
		cert = c
	} else {
		selfSigned.once.Do(func() { selfSigned.cert, selfSigned.err = generateSelfSigned() })
		if selfSigned.err != nil {
			return nil, selfSigned.err
		}
		cert = selfSigned.cert
	}
	// TLS 1.2 and 1.3 both work with the clients we test; several drivers
	// (tedious) cap at 1.2 themselves.
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// generateSelfSigned makes an RSA-2048 certificate for localhost, like SQL
// Server's "SSL_Self_Signed_Fallback" certificate. RSA rather than ECDSA
// because some older clients (jTDS, old FreeTDS builds) know only RSA.
func generateSelfSigned() (tls.Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("mssqlsim: generating TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("mssqlsim: generating certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "SSL_Self_Signed_Fallback"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		// Its own trust anchor: clients that verify (TDS 8 strict) are
		// given this certificate as their CA (Cluster.CertificatePEM).
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("mssqlsim: creating self-signed certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// certificatePEM returns the PEM encoding of the leaf certificate of tc,
// or nil.
func certificatePEM(tc *tls.Config) []byte {
	if tc == nil || len(tc.Certificates) == 0 || len(tc.Certificates[0].Certificate) == 0 {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tc.Certificates[0].Certificate[0]})
}
