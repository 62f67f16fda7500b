package sqlengine

import (
	"context"
	"testing"

	"github.com/tdsproxy/tdsproxy/tds"
)

// nopWriter discards results (the cost of a real TDS writer is not the
// engine's).
type nopWriter struct{}

func (nopWriter) Columns([]tds.Column) error                       { return nil }
func (nopWriter) Row([]any) error                                  { return nil }
func (nopWriter) StatementDone(StatementResult) error              { return nil }
func (nopWriter) Error(tds.ServerError) error                      { return nil }
func (nopWriter) Info(tds.ServerError) error                       { return nil }
func (nopWriter) EnvChange(tds.EnvChange) error                    { return nil }
func (nopWriter) ReturnValue(int, string, tds.TypeInfo, any) error { return nil }
func (nopWriter) ReturnStatus(int32) error                         { return nil }

func benchBatch(b *testing.B, db *DB, sql string) {
	s, err := db.NewSession("bench", "demo", 60)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.ExecBatch(ctx, sql, nil, nopWriter{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := s.ExecBatch(ctx, sql, nil, nopWriter{}); err != nil {
			b.Fatal(err)
		}
	}
}

func benchDB(b *testing.B) *DB {
	db, err := Open(Options{ServerName: "BENCH", Dir: b.TempDir(), SampleData: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkSelect1 is go-mssqldb's ping, answered without SQLite.
func BenchmarkSelect1(b *testing.B) { benchBatch(b, benchDB(b), "select 1;") }

// BenchmarkSelect1Parallel runs 16 sessions at once.
func BenchmarkSelect1Parallel(b *testing.B) {
	db := benchDB(b)
	b.SetParallelism(8)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		s, err := db.NewSession("bench", "demo", 61)
		if err != nil {
			b.Error(err)
			return
		}
		defer s.Close()
		for pb.Next() {
			if err := s.ExecBatch(context.Background(), "select 1;", nil, nopWriter{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSelectSysVar goes through SQLite (@@SPID is per session).
func BenchmarkSelectSysVar(b *testing.B) { benchBatch(b, benchDB(b), "SELECT @@SPID") }

// BenchmarkSelectRow reads one row by primary key.
func BenchmarkSelectRow(b *testing.B) {
	benchBatch(b, benchDB(b), "SELECT id, name, email, created FROM dbo.customers WHERE id = 42")
}

// BenchmarkExecuteSQL is a parameterised query as drivers send it.
func BenchmarkExecuteSQL(b *testing.B) {
	db := benchDB(b)
	s, err := db.NewSession("bench", "demo", 60)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	params := []Param{
		{Type: tds.TypeInfo{Type: tds.TypeNVarChar, Size: 100}, Value: "SELECT name FROM dbo.customers WHERE id = @id"},
		{Type: tds.TypeInfo{Type: tds.TypeNVarChar, Size: 20}, Value: "@id int"},
		{Name: "@id", Type: tds.TypeInfo{Type: tds.TypeIntN, Size: 4}, Value: int64(7)},
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.ExecRPC(context.Background(), "sp_executesql", params, nopWriter{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInsert is an autocommit INSERT into a table with an identity.
func BenchmarkInsert(b *testing.B) {
	benchBatch(b, benchDB(b), "INSERT INTO dbo.customers (name, email) VALUES (N'bench', 'b@example.com')")
}

// BenchmarkResetSelect1 is a pooled go-mssqldb query: RESETCONNECTION, then
// "SELECT 1".
func BenchmarkResetSelect1(b *testing.B) {
	db := benchDB(b)
	s, err := db.NewSession("bench", "demo", 60)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Reset(); err != nil {
			b.Fatal(err)
		}
		if err := s.ExecBatch(context.Background(), "SELECT 1", nil, nopWriter{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNumbersRange counts a range of the dbo.numbers virtual table.
func BenchmarkNumbersRange(b *testing.B) {
	benchBatch(b, benchDB(b), "SELECT COUNT(*) FROM dbo.numbers WHERE n <= 41")
}
