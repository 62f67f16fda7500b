package sqlengine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tdsproxy/tdsproxy/tds"
)

// TestTransactions checks @@TRANCOUNT, ENVCHANGE 8/9/10 and isolation.
func TestTransactions(t *testing.T) {
	t.Parallel()
	db := fresh(t)
	a := session(t, db, "master")
	b := session(t, db, "master")
	mustRun(t, a, "CREATE TABLE dbo.t06 (id int PRIMARY KEY, v nvarchar(50))")

	r := mustRun(t, a, "BEGIN TRAN")
	if len(r.envs) != 1 || r.envs[0].Type != tds.EnvBeginTranType || descOf(r.envs[0].New) == 0 {
		t.Fatalf("BEGIN TRAN envchanges %+v", r.envs)
	}
	desc := descOf(r.envs[0].New)
	if a.TranCount() != 1 || a.TxDescriptor() != desc {
		t.Errorf("trancount %d desc %x, want 1 %x", a.TranCount(), a.TxDescriptor(), desc)
	}
	if r.dones[0].CurCmd != 0xD4 {
		t.Errorf("BEGIN TRAN DONE %+v", r.dones[0])
	}
	mustRun(t, a, "INSERT INTO t06 VALUES (1, N'committed')")
	// another session does not see the uncommitted row
	if n := mustRun(t, b, "SELECT COUNT(*) FROM t06").scalar(t); n != int64(0) {
		t.Errorf("other session sees %v uncommitted rows", n)
	}
	// nested BEGIN only counts
	r = mustRun(t, a, "BEGIN TRANSACTION inner_tx SELECT @@TRANCOUNT")
	if len(r.envs) != 0 || r.scalar(t) != int64(2) {
		t.Errorf("nested begin: envs %+v trancount %v", r.envs, r.scalar(t))
	}
	r = mustRun(t, a, "COMMIT")
	if len(r.envs) != 0 || a.TranCount() != 1 {
		t.Errorf("inner commit: envs %+v trancount %d", r.envs, a.TranCount())
	}
	r = mustRun(t, a, "COMMIT TRAN")
	if len(r.envs) != 1 || r.envs[0].Type != tds.EnvCommitTranType || descOf(r.envs[0].Old) != desc {
		t.Errorf("commit envchanges %+v", r.envs)
	}
	if a.TranCount() != 0 || a.TxDescriptor() != 0 {
		t.Errorf("after commit trancount %d desc %x", a.TranCount(), a.TxDescriptor())
	}
	if n := mustRun(t, b, "SELECT COUNT(*) FROM t06").scalar(t); n != int64(1) {
		t.Errorf("other session sees %v rows after commit", n)
	}

	// rollback
	r = mustRun(t, a, "BEGIN TRAN INSERT INTO t06 VALUES (2, N'rolled back') ROLLBACK")
	if len(r.envs) != 2 || r.envs[1].Type != tds.EnvRollbackTranType {
		t.Errorf("rollback envchanges %+v", r.envs)
	}
	if descOf(r.envs[0].New) == desc {
		t.Errorf("new transaction reused descriptor %x", desc)
	}
	if n := mustRun(t, a, "SELECT COUNT(*) FROM t06").scalar(t); n != int64(1) {
		t.Errorf("rows after rollback: %v", n)
	}

	// savepoints
	mustRun(t, a, `BEGIN TRAN
		INSERT INTO t06 VALUES (3, N'kept')
		SAVE TRAN sp1
		INSERT INTO t06 VALUES (4, N'undone')
		ROLLBACK TRAN sp1`)
	if a.TranCount() != 1 {
		t.Errorf("trancount after ROLLBACK TRAN savepoint: %d", a.TranCount())
	}
	mustRun(t, a, "COMMIT")
	r = mustRun(t, a, "SELECT id FROM t06 ORDER BY id")
	if got := len(r.sets[0].rows); got != 2 {
		t.Errorf("rows after savepoint rollback: %v", r.sets[0].rows)
	}

	// ROLLBACK with the outer transaction's name ends it; an unknown name is 6401
	mustRun(t, a, "BEGIN TRAN outer_tx SAVE TRAN sp2")
	r = run(t, a, "ROLLBACK TRAN nope")
	if len(r.errs) != 1 || r.errs[0].Number != ErrNoSavepoint || a.TranCount() != 1 {
		t.Errorf("ROLLBACK TRAN nope: %v, trancount %d", r.errs, a.TranCount())
	}
	r = mustRun(t, a, "ROLLBACK TRAN outer_tx")
	if a.TranCount() != 0 || len(r.envs) != 1 || r.envs[0].Type != tds.EnvRollbackTranType {
		t.Errorf("ROLLBACK TRAN outer_tx: trancount %d envs %+v", a.TranCount(), r.envs)
	}
}

