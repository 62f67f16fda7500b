package load

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// silentServer accepts TCP connections and never answers (a server stuck
// before its login response, as the simulator was when out of file
// descriptors). closed receives once per accepted connection the client
// closed.
type silentServer struct {
	ln       net.Listener
	accepted chan struct{}
	closed   chan struct{}
	wg       sync.WaitGroup
}

func startSilent(t *testing.T) *silentServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silentServer{ln: ln, accepted: make(chan struct{}, 100), closed: make(chan struct{}, 100)}
	var mu sync.Mutex
	var conns []net.Conn
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			s.accepted <- struct{}{}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				_, _ = io.Copy(io.Discard, c) // until the client closes (or cleanup)
				s.closed <- struct{}{}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *silentServer) dsn() string {
	return "sqlserver://load:Load-Passw0rd@" + s.ln.Addr().String() + "?database=demo&encrypt=disable"
}

// waitN waits for n signals on ch, failing the test after a generous deadline.
func waitN(t *testing.T, ch <-chan struct{}, n int, what string) {
	t.Helper()
	deadline := time.After(time.Minute)
	for i := 0; i < n; i++ {
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%s: %d of %d after a minute", what, i, n)
		}
	}
}

// TestIdleGivesUpOnSilentServer guards against tdsload -idle hanging on
// logins that never complete: each connection fails after the connect
// timeout, counted as timed out, and its socket is closed.
func TestIdleGivesUpOnSilentServer(t *testing.T) {
	t.Parallel()
	srv := startSilent(t)
	db, err := OpenDB(srv.dsn())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := Idle(t.Context(), db, 3, 0, 0, 200*time.Millisecond)
	if err != nil {
		t.Fatalf("Idle: %v", err)
	}
	if res.Opened != 0 || res.Failed != 3 || res.TimedOut != 3 || !errors.Is(res.FirstError, ErrConnectTimeout) {
		t.Errorf("opened %d failed %d timed out %d first %v; want 0, 3, 3, a connect timeout", res.Opened, res.Failed, res.TimedOut, res.FirstError)
	}
	waitN(t, srv.closed, 3, "sockets closed by tdsload")
}

// TestIdleStopsOnCancel: a cancelled context (SIGINT/SIGTERM in main)
// stops Idle while logins are pending, without counting them as failures.
func TestIdleStopsOnCancel(t *testing.T) {
	t.Parallel()
	srv := startSilent(t)
	db, err := OpenDB(srv.dsn())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithCancelCause(t.Context())
	stop := errors.New("terminated by test")
	go func() {
		select { // a failure to accept shows below as a missing close
		case <-srv.accepted:
		case <-time.After(time.Minute):
		}
		cancel(stop)
	}()
	res, err := Idle(ctx, db, 50, time.Minute, 0, 10*time.Minute)
	if !errors.Is(err, stop) {
		t.Errorf("Idle error %v, want the cancel cause", err)
	}
	if res.Opened != 0 || res.Failed != 0 {
		t.Errorf("opened %d failed %d; want 0, 0 (interrupted, not failed)", res.Opened, res.Failed)
	}
	// Every connection the server accepted is closed by the client: none
	// is left waiting in a login.
	srv.ln.Close()
	n := 1 + len(srv.accepted)
	waitN(t, srv.closed, n, "pending logins closed")
}

// TestMainReportsFailedIdleConnections: the -idle report says how many
// connections failed and why, and exits 1.
func TestMainReportsFailedIdleConnections(t *testing.T) {
	t.Parallel()
	srv := startSilent(t)
	var out, errb bytes.Buffer
	code := Main(t.Context(), []string{"-dsn", srv.dsn(), "-idle", "2", "-duration", "10ms", "-connect-timeout", "200ms"}, &out, &errb)
	if code != 1 {
		t.Errorf("exit %d, want 1; stderr %s", code, errb.String())
	}
	for _, w := range []string{"0 connections open (2 failed)", "FAILED: 2 of 2", "2 timed out", "no login response"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
	if strings.Contains(out.String()+errb.String(), "Load-Passw0rd") {
		t.Error("the output shows the DSN's password")
	}
}
