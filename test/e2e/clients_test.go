package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// client is one real third-party client in the matrix.
type client interface {
	// Name is the subtest name and the client's row in docs/compatibility.md.
	Name() string
	// Missing says why the client cannot run on this machine ("" = installed).
	Missing() string
	// NotApplicable says why the client cannot do sc at all ("" = it can).
	NotApplicable(sc scenario) string
	// Run performs sc and reports what the client observed. A returned error
	// means the client could not be run (not that the scenario failed).
	Run(ctx context.Context, r runSpec) (*Observation, error)
}

// runSpec is one client × scenario run against a target.
type runSpec struct {
	tg     *Target
	sc     scenario
	addr   string // HOST:PORT for ordinary connections (may be a wiretap)
	roAddr string // HOST:PORT for ApplicationIntent=ReadOnly connections
	table  string // a unique table name for this run
	tmp    string // a private temporary directory
}

// clients lists the matrix's rows.
var clients = []client{
	goClient{},
	&nodeClient{name: "tedious"},
	&nodeClient{name: "mssql"},
	&tsqlClient{},
	&pyClient{name: "pyodbc", module: "pyodbc", debPackage: "python3-pyodbc", versionNote: "tdsodbc"},
	&pyClient{name: "pymssql", module: "pymssql", debPackage: "python3-pymssql", versionNote: "libsybdb5"},
	&pyClient{name: "pytds", module: "pytds", debPackage: "python3-tds", versionNote: "python3-tds"},
}

// clientsDir is test/clients, relative to this package's directory (the
// working directory of go test).
var clientsDir = filepath.Join("..", "clients")

// runDriver runs a driver program and decodes the JSON object it prints.
func runDriver(ctx context.Context, cmd *exec.Cmd) (*Observation, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s timed out: %w (stderr: %s)", cmd.Args[0], ctx.Err(), tail(stderr.String()))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w (stderr: %s)", strings.Join(cmd.Args, " "), err, tail(stderr.String()))
	}
	o, err := decodeObservation(stdout.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%w (stderr: %s)", err, tail(stderr.String()))
	}
	return o, nil
}

func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 1500 {
		s = "…" + s[len(s)-1500:]
	}
	return s
}

// driverEnv is the environment contract of the driver programs (see
// test/clients/README.md). The password travels in the environment, not on
// a command line.
func driverEnv(r runSpec, clientName string) []string {
	addr := r.addr
	if r.sc.driver == "readonly" {
		addr = r.roAddr
	}
	host, port, _ := net.SplitHostPort(addr)
	env := append(os.Environ(),
		"TDS_CLIENT="+clientName,
		"TDS_HOST="+host,
		"TDS_PORT="+port,
		"TDS_USER="+r.tg.User,
		"TDS_PASSWORD="+r.tg.Password,
		"TDS_DATABASE="+r.tg.Database,
		"TDS_ENCRYPT="+string(r.sc.mode),
		"TDS_SCENARIO="+r.sc.driver,
		"TDS_TABLE="+r.table,
		"TDS_CAFILE="+r.tg.CAFile,
	)
	return env
}

// ---------------------------------------------------------------- Node

// nodeClient is tedious (its own API) or mssql (the package over tedious),
// both driven by test/clients/node/driver.js.
type nodeClient struct {
	name string
	once sync.Once
	miss string
}

func (c *nodeClient) Name() string { return c.name }

func (c *nodeClient) Missing() string {
	c.once.Do(func() {
		if _, err := exec.LookPath("node"); err != nil {
			c.miss = "node is not installed"
			return
		}
		mod := filepath.Join(clientsDir, "node", "node_modules", c.name, "package.json")
		if _, err := os.Stat(mod); err != nil {
			c.miss = fmt.Sprintf("%s is not installed: run `npm ci` in test/clients/node", c.name)
		}
	})
	return c.miss
}

func (c *nodeClient) NotApplicable(sc scenario) string {
	if sc.mode == ModeLoginOnly {
		return "tedious has no login-only mode: encrypt:false sends ENCRYPT_NOT_SUP and encrypt:true full TLS, never ENCRYPT_OFF"
	}
	return ""
}

func (c *nodeClient) Run(ctx context.Context, r runSpec) (*Observation, error) {
	cmd := exec.CommandContext(ctx, "node", "driver.js")
	cmd.Dir = filepath.Join(clientsDir, "node")
	cmd.Env = driverEnv(r, c.name)
	return runDriver(ctx, cmd)
}

// ---------------------------------------------------------------- Python

// debianPython is where Debian's python3-* packages are importable; the
// python3 first on PATH may be another interpreter (CLIENTS.md).
const debianPython = "/usr/bin/python3"

// pyClient is a Python DB-API client driven by test/clients/python/driver.py.
type pyClient struct {
	name, module, debPackage string
	// versionNote is the Debian package whose version is added to the
	// client's own: the FreeTDS library under pyodbc and pymssql, and
	// python3-tds, whose module reports an older version than the package.
	versionNote string
	once        sync.Once
	miss        string
	debVersion  string
}

