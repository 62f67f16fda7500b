package proxy

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/tds"
)

// item is one request as the request loop finishes it: a forwarded request
// whose response is to be relayed, or what ended or replaces it.
type item struct {
	start time.Time
	typ   tds.PacketType
	err   error  // reading or forwarding failed: the session ends
	local []byte // answered by the proxy (nothing was forwarded): this reply payload
}

// errSessionEnd ends the request loop without an error (the client left).
var errSessionEnd = errors.New("session ended")

// finish completes one item: it relays the response of a forwarded
// request, or answers or ends the session for the others.
func (s *session) finish(it item) error {
	switch {
	case it.err != nil:
		s.endRequest()
		var se *SessionError
		if errors.As(it.err, &se) {
			return s.refuse(se) // a request that could not be forwarded or is not allowed
		}
		if err := s.clientReadError(it.err); err != nil {
			return err
		}
		return errSessionEnd
	case it.local != nil:
		s.endRequest()
		err := s.cw.WriteMessage(tds.PacketReply, 0, it.local)
		s.srv.metrics.RequestDuration.Observe(time.Since(it.start).Seconds())
		if err != nil {
			return failf(ReasonClientGone, fmt.Errorf("answering a request locally: %w", err))
		}
		return nil
	}
	err := s.relayResponse()
	s.state.endResponse()
	if s.rt != nil {
		s.rt.end(s) // routing: breaker outcome, session state, writes
	}
	if err != nil {
		s.endRequest()
	}
	s.srv.metrics.RequestDuration.Observe(time.Since(it.start).Seconds())
	return err
}

// endRequest marks the session as between requests.
func (s *session) endRequest() {
	s.mu.Lock()
	s.inRequest, s.attnPending = false, false
	s.mu.Unlock()
}

// discardTimeout and discardLimit bound the reading of the rest of an
// oversized message before the session answers it and closes.
const (
	discardTimeout = 5 * time.Second
	discardLimit   = 64 << 20
)

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
		// Read the rest of the message first (bounded): a client still
		// sending it would otherwise meet a closed connection and never
		// read the error.
		s.conn.SetReadDeadline(time.Now().Add(discardTimeout))
		if derr := s.cr.DiscardMessage(discardLimit); derr != nil {
			s.log.Debug("the rest of an oversized message was not read", zap.Error(derr))
		}
		return s.refuse(failf(ReasonMessageTooLarge, err, s.srv.cfg.MaxMessageSize))
	case errors.As(err, &format):
		return s.refuse(failf(ReasonProtocol, err, format.Error()))
	}
	return failf(ReasonProtocol, fmt.Errorf("reading the client: %w", err), err.Error())
}

