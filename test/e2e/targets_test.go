package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	"github.com/microsoft/go-mssqldb/msdsn"

	"github.com/tdsproxy/tdsproxy/test/mssqlsim"
)

// Target is one place the matrix runs against: what clients dial and what
// they should see there. Adding a target (the proxy, a real server) is one
// more constructor returning a Target.
type Target struct {
	Name string // subtest name: "direct", "proxy", "mssql"

	Addr         string // HOST:PORT for ordinary connections
	ReadOnlyAddr string // HOST:PORT for ApplicationIntent=ReadOnly connections ("" = none)
	// ReadOnlyNA says why the readonly scenario cannot run here.
	ReadOnlyNA string

	User, Password, Database string

	// PrimaryName and ReplicaName are the @@SERVERNAME values clients must
	// see on ordinary and read-only connections ("" = not checked).
	PrimaryName, ReplicaName string

	// CAFile is a PEM file that verifies the target's certificate, for
	// clients that cannot skip verification (python-tds).
	CAFile string

	// ModeNA lists encryption modes the target cannot serve, with the reason.
	ModeNA map[Mode]string
}

// targetFactory starts a target, or says why it is not available here
// (skip != ""). A factory registers its own cleanup.
type targetFactory struct {
	name  string
	start func(t *testing.T) (tg *Target, skip string)
}

// targets are run in this order; the proxy target's factory lives in
// proxy_target_test.go.
var targets = []targetFactory{
	{name: "direct", start: startDirect},
	{name: "proxy", start: startViaProxy},
	{name: "mssql", start: startRealServer},
}

const (
	simUser     = "sa"
	simPassword = "Sim-Passw0rd"
)

// startSimCluster starts a simulator with one replica and the sample data,
// serving a certificate the test generated (so clients that verify
// certificates, like python-tds, can be given the CA file).
func startSimCluster(t *testing.T) (cl *mssqlsim.Cluster, certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = writeTestCert(t)
	cl, err := mssqlsim.Start(mssqlsim.Config{
		Addr:       "127.0.0.1:0",
		Logins:     map[string]string{simUser: simPassword},
		Replicas:   1,
		SampleData: true,
		CertFile:   certFile,
		KeyFile:    keyFile,
	})
	if err != nil {
		t.Fatalf("starting the simulator: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl, certFile, keyFile
}

func startDirect(t *testing.T) (*Target, string) {
	cl, certFile, _ := startSimCluster(t)
	replica := cl.Replicas()[0]
	return &Target{
		Name:         "direct",
		Addr:         cl.Primary().Addr(),
		ReadOnlyAddr: replica.Addr(),
		User:         simUser,
		Password:     simPassword,
		Database:     "demo",
		PrimaryName:  cl.Primary().Name(),
		ReplicaName:  replica.Name(),
		CAFile:       certFile,
	}, ""
}

// writeTestCert writes a self-signed RSA certificate for 127.0.0.1 and
// localhost and returns the PEM file names.
func writeTestCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("generating key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("creating certificate: %v", err)
	}
	dir := t.TempDir()
	certFile = filepath.Join(dir, "server.pem")
	keyFile = filepath.Join(dir, "server-key.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// startRealServer is the opt-in target: a real SQL Server named by the
// go-mssqldb DSN in TDSPROXY_TEST_MSSQL. The sample objects are created by
// testdata/mssql-setup.sql. TDSPROXY_TEST_MSSQL_READONLY may name a readable
// secondary (HOST:PORT) for the readonly scenario, and
// TDSPROXY_TEST_MSSQL_CAFILE a PEM file that verifies the server's
// certificate (needed for TDS 8 strict, where clients always verify).
func startRealServer(t *testing.T) (*Target, string) {
	dsn := os.Getenv("TDSPROXY_TEST_MSSQL")
	if dsn == "" {
		return nil, "TDSPROXY_TEST_MSSQL is not set (a go-mssqldb DSN of a real SQL Server enables this target)"
	}
	cfg, err := msdsn.Parse(dsn)
	if err != nil {
		t.Fatalf("TDSPROXY_TEST_MSSQL: %v", err)
	}
	port := cfg.Port
	if port == 0 {
		port = 1433
	}
	tg := &Target{
		Name:       "mssql",
		Addr:       net.JoinHostPort(cfg.Host, strconv.FormatUint(port, 10)),
		User:       cfg.User,
		Password:   cfg.Password,
		Database:   "demo",
		CAFile:     os.Getenv("TDSPROXY_TEST_MSSQL_CAFILE"),
		ReadOnlyNA: "TDSPROXY_TEST_MSSQL_READONLY is not set (HOST:PORT of a readable secondary)",
	}
	if tg.CAFile == "" {
		tg.ModeNA = map[Mode]string{ModeStrict: "TDSPROXY_TEST_MSSQL_CAFILE is not set: TDS 8 (strict) clients always verify the server certificate"}
	}
	if ro := os.Getenv("TDSPROXY_TEST_MSSQL_READONLY"); ro != "" {
		tg.ReadOnlyAddr, tg.ReadOnlyNA = ro, ""
	}
	if err := setupRealServer(t, dsn, tg); err != nil {
		t.Fatalf("preparing the real server: %v", err)
	}
	return tg, ""
}

// setupRealServer runs testdata/mssql-setup.sql (batches separated by GO
// lines) and reads the server's name.
func setupRealServer(t *testing.T, dsn string, tg *Target) error {
	script, err := os.ReadFile(filepath.Join("testdata", "mssql-setup.sql"))
	if err != nil {
		return err
	}
	connector, err := mssql.NewConnector(dsn)
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close()
	for i, batch := range splitGo(string(script)) {
		if _, err := conn.ExecContext(ctx, batch); err != nil {
			return fmt.Errorf("mssql-setup.sql batch %d: %w", i+1, err)
		}
	}
	if err := conn.QueryRowContext(ctx, "SELECT @@SERVERNAME").Scan(&tg.PrimaryName); err != nil {
		return fmt.Errorf("reading @@SERVERNAME: %w", err)
	}
	return nil
}

// splitGo splits a T-SQL script at lines that hold only GO.
func splitGo(script string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(script, "\n") {
		if strings.EqualFold(strings.TrimSpace(line), "go") {
			if s := strings.TrimSpace(cur.String()); s != "" {
				out = append(out, s)
			}
			cur.Reset()
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}