func (c *pyClient) Name() string { return c.name }

func (c *pyClient) Missing() string {
	c.once.Do(func() {
		if _, err := os.Stat(debianPython); err != nil {
			c.miss = debianPython + " is not installed"
			return
		}
		if out, err := exec.Command(debianPython, "-c", "import "+c.module).CombinedOutput(); err != nil {
			c.miss = fmt.Sprintf("%s cannot import %s (install the Debian package %s): %s",
				debianPython, c.module, c.debPackage, tail(string(out)))
			return
		}
		if c.name == "pyodbc" && odbcDriverPath() == "" {
			c.miss = "the FreeTDS ODBC driver libtdsodbc.so is not installed (Debian package tdsodbc)"
		}
		if out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", c.versionNote).Output(); err == nil {
			c.debVersion = strings.TrimSpace(string(out))
		}
	})
	return c.miss
}

// odbcDriverPath finds the FreeTDS ODBC driver library.
func odbcDriverPath() string {
	matches, _ := filepath.Glob("/usr/lib/*/odbc/libtdsodbc.so")
	if len(matches) > 0 {
		return matches[0]
	}
	if _, err := os.Stat("/usr/lib/odbc/libtdsodbc.so"); err == nil {
		return "/usr/lib/odbc/libtdsodbc.so"
	}
	return ""
}

func (c *pyClient) NotApplicable(sc scenario) string {
	switch {
	case sc.mode == ModeStrict && c.name == "pytds":
		return "python-tds has no TDS 8 (strict) support"
	case c.name == "pymssql" && sc.driver == "cancel":
		return "pymssql cannot cancel a running query: on its query timeout FreeTDS DB-Library marks the connection dead " +
			"without sending Attention (\"DBPROCESS is dead\"), and _mssql cancel() only discards pending results"
	case sc.mode == ModeStrict:
		return "FreeTDS 1.3 (under " + c.name + ") has no TDS 8 (strict) support"
	case c.name == "pytds" && sc.driver == "readonly":
		return "python-tds 1.8.2 (Debian python3-tds 1.11.0) cannot send read-only intent: readonly=True sets " +
			"LOGIN7 TypeFlags bit 0x40 (reserved) instead of fReadOnlyIntent 0x20 (pytds/tds.py: type_flags |= 2 << 5)"
	case c.name == "pymssql" && sc.driver == "readonly":
		return "pymssql 2.2.2 speaks TDS 7.3 at most (tds_version='7.4': \"unrecognized tds version\"); " +
			"LOGIN7's read-only intent flag exists from TDS 7.4"
	}
	return ""
}

func (c *pyClient) Run(ctx context.Context, r runSpec) (*Observation, error) {
	cmd := exec.CommandContext(ctx, debianPython, "driver.py")
	cmd.Dir = filepath.Join(clientsDir, "python")
	cmd.Env = driverEnv(r, c.name)
	switch c.name {
	case "pyodbc":
		cmd.Env = append(cmd.Env, "TDS_ODBC_DRIVER="+odbcDriverPath())
	case "pymssql":
		// pymssql has no encryption option of its own: FreeTDS reads it
		// from freetds.conf.
		conf, err := writeFreeTDSConf(r.tmp, r.sc.mode, false)
		if err != nil {
			return nil, err
		}
		cmd.Env = append(cmd.Env, "FREETDSCONF="+conf)
	}
	o, err := runDriver(ctx, cmd)
	if o != nil && c.debVersion != "" {
		o.Version = fmt.Sprintf("%s (Debian %s %s)", o.Version, c.versionNote, c.debVersion)
	}
	return o, err
}

// freetdsEncryption maps a Mode to freetds.conf's "encryption" (CLIENTS.md).
var freetdsEncryption = map[Mode]string{
	ModePlain:     "off",     // ENCRYPT_NOT_SUP
	ModeLoginOnly: "request", // ENCRYPT_OFF
	ModeTLS:       "require", // ENCRYPT_ON
}

// writeFreeTDSConf writes a freetds.conf with only a [global] section, so
// that FreeTDS takes encryption (and read-only intent) from it while host and
// port come from the command line.
func writeFreeTDSConf(dir string, m Mode, readonly bool) (string, error) {
	enc, ok := freetdsEncryption[m]
	if !ok {
		return "", fmt.Errorf("FreeTDS has no encryption setting for mode %s", m)
	}
	var b strings.Builder
	b.WriteString("[global]\n")
	fmt.Fprintf(&b, "\tencryption = %s\n", enc)
	b.WriteString("\tclient charset = UTF-8\n")
	if readonly {
		b.WriteString("\tread-only intent = yes\n")
	}
	path := filepath.Join(dir, "freetds.conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return "", fmt.Errorf("writing freetds.conf: %w", err)
	}
	return path, nil
}
