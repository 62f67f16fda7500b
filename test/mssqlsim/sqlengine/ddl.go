package sqlengine

import (
	"strconv"
	"strings"
)

// runDDL executes SQLite DDL statements for one T-SQL statement and records
// them for replication unless they only touch temporary objects. Outside a
// transaction they run inside a savepoint so that the record is in place
// before SQLite commits (the commit hook hands it to replication).
func (ex *execCtx) runDDL(sqls []string, temp bool) error {
	s := ex.s
	auto := s.tranCount == 0
	if auto {
		if err := execConn(s.conn, `SAVEPOINT "__ddl"`); err != nil {
			return err
		}
	}
	s.txWrote.Store(true)
	for _, q := range sqls {
		if err := execConn(s.conn, q); err != nil {
			if auto {
				_ = execConn(s.conn, `ROLLBACK TO "__ddl"`)
				_ = execConn(s.conn, `RELEASE "__ddl"`)
			}
			return err
		}
		if !temp {
			s.recordDDL(q)
		}
	}
	if auto {
		if err := execConn(s.conn, `RELEASE "__ddl"`); err != nil {
			return err
		}
	}
	if temp {
		s.tempGen++
		s.hasTemp = true
	} else {
		s.db.gen.Add(1)
	}
	return nil
}

func (s *Session) afterDDL(ref tableRef) {
	if ref.isTemp() {
		s.tempGen++
	} else {
		s.db.gen.Add(1)
	}
}

func (ex *execCtx) checkWritable(ref tableRef) error {
	if !ref.isTemp() && !ex.s.db.IsPrimary() {
		return ex.readOnlyError()
	}
	return nil
}

// tableName reads the object name at toks[i].
func (ex *execCtx) tableName(toks []token, i int) (tableRef, int, error) {
	parts, next := nameParts(toks, i)
	if len(parts) == 0 {
		near := "end of statement"
		if i < len(toks) {
			near = toks[i].text
		}
		return tableRef{}, i, &syntaxError{near: near}
	}
	if err := ex.s.ensureAttached(); err != nil {
		return tableRef{}, i, err
	}
	ref, ok := ex.s.resolveName(parts)
	if !ok || ref.schema == "temp" && !strings.HasPrefix(ref.name, "#") {
		return tableRef{}, i, &objectError{name: strings.Join(parts, ".")}
	}
	return ref, next, nil
}

// execCreateTable translates CREATE TABLE with T-SQL column types, keeping
// the declared type as the SQLite column type so results come back typed.
func (ex *execCtx) execCreateTable(st *stmt) error {
	toks := st.toks
	ref, i, err := ex.tableName(toks, 2)
	if err != nil {
		return err
	}
	if err := ex.checkWritable(ref); err != nil {
		return err
	}
	if err := ex.createTable(ref, toks, i); err != nil {
		return err
	}
	return ex.done(StatementResult{CurCmd: curCmd(skCreateTable)})
}

