package mssqlsim

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	"go.uber.org/zap/zaptest"
)

// startCluster starts a cluster for one test and closes it at the end.
func startCluster(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	if cfg.Logger == nil {
		if tt, ok := t.(*testing.T); ok && testing.Verbose() {
			cfg.Logger = zaptest.NewLogger(tt)
		}
	}
	c, err := Start(cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// dsn builds a go-mssqldb URL for s; params are extra query parameters
// ("encrypt" defaults to "disable").
func dsn(s *Server, user, password string, params map[string]string) string {
	q := url.Values{}
	q.Set("encrypt", "disable")
	q.Set("dial timeout", "5")
	for k, v := range params {
		q.Set(k, v)
	}
	u := url.URL{Scheme: "sqlserver", User: url.UserPassword(user, password), Host: s.Addr(), RawQuery: q.Encode()}
	return u.String()
}

// openDB opens a database/sql pool on s as sa.
func openDB(t testing.TB, s *Server, params map[string]string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlserver", dsn(s, DefaultLogin, DefaultPassword, params))
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// sqlErrorNumber returns the SQL Server error number of err, or 0.
func sqlErrorNumber(err error) int32 {
	var e mssql.Error
	if errAs(err, &e) {
		return e.Number
	}
	return 0
}

func errAs(err error, target *mssql.Error) bool {
	for err != nil {
		if e, ok := err.(mssql.Error); ok {
			*target = e
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// queryInt runs a query returning one integer.
func queryInt(t testing.TB, ctx context.Context, db interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var _ = fmt.Sprintf
