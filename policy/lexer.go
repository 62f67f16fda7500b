package policy

import "fmt"

// TokenKind is the lexical class of a T-SQL token.
type TokenKind uint8

// Token kinds. Every byte of an input belongs to exactly one token.
const (
	TokInvalid        TokenKind = iota // bytes the lexer does not understand (non-ASCII outside strings, control bytes)
	TokSpace                           // ASCII whitespace
	TokLineComment                     // -- … up to (not including) CR or LF
	TokBlockComment                    // /* … */, nested
	TokString                          // '…' with '' escapes
	TokNString                         // N'…'
	TokBracketIdent                    // […] with ]] escapes
	TokQuotedIdent                     // "…" with "" escapes
	TokWord                            // identifier or keyword
	TokVariable                        // @name
	TokGlobalVar                       // @@name
	TokTempName                        // #name
	TokGlobalTempName                  // ##name
	TokNumber                          // 12, 1.5, .5, 1e10, 1.5E-3
	TokBinary                          // 0x1F…
	TokMoney                           // $12.50
	TokOperator                        // = <> != < > <= >= !< !> + - * / % & | ^ ~ += … :: { }
	TokComma                           // ,
	TokSemicolon                       // ;
	TokDot                             // .
	TokLParen                          // (
	TokRParen                          // )
	TokColon                           // : (labels)
)

var tokenKindNames = [...]string{
	TokInvalid: "invalid", TokSpace: "space", TokLineComment: "line-comment",
	TokBlockComment: "block-comment", TokString: "string", TokNString: "nstring",
	TokBracketIdent: "bracket-ident", TokQuotedIdent: "quoted-ident", TokWord: "word",
	TokVariable: "variable", TokGlobalVar: "global-var", TokTempName: "temp-name",
	TokGlobalTempName: "global-temp-name", TokNumber: "number", TokBinary: "binary",
	TokMoney: "money", TokOperator: "operator", TokComma: "comma",
	TokSemicolon: "semicolon", TokDot: "dot", TokLParen: "lparen", TokRParen: "rparen",
	TokColon: "colon",
}

// String returns the kind's name.
func (k TokenKind) String() string {
	if int(k) < len(tokenKindNames) {
		return tokenKindNames[k]
	}
	return fmt.Sprintf("TokenKind(%d)", uint8(k))
}

// Token is one lexical token: src[Start:End].
type Token struct {
	Kind  TokenKind
	Start int
	End   int
	// Bad marks a token that is unterminated (string, comment, identifier) or
	// that contains characters the classifier must not trust (a line comment
	// with a Unicode line separator, an identifier with non-ASCII letters).
	Bad bool
}

// Text returns the token's bytes in src.
func (t Token) Text(src string) string { return src[t.Start:t.End] }

// Lex splits src into tokens. The tokens cover src exactly: concatenating
// their texts gives src back. It runs in time linear in len(src).
func Lex(src string) []Token {
	return AppendTokens(make([]Token, 0, len(src)/4+1), src)
}

// byte classes for the lexer's hot loop.
const (
	cOther = iota
	cSpace
	cLetter
	cDigit
)

var byteClass = func() (t [256]uint8) {
	for _, c := range " \t\n\r\v\f" {
		t[c] = cSpace
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = cLetter
		t[c-'a'+'A'] = cLetter
	}
	t['_'] = cLetter
	for c := '0'; c <= '9'; c++ {
		t[c] = cDigit
	}
	return t
}()

// identByte marks bytes that continue an identifier.
var identByte = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		cl := byteClass[c]
		t[c] = cl == cLetter || cl == cDigit || c == '@' || c == '#' || c == '$'
	}
	return t
}()

// isIdentByte reports bytes that continue an identifier.
func isIdentByte(c byte) bool { return identByte[c] }

// AppendTokens appends the tokens of src to dst and returns the extended
// slice, so a caller can reuse a buffer.
func AppendTokens(dst []Token, src string) []Token {
	for i := 0; i < len(src); {
		end, kind, bad := lexOne(src, i)
		dst = append(dst, Token{Kind: kind, Start: i, End: end, Bad: bad})
		i = end
	}
	return dst
}