// createTable creates ref from the column list that starts at toks[i] ('(').
func (ex *execCtx) createTable(ref tableRef, toks []token, i int) error {
	if i >= len(toks) || !toks[i].isOp("(") {
		return &syntaxError{near: ref.tsql}
	}
	end := matching(toks, i)
	if end < 0 {
		return &syntaxError{near: "("}
	}
	var cols, cons []string
	identity, seed := "", int64(1)
	var tablePK []string
	for _, a := range splitArgs(toks, i+1, end) {
		def := toks[a[0]:a[1]]
		if len(def) == 0 {
			continue
		}
		k := 0
		if def[0].is("CONSTRAINT") && len(def) > 2 {
			k = 2
		}
		if def[k].is("PRIMARY") || def[k].is("UNIQUE") || def[k].is("FOREIGN") || def[k].is("CHECK") || def[k].is("INDEX") {
			c, pk, err := ex.tableConstraint(def[k:])
			if err != nil {
				return err
			}
			if pk != nil {
				tablePK = pk
			} else if c != "" {
				cons = append(cons, c)
			}
			continue
		}
		col, isIdent, sd, err := ex.columnDef(def, ref)
		if err != nil {
			return err
		}
		if isIdent {
			if identity != "" {
				return newUserError(2744, 16, false, "Multiple identity columns specified for table '%s'. Only one identity column per table is allowed.", ref.tsql)
			}
			identity, seed = def[0].val, sd
		}
		cols = append(cols, col)
	}
	if len(tablePK) > 0 {
		if identity != "" && len(tablePK) == 1 && strings.EqualFold(tablePK[0], quoteIdent(identity)) {
			// the identity column already is the primary key
		} else if identity != "" {
			cons = append(cons, "UNIQUE ("+strings.Join(tablePK, ", ")+")")
		} else {
			cons = append(cons, "PRIMARY KEY ("+strings.Join(tablePK, ", ")+")")
		}
	}
	q := "CREATE TABLE " + ref.sqlite() + " (" + strings.Join(append(cols, cons...), ", ") + ")"
	sqls := []string{q}
	if identity != "" && seed != 1 {
		sqls = append(sqls, "INSERT INTO "+quoteIdent(ref.schema)+".sqlite_sequence (name, seq) VALUES ("+quoteString(ref.name)+", "+strconv.FormatInt(seed-1, 10)+")")
	}
	return ex.runDDL(sqls, ref.isTemp())
}

// columnDef translates one column definition.
func (ex *execCtx) columnDef(def []token, ref tableRef) (string, bool, int64, error) {
	if !def[0].isIdent() || len(def) < 2 {
		return "", false, 0, &syntaxError{near: def[0].text}
	}
	name := quoteIdent(def[0].val)
	typ, n, err := parseTypeTokens(def[1:])
	if err != nil {
		return "", false, 0, err
	}
	k := 1 + n
	var b strings.Builder
	identity := false
	seed := int64(1)
	notNull, pk, unique := false, false, false
	var extra []string
	for k < len(def) {
		t := def[k]
		switch {
		case t.is("IDENTITY"):
			identity = true
			k++
			if k < len(def) && def[k].isOp("(") {
				j := matching(def, k)
				if j < 0 {
					return "", false, 0, &syntaxError{near: "IDENTITY"}
				}
				if v, err := strconv.ParseInt(def[k+1].text, 10, 64); err == nil {
					seed = v
				}
				k = j + 1
			}
		case t.is("NOT") && k+1 < len(def) && def[k+1].is("NULL"):
			notNull = true
			k += 2
		case t.is("NULL"):
			k++
		case t.is("PRIMARY") && k+1 < len(def) && def[k+1].is("KEY"):
			pk = true
			k += 2
		case t.is("UNIQUE"):
			unique = true
			k++
		case t.is("CLUSTERED"), t.is("NONCLUSTERED"), t.is("ROWGUIDCOL"), t.is("SPARSE"), t.is("FILESTREAM"):
			k++
		case t.is("CONSTRAINT"):
			k += 2
		case t.is("COLLATE"):
			k += 2
		case t.is("DEFAULT"), t.is("CHECK"):
			k++
			start := k
			if k < len(def) && def[k].isOp("(") {
				k = matching(def, k) + 1
			} else {
				for k < len(def) && !isColumnKeyword(def[k]) {
					k++
				}
			}
			if k <= start {
				return "", false, 0, &syntaxError{near: t.text}
			}
			tr := newTranslator(ex.s, def)
			tr.ddl = true
			if err := tr.translateRange(start, k); err != nil {
				return "", false, 0, err
			}
			if t.is("DEFAULT") {
				extra = append(extra, "DEFAULT ("+tr.b.String()+")")
			} else {
				extra = append(extra, "CHECK ("+tr.b.String()+")")
			}
		case t.is("REFERENCES"):
			k++
			_, next, err := ex.tableName(def, k)
			if err != nil {
				return "", false, 0, err
			}
			k = next
			if k < len(def) && def[k].isOp("(") {
				k = matching(def, k) + 1
			}
			for k < len(def) && (def[k].is("ON") || def[k].is("DELETE") || def[k].is("UPDATE") || def[k].is("CASCADE") || def[k].is("NO") || def[k].is("ACTION") || def[k].is("SET") || def[k].is("NULL")) {
				k++
			}
		default:
			return "", false, 0, &syntaxError{near: t.text}
		}
	}
	if identity {
		if !(typ.numericRank() >= 2 && typ.numericRank() <= 5 || typ.name == "decimal" || typ.name == "numeric") {
			return "", false, 0, newUserError(2749, 16, false, "Identity column '%s' must be of data type int, bigint, smallint, tinyint, or decimal or numeric with a scale of 0.", def[0].val)
		}
		return name + " INTEGER PRIMARY KEY AUTOINCREMENT", true, seed, nil
	}
	b.WriteString(name + " " + typ.sqliteDecl())
	if pk {
		b.WriteString(" PRIMARY KEY")
	}
	if notNull || pk {
		b.WriteString(" NOT NULL")
	}
	if unique {
		b.WriteString(" UNIQUE")
	}
	if typ.isString() || typ.name == "uniqueidentifier" {
		b.WriteString(" COLLATE NOCASE")
	}
	for _, e := range extra {
		b.WriteString(" " + e)
	}
	return b.String(), false, 0, nil
}

