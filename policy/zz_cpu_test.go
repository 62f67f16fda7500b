package policy

import (
	"os"
	"runtime"
	"syscall"
	"testing"
)

func threadCPU() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(1, &ru) // RUSAGE_THREAD
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func TestZZCPU(t *testing.T) {
	if os.Getenv("ZZCPU") == "" {
		t.Skip()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cl, _ := NewClassifier(100)
	req := Request{Kind: RequestBatch, Text: benchStatement}
	cl.Classify(req)
	pol := loadExamplePolicy(t)
	c := ClassifyText(benchStatement)
	dreq := Request{Kind: RequestBatch, Text: benchStatement, Login: "reporter", Database: "shop"}
	src := ""
	for i := 0; i < 64; i++ {
		src += benchStatement + "\n"
	}
	buf := make([]Token, 0, 10000)
	for _, b := range []struct {
		name  string
		n     int
		bytes int
		fn    func()
	}{
		{"classify uncached", 200000, len(benchStatement), func() { ClassifyText(benchStatement) }},
		{"classify cached", 2000000, 0, func() { cl.Classify(req) }},
		{"decide", 500000, 0, func() { pol.Decide(dreq, c) }},
		{"lex", 5000, len(src), func() { buf = AppendTokens(buf[:0], src) }},
	} {
		runtime.GC()
		start := threadCPU()
		for i := 0; i < b.n; i++ {
			b.fn()
		}
		ns := float64(threadCPU()-start) / float64(b.n)
		mbs := 0.0
		if b.bytes > 0 {
			mbs = float64(b.bytes) / ns * 1e3
		}
		t.Logf("%-18s %8.0f ns/op CPU  %6.0f MB/s", b.name, ns, mbs)
	}
}
