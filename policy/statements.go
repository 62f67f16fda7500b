package policy

import "strings"

// statement classifies the statement at p.pos. nested is true for a
// statement inside parentheses (composable DML), which ends at ')'.
func (p *parser) statement(nested bool) {
	first := p.first && !nested
	p.first = false
	t := p.tok(p.pos)
	if t.kind == TokLParen && !nested { // (SELECT …) UNION …
		b := p.begin(KindSelect)
		p.walk(&scope{b: b})
		p.finish(b)
		return
	}
	if t.kind == TokWord && t.kw != kwNone && p.isStarter(p.pos) {
		p.keywordStatement(t.kw, nested)
		return
	}
	if p.isNamePart(p.pos) && p.tok(p.pos+1).kind == TokColon && t.kind == TokWord {
		b := p.begin(KindGoto)
		b.st.Type = "label"
		p.pos += 2
		p.finish(b)
		return
	}
	if first && p.isNamePart(p.pos) {
		p.exec(nested, true) // a procedure name alone at the start of a batch runs it
		return
	}
	b := p.begin(KindUnknown)
	b.unknown("statement does not start with a known keyword")
	p.pos++
	p.walk(&scope{b: b, nested: nested})
	p.finish(b)
}

func contWith(p *parser) func(int) bool {
	return func(i int) bool { return p.kwAt(i) == kwWith }
}

// simple classifies a statement of kind k that has no table sources of its
// own: the keyword, then anything up to the next statement.
func (p *parser) simple(k Kind, nested bool, skip int) *builder {
	b := p.begin(k)
	p.pos += skip
	p.walk(&scope{b: b, nested: nested, cont: contWith(p), noTables: true})
	return b
}

