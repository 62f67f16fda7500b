package mssqlsim

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// BenchmarkSelect1Parallel measures `SELECT 1` round trips from 16
// concurrent go-mssqldb connections over loopback (client and server in
// this process). The target is >= 20,000 round trips/s on 2 cores:
//
//	go test ./test/mssqlsim -run '^$' -bench Select1Parallel -benchtime 5s
func BenchmarkSelect1Parallel(b *testing.B) {
	c := startCluster(b, Config{})
	db := openDB(b, c.Primary(), nil)
	const conns = 16
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	ctx := context.Background()
	// Open every connection before timing.
	warm := make(chan error, conns)
	for range conns {
		go func() {
			var n int
			warm <- db.QueryRowContext(ctx, "SELECT 1").Scan(&n)
		}()
	}
	for range conns {
		if err := <-warm; err != nil {
			b.Fatal(err)
		}
	}
	b.SetParallelism((conns + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var n int
		for pb.Next() {
			if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "roundtrips/s")
}

// BenchmarkLargeResult measures streaming a 20,000-row result to one client.
func BenchmarkLargeResult(b *testing.B) {
	c := startCluster(b, Config{})
	db := openDB(b, c.Primary(), nil)
	ctx := context.Background()
	loadRows(b, ctx, db, "dbo.bench_rows", 20000)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		rows, err := db.QueryContext(ctx, "SELECT id, name FROM dbo.bench_rows")
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Err(); err != nil {
			b.Fatal(err)
		}
		rows.Close()
		if n != 20000 {
			b.Fatalf("read %d rows", n)
		}
	}
}
