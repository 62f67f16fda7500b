package policy

import "strings"

// builtinRowsetFuncs are table-valued functions of the engine that read no
// user object by themselves.
var builtinRowsetFuncs = map[string]bool{
	"openjson": true, "string_split": true, "generate_series": true, "openxml": true,
}

// tableArgFuncs are rowset functions whose first argument is a table.
var tableArgFuncs = map[string]bool{
	"semantickeyphrasetable": true, "semanticsimilaritytable": true,
	"semanticsimilaritydetailstable": true,
}

// tableSource reads one table source after FROM, JOIN, APPLY, USING or ','.
func (p *parser) tableSource(s *scope) {
	t := p.tok(p.pos)
	switch {
	case t.kind == TokLParen && p.joinAhead(p.pos):
		// A parenthesised join: FROM (a x JOIN b y ON …).
		p.joinParen(s)
		p.alias(s, Object{}, false)
		return
	case t.kind == TokLParen: // derived table
		before, usesBefore := len(s.b.st.Accesses), len(s.b.cteUses)
		p.paren(s)
		p.derivedAlias(s, p.readsSince(s.b.st.Accesses[before:], s.b.cteUses[usesBefore:], -1))
		return
	case t.kind == TokOperator && p.text(p.pos) == "::": // FROM ::fn_…(): a system function
		s.b.unknown("FROM ::function")
		p.pos++
		return
	case t.kind == TokVariable:
		p.pos++
		p.alias(s, Object{}, false)
		return
	case t.kind != TokWord && t.kind != TokBracketIdent && t.kind != TokQuotedIdent &&
		t.kind != TokTempName && t.kind != TokGlobalTempName:
		return
	}
	switch t.kw {
	case kwOpenrowset, kwOpendatasource, kwOpenquery:
		s.b.add(KindOpenRowset, nil)
		p.pos++
		if p.tok(p.pos).kind == TokLParen { // arguments are provider strings and options
			p.skipToClose(p.pos)
		}
		return
	case kwContainstable, kwFreetexttable, kwChangetable:
		p.pos++
		if p.tok(p.pos).kind != TokLParen {
			return
		}
		open := p.pos
		p.pos++
		if w := strings.ToLower(p.text(p.pos)); w == "changes" || w == "version" {
			p.pos++
		}
		if o, st := p.name(); st == nameOK {
			s.b.addObj(KindSelect, o)
		}
		p.walk(&scope{b: s.b, nested: true})
		if p.tok(p.pos).kind == TokRParen {
			p.pos++
		} else {
			s.b.unknown("unclosed " + kwInfos[t.kw].name)
			p.skipToClose(open)
		}
		p.alias(s, Object{}, false)
		return
	}
	o, st := p.name()
	switch st {
	case nameNone:
		return
	case nameBad:
		s.b.unknown("table name the classifier does not understand")
		return
	}
	if p.tok(p.pos).kind == TokLParen { // table-valued function
		if o.Schema == "" && o.Database == "" && o.Server == "" {
			switch lname := strings.ToLower(o.Name); {
			case tableArgFuncs[lname]:
				open := p.pos
				p.pos++
				if t, st := p.name(); st == nameOK {
					s.b.addObj(KindSelect, t)
				} else {
					s.b.unknown(strings.ToUpper(lname) + " without a table the classifier understands")
				}
				p.walk(&scope{b: s.b, nested: true})
				if p.tok(p.pos).kind == TokRParen {
					p.pos++
				} else {
					s.b.unknown("unclosed " + strings.ToUpper(lname))
					p.skipToClose(open)
				}
				p.alias(s, Object{}, false)
				return
			case lname == "predict":
				s.b.unknown("PREDICT reads a table named inside its arguments")
			}
		}
		if (o.Schema == "" && o.Database == "" && builtinRowsetFuncs[strings.ToLower(o.Name)]) || p.columnMethod(s, o) {
			p.paren(s)
			p.alias(s, Object{}, false)
			return
		}
		s.b.addObj(KindSelect, o)
		p.paren(s)
		p.alias(s, o, true)
		return
	}
	if i := p.cteOf(o); i >= 0 {
		s.b.cteUses = append(s.b.cteUses, i)
	} else {
		s.b.addObj(KindSelect, o)
	}
	p.alias(s, o, true)
}

// cteOf returns the index of the CTE that o names, or -1.
func (p *parser) cteOf(o Object) int {
	if o.Schema != "" || o.Database != "" || o.Server != "" || o.Temp {
		return -1
	}
	return p.findCTE(o.Name)
}

// readsSince returns the objects read by accesses and by the CTEs used,
// for writes through a CTE or a derived table.
func (p *parser) readsSince(accesses []Access, cteUses []int, self int) []Object {
	var out []Object
	for _, a := range accesses {
		if a.Object != nil && a.Action == KindSelect {
			out = append(out, *a.Object)
		}
	}
	for _, i := range cteUses {
		if i != self && i < len(p.ctes) {
			out = append(out, p.ctes[i].reads...)
		}
	}
	return out
}

