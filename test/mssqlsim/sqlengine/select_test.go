package sqlengine

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/tdsproxy/tdsproxy/tds"
)

// TestSelectTypes checks the TDS type and value of single-column queries.
func TestSelectTypes(t *testing.T) {
	t.Parallel()
	db := sample(t)
	s := session(t, db, "demo")
	tests := []struct {
		name  string
		sql   string
		typ   tds.DataType
		size  int
		value any
	}{
		{"int literal", "SELECT 1", tds.TypeIntN, 4, int64(1)},
		{"big literal", "SELECT 3000000000", tds.TypeIntN, 8, int64(3000000000)},
		{"negative literal", "SELECT -5", tds.TypeIntN, 4, int64(-5)},
		{"decimal literal", "SELECT 12.50", tds.TypeNumericN, 5, "12.50"},
		{"varchar literal", "SELECT 'abc'", tds.TypeBigVarChar, 3, "abc"},
		{"nvarchar literal", "SELECT N'héllo'", tds.TypeNVarChar, 10, "héllo"},
		{"null", "SELECT NULL", tds.TypeIntN, 4, nil},
		{"cast bigint", "SELECT CAST(7 AS bigint)", tds.TypeIntN, 8, int64(7)},
		{"cast smallint", "SELECT CAST(7 AS smallint)", tds.TypeIntN, 2, int64(7)},
		{"cast tinyint", "SELECT CAST(7 AS tinyint)", tds.TypeIntN, 1, int64(7)},
		{"cast bit", "SELECT CAST(5 AS bit)", tds.TypeBitN, 1, true},
		{"cast decimal", "SELECT CAST('12.345' AS decimal(10,2))", tds.TypeDecimalN, 9, "12.35"},
		{"cast float", "SELECT CAST(12.5 AS float)", tds.TypeFltN, 8, 12.5},
		{"cast real", "SELECT CAST(1.5 AS real)", tds.TypeFltN, 4, 1.5},
		{"cast money", "SELECT CAST(12.3456 AS money)", tds.TypeMoneyN, 8, tds.Money(123456)},
		{"cast nvarchar(n)", "SELECT CAST(42 AS nvarchar(10))", tds.TypeNVarChar, 20, "42"},
		{"cast varchar(max)", "SELECT CAST('x' AS varchar(max))", tds.TypeBigVarChar, tds.PLPSize, "x"},
		{"cast nvarchar(max)", "SELECT CAST(N'x' AS nvarchar(max))", tds.TypeNVarChar, tds.PLPSize, "x"},
		{"cast varbinary", "SELECT CAST(0x0102 AS varbinary(10))", tds.TypeBigVarBin, 10, []byte{1, 2}},
		{"convert varbinary max", "SELECT CONVERT(varbinary(max), 0xFF)", tds.TypeBigVarBin, tds.PLPSize, []byte{0xFF}},
		{"cast date", "SELECT CAST('2024-02-29' AS date)", tds.TypeDateN, 0, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"cast datetime", "SELECT CAST('2024-02-29 10:11:12.123' AS datetime)", tds.TypeDateTimeN, 8, time.Date(2024, 2, 29, 10, 11, 12, 123e6, time.UTC)},
		{"cast datetime2", "SELECT CAST('2024-02-29 10:11:12.1234567' AS datetime2)", tds.TypeDateTime2N, 0, time.Date(2024, 2, 29, 10, 11, 12, 123456700, time.UTC)},
		{"cast time", "SELECT CAST('10:11:12' AS time)", tds.TypeTimeN, 0, time.Date(1, 1, 1, 10, 11, 12, 0, time.UTC)},
		{"cast guid", "SELECT CAST('6f9619ff-8b86-d011-b42d-00c04fc964ff' AS uniqueidentifier)", tds.TypeGUID, 16, mustGUID("6F9619FF-8B86-D011-B42D-00C04FC964FF")},
		{"isnull", "SELECT ISNULL(NULL, 3)", tds.TypeIntN, 4, int64(3)},
		{"len trims trailing spaces", "SELECT LEN('ab  ')", tds.TypeIntN, 4, int64(2)},
		{"upper unicode", "SELECT UPPER(N'héllo')", tds.TypeNVarChar, 10, "HÉLLO"},
		{"lower", "SELECT LOWER('ABC')", tds.TypeBigVarChar, 3, "abc"},
		{"string concat", "SELECT 'a' + 'bc'", tds.TypeBigVarChar, 3, "abc"},
		{"int plus", "SELECT 1 + 2", tds.TypeIntN, 4, int64(3)},
		{"integer division", "SELECT 7 / 2", tds.TypeIntN, 4, int64(3)},
		{"count", "SELECT COUNT(*) FROM dbo.customers", tds.TypeIntN, 4, int64(sampleCustomers)},
		{"count_big", "SELECT COUNT_BIG(*) FROM dbo.customers", tds.TypeIntN, 8, int64(sampleCustomers)},
		{"sum decimal", "SELECT SUM(amount) FROM sales.orders WHERE id <= 2", tds.TypeDecimalN, 17, "121.57"},
		{"min int", "SELECT MIN(id) FROM dbo.customers", tds.TypeIntN, 4, int64(1)},
		{"max nvarchar", "SELECT MAX(name) FROM dbo.customers WHERE id < 3", tds.TypeNVarChar, 200, "Customer 2"},
		{"avg int", "SELECT AVG(id) FROM dbo.customers", tds.TypeIntN, 4, int64(100)},
		{"column varchar", "SELECT email FROM dbo.customers WHERE id = 1", tds.TypeBigVarChar, 200, "customer1@example.com"},
		{"subquery", "SELECT (SELECT COUNT(*) FROM sales.orders WHERE customer_id = 1)", tds.TypeIntN, 4, int64(2)},
		{"case", "SELECT CASE WHEN 1 = 1 THEN 'yes' ELSE 'no' END", tds.TypeBigVarChar, 3, "yes"},
		{"in subquery", "SELECT COUNT(*) FROM dbo.customers WHERE id IN (SELECT customer_id FROM sales.orders WHERE id < 4)", tds.TypeIntN, 4, int64(3)},
		{"@@servername", "SELECT @@SERVERNAME", tds.TypeNVarChar, 256, "SIMTEST"},
		{"@@spid", "SELECT @@SPID", tds.TypeIntN, 2, int64(s.SPID())},
		{"@@trancount", "SELECT @@TRANCOUNT", tds.TypeIntN, 4, int64(0)},
		{"db_name", "SELECT DB_NAME()", tds.TypeNVarChar, 256, "demo"},
		{"suser_sname", "SELECT SUSER_SNAME()", tds.TypeNVarChar, 256, "tester"},
		{"serverproperty servername", "SELECT SERVERPROPERTY('ServerName')", tds.TypeVariant, 8016, tds.Variant{Type: tds.TypeInfo{Type: tds.TypeNVarChar, Size: 256, Collation: tds.DefaultCollation}, Value: "SIMTEST"}},
		{"serverproperty hadr", "SELECT SERVERPROPERTY('IsHadrEnabled')", tds.TypeVariant, 8016, tds.Variant{Type: tds.TypeInfo{Type: tds.TypeInt4, Size: 4}, Value: int64(1)}},
		{"updateability", "SELECT DATABASEPROPERTYEX(DB_NAME(), 'Updateability')", tds.TypeVariant, 8016, tds.Variant{Type: tds.TypeInfo{Type: tds.TypeNVarChar, Size: 256, Collation: tds.DefaultCollation}, Value: "READ_WRITE"}},
		{"is primary", "SELECT sys.fn_hadr_is_primary_replica('demo')", tds.TypeBitN, 1, true},
		{"object_id exists", "SELECT CASE WHEN OBJECT_ID('dbo.customers') IS NOT NULL THEN 1 ELSE 0 END", tds.TypeIntN, 4, int64(1)},
		{"object_id missing", "SELECT OBJECT_ID('dbo.nope')", tds.TypeIntN, 4, nil},
		{"three-part name", "SELECT COUNT(*) FROM demo.sales.orders", tds.TypeIntN, 4, int64(sampleOrders)},
		{"bracketed names", "SELECT [name] FROM [dbo].[customers] WHERE [id] = 2", tds.TypeNVarChar, 200, "Customer 2"},
		{"quoted names", `SELECT "name" FROM "dbo"."customers" WHERE "id" = 3`, tds.TypeNVarChar, 200, "Customer 3"},
		{"numbers max", "SELECT MAX(n) FROM dbo.numbers", tds.TypeIntN, 4, int64(sampleNumbers)},
		{"numbers <=", "SELECT COUNT(*) FROM dbo.numbers WHERE n <= 41", tds.TypeIntN, 4, int64(41)},
		{"numbers >", "SELECT COUNT(*) FROM dbo.numbers WHERE n > 99990", tds.TypeIntN, 4, int64(10)},
		{"numbers between", "SELECT SUM(n) FROM dbo.numbers WHERE n BETWEEN 10 AND 12", tds.TypeIntN, 4, int64(33)},
		{"numbers =", "SELECT n FROM dbo.numbers WHERE n = 7", tds.TypeIntN, 4, int64(7)},
		{"numbers desc", "SELECT TOP 1 n FROM dbo.numbers ORDER BY n DESC", tds.TypeIntN, 4, int64(sampleNumbers)},
		{"numbers float bounds", "SELECT COUNT(*) FROM dbo.numbers WHERE n >= 2.5 AND n < 5", tds.TypeIntN, 4, int64(2)},
		{"numbers parameter-like var", "DECLARE @k int = 3 SELECT COUNT(*) FROM dbo.numbers WHERE n < @k", tds.TypeIntN, 4, int64(2)},
		{"dateadd", "SELECT DATEADD(day, 1, CAST('2024-02-28' AS date))", tds.TypeDateN, 0, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"datediff", "SELECT DATEDIFF(day, '2024-01-01', '2024-03-01')", tds.TypeIntN, 4, int64(60)},
		{"case-insensitive compare", "SELECT COUNT(*) FROM dbo.customers WHERE name = 'CUSTOMER 1'", tds.TypeIntN, 4, int64(1)},
		{"concat null", "SELECT 'a' + NULL", tds.TypeBigVarChar, 1, nil},
		{"coalesce", "SELECT COALESCE(NULL, N'x')", tds.TypeNVarChar, 2, "x"},
		{"replicate", "SELECT REPLICATE('ab', 3)", tds.TypeBigVarChar, tds.PLPSize, "ababab"},
		{"values table", "SELECT SUM(x) FROM (VALUES (1),(2),(3)) a(x)", tds.TypeIntN, 4, int64(6)},
		{"top with variable-free order", "SELECT TOP 1 id FROM dbo.customers ORDER BY id DESC", tds.TypeIntN, 4, int64(sampleCustomers)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRun(t, s, tc.sql)
			if len(r.sets) != 1 || len(r.sets[0].cols) != 1 {
				t.Fatalf("want one result column, got events %v", r.events)
			}
			col := r.sets[0].cols[0]
			if col.Type.Type != tc.typ || (tc.size != 0 && col.Type.Size != tc.size) {
				t.Errorf("type = %v (size %d), want %v size %d", col.Type, col.Type.Size, tc.typ, tc.size)
			}
			got := r.scalar(t)
			if !equalValue(got, tc.value) {
				t.Errorf("value = %#v (%T), want %#v", got, got, tc.value)
			}
		})
	}
}

