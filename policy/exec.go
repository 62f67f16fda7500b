package policy

import "strings"

// exec handles EXEC/EXECUTE (implicit: a procedure name alone at the start
// of a batch).
func (p *parser) exec(nested, implicit bool) {
	b := p.begin(KindExec)
	if !implicit {
		p.pos++
	}
	s := &scope{b: b, nested: nested, cont: contWith(p), noTables: true}
	p.execBody(b, s)
	p.walk(s)
	p.finish(b)
}

// isExecuteSQL reports whether o names the system procedure sp_executesql.
func isExecuteSQL(o Object) bool {
	if !strings.EqualFold(o.Name, "sp_executesql") || o.Server != "" {
		return false
	}
	if o.Schema != "" && !strings.EqualFold(o.Schema, "sys") && !strings.EqualFold(o.Schema, "dbo") {
		return false
	}
	return true
}

// execBody reads what follows EXEC: AS (EXECUTE AS), a dynamic SQL string,
// or a procedure with its arguments. When b is an INSERT … EXEC, the exec is
// added as an access of the INSERT.
func (p *parser) execBody(b *builder, s *scope) {
	own := b.st.Kind == KindExec
	t := p.tok(p.pos)
	switch {
	case t.kw == kwAs && own:
		b.st.Kind = KindExecuteAs
		p.pos++
		return
	case t.kind == TokLParen:
		if own {
			b.st.Kind = KindDynamicSQL
		}
		b.add(KindDynamicSQL, nil)
		open := p.pos
		p.pos++
		text, ok := p.concat()
		if ok && p.tok(p.pos).kind == TokRParen {
			p.pos++
			p.dynamic(b, text)
		} else {
			b.unknown("dynamic SQL built at run time")
			p.skipToClose(open)
		}
		switch p.kwAt(p.pos) {
		case kwAs:
			b.add(KindExecuteAs, nil)
		case kwAt:
			b.unknown("dynamic SQL executed on a linked server")
		}
		return
	case t.kind == TokVariable && p.tok(p.pos+1).kind == TokOperator && p.text(p.pos+1) == "=":
		p.pos += 2 // @status = proc
	}
	if p.tok(p.pos).kind == TokVariable {
		b.unknown("procedure name held in a variable")
		p.pos++
		return
	}
	o, st := p.name()
	if st != nameOK {
		b.unknown("EXEC without a procedure name the classifier understands")
		return
	}
	args := p.execArgs()
	if isExecuteSQL(o) {
		if own {
			b.st.Kind = KindDynamicSQL
			b.st.Proc = &o
		}
		b.add(KindDynamicSQL, nil)
		stmt, found, lit := "", false, false
		for i, a := range args {
			if a.name == "@stmt" || (a.name == "" && i == 0) {
				stmt, found, lit = a.lit, true, a.isLit
				break
			}
		}
		switch {
		case found && lit:
			p.dynamic(b, stmt)
		default:
			b.unknown("sp_executesql with a statement built at run time")
		}
		return
	}
	if own {
		b.st.Proc = &o
	}
	b.addObj(KindExec, o)
}

type execArg struct {
	name  string // @name of a named argument, lower case
	lit   string // decoded string literal
	isLit bool
}

// execArgs reads procedure arguments: [@name =] value [OUTPUT], …
func (p *parser) execArgs() []execArg {
	var args []execArg
	for {
		var a execArg
		if p.tok(p.pos).kind == TokVariable && p.tok(p.pos+1).kind == TokOperator && p.text(p.pos+1) == "=" {
			a.name = p.lower(p.pos)
			p.pos += 2
		}
		start := p.pos
		if lit, ok := p.concat(); ok {
			a.lit, a.isLit = lit, true
		} else if p.pos == start {
			t := p.tok(p.pos)
			switch t.kind {
			case TokVariable, TokGlobalVar, TokNumber, TokBinary, TokMoney, TokBracketIdent, TokQuotedIdent, TokString, TokNString:
				p.pos++
			case TokOperator:
				if p.text(p.pos) == "-" || p.text(p.pos) == "+" {
					p.pos++
					if k := p.tok(p.pos).kind; k == TokNumber || k == TokMoney {
						p.pos++
					}
				}
			case TokWord:
				if !p.isStarter(p.pos) {
					p.pos++
					for p.tok(p.pos).kind == TokDot && p.isNamePart(p.pos+1) {
						p.pos += 2
					}
				}
			}
		}
		if p.pos == start && a.name == "" {
			return args
		}
		switch strings.ToLower(p.text(p.pos)) {
		case "output", "out", "readonly":
			p.pos++
		}
		args = append(args, a)
		if p.tok(p.pos).kind != TokComma {
			return args
		}
		p.pos++
	}
}

