package policy

import (
	"syscall"
	"time"
)

// threadCPUTime returns the CPU time of the calling OS thread (the caller
// locks the goroutine to its thread), so benchmarks can report CPU cost per
// operation even on a machine shared with other work.
func threadCPUTime() (time.Duration, bool) {
	var ru syscall.Rusage
	const rusageThread = 1
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
