package app

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tdsproxy/tdsproxy/config"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// clearEnv blanks the TDSPROXY_* variables serve reads.
func clearEnv(t *testing.T) {
	t.Helper()
	t.Setenv("TDSPROXY_CONFIG", "")
	for _, s := range config.Reference() {
		t.Setenv(s.Env, "")
	}
}

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb syncBuffer
	a := &App{Stdout: &out, Stderr: &errb}
	code = a.Run(context.Background(), args)
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, "version")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, w := range []string{"tdsproxy ", "commit: ", "go: " + runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH} {
		if !strings.Contains(out, w) {
			t.Errorf("version output lacks %q:\n%s", w, out)
		}
	}
}

func TestVersionLinkTimeValues(t *testing.T) {
	oldV, oldC := version, commit
	t.Cleanup(func() { version, commit = oldV, oldC })
	version, commit = "v9.8.7", "abc123"
	bi := ReadBuildInfo()
	if bi.Version != "v9.8.7" || bi.Commit != "abc123" {
		t.Errorf("build info = %+v, want the -ldflags values", bi)
	}
	var b bytes.Buffer
	bi.Write(&b)
	if !strings.HasPrefix(b.String(), "tdsproxy v9.8.7\ncommit: abc123") {
		t.Errorf("output:\n%s", b.String())
	}
}

func TestServeHelpListsEverySetting(t *testing.T) {
	code, out, _ := run(t, "serve", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, s := range config.Reference() {
		for _, w := range []string{s.Flag, s.Env} {
			if !strings.Contains(out, w) {
				t.Errorf("serve --help lacks %q (key %s)", w, s.Key)
			}
		}
		if s.Default != "" && s.Default != "false" && !strings.Contains(out, s.Default) {
			t.Errorf("serve --help lacks the default %q of %s", s.Default, s.Key)
		}
	}
	for _, w := range []string{"--config", "TDSPROXY_CONFIG", "SIGTERM", "143"} {
		if !strings.Contains(out, w) {
			t.Errorf("serve --help lacks %q", w)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("primary: p:1433\nlisten_addr: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{name: "unknown command", args: []string{"serv"}, want: "unknown command"},
		{name: "unknown flag", args: []string{"serve", "--primry", "x:1"}, want: "--primry"},
		{name: "no primary", args: []string{"serve"}, want: "primary"},
		{name: "unknown key in file", args: []string{"serve", "--config", bad}, want: `bad.yaml:2: unknown key "listen_addr"`},
		{name: "bad env value", args: []string{"serve", "--primary", "p:1"},
			env: map[string]string{"TDSPROXY_BACKEND_ENCRYPT": "yes"}, want: "env TDSPROXY_BACKEND_ENCRYPT"},
		{name: "bad flag value", args: []string{"serve", "--primary", "p:1", "--login-timeout", "soon"}, want: "--login-timeout"},
		{name: "extra argument", args: []string{"serve", "--primary", "p:1", "now"}, want: "unknown command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, _, errOut := run(t, tc.args...)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d", code, ExitUsage)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, errOut)
			}
		})
	}
}

