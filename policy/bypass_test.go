package policy

import (
	"os"
	"testing"

	"gopkg.in/yaml.v3"
)

// requestCase is one request of the testdata case files.
type requestCase struct {
	Name     string           `yaml:"name"`
	Login    string           `yaml:"login"`
	Database string           `yaml:"database"`
	SQL      *string          `yaml:"sql"`
	RPC      *rpcCase         `yaml:"rpc"`
	Prepared map[int32]string `yaml:"prepared"`
	TM       string           `yaml:"tm"`
	Bulk     *bulkCase        `yaml:"bulk"`
}

type rpcCase struct {
	ProcID   uint16 `yaml:"proc_id"`
	ProcName string `yaml:"proc_name"`
	Text     string `yaml:"text"`
	Handle   *int32 `yaml:"handle"`
}

type bulkCase struct {
	Text  string `yaml:"text"`
	Table string `yaml:"table"`
}

func loadCases(t *testing.T, file string) []requestCase {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []requestCase `yaml:"cases"`
	}
	dec := yaml.NewDecoder(bytesReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return doc.Cases
}

var tmKinds = map[string]TMKind{
	"begin": TMBegin, "commit": TMCommit, "rollback": TMRollback, "save": TMSave,
	"promote": TMPromote, "propagate": TMPropagate, "dtc": TMGetDTCAddress,
}

// request turns a case into a Request, classifying prepared statements into
// the session's handle map as the proxy would.
func (c requestCase) request(t *testing.T) Request {
	t.Helper()
	req := Request{Login: c.Login, Database: c.Database}
	if req.Login == "" {
		req.Login = "reporter"
	}
	if req.Database == "" {
		req.Database = "shop"
	}
	n := 0
	switch {
	case c.SQL != nil:
		n++
		req.Kind, req.Text = RequestBatch, *c.SQL
	case c.RPC != nil:
		n++
		req.Kind, req.ProcID, req.ProcName, req.Text = RequestRPC, c.RPC.ProcID, c.RPC.ProcName, c.RPC.Text
		if c.RPC.Handle != nil {
			req.Handle, req.HasHandle = *c.RPC.Handle, true
		}
		req.Prepared = NewPreparedStatements(0)
		for h, sql := range c.Prepared {
			if err := req.Prepared.Put(h, ClassifyText(sql)); err != nil {
				t.Fatal(err)
			}
		}
	case c.TM != "":
		n++
		k, ok := tmKinds[c.TM]
		if !ok {
			t.Fatalf("unknown tm %q", c.TM)
		}
		req.Kind, req.TM = RequestTM, k
	case c.Bulk != nil:
		n++
		req.Kind, req.Text, req.BulkTable = RequestBulkLoad, c.Bulk.Text, c.Bulk.Table
	}
	if n != 1 {
		t.Fatalf("case %q: need exactly one of sql, rpc, tm, bulk", c.Name)
	}
	return req
}

func loadExamplePolicy(t testing.TB) *Policy {
	t.Helper()
	pol, err := LoadFiles("../examples/policy/reporting.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// TestBypassSuite runs the bypass attempts (every one must be denied) and
// the legitimate queries (every one must be allowed) against the example
// reporting policy.
func TestBypassSuite(t *testing.T) {
	t.Parallel()
	pol := loadExamplePolicy(t)
	for _, suite := range []struct {
		file    string
		allowed bool
		min     int
	}{
		{"testdata/reporter_denied.yaml", false, 100},
		{"testdata/reporter_allowed.yaml", true, 50},
	} {
		cases := loadCases(t, suite.file)
		if len(cases) < suite.min {
			t.Errorf("%s has %d cases, want at least %d", suite.file, len(cases), suite.min)
		}
		seen := map[string]bool{}
		for _, c := range cases {
			if seen[c.Name] {
				t.Errorf("%s: duplicate case name %q", suite.file, c.Name)
			}
			seen[c.Name] = true
			t.Run(c.Name, func(t *testing.T) {
				req := c.request(t)
				cls, _ := Classify(req)
				d := pol.Decide(req, cls)
				if d.Allowed != suite.allowed {
					_, _, msg := d.Error()
					t.Errorf("allowed = %v, want %v\nrequest: %+v\nclassification:\n%s\ndecision: %s",
						d.Allowed, suite.allowed, req, cls.Describe(), msg)
				}
			})
		}
	}
}
