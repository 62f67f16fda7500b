package proxy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/policy"
	"github.com/tdsproxy/tdsproxy/proxy/route"
	"github.com/tdsproxy/tdsproxy/tds"
)

// routedConn is one backend connection of a routed session.
type routedConn struct {
	name string // the backend's name (its configured address)
	be   *backend
	// synced is the StateLog version the connection was given (0: the
	// login state).
	synced uint64
	// needReset: the client reset the session on another connection; this
	// one must be reset before its next use. Set from resets by catchUp.
	needReset bool
	// resets is the session's reset count this connection is known to
	// follow: behind sessionRouting.resets, it needs a reset.
	resets uint64
}

// sessionRouting is the routing state of one session (nil without
// replicas). Its request state is written by whichever goroutine holds
// the session's turn (see requestLoop); conns is also read by close, under
// mu.
type sessionRouting struct {
	rt *routing
	// login is the client's LOGIN7, kept for the session's life to open
	// more backend connections. It holds the password: never log it.
	login            *tds.Login7
	clientPacketSize int
	readOnly         bool

	mu     sync.Mutex
	conns  map[string]*routedConn
	closed bool

	state     *route.StateLog
	lastWrite time.Time
	// resets counts the session resets (RESETCONNECTION) the client made;
	// a connection that has not followed them all needs a reset (catchUp).
	resets uint64
	// holder names the backend holding the session's open transaction or
	// pinned state ("" when there is none).
	holder string
	// last is the connection of the last request that ran.
	last *routedConn
	// probedAt is the tracker's request count when @@TRANCOUNT was last asked.
	probedAt int
	// dec is the decoded request when the session has no enforcement to
	// share its decoding (decodedRequest); it keeps the last batch text.
	dec decodedRequest

	// The request in flight.
	cur struct {
		active  bool
		req     route.RequestInfo
		d       route.Decision
		work    route.Work // the breaker's and the router's view of it; End once
		conn    *routedConn
		typ     tds.PacketType
		status  tds.PacketStatus
		data    []byte // a copy, kept only for a retryable read
		retried bool
	}
}

// keepLogin returns a copy of the client's login for the session's later
// backend logins, or nil without routing. The copy holds the password
// (the new one if the login changed it): never log it.
func (rt *routing) keepLogin(login *tds.Login7) *tds.Login7 {
	if rt == nil {
		return nil
	}
	l := *login
	if l.ChangePassword != "" {
		l.Password, l.ChangePassword = l.ChangePassword, ""
	}
	return &l
}

// newSessionRouting starts the routing of a session whose login (a copy
// from keepLogin) went to be.
func newSessionRouting(rt *routing, login *tds.Login7, clientPacketSize int, be *backend) *sessionRouting {
	return &sessionRouting{
		rt:               rt,
		login:            login,
		clientPacketSize: clientPacketSize,
		readOnly:         login.ReadOnlyIntent(),
		conns:            map[string]*routedConn{be.addr: {name: be.addr, be: be}},
		state:            route.NewStateLog(rt.metrics),
	}
}

// closeAll closes every backend connection of the session.
func (sr *sessionRouting) closeAll() {
	sr.mu.Lock()
	sr.closed = true
	conns := sr.conns
	sr.conns = map[string]*routedConn{}
	sr.mu.Unlock()
	for _, c := range conns {
		c.be.close()
	}
}

// drop closes and forgets one connection.
func (sr *sessionRouting) drop(c *routedConn) {
	sr.mu.Lock()
	if sr.conns[c.name] == c {
		delete(sr.conns, c.name)
	}
	sr.mu.Unlock()
	c.be.close()
}

// sessionInfo describes the session to the router.
func (sr *sessionRouting) sessionInfo(st *SessionState) route.SessionInfo {
	si := route.SessionInfo{ReadOnlyIntent: sr.readOnly, LastWrite: sr.lastWrite, Database: st.Database}
	switch st.Tx {
	case TxNone:
		si.Tx = route.TxNone
	case TxOpen:
		si.Tx = route.TxOpen
	default:
		si.Tx = route.TxUnknown
	}
	_, si.Pinned = sr.state.Pinned()
	if sr.readOnly {
		si.PinnedBackend = sr.holder
	}
	return si
}

