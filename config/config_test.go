package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/tdsproxy/tdsproxy/proxy"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md's generated table")

// clearEnv blanks every TDSPROXY_* variable this package reads, so the
// test's environment cannot leak in (an empty variable counts as unset).
func clearEnv(t *testing.T) {
	t.Helper()
	t.Setenv(configEnv(), "")
	for _, st := range settings {
		t.Setenv(st.envName(), "")
	}
}

// load parses args as serve's flags and loads with the current env.
func load(t *testing.T, args ...string) (Settings, error) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return Settings{}, err
	}
	return NewLoader(fs).Load()
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tdsproxy.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrecedence(t *testing.T) {
	file := "primary: file-host:1433\nlogin-timeout: 10s\nreplicas: [f1:1433]\n"
	tests := []struct {
		name        string
		env         map[string]string
		args        []string
		wantTimeout time.Duration
		wantPrimary string
		wantRepl    []string
	}{
		{name: "file only", wantTimeout: 10 * time.Second, wantPrimary: "file-host:1433", wantRepl: []string{"f1:1433"}},
		{name: "env beats file",
			env:         map[string]string{"TDSPROXY_LOGIN_TIMEOUT": "20s", "TDSPROXY_REPLICAS": "e1:1433, e2:1433"},
			wantTimeout: 20 * time.Second, wantPrimary: "file-host:1433", wantRepl: []string{"e1:1433", "e2:1433"}},
		{name: "flag beats env and file",
			env:         map[string]string{"TDSPROXY_LOGIN_TIMEOUT": "20s", "TDSPROXY_PRIMARY": "env-host:1433"},
			args:        []string{"--login-timeout", "30s", "--primary", "flag-host:1433", "--replica", "r1:1", "--replica", "r2:2"},
			wantTimeout: 30 * time.Second, wantPrimary: "flag-host:1433", wantRepl: []string{"r1:1", "r2:2"}},
		{name: "empty env counts as unset",
			env:         map[string]string{"TDSPROXY_LOGIN_TIMEOUT": ""},
			wantTimeout: 10 * time.Second, wantPrimary: "file-host:1433", wantRepl: []string{"f1:1433"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			t.Setenv("TDSPROXY_CONFIG", writeFile(t, file))
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			s, err := load(t, tc.args...)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if s.Proxy.LoginTimeout != tc.wantTimeout {
				t.Errorf("LoginTimeout = %v, want %v", s.Proxy.LoginTimeout, tc.wantTimeout)
			}
			if s.Proxy.Primary != tc.wantPrimary {
				t.Errorf("Primary = %q, want %q", s.Proxy.Primary, tc.wantPrimary)
			}
			if !reflect.DeepEqual(s.Proxy.Replicas, tc.wantRepl) {
				t.Errorf("Replicas = %q, want %q", s.Proxy.Replicas, tc.wantRepl)
			}
		})
	}
}

