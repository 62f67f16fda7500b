package route

import (
	"strings"
	"testing"
	"time"

	"github.com/tdsproxy/tdsproxy/policy"
	"github.com/tdsproxy/tdsproxy/proxy/health"
)

func TestRouteRules(t *testing.T) {
	t.Parallel()
	down := func(names ...string) func([]health.BackendStatus) {
		return func(ss []health.BackendStatus) {
			for i := range ss {
				for _, n := range names {
					if ss[i].Name == n {
						ss[i].State = health.StateDown
					}
				}
			}
		}
	}
	lagging := func(ss []health.BackendStatus) {
		for i := range ss[1:] {
			ss[i+1].State, ss[i+1].Lag = health.StateLagging, 9*time.Second
		}
	}
	caughtUp := func(name string) func([]health.BackendStatus) {
		return func(ss []health.BackendStatus) {
			for i := range ss {
				if ss[i].Name == name {
					ss[i].AppliedThrough = fixed
				}
			}
		}
	}
	rpc := func(text string) *RequestInfo {
		r := batch(text)
		r.RPC = true
		return r
	}
	cases := []struct {
		name     string
		req      *RequestInfo
		sess     SessionInfo
		cfg      Config
		topo     func([]health.BackendStatus)
		target   Target
		reason   Reason
		backends string // "" any; else one of these (comma-separated)
		errNum   int32
		write    bool
	}{
		{name: "select goes to a replica", req: batch("SELECT * FROM dbo.customers"), target: TargetReplica, reason: ReasonRead, backends: "r1,r2"},
		{name: "set and select go to a replica", req: batch("SET NOCOUNT ON; SELECT 1"), target: TargetReplica, reason: ReasonRead},
		{name: "use and select go to a replica", req: batch("USE demo; SELECT 1"), target: TargetReplica, reason: ReasonRead},
		{name: "sp_executesql read goes to a replica", req: rpc("SELECT name FROM dbo.customers WHERE id = @p1"), target: TargetReplica, reason: ReasonRead},
		{name: "insert", req: batch("INSERT INTO dbo.t VALUES (1)"), target: TargetPrimary, reason: ReasonWrite, write: true},
		{name: "read then write", req: batch("SELECT 1; UPDATE dbo.t SET a = 1"), target: TargetPrimary, reason: ReasonWrite, write: true},
		{name: "select into", req: batch("SELECT * INTO dbo.copy FROM dbo.t"), target: TargetPrimary, reason: ReasonWrite, write: true},
		{name: "sequence next value writes", req: batch("SELECT NEXT VALUE FOR dbo.seq"), target: TargetPrimary, reason: ReasonWrite, write: true},
		{name: "ddl", req: batch("CREATE TABLE dbo.x (a int)"), target: TargetPrimary, reason: ReasonDDL, write: true},
		{name: "grant", req: batch("GRANT SELECT ON dbo.t TO bob"), target: TargetPrimary, reason: ReasonDDL, write: true},
		{name: "procedure call", req: batch("EXEC dbo.place_order 1"), target: TargetPrimary, reason: ReasonExec, write: true},
		{name: "listed read-only procedure", req: batch("EXEC dbo.report_sales 2024"), cfg: Config{ReadOnlyProcedures: []string{"dbo.Report_Sales"}}, target: TargetReplica, reason: ReasonRead},
		{name: "listed procedure, unqualified call", req: batch("EXEC report_sales"), cfg: Config{ReadOnlyProcedures: []string{"report_sales"}}, target: TargetReplica, reason: ReasonRead},
		{name: "listed procedure in another schema", req: batch("EXEC sales.report_sales"), cfg: Config{ReadOnlyProcedures: []string{"report_sales"}}, target: TargetPrimary, reason: ReasonExec, write: true},
		{name: "dynamic sql", req: batch("EXEC('SELECT 1')"), target: TargetPrimary, reason: ReasonExec, write: true},
		{name: "unknown text", req: batch("SELECT 'unterminated"), target: TargetPrimary, reason: ReasonUnknown, write: true},
		{name: "no classification", req: &RequestInfo{}, target: TargetPrimary, reason: ReasonUnknown, write: true},
		{name: "begin tran", req: batch("BEGIN TRAN; SELECT 1"), target: TargetPrimary, reason: ReasonTransaction, write: true},
		{name: "read in an open transaction", req: batch("SELECT 1"), sess: SessionInfo{Tx: TxOpen}, target: TargetPrimary, reason: ReasonTransaction},
		{name: "read with transaction state unknown", req: batch("SELECT 1"), sess: SessionInfo{Tx: TxUnknown}, target: TargetPrimary, reason: ReasonTransaction},
		{name: "client sends a transaction descriptor", req: &RequestInfo{Class: policy.ClassifyText("SELECT 1"), TxDescriptor: 7}, target: TargetPrimary, reason: ReasonTransaction},
		{name: "commit", req: batch("COMMIT"), sess: SessionInfo{Tx: TxOpen}, target: TargetPrimary, reason: ReasonTransaction, write: true},
		{name: "pinned session", req: batch("SELECT 1"), sess: SessionInfo{Pinned: true}, target: TargetPrimary, reason: ReasonPinned},
		{name: "temp table read", req: batch("SELECT * FROM #work"), target: TargetPrimary, reason: ReasonTempTable, write: true},
		{name: "temp table create", req: batch("CREATE TABLE #work (a int)"), target: TargetPrimary, reason: ReasonTempTable, write: true},
		{name: "primary hint", req: batch("/* tdsproxy:primary */ SELECT 1"), target: TargetPrimary, reason: ReasonHint},
		{name: "execute as", req: batch("EXECUTE AS USER = 'bob'"), target: TargetPrimary, reason: ReasonExecuteAs, write: true},
		{name: "cursor", req: batch("DECLARE c CURSOR FOR SELECT 1"), target: TargetPrimary, reason: ReasonCursor, write: true},
		{name: "context info", req: batch("SET CONTEXT_INFO 0x01"), target: TargetPrimary, reason: ReasonContextInfo, write: true},
		{name: "conditional set", req: batch("IF 1 = 1 SET NOCOUNT ON"), target: TargetPrimary, reason: ReasonConditionalState, write: true},
		{name: "set implicit transactions", req: batch("SET IMPLICIT_TRANSACTIONS ON"), target: TargetPrimary, reason: ReasonSetOption, write: true},
		{name: "application role", req: batch("EXEC sp_setapprole 'r', 'p'"), target: TargetPrimary, reason: ReasonAppRole, write: true},
		{name: "cursor fetch by handle", req: &RequestInfo{Class: policy.Merge(nil), RPC: true}, target: TargetPrimary, reason: ReasonUnknown, write: true},
		{name: "sp_unprepare", req: unprepare(), target: TargetPrimary, reason: ReasonPrepared, write: true},
		{name: "prepare", req: &RequestInfo{Class: policy.ClassifyText("SELECT 1"), RPC: true, CreatesHandle: true}, target: TargetPrimary, reason: ReasonPrepared, write: true},
		{name: "read-your-writes: no replica caught up", req: batch("SELECT 1"), sess: SessionInfo{LastWrite: fixed.Add(-100 * time.Millisecond)}, target: TargetPrimary, reason: ReasonReadYourWrites},
		{name: "read-your-writes: a caught-up replica", req: batch("SELECT 1"), sess: SessionInfo{LastWrite: fixed.Add(-100 * time.Millisecond)}, topo: caughtUp("r2"), target: TargetReplica, reason: ReasonRead, backends: "r2"},
		{name: "read-your-writes: window passed", req: batch("SELECT 1"), sess: SessionInfo{LastWrite: fixed.Add(-6 * time.Second)}, target: TargetReplica, reason: ReasonRead},
		{name: "read-your-writes: off", req: batch("SELECT 1"), sess: SessionInfo{LastWrite: fixed.Add(-time.Millisecond)}, cfg: Config{ReadYourWritesWindow: -1}, target: TargetReplica, reason: ReasonRead},
		{name: "replicas down: primary reads", req: batch("SELECT 1"), topo: down("r1", "r2"), target: TargetPrimary, reason: ReasonNoReplica},
		{name: "one replica down", req: batch("SELECT 1"), topo: down("r1"), target: TargetReplica, reason: ReasonRead, backends: "r2"},
		{name: "replicas lagging: primary reads", req: batch("SELECT 1"), topo: lagging, target: TargetPrimary, reason: ReasonNoReplica},
		{name: "no primary reads configured", req: batch("SELECT 1"), cfg: Config{NoPrimaryReads: true}, topo: down("r1", "r2"), target: TargetNone, reason: ReasonUnavailable, errNum: 40613},
		{name: "primary down: write fails fast", req: batch("INSERT INTO dbo.t VALUES (1)"), topo: down("p"), target: TargetNone, reason: ReasonUnavailable, errNum: 40613},
		{name: "primary down: reads go on", req: batch("SELECT 1"), topo: down("p"), target: TargetReplica, reason: ReasonRead},
		{name: "read-only intent: select", req: batch("SELECT 1"), sess: SessionInfo{ReadOnlyIntent: true}, target: TargetReplica, reason: ReasonReadOnlyIntent},
		{name: "read-only intent: insert gets 3906", req: batch("INSERT INTO dbo.t VALUES (1)"), sess: SessionInfo{ReadOnlyIntent: true, Database: "demo"}, target: TargetNone, reason: ReasonReadOnlyWrite, errNum: 3906},
		{name: "read-only intent: ddl gets 3906", req: batch("DROP TABLE dbo.t"), sess: SessionInfo{ReadOnlyIntent: true}, target: TargetNone, reason: ReasonReadOnlyWrite, errNum: 3906},
		{name: "read-only intent: temp table on a replica", req: batch("CREATE TABLE #t (a int)"), sess: SessionInfo{ReadOnlyIntent: true}, target: TargetReplica, reason: ReasonReadOnlyIntent},
		{name: "read-only intent: copy into a real table", req: batch("INSERT INTO dbo.t SELECT * FROM #t"), sess: SessionInfo{ReadOnlyIntent: true}, target: TargetNone, reason: ReasonReadOnlyWrite, errNum: 3906},
		{name: "read-only intent: procedure goes to a replica", req: batch("EXEC dbo.p"), sess: SessionInfo{ReadOnlyIntent: true}, target: TargetReplica, reason: ReasonReadOnlyIntent},
		{name: "read-only intent: open transaction stays on its replica", req: batch("SELECT 1"), sess: SessionInfo{ReadOnlyIntent: true, Tx: TxOpen, PinnedBackend: "r2"}, target: TargetReplica, reason: ReasonReadOnlyIntent, backends: "r2"},
		{name: "read-only intent: its replica is down", req: batch("SELECT 1"), sess: SessionInfo{ReadOnlyIntent: true, Tx: TxOpen, PinnedBackend: "r2"}, topo: down("r2"), target: TargetNone, reason: ReasonUnavailable, errNum: 40613},
		{name: "read-only intent: no replica", req: batch("SELECT 1"), sess: SessionInfo{ReadOnlyIntent: true}, topo: down("r1", "r2"), target: TargetNone, reason: ReasonUnavailable, errNum: 40613},
		{name: "read-only intent: replicas lagging", req: batch("SELECT 1"), sess: SessionInfo{ReadOnlyIntent: true}, topo: lagging, target: TargetNone, reason: ReasonUnavailable, errNum: 40613},
		{name: "excluded replica", req: &RequestInfo{Class: policy.ClassifyText("SELECT 1"), Exclude: "r1"}, target: TargetReplica, reason: ReasonRead, backends: "r2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ss := statuses()
			if tc.topo != nil {
				tc.topo(ss)
			}
			r := newRouter(t, tc.cfg, ss)
			for range 4 { // the replica choice rotates: every pick must qualify
				d := r.Route(tc.req, &tc.sess)
				if d.Target != tc.target || d.Reason != tc.reason {
					t.Fatalf("routed to %v (%v), want %v (%v)", d.Target, d.Reason, tc.target, tc.reason)
				}
				if tc.backends != "" && !strings.Contains(","+tc.backends+",", ","+d.Backend+",") {
					t.Fatalf("backend %q, want one of %s", d.Backend, tc.backends)
				}
				if d.Write != tc.write {
					t.Errorf("Write = %v, want %v", d.Write, tc.write)
				}
				switch {
				case tc.errNum == 0 && d.Err != nil:
					t.Fatalf("unexpected error %v", d.Err)
				case tc.errNum != 0 && (d.Err == nil || d.Err.Number != tc.errNum):
					t.Fatalf("error %v, want number %d", d.Err, tc.errNum)
				case d.Target == TargetNone && d.Backend != "":
					t.Fatalf("no target but backend %q", d.Backend)
				case d.Target != TargetNone && (d.Backend == "" || d.Addr == ""):
					t.Fatalf("target %v without a backend", d.Target)
				}
			}
		})
	}
}