func (p *parser) keywordStatement(k kw, nested bool) {
	switch k {
	case kwSelect:
		b := p.begin(KindSelect)
		p.pos++
		p.walk(&scope{b: b, nested: nested})
		p.finish(b)
	case kwWith:
		p.with(nested)
	case kwInsert:
		p.insert(nested)
	case kwUpdate:
		p.update(nested)
	case kwDelete:
		p.delete(nested)
	case kwMerge:
		p.merge(nested)
	case kwTruncate:
		p.targeted(KindTruncate, nested, kwTable)
	case kwBulk:
		p.targeted(KindBulkInsert, nested, kwInsert)
	case kwCreate:
		p.ddl(KindCreate, nested)
	case kwAlter:
		p.ddl(KindAlter, nested)
	case kwDrop:
		p.ddl(KindDrop, nested)
	case kwGrant:
		p.dcl(KindGrant, nested)
	case kwRevoke:
		p.dcl(KindRevoke, nested)
	case kwDeny:
		p.dcl(KindDeny, nested)
	case kwExec, kwExecute:
		p.exec(nested, false)
	case kwSet:
		p.set(nested)
	case kwDeclare:
		b := p.begin(KindDeclare)
		p.pos++
		b.st.Type = "variable"
		if p.tok(p.pos).kind == TokWord {
			b.st.Type = "cursor"
		}
		p.walk(&scope{b: b, nested: nested, cont: p.cursorCont(b)})
		p.finish(b)
	case kwUse:
		b := p.begin(KindUse)
		p.pos++
		if p.isNamePart(p.pos) && p.tok(p.pos+1).kind != TokDot {
			b.st.Type = unquoteIdent(p.text(p.pos))
			if p.tok(p.pos).bad {
				b.unknown("database name the classifier does not understand")
			} else {
				p.db = b.st.Type
			}
			p.pos++
		} else {
			b.unknown("USE without a database name")
		}
		p.finish(b)
	case kwIf, kwWhile:
		kind := KindIf
		if k == kwWhile {
			kind = KindWhile
		}
		b := p.begin(kind)
		p.pos++
		// In a trigger, IF UPDATE(column) tests whether a column changed.
		cont := func(i int) bool {
			return p.kwAt(i) == kwUpdate && p.tok(i+1).kind == TokLParen && p.isNamePart(i+2) &&
				p.tok(i+3).kind == TokRParen && p.kwAt(i+4) != kwSet
		}
		p.walk(&scope{b: b, nested: nested, cont: cont})
		p.finish(b)
		p.bump = 1
	case kwElse:
		b := p.begin(KindElse)
		p.pos++
		p.finish(b)
		p.bump = 1
	case kwBegin:
		p.beginStatement(nested)
	case kwEnd:
		p.end(nested)
	case kwCommit:
		p.finish(p.simple(KindCommit, nested, 1))
	case kwRollback:
		p.finish(p.simple(KindRollback, nested, 1))
	case kwSave:
		p.finish(p.simple(KindSaveTran, nested, 1))
	case kwReturn:
		b := p.begin(KindReturn)
		p.pos++
		p.walk(&scope{b: b, nested: nested})
		p.finish(b)
	case kwBreak, kwContinue:
		p.finish(p.simple(KindBreak, nested, 1))
	case kwGoto:
		p.finish(p.simple(KindGoto, nested, 1))
	case kwPrint, kwRaiserror, kwThrow:
		kind := KindRaiserror
		if k == kwPrint {
			kind = KindPrint
		}
		b := p.begin(kind)
		p.pos++
		p.walk(&scope{b: b, nested: nested, cont: contWith(p)})
		p.finish(b)
	case kwWaitfor:
		if p.tok(p.pos+1).kind == TokLParen {
			b := p.begin(KindBroker)
			b.unknown("WAITFOR with a statement")
			p.pos++
			p.walk(&scope{b: b, nested: nested})
			p.finish(b)
			return
		}
		p.finish(p.simple(KindWaitfor, nested, 1))
	case kwDbcc:
		b := p.begin(KindDBCC)
		p.pos++
		if p.tok(p.pos).kind == TokWord {
			b.st.Type = p.lower(p.pos)
			p.pos++
		}
		p.walk(&scope{b: b, nested: nested, cont: contWith(p), noTables: true})
		p.finish(b)
	case kwBackup:
		p.finish(p.simple(KindBackup, nested, 1))
	case kwRestore:
		p.finish(p.simple(KindRestore, nested, 1))
	case kwKill:
		p.finish(p.simple(KindKill, nested, 1))
	case kwShutdown:
		p.finish(p.simple(KindShutdown, nested, 1))
	case kwReconfigure:
		p.finish(p.simple(KindReconfigure, nested, 1))
	case kwCheckpoint:
		p.finish(p.simple(KindCheckpoint, nested, 1))
	case kwRevert:
		p.finish(p.simple(KindRevert, nested, 1))
	case kwSetuser:
		p.finish(p.simple(KindExecuteAs, nested, 1))
	case kwOpen, kwClose:
		switch p.kwAt(p.pos + 1) {
		case kwSymmetric, kwMaster:
			b := p.simple(KindUnknown, nested, 1)
			b.unknown("OPEN/CLOSE of an encryption key")
			p.finish(b)
			return
		}
		p.finish(p.simple(KindCursor, nested, 1))
	case kwFetch, kwDeallocate:
		p.finish(p.simple(KindCursor, nested, 1))
	case kwReadtext, kwWritetext, kwUpdatetext:
		p.text2(k, nested)
	case kwEnable, kwDisable:
		b := p.begin(KindAlter)
		b.st.Type = "trigger"
		p.pos += 2
		for p.isNamePart(p.pos) || p.tok(p.pos).kind == TokComma || p.tok(p.pos).kind == TokDot {
			p.pos++
		}
		if p.kwAt(p.pos) == kwOn {
			p.pos++
			if p.kwAt(p.pos) != kwDatabase && p.kwAt(p.pos) != kwAll {
				if o, st := p.name(); st == nameOK {
					b.addObj(KindAlter, o)
				}
			}
		}
		p.walk(&scope{b: b, nested: nested, noTables: true})
		p.finish(b)
	case kwSend, kwReceive, kwGet, kwMove:
		b := p.begin(KindBroker)
		p.pos++
		p.walk(&scope{b: b, nested: nested, cont: contWith(p)})
		p.finish(b)
	default:
		b := p.begin(KindUnknown)
		b.unknown("unsupported statement " + kwInfos[k].name)
		p.pos++
		p.walk(&scope{b: b, nested: nested})
		p.finish(b)
	}
}

