package sqlengine

import (
	"github.com/tdsproxy/tdsproxy/tds"
	"strings"
)

// translation is a statement rewritten for SQLite, with what the executor
// needs to bind and type its results. Translations are cached per statement
// and database and are immutable.
type translation struct {
	sql       string
	vars      []string  // @variables/parameters referenced (lower case, with '@')
	specials  []string  // session values bound as @__name (e.g. "__spid")
	items     []selItem // top-level select list (SELECT statements)
	hasStar   bool
	assign    []string // SELECT @a = ..., one variable per column; nil if not an assignment
	target    tableRef // INSERT/UPDATE/DELETE target, SELECT INTO table
	into      bool     // SELECT ... INTO target
	returning stmtKind // DML with OUTPUT (SQLite RETURNING): its kind
	gen       uint64   // schema generation the translation was made for
	varSig    string   // types of the variables it was made for
	constRow  []any    // non-nil: a constant SELECT answered without SQLite
	constCols []tds.Column
	constWire []any // constRow as wire values (shared: writers must not keep it)
	typed     []sqlType
}

// selItem describes one select-list item.
type selItem struct {
	name    string
	noName  bool // an unaliased expression: SQL Server sends an empty name
	typ     sqlType
	typed   bool
	literal any // constant value when the item is a literal
	isConst bool
}

// tableRef is a table as SQLite names it.
type tableRef struct {
	schema string // SQLite schema: main, temp, or an attached database
	name   string // SQLite table name: "dbo.t", "#t", "sys.x"
	alias  string // correlation name usable in column references
	tsql   string // the name as written, for messages
}

func (r tableRef) sqlite() string { return quoteIdent(r.schema) + "." + quoteIdent(r.name) }

func (r tableRef) isTemp() bool { return r.schema == "temp" }

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// translator rewrites the tokens of one statement.
type translator struct {
	s      *Session
	toks   []token
	b      strings.Builder
	vars   map[string]bool
	varl   []string
	specs  map[string]bool
	specl  []string
	tables []tableRef
	ctes   map[string]bool
	ddl    bool // DEFAULT/CHECK expressions: no parameters allowed
}

func newTranslator(s *Session, toks []token) *translator {
	tr := &translator{s: s, toks: toks}
	tr.collectCTEs()
	return tr
}

// collectCTEs records the names a WITH clause defines, so that they are not
// mapped to tables.
func (tr *translator) collectCTEs() {
	if len(tr.toks) == 0 || !tr.toks[0].is("WITH") {
		return
	}
	tr.ctes = map[string]bool{}
	depth := 0
	for i := 1; i < len(tr.toks); i++ {
		t := tr.toks[i]
		switch {
		case t.isOp("("):
			depth++
		case t.isOp(")"):
			depth--
		case depth == 0 && t.isIdent() && i+1 < len(tr.toks) && (tr.toks[i+1].is("AS") || tr.toks[i+1].isOp("(")):
			tr.ctes[strings.ToLower(t.val)] = true
		case depth == 0 && t.kind == tkWord && (t.up == "SELECT" || t.up == "INSERT" || t.up == "UPDATE" || t.up == "DELETE"):
			return
		}
	}
}

func (tr *translator) useVar(name string) {
	n := strings.ToLower(name)
	if tr.vars == nil {
		tr.vars = map[string]bool{}
	}
	if !tr.vars[n] {
		tr.vars[n] = true
		tr.varl = append(tr.varl, n)
	}
}

func (tr *translator) useSpecial(name string) {
	if tr.ddl {
		// DEFAULT/CHECK expressions cannot use parameters: call tsql_now.
		tr.b.WriteString("tsql_now(" + quoteString(name) + ")")
		return
	}
	if tr.specs == nil {
		tr.specs = map[string]bool{}
	}
	if !tr.specs[name] {
		tr.specs[name] = true
		tr.specl = append(tr.specl, name)
	}
	tr.b.WriteString("@" + name)
}

