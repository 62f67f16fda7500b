package policy

import (
	"strings"
	"sync"
)

// maxDynamicLevel bounds how deep EXEC('EXEC(”…”)') nesting is followed.
const maxDynamicLevel = 4

// maxParenDepth bounds the recursion over nested parentheses.
const maxParenDepth = 128

// stok is a significant token (no whitespace or comments) with its keyword.
type stok struct {
	kind       TokenKind
	kw         kw
	bad        bool
	start, end int
}

// parser classifies the statements of one text.
type parser struct {
	src    string
	toks   []stok
	pos    int
	out    []Statement
	db     string   // database chosen by USE earlier in this text
	depth  int      // BEGIN…END nesting
	bump   int      // extra depth for the statement after IF, WHILE or ELSE
	level  int      // dynamic SQL nesting
	first  bool     // the next statement is the first of the batch
	parens int      // current parenthesis nesting
	sc     *scratch // pooled token buffers
	ctes   []cte    // CTEs of the statement being parsed
	// pending holds the accesses of a WITH clause for the statement it precedes.
	pending []Access
	// withStart is the offset of that WITH clause (-1: none).
	withStart int
	// spanStart/spanEnd: offsets reported for statements of dynamic SQL
	// (those of the EXEC in the outer text); spanOuter says whether to use them.
	spanStart, spanEnd int
	spanOuter          bool
}

type cte struct {
	name  string
	reads []Object
}

// builder accumulates one statement.
type builder struct {
	st       Statement
	aliases  []alias
	target   *Object // write target, resolved against aliases and CTEs at the end
	targetAs Kind
	children []Statement
	bodySeen bool // INSERT: SELECT body seen
	intoSeen bool
	tokStart int // index of the statement's first token
}

type alias struct {
	name string
	obj  Object
}

func (b *builder) add(action Kind, obj *Object) {
	b.st.Accesses = append(b.st.Accesses, Access{Action: action, Object: obj})
}

// addObj adds an access on a copy of o.
func (b *builder) addObj(action Kind, o Object) {
	obj := new(Object)
	*obj = o
	b.st.Accesses = append(b.st.Accesses, Access{Action: action, Object: obj})
}

func (b *builder) unknown(reason string) {
	for _, a := range b.st.Accesses {
		if a.Action == KindUnknown && a.Reason == reason {
			return
		}
	}
	b.st.Accesses = append(b.st.Accesses, Access{Action: KindUnknown, Reason: reason})
}

// scope is the state of a walk over one clause sequence: a statement body,
// or the inside of a pair of parentheses.
type scope struct {
	b         *builder
	nested    bool // inside parentheses: ')' ends the walk
	inFrom    bool // in a FROM clause: ',' introduces another table source
	caseDepth int
	noTables  bool // FROM names no table source here (CREATE LOGIN … FROM WINDOWS, FETCH … FROM)
	// cont reports whether the statement keyword at token i continues the
	// current statement instead of starting a new one.
	cont func(i int) bool
}

