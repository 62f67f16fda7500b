package proxy

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/tds"
)

// Server is the TDS proxy: it accepts clients, logs them in to a backend with
// their own credentials and relays their requests. Create it with New.
type Server struct {
	cfg     Config
	log     *zap.Logger
	metrics *Metrics
	enf     *enforcer           // policy enforcement and audit (enforce.go)
	routing *routing            // per-request routing (routing.go); nil without replicas
	clock   *watchClock         // watchers and idle timeouts of logged-in sessions (loop.go)
	gather  prometheus.Gatherer // serves /metrics
	certs   *certSource
	roots   *x509.CertPool // backend roots; nil = system roots

	// dial opens backend connections; tests may replace it.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// testHookRequest, when set (tests only), runs before each request is
	// forwarded.
	testHookRequest func(*session, *tds.Message)

	ready    atomic.Bool // listening and not draining
	started  atomic.Bool // has listened at least once
	draining atomic.Bool
	nextID   atomic.Uint64
	// nextReplica spreads read-intent sessions over the replicas.
	nextReplica atomic.Uint64
	active      atomic.Int64 // client connections being served (incl. those being refused)

	mu       sync.Mutex
	ln       net.Listener
	addr     net.Addr
	sessions map[*session]struct{}
	wg       sync.WaitGroup // one per client connection goroutine
	stopped  chan struct{}  // closed when the accept loop should end
	stopOnce sync.Once
}

// New validates cfg (after filling its defaults), loads the TLS material and
// creates the server's metrics, registering them with reg (nil: none).
func New(cfg Config, log *zap.Logger, reg prometheus.Registerer) (*Server, error) {
	if log == nil {
		log = zap.NewNop()
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("proxy config: %w", err)
	}
	certs, err := newCertSource(cfg.TLSCert, cfg.TLSKey, log)
	if err != nil {
		return nil, fmt.Errorf("proxy tls: %w", err)
	}
	roots, err := loadBackendRoots(&cfg)
	if err != nil {
		return nil, fmt.Errorf("proxy backend tls: %w", err)
	}
	m, err := NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	if cfg.BackendTrustCert && cfg.BackendEncrypt != BackendEncryptDisable {
		log.Warn("backend-trust-cert is set: backend certificates are not verified")
	}
	rt, err := newRouting(&cfg, log, reg)
	if err != nil {
		return nil, err
	}
	if rt != nil {
		log.Info("routing requests to the primary and replicas", zap.Strings("replicas", cfg.Replicas))
	}
	enf, err := newEnforcerFor(&cfg, log, reg)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{KeepAlive: 30 * time.Second}
	gather := prometheus.Gatherer(prometheus.DefaultGatherer)
	if g, ok := reg.(prometheus.Gatherer); ok {
		gather = g
	}
	return &Server{
		gather:   gather,
		cfg:      cfg,
		log:      log,
		metrics:  m,
		enf:      enf,
		routing:  rt,
		clock:    newWatchClock(cfg.IdleTimeout),
		certs:    certs,
		roots:    roots,
		dial:     d.DialContext,
		sessions: make(map[*session]struct{}),
		stopped:  make(chan struct{}),
	}, nil
}

// Metrics returns the server's collectors.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Addr returns the address the server listens on, or nil before listening.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Ready reports whether the server accepts clients: it is listening and not
// draining.
func (s *Server) Ready() bool { return s.ready.Load() }

// ListenAndServe listens on cfg.Listen and serves clients. It returns nil
// after Shutdown has completed, or when ctx is done (then every session is
// closed at once); otherwise the listen or accept error.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("proxy: listening on %s: %w", s.cfg.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves clients on ln, which it closes when done (see ListenAndServe).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.ln != nil {
		s.mu.Unlock()
		ln.Close()
		return errors.New("proxy: server is already serving")
	}
	s.ln, s.addr = ln, ln.Addr()
	s.mu.Unlock()
	if s.draining.Load() {
		ln.Close()
		return nil
	}
	s.started.Store(true)
	defer s.enf.start(ctx)()     // policy file watcher; closes the audit log when serving ends
	defer s.routing.start(ctx)() // health checks (routing.go)
	clockStop, clockDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(clockDone)
		s.clock.run(clockStop)
	}()
	defer func() {
		close(clockStop)
		<-clockDone
	}()
	s.ready.Store(true)
	s.log.Info("proxy listening", zap.String("addr", ln.Addr().String()), zap.String("primary", s.cfg.Primary),
		zap.String("client_encryption", string(s.cfg.ClientEncryption)), zap.String("backend_encrypt", string(s.cfg.BackendEncrypt)))

	ctxDone := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			s.log.Info("proxy context done: closing every session")
			s.ready.Store(false)
			s.mu.Lock()
			s.draining.Store(true)
			s.mu.Unlock()
			s.stop()
			s.closeSessions(func(*session) bool { return true })
		case <-s.stopped:
		}
		close(ctxDone)
	}()

	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			select {
			case <-s.stopped:
				s.wg.Wait()
				<-ctxDone
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", zap.Error(err), zap.Duration("delay", delay))
				time.Sleep(delay)
				continue
			}
			s.stop()
			s.wg.Wait()
			<-ctxDone
			return fmt.Errorf("proxy: accepting on %s: %w", ln.Addr(), err)
		}
		delay = 0
		s.accept(conn)
	}
}

