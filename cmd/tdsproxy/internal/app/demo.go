package app

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tdsproxy/tdsproxy/proxy"
	"github.com/tdsproxy/tdsproxy/test/mssqlsim"
)

// Demo defaults: ports that do not clash with a local SQL Server (1433).
const (
	DemoListen      = "127.0.0.1:11433"
	DemoAdminListen = "127.0.0.1:19090"
)

// demoLogin is a SQL login of the demo's simulated server. The passwords are
// public on purpose: the demo runs on loopback against a simulator.
type demoLogin struct {
	name, password, role string
}

var demoLogins = []demoLogin{
	{"app", "App-Demo-Passw0rd", "the application's login"},
	{"reporter", "Reporter-Demo-Passw0rd", "read-only reporting"},
	{"dba", "Dba-Demo-Passw0rd", "administration"},
	{"sa", "Sa-Demo-Passw0rd", "system administrator"},
	{"monitor", "Monitor-Demo-Passw0rd", "the proxy's own health probes (role, lag, failover)"},
}

// demoMonitor is the login the demo proxy's health checker uses.
var demoMonitor = demoLogins[len(demoLogins)-1]

type demoOptions struct {
	listen, adminListen string
	replicas            int
	backendEncrypt      string
	logLevel, logFormat string
	shutdownGrace       time.Duration
}

func (a *App) demoCommand() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the proxy in front of an embedded SQL Server simulator, for a local try-out",
		Long: `Run the proxy on ` + DemoListen + ` in front of an embedded SQL Server
simulator (a primary and a replica with sample tables), print connection
strings for common clients, and serve until Ctrl-C.

The simulator is test and demo infrastructure, not a database: it runs SQL on
an in-memory SQLite and forgets everything on exit. The proxy's backend leg
is on loopback and uses TLS, verifying the simulator's self-signed certificate
as its CA; use --backend-encrypt disable for none. Clients
connect with TLS and must trust the proxy's generated self-signed certificate.`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", DemoListen, "TDS address of the proxy")
	f.StringVar(&o.adminListen, "admin-listen", DemoAdminListen, "HTTP address for /metrics, /healthz, /readyz (empty: off)")
	f.IntVar(&o.replicas, "replicas", 1, "number of simulated replicas")
	f.StringVar(&o.backendEncrypt, "backend-encrypt", string(proxy.BackendEncryptTrue), "TLS from the proxy to the simulator: disable|false|true|strict (verified against the simulator's certificate)")
	f.StringVar(&o.logLevel, "log-level", "info", "debug|info|warn|error")
	f.StringVar(&o.logFormat, "log-format", "console", "json|console")
	f.DurationVar(&o.shutdownGrace, "shutdown-grace", 5*time.Second, "on Ctrl-C, how long to wait for in-flight requests")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if o.replicas < 0 {
			return exitCode(ExitUsage, fmt.Errorf("--replicas must not be negative"))
		}
		log, err := newLogger(o.logLevel, o.logFormat, a.Stderr)
		if err != nil {
			return exitCode(ExitUsage, err)
		}
		defer func() { _ = log.Sync() }()

		logins := make(map[string]string, len(demoLogins))
		for _, l := range demoLogins {
			logins[l.name] = l.password
		}
		sim, err := mssqlsim.Start(mssqlsim.Config{
			Addr:       "127.0.0.1:0",
			Logins:     logins,
			Replicas:   o.replicas,
			SampleData: true,
			Logger:     log.Named("sim"),
			NamePrefix: "demo",
		})
		if err != nil {
			return exitCode(1, fmt.Errorf("starting the simulator: %w", err))
		}
		defer sim.Close()

		// The backend leg verifies the simulator's certificate like any
		// other backend's: the simulator's self-signed certificate is the
		// CA the proxy (and its health probes) trust.
		caFile, err := writeDemoCA(sim.CertificatePEM())
		if err != nil {
			return exitCode(1, err)
		}
		defer os.Remove(caFile)

		cfg := proxy.Config{
			Listen:         o.listen,
			Primary:        sim.Primary().Addr(),
			BackendEncrypt: proxy.BackendEncrypt(o.backendEncrypt),
			BackendCAFile:  caFile,
			// The simulator's certificate names localhost.
			BackendServerName: "localhost",
			AdminListen:       o.adminListen,
			ShutdownGrace:     o.shutdownGrace,
			MonitorUser:       demoMonitor.name,
			MonitorPassword:   demoMonitor.password,
		}
		for _, r := range sim.Replicas() {
			cfg.Replicas = append(cfg.Replicas, r.Addr())
		}
		cfg.SetDefaults()
		if err := cfg.Validate(); err != nil {
			return exitCode(ExitUsage, err)
		}
		code := a.runProxy(cmd.Context(), log.Named("proxy"), cfg, nil, func(p, admin net.Addr) {
			printDemoBanner(a.Stdout, sim, p, admin, o.backendEncrypt)
		})
		if code != 0 {
			return exitCode(code, nil)
		}
		return nil
	}
	return cmd
}

