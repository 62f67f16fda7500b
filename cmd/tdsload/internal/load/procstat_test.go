package load

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr string
	}{
		{"plain", "1234 (tdsproxy) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0", 3 * time.Second, ""},
		{"spaces and parens in name", "77 (a) b (c)) R 1 2 3 4 5 6 7 8 9 10 7 3 0 0", 100 * time.Millisecond, ""},
		{"truncated", "1 (x) S 1 2 3", 0, "fields"},
		{"no paren", "1 x S", 0, "no ')'"},
		{"not numbers", "1 (x) S 1 2 3 4 5 6 7 8 9 10 u s 0", 0, "utime"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseStatCPU([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("= %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestParseStatusRSS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{"ok", "Name:\ttdsproxy\nVmPeak:\t 9 kB\nVmRSS:\t   20480 kB\nThreads: 8\n", 20480 * 1024, false},
		{"missing", "Name:\tx\n", 0, true},
		{"bad unit", "VmRSS:\t 12 MB\n", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseStatusRSS([]byte(tc.in))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("= %d, %v; want %d (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestProcOwnProcess reads this test process's own /proc entries.
func TestProcOwnProcess(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this system")
	}
	rss, err := ProcRSS(os.Getpid())
	if err != nil || rss <= 0 {
		t.Errorf("ProcRSS = %d, %v", rss, err)
	}
	if _, err := ProcCPU(os.Getpid()); err != nil {
		t.Errorf("ProcCPU: %v", err)
	}
	if _, err := ProcCPU(-5); err == nil {
		t.Error("ProcCPU of a bad pid succeeded")
	}
}

func TestRunReportsCPU(t *testing.T) {
	t.Parallel()
	db := openFake(t, &fakeDriver{rows: 1, width: 1})
	calls := 0
	cpu := func() (time.Duration, error) {
		calls++
		return time.Duration(calls) * 50 * time.Millisecond, nil // 50ms, then 100ms
	}
	res, err := Run(context.Background(), db, Options{Conns: 1, Count: 10, Duration: time.Minute, Query: "q", CPU: cpu})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 || res.CPU != 50*time.Millisecond || res.CPUPerRequest() != 5*time.Millisecond {
		t.Errorf("calls %d CPU %v per request %v; want 2, 50ms, 5ms", calls, res.CPU, res.CPUPerRequest())
	}
}

func TestIdleHoldsConnections(t *testing.T) {
	t.Parallel()
	d := &fakeDriver{}
	db := openFake(t, d)
	res, err := Idle(context.Background(), db, 40, 50*time.Millisecond, os.Getpid(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Opened != 40 || res.Failed != 0 || d.opened.Load() != 40 {
		t.Errorf("opened %d failed %d driver opened %d; want 40/0/40", res.Opened, res.Failed, d.opened.Load())
	}
	if res.RSSBefore <= 0 || res.RSSAfter <= 0 {
		t.Errorf("RSS before/after = %d/%d", res.RSSBefore, res.RSSAfter)
	}
	if _, err := Idle(context.Background(), db, 0, time.Second, 0, 0); err == nil {
		t.Error("Idle(0) succeeded")
	}
}
