package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"

	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tdsproxy/tdsproxy/policy/audit"
	"github.com/tdsproxy/tdsproxy/tds"
)

func doneEvent(typ tds.TokenType, status tds.DoneStatus, rows uint64) *tds.Event {
	return &tds.Event{Type: typ, Done: tds.Done{Status: status, RowCount: rows}}
}

func errorEvent(number int32, class uint8) *tds.Event {
	return &tds.Event{Type: tds.TokenError, Err: tds.ServerError{Number: number, Class: class}}
}

// auditLines parses the records of an audit buffer.
func auditLines(t *testing.T, buf *bytes.Buffer) []audit.Record {
	t.Helper()
	var out []audit.Record
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("record %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// TestResultRecordFromResponse feeds response tokens to the enforcement of
// an allowed, recorded request and checks the result record they produce.
func TestResultRecordFromResponse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		events    []*tds.Event
		attn      bool  // an Attention was forwarded before the events
		ended     error // passed to auditRequestEnded after the events (when callEnded)
		callEnded bool
		want      audit.Record // Kind, Ref, Session filled in below
		noResult  bool         // the events do not end the response
	}{
		{name: "one statement", events: []*tds.Event{doneEvent(tds.TokenDone, tds.DoneCount, 3)},
			want: audit.Record{Outcome: audit.OutcomeOK, Rows: 3}},
		{name: "counts summed across statements", events: []*tds.Event{
			doneEvent(tds.TokenDone, tds.DoneMore|tds.DoneCount, 2),
			doneEvent(tds.TokenDone, tds.DoneMore, 0),
			doneEvent(tds.TokenDone, tds.DoneCount, 5)},
			want: audit.Record{Outcome: audit.OutcomeOK, Rows: 7}},
		{name: "rpc: DONEINPROC counts, DONEPROC ends", events: []*tds.Event{
			doneEvent(tds.TokenDoneInProc, tds.DoneMore|tds.DoneCount, 3),
			doneEvent(tds.TokenDoneProc, tds.DoneMore|tds.DoneRPCInBatch, 0),
			doneEvent(tds.TokenDoneInProc, tds.DoneMore|tds.DoneCount, 1),
			doneEvent(tds.TokenDoneProc, 0, 0)},
			want: audit.Record{Outcome: audit.OutcomeOK, Rows: 4}},
		{name: "count without DONE_COUNT ignored", events: []*tds.Event{doneEvent(tds.TokenDone, 0, 99)},
			want: audit.Record{Outcome: audit.OutcomeOK, Rows: 0}},
		{name: "first error kept", events: []*tds.Event{
			errorEvent(208, 16), errorEvent(8180, 16),
			doneEvent(tds.TokenDone, tds.DoneError, 0)},
			want: audit.Record{Outcome: audit.OutcomeError, Error: 208, ErrorClass: 16}},
		{name: "DONE_ERROR without ERROR token", events: []*tds.Event{doneEvent(tds.TokenDone, tds.DoneError, 0)},
			want: audit.Record{Outcome: audit.OutcomeError}},
		{name: "attention acknowledged", events: []*tds.Event{
			doneEvent(tds.TokenDone, tds.DoneMore|tds.DoneCount, 1),
			doneEvent(tds.TokenDone, tds.DoneAttn, 0)},
			want: audit.Record{Outcome: audit.OutcomeCancelled, Rows: 1}},
		{name: "cancelled: final DONE then DONE_ATTN", attn: true, events: []*tds.Event{
			doneEvent(tds.TokenDone, tds.DoneMore|tds.DoneCount, 2),
			doneEvent(tds.TokenDone, 0, 0),
			doneEvent(tds.TokenDone, tds.DoneAttn, 0)},
			want: audit.Record{Outcome: audit.OutcomeCancelled, Rows: 2}},
		{name: "attention outstanding: final DONE waits for the ack", attn: true,
			events: []*tds.Event{doneEvent(tds.TokenDone, tds.DoneCount, 1)}, noResult: true},
		{name: "attention never acknowledged: the final DONE decides", attn: true,
			events:    []*tds.Event{errorEvent(1205, 13), doneEvent(tds.TokenDone, tds.DoneError, 0)},
			callEnded: true, want: audit.Record{Outcome: audit.OutcomeError, Error: 1205, ErrorClass: 13}},
		{name: "DONEINPROC alone does not end", events: []*tds.Event{doneEvent(tds.TokenDoneInProc, tds.DoneCount, 1)},
			noResult: true},
		{name: "backend lost mid-response", events: []*tds.Event{doneEvent(tds.TokenDone, tds.DoneMore|tds.DoneCount, 2)},
			callEnded: true, ended: failf(ReasonBackendLost, io.EOF, "the backend closed the connection"),
			want: audit.Record{Outcome: audit.OutcomeBackendLost, Rows: 2}},
		{name: "routing answered for a lost backend", callEnded: true,
			want: audit.Record{Outcome: audit.OutcomeBackendLost}},
		{name: "client gone", callEnded: true, ended: failf(ReasonClientGone, io.EOF),
			want: audit.Record{Outcome: audit.OutcomeClientGone}},
		{name: "other session end", callEnded: true, ended: errors.New("boom"),
			want: audit.Record{Outcome: audit.OutcomeUnknown}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			se, s, _ := unitEnforcer(t, "app", &buf)
			s.enf = se
			if resp := se.enforce(s, batchMsg("UPDATE dbo.t SET a = 1")); resp != nil {
				t.Fatal("allowed write refused")
			}
			s.attnPending = tc.attn
			for _, ev := range tc.events {
				se.observe(ev)
			}
			if tc.callEnded {
				s.auditRequestEnded(tc.ended)
			}
			recs := auditLines(t, &buf)
			if tc.noResult {
				if len(recs) != 1 || se.pending == nil {
					t.Fatalf("%d records (pending %v), want only the request record", len(recs), se.pending != nil)
				}
				return
			}
			if len(recs) != 2 {
				t.Fatalf("%d records, want request and result:\n%s", len(recs), buf.String())
			}
			got := recs[1]
			if got.Kind != audit.KindResult || got.Ref != recs[0].Seq || got.Session != 7 || got.Seq != 2 {
				t.Errorf("result record kind %q ref %d session %d seq %d, want result ref %d session 7 seq 2",
					got.Kind, got.Ref, got.Session, got.Seq, recs[0].Seq)
			}
			if got.Outcome != tc.want.Outcome || got.Rows != tc.want.Rows || got.Error != tc.want.Error || got.ErrorClass != tc.want.ErrorClass {
				t.Errorf("outcome %s rows %d error %d class %d, want %s rows %d error %d class %d",
					got.Outcome, got.Rows, got.Error, got.ErrorClass, tc.want.Outcome, tc.want.Rows, tc.want.Error, tc.want.ErrorClass)
			}
			if se.pending != nil {
				t.Error("the request is still pending after its result record")
			}
			// Tokens after the end (a late DONE_ATTN) add nothing.
			se.observe(doneEvent(tds.TokenDone, tds.DoneAttn, 0))
			s.auditRequestEnded(nil)
			if n := len(auditLines(t, &buf)); n != 2 {
				t.Errorf("%d records after late tokens, want 2", n)
			}
		})
	}
}

