// Package load is the engine of the tdsload tool: it runs one query over N
// connections of any SQL Server (through database/sql and go-mssqldb) for a
// bounded time or count and measures round trips per second, latency
// percentiles and result throughput.
package load

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Limits that keep a run bounded whatever the flags say.
const (
	MaxDuration = 10 * time.Minute
	MaxConns    = 10000
	// maxSamples caps the latencies kept per run (memory stays under ~16 MB);
	// past it, requests still count but their latency is not recorded.
	maxSamples = 2_000_000
)

// Options describe one measurement.
type Options struct {
	// Conns is the number of connections, each running queries back to back.
	Conns int
	// Duration bounds the measured phase (required unless Count is set;
	// never more than MaxDuration).
	Duration time.Duration
	// Count, if positive, stops after that many requests in total.
	Count int64
	// Warmup runs queries for this long before measuring (not counted).
	Warmup time.Duration
	// Query is the SQL text each request sends, e.g. "SELECT 1".
	Query string
	// ConnectTimeout bounds opening one connection (dial, login, ping);
	// 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// CPU, if set, is read at the start and the end of the measured phase
	// (e.g. ProcCPU of the proxy's pid); Result.CPU is the difference.
	CPU func() (time.Duration, error)
}

// Validate reports the first invalid option.
func (o Options) Validate() error {
	switch {
	case o.Conns < 1 || o.Conns > MaxConns:
		return fmt.Errorf("conns must be 1..%d, got %d", MaxConns, o.Conns)
	case o.Duration <= 0 && o.Count <= 0:
		return errors.New("give a duration or a count")
	case o.Duration > MaxDuration:
		return fmt.Errorf("duration %s is over the %s limit", o.Duration, MaxDuration)
	case o.Duration < 0 || o.Count < 0 || o.Warmup < 0 || o.ConnectTimeout < 0:
		return errors.New("duration, count, warmup and connect timeout must not be negative")
	case o.Warmup > MaxDuration:
		return fmt.Errorf("warmup %s is over the %s limit", o.Warmup, MaxDuration)
	case o.Query == "":
		return errors.New("query is empty")
	}
	return nil
}

// Result is one measurement.
type Result struct {
	Conns    int
	Requests int64         // completed without error
	Errors   int64         // failed requests
	Elapsed  time.Duration // measured phase, wall clock
	Rows     int64         // rows read
	Bytes    int64         // result data read (sum of column value lengths)
	P50, P90 time.Duration
	P99, Max time.Duration
	// FirstError is the first error seen, if any.
	FirstError error
	// CPU is the CPU time Options.CPU reported for the measured phase.
	CPU time.Duration
}

// CPUPerRequest is CPU divided by completed requests.
func (r Result) CPUPerRequest() time.Duration {
	if r.Requests == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Requests)
}

// Rate is completed requests per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// MBps is result data in MB (10^6 bytes) per second.
func (r Result) MBps() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Bytes) / 1e6 / r.Elapsed.Seconds()
}

// Run opens o.Conns connections from db, warms up, then measures. ctx
// cancels the run early (the partial result is returned with ctx's error).
func Run(ctx context.Context, db *sql.DB, o Options) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	db.SetMaxOpenConns(o.Conns)
	db.SetMaxIdleConns(o.Conns)
	conns := make([]*sql.Conn, 0, o.Conns)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for i := 0; i < o.Conns; i++ {
		c, err := openConn(ctx, db, o.ConnectTimeout)
		if err != nil {
			return Result{}, fmt.Errorf("opening connection %d of %d: %w", i+1, o.Conns, err)
		}
		conns = append(conns, c)
	}

	if o.Warmup > 0 {
		phase(ctx, db, conns, o, 0, o.Warmup, nil)
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
	}

	var cpu0 time.Duration
	if o.CPU != nil {
		c, err := o.CPU()
		if err != nil {
			return Result{}, err
		}
		cpu0 = c
	}
	rec := &recorder{}
	start := time.Now()
	phase(ctx, db, conns, o, o.Count, o.Duration, rec)
	res := rec.result(time.Since(start))
	res.Conns = o.Conns
	if o.CPU != nil {
		c, err := o.CPU()
		if err != nil {
			return res, err
		}
		res.CPU = c - cpu0
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, nil
}

// phase runs o.Query on every connection until d (if positive) has
// passed, count requests (if positive) have been claimed, or ctx ends; rec
// (if not nil) records them. The deadline is checked between requests, so
// no request is cancelled mid-flight (which would send an Attention and
// measure cancellation, not queries). A connection that goes bad is
// replaced from db; if that fails, its worker stops.
func phase(ctx context.Context, db *sql.DB, conns []*sql.Conn, o Options, count int64, d time.Duration, rec *recorder) {
	var stop atomic.Bool
	if d > 0 {
		t := time.AfterFunc(d, func() { stop.Store(true) })
		defer t.Stop()
	}
	var claimed atomic.Int64
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			var st workerStats
			for !stop.Load() && ctx.Err() == nil {
				if count > 0 && claimed.Add(1) > count {
					break
				}
				t0 := time.Now()
				rows, bytes, err := query1(ctx, conns[i], o.Query)
				el := time.Since(t0)
				if err != nil {
					if ctx.Err() != nil {
						break // cancelled by the user: not a server error
					}
					st.errors++
					if st.firstErr == nil {
						st.firstErr = err
					}
					if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
						_ = conns[i].Close()
						c, err := openConn(ctx, db, o.ConnectTimeout)
						if err != nil {
							break // conns[i] stays closed; Run's Close of it is a no-op
						}
						conns[i] = c
					}
					continue
				}
				st.requests++
				st.rows += rows
				st.bytes += bytes
				if rec != nil && len(local) < maxSamples/len(conns) {
					local = append(local, el)
				}
			}
			if rec != nil {
				rec.add(local, st)
			}
		}()
	}
	wg.Wait()
}

