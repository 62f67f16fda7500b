package sqlengine

import (
	"strconv"
	"strings"
	"time"

	"github.com/tdsproxy/tdsproxy/tds"
)

func nowUTC() time.Time { return time.Now().UTC() }

// execSetOption accepts SET options, remembering those that change
// behaviour (NOCOUNT, XACT_ABORT, LANGUAGE, ...).
func (ex *execCtx) execSetOption(st *stmt) error {
	toks := st.toks
	if len(toks) < 2 {
		return &syntaxError{near: "SET"}
	}
	s := ex.s
	opt := toks[1].up
	on := func() (bool, error) {
		last := toks[len(toks)-1]
		switch {
		case last.is("ON"):
			return true, nil
		case last.is("OFF"):
			return false, nil
		}
		return false, &syntaxError{near: last.text}
	}
	// the option's argument: a word, a string's value or a (signed) number
	arg := ""
	if len(toks) > 2 {
		switch t := toks[2]; t.kind {
		case tkString, tkNString, tkQuoted:
			arg = t.val
		case tkOp:
			if t.text == "-" && len(toks) > 3 {
				arg = "-" + toks[3].text
			}
		case tkVar:
			if v, ok := s.vars[strings.ToLower(t.val)]; ok {
				arg, _ = asString(v.val)
			}
		default:
			arg = t.text
		}
	}
	num := func() (int64, error) {
		n, err := strconv.ParseInt(arg, 10, 64)
		if err != nil {
			return 0, &syntaxError{near: arg}
		}
		return n, nil
	}
	switch opt {
	case "NOCOUNT":
		v, err := on()
		if err != nil {
			return err
		}
		s.opts.nocount = v
	case "XACT_ABORT":
		v, err := on()
		if err != nil {
			return err
		}
		s.opts.xactAbort = v
	case "ANSI_NULLS":
		v, err := on()
		if err != nil {
			return err
		}
		s.opts.ansiNulls = v
	case "FMTONLY":
		v, err := on()
		if err != nil {
			return err
		}
		s.opts.fmtOnly = v
	case "LANGUAGE":
		if arg == "" {
			return &syntaxError{near: "LANGUAGE"}
		}
		// SQL Server answers every SET LANGUAGE with ENVCHANGE 2 and INFO 5703.
		old := s.opts.language
		s.opts.language = arg
		if err := ex.w.EnvChange(tds.EnvLanguage(arg, old)); err != nil {
			return &writerError{err}
		}
		if err := ex.w.Info(tds.ServerError{Number: ErrChangedLanguage, Class: 0, State: 1, Line: 1,
			ServerName: s.db.opts.ServerName, Message: "Changed language setting to " + arg + "."}); err != nil {
			return &writerError{err}
		}
	case "DATEFORMAT":
		s.opts.dateFormat = strings.ToLower(arg)
	case "DATEFIRST":
		v, err := num()
		if err != nil {
			return err
		}
		s.opts.dateFirst = v
	case "TEXTSIZE":
		v, err := num()
		if err != nil {
			return err
		}
		if v <= 0 {
			v = 4096 // SET TEXTSIZE 0 restores the default
		}
		s.opts.textSize = v
	case "LOCK_TIMEOUT":
		v, err := num()
		if err != nil {
			return err
		}
		s.opts.lockTimeout = v
	case "TRANSACTION":
		var parts []string
		for _, t := range toks[4:] {
			parts = append(parts, t.up)
		}
		s.opts.isolation = strings.Join(parts, " ")
	case "IMPLICIT_TRANSACTIONS":
		v, err := on()
		if err != nil {
			return err
		}
		s.opts.implicitTx = v
	case "IDENTITY_INSERT", "STATISTICS", "SHOWPLAN_ALL", "SHOWPLAN_XML", "ROWCOUNT", "DEADLOCK_PRIORITY",
		"CONTEXT_INFO", "QUERY_GOVERNOR_COST_LIMIT", "NO_BROWSETABLE", "PARSEONLY", "NOEXEC", "FORCEPLAN":
		// accepted
	default:
		// ANSI_WARNINGS, ANSI_PADDING, ARITHABORT, CONCAT_NULL_YIELDS_NULL,
		// QUOTED_IDENTIFIER, NUMERIC_ROUNDABORT, ANSI_NULL_DFLT_ON, CURSOR_CLOSE_ON_COMMIT, ...
		// are accepted: SQLite behaves like their defaults.
	}
	return nil
}

