package proxy

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// ClientEncryption is the proxy's encryption setting towards its clients, in
// the terms of SQL Server's "Force Encryption" option.
type ClientEncryption string

const (
	// ClientEncryptionOptional encrypts when the client asks (ON or REQ),
	// encrypts only the login when the client sends ENCRYPT_OFF (as SQL Server
	// does) and serves plaintext to clients that cannot encrypt.
	ClientEncryptionOptional ClientEncryption = "optional"
	// ClientEncryptionRequired refuses clients that do not encrypt the whole
	// session (NOT_SUP clients get a refusal; OFF clients are upgraded to full TLS).
	ClientEncryptionRequired ClientEncryption = "required"
)

// BackendEncrypt is the proxy's encryption towards backends, with the same
// words go-mssqldb uses for its encrypt= setting.
type BackendEncrypt string

const (
	BackendEncryptDisable BackendEncrypt = "disable" // PRELOGIN NOT_SUP: no TLS at all
	BackendEncryptFalse   BackendEncrypt = "false"   // PRELOGIN OFF: TLS for the login only
	BackendEncryptTrue    BackendEncrypt = "true"    // PRELOGIN ON: full TLS
	BackendEncryptStrict  BackendEncrypt = "strict"  // TDS 8: TLS first, ALPN tds/8.0
)

// Config is everything the proxy server needs. The config package fills it
// from flags, TDSPROXY_* environment variables and a YAML file; tests fill it
// directly. Zero values mean "use the default" (see SetDefaults).
type Config struct {
	// Listen is the TDS listen address for clients, e.g. ":1433".
	Listen string
	// Primary is the primary backend (or availability-group listener), HOST:PORT.
	Primary string
	// Replicas are readable secondaries, HOST:PORT each, optionally followed
	// by ";weight=N" and ";max-lag=DURATION" (see ParseReplica). With
	// replicas, each request is routed (docs/routing.md).
	Replicas []string

	// MonitorUser and MonitorPassword are the SQL login the health checker
	// probes backends with (VIEW SERVER STATE). Without one, backends are
	// not probed: roles come from the config and circuit breakers alone
	// notice failures. The password is never logged.
	MonitorUser, MonitorPassword string
	// HealthInterval is the time between two probes of a backend (default 2s).
	HealthInterval time.Duration
	// HealthTimeout bounds one probe (default 1s).
	HealthTimeout time.Duration
	// ReadOnlyProcedures are procedures ("[schema.]name") whose calls may go
	// to replicas.
	ReadOnlyProcedures []string
	// ReadYourWritesWindow is how long after a write a session's reads stay
	// on the primary at most (default 5s; negative: off).
	ReadYourWritesWindow time.Duration
	// NoPrimaryReads: when no replica can serve a read, fail it with 40613
	// instead of sending it to the primary.
	NoPrimaryReads bool
	// BreakerFailures is how many consecutive connect or I/O failures open a
	// backend's circuit breaker (default 5).
	BreakerFailures int
	// BreakerOpenTimeout is how long an open breaker refuses work before a
	// probe request (default 10s).
	BreakerOpenTimeout time.Duration

	// TLSCert and TLSKey are PEM files for the client-facing TLS certificate;
	// they are re-read when they change. Empty: a generated self-signed
	// certificate, with a warning, as SQL Server does.
	TLSCert, TLSKey string
	// ClientEncryption: "optional" (default) or "required".
	ClientEncryption ClientEncryption

	// BackendEncrypt: disable | false | true (default) | strict.
	BackendEncrypt BackendEncrypt
	// BackendTrustCert skips backend certificate verification. Off by default.
	BackendTrustCert bool
	// BackendCAFile is a PEM bundle used to verify backend certificates
	// (default: the system roots).
	BackendCAFile string
	// BackendServerName is the name expected in backend certificates (default:
	// the host part of the backend address).
	BackendServerName string
	// BackendConnectTimeout bounds dialing and logging in to a backend.
	BackendConnectTimeout time.Duration

	// AdminListen is the HTTP address for /metrics, /healthz, /readyz ("" = off).
	AdminListen string

	// MaxClientConns caps concurrent client connections (0 = default 10000).
	MaxClientConns int
	// LoginTimeout bounds a client's PRELOGIN+TLS+LOGIN7 phase.
	LoginTimeout time.Duration
	// IdleTimeout closes client sessions idle for longer (0 = never).
	IdleTimeout time.Duration
	// MaxMessageSize caps one client request message, in bytes.
	MaxMessageSize int
	// ShutdownGrace is how long SIGTERM waits for in-flight requests.
	ShutdownGrace time.Duration

	// PolicyFiles are policy YAML files; empty means allow all (with a warning).
	PolicyFiles []string
	// AuditLog is the audit log file ("-" for stdout, "" for none).
	AuditLog string
}