// stop closes the listener once.
func (s *Server) stop() {
	s.stopOnce.Do(func() {
		close(s.stopped)
		s.mu.Lock()
		if s.ln != nil {
			s.ln.Close()
		}
		s.mu.Unlock()
	})
}

// accept starts serving one client connection.
func (s *Server) accept(conn net.Conn) {
	n := s.active.Add(1)
	// Far beyond the limit, do not even spend a handshake on the client.
	if hard := int64(s.cfg.MaxClientConns) + int64(s.cfg.MaxClientConns)/10 + 16; n > hard {
		s.active.Add(-1)
		s.metrics.Errors.WithLabelValues(string(ReasonTooManyConns)).Inc()
		s.log.Warn("client connection refused: far over max-client-conns", zap.Int("max_client_conns", s.cfg.MaxClientConns))
		conn.Close()
		return
	}
	id := s.nextID.Add(1)
	sess := newSession(s, conn, id, n > int64(s.cfg.MaxClientConns))
	// Register under mu, where Shutdown sets draining: a session is either
	// counted in wg before Shutdown waits on it, or never started.
	s.mu.Lock()
	if s.draining.Load() {
		s.mu.Unlock()
		s.active.Add(-1)
		conn.Close()
		return
	}
	s.sessions[sess] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.metrics.ClientConns.Inc()
	s.metrics.ClientConnsTotal.Inc()
	go sess.serve(func() {
		s.mu.Lock()
		delete(s.sessions, sess)
		s.mu.Unlock()
		s.active.Add(-1)
		s.metrics.ClientConns.Dec()
		s.wg.Done()
	})
}

// closeSessions closes the sessions for which pick returns true.
func (s *Server) closeSessions(pick func(*session) bool) {
	s.mu.Lock()
	var list []*session
	for sess := range s.sessions {
		if pick(sess) {
			list = append(list, sess)
		}
	}
	s.mu.Unlock()
	for _, sess := range list {
		sess.close(ReasonShutdown)
	}
}

// sessionCount returns the number of live sessions.
func (s *Server) sessionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Shutdown drains the server: it stops being ready, stops accepting, closes
// idle sessions, lets sessions finish their current request (and an open
// transaction) for up to cfg.ShutdownGrace or until ctx is done, then closes
// whatever is left. It returns ctx's error if ctx ended the wait.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ready.Store(false)
	s.mu.Lock()
	s.draining.Store(true)
	s.mu.Unlock()
	s.log.Info("proxy draining", zap.Int("sessions", s.sessionCount()), zap.Duration("grace", s.cfg.ShutdownGrace))
	s.stop()
	grace := time.NewTimer(s.cfg.ShutdownGrace)
	defer grace.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var ctxErr error
	for {
		// Idle sessions with no open transaction go now; busy ones stop after their request.
		s.closeSessions(func(sess *session) bool { return sess.drainable() })
		if s.sessionCount() == 0 {
			break
		}
		select {
		case <-tick.C:
			continue
		case <-grace.C:
		case <-ctx.Done():
			ctxErr = ctx.Err()
		}
		s.log.Warn("shutdown grace over: closing the remaining sessions", zap.Int("sessions", s.sessionCount()))
		s.closeSessions(func(*session) bool { return true })
		break
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		if ctxErr == nil {
			ctxErr = ctx.Err()
		}
	}
	s.log.Info("proxy stopped")
	return ctxErr
}
