package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tdsproxy/tdsproxy/internal/textdist"
)

// Problem is one thing wrong in a policy file.
type Problem struct {
	File    string
	Line    int
	Column  int
	Message string
	Hint    string // what to do about it; may be empty
}

// String renders "file:line:col: message (hint: …)".
func (p Problem) String() string {
	s := p.File
	if p.Line > 0 {
		s += ":" + strconv.Itoa(p.Line)
		if p.Column > 0 {
			s += ":" + strconv.Itoa(p.Column)
		}
	}
	s += ": " + p.Message
	if p.Hint != "" {
		s += " (hint: " + p.Hint + ")"
	}
	return s
}

// LoadError lists every problem found while loading policy files.
type LoadError struct {
	Problems []Problem
}

// Error renders the problems, one per line.
func (e *LoadError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return "policy: invalid policy:\n" + strings.Join(lines, "\n")
}

// LoadFiles reads and compiles policy files. Roles from all files share one
// name space; logins are matched in file order. On any problem it returns a
// *LoadError listing them all.
func LoadFiles(files ...string) (*Policy, error) {
	if len(files) == 0 {
		return nil, &LoadError{Problems: []Problem{{Message: "no policy files given", Hint: "pass at least one YAML file"}}}
	}
	srcs := make([]Source, 0, len(files))
	var probs []Problem
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			probs = append(probs, Problem{File: f, Message: fmt.Sprintf("cannot read: %v", err)})
			continue
		}
		srcs = append(srcs, Source{Name: f, Data: data})
	}
	if len(probs) > 0 {
		return nil, &LoadError{Problems: probs}
	}
	return Compile(srcs...)
}

// Source is the content of one policy file.
type Source struct {
	Name string
	Data []byte
}

// Compile compiles policy sources (see LoadFiles).
func Compile(srcs ...Source) (*Policy, error) {
	c := &compiler{pol: &Policy{Roles: map[string]*Role{}, DefaultSchema: "dbo"}}
	type loginRef struct {
		role string
		pos  Pos
		col  int
	}
	var refs []loginRef
	for _, src := range srcs {
		c.file = src.Name
		c.pol.Files = append(c.pol.Files, src.Name)
		var doc yaml.Node
		dec := yaml.NewDecoder(bytes.NewReader(src.Data))
		if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
			c.problem(yamlErrLine(err), 0, "YAML syntax: "+yamlErrMsg(err), "check indentation and quoting")
			continue
		}
		var extra yaml.Node
		if err := dec.Decode(&extra); err == nil {
			c.problem(extra.Line, 0, "more than one YAML document in the file", "put each policy in its own file, or remove the '---'")
			continue
		}
		if len(doc.Content) == 0 {
			c.problem(1, 0, "empty policy file", "add roles: and logins:")
			continue
		}
		c.document(doc.Content[0])
	}
	for _, l := range c.pol.Logins {
		for _, r := range l.Roles {
			refs = append(refs, loginRef{role: r, pos: l.Pos})
		}
	}
	for _, ref := range refs {
		if _, ok := c.pol.Roles[ref.role]; !ok {
			c.probs = append(c.probs, Problem{File: ref.pos.File, Line: ref.pos.Line,
				Message: fmt.Sprintf("login entry refers to undefined role %q", ref.role),
				Hint:    "define it under roles: or fix the name; roles: " + strings.Join(c.roleNames(), ", ")})
		}
	}
	if len(c.probs) > 0 {
		order := map[string]int{}
		for i, src := range srcs {
			if _, ok := order[src.Name]; !ok {
				order[src.Name] = i
			}
		}
		sort.SliceStable(c.probs, func(i, j int) bool {
			a, b := c.probs[i], c.probs[j]
			if order[a.File] != order[b.File] {
				return order[a.File] < order[b.File]
			}
			return a.Line < b.Line
		})
		return nil, &LoadError{Problems: c.probs}
	}
	return c.pol, nil
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

