package sqlengine

import (
	"strings"
)

// sysVarTypes are the types of @@variables.
var sysVarTypes = map[string]sqlType{
	"@@VERSION": {name: "nvarchar", size: 300}, "@@SERVERNAME": typSysname, "@@SERVICENAME": typSysname,
	"@@SPID": {name: "smallint"}, "@@TRANCOUNT": typInt, "@@ROWCOUNT": typInt,
	"@@IDENTITY": {name: "numeric", prec: 38}, "@@ERROR": typInt, "@@OPTIONS": typInt,
	"@@LANGUAGE": typSysname, "@@MAX_PRECISION": {name: "tinyint"}, "@@DATEFIRST": {name: "tinyint"},
	"@@LOCK_TIMEOUT": typInt, "@@TEXTSIZE": typInt, "@@NESTLEVEL": typInt, "@@FETCH_STATUS": typInt,
	"@@PROCID": typInt, "@@LANGID": {name: "smallint"}, "@@MICROSOFTVERSION": typInt,
}

// funcTypes are the result types of functions with a fixed type.
var funcTypes = map[string]sqlType{
	"COUNT": typInt, "COUNT_BIG": typBigint, "LEN": typInt, "DATALENGTH": typInt,
	"CHARINDEX": typInt, "PATINDEX": typInt, "ROW_NUMBER": typBigint, "RANK": typBigint,
	"DENSE_RANK": typBigint, "NTILE": typBigint, "GETDATE": typDatetime, "GETUTCDATE": typDatetime,
	"SYSDATETIME": typDatetime2, "SYSUTCDATETIME": typDatetime2,
	"SYSDATETIMEOFFSET": {name: "datetimeoffset", scale: 7}, "NEWID": typGUID, "NEWSEQUENTIALID": typGUID,
	"DB_NAME": typSysname, "SUSER_SNAME": typSysname, "SUSER_NAME": typSysname, "USER_NAME": typSysname,
	"ORIGINAL_LOGIN": typSysname, "HOST_NAME": typSysname, "APP_NAME": typSysname, "SCHEMA_NAME": typSysname,
	"DB_ID": {name: "smallint"}, "OBJECT_ID": typInt, "SCOPE_IDENTITY": {name: "numeric", prec: 38},
	"IDENT_CURRENT": {name: "numeric", prec: 38}, "SERVERPROPERTY": typVariant,
	"DATABASEPROPERTYEX": typVariant, "DATEDIFF": typInt, "DATEDIFF_BIG": typBigint, "DATEPART": typInt,
	"YEAR": typInt, "MONTH": typInt, "DAY": typInt, "ISNUMERIC": typInt, "ERROR_MESSAGE": {name: "nvarchar", size: 4000},
	"ERROR_NUMBER": typInt, "ERROR_SEVERITY": typInt, "ERROR_STATE": typInt, "ERROR_LINE": typInt,
	"XACT_STATE": {name: "smallint"}, "DATENAME": {name: "nvarchar", size: 30}, "UNICODE": typInt,
	"ASCII": typInt, "SCHEMA_ID": typInt, "IS_MEMBER": typInt, "IS_SRVROLEMEMBER": typInt,
	"STRING_AGG": {name: "nvarchar", size: 4000}, "CONCAT": {name: "nvarchar", size: 4000},
	"QUOTENAME": {name: "nvarchar", size: 258}, "SPACE": {name: "varchar", size: 8000},
}

// firstArgTypeFuncs return the type of their first argument.
var firstArgTypeFuncs = map[string]bool{
	"ISNULL": true, "COALESCE": true, "UPPER": true, "LOWER": true, "LTRIM": true, "RTRIM": true,
	"TRIM": true, "REPLACE": true, "SUBSTRING": true, "LEFT": true, "RIGHT": true, "REPLICATE": true,
	"ABS": true, "ROUND": true, "MIN": true, "MAX": true, "NULLIF": true, "CEILING": true, "FLOOR": true,
	"REVERSE": true, "STUFF": true, "LAG": true, "LEAD": true, "FIRST_VALUE": true, "LAST_VALUE": true,
	"SIGN": true,
}

