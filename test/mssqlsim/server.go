package mssqlsim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/test/mssqlsim/sqlengine"
)

// Server is one simulated SQL Server instance (the primary or a replica): a
// listener, its client connections, its database and its injected faults.
type Server struct {
	cluster *Cluster
	name    string
	db      *sqlengine.DB
	log     *zap.Logger

	primary atomic.Bool

	loginDelay    atomic.Int64 // time.Duration
	responseDelay atomic.Int64 // time.Duration
	loginFailure  atomic.Bool

	nextSPID atomic.Uint32

	mu       sync.Mutex
	addr     string // configured, then the bound address after the first listen
	ln       net.Listener
	conns    map[*conn]struct{}
	stopping chan struct{} // closed by Stop; wakes sleeping fault delays
	acceptWG sync.WaitGroup
	connWG   sync.WaitGroup
	closed   bool // the cluster is closed: Start refuses

	repl *replQueue // primary transactions waiting to be applied (replica role)
}

// Name returns the server's @@SERVERNAME, e.g. "mssqlsim-replica1".
func (s *Server) Name() string { return s.name }

// Addr returns the server's listen address (host:port), which stays the same
// across Stop and Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// IsPrimary reports whether the server is currently the primary.
func (s *Server) IsPrimary() bool { return s.primary.Load() }

// Running reports whether the server is listening.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ln != nil
}

// Start listens again on the server's address after Stop. Starting a running
// server is a no-op.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("mssqlsim: %s: cluster is closed", s.name)
	}
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("mssqlsim: %s: listening on %s: %w", s.name, s.addr, err)
	}
	s.ln = ln
	s.addr = ln.Addr().String()
	s.stopping = make(chan struct{})
	s.acceptWG.Add(1)
	go s.acceptLoop(ln, s.stopping)
	s.log.Info("listening", zap.String("server", s.name), zap.String("addr", s.addr))
	return nil
}

// Stop closes the listener and every client connection, as if the backend
// died; open transactions are rolled back. Data survives for a later Start.
// Stopping a stopped server is a no-op.
func (s *Server) Stop() error {
	s.mu.Lock()
	ln := s.ln
	if ln == nil {
		s.mu.Unlock()
		return nil
	}
	s.ln = nil
	close(s.stopping)
	err := ln.Close()
	s.mu.Unlock()
	s.acceptWG.Wait()
	s.DropConnections()
	s.connWG.Wait()
	s.log.Info("stopped", zap.String("server", s.name))
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("mssqlsim: %s: closing listener: %w", s.name, err)
	}
	return nil
}

// DropConnections closes every client connection abruptly (TCP close without
// a TDS goodbye); the listener keeps accepting new ones.
func (s *Server) DropConnections() {
	s.mu.Lock()
	cs := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.kill()
	}
	if len(cs) > 0 {
		s.log.Info("dropped connections", zap.String("server", s.name), zap.Int("count", len(cs)))
	}
}

// SetLoginDelay delays every login response by d (0 turns it off).
func (s *Server) SetLoginDelay(d time.Duration) { s.loginDelay.Store(int64(max(d, 0))) }

// SetLoginFailure makes every login fail with error 18456 while on.
func (s *Server) SetLoginFailure(on bool) { s.loginFailure.Store(on) }

// SetResponseDelay delays the response to every request by d (0 turns it
// off). An Attention cancels the wait.
func (s *Server) SetResponseDelay(d time.Duration) { s.responseDelay.Store(int64(max(d, 0))) }

// LoginDelay reports the injected login delay.
func (s *Server) LoginDelay() time.Duration { return time.Duration(s.loginDelay.Load()) }

// LoginFailure reports whether logins are made to fail.
func (s *Server) LoginFailure() bool { return s.loginFailure.Load() }

// ResponseDelay reports the injected response delay.
func (s *Server) ResponseDelay() time.Duration { return time.Duration(s.responseDelay.Load()) }

// ActiveConnections returns the number of open client connections.
func (s *Server) ActiveConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// DB returns the server's database engine, for tests that inspect or seed it
// directly.
func (s *Server) DB() *sqlengine.DB { return s.db }

func (s *Server) acceptLoop(ln net.Listener, stopping chan struct{}) {
	defer s.acceptWG.Done()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary failure (e.g. EMFILE): back off like net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", zap.String("server", s.name), zap.Error(err))
			select {
			case <-time.After(backoff):
				continue
			case <-stopping:
				return
			}
		}
		backoff = 0
		c := newConn(s, nc, stopping)
		s.mu.Lock()
		if s.ln != ln { // stopped while accepting
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.connWG.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.connWG.Done()
			defer s.removeConn(c)
			c.serve()
		}()
	}
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// close stops the server for good (Cluster.Close).
func (s *Server) close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return s.Stop()
}

// sleep waits for d, returning early with false when ctx ends or the server
// stops.
func sleep(ctx context.Context, d time.Duration, stopping <-chan struct{}) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-stopping:
		return false
	}
}
