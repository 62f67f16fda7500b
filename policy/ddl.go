package policy

import "strings"

// ddlModifiers precede the object type: CREATE UNIQUE CLUSTERED INDEX ….
var ddlModifiers = map[string]bool{
	"unique": true, "clustered": true, "nonclustered": true, "columnstore": true,
	"primary": true, "spatial": true, "selective": true, "secondary": true,
}

// ddlSingle are object types of one word.
var ddlSingle = map[string]string{
	"table": "table", "view": "view", "proc": "procedure", "procedure": "procedure",
	"function": "function", "trigger": "trigger", "index": "index", "statistics": "statistics",
	"schema": "schema", "login": "login", "user": "user", "role": "role", "type": "type",
	"sequence": "sequence", "synonym": "synonym", "default": "default", "rule": "rule",
	"assembly": "assembly", "certificate": "certificate", "credential": "credential",
	"queue": "queue", "contract": "contract", "service": "service", "route": "route",
	"endpoint": "endpoint", "aggregate": "aggregate",
}

// ddlMultiWords continue a multi-word object type (APPLICATION ROLE,
// DATABASE SCOPED CREDENTIAL, XML SCHEMA COLLECTION, …).
var ddlMultiWords = map[string]bool{
	"application": true, "server": true, "role": true, "audit": true, "specification": true,
	"event": true, "session": true, "notification": true, "master": true, "key": true,
	"symmetric": true, "asymmetric": true, "partition": true, "function": true, "scheme": true,
	"fulltext": true, "catalog": true, "index": true, "stoplist": true, "message": true,
	"type": true, "xml": true, "schema": true, "collection": true, "availability": true,
	"group": true, "external": true, "data": true, "source": true, "file": true,
	"format": true, "library": true, "resource": true, "pool": true, "workload": true,
	"classifier": true, "remote": true, "binding": true, "broker": true, "priority": true,
	"search": true, "property": true, "list": true, "security": true, "policy": true,
	"column": true, "encryption": true, "cryptographic": true, "provider": true,
	"scoped": true, "credential": true, "configuration": true, "signature": true,
	"counter": true, "table": true, "language": true, "model": true, "stream": true,
	"job": true, "governor": true, "database": true, "ledger": true,
}

// schemaScoped are the types whose name is a schema object a policy can name.
var schemaScoped = map[string]bool{
	"table": true, "view": true, "procedure": true, "function": true, "trigger": true,
	"sequence": true, "synonym": true, "type": true, "default": true, "rule": true,
	"queue": true, "aggregate": true, "xml_schema_collection": true,
}

// bodyTypes have a body (AS …) that runs later, not now; the body is the
// rest of the batch.
var bodyTypes = map[string]bool{"view": true, "procedure": true, "function": true, "trigger": true}

// ddl handles CREATE, ALTER and DROP.
func (p *parser) ddl(k Kind, nested bool) {
	b := p.begin(k)
	p.pos++
	if k == KindCreate && p.kwAt(p.pos) == kwOr && p.kwAt(p.pos+1) == kwAlter {
		p.pos += 2
	}
	for p.tok(p.pos).kind == TokWord && ddlModifiers[p.lower(p.pos)] {
		p.pos++
	}
	typ := ""
	if p.tok(p.pos).kind == TokWord {
		w := p.lower(p.pos)
		if single, ok := ddlSingle[w]; ok {
			typ = single
			p.pos++
		} else if ddlMultiWords[w] {
			words := []string{w}
			p.pos++
			for len(words) < 4 && p.tok(p.pos).kind == TokWord && ddlMultiWords[p.lower(p.pos)] &&
				(len(words) > 1 || multiWordType(words[0], p.lower(p.pos))) {
				words = append(words, p.lower(p.pos))
				p.pos++
			}
			typ = strings.Join(words, "_")
		}
	}
	b.st.Type = typ
	if typ == "" {
		b.unknown(strings.ToUpper(k.String()) + " of an object type the classifier does not know")
		p.walk(&scope{b: b, nested: nested, cont: p.ddlCont(k), noTables: true})
		p.finish(b)
		return
	}
	if k == KindDrop && p.kwAt(p.pos) == kwIf && p.kwAt(p.pos+1) == kwExists {
		p.pos += 2
	}
	switch {
	case typ == "index" || typ == "statistics" || typ == "xml_index" || typ == "fulltext_index":
		p.indexTarget(b, k)
	case schemaScoped[typ]:
		for {
			o, st := p.name()
			if st != nameOK {
				b.unknown(strings.ToUpper(k.String()) + " " + strings.ToUpper(typ) + " without a name the classifier understands")
				break
			}
			b.addObj(k, o)
			if k != KindDrop || p.tok(p.pos).kind != TokComma {
				break
			}
			p.pos++
		}
	}
	if bodyTypes[typ] && k != KindDrop && !nested {
		// The body runs when the object is used, not now; T-SQL makes it the
		// rest of the batch. Its statements are classified as deferred
		// statements of this one, so that creating a view or procedure needs
		// the rights to what it does (no escalation through ownership chains).
		if start := p.bodyStart(); start >= 0 {
			p.body(b, start)
		}
		p.pos = len(p.toks)
		p.finish(b)
		return
	}
	p.walk(&scope{b: b, nested: nested, cont: p.ddlCont(k), noTables: true})
	p.finish(b)
}

