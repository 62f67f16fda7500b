package mssqlsim

import (
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tdsproxy/tdsproxy/tds"
)

// TestLoginEncryptionModes logs in with go-mssqldb in each encryption mode a
// client can ask for: none (encrypt=disable → ENCRYPT_NOT_SUP), login-only
// (no encrypt → ENCRYPT_OFF), full TLS (encrypt=true) and TDS 8 strict.
func TestLoginEncryptionModes(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{})
	certFile := filepath.Join(t.TempDir(), "sim.pem")
	if err := os.WriteFile(certFile, c.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		params map[string]string
	}{
		{"none", map[string]string{"encrypt": "disable"}},
		{"login-only", map[string]string{"encrypt": "false", "TrustServerCertificate": "true"}},
		{"full TLS", map[string]string{"encrypt": "true", "TrustServerCertificate": "true"}},
		// Strict mode always verifies the certificate: trust the cluster's.
		{"TDS 8 strict", map[string]string{"encrypt": "strict", "certificate": certFile}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			db := openDB(t, c.Primary(), tc.params)
			// Several round trips: in login-only mode everything after the
			// first LOGIN7 packet is plaintext, in the others all is TLS.
			for i := range 3 {
				if got := queryInt(t, ctx, db, "SELECT 40 + @p1", i); got != int64(40+i) {
					t.Fatalf("SELECT 40 + %d = %d", i, got)
				}
			}
			var name string
			if err := db.QueryRowContext(ctx, "SELECT @@SERVERNAME").Scan(&name); err != nil {
				t.Fatal(err)
			}
			if name != "mssqlsim-primary" {
				t.Errorf("@@SERVERNAME = %q, want mssqlsim-primary", name)
			}
		})
	}
}

// TestEncryptionSettingRefusals checks the server side of the PRELOGIN
// table: a server that forces encryption refuses a client that cannot
// encrypt, and a server without TLS refuses a client that requires it.
func TestEncryptionSettingRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		server  tds.Encryption
		params  map[string]string
		wantErr bool
	}{
		{"forced, client cannot encrypt", tds.EncryptOn, map[string]string{"encrypt": "disable"}, true},
		{"forced, client default", tds.EncryptOn, map[string]string{"encrypt": "false", "TrustServerCertificate": "true"}, false},
		{"forced, client encrypts", tds.EncryptOn, map[string]string{"encrypt": "true", "TrustServerCertificate": "true"}, false},
		{"no TLS, client requires it", tds.EncryptNotSup, map[string]string{"encrypt": "true", "TrustServerCertificate": "true"}, true},
		{"no TLS, client cannot encrypt", tds.EncryptNotSup, map[string]string{"encrypt": "disable"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := startCluster(t, Config{Encryption: tc.server})
			db := openDB(t, c.Primary(), tc.params)
			err := db.PingContext(testCtx(t))
			if (err != nil) != tc.wantErr {
				t.Fatalf("Ping error = %v, want error %t", err, tc.wantErr)
			}
		})
	}
}

