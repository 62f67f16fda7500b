package sqlengine

import (
	"strconv"
	"strings"
)

// renamed maps T-SQL functions to SQLite or engine (tsql_*) functions that
// take the same arguments.
var renamed = map[string]string{
	"ISNULL": "IFNULL", "LEN": "tsql_len", "DATALENGTH": "tsql_datalength",
	"UPPER": "tsql_upper", "LOWER": "tsql_lower", "SUBSTRING": "substr", "LEFT": "tsql_left",
	"RIGHT": "tsql_right", "CHARINDEX": "tsql_charindex", "REPLICATE": "tsql_replicate",
	"SPACE": "tsql_space", "CONCAT": "tsql_concat", "COUNT_BIG": "COUNT", "ISNUMERIC": "tsql_isnumeric",
	"NEWID": "tsql_newid", "NEWSEQUENTIALID": "tsql_newid", "CEILING": "tsql_ceiling",
	"FLOOR": "tsql_floor", "POWER": "tsql_power", "SQRT": "tsql_sqrt", "SIGN": "sign",
	"STRING_AGG": "group_concat", "REVERSE": "tsql_reverse", "UNICODE": "unicode", "NCHAR": "char",
	"CHAR": "char", "ASCII": "unicode", "SOUNDEX": "tsql_upper", "STUFF": "tsql_stuff",
	"PATINDEX": "tsql_charindex", "QUOTENAME": "tsql_quotename",
}

// specialFuncs are niladic functions answered from session state.
var specialFuncs = map[string]string{
	"GETDATE": "__now_dt", "GETUTCDATE": "__utcnow_dt", "SYSDATETIME": "__now_dt2",
	"SYSUTCDATETIME": "__utcnow_dt2", "SYSDATETIMEOFFSET": "__now_dto",
	"SUSER_SNAME": "__login", "SUSER_NAME": "__login", "ORIGINAL_LOGIN": "__login",
	"USER_NAME": "__user", "SCOPE_IDENTITY": "__identity", "IDENT_CURRENT": "__identity",
	"ERROR_MESSAGE": "__error_message", "ERROR_NUMBER": "__error_number",
	"ERROR_SEVERITY": "__error_severity", "ERROR_STATE": "__error_state", "ERROR_LINE": "__error_line",
	"ERROR_PROCEDURE": "__error_procedure", "XACT_STATE": "__xact_state", "HOST_NAME": "__host",
	"APP_NAME": "__app", "@@SPID": "__spid",
}

// constFuncs are functions with a fixed answer in the simulator.
var constFuncs = map[string]string{
	"SCHEMA_NAME": "'dbo'", "SCHEMA_ID": "1", "IS_MEMBER": "1", "IS_SRVROLEMEMBER": "1",
	"HAS_DBACCESS": "1", "IS_ROLEMEMBER": "1", "PERMISSIONS": "0",
}

