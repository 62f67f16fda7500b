package sqlengine

import (
	"sync"
	"sync/atomic"
)

// stmtKind is the kind of one T-SQL statement.
type stmtKind uint8

const (
	skSelect stmtKind = iota + 1
	skInsert
	skUpdate
	skDelete
	skMerge
	skCreateTable
	skCreateIndex
	skCreateSchema
	skCreateDatabase
	skCreateView
	skCreateProc
	skDropTable
	skDropOther
	skAlter
	skTruncate
	skSetOption
	skSetVar
	skDeclare
	skIf
	skWhile
	skBlock
	skTry
	skBeginTran
	skCommit
	skRollback
	skSave
	skUse
	skExec
	skWaitfor
	skPrint
	skReturn
	skRaiserror
	skThrow
	skBreak
	skContinue
	skInsertBulk
	skOther // accepted and ignored (GRANT, DBCC, CHECKPOINT, ...)
)

// stmt is one parsed statement. Parsed batches are cached and shared by all
// sessions, so a stmt is immutable once parsed except for its translation
// cache, which is guarded by mu.
type stmt struct {
	kind stmtKind
	toks []token // the statement's tokens (without a trailing ';')

	cond  []token // IF / WHILE condition
	then  *stmt   // IF branch, WHILE body
	els   *stmt   // ELSE branch
	body  []*stmt // BEGIN...END block, TRY block
	catch []*stmt // CATCH block

	mu   sync.Mutex
	tr   map[trKey]*translation  // by database and variable types
	last atomic.Pointer[trEntry] // the last translation used (fast path)
}

// trKey identifies a translation of a statement.
type trKey struct {
	kind, db, sig string
}

type trEntry struct {
	key trKey
	tr  *translation
}