// execSetVar runs SET @v = expr (and +=, -=, ...).
func (ex *execCtx) execSetVar(st *stmt) error {
	toks := st.toks
	if len(toks) < 4 {
		return &syntaxError{near: "SET"}
	}
	name := strings.ToLower(toks[1].val)
	v, ok := ex.s.vars[name]
	if !ok {
		return newUserError(ErrMustDeclare, 15, true, "Must declare the scalar variable \"%s\".", toks[1].val)
	}
	op := toks[2].text
	expr := toks[3:]
	sel := []token{{kind: tkWord, text: "SELECT", up: "SELECT"}}
	switch op {
	case "=":
		sel = append(sel, expr...)
	case "+=", "-=", "*=", "/=":
		sel = append(sel, toks[1], token{kind: tkOp, text: op[:1]}, token{kind: tkOp, text: "("})
		sel = append(sel, expr...)
		sel = append(sel, token{kind: tkOp, text: ")"})
	default:
		return &syntaxError{near: op}
	}
	val, err := ex.scalar(st, sel)
	if err != nil {
		return err
	}
	sv, err := toStorage(val, v.typ)
	if err != nil {
		return err
	}
	v.val = sv
	return nil
}

// execDeclare runs DECLARE @a type [= expr], ...
func (ex *execCtx) execDeclare(st *stmt) error {
	toks := st.toks
	for _, a := range splitArgs(toks, 1, len(toks)) {
		def := toks[a[0]:a[1]]
		if len(def) < 2 || def[0].kind != tkVar {
			if len(def) >= 2 && def[1].is("CURSOR") {
				return &notSupportedError{what: "cursors"}
			}
			return &syntaxError{near: "DECLARE"}
		}
		k := 1
		if def[k].is("AS") {
			k++
		}
		if k < len(def) && def[k].is("TABLE") {
			// a table variable: a temporary table named after it, dropped
			// when the request ends
			name := strings.ToLower(def[0].val)
			if _, dup := ex.s.vars[name]; dup {
				return newUserError(134, 15, true, "The variable name '%s' has already been declared. Variable names must be unique within a query batch or stored procedure.", def[0].val)
			}
			ref := tableRef{schema: "temp", name: name, alias: def[0].val, tsql: def[0].val}
			if err := ex.createTable(ref, def, k+1); err != nil {
				return err
			}
			ex.s.vars[name] = &variable{typ: sqlType{name: "table"}}
			ex.s.tableVars = append(ex.s.tableVars, name)
			continue
		}
		typ, n, err := parseTypeTokens(def[k:])
		if err != nil {
			return err
		}
		name := strings.ToLower(def[0].val)
		v := &variable{typ: typ}
		if rest := def[k+n:]; len(rest) > 0 {
			if !rest[0].isOp("=") || len(rest) < 2 {
				return &syntaxError{near: rest[0].text}
			}
			sel := append([]token{{kind: tkWord, text: "SELECT", up: "SELECT"}}, rest[1:]...)
			val, err := ex.scalar(st, sel)
			if err != nil {
				return err
			}
			if v.val, err = toStorage(val, typ); err != nil {
				return err
			}
		}
		ex.s.vars[name] = v
	}
	return nil
}

// tranName reads the optional transaction or savepoint name at toks[i].
func tranName(ex *execCtx, toks []token, i int) string {
	if i < len(toks) && (toks[i].is("TRAN") || toks[i].is("TRANSACTION") || toks[i].is("WORK")) {
		i++
	}
	if i < len(toks) {
		switch toks[i].kind {
		case tkWord, tkQuoted:
			return toks[i].val
		case tkVar:
			if v, ok := ex.s.vars[strings.ToLower(toks[i].val)]; ok {
				if s, ok := v.val.(string); ok {
					return s
				}
			}
		}
	}
	return ""
}

