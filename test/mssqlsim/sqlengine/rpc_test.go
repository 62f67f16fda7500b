package sqlengine

import (
	"context"
	"testing"

	"github.com/tdsproxy/tdsproxy/tds"
)

func nvarchar(name, v string) Param {
	return Param{Name: name, Type: tds.TypeInfo{Type: tds.TypeNVarChar, Size: 2 * len(v), Collation: tds.DefaultCollation}, Value: v}
}

func intParam(name string, v any, output bool) Param {
	return Param{Name: name, Type: tds.TypeInfo{Type: tds.TypeIntN, Size: 4}, Value: v, Output: output}
}

func rpc(t *testing.T, s *Session, proc string, params ...Param) *recorder {
	t.Helper()
	r := &recorder{}
	if err := s.ExecRPC(context.Background(), proc, params, r); err != nil {
		t.Fatalf("ExecRPC(%s): %v", proc, err)
	}
	return r
}

// TestExecuteSQL replays tedious's execSql (transcript 03).
func TestExecuteSQL(t *testing.T) {
	t.Parallel()
	s := session(t, fresh(t), "master")
	r := rpc(t, s, "sp_executesql",
		nvarchar("@statement", "SELECT @id AS id, @name AS name, @id * 2 AS doubled"),
		nvarchar("@params", "@id int, @name nvarchar(11)"),
		intParam("@id", int64(21), false),
		nvarchar("@name", "héllo wörld"))
	if len(r.errs) > 0 {
		t.Fatalf("errors %v", r.errs)
	}
	set := r.sets[0]
	if colNames(set.cols) != "id,name,doubled" {
		t.Errorf("columns %s", colNames(set.cols))
	}
	if set.cols[0].Type.Type != tds.TypeIntN || set.cols[1].Type.Type != tds.TypeNVarChar || set.cols[1].Type.Size != 22 {
		t.Errorf("types %v %v", set.cols[0].Type, set.cols[1].Type)
	}
	if row := set.rows[0]; row[0] != int64(21) || row[1] != "héllo wörld" || row[2] != int64(42) {
		t.Errorf("row %v", row)
	}
	if len(r.status) != 1 || r.status[0] != 0 {
		t.Errorf("return status %v", r.status)
	}
}

// TestExecuteSQLOutput checks output parameters of sp_executesql.
func TestExecuteSQLOutput(t *testing.T) {
	t.Parallel()
	s := session(t, fresh(t), "master")
	r := rpc(t, s, "sp_executesql",
		nvarchar("@statement", "SET @out = @in + 1"),
		nvarchar("@params", "@in int, @out int OUTPUT"),
		intParam("@in", int64(41), false),
		intParam("@out", nil, true))
	if len(r.rets) != 1 || r.rets[0].val != int64(42) || r.rets[0].ordinal != 3 || r.rets[0].name != "@out" {
		t.Errorf("return values %+v errors %v", r.rets, r.errs)
	}
}

// TestPrepareExecute replays tedious's sp_prepare/sp_execute/sp_unprepare
// (transcript 11) and pyodbc's sp_prepexec (11b).
func TestPrepareExecute(t *testing.T) {
	t.Parallel()
	s := session(t, fresh(t), "master")
	r := rpc(t, s, "sp_prepare", intParam("@handle", nil, true),
		nvarchar("@params", "@a int, @s nvarchar(20)"),
		nvarchar("@stmt", "SELECT @a + 1 AS a_plus_1, UPPER(@s) AS s_upper"))
	if len(r.rets) != 1 || r.rets[0].typ.Type != tds.TypeIntN {
		t.Fatalf("sp_prepare return values %+v errors %v", r.rets, r.errs)
	}
	h := r.rets[0].val
	for _, tc := range []struct {
		a    int64
		s    string
		want string
	}{{41, "first", "FIRST"}, {99, "second", "SECOND"}} {
		r = rpc(t, s, "sp_execute", intParam("", h, false), intParam("@a", tc.a, false), nvarchar("@s", tc.s))
		if len(r.sets) != 1 || r.sets[0].rows[0][0] != tc.a+1 || r.sets[0].rows[0][1] != tc.want {
			t.Errorf("sp_execute(%d, %s): events %v sets %+v", tc.a, tc.s, r.events, r.sets)
		}
	}
	r = rpc(t, s, "sp_unprepare", intParam("@handle", h, false))
	if len(r.errs) != 0 {
		t.Errorf("sp_unprepare: %v", r.errs)
	}
	r = rpc(t, s, "sp_execute", intParam("", h, false), intParam("@a", int64(1), false), nvarchar("@s", "x"))
	if len(r.errs) != 1 || r.errs[0].Number != ErrBadPrepareHandle {
		t.Errorf("execute after unprepare: %v", r.errs)
	}

	// pyodbc: positional parameters, NTEXT declarations
	ntext := func(v string) Param {
		return Param{Type: tds.TypeInfo{Type: tds.TypeNText, Size: 2 * len(v), Collation: tds.DefaultCollation}, Value: v}
	}
	r = rpc(t, s, "sp_prepexec", intParam("", nil, true), ntext("@P1 INT,@P2 NVARCHAR(10)"),
		ntext("SELECT @P1 + 1 AS a_plus_1, UPPER(@P2) AS s_upper"), intParam("", int64(41), false), nvarchar("", "first"))
	if len(r.rets) != 1 || len(r.sets) != 1 || r.sets[0].rows[0][1] != "FIRST" {
		t.Fatalf("sp_prepexec: events %v errors %v", r.events, r.errs)
	}
	want := []string{"COLMETADATA", "ROW", "DONE(1,count=true,err=false)", "RETURNSTATUS 0", "RETURNVALUE"}
	for i, e := range want {
		if r.events[i] != e {
			t.Errorf("sp_prepexec events %v, want %v", r.events, want)
			break
		}
	}
	if r.rets[0].val == h {
		t.Errorf("sp_prepexec reused handle %v", h)
	}
}

