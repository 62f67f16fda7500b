package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tdsproxy/tdsproxy/policy"
	"github.com/tdsproxy/tdsproxy/policy/audit"
	"github.com/tdsproxy/tdsproxy/tds"
)

// reportingPolicy is the repository's example policy that docs and scripts
// use (owned by the policy package's authors).
const reportingPolicy = "../examples/policy/reporting.yaml"

// unitEnforcer is an enforcer with reporting.yaml and an audit trail in
// buf, and a session skeleton for login (no backend connection).
func unitEnforcer(t testing.TB, login string, auditOut *bytes.Buffer) (*sessionEnforcer, *session, *EnforceMetrics) {
	t.Helper()
	m, err := NewEnforceMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	e, err := newEnforcer(&Config{PolicyFiles: []string{reportingPolicy}}, zap.NewNop(), m)
	if err != nil {
		t.Fatal(err)
	}
	if auditOut != nil {
		e.audit = audit.NewWriter(auditOut)
	}
	se := e.newSession(7, "10.0.0.5:50000", &tds.Login7{UserName: login, AppName: "unit", HostName: "ws"})
	s := &session{log: zap.NewNop(), be: &backend{addr: "primary:1433"}, tdsVersion: tds.VerTDS74}
	return se, s, m
}

func batchMsg(text string) *tds.Message {
	b := &tds.SQLBatch{HasHeaders: true, Headers: tds.AllHeaders{HasTxDescriptor: true, OutstandingRequests: 1}, Text: text}
	return &tds.Message{Type: tds.PacketSQLBatch, Data: b.Append(nil)}
}

func rpcMsg(t testing.TB, calls ...tds.RPCCall) *tds.Message {
	t.Helper()
	for i := range calls[:len(calls)-1] {
		calls[i].BatchFlag = tds.RPCBatchFlag
	}
	r := &tds.RPCRequest{HasHeaders: true, Headers: tds.AllHeaders{HasTxDescriptor: true, OutstandingRequests: 1}, Calls: calls}
	b, err := r.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &tds.Message{Type: tds.PacketRPC, Data: b}
}

func tmMsg(typ tds.TMType) *tds.Message {
	r := &tds.TMRequest{Headers: tds.AllHeaders{HasTxDescriptor: true, OutstandingRequests: 1}, Type: typ}
	return &tds.Message{Type: tds.PacketTransMgr, Data: r.Append(nil)}
}

func textParam(s string) tds.Param {
	return tds.Param{Type: tds.TypeInfo{Type: tds.TypeNVarChar, Size: 8000}, Value: s}
}

func intParam(v int64) tds.Param {
	return tds.Param{Type: tds.TypeInfo{Type: tds.TypeIntN, Size: 4}, Value: v}
}

func handleOut() tds.Param {
	return tds.Param{Name: "@handle", Status: tds.ParamByRef, Type: tds.TypeInfo{Type: tds.TypeIntN, Size: 4}}
}

// denial decodes a refusal and returns its ERROR token and final token type.
func denial(t *testing.T, resp []byte) (tds.ServerError, tds.TokenType) {
	t.Helper()
	toks, err := tds.DecodeTokens(resp, tds.VerTDS74)
	if err != nil {
		t.Fatalf("refusal does not decode: %v", err)
	}
	if len(toks) != 2 || toks[0].Type != tds.TokenError {
		t.Fatalf("refusal is %v, want ERROR + DONE", toks)
	}
	if toks[1].Done.Status&tds.DoneError == 0 || toks[1].Done.Status&tds.DoneMore != 0 {
		t.Errorf("final token %v lacks the error bit or is not final", &toks[1])
	}
	return toks[0].Err, toks[1].Type
}

