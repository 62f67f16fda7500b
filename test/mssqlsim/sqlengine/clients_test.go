package sqlengine

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tdsproxy/tdsproxy/tds"
)

// TestClientBatches runs every batch real clients sent in the Babelfish
// transcripts (testdata/client_batches.sql) against tables shaped like the
// ones those scenarios used. None may fail except the two that the
// scenarios themselves made fail (a missing table and a division by zero).
func TestClientBatches(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/client_batches.sql")
	if err != nil {
		t.Fatal(err)
	}
	db := fresh(t)
	setup := session(t, db, "master")
	mustRun(t, setup, `CREATE DATABASE appdb
		CREATE TABLE dbo.t06 (id int PRIMARY KEY, v nvarchar(50))
		CREATE TABLE dbo.t19 (id int PRIMARY KEY, v nvarchar(20))
		CREATE TABLE dbo.t15 (id int)
		INSERT INTO dbo.t15 VALUES (1),(2),(3)
		CREATE TABLE dbo.bulk13 (id int, name nvarchar(20), amount numeric(10,2))
		CREATE TABLE dbo.bulk13c (id int, name nvarchar(20), amount numeric(38,2))
		CREATE TABLE dbo.typetest (id int PRIMARY KEY, c_int int, c_bigint bigint, c_bit bit, c_dec decimal(10,2),
			c_float float, c_nvarchar nvarchar(50), c_varcharmax varchar(max), c_varbinary varbinary(50),
			c_datetime2 datetime2, c_date date, c_guid uniqueidentifier)
		INSERT INTO dbo.typetest (id) VALUES (1)`)
	expectedErrors := map[string]int32{
		"SELECT * FROM no_such_table": ErrInvalidObject,
		"SELECT 1/0 AS boom":          ErrDivideByZero,
		"COMMIT":                      ErrCommitNoTran,
		"ROLLBACK":                    ErrRollbackNoTran,
	}
	for _, batch := range strings.Split(string(data), "-- batch\n")[1:] {
		batch = strings.TrimSuffix(batch, "\n")
		if strings.Contains(batch, "WAITFOR") || strings.Contains(batch, "COUNT_BIG(*) AS n FROM (VALUES") {
			continue // cancellation scenarios: TestWaitforCancel, TestCancelLongQuery
		}
		name := batch
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			s := session(t, db, "master")
			r := run(t, s, batch)
			want, expectErr := expectedErrors[batch]
			switch {
			case expectErr && (len(r.errs) != 1 || r.errs[0].Number != want):
				t.Errorf("errors %v, want %d", r.errs, want)
			case !expectErr && len(r.errs) > 0:
				t.Errorf("error %d: %s", r.errs[0].Number, r.errs[0].Message)
			}
		})
	}
}

// TestStartupBatches checks what the connect-time batches leave behind.
func TestStartupBatches(t *testing.T) {
	t.Parallel()
	s := session(t, sample(t), "demo")
	// tedious
	r := mustRun(t, s, "set ansi_nulls on\nset ansi_null_dflt_on on\nset ansi_padding on\nset ansi_warnings on\nset arithabort on\nset concat_null_yields_null on\nset datefirst 7\nset dateformat mdy\nset implicit_transactions off\nset language us_english\nset numeric_roundabort off\nset quoted_identifier on\nset textsize 2147483647\nset transaction isolation level read committed\nset xact_abort off")
	if len(r.envs) != 1 || r.envs[0].Type != tds.EnvLanguageType {
		t.Errorf("SET LANGUAGE envchange: %+v", r.envs)
	}
	// pyodbc's data type probe
	r = mustRun(t, s, "sp_datatype_info_100 -9,3")
	if len(r.sets) != 1 || len(r.sets[0].rows) != 1 || r.sets[0].rows[0][0] != "nvarchar" || len(r.sets[0].cols) != 20 {
		t.Errorf("sp_datatype_info_100 -9: %+v", r.sets)
	}
	r = mustRun(t, s, "sp_datatype_info_100 93,3")
	if len(r.sets[0].rows) != 3 {
		t.Errorf("sp_datatype_info_100 93: %d rows", len(r.sets[0].rows))
	}
	r = rpc(t, s, "sp_datatype_info_100", Param{Name: "@data_type", Type: tds.TypeInfo{Type: tds.TypeIntN, Size: 2}, Value: int64(0)})
	if len(r.sets) != 1 || len(r.sets[0].rows) != len(odbcTypes) {
		t.Errorf("sp_datatype_info_100 all types: %v", r.events)
	}
	// go-mssqldb's ping and the version probe
	if v := mustRun(t, s, "select 1;").scalar(t); v != int64(1) {
		t.Errorf("select 1: %v", v)
	}
	if v, _ := mustRun(t, s, "SELECT @@version").scalar(t).(string); !strings.HasPrefix(v, "Microsoft SQL Server 2022") || !strings.Contains(v, "mssqlsim") {
		t.Errorf("@@version %q", v)
	}
}