// typeOf infers the T-SQL type of the expression toks[lo:hi]; ok is false
// when it cannot tell (the executor then uses the column's declared type or
// the values themselves).
func (tr *translator) typeOf(lo, hi int) (sqlType, bool) {
	toks := tr.toks
	if lo >= hi {
		return sqlType{}, false
	}
	// strip enclosing parentheses
	for toks[lo].isOp("(") && matching(toks, lo) == hi-1 {
		lo++
		hi--
		if lo >= hi {
			return sqlType{}, false
		}
		if toks[lo].is("SELECT") {
			return sqlType{}, false
		}
	}
	// binary operators at depth 0 (lowest precedence last)
	depth := 0
	var ops []int
	for k := lo; k < hi; k++ {
		t := toks[k]
		switch {
		case t.isOp("("):
			depth++
		case t.isOp(")"):
			depth--
		case depth == 0 && t.kind == tkOp && (t.text == "+" || t.text == "-" || t.text == "*" || t.text == "/" || t.text == "%" || t.text == "||"):
			if k > lo && !isOperator(toks[k-1]) {
				ops = append(ops, k)
			}
		case depth == 0 && t.kind == tkWord && t.up == "CASE":
			return tr.caseType(k, hi)
		}
	}
	if len(ops) > 0 {
		var res sqlType
		have := false
		start := lo
		bounds := append(ops, hi)
		for n, end := range bounds {
			if end-start == 1 && toks[start].is("NULL") {
				start = end + 1
				continue // NULL takes the other operand's type
			}
			t, ok := tr.typeOf(start, end)
			if !ok {
				return sqlType{}, false
			}
			if !have {
				res, have = t, true
			} else {
				res = combineTypes(res, t, toks[ops[n-1]].text)
			}
			start = end + 1
		}
		return res, true
	}
	if v, typ, ok := literalValue(toks[lo:hi]); ok {
		_ = v
		return typ, true
	}
	if toks[lo].isOp("-") || toks[lo].isOp("+") {
		return tr.typeOf(lo+1, hi)
	}
	t := toks[lo]
	switch t.kind {
	case tkVar:
		if hi-lo == 1 {
			return tr.s.varType(t.val)
		}
	case tkSysVar:
		if hi-lo == 1 {
			st, ok := sysVarTypes[t.up]
			return st, ok
		}
	case tkWord, tkQuoted:
		if t.kind == tkWord && t.up == "CURRENT_TIMESTAMP" {
			return typDatetime, true
		}
		parts, next := nameParts(toks, lo)
		if next < hi && toks[next].isOp("(") {
			return tr.funcType(parts, next, hi)
		}
		if next == hi {
			return tr.columnType(parts)
		}
	}
	return sqlType{}, false
}

func isOperator(t token) bool {
	if t.kind == tkOp {
		return t.text != ")"
	}
	return t.kind == tkWord && (t.up == "AND" || t.up == "OR" || t.up == "NOT" || t.up == "THEN" || t.up == "ELSE" || t.up == "WHEN" || t.up == "SELECT")
}

// caseType types CASE ... END by its first THEN branch.
func (tr *translator) caseType(k, hi int) (sqlType, bool) {
	depth := 0
	for i := k + 1; i < hi; i++ {
		t := tr.toks[i]
		switch {
		case t.isOp("("):
			depth++
		case t.isOp(")"):
			depth--
		case depth == 0 && (t.is("THEN") || t.is("ELSE")):
			end := i + 1
			d2 := 0
			for end < hi {
				e := tr.toks[end]
				if e.isOp("(") {
					d2++
				} else if e.isOp(")") {
					d2--
				} else if d2 == 0 && (e.is("WHEN") || e.is("ELSE") || e.is("END")) {
					break
				}
				end++
			}
			if typ, ok := tr.typeOf(i+1, end); ok && !(typ == typInt && end == i+2 && tr.toks[i+1].is("NULL")) {
				return typ, true
			}
		}
	}
	return sqlType{}, false
}

// combineTypes gives the result type of a op b.
func combineTypes(a, b sqlType, op string) sqlType {
	if (op == "+" || op == "||") && (a.isString() || b.isString()) {
		if a.isString() && b.isString() {
			name := "varchar"
			if a.isUnicode() || b.isUnicode() {
				name = "nvarchar"
			}
			size := maxSize
			if a.size != maxSize && b.size != maxSize {
				size = a.size + b.size
				limit := 8000
				if name == "nvarchar" {
					limit = 4000
				}
				if size > limit {
					size = maxSize
				}
			}
			return sqlType{name: name, size: size}
		}
		if a.isString() {
			return b // T-SQL converts the string to the other operand's type
		}
		return a
	}
	if a.isDateTime() {
		return a
	}
	if b.isDateTime() {
		return b
	}
	ra, rb := a.numericRank(), b.numericRank()
	if ra == 0 || rb == 0 {
		if ra == 0 {
			return b
		}
		return a
	}
	if (a.name == "decimal" || a.name == "numeric") && (b.name == "decimal" || b.name == "numeric") {
		s := max(a.scale, b.scale)
		p := min(max(a.prec-a.scale, b.prec-b.scale)+s+1, 38)
		if op == "*" {
			p = min(a.prec+b.prec+1, 38)
			s = min(a.scale+b.scale, 38)
		}
		if op == "/" {
			s = max(6, a.scale+b.prec+1)
			p = 38
			if s > 38 {
				s = 38
			}
		}
		return sqlType{name: "numeric", prec: p, scale: s}
	}
	if ra >= rb {
		if a.name == "bit" || a.name == "tinyint" || a.name == "smallint" {
			return typInt
		}
		return a
	}
	if b.name == "bit" || b.name == "tinyint" || b.name == "smallint" {
		return typInt
	}
	return b
}

