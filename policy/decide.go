package policy

import (
	"fmt"
	"strings"
)

// SQL Server error numbers used for denials.
const (
	ErrNumObjectDenied    int32 = 229 // The %s permission was denied on the object …
	ErrNumStatementDenied int32 = 262 // %s permission denied in database …
	DenyClass             uint8 = 14
)

// Decision is the verdict on one request.
type Decision struct {
	Allowed bool
	Login   string
	Roles   []string // roles of the login, in policy order
	// Role, RuleID and Pos name what decided: for a denial the rule or role
	// default that denied the first denied access; for an allowance the rule
	// that allowed the first access. RuleID is "role/N", "role/name" or
	// "role/default"; empty when the login has no role.
	Role   string
	RuleID string
	Pos    Pos
	// Statement is the index of the denied statement (-1 when none).
	Statement int
	// Kind, Type and Object describe the denied access (Object resolved).
	Kind   Kind
	Type   string
	Object *Object
	// Reason explains an unknown access or a missing role.
	Reason string
	// Database is the request's current database (for messages); Schema the
	// default schema unqualified names resolved to.
	Database string
	Schema   string
	// Audit is the strongest audit level of the login's roles; Redact is true
	// when any of them redacts literals.
	Audit  AuditLevel
	Redact bool
}

// Step is the verdict on one access, for explain output.
type Step struct {
	Statement int
	Access    Access
	Object    *Object // resolved
	Allowed   bool
	Role      string
	RuleID    string
	Pos       Pos
}

// Error returns the error a denied client receives, in SQL Server's style:
// number 229 when an object was denied, 262 otherwise; class 14.
func (d *Decision) Error() (number int32, class uint8, message string) {
	number = ErrNumStatementDenied
	if d.Object != nil {
		number = ErrNumObjectDenied
	}
	return number, DenyClass, d.Message()
}

// Message is the denial message, e.g. `policy: role "reporting" may not
// UPDATE sales.orders (rule reporting/2, reporting.yaml:41)`.
func (d *Decision) Message() string {
	if d.Allowed {
		return fmt.Sprintf("policy: allowed (rule %s, %s)", d.RuleID, d.Pos)
	}
	if d.Role == "" {
		return fmt.Sprintf("policy: login %q has no role in the policy; every statement is denied", d.Login)
	}
	what := d.Kind.Verb()
	switch d.Kind {
	case KindCreate, KindAlter, KindDrop:
		if d.Type != "" {
			what += " " + strings.ToUpper(strings.ReplaceAll(d.Type, "_", " "))
		}
	case KindExec:
		what = "EXECUTE"
	}
	if d.Object != nil {
		what += " " + d.objectName()
	} else if d.Database != "" && d.Kind != KindUnknown {
		what += " in database " + d.Database
	}
	if d.Reason != "" {
		what += " (" + d.Reason + ")"
	}
	if strings.HasSuffix(d.RuleID, "/default") {
		return fmt.Sprintf("policy: role %q may not %s (no rule allows it; default of role %s, %s)", d.Role, what, d.Role, d.Pos)
	}
	return fmt.Sprintf("policy: role %q may not %s (rule %s, %s)", d.Role, what, d.RuleID, d.Pos)
}

// objectName shows schema.object for objects of the current database.
func (d *Decision) objectName() string {
	o := *d.Object
	if o.Server == "" && !o.Temp && strings.EqualFold(o.Database, d.Database) {
		o.Database = ""
	}
	if o.Temp {
		return o.Name
	}
	return o.String()
}

// MustAudit reports whether the request needs an audit record under the
// login's audit level.
func (d *Decision) MustAudit(c *Classification) bool {
	switch d.Audit {
	case AuditAll:
		return true
	case AuditWrites:
		return !d.Allowed || (c != nil && !c.ReadOnly())
	case AuditDenials:
		return !d.Allowed
	}
	return false
}