// multiWordType reports whether second may follow first in a multi-word type.
func multiWordType(first, second string) bool {
	switch first {
	case "database":
		return second == "scoped" || second == "audit" || second == "encryption" || second == "ledger"
	case "table", "function", "index", "role", "type", "schema", "credential", "column":
		return false
	}
	return true
}

// indexTarget reads the table of CREATE/ALTER/DROP INDEX or STATISTICS:
// name ON table, or (DROP) table.name.
func (p *parser) indexTarget(b *builder, k Kind) {
	for {
		if p.kwAt(p.pos) == kwAll {
			p.pos++
		} else {
			o, st := p.name()
			if st != nameOK {
				b.unknown("index without a name the classifier understands")
				return
			}
			if p.kwAt(p.pos) != kwOn {
				if k == KindDrop && o.Schema != "" { // DROP INDEX table.index
					t := Object{Database: o.Server, Schema: o.Database, Name: o.Schema}
					if t.Schema == "" && t.Database != "" {
						t.Schema, t.Database = t.Database, ""
					}
					b.addObj(k, t)
				} else {
					b.unknown("index without ON table")
				}
			}
		}
		if p.kwAt(p.pos) == kwOn {
			p.pos++
			o, st := p.name()
			if st != nameOK {
				b.unknown("index ON a table the classifier does not understand")
				return
			}
			b.addObj(k, o)
		}
		if k != KindDrop || p.tok(p.pos).kind != TokComma {
			return
		}
		p.pos++
	}
}

// ddlCont: WITH and SET continue DDL (ALTER DATABASE … SET, … WITH (…));
// inside ALTER, DROP/ALTER continue when they drop or alter a part of the
// object (a column or constraint), and ENABLE/DISABLE TRIGGER too.
func (p *parser) ddlCont(k Kind) func(int) bool {
	return func(i int) bool {
		switch p.kwAt(i) {
		case kwWith, kwSet:
			return true
		case kwEnable, kwDisable:
			return k == KindAlter
		case kwDrop, kwAlter:
			if k != KindAlter {
				return false
			}
			switch p.kwAt(i + 1) {
			case kwColumn, kwConstraint, kwPeriod:
				return true
			case kwNone:
				return p.tok(i+1).kind == TokWord || p.tok(i+1).kind == TokBracketIdent
			}
		}
		return false
	}
}

// beginStatement handles BEGIN: a block, TRY, CATCH, a transaction, or a
// Service Broker dialog.
func (p *parser) beginStatement(nested bool) {
	switch p.kwAt(p.pos + 1) {
	case kwTran, kwTransaction:
		p.finish(p.simple(KindBeginTran, nested, 2))
	case kwDistributed:
		p.finish(p.simple(KindDistributedTran, nested, 2))
	case kwTry, kwCatch:
		kind := KindTry
		if p.kwAt(p.pos+1) == kwCatch {
			kind = KindCatch
		}
		b := p.begin(kind)
		p.pos += 2
		p.finish(b)
		p.depth++
	case kwDialog, kwConversation:
		p.finish(p.simple(KindBroker, nested, 2))
	case kwAtomic:
		b := p.simple(KindUnknown, nested, 2)
		b.unknown("BEGIN ATOMIC outside a natively compiled module")
		p.finish(b)
	default:
		b := p.begin(KindBlock)
		p.pos++
		p.finish(b)
		p.depth++
	}
}

// end handles END, END TRY, END CATCH and END CONVERSATION.
func (p *parser) end(nested bool) {
	switch p.kwAt(p.pos + 1) {
	case kwConversation:
		p.finish(p.simple(KindBroker, nested, 2))
		return
	case kwTry, kwCatch:
		p.pos += 2
	default:
		p.pos++
	}
	p.depth--
	if p.depth < 0 {
		p.depth = 0
		b := p.begin(KindUnknown)
		b.unknown("END without BEGIN")
		p.finish(b)
	}
}

// bodyStart returns the index of the first token of a module body: the
// token after the AS that is followed by a statement (AS BEGIN, AS SELECT,
// AS RETURN …), skipping parameter declarations (@p AS int) and options
// (WITH EXECUTE AS OWNER). It returns -1 when there is none (EXTERNAL NAME).
func (p *parser) bodyStart() int {
	depth := 0
	for i := p.pos; i < len(p.toks); i++ {
		switch p.toks[i].kind {
		case TokLParen:
			depth++
		case TokRParen:
			depth--
		case TokWord:
			if depth == 0 && p.toks[i].kw == kwAs && i+1 < len(p.toks) &&
				(p.isStarter(i+1) || p.tok(i+1).kind == TokLParen) {
				return i + 1
			}
		}
	}
	return -1
}

// body classifies a module body starting at token start as deferred
// statements of b.
func (p *parser) body(b *builder, start int) {
	if p.level+1 > maxDynamicLevel {
		b.unknown("module bodies nested too deeply")
		return
	}
	base := p.toks[start].start
	c := newParser(p.src[base:], p.level+1)
	defer c.release()
	c.db = p.db
	c.offset = p.offset + base
	if p.spanOuter {
		c.spanOuter, c.spanStart, c.spanEnd = true, p.spanStart, p.spanEnd
	}
	c.run()
	for _, st := range c.out {
		st.Deferred = true
		st.Depth += b.st.Depth + 1
		b.children = append(b.children, st)
	}
}