// TestNoResultForUnrecordedRequests guards against result records without
// a request record: denied requests never ran, and requests the role does
// not audit have nothing to refer to.
func TestNoResultForUnrecordedRequests(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	se, s, _ := unitEnforcer(t, "app", &buf)
	s.enf = se
	se.enforce(s, batchMsg("SELECT * FROM dbo.t")) // app audits writes only
	se.observe(doneEvent(tds.TokenDone, tds.DoneCount, 4))
	se.enforce(s, batchMsg("DROP TABLE dbo.t")) // denied
	s.auditRequestEnded(nil)
	recs := auditLines(t, &buf)
	if len(recs) != 1 || recs[0].Decision != "deny" {
		t.Fatalf("records %+v, want only the denial", recs)
	}
}

// switchWriter fails its writes once broken is set.
type switchWriter struct {
	buf    bytes.Buffer
	broken bool
}

func (w *switchWriter) Write(p []byte) (int, error) {
	if w.broken {
		return 0, errors.New("disk full")
	}
	return w.buf.Write(p)
}

// TestResultWriteFailureClosesSession checks fail closed going forward: a
// result record that cannot be written is counted, and the session's
// later requests that need a record are refused even once the trail works
// again, while requests that need none still run.
func TestResultWriteFailureClosesSession(t *testing.T) {
	t.Parallel()
	se, s, m := unitEnforcer(t, "app", nil)
	s.enf = se
	w := &switchWriter{}
	se.e.audit = audit.NewWriter(w)
	if resp := se.enforce(s, batchMsg("UPDATE dbo.t SET a = 1")); resp != nil {
		t.Fatal("allowed write refused")
	}
	w.broken = true
	se.observe(doneEvent(tds.TokenDone, tds.DoneCount, 1))
	if got := metricValue(t, m.AuditFailures); got != 1 {
		t.Errorf("audit failures = %v, want 1", got)
	}
	w.broken = false
	if resp := se.enforce(s, batchMsg("SELECT * FROM dbo.t")); resp != nil {
		t.Error("a read that needs no record was refused")
	}
	resp := se.enforce(s, batchMsg("UPDATE dbo.t SET a = 2"))
	if resp == nil {
		t.Fatal("a write was allowed after the session's result record was lost")
	}
	if e, _ := denial(t, resp); e.Number != 33204 {
		t.Errorf("error %d, want 33204", e.Number)
	}
	if se.pending != nil {
		t.Error("a refused request is pending a result")
	}
}

