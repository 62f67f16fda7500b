package sqlengine

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestParseBatch checks how batches split into statements.
func TestParseBatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		sql  string
		want []stmtKind
	}{
		{"semicolons", "SELECT 1; SELECT 2;", []stmtKind{skSelect, skSelect}},
		{"no semicolons", "SELECT 1 SELECT 2", []stmtKind{skSelect, skSelect}},
		{"insert select", "INSERT INTO t SELECT 1 UNION ALL SELECT 2 SELECT 3", []stmtKind{skInsert, skSelect}},
		{"insert values then select", "INSERT INTO t VALUES (1) SELECT 2", []stmtKind{skInsert, skSelect}},
		{"update set", "UPDATE t SET a = 1 SET NOCOUNT ON", []stmtKind{skUpdate, skSetOption}},
		{"set var then select", "DECLARE @x int SET @x = 1 SELECT @x", []stmtKind{skDeclare, skSetVar, skSelect}},
		{"case end", "SELECT CASE WHEN 1 = 1 THEN 2 ELSE 3 END SELECT 4", []stmtKind{skSelect, skSelect}},
		{"if else", "IF 1 = 1 SELECT 1 ELSE SELECT 2 SELECT 3", []stmtKind{skIf, skSelect}},
		{"begin tran vs block", "BEGIN TRAN BEGIN SELECT 1 END COMMIT", []stmtKind{skBeginTran, skBlock, skCommit}},
		{"cte", "WITH c AS (SELECT 1 AS x) SELECT x FROM c", []stmtKind{skSelect}},
		{"cte update", "WITH c AS (SELECT 1 AS x) UPDATE t SET a = 1", []stmtKind{skUpdate}},
		{"table hint", "SELECT * FROM t WITH (NOLOCK) SELECT 1", []stmtKind{skSelect, skSelect}},
		{"bare procedure", "sp_datatype_info_100 -9,3", []stmtKind{skExec}},
		{"exec args", "EXEC sp_x 1, @a = 'x' OUTPUT SELECT 1", []stmtKind{skExec, skSelect}},
		{"drop if exists", "DROP TABLE IF EXISTS t IF 1 = 1 SELECT 1", []stmtKind{skDropTable, skIf}},
		{"fk on delete", "CREATE TABLE t (a int REFERENCES u(id) ON DELETE CASCADE) SELECT 1", []stmtKind{skCreateTable, skSelect}},
		{"try catch", "BEGIN TRY SELECT 1 END TRY BEGIN CATCH SELECT 2 END CATCH", []stmtKind{skTry}},
		{"comments", "-- c\nSELECT /* x /* nested */ */ 1", []stmtKind{skSelect}},
		{"set options", "SET ANSI_NULLS ON SET TEXTSIZE 2147483647", []stmtKind{skSetOption, skSetOption}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			toks, err := lex(tc.sql)
			if err != nil {
				t.Fatal(err)
			}
			stmts, err := parseBatch(toks)
			if err != nil {
				t.Fatal(err)
			}
			var got []stmtKind
			for _, s := range stmts {
				got = append(got, s.kind)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("kinds %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("kinds %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// TestParseErrors checks that malformed batches are syntax errors.
func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, sql := range []string{
		"SELECT 'unterminated",
		"SELECT [unterminated",
		"SELECT 1 /* open comment",
		"END",
		"BEGIN SELECT 1",
		"IF",
		"SELECT @",
		"SELECT 1 ) SELECT 2",
		"SELECT `x`",
	} {
		t.Run(sql, func(t *testing.T) {
			toks, err := lex(sql)
			if err == nil {
				_, err = parseBatch(toks)
			}
			if err == nil {
				db := fresh(t)
				r := run(t, session(t, db, "master"), sql)
				if len(r.errs) == 0 {
					t.Fatalf("no error for %q", sql)
				}
				return
			}
			if _, ok := err.(*syntaxError); !ok {
				t.Errorf("error %T %v, want a syntax error", err, err)
			}
		})
	}
}

// FuzzExecBatch runs arbitrary text as a batch: it must never panic and
// must always end (errors are fine).
func FuzzExecBatch(f *testing.F) {
	for _, s := range []string{
		"SELECT 1", "SELECT TOP 2 * FROM dbo.t ORDER BY a", "INSERT INTO t VALUES (1, N'x')",
		"IF OBJECT_ID('t') IS NOT NULL DROP TABLE t", "DECLARE @a int = 1 SET @a += 2 SELECT @a",
		"BEGIN TRAN SAVE TRAN a ROLLBACK TRAN a COMMIT", "EXEC sp_executesql N'SELECT @p', N'@p int', 1",
		"SELECT CAST('1' AS decimal(5,2)) + 1, 'a' + 'b', 1/0", "WITH c(x) AS (SELECT 1) SELECT * FROM c",
		"SELECT (VALUES (1)) a(x)", "SELECT CONVERT(varchar(10), GETDATE(), 120)", "RAISERROR('x', 16, 1)",
	} {
		f.Add(s)
	}
	db, err := Open(Options{ServerName: "FUZZ", Dir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	s, err := db.NewSession("fuzz", "master", 1)
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	if err := s.ExecBatch(context.Background(), "CREATE TABLE t (a int, b nvarchar(10))", nil, nopWriter{}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		if strings.Contains(strings.ToUpper(sql), "WAITFOR") || len(sql) > 2000 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2e9)
		defer cancel()
		_ = s.ExecBatch(ctx, sql, nil, nopWriter{})
		_ = s.Reset()
	})
}

// TestParseDateTime checks the fast path against time.Parse.
func TestParseDateTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2024-02-29", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), true},
		{"2024-02-29 13:45:30", time.Date(2024, 2, 29, 13, 45, 30, 0, time.UTC), true},
		{"2024-02-29T13:45:30.1234567", time.Date(2024, 2, 29, 13, 45, 30, 123456700, time.UTC), true},
		{"2024-02-29 13:45:30.5", time.Date(2024, 2, 29, 13, 45, 30, 500e6, time.UTC), true},
		{"13:45:30.1234567", time.Date(1, 1, 1, 13, 45, 30, 123456700, time.UTC), true},
		{"2024-05-06 07:08:09.0000000 +02:00", time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("", 7200)), true},
		{"20240506", time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC), true},
		{"2023-02-30", time.Time{}, false},
		{"2024-13-01", time.Time{}, false},
		{"25:00:00", time.Time{}, false},
		{"not a date", time.Time{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := parseDateTime(tc.in)
			if ok != tc.ok || (ok && !got.Equal(tc.want)) {
				t.Errorf("parseDateTime(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}