func yamlErrLine(err error) int {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

func yamlErrMsg(err error) string {
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

type compiler struct {
	pol   *Policy
	file  string
	probs []Problem
}

func (c *compiler) problem(line, col int, msg, hint string) {
	c.probs = append(c.probs, Problem{File: c.file, Line: line, Column: col, Message: msg, Hint: hint})
}

func (c *compiler) nodeProblem(n *yaml.Node, msg, hint string) {
	c.problem(n.Line, n.Column, msg, hint)
}

func (c *compiler) roleNames() []string {
	names := make([]string, 0, len(c.pol.Roles))
	for n := range c.pol.Roles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// mapping iterates a mapping node, reporting unknown keys.
func (c *compiler) mapping(n *yaml.Node, what string, known []string, fn func(key string, k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		c.nodeProblem(n, what+" must be a mapping", "write key: value pairs")
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !contains(known, k.Value) {
			c.nodeProblem(k, fmt.Sprintf("unknown key %q in %s", k.Value, what), suggest(k.Value, known))
			continue
		}
		fn(k.Value, k, v)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggest names the closest known word, or lists them.
func suggest(got string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := textdist.Levenshtein(strings.ToLower(got), k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf("did you mean %q?", best)
	}
	return "expected one of: " + strings.Join(known, ", ")
}

func (c *compiler) scalar(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		c.nodeProblem(n, what+" must be a single value", "")
		return "", false
	}
	return n.Value, true
}

// strings reads a scalar or a sequence of scalars.
func (c *compiler) strings(n *yaml.Node, what string) []string {
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	if n.Kind != yaml.SequenceNode {
		c.nodeProblem(n, what+" must be a value or a list of values", "write [a, b] or one value")
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, e := range n.Content {
		if s, ok := c.scalar(e, what+" entry"); ok {
			out = append(out, s)
		}
	}
	return out
}

func (c *compiler) boolean(n *yaml.Node, what string) bool {
	s, ok := c.scalar(n, what)
	if !ok {
		return false
	}
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true
	case "false", "no", "off":
		return false
	}
	c.nodeProblem(n, fmt.Sprintf("%s must be true or false, not %q", what, s), "")
	return false
}

var topKeys = []string{"version", "default_schema", "logins", "roles"}

// file compiles one document.
func (c *compiler) document(doc *yaml.Node) {
	c.mapping(doc, "the policy file", topKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "version":
			if s, ok := c.scalar(v, "version"); ok && s != "1" {
				c.nodeProblem(v, fmt.Sprintf("unsupported version %q", s), "this tdsproxy reads version 1")
			}
		case "default_schema":
			if s, ok := c.scalar(v, "default_schema"); ok {
				c.pol.DefaultSchema = s
			}
		case "logins":
			if v.Kind != yaml.SequenceNode {
				c.nodeProblem(v, "logins must be a list", "start each entry with '- name: …'")
				return
			}
			for _, e := range v.Content {
				c.login(e)
			}
		case "roles":
			if v.Kind != yaml.MappingNode {
				c.nodeProblem(v, "roles must be a mapping of role names to roles", "write 'reporting:' then its keys indented")
				return
			}
			for i := 0; i+1 < len(v.Content); i += 2 {
				c.role(v.Content[i], v.Content[i+1])
			}
		}
	})
}

var loginKeys = []string{"name", "pattern", "app", "host", "roles", "default_schema"}

func (c *compiler) login(n *yaml.Node) {
	l := &LoginRule{Pos: Pos{File: c.file, Line: n.Line}}
	c.mapping(n, "a login entry", loginKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			l.Name, _ = c.scalar(v, "name")
		case "pattern":
			l.Pattern, _ = c.scalar(v, "pattern")
		case "app":
			l.App, _ = c.scalar(v, "app")
		case "host":
			l.Host, _ = c.scalar(v, "host")
		case "default_schema":
			l.DefaultSchema, _ = c.scalar(v, "default_schema")
		case "roles":
			l.Roles = c.strings(v, "roles")
		}
	})
	if n.Kind != yaml.MappingNode {
		return
	}
	if l.Name == "" && l.Pattern == "" && l.App == "" && l.Host == "" {
		c.nodeProblem(n, "login entry matches nothing", "set name, pattern, app or host")
	}
	if l.Name != "" && l.Pattern != "" {
		c.nodeProblem(n, "login entry has both name and pattern", "use one of them")
	}
	if len(l.Roles) == 0 {
		c.nodeProblem(n, "login entry has no roles", "add roles: [role]")
	}
	c.pol.Logins = append(c.pol.Logins, l)
}

var roleKeys = []string{"description", "default", "audit", "redact_literals", "rules"}