// begin routes one client request and makes its backend connection the
// session's current one (s.be), ready to take the request. It returns a
// reply to send instead (the request is not forwarded), or an error that
// ends the session. Attention is not routed: it goes to the current
// connection.
func (sr *sessionRouting) begin(s *session, msg *tds.Message) (local []byte, err error) {
	sr.cur.active = false
	if msg.Type == tds.PacketAttention {
		return nil, nil
	}
	defer func() {
		if local != nil && msg.Status&resetBits != 0 {
			// The client believes the session was reset: reset every
			// connection before its next use.
			sr.resetOthers(nil)
		}
	}()
	st := s.state.Snapshot()
	if st.Tx == TxUnknown && st.Requests != sr.probedAt {
		sr.probedAt = st.Requests // once per request that left it unknown
		sr.settleUnknownTx(s)
		st = s.state.Snapshot()
	}
	req := sr.requestInfo(s, msg)
	si := sr.sessionInfo(&st)
	var excluded string
	for range 4 { // bounded: breaker refusals, failed logins, a failed replay
		req.Exclude = excluded
		d := sr.rt.router.Route(&req, &si)
		if d.Err != nil {
			return sr.localError(s, msg, d.Err), nil
		}
		if sr.holder != "" && d.Backend != sr.holder && (si.Tx == route.TxOpen || si.Pinned) {
			return nil, failf(ReasonBackendUnavailable, fmt.Errorf("the session's transaction or state is on %s, which cannot serve it", sr.holder),
				si.Database, sr.holder, "the backend holding the session's transaction or state is no longer available")
		}
		work, err := d.Start()
		if err != nil {
			if errors.Is(err, route.ErrBreakerOpen) && excluded == "" {
				excluded = d.Backend
				continue
			}
			return sr.unavailable(s, msg, si.Database, d.Backend, "circuit breaker open"), nil
		}
		c, err := sr.conn(s, d.Backend)
		if err != nil {
			work.End(err)
			if d.Retryable && excluded == "" {
				excluded = d.Backend
				continue
			}
			return sr.unavailable(s, msg, si.Database, d.Backend, errSummary(err)), nil
		}
		if err := sr.sync(s, c, msg); err != nil {
			var replayErr *replayError
			if errors.As(err, &replayErr) {
				// The backend refused the replayed state: pin to the primary
				// (the request then runs there, or here if this is it).
				s.log.Warn("replaying the session state failed; session pinned to the primary", zap.String("backend", c.name), zap.Error(err))
				sr.state.Pin(route.ReasonSetOption)
				if d.Target == route.TargetReplica {
					work.End(nil) // the backend answered: not a breaker failure
					_, si.Pinned = sr.state.Pinned()
					continue
				}
			} else {
				work.End(err)
				sr.drop(c)
				if d.Retryable && excluded == "" {
					excluded = d.Backend
					continue
				}
				return sr.unavailable(s, msg, si.Database, d.Backend, errSummary(err)), nil
			}
		}
		sr.cur.active, sr.cur.req, sr.cur.d, sr.cur.work, sr.cur.conn = true, req, d, work, c
		sr.cur.typ, sr.cur.status, sr.cur.retried = msg.Type, msg.Status, excluded != ""
		sr.cur.data = sr.cur.data[:0]
		if d.Retryable {
			sr.cur.data = append(sr.cur.data, msg.Data...) // msg.Data is reused by the next read
		}
		if s.be != c.be { // s.be is written only on this goroutine: reading it needs no lock
			s.mu.Lock()
			s.be = c.be
			s.mu.Unlock()
		}
		return nil, nil
	}
	return sr.unavailable(s, msg, si.Database, "", "no backend could take the request"), nil
}

// unavailable is the 40613 reply to a request no backend could take.
func (sr *sessionRouting) unavailable(s *session, msg *tds.Message, database, backend, why string) []byte {
	we, _ := toWire(failf(ReasonBackendUnavailable, nil, database, backend, why))
	return denialResponse(we, msg.Type == tds.PacketRPC, s.tdsVersion)
}

// localError is the reply for an error the router answered itself.
func (sr *sessionRouting) localError(s *session, msg *tds.Message, e *route.Error) []byte {
	we := wireError{Number: e.Number, Class: e.Class, State: e.State, Message: e.Message}
	return denialResponse(we, msg.Type == tds.PacketRPC, s.tdsVersion)
}

// conn returns the session's connection to the named backend, logging in
// with the client's login when it has none.
func (sr *sessionRouting) conn(s *session, name string) (*routedConn, error) {
	sr.mu.Lock()
	c := sr.conns[name]
	sr.mu.Unlock()
	if c != nil {
		return c, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.srv.cfg.BackendConnectTimeout)
	defer cancel()
	be, lr, err := s.connectTo(ctx, name, sr.login, sr.clientPacketSize)
	if err != nil {
		return nil, err
	}
	if !lr.ok {
		be.close()
		return nil, fmt.Errorf("backend %s refused the login: error %d", name, lr.errNumber)
	}
	c = &routedConn{name: name, be: be, resets: sr.resets} // a fresh login has the reset state
	sr.mu.Lock()
	closed := sr.closed
	if !closed {
		sr.conns[name] = c
	}
	sr.mu.Unlock()
	if closed {
		be.close()
		return nil, errors.New("session closed")
	}
	s.log.Debug("session opened a backend connection", zap.String("backend", name))
	return c, nil
}