func TestConfigFlagBeatsConfigEnv(t *testing.T) {
	clearEnv(t)
	t.Setenv("TDSPROXY_CONFIG", writeFile(t, "primary: from-env-file:1\n"))
	s, err := load(t, "--config", writeFile(t, "primary: from-flag-file:1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Proxy.Primary != "from-flag-file:1" {
		t.Errorf("Primary = %q, want the --config file's", s.Proxy.Primary)
	}
}

func TestDefaults(t *testing.T) {
	clearEnv(t)
	s, err := load(t, "--primary", "db:1433")
	if err != nil {
		t.Fatal(err)
	}
	want := proxy.Config{Primary: "db:1433"}
	want.SetDefaults()
	if !reflect.DeepEqual(s.Proxy, want) {
		t.Errorf("defaults differ from proxy.Config.SetDefaults:\n got %+v\nwant %+v", s.Proxy, want)
	}
	if s.LogLevel != "info" || s.LogFormat != "json" {
		t.Errorf("log = %q/%q, want info/json", s.LogLevel, s.LogFormat)
	}
}

func TestEveryFileKeyIsApplied(t *testing.T) {
	clearEnv(t)
	body := `listen: "127.0.0.1:2433"
primary: p:1
replicas: ["r:2", "r:3;weight=2;max-lag=5s"]
monitor-user: monitor
monitor-password: secret
health-interval: 3s
health-timeout: 2s
read-only-procedures: [dbo.report, stats]
read-your-writes-window: 7s
no-primary-reads: true
breaker-failures: 3
breaker-open-timeout: 20s
tls-cert: c.pem
tls-key: k.pem
client-encryption: required
backend-encrypt: strict
backend-trust-cert: true
backend-ca-file: ca.pem
backend-server-name: sql.example
backend-connect-timeout: 3s
admin-listen: "127.0.0.1:9999"
max-client-conns: 7
login-timeout: 4s
idle-timeout: 5m
max-message-size: 8192
shutdown-grace: 6s
policy-files: [a.yaml, b.yaml]
audit-log: "-"
log-level: debug
log-format: console
`
	s, err := LoadFile(writeFile(t, body))
	if err != nil {
		t.Fatal(err)
	}
	want := proxy.Config{
		Listen: "127.0.0.1:2433", Primary: "p:1", Replicas: []string{"r:2", "r:3;weight=2;max-lag=5s"},
		MonitorUser: "monitor", MonitorPassword: "secret", HealthInterval: 3 * time.Second, HealthTimeout: 2 * time.Second,
		ReadOnlyProcedures: []string{"dbo.report", "stats"}, ReadYourWritesWindow: 7 * time.Second, NoPrimaryReads: true,
		BreakerFailures: 3, BreakerOpenTimeout: 20 * time.Second,
		TLSCert: "c.pem", TLSKey: "k.pem", ClientEncryption: proxy.ClientEncryptionRequired,
		BackendEncrypt: proxy.BackendEncryptStrict, BackendTrustCert: true,
		BackendCAFile: "ca.pem", BackendServerName: "sql.example", BackendConnectTimeout: 3 * time.Second,
		AdminListen: "127.0.0.1:9999", MaxClientConns: 7, LoginTimeout: 4 * time.Second,
		IdleTimeout: 5 * time.Minute, MaxMessageSize: 8192, ShutdownGrace: 6 * time.Second,
		PolicyFiles: []string{"a.yaml", "b.yaml"}, AuditLog: "-",
	}
	if !reflect.DeepEqual(s.Proxy, want) {
		t.Errorf("got  %+v\nwant %+v", s.Proxy, want)
	}
	if s.LogLevel != "debug" || s.LogFormat != "console" {
		t.Errorf("log = %q/%q", s.LogLevel, s.LogFormat)
	}
	// Every setting in the table is covered by the file above.
	fv, err := scanFile("x", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range settings {
		if _, ok := fv.lines[st.key]; !ok {
			t.Errorf("test file misses key %q", st.key)
		}
	}
}

func TestBackendEncryptYAMLBool(t *testing.T) {
	// YAML reads an unquoted true/false as a boolean; it must still work.
	for _, v := range []string{"true", "false", `"true"`, "disable", "Strict"} {
		t.Run(v, func(t *testing.T) {
			clearEnv(t)
			s, err := LoadFile(writeFile(t, "primary: p:1\nbackend-encrypt: "+v+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			want := strings.ToLower(strings.Trim(v, `"`))
			if string(s.Proxy.BackendEncrypt) != want {
				t.Errorf("BackendEncrypt = %q, want %q", s.Proxy.BackendEncrypt, want)
			}
		})
	}
}

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"typo", "primary: p:1\nprimay: x:1\n", []string{`:2: unknown key "primay"`, `did you mean "primary"`}},
		{"underscore", "primary: p:1\nlogin_timeout: 5s\n", []string{`:2: unknown key "login_timeout"`, `did you mean "login-timeout"`}},
		{"flag name instead of key", "primary: p:1\nreplica: [a:1]\n", []string{`unknown key "replica"`, `did you mean "replicas"`}},
		{"nested", "primary: p:1\nbackend:\n  encrypt: true\n", []string{`:2: unknown key "backend"`}},
		{"two at once", "foo: 1\nprimary: p:1\nbar: 2\n", []string{`:1: unknown key "foo"`, `:3: unknown key "bar"`}},
		{"duplicate", "primary: p:1\nprimary: q:1\n", []string{`:2: key "primary" already set on line 1`}},
		{"not a mapping", "- a\n- b\n", []string{"must be a mapping"}},
		{"syntax", "primary: [\n", []string{"tdsproxy.yaml"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			_, err := LoadFile(writeFile(t, tc.body))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestBadValuesNameKeyAndSource(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		args []string
		want []string
	}{
		{name: "duration from env", env: map[string]string{"TDSPROXY_LOGIN_TIMEOUT": "5"},
			want: []string{"login-timeout", "env TDSPROXY_LOGIN_TIMEOUT", "not a duration"}},
		{name: "bare number duration in file", file: "login-timeout: 30\n",
			want: []string{"login-timeout", "tdsproxy.yaml:2", "no unit"}},
		{name: "negative duration in file", file: "idle-timeout: -1s\n",
			want: []string{"idle-timeout", "tdsproxy.yaml:2", "negative"}},
		{name: "enum in file", file: "backend-encrypt: yes\n",
			want: []string{"backend-encrypt", "tdsproxy.yaml:2", `"yes" is not one of disable, false, true, strict`}},
		{name: "enum from flag", args: []string{"--client-encryption", "always"},
			want: []string{"client-encryption", "flag --client-encryption"}},
		{name: "bad bool from env", env: map[string]string{"TDSPROXY_BACKEND_TRUST_CERT": "maybe"},
			want: []string{"backend-trust-cert", "env TDSPROXY_BACKEND_TRUST_CERT", "boolean"}},
		{name: "bad int from env", env: map[string]string{"TDSPROXY_MAX_CLIENT_CONNS": "lots"},
			want: []string{"max-client-conns", "env TDSPROXY_MAX_CLIENT_CONNS", "whole number"}},
		{name: "bad address from flag", args: []string{"--listen", "1433"},
			want: []string{"listen", "flag --listen", "HOST:PORT"}},
		{name: "bad admin address from env", env: map[string]string{"TDSPROXY_ADMIN_LISTEN": "9090"},
			want: []string{"admin-listen", "env TDSPROXY_ADMIN_LISTEN", "HOST:PORT"}},
		{name: "bad port in file", file: "listen: \"host:99999\"\n",
			want: []string{"listen", "tdsproxy.yaml:2", "0 to 65535"}},
		{name: "bad replica from env", env: map[string]string{"TDSPROXY_REPLICAS": "a:1,nope"},
			want: []string{"replicas", "env TDSPROXY_REPLICAS", "entry 2", "nope"}},
		{name: "replicas as string in file", file: "replicas: a:1\n",
			want: []string{"replicas", "tdsproxy.yaml:2", "YAML list"}},
		{name: "map for scalar in file", file: "listen:\n  host: x\n",
			want: []string{"listen", "tdsproxy.yaml:3", "single value"}},
		{name: "small message size (proxy validation)", env: map[string]string{"TDSPROXY_MAX_MESSAGE_SIZE": "100"},
			want: []string{"max-message-size", "env TDSPROXY_MAX_MESSAGE_SIZE", "at least 4096"}},
		{name: "cert without key (proxy validation)", args: []string{"--tls-cert", "c.pem"},
			want: []string{"tls-cert", "flag --tls-cert", "together"}},
		{name: "missing primary", file: "listen: \":1\"\n", args: []string{"--primary", ""},
			want: []string{"primary", "required"}},
		{name: "two errors at once", env: map[string]string{"TDSPROXY_LOGIN_TIMEOUT": "x", "TDSPROXY_LOG_LEVEL": "loud"},
			want: []string{"login-timeout", "log-level", `"loud"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			file := tc.file
			if !strings.Contains(file, "primary") {
				file = "primary: p:1\n" + file
			}
			t.Setenv("TDSPROXY_CONFIG", writeFile(t, file))
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := load(t, tc.args...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestValueErrorUnwraps(t *testing.T) {
	clearEnv(t)
	t.Setenv("TDSPROXY_IDLE_TIMEOUT", "soon")
	_, err := load(t, "--primary", "p:1")
	var ve *ValueError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v is not a *ValueError", err)
	}
	if ve.Key != "idle-timeout" || ve.Source != "env TDSPROXY_IDLE_TIMEOUT" {
		t.Errorf("ValueError = %+v", ve)
	}
}

func TestFlagParseErrorsNameFlag(t *testing.T) {
	clearEnv(t)
	_, err := load(t, "--primary", "p:1", "--shutdown-grace", "forever")
	if err == nil || !strings.Contains(err.Error(), "--shutdown-grace") {
		t.Errorf("error %v does not name --shutdown-grace", err)
	}
}

func TestReload(t *testing.T) {
	clearEnv(t)
	path := writeFile(t, "primary: p:1\npolicy-files: [a.yaml]\n")
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse([]string{"--config", path, "--login-timeout", "9s"}); err != nil {
		t.Fatal(err)
	}
	l := NewLoader(fs)
	s1, err := l.Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("primary: p:1\npolicy-files: [a.yaml, b.yaml]\nlogin-timeout: 1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := l.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if len(s1.Proxy.PolicyFiles) != 1 || len(s2.Proxy.PolicyFiles) != 2 {
		t.Errorf("policy files before/after = %q / %q", s1.Proxy.PolicyFiles, s2.Proxy.PolicyFiles)
	}
	if s2.Proxy.LoginTimeout != 9*time.Second {
		t.Errorf("the flag must still win after reload: LoginTimeout = %v", s2.Proxy.LoginTimeout)
	}
	if err := os.WriteFile(path, []byte("primary: p:1\nbogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Reload(); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("reload of a bad file: err = %v", err)
	}
}

func TestEmptyFile(t *testing.T) {
	clearEnv(t)
	t.Setenv("TDSPROXY_PRIMARY", "p:1")
	s, err := LoadFile(writeFile(t, "# only comments\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Proxy.Primary != "p:1" {
		t.Errorf("Primary = %q", s.Proxy.Primary)
	}
}

func TestMissingFile(t *testing.T) {
	clearEnv(t)
	_, err := LoadFile(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("err = %v, want it to name the file", err)
	}
}

func TestFlagsListEverySetting(t *testing.T) {
	t.Parallel()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs)
	usage := fs.FlagUsages()
	for _, s := range Reference() {
		for _, w := range []string{s.Flag + " ", s.Env} {
			if !strings.Contains(usage, w) {
				t.Errorf("flag usage lacks %q for key %s", w, s.Key)
			}
		}
	}
	if !strings.Contains(usage, "--config") || !strings.Contains(usage, "TDSPROXY_CONFIG") {
		t.Error("flag usage lacks --config / TDSPROXY_CONFIG")
	}
}

// TestExampleConfig keeps examples/tdsproxy.yaml valid and complete.
func TestExampleConfig(t *testing.T) {
	clearEnv(t)
	const path = "../examples/tdsproxy.yaml"
	s, err := LoadFile(path)
	if err != nil {
		t.Fatalf("example config does not load: %v", err)
	}
	if s.Proxy.Primary == "" {
		t.Error("example sets no primary")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fv, err := scanFile(path, data)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range settings {
		if _, ok := fv.lines[st.key]; !ok {
			t.Errorf("example config lacks key %q", st.key)
		}
	}
}

// TestReferenceDoc keeps docs/configuration.md's settings table generated
// from the settings table. Run with -update to rewrite it.
func TestReferenceDoc(t *testing.T) {
	const path = "../docs/configuration.md"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ReplaceReference(string(data))
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want != string(data) {
		t.Errorf("%s is out of date with the settings table: run go test ./config -run TestReferenceDoc -update", path)
	}
	for _, s := range Reference() {
		if !strings.Contains(string(data), "`"+s.Env+"`") {
			t.Errorf("%s lacks %s", path, s.Env)
		}
	}
}