// rolesFor returns the roles of the request's login, and its default schema.
func (p *Policy) rolesFor(req *Request) ([]*Role, string) {
	var roles []*Role
	schema := ""
	for _, l := range p.Logins {
		if !l.match(req) {
			continue
		}
		if schema == "" {
			schema = l.DefaultSchema
		}
		for _, name := range l.Roles {
			r := p.Roles[name]
			if r == nil {
				continue
			}
			dup := false
			for _, have := range roles {
				if have == r {
					dup = true
				}
			}
			if !dup {
				roles = append(roles, r)
			}
		}
	}
	if req.DefaultSchema != "" {
		schema = req.DefaultSchema
	}
	if schema == "" {
		schema = p.DefaultSchema
	}
	if schema == "" {
		schema = "dbo"
	}
	return roles, schema
}

// Decide decides a classified request. A request is allowed only if every
// access of every statement is allowed.
func (p *Policy) Decide(req Request, c *Classification) Decision {
	d, _ := p.decide(&req, c, false)
	return d
}

// Explain decides like Decide and also returns the verdict on every access.
func (p *Policy) Explain(req Request, c *Classification) (Decision, []Step) {
	return p.decide(&req, c, true)
}

func (p *Policy) decide(req *Request, c *Classification, trace bool) (Decision, []Step) {
	roles, schema := p.rolesFor(req)
	d := Decision{Login: req.Login, Statement: -1, Database: req.Database, Schema: schema}
	for _, r := range roles {
		d.Roles = append(d.Roles, r.Name)
		if r.Audit > d.Audit {
			d.Audit = r.Audit
		}
		d.Redact = d.Redact || r.RedactLiterals
	}
	if len(roles) == 0 {
		d.Audit = AuditDenials
		d.Reason = "login has no role"
		return d, nil
	}
	var steps []Step
	first := true
	for i := range c.Statements {
		st := &c.Statements[i]
		for _, a := range st.Accesses {
			var obj *Object
			if a.Object != nil {
				o := a.Object.Resolve(req.Database, schema)
				obj = &o
			}
			typ := ""
			if a.Action == st.Kind {
				typ = st.Type
			}
			v := decideAccess(roles, a.Action, typ, obj)
			if trace {
				steps = append(steps, Step{Statement: i, Access: a, Object: obj, Allowed: v.allow, Role: v.role, RuleID: v.id, Pos: v.pos})
			}
			if first && v.allow {
				d.Role, d.RuleID, d.Pos = v.role, v.id, v.pos
				first = false
			}
			if !v.allow {
				if d.Statement < 0 {
					d.Allowed = false
					d.Statement = i
					d.Role, d.RuleID, d.Pos = v.role, v.id, v.pos
					d.Kind, d.Type, d.Object, d.Reason = a.Action, typ, obj, a.Reason
				}
				if !trace {
					return d, nil
				}
			}
		}
	}
	if d.Statement < 0 {
		d.Allowed = true
		if first { // nothing to check: an empty batch
			d.Role, d.RuleID, d.Pos = roles[0].Name, roles[0].Name+"/empty", roles[0].Pos
		}
	}
	return d, steps
}

type verdict struct {
	allow bool
	role  string
	id    string
	pos   Pos
}

// decideAccess applies the roles to one access: an explicit deny rule in any
// role wins; otherwise an allow rule (or an allow default) in any role
// allows; otherwise the first role's default denies. Unknown is never
// allowed by a default.
func decideAccess(roles []*Role, action Kind, typ string, obj *Object) verdict {
	var allow, deny *verdict
	for _, r := range roles {
		matched := false
		for _, rule := range r.Rules {
			if !rule.matchesAction(action, typ) || !rule.matchesObject(action, obj) {
				continue
			}
			matched = true
			v := verdict{allow: rule.Effect == Allow, role: r.Name, id: rule.ID, pos: rule.Pos}
			if !v.allow {
				return v
			}
			if allow == nil {
				allow = &v
			}
			break
		}
		if matched {
			continue
		}
		v := verdict{allow: r.Default == Allow && action != KindUnknown, role: r.Name, id: r.Name + "/default", pos: r.DefaultPos}
		if v.allow && allow == nil {
			allow = &v
		} else if !v.allow && deny == nil {
			deny = &v
		}
	}
	if allow != nil {
		return *allow
	}
	return *deny
}