// writeDemoCA writes the simulator's certificate to a temporary PEM file for
// the proxy's backend-ca-file.
func writeDemoCA(pem []byte) (string, error) {
	f, err := os.CreateTemp("", "tdsproxy-demo-ca-*.pem")
	if err != nil {
		return "", fmt.Errorf("writing the simulator's certificate: %w", err)
	}
	if _, err := f.Write(pem); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("writing the simulator's certificate: %w", err)
	}
	return f.Name(), f.Close()
}

// printDemoBanner prints what runs where and how to connect.
func printDemoBanner(w io.Writer, sim *mssqlsim.Cluster, proxyAddr, adminAddr net.Addr, backendEncrypt string) {
	backendLeg := "TLS (encrypt=" + backendEncrypt + "), verifying the simulator's self-signed certificate as its CA"
	if backendEncrypt == string(proxy.BackendEncryptDisable) {
		backendLeg = "no TLS: the simulator is local"
	}
	host, port, _ := net.SplitHostPort(proxyAddr.String())
	var b strings.Builder
	fmt.Fprintf(&b, "tdsproxy demo: the proxy listens on %s, in front of an embedded SQL Server simulator\n", proxyAddr)
	fmt.Fprintf(&b, "  primary  %s (%s)\n", sim.Primary().Addr(), sim.Primary().Name())
	for _, r := range sim.Replicas() {
		fmt.Fprintf(&b, "  replica  %s (%s)\n", r.Addr(), r.Name())
	}
	if adminAddr != nil {
		fmt.Fprintf(&b, "  admin    http://%s/metrics  /healthz  /readyz\n", adminAddr)
	}
	b.WriteString("\nDemo logins (demo passwords, printed on purpose):\n")
	for _, l := range demoLogins {
		fmt.Fprintf(&b, "  %-9s %-24s %s\n", l.name, l.password, l.role)
	}
	u, pw := demoLogins[0].name, demoLogins[0].password
	b.WriteString("\nConnect through the proxy (as " + u + "; swap in any login above).\n")
	b.WriteString("The proxy uses a generated self-signed certificate, so clients must trust it.\n\n")
	fmt.Fprintf(&b, "  go-mssqldb   sqlserver://%s:%s@%s:%s?database=demo&encrypt=true&TrustServerCertificate=true\n", u, pw, host, port)
	fmt.Fprintf(&b, "  sqlcmd       sqlcmd -S %s,%s -d demo -U %s -P '%s' -C\n", host, port, u, pw)
	fmt.Fprintf(&b, "  FreeTDS tsql TDSVER=7.4 tsql -H %s -p %s -U %s -P '%s' -D demo\n", host, port, u, pw)
	fmt.Fprintf(&b, "  tedious      { server: '%s', options: { port: %s, database: 'demo', encrypt: true, trustServerCertificate: true },\n", host, port)
	fmt.Fprintf(&b, "                 authentication: { type: 'default', options: { userName: '%s', password: '%s' } } }\n", u, pw)
	fmt.Fprintf(&b, "  mssql (Node) Server=%s,%s;Database=demo;User Id=%s;Password=%s;Encrypt=true;TrustServerCertificate=true\n", host, port, u, pw)
	fmt.Fprintf(&b, "  pyodbc       DRIVER={ODBC Driver 18 for SQL Server};SERVER=%s,%s;DATABASE=demo;UID=%s;PWD=%s;Encrypt=yes;TrustServerCertificate=yes\n", host, port, u, pw)
	fmt.Fprintf(&b, "               DRIVER={FreeTDS};SERVER=%s;PORT=%s;DATABASE=demo;UID=%s;PWD=%s;TDS_Version=7.4\n", host, port, u, pw)
	fmt.Fprintf(&b, "  SSMS / Azure Data Studio: server %s,%s; database demo; SQL Server Authentication; login %s; password %s;\n", host, port, u, pw)
	b.WriteString("               Encrypt: Mandatory, Trust server certificate: checked\n")
	b.WriteString("\nTry:  SELECT @@SERVERNAME, @@VERSION;\n")
	b.WriteString("      SELECT TOP 5 id, name, email FROM dbo.customers;\n")
	b.WriteString("      SELECT status, COUNT(*) AS orders, SUM(amount) AS total FROM sales.orders GROUP BY status;\n")
	fmt.Fprintf(&b, "\nBackend leg (proxy to simulator): %s\n", backendLeg)
	b.WriteString("Ctrl-C stops the demo (the simulator forgets everything).\n")
	_, _ = io.WriteString(w, b.String())
}
