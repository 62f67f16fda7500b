package sqlengine

import (
	"database/sql/driver"
	"io"
	"strings"
	"time"

	"github.com/tdsproxy/tdsproxy/tds"
)

// exec runs one simple statement.
func (ex *execCtx) exec(st *stmt) (flow, error) {
	switch st.kind {
	case skSelect:
		return flowNext, ex.execSelect(st)
	case skInsert, skUpdate, skDelete, skMerge:
		return flowNext, ex.execDML(st)
	case skCreateTable:
		return flowNext, ex.execCreateTable(st)
	case skDropTable:
		return flowNext, ex.execDropTable(st)
	case skCreateIndex, skCreateView, skAlter, skTruncate, skCreateSchema, skCreateDatabase, skDropOther:
		return flowNext, ex.execOtherDDL(st)
	case skCreateProc:
		return flowNext, ex.createProc(st)
	case skSetOption:
		return flowNext, ex.execSetOption(st)
	case skSetVar:
		return flowNext, ex.execSetVar(st)
	case skDeclare:
		return flowNext, ex.execDeclare(st)
	case skBeginTran, skCommit, skRollback, skSave:
		return flowNext, ex.execTran(st)
	case skUse:
		return flowNext, ex.execUse(st)
	case skExec:
		return flowNext, ex.execProcStatement(st)
	case skWaitfor:
		return flowNext, ex.execWaitfor(st)
	case skPrint:
		return flowNext, ex.execPrint(st)
	case skReturn:
		if len(st.toks) > 1 {
			v, err := ex.scalar(st, append([]token{{kind: tkWord, text: "SELECT", up: "SELECT"}}, st.toks[1:]...))
			if err != nil {
				return flowAbort, err
			}
			if i, ok := v.(int64); ok {
				ex.retVal = int32(i)
			}
		}
		return flowReturn, nil
	case skRaiserror, skThrow:
		return flowNext, ex.execRaise(st)
	case skInsertBulk:
		return flowNext, &notSupportedError{what: "INSERT BULK (bulk load)"}
	case skOther:
		return flowNext, nil
	}
	return flowNext, &syntaxError{near: st.toks[0].text}
}

// translate returns the (cached) translation of a statement's tokens.
func (ex *execCtx) translate(st *stmt, toks []token, kind string) (*translation, error) {
	s := ex.s
	key := trKey{kind: kind, db: s.curDB, sig: s.varSig(toks)}
	gen := s.db.gen.Load()
	if e := st.last.Load(); e != nil && e.key == key && e.tr.gen == gen {
		return e.tr, nil
	}
	st.mu.Lock()
	tr := st.tr[key]
	st.mu.Unlock()
	if tr != nil && tr.gen == gen {
		st.last.Store(&trEntry{key: key, tr: tr})
		return tr, nil
	}
	tr, err := s.buildTranslation(toks)
	if err != nil {
		return nil, err
	}
	tr.gen, tr.varSig = gen, key.sig
	if !tr.target.isTemp() {
		st.mu.Lock()
		if st.tr == nil {
			st.tr = map[trKey]*translation{}
		}
		st.tr[key] = tr
		st.mu.Unlock()
		st.last.Store(&trEntry{key: key, tr: tr})
	}
	return tr, nil
}

// varSig describes the types of the variables a statement references; a
// translation is valid only for the same types.
func (s *Session) varSig(toks []token) string {
	if len(s.vars) == 0 {
		return ""
	}
	var b []byte
	for _, t := range toks {
		if t.kind == tkVar {
			if v, ok := s.vars[strings.ToLower(t.val)]; ok {
				b = append(b, t.val...)
				b = append(b, ':')
				b = append(b, v.typ.decl()...)
				b = append(b, ';')
			}
		}
	}
	return string(b)
}

