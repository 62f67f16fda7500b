package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// RegisterFlags adds a flag for every setting, and --config, to fs. Each
// flag's usage names its environment variable; its default is the built-in
// default, so `tdsproxy serve --help` lists every setting.
func RegisterFlags(fs *pflag.FlagSet) {
	fs.String(ConfigFlag, "", "YAML configuration `FILE`; flags beat "+EnvPrefix+"_* env vars, which beat the file [env "+configEnv()+"]")
	for _, st := range settings {
		name := st.flagName()
		usage := st.usage
		if len(st.enum) > 0 {
			usage += " (" + strings.Join(st.enum, "|") + ")"
		}
		usage += " [env " + st.envName() + "]"
		switch st.kind {
		case kindBool:
			fs.Bool(name, st.def.(bool), usage)
		case kindInt:
			fs.Int(name, st.def.(int), usage)
		case kindDuration:
			fs.Duration(name, durationDefault(st), usage)
		case kindList, kindAddrList, kindReplicaList, kindNameList:
			fs.StringArray(name, nil, usage)
		default:
			def, _ := st.def.(string)
			fs.String(name, def, usage)
		}
	}
}

func configEnv() string { return EnvPrefix + "_" + strings.ToUpper(ConfigFlag) }

// Loader reads the settings from a parsed flag set, the environment and the
// YAML file named by --config or TDSPROXY_CONFIG. It can be called again to
// reload: the file is re-read every time.
type Loader struct {
	fs *pflag.FlagSet
}

// NewLoader returns a Loader over fs, which must have been set up with
// RegisterFlags and parsed. A nil fs means no flags (environment and file
// only).
func NewLoader(fs *pflag.FlagSet) *Loader {
	if fs == nil {
		fs = pflag.NewFlagSet("tdsproxy", pflag.ContinueOnError)
		RegisterFlags(fs)
	}
	return &Loader{fs: fs}
}

// LoadFile reads settings from the YAML file at path and the environment,
// with no flags.
func LoadFile(path string) (Settings, error) {
	fs := pflag.NewFlagSet("tdsproxy", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Set(ConfigFlag, path); err != nil {
		return Settings{}, fmt.Errorf("config: %w", err)
	}
	return NewLoader(fs).Load()
}

// Reload re-reads the file with the same flags and environment and returns
// the new settings; the caller decides which changes it can apply live.
func (l *Loader) Reload() (Settings, error) { return l.Load() }

// configPath is the --config flag if given, else TDSPROXY_CONFIG.
func (l *Loader) configPath() string {
	if f := l.fs.Lookup(ConfigFlag); f != nil && f.Changed {
		return f.Value.String()
	}
	return os.Getenv(configEnv())
}

// Load merges flags > env > file > defaults, checks every value and returns
// the validated settings. The error lists every problem, each naming its
// key and where the value came from.
func (l *Loader) Load() (Settings, error) {
	v := viper.New()
	v.SetConfigType("yaml")

	var file *fileValues
	path := l.configPath()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Settings{}, fmt.Errorf("config: reading config file: %w", err)
		}
		file, err = scanFile(path, data)
		if err != nil {
			return Settings{}, err
		}
		if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
			return Settings{}, fmt.Errorf("config: %s: %w", path, err)
		}
	}

	var errs []error
	for _, st := range settings {
		if f := l.fs.Lookup(st.flagName()); f != nil {
			if err := v.BindPFlag(st.key, f); err != nil {
				return Settings{}, fmt.Errorf("config: binding flag --%s: %w", st.flagName(), err)
			}
		}
		if err := v.BindEnv(st.key, st.envName()); err != nil {
			return Settings{}, fmt.Errorf("config: binding env %s: %w", st.envName(), err)
		}
	}

	var s Settings
	s.ConfigFile = path
	sources := make(map[string]source, len(settings))
	for _, st := range settings {
		src := l.sourceOf(st, file)
		sources[st.key] = src
		raw := v.Get(st.key)
		if raw == nil {
			raw = st.def
		}
		val, err := parseValue(st, raw, src)
		if err != nil {
			errs = append(errs, &ValueError{Key: st.key, Source: src.String(), Err: err})
			continue
		}
		if val != nil {
			st.set(&s, val)
		}
	}
	if len(errs) > 0 {
		return Settings{}, errors.Join(errs...)
	}

	s.Proxy.SetDefaults()
	if err := s.Proxy.Validate(); err != nil {
		return Settings{}, attributeErrors(err, sources)
	}
	return s, nil
}

// sourceOf says where a setting's effective value comes from, in viper's
// precedence order.
func (l *Loader) sourceOf(st *setting, file *fileValues) source {
	if f := l.fs.Lookup(st.flagName()); f != nil && f.Changed {
		return source{kind: fromFlag, name: "--" + st.flagName()}
	}
	if val, ok := os.LookupEnv(st.envName()); ok && val != "" {
		return source{kind: fromEnv, name: st.envName()}
	}
	if file != nil {
		if line, ok := file.lines[st.key]; ok {
			return source{kind: fromFile, name: file.path, line: line}
		}
	}
	return source{kind: fromDefault}
}

// ValueError is a bad value for one setting.
type ValueError struct {
	Key    string // setting key, e.g. "login-timeout"
	Source string // "flag --login-timeout", "env TDSPROXY_LOGIN_TIMEOUT", "tdsproxy.yaml:12" or "default"
	Err    error
}

func (e *ValueError) Error() string {
	return fmt.Sprintf("config: %s (from %s): %v", e.Key, e.Source, e.Err)
}

func (e *ValueError) Unwrap() error { return e.Err }

// attributeErrors rewrites the proxy's "key: problem" validation errors
// into ValueErrors that say where the value came from.
func attributeErrors(err error, sources map[string]source) error {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	out := make([]error, 0, len(list))
	for _, e := range list {
		key, msg, found := strings.Cut(e.Error(), ": ")
		src, known := sources[key]
		if !found || !known {
			out = append(out, fmt.Errorf("config: %w", e))
			continue
		}
		out = append(out, &ValueError{Key: key, Source: src.String(), Err: errors.New(msg)})
	}
	return errors.Join(out...)
}

type sourceKind int

const (
	fromDefault sourceKind = iota
	fromFlag
	fromEnv
	fromFile
)

// source is where a setting's value came from.
type source struct {
	kind sourceKind
	name string // flag with dashes, env var name or file path
	line int    // file line, 1-based
}

func (s source) String() string {
	switch s.kind {
	case fromFlag:
		return "flag " + s.name
	case fromEnv:
		return "env " + s.name
	case fromFile:
		return fmt.Sprintf("%s:%d", s.name, s.line)
	default:
		return "default"
	}
}
