package policy

import "strings"

// Object is a schema object (table, view, function, procedure, sequence) as a
// statement names it. Empty parts were omitted in the text: an empty Database
// is the session's current database and an empty Schema the login's default
// schema (see Resolve).
type Object struct {
	Server   string // linked server of a four-part name
	Database string
	Schema   string
	Name     string
	Temp     bool // #temp or ##global temp table (lives in tempdb)
}

// Resolve fills the omitted parts: db for the database and schema for the
// schema. Temporary tables resolve to tempdb.dbo; unqualified sp_ and xp_
// procedures to the sys schema, where SQL Server finds them.
func (o Object) Resolve(db, schema string) Object {
	if o.Temp {
		o.Database, o.Schema = "tempdb", "dbo"
		return o
	}
	if o.Database == "" {
		o.Database = db
	}
	if o.Schema == "" {
		o.Schema = schema
		if o.Server == "" && (isSystemProcName(o.Name) || compatViews[strings.ToLower(o.Name)]) {
			o.Schema = "sys"
		}
	}
	return o
}

func isSystemProcName(name string) bool {
	if len(name) < 3 {
		return false
	}
	p := strings.ToLower(name[:3])
	return p == "sp_" || p == "xp_"
}

// String renders the object as a dotted name, leaving out empty leading parts.
func (o Object) String() string {
	parts := make([]string, 0, 4)
	if o.Server != "" {
		parts = append(parts, o.Server, o.Database, o.Schema)
	} else if o.Database != "" {
		parts = append(parts, o.Database, o.Schema)
	} else if o.Schema != "" {
		parts = append(parts, o.Schema)
	}
	parts = append(parts, o.Name)
	return strings.Join(parts, ".")
}

// Access is one thing a statement does: an action, on an object when the
// action concerns one. A request is allowed only if every access of every
// statement is allowed.
type Access struct {
	Action Kind
	Object *Object // nil when the action names no object
	// Reason explains an unknown access.
	Reason string
}

// Statement is one classified T-SQL statement.
type Statement struct {
	Kind Kind
	// Type qualifies the kind: the object type of CREATE/ALTER/DROP ("table",
	// "procedure", …), the option of SET ("nocount", "variable", …), the
	// command of DBCC. Empty otherwise.
	Type string
	// Proc is the procedure of an EXEC.
	Proc *Object
	// Accesses lists what the statement does; the first is the statement's
	// own kind (on its target when it has one).
	Accesses []Access
	// Start and End are byte offsets of the statement in the text it was
	// classified from. Statements from dynamic SQL carry the offsets of the
	// EXEC that ran them.
	Start, End int
	// Depth is the nesting level: inside BEGIN…END, IF, WHILE, TRY/CATCH, or
	// dynamic SQL.
	Depth int
	// Dynamic marks statements found inside dynamic SQL.
	Dynamic bool
	// Deferred marks statements of a module body (view, procedure, function,
	// trigger) being created or altered: they run later, but the policy
	// requires the creator to be allowed them now.
	Deferred bool
}

// Unknown reports whether the statement has an access the classifier could
// not place.
func (s *Statement) Unknown() bool {
	for _, a := range s.Accesses {
		if a.Action == KindUnknown {
			return true
		}
	}
	return false
}

// Classification is the result of classifying one request. It is shared by
// the classification cache: treat it as read-only.
type Classification struct {
	Statements []Statement
}

// Kinds returns the distinct statement kinds in order of first appearance.
func (c *Classification) Kinds() []Kind {
	var out []Kind
	var seen [numKinds]bool
	for i := range c.Statements {
		k := c.Statements[i].Kind
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// Unknown reports whether any statement has an unknown access.
func (c *Classification) Unknown() bool {
	for i := range c.Statements {
		if c.Statements[i].Unknown() {
			return true
		}
	}
	return false
}

// ReadOnly reports whether every access is a read, session or control-flow
// action; the router may send such a request to a replica.
func (c *Classification) ReadOnly() bool {
	for i := range c.Statements {
		for _, a := range c.Statements[i].Accesses {
			if !a.Action.IsRead() || a.Action == KindUse {
				return false
			}
		}
	}
	return len(c.Statements) > 0
}

// unknownClassification is the fail-closed result for input that cannot be
// classified at all.
func unknownClassification(reason string) *Classification {
	return &Classification{Statements: []Statement{{
		Kind:     KindUnknown,
		Accesses: []Access{{Action: KindUnknown, Reason: reason}},
	}}}
}

// compatViews are the SQL Server 2000 system tables, now views in sys, that
// unqualified names find before the default schema.
var compatViews = map[string]bool{
	"sysobjects": true, "syscolumns": true, "sysindexes": true, "sysusers": true, "syslogins": true,
	"sysprocesses": true, "sysdatabases": true, "sysservers": true, "sysfiles": true,
	"syscomments": true, "sysconstraints": true, "sysdepends": true, "sysmembers": true,
	"syspermissions": true, "sysprotects": true, "systypes": true, "sysoledbusers": true,
	"syscacheobjects": true, "syslockinfo": true, "sysmessages": true, "sysconfigures": true,
	"syscurconfigs": true, "sysaltfiles": true, "syscharsets": true, "syslanguages": true,
	"sysremotelogins": true, "sysfilegroups": true, "sysforeignkeys": true, "sysreferences": true,
	"sysfulltextcatalogs": true, "sysindexkeys": true, "sysperfinfo": true, "sysdevices": true,
	"sysxlogins": true, "syslocks": true, "sysopentapes": true, "sysprocs": true,
}

// Merge combines the classifications of the calls of one RPC message (an
// RPC request may batch several procedure calls): the request is allowed
// only if every call is. Nil classifications count as unknown.
func Merge(cs ...*Classification) *Classification {
	out := &Classification{}
	for _, c := range cs {
		if c == nil {
			c = unknownClassification("missing classification of an RPC call")
		}
		out.Statements = append(out.Statements, c.Statements...)
	}
	return out
}