// end completes the request in flight after its response was relayed
// (SQL errors included): it reports success to the breaker, records the
// request's session state and writes, and notes which connection holds a
// transaction or pinned state.
func (sr *sessionRouting) end(s *session) {
	if !sr.cur.active {
		return
	}
	sr.cur.active = false
	sr.cur.work.End(nil)
	c := sr.cur.conn
	sr.last = c
	if sr.cur.status&resetBits != 0 {
		sr.resetOthers(c)
	}
	sr.state.Record(&sr.cur.req)
	c.synced = sr.state.Version()
	if sr.cur.d.Write {
		sr.lastWrite = time.Now()
	}
	_, pinned := sr.state.Pinned()
	if tx := s.state.Snapshot().Tx; tx == TxOpen || pinned {
		if sr.holder == "" {
			sr.holder = c.name
		}
	} else if tx == TxNone {
		sr.holder = ""
	}
}

// resetOthers records that the client reset the session: the state log
// returns to the login state and every connection but c (which the reset
// request ran on; nil for none) is reset before its next use (catchUp
// marks each when it is next used, so a pooled client's reset on every
// request costs no walk over the session's connections).
func (sr *sessionRouting) resetOthers(c *routedConn) {
	sr.state.Reset()
	sr.resets++
	if c != nil {
		c.resets = sr.resets
	}
	sr.holder = ""
}

// catchUp marks c for a reset before its use (sync calls it) when the
// client reset the session since c last followed it.
func (sr *sessionRouting) catchUp(c *routedConn) {
	if c.resets != sr.resets {
		c.needReset, c.synced, c.resets = true, 0, sr.resets
	}
}

// lost handles the failure of the current request's backend connection
// during its response. A read that failed before any byte reached the
// client is retried once elsewhere; a request whose connection held no
// transaction or pinned state gets 40613 and the session goes on;
// otherwise the session ends as without routing.
func (sr *sessionRouting) lost(s *session, ioErr error, inMsg, walkOK bool) error {
	if !sr.cur.active || s.closedFor() != "" {
		return s.backendLostEnd(ioErr, inMsg, walkOK)
	}
	c := sr.cur.conn
	sr.cur.active = false
	sr.cur.work.End(ioErr)
	sr.drop(c)
	s.mu.Lock()
	attn := s.attnPending
	s.mu.Unlock()
	st := s.state.Snapshot()
	si := sr.sessionInfo(&st)
	stateful := sr.holder == c.name || si.Tx != route.TxNone
	s.log.Info("backend connection lost during a request", zap.String("backend", c.name), zap.Bool("sent_to_client", inMsg), zap.Error(ioErr))
	if !inMsg && !attn && !sr.cur.retried {
		if d2, ok := sr.rt.router.Retry(&sr.cur.req, &si, sr.cur.d, false); ok {
			if err := sr.retry(s, d2); err == nil {
				return s.relayResponse()
			} else {
				s.log.Info("retrying a read failed", zap.String("backend", d2.Backend), zap.Error(err))
			}
		}
	}
	if inMsg || stateful || attn { // a cancelling client waits for DONE_ATTN: end the session as without routing
		return s.backendLostEnd(ioErr, inMsg, walkOK)
	}
	// Nothing reached the client and the connection held no state: the
	// client gets a transient error and the session goes on.
	s.trySendError(failf(ReasonBackendUnavailable, ioErr, si.Database, c.name, "the backend connection was lost: "+errSummary(ioErr)))
	s.endRequest()
	return nil
}

// retry sends the current request to the backend of d2.
func (sr *sessionRouting) retry(s *session, d2 route.Decision) error {
	work, err := d2.Start()
	if err != nil {
		return err
	}
	c, err := sr.conn(s, d2.Backend)
	if err == nil {
		msg := &tds.Message{Type: sr.cur.typ, Status: sr.cur.status, Data: sr.cur.data}
		err = sr.sync(s, c, msg)
		if err == nil {
			err = c.be.send(sr.cur.typ, sr.cur.status&resetBits, sr.cur.data)
		}
		if err != nil {
			sr.drop(c)
		}
	}
	if err != nil {
		work.End(err)
		return err
	}
	sr.cur.active, sr.cur.d, sr.cur.work, sr.cur.conn, sr.cur.retried = true, d2, work, c, true
	s.mu.Lock()
	s.be = c.be
	s.mu.Unlock()
	return nil
}

