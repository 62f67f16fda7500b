// Package audit writes the proxy's tamper-evident audit trail: one JSON line
// per request, each carrying a sequence number and the SHA-256 of the line
// before it, so that Verify can name the first modified, reordered or
// missing record. Rotation continues the chain across files.
package audit

import (
	"strconv"
	"time"

	"github.com/tdsproxy/tdsproxy/policy"
)

// Record is one audit record. Passwords never appear: SQL text passes
// policy.AuditText, which always hides secrets.
type Record struct {
	Seq        uint64    `json:"seq"`
	Prev       string    `json:"prev"` // hex SHA-256 of the previous line; 64 zeros for the first
	Time       time.Time `json:"time"`
	Session    uint64    `json:"session,omitempty"`
	Client     string    `json:"client,omitempty"` // client address
	Login      string    `json:"login"`
	App        string    `json:"app,omitempty"`
	Host       string    `json:"host,omitempty"`
	Database   string    `json:"database,omitempty"`
	Backend    string    `json:"backend,omitempty"`
	Request    string    `json:"request"`           // batch, rpc, tm, bulkload
	Kinds      []string  `json:"kinds,omitempty"`   // statement kinds in order of appearance
	Objects    []string  `json:"objects,omitempty"` // "action object", resolved
	SQL        string    `json:"sql,omitempty"`     // literals redacted when the role says so
	Proc       string    `json:"proc,omitempty"`    // RPC procedure name or id
	Decision   string    `json:"decision"`          // allow or deny
	Rule       string    `json:"rule,omitempty"`    // rule that decided, e.g. reporting/2
	RulePos    string    `json:"rule_pos,omitempty"`
	Rows       int64     `json:"rows"`            // rows affected
	Error      int32     `json:"error,omitempty"` // error number sent to the client
	DurationUS int64     `json:"duration_us"`
}

// FromDecision fills the request-dependent fields of a record: identity,
// kinds, objects, SQL text (redacted per the decision), procedure and
// verdict. The caller adds session, client, backend, rows, error and
// duration.
func FromDecision(req policy.Request, c *policy.Classification, d policy.Decision) Record {
	r := Record{
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