// funcType types a function call.
func (tr *translator) funcType(parts []string, open, hi int) (sqlType, bool) {
	j := matching(tr.toks, open)
	if j < 0 || j+1 != hi {
		// a call followed by more tokens (e.g. OVER (...)) — window functions
		if j >= 0 && j+1 < hi && tr.toks[j+1].is("OVER") && len(parts) == 1 {
			return tr.funcType(parts, open, j+1)
		}
		return sqlType{}, false
	}
	name := strings.ToUpper(parts[len(parts)-1])
	if len(parts) > 1 && name == "FN_HADR_IS_PRIMARY_REPLICA" {
		return typBit, true
	}
	args := splitArgs(tr.toks, open+1, j)
	switch name {
	case "CAST", "TRY_CAST":
		for k := j - 1; k > open; k-- {
			if tr.toks[k].is("AS") {
				t, _, err := castTypeTokens(tr.toks[k+1 : j])
				return t, err == nil
			}
		}
		return sqlType{}, false
	case "CONVERT", "TRY_CONVERT":
		if len(args) < 2 {
			return sqlType{}, false
		}
		t, _, err := castTypeTokens(tr.toks[args[0][0]:args[0][1]])
		return t, err == nil
	case "SUM", "AVG":
		if len(args) != 1 {
			return sqlType{}, false
		}
		lo := args[0][0]
		if tr.toks[lo].is("DISTINCT") {
			lo++
		}
		t, ok := tr.typeOf(lo, args[0][1])
		if !ok {
			return sqlType{}, false
		}
		switch t.name {
		case "tinyint", "smallint", "bit":
			return typInt, true
		case "decimal", "numeric":
			if name == "AVG" {
				return sqlType{name: "decimal", prec: 38, scale: max(t.scale, 6)}, true
			}
			return sqlType{name: "decimal", prec: 38, scale: t.scale}, true
		case "real":
			return typFloat, true
		case "smallmoney":
			return sqlType{name: "money"}, true
		}
		return t, true
	case "DATEADD":
		if len(args) == 3 {
			if t, ok := tr.typeOf(args[2][0], args[2][1]); ok && t.isDateTime() {
				return t, true
			}
			return typDatetime, true
		}
	case "CEILING", "FLOOR":
		if len(args) == 1 {
			t, ok := tr.typeOf(args[0][0], args[0][1])
			if ok && (t.name == "decimal" || t.name == "numeric") {
				t.scale = 0 // SQL Server keeps the precision, drops the scale
			}
			return t, ok
		}
	case "IIF":
		if len(args) == 3 {
			return tr.typeOf(args[1][0], args[1][1])
		}
	}
	if t, ok := funcTypes[name]; ok {
		return t, true
	}
	if firstArgTypeFuncs[name] && len(args) > 0 {
		t, ok := tr.typeOf(args[0][0], args[0][1])
		if ok && (name == "ISNULL" || name == "COALESCE") && tr.toks[args[0][0]].is("NULL") && len(args) > 1 {
			return tr.typeOf(args[1][0], args[1][1])
		}
		if ok && name == "REPLICATE" && t.isString() {
			return sqlType{name: t.name, size: maxSize}, true
		}
		return t, ok
	}
	return sqlType{}, false
}

// columnType looks a column reference up in the tables of the statement.
func (tr *translator) columnType(parts []string) (sqlType, bool) {
	col := parts[len(parts)-1]
	qual := ""
	if len(parts) > 1 {
		qual = parts[len(parts)-2]
	}
	for _, ref := range tr.tables {
		if qual != "" && !strings.EqualFold(qual, ref.alias) && !strings.EqualFold(qual, ref.name) {
			continue
		}
		for _, c := range tr.s.tableColumns(ref) {
			if strings.EqualFold(c.name, col) {
				return c.typ, c.typed
			}
		}
	}
	return sqlType{}, false
}

