// Package audit writes the proxy's tamper-evident audit trail: JSON lines,
// each carrying a sequence number and the SHA-256 of the line before it, so
// that Verify can name the first modified, reordered or missing record.
// Rotation continues the chain across files.
//
// A request gets a request record before it runs (so that a request whose
// record cannot be written never runs) and, when it was allowed and its
// response ends, a result record in the same chain that refers to it by
// sequence number and carries what only the response can tell: rows
// affected, the first error, the duration and how it ended.
package audit

import (
	"strconv"
	"time"

	"github.com/tdsproxy/tdsproxy/policy"
)

// Record kinds.
const (
	// KindRequest is the record of a decided request, written before it
	// is forwarded (or refused). Records without a kind are request records.
	KindRequest = "request"
	// KindResult is the record of how an allowed request ended; its Ref is
	// the Seq of the request record.
	KindResult = "result"
)

// Outcomes of a result record.
const (
	OutcomeOK          = "ok"           // the response ended without an error
	OutcomeError       = "error"        // the response carried an ERROR token or DONE_ERROR
	OutcomeCancelled   = "cancelled"    // the client cancelled it (Attention) and the server acknowledged
	OutcomeBackendLost = "backend_lost" // the backend connection failed (or no backend was available) before the response ended; the request may have run
	OutcomeClientGone  = "client_gone"  // the client left before the response ended
	OutcomeUnknown     = "unknown"      // the response could not be followed (malformed token stream) or the session ended otherwise
)

// Record is one audit record: a request record (Kind "request") or a result
// record (Kind "result", with Ref, Outcome, Rows, Error, ErrorClass and
// DurationUS; its identity is that of the request record it refers to).
// Passwords never appear: SQL text passes policy.AuditText, which always
// hides secrets.
type Record struct {
	Seq        uint64    `json:"seq"`
	Prev       string    `json:"prev"`           // hex SHA-256 of the previous line; 64 zeros for the first
	Kind       string    `json:"kind,omitempty"` // request or result ("" in older trails: request)
	Time       time.Time `json:"time"`
	Session    uint64    `json:"session,omitempty"`
	Ref        uint64    `json:"ref,omitempty"`     // result: seq of its request record
	Outcome    string    `json:"outcome,omitempty"` // result: ok, error, cancelled, backend_lost, client_gone, unknown
	Client     string    `json:"client,omitempty"`  // client address
	Login      string    `json:"login,omitempty"`
	App        string    `json:"app,omitempty"`
	Host       string    `json:"host,omitempty"`
	Database   string    `json:"database,omitempty"`
	Backend    string    `json:"backend,omitempty"`
	Request    string    `json:"request,omitempty"`  // batch, rpc, tm, bulkload
	Kinds      []string  `json:"kinds,omitempty"`    // statement kinds in order of appearance
	Objects    []string  `json:"objects,omitempty"`  // "action object", resolved
	SQL        string    `json:"sql,omitempty"`      // literals redacted when the role says so
	Proc       string    `json:"proc,omitempty"`     // RPC procedure name or id
	Decision   string    `json:"decision,omitempty"` // allow or deny (request records)
	Rule       string    `json:"rule,omitempty"`     // rule that decided, e.g. reporting/2
	RulePos    string    `json:"rule_pos,omitempty"`
	Rows       int64     `json:"rows"`                  // request: 0 denied, -1 not run yet; result: sum of DONE counts
	Error      int32     `json:"error,omitempty"`       // request: the denial's error; result: the first ERROR token's number
	ErrorClass uint8     `json:"error_class,omitempty"` // result: the first ERROR token's class
	DurationUS int64     `json:"duration_us"`           // request: deciding and recording; result: forwarding to the end of the response
}

// IsResult reports whether r is a result record.
func (r *Record) IsResult() bool { return r.Kind == KindResult }

// FromDecision fills the request-dependent fields of a record: identity,
// kinds, objects, SQL text (redacted per the decision), procedure and
// verdict. The caller adds session, client, backend, rows, error and
// duration.
func FromDecision(req policy.Request, c *policy.Classification, d policy.Decision) Record {
	r := Record{
		Kind:     KindRequest,
		Login:    req.Login,
		App:      req.AppName,
		Host:     req.Host,
		Database: req.Database,
		Request:  req.Kind.String(),
		Decision: "deny",
		Rule:     d.RuleID,
	}
	if d.Allowed {
		r.Decision = "allow"
	}
	if d.Pos.Line > 0 {
		r.RulePos = d.Pos.String()
	}
	if c != nil {
		for _, k := range c.Kinds() {
			r.Kinds = append(r.Kinds, k.String())
		}
		seen := map[string]bool{}
		for _, st := range c.Statements {
			for _, a := range st.Accesses {
				if a.Object == nil {
					continue
				}
				s := a.Action.String() + " " + a.Object.Resolve(req.Database, d.Schema).String()
				if !seen[s] {
					seen[s] = true
					r.Objects = append(r.Objects, s)
				}
			}
		}
	}
	if req.Text != "" {
		r.SQL = policy.AuditText(req.Text, d.Redact)
	}
	switch {
	case req.ProcName != "":
		r.Proc = req.ProcName
	case req.Kind == policy.RequestRPC:
		r.Proc = "procid:" + strconv.Itoa(int(req.ProcID))
	}
	if !d.Allowed {
		n, _, _ := d.Error()
		r.Error = n
	}
	return r
}
