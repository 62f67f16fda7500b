// Package config turns command-line flags, TDSPROXY_* environment variables
// and a YAML file into the plain structs the rest of tdsproxy runs with.
//
// Precedence is stated once, here: a flag given on the command line beats an
// environment variable, which beats the file, which beats the built-in
// default. Every setting has one key, used as the file key and (with few
// exceptions, e.g. --replica for the list "replicas") as the flag name; its
// environment variable is TDSPROXY_ followed by the key in upper case with
// dashes as underscores.
//
// Unknown keys in the file are errors naming the key and its line; bad values
// are errors naming the key and where the value came from (flag --x, env
// TDSPROXY_X or file:line). This is the only package that imports viper.
package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/tdsproxy/tdsproxy/proxy"
	"github.com/tdsproxy/tdsproxy/proxy/health"
	"github.com/tdsproxy/tdsproxy/proxy/route"
)

// Settings is everything the tdsproxy binary runs with: the proxy server's
// configuration plus the settings of the process itself.
type Settings struct {
	// Proxy is the proxy server's configuration, validated, defaults applied.
	Proxy proxy.Config
	// LogLevel is the minimum level logged: debug, info, warn or error.
	LogLevel string
	// LogFormat is json (default, one object per line) or console.
	LogFormat string
	// ConfigFile is the YAML file the settings were read from ("" for none).
	ConfigFile string
}

// kind is the type of a setting's value.
type kind int

const (
	kindString kind = iota
	kindPath        // a file name
	kindAddr        // HOST:PORT
	kindEnum
	kindBool
	kindInt
	kindDuration
	kindAddrList    // list of HOST:PORT
	kindList        // list of strings
	kindReplicaList // list of HOST:PORT[;weight=N][;max-lag=DURATION]
	kindNameList    // list of names
)

// typeName is the word used in help and docs for a kind.
func (k kind) typeName() string {
	switch k {
	case kindPath:
		return "path"
	case kindAddr:
		return "HOST:PORT"
	case kindEnum:
		return "enum"
	case kindBool:
		return "bool"
	case kindInt:
		return "int"
	case kindDuration:
		return "duration"
	case kindAddrList:
		return "list of HOST:PORT"
	case kindReplicaList:
		return "list of HOST:PORT[;weight=N][;max-lag=DURATION]"
	case kindNameList:
		return "list of names"
	case kindList:
		return "list of paths"
	default:
		return "string"
	}
}

// setting describes one configuration key. The table below is the single
// source of flags, env vars, file keys, defaults, help text and the
// reference in docs/configuration.md.
type setting struct {
	key   string   // file key; also the flag name unless flag is set
	flag  string   // flag name when it differs from key
	kind  kind     // value type
	enum  []string // allowed values for kindEnum
	def   any      // default: string, bool, int, time.Duration or nil
	usage string   // one line of help
	// set stores a parsed value (string, bool, int, time.Duration or
	// []string according to kind).
	set func(s *Settings, v any)
}

func (st *setting) flagName() string {
	if st.flag != "" {
		return st.flag
	}
	return st.key
}

func (st *setting) envName() string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(st.key, "-", "_"))
}

// defaultString renders the default for help and docs.
func (st *setting) defaultString() string {
	switch d := st.def.(type) {
	case nil:
		return ""
	case string:
		return d
	case time.Duration:
		return d.String()
	default:
		return fmt.Sprint(d)
	}
}

// EnvPrefix is the prefix of every environment variable tdsproxy reads.
const EnvPrefix = "TDSPROXY"

// ConfigFlag is the flag (and, upper-cased with the prefix, the env var
// TDSPROXY_CONFIG) naming the YAML file.
const ConfigFlag = "config"

func str(f func(s *Settings, v string)) func(*Settings, any) {
	return func(s *Settings, v any) { f(s, v.(string)) }
}

func dur(f func(s *Settings, v time.Duration)) func(*Settings, any) {
	return func(s *Settings, v any) { f(s, v.(time.Duration)) }
}

func list(f func(s *Settings, v []string)) func(*Settings, any) {
	return func(s *Settings, v any) { f(s, v.([]string)) }
}

func integer(f func(s *Settings, v int)) func(*Settings, any) {
	return func(s *Settings, v any) { f(s, v.(int)) }
}

