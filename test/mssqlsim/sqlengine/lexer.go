package sqlengine

import (
	"fmt"
	"strings"
)

// tokKind classifies a T-SQL token.
type tokKind uint8

const (
	tkWord    tokKind = iota + 1 // keyword or bare identifier (incl. #temp)
	tkQuoted                     // [bracketed] or "quoted" identifier; val is unquoted
	tkString                     // 'string'; val is the unescaped value
	tkNString                    // N'string'
	tkNumber                     // 12, 12.5, 1e3, 0x0A (hex: binary literal)
	tkVar                        // @name; val is the name with '@'
	tkSysVar                     // @@name; up is upper-cased
	tkOp                         // operators and punctuation
)

// token is one lexical unit of a batch. up is the upper-cased text for words
// and system variables (for keyword comparison); val is the unquoted value for
// identifiers and strings.
type token struct {
	kind tokKind
	text string
	val  string
	up   string
	pos  int
}

func (t token) is(kw string) bool { return t.kind == tkWord && t.up == kw }

func (t token) isOp(op string) bool { return t.kind == tkOp && t.text == op }

// isIdent reports whether t can name an object or column.
func (t token) isIdent() bool { return t.kind == tkWord || t.kind == tkQuoted }

// syntaxError is a T-SQL syntax error (102) found while lexing or parsing.
type syntaxError struct {
	near string
	msg  string
}

func (e *syntaxError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return fmt.Sprintf("Incorrect syntax near '%s'.", e.near)
}

// lex splits a T-SQL batch into tokens, dropping comments and whitespace.
func lex(src string) ([]token, error) {
	toks := make([]token, 0, len(src)/4+1)
	i := 0
	n := len(src)
	for i < n {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '-' && i+1 < n && src[i+1] == '-':
			for i < n && src[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < n && src[i+1] == '*':
			depth := 0
			j := i
			for j < n {
				if j+1 < n && src[j] == '/' && src[j+1] == '*' {
					depth++
					j += 2
					continue
				}
				if j+1 < n && src[j] == '*' && src[j+1] == '/' {
					depth--
					j += 2
					if depth == 0 {
						break
					}
					continue
				}
				j++
			}
			if depth != 0 {
				return nil, &syntaxError{msg: "Missing end comment mark '*/'."}
			}
			i = j
		case c == '\'':
			val, end, ok := lexQuoted(src, i, '\'')
			if !ok {
				return nil, &syntaxError{msg: fmt.Sprintf("Unclosed quotation mark after the character string '%s'.", src[i+1:])}
			}
			toks = append(toks, token{kind: tkString, text: src[i:end], val: val, pos: i})
			i = end
		case (c == 'N' || c == 'n') && i+1 < n && src[i+1] == '\'':
			val, end, ok := lexQuoted(src, i+1, '\'')
			if !ok {
				return nil, &syntaxError{msg: fmt.Sprintf("Unclosed quotation mark after the character string '%s'.", src[i+2:])}
			}
			toks = append(toks, token{kind: tkNString, text: src[i:end], val: val, pos: i})
			i = end
		case c == '[':
			val, end, ok := lexQuoted(src, i, ']')
			if !ok {
				return nil, &syntaxError{msg: fmt.Sprintf("Unclosed quotation mark after the character string '%s'.", src[i+1:])}
			}
			toks = append(toks, token{kind: tkQuoted, text: src[i:end], val: val, up: strings.ToUpper(val), pos: i})
			i = end
		case c == '"':
			val, end, ok := lexQuoted(src, i, '"')
			if !ok {
				return nil, &syntaxError{msg: fmt.Sprintf("Unclosed quotation mark after the character string '%s'.", src[i+1:])}
			}
			toks = append(toks, token{kind: tkQuoted, text: src[i:end], val: val, up: strings.ToUpper(val), pos: i})
			i = end
		case c == '@':
			j := i + 1
			kind := tkVar
			if j < n && src[j] == '@' {
				kind = tkSysVar
				j++
			}
			for j < n && isIdentChar(src[j]) {
				j++
			}
			if j == i+1 || (kind == tkSysVar && j == i+2) {
				return nil, &syntaxError{near: "@"}
			}
			text := src[i:j]
			toks = append(toks, token{kind: kind, text: text, val: text, up: strings.ToUpper(text), pos: i})
			i = j
		case isDigit(c) || (c == '.' && i+1 < n && isDigit(src[i+1])):
			j := lexNumber(src, i)
			toks = append(toks, token{kind: tkNumber, text: src[i:j], pos: i})
			i = j
		case isIdentStart(c):
			j := i + 1
			for j < n && isIdentChar(src[j]) {
				j++
			}
			text := src[i:j]
			toks = append(toks, token{kind: tkWord, text: text, val: text, up: strings.ToUpper(text), pos: i})
			i = j
		default:
			op := lexOp(src, i)
			if op == "" {
				return nil, &syntaxError{near: string(c)}
			}
			toks = append(toks, token{kind: tkOp, text: op, pos: i})
			i += len(op)
		}
	}
	return toks, nil
}

// lexQuoted reads a quoted item starting at src[start] (the opening quote)
// where a doubled closing quote escapes it.
func lexQuoted(src string, start int, closeq byte) (val string, end int, ok bool) {
	var b strings.Builder
	simple := true
	i := start + 1
	for i < len(src) {
		if src[i] == closeq {
			if i+1 < len(src) && src[i+1] == closeq {
				if simple {
					b.WriteString(src[start+1 : i])
					simple = false
				}
				b.WriteByte(closeq)
				i += 2
				continue
			}
			if simple {
				return src[start+1 : i], i + 1, true
			}
			return b.String(), i + 1, true
		}
		if !simple {
			b.WriteByte(src[i])
		}
		i++
	}
	return "", 0, false
}

func lexNumber(src string, i int) int {
	n := len(src)
	if src[i] == '0' && i+1 < n && (src[i+1] == 'x' || src[i+1] == 'X') {
		j := i + 2
		for j < n && isHex(src[j]) {
			j++
		}
		return j
	}
	j := i
	for j < n && isDigit(src[j]) {
		j++
	}
	if j < n && src[j] == '.' {
		j++
		for j < n && isDigit(src[j]) {
			j++
		}
	}
	if j < n && (src[j] == 'e' || src[j] == 'E') {
		k := j + 1
		if k < n && (src[k] == '+' || src[k] == '-') {
			k++
		}
		if k < n && isDigit(src[k]) {
			for k < n && isDigit(src[k]) {
				k++
			}
			j = k
		}
	}
	return j
}

var twoCharOps = [...]string{"<=", ">=", "<>", "!=", "!<", "!>", "+=", "-=", "*=", "/=", "::", "||"}

func lexOp(src string, i int) string {
	if i+1 < len(src) {
		two := src[i : i+2]
		for _, op := range twoCharOps {
			if two == op {
				return op
			}
		}
	}
	switch src[i] {
	case '(', ')', ',', ';', '.', '=', '<', '>', '+', '-', '*', '/', '%', '&', '|', '^', '~', ':':
		return src[i : i+1]
	}
	return ""
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') }

func isIdentStart(c byte) bool {
	return c == '_' || c == '#' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80
}

func isIdentChar(c byte) bool { return isIdentStart(c) || isDigit(c) || c == '$' || c == '@' }
