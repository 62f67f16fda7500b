package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/tds"
)

// maxRoutingHops bounds how many routing ENVCHANGEs one login follows.
const maxRoutingHops = 3

// readBufferSize is the read buffer of the client leg: a packet header and
// a small request arrive in one read system call; larger payloads are read
// directly into the packet buffer.
const readBufferSize = 1024

// backendReadSize is the read buffer of a backend leg while a response
// streams: several packets per read system call when the backend is ahead.
// It comes from a pool and goes back between responses (backend.release).
const backendReadSize = 32 << 10

var backendReadPool = sync.Pool{New: func() any {
	b := make([]byte, backendReadSize)
	return &b
}}

// leanReader buffers the reads of a backend connection in a pooled buffer
// that it holds only while it has unread bytes or the owner is reading a
// response: release gives it back. Not safe for concurrent use.
type leanReader struct {
	r   io.Reader
	bp  *[]byte // the pooled buffer, or nil
	buf []byte  // unread bytes, in *bp
	err error   // a read error to return once buf is drained
}

// Read implements io.Reader.
func (l *leanReader) Read(p []byte) (int, error) {
	if len(l.buf) == 0 {
		if l.err != nil {
			err := l.err
			l.err = nil
			return 0, err
		}
		if len(p) >= backendReadSize {
			return l.r.Read(p)
		}
		if l.bp == nil {
			l.bp = backendReadPool.Get().(*[]byte)
		}
		n, err := l.r.Read(*l.bp)
		l.buf = (*l.bp)[:n]
		if n == 0 {
			return 0, err
		}
		l.err = err
	}
	n := copy(p, l.buf)
	l.buf = l.buf[n:]
	return n, nil
}

// hasPacket reports whether takePacket(size) would return a packet: a
// whole packet with a valid Length is buffered, and reading it needs no
// system call.
func (l *leanReader) hasPacket(size int) bool {
	if len(l.buf) < tds.HeaderLen {
		return false
	}
	n := int(binary.BigEndian.Uint16(l.buf[2:4]))
	return n >= tds.HeaderLen && n <= size && n <= len(l.buf)
}

// takePacket returns the next packet, header included, straight from the
// buffer when it is all there and its Length is within [HeaderLen, size];
// otherwise ok is false and a PacketReader reads it (and rejects a bad
// Length). The packet stays valid until the buffer is refilled: the next
// Read when takePacket has drained it. Its capacity runs to the end of
// the buffer, so that adjacent packets can be written as one run.
func (l *leanReader) takePacket(size int) (pkt []byte, ok bool) {
	if !l.hasPacket(size) {
		return nil, false
	}
	n := int(binary.BigEndian.Uint16(l.buf[2:4]))
	pkt, l.buf = l.buf[:n], l.buf[n:]
	return pkt, true
}

// release returns the buffer to the pool if no unread bytes are left in it.
func (l *leanReader) release() {
	if len(l.buf) == 0 && l.bp != nil {
		backendReadPool.Put(l.bp)
		l.bp, l.buf = nil, nil
	}
}

// maxLoginResponse caps a backend's login response.
const maxLoginResponse = 1 << 20

// keptFeatures are the LOGIN7 feature extensions passed to backends: only
// those whose effects on the token stream the proxy understands. The others
// are dropped from the backend login (SESSIONRECOVERY would let a backend
// hand session state to a client behind the proxy's back; COLUMNENCRYPTION,
// DATACLASSIFICATION, JSON and VECTOR add tokens and types; FEDAUTH is
// refused before this point).
var keptFeatures = map[tds.FeatureID]bool{
	tds.FeatureUTF8Support: true,
}

// backend is one backend connection, logged in for one client session.
// Requests and Attention are written under wmu (Attention comes from the
// client reader goroutine); only the session's request loop reads.
type backend struct {
	addr       string
	conn       net.Conn // stream after the handshake (TLS or raw)
	raw        net.Conn // the TCP connection
	r          *tds.PacketReader
	rd         *leanReader // under r
	wmu        sync.Mutex
	w          *tds.PacketWriter
	packetSize int
	spid       uint16
	tdsVersion uint32
	closeOnce  sync.Once
	onClose    func()
}

