package mssqlsim

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/tds"
)

// DefaultLogin and DefaultPassword are the SQL login created when
// Config.Logins is empty.
const (
	DefaultLogin    = "sa"
	DefaultPassword = "Sim-Passw0rd"
)

// DefaultNamePrefix is the @@SERVERNAME prefix when Config.NamePrefix is empty.
const DefaultNamePrefix = "mssqlsim"

// Config describes a simulated cluster: one primary and Replicas replicas.
type Config struct {
	// Addr is the primary's listen address, e.g. "127.0.0.1:0". Replica i
	// listens on port+i when the port is not 0, else on its own free port.
	Addr string
	// Logins maps SQL login names to passwords. Default {"sa": "Sim-Passw0rd"}.
	Logins map[string]string
	// Replicas is the number of read-only replicas (0 or more).
	Replicas int
	// TLS is the server's TLS configuration. When nil, CertFile/KeyFile are
	// loaded, or else a self-signed certificate is generated (as SQL Server
	// does when none is configured).
	TLS *tls.Config
	// CertFile and KeyFile name a PEM certificate and key (used when TLS is nil).
	CertFile, KeyFile string
	// Encryption is the server's encryption setting: tds.EncryptOff (default;
	// clients may choose login-only encryption), tds.EncryptOn (force
	// encryption) or tds.EncryptNotSup (no TLS at all).
	Encryption tds.Encryption
	// ReplicaLag is how long after a commit on the primary replicas apply it.
	ReplicaLag time.Duration
	// SampleData seeds the demo database (tables, rows, dbo.all_types).
	SampleData bool
	// Logger receives connection and fault logs; nil means no logs. Passwords
	// are never logged.
	Logger *zap.Logger
	// NamePrefix builds @@SERVERNAME: "<prefix>-primary", "<prefix>-replica1", …
	// Default "mssqlsim".
	NamePrefix string
}

// withDefaults returns a copy of c with defaults filled in.
func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if len(c.Logins) == 0 {
		c.Logins = map[string]string{DefaultLogin: DefaultPassword}
	} else {
		m := make(map[string]string, len(c.Logins))
		for k, v := range c.Logins {
			m[k] = v
		}
		c.Logins = m
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.NamePrefix == "" {
		c.NamePrefix = DefaultNamePrefix
	}
	return c
}

// Validate reports the first invalid field of c.
func (c Config) Validate() error {
	if c.Replicas < 0 {
		return fmt.Errorf("mssqlsim: Replicas must be >= 0, got %d", c.Replicas)
	}
	if c.ReplicaLag < 0 {
		return fmt.Errorf("mssqlsim: ReplicaLag must be >= 0, got %s", c.ReplicaLag)
	}
	switch c.Encryption {
	case tds.EncryptOff, tds.EncryptOn, tds.EncryptNotSup:
	default:
		return fmt.Errorf("mssqlsim: Encryption must be EncryptOff, EncryptOn or EncryptNotSup, got %d", c.Encryption)
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return errors.New("mssqlsim: CertFile and KeyFile must be given together")
	}
	for name := range c.Logins {
		if name == "" {
			return errors.New("mssqlsim: Logins has an empty login name")
		}
	}
	if _, _, err := net.SplitHostPort(c.Addr); c.Addr != "" && err != nil {
		return fmt.Errorf("mssqlsim: Addr %q: %w", c.Addr, err)
	}
	return nil
}

// serverAddrs returns the listen address of each server: index 0 is the
// primary, index i the i-th replica.
func serverAddrs(addr string, replicas int) ([]string, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("mssqlsim: Addr %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("mssqlsim: Addr %q: bad port", addr)
	}
	if port != 0 && port+replicas > 65535 {
		return nil, fmt.Errorf("mssqlsim: Addr %q: no room for %d replica ports above it", addr, replicas)
	}
	out := make([]string, replicas+1)
	for i := range out {
		p := 0
		if port != 0 {
			p = port + i
		}
		out[i] = net.JoinHostPort(host, strconv.Itoa(p))
	}
	return out, nil
}
