package sqlengine

import (
	"context"
	"fmt"

	"github.com/tdsproxy/tdsproxy/tds"
)

// sampleDDL creates the demo database's tables (see doc.go).
const sampleDDL = `
CREATE SCHEMA sales;
CREATE TABLE dbo.customers (
	id int IDENTITY(1,1) PRIMARY KEY,
	name nvarchar(100) NOT NULL,
	email varchar(200) NULL,
	created datetime2 NOT NULL DEFAULT SYSDATETIME()
);
CREATE TABLE sales.orders (
	id int IDENTITY(1,1) PRIMARY KEY,
	customer_id int NOT NULL,
	amount decimal(12,2) NOT NULL,
	placed_at datetime NOT NULL,
	status varchar(20) NOT NULL
);
CREATE TABLE sales.order_lines (
	id int IDENTITY(1,1) PRIMARY KEY,
	order_id int NOT NULL,
	line_no int NOT NULL,
	product nvarchar(100) NOT NULL,
	quantity int NOT NULL,
	unit_price decimal(10,2) NOT NULL
);
CREATE TABLE dbo.all_types (
	id int NOT NULL PRIMARY KEY,
	c_int int, c_bigint bigint, c_smallint smallint, c_tinyint tinyint, c_bit bit,
	c_decimal decimal(18,4), c_numeric numeric(10,2), c_float float, c_real real, c_money money,
	c_nvarchar nvarchar(50), c_varchar varchar(50), c_nvarcharmax nvarchar(max), c_varcharmax varchar(max),
	c_varbinary varbinary(50), c_varbinarymax varbinary(max),
	c_datetime datetime, c_datetime2 datetime2, c_date date, c_time time, c_uniqueidentifier uniqueidentifier
);
INSERT INTO dbo.all_types VALUES (1, 42, 9007199254740993, 32767, 255, 1,
	12345.6789, -98765.43, 3.141592653589793, 2.5, 1234.5678,
	N'héllo wörld ☃', 'plain ascii', REPLICATE(N'ab', 3000), REPLICATE('y', 9000),
	0xDEADBEEF, 0x0102030405,
	'2024-02-29 13:45:30.123', '2024-02-29 13:45:30.1234567', '2024-02-29', '13:45:30.1234567',
	'6F9619FF-8B86-D011-B42D-00C04FC964FF');
INSERT INTO dbo.all_types (id) VALUES (2);
`

// Sample row counts.
const (
	sampleCustomers = 200
	sampleOrders    = 500
	sampleNumbers   = 100000
)

// sampleData fills the generated tables with deterministic rows (SQLite SQL).
var sampleData = []string{
	fmt.Sprintf(`INSERT INTO demo."dbo.customers" (id, name, email, created)
		WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d)
		SELECT i, 'Customer ' || i, 'customer' || i || '@example.com',
			date('2024-01-01', '+' || (i %% 365) || ' days') || ' 09:00:00.0000000' FROM c`, sampleCustomers),
	fmt.Sprintf(`INSERT INTO demo."sales.orders" (id, customer_id, amount, placed_at, status)
		WITH RECURSIVE o(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM o WHERE i < %d)
		SELECT i, (i %% %d) + 1, ((i * 3719) %% 100000) / 100.0 + 5,
			date('2024-01-01', '+' || (i %% 300) || ' days') || ' ' || printf('%%02d:%%02d:00.000', i %% 24, i %% 60),
			CASE i %% 4 WHEN 0 THEN 'new' WHEN 1 THEN 'paid' WHEN 2 THEN 'shipped' ELSE 'cancelled' END FROM o`, sampleOrders, sampleCustomers),
	`INSERT INTO demo."sales.order_lines" (order_id, line_no, product, quantity, unit_price)
		SELECT o.id, l.n, 'Product ' || ((o.id * 7 + l.n) % 50 + 1), (o.id + l.n) % 5 + 1, ((o.id * 13 + l.n) % 2000) / 10.0 + 1
		FROM demo."sales.orders" o CROSS JOIN (SELECT 1 AS n UNION ALL SELECT 2) l ORDER BY o.id, l.n`,
	// dbo.numbers is a virtual table (numbers.go): nothing to store.
	fmt.Sprintf(`CREATE VIRTUAL TABLE demo."dbo.numbers" USING tsql_numbers(%d)`, sampleNumbers),
}

// createSampleData creates the demo database unless it exists already.
func (db *DB) createSampleData() error {
	if _, ok := db.database("demo"); ok {
		return nil
	}
	if _, err := db.addDatabase("demo"); err != nil {
		return err
	}
	s, err := db.newSession("sa", "demo", 0, false)
	if err != nil {
		return err
	}
	defer s.Close()
	w := &errorCollector{}
	if err := s.ExecBatch(context.Background(), sampleDDL, nil, w); err != nil {
		return err
	}
	if w.err != nil {
		return fmt.Errorf("sample schema: %s", w.err.Message)
	}
	if err := execConn(s.conn, "BEGIN"); err != nil {
		return err
	}
	for _, q := range sampleData {
		if err := execConn(s.conn, q); err != nil {
			_ = execConn(s.conn, "ROLLBACK")
			return fmt.Errorf("sample data: %w", err)
		}
	}
	return execConn(s.conn, "COMMIT")
}

// errorCollector is a ResultWriter that keeps the first error.
type errorCollector struct{ err *tds.ServerError }

func (c *errorCollector) Columns([]tds.Column) error          { return nil }
func (c *errorCollector) Row([]any) error                     { return nil }
func (c *errorCollector) StatementDone(StatementResult) error { return nil }
func (c *errorCollector) Info(tds.ServerError) error          { return nil }
func (c *errorCollector) EnvChange(tds.EnvChange) error       { return nil }
func (c *errorCollector) ReturnStatus(int32) error            { return nil }
func (c *errorCollector) ReturnValue(int, string, tds.TypeInfo, any) error {
	return nil
}
func (c *errorCollector) Error(e tds.ServerError) error {
	if c.err == nil {
		c.err = &e
	}
	return nil
}
