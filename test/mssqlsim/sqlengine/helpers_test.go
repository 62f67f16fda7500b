package sqlengine

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tdsproxy/tdsproxy/tds"
)

// resultSet is one result set a recorder saw.
type resultSet struct {
	cols []tds.Column
	rows [][]any
}

// recorder is a ResultWriter that keeps everything, for assertions.
type recorder struct {
	sets    []*resultSet
	dones   []StatementResult
	errs    []tds.ServerError
	infos   []tds.ServerError
	envs    []tds.EnvChange
	rets    []retValue
	status  []int32
	events  []string // token-like transcript
	current *resultSet
}

type retValue struct {
	ordinal int
	name    string
	typ     tds.TypeInfo
	val     any
}

func (r *recorder) Columns(cols []tds.Column) error {
	r.current = &resultSet{cols: append([]tds.Column(nil), cols...)}
	r.sets = append(r.sets, r.current)
	r.events = append(r.events, "COLMETADATA")
	// every column type must be encodable
	for _, c := range cols {
		_ = tds.AppendColMetadata(nil, []tds.Column{c})
	}
	return nil
}

func (r *recorder) Row(vals []any) error {
	if r.current == nil {
		return fmt.Errorf("row before columns")
	}
	// encode the row as the TDS server will: catches values the codec rejects
	if _, err := tds.AppendRow(nil, r.current.cols, vals); err != nil {
		return fmt.Errorf("encoding row %v: %w", vals, err)
	}
	r.current.rows = append(r.current.rows, append([]any(nil), vals...))
	r.events = append(r.events, "ROW")
	return nil
}

func (r *recorder) StatementDone(d StatementResult) error {
	r.dones = append(r.dones, d)
	r.current = nil
	r.events = append(r.events, fmt.Sprintf("DONE(%d,count=%v,err=%v)", d.RowCount, d.HasCount, d.Error))
	return nil
}

func (r *recorder) Error(e tds.ServerError) error {
	r.errs = append(r.errs, e)
	r.events = append(r.events, fmt.Sprintf("ERROR %d", e.Number))
	return nil
}

func (r *recorder) Info(e tds.ServerError) error {
	r.infos = append(r.infos, e)
	r.events = append(r.events, fmt.Sprintf("INFO %d", e.Number))
	return nil
}

func (r *recorder) EnvChange(e tds.EnvChange) error {
	r.envs = append(r.envs, e)
	r.events = append(r.events, fmt.Sprintf("ENVCHANGE %d", e.Type))
	return nil
}

func (r *recorder) ReturnValue(ordinal int, name string, t tds.TypeInfo, v any) error {
	r.rets = append(r.rets, retValue{ordinal, name, t, v})
	r.events = append(r.events, "RETURNVALUE")
	return nil
}

func (r *recorder) ReturnStatus(v int32) error {
	r.status = append(r.status, v)
	r.events = append(r.events, fmt.Sprintf("RETURNSTATUS %d", v))
	return nil
}

func (r *recorder) errNumbers() []int32 {
	var out []int32
	for _, e := range r.errs {
		out = append(out, e.Number)
	}
	return out
}

// scalar returns the single value of the first result set.
func (r *recorder) scalar(t *testing.T) any {
	t.Helper()
	if len(r.sets) == 0 || len(r.sets[0].rows) == 0 {
		t.Fatalf("no result rows; events %v errors %v", r.events, r.errs)
	}
	return r.sets[0].rows[0][0]
}

var (
	sampleOnce sync.Once
	sampleDB   *DB
	sampleErr  error
)

// sample returns an instance with sample data shared by read-only tests.
func sample(t *testing.T) *DB {
	t.Helper()
	sampleOnce.Do(func() {
		sampleDB, sampleErr = Open(Options{ServerName: "SIMTEST", SampleData: true})
	})
	if sampleErr != nil {
		t.Fatalf("Open: %v", sampleErr)
	}
	return sampleDB
}

// fresh returns a new empty instance closed at the end of the test.
func fresh(t *testing.T) *DB {
	t.Helper()
	db, err := Open(Options{ServerName: "SIMTEST", Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// nextSPID gives each test session its own SPID (sessions of the shared
// sample instance must be told apart in sys.dm_exec_connections).
var nextSPID atomic.Int32

func session(t *testing.T, db *DB, database string) *Session {
	t.Helper()
	s, err := db.NewSession("tester", database, uint16(100+nextSPID.Add(1)))
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// run executes a batch and fails the test on a Go error.
func run(t *testing.T, s *Session, sql string) *recorder {
	t.Helper()
	r := &recorder{}
	if err := s.ExecBatch(context.Background(), sql, nil, r); err != nil {
		t.Fatalf("ExecBatch(%q): %v", sql, err)
	}
	return r
}

// mustRun executes a batch that must not report SQL errors.
func mustRun(t *testing.T, s *Session, sql string) *recorder {
	t.Helper()
	r := run(t, s, sql)
	if len(r.errs) > 0 {
		t.Fatalf("ExecBatch(%q): SQL error %d: %s", sql, r.errs[0].Number, r.errs[0].Message)
	}
	return r
}

func descOf(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

func colNames(cols []tds.Column) string {
	var n []string
	for _, c := range cols {
		n = append(n, c.Name)
	}
	return strings.Join(n, ",")
}