func TestReadOnlyErrorText(t *testing.T) {
	t.Parallel()
	r := newRouter(t, Config{}, statuses())
	d := r.Route(batch("DELETE FROM dbo.t"), &SessionInfo{ReadOnlyIntent: true, Database: "demo"})
	if d.Err == nil || d.Err.Class != 16 || d.Err.Message != `Failed to update database "demo" because the database is read-only.` {
		t.Fatalf("got %+v", d.Err)
	}
}

func TestRouteFailoverAndStartup(t *testing.T) {
	t.Parallel()
	// Before the first probe: the configured primary takes everything.
	ss := statuses()
	for i := range ss {
		ss[i].State, ss[i].Role = health.StateUnknown, health.RoleUnknown
	}
	r := newRouter(t, Config{}, ss)
	if d := r.Route(batch("SELECT 1"), &SessionInfo{}); d.Target != TargetPrimary || d.Backend != "p" || d.Reason != ReasonNoReplica {
		t.Fatalf("before probes: %v %q %v", d.Target, d.Backend, d.Reason)
	}
	// The primary fails; r1 takes the primary role.
	ss = statuses()
	ss[0].State = health.StateDown
	r.Update(ss)
	if d := r.Route(batch("INSERT INTO t VALUES (1)"), &SessionInfo{}); d.Err == nil || d.Err.Number != 40613 {
		t.Fatalf("primary down: %+v", d)
	}
	ss[1].Role = health.RolePrimary
	ss[0].State, ss[0].Role = health.StateUp, health.RoleSecondary
	r.Update(ss)
	if d := r.Route(batch("INSERT INTO t VALUES (1)"), &SessionInfo{}); d.Target != TargetPrimary || d.Backend != "r1" {
		t.Fatalf("after failover: %v %q", d.Target, d.Backend)
	}
	seen := map[string]bool{}
	for range 10 {
		seen[r.Route(batch("SELECT 1"), &SessionInfo{}).Backend] = true
	}
	if !seen["p"] || !seen["r2"] || seen["r1"] {
		t.Fatalf("after failover reads went to %v, want the old primary and r2", seen)
	}
}

