package sqlengine

import (
	"testing"
)

// TestFunctions checks T-SQL functions and syntax the translation maps.
func TestFunctions(t *testing.T) {
	t.Parallel()
	s := session(t, sample(t), "demo")
	tests := []struct {
		sql  string
		want any
	}{
		{"SELECT DATALENGTH('abc')", int64(3)},
		{"SELECT CHARINDEX('lo', 'hello')", int64(4)},
		{"SELECT CHARINDEX('x', 'hello')", int64(0)},
		{"SELECT CONCAT('a', NULL, 1, N'b')", "a1b"},
		{"SELECT ISNUMERIC('12.5')", int64(1)},
		{"SELECT ISNUMERIC('abc')", int64(0)},
		{"SELECT POWER(2, 10)", int64(1024)},
		{"SELECT QUOTENAME('a]b')", "[a]]b]"},
		{"SELECT STUFF('abcdef', 2, 3, 'XY')", "aXYef"},
		{"SELECT LEFT('hello', 2)", "he"},
		{"SELECT RIGHT('hello', 3)", "llo"},
		{"SELECT SUBSTRING('hello', 2, 3)", "ell"},
		{"SELECT LTRIM(RTRIM('  x  '))", "x"},
		{"SELECT REPLACE('a-b-c', '-', '+')", "a+b+c"},
		{"SELECT REVERSE('abc')", "cba"},
		{"SELECT CEILING(1.2)", "2"},
		{"SELECT FLOOR(-1.2)", "-2"},
		{"SELECT ABS(-3)", int64(3)},
		{"SELECT ROUND(2.567, 2)", "2.570"},
		{"SELECT SPACE(3) + 'x'", "   x"},
		{"SELECT DATEPART(year, '2024-02-29')", int64(2024)},
		{"SELECT MONTH('2024-02-29')", int64(2)},
		{"SELECT DAY(CAST('2024-02-29' AS date))", int64(29)},
		{"SELECT DATEDIFF(hour, '2024-01-01 00:00', '2024-01-02 06:00')", int64(30)},
		{"SELECT CONVERT(varchar(10), CAST('2024-02-29 13:45:30' AS datetime), 120)", "2024-02-29"},
		{"SELECT CONVERT(varchar(8), CAST('2024-02-29' AS date), 112)", "20240229"},
		{"SELECT TRY_CAST('x' AS int)", nil},
		{"SELECT TRY_CONVERT(int, '12')", int64(12)},
		{"SELECT IIF(1 > 2, 'a', 'b')", "b"},
		{"SELECT NULLIF(1, 1)", nil},
		{"SELECT COUNT(*) FROM dbo.customers WITH (NOLOCK) WHERE id < 3", int64(2)},
		{"SELECT id FROM dbo.customers ORDER BY id OFFSET 5 ROWS FETCH NEXT 1 ROWS ONLY", int64(6)},
		{"SELECT id FROM dbo.customers ORDER BY id OFFSET 199 ROWS", int64(200)},
		{"SELECT STRING_AGG(name, ',') FROM (SELECT TOP 2 name FROM dbo.customers ORDER BY id) x", "Customer 1,Customer 2"},
		{"WITH c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5) SELECT SUM(x) FROM c", int64(15)},
		{"SELECT name FROM dbo.customers WHERE name LIKE 'customer 1_' ORDER BY id", "Customer 10"},
		{"SELECT COUNT(*) FROM sales.orders WHERE status <> 'paid' AND status != 'new'", int64(250)},
		{"SELECT COUNT(DISTINCT status) FROM sales.orders", int64(4)},
		{"SELECT @@TEXTSIZE", int64(4096)},
		{"SELECT XACT_STATE()", int64(0)},
		{"SELECT SCHEMA_NAME()", "dbo"},
		{"SELECT DB_ID('demo')", int64(5)},
		{"SELECT DB_NAME(1)", "master"},
		{"SELECT CAST(1 AS bit) + 0", int64(1)},
		{"SELECT 'n=' + CAST(5 AS varchar(3))", "n=5"},
		{"SELECT CAST(1234.5678 AS decimal(6,1))", "1234.6"},
		{"SELECT CAST(123456 AS varchar)", "123456"},  // no length: 30 in CAST
		{"DECLARE @v varchar = 'abc' SELECT @v", "a"}, // no length: 1 in DECLARE
	}
	for _, tc := range tests {
		t.Run(tc.sql, func(t *testing.T) {
			if got := mustRun(t, s, tc.sql).scalar(t); !equalValue(got, tc.want) {
				t.Errorf("got %#v (%T), want %#v", got, got, tc.want)
			}
		})
	}
	r := mustRun(t, s, "PRINT 'hello ' + 'world'")
	if len(r.infos) != 1 || r.infos[0].Message != "hello world" || r.infos[0].Class != 0 {
		t.Errorf("PRINT: %+v", r.infos)
	}
	r = mustRun(t, s, "RAISERROR('just info', 10, 1)")
	if len(r.infos) != 1 || r.infos[0].Number != 50000 {
		t.Errorf("RAISERROR severity 10: %+v", r.infos)
	}
	r = rpc(t, s, "sp_server_info")
	if len(r.sets) != 1 || len(r.sets[0].rows) == 0 {
		t.Errorf("sp_server_info: %v", r.events)
	}
}

// TestSetOptionValues checks what SET options leave in @@variables (and
// that RESETCONNECTION restores them).
func TestSetOptionValues(t *testing.T) {
	t.Parallel()
	s := session(t, fresh(t), "master")
	r := mustRun(t, s, "SET LOCK_TIMEOUT 1000 SET TEXTSIZE 2147483647 SET DATEFIRST 1 SELECT @@LOCK_TIMEOUT, @@TEXTSIZE, @@DATEFIRST")
	if row := r.sets[0].rows[0]; row[0] != int64(1000) || row[1] != int64(2147483647) || row[2] != int64(1) {
		t.Errorf("after SET: %v", row)
	}
	if v := mustRun(t, s, "SET LOCK_TIMEOUT -1 SELECT @@LOCK_TIMEOUT").scalar(t); v != int64(-1) {
		t.Errorf("SET LOCK_TIMEOUT -1: %v", v)
	}
	mustRun(t, s, "SET LOCK_TIMEOUT 4321")
	if err := s.Reset(); err != nil {
		t.Fatal(err)
	}
	if v := mustRun(t, s, "SELECT @@LOCK_TIMEOUT").scalar(t); v != int64(-1) {
		t.Errorf("after reset: %v", v)
	}
	if r := run(t, s, "SET LOCK_TIMEOUT abc"); len(r.errs) != 1 || r.errs[0].Number != ErrSyntax {
		t.Errorf("SET LOCK_TIMEOUT abc: %v", r.errs)
	}
}
