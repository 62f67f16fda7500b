package sqlengine

import (
	"fmt"
	"strings"
)

// sysVar writes a @@variable.
func (tr *translator) sysVar(t token) error {
	db := tr.s.db
	switch t.up {
	case "@@VERSION":
		tr.b.WriteString(quoteString(db.version()))
	case "@@SERVERNAME", "@@SERVICENAME":
		name := db.opts.ServerName
		if t.up == "@@SERVICENAME" {
			name = "MSSQLSERVER"
		}
		tr.b.WriteString(quoteString(name))
	case "@@MAX_PRECISION":
		tr.b.WriteString("38")
	case "@@MICROSOFTVERSION":
		tr.b.WriteString("268439552")
	case "@@SPID", "@@TRANCOUNT", "@@ROWCOUNT", "@@IDENTITY", "@@ERROR", "@@OPTIONS",
		"@@LANGUAGE", "@@DATEFIRST", "@@LOCK_TIMEOUT", "@@TEXTSIZE", "@@NESTLEVEL",
		"@@FETCH_STATUS", "@@PROCID", "@@LANGID", "@@DBTS", "@@CONNECTIONS", "@@MAX_CONNECTIONS":
		tr.useSpecial("__" + strings.ToLower(t.up[2:]))
	default:
		return &syntaxError{msg: fmt.Sprintf("Must declare the scalar variable \"%s\".", t.text)}
	}
	return nil
}

// offsetFetch translates OFFSET x ROWS [FETCH NEXT y ROWS ONLY] to
// LIMIT y OFFSET x.
func (tr *translator) offsetFetch(i, hi int) (int, error) {
	toks := tr.toks
	end := i + 1
	for end < hi && !toks[end].is("ROWS") && !toks[end].is("ROW") {
		end++
	}
	if end >= hi {
		return 0, &syntaxError{near: "OFFSET"}
	}
	off := &translator{s: tr.s, toks: toks}
	if err := off.translateRange(i+1, end); err != nil {
		return 0, err
	}
	limit := "-1"
	next := end + 1
	if next < hi && toks[next].is("FETCH") {
		k := next + 2 // FETCH NEXT|FIRST
		e := k
		for e < hi && !toks[e].is("ROWS") && !toks[e].is("ROW") {
			e++
		}
		if e >= hi {
			return 0, &syntaxError{near: "FETCH"}
		}
		lim := &translator{s: tr.s, toks: toks}
		if err := lim.translateRange(k, e); err != nil {
			return 0, err
		}
		limit = lim.b.String()
		for _, v := range lim.varl {
			tr.useVar(v)
		}
		next = e + 1
		if next < hi && toks[next].is("ONLY") {
			next++
		}
	}
	for _, v := range off.varl {
		tr.useVar(v)
	}
	tr.b.WriteString("LIMIT " + limit + " OFFSET " + off.b.String())
	return next, nil
}

// valuesTable rewrites a table value constructor with a column alias list,
// "(VALUES (1),(2)) a(x)", which SQLite lacks, as
// "(SELECT column1 AS x FROM (VALUES (1),(2))) AS a".
func (tr *translator) valuesTable(open, close, hi int) (int, bool, error) {
	toks := tr.toks
	if open+1 >= close || !toks[open+1].is("VALUES") {
		return 0, false, nil
	}
	k := close + 1
	if k < hi && toks[k].is("AS") {
		k++
	}
	if k+1 >= hi || !toks[k].isIdent() || !toks[k+1].isOp("(") {
		return 0, false, nil
	}
	alias := toks[k].val
	end := matching(toks, k+1)
	if end < 0 || end >= hi {
		return 0, false, &syntaxError{near: alias}
	}
	var cols []string
	for n, a := range splitArgs(toks, k+2, end) {
		if a[1]-a[0] != 1 || !toks[a[0]].isIdent() {
			return 0, false, &syntaxError{near: alias}
		}
		cols = append(cols, fmt.Sprintf("column%d AS %s", n+1, quoteIdent(toks[a[0]].val)))
	}
	tr.b.WriteString("(SELECT " + strings.Join(cols, ", ") + " FROM (")
	if err := tr.translateRange(open+1, close); err != nil {
		return 0, false, err
	}
	tr.b.WriteString(")) AS " + quoteIdent(alias))
	return end + 1, true, nil
}

func (e *objectError) Error() string { return fmt.Sprintf("Invalid object name '%s'.", e.name) }
