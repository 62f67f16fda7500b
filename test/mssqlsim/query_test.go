package mssqlsim

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
)

func TestBatchesAndErrors(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{})
	ctx := testCtx(t)
	db := openDB(t, c.Primary(), nil)
	db.SetMaxOpenConns(1) // one session: the errors must leave it usable

	if _, err := db.ExecContext(ctx, `CREATE TABLE dbo.batch_t (id int PRIMARY KEY, v nvarchar(20));
INSERT INTO dbo.batch_t VALUES (1, N'one'), (2, N'two');
UPDATE dbo.batch_t SET v = UPPER(v) WHERE id = 2`); err != nil {
		t.Fatalf("multi-statement batch: %v", err)
	}
	res, err := db.ExecContext(ctx, "DELETE FROM dbo.batch_t WHERE id = 1")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Errorf("DELETE affected %d rows, want 1", n)
	}

	errCases := []struct {
		name   string
		query  string
		number int32
	}{
		{"missing table", "SELECT * FROM dbo.no_such_table", 208},
		{"duplicate key", "INSERT INTO dbo.batch_t VALUES (2, N'again')", 2627},
		{"divide by zero", "SELECT 1/0", 8134},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.ExecContext(ctx, tc.query)
			var me mssql.Error
			if !errors.As(err, &me) || me.Number != tc.number {
				t.Fatalf("%s: error = %v, want SQL Server error %d", tc.query, err, tc.number)
			}
			if me.ServerName != "mssqlsim-primary" {
				t.Errorf("error server name = %q", me.ServerName)
			}
			// The session is still usable.
			if got := queryInt(t, ctx, db, "SELECT COUNT(*) FROM dbo.batch_t"); got != 1 {
				t.Errorf("row count after the error = %d, want 1", got)
			}
		})
	}

	// Several result sets in one batch.
	rows, err := db.QueryContext(ctx, "SELECT 1 AS a; SELECT N'x' AS b, 2 AS c")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var sets int
	for {
		for rows.Next() {
		}
		sets++
		if !rows.NextResultSet() {
			break
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if sets != 2 {
		t.Errorf("got %d result sets, want 2", sets)
	}
}

// TestParameters runs sp_executesql (go-mssqldb sends every parameterised
// query so, also for prepared statements) with parameters of many types.
func TestParameters(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{})
	ctx := testCtx(t)
	db := openDB(t, c.Primary(), nil)
	when := time.Date(2024, 5, 17, 10, 30, 15, 0, time.UTC)
	var (
		i  int64
		s  string
		f  float64
		b  bool
		bs []byte
		tm time.Time
		n  sql.NullString
	)
	err := db.QueryRowContext(ctx, "SELECT @p1, @p2, @p3, @p4, @p5, @p6, @p7",
		int64(1234567890123), "héllo wörld", 3.25, true, []byte{0, 1, 2, 0xFF}, when, nil).
		Scan(&i, &s, &f, &b, &bs, &tm, &n)
	if err != nil {
		t.Fatal(err)
	}
	if i != 1234567890123 || s != "héllo wörld" || f != 3.25 || !b || string(bs) != "\x00\x01\x02\xff" || !tm.Equal(when) || n.Valid {
		t.Errorf("round trip = %v %q %v %v %x %v %v", i, s, f, b, bs, tm, n)
	}

	// Named parameters and a prepared statement used several times.
	if _, err := db.ExecContext(ctx, "CREATE TABLE dbo.param_t (id int, name nvarchar(50))"); err != nil {
		t.Fatal(err)
	}
	stmt, err := db.PrepareContext(ctx, "INSERT INTO dbo.param_t (id, name) VALUES (@id, @name)")
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	for k := range 5 {
		if _, err := stmt.ExecContext(ctx, sql.Named("id", k), sql.Named("name", fmt.Sprintf("n%d", k))); err != nil {
			t.Fatal(err)
		}
	}
	var name string
	if err := db.QueryRowContext(ctx, "SELECT name FROM dbo.param_t WHERE id = @p1", 3).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if name != "n3" {
		t.Errorf("name = %q, want n3", name)
	}
}

