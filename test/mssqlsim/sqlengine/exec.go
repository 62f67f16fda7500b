package sqlengine

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/tdsproxy/tdsproxy/tds"
)

// flow is what a statement tells the statement list it runs in.
type flow uint8

const (
	flowNext     flow = iota
	flowAbort         // batch-aborting error already reported
	flowReturn        // RETURN
	flowBreak         // BREAK
	flowContinue      // CONTINUE
)

// execCtx is the state of one request (batch or RPC).
type execCtx struct {
	s       *Session
	ctx     context.Context
	w       ResultWriter
	inTry   int
	tryErr  *tds.ServerError
	retVal  int32
	nesting int
}

// writerError wraps an error returned by the ResultWriter: it stops the
// request and is returned as is.
type writerError struct{ err error }

func (e *writerError) Error() string { return e.err.Error() }
func (e *writerError) Unwrap() error { return e.err }

// ExecBatch runs one T-SQL batch, writing its results to w as SQL Server
// would. Errors SQL Server reports to the client (syntax, missing objects,
// constraint violations, ...) are written to w as ERROR tokens and
// ExecBatch returns nil; it returns an error only when ctx is cancelled
// (ctx.Err(), e.g. an Attention), when w fails, or when the session is
// closed. params are the parameters of a parameterised batch (rarely used:
// sp_executesql arrives through ExecRPC).
func (s *Session) ExecBatch(ctx context.Context, sql string, params []Param, w ResultWriter) (err error) {
	if s.closed.Load() {
		return errClosed
	}
	defer recoverPanic(&err)
	defer s.dropTableVars()
	if len(s.vars) > 0 {
		s.vars = map[string]*variable{}
	}
	for _, p := range params {
		t := typeFromTypeInfo(p.Type)
		v, err := bindValue(p.Value, t)
		if err != nil {
			return s.reportError(w, err)
		}
		s.vars[strings.ToLower(p.Name)] = &variable{typ: t, val: v}
	}
	if err := s.syncTran(w); err != nil {
		return fmt.Errorf("sqlengine: writing results: %w", err)
	}
	stmts, err := s.db.parse(sql)
	if err != nil {
		return s.reportError(w, err)
	}
	ex := &execCtx{s: s, ctx: ctx, w: w}
	_, err = ex.runList(stmts)
	return ex.finish(err)
}

// recoverPanic turns a panic in the engine into an error, so that one bad
// request cannot take the simulator down; the session should be closed.
func recoverPanic(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("sqlengine: internal error (the session should be closed): panic: %v\n%s", r, debug.Stack())
	}
}

// finish turns the outcome of a request into ExecBatch's result.
func (ex *execCtx) finish(err error) error {
	if err == nil {
		return nil
	}
	var we *writerError
	if errors.As(err, &we) {
		return fmt.Errorf("sqlengine: writing results: %w", we.err)
	}
	if ex.ctx.Err() != nil {
		return ex.ctx.Err()
	}
	return err
}

// reportError writes an error that prevented a batch from starting.
func (s *Session) reportError(w ResultWriter, err error) error {
	se, _ := s.toServerError(err)
	if werr := w.Error(se); werr != nil {
		return fmt.Errorf("sqlengine: writing results: %w", werr)
	}
	if werr := w.StatementDone(StatementResult{Error: true}); werr != nil {
		return fmt.Errorf("sqlengine: writing results: %w", werr)
	}
	return nil
}

// runList runs statements in order.
func (ex *execCtx) runList(stmts []*stmt) (flow, error) {
	for _, st := range stmts {
		if err := ex.ctx.Err(); err != nil {
			return flowAbort, err
		}
		f, err := ex.run(st)
		if err != nil || f != flowNext {
			return f, err
		}
	}
	return flowNext, nil
}