// cursorCont lets DECLARE … CURSOR FOR SELECT and SET @c = CURSOR FOR SELECT
// continue into the cursor's query and its FOR UPDATE clause.
func (p *parser) cursorCont(b *builder) func(int) bool {
	return func(i int) bool {
		if p.kwAt(i-1) != kwFor {
			return false
		}
		cursor := false
		for j := b.tokStart; j < i; j++ {
			if p.kwAt(j) == kwCursor {
				cursor = true
				break
			}
		}
		if !cursor {
			return false
		}
		switch p.kwAt(i) {
		case kwSelect:
			return true
		case kwUpdate:
			next := p.tok(i + 1)
			if !(p.kwAt(i+1) == kwOf || next.kind == TokSemicolon || i+1 >= len(p.toks) || p.isStarter(i+1)) {
				b.unknown("unexpected text after FOR UPDATE")
			}
			return true
		}
		return false
	}
}

// with handles WITH [XMLNAMESPACES (…),] cte AS (…)[, …] followed by the
// statement that uses them.
func (p *parser) with(nested bool) {
	bw := p.begin(KindUnknown)
	p.pos++
	p.ctes, p.cteIndex = p.ctes[:0], nil
	ok := true
	for {
		if p.kwAt(p.pos) == kwXmlnamespaces {
			p.pos++
			if p.tok(p.pos).kind != TokLParen {
				ok = false
				break
			}
			p.paren(&scope{b: bw})
		} else {
			if !p.isNamePart(p.pos) || p.tok(p.pos).kind == TokTempName {
				ok = false
				break
			}
			name := unquoteIdent(p.text(p.pos))
			p.pos++
			if p.tok(p.pos).kind == TokLParen {
				p.skipToClose(p.pos)
			}
			if p.kwAt(p.pos) != kwAs || p.tok(p.pos+1).kind != TokLParen {
				ok = false
				break
			}
			p.pos++
			p.ctes = append(p.ctes, cte{name: name})
			before, usesBefore := len(bw.st.Accesses), len(bw.cteUses)
			p.paren(&scope{b: bw})
			self := len(p.ctes) - 1
			p.ctes[self].reads = p.readsSince(bw.st.Accesses[before:], bw.cteUses[usesBefore:], self)
		}
		if p.tok(p.pos).kind != TokComma {
			break
		}
		p.pos++
	}
	switch p.kwAt(p.pos) {
	case kwSelect, kwInsert, kwUpdate, kwDelete, kwMerge:
		if ok {
			p.pending = append(p.pending[:0], bw.st.Accesses...)
			p.withStart = bw.st.Start
			p.keywordStatement(p.kwAt(p.pos), nested)
			p.ctes, p.cteIndex = p.ctes[:0], nil
			return
		}
	}
	bw.unknown("WITH not followed by SELECT, INSERT, UPDATE, DELETE or MERGE")
	p.walk(&scope{b: bw, nested: nested})
	p.finish(bw)
	p.ctes, p.cteIndex = p.ctes[:0], nil
}

// top skips TOP (n) [PERCENT].
func (p *parser) top(s *scope) {
	if p.kwAt(p.pos) != kwTop {
		return
	}
	p.pos++
	if p.tok(p.pos).kind == TokLParen {
		p.paren(s)
	} else {
		p.pos++
	}
	if strings.EqualFold(p.text(p.pos), "percent") {
		p.pos++
	}
}

// dmlTarget reads the target of INSERT, UPDATE, DELETE or MERGE.
func (p *parser) dmlTarget(s *scope, as Kind) {
	b := s.b
	t := p.tok(p.pos)
	switch {
	case t.kind == TokVariable:
		p.pos++
		return
	case t.kw == kwOpenrowset || t.kw == kwOpendatasource || t.kw == kwOpenquery:
		b.add(KindOpenRowset, nil)
		p.pos++
		if p.tok(p.pos).kind == TokLParen {
			p.paren(s)
		}
		return
	}
	o, st := p.name()
	if st != nameOK {
		b.unknown(strings.ToUpper(as.String()) + " without a target the classifier understands")
		return
	}
	b.target, b.targetAs = &o, as
	if p.tok(p.pos).kind == TokLParen && as != KindInsert {
		b.unknown("function as the target of " + strings.ToUpper(as.String()))
	}
}

