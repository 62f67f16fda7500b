package proxy

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tdsproxy/tdsproxy/policy"
	"github.com/tdsproxy/tdsproxy/tds"
)

// The policy package's bypass suite against reporting.yaml: every case in
// reporter_denied.yaml must be denied, every one in reporter_allowed.yaml
// allowed. The policy package decides them from policy.Requests; here they
// go through the proxy as TDS messages (TestPolicyCasesThroughEnforce) and
// as a real client's SQL (TestPolicyCasesEndToEnd). Read in place, not
// copied, so the proxy is held to the same list as the classifier.
const (
	deniedCasesFile  = "../policy/testdata/reporter_denied.yaml"
	allowedCasesFile = "../policy/testdata/reporter_allowed.yaml"
)

// policyCase is one case of the files (format: see their header comment).
type policyCase struct {
	Name     string           `yaml:"name"`
	Login    string           `yaml:"login"`
	Database string           `yaml:"database"`
	SQL      *string          `yaml:"sql"`
	Prepared map[int32]string `yaml:"prepared"`
	TM       string           `yaml:"tm"`
	RPC      *struct {
		ProcID   uint16 `yaml:"proc_id"`
		ProcName string `yaml:"proc_name"`
		Text     string `yaml:"text"`
		Handle   *int32 `yaml:"handle"`
	} `yaml:"rpc"`
	Bulk *struct {
		Text  string `yaml:"text"`
		Table string `yaml:"table"`
	} `yaml:"bulk"`
}

func loadPolicyCases(t *testing.T, file string) []policyCase {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []policyCase `yaml:"cases"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	for i := range doc.Cases {
		c := &doc.Cases[i]
		if c.Login == "" {
			c.Login = "reporter"
		}
		if c.Database == "" {
			c.Database = "shop"
		}
	}
	return doc.Cases
}

var caseTM = map[string]tds.TMType{
	"begin": tds.TMBeginXact, "commit": tds.TMCommitXact, "rollback": tds.TMRollbackXact, "save": tds.TMSaveXact,
	"promote": tds.TMPromoteXact, "propagate": tds.TMPropagateXact, "dtc": tds.TMGetDTCAddress,
}

// rpcCall builds the wire call of an rpc case: the text goes where its
// procedure takes the statement, the handle where it takes one.
func (c *policyCase) rpcCall() tds.RPCCall {
	r := c.RPC
	call := tds.RPCCall{ProcID: r.ProcID, ProcName: r.ProcName}
	name := baseProcName(&call)
	switch name {
	case "sp_executesql":
		call.Params = []tds.Param{textParam(r.Text)}
	case "sp_prepare", "sp_prepexec", "sp_cursorprepare":
		call.Params = []tds.Param{handleOut(), textParam(""), textParam(r.Text)}
	case "sp_cursoropen":
		call.Params = []tds.Param{handleOut(), textParam(r.Text)}
	}
	if r.Handle != nil {
		call.Params = append([]tds.Param{intParam(int64(*r.Handle))}, call.Params...)
	}
	return call
}

// databaseEnv is an ENVCHANGE database value (B_VARCHAR).
func databaseEnv(name string) []byte {
	return tds.AppendUCS2([]byte{byte(len(name))}, name)
}

// TestPolicyCasesThroughEnforce sends every case of the policy's bypass and
// legitimate-query suites through the proxy's enforcement as the TDS
// message a client would send.
func TestPolicyCasesThroughEnforce(t *testing.T) {
	t.Parallel()
	for _, suite := range []struct {
		file  string
		allow bool
	}{{deniedCasesFile, false}, {allowedCasesFile, true}} {
		cases := loadPolicyCases(t, suite.file)
		if len(cases) < 50 {
			t.Fatalf("%s: only %d cases", suite.file, len(cases))
		}
		for _, c := range cases {
			t.Run(c.Name, func(t *testing.T) {
				se, s, _ := unitEnforcer(t, c.Login, nil)
				if err := s.state.envChange(envDatabase, databaseEnv(c.Database), nil); err != nil {
					t.Fatal(err)
				}
				// Handles prepared earlier (e.g. under a previous policy).
				for h, text := range c.Prepared {
					if err := se.prepared.Put(h, policy.ClassifyText(text)); err != nil {
						t.Fatal(err)
					}
				}
				var msg *tds.Message
				switch {
				case c.SQL != nil:
					msg = batchMsg(*c.SQL)
				case c.RPC != nil:
					msg = rpcMsg(t, c.rpcCall())
				case c.TM != "":
					msg = tmMsg(caseTM[c.TM])
				case c.Bulk != nil:
					announce := c.Bulk.Text
					if announce == "" {
						announce = "INSERT BULK " + c.Bulk.Table + " (a int)"
					}
					se.enforce(s, batchMsg(announce)) // its own decision is not the case's
					msg = &tds.Message{Type: tds.PacketBulkLoad, Data: []byte{0x81, 0, 0}}
				default:
					t.Fatalf("case %q has no request", c.Name)
				}
				resp := se.enforce(s, msg)
				if allowed := resp == nil; allowed != suite.allow {
					why := "allowed"
					if resp != nil {
						e, _ := denial(t, resp)
						why = e.Message
					}
					t.Errorf("allowed = %v, want %v: %s", allowed, suite.allow, why)
				}
			})
		}
	}
}

// TestPolicyCasesEndToEnd sends the SQL cases of both suites through the
// proxy with go-mssqldb. Denied ones must be refused by the proxy itself
// (ERROR from server "tdsproxy"), all on one session that stays usable;
// allowed ones must not be refused by the proxy (the simulator may still
// reject statements it does not support or objects it does not have).
func TestPolicyCasesEndToEnd(t *testing.T) {
	t.Parallel()
	h := newEnforceHarness(t)
	ctx := context.Background()
	conns := map[string]*sql.Conn{}
	conn := func(login string) *sql.Conn {
		if conns[login] == nil {
			conns[login] = h.conn(login)
		}
		return conns[login]
	}
	refusedByProxy := func(err error) (int32, string, bool) {
		e, ok := sqlError(err)
		if !ok || e.ServerName != "tdsproxy" {
			return 0, "", false
		}
		return e.Number, e.Message, true
	}
	denied := 0
	for _, c := range loadPolicyCases(t, deniedCasesFile) {
		if c.SQL == nil || enforceLogins[c.Login] == "" {
			continue
		}
		denied++
		_, err := conn(c.Login).ExecContext(ctx, *c.SQL)
		if n, _, ok := refusedByProxy(err); !ok || (n != 229 && n != 262) {
			t.Errorf("denied case %q: got %v, want the proxy's 229/262", c.Name, err)
		}
	}
	if got := countOrders(t, conn("reporter")); got == 0 {
		t.Error("the session that was refused every bypass attempt cannot read")
	}
	allowed := 0
	for _, c := range loadPolicyCases(t, allowedCasesFile) {
		if c.SQL == nil || enforceLogins[c.Login] == "" {
			continue
		}
		allowed++
		db, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://%s:%s@%s?database=demo&encrypt=disable",
			c.Login, enforceLogins[c.Login], h.srv.Addr()))
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.ExecContext(ctx, *c.SQL)
		db.Close()
		if n, msg, ok := refusedByProxy(err); ok && strings.HasPrefix(msg, "policy:") || n == 33204 {
			t.Errorf("allowed case %q refused by the proxy: %v", c.Name, err)
		}
	}
	if denied < 100 || allowed < 50 {
		t.Errorf("ran %d denied and %d allowed SQL cases, want at least 100 and 50", denied, allowed)
	}
}
