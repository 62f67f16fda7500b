// Command baseline-relay is the benchmark's zero-work TCP relay: it accepts
// connections and copies bytes both ways to one backend, with no protocol
// knowledge, no buffering of its own and no per-request work. Measured next
// to tdsproxy in test/bench/run.sh ("relay" target), it shows how much of
// the proxied/direct gap is the extra process hop itself (two more loopback
// sockets, their syscalls and wake-ups) rather than the proxy's code.
//
// Each direction is one io.Copy: on Linux, TCP to TCP, that is splice(2)
// through a pipe (-copy splice, the default), or with -copy buffer a plain
// read/write loop over a 32 KiB buffer, as a user-space proxy does. When
// one side ends its sending, the relay half-closes the other side, and the
// connection closes when both directions are done. It is a benchmark
// tool for loopback, not a production proxy: no limits, no TLS.
//
// Usage: baseline-relay -listen 127.0.0.1:24933 -target 127.0.0.1:24433 [-copy splice|buffer]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("baseline-relay", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:24933", "address to accept clients on")
	target := fs.String("target", "", "backend address (host:port) every connection is relayed to")
	copyMode := fs.String("copy", "splice", "how bytes are copied: splice (io.Copy between TCP sockets) or buffer (read/write through a 32 KiB buffer)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *target == "" {
		fmt.Fprintln(os.Stderr, "baseline-relay: -target is required")
		return 2
	}
	if *copyMode != "splice" && *copyMode != "buffer" {
		fmt.Fprintf(os.Stderr, "baseline-relay: -copy must be splice or buffer, got %q\n", *copyMode)
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline-relay:", err)
		return 1
	}
	r := &relay{target: *target, dialTimeout: 10 * time.Second, buffered: *copyMode == "buffer"}
	if err := r.serve(ctx, ln); err != nil {
		fmt.Fprintln(os.Stderr, "baseline-relay:", err)
		return 1
	}
	return 0
}

// relay copies every accepted connection to target.
type relay struct {
	target      string
	dialTimeout time.Duration
	buffered    bool // read/write through a buffer instead of splice
	wg          sync.WaitGroup
}

// serve accepts on ln until ctx ends (then closes ln and returns nil once
// the open connections are closed) or Accept fails otherwise.
func (r *relay) serve(ctx context.Context, ln net.Listener) error {
	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
	)
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			r.wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		mu.Lock()
		conns[c] = true
		mu.Unlock()
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.handle(c)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}()
	}
}

// handle relays one client connection and closes it.
func (r *relay) handle(client net.Conn) {
	defer client.Close()
	d := net.Dialer{Timeout: r.dialTimeout}
	backend, err := d.Dial("tcp", r.target)
	if err != nil {
		fmt.Fprintf(os.Stderr, "baseline-relay: %s: %v\n", client.RemoteAddr(), err)
		return
	}
	defer backend.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.pipe(backend, client)
	}()
	r.pipe(client, backend)
	<-done
}

// pipe copies src to dst until src ends, then half-closes dst so the peer
// sees the end too. After an error (a reset, a closed socket) it closes
// both, which ends the other direction's copy as well.
func (r *relay) pipe(dst, src net.Conn) {
	var err error
	if r.buffered {
		// Hiding ReaderFrom/WriterTo keeps io.CopyBuffer from splicing.
		_, err = io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, make([]byte, 32<<10))
	} else {
		_, err = io.Copy(dst, src)
	}
	cw, ok := dst.(interface{ CloseWrite() error })
	if err != nil || !ok {
		_ = dst.Close()
		_ = src.Close()
		return
	}
	_ = cw.CloseWrite()
}