// close closes the connection once.
func (b *backend) close() {
	b.closeOnce.Do(func() {
		b.raw.Close()
		if b.onClose != nil {
			b.onClose()
		}
	})
}

// release gives the read buffers back to their pools: the backend leg holds
// none between responses. Only the reader (the request loop) calls it.
func (b *backend) release() {
	if b.r != nil {
		b.r.Release()
	}
	if b.rd != nil {
		b.rd.release()
	}
}

// send writes one whole message to the backend.
func (b *backend) send(t tds.PacketType, status tds.PacketStatus, data []byte) error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if err := b.w.WriteMessage(t, status, data); err != nil {
		return fmt.Errorf("sending %v to backend %s: %w", t, b.addr, err)
	}
	return nil
}

// loginResult is what a backend answered to a login.
type loginResult struct {
	ok         bool   // LOGINACK seen
	resp       []byte // the response for the client: tokens rebuilt, packet size rewritten, routing removed
	route      string // HOST:PORT from a routing ENVCHANGE, "" if none
	packetSize int    // the backend's packet size (ENVCHANGE 4), 0 if not sent
	tdsVersion uint32 // from LOGINACK
	errNumber  int32  // the first ERROR token's number, for logs
	errMessage string
}

// connectBackend logs the session's login in to a backend, following
// routing ENVCHANGEs. A login with ApplicationIntent=ReadOnly goes to a
// replica when replicas are configured (round robin, the next one when one
// is unreachable, the primary when none is reachable), as SQL Server's
// read-only routing does; every other login goes to the primary.
// With per-request routing (replicas configured), loginTargets picks them
// instead: read-intent logins never fall back to the primary, and other
// logins follow a failover. A failed
// login (the backend refused it) returns the backend and a result with ok
// false, so its tokens can be relayed.
func (s *session) connectBackend(ctx context.Context, login *tds.Login7, clientPacketSize int) (*backend, *loginResult, error) {
	targets := []string{s.srv.cfg.Primary}
	if rt := s.srv.routing; rt != nil { // per-request routing (routing.go)
		targets = rt.loginTargets(&s.srv.cfg, login.ReadOnlyIntent(), s.srv.nextReplica.Add(1)-1)
	} else if reps := s.srv.cfg.Replicas; login.ReadOnlyIntent() && len(reps) > 0 {
		first := int(s.srv.nextReplica.Add(1)-1) % len(reps)
		targets = targets[:0]
		for i := range reps {
			targets = append(targets, reps[(first+i)%len(reps)])
		}
		targets = append(targets, s.srv.cfg.Primary)
	}
	var err error
	for i, addr := range targets {
		var be *backend
		var lr *loginResult
		be, lr, err = s.connectTo(ctx, addr, login, clientPacketSize)
		if err == nil {
			if i > 0 {
				s.log.Warn("read-intent session served by a fallback backend", zap.String("backend", addr))
			}
			return be, lr, nil
		}
		if classify(err).Reason != ReasonBackendUnavailable || ctx.Err() != nil {
			break
		}
		if i < len(targets)-1 {
			s.log.Warn("backend unavailable; trying the next one", zap.String("backend", addr), zap.Error(err))
		}
	}
	return nil, nil, err
}

// connectTo logs in to the backend at addr, following routing ENVCHANGEs.
func (s *session) connectTo(ctx context.Context, addr string, login *tds.Login7, clientPacketSize int) (*backend, *loginResult, error) {
	for hop := 0; ; hop++ {
		be, lr, err := s.loginTo(ctx, addr, login, clientPacketSize)
		if err != nil {
			return nil, nil, err
		}
		if lr.route == "" {
			return be, lr, nil
		}
		be.close()
		if hop == maxRoutingHops {
			return nil, nil, failf(ReasonRoutingLoop, nil, login.Database, addr,
				fmt.Sprintf("more than %d routing redirects", maxRoutingHops))
		}
		s.log.Info("backend routed the login; following", zap.String("from", addr), zap.String("to", lr.route))
		addr = lr.route
	}
}

