package sqlengine

import (
	"strings"
)

// userProcedure is a procedure made with CREATE PROCEDURE, stored in its
// database's "__mssqlsim_procs" table (so it replicates as DDL).
type userProcedure struct {
	params string // parameter declarations, as for sp_executesql
	body   string // the statements after AS
}

// procKey resolves a procedure name to its database schema and the key
// "schema.name" it is stored under.
func (s *Session) procKey(name string) (dbInfo, string, bool) {
	toks, err := lex(name)
	if err != nil {
		return dbInfo{}, "", false
	}
	parts, next := nameParts(toks, 0)
	if len(parts) == 0 || next != len(toks) || len(parts) > 3 {
		return dbInfo{}, "", false
	}
	dbName, schema := s.curDB, "dbo"
	if len(parts) >= 2 && parts[len(parts)-2] != "" {
		schema = parts[len(parts)-2]
	}
	if len(parts) == 3 && parts[0] != "" {
		dbName = parts[0]
	}
	d, ok := s.db.database(dbName)
	if !ok {
		return dbInfo{}, "", false
	}
	return d, strings.ToLower(schema + "." + parts[len(parts)-1]), true
}

// userProc looks a user procedure up.
func (s *Session) userProc(name string) (userProcedure, bool) {
	d, key, ok := s.procKey(name)
	if !ok {
		return userProcedure{}, false
	}
	rows, err := queryConn(s.conn, `SELECT params, body FROM `+quoteIdent(d.schema)+`."__mssqlsim_procs" WHERE name = `+quoteString(key))
	if err != nil || len(rows) != 1 {
		return userProcedure{}, false
	}
	p, _ := rows[0][0].(string)
	b, _ := rows[0][1].(string)
	return userProcedure{params: p, body: b}, true
}

// renderTokens turns tokens back into T-SQL text that lexes the same.
func renderTokens(toks []token) string {
	var b strings.Builder
	for i, t := range toks {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(t.text)
	}
	return b.String()
}

// createProc runs CREATE [OR ALTER] PROC[EDURE] name [params] AS body.
// Functions and triggers are not supported.
func (ex *execCtx) createProc(st *stmt) error {
	toks := st.toks
	k := 1
	replace := false
	for k < len(toks) && (toks[k].is("OR") || toks[k].is("ALTER")) {
		replace = true
		k++
	}
	if k >= len(toks) || !(toks[k].is("PROC") || toks[k].is("PROCEDURE")) {
		return &notSupportedError{what: "CREATE FUNCTION/TRIGGER"}
	}
	parts, next := nameParts(toks, k+1)
	if len(parts) == 0 {
		return &syntaxError{near: toks[k].text}
	}
	name := strings.Join(parts, ".")
	d, key, ok := ex.s.procKey(name)
	if !ok {
		return &objectError{name: name}
	}
	if !ex.s.db.IsPrimary() {
		return ex.readOnlyError()
	}
	as := -1
	depth := 0
	for i := next; i < len(toks); i++ {
		if toks[i].isOp("(") {
			depth++
		} else if toks[i].isOp(")") {
			depth--
		} else if depth == 0 && toks[i].is("AS") {
			as = i
			break
		}
	}
	if as < 0 || as+1 >= len(toks) {
		return &syntaxError{near: name}
	}
	ptoks := toks[next:as]
	if len(ptoks) >= 2 && ptoks[0].isOp("(") && ptoks[len(ptoks)-1].isOp(")") {
		ptoks = ptoks[1 : len(ptoks)-1]
	}
	for i, t := range ptoks {
		if t.is("WITH") { // WITH RECOMPILE, EXECUTE AS ...: ignored
			ptoks = ptoks[:i]
			break
		}
	}
	params := renderTokens(ptoks)
	if _, err := parseParamDecls(params); err != nil {
		return err
	}
	body := renderTokens(toks[as+1:])
	if _, err := ex.s.db.parse(body); err != nil {
		return err
	}
	if !replace {
		if _, exists := ex.s.userProc(name); exists {
			return newUserError(ErrObjectExists, 16, false, "There is already an object named '%s' in the database.", parts[len(parts)-1])
		}
	}
	q := `INSERT OR REPLACE INTO ` + quoteIdent(d.schema) + `."__mssqlsim_procs" (name, params, body) VALUES (` +
		quoteString(key) + `, ` + quoteString(params) + `, ` + quoteString(body) + `)`
	return ex.runDDL([]string{q}, false)
}

// dropProc runs DROP PROC[EDURE] [IF EXISTS] name.
func (ex *execCtx) dropProc(toks []token) error {
	k := 2
	ifExists := k+1 < len(toks) && toks[k].is("IF") && toks[k+1].is("EXISTS")
	if ifExists {
		k += 2
	}
	parts, _ := nameParts(toks, k)
	name := strings.Join(parts, ".")
	d, key, ok := ex.s.procKey(name)
	if !ok {
		return &objectError{name: name}
	}
	if _, exists := ex.s.userProc(name); !exists {
		if ifExists {
			return nil
		}
		return newUserError(3701, 11, false, "Cannot drop the procedure '%s', because it does not exist or you do not have permission.", name)
	}
	if !ex.s.db.IsPrimary() {
		return ex.readOnlyError()
	}
	return ex.runDDL([]string{`DELETE FROM ` + quoteIdent(d.schema) + `."__mssqlsim_procs" WHERE name = ` + quoteString(key)}, false)
}