func TestEnforceRequests(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		login   string
		msg     func(t *testing.T) *tds.Message
		wantErr int32 // 0: allowed
		want    string
	}{
		{"reporter select", "reporter", func(*testing.T) *tds.Message { return batchMsg("SELECT * FROM sales.orders") }, 0, ""},
		{"reporter update", "reporter", func(*testing.T) *tds.Message { return batchMsg("UPDATE sales.orders SET total = 0") }, 229, "may not UPDATE"},
		{"reporter other schema", "reporter", func(*testing.T) *tds.Message { return batchMsg("SELECT * FROM hr.salaries") }, 229, "hr.salaries"},
		{"reporter begin tran", "reporter", func(*testing.T) *tds.Message { return batchMsg("BEGIN TRAN") }, 262, "BEGIN"},
		{"undecodable batch", "reporter", func(*testing.T) *tds.Message {
			return &tds.Message{Type: tds.PacketSQLBatch, Data: []byte{1, 2, 3}}
		}, 262, "cannot decode"},
		{"executesql by id with write", "reporter", func(t *testing.T) *tds.Message {
			return rpcMsg(t, tds.RPCCall{ProcID: tds.ProcSpExecuteSQL, Params: []tds.Param{textParam("DELETE FROM dbo.t")}})
		}, 229, "DELETE"},
		{"executesql by name read", "reporter", func(t *testing.T) *tds.Message {
			return rpcMsg(t, tds.RPCCall{ProcName: "sp_executesql", Params: []tds.Param{textParam("SELECT a FROM dbo.t")}})
		}, 0, ""},
		{"second call of a multi-call RPC denied", "reporter", func(t *testing.T) *tds.Message {
			return rpcMsg(t,
				tds.RPCCall{ProcName: "sp_executesql", Params: []tds.Param{textParam("SELECT a FROM dbo.t")}},
				tds.RPCCall{ProcName: "sp_executesql", Params: []tds.Param{textParam("INSERT dbo.t VALUES (1)")}})
		}, 229, "INSERT"},
		{"rpc to a procedure", "reporter", func(t *testing.T) *tds.Message {
			return rpcMsg(t, tds.RPCCall{ProcName: "sales.refresh"})
		}, 229, "EXECUTE"},
		{"app runs sales procedure", "app", func(t *testing.T) *tds.Message {
			return rpcMsg(t, tds.RPCCall{ProcName: "sales.refresh"})
		}, 0, ""},
		{"execute of an unseen handle", "app", func(t *testing.T) *tds.Message {
			return rpcMsg(t, tds.RPCCall{ProcID: tds.ProcSpExecute, Params: []tds.Param{intParam(99)}})
		}, 262, "handle 99"},
		{"sp_cursor by id", "app", func(t *testing.T) *tds.Message {
			return rpcMsg(t, tds.RPCCall{ProcID: tds.ProcSpCursor, Params: []tds.Param{intParam(1)}})
		}, 262, "sp_cursor"},
		{"executesql by bracketed sys name", "reporter", func(t *testing.T) *tds.Message {
			return rpcMsg(t, tds.RPCCall{ProcName: "[sys].[sp_executesql]", Params: []tds.Param{textParam("DELETE FROM dbo.t")}})
		}, 229, "DELETE"},
		{"executesql three-part upper case", "reporter", func(t *testing.T) *tds.Message {
			return rpcMsg(t, tds.RPCCall{ProcName: "master.sys.SP_EXECUTESQL", Params: []tds.Param{textParam("UPDATE dbo.t SET a = 1")}})
		}, 229, "UPDATE"},
		{"executesql text as binary", "reporter", func(t *testing.T) *tds.Message {
			p := tds.Param{Type: tds.TypeInfo{Type: tds.TypeBigVarBin, Size: 100}, Value: []byte("DELETE FROM dbo.t")}
			return rpcMsg(t, tds.RPCCall{ProcID: tds.ProcSpExecuteSQL, Params: []tds.Param{p}})
		}, 262, ""},
		{"cursoropen with a write", "reporter", func(t *testing.T) *tds.Message {
			return rpcMsg(t, tds.RPCCall{ProcID: tds.ProcSpCursorOpen, Params: []tds.Param{handleOut(), textParam("DELETE FROM dbo.t")}})
		}, 229, "DELETE"},
		{"prepexecrpc by id", "app", func(t *testing.T) *tds.Message {
			return rpcMsg(t, tds.RPCCall{ProcID: tds.ProcSpPrepExecRPC})
		}, 262, ""},
		{"unknown procedure id", "app", func(t *testing.T) *tds.Message {
			return rpcMsg(t, tds.RPCCall{ProcID: 99})
		}, 262, ""},
		{"execute without a handle", "app", func(t *testing.T) *tds.Message {
			return rpcMsg(t, tds.RPCCall{ProcName: "sp_execute"})
		}, 262, ""},
		{"rpc to xp_cmdshell", "app", func(t *testing.T) *tds.Message {
			return rpcMsg(t, tds.RPCCall{ProcName: "xp_cmdshell", Params: []tds.Param{textParam("whoami")}})
		}, 229, "EXECUTE"},
		{"TM begin for reporter", "reporter", func(*testing.T) *tds.Message { return tmMsg(tds.TMBeginXact) }, 262, "BEGIN"},
		{"TM begin for app", "app", func(*testing.T) *tds.Message { return tmMsg(tds.TMBeginXact) }, 0, ""},
		{"TM promote for reporter", "reporter", func(*testing.T) *tds.Message { return tmMsg(tds.TMPromoteXact) }, 262, ""},
		{"bulk load without INSERT BULK", "app", func(*testing.T) *tds.Message {
			return &tds.Message{Type: tds.PacketBulkLoad, Data: []byte{0x81}}
		}, 262, "bulk load"},
		{"unknown login", "mallory", func(*testing.T) *tds.Message { return batchMsg("SELECT 1") }, 262, "no role"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			se, s, _ := unitEnforcer(t, tc.login, nil)
			msg := tc.msg(t)
			resp := se.enforce(s, msg)
			if tc.wantErr == 0 {
				if resp != nil {
					e, _ := denial(t, resp)
					t.Fatalf("denied: %d %s", e.Number, e.Message)
				}
				return
			}
			if resp == nil {
				t.Fatal("allowed, want denied")
			}
			e, final := denial(t, resp)
			if e.Number != tc.wantErr || e.Class != 14 {
				t.Errorf("error %d class %d, want %d class 14", e.Number, e.Class, tc.wantErr)
			}
			if !strings.Contains(e.Message, tc.want) || !strings.Contains(e.Message, "reporting.yaml:") && tc.login != "mallory" {
				t.Errorf("message %q does not name %q and the rule's file:line", e.Message, tc.want)
			}
			wantFinal := tds.TokenDone
			if msg.Type == tds.PacketRPC {
				wantFinal = tds.TokenDoneProc
			}
			if final != wantFinal {
				t.Errorf("final token %v, want %v", final, wantFinal)
			}
		})
	}
}