// execTran runs BEGIN TRAN, COMMIT, ROLLBACK and SAVE TRAN, sending the
// transaction ENVCHANGEs SQL Server sends for them.
func (ex *execCtx) execTran(st *stmt) error {
	s := ex.s
	toks := st.toks
	switch st.kind {
	case skBeginTran:
		i := 1
		if toks[i].is("DISTRIBUTED") {
			i++
		}
		started := s.tranCount == 0
		if err := s.beginTran(); err != nil {
			return err
		}
		if started {
			s.tranName = tranName(ex, toks, i)
			if err := ex.w.EnvChange(tds.EnvBeginTran(s.txDesc)); err != nil {
				return &writerError{err}
			}
		}
	case skCommit:
		if s.tranCount == 0 {
			return newUserError(ErrCommitNoTran, 16, false, "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.")
		}
		desc := s.txDesc
		ended, err := s.commitTran()
		if err != nil {
			return err
		}
		if ended {
			if err := ex.w.EnvChange(tds.EnvCommitTran(desc)); err != nil {
				return &writerError{err}
			}
		}
	case skRollback:
		if s.tranCount == 0 {
			return newUserError(ErrRollbackNoTran, 16, false, "The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.")
		}
		name := tranName(ex, toks, 1)
		if name != "" && !s.hasSavepoint(name) {
			// ROLLBACK TRAN outer_name rolls back everything; another name is 6401.
			if !strings.EqualFold(name, s.tranName) {
				return newUserError(ErrNoSavepoint, 16, false, "Cannot roll back %s. No transaction or savepoint of that name was found.", name)
			}
			name = ""
		}
		desc := s.txDesc
		ended, err := s.rollbackTran(name)
		if err != nil {
			return err
		}
		if ended {
			if err := ex.w.EnvChange(tds.EnvRollbackTran(desc)); err != nil {
				return &writerError{err}
			}
		}
	case skSave:
		name := tranName(ex, toks, 1)
		if name == "" {
			return &syntaxError{near: "SAVE"}
		}
		if err := s.saveTran(name); err != nil {
			return err
		}
	}
	return ex.done(StatementResult{CurCmd: curCmd(st.kind)})
}

func (s *Session) hasSavepoint(name string) bool {
	for _, sp := range s.savepoints {
		if strings.EqualFold(sp, name) {
			return true
		}
	}
	return false
}

// execUse runs USE db: ENVCHANGE 1 and INFO 5701.
func (ex *execCtx) execUse(st *stmt) error {
	if len(st.toks) < 2 || !st.toks[1].isIdent() {
		return &syntaxError{near: "USE"}
	}
	return ex.s.use(st.toks[1].val, ex.w)
}

func (s *Session) use(name string, w ResultWriter) error {
	d, ok := s.db.database(name)
	if !ok {
		return newUserError(ErrNoSuchDatabase, 16, true, "Database '%s' does not exist. Make sure that the name is entered correctly.", name)
	}
	old := s.curDB
	s.curDB = d.name
	if err := w.EnvChange(tds.EnvDatabase(d.name, old)); err != nil {
		return &writerError{err}
	}
	if err := w.Info(tds.ServerError{Number: ErrChangedDBContext, Class: 0, State: 1, Line: 1, ServerName: s.db.opts.ServerName,
		Message: "Changed database context to '" + d.name + "'."}); err != nil {
		return &writerError{err}
	}
	return nil
}

