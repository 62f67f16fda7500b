package proxy

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	_ "github.com/microsoft/go-mssqldb" // registers the "sqlserver" driver
)

// TestGoMSSQLClientModesFakeBackend runs go-mssqldb through the proxy in
// each client encryption mode against the scripted backend (the simulator
// tests cover the same against a full server).
func TestGoMSSQLClientModesFakeBackend(t *testing.T) {
	t.Parallel()
	fb := newFakeBackend(t, 7)
	tlsCert, tlsKey, caFile := proxyCertFiles(t)
	srv := newFakeHarness(t, fb, func(c *Config) { c.TLSCert, c.TLSKey = tlsCert, tlsKey })
	for _, mode := range []struct{ name, params string }{
		{"none", "encrypt=disable"},
		{"login-only", "encrypt=false&TrustServerCertificate=true"},
		{"full", "encrypt=true&TrustServerCertificate=true"},
		{"strict", "encrypt=strict&certificate=" + caFile + "&hostnameincertificate=localhost"},
	} {
		params := mode.params
		t.Run(mode.name, func(t *testing.T) {
			db, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://u:p@%s?%s&dial+timeout=5", srv.Addr(), params))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var id int64
			if err := db.QueryRow("SELECT 1").Scan(&id); err != nil {
				t.Fatalf("query through the proxy: %v", err)
			}
			if id != 7 {
				t.Errorf("got %d, want 7", id)
			}
		})
	}
}

// proxyCertFiles writes a certificate for localhost/127.0.0.1 and its key,
// issued by a new test CA, and the CA's PEM; it returns the three paths.
func proxyCertFiles(t testing.TB) (certFile, keyFile, caFile string) {
	t.Helper()
	ca := newTestCA(t)
	dir := t.TempDir()
	certPEM, keyPEM := ca.issue(t, "tdsproxy", "localhost")
	certFile, keyFile, caFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.pem")
	writeFile(t, certFile, certPEM)
	writeFile(t, keyFile, keyPEM)
	writeFile(t, caFile, ca.pem)
	return certFile, keyFile, caFile
}