func TestReplicaChoiceLeastOutstandingWeighted(t *testing.T) {
	t.Parallel()
	ss := statuses()
	ss[1].Weight = 3
	r := newRouter(t, Config{}, ss)
	count := map[string]int{}
	var dones []func(error)
	for range 400 { // hold every request: the load must follow the weights
		d := r.Route(batch("SELECT 1"), &SessionInfo{})
		done, err := d.Begin()
		if err != nil {
			t.Fatal(err)
		}
		dones = append(dones, done)
		count[d.Backend]++
	}
	if count["r1"] < 298 || count["r1"] > 302 || count["r1"]+count["r2"] != 400 {
		t.Fatalf("held requests per replica %v, want 300:100", count)
	}
	for _, done := range dones {
		done(nil)
	}
	// Nothing outstanding: ties rotate, so both replicas serve.
	clear(count)
	for range 100 {
		d := r.Route(batch("SELECT 1"), &SessionInfo{})
		done, _ := d.Begin()
		done(nil)
		count[d.Backend]++
	}
	if count["r1"] < 73 || count["r1"] > 77 || count["r1"]+count["r2"] != 100 {
		t.Fatalf("sequential requests per replica %v: want 75:25", count)
	}
	// A busy replica is avoided.
	d := r.Route(batch("SELECT 1"), &SessionInfo{Database: "x"})
	busy := d.Backend
	var hold []func(error)
	for range 10 {
		dd := Decision{ref: d.ref}
		h, _ := dd.Begin()
		hold = append(hold, h)
	}
	for range 5 {
		if got := r.Route(batch("SELECT 1"), &SessionInfo{}).Backend; got == busy {
			t.Fatalf("chose %s with 10 outstanding requests", busy)
		}
	}
	for _, h := range hold {
		h(nil)
	}
}