// statement starters: a word that begins a new statement when it appears at
// parenthesis depth 0 and is not a continuation of the current statement.
var starters = map[string]bool{
	"SELECT": true, "INSERT": true, "UPDATE": true, "DELETE": true, "CREATE": true,
	"DROP": true, "ALTER": true, "SET": true, "DECLARE": true, "IF": true, "ELSE": true,
	"BEGIN": true, "END": true, "COMMIT": true, "ROLLBACK": true, "SAVE": true, "USE": true,
	"EXEC": true, "EXECUTE": true, "WAITFOR": true, "PRINT": true, "TRUNCATE": true,
	"RETURN": true, "RAISERROR": true, "THROW": true, "WHILE": true, "BREAK": true,
	"CONTINUE": true, "MERGE": true, "GRANT": true, "REVOKE": true, "DENY": true,
	"DBCC": true, "CHECKPOINT": true, "WITH": true,
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() (token, bool) {
	if p.i < len(p.toks) {
		return p.toks[p.i], true
	}
	return token{}, false
}

func (p *parser) peekAt(k int) (token, bool) {
	if p.i+k < len(p.toks) {
		return p.toks[p.i+k], true
	}
	return token{}, false
}

// parseBatch splits a batch into statements.
func parseBatch(toks []token) ([]*stmt, error) {
	p := &parser{toks: toks}
	var out []*stmt
	first := true
	for {
		p.skipSemis()
		if p.i >= len(p.toks) {
			return out, nil
		}
		t := p.toks[p.i]
		// A batch may start with a bare procedure name: "sp_who 1".
		if first && t.isIdent() && !starters[t.up] {
			s := &stmt{kind: skExec}
			s.toks = p.collect(skExec)
			out = append(out, s)
			first = false
			continue
		}
		first = false
		if t.is("END") || t.is("ELSE") {
			return nil, &syntaxError{near: t.text}
		}
		s, err := p.parseStatement()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
}

func (p *parser) skipSemis() {
	for p.i < len(p.toks) && p.toks[p.i].isOp(";") {
		p.i++
	}
}

func (p *parser) parseStatement() (*stmt, error) {
	p.skipSemis()
	t, ok := p.peek()
	if !ok {
		return nil, &syntaxError{msg: "Incorrect syntax near the end of the batch."}
	}
	switch {
	case t.is("IF"), t.is("WHILE"):
		p.i++
		s := &stmt{kind: skIf}
		if t.is("WHILE") {
			s.kind = skWhile
		}
		s.cond = p.collect(skIf)
		if len(s.cond) == 0 {
			return nil, &syntaxError{near: t.text}
		}
		then, err := p.parseStatement()
		if err != nil {
			return nil, err
		}
		s.then = then
		if s.kind == skIf {
			p.skipSemis()
			if e, ok := p.peek(); ok && e.is("ELSE") {
				p.i++
				els, err := p.parseStatement()
				if err != nil {
					return nil, err
				}
				s.els = els
			}
		}
		return s, nil
	case t.is("BEGIN"):
		next, _ := p.peekAt(1)
		switch {
		case next.is("TRAN"), next.is("TRANSACTION"), next.is("DISTRIBUTED"):
			return &stmt{kind: skBeginTran, toks: p.collect(skBeginTran)}, nil
		case next.is("TRY"):
			p.i += 2
			body, err := p.parseBlock("TRY")
			if err != nil {
				return nil, err
			}
			p.skipSemis()
			b, _ := p.peek()
			c, _ := p.peekAt(1)
			if !b.is("BEGIN") || !c.is("CATCH") {
				return nil, &syntaxError{near: b.text}
			}
			p.i += 2
			catch, err := p.parseBlock("CATCH")
			if err != nil {
				return nil, err
			}
			return &stmt{kind: skTry, body: body, catch: catch}, nil
		}
		p.i++
		body, err := p.parseBlock("")
		if err != nil {
			return nil, err
		}
		return &stmt{kind: skBlock, body: body}, nil
	case t.is("END"), t.is("ELSE"):
		return nil, &syntaxError{near: t.text}
	case t.isOp("("):
		// "(SELECT ...) UNION ..." and similar: treat as a query.
		return &stmt{kind: skSelect, toks: p.collect(skSelect)}, nil
	case t.kind != tkWord:
		return nil, &syntaxError{near: t.text}
	}
	kind := classify(p.toks[p.i:])
	if kind == 0 {
		return nil, &syntaxError{near: t.text}
	}
	s := &stmt{kind: kind}
	s.toks = p.collect(kind)
	if kind == skSelect && t.is("WITH") {
		s.kind = cteKind(s.toks)
	}
	return s, nil
}

// parseBlock parses statements up to END [TRY|CATCH].
func (p *parser) parseBlock(suffix string) ([]*stmt, error) {
	var body []*stmt
	for {
		p.skipSemis()
		t, ok := p.peek()
		if !ok {
			return nil, &syntaxError{msg: "Incorrect syntax near the end of the batch: missing END."}
		}
		if t.is("END") {
			p.i++
			if suffix != "" {
				if s, ok := p.peek(); ok && s.is(suffix) {
					p.i++
				} else {
					return nil, &syntaxError{near: "END"}
				}
			}
			return body, nil
		}
		s, err := p.parseStatement()
		if err != nil {
			return nil, err
		}
		body = append(body, s)
	}
}

// classify names the statement that starts at toks[0].
func classify(toks []token) stmtKind {
	t := toks[0]
	next := func(k int) token {
		if k < len(toks) {
			return toks[k]
		}
		return token{}
	}
	switch t.up {
	case "SELECT", "WITH":
		return skSelect
	case "INSERT":
		if next(1).is("BULK") {
			return skInsertBulk
		}
		return skInsert
	case "UPDATE":
		return skUpdate
	case "DELETE":
		return skDelete
	case "MERGE":
		return skMerge
	case "CREATE":
		k := 1
		for next(k).is("UNIQUE") || next(k).is("CLUSTERED") || next(k).is("NONCLUSTERED") || next(k).is("OR") || next(k).is("ALTER") {
			k++
		}
		switch next(k).up {
		case "TABLE":
			return skCreateTable
		case "INDEX":
			return skCreateIndex
		case "SCHEMA":
			return skCreateSchema
		case "DATABASE":
			return skCreateDatabase
		case "VIEW":
			return skCreateView
		case "PROC", "PROCEDURE", "FUNCTION", "TRIGGER":
			return skCreateProc
		}
		return skOther
	case "DROP":
		if next(1).is("TABLE") {
			return skDropTable
		}
		return skDropOther
	case "ALTER":
		return skAlter
	case "TRUNCATE":
		return skTruncate
	case "SET":
		if next(1).kind == tkVar {
			return skSetVar
		}
		return skSetOption
	case "DECLARE":
		return skDeclare
	case "COMMIT":
		return skCommit
	case "ROLLBACK":
		return skRollback
	case "SAVE":
		return skSave
	case "USE":
		return skUse
	case "EXEC", "EXECUTE":
		return skExec
	case "WAITFOR":
		return skWaitfor
	case "PRINT":
		return skPrint
	case "RETURN":
		return skReturn
	case "RAISERROR":
		return skRaiserror
	case "THROW":
		return skThrow
	case "BREAK":
		return skBreak
	case "CONTINUE":
		return skContinue
	case "GRANT", "REVOKE", "DENY", "DBCC", "CHECKPOINT":
		return skOther
	}
	return 0
}

// cteKind finds the DML statement a WITH common-table-expression prefixes.
func cteKind(toks []token) stmtKind {
	depth := 0
	for _, t := range toks[1:] {
		switch {
		case t.isOp("("):
			depth++
		case t.isOp(")"):
			depth--
		case depth == 0 && t.kind == tkWord:
			switch t.up {
			case "SELECT":
				return skSelect
			case "INSERT":
				return skInsert
			case "UPDATE":
				return skUpdate
			case "DELETE":
				return skDelete
			case "MERGE":
				return skMerge
			}
		}
	}
	return skSelect
}

// collect consumes the tokens of one statement of the given kind, starting at
// p.i, and returns them (without the terminating ';', which is consumed).
// For IF/WHILE it collects the condition only.
func (p *parser) collect(kind stmtKind) []token {
	start := p.i
	depth, caseDepth := 0, 0
	seenSet, seenSelect, seenValues, cte := false, false, false, false
	takeRest := kind == skCreateProc || kind == skCreateView || kind == skMerge
	first := true
	for p.i < len(p.toks) {
		t := p.toks[p.i]
		if t.kind == tkOp {
			switch t.text {
			case "(":
				depth++
			case ")":
				if depth == 0 {
					return p.toks[start:p.i] // caller reports the stray ')'
				}
				depth--
			case ";":
				if depth == 0 && !(takeRest && kind == skCreateProc) {
					out := p.toks[start:p.i]
					p.i++
					return out
				}
			}
			p.i++
			first = false
			continue
		}
		if t.kind == tkWord && depth == 0 {
			if t.up == "CASE" {
				caseDepth++
			} else if t.up == "END" && caseDepth > 0 {
				caseDepth--
				p.i++
				first = false
				continue
			}
			if !first && !takeRest && caseDepth == 0 && starters[t.up] && !p.continues(kind, t, &seenSet, &seenSelect, &seenValues, &cte) {
				return p.toks[start:p.i]
			}
			if first {
				if t.up == "WITH" {
					cte = true
				}
				if t.up == "SELECT" {
					seenSelect = true
				}
			}
			if t.up == "VALUES" {
				seenValues = true
			}
		}
		p.i++
		first = false
	}
	return p.toks[start:p.i]
}

// continues reports whether the starter word t continues the current
// statement rather than beginning a new one.
func (p *parser) continues(kind stmtKind, t token, seenSet, seenSelect, seenValues, cte *bool) bool {
	prev := p.toks[p.i-1]
	if kind == skIf {
		// An IF/WHILE condition ends at the first statement starter.
		return false
	}
	if *cte {
		switch t.up {
		case "SELECT", "INSERT", "UPDATE", "DELETE", "MERGE":
			*cte = false
			if t.up == "SELECT" {
				*seenSelect = true
			}
			return true
		}
	}
	switch t.up {
	case "SELECT":
		if prev.is("UNION") || prev.is("ALL") || prev.is("EXCEPT") || prev.is("INTERSECT") || prev.is("FOR") || prev.is("AS") {
			return true
		}
		if kind == skInsert && !*seenSelect && !*seenValues {
			*seenSelect = true
			return true
		}
	case "SET":
		if (kind == skUpdate || p.cteUpdate()) && !*seenSet {
			*seenSet = true
			return true
		}
		if kind == skAlter {
			return true
		}
	case "EXEC", "EXECUTE":
		if kind == skInsert && !*seenSelect && !*seenValues {
			return true
		}
	case "DELETE", "UPDATE":
		if prev.is("ON") {
			return true
		}
	case "IF":
		// DROP TABLE IF EXISTS, DROP VIEW IF EXISTS, ...
		switch prev.up {
		case "TABLE", "VIEW", "INDEX", "PROC", "PROCEDURE", "FUNCTION", "SCHEMA", "TRIGGER", "DATABASE":
			return (kind == skDropTable || kind == skDropOther) && prev.kind == tkWord
		}
	case "WITH":
		// WITH only starts a statement at its beginning (a CTE must follow a
		// ';'); elsewhere it is a table hint or an option.
		return true
	}
	return false
}

// cteUpdate reports whether the statement being collected is WITH ... UPDATE.
func (p *parser) cteUpdate() bool {
	for k := p.i - 1; k >= 0; k-- {
		t := p.toks[k]
		if t.is("UPDATE") {
			return true
		}
		if t.is("WITH") {
			return false
		}
	}
	return false
}
