package sqlengine

import (
	"context"
	"fmt"
	"strings"
)

// paramDecl is one declaration of sp_executesql/sp_prepare's @params.
type paramDecl struct {
	name   string // lower case with '@'
	typ    sqlType
	output bool
	def    any // default value (procedures)
	hasDef bool
}

// parseParamDecls parses "@a int, @b nvarchar(10) OUTPUT".
func parseParamDecls(s string) ([]paramDecl, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	var out []paramDecl
	for _, a := range splitArgs(toks, 0, len(toks)) {
		def := toks[a[0]:a[1]]
		if len(def) < 2 || def[0].kind != tkVar {
			return nil, &syntaxError{near: s}
		}
		k := 1
		if def[k].is("AS") {
			k++
		}
		typ, n, err := parseTypeTokens(def[k:])
		if err != nil {
			return nil, err
		}
		d := paramDecl{name: strings.ToLower(def[0].val), typ: typ}
		rest := def[k+n:]
		if len(rest) >= 2 && rest[0].isOp("=") {
			end := 2
			if rest[1].isOp("-") && len(rest) > 2 {
				end = 3
			}
			v, _, ok := literalValue(rest[1:end])
			if !ok {
				return nil, &syntaxError{near: rest[1].text}
			}
			d.def, d.hasDef = v, true
			rest = rest[end:]
		}
		for _, t := range rest {
			if t.is("OUTPUT") || t.is("OUT") {
				d.output = true
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// ExecRPC runs a procedure called by RPC: sp_executesql, sp_prepare,
// sp_execute, sp_prepexec, sp_unprepare, sp_reset_connection, the catalog
// procedures (sp_datatype_info_100, sp_server_info) and procedures made with
// CREATE PROCEDURE. proc is the name as sent (the caller maps well-known
// ProcIDs to names: 10 sp_executesql, 11 sp_prepare, 12 sp_execute,
// 13 sp_prepexec, 15 sp_unprepare). Results go to w like
// ExecBatch's (statements inside end with StatementDone: the caller sends
// them as DONEINPROC), then RETURNSTATUS and RETURNVALUEs for output
// parameters (ordinal = position in params, 0-based); the caller ends with
// DONEPROC. Errors are handled as in ExecBatch.
func (s *Session) ExecRPC(ctx context.Context, proc string, params []Param, w ResultWriter) (err error) {
	if s.closed.Load() {
		return errClosed
	}
	defer recoverPanic(&err)
	defer s.dropTableVars()
	if err := s.syncTran(w); err != nil {
		return fmt.Errorf("sqlengine: writing results: %w", err)
	}
	s.vars = map[string]*variable{}
	ex := &execCtx{s: s, ctx: ctx, w: w}
	status, outs, err := ex.callProc(proc, params)
	if err != nil {
		var we *writerError
		if asWriterErr(err, &we) || ctx.Err() != nil {
			return ex.finish(err)
		}
		se, _ := s.toServerError(err)
		if se.Number == 0 {
			se = internalError(s, err)
		}
		se.ProcName = proc
		if werr := w.Error(se); werr != nil {
			return fmt.Errorf("sqlengine: writing results: %w", werr)
		}
		status = -6
		if se.Number == ErrNoSuchProcedure {
			return nil
		}
	}
	if err := w.ReturnStatus(status); err != nil {
		return fmt.Errorf("sqlengine: writing results: %w", err)
	}
	for _, o := range outs {
		if err := w.ReturnValue(o.ordinal, o.name, o.typ.typeInfo(), o.val); err != nil {
			return fmt.Errorf("sqlengine: writing results: %w", err)
		}
	}
	return nil
}

func asWriterErr(err error, target **writerError) bool {
	for err != nil {
		if we, ok := err.(*writerError); ok {
			*target = we
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// outValue is an output parameter's final value.
type outValue struct {
	ordinal int
	name    string
	typ     sqlType
	val     any // wire value
}

// procName normalises a procedure name: "master.dbo.sp_x" → "sp_x".
func procName(p string) string {
	p = strings.ToLower(strings.TrimSpace(p))
	if i := strings.LastIndex(p, "."); i >= 0 {
		p = p[i+1:]
	}
	return strings.Trim(p, "[]\"")
}

func paramString(p Param) string {
	switch v := p.Value.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return ""
}

// callProc runs a procedure with RPC-style parameters.
func (ex *execCtx) callProc(proc string, params []Param) (int32, []outValue, error) {
	s := ex.s
	switch procName(proc) {
	case "sp_executesql":
		if len(params) == 0 {
			return 0, nil, newUserError(ErrParamNotSupplied, 16, false, "Procedure or function 'sp_executesql' expects parameter '@statement', which was not supplied.")
		}
		decls := ""
		rest := params[1:]
		if len(params) > 1 {
			decls = paramString(params[1])
			rest = params[2:]
		}
		return ex.runWithParams(paramString(params[0]), decls, rest, 2)
	case "sp_prepare":
		if len(params) < 3 {
			return 0, nil, newUserError(ErrParamNotSupplied, 16, false, "Procedure or function 'sp_prepare' expects parameter '@stmt', which was not supplied.")
		}
		h, err := s.prepareHandle(paramString(params[1]), paramString(params[2]))
		if err != nil {
			return 0, nil, err
		}
		return 0, []outValue{{ordinal: 0, name: params[0].Name, typ: typInt, val: int64(h)}}, nil
	case "sp_prepexec":
		if len(params) < 3 {
			return 0, nil, newUserError(ErrParamNotSupplied, 16, false, "Procedure or function 'sp_prepexec' expects parameter '@stmt', which was not supplied.")
		}
		h, err := s.prepareHandle(paramString(params[1]), paramString(params[2]))
		if err != nil {
			return 0, nil, err
		}
		p := s.prepared[h]
		status, outs, err := ex.runWithParams(p.text, p.params, params[3:], 3)
		outs = append([]outValue{{ordinal: 0, name: params[0].Name, typ: typInt, val: int64(h)}}, outs...)
		return status, outs, err
	case "sp_execute":
		if len(params) < 1 {
			return 0, nil, newUserError(ErrParamNotSupplied, 16, false, "Procedure or function 'sp_execute' expects parameter '@handle', which was not supplied.")
		}
		h, _ := asInt(params[0].Value)
		p, ok := s.prepared[int32(h)]
		if !ok {
			return 0, nil, newUserError(ErrBadPrepareHandle, 16, false, "Could not find prepared statement with handle %d.", h)
		}
		return ex.runWithParams(p.text, p.params, params[1:], 1)
	case "sp_unprepare":
		if len(params) < 1 {
			return 0, nil, newUserError(ErrParamNotSupplied, 16, false, "Procedure or function 'sp_unprepare' expects parameter '@handle', which was not supplied.")
		}
		h, _ := asInt(params[0].Value)
		if _, ok := s.prepared[int32(h)]; !ok {
			return 0, nil, newUserError(ErrBadPrepareHandle, 16, false, "Could not find prepared statement with handle %d.", h)
		}
		delete(s.prepared, int32(h))
		return 0, nil, nil
	case "sp_reset_connection":
		return 0, nil, s.Reset()
	case "sp_datatype_info_100", "sp_datatype_info", "sp_datatype_info_90":
		var dt any
		if len(params) > 0 {
			dt = params[0].Value
		}
		return 0, nil, ex.datatypeInfo(dt)
	case "sp_set_session_context", "sp_getapplock", "sp_releaseapplock", "sp_setapprole", "sp_trace_setstatus":
		return 0, nil, nil
	case "sp_server_info":
		return 0, nil, ex.serverInfo()
	}
	if p, ok := s.userProc(proc); ok {
		return ex.runBody(p.body, p.params, params, 0, proc)
	}
	return 0, nil, newUserError(ErrNoSuchProcedure, 16, false, "Could not find stored procedure '%s'.", proc)
}

// prepareHandle registers a statement for sp_prepare/sp_prepexec.
func (s *Session) prepareHandle(decls, text string) (int32, error) {
	d, err := parseParamDecls(decls)
	if err != nil {
		return 0, err
	}
	if _, err := s.db.parse(text); err != nil {
		return 0, err
	}
	s.nextHandle++
	s.prepared[s.nextHandle] = &preparedStmt{params: decls, decls: d, text: text}
	return s.nextHandle, nil
}

// runWithParams runs text with declared parameters bound from params
// (named, or positional in declaration order). first is the ordinal of
// params[0] in the RPC, for RETURNVALUE ordinals.
func (ex *execCtx) runWithParams(text, declText string, params []Param, first int) (int32, []outValue, error) {
	return ex.runBody(text, declText, params, first, "")
}

// runBody runs text in a new variable scope with declared parameters bound
// from params. proc names the user procedure being run ("" for
// sp_executesql and prepared statements): its parameters without a default
// must be supplied.
func (ex *execCtx) runBody(text, declText string, params []Param, first int, proc string) (int32, []outValue, error) {
	s := ex.s
	ex.retVal = 0
	decls, err := parseParamDecls(declText)
	if err != nil {
		return 0, nil, err
	}
	s.vars = map[string]*variable{}
	for _, d := range decls {
		v := &variable{typ: d.typ}
		if d.hasDef {
			if v.val, err = toStorage(d.def, d.typ); err != nil {
				return 0, nil, err
			}
		}
		s.vars[d.name] = v
	}
	bound := make([]string, len(params))
	for i, p := range params {
		name := strings.ToLower(p.Name)
		if name != "" && !strings.HasPrefix(name, "@") {
			name = "@" + name
		}
		if name == "" {
			if i >= len(decls) {
				return 0, nil, newUserError(8144, 16, false, "Procedure or function has too many arguments specified.")
			}
			name = decls[i].name
		}
		v, ok := s.vars[name]
		if !ok {
			return 0, nil, newUserError(8145, 16, false, "%s is not a parameter for procedure sp_executesql.", p.Name)
		}
		val, err := bindValue(p.Value, v.typ)
		if err != nil {
			return 0, nil, err
		}
		v.val = val
		bound[i] = name
	}
	if proc != "" {
		for _, d := range decls {
			supplied := false
			for _, b := range bound {
				supplied = supplied || b == d.name
			}
			if !supplied && !d.hasDef {
				return 0, nil, newUserError(ErrParamNotSupplied, 16, false, "Procedure or function '%s' expects parameter '%s', which was not supplied.", proc, d.name)
			}
		}
	}
	stmts, err := s.db.parse(text)
	if err != nil {
		return 0, nil, err
	}
	f, err := ex.runList(stmts)
	if err != nil {
		return 0, nil, err
	}
	_ = f
	var outs []outValue
	for i, p := range params {
		if !p.Output {
			continue
		}
		v := s.vars[bound[i]]
		wv, err := wireValue(v.val, v.typ)
		if err != nil {
			return 0, nil, err
		}
		outs = append(outs, outValue{ordinal: first + i, name: p.Name, typ: v.typ, val: wv})
	}
	return ex.retVal, outs, nil
}

// execProcStatement runs EXEC/EXECUTE in a batch (and a batch's leading
// bare procedure call).
func (ex *execCtx) execProcStatement(st *stmt) error {
	toks := st.toks
	k := 0
	if toks[0].is("EXEC") || toks[0].is("EXECUTE") {
		k = 1
	}
	if k >= len(toks) {
		return &syntaxError{near: toks[0].text}
	}
	if toks[k].isOp("(") {
		// EXEC ('dynamic sql')
		j := matching(toks, k)
		if j < 0 {
			return &syntaxError{near: "("}
		}
		v, err := ex.scalar(st, append([]token{{kind: tkWord, text: "SELECT", up: "SELECT"}}, toks[k+1:j]...))
		if err != nil {
			return err
		}
		text, _ := asString(v)
		stmts, err := ex.s.db.parse(text)
		if err != nil {
			return err
		}
		saved := ex.s.vars
		ex.s.vars = map[string]*variable{}
		_, err = ex.runList(stmts)
		ex.s.vars = saved
		return err
	}
	retVar := ""
	if toks[k].kind == tkVar && k+1 < len(toks) && toks[k+1].isOp("=") {
		retVar = strings.ToLower(toks[k].val)
		k += 2
	}
	parts, next := nameParts(toks, k)
	if len(parts) == 0 {
		return &syntaxError{near: toks[k].text}
	}
	name := strings.Join(parts, ".")
	var params []Param
	var targets []string
	for _, a := range splitArgs(toks, next, len(toks)) {
		arg := toks[a[0]:a[1]]
		if len(arg) == 0 {
			continue
		}
		var p Param
		if len(arg) > 2 && arg[0].kind == tkVar && arg[1].isOp("=") {
			p.Name = arg[0].val
			arg = arg[2:]
		}
		target := ""
		if n := len(arg); n > 1 && (arg[n-1].is("OUTPUT") || arg[n-1].is("OUT")) {
			p.Output = true
			arg = arg[:n-1]
			if arg[0].kind == tkVar {
				target = strings.ToLower(arg[0].val)
			}
		}
		var typ sqlType
		if _, t, ok := literalValue(arg); ok {
			typ = t
		} else if len(arg) == 1 && arg[0].kind == tkVar {
			t, ok := ex.s.varType(arg[0].val)
			if !ok {
				return newUserError(ErrMustDeclare, 15, true, "Must declare the scalar variable \"%s\".", arg[0].val)
			}
			typ = t
		} else {
			typ = typNVarMax
		}
		v, err := ex.scalar(st, append([]token{{kind: tkWord, text: "SELECT", up: "SELECT"}}, arg...))
		if err != nil {
			return err
		}
		wv, err := wireValue(v, typ)
		if err != nil {
			return err
		}
		p.Value, p.Type = wv, typ.typeInfo()
		params = append(params, p)
		targets = append(targets, target)
	}
	saved := ex.s.vars
	savedRet := ex.retVal
	ex.retVal = 0
	status, outs, err := ex.callProc(name, params)
	ex.s.vars = saved
	ex.retVal = savedRet
	if err != nil {
		return err
	}
	for _, o := range outs {
		if o.ordinal < len(targets) && targets[o.ordinal] != "" {
			if v, ok := ex.s.vars[targets[o.ordinal]]; ok {
				sv, err := bindValue(o.val, v.typ)
				if err == nil {
					v.val = sv
				}
			}
		}
	}
	if retVar != "" {
		if v, ok := ex.s.vars[retVar]; ok {
			v.val = int64(status)
		}
	}
	if err := ex.w.ReturnStatus(status); err != nil {
		return &writerError{err}
	}
	return nil
}