// TestPreparedHandles guards the sp_prepexec → sp_execute path: a handle is
// remembered from the response's RETURNVALUE with the classification of
// its text, forgotten on sp_unprepare and on a connection reset.
func TestPreparedHandles(t *testing.T) {
	t.Parallel()
	se, s, _ := unitEnforcer(t, "app", nil)
	prep := func(text string, handle int64) {
		t.Helper()
		msg := rpcMsg(t, tds.RPCCall{ProcID: tds.ProcSpPrepExec, Params: []tds.Param{handleOut(), textParam(""), textParam(text)}})
		if resp := se.enforce(s, msg); resp != nil {
			e, _ := denial(t, resp)
			t.Fatalf("prepexec %q denied: %s", text, e.Message)
		}
		// The response: the handle, then the call's DONEPROC.
		se.observe(&tds.Event{Type: tds.TokenReturnValue, ReturnValue: tds.ReturnValue{Ordinal: 0, Name: "@handle", Value: handle}})
		se.observe(&tds.Event{Type: tds.TokenDoneProc})
	}
	exec := func(handle int64) []byte {
		return se.enforce(s, rpcMsg(t, tds.RPCCall{ProcID: tds.ProcSpExecute, Params: []tds.Param{intParam(handle)}}))
	}
	prep("SELECT * FROM sales.orders WHERE id = @p1", 5)
	// app may not truncate: the prepare is denied, and a handle in a
	// response that cannot belong to it is not recorded.
	trunc := rpcMsg(t, tds.RPCCall{ProcID: tds.ProcSpPrepExec, Params: []tds.Param{handleOut(), textParam(""), textParam("TRUNCATE TABLE sales.orders")}})
	if se.enforce(s, trunc) == nil {
		t.Fatal("sp_prepexec of TRUNCATE allowed for app")
	}
	se.observe(&tds.Event{Type: tds.TokenReturnValue, ReturnValue: tds.ReturnValue{Name: "@handle", Value: int64(6)}})
	if got := se.prepared.Len(); got != 1 {
		t.Fatalf("prepared handles = %d, want 1 (the denied prepare must not add one)", got)
	}
	if resp := exec(5); resp != nil {
		e, _ := denial(t, resp)
		t.Fatalf("execute of the SELECT handle denied: %s", e.Message)
	}
	if resp := exec(6); resp == nil {
		t.Fatal("execute of a handle never returned by the server allowed")
	}
	if resp := se.enforce(s, rpcMsg(t, tds.RPCCall{ProcID: tds.ProcSpUnprepare, Params: []tds.Param{intParam(5)}})); resp != nil {
		t.Fatal("sp_unprepare denied")
	}
	if resp := exec(5); resp == nil {
		t.Fatal("execute after sp_unprepare allowed")
	}
	prep("SELECT 1", 8)
	reset := batchMsg("SELECT 1")
	reset.Status |= tds.StatusResetConnection
	if resp := se.enforce(s, reset); resp != nil {
		t.Fatal("reset batch denied")
	}
	if resp := exec(8); resp == nil {
		t.Fatal("execute after a connection reset allowed")
	}
}