// requestInfo classifies a client message for the router. The message is
// decoded once per request: by the session's enforcement when it has one
// (decodedRequest), else here. Batch and TM classifications are shared
// with enforcement; RPC calls are classified here without the session's
// prepared handles: sp_execute by handle stays unknown (primary), since a
// handle exists only on the connection that prepared it.
func (sr *sessionRouting) requestInfo(s *session, msg *tds.Message) route.RequestInfo {
	dec := &sr.dec
	if s.enf != nil && s.enf.dec.of(msg) {
		dec = &s.enf.dec
	} else {
		dec.decode(msg, s.tdsVersion)
	}
	defer dec.release() // routing is its last user
	ri := route.RequestInfo{TxDescriptor: dec.txDesc, RPC: msg.Type == tds.PacketRPC}
	if !dec.ok {
		// BulkLoad and undecodable requests stay unclassified: unknown,
		// which routes to the primary.
		return ri
	}
	switch msg.Type {
	case tds.PacketSQLBatch:
		ri.Class = dec.classify(sr.rt.classifier)
		ri.Text = dec.text
		ri.PrimaryHint = dec.primaryHint()
	case tds.PacketTransMgr:
		ri.Class = dec.classify(sr.rt.classifier)
	case tds.PacketRPC:
		sr.rpcInfo(&ri, dec.rpc)
	}
	return ri
}

// rpcInfo classifies the calls of an RPC request for the router.
func (sr *sessionRouting) rpcInfo(ri *route.RequestInfo, r *tds.RPCRequest) {
	if len(r.Calls) == 0 {
		return
	}
	preq := policy.Request{Kind: policy.RequestRPC, Login: sr.login.UserName, AppName: sr.login.AppName, Host: sr.login.HostName}
	var one *policy.Classification
	var cs []*policy.Classification
	var texts []string
	for i := range r.Calls {
		call := &r.Calls[i]
		creq := preq
		creq.ProcName, creq.ProcID = call.ProcName, call.ProcID
		if text, ok := call.SQLText(); ok {
			creq.Text = text
			texts = append(texts, text)
		}
		switch baseProcName(call) {
		case "sp_prepare", "sp_prepexec", "sp_cursoropen", "sp_cursorprepare", "sp_cursorprepexec":
			ri.CreatesHandle = true
		}
		c, _ := sr.rt.classifier.Classify(creq)
		if c == nil {
			return
		}
		if len(r.Calls) == 1 {
			one = c
			break
		}
		cs = append(cs, c)
	}
	if one != nil {
		ri.Class = one
	} else {
		ri.Class = policy.Merge(cs...)
	}
	if len(texts) == 1 {
		ri.Text = texts[0]
	} else {
		ri.Text = strings.Join(texts, "\n")
	}
	ri.PrimaryHint = route.HasPrimaryHint(ri.Text)
}

// sendFailed handles a request that could not be written to its backend
// connection: the connection is dropped and the client gets 40613 (the
// request did not reach the backend); the session goes on.
func (sr *sessionRouting) sendFailed(s *session, msg *tds.Message, err error) []byte {
	database := s.state.Snapshot().Database
	if !sr.cur.active {
		return sr.unavailable(s, msg, database, "", errSummary(err))
	}
	sr.cur.active = false
	sr.cur.work.End(err)
	sr.drop(sr.cur.conn)
	s.log.Info("sending a request to a backend failed", zap.String("backend", sr.cur.conn.name), zap.Error(err))
	return sr.unavailable(s, msg, database, sr.cur.conn.name, errSummary(err))
}

// backendLost handles the failure of the backend connection during a
// response: with routing, see sessionRouting.lost; without, the session
// ends (backendLostEnd).
func (s *session) backendLost(err error, inMsg, walkOK bool) error {
	if s.rt != nil {
		return s.rt.lost(s, err, inMsg, walkOK)
	}
	return s.backendLostEnd(err, inMsg, walkOK)
}

