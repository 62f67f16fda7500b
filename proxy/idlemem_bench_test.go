package proxy

import (
	"net"
	"runtime"
	"testing"
	"time"
)

// BenchmarkIdleSessionMemory reports the heap and stack the proxy holds per
// idle logged-in client session: memory with N sessions through the proxy
// minus memory with N sessions straight to the same scripted backend, over
// N. Run with -benchtime=1x.
func BenchmarkIdleSessionMemory(b *testing.B) {
	const n = 500
	fb := newFakeBackend(b, 1)
	srv := newFakeHarnessTB(b, fb, nil)
	open := func(addr string) []net.Conn {
		conns := make([]net.Conn, 0, n)
		for range n {
			c, r := rawLogin(b, addr, nil)
			readTokens(b, r)
			conns = append(conns, c)
		}
		return conns
	}
	measure := func(addr string) uint64 {
		before := inUse()
		conns := open(addr)
		time.Sleep(100 * time.Millisecond) // let every session settle into its idle wait
		after := inUse()
		for _, c := range conns {
			c.Close()
		}
		return after - min(before, after)
	}
	for range b.N {
		direct := measure(fb.addr())
		waitFor(b, 10*time.Second, "direct sessions to end", func() bool { return fb.active.Load() == 0 })
		proxied := measure(srv.Addr().String())
		waitFor(b, 10*time.Second, "proxied sessions to end", func() bool { return srv.sessionCount() == 0 })
		per := float64(proxied-min(direct, proxied)) / n
		b.ReportMetric(per, "B/idle-session")
		b.ReportMetric(0, "ns/op")
	}
}

// inUse returns heap and stack bytes in use after a GC.
func inUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}