// auditResultHarness runs statements through the proxy and returns the
// trail's records once the predicate holds (result records of cancelled
// requests may be written just after the client returns).
func waitRecords(t *testing.T, path string, what string, ok func([]audit.Record) bool) []audit.Record {
	t.Helper()
	var recs []audit.Record
	waitFor(t, 5*time.Second, what, func() bool {
		recs = readAudit(t, path)
		return ok(recs)
	})
	return recs
}

// resultOf returns the result record referring to the request record whose
// SQL contains text.
func resultOf(recs []audit.Record, text string) (req, res *audit.Record) {
	for i := range recs {
		if !recs[i].IsResult() && strings.Contains(recs[i].SQL, text) {
			req = &recs[i]
		}
	}
	if req == nil {
		return nil, nil
	}
	for i := range recs {
		if recs[i].IsResult() && recs[i].Ref == req.Seq {
			return req, &recs[i]
		}
	}
	return req, nil
}

// TestAuditResultRecordsEndToEnd drives go-mssqldb through the proxy to
// the simulator: each audited request gets a request record and a linked
// result record with its rows, error and outcome; the trail verifies and a
// changed byte breaks it.
func TestAuditResultRecordsEndToEnd(t *testing.T) {
	t.Parallel()
	h := newEnforceHarness(t)
	ctx := context.Background()
	app := h.conn("app") // audits writes
	dba := h.conn("dba") // audits all

	res, err := app.ExecContext(ctx, "UPDATE sales.orders SET amount = amount + 1 WHERE id IN (1, 2, 3)")
	if err != nil {
		t.Fatalf("UPDATE: %v", err)
	}
	if n, _ := res.RowsAffected(); n != 3 {
		t.Fatalf("UPDATE affected %d rows, want 3", n)
	}
	if _, err := app.ExecContext(ctx, "UPDATE sales.orders SET amount = amount - 1 WHERE id IN (@p1, @p2, @p3)", 1, 2, 3); err != nil {
		t.Fatalf("UPDATE over RPC: %v", err)
	}
	_, err = dba.ExecContext(ctx, "SELECT * FROM sales.no_such_table")
	if e, ok := sqlError(err); !ok || e.Number != 208 {
		t.Fatalf("SELECT of a missing table: want error 208, got %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = dba.ExecContext(cctx, "WAITFOR DELAY '00:00:05'")
	cancel()
	if err == nil {
		t.Fatal("WAITFOR was not cancelled")
	}

	recs := waitRecords(t, h.auditFile, "the WAITFOR's result record", func(recs []audit.Record) bool {
		_, r := resultOf(recs, "WAITFOR")
		return r != nil
	})
	checks := []struct {
		sql     string
		outcome string
		rows    int64
		errNum  int32
	}{
		{"amount + ?", audit.OutcomeOK, 3, 0}, // app's records redact literals
		{"WHERE id IN (@p1, @p2, @p3)", audit.OutcomeOK, 3, 0},
		{"no_such_table", audit.OutcomeError, 0, 208},
		{"WAITFOR", audit.OutcomeCancelled, 0, 0},
	}
	for _, c := range checks {
		t.Run(c.sql, func(t *testing.T) {
			req, r := resultOf(recs, c.sql)
			if req == nil || r == nil {
				t.Fatalf("request record %v, result record %v for %q", req != nil, r != nil, c.sql)
			}
			if req.Rows != rowsNotRun || req.Decision != "allow" || req.Kind != audit.KindRequest {
				t.Errorf("request record %+v, want kind request, allow, rows -1", *req)
			}
			if r.Outcome != c.outcome || r.Rows != c.rows || r.Error != c.errNum || r.Session != req.Session || r.Seq <= req.Seq {
				t.Errorf("result %+v, want outcome %s rows %d error %d after seq %d of session %d",
					*r, c.outcome, c.rows, c.errNum, req.Seq, req.Session)
			}
			if c.errNum != 0 && r.ErrorClass != 16 {
				t.Errorf("error class %d, want 16", r.ErrorClass)
			}
		})
	}

	var out, errOut bytes.Buffer
	if code := audit.VerifyCmd([]string{h.auditFile}, &out, &errOut); code != 0 {
		t.Fatalf("audit verify: exit %d: %s%s", code, out.String(), errOut.String())
	}
	data, err := os.ReadFile(h.auditFile)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte(`"rows":3,`))
	if i < 0 {
		t.Fatalf("no result record with rows 3 in\n%s", data)
	}
	data[i+len(`"rows":`)] = '4' // rows 3 → 4
	tampered := filepath.Join(t.TempDir(), "audit.jsonl")
	writeFile(t, tampered, data)
	out.Reset()
	if code := audit.VerifyCmd([]string{tampered}, &out, io.Discard); code != 1 || !strings.Contains(out.String(), "BROKEN") {
		t.Errorf("audit verify of a changed result record: exit %d, %q; want 1 and BROKEN", code, out.String())
	}
	if got, want := h.metric(h.srv.enf.metrics.AuditRecords), float64(len(recs)); got < want {
		t.Errorf("audit records metric %v, want ≥ %v", got, want)
	}

}

// TestAuditResultBackendLost drops the backend connection while a request
// runs: its result record says backend_lost, and the trail verifies.
func TestAuditResultBackendLost(t *testing.T) {
	t.Parallel()
	h := newEnforceHarness(t)
	dba := h.conn("dba") // audits all
	if _, err := dba.ExecContext(context.Background(), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := dba.ExecContext(context.Background(), "WAITFOR DELAY '00:00:05'")
		errc <- err
	}()
	waitRecords(t, h.auditFile, "the WAITFOR's request record", func(recs []audit.Record) bool {
		req, _ := resultOf(recs, "WAITFOR")
		return req != nil
	})
	h.sim.Primary().DropConnections()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("the WAITFOR succeeded although its backend connection was dropped")
		}
	case <-time.After(4 * time.Second):
		t.Fatal("the client was not told that the backend was lost")
	}
	recs := waitRecords(t, h.auditFile, "the WAITFOR's result record", func(recs []audit.Record) bool {
		_, r := resultOf(recs, "WAITFOR")
		return r != nil
	})
	if _, r := resultOf(recs, "WAITFOR"); r.Outcome != audit.OutcomeBackendLost {
		t.Errorf("result %+v, want outcome backend_lost", *r)
	}
	if _, r := resultOf(recs, "SELECT 1"); r == nil || r.Outcome != audit.OutcomeOK {
		t.Errorf("result of SELECT 1: %+v, want ok", r)
	}
}