// TestBulkLoadFollowsInsertBulk: a bulk load message is allowed only right
// after an allowed INSERT BULK, and is decided as an insert into its table.
func TestBulkLoadFollowsInsertBulk(t *testing.T) {
	t.Parallel()
	bulk := &tds.Message{Type: tds.PacketBulkLoad, Data: []byte{0x81}}
	cases := []struct {
		name   string
		login  string
		before []string
		allow  bool
	}{
		{"after INSERT BULK", "loader", []string{"INSERT BULK dbo.t (a int)"}, true},
		{"no INSERT BULK", "loader", nil, false},
		{"INSERT BULK not the previous request", "loader", []string{"INSERT BULK dbo.t (a int)", "SELECT 1"}, false},
		{"after a denied INSERT BULK", "reporter", []string{"INSERT BULK dbo.t (a int)"}, false},
		{"after INSERT BULK into another schema", "loader", []string{"INSERT BULK hr.t (a int)"}, false},
		{"app may not bulk load", "app", []string{"INSERT BULK dbo.t (a int)"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			se, s, _ := unitEnforcer(t, tc.login, nil)
			se.e.store = loaderStore(t)
			for _, b := range tc.before {
				se.enforce(s, batchMsg(b))
			}
			m := *bulk
			if got := se.enforce(s, &m) == nil; got != tc.allow {
				t.Errorf("bulk load allowed = %v, want %v", got, tc.allow)
			}
		})
	}
}

