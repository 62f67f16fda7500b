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
	db     string // database chosen by USE earlier in this text
	depth  int    // BEGIN…END nesting
	bump   int    // extra depth for the statement after IF, WHILE or ELSE
	level  int    // dynamic SQL nesting
	first  bool   // the next statement is the first of the batch
	parens int    // current parenthesis nesting
	// untrusted is set when the text has a token the lexer does not
	// understand; run guarantees the result then contains an unknown access.
	untrusted bool
	// danger is set when some word is a dangerous keyword (see safetyNet).
	danger bool
	// b0 is the builder of the first statement, so a one-statement text
	// allocates none; b0used says it is taken.
	b0     builder
	b0used bool
	endTok stok  // returned by tok past the end
	ctes   []cte // CTEs of the statement being parsed
	// cteIndex maps lower-case CTE names to ctes indexes once there are many.
	cteIndex map[string]int
	// pending holds the accesses of a WITH clause for the statement it precedes.
	pending []Access
	// withStart is the offset of that WITH clause (-1: none).
	withStart int
	// spanStart/spanEnd: offsets reported for statements of dynamic SQL
	// (those of the EXEC in the outer text); spanOuter says whether to use them.
	spanStart, spanEnd int
	spanOuter          bool
	// offset is added to statement offsets: a module body is parsed from a
	// suffix of the outer text.
	offset int
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
	tokStart int      // index of the statement's first token
	reasons  []string // distinct reasons of unknown accesses
	cteUses  []int    // indexes of CTEs read as table sources
	objs     []Object // slab for the objects of accesses
	aliasBuf [4]alias
}

type alias struct {
	name    string
	obj     Object
	derived bool     // alias of a derived table: a write through it hits reads
	reads   []Object // objects read by the derived table
}

// accessSlab is the first allocation of a statement that names objects:
// room for its first accesses and the objects they point to, in one piece.
type accessSlab struct {
	acc  [4]Access
	objs [4]Object
}

func (b *builder) add(action Kind, obj *Object) {
	b.push(Access{Action: action, Object: obj})
}

// push appends an access, making room for a few at the first.
func (b *builder) push(a Access) {
	if cap(b.st.Accesses) == 0 {
		b.st.Accesses = make([]Access, 0, 4)
	}
	b.st.Accesses = append(b.st.Accesses, a)
}

// addObj adds an access on a copy of o. Copies live in small slabs that
// are never grown in place, so earlier pointers stay valid.
func (b *builder) addObj(action Kind, o Object) {
	if len(b.objs) == cap(b.objs) {
		if cap(b.st.Accesses) == 0 {
			slab := new(accessSlab)
			b.st.Accesses, b.objs = slab.acc[:0], slab.objs[:0]
		} else {
			b.objs = make([]Object, 0, 4)
		}
	}
	b.objs = append(b.objs, o)
	b.st.Accesses = append(b.st.Accesses, Access{Action: action, Object: &b.objs[len(b.objs)-1]})
}