func TestUpdateKeepsOutstandingAndForgetsRemoved(t *testing.T) {
	t.Parallel()
	r := newRouter(t, Config{}, statuses())
	d := r.Route(batch("SELECT 1"), &SessionInfo{})
	done, err := d.Begin()
	if err != nil {
		t.Fatal(err)
	}
	r.Update(statuses())
	if n := r.refs[d.Backend].outstanding.Load(); n != 1 {
		t.Fatalf("outstanding after update = %d, want 1", n)
	}
	done(nil)
	r.Update(statuses()[:2])
	if _, ok := r.refs["r2"]; ok {
		t.Fatal("removed backend still known")
	}
	for range 5 {
		if got := r.Route(batch("SELECT 1"), &SessionInfo{}).Backend; got != "r1" {
			t.Fatalf("read went to %q after r2 was removed", got)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{ReadOnlyProcedures: []string{"a.b.c", ""}}, nil, nil); err == nil ||
		!strings.Contains(err.Error(), "read-only-procedures[0]") || !strings.Contains(err.Error(), "read-only-procedures[1]") {
		t.Fatalf("got %v", err)
	}
}

func TestHasPrimaryHint(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]bool{
		"/* tdsproxy:primary */ SELECT 1":             true,
		"SELECT 1 /*TDSPROXY:PRIMARY*/":               true,
		"/* other */ SELECT /* tdsproxy:primary */ 1": true,
		"-- tdsproxy:primary\nSELECT 1":               false,
		"/* tdsproxy:primary, please */":              false,
		"/* tdsproxy:primary":                         false,
		"SELECT 1":                                    false,
		"/*":                                          false,
	} {
		if got := HasPrimaryHint(text); got != want {
			t.Errorf("HasPrimaryHint(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestSetConfig(t *testing.T) {
	t.Parallel()
	r := newRouter(t, Config{}, statuses())
	call := batch("EXEC dbo.report")
	if d := r.Route(call, &SessionInfo{}); d.Target != TargetPrimary {
		t.Fatalf("unlisted procedure: %v", d.Target)
	}
	if err := r.SetConfig(Config{Primary: "p", ReadOnlyProcedures: []string{"dbo.report"}, NoPrimaryReads: true}); err != nil {
		t.Fatal(err)
	}
	if d := r.Route(call, &SessionInfo{}); d.Target != TargetReplica {
		t.Fatalf("listed after reload: %v %v", d.Target, d.Reason)
	}
	if err := r.SetConfig(Config{ReadOnlyProcedures: []string{"a.b.c"}}); err == nil {
		t.Fatal("a bad reload was accepted")
	}
	if d := r.Route(call, &SessionInfo{}); d.Target != TargetReplica {
		t.Fatal("a rejected reload changed the config")
	}
}

func unprepare() *RequestInfo {
	c, err := policy.Classify(policy.Request{Kind: policy.RequestRPC, ProcID: policy.ProcUnprepare})
	if err != nil {
		panic(err)
	}
	return &RequestInfo{Class: c, RPC: true}
}