// TestUse checks USE: ENVCHANGE 1, INFO 5701 and name resolution.
func TestUse(t *testing.T) {
	t.Parallel()
	s := session(t, sample(t), "master")
	r := mustRun(t, s, "USE demo")
	if len(r.envs) != 1 || r.envs[0].Type != tds.EnvDatabaseType || len(r.infos) != 1 || r.infos[0].Number != ErrChangedDBContext {
		t.Fatalf("USE: envs %+v infos %+v", r.envs, r.infos)
	}
	if s.Database() != "demo" {
		t.Errorf("database %s", s.Database())
	}
	if n := mustRun(t, s, "SELECT COUNT(*) FROM sales.orders").scalar(t); n != int64(sampleOrders) {
		t.Errorf("orders %v", n)
	}
	if _, err := sample(t).NewSession("x", "nodb", 60); err == nil {
		t.Error("NewSession with an unknown database succeeded")
	} else {
		var le *LoginError
		if !errors.As(err, &le) || le.Err.Number != ErrCannotOpenDB {
			t.Errorf("NewSession error %v", err)
		}
	}
}

// TestWaitforCancel: WAITFOR returns as soon as the context is cancelled.
func TestWaitforCancel(t *testing.T) {
	t.Parallel()
	s := session(t, fresh(t), "master")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(50 * time.Millisecond)
		cancel()
	}()
	start := time.Now()
	err := s.ExecBatch(ctx, "WAITFOR DELAY '00:00:10'", nil, &recorder{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("WAITFOR took %v after cancel", d)
	}
	// the session stays usable
	if v := mustRun(t, s, "SELECT 2 AS y").scalar(t); v != int64(2) {
		t.Errorf("after cancel: %v", v)
	}
	start = time.Now()
	mustRun(t, s, "WAITFOR DELAY '00:00:00.050'")
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("WAITFOR 50ms returned after %v", d)
	}
}

// TestCancelLongQuery: a running SQLite query is interrupted by ctx.
func TestCancelLongQuery(t *testing.T) {
	t.Parallel()
	s := session(t, sample(t), "demo")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.ExecBatch(ctx, "SELECT COUNT(*) FROM dbo.numbers a CROSS JOIN dbo.numbers b", nil, &recorder{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancel took %v", d)
	}
}

// TestVariablesAndIf covers DECLARE/SET/SELECT @v and IF/ELSE/WHILE.
func TestVariablesAndIf(t *testing.T) {
	t.Parallel()
	s := session(t, sample(t), "demo")
	r := mustRun(t, s, `DECLARE @n int = 5, @s nvarchar(20)
		SET @s = N'x' + N'y'
		SET @n += 1
		SELECT @n AS n, @s AS s`)
	if row := r.sets[0].rows[0]; row[0] != int64(6) || row[1] != "xy" {
		t.Errorf("variables %v", row)
	}
	if r.sets[0].cols[1].Type.Type != tds.TypeNVarChar || r.sets[0].cols[1].Type.Size != 40 {
		t.Errorf("variable type %v", r.sets[0].cols[1].Type)
	}
	r = mustRun(t, s, "DECLARE @c int SELECT @c = COUNT(*) FROM dbo.customers SELECT @c")
	if len(r.sets) != 1 || r.scalar(t) != int64(sampleCustomers) {
		t.Errorf("SELECT @c = : %v %#v", r.events, r.sets)
	}
	r = mustRun(t, s, "IF OBJECT_ID('dbo.customers') IS NOT NULL SELECT 'yes' ELSE SELECT 'no'")
	if r.scalar(t) != "yes" {
		t.Errorf("IF: %v", r.scalar(t))
	}
	r = mustRun(t, s, `IF EXISTS (SELECT 1 FROM dbo.customers WHERE id = -1)
		BEGIN SELECT 1 END
		ELSE BEGIN SELECT 2 SELECT 3 END`)
	if len(r.sets) != 2 || r.scalar(t) != int64(2) {
		t.Errorf("IF/ELSE block: %v", r.events)
	}
	r = mustRun(t, s, "DECLARE @i int = 0 WHILE @i < 3 BEGIN SET @i = @i + 1 END SELECT @i")
	if r.scalar(t) != int64(3) {
		t.Errorf("WHILE: %v", r.scalar(t))
	}
	r = mustRun(t, s, "IF OBJECT_ID('tempdb..#x') IS NOT NULL DROP TABLE #x CREATE TABLE #x (a int) IF OBJECT_ID('tempdb..#x') IS NOT NULL DROP TABLE #x")
	if len(r.errs) != 0 {
		t.Errorf("IF OBJECT_ID DROP: %v", r.errs)
	}
}
