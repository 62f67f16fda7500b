package policy

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Effect is what a rule or a role default does.
type Effect uint8

// Effects.
const (
	Deny Effect = iota
	Allow
)

// String returns "allow" or "deny".
func (e Effect) String() string {
	if e == Allow {
		return "allow"
	}
	return "deny"
}

// AuditLevel is how much a role's requests are audited.
type AuditLevel uint8

// Audit levels, in increasing order.
const (
	AuditNone    AuditLevel = iota // no records
	AuditDenials                   // denied requests
	AuditWrites                    // denied requests and requests that change anything
	AuditAll                       // every request
)

var auditNames = [...]string{"none", "denials", "writes", "all"}

// String returns the level's name as written in policy files.
func (a AuditLevel) String() string {
	if int(a) < len(auditNames) {
		return auditNames[a]
	}
	return fmt.Sprintf("AuditLevel(%d)", uint8(a))
}

func parseAuditLevel(s string) (AuditLevel, bool) {
	for i, n := range auditNames {
		if n == s {
			return AuditLevel(i), true
		}
	}
	return 0, false
}

// Pos is a place in a policy file.
type Pos struct {
	File string
	Line int
}

// String renders the position as base-name:line, as messages show it.
func (p Pos) String() string {
	if p.File == "" {
		return fmt.Sprintf("line %d", p.Line)
	}
	return fmt.Sprintf("%s:%d", filepath.Base(p.File), p.Line)
}

// Policy is a compiled set of policy files. It is immutable once loaded and
// safe for concurrent use.
type Policy struct {
	Files         []string
	DefaultSchema string // for unqualified names; "dbo" unless configured
	Logins        []*LoginRule
	Roles         map[string]*Role
}

// LoginRule maps logins to roles. Every matcher that is set must match.
type LoginRule struct {
	Name          string // exact login name (case-insensitive)
	Pattern       string // glob over the login name
	App           string // glob over the client's application name
	Host          string // glob over the client's host name
	Roles         []string
	DefaultSchema string
	Pos           Pos
}

// Role is a named, ordered list of rules with a default.
type Role struct {
	Name           string
	Description    string
	Default        Effect
	DefaultPos     Pos
	Audit          AuditLevel
	RedactLiterals bool
	Rules          []*Rule
	Pos            Pos
}

// Rule allows or denies actions on objects and procedures.
type Rule struct {
	ID         string // "role/N" (1-based) or the rule's name
	Effect     Effect
	Actions    []string // as written
	Objects    []string // as written
	Procedures []string // as written
	Pos        Pos

	kinds      [numKinds]bool
	typed      map[Kind][]string // create_table → {create: [table]}
	objects    []pattern
	procedures []pattern
}

// pattern is a dotted name pattern with * and ? wildcards per part.
type pattern struct {
	parts []string // lower case, 1 to 4 parts
}

func parsePattern(s string) (pattern, error) {
	if strings.TrimSpace(s) == "" {
		return pattern{}, fmt.Errorf("empty pattern")
	}
	var parts []string
	var cur strings.Builder
	inBr := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '[' && !inBr:
			inBr = true
		case c == ']' && inBr:
			if i+1 < len(s) && s[i+1] == ']' {
				cur.WriteByte(']')
				i++
			} else {
				inBr = false
			}
		case c == '.' && !inBr:
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if inBr {
		return pattern{}, fmt.Errorf("unclosed '[' in %q", s)
	}
	parts = append(parts, cur.String())
	if len(parts) > 4 {
		return pattern{}, fmt.Errorf("%q has %d parts; at most server.database.schema.object", s, len(parts))
	}
	for i, p := range parts {
		if p == "" {
			return pattern{}, fmt.Errorf("%q has an empty part (use * for any)", s)
		}
		parts[i] = strings.ToLower(p)
	}
	return pattern{parts: parts}, nil
}

// match reports whether the resolved object o matches. Patterns of fewer
// than four parts match local objects only (no linked server); missing
// leading parts match anything.
func (p pattern) match(o *Object) bool {
	full := [4]string{o.Server, o.Database, o.Schema, o.Name}
	if o.Server != "" && len(p.parts) < 4 {
		return false
	}
	off := 4 - len(p.parts)
	for i, pp := range p.parts {
		if !glob(pp, strings.ToLower(full[off+i])) {
			return false
		}
	}
	return true
}

// glob matches s against pattern with * (any run) and ? (one byte); both
// are expected in lower case.
func glob(pattern, s string) bool {
	px, sx := 0, 0
	nextPx, nextSx := -1, -1
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				nextPx, nextSx = px, sx+1
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx++
					continue
				}
			default:
				if sx < len(s) && s[sx] == c {
					px++
					sx++
					continue
				}
			}
		}
		if nextSx > 0 && nextSx <= len(s) {
			px, sx = nextPx, nextSx
			continue
		}
		return false
	}
	return true
}

func globFold(pattern, s string) bool {
	return glob(strings.ToLower(pattern), strings.ToLower(s))
}

// matchesAction reports whether the rule names action (typ qualifies DDL and
// SET kinds: create_table, set_nocount).
func (r *Rule) matchesAction(action Kind, typ string) bool {
	if r.kinds[action] {
		return true
	}
	if typ != "" {
		for _, t := range r.typed[action] {
			if t == typ {
				return true
			}
		}
	}
	return false
}

// matchesObject reports whether the rule covers obj for action.
func (r *Rule) matchesObject(action Kind, obj *Object) bool {
	if obj == nil {
		return true
	}
	pats := r.objects
	if action == KindExec {
		if r.procedures != nil {
			pats = r.procedures
		}
	} else if r.objects == nil && r.procedures != nil {
		return false
	}
	if pats == nil {
		return true
	}
	for _, p := range pats {
		if p.match(obj) {
			return true
		}
	}
	return false
}

// match reports whether the login rule applies to the request's identity.
func (l *LoginRule) match(req *Request) bool {
	if l.Name != "" && !strings.EqualFold(l.Name, req.Login) {
		return false
	}
	if l.Pattern != "" && !globFold(l.Pattern, req.Login) {
		return false
	}
	if l.App != "" && !globFold(l.App, req.AppName) {
		return false
	}
	if l.Host != "" && !globFold(l.Host, req.Host) {
		return false
	}
	return true
}
