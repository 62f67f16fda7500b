// Package policycli implements the "tdsproxy policy check" and "tdsproxy
// policy explain" commands as plain functions; cmd/tdsproxy wires them into
// cobra.
package policycli

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/tdsproxy/tdsproxy/policy"
)

// Check validates policy files. It prints every problem with file:line and
// a hint to stderr and a summary to stdout; it returns 0 when the policy is
// valid and 1 when it is not.
func Check(files []string, stdout, stderr io.Writer) int {
	if len(files) == 0 {
		fmt.Fprintln(stderr, "policy check: no policy files given (usage: policy check FILE...)")
		return 1
	}
	pol, err := policy.LoadFiles(files...)
	if err != nil {
		printLoadError(stderr, err)
		return 1
	}
	used := map[string]bool{}
	for _, l := range pol.Logins {
		for _, r := range l.Roles {
			used[r] = true
		}
	}
	var unused []string
	for name := range pol.Roles {
		if !used[name] {
			unused = append(unused, name)
		}
	}
	sort.Strings(unused)
	for _, name := range unused {
		r := pol.Roles[name]
		fmt.Fprintf(stderr, "%s: warning: role %q is not given to any login\n", r.Pos, name)
	}
	fmt.Fprintf(stdout, "OK: %d file(s), %d role(s), %d login entr%s\n",
		len(files), len(pol.Roles), len(pol.Logins), plural(len(pol.Logins), "y", "ies"))
	return 0
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func printLoadError(w io.Writer, err error) {
	var le *policy.LoadError
	if errors.As(err, &le) {
		for _, p := range le.Problems {
			fmt.Fprintln(w, p.String())
		}
		fmt.Fprintf(w, "%d problem(s) found\n", len(le.Problems))
		return
	}
	fmt.Fprintln(w, err)
}

// ExplainArgs are the arguments of "policy explain".
type ExplainArgs struct {
	Policy   []string // --policy FILE (repeatable)
	User     string   // --user LOGIN
	Database string   // --database DB
	App      string   // --app NAME
	Host     string   // --host H
	SQL      string   // --sql TEXT
}

// Explain classifies a SQL batch and decides it for a login, printing each
// statement's classification and the rule (file:line) behind every verdict.
// It returns 0 when the batch would be allowed, 1 when denied, 2 on a usage
// error or an invalid policy.
func Explain(args ExplainArgs, stdout, stderr io.Writer) int {
	var missing []string
	if len(args.Policy) == 0 {
		missing = append(missing, "--policy FILE")
	}
	if args.User == "" {
		missing = append(missing, "--user LOGIN")
	}
	if strings.TrimSpace(args.SQL) == "" {
		missing = append(missing, "--sql TEXT")
	}
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "policy explain: missing %s\nusage: policy explain --policy FILE... --user LOGIN [--database DB] [--app NAME] [--host H] --sql TEXT\n",
			strings.Join(missing, ", "))
		return 2
	}
	pol, err := policy.LoadFiles(args.Policy...)
	if err != nil {
		printLoadError(stderr, err)
		return 2
	}
	req := policy.Request{Kind: policy.RequestBatch, Text: args.SQL, Login: args.User,
		AppName: args.App, Host: args.Host, Database: args.Database}
	cls, err := policy.Classify(req)
	if err != nil {
		fmt.Fprintf(stderr, "policy explain: %v\n", err)
		return 2
	}
	d, steps := pol.Explain(req, cls)
	roles := "none"
	if len(d.Roles) > 0 {
		roles = strings.Join(d.Roles, ", ")
	}
	fmt.Fprintf(stdout, "login %s: roles %s; default schema %s; database %s\n", args.User, roles, d.Schema, orDash(args.Database))
	for i := range cls.Statements {
		st := &cls.Statements[i]
		fmt.Fprintf(stdout, "statement %d%s: %s\n", i+1, dynamicNote(st), snippet(args.SQL, st))
		fmt.Fprintf(stdout, "  kind: %s\n", kindText(st))
		for _, s := range steps {
			if s.Statement != i {
				continue
			}
			verdict := "DENY "
			if s.Allowed {
				verdict = "ALLOW"
			}
			what := s.Access.Action.String()
			if s.Object != nil {
				what += " " + s.Object.String()
			}
			if s.Access.Reason != "" {
				what += " (" + s.Access.Reason + ")"
			}
			fmt.Fprintf(stdout, "  %s %s  [%s, %s]\n", verdict, what, s.RuleID, s.Pos)
		}
	}
	if len(cls.Statements) == 0 {
		fmt.Fprintln(stdout, "(no statements)")
	}
	if d.Allowed {
		fmt.Fprintln(stdout, "decision: ALLOW")
		return 0
	}
	num, class, msg := d.Error()
	fmt.Fprintf(stdout, "decision: DENY (error %d, class %d)\n  %s\n", num, class, msg)
	return 1
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func dynamicNote(st *policy.Statement) string {
	switch {
	case st.Dynamic:
		return " (dynamic SQL)"
	case st.Deferred:
		return " (module body: runs later, checked now)"
	}
	return ""
}

func kindText(st *policy.Statement) string {
	s := st.Kind.String()
	if st.Type != "" {
		s += " (" + st.Type + ")"
	}
	if st.Proc != nil {
		s += " of " + st.Proc.String()
	}
	return s
}

// snippet returns the statement's text on one line, shortened.
func snippet(src string, st *policy.Statement) string {
	if st.Start < 0 || st.End > len(src) || st.Start > st.End {
		return ""
	}
	s := strings.Join(strings.Fields(src[st.Start:st.End]), " ")
	if len(s) > 100 {
		s = s[:97] + "..."
	}
	return s
}