func isColumnKeyword(t token) bool {
	switch t.up {
	case "NOT", "NULL", "PRIMARY", "UNIQUE", "CONSTRAINT", "CHECK", "REFERENCES", "COLLATE", "IDENTITY", "DEFAULT":
		return t.kind == tkWord
	}
	return false
}

// tableConstraint translates a table-level constraint. A PRIMARY KEY
// returns its column list in pk.
func (ex *execCtx) tableConstraint(def []token) (string, []string, error) {
	k := 0
	kind := def[0].up
	for k < len(def) && !def[k].isOp("(") {
		k++
	}
	if k >= len(def) {
		return "", nil, &syntaxError{near: def[0].text}
	}
	j := matching(def, k)
	if j < 0 {
		return "", nil, &syntaxError{near: "("}
	}
	var cols []string
	for _, a := range splitArgs(def, k+1, j) {
		if a[1] > a[0] && def[a[0]].isIdent() {
			cols = append(cols, quoteIdent(def[a[0]].val))
		}
	}
	switch kind {
	case "PRIMARY":
		return "", cols, nil
	case "UNIQUE":
		return "UNIQUE (" + strings.Join(cols, ", ") + ")", nil, nil
	case "CHECK":
		tr := newTranslator(ex.s, def)
		tr.ddl = true
		if err := tr.translateRange(k+1, j); err != nil {
			return "", nil, err
		}
		return "CHECK (" + tr.b.String() + ")", nil, nil
	}
	return "", nil, nil // FOREIGN KEY and inline INDEX: accepted, not enforced
}

// execDropTable runs DROP TABLE [IF EXISTS] a[, b ...].
func (ex *execCtx) execDropTable(st *stmt) error {
	toks := st.toks
	i := 2
	ifExists := false
	if i+1 < len(toks) && toks[i].is("IF") && toks[i+1].is("EXISTS") {
		ifExists = true
		i += 2
	}
	for i < len(toks) {
		ref, next, err := ex.tableName(toks, i)
		if err != nil {
			return err
		}
		if !ifExists || ex.s.tableExists(ref) {
			if !ex.s.tableExists(ref) {
				return newUserError(3701, 11, false, "Cannot drop the table '%s', because it does not exist or you do not have permission.", ref.tsql)
			}
			if err := ex.checkWritable(ref); err != nil {
				return err
			}
			if err := ex.runDDL([]string{"DROP TABLE " + ref.sqlite()}, ref.isTemp()); err != nil {
				return err
			}
		}
		i = next
		if i < len(toks) && toks[i].isOp(",") {
			i++
		}
	}
	return ex.done(StatementResult{CurCmd: curCmd(skDropTable)})
}