func (c *compiler) role(k, n *yaml.Node) {
	name := k.Value
	if name == "" {
		c.nodeProblem(k, "role without a name", "")
		return
	}
	if old, ok := c.pol.Roles[name]; ok {
		c.nodeProblem(k, fmt.Sprintf("role %q is defined twice (also at %s)", name, old.Pos), "rename or merge the roles")
		return
	}
	r := &Role{Name: name, Pos: Pos{File: c.file, Line: k.Line}, DefaultPos: Pos{File: c.file, Line: k.Line}, Audit: AuditDenials}
	c.mapping(n, fmt.Sprintf("role %q", name), roleKeys, func(key string, kn, v *yaml.Node) {
		switch key {
		case "description":
			r.Description, _ = c.scalar(v, "description")
		case "default":
			s, _ := c.scalar(v, "default")
			r.DefaultPos = Pos{File: c.file, Line: kn.Line}
			switch s {
			case "allow":
				r.Default = Allow
			case "deny":
				r.Default = Deny
			default:
				c.nodeProblem(v, fmt.Sprintf("default must be allow or deny, not %q", s), "")
			}
		case "audit":
			s, _ := c.scalar(v, "audit")
			lvl, ok := parseAuditLevel(s)
			if !ok {
				c.nodeProblem(v, fmt.Sprintf("unknown audit level %q", s), suggest(s, auditNames[:]))
			}
			r.Audit = lvl
		case "redact_literals":
			r.RedactLiterals = c.boolean(v, "redact_literals")
		case "rules":
			if v.Kind != yaml.SequenceNode {
				c.nodeProblem(v, "rules must be a list", "start each rule with '- allow: …' or '- deny: …'")
				return
			}
			for _, e := range v.Content {
				if rule := c.rule(r, e, len(r.Rules)+1); rule != nil {
					r.Rules = append(r.Rules, rule)
				}
			}
		}
	})
	c.pol.Roles[name] = r
}

var ruleKeys = []string{"allow", "deny", "objects", "procedures", "name"}

// ActionNames lists every action name a rule may use: kinds and groups.
func ActionNames() []string {
	names := make([]string, 0, int(numKinds)+len(Groups)+1)
	for k := Kind(0); k < numKinds; k++ {
		names = append(names, k.String())
	}
	for g := range Groups {
		if _, isKind := KindByName(g); !isKind {
			names = append(names, g)
		}
	}
	names = append(names, "all")
	sort.Strings(names)
	return names
}

func (c *compiler) rule(role *Role, n *yaml.Node, idx int) *Rule {
	r := &Rule{ID: fmt.Sprintf("%s/%d", role.Name, idx), Pos: Pos{File: c.file, Line: n.Line}}
	effects := 0
	ok := true
	c.mapping(n, "a rule", ruleKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "allow", "deny":
			effects++
			r.Effect = Deny
			if key == "allow" {
				r.Effect = Allow
			}
			r.Actions = c.strings(v, key)
			for _, a := range r.Actions {
				if !r.addAction(a) {
					ok = false
					c.nodeProblem(v, fmt.Sprintf("unknown action %q", a), suggest(a, ActionNames()))
				}
			}
			if len(r.Actions) == 0 {
				c.nodeProblem(v, "rule names no action", "list actions, e.g. [read, session]")
			}
		case "objects", "procedures":
			list := c.strings(v, key)
			pats := make([]pattern, 0, len(list))
			for _, s := range list {
				p, err := parsePattern(s)
				if err != nil {
					ok = false
					c.nodeProblem(v, fmt.Sprintf("bad %s pattern: %v", key, err), "write database.schema.object with * wildcards")
					continue
				}
				pats = append(pats, p)
			}
			if key == "objects" {
				r.Objects, r.objects = list, pats
			} else {
				r.Procedures, r.procedures = list, pats
			}
		case "name":
			if s, ok := c.scalar(v, "name"); ok && s != "" {
				r.ID = role.Name + "/" + s
			}
		}
	})
	if n.Kind != yaml.MappingNode {
		return nil
	}
	if effects != 1 {
		c.nodeProblem(n, "a rule needs exactly one of allow: or deny:", "split it into two rules")
		return nil
	}
	if !ok {
		return nil
	}
	return r
}

// addAction adds an action name (kind, group, "all" or kind_type).
func (r *Rule) addAction(a string) bool {
	a = strings.ToLower(strings.TrimSpace(a))
	if a == "all" {
		for _, k := range allKnownKinds() {
			r.kinds[k] = true
		}
		return true
	}
	if ks, ok := Groups[a]; ok {
		for _, k := range ks {
			r.kinds[k] = true
		}
		return true
	}
	if k, ok := KindByName(a); ok {
		r.kinds[k] = true
		return true
	}
	for _, prefix := range []Kind{KindCreate, KindAlter, KindDrop, KindSet, KindDBCC} {
		p := prefix.String() + "_"
		if strings.HasPrefix(a, p) && len(a) > len(p) {
			if r.typed == nil {
				r.typed = map[Kind][]string{}
			}
			r.typed[prefix] = append(r.typed[prefix], a[len(p):])
			return true
		}
	}
	return false
}
