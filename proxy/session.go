package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/tds"
)

// session is one client connection: its handshake and login, its backend
// connection and its request loop. One goroutine serves it (serve, whose
// request loop is the only writer to the client); during a long response a
// second one watches the client for an Attention (see requestLoop).
type session struct {
	srv       *Server
	id        uint64
	log       *zap.Logger
	raw       net.Conn // the accepted TCP connection (counted)
	overLimit bool     // accepted past MaxClientConns: refuse after the handshake

	conn  net.Conn // client stream after the handshake (TLS or raw)
	cr    *tds.PacketReader
	cw    *tds.PacketWriter
	be    *backend
	state stateTracker
	enf   *sessionEnforcer // policy and audit (enforce_session.go); nil: neither configured
	rt    *sessionRouting  // per-request routing (routing_session.go); nil without replicas

	tdsVersion uint32
	walker     *tds.Walker
	walkBroken bool // the walker failed on the previous response
	sawAttn    bool // DONE_ATTN seen in the current response
	lastStatus uint8

	// The client batch of a response being relayed (relay.go): packets
	// already read from the backend, written together.
	outp   *[]byte // pooled buffer, nil between responses
	out    []byte  // in *outp
	rawRun []byte  // or: adjacent packets in the backend leg's read buffer

	// The watcher (loop.go) reads the client while a long response streams;
	// the server's clock starts it and enforces the idle timeout.
	watched    chan clientRead // the watcher's last read, for the request loop
	relaySince atomic.Int64    // clock time (watchClock.at) the relayed request began; 0: none
	idleSince  atomic.Int64    // clock time the loop began waiting for a request; 0: busy; idleFired
	clockIdx   int             // index in srv.clock.sessions (under its lock)
	done       chan struct{}   // closed when the session ends
	closeOnce  sync.Once
	closeWhy   atomic.Value // Reason

	mu          sync.Mutex
	loggedIn    bool
	inRequest   bool // a request is being forwarded or its response relayed
	attnPending bool // an Attention was forwarded for the current request
	relaying    bool // the loop relays a response: a watcher may read the client (loop.go)
	watching    bool // a watcher runs or has a read for the loop (loop.go)
	watchOff    bool // the loop has ended: no new watcher
}

func newSession(srv *Server, conn net.Conn, id uint64, overLimit bool) *session {
	return &session{
		srv:       srv,
		id:        id,
		log:       srv.log.With(zap.Uint64("session", id)),
		raw:       &countingConn{Conn: conn, m: srv.metrics},
		overLimit: overLimit,
		done:      make(chan struct{}),
		clockIdx:  -1,
	}
}

// State returns a snapshot of the session's tracked state.
func (s *session) State() SessionState { return s.state.Snapshot() }

// close ends the session from any goroutine: it closes both connections,
// which unblocks the session's goroutines. why is logged by serve.
func (s *session) close(why Reason) {
	s.closeOnce.Do(func() {
		s.closeWhy.Store(why)
		close(s.done)
		s.raw.Close()
		s.mu.Lock()
		be, rt := s.be, s.rt
		s.mu.Unlock()
		if be != nil {
			be.close()
		}
		if rt != nil {
			rt.closeAll()
		}
	})
}

// closedFor returns the reason given to close, or "".
func (s *session) closedFor() Reason {
	r, _ := s.closeWhy.Load().(Reason)
	return r
}

// drainable reports whether a draining server may close the session now: it
// is not in a request and has no open (or possibly open) transaction.
func (s *session) drainable() bool {
	s.mu.Lock()
	busy := s.inRequest
	loggedIn := s.loggedIn
	s.mu.Unlock()
	if !loggedIn {
		return true
	}
	return !busy && s.state.Snapshot().Tx == TxNone
}

// serve runs the session's handshake and login, then hands the session to
// a fresh goroutine for its request loop: the stack the handshake grew
// (TLS, LOGIN7, the backend login) is not kept for the session's idle life.
// end runs once, when the session is over. A panic ends only this session.
func (s *session) serve(end func()) {
	start := time.Now()
	handedOff := false
	defer func() {
		p := recover()
		if !handedOff {
			s.cleanup(p, start, end)
		}
	}()
	err := s.run()
	if err == nil && s.loggedInNow() {
		handedOff = true
		go s.serveRequests(start, end)
		return
	}
	s.ended(err)
}

// serveRequests runs the request loop of a logged-in session to its end.
func (s *session) serveRequests(start time.Time, end func()) {
	defer func() { s.cleanup(recover(), start, end) }()
	s.ended(s.requestLoop())
}

// loggedInNow reports whether the login completed.
func (s *session) loggedInNow() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loggedIn
}

