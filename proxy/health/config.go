package health

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"
)

// Defaults for zero Config fields.
const (
	DefaultInterval  = 2 * time.Second
	DefaultTimeout   = time.Second
	DefaultDownAfter = 2
	DefaultWeight    = 1
	DefaultAppName   = "tdsproxy-health"
	DefaultLagSlack  = time.Second
)

// Config configures a Checker. Zero values mean "use the default" (see
// SetDefaults). The probe password is never logged: String and GoString
// redact it.
type Config struct {
	// Interval is the time between two probes of one backend.
	Interval time.Duration
	// Timeout bounds one probe (dial, login and queries).
	Timeout time.Duration
	// DownAfter is how many consecutive failed probes mark a backend down
	// (default 2). A backend that has never answered is down after one.
	DownAfter int
	// LagSlack is added to a reported replica lag before concluding which
	// writes a replica has applied: servers refresh their lag figures
	// periodically, so the value read may be stale (default 1s; negative:
	// none). It delays read-your-writes reads reaching a replica by as much.
	LagSlack time.Duration
	// User and Password are the SQL login the probes use: a dedicated
	// monitor login with VIEW SERVER STATE, not an application's.
	User, Password string
	// Database is the database the probes log in to ("" = the login's
	// default). Lag is the largest over every local availability database.
	Database string
	// Backends are the backends to probe. Names must be unique.
	Backends []Backend
}

// Backend is one backend to probe, as configured.
type Backend struct {
	// Name identifies the backend in metrics, logs and /backends ("" = Addr).
	Name string
	// Addr is HOST:PORT.
	Addr string
	// Weight is the backend's share of reads among replicas (default 1).
	Weight int
	// MaxLag is the replica lag above which the backend is "lagging" and
	// serves no reads (0 = no limit).
	MaxLag time.Duration
	// TLS is how probes encrypt towards this backend.
	TLS TLS
}

// TLS holds the backend TLS knobs shared with the proxy's backend legs
// (proxy.Config BackendEncrypt, BackendTrustCert, BackendCAFile,
// BackendServerName), in go-mssqldb's words.
type TLS struct {
	// Encrypt is disable | false | true | strict ("" = true).
	Encrypt string
	// TrustServerCertificate skips certificate verification.
	TrustServerCertificate bool
	// CAFile is a PEM bundle to verify the certificate with.
	CAFile string
	// ServerName is the name expected in the certificate (default: the host).
	ServerName string
}

// key returns the backend's identity: a backend whose key is unchanged by a
// reload keeps its prober, its state and its connection pool.
func (b Backend) key() string {
	return fmt.Sprintf("%s|%s|%s|%t|%s|%s", b.Name, b.Addr, b.TLS.Encrypt, b.TLS.TrustServerCertificate, b.TLS.CAFile, b.TLS.ServerName)
}

// SetDefaults fills zero fields with their defaults.
func (c *Config) SetDefaults() {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.DownAfter == 0 {
		c.DownAfter = DefaultDownAfter
	}
	if c.LagSlack == 0 {
		c.LagSlack = DefaultLagSlack
	}
	for i := range c.Backends {
		b := &c.Backends[i]
		if b.Name == "" {
			b.Name = b.Addr
		}
		if b.Weight == 0 {
			b.Weight = DefaultWeight
		}
		if b.TLS.Encrypt == "" {
			b.TLS.Encrypt = "true"
		}
	}
}

// Validate reports every invalid field, naming it by its setting key.
// Call SetDefaults first.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Interval <= 0 {
		bad("health.interval", "must be positive, got %s", c.Interval)
	}
	if c.Timeout <= 0 {
		bad("health.timeout", "must be positive, got %s", c.Timeout)
	}
	if c.DownAfter < 1 {
		bad("health.down-after", "must be at least 1, got %d", c.DownAfter)
	}
	if c.User == "" {
		bad("health.user", "required: the monitor login the health probes use")
	}
	seen := make(map[string]bool, len(c.Backends))
	for i, b := range c.Backends {
		key := fmt.Sprintf("backends[%d]", i)
		if _, _, err := net.SplitHostPort(b.Addr); err != nil {
			bad(key+".addr", "%q is not HOST:PORT: %v", b.Addr, err)
		}
		if seen[b.Name] {
			bad(key+".name", "%q is used twice", b.Name)
		}
		seen[b.Name] = true
		if b.Weight < 0 {
			bad(key+".weight", "must not be negative, got %d", b.Weight)
		}
		if b.MaxLag < 0 {
			bad(key+".max-lag", "must not be negative, got %s", b.MaxLag)
		}
		switch b.TLS.Encrypt {
		case "disable", "false", "true", "strict":
		default:
			bad(key+".encrypt", "%q: want disable, false, true or strict", b.TLS.Encrypt)
		}
	}
	return errors.Join(errs...)
}

// String describes the config without the password.
func (c Config) String() string {
	pw := ""
	if c.Password != "" {
		pw = "REDACTED"
	}
	return fmt.Sprintf("health.Config{Interval:%s Timeout:%s DownAfter:%d LagSlack:%s User:%q Password:%q Database:%q Backends:%v}",
		c.Interval, c.Timeout, c.DownAfter, c.LagSlack, c.User, pw, c.Database, c.Backends)
}

// GoString is String, so %#v does not print the password either.
func (c Config) GoString() string { return c.String() }

// dsn builds the go-mssqldb connection URL of a probe of b. It holds the
// password: never log it.
func (c *Config) dsn(b Backend) string {
	q := url.Values{}
	q.Set("encrypt", b.TLS.Encrypt)
	if b.TLS.TrustServerCertificate {
		q.Set("TrustServerCertificate", "true")
	}
	if b.TLS.CAFile != "" {
		q.Set("certificate", b.TLS.CAFile)
	}
	if b.TLS.ServerName != "" {
		q.Set("hostNameInCertificate", b.TLS.ServerName)
	}
	if c.Database != "" {
		q.Set("database", c.Database)
	}
	secs := strconv.Itoa(max(1, int((c.Timeout+time.Second-1)/time.Second)))
	// The probe's context bounds login and queries; the dial gets its own.
	q.Set("dial timeout", secs)
	q.Set("app name", DefaultAppName)
	u := url.URL{
		Scheme:   "sqlserver",
		User:     url.UserPassword(c.User, c.Password),
		Host:     b.Addr,
		RawQuery: q.Encode(),
	}
	return u.String()
}