// selectItems analyses the top-level select list of a SELECT statement that
// starts at toks[lo] (the SELECT keyword).
func (tr *translator) selectItems(lo, hi int) (items []selItem, assign []string, star bool) {
	toks := tr.toks
	k, end := selectList(toks, lo, hi)
	for _, a := range splitArgs(toks, k, end) {
		b, e := a[0], a[1]
		if b >= e {
			continue
		}
		var it selItem
		// @var = expr (assignment) or alias = expr
		if e-b >= 3 && toks[b+1].isOp("=") && (toks[b].kind == tkVar || toks[b].isIdent()) {
			if toks[b].kind == tkVar {
				assign = append(assign, strings.ToLower(toks[b].val))
			} else {
				it.name = toks[b].val
			}
			b += 2
		} else if e-b >= 2 && (toks[e-1].isIdent() || toks[e-1].kind == tkString) && (toks[e-2].is("AS") || (!isOperator(toks[e-2]) && !toks[e-2].isOp(".") && !(toks[e-1].kind == tkWord && keywords[toks[e-1].up]))) {
			it.name = toks[e-1].val
			if toks[e-2].is("AS") {
				e -= 2
			} else {
				e--
			}
		}
		if e-b == 1 && toks[b].isOp("*") || (e-b >= 3 && toks[e-1].isOp("*") && toks[e-2].isOp(".")) {
			star = true
			items = append(items, selItem{name: "*"})
			continue
		}
		if it.name == "" {
			parts, next := nameParts(toks, b)
			if len(parts) > 0 && next == e && toks[b].kind != tkVar {
				it.name = parts[len(parts)-1]
			} else {
				it.noName = true
			}
		}
		if v, typ, ok := literalValue(toks[b:e]); ok {
			it.literal, it.isConst = v, true
			it.typ, it.typed = typ, true
		} else if typ, ok := tr.typeOf(b, e); ok {
			it.typ, it.typed = typ, true
		}
		items = append(items, it)
	}
	return items, assign, star
}

// selectList returns the token range of the select list of the SELECT at
// toks[lo].
func selectList(toks []token, lo, hi int) (int, int) {
	k := lo + 1
	if k < hi && (toks[k].is("DISTINCT") || toks[k].is("ALL")) {
		k++
	}
	if k < hi && toks[k].is("TOP") {
		k++
		if k < hi && toks[k].isOp("(") {
			k = matching(toks, k) + 1
		} else {
			k++
		}
		if k+1 < hi && toks[k].is("WITH") && toks[k+1].is("TIES") {
			k += 2
		}
	}
	end := k
	depth := 0
	for end < hi {
		t := toks[end]
		if t.isOp("(") {
			depth++
		} else if t.isOp(")") {
			depth--
		} else if depth == 0 && t.kind == tkWord && (t.up == "FROM" || t.up == "INTO" || t.up == "WHERE" || t.up == "GROUP" || t.up == "ORDER" || t.up == "UNION" || t.up == "EXCEPT" || t.up == "INTERSECT" || t.up == "HAVING" || t.up == "OPTION" || t.up == "FOR") {
			break
		}
		end++
	}
	return k, end
}

// rewriteSelectList turns "SELECT alias = expr" items into "expr AS alias"
// (SQLite has no such form) and drops the "@var =" of assignments (the
// executor assigns the values).
func rewriteSelectList(toks []token, sel int) []token {
	k, end := selectList(toks, sel, len(toks))
	var out []token
	changed := false
	for n, a := range splitArgs(toks, k, end) {
		b, e := a[0], a[1]
		if n > 0 {
			out = append(out, token{kind: tkOp, text: ","})
		}
		if e-b >= 3 && toks[b+1].isOp("=") && toks[b].kind == tkVar {
			out = append(out, toks[b+2:e]...)
			changed = true
			continue
		}
		if e-b >= 3 && toks[b+1].isOp("=") && toks[b].isIdent() {
			out = append(out, toks[b+2:e]...)
			out = append(out, token{kind: tkWord, text: "AS", up: "AS"}, toks[b])
			changed = true
			continue
		}
		out = append(out, toks[b:e]...)
	}
	if !changed {
		return toks
	}
	res := append([]token{}, toks[:k]...)
	res = append(res, out...)
	return append(res, toks[end:]...)
}
