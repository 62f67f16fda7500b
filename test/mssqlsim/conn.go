package mssqlsim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/tds"
	"github.com/tdsproxy/tdsproxy/test/mssqlsim/sqlengine"
)

const (
	// handshakeTimeout bounds PRELOGIN, TLS and LOGIN7 of a new connection.
	handshakeTimeout = 30 * time.Second
	// maxRequestSize caps one request message (large RPC parameters, bulk
	// loads of many rows).
	maxRequestSize = 256 << 20
)

// conn is one client connection. serve runs the handshake and login, then
// two goroutines: readLoop frames requests and notices Attention at any time,
// the processor (serve's own goroutine) runs one request at a time.
type conn struct {
	srv      *Server
	nc       net.Conn // the TCP connection; closing it ends everything
	stopping <-chan struct{}
	log      *zap.Logger
	spid     uint16

	ctx      context.Context // ends when the connection is killed
	cancel   context.CancelFunc
	killOnce sync.Once

	// Set up by the handshake and login; used by the processor only, except
	// pr which belongs to readLoop once requests flow.
	stream     net.Conn
	pr         *tds.PacketReader
	pw         *tds.PacketWriter
	tdsVersion uint32
	sess       *sqlengine.Session

	// Attention: readLoop counts Attention messages and cancels the running
	// request; the processor acknowledges each with a DONE_ATTN.
	reqMu     sync.Mutex
	reqCancel context.CancelFunc
	attnSeen  atomic.Uint64
	attnAcked uint64 // processor only

	bulk *bulkTarget // pending INSERT BULK, processor only
	resp responder   // reused per request, processor only
}

func newConn(s *Server, nc net.Conn, stopping <-chan struct{}) *conn {
	spid := uint16(51 + s.nextSPID.Add(1)%32000) // user SPIDs start above 50, as in SQL Server
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		ctx:      ctx,
		cancel:   cancel,
		srv:      s,
		nc:       nc,
		stopping: stopping,
		spid:     spid,
		log:      s.log.With(zap.String("server", s.name), zap.Uint16("spid", spid), zap.Stringer("client", nc.RemoteAddr())),
	}
}

// kill closes the connection from any goroutine.
func (c *conn) kill() {
	c.killOnce.Do(func() {
		c.cancel()
		c.nc.Close()
	})
}

// serve runs the connection to its end. A panic anywhere in it is logged
// with its stack and closes this connection only.
func (c *conn) serve() {
	ctx := c.ctx
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("panic serving connection; closing it", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			c.writeFatal(fmt.Sprintf("mssqlsim internal error: %v", r))
		}
		c.kill()
		if c.sess != nil {
			c.sess.Close()
		}
	}()
	if !c.handshake(ctx) {
		return
	}
	c.processLoop(ctx)
}

// handshake runs PRELOGIN, TLS and LOGIN7 and answers the login. It reports
// whether the connection is logged in.
func (c *conn) handshake(ctx context.Context) bool {
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	res, err := tds.ServerHandshake(hctx, c.nc, c.srv.cluster.hs.config)
	cancel()
	if err != nil {
		if !isClosed(err) {
			c.log.Info("handshake failed", zap.Error(err))
		}
		return false
	}
	c.stream = res.Conn
	// Buffered: a packet header and payload usually arrive in one read.
	c.pr = tds.NewPacketReader(bufio.NewReaderSize(c.stream, 8192), tds.DefaultPacketSize)
	c.pw = tds.NewPacketWriter(c.stream, tds.DefaultPacketSize)
	c.pw.SetSPID(c.spid)
	c.tdsVersion = replyVersion(res.Login.TDSVersion, res.Mode == tds.ModeStrict)
	c.log.Debug("login received", zap.Stringer("login", res.Login), zap.Stringer("mode", res.Mode))
	return c.doLogin(ctx, res.Login)
}

