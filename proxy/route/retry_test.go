package route

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tdsproxy/tdsproxy/proxy/health"
)

func TestRetry(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		req    *RequestInfo
		sess   SessionInfo
		sent   bool
		topo   []health.BackendStatus
		ok     bool
		target Target
	}{
		{name: "read on a replica, nothing sent: the other replica", req: batch("SELECT 1"), ok: true, target: TargetReplica},
		{name: "read, bytes already sent", req: batch("SELECT 1"), sent: true},
		{name: "write", req: batch("INSERT INTO t VALUES (1)")},
		{name: "read in a transaction", req: batch("SELECT 1"), sess: SessionInfo{Tx: TxOpen}},
		{name: "read-your-writes read on the primary", req: batch("SELECT 1"), sess: SessionInfo{LastWrite: fixed}},
		{name: "only replica failed: the primary serves", req: batch("SELECT 1"), topo: statuses()[:2], ok: true, target: TargetPrimary},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			topo := tc.topo
			if topo == nil {
				topo = statuses()
			}
			r := newRouter(t, Config{}, topo)
			r.metrics = NewMetrics(prometheus.NewRegistry())
			first := r.Route(tc.req, &tc.sess)
			d, ok := r.Retry(tc.req, &tc.sess, first, tc.sent)
			if ok != tc.ok {
				t.Fatalf("retry %v (first %v %s %v), want %v", ok, first.Target, first.Backend, first.Reason, tc.ok)
			}
			if !ok {
				if value(t, r.metrics.retries) != 0 {
					t.Error("a refused retry was counted")
				}
				return
			}
			if d.Target != tc.target || d.Backend == first.Backend || d.Retryable {
				t.Fatalf("retry to %v %s (retryable %v) after %s", d.Target, d.Backend, d.Retryable, first.Backend)
			}
			if value(t, r.metrics.retries) != 1 {
				t.Error("retry not counted")
			}
			retried := *tc.req
			retried.Exclude = first.Backend
			if _, again := r.Retry(&retried, &tc.sess, d, false); again {
				t.Error("a retried request was retried again")
			}
		})
	}
}
