package proxy

import (
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/policy"
	"github.com/tdsproxy/tdsproxy/policy/audit"
	"github.com/tdsproxy/tdsproxy/tds"
)

// rowsNotRun is the rows field of a record written before its request
// runs: the count is not known yet. Records are written first so that a
// request whose record cannot be written never runs (fail closed); the
// result record written when the response ends carries the count.
const rowsNotRun = -1

// writeAudit writes the request record of a decided request before it is
// forwarded (or refused) and returns its sequence number. Denied requests
// record rows 0 and the error the client gets; allowed ones rows -1 (not
// run yet) and no error.
func (se *sessionEnforcer) writeAudit(req policy.Request, c *policy.Classification, d *policy.Decision, backend string, start time.Time) (uint64, error) {
	rec := audit.FromDecision(req, c, *d)
	rec.Session = se.id
	rec.Client = se.client
	rec.Backend = backend
	if d.Allowed {
		rec.Rows = rowsNotRun
	}
	rec.DurationUS = time.Since(start).Microseconds()
	if err := se.e.audit.Write(&rec); err != nil {
		se.e.metrics.AuditFailures.Inc()
		return 0, err
	}
	se.e.metrics.AuditRecords.Inc()
	return rec.Seq, nil
}

// pendingResult is what the response of a recorded, forwarded request has
// told so far; its result record is written when the response ends.
type pendingResult struct {
	ref      uint64    // seq of the request record
	start    time.Time // when the request was handed on for forwarding
	rows     int64     // sum of DONE counts
	errNum   int32     // first ERROR token
	errClass uint8
	failed   bool // an ERROR token or DONE_ERROR was seen
	// attnSent reports whether the client cancelled the request (an
	// Attention was forwarded); nil: never.
	attnSent func() bool
	// ended is set when the final DONE arrived while an Attention was
	// outstanding: the result waits for the DONE_ATTN.
	ended bool
	// backend reports the address of the backend the session is on; the
	// result record names it (with routing, the request record cannot).
	backend func() string
	// notRun is set when the proxy answered the request itself (routing
	// found no usable backend): the result record names no backend.
	notRun bool
}

// observeResult follows one response token of the request in flight and
// writes its result record when the response ends: at the final DONE or
// DONEPROC (no DONE_MORE), or, when the client cancelled the request, at
// the DONE_ATTN acknowledging the cancel (which may follow the final DONE
// in a message of its own). It runs before the token is relayed, so a
// client that saw its response end finds the result record in the trail.
func (se *sessionEnforcer) observeResult(ev *tds.Event) {
	p := se.pending
	if p == nil {
		return
	}
	switch ev.Type {
	case tds.TokenError:
		p.failed = true
		if p.errNum == 0 {
			p.errNum, p.errClass = ev.Err.Number, ev.Err.Class
		}
	case tds.TokenDone, tds.TokenDoneProc, tds.TokenDoneInProc:
		st := ev.Done.Status
		if st&tds.DoneCount != 0 {
			p.rows += int64(ev.Done.RowCount)
		}
		if st&tds.DoneError != 0 {
			p.failed = true
		}
		switch {
		case st&tds.DoneAttn != 0:
			se.endResult(audit.OutcomeCancelled)
		case ev.Type != tds.TokenDoneInProc && st&tds.DoneMore == 0:
			if p.attnSent != nil && p.attnSent() {
				p.ended = true // the DONE_ATTN follows
				return
			}
			se.endResult(p.outcome())
		}
	}
}

// outcome is how a response that ended with its final DONE went.
func (p *pendingResult) outcome() string {
	if p.failed {
		return audit.OutcomeError
	}
	return audit.OutcomeOK
}

// attnPendingFunc reports whether an Attention was forwarded for the
// session's request in flight.
func (s *session) attnPendingFunc() func() bool {
	return func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.attnPending
	}
}

// backendAddr is the address of the session's current backend ("" before
// the first one).
func (s *session) backendAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.be == nil {
		return ""
	}
	return s.be.addr
}

// auditRequestEnded is called by the session once a request has been finished
// (its response relayed, or the request answered or ended otherwise), with
// the error that ends the session, if any. A request whose response did not
// end with a DONE observeResult recognised gets its result record here.
func (s *session) auditRequestEnded(err error) {
	se := s.enf
	if se == nil || se.pending == nil {
		return
	}
	var sessErr *SessionError
	switch {
	case se.pending.ended:
		// The final DONE came but not the awaited DONE_ATTN.
		se.endResult(se.pending.outcome())
	case s.walkBroken:
		se.endResult(audit.OutcomeUnknown)
	case err == nil:
		// Routing answered for a backend that failed or was unavailable
		// (40613 and the like): the request may or may not have run.
		se.pending.notRun = true
		se.endResult(audit.OutcomeBackendLost)
	case errors.As(err, &sessErr) && (sessErr.Reason == ReasonBackendLost || sessErr.Reason == ReasonBackendUnavailable):
		se.endResult(audit.OutcomeBackendLost)
	case errors.As(err, &sessErr) && sessErr.Reason == ReasonClientGone:
		se.endResult(audit.OutcomeClientGone)
	default:
		se.endResult(audit.OutcomeUnknown)
	}
}

// endResult writes the result record of the request in flight. A record
// that cannot be written is logged and counted, and from then on the
// session refuses every request that needs a record: the trail no longer
// shows how this session's requests ended (fail closed going forward).
func (se *sessionEnforcer) endResult(outcome string) {
	p := se.pending
	se.pending = nil
	rec := audit.Record{
		Kind: audit.KindResult, Session: se.id, Ref: p.ref, Outcome: outcome,
		Rows: p.rows, Error: p.errNum, ErrorClass: p.errClass,
		DurationUS: time.Since(p.start).Microseconds(),
	}
	if p.backend != nil && !p.notRun {
		rec.Backend = p.backend()
	}
	if err := se.e.audit.Write(&rec); err != nil {
		se.e.metrics.AuditFailures.Inc()
		se.auditBroken = true
		se.e.log.Error("audit result record could not be written; this session's requests that need a record are refused from now on",
			zap.Uint64("session", se.id), zap.Uint64("request_seq", p.ref), zap.Error(err))
		return
	}
	se.e.metrics.AuditRecords.Inc()
}
