package sqlengine

import (
	"fmt"
	"strconv"
	"strings"
)

// keywords are words never taken for identifiers.
var keywords = map[string]bool{
	"SELECT": true, "FROM": true, "WHERE": true, "AND": true, "OR": true, "NOT": true, "NULL": true,
	"IS": true, "IN": true, "LIKE": true, "BETWEEN": true, "EXISTS": true, "AS": true, "ON": true,
	"JOIN": true, "INNER": true, "LEFT": true, "RIGHT": true, "FULL": true, "OUTER": true, "CROSS": true,
	"GROUP": true, "BY": true, "ORDER": true, "HAVING": true, "ASC": true, "DESC": true, "UNION": true,
	"ALL": true, "DISTINCT": true, "CASE": true, "WHEN": true, "THEN": true, "ELSE": true, "END": true,
	"INSERT": true, "INTO": true, "VALUES": true, "UPDATE": true, "SET": true, "DELETE": true,
	"EXCEPT": true, "INTERSECT": true, "OVER": true, "PARTITION": true, "ESCAPE": true, "DEFAULT": true,
	"PRIMARY": true, "KEY": true, "UNIQUE": true, "REFERENCES": true, "FOREIGN": true, "CHECK": true,
	"CONSTRAINT": true, "TABLE": true, "CREATE": true, "DROP": true, "INDEX": true, "WITH": true,
	"ROWS": true, "RANGE": true, "UNBOUNDED": true, "PRECEDING": true, "FOLLOWING": true, "CURRENT": true,
	"ROW": true, "COLLATE": true, "OFFSET": true, "FETCH": true, "NEXT": true, "ONLY": true, "FIRST": true,
	"TOP": true, "USING": true, "MATCHED": true, "APPLY": true, "LIMIT": true, "IIF": true,
}

// notSupportedError is a T-SQL feature the simulator does not implement.
type notSupportedError struct{ what string }

func (e *notSupportedError) Error() string {
	return fmt.Sprintf("mssqlsim does not support %s.", e.what)
}

// objectError is 208: an object name that does not resolve.
type objectError struct{ name string }

// literalValue returns the constant a literal token sequence denotes.
func literalValue(toks []token) (any, sqlType, bool) {
	neg := false
	if len(toks) == 2 && toks[0].isOp("-") && toks[1].kind == tkNumber {
		neg = true
		toks = toks[1:]
	}
	if len(toks) != 1 {
		return nil, sqlType{}, false
	}
	t := toks[0]
	switch t.kind {
	case tkNumber:
		if strings.HasPrefix(t.text, "0x") || strings.HasPrefix(t.text, "0X") {
			return nil, sqlType{}, false
		}
		if i, err := strconv.ParseInt(t.text, 10, 64); err == nil {
			if neg {
				i = -i
			}
			return i, valueType(i), true
		}
		if strings.ContainsAny(t.text, "eE") {
			f, err := strconv.ParseFloat(t.text, 64)
			if err != nil {
				return nil, sqlType{}, false
			}
			if neg {
				f = -f
			}
			return f, typFloat, true
		}
		typ := numericLiteralType(t.text)
		s := t.text
		if strings.HasPrefix(s, ".") {
			s = "0" + s
		}
		if neg {
			s = "-" + s
		}
		return s, typ, true
	case tkString:
		if neg {
			return nil, sqlType{}, false
		}
		return t.val, sqlType{name: "varchar", size: max(len(t.val), 1)}, true
	case tkNString:
		if neg {
			return nil, sqlType{}, false
		}
		return t.val, sqlType{name: "nvarchar", size: min(max(len([]rune(t.val)), 1), 4000)}, true
	case tkWord:
		if t.up == "NULL" && !neg {
			return nil, typInt, true
		}
	}
	return nil, sqlType{}, false
}

// numericLiteralType types a literal such as 12.50 as numeric(4,2).
func numericLiteralType(s string) sqlType {
	ip, fp, _ := strings.Cut(s, ".")
	ip = strings.TrimLeft(ip, "0")
	p := len(ip) + len(fp)
	if p == 0 {
		p = 1
	}
	if p < len(fp) {
		p = len(fp)
	}
	return sqlType{name: "numeric", prec: uint8(min(p, 38)), scale: uint8(min(len(fp), 38))}
}