// TestParamArrayInsert replays FreeTDS ODBC's parameter array (19): prepare
// an INSERT and execute it five times.
func TestParamArrayInsert(t *testing.T) {
	t.Parallel()
	s := session(t, fresh(t), "master")
	mustRun(t, s, "CREATE TABLE dbo.t19 (id int PRIMARY KEY, v nvarchar(20))")
	r := rpc(t, s, "sp_prepare", intParam("", nil, true), nvarchar("", "@P1 int,@P2 nvarchar(20)"),
		nvarchar("", "INSERT INTO dbo.t19 (id, v) VALUES (@P1, @P2)"), intParam("", int64(1), false))
	h := r.rets[0].val
	for i := int64(101); i <= 105; i++ {
		r = rpc(t, s, "sp_execute", intParam("", h, false), intParam("", i, false), nvarchar("", "batch"))
		if len(r.dones) != 1 || r.dones[0].RowCount != 1 || r.dones[0].CurCmd != 0xC3 {
			t.Fatalf("sp_execute insert: %v %v", r.events, r.errs)
		}
	}
	if n := mustRun(t, s, "SELECT COUNT(*) FROM dbo.t19").scalar(t); n != int64(5) {
		t.Errorf("rows %v", n)
	}
}

// TestExecInBatch runs EXEC forms inside a batch.
func TestExecInBatch(t *testing.T) {
	t.Parallel()
	s := session(t, fresh(t), "master")
	r := mustRun(t, s, "EXEC sp_executesql N'SELECT @x * 2 AS v', N'@x int', @x = 21")
	if r.scalar(t) != int64(42) {
		t.Errorf("EXEC sp_executesql: %v", r.events)
	}
	r = mustRun(t, s, "DECLARE @sql nvarchar(100) = N'SELECT 7 AS seven' EXEC (@sql)")
	if r.scalar(t) != int64(7) {
		t.Errorf("EXEC (@sql): %v", r.events)
	}
	r = mustRun(t, s, "DECLARE @o int EXEC sp_executesql N'SET @r = 5', N'@r int OUTPUT', @r = @o OUTPUT SELECT @o")
	if v := r.sets[len(r.sets)-1].rows[0][0]; v != int64(5) {
		t.Errorf("output into variable: %v", v)
	}
}

// TestUserProcedure replays transcript 14: a procedure with OUTPUT
// parameters and a return status, called by RPC and with EXEC.
func TestUserProcedure(t *testing.T) {
	t.Parallel()
	primary, replica, txs := pair(t)
	s := session(t, primary, "master")
	mustRun(t, s, `CREATE PROCEDURE dbo.p14_addmul @a int, @b int, @sum int OUTPUT, @label nvarchar(30) OUTPUT AS
BEGIN SET @sum = @a + @b; SET @label = N'product=' + CAST(@a * @b AS nvarchar(10)); SELECT @a AS a, @b AS b; RETURN 42; END`)
	r := rpc(t, s, "dbo.p14_addmul", intParam("@a", int64(6), false), intParam("@b", int64(7), false),
		intParam("@sum", nil, true), Param{Name: "@label", Type: tds.TypeInfo{Type: tds.TypeNVarChar, Size: 60}, Output: true})
	if len(r.errs) > 0 {
		t.Fatalf("errors %v", r.errs)
	}
	want := []string{"COLMETADATA", "ROW", "DONE(1,count=true,err=false)", "RETURNSTATUS 42", "RETURNVALUE", "RETURNVALUE"}
	if len(r.events) != len(want) {
		t.Fatalf("events %v, want %v", r.events, want)
	}
	if r.rets[0].val != int64(13) || r.rets[0].ordinal != 2 || r.rets[1].val != "product=42" || r.rets[1].name != "@label" {
		t.Errorf("return values %+v", r.rets)
	}
	r = mustRun(t, s, "DECLARE @s int, @l nvarchar(30), @rc int EXEC @rc = p14_addmul 1, 2, @s OUTPUT, @l OUTPUT SELECT @rc, @s, @l")
	if row := r.sets[len(r.sets)-1].rows[0]; row[0] != int64(42) || row[1] != int64(3) || row[2] != "product=2" {
		t.Errorf("EXEC outputs %v", row)
	}
	r = rpc(t, s, "dbo.p14_addmul", intParam("@a", int64(6), false))
	if len(r.errs) != 1 || r.errs[0].Number != ErrParamNotSupplied {
		t.Errorf("missing parameter: %v", r.errs)
	}
	mustRun(t, s, "CREATE OR ALTER PROCEDURE dbo.p_def @x int = 5 AS SELECT @x * 2 AS v")
	if v := mustRun(t, s, "EXEC dbo.p_def").scalar(t); v != int64(10) {
		t.Errorf("default parameter: %v", v)
	}
	// the procedure replicates
	for _, tx := range txs() {
		if err := replica.Apply(tx); err != nil {
			t.Fatal(err)
		}
	}
	if v := mustRun(t, session(t, replica, "master"), "EXEC dbo.p_def 4").scalar(t); v != int64(8) {
		t.Errorf("procedure on the replica: %v", v)
	}
	mustRun(t, s, "DROP PROCEDURE dbo.p_def")
	if r := run(t, s, "EXEC dbo.p_def"); len(r.errs) != 1 || r.errs[0].Number != ErrNoSuchProcedure {
		t.Errorf("after DROP: %v", r.errs)
	}
}
