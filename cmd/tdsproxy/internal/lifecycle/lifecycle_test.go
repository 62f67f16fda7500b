package lifecycle

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// fakeService behaves like proxy.Server as far as Run can tell: it serves
// until Shutdown or ctx, reports readiness on /readyz, and records calls.
type fakeService struct {
	serveErr      error         // returned by ListenAndServe at once when set
	blockShutdown bool          // Shutdown waits for ctx (a drain that never ends)
	ready         atomic.Bool   // what /readyz reports
	shutdowns     atomic.Int32  // Shutdown calls
	stopped       chan struct{} // closed by Shutdown
	once          sync.Once
	ctxCancelled  atomic.Bool // ListenAndServe returned because ctx ended
}

func newFake() *fakeService { return &fakeService{stopped: make(chan struct{})} }

func (f *fakeService) ListenAndServe(ctx context.Context) error {
	if f.serveErr != nil {
		return f.serveErr
	}
	f.ready.Store(true)
	select {
	case <-f.stopped:
		return nil
	case <-ctx.Done():
		f.ctxCancelled.Store(true)
		return nil
	}
}

func (f *fakeService) Shutdown(ctx context.Context) error {
	f.shutdowns.Add(1)
	f.ready.Store(false)
	if f.blockShutdown {
		<-ctx.Done()
		return ctx.Err()
	}
	f.once.Do(func() { close(f.stopped) })
	return nil
}

func (f *fakeService) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !f.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = io.WriteString(w, "ok")
	})
	return mux
}

// runAsync starts r.Run and returns a channel with its exit code.
func runAsync(ctx context.Context, r *Runner) <-chan int {
	done := make(chan int, 1)
	go func() { done <- r.Run(ctx) }()
	return done
}

func waitCode(t *testing.T, done <-chan int) int {
	t.Helper()
	select {
	case c := <-done:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
		return -1
	}
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestSignalsDrainAndExitCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		sig  os.Signal
		want int
	}{
		{"SIGTERM", syscall.SIGTERM, ExitSIGTERM},
		{"SIGINT", syscall.SIGINT, ExitSIGINT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake()
			sigs := make(chan os.Signal, 1)
			adminAddr := make(chan net.Addr, 1)
			r := &Runner{Log: zaptest.NewLogger(t), Service: f, AdminListen: "127.0.0.1:0",
				Grace: time.Second, Signals: sigs, AdminReady: func(a net.Addr) { adminAddr <- a }}
			done := runAsync(context.Background(), r)
			url := "http://" + (<-adminAddr).String() + "/readyz"
			waitFor(t, func() bool { return f.ready.Load() })
			if got := getStatus(t, url); got != http.StatusOK {
				t.Fatalf("/readyz before the signal = %d, want 200", got)
			}
			sigs <- tc.sig
			if got := waitCode(t, done); got != tc.want {
				t.Errorf("exit code = %d, want %d", got, tc.want)
			}
			if n := f.shutdowns.Load(); n != 1 {
				t.Errorf("Shutdown called %d times, want 1", n)
			}
			if f.ctxCancelled.Load() {
				t.Error("the service was stopped by cancelling its context, not by Shutdown")
			}
			if _, err := http.Get(url); err == nil {
				t.Error("admin listener still serving after Run returned")
			}
		})
	}
}

func TestSIGHUPCallsReloadAndKeepsRunning(t *testing.T) {
	t.Parallel()
	f := newFake()
	sigs := make(chan os.Signal, 1)
	var reloads atomic.Int32
	r := &Runner{Log: zaptest.NewLogger(t), Service: f, Grace: time.Second, Signals: sigs,
		Reload: func() { reloads.Add(1) }}
	done := runAsync(context.Background(), r)
	sigs <- syscall.SIGHUP
	sigs <- syscall.SIGHUP
	waitFor(t, func() bool { return reloads.Load() == 2 })
	if f.shutdowns.Load() != 0 {
		t.Fatal("SIGHUP shut the service down")
	}
	sigs <- syscall.SIGTERM
	if got := waitCode(t, done); got != ExitSIGTERM {
		t.Errorf("exit code = %d, want %d", got, ExitSIGTERM)
	}
}

func TestServiceFailureExitsOne(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.serveErr = errors.New("listen tcp :1433: address already in use")
	r := &Runner{Log: zaptest.NewLogger(t), Service: f, Grace: time.Second, Signals: make(chan os.Signal)}
	if got := waitCode(t, runAsync(context.Background(), r)); got != ExitError {
		t.Errorf("exit code = %d, want %d", got, ExitError)
	}
}

func TestAdminListenFailureExitsOne(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f := newFake()
	r := &Runner{Log: zaptest.NewLogger(t), Service: f, AdminListen: ln.Addr().String(),
		Grace: time.Second, Signals: make(chan os.Signal)}
	if got := waitCode(t, runAsync(context.Background(), r)); got != ExitError {
		t.Errorf("exit code = %d, want %d", got, ExitError)
	}
}

func TestSecondSignalForcesStop(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.blockShutdown = true // a drain that would take the whole (long) grace
	sigs := make(chan os.Signal, 2)
	r := &Runner{Log: zaptest.NewLogger(t), Service: f, Grace: time.Hour, Signals: sigs}
	done := runAsync(context.Background(), r)
	waitFor(t, func() bool { return f.ready.Load() })
	start := time.Now()
	sigs <- syscall.SIGTERM
	waitFor(t, func() bool { return f.shutdowns.Load() == 1 })
	sigs <- syscall.SIGINT
	if got := waitCode(t, done); got != ExitSIGTERM {
		t.Errorf("exit code = %d, want the first signal's %d", got, ExitSIGTERM)
	}
	if !f.ctxCancelled.Load() {
		t.Error("the second signal did not cancel the service's context")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("forced stop took %v", d)
	}
}

func TestContextCancelDrainsWithExitZero(t *testing.T) {
	t.Parallel()
	f := newFake()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{Log: zap.NewNop(), Service: f, Grace: time.Second, Signals: make(chan os.Signal)}
	done := runAsync(ctx, r)
	waitFor(t, func() bool { return f.ready.Load() })
	cancel()
	if got := waitCode(t, done); got != ExitOK {
		t.Errorf("exit code = %d, want 0", got)
	}
	if f.shutdowns.Load() != 1 {
		t.Error("context cancel did not drain through Shutdown")
	}
}

// TestRealSIGTERM sends the process a real SIGTERM once Run has subscribed.
// Not parallel: it changes process-wide signal handling.
func TestRealSIGTERM(t *testing.T) {
	f := newFake()
	listening := make(chan struct{})
	r := &Runner{Log: zaptest.NewLogger(t), Service: f, AdminListen: "127.0.0.1:0", Grace: time.Second,
		AdminReady: func(net.Addr) { close(listening) }} // Signals nil: Run calls Notify first
	done := runAsync(context.Background(), r)
	<-listening
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := waitCode(t, done); got != ExitSIGTERM {
		t.Errorf("exit code = %d, want %d", got, ExitSIGTERM)
	}
	if f.shutdowns.Load() != 1 {
		t.Error("Shutdown not called")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