// lexOne lexes the token starting at src[i] (i < len(src)) and returns its
// end, kind and whether it is bad.
func lexOne(src string, i int) (int, TokenKind, bool) {
	n := len(src)
	c := src[i]
	kind := TokInvalid
	bad := false
	switch byteClass[c] {
	case cSpace:
		i++
		for i < n && byteClass[src[i]] == cSpace {
			i++
		}
		kind = TokSpace
	case cLetter:
		if (c == 'N' || c == 'n') && i+1 < n && src[i+1] == '\'' {
			i, bad = lexQuoted(src, i+2, '\'')
			kind = TokNString
		} else {
			i = lexWordTail(src, i+1)
			kind = TokWord
		}
	case cDigit:
		if c == '0' && i+1 < n && (src[i+1] == 'x' || src[i+1] == 'X') {
			i += 2
			for i < n && isHex(src[i]) {
				i++
			}
			kind = TokBinary
		} else {
			i = lexNumber(src, i)
			kind = TokNumber
		}
	default:
		i, kind, bad = lexOther(src, i)
	}
	return i, kind, bad
}

// lexOther lexes a token that starts with a byte that is not a letter,
// digit or space.
func lexOther(src string, i int) (int, TokenKind, bool) {
	n := len(src)
	start := i
	c := src[i]
	switch {
	case c == '-' && i+1 < n && src[i+1] == '-':
		end, bad := lexLineComment(src, i+2)
		return end, TokLineComment, bad
	case c == '/' && i+1 < n && src[i+1] == '*':
		end, bad := lexBlockComment(src, i)
		return end, TokBlockComment, bad
	case c == '\'':
		end, bad := lexQuoted(src, i+1, '\'')
		return end, TokString, bad
	case c == '[':
		end, bad := lexQuoted(src, i+1, ']')
		return end, TokBracketIdent, bad || hasNonASCII(src[start:end])
	case c == '"':
		end, bad := lexQuoted(src, i+1, '"')
		return end, TokQuotedIdent, bad || hasNonASCII(src[start:end])
	case c == '.' && i+1 < n && byteClass[src[i+1]] == cDigit:
		return lexNumber(src, i), TokNumber, false
	case c == '$' && i+1 < n && (byteClass[src[i+1]] == cDigit || src[i+1] == '.' || src[i+1] == '-' || src[i+1] == '+'):
		i++
		if src[i] == '-' || src[i] == '+' {
			i++
		}
		return lexNumber(src, i), TokMoney, false
	case c == '$' && i+1 < n && byteClass[src[i+1]] == cLetter:
		// $action, $identity, $partition and friends are words.
		return lexWordTail(src, i+1), TokWord, false
	case c == '@':
		if i+1 < n && src[i+1] == '@' {
			return lexWordTail(src, i+2), TokGlobalVar, false
		}
		return lexWordTail(src, i+1), TokVariable, false
	case c == '#':
		if i+1 < n && src[i+1] == '#' {
			return lexWordTail(src, i+2), TokGlobalTempName, false
		}
		return lexWordTail(src, i+1), TokTempName, false
	case c == ',':
		return i + 1, TokComma, false
	case c == ';':
		return i + 1, TokSemicolon, false
	case c == '.':
		return i + 1, TokDot, false
	case c == '(':
		return i + 1, TokLParen, false
	case c == ')':
		return i + 1, TokRParen, false
	case c == ':':
		if i+1 < n && src[i+1] == ':' {
			return i + 2, TokOperator, false
		}
		return i + 1, TokColon, false
	}
	if l := operatorLen(src, i); l > 0 {
		return i + l, TokOperator, false
	}
	// Anything else is not understood: consume one whole UTF-8 sequence (or
	// one byte) so look-alike letters and invisible characters become an
	// invalid token.
	return i + utf8SeqLen(src, i), TokInvalid, false
}