// TestAuditResultNamesRoutedBackend checks that with routing the result
// record names the backend the request ran on, and the request record,
// written before routing chooses, names none.
func TestAuditResultNamesRoutedBackend(t *testing.T) {
	auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
	h := newRoutedHarness(t, func(c *Config) { c.AuditLog = auditFile })
	db := h.open("")
	db.SetMaxOpenConns(1)
	var name string
	if err := db.QueryRow("SELECT @@SERVERNAME AS routed_read").Scan(&name); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE dbo.audit_routed (id INT)"); err != nil {
		t.Fatal(err)
	}
	addrOf := map[string]string{h.sim.Primary().Name(): h.sim.Primary().Addr()}
	for _, r := range h.sim.Replicas() {
		addrOf[r.Name()] = r.Addr()
	}
	recs := waitRecords(t, auditFile, "both result records", func(recs []audit.Record) bool {
		_, r1 := resultOf(recs, "routed_read")
		_, r2 := resultOf(recs, "audit_routed")
		return r1 != nil && r2 != nil
	})
	for _, c := range []struct{ sql, backend string }{
		{"routed_read", addrOf[name]},
		{"audit_routed", h.sim.Primary().Addr()},
	} {
		req, res := resultOf(recs, c.sql)
		if req.Backend != "" {
			t.Errorf("%s: request record names backend %q before routing chose one", c.sql, req.Backend)
		}
		if res.Backend != c.backend || c.backend == "" {
			t.Errorf("%s: result record backend %q, want %q", c.sql, res.Backend, c.backend)
		}
	}
	if name == h.sim.Primary().Name() {
		t.Errorf("the read ran on the primary %s, want a replica", name)
	}
}