// tableExists reports whether a table (or view) exists.
func (s *Session) tableExists(ref tableRef) bool {
	master := quoteIdent(ref.schema) + ".sqlite_master"
	if ref.schema == "temp" {
		master = "sqlite_temp_master"
	}
	rows, err := queryConn(s.conn, `SELECT 1 FROM `+master+` WHERE type IN ('table','view') AND name = `+quoteString(ref.name)+` COLLATE NOCASE`)
	return err == nil && len(rows) > 0
}

// selectInto translates SELECT ... INTO t FROM ...: sql is the SELECT
// without INTO; selectIntoExec creates and fills t.
func (s *Session) selectInto(toks []token, sel, into int) (*translation, error) {
	parts, next := nameParts(toks, into+1)
	if len(parts) == 0 {
		return nil, &syntaxError{near: "INTO"}
	}
	ref, ok := s.resolveName(parts)
	if !ok {
		return nil, &objectError{name: strings.Join(parts, ".")}
	}
	rest := append(append([]token{}, toks[:into]...), toks[next:]...)
	tr := newTranslator(s, rest)
	if err := tr.translateRange(0, len(rest)); err != nil {
		return nil, err
	}
	return &translation{sql: tr.b.String(), vars: tr.varl, specials: tr.specl, target: ref, into: true}, nil
}

// execOtherDDL handles CREATE INDEX/VIEW/SCHEMA/DATABASE, ALTER, TRUNCATE
// and DROP of other objects.
func (ex *execCtx) execOtherDDL(st *stmt) error {
	toks := st.toks
	s := ex.s
	switch st.kind {
	case skTruncate:
		ref, _, err := ex.tableName(toks, 2)
		if err != nil {
			return err
		}
		if err := ex.checkWritable(ref); err != nil {
			return err
		}
		return execConn(s.conn, "DELETE FROM "+ref.sqlite())
	case skCreateSchema:
		if len(toks) < 3 || !toks[2].isIdent() {
			return &syntaxError{near: "SCHEMA"}
		}
		if !s.db.IsPrimary() {
			return ex.readOnlyError()
		}
		d, _ := s.db.database(s.curDB)
		name := toks[2].val
		if err := ex.runDDL([]string{"INSERT OR IGNORE INTO " + quoteIdent(d.schema) + `."__mssqlsim_schemas" (name) VALUES (` + quoteString(name) + ")"}, false); err != nil {
			return err
		}
		s.db.addSchema(name)
		return nil
	case skCreateDatabase:
		if len(toks) < 3 || !toks[2].isIdent() {
			return &syntaxError{near: "DATABASE"}
		}
		if s.tranCount > 0 {
			return newUserError(226, 16, false, "CREATE DATABASE statement not allowed within multi-statement transaction.")
		}
		if !s.db.IsPrimary() {
			return ex.readOnlyError()
		}
		name := toks[2].val
		if _, ok := s.db.database(name); ok || strings.EqualFold(name, "tempdb") {
			return newUserError(1801, 16, false, "Database '%s' already exists. Choose a different database name.", name)
		}
		if _, err := s.db.addDatabase(name); err != nil {
			return err
		}
		if err := s.ensureAttached(); err != nil {
			return err
		}
		s.db.replMu.Lock()
		tx := CommittedTx{LSN: s.db.lastApplied + 1, CommitTime: nowUTC(), stmts: []change{{op: opCreateDatabase, sql: name}}}
		s.db.lastApplied, s.db.lastCommit = tx.LSN, tx.CommitTime
		if s.db.hook != nil {
			s.db.hook(tx)
		}
		s.db.replMu.Unlock()
		return nil
	case skCreateIndex:
		return ex.createIndex(toks)
	case skCreateView:
		k := 0
		for k < len(toks) && !toks[k].is("VIEW") {
			k++
		}
		ref, next, err := ex.tableName(toks, k+1)
		if err != nil {
			return err
		}
		if next >= len(toks) || !toks[next].is("AS") {
			return &syntaxError{near: ref.tsql}
		}
		tr := newTranslator(s, toks)
		if err := tr.translateRange(next+1, len(toks)); err != nil {
			return err
		}
		if err := ex.checkWritable(ref); err != nil {
			return err
		}
		return ex.runDDL([]string{"CREATE VIEW " + ref.sqlite() + " AS " + tr.b.String()}, ref.isTemp())
	case skAlter:
		return ex.alter(toks)
	case skDropOther:
		if len(toks) > 1 && toks[1].is("VIEW") {
			i := 2
			ifExists := i+1 < len(toks) && toks[i].is("IF") && toks[i+1].is("EXISTS")
			if ifExists {
				i += 2
			}
			ref, _, err := ex.tableName(toks, i)
			if err != nil {
				return err
			}
			ie := ""
			if ifExists {
				ie = "IF EXISTS "
			}
			return ex.runDDL([]string{"DROP VIEW " + ie + ref.sqlite()}, ref.isTemp())
		}
		if len(toks) > 1 && (toks[1].is("PROC") || toks[1].is("PROCEDURE")) {
			return ex.dropProc(toks)
		}
		if len(toks) > 1 && (toks[1].is("DATABASE") || toks[1].is("SCHEMA")) {
			return &notSupportedError{what: "DROP " + toks[1].up}
		}
		return nil // DROP INDEX/PROCEDURE/...: accepted
	}
	return nil
}

