package policy

import "strings"

// sensitiveProcs take passwords as plain arguments; every literal of a text
// that calls one is hidden.
var sensitiveProcs = map[string]bool{
	"sp_addlogin": true, "sp_password": true, "sp_setapprole": true, "sp_addapprole": true,
	"sp_approlepassword": true, "sp_addlinkedsrvlogin": true, "sp_change_users_login": true,
	"sp_control_dbmasterkey_password": true, "sp_addremotelogin": true, "sp_adduser": true,
	"sp_addserver": true, "sp_addlinkedserver": true,
}

func isLiteral(k TokenKind) bool {
	switch k {
	case TokString, TokNString, TokNumber, TokBinary, TokMoney:
		return true
	}
	return false
}

// AuditText returns text as it may be written to an audit record: secrets
// (literals after PASSWORD or SECRET, arguments of password procedures) are
// always replaced by '***'; with redactLiterals every string and number
// literal becomes '?'. Comments are kept.
func AuditText(text string, redactLiterals bool) string {
	toks := Lex(text)
	allSecret := false
	for _, t := range toks {
		if t.Kind == TokWord || t.Kind == TokBracketIdent {
			name := strings.ToLower(unquoteIdent(t.Text(text)))
			if sensitiveProcs[name] {
				allSecret = true
				break
			}
		}
	}
	var sb strings.Builder
	sb.Grow(len(text))
	secretNext := false
	for _, t := range toks {
		s := t.Text(text)
		switch {
		case isLiteral(t.Kind) && (secretNext || allSecret):
			sb.WriteString("'***'")
			secretNext = false
			continue
		case isLiteral(t.Kind) && redactLiterals:
			sb.WriteString("?")
			continue
		}
		switch t.Kind {
		case TokSpace, TokLineComment, TokBlockComment:
		case TokWord:
			k := lookupKw(s)
			secretNext = k == kwPassword || k == kwSecret
		case TokOperator:
			if s != "=" {
				secretNext = false
			}
		default:
			secretNext = false
		}
		sb.WriteString(s)
	}
	return sb.String()
}

// Redact replaces every string and number literal of text with '?', using
// the lexer, and hides secrets as AuditText does.
func Redact(text string) string { return AuditText(text, true) }