// run runs one statement, reporting SQL errors to the client and deciding
// whether the batch goes on.
func (ex *execCtx) run(st *stmt) (flow, error) {
	switch st.kind {
	case skIf, skWhile:
		return ex.runIf(st)
	case skBlock:
		return ex.runList(st.body)
	case skTry:
		return ex.runTry(st)
	case skBreak:
		return flowBreak, nil
	case skContinue:
		return flowContinue, nil
	}
	if ex.s.opts.implicitTx && ex.s.tranCount == 0 && startsImplicitTran(st) {
		if err := ex.s.beginTran(); err != nil {
			return flowAbort, err
		}
		if werr := ex.w.EnvChange(tds.EnvBeginTran(ex.s.txDesc)); werr != nil {
			return flowAbort, &writerError{werr}
		}
	}
	mark := ex.s.markStatement()
	f, err := ex.exec(st)
	if err != nil && ex.ctx.Err() == nil && ex.s.restartReadTran(err) {
		ex.s.dropChangesFrom(mark)
		f, err = ex.exec(st)
	}
	if err == nil {
		return f, nil
	}
	var we *writerError
	if errors.As(err, &we) || ex.ctx.Err() != nil {
		return flowAbort, err
	}
	ex.s.dropChangesFrom(mark)
	if serr := ex.s.syncTran(ex.w); serr != nil {
		return flowAbort, serr
	}
	se, abort := ex.s.toServerError(err)
	if se.Number == 0 {
		// An engine failure: tell the client rather than dropping the
		// connection, and stop the batch.
		se = internalError(ex.s, err)
		abort = true
	}
	ex.s.lastErr = se.Number
	if ex.inTry > 0 {
		ex.tryErr = &se
		return flowAbort, nil
	}
	if ex.s.opts.xactAbort && ex.s.tranCount > 0 {
		if _, rerr := ex.s.rollbackTran(""); rerr == nil {
			abort = true
			if werr := ex.w.EnvChange(tds.EnvRollbackTran(ex.s.txDesc)); werr != nil {
				return flowAbort, &writerError{werr}
			}
		}
	}
	if werr := ex.w.Error(se); werr != nil {
		return flowAbort, &writerError{werr}
	}
	if werr := ex.w.StatementDone(StatementResult{Error: true, CurCmd: curCmd(st.kind)}); werr != nil {
		return flowAbort, &writerError{werr}
	}
	if abort {
		return flowAbort, nil
	}
	return flowNext, nil
}

func (ex *execCtx) runIf(st *stmt) (flow, error) {
	for iter := 0; ; iter++ {
		ok, err := ex.condition(st)
		if err != nil {
			var we *writerError
			if errors.As(err, &we) || ex.ctx.Err() != nil {
				return flowAbort, err
			}
			se, _ := ex.s.toServerError(err)
			if se.Number == 0 {
				se = internalError(ex.s, err)
			}
			if ex.inTry > 0 {
				ex.tryErr = &se
				return flowAbort, nil
			}
			if werr := ex.w.Error(se); werr != nil {
				return flowAbort, &writerError{werr}
			}
			return flowAbort, nil
		}
		if st.kind == skIf {
			if ok {
				return ex.run(st.then)
			}
			if st.els != nil {
				return ex.run(st.els)
			}
			return flowNext, nil
		}
		if !ok {
			return flowNext, nil
		}
		f, err := ex.run(st.then)
		if err != nil {
			return f, err
		}
		switch f {
		case flowBreak:
			return flowNext, nil
		case flowAbort, flowReturn:
			return f, nil
		}
	}
}

func (ex *execCtx) condition(st *stmt) (bool, error) {
	toks := make([]token, 0, len(st.cond)+8)
	toks = append(toks, token{kind: tkWord, text: "SELECT", up: "SELECT"}, token{kind: tkWord, text: "CASE", up: "CASE"}, token{kind: tkWord, text: "WHEN", up: "WHEN"})
	toks = append(toks, st.cond...)
	toks = append(toks, token{kind: tkWord, text: "THEN", up: "THEN"}, token{kind: tkNumber, text: "1"},
		token{kind: tkWord, text: "ELSE", up: "ELSE"}, token{kind: tkNumber, text: "0"}, token{kind: tkWord, text: "END", up: "END"})
	v, err := ex.scalar(st, toks)
	if err != nil {
		return false, err
	}
	i, _ := v.(int64)
	return i == 1, nil
}

func (ex *execCtx) runTry(st *stmt) (flow, error) {
	ex.inTry++
	ex.tryErr = nil
	f, err := ex.runList(st.body)
	ex.inTry--
	if err != nil {
		return f, err
	}
	if ex.tryErr == nil {
		return f, nil
	}
	saved := ex.s.errInfo
	ex.s.errInfo = ex.tryErr
	ex.tryErr = nil
	f, err = ex.runList(st.catch)
	ex.s.errInfo = saved
	return f, err
}