// settings is the table of every configuration key, in the order help and
// docs show them.
var settings = []*setting{
	{key: "listen", kind: kindAddr, def: proxy.DefaultListen,
		usage: "TDS `HOST:PORT` clients connect to (\":1433\": all interfaces)",
		set:   str(func(s *Settings, v string) { s.Proxy.Listen = v })},
	{key: "primary", kind: kindAddr,
		usage: "primary SQL Server (or availability-group listener) `HOST:PORT`; required",
		set:   str(func(s *Settings, v string) { s.Proxy.Primary = v })},
	{key: "replicas", flag: "replica", kind: kindReplicaList,
		usage: "readable secondary `HOST:PORT`, optionally with \";weight=N;max-lag=5s\" (flag repeated, env comma-separated, file YAML list); with replicas each request is routed",
		set:   list(func(s *Settings, v []string) { s.Proxy.Replicas = v })},
	{key: "monitor-user", kind: kindString,
		usage: "SQL `LOGIN` the health checker probes backends with (needs VIEW SERVER STATE); empty: no probes, circuit breakers only, failovers not followed",
		set:   str(func(s *Settings, v string) { s.Proxy.MonitorUser = v })},
	{key: "monitor-password", kind: kindString,
		usage: "`PASSWORD` of --monitor-user; give it by env or file (a flag shows in ps); never logged",
		set:   str(func(s *Settings, v string) { s.Proxy.MonitorPassword = v })},
	{key: "health-interval", kind: kindDuration, def: health.DefaultInterval,
		usage: "time between two health probes of a backend",
		set:   dur(func(s *Settings, v time.Duration) { s.Proxy.HealthInterval = v })},
	{key: "health-timeout", kind: kindDuration, def: health.DefaultTimeout,
		usage: "bound on one health probe (connect, login and queries)",
		set:   dur(func(s *Settings, v time.Duration) { s.Proxy.HealthTimeout = v })},
	{key: "read-only-procedures", kind: kindNameList,
		usage: "procedures (`[SCHEMA.]NAME`) whose calls may run on replicas (flag repeated, env comma-separated, file YAML list)",
		set:   list(func(s *Settings, v []string) { s.Proxy.ReadOnlyProcedures = v })},
	{key: "read-your-writes-window", kind: kindDuration, def: route.DefaultReadYourWritesWindow,
		usage: "after a session writes, how long at most its reads stay on the primary while no replica is known to have caught up (negative: off)",
		set:   dur(func(s *Settings, v time.Duration) { s.Proxy.ReadYourWritesWindow = v })},
	{key: "no-primary-reads", kind: kindBool, def: false,
		usage: "when no replica can serve a read, fail it with 40613 instead of running it on the primary",
		set:   func(s *Settings, v any) { s.Proxy.NoPrimaryReads = v.(bool) }},
	{key: "breaker-failures", kind: kindInt, def: int(route.DefaultBreakerFailures),
		usage: "consecutive connect or I/O failures that open a backend's circuit breaker",
		set:   integer(func(s *Settings, v int) { s.Proxy.BreakerFailures = v })},
	{key: "breaker-open-timeout", kind: kindDuration, def: route.DefaultBreakerOpenTimeout,
		usage: "how long an open circuit breaker refuses work before letting a probe request through",
		set:   dur(func(s *Settings, v time.Duration) { s.Proxy.BreakerOpenTimeout = v })},
	{key: "tls-cert", kind: kindPath,
		usage: "PEM certificate (chain) `FILE` presented to clients; re-read when it changes; empty: self-signed, with a warning",
		set:   str(func(s *Settings, v string) { s.Proxy.TLSCert = v })},
	{key: "tls-key", kind: kindPath,
		usage: "PEM private key `FILE` for --tls-cert",
		set:   str(func(s *Settings, v string) { s.Proxy.TLSKey = v })},
	{key: "client-encryption", kind: kindEnum, def: string(proxy.ClientEncryptionOptional),
		enum:  []string{string(proxy.ClientEncryptionOptional), string(proxy.ClientEncryptionRequired)},
		usage: "optional: encrypt when the client asks (login-only for ENCRYPT_OFF clients); required: refuse clients that do not encrypt",
		set:   str(func(s *Settings, v string) { s.Proxy.ClientEncryption = proxy.ClientEncryption(v) })},
	{key: "backend-encrypt", kind: kindEnum, def: string(proxy.BackendEncryptTrue),
		enum: []string{string(proxy.BackendEncryptDisable), string(proxy.BackendEncryptFalse),
			string(proxy.BackendEncryptTrue), string(proxy.BackendEncryptStrict)},
		usage: "TLS to backends, as go-mssqldb's encrypt=: disable (none), false (login only), true (full), strict (TDS 8)",
		set:   str(func(s *Settings, v string) { s.Proxy.BackendEncrypt = proxy.BackendEncrypt(v) })},
	{key: "backend-trust-cert", kind: kindBool, def: false,
		usage: "skip verification of backend certificates (insecure; for test servers only)",
		set:   func(s *Settings, v any) { s.Proxy.BackendTrustCert = v.(bool) }},
	{key: "backend-ca-file", kind: kindPath,
		usage: "PEM bundle `FILE` to verify backend certificates with (default: system roots)",
		set:   str(func(s *Settings, v string) { s.Proxy.BackendCAFile = v })},
	{key: "backend-server-name", kind: kindString,
		usage: "`NAME` expected in backend certificates (default: host part of the backend address)",
		set:   str(func(s *Settings, v string) { s.Proxy.BackendServerName = v })},
	{key: "backend-connect-timeout", kind: kindDuration, def: proxy.DefaultBackendConnectTimeout,
		usage: "bound on dialing and logging in to a backend; past it the client gets transient error 40613",
		set:   dur(func(s *Settings, v time.Duration) { s.Proxy.BackendConnectTimeout = v })},
	{key: "admin-listen", kind: kindAddr,
		usage: "HTTP `HOST:PORT` for /metrics, /healthz and /readyz (empty: off)",
		set:   str(func(s *Settings, v string) { s.Proxy.AdminListen = v })},
	{key: "max-client-conns", kind: kindInt, def: proxy.DefaultMaxClientConns,
		usage: "most concurrent client connections; more are refused with an error",
		set:   integer(func(s *Settings, v int) { s.Proxy.MaxClientConns = v })},
	{key: "login-timeout", kind: kindDuration, def: proxy.DefaultLoginTimeout,
		usage: "bound on a client's PRELOGIN, TLS handshake and LOGIN7",
		set:   dur(func(s *Settings, v time.Duration) { s.Proxy.LoginTimeout = v })},
	{key: "idle-timeout", kind: kindDuration, def: time.Duration(0),
		usage: "close client sessions idle for longer (0: never)",
		set:   dur(func(s *Settings, v time.Duration) { s.Proxy.IdleTimeout = v })},
	{key: "max-message-size", kind: kindInt, def: proxy.DefaultMaxMessageSize,
		usage: "largest client request message in bytes (at least 4096)",
		set:   integer(func(s *Settings, v int) { s.Proxy.MaxMessageSize = v })},
	{key: "shutdown-grace", kind: kindDuration, def: proxy.DefaultShutdownGrace,
		usage: "on SIGTERM, how long to wait for in-flight requests before closing",
		set:   dur(func(s *Settings, v time.Duration) { s.Proxy.ShutdownGrace = v })},
	{key: "policy-files", flag: "policy", kind: kindList,
		usage: "policy YAML `FILE` (flag repeated, env comma-separated, file YAML list); none: allow all, with a warning",
		set:   list(func(s *Settings, v []string) { s.Proxy.PolicyFiles = v })},
	{key: "audit-log", kind: kindPath,
		usage: "audit log `FILE` (\"-\": stdout; empty: no audit log)",
		set:   str(func(s *Settings, v string) { s.Proxy.AuditLog = v })},
	{key: "log-level", kind: kindEnum, def: "info", enum: []string{"debug", "info", "warn", "error"},
		usage: "minimum level of log lines",
		set:   str(func(s *Settings, v string) { s.LogLevel = v })},
	{key: "log-format", kind: kindEnum, def: "json", enum: []string{"json", "console"},
		usage: "log line format: json (one object per line) or console (for people)",
		set:   str(func(s *Settings, v string) { s.LogFormat = v })},
}

// settingByKey finds a setting by its file key.
func settingByKey(key string) *setting {
	for _, st := range settings {
		if st.key == key {
			return st
		}
	}
	return nil
}

// Setting documents one configuration key for help texts and the reference.
type Setting struct {
	Key     string // key in the YAML file
	Flag    string // command-line flag, with its dashes: "--listen"
	Env     string // environment variable: "TDSPROXY_LISTEN"
	Type    string // "duration", "HOST:PORT", "bool", …
	Default string // default value as text ("" when none)
	Allowed []string
	Usage   string // one line of help
}

// Reference lists every setting in display order.
func Reference() []Setting {
	out := make([]Setting, 0, len(settings))
	for _, st := range settings {
		out = append(out, Setting{
			Key:     st.key,
			Flag:    "--" + st.flagName(),
			Env:     st.envName(),
			Type:    st.kind.typeName(),
			Default: st.defaultString(),
			Allowed: append([]string(nil), st.enum...),
			Usage:   st.usage,
		})
	}
	return out
}
