package policy

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Store holds the current compiled policy and replaces it atomically on
// reload. Readers call Load on every request; it never blocks.
type Store struct {
	files []string
	cur   atomic.Pointer[Policy]

	mu     sync.Mutex // serialises reloads
	stamps []fileStamp

	// OnReload, when set before Watch or Reload is called, is told the
	// outcome of every reload attempt (nil on success) so the caller can log
	// and count it (tdsproxy_policy_reloads_total{result}).
	OnReload func(err error)

	reloads  atomic.Uint64
	failures atomic.Uint64
}

type fileStamp struct {
	size int64
	mod  time.Time
	sum  [sha256.Size]byte
}

// NewStore loads files and returns a store holding the compiled policy. It
// fails if the initial policy is invalid: a proxy must not start without one.
func NewStore(files ...string) (*Store, error) {
	s := &Store{files: append([]string(nil), files...)}
	stamps, err := stampFiles(s.files)
	if err != nil {
		return nil, err
	}
	p, err := LoadFiles(s.files...)
	if err != nil {
		return nil, err
	}
	s.cur.Store(p)
	s.stamps = stamps
	return s, nil
}

// Load returns the current policy.
func (s *Store) Load() *Policy { return s.cur.Load() }

// Files returns the files the store loads.
func (s *Store) Files() []string { return append([]string(nil), s.files...) }

// Reload reads the files again. On error the previous policy stays in force
// and the error is returned (and passed to OnReload). Call it on SIGHUP.
func (s *Store) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reloadLocked()
}

func (s *Store) reloadLocked() error {
	stamps, err := stampFiles(s.files)
	if err == nil {
		var p *Policy
		p, err = LoadFiles(s.files...)
		if err == nil {
			s.cur.Store(p)
			s.stamps = stamps
		}
	}
	if err != nil {
		s.failures.Add(1)
		err = fmt.Errorf("policy: reload failed, keeping the previous policy: %w", err)
	} else {
		s.reloads.Add(1)
	}
	if s.OnReload != nil {
		s.OnReload(err)
	}
	return err
}

// Stats returns the number of successful and failed reloads.
func (s *Store) Stats() (reloads, failures uint64) {
	return s.reloads.Load(), s.failures.Load()
}

// Changed reports whether any file's size, modification time or content
// differs from the last successful load (or the file cannot be read).
func (s *Store) Changed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changedLocked()
}

func (s *Store) changedLocked() bool {
	for i, f := range s.files {
		st, err := os.Stat(f)
		if err != nil {
			return true
		}
		old := s.stamps[i]
		if st.Size() != old.size || !st.ModTime().Equal(old.mod) {
			return true
		}
	}
	// Size and time can stay the same across quick edits; compare content.
	stamps, err := stampFiles(s.files)
	if err != nil {
		return true
	}
	for i := range stamps {
		if stamps[i].sum != s.stamps[i].sum {
			return true
		}
	}
	return false
}

// Watch polls the files every interval (1s when <= 0) and reloads when one
// changes, until ctx is done. A failed reload is reported through OnReload
// and retried only after the files change again.
func (s *Store) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var failedStamps []fileStamp
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		if s.changedLocked() {
			cur, _ := stampFiles(s.files)
			if failedStamps == nil || !sameStamps(cur, failedStamps) {
				if err := s.reloadLocked(); err != nil {
					failedStamps = cur
				} else {
					failedStamps = nil
				}
			}
		}
		s.mu.Unlock()
	}
}

func sameStamps(a, b []fileStamp) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func stampFiles(files []string) ([]fileStamp, error) {
	out := make([]fileStamp, len(files))
	for i, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("policy: %w", err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("policy: reading %s: %w", name, err)
		}
		out[i] = fileStamp{size: st.Size(), mod: st.ModTime()}
		copy(out[i].sum[:], h.Sum(nil))
	}
	return out, nil
}