// decodedRequest is one client request decoded once for enforcement and
// routing, which both need it: the ALL_HEADERS transaction descriptor, and
// the batch text, the TM request type or the RPC calls. The session's
// enforcement decodes it (when there is one) and routing uses that
// decoding (of); otherwise routing decodes it itself.
//
// The batch text and its classification outlive the request: a batch with
// the same text as the previous one reuses them (no string, no cache
// lookup), since a batch's classification depends on its text alone.
type decodedRequest struct {
	typ  tds.PacketType
	data []byte // the payload decoded: identifies the message, never read
	ok   bool   // the payload decoded (always false for BulkLoad)

	txDesc uint64          // ALL_HEADERS transaction descriptor (0: none)
	tm     policy.TMKind   // TransMgr
	rpc    *tds.RPCRequest // RPC

	tmClass *policy.Classification // the classification of tm, once computed

	text string // SQLBatch; kept after the request
	// class is the classification of text, once computed; kept with text.
	class *policy.Classification
	hint  int8 // HasPrimaryHint(text): 0 not computed, 1 false, 2 true
}

// of reports whether d is the decoding of msg.
func (d *decodedRequest) of(msg *tds.Message) bool {
	return d.typ == msg.Type && len(d.data) == len(msg.Data) &&
		(len(d.data) == 0 || &d.data[0] == &msg.Data[0])
}

// decode decodes msg. A payload that cannot be decoded leaves ok false.
func (d *decodedRequest) decode(msg *tds.Message, tdsVersion uint32) {
	d.typ, d.data, d.ok = msg.Type, msg.Data, false
	d.txDesc, d.rpc, d.tmClass = 0, nil, nil
	v72 := tds.EffectiveVersion(tdsVersion) >= tds.VerTDS72
	var rest []byte
	if v72 {
		switch msg.Type {
		case tds.PacketSQLBatch, tds.PacketRPC, tds.PacketTransMgr:
			h, r, err := tds.DecodeAllHeaders(msg.Data) // no allocation for what clients send
			if err != nil {
				return
			}
			d.txDesc, rest = h.TxDescriptor, r
		}
	}
	switch msg.Type {
	case tds.PacketSQLBatch:
		if !v72 {
			// Before TDS 7.2 ALL_HEADERS is optional: the codec tells.
			b, err := tds.DecodeSQLBatch(msg.Data, tdsVersion)
			if err != nil {
				return
			}
			d.setText(b.Text)
		} else if !sameASCII(rest, d.text) {
			text, err := tds.DecodeUCS2(rest)
			if err != nil {
				return
			}
			d.setText(text)
		}
	case tds.PacketTransMgr:
		t, err := tds.DecodeTMRequest(msg.Data)
		if err != nil {
			return
		}
		d.tm = policy.TMKind(t.Type)
	case tds.PacketRPC:
		r, err := tds.DecodeRPCRequest(msg.Data, tdsVersion)
		if err != nil {
			return
		}
		d.rpc = r
	default:
		return
	}
	d.ok = true
}

// maxKeptText is the longest batch text a session keeps after its request
// for reuse by the next one (longer texts are rarely repeated verbatim).
const maxKeptText = 4 << 10

// release drops what the decoding holds of the request once its last user
// is done: the payload, the RPC calls (their parameter values may be
// large), and a batch text too long to keep.
func (d *decodedRequest) release() {
	d.data, d.rpc, d.tmClass = nil, nil, nil
	if len(d.text) > maxKeptText {
		d.setText("")
	}
}

// setText replaces the batch text, forgetting what was derived from the
// previous one.
func (d *decodedRequest) setText(text string) {
	d.text, d.class, d.hint = text, nil, 0
}

// classify returns the classification of a decoded batch or TM request,
// classifying it (through cls, or uncached when cls is nil) the first time.
func (d *decodedRequest) classify(cls *policy.Classifier) *policy.Classification {
	into, req := &d.class, policy.Request{Kind: policy.RequestBatch, Text: d.text}
	if d.typ == tds.PacketTransMgr {
		into, req = &d.tmClass, policy.Request{Kind: policy.RequestTM, TM: d.tm}
	}
	if *into == nil {
		if cls != nil {
			*into, _ = cls.Classify(req)
		} else {
			*into, _ = policy.Classify(req)
		}
	}
	return *into
}

// primaryHint is route.HasPrimaryHint of the batch text, computed once per text.
func (d *decodedRequest) primaryHint() bool {
	if d.hint == 0 {
		d.hint = 1
		if route.HasPrimaryHint(d.text) {
			d.hint = 2
		}
	}
	return d.hint == 2
}

// sameASCII reports whether the UCS-2 text b is the ASCII string s.
func sameASCII(b []byte, s string) bool {
	if len(b) != 2*len(s) || len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || b[2*i] != c || b[2*i+1] != 0 {
			return false
		}
	}
	return true
}
