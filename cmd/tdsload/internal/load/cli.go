package load

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Target is a named server to measure; the DSN (which holds a password) is
// never printed.
type Target struct {
	Name, DSN string
}

type targetsFlag []Target

func (t *targetsFlag) String() string {
	names := make([]string, len(*t))
	for i, x := range *t {
		names[i] = x.Name
	}
	return strings.Join(names, ",")
}

func (t *targetsFlag) Set(v string) error {
	name, dsn, ok := strings.Cut(v, "=")
	if !ok || name == "" || dsn == "" || strings.Contains(name, ":") {
		return errors.New("want NAME=DSN, e.g. direct=sqlserver://user:pass@host:1433")
	}
	*t = append(*t, Target{Name: name, DSN: dsn})
	return nil
}

// pidsFlag maps target names to process ids to watch (NAME=PID).
type pidsFlag map[string]int

func (p pidsFlag) String() string { return fmt.Sprint(map[string]int(p)) }

func (p pidsFlag) Set(v string) error {
	name, pid, ok := strings.Cut(v, "=")
	n, err := strconv.Atoi(pid)
	if !ok || name == "" || err != nil || n <= 0 {
		return errors.New("want NAME=PID, e.g. proxied=12345")
	}
	p[name] = n
	return nil
}

// Row is one line of a report: one target at one connection count.
type Row struct {
	Target string  `json:"target"`
	Conns  int     `json:"conns"`
	Result Result  `json:"-"`
	Rate   float64 `json:"requests_per_second"`
	P50us  float64 `json:"p50_us"`
	P90us  float64 `json:"p90_us"`
	P99us  float64 `json:"p99_us"`
	MaxUs  float64 `json:"max_us"`
	MBps   float64 `json:"mb_per_second"`
	Rows   int64   `json:"rows"`
	Reqs   int64   `json:"requests"`
	Errors int64   `json:"errors"`
	// Ratio is this row's rate over the first target's at the same conns.
	Ratio float64 `json:"ratio_to_first,omitempty"`
	Error string  `json:"error,omitempty"`
	// CPUPerReqUs is the watched process's CPU time per request (-pid).
	CPUPerReqUs float64 `json:"process_cpu_us_per_request,omitempty"`
}