// TestTransactions uses database/sql transactions, which go-mssqldb runs
// with transaction manager requests (ENVCHANGE 8/9/10), and T-SQL ones.
func TestTransactions(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{})
	ctx := testCtx(t)
	db := openDB(t, c.Primary(), nil)
	if _, err := db.ExecContext(ctx, "CREATE TABLE dbo.tx_t (id int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	insert := func(tx *sql.Tx, id int) {
		t.Helper()
		if _, err := tx.ExecContext(ctx, "INSERT INTO dbo.tx_t VALUES (@p1)", id); err != nil {
			t.Fatal(err)
		}
		if got := queryInt(t, ctx, tx, "SELECT @@TRANCOUNT"); got != 1 {
			t.Errorf("@@TRANCOUNT inside the transaction = %d, want 1", got)
		}
	}

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	insert(tx, 1)
	if err := tx.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}

	tx, err = db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable})
	if err != nil {
		t.Fatal(err)
	}
	insert(tx, 2)
	if err := tx.Rollback(); err != nil {
		t.Fatalf("Rollback: %v", err)
	}

	if _, err := db.ExecContext(ctx, "BEGIN TRAN; INSERT INTO dbo.tx_t VALUES (3); ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "BEGIN TRANSACTION; INSERT INTO dbo.tx_t VALUES (4); COMMIT TRANSACTION"); err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, "SELECT id FROM dbo.tx_t ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if fmt.Sprint(ids) != "[1 4]" {
		t.Errorf("committed ids = %v, want [1 4]", ids)
	}
}

// TestCancelWaitfor cancels a running WAITFOR DELAY through the context:
// go-mssqldb sends an Attention, the server must stop at once and answer
// DONE_ATTN, and the connection stays usable.
func TestCancelWaitfor(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{})
	db := openDB(t, c.Primary(), nil)
	db.SetMaxOpenConns(1)
	ctx := testCtx(t)
	if err := db.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	qctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := db.ExecContext(qctx, "WAITFOR DELAY '00:00:20'")
	if err == nil {
		t.Fatal("WAITFOR DELAY '00:00:20' with a 200ms context returned no error")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("cancel took %s", d)
	}
	if got := queryInt(t, ctx, db, "SELECT 7"); got != 7 {
		t.Errorf("SELECT 7 after the cancel = %d", got)
	}
}

// TestLargeResults streams a result of many rows over many packets and a
// 2 MB nvarchar(max) value both ways.
func TestLargeResults(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{})
	// Generous: under -race the bulk load alone takes half a minute.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	db := openDB(t, c.Primary(), nil)

	// Sequential: SQLite has one writer, and a transaction that read before
	// writing can fail with 1222 when another writer is active.
	t.Run("2 MB nvarchar(max)", func(t *testing.T) {
		big := strings.Repeat("0123456789ABCDEFghijklmnopqrstuvwxyzäöü€", 2<<20/40)
		if _, err := db.ExecContext(ctx, "CREATE TABLE dbo.big_t (id int, doc nvarchar(max))"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, "INSERT INTO dbo.big_t VALUES (1, @p1)", big); err != nil {
			t.Fatal(err)
		}
		var got string
		if err := db.QueryRowContext(ctx, "SELECT doc FROM dbo.big_t WHERE id = 1").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != big {
			t.Fatalf("read back %d characters, want %d", len(got), len(big))
		}
	})
	t.Run("60k rows", func(t *testing.T) {
		const n = 60000
		loadRows(t, ctx, db, "dbo.many_t", n)
		rows, err := db.QueryContext(ctx, "SELECT id, name FROM dbo.many_t ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		count := 0
		for rows.Next() {
			var id int
			var name string
			if err := rows.Scan(&id, &name); err != nil {
				t.Fatal(err)
			}
			if id != count || name != fmt.Sprintf("row %d", count) {
				t.Fatalf("row %d = %d %q", count, id, name)
			}
			count++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if count != n {
			t.Errorf("read %d rows, want %d", count, n)
		}
	})
}

// loadRows creates table (id int, name nvarchar(50)) and bulk-loads n rows
// with go-mssqldb's CopyIn (INSERT BULK + a bulk load message).
func loadRows(t testing.TB, ctx context.Context, db *sql.DB, table string, n int) {
	t.Helper()
	if _, err := db.ExecContext(ctx, "CREATE TABLE "+table+" (id int PRIMARY KEY, name nvarchar(50))"); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, mssql.CopyIn(table, mssql.BulkOptions{}, "id", "name"))
	if err != nil {
		t.Fatalf("CopyIn prepare: %v", err)
	}
	for i := range n {
		if _, err := stmt.ExecContext(ctx, i, fmt.Sprintf("row %d", i)); err != nil {
			t.Fatalf("CopyIn row %d: %v", i, err)
		}
	}
	res, err := stmt.ExecContext(ctx)
	if err != nil {
		t.Fatalf("CopyIn flush: %v", err)
	}
	if got, _ := res.RowsAffected(); got != int64(n) {
		t.Errorf("CopyIn loaded %d rows, want %d", got, n)
	}
	if err := stmt.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}
