package load

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"p50 of 1..100", ms(hundred...), 50, 50 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 99, 99 * time.Millisecond},
		{"max", ms(hundred...), 100, 100 * time.Millisecond},
		{"min", ms(hundred...), 0, 1 * time.Millisecond},
		{"p50 of 4", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p90 of 4", ms(1, 2, 3, 4), 90, 4 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("Percentile(p%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	ok := Options{Conns: 1, Duration: time.Second, Query: "SELECT 1"}
	tests := []struct {
		name string
		mod  func(*Options)
		want string // "" = valid
	}{
		{"valid", func(*Options) {}, ""},
		{"count only", func(o *Options) { o.Duration = 0; o.Count = 10 }, ""},
		{"no conns", func(o *Options) { o.Conns = 0 }, "conns"},
		{"too many conns", func(o *Options) { o.Conns = MaxConns + 1 }, "conns"},
		{"unbounded", func(o *Options) { o.Duration = 0 }, "duration or a count"},
		{"too long", func(o *Options) { o.Duration = MaxDuration + time.Second }, "limit"},
		{"negative warmup", func(o *Options) { o.Warmup = -1 }, "negative"},
		{"no query", func(o *Options) { o.Query = "" }, "query"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := ok
			tc.mod(&o)
			err := o.Validate()
			if tc.want == "" {
				if err != nil {
					t.Errorf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// fakeDriver is a database/sql driver whose queries return rows of fixed
// width after a fixed delay; "fail" queries return an error. It lets Run's
// counting be checked exactly, without a server.
type fakeDriver struct {
	delay   time.Duration
	rows    int
	width   int
	opened  atomic.Int32
	queries atomic.Int64
}

func (d *fakeDriver) Open(string) (driver.Conn, error) {
	d.opened.Add(1)
	return &fakeConn{d: d}, nil
}

type fakeConn struct{ d *fakeDriver }

func (c *fakeConn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("not supported") }
func (c *fakeConn) Close() error                        { return nil }
func (c *fakeConn) Begin() (driver.Tx, error)           { return nil, errors.New("not supported") }

func (c *fakeConn) QueryContext(ctx context.Context, query string, _ []driver.NamedValue) (driver.Rows, error) {
	c.d.queries.Add(1)
	select {
	case <-time.After(c.d.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if query == "flaky" && c.d.queries.Load()%5 == 0 {
		return nil, driver.ErrBadConn
	}
	if query == "fail" {
		return nil, errors.New("mssql: Invalid object name 'nope'")
	}
	return &fakeRows{left: c.d.rows, width: c.d.width}, nil
}

type fakeRows struct{ left, width int }

func (r *fakeRows) Columns() []string { return []string{"a", "b"} }
func (r *fakeRows) Close() error      { return nil }
func (r *fakeRows) Next(dest []driver.Value) error {
	if r.left == 0 {
		return io.EOF
	}
	r.left--
	dest[0] = bytes.Repeat([]byte("x"), r.width)
	dest[1] = int64(1)
	return nil
}

var driverSeq atomic.Int32

func openFake(t *testing.T, d *fakeDriver) *sql.DB {
	t.Helper()
	name := "tdsload-fake-" + string(rune('a'+driverSeq.Add(1)))
	sql.Register(name, d)
	db, err := sql.Open(name, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestRunCountsExactly(t *testing.T) {
	t.Parallel()
	d := &fakeDriver{delay: time.Millisecond, rows: 3, width: 10}
	db := openFake(t, d)
	res, err := Run(context.Background(), db, Options{Conns: 4, Count: 200, Duration: time.Minute, Query: "q"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 200 || res.Errors != 0 {
		t.Errorf("requests/errors = %d/%d, want 200/0", res.Requests, res.Errors)
	}
	if res.Rows != 600 {
		t.Errorf("rows = %d, want 600", res.Rows)
	}
	// Each row: 10 bytes of "x" plus the int64 rendered as "1".
	if res.Bytes != 600*11 {
		t.Errorf("bytes = %d, want %d", res.Bytes, 600*11)
	}
	if d.opened.Load() != 4 {
		t.Errorf("opened %d connections, want 4", d.opened.Load())
	}
	if res.P50 < time.Millisecond || res.P99 < res.P50 || res.Max < res.P99 {
		t.Errorf("latencies p50 %v p99 %v max %v are not ordered or below the 1ms delay", res.P50, res.P99, res.Max)
	}
	if res.Rate() <= 0 || res.MBps() <= 0 {
		t.Errorf("rate %v MB/s %v", res.Rate(), res.MBps())
	}
}

func TestRunStopsAtDuration(t *testing.T) {
	t.Parallel()
	d := &fakeDriver{delay: 2 * time.Millisecond, rows: 1, width: 1}
	db := openFake(t, d)
	start := time.Now()
	res, err := Run(context.Background(), db, Options{Conns: 2, Duration: 200 * time.Millisecond,
		Warmup: 50 * time.Millisecond, Query: "q"})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("run took %v for a 200ms duration", el)
	}
	if res.Requests == 0 || res.Errors != 0 {
		t.Errorf("requests/errors = %d/%d", res.Requests, res.Errors)
	}
	// Warm-up queries ran but are not counted.
	if d.queries.Load() <= res.Requests {
		t.Errorf("driver saw %d queries, measured %d: warm-up missing", d.queries.Load(), res.Requests)
	}
}

func TestRunCountsErrors(t *testing.T) {
	t.Parallel()
	db := openFake(t, &fakeDriver{})
	res, err := Run(context.Background(), db, Options{Conns: 1, Count: 5, Duration: time.Minute, Query: "fail"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 5 || res.Requests != 0 {
		t.Errorf("requests/errors = %d/%d, want 0/5", res.Requests, res.Errors)
	}
	if res.FirstError == nil || !strings.Contains(res.FirstError.Error(), "Invalid object") {
		t.Errorf("FirstError = %v", res.FirstError)
	}
}

func TestMainArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no target", nil, 2, "give -dsn"},
		{"bad target", []string{"-target", "nodsn"}, 2, "NAME=DSN"},
		{"bad conns", []string{"-dsn", "sqlserver://x", "-conns", "1,zero"}, 2, "zero"},
		{"too long", []string{"-dsn", "sqlserver://x", "-duration", "11m"}, 2, "limit"},
		{"no connect timeout", []string{"-dsn", "sqlserver://x", "-connect-timeout", "0s"}, 2, "-connect-timeout"},
		{"help", []string{"-h"}, 0, "tdsload"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			code := Main(context.Background(), tc.args, &out, &errb)
			if code != tc.code {
				t.Errorf("code = %d, want %d (stderr %q)", code, tc.code, errb.String())
			}
			if !strings.Contains(errb.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", errb.String(), tc.want)
			}
		})
	}
}

func TestPrintTableHidesDSN(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	rows := []Row{makeRow("direct", 1, Result{Requests: 10, Elapsed: time.Second, P50: time.Millisecond}),
		makeRow("proxied", 1, Result{Requests: 8, Elapsed: time.Second})}
	rows[1].Ratio = 0.8
	PrintTable(&b, rows)
	out := b.String()
	for _, w := range []string{"direct", "proxied", "0.80", "1.00ms"} {
		if !strings.Contains(out, w) {
			t.Errorf("table lacks %q:\n%s", w, out)
		}
	}
}

// TestRunReplacesBadConnections guards against a dead connection turning
// into millions of instant errors: the worker opens a new one.
func TestRunReplacesBadConnections(t *testing.T) {
	t.Parallel()
	d := &fakeDriver{rows: 1, width: 1}
	db := openFake(t, d)
	res, err := Run(context.Background(), db, Options{Conns: 1, Count: 20, Duration: time.Minute, Query: "flaky"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 4 || res.Requests != 16 {
		t.Errorf("requests/errors = %d/%d, want 16/4", res.Requests, res.Errors)
	}
	if d.opened.Load() != 5 {
		t.Errorf("driver opened %d connections, want 1 + 4 replacements", d.opened.Load())
	}
}