// function translates the call at toks[i] (a word followed by '('). It
// returns the index after the call; handled is false when the word is a
// keyword that takes a parenthesised list (IN, EXISTS, VALUES, OVER, ...).
func (tr *translator) function(i, hi int) (int, bool, error) {
	toks := tr.toks
	t := toks[i]
	if (keywords[t.up] && t.up != "LEFT" && t.up != "RIGHT") || t.up == "IN" || t.up == "EXISTS" || t.up == "VALUES" || t.up == "OVER" {
		return 0, false, nil
	}
	j := matching(toks, i+1)
	if j < 0 || j >= hi+1 {
		return 0, false, &syntaxError{near: t.text}
	}
	args := splitArgs(toks, i+2, j)
	arg := func(k int) error {
		return tr.translateRange(args[k][0], args[k][1])
	}
	writeArgs := func(from int) error {
		for k := from; k < len(args); k++ {
			if k > from {
				tr.b.WriteString(", ")
			}
			if err := arg(k); err != nil {
				return err
			}
		}
		return nil
	}
	inst := strconv.FormatInt(tr.s.db.id, 10)
	switch t.up {
	case "CAST", "TRY_CAST":
		as := -1
		depth := 0
		for k := i + 2; k < j; k++ {
			if toks[k].isOp("(") {
				depth++
			} else if toks[k].isOp(")") {
				depth--
			} else if depth == 0 && toks[k].is("AS") {
				as = k
			}
		}
		if as < 0 {
			return 0, false, &syntaxError{near: t.text}
		}
		typ, n, err := castTypeTokens(toks[as+1 : j])
		if err != nil || n != j-as-1 {
			return 0, false, &syntaxError{near: toks[as+1].text}
		}
		tr.b.WriteString(castFunc(t.up) + "(")
		if err := tr.translateRange(i+2, as); err != nil {
			return 0, false, err
		}
		tr.b.WriteString(", " + quoteString(typ.decl()) + ")")
		return j + 1, true, nil
	case "CONVERT", "TRY_CONVERT":
		if len(args) < 2 {
			return 0, false, &syntaxError{near: t.text}
		}
		typ, n, err := castTypeTokens(toks[args[0][0]:args[0][1]])
		if err != nil || n != args[0][1]-args[0][0] {
			return 0, false, &syntaxError{near: toks[args[0][0]].text}
		}
		tr.b.WriteString(castFunc(t.up) + "(")
		if err := arg(1); err != nil {
			return 0, false, err
		}
		tr.b.WriteString(", " + quoteString(typ.decl()))
		if len(args) > 2 {
			tr.b.WriteString(", ")
			if err := arg(2); err != nil {
				return 0, false, err
			}
		}
		tr.b.WriteByte(')')
		return j + 1, true, nil
	case "DB_NAME", "DB_ID":
		if len(args) == 0 {
			tr.useSpecial("__" + strings.ToLower(t.up))
			return j + 1, true, nil
		}
		tr.b.WriteString("tsql_prop(" + inst + ", " + quoteString(strings.ToLower(t.up)) + ", ")
		if err := arg(0); err != nil {
			return 0, false, err
		}
		tr.b.WriteString(", NULL)")
		return j + 1, true, nil
	case "SERVERPROPERTY":
		if len(args) != 1 {
			return 0, false, &syntaxError{near: t.text}
		}
		tr.b.WriteString("tsql_prop(" + inst + ", 'server', ")
		if err := arg(0); err != nil {
			return 0, false, err
		}
		tr.b.WriteString(", NULL)")
		return j + 1, true, nil
	case "DATABASEPROPERTYEX":
		if len(args) != 2 {
			return 0, false, &syntaxError{near: t.text}
		}
		tr.b.WriteString("tsql_prop(" + inst + ", 'dbprop', ")
		if err := writeArgs(0); err != nil {
			return 0, false, err
		}
		tr.b.WriteByte(')')
		return j + 1, true, nil
	case "OBJECT_ID":
		if len(args) < 1 || args[0][1]-args[0][0] != 1 || !(toks[args[0][0]].kind == tkString || toks[args[0][0]].kind == tkNString) {
			return 0, false, &notSupportedError{what: "OBJECT_ID with a non-literal argument"}
		}
		name := toks[args[0][0]].val
		sub, err := lex(name)
		if err != nil {
			return 0, false, err
		}
		parts, _ := nameParts(sub, 0)
		ref, ok := tr.s.resolveName(parts)
		if !ok || len(parts) == 0 {
			tr.b.WriteString("NULL")
			return j + 1, true, nil
		}
		master := "sqlite_master"
		if ref.schema == "temp" {
			master = "sqlite_temp_master"
		}
		tr.b.WriteString("(SELECT rowid + 1000 FROM " + quoteIdent(ref.schema) + "." + master +
			" WHERE type IN ('table','view') AND name = " + quoteString(ref.name) + " COLLATE NOCASE)")
		return j + 1, true, nil
	case "DATEADD", "DATEDIFF", "DATEDIFF_BIG", "DATEPART", "DATENAME":
		if len(args) < 2 || args[0][1]-args[0][0] != 1 {
			return 0, false, &syntaxError{near: t.text}
		}
		fn := map[string]string{"DATEADD": "tsql_dateadd", "DATEDIFF": "tsql_datediff", "DATEDIFF_BIG": "tsql_datediff", "DATEPART": "tsql_datepart", "DATENAME": "tsql_datepart"}[t.up]
		tr.b.WriteString(fn + "(" + quoteString(strings.ToLower(toks[args[0][0]].val)) + ", ")
		if err := writeArgs(1); err != nil {
			return 0, false, err
		}
		tr.b.WriteByte(')')
		return j + 1, true, nil
	case "YEAR", "MONTH", "DAY":
		tr.b.WriteString("tsql_datepart(" + quoteString(strings.ToLower(t.up)) + ", ")
		if err := writeArgs(0); err != nil {
			return 0, false, err
		}
		tr.b.WriteByte(')')
		return j + 1, true, nil
	case "IIF":
		tr.b.WriteString("(CASE WHEN ")
		if len(args) != 3 {
			return 0, false, &syntaxError{near: t.text}
		}
		if err := arg(0); err != nil {
			return 0, false, err
		}
		tr.b.WriteString(" THEN ")
		if err := arg(1); err != nil {
			return 0, false, err
		}
		tr.b.WriteString(" ELSE ")
		if err := arg(2); err != nil {
			return 0, false, err
		}
		tr.b.WriteString(" END)")
		return j + 1, true, nil
	}
	if sp, ok := specialFuncs[t.up]; ok {
		tr.useSpecial(sp)
		return j + 1, true, nil
	}
	if c, ok := constFuncs[t.up]; ok {
		tr.b.WriteString(c)
		return j + 1, true, nil
	}
	name := t.text
	if r, ok := renamed[t.up]; ok {
		name = r
	}
	tr.b.WriteString(name + "(")
	if err := writeArgs(0); err != nil {
		return 0, false, err
	}
	tr.b.WriteByte(')')
	return j + 1, true, nil
}

