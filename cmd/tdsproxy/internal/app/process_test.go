package app

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runMainEnv makes the test binary act as tdsproxy (see TestMain), so the
// process tests exercise real signals and exit codes without a go build.
const runMainEnv = "TDSPROXY_APP_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		os.Exit(Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// TestProcessSignalExitCodes starts "tdsproxy serve" as a child process,
// sends it a real signal once it listens, and checks the exit code.
func TestProcessSignalExitCodes(t *testing.T) {
	tests := []struct {
		name string
		sig  syscall.Signal
		want int
	}{
		{"SIGTERM", syscall.SIGTERM, 143},
		{"SIGINT", syscall.SIGINT, 130},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "serve", "--listen", "127.0.0.1:0", "--primary", "127.0.0.1:1",
				"--admin-listen", "127.0.0.1:0", "--shutdown-grace", "2s")
			env := []string{runMainEnv + "=1"}
			for _, e := range os.Environ() {
				if !strings.HasPrefix(e, "TDSPROXY_") {
					env = append(env, e)
				}
			}
			cmd.Env = env
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			lines := make(chan string, 100)
			go func() {
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			var logs []string
			deadline := time.After(15 * time.Second)
		wait:
			for {
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatalf("child exited before listening:\n%s", strings.Join(logs, "\n"))
					}
					logs = append(logs, l)
					if strings.Contains(l, `"msg":"admin listening"`) {
						break wait
					}
				case <-deadline:
					t.Fatalf("child not listening after 15s:\n%s", strings.Join(logs, "\n"))
				}
			}
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			for l := range lines {
				logs = append(logs, l)
			}
			err = cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("wait: %v (want exit %d)", err, tc.want)
			}
			if got := ee.ExitCode(); got != tc.want {
				t.Errorf("exit code %d, want %d; logs:\n%s", got, tc.want, strings.Join(logs, "\n"))
			}
		})
	}
}
