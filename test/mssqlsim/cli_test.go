package mssqlsim

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
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

// TestRun starts the binary's entry point, connects with the printed
// go-mssqldb URL, and stops it through its context.
func TestRun(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	certFile := filepath.Join(t.TempDir(), "sim.pem")
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"-listen", "127.0.0.1:0", "-replicas", "1", "-log", "off",
			"-sample-data=false", "-control", "127.0.0.1:0", "-cert-out", certFile}, &out, &errOut)
	}()
	urlRE := regexp.MustCompile(`go-mssqldb: (sqlserver://\S+)`)
	var urls [][]string
	deadline := time.Now().Add(10 * time.Second)
	for len(urls) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no connection strings printed; stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
		urls = urlRE.FindAllStringSubmatch(out.String(), -1)
	}
	for _, want := range []string{"mssqlsim-primary (primary)", "mssqlsim-replica1 (replica)", "ODBC:", "tsql:", "ADO.NET:", "control endpoint: http://"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}
	if pemBytes, err := os.ReadFile(certFile); err != nil || !strings.Contains(string(pemBytes), "BEGIN CERTIFICATE") {
		t.Errorf("-cert-out wrote %q, %v", pemBytes, err)
	}
	for _, u := range urls {
		db, err := sql.Open("sqlserver", u[1])
		if err != nil {
			t.Fatal(err)
		}
		err = db.PingContext(testCtx(t))
		db.Close()
		if err != nil {
			t.Errorf("printed URL %s does not work: %v", u[1], err)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}

	if err := Run(context.Background(), []string{"-encryption", "sometimes"}, &out, &errOut); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("Run with a bad flag = %v, want an error", err)
	}
}