func castFunc(name string) string {
	if strings.HasPrefix(name, "TRY_") {
		return "tsql_trycast"
	}
	return "tsql_cast"
}

// qualifiedFunction handles schema-qualified calls such as
// sys.fn_hadr_is_primary_replica('demo').
func (tr *translator) qualifiedFunction(parts []string, open, hi int) (int, bool, error) {
	if len(parts) < 2 {
		return 0, false, nil
	}
	fn := strings.ToLower(parts[len(parts)-1])
	j := matching(tr.toks, open)
	if j < 0 {
		return 0, false, &syntaxError{near: fn}
	}
	switch fn {
	case "fn_hadr_is_primary_replica":
		tr.b.WriteString("tsql_prop(" + strconv.FormatInt(tr.s.db.id, 10) + ", 'hadr_primary', ")
		if err := tr.translateRange(open+1, j); err != nil {
			return 0, false, err
		}
		tr.b.WriteString(", NULL)")
		return j + 1, true, nil
	}
	return 0, false, &notSupportedError{what: "the function " + strings.Join(parts, ".")}
}

// castTypeTokens is parseTypeTokens for CAST and CONVERT, where a
// character type without a length is 30 long (in declarations it is 1).
func castTypeTokens(toks []token) (sqlType, int, error) {
	t, n, err := parseTypeTokens(toks)
	if err == nil && n == 1 && (t.isString() || t.isBinary()) {
		t.size = 30
	}
	return t, n, err
}

// parseTypeTokens reads a T-SQL type (name plus optional (n[,m]) or (max))
// from the start of toks; it returns the number of tokens used.
func parseTypeTokens(toks []token) (sqlType, int, error) {
	if len(toks) == 0 || !toks[0].isIdent() {
		return sqlType{}, 0, &syntaxError{msg: "Incorrect syntax: a data type was expected."}
	}
	name := toks[0].val
	n := 1
	// "double precision", "national character varying", "character varying"
	if len(toks) > 1 && toks[0].is("DOUBLE") && toks[1].is("PRECISION") {
		n = 2
	}
	if len(toks) > n && toks[n-1].isIdent() && (toks[0].is("CHAR") || toks[0].is("CHARACTER") || toks[0].is("NCHAR") || toks[0].is("NATIONAL")) && toks[n].is("VARYING") {
		name = map[bool]string{true: "nvarchar", false: "varchar"}[toks[0].is("NCHAR") || toks[0].is("NATIONAL")]
		n++
	}
	if strings.EqualFold(name, "sys") && len(toks) > 2 && toks[1].isOp(".") {
		name = toks[2].val
		n = 3
	}
	var args []int
	max := false
	if len(toks) > n && toks[n].isOp("(") {
		j := matching(toks, n)
		if j < 0 {
			return sqlType{}, 0, &syntaxError{near: name}
		}
		for k := n + 1; k < j; k++ {
			switch {
			case toks[k].isOp(","):
			case toks[k].is("MAX"):
				max = true
			case toks[k].kind == tkNumber:
				v, err := strconv.Atoi(toks[k].text)
				if err != nil {
					return sqlType{}, 0, &syntaxError{near: toks[k].text}
				}
				args = append(args, v)
			default:
				return sqlType{}, 0, &syntaxError{near: toks[k].text}
			}
		}
		n = j + 1
	}
	t, err := makeType(name, args, max)
	if err != nil {
		return sqlType{}, 0, &typeError{msg: err.Error()}
	}
	return t, n, nil
}

// typeError is 2715/243: an unknown or invalid data type.
type typeError struct{ msg string }

func (e *typeError) Error() string { return e.msg }