// execWaitfor runs WAITFOR DELAY 'hh:mm:ss[.mmm]' (or TIME), returning
// early with ctx.Err() when the request is cancelled.
func (ex *execCtx) execWaitfor(st *stmt) error {
	toks := st.toks
	if len(toks) < 3 || !(toks[1].is("DELAY") || toks[1].is("TIME")) {
		return &syntaxError{near: "WAITFOR"}
	}
	var spec string
	switch toks[2].kind {
	case tkString, tkNString:
		spec = toks[2].val
	case tkVar:
		if v, ok := ex.s.vars[strings.ToLower(toks[2].val)]; ok {
			spec, _ = v.val.(string)
		}
	}
	d, ok := parseDelay(spec)
	if !ok {
		return newUserError(148, 15, true, "Incorrect time syntax in time string '%s' used with WAITFOR.", spec)
	}
	if toks[1].is("TIME") {
		now := time.Now()
		at := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location()).Add(d)
		if at.Before(now) {
			at = at.Add(24 * time.Hour)
		}
		d = at.Sub(now)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ex.ctx.Done():
		return ex.ctx.Err()
	}
}

// parseDelay parses hh:mm[:ss[.fff]].
func parseDelay(s string) (time.Duration, bool) {
	parts := strings.Split(strings.TrimSpace(s), ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, false
	}
	h, err1 := strconv.Atoi(parts[0])
	m, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, false
	}
	d := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute
	if len(parts) == 3 {
		sec, err := strconv.ParseFloat(parts[2], 64)
		if err != nil || sec < 0 || sec >= 60 {
			return 0, false
		}
		d += time.Duration(sec * float64(time.Second))
	}
	return d, true
}

// execPrint sends PRINT's message as INFO (number 0, class 0).
func (ex *execCtx) execPrint(st *stmt) error {
	if len(st.toks) < 2 {
		return &syntaxError{near: "PRINT"}
	}
	v, err := ex.scalar(st, append([]token{{kind: tkWord, text: "SELECT", up: "SELECT"}}, st.toks[1:]...))
	if err != nil {
		return err
	}
	msg, _ := asString(v)
	if err := ex.w.Info(tds.ServerError{Number: 0, Class: 0, State: 1, Line: 1, ServerName: ex.s.db.opts.ServerName, Message: msg}); err != nil {
		return &writerError{err}
	}
	return nil
}

// execRaise runs RAISERROR(msg, severity, state) and THROW n, msg, state.
func (ex *execCtx) execRaise(st *stmt) error {
	toks := st.toks
	lo, hi := 1, len(toks)
	if st.kind == skRaiserror {
		if len(toks) < 2 || !toks[1].isOp("(") {
			return &syntaxError{near: "RAISERROR"}
		}
		hi = matching(toks, 1)
		if hi < 0 {
			return &syntaxError{near: "RAISERROR"}
		}
		lo = 2
	}
	if st.kind == skThrow && len(toks) == 1 {
		if ex.s.errInfo != nil {
			return &userError{err: *ex.s.errInfo, abort: true}
		}
		return newUserError(10704, 16, true, "To rethrow an error, a THROW statement must be used inside a CATCH block.")
	}
	args := splitArgs(toks, lo, hi)
	vals := make([]any, len(args))
	for i, a := range args {
		v, err := ex.scalar(st, append([]token{{kind: tkWord, text: "SELECT", up: "SELECT"}}, toks[a[0]:a[1]]...))
		if err != nil {
			return err
		}
		vals[i] = v
	}
	if len(vals) < 3 {
		return &syntaxError{near: toks[0].text}
	}
	if st.kind == skThrow {
		n, _ := asInt(vals[0])
		msg, _ := asString(vals[1])
		state, _ := asInt(vals[2])
		return &userError{err: tds.ServerError{Number: int32(n), Class: 16, State: uint8(state), Line: 1, Message: msg}, abort: true}
	}
	msg, _ := asString(vals[0])
	sev, _ := asInt(vals[1])
	state, _ := asInt(vals[2])
	num := int32(50000)
	if n, ok := vals[0].(int64); ok {
		num = int32(n)
		msg = "Error " + strconv.FormatInt(n, 10)
	}
	if sev <= 10 {
		if err := ex.w.Info(tds.ServerError{Number: num, Class: uint8(sev), State: uint8(state), Line: 1, ServerName: ex.s.db.opts.ServerName, Message: msg}); err != nil {
			return &writerError{err}
		}
		return nil
	}
	return &userError{err: tds.ServerError{Number: num, Class: uint8(min(sev, 25)), State: uint8(state), Line: 1, Message: msg}}
}
