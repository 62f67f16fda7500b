package mssqlsim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tdsproxy/tdsproxy/tds"
)

// loginFlag collects repeated -login NAME:PASSWORD flags.
type loginFlag map[string]string

func (l loginFlag) String() string {
	names := make([]string, 0, len(l))
	for n := range l {
		names = append(names, n+":***")
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func (l loginFlag) Set(v string) error {
	name, pw, ok := strings.Cut(v, ":")
	if !ok || name == "" {
		return errors.New("want NAME:PASSWORD")
	}
	l[name] = pw
	return nil
}

// cliOptions is the parsed command line of the mssqlsim binary.
type cliOptions struct {
	cfg     Config
	control string
	certOut string
	logins  loginFlag
}

func parseFlags(args []string, stderr io.Writer) (*cliOptions, error) {
	o := &cliOptions{logins: loginFlag{}}
	fs := flag.NewFlagSet("mssqlsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `mssqlsim — a SQL Server simulator for tests and demos (NOT a production database).

It speaks TDS like SQL Server 2022 and executes T-SQL on an embedded SQLite:
a primary on the -listen port and replica i on port+i. Replicas refuse writes
and apply the primary's commits after -lag.

Usage: mssqlsim [flags]

Flags:
`)
		fs.PrintDefaults()
		fmt.Fprint(stderr, `
Control endpoint (with -control, loopback only, no authentication):
  POST /servers/{name}/stop|start|drop
  POST /servers/{name}/login-delay?d=2s | login-failure?on=1 | response-delay?d=500ms
  POST /lag?d=3s        POST /failover?replica=1        GET /status
`)
	}
	listen := fs.String("listen", "127.0.0.1:1433", "primary listen `address`; replica i listens on port+i")
	fs.Var(o.logins, "login", "SQL login `NAME:PASSWORD` (repeatable; default sa:"+DefaultPassword+")")
	fs.IntVar(&o.cfg.Replicas, "replicas", 0, "number of read-only replicas")
	fs.StringVar(&o.cfg.CertFile, "tls-cert", "", "PEM certificate `file` (default: a generated self-signed certificate)")
	fs.StringVar(&o.cfg.KeyFile, "tls-key", "", "PEM private key `file` for -tls-cert")
	enc := fs.String("encryption", "off", "server encryption setting: off (clients choose; login-only possible), on (forced), notsup (no TLS)")
	fs.DurationVar(&o.cfg.ReplicaLag, "lag", 0, "replication lag: replicas apply a commit this long after it happened")
	fs.StringVar(&o.certOut, "cert-out", "", "write the servers' TLS certificate (PEM) to this `file`, for clients that verify it (TDS 8 strict, python-tds)")
	fs.StringVar(&o.control, "control", "", "serve the HTTP control endpoint on this `address` (e.g. 127.0.0.1:18080)")
	fs.BoolVar(&o.cfg.SampleData, "sample-data", true, "seed the demo database (tables, rows, dbo.all_types)")
	fs.StringVar(&o.cfg.NamePrefix, "name", DefaultNamePrefix, "@@SERVERNAME `prefix`: <prefix>-primary, <prefix>-replica1, …")
	logLevel := fs.String("log", "info", "log `level` on stderr: debug, info, warn, error or off")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (see -help)", fs.Arg(0))
	}
	o.cfg.Addr = *listen
	o.cfg.Logins = o.logins
	switch strings.ToLower(*enc) {
	case "off":
		o.cfg.Encryption = tds.EncryptOff
	case "on":
		o.cfg.Encryption = tds.EncryptOn
	case "notsup", "not_sup", "disable":
		o.cfg.Encryption = tds.EncryptNotSup
	default:
		return nil, fmt.Errorf("-encryption: want off, on or notsup, got %q", *enc)
	}
	if *logLevel != "off" {
		lvl, err := zapcore.ParseLevel(*logLevel)
		if err != nil {
			return nil, fmt.Errorf("-log: %w", err)
		}
		zc := zap.NewProductionConfig()
		zc.Level = zap.NewAtomicLevelAt(lvl)
		zc.Encoding = "console"
		zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
		zc.OutputPaths = []string{"stderr"}
		lg, err := zc.Build()
		if err != nil {
			return nil, fmt.Errorf("-log: %w", err)
		}
		o.cfg.Logger = lg
	}
	return o, nil
}

// Main runs the mssqlsim binary with args (without the program name) until
// SIGINT or SIGTERM and returns the process exit code: 0 after -help, 2 for
// bad flags or a failed start, 130/143 after SIGINT/SIGTERM (128+signal, as
// the house style has it).
func Main(args []string) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	var got atomic.Value
	go func() {
		if s, ok := <-sigs; ok {
			got.Store(s)
			cancel()
		}
	}()
	err := Run(ctx, args, os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintln(os.Stderr, "mssqlsim:", err)
		return 2
	}
	if s, ok := got.Load().(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 0
}

// Run starts a cluster as the command line args describe, prints its
// addresses and connection strings on stdout, and serves until ctx ends.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	c, err := Start(o.cfg)
	if err != nil {
		return err
	}
	defer c.Close()

	if o.certOut != "" {
		pemBytes := c.CertificatePEM()
		if pemBytes == nil {
			return errors.New("-cert-out: the servers have no TLS certificate (-encryption notsup)")
		}
		if err := os.WriteFile(o.certOut, pemBytes, 0o644); err != nil {
			return fmt.Errorf("-cert-out: %w", err)
		}
		fmt.Fprintf(stdout, "TLS certificate: %s\n", o.certOut)
	}

	var ctlSrv *http.Server
	if o.control != "" {
		ln, err := net.Listen("tcp", o.control)
		if err != nil {
			return fmt.Errorf("-control %s: %w", o.control, err)
		}
		ctlSrv = &http.Server{Handler: ControlHandler(c), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = ctlSrv.Serve(ln) }()
		defer ctlSrv.Close()
		fmt.Fprintf(stdout, "control endpoint: http://%s/status\n", ln.Addr())
	}
	printBanner(stdout, c, o)
	<-ctx.Done()
	fmt.Fprintln(stdout, "mssqlsim: shutting down")
	return nil
}

func printBanner(w io.Writer, c *Cluster, o *cliOptions) {
	user, pw := DefaultLogin, DefaultPassword
	if len(o.logins) > 0 {
		names := make([]string, 0, len(o.logins))
		for n := range o.logins {
			names = append(names, n)
		}
		sort.Strings(names)
		// Passwords given on the command line are not echoed.
		user, pw = names[0], "PASSWORD"
	}
	fmt.Fprintln(w, "mssqlsim: SQL Server simulator (test and demo use only)")
	for _, s := range c.Servers() {
		role := "replica"
		if s.IsPrimary() {
			role = "primary"
		}
		host, port, _ := net.SplitHostPort(s.Addr())
		fmt.Fprintf(w, "\n%s (%s) on %s\n", s.Name(), role, s.Addr())
		goEnc, adoEnc, odbcEnc := "disable", "Encrypt=False", "Encryption=off"
		if o.cfg.Encryption == tds.EncryptOn {
			goEnc, adoEnc, odbcEnc = "true&TrustServerCertificate=true", "Encrypt=True;TrustServerCertificate=True", "Encryption=require"
		}
		intent, adoIntent := "", ""
		if !s.IsPrimary() {
			intent, adoIntent = "&ApplicationIntent=ReadOnly", "ApplicationIntent=ReadOnly;"
		}
		fmt.Fprintf(w, "  go-mssqldb: sqlserver://%s:%s@%s?database=master&encrypt=%s%s\n", user, pw, s.Addr(), goEnc, intent)
		fmt.Fprintf(w, "  ADO.NET:    Server=%s,%s;Database=master;User Id=%s;Password=%s;%s%s\n", host, port, user, pw, adoIntent, adoEnc)
		fmt.Fprintf(w, "  ODBC:       Driver={FreeTDS};Server=%s;Port=%s;TDS_Version=7.4;UID=%s;PWD=%s;%s\n", host, port, user, pw, odbcEnc)
		fmt.Fprintf(w, "  tsql:       TDSVER=7.4 tsql -H %s -p %s -U %s -P '%s'\n", host, port, user, pw)
	}
}
