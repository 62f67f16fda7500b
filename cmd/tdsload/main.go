// Command tdsload measures a SQL Server, or tdsproxy in front of one: N
// connections run one query back to back for a bounded time or count, and it
// prints requests/s, latency percentiles and result MB/s. With several
// -target flags it compares servers in the same run (direct vs proxied).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tdsproxy/tdsproxy/cmd/tdsload/internal/load"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := load.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
