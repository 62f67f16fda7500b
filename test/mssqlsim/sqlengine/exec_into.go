package sqlengine

import (
	"database/sql/driver"
	"strings"
	"time"
)

// selectIntoExec runs SELECT ... INTO: it creates the table with the
// select list's types, then inserts the rows (so that they count and
// replicate), inside a savepoint when no transaction is open.
func (ex *execCtx) selectIntoExec(tr *translation) error {
	s := ex.s
	ps, args, err := ex.prepareTranslation(tr)
	if err != nil {
		return err
	}
	rows, err := ps.(driver.StmtQueryContext).QueryContext(ex.ctx, args)
	if err != nil {
		return err
	}
	names := rows.Columns()
	dt, _ := rows.(driver.RowsColumnTypeDatabaseTypeName)
	defs := make([]string, len(names))
	for i, n := range names {
		var typ sqlType
		ok := false
		if !tr.hasStar && len(tr.items) == len(names) && tr.items[i].typed {
			typ, ok = tr.items[i].typ, true
		} else if dt != nil {
			typ, ok = parseTypeName(dt.ColumnTypeDatabaseTypeName(i))
		}
		defs[i] = quoteIdent(n)
		if ok {
			defs[i] += " " + typ.sqliteDecl()
			if typ.isString() {
				defs[i] += " COLLATE NOCASE"
			}
		}
	}
	rows.Close()
	create := "CREATE TABLE " + tr.target.sqlite() + " (" + strings.Join(defs, ", ") + ")"
	auto := s.tranCount == 0
	if auto {
		if err := execConn(s.conn, `SAVEPOINT "__into"`); err != nil {
			return err
		}
	}
	fail := func(err error) error {
		if auto {
			_ = execConn(s.conn, `ROLLBACK TO "__into"`)
			_ = execConn(s.conn, `RELEASE "__into"`)
		}
		return err
	}
	s.txWrote.Store(true)
	if err := execConn(s.conn, create); err != nil {
		return fail(err)
	}
	if !tr.target.isTemp() {
		s.recordDDL(create)
	}
	res, err := s.conn.ExecContext(ex.ctx, "INSERT INTO "+tr.target.sqlite()+" "+tr.sql, args)
	if err != nil {
		return fail(err)
	}
	if auto {
		if err := execConn(s.conn, `RELEASE "__into"`); err != nil {
			return err
		}
	}
	n, _ := res.RowsAffected()
	s.rowCount = n
	s.afterDDL(tr.target)
	s.hasTemp = s.hasTemp || tr.target.isTemp()
	return ex.done(StatementResult{RowCount: n, HasCount: !s.opts.nocount, CurCmd: 0xC1})
}

// special returns a session value bound as @__name.
func (s *Session) special(name string) any {
	now := time.Now()
	switch name {
	case "__spid":
		return int64(s.spid)
	case "__trancount":
		return int64(s.tranCount)
	case "__rowcount":
		return s.rowCount
	case "__identity":
		return s.identity
	case "__error":
		return int64(s.lastErr)
	case "__options":
		return int64(5496)
	case "__language":
		return s.opts.language
	case "__datefirst":
		return s.opts.dateFirst
	case "__lock_timeout":
		return s.opts.lockTimeout
	case "__textsize":
		return s.opts.textSize
	case "__fetch_status":
		return int64(-1)
	case "__max_connections":
		return int64(32767)
	case "__now_dt":
		return now.Format(layoutDateTime)
	case "__utcnow_dt":
		return now.UTC().Format(layoutDateTime)
	case "__now_dt2":
		return now.Format(layoutDT2)
	case "__utcnow_dt2":
		return now.UTC().Format(layoutDT2)
	case "__now_dto":
		return now.Format(layoutDTO)
	case "__login":
		return s.login
	case "__user":
		return "dbo"
	case "__db_name":
		return s.curDB
	case "__db_id":
		if d, ok := s.db.database(s.curDB); ok {
			return int64(d.id)
		}
	case "__xact_state":
		if s.tranCount > 0 {
			return int64(1)
		}
		return int64(0)
	case "__host", "__app", "__error_procedure":
		return ""
	case "__error_message", "__error_number", "__error_severity", "__error_state", "__error_line":
		e := s.errInfo
		if e == nil {
			return nil
		}
		switch name {
		case "__error_message":
			return e.Message
		case "__error_number":
			return int64(e.Number)
		case "__error_severity":
			return int64(e.Class)
		case "__error_state":
			return int64(e.State)
		}
		return int64(e.Line)
	}
	return int64(0)
}