// TestTMRequests checks the entry points used for TM BEGIN/COMMIT/ROLLBACK.
func TestTMRequests(t *testing.T) {
	t.Parallel()
	db := fresh(t)
	s := session(t, db, "master")
	mustRun(t, s, "CREATE TABLE dbo.t (id int)")
	desc, err := s.Begin("", 0)
	if err != nil || desc == 0 || s.TxDescriptor() != desc {
		t.Fatalf("Begin = %x, %v", desc, err)
	}
	mustRun(t, s, "INSERT INTO t VALUES (3)")
	if err := s.Commit(""); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if _, err := s.Begin("", 0); err != nil {
		t.Fatal(err)
	}
	mustRun(t, s, "INSERT INTO t VALUES (4)")
	if err := s.Rollback(""); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if n := mustRun(t, s, "SELECT COUNT(*) FROM t").scalar(t); n != int64(1) {
		t.Errorf("rows: %v", n)
	}
	var se *SQLError
	if err := s.Commit(""); err == nil || !asSQLError(err, &se) || se.Err.Number != ErrCommitNoTran {
		t.Errorf("Commit without transaction: %v", err)
	}
}

func asSQLError(err error, target **SQLError) bool {
	e, ok := err.(*SQLError)
	if ok {
		*target = e
	}
	return ok
}

// TestReset checks RESETCONNECTION: transaction rolled back, temp tables and
// variables gone, database back to the login database.
func TestReset(t *testing.T) {
	t.Parallel()
	db := sample(t)
	s := session(t, db, "demo")
	mustRun(t, s, "CREATE TABLE #t20 (x int); INSERT INTO #t20 VALUES (1); SET NOCOUNT ON")
	r := mustRun(t, s, "SELECT @@SPID AS spid_a, (SELECT COUNT(*) FROM #t20) AS temp_rows")
	if r.sets[0].rows[0][1] != int64(1) {
		t.Fatalf("temp rows %v", r.sets[0].rows)
	}
	mustRun(t, s, "USE master BEGIN TRAN")
	if err := s.Reset(); err != nil {
		t.Fatal(err)
	}
	if s.TranCount() != 0 || s.Database() != "demo" || s.NoCount() {
		t.Errorf("after reset: trancount %d db %s nocount %v", s.TranCount(), s.Database(), s.NoCount())
	}
	r = mustRun(t, s, "SELECT @@SPID AS spid_b, OBJECT_ID('tempdb..#t20') AS temp_table_id")
	if r.sets[0].rows[0][1] != nil {
		t.Errorf("temp table survived reset: %v", r.sets[0].rows)
	}
}

// TestTempTablesAreSessionScoped: #temp tables are private to a session.
func TestTempTablesAreSessionScoped(t *testing.T) {
	t.Parallel()
	db := fresh(t)
	a := session(t, db, "master")
	b := session(t, db, "master")
	mustRun(t, a, "CREATE TABLE #t (x int) INSERT INTO #t VALUES (1)")
	mustRun(t, b, "CREATE TABLE #t (x int) INSERT INTO #t VALUES (2), (3)")
	if n := mustRun(t, a, "SELECT COUNT(*) FROM #t").scalar(t); n != int64(1) {
		t.Errorf("session a sees %v rows", n)
	}
	r := run(t, a, "DROP TABLE #t SELECT * FROM #t")
	if len(r.errs) != 1 || r.errs[0].Number != ErrInvalidObject {
		t.Errorf("after DROP: %v", r.errs)
	}
	if n := mustRun(t, b, "SELECT COUNT(*) FROM #t").scalar(t); n != int64(2) {
		t.Errorf("session b sees %v rows", n)
	}
}