// buildTranslation translates a SELECT or DML statement.
func (s *Session) buildTranslation(toks []token) (*translation, error) {
	if err := s.ensureAttached(); err != nil {
		return nil, err
	}
	tr := newTranslator(s, toks)
	out := &translation{}
	// the statement's top-level SELECT (after a WITH clause)
	sel := -1
	depth := 0
	for i, t := range toks {
		if t.isOp("(") {
			depth++
		} else if t.isOp(")") {
			depth--
		} else if depth == 0 && t.kind == tkWord && (t.up == "SELECT" || t.up == "INSERT" || t.up == "UPDATE" || t.up == "DELETE" || t.up == "MERGE") {
			if t.up == "SELECT" {
				sel = i
			}
			break
		}
	}
	if sel < 0 && len(toks) > 0 {
		if out2, ok, err := s.outputClause(toks); ok || err != nil {
			return out2, err
		}
	}
	// pre-scan tables so column types resolve (FROM comes after the list)
	pre := newTranslator(s, toks)
	if err := pre.translateRange(0, len(toks)); err != nil {
		return nil, err
	}
	tr.tables = pre.tables
	if sel >= 0 {
		out.items, out.assign, out.hasStar = tr.selectItems(sel, len(toks))
		if into := findInto(toks, sel); into > 0 {
			st, err := s.selectInto(toks, sel, into)
			if err != nil {
				return nil, err
			}
			st.items, st.hasStar = out.items, out.hasStar
			return st, nil
		}
		toks = rewriteSelectList(toks, sel)
		tr.toks = toks
	}
	tr.tables = nil
	if err := tr.translateRange(0, len(toks)); err != nil {
		return nil, err
	}
	out.sql = tr.b.String()
	out.vars, out.specials = tr.varl, tr.specl
	if toks[0].kind == tkWord {
		switch toks[0].up {
		case "INSERT", "UPDATE", "DELETE", "MERGE":
			if len(tr.tables) > 0 {
				out.target = tr.tables[0]
			}
		}
	}
	if sel == 0 && !out.hasStar && out.assign == nil && len(out.items) > 0 && constSelect(toks) {
		row := make([]any, len(out.items))
		for i, it := range out.items {
			if !it.isConst {
				row = nil
				break
			}
			row[i] = it.literal
		}
		if row != nil {
			if err := out.prepareConst(row); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// constSelect reports whether a SELECT has nothing but literals in its list
// (no FROM, WHERE, TOP, variables or functions).
func constSelect(toks []token) bool {
	for _, t := range toks[1:] {
		switch t.kind {
		case tkVar, tkSysVar:
			return false
		case tkWord:
			if t.up != "AS" && t.up != "NULL" && keywords[t.up] {
				return false
			}
		case tkOp:
			if t.text != "," && t.text != "-" {
				return false
			}
		}
	}
	return true
}

// findInto returns the index of a SELECT ... INTO at depth 0, or -1.
func findInto(toks []token, sel int) int {
	depth := 0
	for i := sel + 1; i < len(toks); i++ {
		t := toks[i]
		if t.isOp("(") {
			depth++
		} else if t.isOp(")") {
			depth--
		} else if depth == 0 && t.is("INTO") {
			return i
		} else if depth == 0 && t.is("FROM") {
			return -1
		}
	}
	return -1
}

// bindArgs binds the variables and session values a translation uses.
func (ex *execCtx) bindArgs(tr *translation) ([]driver.NamedValue, error) {
	if len(tr.vars)+len(tr.specials) == 0 {
		return nil, nil
	}
	args := make([]driver.NamedValue, 0, len(tr.vars)+len(tr.specials))
	for _, name := range tr.vars {
		v, ok := ex.s.vars[name]
		if !ok {
			return nil, newUserError(ErrMustDeclare, 15, true, "Must declare the scalar variable \"%s\".", name)
		}
		args = append(args, driver.NamedValue{Name: name[1:], Value: v.val})
	}
	for _, name := range tr.specials {
		args = append(args, driver.NamedValue{Name: name, Value: ex.s.special(name)})
	}
	for i := range args {
		args[i].Ordinal = i + 1
	}
	return args, nil
}

// execSelect runs a SELECT (or an assignment SELECT @v = ...).
func (ex *execCtx) execSelect(st *stmt) error {
	tr, err := ex.translate(st, st.toks, "q")
	if err != nil {
		return err
	}
	if tr.constRow != nil {
		return ex.sendConst(tr)
	}
	if tr.target.name != "" && tr.target.schema != "temp" && !ex.s.db.IsPrimary() {
		return ex.readOnlyError()
	}
	if err := ex.s.refreshCatalogs(tr.sql); err != nil {
		return err
	}
	if tr.into && !ex.s.opts.fmtOnly {
		return ex.selectIntoExec(tr)
	}
	return ex.query(tr, true)
}

func (ex *execCtx) readOnlyError() error {
	return newUserError(ErrReadOnlyDatabase, 16, false, "Failed to update database \"%s\" because the database is read-only.", ex.s.curDB)
}

// sendConst answers a constant SELECT without SQLite.
func (ex *execCtx) sendConst(tr *translation) error {
	if err := ex.w.Columns(tr.constCols); err != nil {
		return &writerError{err}
	}
	if err := ex.w.Row(tr.constWire); err != nil {
		return &writerError{err}
	}
	ex.s.rowCount = 1
	return ex.done(StatementResult{RowCount: 1, HasCount: !ex.s.opts.nocount, CurCmd: 0xC1})
}

func (ex *execCtx) done(d StatementResult) error {
	if err := ex.w.StatementDone(d); err != nil {
		return &writerError{err}
	}
	return nil
}

// prepareTranslation binds tr's variables and prepares its SQL on the
// session's connection (statements are prepared once per session).
func (ex *execCtx) prepareTranslation(tr *translation) (driver.Stmt, []driver.NamedValue, error) {
	args, err := ex.bindArgs(tr)
	if err != nil {
		return nil, nil, err
	}
	ps, err := ex.s.prepare(ex.ctx, tr.sql)
	if err != nil {
		return nil, nil, err
	}
	return ps, args, nil
}

// queryTranslation runs tr as a row-returning statement.
func (ex *execCtx) queryTranslation(tr *translation) (driver.Rows, error) {
	ps, args, err := ex.prepareTranslation(tr)
	if err != nil {
		return nil, err
	}
	return ps.(driver.StmtQueryContext).QueryContext(ex.ctx, args)
}

// execTranslation runs tr as a statement without rows.
func (ex *execCtx) execTranslation(tr *translation) (driver.Result, error) {
	ps, args, err := ex.prepareTranslation(tr)
	if err != nil {
		return nil, err
	}
	return ps.(driver.StmtExecContext).ExecContext(ex.ctx, args)
}

// query runs a row-returning translation and streams its result.
func (ex *execCtx) query(tr *translation, send bool) error {
	rows, err := ex.queryTranslation(tr)
	if err != nil {
		return err
	}
	defer rows.Close()
	names := rows.Columns()
	n := len(names)
	types := make([]sqlType, n)
	known := make([]bool, n)
	colNames := make([]string, n)
	itemsMatch := !tr.hasStar && len(tr.items) == n
	dt, _ := rows.(driver.RowsColumnTypeDatabaseTypeName)
	for i := range n {
		colNames[i] = names[i]
		if itemsMatch {
			it := tr.items[i]
			colNames[i] = it.name
			if it.noName {
				colNames[i] = ""
			}
			if it.typed {
				types[i], known[i] = it.typ, true
				continue
			}
		}
		if dt != nil {
			types[i], known[i] = parseTypeName(dt.ColumnTypeDatabaseTypeName(i))
		}
	}
	dest := make([]driver.Value, n)
	out := make([]any, n)
	var count int64
	first := true
	assign := tr.assign != nil && len(tr.assign) == n
	for {
		err := rows.Next(dest)
		if err == io.EOF {
			break
		}
		if err != nil {
			if count > 0 || !first {
				ex.s.rowCount = count
			}
			return err
		}
		if first {
			first = false
			for i := range n {
				if !known[i] {
					types[i], known[i] = valueType(dest[i]), dest[i] != nil
				}
			}
			if send && !assign {
				if err := ex.sendColumns(colNames, types); err != nil {
					return err
				}
			}
		}
		if ex.s.opts.fmtOnly {
			break // SET FMTONLY ON: columns only
		}
		count++
		if assign {
			for i, name := range tr.assign {
				if v, ok := ex.s.vars[name]; ok {
					sv, err := toStorage(normalize(dest[i]), v.typ)
					if err != nil {
						return err
					}
					v.val = sv
				}
			}
			continue
		}
		if !send {
			continue
		}
		for i := range n {
			v, err := wireValue(dest[i], types[i])
			if err != nil {
				return err
			}
			out[i] = v
		}
		if err := ex.w.Row(out); err != nil {
			return &writerError{err}
		}
	}
	if first && send && !assign {
		for i := range n {
			if !known[i] {
				types[i] = typInt
			}
		}
		if err := ex.sendColumns(colNames, types); err != nil {
			return err
		}
	}
	ex.s.rowCount = count
	if !send {
		return nil
	}
	cmd := uint16(0xC1)
	if tr.returning != 0 {
		cmd = curCmd(tr.returning)
	}
	return ex.done(StatementResult{RowCount: count, HasCount: !ex.s.opts.nocount, CurCmd: cmd})
}

func normalize(v any) any {
	if t, ok := v.(time.Time); ok {
		return t.Format(layoutDT2)
	}
	return v
}

func (ex *execCtx) sendColumns(names []string, types []sqlType) error {
	cols := make([]tds.Column, len(names))
	for i := range names {
		cols[i] = tds.Column{Flags: tds.ColNullable, Type: types[i].typeInfo(), Name: names[i]}
	}
	if err := ex.w.Columns(cols); err != nil {
		return &writerError{err}
	}
	return nil
}

// execDML runs INSERT, UPDATE, DELETE or MERGE.
func (ex *execCtx) execDML(st *stmt) error {
	tr, err := ex.translate(st, st.toks, "q")
	if err != nil {
		return err
	}
	if ex.s.opts.fmtOnly {
		return nil // SET FMTONLY ON: metadata only, nothing runs
	}
	if !tr.target.isTemp() && !ex.s.db.IsPrimary() {
		return ex.readOnlyError()
	}
	if err := ex.s.refreshCatalogs(tr.sql); err != nil {
		return err
	}
	if tr.returning != 0 {
		return ex.query(tr, true) // OUTPUT inserted.x: rows come back
	}
	return ex.execWrite(tr, st.kind)
}

// execWrite runs a statement that returns no rows and reports its count.
func (ex *execCtx) execWrite(tr *translation, kind stmtKind) error {
	res, err := ex.execTranslation(tr)
	if err != nil {
		return err
	}
	n, _ := res.RowsAffected()
	ex.s.rowCount = n
	if kind == skInsert && n > 0 && ex.s.hasIdentity(tr.target) {
		if id, err := res.LastInsertId(); err == nil {
			ex.s.identity = id
		}
	}
	if kind == skSelect { // SELECT ... INTO
		ex.s.afterDDL(tr.target)
		return ex.done(StatementResult{RowCount: n, HasCount: !ex.s.opts.nocount, CurCmd: 0xC1})
	}
	return ex.done(StatementResult{RowCount: n, HasCount: !ex.s.opts.nocount, CurCmd: curCmd(kind)})
}

// hasIdentity reports whether a table has an IDENTITY column.
func (s *Session) hasIdentity(ref tableRef) bool {
	if ref.name == "" {
		return false
	}
	for _, c := range s.tableColumns(ref) {
		if c.pk && c.identity {
			return true
		}
	}
	return false
}

// scalar evaluates a one-row, one-column SELECT made of toks.
func (ex *execCtx) scalar(st *stmt, toks []token) (any, error) {
	if v, _, ok := literalValue(toks[1:]); ok {
		return v, nil
	}
	tr, err := ex.translate(st, toks, "scalar")
	if err != nil {
		return nil, err
	}
	if err := ex.s.refreshCatalogs(tr.sql); err != nil {
		return nil, err
	}
	rows, err := ex.queryTranslation(tr)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	dest := make([]driver.Value, len(rows.Columns()))
	if err := rows.Next(dest); err != nil {
		if err == io.EOF {
			return nil, nil
		}
		return nil, err
	}
	if len(dest) == 0 {
		return nil, nil
	}
	return normalize(dest[0]), nil
}

// prepareConst precomputes the columns and wire values of a constant SELECT.
func (tr *translation) prepareConst(row []any) error {
	cols := make([]tds.Column, len(tr.items))
	wire := make([]any, len(row))
	for i, it := range tr.items {
		name := it.name
		if it.noName {
			name = ""
		}
		cols[i] = tds.Column{Flags: tds.ColNullable, Type: it.typ.typeInfo(), Name: name}
		w, err := wireValue(row[i], it.typ)
		if err != nil {
			return err
		}
		wire[i] = w
	}
	tr.constRow, tr.constCols, tr.constWire = row, cols, wire
	return nil
}