// unknown adds an unknown access, once per distinct reason.
func (b *builder) unknown(reason string) {
	for _, r := range b.reasons {
		if r == reason {
			return
		}
	}
	b.reasons = append(b.reasons, reason)
	b.push(Access{Action: KindUnknown, Reason: reason})
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

// parserPool recycles parsers with their token buffers: a classification
// then allocates only what it returns.
var parserPool = sync.Pool{New: func() any { return new(parser) }}

// maxPooledTokens bounds the token buffers kept in the pool.
const maxPooledTokens = 1 << 14

func newParser(src string, level int) *parser {
	p := parserPool.Get().(*parser) // zero but for a reusable toks buffer (see release)
	p.toks, p.untrusted, p.danger = appendSignificant(p.toks[:0], src)
	p.src, p.level, p.first, p.withStart = src, level, true, -1
	return p
}

// release returns the parser to the pool; the parser must not be used
// afterwards. It keeps no reference to the text or the results.
func (p *parser) release() {
	toks := p.toks
	*p = parser{}
	if cap(toks) > maxPooledTokens {
		return
	}
	p.toks = toks[:0]
	parserPool.Put(p)
}

// tok returns token i, or an end token (kind TokInvalid, kw none, empty)
// past either end. The result must not be modified.
func (p *parser) tok(i int) *stok {
	if i < len(p.toks) && i >= 0 {
		return &p.toks[i]
	}
	p.endTok = stok{kind: TokInvalid, start: len(p.src), end: len(p.src)}
	return &p.endTok
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

// run classifies the whole text: the statements, then the structural
// fail-closed checks (unbalanced BEGIN/END, untrusted tokens).
func (p *parser) run() {
	p.batch()
	if p.depth != 0 {
		b := p.begin(KindUnknown)
		b.unknown("BEGIN without END")
		p.finish(b)
	}
	if p.untrusted {
		for i := range p.out {
			if p.out[i].Unknown() {
				return
			}
		}
		b := p.begin(KindUnknown)
		b.unknown("text the classifier does not understand")
		p.finish(b)
	}
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
	var b *builder
	if !p.b0used { // p.b0 is zero: release cleared it
		p.b0used = true
		b = &p.b0
	} else {
		b = new(builder)
	}
	b.st = Statement{Kind: k, Start: p.tok(p.pos).start, Depth: p.depth + p.bump}
	b.tokStart = p.pos
	b.aliases = b.aliasBuf[:0]
	// Accesses are allocated by the first add (addObj takes a slab).
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
	if !hasAction(b.st.Accesses, b.st.Kind) { // the statement's own kind comes first
		b.st.Accesses = append(b.st.Accesses, Access{})
		copy(b.st.Accesses[1:], b.st.Accesses)
		b.st.Accesses[0] = Access{Action: b.st.Kind}
	}
	p.safetyNet(b)
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
	b.st.Start += p.offset
	b.st.End += p.offset
	if p.spanOuter {
		b.st.Start, b.st.End = p.spanStart, p.spanEnd
	}
	p.out = append(p.out, b.st)
	p.out = append(p.out, b.children...)
}

// dangerous are keywords that only appear in statements that change
// something (or run code). A statement classified as read-only that still
// contains one was mis-parsed: the safety net makes it unknown.
var dangerous = func() (t [numKw]bool) {
	for _, k := range []kw{kwInsert, kwUpdate, kwDelete, kwMerge, kwTruncate, kwBulk, kwCreate,
		kwAlter, kwDrop, kwGrant, kwRevoke, kwDeny, kwExec, kwExecute, kwBackup, kwRestore,
		kwKill, kwShutdown, kwReconfigure, kwDbcc, kwWritetext, kwUpdatetext, kwSetuser,
		kwRevert, kwInto, kwOpenrowset, kwOpendatasource, kwOpenquery, kwWaitfor} {
		t[k] = true
	}
	return t
}()

// safetyNet checks a statement whose accesses are all reads, session or
// control flow for keywords that would make it more than that (defence in
// depth against classifier bugs): FOR UPDATE of a cursor and INTO @variable
// are the only allowed uses.
func (p *parser) safetyNet(b *builder) {
	if !p.danger {
		return // no dangerous keyword anywhere in the text
	}
	for _, a := range b.st.Accesses {
		if !a.Action.IsRead() {
			return
		}
	}
	end := p.pos
	if end > len(p.toks) {
		end = len(p.toks)
	}
	for i := b.tokStart; i < end; i++ {
		k := p.toks[i].kw
		if p.toks[i].kind != TokWord || !dangerous[k] {
			continue
		}
		if k == kwUpdate && p.kwAt(i-1) == kwFor {
			continue
		}
		if k == kwUpdate && p.tok(i+1).kind == TokLParen && (b.st.Kind == KindIf || b.st.Kind == KindWhile) {
			continue // IF UPDATE(column) in a trigger
		}
		if k == kwInto && p.tok(i+1).kind == TokVariable {
			continue
		}
		b.unknown(kwInfos[k].name + " inside a statement classified as read-only")
		return
	}
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
			if !strings.EqualFold(a.name, t.Name) {
				continue
			}
			if a.derived {
				if len(a.reads) == 0 {
					b.unknown("write through a derived table that reads no table")
				}
				for _, o := range a.reads {
					b.addObj(b.targetAs, o)
				}
				return
			}
			b.addObj(b.targetAs, a.obj)
			return
		}
		if i := p.findCTE(t.Name); i >= 0 {
			c := &p.ctes[i]
			if len(c.reads) == 0 {
				b.unknown("write through a CTE that reads no table")
			}
			for _, o := range c.reads {
				b.addObj(b.targetAs, o)
			}
			return
		}
	}
	b.addObj(b.targetAs, t)
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
		case TokBracketIdent, TokQuotedIdent:
			if t.bad {
				s.b.unknown("identifier the classifier does not understand")
				p.pos++
				continue
			}
			p.word(s) // [schema].[function](…) is a function call
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
