package policy

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

const storeV1 = "logins:\n  - name: a\n    roles: [r]\nroles:\n  r:\n    rules:\n      - allow: [read]\n"
const storeV2 = "logins:\n  - name: a\n    roles: [r]\nroles:\n  r:\n    rules:\n      - allow: [read, write]\n"

func decideText(p *Policy, sql string) bool {
	req := Request{Kind: RequestBatch, Login: "a", Text: sql}
	c, _ := Classify(req)
	return p.Decide(req, c).Allowed
}

func TestStoreReload(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(path, []byte(storeV1), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := NewStore(path)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var results []error
	s.OnReload = func(err error) { mu.Lock(); results = append(results, err); mu.Unlock() }
	if decideText(s.Load(), "DELETE t") {
		t.Fatal("v1 allows DELETE")
	}
	if s.Changed() {
		t.Fatal("Changed before any edit")
	}
	// A broken file keeps the previous policy.
	if err := os.WriteFile(path, []byte("roles: ["), 0o600); err != nil {
		t.Fatal(err)
	}
	old := s.Load()
	if err := s.Reload(); err == nil {
		t.Fatal("Reload of a broken file succeeded")
	}
	if s.Load() != old {
		t.Fatal("failed reload replaced the policy")
	}
	// A good edit replaces it.
	if err := os.WriteFile(path, []byte(storeV2), 0o600); err != nil {
		t.Fatal(err)
	}
	if !s.Changed() {
		t.Fatal("Changed missed an edit")
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if !decideText(s.Load(), "DELETE t") {
		t.Fatal("v2 not in force after Reload")
	}
	if r, f := s.Stats(); r != 1 || f != 1 {
		t.Fatalf("Stats = %d, %d; want 1, 1", r, f)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(results) != 2 || results[0] == nil || results[1] != nil {
		t.Fatalf("OnReload results = %v", results)
	}
}

func TestStoreWatch(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(path, []byte(storeV1), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := NewStore(path)
	if err != nil {
		t.Fatal(err)
	}
	reloaded := make(chan error, 4)
	s.OnReload = func(err error) { reloaded <- err }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Watch(ctx, 10*time.Millisecond); close(done) }()
	// Same size as v1 would not be enough to detect; v2 differs in content.
	if err := os.WriteFile(path, []byte(storeV2), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-reloaded:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watcher did not reload within 5s")
	}
	if !decideText(s.Load(), "DELETE t") {
		t.Fatal("watched edit not in force")
	}
	cancel()
	<-done
}

func TestNewStoreRejectsInvalid(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(path, []byte("roles:\n  r:\n    audit: loud\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewStore(path); err == nil {
		t.Fatal("NewStore accepted an invalid policy")
	}
	if _, err := NewStore(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Fatal("NewStore accepted a missing file")
	}
}