// startsImplicitTran reports whether a statement opens a transaction under
// SET IMPLICIT_TRANSACTIONS ON (SQL Server: SELECT from a table, DML, DDL).
func startsImplicitTran(st *stmt) bool {
	switch st.kind {
	case skInsert, skUpdate, skDelete, skMerge, skCreateTable, skCreateIndex, skCreateView, skCreateProc,
		skDropTable, skDropOther, skAlter, skTruncate:
		return true
	case skSelect:
		for _, t := range st.toks {
			if t.is("FROM") {
				return true
			}
		}
	}
	return false
}

// curCmd is the DONE CurCmd of a statement kind.
func curCmd(k stmtKind) uint16 {
	switch k {
	case skSelect:
		return 0xC1
	case skInsert:
		return 0xC3
	case skDelete:
		return 0xC4
	case skUpdate:
		return 0xC5
	case skCreateTable:
		return 0xC6
	case skDropTable:
		return 0xC7
	case skBeginTran:
		return 0xD4
	case skCommit:
		return 0xD5
	case skRollback:
		return 0xD2
	case skSave:
		return 0xD3
	case skExec:
		return 0xE0
	case skTruncate:
		return 0x01E8
	}
	return 0
}

var (
	reTSQL       = regexp.MustCompile(`tsql#(\d+)#(.*)`)
	reNoTable    = regexp.MustCompile(`no such table: (\S+)`)
	reNoColumn   = regexp.MustCompile(`no such column: (\S+)`)
	reUnique     = regexp.MustCompile(`UNIQUE constraint failed: ([^ ,]+)`)
	reNotNull    = regexp.MustCompile(`NOT NULL constraint failed: (\S+)`)
	reExists     = regexp.MustCompile(`(?:table|view|index) (\S+) already exists`)
	reNear       = regexp.MustCompile(`near "([^"]*)": syntax error`)
	reNoFunction = regexp.MustCompile(`no such function: (\S+)`)
)

// displayName turns a SQLite name (main.dbo.t, "dbo.t") back into T-SQL.
func displayName(s string) string {
	s = strings.Trim(s, `"`)
	if i := strings.Index(s, "."); i >= 0 && strings.Count(s, ".") >= 2 {
		s = s[i+1:]
	}
	return strings.TrimPrefix(s, "temp.")
}

