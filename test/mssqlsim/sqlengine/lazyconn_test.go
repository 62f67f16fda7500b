package sqlengine

import (
	"errors"
	"testing"
)

// TestSessionOpensSQLiteOnFirstUse guards the simulator's capacity for idle
// clients: a session that logs in, pings and idles holds no SQLite
// connection (four file descriptors each), and one that needs SQLite gets
// it with every database attached, including those created meanwhile.
func TestSessionOpensSQLiteOnFirstUse(t *testing.T) {
	t.Parallel()
	db := fresh(t)
	idle := session(t, db, "master")
	if idle.conn.isOpen() {
		t.Fatal("a new session opened its SQLite connection at login")
	}
	if v := mustRun(t, idle, "select 1;").scalar(t); v != int64(1) {
		t.Errorf("select 1: %v", v)
	}
	if err := idle.Reset(); err != nil {
		t.Fatalf("Reset of an idle session: %v", err)
	}
	if idle.conn.isOpen() {
		t.Error("the ping or a reset opened the SQLite connection")
	}

	// Another session creates a database while the first has no connection:
	// opening later must attach it once (not twice).
	other := session(t, db, "master")
	mustRun(t, other, "CREATE DATABASE lazydb")
	if v := mustRun(t, idle, "SELECT DB_NAME()").scalar(t); v != "master" {
		t.Errorf("DB_NAME(): %v", v)
	}
	mustRun(t, idle, "USE lazydb")
	if idle.Database() != "lazydb" {
		t.Errorf("database after USE: %s", idle.Database())
	}
	mustRun(t, idle, "CREATE TABLE dbo.t (x int) INSERT INTO dbo.t VALUES (7)")
	if v := mustRun(t, other, "SELECT x FROM lazydb.dbo.t").scalar(t); v != int64(7) {
		t.Errorf("the other session reads %v", v)
	}
	// A database created after the connection opened is attached on use.
	if !idle.conn.isOpen() {
		t.Fatal("CREATE TABLE ran without opening the connection")
	}
	mustRun(t, other, "CREATE DATABASE lazydb2")
	mustRun(t, idle, "CREATE TABLE lazydb2.dbo.u (y int) INSERT INTO lazydb2.dbo.u VALUES (8)")
	if v := mustRun(t, idle, "SELECT y FROM lazydb2.dbo.u").scalar(t); v != int64(8) {
		t.Errorf("lazydb2: %v", v)
	}
}

// TestLazySessionTransactions: a TM BEGIN on a session without a
// connection opens one, and the transaction stays isolated from others.
func TestLazySessionTransactions(t *testing.T) {
	t.Parallel()
	db := fresh(t)
	setup := session(t, db, "master")
	mustRun(t, setup, "CREATE TABLE dbo.acct (id int PRIMARY KEY, v int) INSERT INTO dbo.acct VALUES (1, 10)")

	tx := session(t, db, "master")
	if _, err := tx.Begin("", 0); err != nil {
		t.Fatalf("Begin: %v", err)
	}
	if !tx.conn.isOpen() || tx.TranCount() != 1 {
		t.Fatalf("after Begin: open %v, @@TRANCOUNT %d", tx.conn.isOpen(), tx.TranCount())
	}
	mustRun(t, tx, "UPDATE dbo.acct SET v = 20 WHERE id = 1")
	reader := session(t, db, "master")
	if v := mustRun(t, reader, "SELECT v FROM dbo.acct WHERE id = 1").scalar(t); v != int64(10) {
		t.Errorf("uncommitted update visible to another session: %v", v)
	}
	if err := tx.Rollback(""); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if v := mustRun(t, reader, "SELECT v FROM dbo.acct WHERE id = 1").scalar(t); v != int64(10) {
		t.Errorf("after rollback: %v", v)
	}
}

// TestLazySessionClose: closing a session that never opened SQLite works,
// and a closed session refuses work instead of opening a connection.
func TestLazySessionClose(t *testing.T) {
	t.Parallel()
	db := fresh(t)
	s, err := db.NewSession("tester", "master", 99)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.ExecBatch(t.Context(), "SELECT COUNT(*) FROM sys.tables", nil, &recorder{}); !errors.Is(err, errClosed) {
		t.Errorf("ExecBatch after Close: %v", err)
	}
	if _, err := s.Begin("", 0); err == nil {
		t.Error("Begin after Close succeeded")
	}
	if s.conn.isOpen() {
		t.Error("a closed session opened a connection")
	}
}
