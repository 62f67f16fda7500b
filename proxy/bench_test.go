package proxy

import (
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkProxySelect1 measures SELECT 1 round trips through the proxy and
// directly to the same simulator, in the same run, at 1, 16 and 64
// concurrent connections. Compare direct/conns=N with proxied/conns=N.
func BenchmarkProxySelect1(b *testing.B) {
	h := newHarness(b, harnessOpts{})
	targets := []struct{ name, dsn string }{
		{"direct", fmt.Sprintf("sqlserver://%s:%s@%s?database=demo&encrypt=disable", simUser, simPassword, h.sim.Primary().Addr())},
		{"proxied", h.dsn("encrypt=disable")},
	}
	// Interleaved (direct, proxied, direct, …) so that drifting machine load
	// affects both sides alike.
	for _, conns := range []int{1, 16, 64} {
		for _, target := range targets {
			b.Run(fmt.Sprintf("%s/conns=%d", target.name, conns), func(b *testing.B) {
				benchSelect1(b, target.dsn, conns)
			})
		}
	}
}

// BenchmarkProxyLargeResult measures a 10,000-row result (~2 MB of TDS)
// through the proxy and directly to the same simulator, in the same run.
// Compare the MB/s of direct and proxied.
func BenchmarkProxyLargeResult(b *testing.B) {
	h := newHarness(b, harnessOpts{})
	query := h.largeQuery(10000)
	for _, target := range []struct{ name, dsn string }{
		{"direct", fmt.Sprintf("sqlserver://%s:%s@%s?database=demo&encrypt=disable", simUser, simPassword, h.sim.Primary().Addr())},
		{"proxied", h.dsn("encrypt=disable")},
	} {
		b.Run(target.name, func(b *testing.B) {
			db, err := sql.Open("sqlserver", target.dsn)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			warm(b, db, 1)
			b.ResetTimer()
			var bytes int64
			for range b.N {
				rows, err := db.Query(query)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				var id int64
				var pad string
				for rows.Next() {
					if err := rows.Scan(&id, &pad); err != nil {
						b.Fatal(err)
					}
					bytes += int64(8 + len(pad))
					n++
				}
				if err := rows.Err(); err != nil || n != 10000 {
					b.Fatalf("%d rows: %v", n, err)
				}
				rows.Close()
			}
			b.SetBytes(bytes / int64(b.N))
		})
	}
}

// warm opens n connections so that logins are not measured.
func warm(b *testing.B, db *sql.DB, n int) {
	b.Helper()
	var conns []*sql.Conn
	for range n {
		c, err := db.Conn(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if err := c.PingContext(b.Context()); err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Close()
	}
}

// benchSelect1 runs b.N "SELECT 1" round trips against dsn from conns
// concurrent connections, after warming the pool.
func benchSelect1(b *testing.B, dsn string, conns int) {
	db, err := sql.Open("sqlserver", dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	warm(b, db, conns)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	b.ResetTimer()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var one int
			for next.Add(1) <= int64(b.N) {
				if err := db.QueryRow("SELECT 1").Scan(&one); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}
