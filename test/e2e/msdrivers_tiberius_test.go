package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// tiberiusClient is tiberius, the Rust TDS driver, driven by
// test/clients/tiberius (a pinned Cargo project built by
// .ci/install-msdrivers.sh).
type tiberiusClient struct{}

// tiberiusBinary is the driver program cargo builds.
var tiberiusBinary = mustAbs(filepath.Join(clientsDir, "tiberius", "target", "release", "tdsproxy-tiberius-driver"))

func (tiberiusClient) Name() string { return "tiberius" }

func (tiberiusClient) Missing() string {
	if _, err := os.Stat(tiberiusBinary); err != nil {
		return "the tiberius driver program is not built (" + installHint + ")"
	}
	return ""
}

func (tiberiusClient) NotApplicable(sc scenario) string {
	if sc.driver == "cancel" {
		return "tiberius has no cancel: it sends no Attention, and dropping a running query's future leaves the connection unusable"
	}
	return ""
}

func (c tiberiusClient) Run(ctx context.Context, r runSpec) (*Observation, error) {
	cmd := exec.CommandContext(ctx, tiberiusBinary)
	cmd.Env = driverEnv(r, c.Name())
	o, err := runDriver(ctx, cmd)
	if err != nil {
		return nil, err
	}
	mapRustTypes(o)
	return o, nil
}

// rustTypes maps the ColumnData variants (and chrono types) the driver
// reports to the checks' vocabulary (checks_test.go's kindTypes). A type not
// listed stays as it is and so fails the type check.
var rustTypes = map[string]string{
	"u8":            "int",
	"i16":           "int",
	"i32":           "int",
	"i64":           "int",
	"f32":           "float32",
	"f64":           "float",
	"bool":          "bool",
	"String":        "string",
	"Uuid":          "UUID",
	"Vec<u8>":       "bytes",
	"Numeric":       "Decimal",
	"NaiveDateTime": "datetime",
	"NaiveDate":     "date",
	"NaiveTime":     "time",
}

// mapRustTypes rewrites the Rust type names of o's values. tiberius decodes
// money and smallmoney into an f64; that is reported as "number", the name
// the checks already accept for a decimal held in a binary float (tedious
// does the same), and the value is still compared exactly.
func mapRustTypes(o *Observation) {
	for _, row := range []map[string]Value{o.Row1, o.Row2, o.Params} {
		for k, v := range row {
			switch t, ok := rustTypes[v.Type]; {
			case v.Type == "f64" && strings.HasPrefix(v.SQLType, "Money"):
				v.Type = "number"
			case ok:
				v.Type = t
			}
			row[k] = v
		}
	}
}
