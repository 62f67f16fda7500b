package proxy

import (
	"time"

	"github.com/tdsproxy/tdsproxy/policy"
	"github.com/tdsproxy/tdsproxy/policy/audit"
)

// rowsNotRun is the rows field of a record written before its request
// runs: the count is not known yet. Records are written first so that a
// request whose record cannot be written never runs (fail closed).
const rowsNotRun = -1

// writeAudit writes the audit record of a decided request before it is
// forwarded (or refused). Denied requests record rows 0 and the error the
// client gets; allowed ones rows -1 (not run yet) and no error.
func (se *sessionEnforcer) writeAudit(req policy.Request, c *policy.Classification, d *policy.Decision, backend string, start time.Time) error {
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
		return err
	}
	se.e.metrics.AuditRecords.Inc()
	return nil
}
