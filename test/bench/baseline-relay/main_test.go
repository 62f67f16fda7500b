package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// TestRelayCopiesBothWaysAndHalfCloses: bytes reach the backend and its
// answer the client; the client's half-close reaches the backend (which
// then answers and closes), and cancelling serve closes the listener.
func TestRelayCopiesBothWaysAndHalfCloses(t *testing.T) {
	t.Parallel()
	for _, buffered := range []bool{false, true} {
		t.Run(map[bool]string{false: "splice", true: "buffer"}[buffered], func(t *testing.T) {
			t.Parallel()
			testRelay(t, buffered)
		})
	}
}

func testRelay(t *testing.T, buffered bool) {
	back, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	// The backend reads the whole request (until the half-close), then
	// answers with it reversed and closes.
	go func() {
		c, err := back.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req, _ := io.ReadAll(c)
		for i, j := 0, len(req)-1; i < j; i, j = i+1, j-1 {
			req[i], req[j] = req[j], req[i]
		}
		_, _ = c.Write(req)
	}()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r := &relay{target: back.Addr().String(), dialTimeout: 10 * time.Second, buffered: buffered}
	served := make(chan error, 1)
	go func() { served <- r.serve(ctx, ln) }()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	req := bytes.Repeat([]byte("0123456789"), 10000) // 100 KB: several segments
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c) // ends when the backend's close is relayed
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	want := bytes.Clone(req)
	for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
		want[i], want[j] = want[j], want[i]
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("answer of %d bytes differs from the %d expected", len(got), len(want))
	}

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("serve after cancel: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("serve did not return after cancel")
	}
}

func TestRunNeedsTarget(t *testing.T) {
	t.Parallel()
	if code := run(t.Context(), []string{"-listen", "127.0.0.1:0"}); code != 2 {
		t.Errorf("exit %d without -target, want 2", code)
	}
	if code := run(t.Context(), []string{"-listen", "127.0.0.1:0", "-target", "127.0.0.1:1", "-copy", "zero"}); code != 2 {
		t.Errorf("exit %d with -copy zero, want 2", code)
	}
}