// matching returns the index of the ')' matching the '(' at i, or -1.
func matching(toks []token, i int) int {
	depth := 0
	for j := i; j < len(toks); j++ {
		if toks[j].isOp("(") {
			depth++
		} else if toks[j].isOp(")") {
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}

// splitArgs splits toks[lo:hi] at top-level commas.
func splitArgs(toks []token, lo, hi int) [][2]int {
	var out [][2]int
	depth, start := 0, lo
	for j := lo; j < hi; j++ {
		switch {
		case toks[j].isOp("("):
			depth++
		case toks[j].isOp(")"):
			depth--
		case toks[j].isOp(",") && depth == 0:
			out = append(out, [2]int{start, j})
			start = j + 1
		}
	}
	if hi > lo {
		out = append(out, [2]int{start, hi})
	}
	return out
}

// nameParts reads a multi-part name (a.b.c, db..t) starting at i. It returns
// the parts and the index after the name.
func nameParts(toks []token, i int) ([]string, int) {
	var parts []string
	j := i
	for {
		if j < len(toks) && toks[j].isIdent() {
			parts = append(parts, toks[j].val)
			j++
		} else if len(parts) > 0 && j < len(toks) && toks[j].isOp(".") {
			parts = append(parts, "") // db..table
		} else if len(parts) == 0 {
			return nil, i
		}
		if j < len(toks) && toks[j].isOp(".") && j+1 < len(toks) && (toks[j+1].isIdent() || toks[j+1].isOp(".")) {
			if toks[j+1].isOp(".") {
				parts = append(parts, "")
				j += 2
				continue
			}
			j++
			continue
		}
		return parts, j
	}
}

// resolveTable maps a T-SQL object name to its SQLite name. ok is false when
// the name cannot be a table (e.g. an unknown schema with one part).
func (tr *translator) resolveTable(parts []string) (tableRef, bool) {
	return tr.s.resolveName(parts)
}

// notAlias lists words that end a table reference instead of naming an alias.
var notAlias = map[string]bool{
	"WHERE": true, "JOIN": true, "INNER": true, "LEFT": true, "RIGHT": true, "FULL": true,
	"CROSS": true, "OUTER": true, "ON": true, "GROUP": true, "ORDER": true, "HAVING": true,
	"UNION": true, "EXCEPT": true, "INTERSECT": true, "SET": true, "VALUES": true, "SELECT": true,
	"WITH": true, "OPTION": true, "FOR": true, "AS": true, "OUTPUT": true, "DEFAULT": true,
	"APPLY": true, "PIVOT": true, "UNPIVOT": true, "WINDOW": true, "USING": true, "WHEN": true,
	"INSERT": true, "UPDATE": true, "DELETE": true, "EXEC": true, "EXECUTE": true, "IF": true,
	"BEGIN": true, "END": true, "ELSE": true, "DECLARE": true, "PRINT": true, "RETURN": true,
	"COMMIT": true, "ROLLBACK": true, "WAITFOR": true, "USE": true, "CREATE": true, "DROP": true,
	"TRUNCATE": true, "ALTER": true, "NATURAL": true, "LIMIT": true,
}

// tableContext reports whether a name at i sits where a table is expected.
func tableContext(toks []token, i int, inFrom bool) bool {
	if i == 0 {
		return false
	}
	p := toks[i-1]
	if p.kind == tkWord {
		switch p.up {
		case "FROM", "JOIN", "INTO", "UPDATE", "TABLE", "REFERENCES", "APPLY":
			return true
		case "DELETE", "INSERT", "MERGE", "USING":
			return true
		}
	}
	if p.isOp(",") && inFrom {
		return true
	}
	return false
}

// translateRange appends the SQLite form of toks[lo:hi].
func (tr *translator) translateRange(lo, hi int) error {
	toks := tr.toks
	var limit string // TOP n of a SELECT at this level
	inFrom := false
	for i := lo; i < hi; i++ {
		t := toks[i]
		if tr.b.Len() > 0 && !t.isOp(",") && !t.isOp(")") && !t.isOp(".") && !(i > lo && toks[i-1].isOp(".")) && !(i > lo && toks[i-1].isOp("(")) {
			tr.b.WriteByte(' ')
		}
		switch t.kind {
		case tkString, tkNString:
			tr.b.WriteString(quoteString(t.val))
			continue
		case tkNumber:
			if strings.HasPrefix(t.text, "0x") || strings.HasPrefix(t.text, "0X") {
				tr.b.WriteString(hexLiteral(t.text))
			} else {
				tr.b.WriteString(t.text)
			}
			continue
		case tkVar:
			if v, ok := tr.s.vars[strings.ToLower(t.val)]; ok && v.typ.name == "table" {
				ref := tableRef{schema: "temp", name: strings.ToLower(t.val), alias: t.val[1:], tsql: t.val}
				tr.b.WriteString(ref.sqlite())
				if i+1 < hi && (toks[i+1].is("AS") || (toks[i+1].isIdent() && !notAlias[toks[i+1].up] && !keywords[toks[i+1].up])) {
					a := i + 1
					if toks[a].is("AS") {
						a++
					}
					if a < hi {
						ref.alias = toks[a].val
					}
				} else if !toks[max(i-1, 0)].is("INTO") && !toks[max(i-1, 0)].is("INSERT") {
					tr.b.WriteString(" AS " + quoteIdent(ref.alias))
				}
				tr.tables = append(tr.tables, ref)
				continue
			}
			tr.useVar(t.val)
			tr.b.WriteString(strings.ToLower(t.val))
			continue
		case tkSysVar:
			if err := tr.sysVar(t); err != nil {
				return err
			}
			continue
		case tkOp:
			switch t.text {
			case "(":
				j := matching(toks, i)
				if j < 0 || j > hi {
					return &syntaxError{near: "("}
				}
				if next, ok, err := tr.valuesTable(i, j, hi); ok || err != nil {
					if err != nil {
						return err
					}
					i = next - 1
					continue
				}
				tr.b.WriteByte('(')
				if err := tr.translateRange(i+1, j); err != nil {
					return err
				}
				tr.b.WriteByte(')')
				i = j
			case "+":
				if tr.stringOperand(lo, i) {
					tr.b.WriteString("||")
				} else {
					tr.b.WriteByte('+')
				}
			case "/", "%":
				// Division by zero is an error in T-SQL (8134), NULL in SQLite.
				tr.b.WriteString(t.text + " tsql_nz(")
				end := tr.primaryEnd(i+1, hi)
				if err := tr.translateRange(i+1, end); err != nil {
					return err
				}
				tr.b.WriteByte(')')
				i = end - 1
			case "!=":
				tr.b.WriteString("<>")
			case "!<":
				tr.b.WriteString(">=")
			case "!>":
				tr.b.WriteString("<=")
			default:
				tr.b.WriteString(t.text)
			}
			continue
		}
		// words and quoted identifiers
		if t.kind == tkWord {
			switch t.up {
			case "FROM":
				inFrom = true
			case "WHERE", "GROUP", "ORDER", "HAVING", "UNION", "EXCEPT", "INTERSECT", "ON", "SET", "VALUES", "OPTION":
				inFrom = false
			}
			switch t.up {
			case "SELECT":
				tr.b.WriteString("SELECT")
				k := i + 1
				if k < hi && (toks[k].is("DISTINCT") || toks[k].is("ALL")) {
					tr.b.WriteString(" " + toks[k].up)
					k++
				}
				if k < hi && toks[k].is("TOP") {
					n, next, err := tr.topClause(k, hi)
					if err != nil {
						return err
					}
					limit = n
					k = next
				}
				i = k - 1
				continue
			case "TOP":
				// UPDATE TOP / DELETE TOP
				return &notSupportedError{what: "TOP in UPDATE or DELETE"}
			case "WITH":
				if i+1 < hi && toks[i+1].isOp("(") && i > lo && (toks[i-1].isIdent() || toks[i-1].isOp(")")) && i != lo {
					// table hint WITH (NOLOCK): dropped
					i = matching(toks, i+1)
					if i < 0 {
						return &syntaxError{near: "WITH"}
					}
					trimSpace(&tr.b)
					continue
				}
			case "CURRENT_TIMESTAMP":
				tr.useSpecial("__now_dt")
				continue
			case "COLLATE":
				// COLLATE Latin1_General_CI_AS etc.: SQLite collations differ.
				if i+1 < hi {
					tr.b.WriteString("COLLATE NOCASE")
					i++
					continue
				}
			case "NOLOCK", "READUNCOMMITTED", "HOLDLOCK", "UPDLOCK", "ROWLOCK", "TABLOCK":
			}
			if i+1 < hi && toks[i+1].isOp("(") && !tableContext(toks, i, inFrom) {
				next, handled, err := tr.function(i, hi)
				if err != nil {
					return err
				}
				if handled {
					i = next - 1
					continue
				}
			}
			if t.up == "OFFSET" {
				next, err := tr.offsetFetch(i, hi)
				if err != nil {
					return err
				}
				i = next - 1
				continue
			}
			if t.up == "INSERT" && i+1 < hi && !toks[i+1].is("INTO") && !toks[i+1].is("BULK") {
				tr.b.WriteString("INSERT INTO") // INTO is optional in T-SQL
				continue
			}
			if keywords[t.up] {
				tr.b.WriteString(t.up)
				continue
			}
		}
		// identifiers: a table reference or a (possibly qualified) column
		parts, next := nameParts(toks, i)
		if len(parts) == 0 {
			tr.b.WriteString(t.text)
			continue
		}
		if next < hi && toks[next].isOp("(") && !tableContext(toks, i, inFrom) {
			// schema-qualified function call: dbo.fn(...) and sys.fn_...(...)
			nx, handled, err := tr.qualifiedFunction(parts, next, hi)
			if err != nil {
				return err
			}
			if handled {
				i = nx - 1
				continue
			}
		}
		isTable := tableContext(toks, i, inFrom)
		if !isTable && len(parts) >= 2 && next < len(toks) && !toks[next].isOp("(") {
			isTable = tr.s.db.isSchemaQualified(parts)
		}
		if isTable && len(parts) == 1 && tr.ctes[strings.ToLower(parts[0])] {
			isTable = false
		}
		if isTable {
			ref, ok := tr.resolveTable(parts)
			if !ok {
				return &objectError{name: strings.Join(parts, ".")}
			}
			tr.b.WriteString(ref.sqlite())
			prev := toks[i-1]
			aliasable := inFrom || prev.is("UPDATE") || prev.is("FROM") || prev.is("JOIN")
			if prev.is("INTO") || prev.is("TABLE") || prev.is("REFERENCES") || prev.is("INSERT") {
				aliasable = false
			}
			if next < hi && (toks[next].is("AS") || (toks[next].isIdent() && !notAlias[toks[next].up] && !keywords[toks[next].up])) {
				a := next
				if toks[a].is("AS") {
					a++
				}
				if a < hi {
					ref.alias = toks[a].val
				}
			} else if aliasable {
				ref.alias = parts[len(parts)-1]
				tr.b.WriteString(" AS " + quoteIdent(ref.alias))
			}
			tr.tables = append(tr.tables, ref)
			i = next - 1
			continue
		}
		// column reference or alias
		for k, p := range parts {
			if k > 0 {
				tr.b.WriteByte('.')
			}
			tr.b.WriteString(quoteIdent(p))
		}
		i = next - 1
	}
	if limit != "" {
		tr.b.WriteString(" LIMIT " + limit)
	}
	return nil
}

func trimSpace(b *strings.Builder) {
	s := strings.TrimRight(b.String(), " ")
	b.Reset()
	b.WriteString(s)
}

// topClause parses TOP n / TOP (expr) [PERCENT] [WITH TIES] at k.
func (tr *translator) topClause(k, hi int) (string, int, error) {
	k++
	if k >= hi {
		return "", k, &syntaxError{near: "TOP"}
	}
	var n string
	if tr.toks[k].isOp("(") {
		j := matching(tr.toks, k)
		if j < 0 {
			return "", k, &syntaxError{near: "TOP"}
		}
		sub := &translator{s: tr.s, toks: tr.toks, vars: tr.vars, varl: tr.varl, specs: tr.specs, specl: tr.specl}
		if err := sub.translateRange(k+1, j); err != nil {
			return "", k, err
		}
		tr.vars, tr.varl, tr.specs, tr.specl = sub.vars, sub.varl, sub.specs, sub.specl
		n = "(" + sub.b.String() + ")"
		k = j + 1
	} else if tr.toks[k].kind == tkNumber || tr.toks[k].kind == tkVar {
		n = tr.toks[k].text
		if tr.toks[k].kind == tkVar {
			tr.useVar(tr.toks[k].val)
			n = strings.ToLower(tr.toks[k].val)
		}
		k++
	} else {
		return "", k, &syntaxError{near: tr.toks[k].text}
	}
	if k < hi && tr.toks[k].is("PERCENT") {
		return "", k, &notSupportedError{what: "TOP ... PERCENT"}
	}
	if k+1 < hi && tr.toks[k].is("WITH") && tr.toks[k+1].is("TIES") {
		k += 2
	}
	return n, k, nil
}

// primaryEnd returns the end of the operand that starts at i: an optional
// unary sign, then a literal, name, function call or parenthesised group.
func (tr *translator) primaryEnd(i, hi int) int {
	toks := tr.toks
	for i < hi && (toks[i].isOp("-") || toks[i].isOp("+") || toks[i].isOp("~")) {
		i++
	}
	if i >= hi {
		return hi
	}
	if toks[i].isOp("(") {
		if j := matching(toks, i); j >= 0 && j < hi {
			return j + 1
		}
		return hi
	}
	if toks[i].isIdent() {
		_, next := nameParts(toks, i)
		if next < hi && toks[next].isOp("(") {
			if j := matching(toks, next); j >= 0 && j < hi {
				return j + 1
			}
		}
		return next
	}
	return i + 1
}

// stringOperand decides whether the '+' at i concatenates strings: either
// operand (the primary before or after it) has a character type.
func (tr *translator) stringOperand(lo, i int) bool {
	// operand after
	end := tr.primaryEnd(i+1, len(tr.toks))
	if t, ok := tr.typeOf(i+1, end); ok && t.isString() {
		return true
	}
	// operand before: walk back over one primary
	j := i - 1
	if j < lo {
		return false
	}
	start := j
	if tr.toks[j].isOp(")") {
		depth := 0
		for k := j; k >= lo; k-- {
			if tr.toks[k].isOp(")") {
				depth++
			} else if tr.toks[k].isOp("(") {
				depth--
				if depth == 0 {
					start = k
					if k-1 >= lo && tr.toks[k-1].isIdent() {
						start = k - 1
					}
					break
				}
			}
		}
	} else {
		for start-2 >= lo && tr.toks[start-1].isOp(".") && tr.toks[start-2].isIdent() {
			start -= 2
		}
	}
	if t, ok := tr.typeOf(start, j+1); ok && t.isString() {
		return true
	}
	return false
}
