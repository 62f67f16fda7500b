package proxy

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/proxy/route"
	"github.com/tdsproxy/tdsproxy/tds"
)

// BenchmarkRoutingOverhead measures SELECT 1 round trips directly to a
// simulator, through a proxy without replicas (no routing) and through a
// proxy routing reads to a replica (as test/bench/run.sh does), interleaved
// in one run. The routing overhead is proxied-routed/direct against
// proxied-plain/direct. One replica, so that the warm-up's ping opens each
// session's replica connection before timing: with two, each session's
// second replica login would be measured as request time.
func BenchmarkRoutingOverhead(b *testing.B) {
	plain := newHarness(b, harnessOpts{})
	routed := newHarness(b, harnessOpts{replicas: 1, config: func(c *Config) {
		c.MonitorUser, c.MonitorPassword = simUser, simPassword
	}})
	targets := []struct{ name, dsn string }{
		{"direct", fmt.Sprintf("sqlserver://%s:%s@%s?database=demo&encrypt=disable", simUser, simPassword, plain.sim.Primary().Addr())},
		{"proxied-plain", plain.dsn("encrypt=disable")},
		{"proxied-routed", routed.dsn("encrypt=disable")},
	}
	for _, conns := range []int{1, 16, 64} {
		for _, target := range targets {
			b.Run(fmt.Sprintf("%s/conns=%d", target.name, conns), func(b *testing.B) {
				benchSelect1(b, target.dsn, conns)
			})
		}
	}
}

// routedUnit is a routed session without network: a primary and two
// replicas whose connections exist (so begin opens none and sends nothing),
// for measuring the per-request work of routing alone.
func routedUnit(tb testing.TB, enf *enforcer) *session {
	tb.Helper()
	cfg := Config{Primary: "primary:1433", Replicas: []string{"replica1:1433", "replica2:1433"}}
	cfg.SetDefaults()
	rt, err := newRouting(&cfg, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	login := &tds.Login7{UserName: "app", AppName: "unit", HostName: "ws"}
	primary := &backend{addr: cfg.Primary}
	s := &session{srv: &Server{cfg: cfg}, log: zap.NewNop(), be: primary, tdsVersion: tds.VerTDS74}
	s.rt = newSessionRouting(rt, rt.keepLogin(login), tds.DefaultPacketSize, primary)
	for _, r := range cfg.Replicas {
		s.rt.conns[r] = &routedConn{name: r, be: &backend{addr: r}}
	}
	s.enf = enf.newSession(1, "10.0.0.5:50000", login)
	return s
}

// BenchmarkRoutedRequest measures what routing adds to one request, without
// any I/O: begin (decode, classify, route, breaker) and end (breaker
// outcome, state log). Requests carry RESETCONNECTION, as pooled
// database/sql connections send them after each reuse.
func BenchmarkRoutedRequest(b *testing.B) {
	read := batchMsg("SELECT 1")
	read.Status = tds.StatusResetConnection
	rpc := rpcMsg(b, tds.RPCCall{ProcID: tds.ProcSpExecuteSQL, Params: []tds.Param{
		textParam("SELECT name FROM dbo.customers WHERE id = @id"), textParam("@id int"), intParam(42)}})
	write := batchMsg("UPDATE dbo.customers SET name = 'x' WHERE id = 1")
	for _, tc := range []struct {
		name   string
		msg    *tds.Message
		target route.Target
	}{
		{"batch-read", read, route.TargetReplica},
		{"rpc-read", rpc, route.TargetReplica},
		{"batch-write", write, route.TargetPrimary},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := routedUnit(b, nil)
			b.ReportAllocs()
			for b.Loop() {
				local, err := s.rt.begin(s, tc.msg)
				if err != nil || local != nil || s.rt.cur.d.Target != tc.target {
					b.Fatalf("begin: %v, local reply %v, target %v", err, local != nil, s.rt.cur.d.Target)
				}
				s.rt.end(s)
			}
		})
	}
}