func TestLoginFailures(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{Logins: map[string]string{"app": "App-Passw0rd"}})
	tests := []struct {
		name, user, password string
		params               map[string]string
		wantNumber           int32
		wantMsg              string
	}{
		{name: "wrong password", user: "app", password: "nope", wantNumber: 18456, wantMsg: "Login failed for user 'app'."},
		{name: "unknown login", user: "sa", password: DefaultPassword, wantNumber: 18456, wantMsg: "Login failed for user 'sa'."},
		{name: "password case matters", user: "app", password: "app-passw0rd", wantNumber: 18456, wantMsg: "Login failed for user 'app'."},
		{name: "unknown database", user: "app", password: "App-Passw0rd", params: map[string]string{"database": "nosuchdb"}, wantNumber: 4060, wantMsg: `Cannot open database "nosuchdb"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db, err := sql.Open("sqlserver", dsn(c.Primary(), tc.user, tc.password, tc.params))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			err = db.PingContext(testCtx(t))
			var me mssql.Error
			if !errors.As(err, &me) {
				t.Fatalf("Ping error = %v (%T), want a SQL Server error", err, err)
			}
			// go-mssqldb reports the last error of the login response (SQL
			// Server sends 4060, then 18456); All has every one.
			for _, e := range me.All {
				if e.Number == tc.wantNumber {
					me = e
				}
			}
			if me.Number != tc.wantNumber || !strings.Contains(me.Message, tc.wantMsg) {
				t.Errorf("error = %d %q, want %d containing %q", me.Number, me.Message, tc.wantNumber, tc.wantMsg)
			}
			if tc.wantNumber == 18456 && (me.Class != 14 || me.State != 1) {
				t.Errorf("18456 class/state = %d/%d, want 14/1", me.Class, me.State)
			}
			if strings.Contains(me.Message, tc.password) && tc.password != "" {
				t.Errorf("error message shows the password: %q", me.Message)
			}
		})
	}
	t.Run("good login", func(t *testing.T) {
		t.Parallel()
		// Login names are case-insensitive, as in SQL Server.
		db, err := sql.Open("sqlserver", dsn(c.Primary(), "APP", "App-Passw0rd", nil))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var user string
		if err := db.QueryRowContext(testCtx(t), "SELECT SUSER_SNAME()").Scan(&user); err != nil {
			t.Fatal(err)
		}
		if !strings.EqualFold(user, "app") {
			t.Errorf("SUSER_SNAME() = %q, want app", user)
		}
	})
}

// TestPacketSizeNegotiation asks for large packets and moves a result far
// bigger than one packet both ways.
func TestPacketSizeNegotiation(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{})
	for _, size := range []string{"512", "16384", "32767"} {
		t.Run(size, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			db := openDB(t, c.Primary(), map[string]string{"packet size": size})
			big := strings.Repeat("abcdefgh", 20000) // 160k characters, many packets each way
			var got string
			if err := db.QueryRowContext(ctx, "SELECT @p1", big).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != big {
				t.Fatalf("echoed %d characters, want %d", len(got), len(big))
			}
		})
	}
}

func TestLoginFaults(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{})
	s := c.Primary()

	t.Run("login failure", func(t *testing.T) {
		s.SetLoginFailure(true)
		err := openDB(t, s, nil).PingContext(testCtx(t))
		s.SetLoginFailure(false)
		var me mssql.Error
		if !errors.As(err, &me) || me.Number != 18456 {
			t.Fatalf("Ping with login failure injected = %v, want error 18456", err)
		}
		if err := openDB(t, s, nil).PingContext(testCtx(t)); err != nil {
			t.Fatalf("Ping after the fault is off = %v", err)
		}
	})
	t.Run("login delay", func(t *testing.T) {
		s.SetLoginDelay(300 * time.Millisecond)
		defer s.SetLoginDelay(0)
		start := time.Now()
		if err := openDB(t, s, nil).PingContext(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Errorf("login took %s with a 300ms login delay", d)
		}
	})
}

// TestCertificateFiles serves a certificate given as PEM files: a TDS 8
// strict client that trusts exactly that certificate connects, and bad
// files fail Start with a clear error.
func TestCertificateFiles(t *testing.T) {
	t.Parallel()
	cert, err := generateSelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, Config{CertFile: certFile, KeyFile: keyFile})
	filePEM, _ := os.ReadFile(certFile)
	if string(c.CertificatePEM()) != string(filePEM) {
		t.Error("CertificatePEM is not the configured certificate")
	}
	db := openDB(t, c.Primary(), map[string]string{"encrypt": "strict", "certificate": certFile})
	if got := queryInt(t, testCtx(t), db, "SELECT 3"); got != 3 {
		t.Errorf("SELECT 3 = %d", got)
	}

	if _, err := Start(Config{CertFile: filepath.Join(dir, "missing.pem"), KeyFile: keyFile}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Start with a missing certificate file = %v, want an error about the certificate", err)
	}
}

// TestPasswordsNeverLogged logs in (right and wrong password) with debug
// logging on and checks that no password reaches a log line.
func TestPasswordsNeverLogged(t *testing.T) {
	t.Parallel()
	const good, bad = "Zq-Secret-9417", "Wrong-Secret-5530"
	core, logs := observer.New(zapcore.DebugLevel)
	c := startCluster(t, Config{Logins: map[string]string{"app": good}, Logger: zap.New(core)})
	ctx := testCtx(t)
	for _, pw := range []string{good, bad} {
		db, err := sql.Open("sqlserver", dsn(c.Primary(), "app", pw, nil))
		if err != nil {
			t.Fatal(err)
		}
		_ = db.PingContext(ctx)
		db.Close()
	}
	if logs.Len() == 0 {
		t.Fatal("nothing was logged at debug level")
	}
	for _, e := range logs.All() {
		line := e.Message + fmt.Sprint(e.ContextMap())
		if strings.Contains(line, good) || strings.Contains(line, bad) {
			t.Errorf("a log line shows a password: %s", line)
		}
	}
}
