package e2e

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	"github.com/shopspring/decimal"
)

// goClient is go-mssqldb, driven in process through database/sql.
type goClient struct{}

func (goClient) Name() string                  { return "go-mssqldb" }
func (goClient) Missing() string               { return "" }
func (goClient) NotApplicable(scenario) string { return "" }

// version is the go-mssqldb version the module builds with. Test binaries
// carry no dependency build info, so it is read from the module's go.mod.
func (goClient) version() string {
	b, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		return ""
	}
	if m := regexp.MustCompile(`(?m)^\s*github\.com/microsoft/go-mssqldb (v\S+)`).FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return ""
}

// goEncrypt maps a Mode to go-mssqldb's encrypt= setting (see CLIENTS.md).
var goEncrypt = map[Mode]string{
	ModePlain:     "disable", // ENCRYPT_NOT_SUP
	ModeLoginOnly: "false",   // ENCRYPT_OFF
	ModeTLS:       "true",    // ENCRYPT_ON
	ModeStrict:    "strict",  // TDS 8
}

func goDSN(r runSpec, addr string, readonly bool) string {
	q := url.Values{}
	q.Set("database", r.tg.Database)
	q.Set("encrypt", goEncrypt[r.sc.mode])
	if r.sc.mode == ModeStrict && r.tg.CAFile != "" {
		// In strict mode go-mssqldb always verifies the certificate.
		q.Set("certificate", r.tg.CAFile)
	} else {
		q.Set("TrustServerCertificate", "true")
	}
	q.Set("dial timeout", "10")
	q.Set("connection timeout", "60")
	if readonly {
		q.Set("ApplicationIntent", "ReadOnly")
	}
	u := &url.URL{Scheme: "sqlserver", User: url.UserPassword(r.tg.User, r.tg.Password), Host: addr, RawQuery: q.Encode()}
	return u.String()
}

func (c goClient) Run(ctx context.Context, r runSpec) (*Observation, error) {
	o := &Observation{Client: c.Name(), Scenario: r.sc.driver, Version: c.version()}
	if err := goScenario(ctx, r, o); err != nil {
		o.Failure = goErrInfo(err)
	}
	return o, nil
}

// goOpen opens one pinned connection (a *sql.Conn), so that every statement
// of a scenario runs on the same TDS session.
func goOpen(ctx context.Context, r runSpec, readonly bool) (*sql.DB, *sql.Conn, error) {
	addr := r.addr
	if readonly {
		addr = r.roAddr
	}
	connector, err := mssql.NewConnector(goDSN(r, addr, readonly))
	if err != nil {
		return nil, nil, fmt.Errorf("dsn: %w", err)
	}
	db := sql.OpenDB(connector)
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("connecting: %w", err)
	}
	return db, conn, nil
}

func goScalar(ctx context.Context, conn *sql.Conn, query string, args ...any) (any, error) {
	var v any
	if err := conn.QueryRowContext(ctx, query, args...).Scan(&v); err != nil {
		return nil, fmt.Errorf("%s: %w", query, err)
	}
	return v, nil
}

func goErrInfo(err error) *ErrInfo {
	if err == nil {
		return nil
	}
	e := &ErrInfo{Message: err.Error(), Class: fmt.Sprintf("%T", err)}
	var me mssql.Error
	if errors.As(err, &me) {
		e.Number = int64(me.Number)
		e.Class = "mssql.Error"
	}
	return e
}

func goScenario(ctx context.Context, r runSpec, o *Observation) error {
	readonly := r.sc.driver == "readonly"
	db, conn, err := goOpen(ctx, r, readonly)
	if err != nil {
		return err
	}
	defer db.Close()
	defer conn.Close()

	switch r.sc.driver {
	case "login":
		if o.ServerName, err = goScalar(ctx, conn, "SELECT @@SERVERNAME"); err != nil {
			return err
		}
		if o.Database, err = goScalar(ctx, conn, "SELECT DB_NAME()"); err != nil {
			return err
		}
		o.One, err = goScalar(ctx, conn, "SELECT 1")
		return err
	case "types":
		return goTypes(ctx, conn, o)
	case "params":
		d, _ := decimal.NewFromString("12.3450")
		ts := time.Date(2024, 2, 29, 13, 45, 30, 0, time.UTC)
		rows, err := conn.QueryContext(ctx, "SELECT @i AS i, @s AS s, @d AS d, @t AS t",
			sql.Named("i", int32(paramInt)), sql.Named("s", paramString), sql.Named("d", d), sql.Named("t", ts))
		if err != nil {
			return fmt.Errorf("params query: %w", err)
		}
		vals, err := goRows(rows)
		if err != nil {
			return err
		}
		if len(vals) != 1 {
			return fmt.Errorf("params query returned %d rows", len(vals))
		}
		o.Params = vals[0]
		o.ParamCount, err = goScalar(ctx, conn, "SELECT COUNT(*) FROM dbo.numbers WHERE n <= @n", sql.Named("n", int32(paramInt)))
		return err
	case "tx-commit", "tx-rollback":
		return goTx(ctx, r, conn, o)
	case "error":
		for _, q := range []string{"SELECT * FROM dbo.no_such_table_e2e", "SELECT 1/0"} {
			rows, err := conn.QueryContext(ctx, q)
			if err == nil {
				for rows.Next() {
				}
				err = rows.Err()
				rows.Close()
			}
			o.Errors = append(o.Errors, goErrInfo(err))
		}
		o.After, err = goScalar(ctx, conn, "SELECT 1")
		return err
	case "cancel":
		const cancelAfter = 300 * time.Millisecond
		o.CancelMechanism = "context cancellation (Attention)"
		qctx, cancel := context.WithCancel(ctx)
		timer := time.AfterFunc(cancelAfter, cancel)
		start := time.Now()
		_, err := conn.ExecContext(qctx, "WAITFOR DELAY '00:00:05'")
		o.ElapsedMS = time.Since(start).Milliseconds()
		o.CancelAfterMS = cancelAfter.Milliseconds()
		timer.Stop()
		cancel()
		o.CancelError = goErrInfo(err)
		o.After, err = goScalar(ctx, conn, "SELECT 1")
		return err
	case "large":
		rows, err := conn.QueryContext(ctx, fmt.Sprintf("SELECT n FROM dbo.numbers WHERE n <= %d", largeRows))
		if err != nil {
			return err
		}
		defer rows.Close()
		var count, sum int64
		for rows.Next() {
			var n int64
			if err := rows.Scan(&n); err != nil {
				return err
			}
			count++
			sum += n
		}
		if err := rows.Err(); err != nil {
			return err
		}
		o.Rows, o.Sum = count, sum
		return nil
	case "readonly":
		if o.ServerName, err = goScalar(ctx, conn, "SELECT @@SERVERNAME"); err != nil {
			return err
		}
		if o.ReadCount, err = goScalar(ctx, conn, "SELECT COUNT(*) FROM dbo.customers"); err != nil {
			return err
		}
		_, err = conn.ExecContext(ctx, fmt.Sprintf("CREATE TABLE dbo.%s (id int)", r.table))
		o.WriteError = goErrInfo(err)
		return nil
	}
	return fmt.Errorf("go-mssqldb: unknown scenario %q", r.sc.driver)
}