// startRequest checks one client message, notes it in the state tracker
// and forwards its original bytes to the backend (re-packetized for the
// backend's packet size). An Attention with no request in flight is
// forwarded too: its response is the DONE_ATTN.
func (s *session) startRequest(msg *tds.Message) item {
	it := item{start: time.Now(), typ: msg.Type}
	switch msg.Type {
	case tds.PacketSQLBatch, tds.PacketRPC, tds.PacketTransMgr, tds.PacketBulkLoad, tds.PacketAttention:
	default:
		it.err = failf(ReasonProtocol, fmt.Errorf("unexpected %v message after login", msg.Type),
			fmt.Sprintf("unexpected %v message after login", msg.Type))
		return it
	}
	s.srv.metrics.request(msg.Type).Inc()
	if h := s.srv.testHookRequest; h != nil {
		h(s, msg)
	}
	if msg.Ignore {
		// The client abandoned a partly sent message: the server answers
		// with a DONE_ERROR and nothing is forwarded ([MS-TDS] §2.2.1.7).
		it.local = tds.AppendDone(nil, tds.TokenDone, tds.Done{Status: tds.DoneError}, s.tdsVersion)
		return it
	}
	// A request the policy refuses is answered here and never forwarded.
	if resp := s.enf.enforce(s, msg); resp != nil {
		it.local = resp
		return it
	}
	if s.rt != nil { // per-request routing picks s.be (routing_session.go)
		local, err := s.rt.begin(s, msg)
		if err != nil || local != nil {
			it.err, it.local = err, local
			return it
		}
	}
	desc, hasDesc := requestDescriptor(msg, s.tdsVersion)
	mayTx := (msg.Type == tds.PacketSQLBatch || msg.Type == tds.PacketRPC) && mayControlTx(msg.Data)
	s.state.beginRequest(uint8(msg.Status), desc, hasDesc, mayTx)
	s.mu.Lock()
	s.inRequest = true
	s.attnPending = msg.Type == tds.PacketAttention
	s.mu.Unlock()
	if err := s.be.send(msg.Type, msg.Status&(tds.StatusResetConnection|tds.StatusResetConnectionSkipTran), msg.Data); err != nil {
		it.err = failf(ReasonBackendLost, err, errSummary(err))
		if s.rt != nil {
			it.err, it.local = nil, s.rt.sendFailed(s, msg, err)
		}
	}
	return it
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
	be := s.be
	defer func() {
		// A session between requests holds no buffer.
		be.release()
		s.dropClientBatch()
	}()
	s.sawAttn = false
	if s.walkBroken {
		s.walker.Reset()
		s.walkBroken = false
	}
	walkOK := true
	inMsg := false // packets of the current message were written to the client
	for {
		// A packet already in the read buffer is relayed from there; only
		// the first of each read goes through the packet reader.
		var h tds.Header
		var p []byte
		raw, ok := be.rd.takePacket(be.packetSize)
		var err error
		if ok {
			h, err = tds.DecodeHeader(raw) // cannot fail: takePacket checked Length
			p = raw[tds.HeaderLen:len(raw):len(raw)]
		} else {
			h, p, err = be.r.ReadPacket()
		}
		if err == nil && h.Type != tds.PacketReply {
			err = fmt.Errorf("unexpected %v packet from the backend", h.Type)
		}
		if err != nil {
			if s.flushClient() != nil {
				inMsg = true // unknown: no error token
			}
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
		// Packets already read from the backend go out with this one, in
		// one write; the batch is flushed before the loop would wait.
		err = s.queueClientPacket(h, p, raw)
		if err == nil && (eom || !be.rd.hasPacket(be.packetSize)) {
			err = s.flushClient()
		}
		if err != nil {
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

// queueClientPacket adds one backend packet to the client batch, split
// when the client's packet size is smaller than the backend's. raw, when
// not nil, is the whole packet in the backend leg's read buffer: while
// nothing was copied into the batch, adjacent raw packets are written from
// there as one run, without a copy. The batch is written first when the
// packet does not fit.
func (s *session) queueClientPacket(h tds.Header, p, raw []byte) error {
	room := s.cw.PacketSize() - tds.HeaderLen
	if raw != nil && len(s.out) == 0 && len(p) <= room {
		if n := len(s.rawRun); n > 0 && n < cap(s.rawRun) && &s.rawRun[:n+1][n] == &raw[0] {
			s.rawRun = s.rawRun[:n+len(raw)]
			return nil
		}
		if err := s.flushClient(); err != nil {
			return err
		}
		s.rawRun = raw
		return nil
	}
	if len(s.rawRun) > 0 {
		if err := s.flushClient(); err != nil {
			return err
		}
	}
	if s.outp == nil {
		s.outp = backendReadPool.Get().(*[]byte)
		s.out = (*s.outp)[:0]
	}
	status := h.Status
	for {
		n := min(len(p), room)
		h.Status = status
		if n < len(p) {
			h.Status = status &^ (tds.StatusEOM | tds.StatusIgnore)
		}
		h.Length = uint16(tds.HeaderLen + n)
		if len(s.out)+int(h.Length) > cap(s.out) {
			if err := s.flushClient(); err != nil {
				return err
			}
		}
		s.out = h.Append(s.out)
		s.out = append(s.out, p[:n]...)
		p = p[n:]
		if len(p) == 0 {
			return nil
		}
		h.PacketID++
	}
}

// flushClient writes the client batch, or the run of raw packets.
func (s *session) flushClient() error {
	var err error
	switch {
	case len(s.rawRun) > 0:
		_, err = s.conn.Write(s.rawRun)
		s.rawRun = nil
	case len(s.out) > 0:
		_, err = s.conn.Write(s.out)
		s.out = s.out[:0]
	}
	return err
}

// dropClientBatch returns the batch buffer to its pool and forgets a run.
func (s *session) dropClientBatch() {
	s.rawRun = nil
	if s.outp != nil {
		backendReadPool.Put(s.outp)
		s.outp, s.out = nil, nil
	}
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
	s.enf.observe(ev) // prepared handles for policy enforcement
	return nil
}

// trackingLost records that a response could not be followed: the state
// can no longer be trusted, so the transaction state becomes unknown.
func (s *session) trackingLost(err error) {
	s.log.Error("cannot follow the backend's token stream; session state is now unknown", zap.Error(err))
	s.state.lost()
}

// backendLostEnd ends the session after the backend connection failed. The
// client gets an ERROR token when the response framing allows: before any
// packet of the current message, or at a token boundary of it.
func (s *session) backendLostEnd(err error, inMsg, walkOK bool) error {
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
			if s.queueClientPacket(h, appendErrorDone(nil, we, s.tdsVersion), nil) == nil {
				_ = s.flushClient()
			}
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
