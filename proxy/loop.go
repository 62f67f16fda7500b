package proxy

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/tds"
)

// watchTick is the period of the server's session clock (see watchClock).
// Each tick wakes the process: at 4 ms the ticks cost more CPU than a
// 10,000-row response, so the clock is coarse.
const watchTick = 20 * time.Millisecond

// watchDelay is how long a request may run before a watcher goroutine
// starts reading the client (at the clock's next tick: an Attention sent
// during a long response is forwarded within watchDelay+watchTick). Quick
// round trips (most of them) end before it and cost no goroutine hand-off.
const watchDelay = 20 * time.Millisecond

// clientRead is what the watcher hands back to the request loop: the
// client's next message (not an Attention it forwarded), the error that
// ended reading, or the watcher's panic.
type clientRead struct {
	msg   *tds.Message
	err   error
	panic any
}

// requestLoop serves the session's requests one at a time on the session's
// goroutine: it reads a client message, forwards it and relays the
// response, until the client leaves, an error ends the session, or a
// draining server closes it. It is the only writer to the client.
//
// While a response streams the client may send an Attention. A response
// still streaming after watchDelay gets a watcher (startWatch, started by
// the server's watchClock): a goroutine that reads the client on, forwards
// each Attention while the request is in flight, and hands the first other
// message (or the read error) back to the loop, which then serves it. This
// is net/http's background-read pattern: the common short round trip needs
// one goroutine, no hand-off and no timer.
func (s *session) requestLoop() (err error) {
	s.watched = make(chan clientRead, 1)
	s.srv.clock.add(s)
	defer func() {
		if p := recover(); p != nil {
			err = s.recovered(p) // before close: the client is told first
		}
		s.srv.clock.remove(s)
		s.mu.Lock()
		s.watchOff = true // no new watcher
		watching := s.watching
		s.mu.Unlock()
		s.close("")
		if watching {
			<-s.watched // closing the connection ends its read
		}
	}()
	for {
		msg, err := s.nextMessage()
		var it item
		switch {
		case errors.Is(err, errIdle):
			return failf(ReasonIdleTimeout, fmt.Errorf("no request for idle-timeout %s", s.srv.cfg.IdleTimeout))
		case err != nil:
			it = item{err: err}
		default:
			it = s.startRequest(msg)
		}
		relay := it.err == nil && it.local == nil
		if relay {
			// The request message is no longer used: a watcher may now
			// read the next one into the reader's buffers.
			s.mu.Lock()
			s.relaying = true
			s.mu.Unlock()
			s.relaySince.Store(s.srv.clock.at(it.start))
		}
		err = s.finish(it)
		if relay {
			s.relaySince.Store(0)
			// A watcher starting late must not read the client once the
			// loop reads it itself.
			s.mu.Lock()
			s.relaying, s.inRequest, s.attnPending = false, false, false
			s.mu.Unlock()
		}
		s.auditRequestEnded(err) // the audit result record of a response that did not end normally (audit.go)
		if err != nil {
			if errors.Is(err, errSessionEnd) {
				return nil
			}
			return err
		}
		if s.srv.draining.Load() && s.drainable() {
			s.log.Info("session closed by shutdown after its request")
			return nil
		}
	}
}

// errIdle is nextMessage's error when no request came for IdleTimeout.
var errIdle = errors.New("idle timeout")

// idleFired marks idleSince once the clock has ended the session's wait.
const idleFired = -1

// nextMessage returns the client's next message: the one the watcher read,
// when a watcher ran during the last response, or the next one read here.
// The wait is bounded by IdleTimeout: the server's clock sets a past read
// deadline on a session that waits too long (watchClock.tick).
func (s *session) nextMessage() (*tds.Message, error) {
	idle := s.srv.cfg.IdleTimeout > 0
	if idle {
		s.idleSince.Store(s.srv.clock.since())
	}
	msg, err := s.readNext()
	if idle && s.idleSince.Swap(0) == idleFired {
		// The clock ended the wait, possibly just after a message came:
		// the session is over either way.
		return nil, errIdle
	}
	return msg, err
}

// readNext reads the client's next message, or takes the watcher's.
func (s *session) readNext() (*tds.Message, error) {
	s.mu.Lock()
	watching := s.watching
	s.mu.Unlock()
	if !watching {
		return s.cr.ReadMessage(s.srv.cfg.MaxMessageSize)
	}
	r := <-s.watched // closing the session or the idle deadline ends the watcher's read
	s.mu.Lock()
	s.watching = false
	s.mu.Unlock()
	if r.panic != nil {
		panic(r.panic) // recovered by requestLoop
	}
	return r.msg, r.err
}

