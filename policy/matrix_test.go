package policy

import (
	"fmt"
	"testing"
)

// TestInjectionMatrix glues forbidden statements before and after every
// legitimate reporting query with every kind of separator T-SQL accepts (or
// that a lexer might get wrong); every combination must be denied. It guards
// the statement splitter as a whole rather than case by case.
func TestInjectionMatrix(t *testing.T) {
	t.Parallel()
	pol := loadExamplePolicy(t)
	payloads := []string{
		"DELETE sales.orders", "UPDATE dbo.c SET a = 1", "SELECT * FROM hr.salaries", "EXEC sales.p",
		"DROP TABLE dbo.x", "SELECT * INTO dbo.x FROM dbo.c", "EXEC('SELECT 1')", "BEGIN TRAN",
		"INSERT dbo.c VALUES (1)", "TRUNCATE TABLE dbo.c", "GRANT SELECT ON dbo.c TO public",
		"WAITFOR DELAY '0:0:1'", "ＳＥＬＥＣＴ 1", "MERGE dbo.c USING dbo.d ON 1 = 1 WHEN MATCHED THEN DELETE;",
		"EXECUTE AS LOGIN = 'sa'", "SELECT * FROM (hr.s x JOIN dbo.c y ON 1 = 1)",
	}
	joiners := []string{" ", "\n", ";", "/**/", "--x\n", "\r\n", "\t", ";\n", "\r", " /* a /* b */ c */ "}
	var sqls []string
	for _, c := range loadCases(t, "testdata/reporter_allowed.yaml") {
		if c.SQL != nil && (c.Login == "" || c.Login == "reporter") {
			sqls = append(sqls, *c.SQL)
		}
	}
	n := 0
	for _, a := range sqls {
		toks := Lex(a)
		endsInLineComment := len(toks) > 0 && toks[len(toks)-1].Kind == TokLineComment
		for _, p := range payloads {
			for _, j := range joiners {
				batches := []string{p + j + a}
				if !endsInLineComment {
					batches = append(batches, a+j+p)
				}
				for _, sql := range batches {
					n++
					req := Request{Kind: RequestBatch, Text: sql, Login: "reporter", Database: "shop"}
					c := ClassifyText(sql)
					if d := pol.Decide(req, c); d.Allowed {
						t.Errorf("allowed: %q\n%s", sql, c.Describe())
					}
				}
			}
		}
	}
	if n < 10000 {
		t.Fatalf("only %d combinations", n)
	}
	// Payloads inside the control flow a reporter may use.
	wrappers := []string{
		"IF 1=1 %s", "IF 1=1 BEGIN %s END", "WHILE 1=0 BEGIN %s END", "IF 1=0 SELECT 1 ELSE %s",
		"BEGIN TRY %s END TRY BEGIN CATCH SELECT 1 END CATCH", "BEGIN TRY SELECT 1 END TRY BEGIN CATCH %s END CATCH",
		"IF EXISTS (SELECT 1 FROM sales.orders) %s ELSE SELECT 1", "DECLARE @x int; %s", "SET NOCOUNT ON %s",
		"WITH c AS (SELECT 1 AS a) SELECT * FROM c %s", "SELECT CASE WHEN 1=1 THEN 1 ELSE 0 END %s",
		"DECLARE c CURSOR FOR SELECT 1 FOR READ ONLY %s", "BEGIN BEGIN %s END END",
	}
	for _, w := range wrappers {
		for _, p := range payloads {
			sql := fmt.Sprintf(w, p)
			req := Request{Kind: RequestBatch, Text: sql, Login: "reporter", Database: "shop"}
			c := ClassifyText(sql)
			if d := pol.Decide(req, c); d.Allowed {
				t.Errorf("allowed: %q\n%s", sql, c.Describe())
			}
		}
	}
}
