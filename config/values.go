package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tdsproxy/tdsproxy/internal/textdist"

	"github.com/tdsproxy/tdsproxy/proxy"
)

func durationDefault(st *setting) time.Duration {
	d, _ := st.def.(time.Duration)
	return d
}

// parseValue converts a raw value as viper returns it (a string from flags
// and env, a YAML-typed value from the file) to the setting's type.
func parseValue(st *setting, raw any, src source) (any, error) {
	switch st.kind {
	case kindString, kindPath:
		return scalarString(raw)
	case kindAddr:
		s, err := scalarString(raw)
		if err != nil || s == "" {
			return s, err
		}
		return s, checkAddr(s)
	case kindEnum:
		s, err := scalarString(raw)
		if err != nil {
			return nil, err
		}
		s = strings.ToLower(strings.TrimSpace(s))
		if !slices.Contains(st.enum, s) {
			return nil, fmt.Errorf("%q is not one of %s", s, strings.Join(st.enum, ", "))
		}
		return s, nil
	case kindBool:
		switch b := raw.(type) {
		case bool:
			return b, nil
		case string:
			v, err := strconv.ParseBool(strings.TrimSpace(b))
			if err != nil {
				return nil, fmt.Errorf("%q is not a boolean (true or false)", b)
			}
			return v, nil
		}
		return nil, fmt.Errorf("%v is not a boolean (true or false)", raw)
	case kindInt:
		return parseInt(raw)
	case kindDuration:
		return parseDuration(raw)
	case kindList, kindAddrList, kindReplicaList, kindNameList:
		items, err := parseList(raw, src)
		if err != nil {
			return nil, err
		}
		if st.kind == kindReplicaList {
			for i, it := range items {
				if _, err := proxy.ParseReplica(it); err != nil {
					return nil, fmt.Errorf("entry %d: %w", i+1, err)
				}
			}
		}
		if st.kind == kindAddrList {
			for i, it := range items {
				if err := checkAddr(it); err != nil {
					return nil, fmt.Errorf("entry %d: %w", i+1, err)
				}
			}
		}
		return items, nil
	}
	return nil, fmt.Errorf("internal: unknown kind %d", st.kind)
}

// scalarString accepts any YAML scalar as text.
func scalarString(raw any) (string, error) {
	switch v := raw.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case bool, int, int64, uint64, float64:
		return fmt.Sprint(v), nil
	}
	return "", fmt.Errorf("want a single value, got %T", raw)
}

func checkAddr(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not HOST:PORT: %w", s, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", s, port)
	}
	return nil
}

func parseInt(raw any) (int, error) {
	var n int64
	switch v := raw.(type) {
	case int:
		n = int64(v)
	case int64:
		n = v
	case uint64:
		if v > math.MaxInt64 {
			return 0, fmt.Errorf("%d is too large", v)
		}
		n = int64(v)
	case float64:
		if v != math.Trunc(v) || v > math.MaxInt32*1024 || v < 0 {
			return 0, fmt.Errorf("%v is not a whole number", v)
		}
		n = int64(v)
	case string:
		p, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a whole number", v)
		}
		n = p
	default:
		return 0, fmt.Errorf("want a whole number, got %T", raw)
	}
	if n < 0 {
		return 0, fmt.Errorf("%d is negative", n)
	}
	if n > math.MaxInt32 {
		return 0, fmt.Errorf("%d is too large", n)
	}
	return int(n), nil
}

func parseDuration(raw any) (time.Duration, error) {
	var d time.Duration
	switch v := raw.(type) {
	case time.Duration:
		d = v
	case string:
		p, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (write e.g. 500ms, 30s, 2m)", v)
		}
		d = p
	case int, int64, uint64, float64:
		if fmt.Sprint(v) == "0" {
			return 0, nil
		}
		return 0, fmt.Errorf("%v has no unit (write e.g. %vs)", v, v)
	default:
		return 0, fmt.Errorf("want a duration such as 30s, got %T", raw)
	}
	if d < 0 {
		return 0, fmt.Errorf("%s is negative", d)
	}
	return d, nil
}

// parseList accepts a YAML list, a []string from repeated flags, or a
// comma-separated string (env). Empty items are dropped.
func parseList(raw any, src source) ([]string, error) {
	var items []string
	switch v := raw.(type) {
	case nil:
		return nil, nil
	case []string:
		items = v
	case []any:
		for i, it := range v {
			s, err := scalarString(it)
			if err != nil {
				return nil, fmt.Errorf("entry %d: %w", i+1, err)
			}
			items = append(items, s)
		}
	case string:
		if src.kind == fromFile {
			return nil, fmt.Errorf("want a YAML list (- item per line), got the string %q", v)
		}
		items = strings.Split(v, ",")
	default:
		return nil, fmt.Errorf("want a list, got %T", raw)
	}
	var out []string
	for _, it := range items {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out, nil
}

// fileValues records which keys a config file sets, and on which line.
type fileValues struct {
	path  string
	lines map[string]int
}

// scanFile checks the file's shape and keys with yaml.v3 nodes, so errors
// can name lines: the top level must be a mapping, and every key must be a
// known setting, given once.
func scanFile(path string, data []byte) (*fileValues, error) {
	fv := &fileValues{path: path, lines: map[string]int{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return fv, nil // empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config: %s:%d: the file must be a mapping of setting: value", path, root.Line)
	}
	var errs []error
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, val := root.Content[i], root.Content[i+1]
		key := k.Value
		if settingByKey(key) == nil {
			msg := fmt.Sprintf("config: %s:%d: unknown key %q", path, k.Line, key)
			if s := suggest(key); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			errs = append(errs, errors.New(msg))
			continue
		}
		if prev, dup := fv.lines[key]; dup {
			errs = append(errs, fmt.Errorf("config: %s:%d: key %q already set on line %d", path, k.Line, key, prev))
			continue
		}
		fv.lines[key] = val.Line
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return fv, nil
}

// suggest returns the known key closest to an unknown one, or "".
func suggest(key string) string {
	norm := strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(key))
	best, bestDist := "", 3
	for _, st := range settings {
		if st.key == norm || st.flagName() == norm {
			return st.key
		}
		if d := textdist.Levenshtein(norm, st.key); d < bestDist {
			best, bestDist = st.key, d
		}
	}
	return best
}