// Main runs the tdsload command line and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tdsload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var targets targetsFlag
	dsn := fs.String("dsn", "", "go-mssqldb DSN of the one server to measure (or use -target)")
	fs.Var(&targets, "target", "NAME=DSN of a server to measure; repeat to compare (ratios are to the first)")
	connsList := fs.String("conns", "1", "comma-separated connection counts, e.g. 1,16,64")
	duration := fs.Duration("duration", 5*time.Second, "measured time per run (max 10m)")
	count := fs.Int64("count", 0, "stop each run after this many requests (0: duration only)")
	warmup := fs.Duration("warmup", time.Second, "unmeasured warm-up per run")
	query := fs.String("query", "SELECT 1", "SQL each request sends")
	asJSON := fs.Bool("json", false, "print one JSON object per run instead of a table")
	pids := pidsFlag{}
	fs.Var(pids, "pid", "NAME=PID: report that process's CPU time per request (or RSS per connection with -idle) for target NAME (Linux)")
	idle := fs.Int("idle", 0, "instead of queries: open this many connections to the first target, hold them for -duration, report RSS per connection of its -pid")
	connectTimeout := fs.Duration("connect-timeout", DefaultConnectTimeout, "give up on a connection whose dial, login and first ping take longer (counted as failed)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `tdsload — measure a SQL Server (or tdsproxy) with go-mssqldb.

Usage: tdsload -dsn DSN [flags]
       tdsload -target direct=DSN1 -target proxied=DSN2 -conns 1,16,64 [flags]

Each run opens N connections, warms up, then sends the query back to back on
every connection for -duration (or -count requests) and reports requests/s,
latency p50/p90/p99/max and result data MB/s. With several targets, runs
alternate between them at each connection count, in the same process.`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *dsn != "" {
		targets = append(targetsFlag{{Name: "target", DSN: *dsn}}, targets...)
	}
	if len(targets) == 0 {
		fmt.Fprintln(stderr, "tdsload: give -dsn or -target NAME=DSN")
		return 2
	}
	var conns []int
	for _, s := range strings.Split(*connsList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "tdsload: -conns: %q is not a positive number\n", s)
			return 2
		}
		conns = append(conns, n)
	}
	if *connectTimeout <= 0 || *connectTimeout > MaxDuration {
		fmt.Fprintf(stderr, "tdsload: -connect-timeout must be in (0, %s], got %s\n", MaxDuration, *connectTimeout)
		return 2
	}
	opts := Options{Duration: *duration, Count: *count, Warmup: *warmup, Query: *query, ConnectTimeout: *connectTimeout}
	if *count > 0 && !isFlagSet(fs, "duration") {
		opts.Duration = MaxDuration // count-bound; the limit still applies
	}
	for _, n := range conns {
		o := opts
		o.Conns = n
		if err := o.Validate(); err != nil {
			fmt.Fprintln(stderr, "tdsload:", err)
			return 2
		}
	}

	if *idle > 0 {
		return runIdle(ctx, targets[0], *idle, *duration, *connectTimeout, pids[targets[0].Name], stdout, stderr)
	}

	dbs := make([]*sql.DB, len(targets))
	for i, t := range targets {
		db, err := OpenDB(t.DSN)
		if err != nil {
			fmt.Fprintf(stderr, "tdsload: target %s: %v\n", t.Name, err)
			return 2
		}
		defer db.Close()
		dbs[i] = db
	}

	var rows []Row
	failed := false
	for _, n := range conns {
		var first float64
		for i, t := range targets {
			o := opts
			o.Conns = n
			if pid := pids[t.Name]; pid > 0 {
				o.CPU = func() (time.Duration, error) { return ProcCPU(pid) }
			}
			res, err := Run(ctx, dbs[i], o)
			row := makeRow(t.Name, n, res)
			if err != nil {
				row.Error = err.Error()
				failed = true
			} else if res.FirstError != nil {
				row.Error = res.FirstError.Error()
			}
			if i == 0 {
				first = row.Rate
			} else if first > 0 {
				row.Ratio = row.Rate / first
			}
			rows = append(rows, row)
			if *asJSON {
				_ = json.NewEncoder(stdout).Encode(row)
			}
			if ctx.Err() != nil {
				break
			}
		}
	}
	if !*asJSON {
		bound := fmt.Sprintf("duration %s per run", opts.Duration)
		if *count > 0 {
			bound = fmt.Sprintf("%d requests per run (at most %s)", *count, opts.Duration)
		}
		fmt.Fprintf(stdout, "query: %q  %s  warm-up %s\n", *query, bound, *warmup)
		PrintTable(stdout, rows)
	}
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "tdsload: stopped: %v\n", context.Cause(ctx))
		return exitInterrupted
	}
	if failed {
		return 1
	}
	return 0
}

// exitInterrupted is the exit code after SIGINT or SIGTERM (128 + SIGINT,
// as shells report an interrupted command).
const exitInterrupted = 130

func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func makeRow(target string, conns int, r Result) Row {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return Row{Target: target, Conns: conns, Result: r, Rate: r.Rate(),
		P50us: us(r.P50), P90us: us(r.P90), P99us: us(r.P99), MaxUs: us(r.Max),
		MBps: r.MBps(), Rows: r.Rows, Reqs: r.Requests, Errors: r.Errors,
		CPUPerReqUs: us(r.CPUPerRequest())}
}

// PrintTable writes rows as an aligned table.
func PrintTable(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "conns\ttarget\trequests\treq/s\tp50\tp90\tp99\tmax\trows\tMB/s\terrors\tvs first\tCPU/req\t")
	for _, r := range rows {
		ratio := ""
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		cpu := ""
		if r.CPUPerReqUs > 0 {
			cpu = fmt.Sprintf("%.1fµs", r.CPUPerReqUs)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%.1f\t%s\t%s\t%s\t%s\t%d\t%.2f\t%d\t%s\t%s\t\n",
			r.Conns, r.Target, r.Reqs, r.Rate, fmtDur(r.Result.P50), fmtDur(r.Result.P90),
			fmtDur(r.Result.P99), fmtDur(r.Result.Max), r.Rows, r.MBps, r.Errors, ratio, cpu)
	}
	_ = tw.Flush()
	for _, r := range rows {
		if r.Error != "" {
			fmt.Fprintf(w, "%s @ %d conns: %s\n", r.Target, r.Conns, r.Error)
		}
	}
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	}
}

// runIdle is the -idle mode: hold n connections and report memory per
// connection of the watched process. Failed connections are reported with
// their count and first error, and make the exit code 1.
func runIdle(ctx context.Context, t Target, n int, hold, connectTimeout time.Duration, pid int, stdout, stderr io.Writer) int {
	db, err := OpenDB(t.DSN)
	if err != nil {
		fmt.Fprintf(stderr, "tdsload: target %s: %v\n", t.Name, err)
		return 2
	}
	defer db.Close()
	res, err := Idle(ctx, db, n, hold, pid, connectTimeout)
	fmt.Fprintf(stdout, "idle: target %s: %d connections open (%d failed) in %s\n", t.Name, res.Opened, res.Failed, res.OpenTime.Round(time.Millisecond))
	if pid > 0 && res.RSSAfter > 0 {
		fmt.Fprintf(stdout, "idle: pid %d RSS %.1f MiB -> %.1f MiB: %.1f KiB per connection\n", pid,
			float64(res.RSSBefore)/(1<<20), float64(res.RSSAfter)/(1<<20), float64(res.RSSPerConn())/1024)
	}
	if res.Failed > 0 {
		fmt.Fprintf(stdout, "idle: FAILED: %d of %d connections could not be opened (%d timed out after -connect-timeout %s); first failure: %v\n",
			res.Failed, res.Requested, res.TimedOut, connectTimeout, res.FirstError)
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintf(stderr, "tdsload: stopped: %v (%d of %d connections were open)\n", context.Cause(ctx), res.Opened, res.Requested)
		return exitInterrupted
	case err != nil:
		fmt.Fprintln(stderr, "tdsload:", err)
		return 1
	case res.Failed > 0:
		return 1
	}
	return 0
}
