package sqlengine

import (
	"strings"
)

// outputClause translates INSERT/UPDATE/DELETE ... OUTPUT inserted.x,
// deleted.y to SQLite's RETURNING (INSERT and UPDATE return the new values,
// DELETE the deleted ones, as inserted/deleted do in T-SQL). ok is false
// when the statement has no OUTPUT clause.
func (s *Session) outputClause(toks []token) (*translation, bool, error) {
	kind := classify(toks)
	if kind != skInsert && kind != skUpdate && kind != skDelete {
		return nil, false, nil
	}
	start := -1
	depth := 0
	for i, t := range toks {
		if t.isOp("(") {
			depth++
		} else if t.isOp(")") {
			depth--
		} else if depth == 0 && t.is("OUTPUT") {
			start = i
			break
		}
	}
	if start < 0 {
		return nil, false, nil
	}
	end := start + 1
	depth = 0
	for end < len(toks) {
		t := toks[end]
		if t.isOp("(") {
			depth++
		} else if t.isOp(")") {
			depth--
		} else if depth == 0 && t.kind == tkWord && (t.up == "VALUES" || t.up == "SELECT" || t.up == "DEFAULT" || t.up == "FROM" || t.up == "WHERE" || t.up == "INTO" || t.up == "OPTION") {
			break
		}
		end++
	}
	if end < len(toks) && toks[end].is("INTO") {
		return nil, true, &notSupportedError{what: "OUTPUT ... INTO"}
	}
	// the OUTPUT items without their inserted./deleted. qualifiers
	var items []token
	for i := start + 1; i < end; i++ {
		t := toks[i]
		if (t.is("INSERTED") || t.is("DELETED")) && i+1 < end && toks[i+1].isOp(".") {
			i++
			continue
		}
		items = append(items, t)
	}
	if len(items) == 0 {
		return nil, true, &syntaxError{near: "OUTPUT"}
	}
	rest := append(append([]token{}, toks[:start]...), toks[end:]...)
	tr := newTranslator(s, rest)
	if err := tr.translateRange(0, len(rest)); err != nil {
		return nil, true, err
	}
	out := &translation{returning: kind}
	if len(tr.tables) > 0 {
		out.target = tr.tables[0]
	}
	// type the items as a select list over the target table
	sel := append([]token{{kind: tkWord, text: "SELECT", up: "SELECT"}}, items...)
	it := newTranslator(s, sel)
	it.tables = tr.tables
	out.items, _, out.hasStar = it.selectItems(0, len(sel))
	ret := newTranslator(s, sel)
	ret.vars, ret.varl, ret.specs, ret.specl = tr.vars, tr.varl, tr.specs, tr.specl
	if err := ret.translateRange(1, len(sel)); err != nil {
		return nil, true, err
	}
	out.sql = tr.b.String() + " RETURNING " + strings.TrimSpace(ret.b.String())
	out.vars, out.specials = ret.varl, ret.specl
	return out, true, nil
}