func goTypes(ctx context.Context, conn *sql.Conn, o *Observation) error {
	rows, err := conn.QueryContext(ctx, "SELECT * FROM dbo.all_types ORDER BY id")
	if err != nil {
		return fmt.Errorf("selecting dbo.all_types: %w", err)
	}
	vals, err := goRows(rows)
	if err != nil {
		return err
	}
	o.RowCount = int64(len(vals))
	if len(vals) > 0 {
		o.Row1 = vals[0]
	}
	if len(vals) > 1 {
		o.Row2 = vals[1]
	}
	return nil
}

// goRows reads every row as column name → Value, describing each value by
// the Go type go-mssqldb returned.
func goRows(rows *sql.Rows) ([]map[string]Value, error) {
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	var out []map[string]Value
	for rows.Next() {
		dest := make([]any, len(cts))
		ptrs := make([]any, len(cts))
		for i := range dest {
			ptrs[i] = &dest[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make(map[string]Value, len(cts))
		for i, ct := range cts {
			row[ct.Name()] = goValue(ct.DatabaseTypeName(), dest[i])
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

func goValue(dbType string, v any) Value {
	val := Value{SQLType: dbType}
	if v == nil {
		val.Type = "nil"
		return val
	}
	val.Type = reflect.TypeOf(v).String()
	switch x := v.(type) {
	case []byte:
		switch dbType {
		case "DECIMAL", "NUMERIC", "MONEY", "SMALLMONEY":
			val.Value = string(x) // go-mssqldb returns exact decimals as text bytes
		case "UNIQUEIDENTIFIER":
			var u mssql.UniqueIdentifier
			if err := u.Scan(x); err == nil {
				val.Type, val.Value = "mssql.UniqueIdentifier", u.String()
			} else {
				val.Value = hex.EncodeToString(x)
			}
		default:
			val.Value = hex.EncodeToString(x)
		}
	case time.Time:
		val.Value = x.Format("2006-01-02T15:04:05.999999999")
	default:
		val.Value = x
	}
	return val
}

func goTx(ctx context.Context, r runSpec, conn *sql.Conn, o *Observation) error {
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE TABLE dbo.%s (id int NOT NULL PRIMARY KEY, v nvarchar(20) NULL)", r.table)); err != nil {
		return fmt.Errorf("creating the table: %w", err)
	}
	defer func() {
		// Cleanup runs on its own connection: conn may be in a failed state.
		db2, c2, err := goOpen(context.WithoutCancel(ctx), r, false)
		if err == nil {
			c2.ExecContext(ctx, fmt.Sprintf("DROP TABLE dbo.%s", r.table))
			c2.Close()
			db2.Close()
		}
	}()
	tx, err := conn.BeginTx(ctx, nil) // TM BEGIN_XACT request
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	ins := fmt.Sprintf("INSERT INTO dbo.%s (id, v) VALUES (@id, @v)", r.table)
	for i, v := range []string{"one", "two"} {
		if _, err := tx.ExecContext(ctx, ins, sql.Named("id", i+1), sql.Named("v", v)); err != nil {
			tx.Rollback()
			return fmt.Errorf("insert %d: %w", i+1, err)
		}
	}
	var n int64
	if err := tx.QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) FROM dbo.%s", r.table)).Scan(&n); err != nil {
		tx.Rollback()
		return fmt.Errorf("count inside the transaction: %w", err)
	}
	o.CountInTx = n
	if r.sc.driver == "tx-commit" {
		err = tx.Commit()
	} else {
		err = tx.Rollback()
	}
	if err != nil {
		return fmt.Errorf("ending the transaction: %w", err)
	}
	db2, c2, err := goOpen(ctx, r, false)
	if err != nil {
		return fmt.Errorf("second connection: %w", err)
	}
	defer db2.Close()
	defer c2.Close()
	o.CountAfter, err = goScalar(ctx, c2, fmt.Sprintf("SELECT COUNT(*) FROM dbo.%s", r.table))
	return err
}
