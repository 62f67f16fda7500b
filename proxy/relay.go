package proxy

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/tds"
)

// readResult is one client message (or the error that ended reading),
// passed from readLoop to the request loop.
type readResult struct {
	msg *tds.Message
	err error
}

// requestLoop serves requests until the client leaves, an error ends the
// session, or a draining server closes it.
func (s *session) requestLoop() (err error) {
	reqs := make(chan readResult)
	next := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		s.readLoop(reqs, next)
	}()
	defer func() {
		if p := recover(); p != nil {
			err = s.recovered(p) // before close: the client is told first
		}
		s.close("")
		<-readerDone
	}()

	idle := s.srv.cfg.IdleTimeout
	var timer *time.Timer
	var timerC <-chan time.Time
	if idle > 0 {
		timer = time.NewTimer(idle)
		defer timer.Stop()
		timerC = timer.C
	}
	for {
		if timer != nil {
			timer.Reset(idle)
		}
		var rr readResult
		select {
		case rr = <-reqs:
		case <-timerC:
			return failf(ReasonIdleTimeout, fmt.Errorf("no request for idle-timeout %s", idle))
		case <-s.done:
			return nil
		}
		if rr.err != nil {
			return s.clientReadError(rr.err)
		}
		if err := s.handle(rr.msg, next); err != nil {
			return err
		}
		if s.srv.draining.Load() && s.drainable() {
			s.log.Info("session closed by shutdown after its request")
			return nil
		}
	}
}

// clientReadError turns a failure to read the next client message into the
// session's end: a client that left is not an error; oversized and malformed
// messages get an ERROR token first.
func (s *session) clientReadError(err error) error {
	var tooLarge *tds.MessageTooLargeError
	var format *tds.FormatError
	switch {
	case s.closedFor() != "":
		return nil
	case isClosed(err):
		s.log.Debug("client disconnected")
		return nil
	case errors.As(err, &tooLarge):
		return s.refuse(failf(ReasonMessageTooLarge, err, s.srv.cfg.MaxMessageSize))
	case errors.As(err, &format):
		return s.refuse(failf(ReasonProtocol, err, format.Error()))
	}
	return failf(ReasonProtocol, fmt.Errorf("reading the client: %w", err), err.Error())
}

// readLoop reads client messages and hands them to the request loop one at
// a time: it waits on next until the request has been forwarded (its bytes
// are reused by the following read). An Attention that arrives while a
// request is in flight is forwarded to the backend at once.
func (s *session) readLoop(reqs chan<- readResult, next <-chan struct{}) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("session reader panicked; closing the session", zap.Any("panic", p), zap.Stack("stack"))
			s.srv.metrics.Errors.WithLabelValues(string(ReasonInternal)).Inc()
			s.close(ReasonInternal)
		}
	}()
	for {
		msg, err := s.cr.ReadMessage(s.srv.cfg.MaxMessageSize)
		if err != nil {
			select {
			case reqs <- readResult{err: err}:
			case <-s.done:
			}
			return
		}
		if msg.Type == tds.PacketAttention {
			s.mu.Lock()
			if s.inRequest {
				s.attnPending = true
				s.mu.Unlock()
				s.srv.metrics.request(tds.PacketAttention).Inc()
				if err := s.be.send(tds.PacketAttention, 0, nil); err != nil {
					s.log.Info("forwarding an attention failed", zap.Error(err))
				}
				continue
			}
			s.mu.Unlock()
		}
		select {
		case reqs <- readResult{msg: msg}:
		case <-s.done:
			return
		}
		select {
		case <-next:
		case <-s.done:
			return
		}
	}
}

// handle forwards one request and relays its response.
func (s *session) handle(msg *tds.Message, next chan<- struct{}) error {
	start := time.Now()
	released := false
	release := func() {
		if !released {
			released = true
			select {
			case next <- struct{}{}:
			case <-s.done:
			}
		}
	}
	defer release()

	switch msg.Type {
	case tds.PacketSQLBatch, tds.PacketRPC, tds.PacketTransMgr, tds.PacketBulkLoad, tds.PacketAttention:
	default:
		return s.refuse(failf(ReasonProtocol, fmt.Errorf("unexpected %v message after login", msg.Type),
			fmt.Sprintf("unexpected %v message after login", msg.Type)))
	}
	s.srv.metrics.request(msg.Type).Inc()
	if h := s.srv.testHookRequest; h != nil {
		h(s, msg)
	}
	if msg.Ignore {
		// The client abandoned a partly sent message; nothing was forwarded.
		release()
		d := tds.AppendDone(nil, tds.TokenDone, tds.Done{Status: tds.DoneError}, s.tdsVersion)
		if err := s.cw.WriteMessage(tds.PacketReply, 0, d); err != nil {
			return fmt.Errorf("answering an ignored message: %w", err)
		}
		return nil
	}
	desc, hasDesc := requestDescriptor(msg, s.tdsVersion)
	mayTx := (msg.Type == tds.PacketSQLBatch || msg.Type == tds.PacketRPC) && mayControlTx(msg.Data)
	s.state.beginRequest(uint8(msg.Status), desc, hasDesc, mayTx)

	s.mu.Lock()
	s.inRequest = true
	s.attnPending = msg.Type == tds.PacketAttention
	s.mu.Unlock()
	err := s.be.send(msg.Type, msg.Status&(tds.StatusResetConnection|tds.StatusResetConnectionSkipTran), msg.Data)
	release()
	if err == nil {
		err = s.relayResponse()
		s.state.endResponse()
	}
	if err != nil {
		s.mu.Lock()
		s.inRequest, s.attnPending = false, false
		s.mu.Unlock()
	}
	s.srv.metrics.RequestDuration.Observe(time.Since(start).Seconds())
	return err
}