func mustGUID(s string) tds.GUID {
	g, err := tds.ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

func equalValue(a, b any) bool {
	switch x := a.(type) {
	case []byte:
		y, ok := b.([]byte)
		return ok && string(x) == string(y)
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case float64:
		y, ok := b.(float64)
		return ok && math.Abs(x-y) < 1e-9
	}
	return reflect.DeepEqual(a, b)
}

// TestAllTypesRow checks the documented values of dbo.all_types (doc.go).
func TestAllTypesRow(t *testing.T) {
	t.Parallel()
	s := session(t, sample(t), "demo")
	r := mustRun(t, s, "SELECT * FROM dbo.all_types ORDER BY id")
	if len(r.sets) != 1 || len(r.sets[0].rows) != 2 {
		t.Fatalf("events %v", r.events)
	}
	cols := r.sets[0].cols
	row := r.sets[0].rows[0]
	want := map[string]struct {
		typ tds.DataType
		val any
	}{
		"c_int":              {tds.TypeIntN, int64(42)},
		"c_bigint":           {tds.TypeIntN, int64(9007199254740993)},
		"c_smallint":         {tds.TypeIntN, int64(32767)},
		"c_tinyint":          {tds.TypeIntN, int64(255)},
		"c_bit":              {tds.TypeBitN, true},
		"c_decimal":          {tds.TypeDecimalN, "12345.6789"},
		"c_numeric":          {tds.TypeNumericN, "-98765.43"},
		"c_float":            {tds.TypeFltN, 3.141592653589793},
		"c_real":             {tds.TypeFltN, 2.5},
		"c_money":            {tds.TypeMoneyN, tds.Money(12345678)},
		"c_nvarchar":         {tds.TypeNVarChar, "héllo wörld ☃"},
		"c_varchar":          {tds.TypeBigVarChar, "plain ascii"},
		"c_varbinary":        {tds.TypeBigVarBin, []byte{0xDE, 0xAD, 0xBE, 0xEF}},
		"c_varbinarymax":     {tds.TypeBigVarBin, []byte{1, 2, 3, 4, 5}},
		"c_datetime":         {tds.TypeDateTimeN, time.Date(2024, 2, 29, 13, 45, 30, 123e6, time.UTC)},
		"c_datetime2":        {tds.TypeDateTime2N, time.Date(2024, 2, 29, 13, 45, 30, 123456700, time.UTC)},
		"c_date":             {tds.TypeDateN, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		"c_time":             {tds.TypeTimeN, time.Date(1, 1, 1, 13, 45, 30, 123456700, time.UTC)},
		"c_uniqueidentifier": {tds.TypeGUID, mustGUID("6F9619FF-8B86-D011-B42D-00C04FC964FF")},
	}
	for i, c := range cols {
		if w, ok := want[c.Name]; ok {
			if c.Type.Type != w.typ {
				t.Errorf("%s: type %v, want %v", c.Name, c.Type, w.typ)
			}
			if !equalValue(row[i], w.val) {
				t.Errorf("%s: value %#v, want %#v", c.Name, row[i], w.val)
			}
		}
		if c.Name == "c_nvarcharmax" {
			if s, _ := row[i].(string); len(s) != 6000 || c.Type.Size != tds.PLPSize {
				t.Errorf("c_nvarcharmax: %d chars, type %v", len(s), c.Type)
			}
		}
		if c.Name == "c_varcharmax" {
			if s, _ := row[i].(string); len(s) != 9000 || c.Type.Size != tds.PLPSize {
				t.Errorf("c_varcharmax: %d chars, type %v", len(s), c.Type)
			}
		}
		if r.sets[0].rows[1][i] != nil && c.Name != "id" {
			t.Errorf("row 2 %s = %v, want NULL", c.Name, r.sets[0].rows[1][i])
		}
	}
	if len(cols) != 22 {
		t.Errorf("all_types has %d columns, want 22", len(cols))
	}
}

// TestColumnNames checks aliases and unnamed expressions.
func TestColumnNames(t *testing.T) {
	t.Parallel()
	s := session(t, sample(t), "demo")
	tests := []struct{ sql, want string }{
		{"SELECT 1 AS x, 2 y, z = 3, 4", "x,y,z,"},
		{"SELECT id, name AS [customer name] FROM dbo.customers WHERE id = 1", "id,customer name"},
		{"SELECT c.id, c.name FROM dbo.customers c WHERE c.id = 1", "id,name"},
		{"SELECT COUNT(*) FROM dbo.customers", ""},
		{"SELECT * FROM sales.order_lines WHERE id = 1", "id,order_id,line_no,product,quantity,unit_price"},
		{"SELECT customers.id FROM dbo.customers WHERE customers.id = 1", "id"},
	}
	for _, tc := range tests {
		t.Run(tc.sql, func(t *testing.T) {
			r := mustRun(t, s, tc.sql)
			if got := colNames(r.sets[0].cols); got != tc.want {
				t.Errorf("columns %q, want %q", got, tc.want)
			}
		})
	}
}

// TestMultiStatementBatch runs several statements without semicolons.
func TestMultiStatementBatch(t *testing.T) {
	t.Parallel()
	s := session(t, fresh(t), "master")
	r := mustRun(t, s, `CREATE TABLE t(id int primary key, v nvarchar(20))
INSERT t VALUES (1, N'one'), (2, N'two')
SELECT id, v FROM t ORDER BY id
UPDATE t SET v = UPPER(v)
DELETE FROM t WHERE id = 2
SELECT v FROM t`)
	want := []StatementResult{
		{CurCmd: 0xC6},
		{RowCount: 2, HasCount: true, CurCmd: 0xC3},
		{RowCount: 2, HasCount: true, CurCmd: 0xC1},
		{RowCount: 2, HasCount: true, CurCmd: 0xC5},
		{RowCount: 1, HasCount: true, CurCmd: 0xC4},
		{RowCount: 1, HasCount: true, CurCmd: 0xC1},
	}
	if len(r.dones) != len(want) {
		t.Fatalf("dones %v, want %v", r.dones, want)
	}
	for i := range want {
		if r.dones[i] != want[i] {
			t.Errorf("done %d = %+v, want %+v", i, r.dones[i], want[i])
		}
	}
	if got := r.sets[1].rows[0][0]; got != "ONE" {
		t.Errorf("after UPDATE: %v", got)
	}
}

// TestNoCount checks that SET NOCOUNT ON clears DONE_COUNT.
func TestNoCount(t *testing.T) {
	t.Parallel()
	s := session(t, sample(t), "demo")
	r := mustRun(t, s, "SET NOCOUNT ON; SELECT TOP 2 id FROM dbo.customers")
	if len(r.dones) != 1 || r.dones[0].HasCount || r.dones[0].RowCount != 2 {
		t.Errorf("dones %+v", r.dones)
	}
	r = mustRun(t, s, "SET NOCOUNT OFF SELECT 1")
	if !r.dones[0].HasCount {
		t.Errorf("NOCOUNT OFF: %+v", r.dones)
	}
}