// loginTo dials addr and runs PRELOGIN, TLS and LOGIN7 with the client's login.
func (s *session) loginTo(ctx context.Context, addr string, login *tds.Login7, clientPacketSize int) (*backend, *loginResult, error) {
	cfg := &s.srv.cfg
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, failf(ReasonBackendUnavailable, err, login.Database, addr, "bad backend address")
	}
	unavailable := func(what string, err error) error {
		return failf(ReasonBackendUnavailable, fmt.Errorf("%s %s: %w", what, addr, err),
			login.Database, addr, fmt.Sprintf("%s: %v", what, err))
	}
	raw, err := s.srv.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, unavailable("connecting to the backend", err)
	}
	s.srv.metrics.BackendConns.Inc()
	be := &backend{addr: addr, raw: raw, onClose: s.srv.metrics.BackendConns.Dec}
	ok := false
	defer func() {
		if !ok {
			be.close()
		}
	}()
	if dl, has := ctx.Deadline(); has {
		raw.SetDeadline(dl)
	}

	bl := backendLogin(login, host, cfg.BackendEncrypt == BackendEncryptStrict)
	hc := &tds.ClientHandshakeConfig{
		TLS:        backendTLSConfig(cfg, s.srv.roots, host),
		Encryption: clientEncryptionMode(cfg.BackendEncrypt),
		Login:      bl,
		PacketSize: int(bl.PacketSize),
	}
	hres, err := tds.ClientHandshake(ctx, raw, hc)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (backend-connect-timeout %s)", err, cfg.BackendConnectTimeout)
		}
		return nil, nil, unavailable("logging in to the backend", err)
	}
	conn := hres.Conn
	if dl, has := ctx.Deadline(); has {
		conn.SetDeadline(dl) // the handshake clears its own deadlines
	}
	be.conn = conn
	be.rd = &leanReader{r: conn}
	// The login response may come in packets of any size up to the maximum;
	// this reader is dropped after the login.
	lpr := tds.NewPacketReader(be.rd, tds.MaxPacketSize)
	data, spid, err := readLoginResponse(lpr)
	lpr.Release()
	be.rd.release()
	if err != nil {
		return nil, nil, unavailable("reading the backend's login response", err)
	}
	be.spid = spid
	lr, err := rewriteLoginResponse(data, login.TDSVersion, clientPacketSize)
	if err != nil {
		return nil, nil, unavailable("decoding the backend's login response", err)
	}
	conn.SetDeadline(time.Time{})
	be.packetSize = tds.DefaultPacketSize
	if lr.packetSize != 0 {
		be.packetSize = lr.packetSize
	}
	be.tdsVersion = lr.tdsVersion
	// Packets up to the negotiated size.
	be.r = tds.NewPacketReader(be.rd, be.packetSize)
	be.w = tds.NewPacketWriter(conn, be.packetSize)
	ok = true
	return be, lr, nil
}

// readLoginResponse reads one reply message and the SPID of its packets.
func readLoginResponse(r *tds.PacketReader) ([]byte, uint16, error) {
	var data []byte
	for {
		h, p, err := r.ReadPacket()
		if err != nil {
			return nil, 0, err
		}
		if h.Type != tds.PacketReply {
			return nil, 0, fmt.Errorf("unexpected %v packet", h.Type)
		}
		if len(data)+len(p) > maxLoginResponse {
			return nil, 0, fmt.Errorf("login response larger than %d bytes", maxLoginResponse)
		}
		data = append(data, p...)
		if h.Status&tds.StatusEOM != 0 {
			return data, h.SPID, nil
		}
	}
}

// backendLogin copies the client's login for a backend at host: the
// password and every client setting pass through; ServerName becomes the
// backend's host (Azure gateways route on it); feature extensions the proxy
// cannot follow are dropped.
//
// The TDS version follows the backend leg: TDS 8 (strict) sends VerTDS80,
// a TDS 7.x leg gets 7.4 for a TDS 8 client.
func backendLogin(l *tds.Login7, host string, strict bool) *tds.Login7 {
	bl := *l
	bl.ServerName = host
	switch {
	case strict && (bl.TDSVersion >= tds.VerTDS74 || bl.TDSVersion == tds.VerTDS80):
		bl.TDSVersion = tds.VerTDS80
	case !strict && bl.TDSVersion == tds.VerTDS80:
		bl.TDSVersion = tds.VerTDS74
	}
	bl.FeatureExt = nil
	for _, f := range l.FeatureExt {
		if keptFeatures[f.ID] {
			bl.FeatureExt = append(bl.FeatureExt, f)
		}
	}
	if len(bl.FeatureExt) == 0 {
		bl.OptionFlags3 &^= tds.Login7Extension
	}
	return &bl
}