// loaderStore is reporting.yaml plus a login allowed to bulk load into dbo.
func loaderStore(t *testing.T) *policy.Store {
	t.Helper()
	dir := t.TempDir()
	extra := filepath.Join(dir, "loader.yaml")
	writeFile(t, extra, []byte(`version: 1
logins:
  - name: loader
    roles: [loader]
roles:
  loader:
    default: deny
    rules:
      - allow: [bulk_insert, read]
        objects: ["*.dbo.*"]
`))
	st, err := policy.NewStore(reportingPolicy, extra)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestDeniedResetCarriesOver guards against losing a RESETCONNECTION: a
// denied request never reaches the backend, so its reset goes with the
// next forwarded request.
func TestDeniedResetCarriesOver(t *testing.T) {
	t.Parallel()
	se, s, _ := unitEnforcer(t, "reporter", nil)
	denied := batchMsg("DELETE FROM dbo.t")
	denied.Status = tds.StatusResetConnection
	if se.enforce(s, denied) == nil {
		t.Fatal("DELETE allowed")
	}
	next := batchMsg("SELECT 1")
	if se.enforce(s, next) != nil {
		t.Fatal("SELECT 1 denied")
	}
	if next.Status&tds.StatusResetConnection == 0 {
		t.Error("the denied request's RESETCONNECTION was not carried to the next request")
	}
	again := batchMsg("SELECT 1")
	se.enforce(s, again)
	if again.Status&tds.StatusResetConnection != 0 {
		t.Error("RESETCONNECTION carried twice")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestAuditRecordsAndFailClosed(t *testing.T) {
	t.Parallel()
	t.Run("records", func(t *testing.T) {
		var buf bytes.Buffer
		se, s, m := unitEnforcer(t, "app", &buf)
		se.enforce(s, batchMsg("SELECT * FROM dbo.t"))                              // app audits writes: no record
		se.enforce(s, batchMsg("UPDATE dbo.t SET secret = 'hunter2' WHERE id = 4")) // allowed write: record
		se.observe(doneEvent(tds.TokenDone, tds.DoneCount, 1))                      // its response: result record
		se.enforce(s, batchMsg("DROP TABLE dbo.t"))                                 // denial: record
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		writeFile(t, path, buf.Bytes())
		res, err := audit.Verify([]string{path})
		if err != nil || res != nil {
			t.Fatalf("Verify: %v %v", res, err)
		}
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != 3 {
			t.Fatalf("%d records, want 3:\n%s", len(lines), buf.String())
		}
		for _, want := range []string{`"decision":"allow"`, `"rows":-1`, `"session":7`, `"client":"10.0.0.5:50000"`, `"backend":"primary:1433"`, `"kinds":["update"]`} {
			if !strings.Contains(lines[0], want) {
				t.Errorf("record %s lacks %s", lines[0], want)
			}
		}
		if strings.Contains(buf.String(), "hunter2") {
			t.Error("a literal reached the audit trail of a redacting role")
		}
		for _, want := range []string{`"seq":2`, `"kind":"result"`, `"ref":1`, `"outcome":"ok"`, `"rows":1`} {
			if !strings.Contains(lines[1], want) {
				t.Errorf("result record %s lacks %s", lines[1], want)
			}
		}
		if !strings.Contains(lines[2], `"decision":"deny"`) || !strings.Contains(lines[2], `"error":229`) {
			t.Errorf("denial record %s", lines[2])
		}
		if got := metricValue(t, m.AuditRecords); got != 3 {
			t.Errorf("audit records metric = %v, want 3", got)
		}
	})
	t.Run("write fails", func(t *testing.T) {
		se, s, m := unitEnforcer(t, "app", nil)
		se.e.audit = audit.NewWriter(failingWriter{})
		if resp := se.enforce(s, batchMsg("SELECT * FROM dbo.t")); resp != nil {
			t.Error("a read that needs no record was refused")
		}
		resp := se.enforce(s, batchMsg("UPDATE dbo.t SET a = 1"))
		if resp == nil {
			t.Fatal("a write whose audit record failed was allowed to run")
		}
		if e, _ := denial(t, resp); e.Number != 33204 {
			t.Errorf("error %d, want 33204", e.Number)
		}
		if got := metricValue(t, m.AuditFailures); got != 1 {
			t.Errorf("audit failures metric = %v, want 1", got)
		}
	})
}

func TestNoPolicyAllowsAll(t *testing.T) {
	t.Parallel()
	m, _ := NewEnforceMetrics(nil)
	core, logs := observer.New(zapcore.WarnLevel)
	e, err := newEnforcer(&Config{}, zap.New(core), m)
	if err != nil {
		t.Fatal(err)
	}
	if logs.FilterMessageSnippet("every request is allowed").Len() != 1 {
		t.Errorf("no start-up warning about the missing policy: %v", logs.All())
	}
	if se := e.newSession(1, "c", &tds.Login7{UserName: "x"}); se != nil {
		t.Fatal("a session enforcer without policy and audit")
	}
	var se *sessionEnforcer
	if se.enforce(nil, batchMsg("DROP DATABASE x")) != nil {
		t.Error("no policy denied a request")
	}
	if !errors.Is(e.reload(), errNoPolicy) {
		t.Error("reload without policy files did not say so")
	}

	// With an audit log but no policy, every request is allowed and recorded.
	var buf bytes.Buffer
	e.audit = audit.NewWriter(&buf)
	se = e.newSession(2, "c", &tds.Login7{UserName: "x"})
	s := &session{log: zap.NewNop(), be: &backend{addr: "b"}, tdsVersion: tds.VerTDS74}
	for _, q := range []string{"SELECT 1", "DROP DATABASE x"} {
		if se.enforce(s, batchMsg(q)) != nil {
			t.Errorf("%q denied without a policy", q)
		}
	}
	if n := strings.Count(buf.String(), `"decision":"allow"`); n != 2 {
		t.Errorf("%d allow records, want 2:\n%s", n, buf.String())
	}
}

func TestEnforceMetricNames(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := NewEnforceMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.decision("write", false)
	m.reloadOK.Inc()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range fams {
		got[f.GetName()] = true
	}
	for _, name := range []string{"tdsproxy_policy_decisions_total", "tdsproxy_policy_reloads_total",
		"tdsproxy_audit_records_total", "tdsproxy_audit_failures_total", "tdsproxy_cache_hits_total", "tdsproxy_cache_misses_total"} {
		if !got[name] {
			t.Errorf("metric %s not registered", name)
		}
	}
	if _, err := NewEnforceMetrics(reg); err == nil {
		t.Error("registering twice did not fail")
	}
}

func TestActionLabels(t *testing.T) {
	t.Parallel()
	cases := []struct {
		text  string
		allow bool
		want  string
	}{
		{"SET NOCOUNT ON; SELECT 1", true, "read"},
		{"DECLARE @a int", true, "session"},
		{"", true, "none"},
		{"UPDATE t SET a = 1", false, "write"},
		{"\u0430SELECT 1", false, "unknown"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			c := policy.ClassifyText(tc.text)
			d := policy.Decision{Allowed: tc.allow}
			if !tc.allow {
				d.Kind = c.Statements[0].Kind
			}
			if got := actionOf(&d, c); got != tc.want {
				t.Errorf("actionOf(%q) = %q, want %q", tc.text, got, tc.want)
			}
		})
	}
}

// BenchmarkEnforceBatch measures the per-request cost of deciding a cached
// 300-byte batch (decode, classify through the cache, decide).
func BenchmarkEnforceBatch(b *testing.B) {
	m, _ := NewEnforceMetrics(nil)
	e, err := newEnforcer(&Config{PolicyFiles: []string{reportingPolicy}}, zap.NewNop(), m)
	if err != nil {
		b.Fatal(err)
	}
	se := e.newSession(1, "c", &tds.Login7{UserName: "reporter"})
	s := &session{log: zap.NewNop(), be: &backend{addr: "b"}, tdsVersion: tds.VerTDS74}
	text := "SELECT o.id, o.amount, c.name FROM sales.orders o JOIN dbo.customers c ON c.id = o.customer_id " +
		"WHERE o.placed_at >= '2026-01-01' AND o.status IN ('new', 'paid') AND c.email LIKE '%@example.com' " +
		"ORDER BY o.placed_at DESC, o.id OFFSET 0 ROWS FETCH NEXT 50 ROWS ONLY -- report 7"
	msg := batchMsg(text)
	b.ReportAllocs()
	for b.Loop() {
		if se.enforce(s, msg) != nil {
			b.Fatal("denied")
		}
	}
}

// TestDenialResponseLayouts: the refusal decodes in both DONE layouts
// (TDS 7.1: 32-bit row count; 7.2+: 64-bit), ending in DONE for a batch and
// DONEPROC for an RPC.
func TestDenialResponseLayouts(t *testing.T) {
	t.Parallel()
	we := wireError{Number: 229, Class: 14, State: 1, Message: "policy: no"}
	for _, ver := range []uint32{tds.VerTDS71, tds.VerTDS74} {
		for _, rpc := range []bool{false, true} {
			t.Run(fmt.Sprintf("%#x rpc=%v", ver, rpc), func(t *testing.T) {
				toks, err := tds.DecodeTokens(denialResponse(we, rpc, ver), ver)
				if err != nil || len(toks) != 2 {
					t.Fatalf("tokens %v, %v", toks, err)
				}
				want := tds.TokenDone
				if rpc {
					want = tds.TokenDoneProc
				}
				if toks[0].Err.Number != 229 || toks[1].Type != want || toks[1].Done.Status != tds.DoneError {
					t.Errorf("got %v, %v", &toks[0], &toks[1])
				}
			})
		}
	}
}

// TestDenialLogHidesSecrets guards against a password in a denied
// statement reaching the proxy log or the audit trail.
func TestDenialLogHidesSecrets(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	se, s, _ := unitEnforcer(t, "dba", &buf) // dba: audit all, no literal redaction
	core, logs := observer.New(zapcore.DebugLevel)
	s.log = zap.New(core)
	se.e.store = loaderStore(t)
	reporter := se.e.newSession(8, "c", &tds.Login7{UserName: "reporter"})
	for _, q := range []string{"CREATE LOGIN x WITH PASSWORD = 'Hunter2-Secret'", "EXEC sp_password NULL, 'Hunter2-Secret', 'x'"} {
		if reporter.enforce(s, batchMsg(q)) == nil {
			t.Fatalf("%q allowed for reporter", q)
		}
		if se.enforce(s, batchMsg(q)) != nil {
			t.Fatalf("%q denied for dba", q)
		}
	}
	if logs.Len() == 0 {
		t.Fatal("no denial was logged")
	}
	for _, e := range logs.All() {
		if strings.Contains(fmt.Sprint(e.ContextMap()), "Hunter2") {
			t.Errorf("log line leaks the password: %v", e.ContextMap())
		}
	}
	if strings.Contains(buf.String(), "Hunter2") {
		t.Errorf("audit trail leaks the password:\n%s", buf.String())
	}
}
