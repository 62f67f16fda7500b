package policy

import "slices"

// punctKind maps the one-byte punctuation tokens that never start a longer
// token to their kind ('.' is left out: it may start a number).
var punctKind = func() (t [256]TokenKind) {
	t[','] = TokComma
	t[';'] = TokSemicolon
	t['('] = TokLParen
	t[')'] = TokRParen
	return t
}()

// appendSignificant lexes src exactly as AppendTokens does and appends to
// dst the tokens the classifier looks at: whitespace and well-formed
// comments are dropped, a bad comment becomes TokInvalid (still marked bad),
// and every word carries its keyword. untrusted reports a kept token that is
// invalid or bad; danger reports a word whose keyword is in dangerous (so
// safetyNet can skip its scan when there is none).
//
// Whitespace, words and one-byte punctuation, most of a typical statement,
// are lexed inline; everything else goes through lexOne, so both lexers
// agree token for token (TestSignificantMatchesLex, FuzzLex).
func appendSignificant(dst []stok, src string) (toks []stok, untrusted, danger bool) {
	n := len(src)
	for i := 0; i < n; {
		c := src[i]
		cl := byteClass[c]
		if cl == cSpace {
			i++
			for i < n && byteClass[src[i]] == cSpace {
				i++
			}
			if i == n {
				break
			}
			c = src[i]
			cl = byteClass[c]
		}
		switch cl {
		case cLetter:
			if c|0x20 != 'n' || i+1 >= n || src[i+1] != '\'' { // not N'…'
				start := i
				i = lexWordTail(src, i+1)
				k := kwNone
				if i-start >= 2 {
					k = lookupKw(src[start:i])
					danger = danger || dangerous[k]
				}
				var t *stok
				dst, t = appendStok(dst)
				t.kind, t.kw, t.bad, t.start, t.end = TokWord, k, false, start, i
				continue
			}
		case cOther:
			if k := punctKind[c]; k != TokInvalid {
				dst = append(dst, stok{kind: k, start: i, end: i + 1})
				i++
				continue
			}
			if c == '.' && (i+1 >= n || byteClass[src[i+1]] != cDigit) {
				dst = append(dst, stok{kind: TokDot, start: i, end: i + 1})
				i++
				continue
			}
		}
		start := i
		end, kind, bad := lexOne(src, i)
		i = end
		switch kind {
		case TokLineComment, TokBlockComment:
			if !bad {
				continue
			}
			kind = TokInvalid // a comment the classifier cannot trust
		}
		untrusted = untrusted || bad || kind == TokInvalid
		t := stok{kind: kind, bad: bad, start: start, end: end}
		if kind == TokWord { // $action and friends
			t.kw = lookupKw(src[start:end])
			danger = danger || dangerous[t.kw]
		}
		dst = append(dst, t)
	}
	return dst, untrusted, danger
}

// appendStok extends dst by one token and returns it for the caller to set
// every field (the buffer is reused: the new element is not zeroed).
func appendStok(dst []stok) ([]stok, *stok) {
	if len(dst) == cap(dst) {
		dst = slices.Grow(dst, 1)
	}
	dst = dst[:len(dst)+1]
	return dst, &dst[len(dst)-1]
}
