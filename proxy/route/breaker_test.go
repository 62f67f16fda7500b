package route

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

var errIO = errors.New("read tcp: connection reset by peer")

// value reads a counter's or gauge's value.
func value(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return m.Counter.GetValue()
}

func TestBreakerTransitions(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.InfoLevel)
	m := NewMetrics(prometheus.NewRegistry())
	bs := NewBreakers(BreakerConfig{Failures: 3, OpenTimeout: 50 * time.Millisecond}, zap.New(core), m)
	b := bs.Get("r1")
	if bs.Get("r1") != b {
		t.Fatal("Get made a second breaker for one backend")
	}
	fail := func() {
		t.Helper()
		done, err := b.Allow()
		if err != nil {
			t.Fatalf("Allow: %v", err)
		}
		done(errIO)
	}
	fail()
	fail()
	if b.State() != gobreaker.StateClosed || !b.Available(time.Now()) {
		t.Fatal("open after 2 failures, want 3")
	}
	// A success resets the consecutive count.
	done, _ := b.Allow()
	done(nil)
	fail()
	fail()
	if b.State() != gobreaker.StateClosed {
		t.Fatal("the success did not reset the count")
	}
	fail()
	if b.State() != gobreaker.StateOpen || b.Available(time.Now()) {
		t.Fatalf("state %v after 3 consecutive failures, want open and unavailable", b.State())
	}
	if _, err := b.Allow(); !errors.Is(err, ErrBreakerOpen) {
		t.Fatalf("Allow while open: %v", err)
	}
	if got := value(t, m.breakerState.WithLabelValues("r1")); got != 2 {
		t.Errorf("tdsproxy_breaker_state = %v, want 2 (open)", got)
	}
	time.Sleep(60 * time.Millisecond)
	if !b.Available(time.Now()) {
		t.Fatal("not available after the open timeout")
	}
	done, err := b.Allow() // the half-open probe
	if err != nil || b.State() != gobreaker.StateHalfOpen {
		t.Fatalf("probe: %v, state %v", err, b.State())
	}
	if _, err := b.Allow(); !errors.Is(err, ErrBreakerOpen) {
		t.Fatalf("a second request while half-open: %v", err)
	}
	done(nil)
	if b.State() != gobreaker.StateClosed {
		t.Fatalf("state %v after a successful probe, want closed", b.State())
	}
	for to, want := range map[string]float64{"open": 1, "half-open": 1, "closed": 1} {
		if got := value(t, m.breakerTransitions.WithLabelValues("r1", to)); got != want {
			t.Errorf("transitions to %s = %v, want %v", to, got, want)
		}
	}
	if n := logs.FilterMessage("circuit breaker open").FilterField(zap.String("backend", "r1")).Len(); n != 1 {
		t.Errorf("%d 'circuit breaker open' logs, want 1", n)
	}
	// A failed probe opens it again.
	for range 3 {
		fail()
	}
	time.Sleep(60 * time.Millisecond)
	fail()
	if b.State() != gobreaker.StateOpen {
		t.Fatalf("state %v after a failed probe, want open", b.State())
	}
}

func TestRouterAvoidsOpenBreakers(t *testing.T) {
	t.Parallel()
	r := newRouter(t, Config{}, statuses())
	r1 := r.Breakers().Get("r1")
	for range 2 { // newRouter's breakers open after 2 failures
		done, err := r1.Allow()
		if err != nil {
			t.Fatal(err)
		}
		done(errIO)
	}
	for range 6 {
		if d := r.Route(batch("SELECT 1"), &SessionInfo{}); d.Backend != "r2" {
			t.Fatalf("read went to %s with r1's breaker open", d.Backend)
		}
	}
	// The primary's breaker open: writes fail fast.
	p := r.Breakers().Get("p")
	for range 2 {
		done, _ := p.Allow()
		done(errIO)
	}
	d := r.Route(batch("UPDATE t SET a = 1"), &SessionInfo{})
	if d.Err == nil || d.Err.Number != 40613 || d.Err.Class != 17 {
		t.Fatalf("write with the primary's breaker open: %+v", d)
	}
	if _, err := (&Decision{}).Begin(); !errors.Is(err, ErrNoBackend) {
		t.Fatalf("Begin without a backend: %v", err)
	}
}

// waitAvailable waits (generously) until an open breaker's timeout passed.
func waitAvailable(t *testing.T, b *Breaker) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !b.Available(time.Now()) {
		if time.Now().After(deadline) {
			t.Fatal("breaker not available 10s after opening")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBreakerOutcomesOfEarlierGenerations guards the lock-free path: a
// request begun while the breaker was clean reports like a gobreaker
// request of that generation: its success still resets the count, and
// its outcome after the breaker has opened and closed again is ignored.
func TestBreakerOutcomesOfEarlierGenerations(t *testing.T) {
	t.Parallel()
	b := NewBreakers(BreakerConfig{Failures: 2, OpenTimeout: 20 * time.Millisecond}, nil, nil).Get("r1")
	fail := func() {
		t.Helper()
		done, err := b.Allow()
		if err != nil {
			t.Fatalf("Allow: %v", err)
		}
		done(errIO)
	}
	// Same generation: a success begun before a failure resets the count.
	early, _ := b.Allow()
	fail()
	early(nil)
	fail()
	if b.State() != gobreaker.StateClosed {
		t.Fatalf("state %v: the success of a request begun before the first failure did not reset the count", b.State())
	}
	// Earlier generation: a request begun while closed, failing after the
	// breaker opened, half-opened and closed again, counts for nothing.
	done, _ := b.Allow() // clears the count
	done(nil)
	stale, _ := b.Allow()
	fail()
	fail()
	if b.State() != gobreaker.StateOpen {
		t.Fatalf("state %v after 2 failures, want open", b.State())
	}
	waitAvailable(t, b)
	probe, err := b.Allow()
	if err != nil {
		t.Fatalf("half-open probe: %v", err)
	}
	probe(nil)
	if b.State() != gobreaker.StateClosed {
		t.Fatalf("state %v after a successful probe, want closed", b.State())
	}
	stale(errIO)
	fail()
	if b.State() != gobreaker.StateClosed {
		t.Fatal("a failure from before the breaker opened was counted after it closed again")
	}
	fail()
	if b.State() != gobreaker.StateOpen {
		t.Fatalf("state %v after 2 new failures, want open", b.State())
	}
}

// TestBreakerConcurrentOutcomes runs successes from many goroutines while
// one alternates failure and success: the consecutive count never reaches
// 2, so the breaker never opens (and -race checks the lock-free path).
func TestBreakerConcurrentOutcomes(t *testing.T) {
	t.Parallel()
	b := NewBreakers(BreakerConfig{Failures: 2, OpenTimeout: time.Hour}, nil, nil).Get("r1")
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				done, err := b.Allow()
				if err != nil {
					t.Errorf("Allow: %v", err)
					return
				}
				done(nil)
			}
		}()
	}
	for range 300 {
		for _, outcome := range []error{errIO, nil} {
			done, err := b.Allow()
			if err != nil {
				t.Fatalf("Allow: %v (state %v)", err, b.State())
			}
			done(outcome)
		}
	}
	wg.Wait()
	if b.State() != gobreaker.StateClosed || !b.clean.Load() {
		t.Fatalf("state %v, clean %v: want closed and clean", b.State(), b.clean.Load())
	}
}
