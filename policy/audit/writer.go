package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// genesis is the prev hash of the first record of a chain.
var genesis = strings.Repeat("0", 64)

// Config configures a file writer.
type Config struct {
	// Path is the audit file; rotated files are Path.000001, Path.000002, ….
	// "-" writes to standard output (no rotation, a new chain per start).
	Path string
	// MaxSize is the size in bytes after which the file is rotated
	// (default 100 MiB).
	MaxSize int64
	// MaxFiles is how many rotated files are kept (0: all). Deleting old files
	// removes the start of the chain; Verify then starts at the oldest record
	// it is given.
	MaxFiles int
	// Sync calls fsync after every record.
	Sync bool
}

// Writer appends records to the audit trail. Write is synchronous: when it
// returns nil the record is in the file (and on disk with Sync); when it
// returns an error the caller must treat the record as not written (the
// proxy then refuses the statement if the role requires a record). Safe for
// concurrent use.
type Writer struct {
	mu    sync.Mutex
	cfg   Config
	w     io.Writer
	f     *os.File // nil for a plain io.Writer
	size  int64
	seq   uint64
	prev  string
	buf   bytes.Buffer
	now   func() time.Time
	stats Stats
}

// Stats counts what a writer did, for the proxy's metrics
// (tdsproxy_audit_records_total, tdsproxy_audit_write_errors_total, …).
type Stats struct {
	Records     uint64 // records written
	WriteErrors uint64 // records that could not be written
	Rotations   uint64 // file rotations
}

// NewWriter writes records to w (e.g. os.Stdout), starting a new chain.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, prev: genesis, now: time.Now}
}

// Open opens (or creates) the audit file of cfg and continues the chain
// from its last record, or from the newest rotated file's last record.
func Open(cfg Config) (*Writer, error) {
	if cfg.Path == "" {
		return nil, errors.New("audit: no file path (use \"-\" for standard output)")
	}
	if cfg.Path == "-" {
		return NewWriter(os.Stdout), nil
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = 100 << 20
	}
	w := &Writer{cfg: cfg, prev: genesis, now: time.Now}
	last, err := lastLine(cfg.Path)
	if err != nil {
		return nil, err
	}
	if last == nil {
		rotated, err := RotatedFiles(cfg.Path)
		if err != nil {
			return nil, err
		}
		if len(rotated) > 0 {
			if last, err = lastLine(rotated[len(rotated)-1]); err != nil {
				return nil, err
			}
		}
	}
	if last != nil {
		var h header
		if err := json.Unmarshal(last, &h); err != nil {
			return nil, fmt.Errorf("audit: cannot continue the chain, last record of %s is damaged: %w", cfg.Path, err)
		}
		w.seq, w.prev = h.Seq, hashLine(last)
	}
	if err := w.openFile(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) openFile() error {
	f, err := os.OpenFile(w.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit: %w", err)
	}
	w.f, w.w, w.size = f, f, st.Size()
	return nil
}

// header is the part of a record Verify and Open need.
type header struct {
	Seq      uint64 `json:"seq"`
	Prev     string `json:"prev"`
	Kind     string `json:"kind"`
	Ref      uint64 `json:"ref"`
	Session  uint64 `json:"session"`
	Decision string `json:"decision"`
}

func hashLine(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}

// lastLine returns the last non-empty line of a file (nil if none or the
// file does not exist).
func lastLine(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	var last []byte
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if l := bytes.TrimRight(line, "\r\n"); len(l) > 0 {
			last = append(last[:0], l...)
		}
		if err == io.EOF {
			return last, nil
		}
		if err != nil {
			return nil, fmt.Errorf("audit: reading %s: %w", path, err)
		}
	}
}

// Write appends r, filling Seq, Prev and (when zero) Time.
func (w *Writer) Write(r *Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.w == nil {
		return errors.New("audit: writer is closed")
	}
	if err := w.write(r); err != nil {
		w.stats.WriteErrors++
		return err
	}
	return nil
}

func (w *Writer) write(r *Record) error {
	r.Seq = w.seq + 1
	r.Prev = w.prev
	if r.Time.IsZero() {
		r.Time = w.now().UTC()
	}
	w.buf.Reset()
	enc := json.NewEncoder(&w.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil { // Encode appends '\n'
		return fmt.Errorf("audit: encoding record: %w", err)
	}
	line := w.buf.Bytes()
	if w.f != nil && w.size > 0 && w.size+int64(len(line)) > w.cfg.MaxSize {
		if err := w.rotateLocked(); err != nil {
			return err
		}
	}
	n, err := w.w.Write(line)
	w.size += int64(n)
	if err != nil {
		return fmt.Errorf("audit: writing record %d: %w", r.Seq, err)
	}
	if w.cfg.Sync && w.f != nil {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("audit: syncing record %d: %w", r.Seq, err)
		}
	}
	w.seq = r.Seq
	w.prev = hashLine(line[:len(line)-1])
	w.stats.Records++
	return nil
}

// Rotate closes the current file, renames it to the next Path.NNNNNN and
// starts a new one; the chain continues.
func (w *Writer) Rotate() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	return w.rotateLocked()
}

func (w *Writer) rotateLocked() error {
	rotated, err := RotatedFiles(w.cfg.Path)
	if err != nil {
		return err
	}
	next := 1
	if len(rotated) > 0 {
		n, _ := rotationIndex(w.cfg.Path, rotated[len(rotated)-1])
		next = n + 1
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("audit: closing %s: %w", w.cfg.Path, err)
	}
	w.f, w.w = nil, nil
	if err := os.Rename(w.cfg.Path, fmt.Sprintf("%s.%06d", w.cfg.Path, next)); err != nil {
		return fmt.Errorf("audit: rotating %s: %w", w.cfg.Path, err)
	}
	if err := w.openFile(); err != nil {
		return err
	}
	w.stats.Rotations++
	if w.cfg.MaxFiles > 0 {
		rotated, err := RotatedFiles(w.cfg.Path)
		if err != nil {
			return err
		}
		for len(rotated) > w.cfg.MaxFiles {
			if err := os.Remove(rotated[0]); err != nil {
				return fmt.Errorf("audit: removing old audit file: %w", err)
			}
			rotated = rotated[1:]
		}
	}
	return nil
}

// Stats returns the writer's counters.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// Seq returns the sequence number of the last record written.
func (w *Writer) Seq() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seq
}

// Close closes the file. Further writes fail.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.w = nil
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// RotatedFiles lists path's rotated files, oldest first.
func RotatedFiles(path string) ([]string, error) {
	matches, err := filepath.Glob(path + ".[0-9]*")
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	var out []string
	for _, m := range matches {
		if _, ok := rotationIndex(path, m); ok {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, _ := rotationIndex(path, out[i])
		b, _ := rotationIndex(path, out[j])
		return a < b
	})
	return out, nil
}

func rotationIndex(path, name string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(name, path+"."))
	return n, err == nil && n > 0
}
