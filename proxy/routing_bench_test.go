package proxy

import (
	"fmt"
	"testing"
)

// BenchmarkRoutingOverhead measures SELECT 1 round trips directly to a
// simulator, through a proxy without replicas (no routing) and through a
// proxy routing reads to two replicas, interleaved in one run. The routing
// overhead is proxied-routed/direct against proxied-plain/direct.
func BenchmarkRoutingOverhead(b *testing.B) {
	plain := newHarness(b, harnessOpts{})
	routed := newHarness(b, harnessOpts{replicas: 2, config: func(c *Config) {
		c.MonitorUser, c.MonitorPassword = simUser, simPassword
	}})
	targets := []struct{ name, dsn string }{
		{"direct", fmt.Sprintf("sqlserver://%s:%s@%s?database=demo&encrypt=disable", simUser, simPassword, plain.sim.Primary().Addr())},
		{"proxied-plain", plain.dsn("encrypt=disable")},
		{"proxied-routed", routed.dsn("encrypt=disable")},
	}
	for _, conns := range []int{1, 16} {
		for _, target := range targets {
			b.Run(fmt.Sprintf("%s/conns=%d", target.name, conns), func(b *testing.B) {
				benchSelect1(b, target.dsn, conns)
			})
		}
	}
}
