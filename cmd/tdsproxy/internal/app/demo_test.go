package app

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/microsoft/go-mssqldb"
)

// TestDemo runs "tdsproxy demo" on free ports, queries the simulator through
// the proxy with go-mssqldb as each demo login, checks the banner, and stops
// it with SIGINT.
func TestDemo(t *testing.T) {
	clearEnv(t)
	done, sigs, p, adm, out, errOut := serveAsync(t, "demo", "--listen", "127.0.0.1:0",
		"--admin-listen", "127.0.0.1:0", "--log-level", "warn")
	banner := out.String()
	for _, w := range []string{p.String(), "go-mssqldb", "sqlcmd", "tedious", "pyodbc", "SSMS", "Azure Data Studio",
		"TrustServerCertificate=true", "replica", "database=demo", "verifying the simulator's self-signed certificate", "http://" + adm.String() + "/metrics"} {
		if !strings.Contains(banner, w) {
			t.Errorf("banner lacks %q", w)
		}
	}
	for _, l := range demoLogins {
		if !strings.Contains(banner, l.name) || !strings.Contains(banner, l.password) {
			t.Errorf("banner lacks the demo login %s", l.name)
		}
		t.Run("login "+l.name, func(t *testing.T) {
			dsn := fmt.Sprintf("sqlserver://%s:%s@%s?database=demo&encrypt=true&TrustServerCertificate=true&dial+timeout=5",
				l.name, l.password, p)
			db, err := sql.Open("sqlserver", dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var one int
			var server string
			if err := db.QueryRowContext(ctx, "SELECT 1, @@SERVERNAME").Scan(&one, &server); err != nil {
				t.Fatalf("query through the demo proxy: %v", err)
			}
			if one != 1 || !strings.HasPrefix(server, "demo-") {
				t.Errorf("got %d, %q; want 1 and a demo server name", one, server)
			}
			var orders int
			if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM sales.orders").Scan(&orders); err != nil {
				t.Fatalf("sample data through the demo proxy: %v", err)
			}
			if orders == 0 {
				t.Error("sales.orders is empty")
			}
		})
	}
	// The printed go-mssqldb connection string works as printed.
	var printed string
	for _, line := range strings.Split(banner, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "go-mssqldb" {
			printed = f[1]
		}
	}
	if printed == "" {
		t.Fatal("no go-mssqldb connection string in the banner")
	}
	db, err := sql.Open("sqlserver", printed)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PingContext(context.Background()); err != nil {
		t.Errorf("the printed connection string %q does not connect: %v", printed, err)
	}
	db.Close()

	if code, err := httpStatus("http://" + adm.String() + "/readyz"); err != nil || code != http.StatusOK {
		t.Errorf("/readyz = %d, %v", code, err)
	}
	sigs <- syscall.SIGINT
	if code := waitExit(t, done, errOut); code != 130 {
		t.Errorf("exit %d, want 130; stderr:\n%s", code, errOut.String())
	}
}

// TestDemoBackendModes runs the demo with each other backend encryption
// (the default, true, is covered by TestDemo) and queries through it with
// clients that do and do not encrypt.
func TestDemoBackendModes(t *testing.T) {
	clearEnv(t)
	for _, mode := range []string{"disable", "false", "strict"} {
		t.Run(mode, func(t *testing.T) {
			done, sigs, p, _, out, errOut := serveAsync(t, "demo", "--listen", "127.0.0.1:0",
				"--admin-listen", "", "--log-level", "warn", "--backend-encrypt", mode)
			want := "verifying the simulator's self-signed certificate"
			if mode == "disable" {
				want = "no TLS"
			}
			if !strings.Contains(out.String(), want) {
				t.Errorf("banner does not say %q about the backend leg", want)
			}
			for _, clientEnc := range []string{"disable", "true&TrustServerCertificate=true"} {
				dsn := fmt.Sprintf("sqlserver://reporter:Reporter-Demo-Passw0rd@%s?database=demo&encrypt=%s", p, clientEnc)
				db, err := sql.Open("sqlserver", dsn)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				var n int
				err = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM dbo.customers").Scan(&n)
				cancel()
				db.Close()
				if err != nil || n == 0 {
					t.Errorf("client encrypt=%s: %d customers, %v", clientEnc, n, err)
				}
			}
			sigs <- syscall.SIGTERM
			if code := waitExit(t, done, errOut); code != 143 {
				t.Errorf("exit %d, want 143; stderr:\n%s", code, errOut.String())
			}
		})
	}
}
