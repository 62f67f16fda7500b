package mssqlsim

import (
	"context"
	"database/sql"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// BenchmarkSelect1Parallel measures `SELECT 1` round trips from 16
// concurrent go-mssqldb connections over loopback (client and server in
// this process). The target is >= 20,000 round trips/s on 2 cores:
//
//	go test ./test/mssqlsim -run '^$' -bench Select1Parallel -benchtime 5s
//
// "pool" goes through database/sql's pool, so go-mssqldb marks every
// request RESETCONNECTION (the session is reset each time); "conn" keeps 16
// dedicated connections, as a proxy's backend pool does between resets.
func BenchmarkSelect1Parallel(b *testing.B) {
	for _, mode := range []string{"pool", "conn"} {
		b.Run(mode, func(b *testing.B) { benchSelect1(b, mode == "conn") })
	}
}

func benchSelect1(b *testing.B, dedicated bool) {
	const conns = 16
	c := startCluster(b, Config{})
	db := openDB(b, c.Primary(), nil)
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	ctx := context.Background()
	// Open every connection before timing.
	pool := make(chan *sql.Conn, conns)
	for range conns {
		cn, err := db.Conn(ctx)
		if err != nil {
			b.Fatal(err)
		}
		var n int
		if err := cn.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
			b.Fatal(err)
		}
		pool <- cn
	}
	if !dedicated {
		for range conns {
			(<-pool).Close() // back to database/sql's pool
		}
	}
	b.SetParallelism((conns + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	b.RunParallel(func(pb *testing.PB) {
		var q interface {
			QueryRowContext(context.Context, string, ...any) *sql.Row
		} = db
		if dedicated {
			cn := <-pool
			defer func() { pool <- cn }()
			q = cn
		}
		var n int
		for pb.Next() {
			if err := q.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "roundtrips/s")
	// On a shared machine wall-clock throughput says little; CPU per round
	// trip (client and server together, this process) does: 2 idle cores
	// give 2s / cpu-per-op round trips per second.
	cpuPerOp := (processCPU() - cpu0) / time.Duration(b.N)
	b.ReportMetric(float64(cpuPerOp.Microseconds()), "cpu-µs/op")
	if cpuPerOp > 0 {
		b.ReportMetric(float64(2*time.Second/cpuPerOp), "roundtrips/s-on-2-idle-cores")
	}
	if dedicated {
		for range conns {
			(<-pool).Close()
		}
	}
}

// processCPU is the user+system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