func (p *parser) insert(nested bool) {
	b := p.begin(KindInsert)
	p.pos++
	if p.kwAt(p.pos) == kwBulk { // INSERT BULK, sent by bulk-load clients
		b.st.Kind = KindBulkInsert
		p.pos++
		if o, st := p.name(); st == nameOK {
			b.addObj(KindBulkInsert, o)
		} else {
			b.unknown("INSERT BULK without a table name")
		}
		p.walk(&scope{b: b, nested: nested, cont: contWith(p), noTables: true})
		p.finish(b)
		return
	}
	s := &scope{b: b, nested: nested}
	p.top(s)
	if p.kwAt(p.pos) == kwInto {
		p.pos++
	}
	p.dmlTarget(s, KindInsert)
	s.cont = func(i int) bool {
		if b.bodySeen || p.kwAt(i) != kwSelect {
			return false
		}
		for j := b.tokStart; j < i; j++ {
			if k := p.kwAt(j); k == kwValues || k == kwDefault {
				return false // INSERT … VALUES (…) SELECT …: a new statement
			}
		}
		b.bodySeen = true
		return true
	}
	p.walk(s)
	if !b.bodySeen {
		switch p.kwAt(p.pos) {
		case kwExec, kwExecute:
			b.bodySeen = true
			p.pos++
			p.execBody(b, s)
			p.walk(&scope{b: b, nested: nested, cont: contWith(p), noTables: true})
		}
	}
	p.finish(b)
}

func (p *parser) update(nested bool) {
	if p.kwAt(p.pos+1) == kwStatistics {
		b := p.begin(KindUpdateStatistics)
		p.pos += 2
		if o, st := p.name(); st == nameOK {
			b.addObj(KindUpdateStatistics, o)
		}
		p.walk(&scope{b: b, nested: nested, cont: contWith(p), noTables: true})
		p.finish(b)
		return
	}
	b := p.begin(KindUpdate)
	p.pos++
	s := &scope{b: b, nested: nested}
	p.top(s)
	p.dmlTarget(s, KindUpdate)
	if p.kwAt(p.pos) == kwWith && p.tok(p.pos+1).kind == TokLParen {
		p.pos++
		p.paren(s)
	}
	if p.kwAt(p.pos) == kwSet {
		p.pos++
	} else {
		b.unknown("UPDATE without SET")
	}
	p.walk(s)
	p.finish(b)
}

func (p *parser) delete(nested bool) {
	b := p.begin(KindDelete)
	p.pos++
	s := &scope{b: b, nested: nested}
	p.top(s)
	if p.kwAt(p.pos) == kwFrom {
		p.pos++
	}
	p.dmlTarget(s, KindDelete)
	p.walk(s)
	p.finish(b)
}

func (p *parser) merge(nested bool) {
	b := p.begin(KindMerge)
	p.pos++
	s := &scope{b: b, nested: nested}
	p.top(s)
	if p.kwAt(p.pos) == kwInto {
		p.pos++
	}
	p.dmlTarget(s, KindMerge)
	s.cont = func(i int) bool {
		switch p.kwAt(i) {
		case kwInsert, kwUpdate, kwDelete:
			return p.kwAt(i-1) == kwThen
		case kwSet:
			return p.kwAt(i-1) == kwUpdate && p.kwAt(i-2) == kwThen
		}
		return false
	}
	p.walk(s)
	p.finish(b)
}

// targeted handles TRUNCATE TABLE t and BULK INSERT t: a keyword, a second
// keyword, then the target.
func (p *parser) targeted(k Kind, nested bool, second kw) {
	b := p.begin(k)
	p.pos++
	if p.kwAt(p.pos) != second {
		b.unknown(strings.ToUpper(k.String()) + " without " + kwInfos[second].name)
	} else {
		p.pos++
		if o, st := p.name(); st == nameOK {
			b.addObj(k, o)
		} else {
			b.unknown(strings.ToUpper(k.String()) + " without a table name")
		}
	}
	p.walk(&scope{b: b, nested: nested, cont: contWith(p), noTables: true})
	p.finish(b)
}

// text2 handles READTEXT, WRITETEXT and UPDATETEXT table.column ….
func (p *parser) text2(k kw, nested bool) {
	kind := KindWriteText
	if k == kwReadtext {
		kind = KindReadText
	}
	b := p.begin(kind)
	p.pos++
	if p.kwAt(p.pos) == kwBulk {
		p.pos++
	}
	if o, st := p.name(); st == nameOK && o.Schema != "" {
		t := Object{Server: "", Database: o.Server, Schema: o.Database, Name: o.Schema}
		b.addObj(kind, t)
	} else {
		b.unknown("text/image operation without table.column")
	}
	p.walk(&scope{b: b, nested: nested, cont: contWith(p), noTables: true})
	p.finish(b)
}