// requestDescriptor returns the transaction descriptor of a request's
// ALL_HEADERS (TDS 7.2 and later; SQLBatch, RPC and TM requests).
func requestDescriptor(msg *tds.Message, tdsVersion uint32) (uint64, bool) {
	switch msg.Type {
	case tds.PacketSQLBatch, tds.PacketRPC, tds.PacketTransMgr:
	default:
		return 0, false
	}
	if tdsVersion < tds.VerTDS72 || len(msg.Data) < 4 {
		return 0, false
	}
	h, _, err := tds.DecodeAllHeaders(msg.Data)
	if err != nil || !h.HasTxDescriptor {
		return 0, false
	}
	return h.TxDescriptor, true
}

// relayResponse streams the backend's response to the client packet by
// packet while the walker tracks its tokens. It ends at the response's EOM,
// or, when an Attention was forwarded, at the end of the message carrying
// DONE_ATTN (which may be a later one).
func (s *session) relayResponse() error {
	s.sawAttn = false
	if s.walkBroken {
		s.walker.Reset()
		s.walkBroken = false
	}
	walkOK := true
	inMsg := false // packets of the current message were written to the client
	for {
		h, p, err := s.be.r.ReadPacket()
		if err == nil && h.Type != tds.PacketReply {
			err = fmt.Errorf("unexpected %v packet from the backend", h.Type)
		}
		if err != nil {
			return s.backendLost(err, inMsg, walkOK)
		}
		if walkOK {
			if err := s.walker.Feed(p); err != nil {
				walkOK = false
				s.walkBroken = true
				s.trackingLost(err)
			}
		}
		eom := h.Status&tds.StatusEOM != 0
		if eom && walkOK {
			if err := s.walker.End(); err != nil {
				walkOK = false
				s.walkBroken = true
				s.trackingLost(err)
			}
		}
		if err := s.writeClientPacket(h, p); err != nil {
			if s.closedFor() != "" {
				return nil
			}
			return failf(ReasonClientGone, fmt.Errorf("client went away during a response: %w", err))
		}
		inMsg = !eom
		if !eom {
			continue
		}
		// Decide under the lock the reader takes to forward an Attention:
		// either it sees the request still in flight (and the ack is awaited
		// here), or it hands the Attention over as a new request.
		s.mu.Lock()
		more := s.attnPending && !s.sawAttn
		if !more {
			s.inRequest, s.attnPending = false, false
		}
		s.mu.Unlock()
		if !more {
			return nil
		}
		if !walkOK {
			s.walker.Reset()
			walkOK = true
		}
	}
}

// writeClientPacket relays one backend packet, split when the client's
// packet size is smaller than the backend's.
func (s *session) writeClientPacket(h tds.Header, p []byte) error {
	room := s.cw.PacketSize() - tds.HeaderLen
	status := h.Status
	for len(p) > room {
		h.Status = status &^ (tds.StatusEOM | tds.StatusIgnore)
		if err := s.cw.WritePacket(h, p[:room]); err != nil {
			return err
		}
		p = p[room:]
		h.PacketID++
	}
	h.Status = status
	return s.cw.WritePacket(h, p)
}

// onEvent applies one response token to the session state.
func (s *session) onEvent(ev *tds.Event) error {
	attn, err := s.state.observe(ev)
	if err != nil {
		s.trackingLost(err)
	}
	if attn {
		s.sawAttn = true
	}
	return nil
}

// trackingLost records that a response could not be followed: the state
// can no longer be trusted, so the transaction state becomes unknown.
func (s *session) trackingLost(err error) {
	s.log.Error("cannot follow the backend's token stream; session state is now unknown", zap.Error(err))
	s.state.lost()
}

// backendLost ends the session after the backend connection failed. The
// client gets an ERROR token when the response framing allows: before any
// packet of the current message, or at a token boundary of it.
func (s *session) backendLost(err error, inMsg, walkOK bool) error {
	if s.closedFor() != "" {
		return nil
	}
	se := failf(ReasonBackendLost, fmt.Errorf("backend %s: %w", s.be.addr, err), errSummary(err))
	switch {
	case !inMsg:
		s.trySendError(se)
	case walkOK && s.walker.End() == nil: // End fails only inside a token: a boundary
		if we, ok := toWire(se); ok {
			s.raw.SetWriteDeadline(time.Now().Add(2 * time.Second))
			h := tds.Header{Type: tds.PacketReply, Status: tds.StatusEOM, SPID: s.be.spid, PacketID: 1}
			_ = s.writeClientPacket(h, appendErrorDone(nil, we, s.tdsVersion))
		}
	}
	return se
}

// errSummary is a short description of a backend failure for clients.
func errSummary(err error) string {
	switch {
	case isClosed(err):
		return "the backend closed the connection"
	case isTimeout(err):
		return "the backend timed out"
	}
	return err.Error()
}