// serveAsync runs args with fake signals and returns the channel of the
// exit code, the signal channel and the listening addresses.
func serveAsync(t *testing.T, args ...string) (done chan int, sigs chan os.Signal, proxyAddr, adminAddr net.Addr, out, errOut *syncBuffer) {
	t.Helper()
	out, errOut = &syncBuffer{}, &syncBuffer{}
	sigs = make(chan os.Signal, 2)
	type addrs struct{ p, a net.Addr }
	listening := make(chan addrs, 1)
	a := &App{Stdout: out, Stderr: errOut, Signals: sigs,
		Listening: func(p, adm net.Addr) { listening <- addrs{p, adm} }}
	done = make(chan int, 1)
	go func() { done <- a.Run(context.Background(), args) }()
	select {
	case ad := <-listening:
		return done, sigs, ad.p, ad.a, out, errOut
	case code := <-done:
		t.Fatalf("exited %d before listening; stderr:\n%s", code, errOut.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("not listening after 10s; stderr:\n%s", errOut.String())
	}
	return
}

func waitExit(t *testing.T, done chan int, errOut *syncBuffer) int {
	t.Helper()
	select {
	case c := <-done:
		return c
	case <-time.After(15 * time.Second):
		t.Fatalf("did not exit; stderr:\n%s", errOut.String())
		return -1
	}
}

func httpStatus(url string) (int, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func TestServeSignals(t *testing.T) {
	tests := []struct {
		name string
		sig  os.Signal
		want int
	}{
		{"SIGTERM", syscall.SIGTERM, 143},
		{"SIGINT", syscall.SIGINT, 130},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			// The primary is never dialled: no client logs in.
			done, sigs, p, adm, _, errOut := serveAsync(t, "serve", "--listen", "127.0.0.1:0",
				"--primary", "127.0.0.1:1", "--admin-listen", "127.0.0.1:0", "--shutdown-grace", "2s")
			if p == nil || adm == nil {
				t.Fatalf("addresses %v %v", p, adm)
			}
			readyz := "http://" + adm.String() + "/readyz"
			ok := false
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if code, err := httpStatus(readyz); err == nil && code == http.StatusOK {
					ok = true
					break
				}
			}
			if !ok {
				t.Fatalf("/readyz never answered 200; stderr:\n%s", errOut.String())
			}
			if c, err := net.DialTimeout("tcp", p.String(), time.Second); err != nil {
				t.Fatalf("proxy not accepting: %v", err)
			} else {
				c.Close()
			}
			sigs <- tc.sig
			if code := waitExit(t, done, errOut); code != tc.want {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.want, errOut.String())
			}
			if _, err := net.DialTimeout("tcp", p.String(), time.Second); err == nil {
				t.Error("proxy still accepting after exit")
			}
			if _, err := httpStatus(readyz); err == nil {
				t.Error("admin still serving after exit")
			}
			logs := errOut.String()
			for _, w := range []string{`"msg":"tdsproxy starting"`, "draining", `"exit_code":` + strconv.Itoa(tc.want)} {
				if !strings.Contains(logs, w) {
					t.Errorf("logs lack %q:\n%s", w, logs)
				}
			}
		})
	}
}

func TestServeListenError(t *testing.T) {
	clearEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, _, errOut := run(t, "serve", "--listen", ln.Addr().String(), "--primary", "127.0.0.1:1")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(errOut, "cannot listen") {
		t.Errorf("stderr:\n%s", errOut)
	}
}

func TestServeSIGHUPRereadsConfig(t *testing.T) {
	clearEnv(t)
	path := filepath.Join(t.TempDir(), "tdsproxy.yaml")
	if err := os.WriteFile(path, []byte("primary: 127.0.0.1:1\nlisten: 127.0.0.1:0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	done, sigs, _, _, _, errOut := serveAsync(t, "serve", "--config", path)
	waitLog := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if strings.Contains(errOut.String(), want) {
				return
			}
		}
		t.Fatalf("logs lack %q:\n%s", want, errOut.String())
	}
	if err := os.WriteFile(path, []byte("primary: 127.0.0.1:1\nlisten: 127.0.0.1:0\nbogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sigs <- syscall.SIGHUP
	waitLog(`unknown key \"bogus\"`)
	if err := os.WriteFile(path, []byte("primary: 127.0.0.1:1\nlisten: 127.0.0.1:0\npolicy-files: [p.yaml]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sigs <- syscall.SIGHUP
	waitLog(`"policy_files":["p.yaml"]`)
	select {
	case code := <-done:
		t.Fatalf("SIGHUP ended the process with %d", code)
	default:
	}
	sigs <- syscall.SIGTERM
	if code := waitExit(t, done, errOut); code != 143 {
		t.Errorf("exit %d, want 143", code)
	}
}
