package route

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestStateLogReplay(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		batches []string
		rpc     bool
		want    string
	}{
		{name: "nothing", batches: []string{"SELECT 1"}, want: ""},
		{name: "use and sets in order", batches: []string{"SET NOCOUNT ON", "USE demo; SELECT 1", "SET ANSI_NULLS OFF;"},
			want: "USE demo;\nSET NOCOUNT ON;\nSET ANSI_NULLS OFF;\n"},
		{name: "last value of each option, in order of last use", batches: []string{"SET LANGUAGE us_english", "SET DATEFORMAT dmy", "SET LANGUAGE British"},
			want: "SET DATEFORMAT dmy;\nSET LANGUAGE British;\n"},
		{name: "last use wins", batches: []string{"USE a", "USE b"}, want: "USE b;\n"},
		{name: "statistics options are distinct", batches: []string{"SET STATISTICS IO ON", "SET STATISTICS TIME ON", "SET STATISTICS IO OFF"},
			want: "SET STATISTICS TIME ON;\nSET STATISTICS IO OFF;\n"},
		{name: "isolation level", batches: []string{"SET TRANSACTION ISOLATION LEVEL SNAPSHOT"}, want: "SET TRANSACTION ISOLATION LEVEL SNAPSHOT;\n"},
		{name: "variables are not state", batches: []string{"DECLARE @x int; SET @x = 1"}, want: ""},
		{name: "sp_executesql scopes its sets", rpc: true, batches: []string{"SET NOCOUNT ON; USE x"}, want: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := NewStateLog(nil)
			for _, b := range tc.batches {
				req := batch(b)
				req.RPC = tc.rpc
				l.Record(req)
			}
			got, v := l.Replay(0)
			if got != tc.want {
				t.Fatalf("replay %q, want %q", got, tc.want)
			}
			if why, pinned := l.Pinned(); pinned {
				t.Fatalf("pinned (%v)", why)
			}
			if again, v2 := l.Replay(v); again != "" || v2 != v {
				t.Fatalf("a synced connection gets %q (version %d→%d)", again, v, v2)
			}
		})
	}
}

func TestStateLogPins(t *testing.T) {
	t.Parallel()
	cases := []struct {
		text string
		rpc  bool
		want Reason
	}{
		{"CREATE TABLE #t (a int)", false, ReasonTempTable},
		{"SELECT * INTO #t FROM dbo.x", false, ReasonTempTable},
		{"INSERT INTO ##g VALUES (1)", true, ReasonTempTable},
		{"EXEC sp_setapprole 'r', 'p'", false, ReasonAppRole},
		{"EXECUTE AS USER = 'x'", false, ReasonExecuteAs},
		{"SET CONTEXT_INFO 0x1", false, ReasonContextInfo},
		{"EXEC sp_set_session_context 'k', 1", true, ReasonContextInfo},
		{"EXEC sp_getapplock 'r', 'Exclusive'", false, ReasonAppLock},
		{"DECLARE c CURSOR GLOBAL FOR SELECT 1", false, ReasonCursor},
		{"OPEN c", false, ReasonCursor},
		{"SET IMPLICIT_TRANSACTIONS ON", false, ReasonSetOption},
		{"SET IDENTITY_INSERT dbo.t ON", false, ReasonSetOption},
		{"IF @@TRANCOUNT = 0 SET XACT_ABORT ON", false, ReasonConditionalState},
		{"IF 1 = 1 USE demo", false, ReasonConditionalState},
	}
	for _, tc := range cases {
		t.Run(tc.text, func(t *testing.T) {
			t.Parallel()
			m := NewMetrics(prometheus.NewRegistry())
			l := NewStateLog(m)
			req := batch(tc.text)
			req.RPC = tc.rpc
			l.Record(req)
			why, pinned := l.Pinned()
			if !pinned || why != tc.want {
				t.Fatalf("pinned %v (%v), want %v", pinned, why, tc.want)
			}
			l.Record(batch("CREATE TABLE #again (a int)")) // a second pin is not counted
			if got := value(t, m.pins.WithLabelValues(tc.want.String())); got != 1 {
				t.Errorf("tdsproxy_router_pins_total{reason=%q} = %v, want 1", tc.want, got)
			}
		})
	}
}

func TestStateLogPreparedAndReset(t *testing.T) {
	t.Parallel()
	l := NewStateLog(nil)
	l.Record(batch("SET NOCOUNT ON"))
	v1 := l.Version()
	l.Record(&RequestInfo{Class: batch("SELECT 1").Class, RPC: true, CreatesHandle: true})
	if why, ok := l.Pinned(); !ok || why != ReasonPrepared {
		t.Fatalf("after sp_prepare: pinned %v (%v)", ok, why)
	}
	l.Reset()
	if _, ok := l.Pinned(); ok {
		t.Fatal("still pinned after a reset")
	}
	if b, v := l.Replay(v1); b != "" || v == v1 {
		t.Fatalf("after reset: replay %q version %d (was %d)", b, v, v1)
	}
}

func TestStateLogBadOffsetsPin(t *testing.T) {
	t.Parallel()
	// A classification that does not belong to the text must not be
	// replayed as garbage: the session is pinned instead.
	req := batch("SET NOCOUNT ON")
	req.Text = "SET"
	l := NewStateLog(nil)
	l.Record(req)
	if why, ok := l.Pinned(); !ok || why != ReasonSetOption {
		t.Fatalf("pinned %v (%v)", ok, why)
	}
}