// findCTE returns the index of the CTE called name, or -1. Past a few CTEs
// it uses a map so that many CTEs and many table names stay linear.
func (p *parser) findCTE(name string) int {
	if len(p.ctes) <= 8 {
		for i := range p.ctes {
			if strings.EqualFold(p.ctes[i].name, name) {
				return i
			}
		}
		return -1
	}
	if len(p.cteIndex) != len(p.ctes) {
		p.cteIndex = make(map[string]int, len(p.ctes))
		for i := range p.ctes {
			if _, dup := p.cteIndex[strings.ToLower(p.ctes[i].name)]; !dup {
				p.cteIndex[strings.ToLower(p.ctes[i].name)] = i
			}
		}
	}
	if i, ok := p.cteIndex[strings.ToLower(name)]; ok {
		return i
	}
	return -1
}

// aliasable reports whether token i can be a table alias.
func (p *parser) aliasable(i int) bool {
	t := p.tok(i)
	switch t.kind {
	case TokBracketIdent, TokQuotedIdent:
		return !t.bad
	case TokWord:
		switch t.kw {
		case kwNone, kwValue, kwLogin, kwPassword, kwSecret, kwPeriod, kwWork, kwAtomic,
			kwMaster, kwSymmetric, kwAsymmetric, kwCertificate, kwCredential, kwDialog,
			kwConversation, kwTry, kwCatch, kwTies, kwAt, kwMatched:
			return true
		}
	}
	return false
}

// alias consumes an optional [AS] alias after a table source and remembers
// it for resolving UPDATE/DELETE targets.
func (p *parser) alias(s *scope, obj Object, named bool) {
	i := p.pos
	if p.kwAt(i) == kwAs {
		i++
	}
	if !p.aliasable(i) {
		return
	}
	p.pos = i + 1
	if named && !s.nested {
		s.b.aliases = append(s.b.aliases, alias{name: unquoteIdent(p.text(i)), obj: obj})
	}
}

// columnMethod reports a method call on a column of a table already in the
// FROM clause, e.g. CROSS APPLY o.doc.nodes('/a'): three or more parts, the
// first an alias of this statement, the last an xml/spatial method.
func (p *parser) columnMethod(s *scope, o Object) bool {
	if o.Database == "" || !methodNames[strings.ToLower(o.Name)] {
		return false
	}
	first := o.Database
	if o.Server != "" {
		first = o.Server
	}
	for _, a := range s.b.aliases {
		if strings.EqualFold(a.name, first) {
			return true
		}
	}
	return false
}

// joinAhead reports whether the '(' at i opens a parenthesised join: after
// any further '(' comes a table name, not a query.
func (p *parser) joinAhead(i int) bool {
	j := i
	for p.tok(j).kind == TokLParen {
		j++
	}
	t := p.tok(j)
	if t.kind == TokVariable {
		return true
	}
	return p.isNamePart(j) && !p.isStarter(j) && t.kw != kwValues
}

// joinParen reads a parenthesised join: its first table source, then the
// rest as a FROM clause.
func (p *parser) joinParen(s *scope) {
	open := p.pos
	if p.parens >= maxParenDepth {
		s.b.unknown("parentheses nested too deeply")
		p.skipToClose(open)
		return
	}
	p.parens++
	defer func() { p.parens-- }()
	p.pos++
	inner := &scope{b: s.b, nested: true, inFrom: true}
	p.tableSource(inner)
	p.walk(inner)
	if p.tok(p.pos).kind == TokRParen {
		p.pos++
		return
	}
	s.b.unknown("unexpected text inside a parenthesised join")
	p.skipToClose(open)
}

// derivedAlias records the alias of a derived table with the objects it
// reads, so that UPDATE/DELETE through the alias count as writes to them.
func (p *parser) derivedAlias(s *scope, reads []Object) {
	i := p.pos
	if p.kwAt(i) == kwAs {
		i++
	}
	if !p.aliasable(i) {
		return
	}
	p.pos = i + 1
	if s.nested {
		return
	}
	s.b.aliases = append(s.b.aliases, alias{name: unquoteIdent(p.text(i)), derived: true, reads: reads})
}

// into handles INTO: the target of SELECT … INTO, or of OUTPUT … INTO.
func (p *parser) into(s *scope) {
	if p.tok(p.pos).kind == TokVariable {
		p.pos++
		return
	}
	b := s.b
	switch {
	case b.st.Kind == KindSelect && !s.nested && !b.intoSeen:
		o, st := p.name()
		if st != nameOK {
			b.unknown("SELECT INTO without a target name")
			return
		}
		b.intoSeen = true
		b.st.Kind = KindSelectInto
		b.addObj(KindSelectInto, o)
	case b.st.Kind == KindInsert || b.st.Kind == KindUpdate || b.st.Kind == KindDelete || b.st.Kind == KindMerge:
		o, st := p.name()
		if st != nameOK {
			b.unknown("OUTPUT INTO without a target name")
			return
		}
		b.addObj(KindInsert, o)
	}
}