// TestImplicitTransactions: JDBC drivers turn autocommit off with SET
// IMPLICIT_TRANSACTIONS ON and commit with IF @@TRANCOUNT > 0 COMMIT TRAN.
func TestImplicitTransactions(t *testing.T) {
	t.Parallel()
	db := fresh(t)
	s := session(t, db, "master")
	other := session(t, db, "master")
	mustRun(t, s, "CREATE TABLE dbo.it (x int)")
	mustRun(t, s, "SET IMPLICIT_TRANSACTIONS ON")
	if s.TranCount() != 0 {
		t.Fatalf("SET opened a transaction")
	}
	r := mustRun(t, s, "INSERT INTO dbo.it VALUES (1)")
	if s.TranCount() != 1 || len(r.envs) != 1 || r.envs[0].Type != tds.EnvBeginTranType {
		t.Fatalf("INSERT: trancount %d envs %+v", s.TranCount(), r.envs)
	}
	if n := mustRun(t, other, "SELECT COUNT(*) FROM dbo.it").scalar(t); n != int64(0) {
		t.Errorf("uncommitted row visible: %v", n)
	}
	r = mustRun(t, s, "IF @@TRANCOUNT > 0 COMMIT TRAN")
	if s.TranCount() != 0 || len(r.envs) != 1 || r.envs[0].Type != tds.EnvCommitTranType {
		t.Errorf("commit: trancount %d envs %+v", s.TranCount(), r.envs)
	}
	mustRun(t, s, "SET IMPLICIT_TRANSACTIONS OFF INSERT INTO dbo.it VALUES (2)")
	if s.TranCount() != 0 {
		t.Errorf("OFF: trancount %d", s.TranCount())
	}
}

// TestFmtOnly: SET FMTONLY ON returns metadata without rows or effects.
func TestFmtOnly(t *testing.T) {
	t.Parallel()
	s := session(t, sample(t), "demo")
	r := mustRun(t, s, "SET FMTONLY ON select * from dbo.customers DELETE FROM dbo.customers SET FMTONLY OFF")
	if len(r.sets) != 1 || len(r.sets[0].rows) != 0 || colNames(r.sets[0].cols) != "id,name,email,created" {
		t.Errorf("FMTONLY: %v", r.events)
	}
	if n := mustRun(t, s, "SELECT COUNT(*) FROM dbo.customers").scalar(t); n != int64(sampleCustomers) {
		t.Errorf("FMTONLY ran the DELETE: %v rows left", n)
	}
}

// TestInterruptedWriteInTransaction: SQLite rolls a transaction back when a
// write inside it is interrupted; the session must notice (ENVCHANGE 10,
// @@TRANCOUNT 0) instead of believing the transaction is still open.
func TestInterruptedWriteInTransaction(t *testing.T) {
	t.Parallel()
	s := session(t, sample(t), "demo")
	mustRun(t, s, "CREATE TABLE #big (n int) BEGIN TRAN INSERT INTO #big VALUES (0)")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := s.ExecBatch(ctx, "INSERT INTO #big SELECT a.n FROM dbo.numbers a CROSS JOIN dbo.numbers b", nil, &recorder{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	r := mustRun(t, s, "SELECT @@TRANCOUNT")
	if len(r.envs) != 1 || r.envs[0].Type != tds.EnvRollbackTranType || r.scalar(t) != int64(0) || s.TranCount() != 0 {
		t.Errorf("after the interrupted write: envs %+v trancount %v/%d", r.envs, r.scalar(t), s.TranCount())
	}
}

// TestReadThenWriteWhileOthersCommit: a transaction that read before
// another session committed can still write (SQL Server's READ COMMITTED
// allows it; SQLite would refuse the stale snapshot).
func TestReadThenWriteWhileOthersCommit(t *testing.T) {
	t.Parallel()
	db := fresh(t)
	a := session(t, db, "master")
	b := session(t, db, "master")
	mustRun(t, a, "CREATE TABLE dbo.rw (x int)")
	mustRun(t, a, "BEGIN TRAN SELECT COUNT(*) FROM dbo.rw")
	mustRun(t, b, "INSERT INTO dbo.rw VALUES (1)")
	r := run(t, a, "INSERT INTO dbo.rw VALUES (2) SELECT COUNT(*) FROM dbo.rw")
	if len(r.errs) > 0 {
		t.Fatalf("write after a concurrent commit: %d %s", r.errs[0].Number, r.errs[0].Message)
	}
	if a.TranCount() != 1 || len(r.envs) != 0 {
		t.Errorf("transaction state changed: trancount %d envs %+v", a.TranCount(), r.envs)
	}
	mustRun(t, a, "COMMIT")
	if n := mustRun(t, b, "SELECT COUNT(*) FROM dbo.rw").scalar(t); n != int64(2) {
		t.Errorf("rows %v", n)
	}
}