// startWatch runs (on a goroutine of its own) when a response has streamed
// for watchDelay. If the request is still in flight it becomes the
// watcher: it reads the client until a message other than a forwarded
// Attention arrives or reading fails, hands that to the request loop, and
// returns.
func (s *session) startWatch() {
	s.mu.Lock()
	if !s.relaying || !s.inRequest || s.watching || s.watchOff {
		s.mu.Unlock()
		return
	}
	s.watching = true
	s.mu.Unlock()

	var r clientRead
	defer func() {
		if p := recover(); p != nil {
			r = clientRead{panic: p}
		}
		s.watched <- r // buffered; the loop takes it before the next request
	}()
	for {
		msg, err := s.cr.ReadMessage(s.srv.cfg.MaxMessageSize)
		if err != nil {
			r.err = err
			return
		}
		if msg.Type == tds.PacketAttention && s.forwardAttention() {
			continue
		}
		r.msg = msg
		return
	}
}

// forwardAttention forwards a client's Attention to the backend if a
// request is in flight (the loop then relays until its DONE_ATTN) and
// reports whether it did. An Attention with no request in flight is served
// by the loop as a request of its own.
func (s *session) forwardAttention() bool {
	s.mu.Lock()
	if !s.inRequest {
		s.mu.Unlock()
		return false
	}
	s.attnPending = true
	be := s.be
	s.mu.Unlock()
	s.srv.metrics.request(tds.PacketAttention).Inc()
	if err := be.send(tds.PacketAttention, 0, nil); err != nil {
		s.log.Info("forwarding an attention failed", zap.Error(err))
	}
	return true
}

// watchClock is the server's coarse clock for its logged-in sessions: one
// goroutine ticks every watchTick while any session is registered, starts
// a watcher for each response streaming for longer than watchDelay, and
// ends the wait of each session idle for longer than IdleTimeout. Sessions
// only store times (atomics), so a request costs no timer and no system
// call for either duty.
type watchClock struct {
	base time.Time // sessions store times as nanoseconds since base (at)
	idle time.Duration

	mu       sync.Mutex
	sessions []*session    // registered sessions; each knows its index
	wake     chan struct{} // 1 slot: the first session was registered
}

func newWatchClock(idle time.Duration) *watchClock {
	return &watchClock{base: time.Now(), idle: idle, wake: make(chan struct{}, 1)}
}

// since returns the time since the clock's base, >= 1.
func (c *watchClock) since() int64 { return c.at(time.Now()) }

// at returns t as a time since the clock's base, >= 1.
func (c *watchClock) at(t time.Time) int64 { return max(int64(t.Sub(c.base)), 1) }

// add registers a logged-in session.
func (c *watchClock) add(s *session) {
	c.mu.Lock()
	s.clockIdx = len(c.sessions)
	c.sessions = append(c.sessions, s)
	first := len(c.sessions) == 1
	c.mu.Unlock()
	if first {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// remove unregisters a session.
func (c *watchClock) remove(s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := s.clockIdx
	if i < 0 || i >= len(c.sessions) || c.sessions[i] != s {
		return
	}
	last := len(c.sessions) - 1
	c.sessions[i] = c.sessions[last]
	c.sessions[i].clockIdx = i
	c.sessions[last] = nil
	c.sessions = c.sessions[:last]
	s.clockIdx = -1
	if cap(c.sessions) > 64 && len(c.sessions) < cap(c.sessions)/4 {
		c.sessions = append([]*session(nil), c.sessions...)
	}
}

// run ticks until stop is closed, sleeping while no session is registered.
func (c *watchClock) run(stop <-chan struct{}) {
	t := time.NewTicker(watchTick)
	defer t.Stop()
	for {
		c.mu.Lock()
		empty := len(c.sessions) == 0
		c.mu.Unlock()
		if empty {
			t.Stop()
			select {
			case <-c.wake:
			case <-stop:
				return
			}
			t.Reset(watchTick)
		}
		select {
		case <-t.C:
		case <-stop:
			return
		}
		c.tick(c.since())
	}
}

// tick checks every registered session at now.
func (c *watchClock) tick(now int64) {
	watchAfter, idleAfter := int64(watchDelay), int64(c.idle)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.sessions {
		if v := s.relaySince.Load(); v > 0 && now-v >= watchAfter && s.relaySince.CompareAndSwap(v, 0) {
			go s.startWatch()
		}
		if c.idle > 0 {
			if v := s.idleSince.Load(); v > 0 && now-v >= idleAfter && s.idleSince.CompareAndSwap(v, idleFired) {
				// Ends the loop's (or the watcher's) read with a timeout.
				s.conn.SetReadDeadline(time.Unix(1, 0))
			}
		}
	}
}