// replyVersion is the TDS version the server answers in LOGINACK: the
// client's, capped at 7.4 (TDS 8 strict logins are answered as 7.4, like
// SQL Server does).
func replyVersion(client uint32, strict bool) uint32 {
	switch {
	case strict || client>>24 == 0x08 || client >= tds.VerTDS74:
		return tds.VerTDS74
	case client >= tds.VerTDS73B:
		return tds.VerTDS73B
	case client >= tds.VerTDS73A:
		return tds.VerTDS73A
	case client >= tds.VerTDS72:
		return tds.VerTDS72
	default:
		return tds.VerTDS71
	}
}

// processLoop serves requests until the client leaves or the connection is
// killed.
func (c *conn) processLoop(ctx context.Context) {
	reqs := make(chan request)
	go c.readLoop(ctx, reqs)
	for {
		var req request
		select {
		case req = <-reqs:
		case <-ctx.Done():
			return
		}
		if req.err != nil {
			if !isClosed(req.err) {
				c.log.Info("closing connection after a bad request stream", zap.Error(req.err))
				var fe *tds.FormatError
				var tl *tds.MessageTooLargeError
				if errors.As(req.err, &fe) || errors.As(req.err, &tl) {
					c.writeFatal("The incoming tabular data stream (TDS) protocol stream is incorrect: " + req.err.Error())
				}
			}
			return
		}
		if err := c.handle(ctx, &req); err != nil {
			if !isClosed(err) && ctx.Err() == nil {
				c.log.Info("closing connection", zap.Error(err))
			}
			return
		}
		req.release()
	}
}

// isClosed reports errors that only mean the peer or the server went away.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, context.Canceled) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// request is one client message handed from readLoop to the processor.
type request struct {
	typ     tds.PacketType
	status  tds.PacketStatus
	data    []byte
	ignore  bool
	attnSeq uint64 // for Attention: its sequence number
	err     error  // the stream failed; the connection ends
	buf     *[]byte
}

var reqBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (r *request) release() {
	if r.buf != nil && cap(*r.buf) <= 1<<20 {
		*r.buf = r.data[:0]
		reqBufPool.Put(r.buf)
	}
	r.buf, r.data = nil, nil
}

// readLoop reads request messages. An Attention cancels the running request
// at once and is then queued so the processor acknowledges it in order.
func (c *conn) readLoop(ctx context.Context, reqs chan<- request) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("panic reading requests; closing the connection", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			c.kill()
		}
	}()
	for {
		m, err := c.pr.ReadMessage(maxRequestSize)
		if err != nil {
			select {
			case reqs <- request{err: err}:
			case <-ctx.Done():
			}
			return
		}
		req := request{typ: m.Type, status: m.Status, ignore: m.Ignore}
		if m.Type == tds.PacketAttention {
			req.attnSeq = c.attnSeen.Add(1)
			c.cancelRequest()
		} else {
			req.buf = reqBufPool.Get().(*[]byte)
			req.data = append((*req.buf)[:0], m.Data...)
		}
		select {
		case reqs <- req:
		case <-ctx.Done():
			return
		}
	}
}

func (c *conn) cancelRequest() {
	c.reqMu.Lock()
	if c.reqCancel != nil {
		c.reqCancel()
	}
	c.reqMu.Unlock()
}

// writeFatal sends a class-20 ERROR and a DONE in a new message before the
// connection is closed; failures are ignored (the peer may be gone).
func (c *conn) writeFatal(msg string) {
	if c.pw == nil {
		return
	}
	var b []byte
	b = tds.AppendMessage(b, tds.TokenError, tds.ServerError{Number: 4002, State: 1, Class: 20, Message: msg, ServerName: c.srv.name, Line: 1}, c.tdsVersion)
	b = tds.AppendDone(b, tds.TokenDone, tds.Done{Status: tds.DoneError}, c.tdsVersion)
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_ = c.pw.WriteMessage(tds.PacketReply, 0, b)
}
