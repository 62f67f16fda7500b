package route

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"
)

// BreakerConfig configures the per-backend circuit breakers. Zero values
// mean the defaults.
type BreakerConfig struct {
	// Failures is how many consecutive connect or I/O failures open a
	// breaker (default 5).
	Failures uint32
	// OpenTimeout is how long a breaker stays open before letting probe
	// requests through (half-open; default 10s).
	OpenTimeout time.Duration
	// HalfOpenRequests is how many requests a half-open breaker lets
	// through; that many consecutive successes close it (default 1).
	HalfOpenRequests uint32
}

// Breaker defaults.
const (
	DefaultBreakerFailures    = 5
	DefaultBreakerOpenTimeout = 10 * time.Second
)

func (c *BreakerConfig) setDefaults() {
	if c.Failures == 0 {
		c.Failures = DefaultBreakerFailures
	}
	if c.OpenTimeout <= 0 {
		c.OpenTimeout = DefaultBreakerOpenTimeout
	}
	if c.HalfOpenRequests == 0 {
		c.HalfOpenRequests = 1
	}
}

// ErrBreakerOpen is returned by Breaker.Allow while the breaker refuses work.
var ErrBreakerOpen = errors.New("route: circuit breaker open")

// ErrNoBackend is returned by Decision.Begin for a decision without a
// backend (TargetNone).
var ErrNoBackend = errors.New("route: the decision names no backend")

// Breakers holds one gobreaker circuit breaker per backend. Safe for
// concurrent use.
type Breakers struct {
	cfg     BreakerConfig
	log     *zap.Logger
	metrics *Metrics

	mu sync.Mutex
	m  map[string]*Breaker
}

// NewBreakers returns an empty set of breakers. log and metrics may be nil.
func NewBreakers(cfg BreakerConfig, log *zap.Logger, metrics *Metrics) *Breakers {
	cfg.setDefaults()
	if log == nil {
		log = zap.NewNop()
	}
	return &Breakers{cfg: cfg, log: log, metrics: metrics, m: map[string]*Breaker{}}
}

// Get returns the breaker of the named backend, creating a closed one.
func (bs *Breakers) Get(name string) *Breaker {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if b, ok := bs.m[name]; ok {
		return b
	}
	b := &Breaker{name: name, timeout: bs.cfg.OpenTimeout}
	b.clean.Store(true)
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        name,
		MaxRequests: bs.cfg.HalfOpenRequests,
		Timeout:     bs.cfg.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= bs.cfg.Failures },
		OnStateChange: func(name string, from, to gobreaker.State) {
			// Called by gobreaker under its lock: every change starts a new
			// generation there, and here.
			b.clean.Store(false)
			b.gen.Add(1)
			b.state.Store(int32(to))
			if to == gobreaker.StateOpen {
				b.openedAt.Store(time.Now().UnixNano())
			}
			if bs.metrics != nil {
				bs.metrics.breakerState.WithLabelValues(name).Set(float64(to))
				bs.metrics.breakerTransitions.WithLabelValues(name, to.String()).Inc()
			}
			lvl := bs.log.Info
			if to == gobreaker.StateOpen {
				lvl = bs.log.Warn
			}
			lvl("circuit breaker "+to.String(), zap.String("backend", name), zap.Stringer("from", from))
		},
	})
	if bs.metrics != nil {
		bs.metrics.breakerState.WithLabelValues(name).Set(float64(gobreaker.StateClosed))
	}
	bs.m[name] = b
	return b
}

// Remove forgets the named backend's breaker (a reload removed it).
func (bs *Breakers) Remove(name string) {
	bs.mu.Lock()
	delete(bs.m, name)
	bs.mu.Unlock()
	if bs.metrics != nil {
		bs.metrics.breakerState.DeleteLabelValues(name)
		for _, s := range []gobreaker.State{gobreaker.StateClosed, gobreaker.StateHalfOpen, gobreaker.StateOpen} {
			bs.metrics.breakerTransitions.DeleteLabelValues(name, s.String())
		}
	}
}

// Breaker is one backend's circuit breaker: a gobreaker two-step breaker
// with a lock-free path for the common case. While the breaker is closed
// and has counted no failure since the last success ("clean"), a success
// changes nothing in gobreaker but its request counters, so requests
// begun and ended then do not call it (no lock, no clock read, no
// allocation). Every failure, and every outcome while it is not clean, is
// reported to gobreaker, which alone decides the transitions.
type Breaker struct {
	name     string
	timeout  time.Duration
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]
	state    atomic.Int32 // gobreaker.State, mirrored by OnStateChange
	openedAt atomic.Int64 // unix nanoseconds of the last opening
	// gen mirrors gobreaker's generation (one per state change): an
	// outcome of a request begun in an earlier generation is ignored, as
	// gobreaker ignores it.
	gen atomic.Uint64
	// clean: closed, with no consecutive failure counted. Set under mu
	// after each report; cleared by every state change.
	clean atomic.Bool
	// mu orders the reports of outcomes with the update of clean.
	mu sync.Mutex
}

// ticket is one unit of work a breaker let through: done is gobreaker's
// callback, or nil when the work began clean in generation gen.
type ticket struct {
	gen  uint64
	done func(error)
}

// State returns the breaker's state (moving an expired open breaker to
// half-open, as gobreaker does).
func (b *Breaker) State() gobreaker.State { return b.cb.State() }

// Available reports, without locking, whether new work may be sent: the
// breaker is closed, half-open, or open for longer than its timeout (the
// next Allow makes it half-open).
func (b *Breaker) Available(now time.Time) bool {
	return b.availableAt(func() time.Time { return now })
}

// availableAt is Available reading the clock only for an open breaker.
func (b *Breaker) availableAt(clock func() time.Time) bool {
	if gobreaker.State(b.state.Load()) != gobreaker.StateOpen {
		return true
	}
	return clock().UnixNano()-b.openedAt.Load() >= int64(b.timeout)
}

// Allow asks to send one unit of work (a connect or a request) to the
// backend. On success the caller must call done exactly once with the
// outcome: a non-nil error only for connect or I/O failures (a SQL error
// answered by the backend is a success: the backend is alive). While the
// breaker refuses, Allow returns ErrBreakerOpen.
func (b *Breaker) Allow() (done func(ioErr error), err error) {
	t, err := b.begin()
	if err != nil {
		return nil, err
	}
	return func(ioErr error) { b.end(t, ioErr) }, nil
}

// begin is Allow without the callback: the caller passes the ticket to
// end exactly once.
func (b *Breaker) begin() (ticket, error) {
	gen := b.gen.Load() // before clean: a change in between makes the ticket stale, never wrongly current
	if b.clean.Load() {
		return ticket{gen: gen}, nil
	}
	d, err := b.cb.Allow()
	if err != nil {
		return ticket{}, ErrBreakerOpen
	}
	return ticket{done: d}, nil
}

// end reports the outcome of the work of t.
func (b *Breaker) end(t ticket, ioErr error) {
	if t.done == nil && ioErr == nil && b.clean.Load() {
		return // a success that changes nothing
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case t.done != nil:
		t.done(ioErr)
	case b.gen.Load() == t.gen:
		// Begun clean in this generation, which is therefore still the
		// closed one: report it as a request of this generation.
		if d, err := b.cb.Allow(); err == nil {
			d(ioErr)
		}
	}
	b.clean.Store(b.cb.State() == gobreaker.StateClosed && b.cb.Counts().ConsecutiveFailures == 0)
}