// scratch holds the token buffers of one parse, reused through a pool.
type scratch struct {
	lx   []Token
	toks []stok
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// maxPooledTokens bounds the buffers kept in the pool.
const maxPooledTokens = 1 << 14

func newParser(src string, level int) *parser {
	sc := scratchPool.Get().(*scratch)
	sc.lx = AppendTokens(sc.lx[:0], src)
	lx := sc.lx
	toks := sc.toks[:0]
	for _, t := range lx {
		switch t.Kind {
		case TokSpace:
			continue
		case TokLineComment, TokBlockComment:
			if !t.Bad {
				continue
			}
			t.Kind = TokInvalid // a comment the classifier cannot trust
		}
		s := stok{kind: t.Kind, bad: t.Bad, start: t.Start, end: t.End}
		if t.Kind == TokWord {
			s.kw = lookupKw(src[t.Start:t.End])
		}
		toks = append(toks, s)
	}
	sc.toks = toks
	return &parser{src: src, toks: toks, level: level, first: true, withStart: -1, sc: sc}
}

// release returns the parser's buffers to the pool; the parser must not be
// used afterwards.
func (p *parser) release() {
	sc := p.sc
	p.sc, p.toks = nil, nil
	if sc == nil || cap(sc.lx) > maxPooledTokens || cap(sc.toks) > maxPooledTokens {
		return
	}
	scratchPool.Put(sc)
}

// tok returns token i, or a zero token (kind TokInvalid, kw none) past the end.
func (p *parser) tok(i int) stok {
	if i < len(p.toks) && i >= 0 {
		return p.toks[i]
	}
	return stok{kind: TokInvalid, start: len(p.src), end: len(p.src)}
}

func (p *parser) kwAt(i int) kw {
	if i < len(p.toks) && i >= 0 && p.toks[i].kind == TokWord {
		return p.toks[i].kw
	}
	return kwNone
}

func (p *parser) atEnd() bool { return p.pos >= len(p.toks) }

func (p *parser) text(i int) string {
	t := p.tok(i)
	return p.src[t.start:t.end]
}

// lower returns the lower-case text of token i.
func (p *parser) lower(i int) string { return strings.ToLower(p.text(i)) }

// isStarter reports whether token i begins a statement.
func (p *parser) isStarter(i int) bool {
	k := p.kwAt(i)
	if k == kwNone || k > lastStarter {
		return false
	}
	switch k {
	case kwWith:
		next := p.tok(i + 1)
		if next.kind == TokLParen {
			return false
		}
		switch p.kwAt(i + 1) {
		case kwTies, kwRollup, kwCube:
			return false
		}
	case kwEnable, kwDisable:
		return p.kwAt(i+1) == kwTrigger
	case kwSend:
		return p.kwAt(i+1) == kwOn
	case kwGet, kwMove:
		return p.kwAt(i+1) == kwConversation
	}
	return true
}

// batch classifies statements until the end of the text.
func (p *parser) batch() {
	for !p.atEnd() {
		if p.tok(p.pos).kind == TokSemicolon {
			p.pos++
			continue
		}
		start := p.pos
		p.statement(false)
		p.first = false
		if p.pos == start { // never loop without progress
			p.pos++
		}
	}
}

// begin starts a statement of kind k at the current token.
func (p *parser) begin(k Kind) *builder {
	b := &builder{st: Statement{Kind: k, Start: p.tok(p.pos).start, Depth: p.depth + p.bump}, tokStart: p.pos}
	p.bump = 0
	if p.withStart >= 0 {
		b.st.Start = p.withStart
		p.withStart = -1
	}
	if len(p.pending) > 0 {
		b.st.Accesses = append(b.st.Accesses, p.pending...)
		p.pending = nil
	}
	return b
}

// finish resolves the write target, closes the statement and appends it.
func (p *parser) finish(b *builder) {
	if b.target != nil {
		p.resolveTarget(b)
	}
	if len(b.st.Accesses) == 0 || !hasAction(b.st.Accesses, b.st.Kind) {
		b.st.Accesses = append([]Access{{Action: b.st.Kind}}, b.st.Accesses...)
	}
	end := p.pos
	if end > len(p.toks) {
		end = len(p.toks)
	}
	if end > 0 {
		b.st.End = p.toks[end-1].end
	}
	if b.st.End < b.st.Start {
		b.st.End = b.st.Start
	}
	if p.db != "" {
		for i := range b.st.Accesses {
			if o := b.st.Accesses[i].Object; o != nil && o.Database == "" && !o.Temp && o.Server == "" {
				c := *o
				c.Database = p.db
				b.st.Accesses[i].Object = &c
			}
		}
		if b.st.Proc != nil && b.st.Proc.Database == "" && b.st.Proc.Server == "" {
			c := *b.st.Proc
			c.Database = p.db
			b.st.Proc = &c
		}
	}
	if p.spanOuter {
		b.st.Start, b.st.End = p.spanStart, p.spanEnd
	}
	p.out = append(p.out, b.st)
	p.out = append(p.out, b.children...)
}

func hasAction(as []Access, k Kind) bool {
	for _, a := range as {
		if a.Action == k {
			return true
		}
	}
	return false
}

// resolveTarget turns a write target that names an alias or a CTE into the
// objects it stands for.
func (p *parser) resolveTarget(b *builder) {
	t := *b.target
	if t.Database == "" && t.Schema == "" && t.Server == "" && !t.Temp {
		for _, a := range b.aliases {
			if strings.EqualFold(a.name, t.Name) {
				o := a.obj
				b.add(b.targetAs, &o)
				return
			}
		}
		for _, c := range p.ctes {
			if strings.EqualFold(c.name, t.Name) {
				if len(c.reads) == 0 {
					b.unknown("write through a CTE that reads no table")
				}
				for i := range c.reads {
					o := c.reads[i]
					b.add(b.targetAs, &o)
				}
				return
			}
		}
	}
	b.add(b.targetAs, &t)
}

// walk consumes the tokens of the current statement (or parenthesised part)
// up to its end, recording table sources, subqueries and nested statements.
func (p *parser) walk(s *scope) {
	for !p.atEnd() {
		t := p.toks[p.pos]
		switch t.kind {
		case TokSemicolon:
			if s.nested {
				s.b.unknown("';' inside parentheses")
			}
			return
		case TokRParen:
			if s.nested {
				return
			}
			s.b.unknown("unbalanced ')'")
			p.pos++
			continue
		case TokLParen:
			p.paren(s)
			continue
		case TokInvalid:
			s.b.unknown("text the classifier does not understand")
			p.pos++
			continue
		case TokComma:
			p.pos++
			if s.inFrom {
				p.tableSource(s)
			}
			continue
		case TokWord:
			if t.kw == kwNone || (!t.kw.reserved() && !p.isStarter(p.pos)) {
				if t.kw == kwNext && p.kwAt(p.pos+1) == kwValue && p.kwAt(p.pos+2) == kwFor {
					p.pos += 3
					if o, st := p.name(); st == nameOK {
						s.b.addObj(KindUpdate, o)
					} else {
						s.b.unknown("NEXT VALUE FOR without a sequence name")
					}
					continue
				}
				if t.kw == kwApply {
					p.pos++
					s.inFrom = true
					p.tableSource(s)
					continue
				}
				if t.kw == kwUsing && s.b.st.Kind == KindMerge && !s.nested {
					p.pos++
					s.inFrom = true
					p.tableSource(s)
					continue
				}
				p.word(s)
				continue
			}
		default:
			if t.bad {
				s.b.unknown("unterminated or untrusted " + t.kind.String())
			}
			p.pos++
			continue
		}
		k := t.kw
		switch {
		case k == kwCase:
			s.caseDepth++
			p.pos++
			continue
		case k == kwEnd && s.caseDepth > 0:
			s.caseDepth--
			p.pos++
			continue
		case k == kwElse && s.caseDepth > 0:
			p.pos++
			continue
		}
		if p.isStarter(p.pos) && !p.continues(s) {
			if s.nested {
				s.b.unknown(strings.ToUpper(p.text(p.pos)) + " inside parentheses")
			}
			return
		}
		p.pos++
		switch k {
		case kwFrom, kwJoin, kwApply:
			if !s.noTables {
				s.inFrom = true
				p.tableSource(s)
			}
		case kwFor:
			if !strings.EqualFold(p.text(p.pos), "system_time") { // FROM t FOR SYSTEM_TIME … stays in FROM
				s.inFrom = false
			}
		case kwWhere, kwGroup, kwHaving, kwOrder, kwUnion, kwExcept, kwIntersect, kwOption:
			s.inFrom = false
		case kwInto:
			p.into(s)
		case kwOpenrowset, kwOpendatasource, kwOpenquery:
			s.b.add(KindOpenRowset, nil)
			if p.tok(p.pos).kind == TokLParen {
				p.skipToClose(p.pos)
			}
		}
	}
}

// continues reports whether the starter keyword at p.pos continues s.
func (p *parser) continues(s *scope) bool {
	k := p.kwAt(p.pos)
	if k == kwSelect {
		switch p.kwAt(p.pos - 1) {
		case kwUnion, kwExcept, kwIntersect, kwAll:
			return true
		}
		if p.tok(p.pos-1).kind == TokLParen {
			return true
		}
	}
	if k == kwFetch { // ORDER BY … OFFSET n ROWS FETCH NEXT m ROWS ONLY
		switch p.lower(p.pos - 1) {
		case "rows", "row":
			return true
		}
	}
	return s.cont != nil && s.cont(p.pos)
}

// paren handles a parenthesised part: a subquery, a composable DML statement,
// a table value constructor or an expression list.
func (p *parser) paren(s *scope) {
	open := p.pos
	if p.parens >= maxParenDepth {
		s.b.unknown("parentheses nested too deeply")
		p.skipToClose(open)
		return
	}
	p.parens++
	defer func() { p.parens-- }()
	p.pos++
	inner := &scope{b: s.b, nested: true}
	switch p.kwAt(p.pos) {
	case kwInsert, kwUpdate, kwDelete, kwMerge:
		p.statement(true)
	default:
		p.walk(inner)
	}
	if p.tok(p.pos).kind == TokRParen {
		p.pos++
		return
	}
	if p.atEnd() {
		s.b.unknown("unclosed '('")
		return
	}
	s.b.unknown("unexpected text inside parentheses")
	p.skipToClose(open)
}

// skipToClose moves past the ')' matching the '(' at token open.
func (p *parser) skipToClose(open int) {
	depth := 0
	for i := open; i < len(p.toks); i++ {
		switch p.toks[i].kind {
		case TokLParen:
			depth++
		case TokRParen:
			depth--
			if depth == 0 {
				p.pos = i + 1
				return
			}
		}
	}
	p.pos = len(p.toks)
}

// builtinRowsetFuncs are table-valued functions of the engine that read no
// user object by themselves.
var builtinRowsetFuncs = map[string]bool{
	"openjson": true, "string_split": true, "generate_series": true, "openxml": true,
}

// tableSource reads one table source after FROM, JOIN, APPLY, USING or ','.
func (p *parser) tableSource(s *scope) {
	t := p.tok(p.pos)
	switch {
	case t.kind == TokLParen:
		p.paren(s)
		p.alias(s, Object{}, false)
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
		if strings.EqualFold(p.text(p.pos), "changes") {
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
		if o.Schema == "" && o.Database == "" && builtinRowsetFuncs[strings.ToLower(o.Name)] {
			p.paren(s)
			p.alias(s, Object{}, false)
			return
		}
		s.b.addObj(KindSelect, o)
		p.paren(s)
		p.alias(s, o, true)
		return
	}
	if !p.isCTE(o) {
		s.b.addObj(KindSelect, o)
	}
	p.alias(s, o, true)
}

func (p *parser) isCTE(o Object) bool {
	if o.Schema != "" || o.Database != "" || o.Server != "" || o.Temp {
		return false
	}
	for _, c := range p.ctes {
		if strings.EqualFold(c.name, o.Name) {
			return true
		}
	}
	return false
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
