package proxy

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/policy"
	"github.com/tdsproxy/tdsproxy/proxy/route"
	"github.com/tdsproxy/tdsproxy/tds"
)

// TestDecodedRequestKeepsOnlyTheSameText guards the reuse of the previous
// batch's text, classification and hint: only an identical text reuses
// them; any other text (a prefix, a changed byte, non-ASCII, the hint
// added) is decoded and classified again.
func TestDecodedRequestKeepsOnlyTheSameText(t *testing.T) {
	t.Parallel()
	var d decodedRequest
	texts := []string{
		"SELECT 1", "SELECT 1", "SELECT 12", "SELECT 1", "SELECT 2", "tm", "SELECT 2", // a TM request between two equal batches
		"/* tdsproxy:primary */ SELECT 2", "SELECT 2", "SELECT N'é'", "SELECT N'é'", "UPDATE t SET a = 1", "",
	}
	for i, text := range texts {
		if text == "tm" {
			msg := tmMsg(tds.TMBeginXact)
			d.decode(msg, tds.VerTDS74)
			if c := d.classify(nil); !d.ok || len(c.Statements) != 1 || c.Statements[0].Kind != policy.KindBeginTran {
				t.Fatalf("request %d: TM BEGIN decoded %v, classified %v", i, d.ok, c.Kinds())
			}
			continue
		}
		msg := batchMsg(text)
		d.decode(msg, tds.VerTDS74)
		if !d.ok || d.text != text {
			t.Fatalf("request %d: decoded %q (ok %v), want %q", i, d.text, d.ok, text)
		}
		c := d.classify(nil)
		want := route.HasPrimaryHint(text)
		if d.primaryHint() != want {
			t.Errorf("request %d (%q): hint %v, want %v", i, text, !want, want)
		}
		if got, want := c.Kinds(), mustClassify(t, text).Kinds(); len(got) != len(want) || len(got) > 0 && got[0] != want[0] {
			t.Errorf("request %d (%q): classified %v, want %v", i, text, got, want)
		}
		if !d.of(msg) {
			t.Errorf("request %d: not recognised as the decoding of its message", i)
		}
	}
	// A text that cannot be decoded (odd length) is not ok.
	bad := batchMsg("SELECT 1")
	bad.Data = append(bad.Data, 'x')
	if d.decode(bad, tds.VerTDS74); d.ok {
		t.Error("odd-length UCS-2 text decoded")
	}
	if d.of(batchMsg("SELECT 1")) {
		t.Error("a decoding is taken for another message")
	}
}

// TestRoutingSharesEnforcementDecoding checks that a session with both
// enforcement and routing decodes a request once (routing uses the
// enforcer's decoding), and that an sp_execute of a handle the enforcer
// resolved to a read still goes to the primary: handles live on the
// connection that prepared them.
func TestRoutingSharesEnforcementDecoding(t *testing.T) {
	t.Parallel()
	m, err := NewEnforceMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	enf, err := newEnforcer(&Config{PolicyFiles: []string{reportingPolicy}}, zap.NewNop(), m)
	if err != nil {
		t.Fatal(err)
	}
	s := routedUnit(t, enf)
	if s.enf == nil {
		t.Fatal("no session enforcer")
	}
	run := func(msg *tds.Message) route.Decision {
		t.Helper()
		if refusal := s.enf.enforce(s, msg); refusal != nil {
			t.Fatalf("enforcement refused the request: % x", refusal)
		}
		local, err := s.rt.begin(s, msg)
		if err != nil || local != nil {
			t.Fatalf("begin: %v, local reply %v", err, local != nil)
		}
		d := s.rt.cur.d
		s.rt.end(s)
		return d
	}
	if d := run(batchMsg("SELECT name FROM dbo.customers")); d.Target != route.TargetReplica {
		t.Errorf("a read went to %v (%v), want a replica", d.Target, d.Reason)
	}
	if d := run(batchMsg("UPDATE dbo.customers SET name = 'x'")); d.Target != route.TargetPrimary || !d.Write {
		t.Errorf("a write went to %v (write %v), want the primary", d.Target, d.Write)
	}
	if s.rt.dec.typ != 0 {
		t.Error("routing decoded a request the enforcer had decoded")
	}
	// The enforcer knows handle 5 as a read (as after sp_prepare's RETURNVALUE).
	if err := s.enf.prepared.Put(5, mustClassify(t, "SELECT name FROM dbo.customers")); err != nil {
		t.Fatal(err)
	}
	exec := rpcMsg(t, tds.RPCCall{ProcID: tds.ProcSpExecute, Params: []tds.Param{intParam(5)}})
	if d := run(exec); d.Target != route.TargetPrimary {
		t.Errorf("sp_execute of a prepared read went to %v (%v), want the primary that holds the handle", d.Target, d.Reason)
	}
}