// Defaults.
const (
	DefaultListen                = ":1433"
	DefaultMaxClientConns        = 10000
	DefaultLoginTimeout          = 15 * time.Second
	DefaultBackendConnectTimeout = 15 * time.Second
	DefaultMaxMessageSize        = 64 << 20
	DefaultShutdownGrace         = 30 * time.Second
)

// SetDefaults fills zero fields with their defaults.
func (c *Config) SetDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.ClientEncryption == "" {
		c.ClientEncryption = ClientEncryptionOptional
	}
	if c.BackendEncrypt == "" {
		c.BackendEncrypt = BackendEncryptTrue
	}
	if c.BackendConnectTimeout == 0 {
		c.BackendConnectTimeout = DefaultBackendConnectTimeout
	}
	if c.MaxClientConns == 0 {
		c.MaxClientConns = DefaultMaxClientConns
	}
	if c.LoginTimeout == 0 {
		c.LoginTimeout = DefaultLoginTimeout
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = DefaultShutdownGrace
	}
	c.setRoutingDefaults()
}

// Validate reports every invalid field, naming it by its setting key
// (the config package maps keys to flags, env vars and file lines).
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "%q is not HOST:PORT: %v", c.Listen, err)
	}
	if c.Primary == "" {
		bad("primary", "required: the primary backend as HOST:PORT")
	} else if _, _, err := net.SplitHostPort(c.Primary); err != nil {
		bad("primary", "%q is not HOST:PORT: %v", c.Primary, err)
	}
	if err := c.validateRouting(); err != nil {
		errs = append(errs, err)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("tls-cert", "tls-cert and tls-key must be given together")
	}
	switch c.ClientEncryption {
	case ClientEncryptionOptional, ClientEncryptionRequired:
	default:
		bad("client-encryption", "%q: want optional or required", c.ClientEncryption)
	}
	switch c.BackendEncrypt {
	case BackendEncryptDisable, BackendEncryptFalse, BackendEncryptTrue, BackendEncryptStrict:
	default:
		bad("backend-encrypt", "%q: want disable, false, true or strict", c.BackendEncrypt)
	}
	if c.AdminListen != "" {
		if _, _, err := net.SplitHostPort(c.AdminListen); err != nil {
			bad("admin-listen", "%q is not HOST:PORT: %v", c.AdminListen, err)
		}
	}
	if c.MaxClientConns < 0 {
		bad("max-client-conns", "must be positive, got %d", c.MaxClientConns)
	}
	if c.LoginTimeout < 0 || c.IdleTimeout < 0 || c.BackendConnectTimeout < 0 || c.ShutdownGrace < 0 {
		bad("timeouts", "durations must not be negative")
	}
	if c.MaxMessageSize != 0 && c.MaxMessageSize < 4096 {
		bad("max-message-size", "must be at least 4096 bytes, got %d", c.MaxMessageSize)
	}
	return errors.Join(errs...)
}
