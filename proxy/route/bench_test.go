package route

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkRoute measures one routing decision for a read with two
// replicas and metrics on (the target is well under 1 µs).
func BenchmarkRoute(b *testing.B) {
	r := newRouter(b, Config{ReadOnlyProcedures: []string{"dbo.report"}}, statuses())
	r.metrics = NewMetrics(prometheus.NewRegistry())
	req := batch("SELECT c.name, o.amount FROM dbo.customers c JOIN sales.orders o ON o.customer_id = c.id WHERE c.id = @p1")
	sess := &SessionInfo{Database: "demo"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d := r.Route(req, sess)
		if d.Target != TargetReplica {
			b.Fatal(d.Reason)
		}
	}
}

// BenchmarkRouteWrite measures a write with a read-your-writes session.
func BenchmarkRouteWrite(b *testing.B) {
	r := newRouter(b, Config{}, statuses())
	req := batch("UPDATE dbo.customers SET name = @p1 WHERE id = @p2")
	sess := &SessionInfo{LastWrite: fixed}
	b.ReportAllocs()
	for b.Loop() {
		if d := r.Route(req, sess); d.Target != TargetPrimary {
			b.Fatal(d.Reason)
		}
	}
}

// BenchmarkRouteParallel measures contention on the shared counters.
func BenchmarkRouteParallel(b *testing.B) {
	r := newRouter(b, Config{}, statuses())
	req := batch("SELECT 1")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		sess := &SessionInfo{}
		for pb.Next() {
			d := r.Route(req, sess)
			done, err := d.Begin()
			if err != nil {
				b.Fatal(err)
			}
			done(nil)
		}
	})
}
