package policycli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const example = "../../examples/policy/reporting.yaml"

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", "version: 1\nlogins:\n  - name: a\n    roles: [r]\nroles:\n  r:\n    rules:\n      - allow: [read]\n")
	unused := writeFile(t, dir, "unused.yaml", "roles:\n  lonely:\n    default: deny\n")
	tests := []struct {
		name    string
		files   []string
		content string // when set, written to bad.yaml and checked alone
		code    int
		stderr  []string // substrings expected on stderr
		stdout  string
	}{
		{name: "example is valid", files: []string{example}, code: 0, stdout: "OK: 1 file(s), 3 role(s), 3 login entries"},
		{name: "minimal", files: []string{good}, code: 0, stdout: "OK"},
		{name: "examples together", files: []string{example, "../../examples/policy/restrictions.yaml"}, code: 0, stdout: "OK: 2 file(s), 5 role(s), 6 login entries"},
		{name: "unused role warns", files: []string{good, unused}, code: 0, stderr: []string{"unused.yaml:2: warning: role \"lonely\""}},
		{name: "no files", code: 1, stderr: []string{"no policy files"}},
		{name: "missing file", files: []string{filepath.Join(dir, "nope.yaml")}, code: 1, stderr: []string{"nope.yaml: cannot read"}},
		{name: "yaml syntax", content: "roles:\n  r:\n    rules: [\n", code: 1, stderr: []string{"bad.yaml:", "YAML syntax"}},
		{name: "unknown top key", content: "rolez: {}\n", code: 1, stderr: []string{"bad.yaml:1:1: unknown key \"rolez\"", "did you mean \"roles\"?"}},
		{name: "unknown action", content: "roles:\n  r:\n    rules:\n      - allow: [reed]\n", code: 1,
			stderr: []string{"bad.yaml:4:16: unknown action \"reed\"", "did you mean \"read\"?"}},
		{name: "both allow and deny", content: "roles:\n  r:\n    rules:\n      - allow: [read]\n        deny: [write]\n", code: 1,
			stderr: []string{"bad.yaml:4:9: a rule needs exactly one of allow: or deny:", "hint: split it"}},
		{name: "undefined role", content: "logins:\n  - name: x\n    roles: [ghost]\n", code: 1,
			stderr: []string{"bad.yaml:2: login entry refers to undefined role \"ghost\""}},
		{name: "bad audit level", content: "roles:\n  r:\n    audit: everything\n", code: 1, stderr: []string{"bad.yaml:3:12: unknown audit level \"everything\""}},
		{name: "bad default", content: "roles:\n  r:\n    default: maybe\n", code: 1, stderr: []string{"bad.yaml:3:14: default must be allow or deny"}},
		{name: "bad pattern", content: "roles:\n  r:\n    rules:\n      - allow: [read]\n        objects: [\"a..b\"]\n", code: 1,
			stderr: []string{"bad.yaml:5:18: bad objects pattern", "empty part"}},
		{name: "too many parts", content: "roles:\n  r:\n    rules:\n      - allow: [read]\n        objects: [a.b.c.d.e]\n", code: 1,
			stderr: []string{"at most server.database.schema.object"}},
		{name: "login matches nothing", content: "logins:\n  - roles: [r]\nroles:\n  r: {}\n", code: 1, stderr: []string{"bad.yaml:2:5: login entry matches nothing"}},
		{name: "unsupported version", content: "version: 2\n", code: 1, stderr: []string{"bad.yaml:1:10: unsupported version \"2\""}},
		{name: "second yaml document", content: "roles: {}\n---\nroles: {}\n", code: 1, stderr: []string{"more than one YAML document"}},
		{name: "empty file", content: "# only a comment\n", code: 1, stderr: []string{"bad.yaml:1: empty policy file"}},
		{name: "several problems all reported", content: "roles:\n  r:\n    audit: x\n    rules:\n      - allow: [nope]\n", code: 1,
			stderr: []string{"bad.yaml:3:", "bad.yaml:5:", "2 problem(s) found"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			files := tc.files
			if tc.content != "" {
				files = []string{writeFile(t, t.TempDir(), "bad.yaml", tc.content)}
			}
			var out, errb bytes.Buffer
			code := Check(files, &out, &errb)
			if code != tc.code {
				t.Fatalf("Check = %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out.String(), errb.String())
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errb.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, errb.String())
				}
			}
			if !strings.Contains(out.String(), tc.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdout, out.String())
			}
		})
	}
}

func TestCheckDuplicateRoleAcrossFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := writeFile(t, dir, "a.yaml", "roles:\n  r: {}\n")
	b := writeFile(t, dir, "b.yaml", "\nroles:\n  r: {}\n")
	var out, errb bytes.Buffer
	if code := Check([]string{a, b}, &out, &errb); code != 1 {
		t.Fatalf("Check = %d, want 1", code)
	}
	if !strings.Contains(errb.String(), "b.yaml:3:3: role \"r\" is defined twice (also at a.yaml:2)") {
		t.Fatalf("stderr: %s", errb.String())
	}
}

func TestExplain(t *testing.T) {
	t.Parallel()
	bad := writeFile(t, t.TempDir(), "bad.yaml", "roles: [\n")
	tests := []struct {
		name   string
		args   ExplainArgs
		code   int
		stdout []string
		stderr string
	}{
		{"allowed select", ExplainArgs{Policy: []string{example}, User: "reporter", Database: "shop",
			SQL: "SELECT o.id FROM sales.orders o JOIN dbo.customers c ON c.id = o.cid"}, 0,
			[]string{"login reporter: roles reporting; default schema dbo; database shop",
				"statement 1: SELECT o.id FROM sales.orders o JOIN dbo.customers c ON c.id = o.cid",
				"kind: select", "ALLOW select shop.sales.orders  [reporting/read-dbo-sales, reporting.yaml:",
				"ALLOW select shop.dbo.customers", "decision: ALLOW"}, ""},
		{"denied update", ExplainArgs{Policy: []string{example}, User: "reporter", Database: "shop",
			SQL: "SELECT 1 UPDATE sales.orders SET total = 0"}, 1,
			[]string{"statement 2: UPDATE sales.orders SET total = 0", "kind: update",
				"DENY  update shop.sales.orders  [reporting/default, reporting.yaml:",
				"decision: DENY (error 229, class 14)",
				`policy: role "reporting" may not UPDATE sales.orders (no rule allows it; default of role reporting, reporting.yaml:`}, ""},
		{"dynamic sql shown", ExplainArgs{Policy: []string{example}, User: "app", SQL: "EXEC('DELETE FROM hr.x')"}, 1,
			[]string{"statement 2 (dynamic SQL): EXEC('DELETE FROM hr.x')", "kind: delete", "decision: DENY (error 262, class 14)"}, ""},
		{"exec of procedure", ExplainArgs{Policy: []string{example}, User: "app", SQL: "EXEC sales.place_order 1"}, 0,
			[]string{"kind: exec of sales.place_order", "ALLOW exec sales.place_order  [app/exec-sales"}, ""},
		{"module body", ExplainArgs{Policy: []string{example}, User: "app", SQL: "CREATE VIEW dbo.v AS SELECT * FROM hr.x"}, 1,
			[]string{"statement 2 (module body: runs later, checked now): SELECT * FROM hr.x", "DENY  select hr.x"}, ""},
		{"unknown login", ExplainArgs{Policy: []string{example}, User: "mallory", SQL: "SELECT 1"}, 1,
			[]string{"roles none", `login "mallory" has no role`}, ""},
		{"restriction by app name", ExplainArgs{Policy: []string{example, "../../examples/policy/restrictions.yaml"}, User: "reporter", App: "Microsoft Office Excel",
			SQL: "SELECT * FROM dbo.customers"}, 1, []string{"roles reporting, no-customer-data", "DENY  select dbo.customers  [no-customer-data/1, restrictions.yaml:"}, ""},
		{"restriction by host", ExplainArgs{Policy: []string{example, "../../examples/policy/restrictions.yaml"}, User: "svc_orders", Host: "laptop-7",
			SQL: "SELECT * FROM sales.orders; DELETE sales.orders"}, 1, []string{"roles app, read-only", "ALLOW select sales.orders", "DENY  delete sales.orders  [read-only/1"}, ""},
		{"app and host flags", ExplainArgs{Policy: []string{example}, User: "dba", App: "sqlcmd", Host: "h1", SQL: "DROP TABLE hr.x"}, 0,
			[]string{"ALLOW drop hr.x", "decision: ALLOW"}, ""},
		{"missing arguments", ExplainArgs{}, 2, nil, "missing --policy FILE, --user LOGIN, --sql TEXT"},
		{"invalid policy", ExplainArgs{Policy: []string{bad}, User: "x", SQL: "SELECT 1"}, 2, nil, "YAML syntax"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			code := Explain(tc.args, &out, &errb)
			if code != tc.code {
				t.Fatalf("Explain = %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out.String(), errb.String())
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.String())
				}
			}
			if !strings.Contains(errb.String(), tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, errb.String())
			}
		})
	}
}