// query1 runs one request and reads its whole result.
func query1(ctx context.Context, c *sql.Conn, query string) (rows, bytes int64, err error) {
	rs, err := c.QueryContext(ctx, query)
	if err != nil {
		return 0, 0, err
	}
	defer rs.Close()
	for {
		cols, err := rs.Columns()
		if err != nil {
			return rows, bytes, err
		}
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rs.Next() {
			if err := rs.Scan(ptrs...); err != nil {
				return rows, bytes, err
			}
			rows++
			for _, v := range vals {
				bytes += int64(len(v))
			}
		}
		if !rs.NextResultSet() {
			break
		}
	}
	return rows, bytes, rs.Err()
}

type workerStats struct {
	requests, errors, rows, bytes int64
	firstErr                      error
}

// recorder gathers the workers' results.
type recorder struct {
	mu      sync.Mutex
	samples []time.Duration
	total   workerStats
}

func (r *recorder) add(samples []time.Duration, st workerStats) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples = append(r.samples, samples...)
	r.total.requests += st.requests
	r.total.errors += st.errors
	r.total.rows += st.rows
	r.total.bytes += st.bytes
	if r.total.firstErr == nil {
		r.total.firstErr = st.firstErr
	}
}

func (r *recorder) result(elapsed time.Duration) Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	slices.Sort(r.samples)
	return Result{
		Requests:   r.total.requests,
		Errors:     r.total.errors,
		Elapsed:    elapsed,
		Rows:       r.total.rows,
		Bytes:      r.total.bytes,
		P50:        Percentile(r.samples, 50),
		P90:        Percentile(r.samples, 90),
		P99:        Percentile(r.samples, 99),
		Max:        Percentile(r.samples, 100),
		FirstError: r.total.firstErr,
	}
}

// Percentile returns the p-th percentile (nearest rank) of sorted; 0 for
// an empty slice.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	if p <= 0 {
		return sorted[0]
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// IdleResult is the outcome of holding idle connections open.
type IdleResult struct {
	Requested  int           // connections asked for
	Opened     int           // connections opened and pinged
	Failed     int           // connections that could not be opened
	TimedOut   int           // of Failed: no login response within the connect timeout
	FirstError error         // the first failure
	OpenTime   time.Duration // time to open them all
	// RSSBefore and RSSAfter are the watched process's resident set size
	// before opening and once all are open (0 without a pid).
	RSSBefore, RSSAfter int64
}

// RSSPerConn is the watched process's RSS growth per open connection.
func (r IdleResult) RSSPerConn() int64 {
	if r.Opened == 0 || r.RSSAfter == 0 {
		return 0
	}
	return (r.RSSAfter - r.RSSBefore) / int64(r.Opened)
}

// idleOpenParallel is how many connections Idle opens at once.
const idleOpenParallel = 32

// Idle opens n connections from db (at most idleOpenParallel at a time,
// each bounded by connectTimeout, 0 = DefaultConnectTimeout), lets the
// server settle, samples pid's RSS (if pid > 0) before and after, holds them
// for hold (or until ctx ends), then closes them. Connections that fail are
// counted, not retried; when ctx ends it stops opening and returns at once
// with what it has and ctx's cause.
func Idle(ctx context.Context, db *sql.DB, n int, hold time.Duration, pid int, connectTimeout time.Duration) (IdleResult, error) {
	if n < 1 || n > MaxConns {
		return IdleResult{}, fmt.Errorf("idle connections must be 1..%d, got %d", MaxConns, n)
	}
	if hold < 0 || hold > MaxDuration {
		return IdleResult{}, fmt.Errorf("hold must be 0..%s, got %s", MaxDuration, hold)
	}
	res := IdleResult{Requested: n}
	if pid > 0 {
		rss, err := ProcRSS(pid)
		if err != nil {
			return res, err
		}
		res.RSSBefore = rss
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	conns := make([]*sql.Conn, 0, n)
	var mu sync.Mutex
	sem := make(chan struct{}, idleOpenParallel)
	var wg sync.WaitGroup
	start := time.Now()
open:
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break open
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := openConn(ctx, db, connectTimeout)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if ctx.Err() != nil {
					return // interrupted: not the server's failure
				}
				res.Failed++
				if errors.Is(err, ErrConnectTimeout) {
					res.TimedOut++
				}
				if res.FirstError == nil {
					res.FirstError = err
				}
				return
			}
			conns = append(conns, c)
		}()
	}
	wg.Wait()
	res.OpenTime = time.Since(start)
	res.Opened = len(conns)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	// Let the server finish its per-connection setup before sampling.
	settle := min(time.Second, hold)
	select {
	case <-time.After(settle):
	case <-ctx.Done():
	}
	if pid > 0 {
		rss, err := ProcRSS(pid)
		if err != nil {
			return res, err
		}
		res.RSSAfter = rss
	}
	select {
	case <-time.After(hold - settle):
	case <-ctx.Done():
	}
	if ctx.Err() != nil {
		return res, context.Cause(ctx)
	}
	return res, nil
}