func isHex(c byte) bool {
	return byteClass[c] == cDigit || (c|0x20 >= 'a' && c|0x20 <= 'f')
}

func hasNonASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}

func lexWordTail(src string, i int) int {
	for i < len(src) && isIdentByte(src[i]) {
		i++
	}
	return i
}

// lexLineComment scans to CR or LF. T-SQL ends a line comment at a line
// break; the comment is marked bad when it holds a character some parser
// might treat as a line break (VT, FF, NEL, LS, PS), so the classifier does not
// hide text that a server might execute.
func lexLineComment(src string, i int) (int, bool) {
	bad := false
	for i < len(src) {
		c := src[i]
		if c == '\n' || c == '\r' {
			return i, bad
		}
		switch {
		case c == '\v' || c == '\f' || c == 0:
			bad = true
		case c == 0xC2 && i+1 < len(src) && src[i+1] == 0x85: // U+0085 NEL
			bad = true
		case c == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && (src[i+2] == 0xA8 || src[i+2] == 0xA9): // U+2028, U+2029
			bad = true
		}
		i++
	}
	return i, bad
}

// lexBlockComment scans a possibly nested /* */ comment starting at i.
func lexBlockComment(src string, i int) (int, bool) {
	depth := 0
	n := len(src)
	for i < n {
		if src[i] == '/' && i+1 < n && src[i+1] == '*' {
			depth++
			i += 2
			continue
		}
		if src[i] == '*' && i+1 < n && src[i+1] == '/' {
			depth--
			i += 2
			if depth == 0 {
				return i, false
			}
			continue
		}
		i++
	}
	return n, true
}

// lexQuoted scans to the closing quote q, treating a doubled q as an escape.
// It reports true when the input ends first.
func lexQuoted(src string, i int, q byte) (int, bool) {
	n := len(src)
	for i < n {
		if src[i] == q {
			if i+1 < n && src[i+1] == q {
				i += 2
				continue
			}
			return i + 1, false
		}
		i++
	}
	return n, true
}

// lexNumber scans digits, an optional fraction and an optional exponent.
func lexNumber(src string, i int) int {
	n := len(src)
	for i < n && byteClass[src[i]] == cDigit {
		i++
	}
	if i < n && src[i] == '.' {
		i++
		for i < n && byteClass[src[i]] == cDigit {
			i++
		}
	}
	if i < n && (src[i] == 'e' || src[i] == 'E') {
		j := i + 1
		if j < n && (src[j] == '+' || src[j] == '-') {
			j++
		}
		if j < n && byteClass[src[j]] == cDigit {
			for j < n && byteClass[src[j]] == cDigit {
				j++
			}
			i = j
		} else {
			i++ // "1e" is a float in T-SQL
		}
	}
	return i
}

// operatorLen returns the length of the operator at src[i], or 0.
func operatorLen(src string, i int) int {
	c := src[i]
	var next byte
	if i+1 < len(src) {
		next = src[i+1]
	}
	switch c {
	case '<':
		if next == '=' || next == '>' {
			return 2
		}
		return 1
	case '>':
		if next == '=' {
			return 2
		}
		return 1
	case '!':
		if next == '=' || next == '<' || next == '>' {
			return 2
		}
		return 0
	case '+', '-', '*', '/', '%', '&', '|', '^':
		if next == '=' {
			return 2
		}
		return 1
	case '=', '~', '{', '}':
		return 1
	}
	return 0
}

// utf8SeqLen returns the length of the UTF-8 sequence starting at src[i]
// (1 for an invalid or truncated sequence).
func utf8SeqLen(src string, i int) int {
	c := src[i]
	l := 1
	switch {
	case c >= 0xF0 && c < 0xF8:
		l = 4
	case c >= 0xE0:
		l = 3
	case c >= 0xC0:
		l = 2
	}
	if c >= 0xF8 || i+l > len(src) {
		return 1
	}
	for k := 1; k < l; k++ {
		if src[i+k]&0xC0 != 0x80 {
			return 1
		}
	}
	return l
}
