package policy

import (
	"strings"
	"testing"
)

func TestGlob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true}, {"*", "abc", true}, {"a*", "abc", true}, {"a*", "bac", false},
		{"*c", "abc", true}, {"a?c", "abc", true}, {"a?c", "ac", false}, {"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false}, {"sales", "sales", true}, {"sales", "sales2", false}, {"", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+"~"+tc.s, func(t *testing.T) {
			t.Parallel()
			if got := glob(tc.pattern, tc.s); got != tc.want {
				t.Errorf("glob(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
			}
		})
	}
}

func TestPatternMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern string
		obj     Object
		want    bool
	}{
		{"*.sales.*", Object{Database: "shop", Schema: "sales", Name: "orders"}, true},
		{"*.sales.*", Object{Database: "shop", Schema: "SALES", Name: "Orders"}, true},
		{"*.sales.*", Object{Database: "shop", Schema: "hr", Name: "orders"}, false},
		{"sales.orders", Object{Database: "any", Schema: "sales", Name: "orders"}, true},
		{"orders", Object{Database: "any", Schema: "x", Name: "orders"}, true},
		{"shop.*.*", Object{Database: "other", Schema: "dbo", Name: "t"}, false},
		{"*.*.*", Object{Server: "linked", Database: "shop", Schema: "dbo", Name: "t"}, false},
		{"linked.*.*.*", Object{Server: "linked", Database: "shop", Schema: "dbo", Name: "t"}, true},
		{"[my.db].dbo.*", Object{Database: "my.db", Schema: "dbo", Name: "t"}, true},
		{"tempdb.dbo.#*", Object{Database: "tempdb", Schema: "dbo", Name: "#t", Temp: true}, true},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+"~"+tc.obj.String(), func(t *testing.T) {
			t.Parallel()
			p, err := parsePattern(tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.match(&tc.obj); got != tc.want {
				t.Errorf("%q match %+v = %v, want %v", tc.pattern, tc.obj, got, tc.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   Object
		want string
	}{
		{Object{Name: "t"}, "shop.dbo.t"},
		{Object{Schema: "s", Name: "t"}, "shop.s.t"},
		{Object{Database: "d", Name: "t"}, "d.dbo.t"},
		{Object{Name: "#t", Temp: true}, "tempdb.dbo.#t"},
		{Object{Name: "sp_who"}, "shop.sys.sp_who"},
		{Object{Name: "SysObjects"}, "shop.sys.SysObjects"},
		{Object{Server: "l", Database: "d", Schema: "s", Name: "t"}, "l.d.s.t"},
	}
	for _, tc := range tests {
		if got := tc.in.Resolve("shop", "dbo").String(); got != tc.want {
			t.Errorf("Resolve(%+v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

const multiRolePolicy = `
version: 1
default_schema: app
logins:
  - name: ann
    roles: [reader]
    default_schema: sales
  - pattern: "svc_*"
    roles: [writer]
  - app: "Excel*"
    roles: [restricted]
  - host: "10.0.*"
    roles: [auditor]
roles:
  reader:
    audit: denials
    rules:
      - allow: [read]
        objects: ["*.sales.*", "*.app.*"]
  writer:
    default: allow
    audit: writes
    redact_literals: true
    rules:
      - name: no-ddl
        deny: [ddl]
      - deny: [write]
        objects: ["*.hr.*"]
  restricted:
    rules:
      - deny: [read]
        objects: ["*.sales.secret"]
  auditor:
    audit: all
    rules:
      - allow: [create_table, drop_index]
      - allow: [exec]
        procedures: ["*.ops.*"]
`

func mustCompile(t *testing.T, src string) *Policy {
	t.Helper()
	p, err := Compile(Source{Name: "p.yaml", Data: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecide(t *testing.T) {
	t.Parallel()
	pol := mustCompile(t, multiRolePolicy)
	tests := []struct {
		name    string
		req     Request
		allowed bool
		rule    string
		msg     string // substring of the denial message
		audit   AuditLevel
	}{
		{"login default schema resolves unqualified", Request{Login: "ann", Text: "SELECT * FROM orders"}, true, "reader/1", "", AuditDenials},
		{"request default schema wins", Request{Login: "ann", DefaultSchema: "hr", Text: "SELECT * FROM orders"}, false, "reader/default", "SELECT hr.orders", AuditDenials},
		{"policy default schema", Request{Login: "svc_x", Text: "SELECT * FROM t"}, true, "writer/default", "", AuditWrites},
		{"default allow role", Request{Login: "svc_x", Text: "UPDATE dbo.t SET a = 1"}, true, "writer/default", "", AuditWrites},
		{"named deny rule", Request{Login: "svc_x", Text: "CREATE TABLE dbo.t (a int)"}, false, "writer/no-ddl", "rule writer/no-ddl, p.yaml:", AuditWrites},
		{"deny rule with objects", Request{Login: "svc_x", Text: "DELETE hr.x"}, false, "writer/2", "may not DELETE hr.x", AuditWrites},
		{"write through derived table alias hits its table", Request{Login: "svc_x", Text: "UPDATE d SET a = 0 FROM (SELECT * FROM hr.x) d"}, false, "writer/2", "may not UPDATE hr.x", AuditWrites},
		{"write through table alias hits its table", Request{Login: "svc_x", Text: "DELETE t FROM hr.x AS t"}, false, "writer/2", "may not DELETE hr.x", AuditWrites},
		{"write through cte hits its table", Request{Login: "svc_x", Text: "WITH c AS (SELECT * FROM hr.x) UPDATE c SET a = 1"}, false, "writer/2", "may not UPDATE hr.x", AuditWrites},
		{"write through chained ctes hits the table", Request{Login: "svc_x", Text: "WITH a AS (SELECT * FROM hr.x), b AS (SELECT * FROM a) DELETE b"}, false, "writer/2", "may not DELETE hr.x", AuditWrites},
		{"write through derived table over a cte", Request{Login: "svc_x", Text: "WITH a AS (SELECT * FROM hr.x) UPDATE d SET v = 1 FROM (SELECT * FROM a) d"}, false, "writer/2", "may not UPDATE hr.x", AuditWrites},
		{"unknown never allowed by default", Request{Login: "svc_x", Text: "ＳＥＬＥＣＴ 1"}, false, "writer/default", "unrecognised", AuditWrites},
		{"explicit deny in another role wins", Request{Login: "ann", AppName: "Excel 2016", Text: "SELECT * FROM sales.secret"}, false, "restricted/1", "SELECT sales.secret", AuditDenials},
		{"other role still allows", Request{Login: "ann", AppName: "Excel 2016", Text: "SELECT * FROM sales.orders"}, true, "reader/1", "", AuditDenials},
		{"typed action", Request{Login: "ann", Host: "10.0.0.5", Text: "CREATE TABLE sales.t (a int)"}, true, "auditor/1", "", AuditAll},
		{"typed action other type", Request{Login: "ann", Host: "10.0.0.5", Text: "CREATE VIEW sales.v AS SELECT 1"}, false, "reader/default", "CREATE VIEW sales.v", AuditAll},
		{"procedures pattern", Request{Login: "ann", Host: "10.0.9.9", Text: "EXEC ops.cleanup"}, true, "auditor/2", "", AuditAll},
		{"procedures pattern other schema", Request{Login: "ann", Host: "10.0.9.9", Text: "EXEC sales.cleanup"}, false, "reader/default", "EXECUTE sales.cleanup", AuditAll},
		{"no role", Request{Login: "bob", Text: "SELECT 1"}, false, "", `login "bob" has no role`, AuditDenials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.req.Kind = RequestBatch
			tc.req.Database = "shop"
			c, err := Classify(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			d := pol.Decide(tc.req, c)
			num, class, msg := d.Error()
			if d.Allowed != tc.allowed || d.RuleID != tc.rule || d.Audit != tc.audit {
				t.Fatalf("Decide = allowed %v rule %q audit %v (%s); want %v %q %v", d.Allowed, d.RuleID, d.Audit, msg, tc.allowed, tc.rule, tc.audit)
			}
			if !tc.allowed {
				if class != 14 || (num != 229 && num != 262) || !strings.Contains(msg, tc.msg) {
					t.Fatalf("Error() = %d, %d, %q; want 229/262, 14, containing %q", num, class, msg, tc.msg)
				}
			}
		})
	}
}

func TestDenyErrorNumbers(t *testing.T) {
	t.Parallel()
	pol := loadExamplePolicy(t)
	tests := []struct {
		sql string
		num int32
		msg string
	}{
		{"UPDATE sales.orders SET total = 0", 229, `policy: role "reporting" may not UPDATE sales.orders (no rule allows it; default of role reporting, reporting.yaml:`},
		{"SELECT * FROM archive.hr.x", 229, "may not SELECT archive.hr.x"},
		{"CREATE LOGIN x WITH PASSWORD = 'p'", 262, "may not CREATE LOGIN in database shop"},
		{"BEGIN TRAN", 262, "may not BEGIN TRANSACTION in database shop"},
		{"EXEC sales.p", 229, "may not EXECUTE sales.p"},
	}
	for _, tc := range tests {
		t.Run(tc.sql, func(t *testing.T) {
			t.Parallel()
			req := Request{Kind: RequestBatch, Text: tc.sql, Login: "reporter", Database: "shop"}
			c, _ := Classify(req)
			d := pol.Decide(req, c)
			num, class, msg := d.Error()
			if d.Allowed || num != tc.num || class != DenyClass || !strings.Contains(msg, tc.msg) {
				t.Fatalf("got %v %d %d %q; want deny %d 14 %q", d.Allowed, num, class, msg, tc.num, tc.msg)
			}
			if strings.Contains(msg, "'p'") {
				t.Fatal("literal leaked into the message")
			}
		})
	}
}

func TestMustAudit(t *testing.T) {
	t.Parallel()
	read := ClassifyText("SELECT 1")
	write := ClassifyText("DELETE t")
	tests := []struct {
		level   AuditLevel
		allowed bool
		c       *Classification
		want    bool
	}{
		{AuditNone, false, write, false}, {AuditDenials, false, read, true}, {AuditDenials, true, write, false},
		{AuditWrites, true, read, false}, {AuditWrites, true, write, true}, {AuditWrites, false, read, true},
		{AuditAll, true, read, true},
	}
	for _, tc := range tests {
		d := Decision{Audit: tc.level, Allowed: tc.allowed}
		if got := d.MustAudit(tc.c); got != tc.want {
			t.Errorf("level %v allowed %v: MustAudit = %v, want %v", tc.level, tc.allowed, got, tc.want)
		}
	}
}
