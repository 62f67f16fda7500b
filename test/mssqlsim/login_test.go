package mssqlsim

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"

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
		db, err := sql.Open("sqlserver", dsn(c.Primary(), "app", "App-Passw0rd", nil))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var user string
		if err := db.QueryRowContext(testCtx(t), "SELECT SUSER_SNAME()").Scan(&user); err != nil {
			t.Fatal(err)
		}
		if user != "app" {
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