// toServerError maps an error to SQL Server's number, class and message;
// abort reports whether SQL Server would abort the batch. Number 0 means
// an internal failure, not a SQL error.
func (s *Session) toServerError(err error) (tds.ServerError, bool) {
	se := tds.ServerError{Class: 16, State: 1, ServerName: s.db.opts.ServerName, Line: 1}
	var (
		syn  *syntaxError
		obj  *objectError
		ns   *notSupportedError
		te   *typeError
		sqle *SQLError
		ce   *conversionError
		ue   *userError
	)
	switch {
	case errors.As(err, &sqle):
		e := sqle.Err
		e.ServerName = s.db.opts.ServerName
		return e, false
	case errors.As(err, &ue):
		e := ue.err
		e.ServerName = s.db.opts.ServerName
		return e, ue.abort
	case errors.As(err, &syn):
		se.Number, se.Class, se.Message = ErrSyntax, 15, syn.Error()
		return se, true
	case errors.As(err, &obj):
		se.Number, se.Message = ErrInvalidObject, obj.Error()
		return se, true
	case errors.As(err, &ns):
		se.Number, se.Class, se.Message = ErrNotSupported, 16, ns.Error()
		return se, true
	case errors.As(err, &te):
		se.Number, se.Message = 2715, te.msg
		return se, true
	case errors.As(err, &ce):
		se.Number, se.Message = ErrConversion, ce.msg
		return se, true
	}
	msg := err.Error()
	if m := reTSQL.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		text := strings.TrimSuffix(m[2], " (1)")
		if i := strings.LastIndex(text, " ("); i > 0 && strings.HasSuffix(text, ")") {
			text = text[:i]
		}
		se.Number, se.Message = int32(n), text
		return se, n == ErrConversion || n == 241 || n == 243
	}
	switch {
	case strings.Contains(msg, "interrupted"):
		return tds.ServerError{}, true
	case reNoTable.MatchString(msg):
		se.Number, se.Message = ErrInvalidObject, fmt.Sprintf("Invalid object name '%s'.", displayName(reNoTable.FindStringSubmatch(msg)[1]))
		return se, true
	case reNoColumn.MatchString(msg):
		se.Number, se.Message = ErrInvalidColumn, fmt.Sprintf("Invalid column name '%s'.", strings.Trim(lastPart(reNoColumn.FindStringSubmatch(msg)[1]), `"`))
		return se, true
	case reUnique.MatchString(msg):
		// "UNIQUE constraint failed: dbo.k.id": table dbo.k, column id
		full := reUnique.FindStringSubmatch(msg)[1]
		tbl := full
		if i := strings.LastIndex(full, "."); i > 0 {
			tbl = full[:i]
		}
		se.Number, se.Class = ErrDuplicateKey, 14
		se.Message = fmt.Sprintf("Violation of PRIMARY KEY constraint 'PK_%s'. Cannot insert duplicate key in object '%s'.", strings.ReplaceAll(lastPart(tbl), ".", "_"), tbl)
		return se, false
	case reNotNull.MatchString(msg):
		full := reNotNull.FindStringSubmatch(msg)[1]
		col, tbl := lastPart(full), full
		if i := strings.LastIndex(full, "."); i > 0 {
			tbl = full[:i]
		}
		se.Number, se.Class = ErrNullInsert, 16
		se.Message = fmt.Sprintf("Cannot insert the value NULL into column '%s', table '%s.%s'; column does not allow nulls. INSERT fails.", col, s.curDB, tbl)
		return se, false
	case strings.Contains(msg, "FOREIGN KEY constraint failed"), strings.Contains(msg, "CHECK constraint failed"):
		se.Number = ErrConstraint
		se.Message = "The statement conflicted with a constraint. The statement has been terminated."
		return se, false
	case reExists.MatchString(msg):
		se.Number = ErrObjectExists
		se.Message = fmt.Sprintf("There is already an object named '%s' in the database.", lastPart(displayName(reExists.FindStringSubmatch(msg)[1])))
		return se, true
	case reNear.MatchString(msg):
		se.Number, se.Class = ErrSyntax, 15
		se.Message = fmt.Sprintf("Incorrect syntax near '%s'.", reNear.FindStringSubmatch(msg)[1])
		return se, true
	case reNoFunction.MatchString(msg):
		se.Number = 195
		se.Message = fmt.Sprintf("'%s' is not a recognized built-in function name.", reNoFunction.FindStringSubmatch(msg)[1])
		return se, true
	case strings.Contains(msg, "database is locked"), strings.Contains(msg, "SQLITE_BUSY"):
		se.Number, se.Message = ErrLockTimeout, "Lock request time out period exceeded."
		return se, false
	case strings.Contains(msg, "readonly"):
		se.Number, se.Message = ErrReadOnlyDatabase, fmt.Sprintf("Failed to update database \"%s\" because the database is read-only.", s.curDB)
		return se, false
	case strings.Contains(msg, "datatype mismatch"):
		se.Number, se.Message = ErrConversion, "Conversion failed: "+msg
		return se, true
	case strings.Contains(msg, "missing named argument"):
		name := msg[strings.Index(msg, "missing named argument")+len("missing named argument "):]
		se.Number, se.Class = ErrMustDeclare, 15
		se.Message = fmt.Sprintf("Must declare the scalar variable \"@%s\".", strings.Trim(name, `"`))
		return se, true
	}
	if strings.Contains(msg, "SQL logic error") || strings.Contains(msg, "constraint failed") || strings.Contains(msg, "sqlite") {
		se.Number, se.Message = 50000, "mssqlsim: "+msg
		return se, false
	}
	return tds.ServerError{}, true
}

// internalError reports an engine failure as a generic class 16 error.
func internalError(s *Session, err error) tds.ServerError {
	return tds.ServerError{Number: 50000, Class: 16, State: 1, Line: 1, ServerName: s.db.opts.ServerName,
		Message: "mssqlsim: " + err.Error()}
}

func lastPart(s string) string {
	if i := strings.LastIndex(s, "."); i >= 0 {
		return s[i+1:]
	}
	return s
}

// userError is an error raised by RAISERROR/THROW or by the engine with a
// fixed number.
type userError struct {
	err   tds.ServerError
	abort bool
}

func (e *userError) Error() string { return e.err.Message }

func newUserError(number int32, class uint8, abort bool, format string, args ...any) *userError {
	return &userError{err: tds.ServerError{Number: number, Class: class, State: 1, Line: 1, Message: fmt.Sprintf(format, args...)}, abort: abort}
}