// TestResetMarksOtherConnections checks the lazy reset bookkeeping: after
// a reset ran on one connection, every other connection is reset before
// its next use, once, and a connection opened afterwards is not.
func TestResetMarksOtherConnections(t *testing.T) {
	t.Parallel()
	s := routedUnit(t, nil)
	sr := s.rt
	r1, r2, p := sr.conns["replica1:1433"], sr.conns["replica2:1433"], sr.conns["primary:1433"]
	sr.resetOthers(r1)
	sr.catchUp(r1)
	if r1.needReset {
		t.Error("the connection the reset ran on is marked for another reset")
	}
	for _, c := range []*routedConn{r2, p} {
		sr.catchUp(c)
		if !c.needReset || c.synced != 0 {
			t.Errorf("%s: needReset %v, synced %d after another connection's reset", c.name, c.needReset, c.synced)
		}
		c.needReset = false // sync reset it
		sr.catchUp(c)
		if c.needReset {
			t.Errorf("%s: marked again without a new reset", c.name)
		}
	}
	sr.resetOthers(nil) // a reset answered by the proxy itself: every connection
	for _, c := range []*routedConn{r1, r2, p} {
		if sr.catchUp(c); !c.needReset {
			t.Errorf("%s: not marked after a reset on no connection", c.name)
		}
	}
	fresh := &routedConn{name: "replica3:1433", resets: sr.resets}
	if sr.catchUp(fresh); fresh.needReset {
		t.Error("a connection opened after the reset is marked for one")
	}
}

// mustClassify is the uncached classification of a batch text.
func mustClassify(t *testing.T, text string) *policy.Classification {
	t.Helper()
	c, err := policy.Classify(policy.Request{Kind: policy.RequestBatch, Text: text})
	if err != nil {
		t.Fatalf("classifying %q: %v", text, err)
	}
	return c
}

// TestDecodingReleasedAfterUse guards idle memory: once a request is
// routed (or, without routing, decided), the session no longer holds its
// payload or decoded RPC parameters, nor a batch text too long to reuse.
func TestDecodingReleasedAfterUse(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 64<<10)
	rpc := rpcMsg(t, tds.RPCCall{ProcID: tds.ProcSpExecuteSQL, Params: []tds.Param{
		textParam("SELECT name FROM dbo.customers WHERE note = @p"), textParam("@p nvarchar(4000)"), textParam(big[:3000])}})
	long := batchMsg("SELECT name FROM dbo.customers WHERE note = '" + big + "'")
	short := batchMsg("SELECT 1")

	s := routedUnit(t, nil)
	for _, msg := range []*tds.Message{rpc, long} {
		if local, err := s.rt.begin(s, msg); err != nil || local != nil {
			t.Fatalf("begin: %v, local reply %v", err, local != nil)
		}
		s.rt.end(s)
		if d := &s.rt.dec; d.rpc != nil || d.data != nil || len(d.text) > maxKeptText {
			t.Errorf("routing keeps %d RPC calls, %d payload bytes, %d text bytes after the request", rpcCalls(d.rpc), len(d.data), len(d.text))
		}
	}
	if local, err := s.rt.begin(s, short); err != nil || local != nil {
		t.Fatalf("begin: %v, local reply %v", err, local != nil)
	}
	s.rt.end(s)
	if s.rt.dec.text != "SELECT 1" {
		t.Errorf("a short batch text is not kept for the next request: %q", s.rt.dec.text)
	}

	se, es, _ := unitEnforcer(t, "app", nil) // enforcement without routing
	for _, msg := range []*tds.Message{rpc, long} {
		if refusal := se.enforce(es, msg); refusal != nil {
			t.Fatal("enforcement refused a read by app")
		}
		if d := &se.dec; d.rpc != nil || d.data != nil || len(d.text) > maxKeptText {
			t.Errorf("enforcement keeps %d RPC calls, %d payload bytes, %d text bytes after the request", rpcCalls(d.rpc), len(d.data), len(d.text))
		}
	}
}

func rpcCalls(r *tds.RPCRequest) int {
	if r == nil {
		return 0
	}
	return len(r.Calls)
}