func (ex *execCtx) createIndex(toks []token) error {
	k := 1
	unique := ""
	for k < len(toks) && !toks[k].is("INDEX") {
		if toks[k].is("UNIQUE") {
			unique = "UNIQUE "
		}
		k++
	}
	if k+3 >= len(toks) || !toks[k+1].isIdent() || !toks[k+2].is("ON") {
		return &syntaxError{near: "INDEX"}
	}
	name := toks[k+1].val
	ref, next, err := ex.tableName(toks, k+3)
	if err != nil {
		return err
	}
	if next >= len(toks) || !toks[next].isOp("(") {
		return &syntaxError{near: ref.tsql}
	}
	j := matching(toks, next)
	var cols []string
	for _, a := range splitArgs(toks, next+1, j) {
		c := quoteIdent(toks[a[0]].val)
		if a[1]-a[0] > 1 && (toks[a[1]-1].is("DESC") || toks[a[1]-1].is("ASC")) {
			c += " " + toks[a[1]-1].up
		}
		cols = append(cols, c)
	}
	if err := ex.checkWritable(ref); err != nil {
		return err
	}
	q := "CREATE " + unique + "INDEX " + quoteIdent(ref.schema) + "." + quoteIdent(ref.name+"."+name) + " ON " + quoteIdent(ref.name) + " (" + strings.Join(cols, ", ") + ")"
	return ex.runDDL([]string{q}, ref.isTemp())
}

func (ex *execCtx) alter(toks []token) error {
	if len(toks) < 3 || !toks[1].is("TABLE") {
		return nil // ALTER DATABASE ... SET ...: accepted
	}
	ref, k, err := ex.tableName(toks, 2)
	if err != nil {
		return err
	}
	if err := ex.checkWritable(ref); err != nil {
		return err
	}
	switch {
	case k < len(toks) && toks[k].is("ADD") && k+1 < len(toks) && !toks[k+1].is("CONSTRAINT") && !toks[k+1].is("PRIMARY") && !toks[k+1].is("FOREIGN"):
		var sqls []string
		for _, a := range splitArgs(toks, k+1, len(toks)) {
			col, ident, _, err := ex.columnDef(toks[a[0]:a[1]], ref)
			if err != nil {
				return err
			}
			if ident {
				return &notSupportedError{what: "adding an IDENTITY column"}
			}
			sqls = append(sqls, "ALTER TABLE "+ref.sqlite()+" ADD COLUMN "+col)
		}
		return ex.runDDL(sqls, ref.isTemp())
	case k+2 < len(toks) && toks[k].is("DROP") && toks[k+1].is("COLUMN"):
		return ex.runDDL([]string{"ALTER TABLE " + ref.sqlite() + " DROP COLUMN " + quoteIdent(toks[k+2].val)}, ref.isTemp())
	}
	return nil // constraints and other options: accepted, not enforced
}
