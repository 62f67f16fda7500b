package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/tdsproxy/tdsproxy/tds"
)

func TestPanicEndsOnlyItsSession(t *testing.T) {
	t.Parallel()
	fb := newFakeBackend(t, 6)
	srv := newFakeHarness(t, fb, nil)
	srv.testHookRequest = func(s *session, _ *tds.Message) {
		if s.id == 1 {
			panic("injected by the test")
		}
	}
	victim, vr := rawLogin(t, srv.Addr().String(), nil) // session 1
	readTokens(t, vr)
	other, or := rawLogin(t, srv.Addr().String(), nil) // session 2
	readTokens(t, or)
	victim.SetDeadline(time.Now().Add(5 * time.Second))
	other.SetDeadline(time.Now().Add(5 * time.Second))

	vw := tds.NewPacketWriter(victim, 4096)
	if err := vw.WriteMessage(tds.PacketSQLBatch, 0, sqlBatch("SELECT 1")); err != nil {
		t.Fatal(err)
	}
	e, ok := firstError(readTokens(t, vr))
	if !ok || e.Number != 40197 || !strings.Contains(e.Message, "internal error") {
		t.Fatalf("want 40197 internal error, got %+v", e)
	}
	expectClosed(t, victim, 2*time.Second)

	ow := tds.NewPacketWriter(other, 4096)
	if id := queryID(t, ow, or); id != 6 {
		t.Errorf("the other session got %d", id)
	}
	m := srv.metrics
	waitFor(t, 2*time.Second, "the internal error to be counted", func() bool {
		return metricValue(t, m.Errors.WithLabelValues(string(ReasonInternal))) == 1
	})
	if got := metricValue(t, m.ClientConns); got != 1 {
		t.Errorf("client connections = %v, want 1", got)
	}
}