// concat reads 'a' [+ 'b' …] and returns the decoded text; ok is false when
// the value is not made of string literals only (pos is then left where the
// literals stopped).
func (p *parser) concat() (string, bool) {
	first, ok := stringLiteral(*p.tok(p.pos), p.src)
	if !ok {
		return "", false
	}
	p.pos++
	var sb strings.Builder
	sb.WriteString(first)
	for p.tok(p.pos).kind == TokOperator && p.text(p.pos) == "+" {
		s, ok := stringLiteral(*p.tok(p.pos + 1), p.src)
		if !ok {
			return "", false
		}
		sb.WriteString(s)
		p.pos += 2
	}
	return sb.String(), true
}

// dynamic classifies the text of dynamic SQL and adds its statements after b.
func (p *parser) dynamic(b *builder, text string) {
	if p.level+1 > maxDynamicLevel {
		b.unknown("dynamic SQL nested too deeply")
		return
	}
	c := newParser(text, p.level+1)
	defer c.release()
	c.db = p.db
	c.spanOuter = true
	c.spanStart, c.spanEnd = b.st.Start, p.tok(p.pos-1).end
	if p.spanOuter {
		c.spanStart, c.spanEnd = p.spanStart, p.spanEnd
	}
	c.run()
	for _, st := range c.out {
		st.Dynamic = true
		st.Depth += b.st.Depth + 1
		b.children = append(b.children, st)
	}
	if len(c.out) == 0 {
		b.unknown("empty dynamic SQL")
	}
}

// set handles SET @var = …, SET @c = CURSOR FOR …, SET option ….
func (p *parser) set(nested bool) {
	b := p.begin(KindSet)
	p.pos++
	t := p.tok(p.pos)
	switch t.kind {
	case TokVariable:
		b.st.Type = "variable"
		p.pos++
	case TokWord:
		b.st.Type = p.lower(p.pos)
		if t.kw == kwTransaction {
			b.st.Type = "transaction_isolation_level"
		}
		p.pos++
	default:
		b.unknown("SET without a variable or option")
	}
	p.walk(&scope{b: b, nested: nested, cont: p.cursorCont(b)})
	p.finish(b)
}

// dcl handles GRANT, REVOKE and DENY.
func (p *parser) dcl(k Kind, nested bool) {
	b := p.begin(k)
	p.pos++
	found := false
	for !p.atEnd() {
		t := p.tok(p.pos)
		if t.kind == TokSemicolon {
			break
		}
		if t.kw == kwTo || (t.kw == kwFrom && k == KindRevoke) {
			found = true
			p.pos++
			break
		}
		if t.kind == TokInvalid || t.bad {
			b.unknown("text the classifier does not understand")
		}
		if t.kw == kwOn {
			p.pos++
			class := ""
			if p.tok(p.pos).kind == TokWord && p.tok(p.pos+1).kind == TokOperator && p.text(p.pos+1) == "::" {
				class = p.lower(p.pos)
				p.pos += 2
			}
			if class == "" || class == "object" {
				if o, st := p.name(); st == nameOK {
					b.addObj(k, o)
				}
			} else {
				b.st.Type = class
			}
			continue
		}
		p.pos++
	}
	if !found {
		b.unknown(strings.ToUpper(k.String()) + " without TO/FROM")
	}
	cont := func(i int) bool { // … WITH GRANT OPTION
		return p.kwAt(i) == kwWith || (p.kwAt(i) == kwGrant && p.kwAt(i-1) == kwWith)
	}
	p.walk(&scope{b: b, nested: nested, cont: cont, noTables: true})
	p.finish(b)
}