// methodNames are methods of xml, spatial and hierarchyid values, which look
// like two-part function names (col.value(…)).
var methodNames = map[string]bool{
	"value": true, "query": true, "exist": true, "nodes": true, "modify": true,
	"tostring": true, "getancestor": true, "getlevel": true, "isdescendantof": true,
	"getdescendant": true, "getreparentedvalue": true, "stastext": true, "stdistance": true,
	"stintersects": true, "stcontains": true, "stwithin": true, "stbuffer": true,
	"starea": true, "stlength": true, "stx": true, "sty": true, "lat": true, "long": true,
	"astextzm": true, "stsrid": true, "write": true, "stequals": true, "stnumpoints": true,
}

// word handles an identifier in an expression: a qualified name followed by
// '(' calls a user-defined function, which is a read of that object.
func (p *parser) word(s *scope) {
	// Fast path: skip column references (a, t.a, db.s.t.a) that are not
	// function calls without building names. Past the last token, a kind
	// reads as TokInvalid (as p.tok gives).
	toks := p.toks
	j := p.pos
	if j >= len(toks) {
		p.pos++
		return
	}
	bad := toks[j].bad
	for j+2 < len(toks) && toks[j+1].kind == TokDot && p.isNamePart(j+2) {
		j += 2
		bad = bad || toks[j].bad
	}
	if bad {
		s.b.unknown("identifier the classifier does not understand")
	}
	next := TokInvalid
	if j+1 < len(toks) {
		next = toks[j+1].kind
	}
	if (j == p.pos || next != TokLParen) && next != TokDot { // a trailing dot (db..t, t.*) takes the slow path
		p.pos = j + 1
		return
	}
	start := p.pos
	o, st := p.name()
	if st != nameOK || p.pos == start {
		if p.pos == start {
			p.pos++
		}
		return
	}
	if p.tok(p.pos).kind == TokLParen && (o.Schema != "" || o.Database != "" || o.Server != "") &&
		!methodNames[strings.ToLower(o.Name)] {
		s.b.addObj(KindSelect, o)
	}
}

type nameStatus uint8

const (
	nameNone nameStatus = iota // no name here
	nameOK
	nameBad // a name the classifier must not trust (non-ASCII, too many parts)
)

func (p *parser) isNamePart(i int) bool {
	t := p.tok(i)
	switch t.kind {
	case TokBracketIdent, TokQuotedIdent, TokTempName, TokGlobalTempName:
		return true
	case TokWord:
		return !t.kw.reserved()
	}
	return false
}

// name parses a multi-part name (up to server.database.schema.object, with
// empty parts as in db..t) at p.pos.
func (p *parser) name() (Object, nameStatus) {
	if !p.isNamePart(p.pos) {
		return Object{}, nameNone
	}
	var parts [4]string
	n := 0
	bad := false
	temp := false
	for {
		t := p.tok(p.pos)
		if n == len(parts) {
			return Object{}, nameBad
		}
		if p.isNamePart(p.pos) {
			parts[n] = unquoteIdent(p.src[t.start:t.end])
			bad = bad || t.bad
			temp = t.kind == TokTempName || t.kind == TokGlobalTempName
			p.pos++
		} else {
			parts[n] = "" // db..table
		}
		n++
		if p.tok(p.pos).kind != TokDot {
			break
		}
		if !p.isNamePart(p.pos+1) && p.tok(p.pos+1).kind != TokDot {
			break // alias.* or a trailing dot: stop before the dot
		}
		p.pos++
	}
	if bad {
		return Object{}, nameBad
	}
	var o Object
	switch n {
	case 1:
		o.Name = parts[0]
	case 2:
		o.Schema, o.Name = parts[0], parts[1]
	case 3:
		o.Database, o.Schema, o.Name = parts[0], parts[1], parts[2]
	case 4:
		o.Server, o.Database, o.Schema, o.Name = parts[0], parts[1], parts[2], parts[3]
	}
	o.Temp = temp
	if o.Name == "" {
		return Object{}, nameBad
	}
	return o, nameOK
}

// unquoteIdent removes [] or "" quoting from an identifier.
func unquoteIdent(s string) string {
	if len(s) >= 2 {
		switch {
		case s[0] == '[' && s[len(s)-1] == ']':
			return strings.ReplaceAll(s[1:len(s)-1], "]]", "]")
		case s[0] == '"' && s[len(s)-1] == '"':
			return strings.ReplaceAll(s[1:len(s)-1], `""`, `"`)
		}
	}
	return s
}

// stringLiteral decodes a '…' or N'…' token; ok is false for other tokens.
func stringLiteral(t stok, src string) (string, bool) {
	if t.bad {
		return "", false
	}
	s := src[t.start:t.end]
	switch t.kind {
	case TokNString:
		s = s[1:]
	case TokString:
	default:
		return "", false
	}
	if len(s) < 2 {
		return "", false
	}
	return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), true
}