// clientEncryptionMode maps the backend-encrypt setting to the handshake's.
func clientEncryptionMode(e BackendEncrypt) tds.ClientEncryption {
	switch e {
	case BackendEncryptDisable:
		return tds.ClientEncryptDisable
	case BackendEncryptFalse:
		return tds.ClientEncryptOptional
	case BackendEncryptStrict:
		return tds.ClientEncryptStrict
	}
	return tds.ClientEncryptRequired
}

// isTDS7 reports a TDS 7.x version number (TDS 8's VerTDS80 is not
// comparable with them).
func isTDS7(v uint32) bool { return v>>28 == 7 }

// layoutVersion is the version that selects token layouts for a session
// whose client sent v: TDS 8 uses the 7.4 layouts.
func layoutVersion(v uint32) uint32 {
	if isTDS7(v) {
		return v
	}
	return tds.VerTDS74
}

// rewriteLoginResponse decodes a backend's login response and rebuilds it
// for the client: the packet size ENVCHANGE says the client's size (one is
// added before the final DONE if the backend sent none), a routing
// ENVCHANGE is removed (and reported in route), and the LOGINACK's TDS
// version is capped at the client's.
func rewriteLoginResponse(data []byte, clientVersion uint32, clientPacketSize int) (*loginResult, error) {
	toks, err := tds.DecodeTokens(data, layoutVersion(clientVersion))
	if err != nil {
		return nil, err
	}
	lr := &loginResult{}
	out := make([]tds.Token, 0, len(toks)+1)
	sawPacketSize := false
	for _, tk := range toks {
		switch tk.Type {
		case tds.TokenLoginAck:
			lr.ok = true
			if isTDS7(clientVersion) && tk.LoginAck.TDSVersion > clientVersion {
				tk.LoginAck.TDSVersion = clientVersion
			}
			lr.tdsVersion = tk.LoginAck.TDSVersion
		case tds.TokenEnvChange:
			switch tk.Env.Type {
			case tds.EnvRoutingType:
				host, port, ok := tk.Env.Routing()
				if !ok || host == "" || port == 0 {
					return nil, errors.New("malformed routing ENVCHANGE")
				}
				lr.route = net.JoinHostPort(host, strconv.Itoa(int(port)))
				continue
			case tds.EnvEnhancedRoutingType:
				return nil, errors.New("enhanced routing ENVCHANGE (21) although the proxy did not ask for it")
			case tds.EnvPacketSizeType:
				n, ok := tk.Env.PacketSize()
				if !ok {
					return nil, fmt.Errorf("packet size ENVCHANGE %q", tk.Env.NewString())
				}
				lr.packetSize = n
				sawPacketSize = true
				tk.Env = tds.EnvPacketSize(clientPacketSize, clientPacketSize)
			}
		case tds.TokenError:
			if lr.errNumber == 0 {
				lr.errNumber, lr.errMessage = tk.Err.Number, tk.Err.Message
			}
		case tds.TokenDone:
			if lr.ok && !sawPacketSize && tk.Done.Status&tds.DoneMore == 0 {
				out = append(out, tds.Token{Type: tds.TokenEnvChange, Env: tds.EnvPacketSize(clientPacketSize, clientPacketSize)})
				sawPacketSize = true
			}
		}
		out = append(out, tk)
	}
	if lr.ok && lr.tdsVersion == 0 {
		return nil, errors.New("LOGINACK without a TDS version")
	}
	ver := layoutVersion(clientVersion)
	if lr.tdsVersion != 0 {
		ver = layoutVersion(lr.tdsVersion)
	}
	resp, err := tds.AppendTokens(nil, out, ver)
	if err != nil {
		return nil, fmt.Errorf("re-encoding the login response: %w", err)
	}
	lr.resp = resp
	return lr, nil
}