// cleanup ends the session: p is a recovered panic or nil.
func (s *session) cleanup(p any, start time.Time, end func()) {
	if p != nil {
		s.srv.metrics.Errors.WithLabelValues(string(ReasonInternal)).Inc()
		s.recovered(p)
	}
	s.close(ReasonInternal)
	s.log.Debug("session closed", zap.Duration("duration", time.Since(start)))
	end()
}

// ended logs and counts the error that ended the session, if any.
func (s *session) ended(err error) {
	if err == nil {
		return
	}
	if r := s.closedFor(); r == ReasonShutdown {
		s.log.Info("session closed by shutdown")
		return
	}
	se := classify(err)
	s.srv.metrics.Errors.WithLabelValues(string(se.Reason)).Inc()
	switch se.Reason {
	case ReasonInternal:
		// Logged with its stack by recovered.
	case ReasonBackendLoginFailed:
		s.log.Info("backend refused the login", zap.Error(err))
	case ReasonHandshake, ReasonLoginTimeout, ReasonIdleTimeout, ReasonClientGone:
		s.log.Info("session ended", zap.String("reason", string(se.Reason)), zap.Error(err))
	default:
		s.log.Warn("session failed", zap.String("reason", string(se.Reason)), zap.Error(err))
	}
}

// recovered handles a panic of the session's request path: it logs the
// stack, tells the client (when it can take a token) and returns the
// session's error. The caller closes the session.
func (s *session) recovered(p any) error {
	s.log.Error("session panicked; closing it", zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
	se := failf(ReasonInternal, fmt.Errorf("panic: %v", p), fmt.Sprint(s.id))
	s.trySendError(se)
	return se
}

// run performs the handshake and the login; the request loop follows on
// another goroutine (serve).
func (s *session) run() error {
	cfg := &s.srv.cfg
	ctx, cancel := context.WithTimeout(context.Background(), cfg.LoginTimeout)
	defer cancel()
	// loginPhase guards the deadline: the timeout callback may only abort
	// I/O while the handshake is still running, never after it succeeded.
	var loginPhase struct {
		sync.Mutex
		over bool
	}
	stop := context.AfterFunc(ctx, func() {
		// Abort blocked handshake I/O when the login phase times out.
		loginPhase.Lock()
		defer loginPhase.Unlock()
		if !loginPhase.over && ctx.Err() == context.DeadlineExceeded {
			s.raw.SetDeadline(time.Unix(1, 0))
		}
	})
	defer stop()

	hs := &tds.ServerHandshakeConfig{
		TLS:          s.srv.certs.clientTLSConfig(),
		Encryption:   tds.EncryptOff,
		Version:      preloginVersion,
		MaxLoginSize: maxLogin7Size,
	}
	if cfg.ClientEncryption == ClientEncryptionRequired {
		hs.Encryption = tds.EncryptReq
	}
	res, err := tds.ServerHandshake(ctx, s.raw, hs)
	if err != nil {
		switch {
		case ctx.Err() != nil || isTimeout(err):
			return failf(ReasonLoginTimeout, fmt.Errorf("client did not log in within login-timeout %s: %w", cfg.LoginTimeout, err))
		case errors.As(err, new(*tds.EncryptionRefusedError)):
			return failf(ReasonEncryptionRequired, fmt.Errorf("client does not encrypt and client-encryption is required: %w", err))
		}
		return failf(ReasonHandshake, fmt.Errorf("client handshake: %w", err))
	}
	// login-timeout covers the client's handshake only; the backend login
	// has its own backend-connect-timeout.
	stop()
	loginPhase.Lock()
	loginPhase.over = true
	loginPhase.Unlock()
	cancel()
	s.raw.SetDeadline(time.Time{})
	s.conn = res.Conn
	login := res.Login
	s.log = s.log.With(zap.String("user", login.UserName), zap.String("app", login.AppName))
	s.log.Debug("client logging in", zap.String("mode", res.Mode.String()), zap.String("database", login.Database),
		zap.Bool("read_only_intent", login.ReadOnlyIntent()))

	clientSize := negotiatedPacketSize(login.PacketSize)
	// The login response goes out in packets the client accepts before the
	// new size takes effect.
	s.cw = tds.NewPacketWriter(s.conn, min(clientSize, tds.DefaultPacketSize))
	s.tdsVersion = layoutVersion(login.TDSVersion)

	switch {
	case s.overLimit:
		return s.refuse(failf(ReasonTooManyConns, nil, cfg.MaxClientConns))
	case login.IntegratedSecurity():
		return s.refuse(failf(ReasonUnsupportedAuth, errors.New("integrated (SSPI) login refused"), login.UserName, "integrated (Windows/SSPI) authentication"))
	case login.FedAuth():
		return s.refuse(failf(ReasonUnsupportedAuth, errors.New("federated login refused"), login.UserName, "federated (Microsoft Entra / Azure AD) authentication"))
	case s.srv.draining.Load():
		return s.refuse(failf(ReasonShutdown, nil))
	}

	bctx, bcancel := context.WithTimeout(context.Background(), cfg.BackendConnectTimeout)
	be, lr, err := s.connectBackend(bctx, login, clientSize)
	bcancel()
	kept := s.srv.routing.keepLogin(login)        // routed sessions log in to more backends later
	login.Password, login.ChangePassword = "", "" // not needed any more
	if err != nil {
		return s.refuse(err)
	}
	s.mu.Lock()
	s.be = be
	if kept != nil && lr.ok {
		s.rt = newSessionRouting(s.srv.routing, kept, clientSize, be)
	}
	closed := s.closedFor() != ""
	s.mu.Unlock()
	if closed {
		be.close()
		return failf(ReasonShutdown, nil)
	}
	if !lr.ok {
		// The backend refused the login: relay its own error tokens (18456…).
		if err := s.cw.WriteMessage(tds.PacketReply, 0, lr.resp); err != nil {
			return failf(ReasonHandshake, fmt.Errorf("sending the backend's login error: %w", err))
		}
		return failf(ReasonBackendLoginFailed, fmt.Errorf("backend error %d: %s", lr.errNumber, lr.errMessage), login.UserName, "backend login failed")
	}
	s.cw.SetSPID(be.spid)
	if err := s.cw.WriteMessage(tds.PacketReply, 0, lr.resp); err != nil {
		return failf(ReasonHandshake, fmt.Errorf("sending the login response: %w", err))
	}
	s.tdsVersion = layoutVersion(be.tdsVersion)
	s.cw.SetPacketSize(clientSize)
	s.cr = tds.NewPacketReader(bufio.NewReaderSize(s.conn, readBufferSize), clientSize)
	s.state.setPacketSize(be.packetSize)
	s.walker = tds.NewWalker(s.tdsVersion, s.onEvent)
	s.enf = s.srv.enf.newSession(s.id, s.raw.RemoteAddr().String(), login)
	if err := s.applyLoginState(lr); err != nil {
		return failf(ReasonBackendLost, err, err.Error())
	}
	s.state.loginDone()
	s.mu.Lock()
	s.loggedIn = true
	s.mu.Unlock()
	s.log.Info("session logged in", zap.String("backend", be.addr), zap.String("mode", res.Mode.String()),
		zap.String("database", s.state.Snapshot().Database), zap.Int("client_packet_size", clientSize),
		zap.Int("backend_packet_size", be.packetSize))
	return nil
}

// applyLoginState feeds the login response to the state tracker (database,
// language, collation…).
func (s *session) applyLoginState(lr *loginResult) error {
	w := tds.NewWalker(s.tdsVersion, func(ev *tds.Event) error {
		if ev.Type == tds.TokenEnvChange && ev.Env.Type != envPacketSize {
			return s.state.envChange(uint8(ev.Env.Type), ev.Env.New, ev.Env.Old)
		}
		return nil
	})
	if err := w.Feed(lr.resp); err != nil {
		return fmt.Errorf("tracking the login response: %w", err)
	}
	return w.End()
}

// refuse sends the client an ERROR token for err (when the row is not
// silent) and returns err.
func (s *session) refuse(err error) error {
	s.trySendError(classify(err))
	return err
}

// trySendError writes an ERROR + DONE message for se if the client can take
// one (the session has a packet writer and the row is not silent).
func (s *session) trySendError(se *SessionError) {
	if s.cw == nil {
		return
	}
	we, ok := toWire(se)
	if !ok {
		return
	}
	s.raw.SetWriteDeadline(time.Now().Add(2 * time.Second))
	_ = s.cw.WriteMessage(tds.PacketReply, 0, appendErrorDone(nil, we, s.tdsVersion))
}

// preloginVersion is the VERSION the proxy answers in PRELOGIN (16.0.1000,
// SQL Server 2022), in the option's big-endian u32 layout.
const preloginVersion = 0x10000000 | 1000

// maxLogin7Size caps a client's LOGIN7 message ([MS-TDS] §2.2.6.4: 128 KiB - 1).
const maxLogin7Size = 128<<10 - 1

// negotiatedPacketSize is the packet size granted to a client that asked
// for n (0 means the server default).
func negotiatedPacketSize(n uint32) int {
	switch {
	case n == 0:
		return tds.DefaultPacketSize
	case n < tds.MinPacketSize:
		return tds.MinPacketSize
	case n > tds.MaxPacketSize:
		return tds.MaxPacketSize
	}
	return int(n)
}

// isTimeout reports a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

// isClosed reports errors that mean the peer or we closed the connection.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// countingConn counts client-leg bytes in tdsproxy_client_bytes_total.
type countingConn struct {
	net.Conn
	m *Metrics
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.m.bytesIn.Add(float64(n))
	}
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.m.bytesOut.Add(float64(n))
	}
	return n, err
}
