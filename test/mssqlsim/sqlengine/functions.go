package sqlengine

import (
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"modernc.org/sqlite"
)

// sqlErr makes an error a SQL function raises that the executor turns into
// the SQL Server error number given.
func sqlErr(number int32, format string, args ...any) error {
	return fmt.Errorf("tsql#%d#%s", number, fmt.Sprintf(format, args...))
}

// sqliteDriver is the registered modernc driver (functions are registered
// on it, so every connection it opens has them).
func sqliteDriver() (driver.Driver, error) {
	db, err := sql.Open("sqlite", "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return db.Driver(), nil
}

type scalarFn func(args []driver.Value) (driver.Value, error)

func registerFunctions() error {
	det := map[string]struct {
		n  int32
		fn scalarFn
	}{
		"tsql_nz":         {1, fnNZ},
		"tsql_cast":       {-1, fnCast(false)},
		"tsql_trycast":    {-1, fnCast(true)},
		"tsql_len":        {1, strFn(func(s string) any { return int64(utf8.RuneCountInString(strings.TrimRight(s, " "))) })},
		"tsql_datalength": {1, fnDataLength},
		"tsql_upper":      {1, strFn(func(s string) any { return strings.ToUpper(s) })},
		"tsql_lower":      {1, strFn(func(s string) any { return strings.ToLower(s) })},
		"tsql_reverse": {1, strFn(func(s string) any {
			r := []rune(s)
			for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
				r[i], r[j] = r[j], r[i]
			}
			return string(r)
		})},
		"tsql_left":      {2, fnLeftRight(true)},
		"tsql_right":     {2, fnLeftRight(false)},
		"tsql_charindex": {-1, fnCharIndex},
		"tsql_replicate": {2, fnReplicate},
		"tsql_space": {1, func(a []driver.Value) (driver.Value, error) {
			return fnReplicate([]driver.Value{" ", a[0]})
		}},
		"tsql_concat":    {-1, fnConcat},
		"tsql_isnumeric": {1, fnIsNumeric},
		"tsql_ceiling":   {1, mathFn(math.Ceil)},
		"tsql_floor":     {1, mathFn(math.Floor)},
		"tsql_sqrt":      {1, mathFn(math.Sqrt)},
		"tsql_power":     {2, fnPower},
		"tsql_quotename": {-1, fnQuoteName},
		"tsql_stuff":     {4, fnStuff},
		"tsql_dateadd":   {3, fnDateAdd},
		"tsql_datediff":  {3, fnDateDiff},
		"tsql_datepart":  {2, fnDatePart},
	}
	for name, f := range det {
		fn := f.fn
		if err := sqlite.RegisterFunction(name, &sqlite.FunctionImpl{NArgs: f.n, Deterministic: true,
			Scalar: func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) { return fn(args) }}); err != nil {
			return err
		}
	}
	if err := registerNumbers(); err != nil {
		return err
	}
	if err := sqlite.RegisterScalarFunction("tsql_newid", 0, func(*sqlite.FunctionContext, []driver.Value) (driver.Value, error) {
		return newGUID(), nil
	}); err != nil {
		return err
	}
	if err := sqlite.RegisterScalarFunction("tsql_now", 1, func(_ *sqlite.FunctionContext, a []driver.Value) (driver.Value, error) {
		kind, _ := a[0].(string)
		return (&Session{}).special(kind), nil
	}); err != nil {
		return err
	}
	return sqlite.RegisterScalarFunction("tsql_prop", 4, fnProp)
}

func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[7] = b[7]&0x0F | 0x40
	b[8] = b[8]&0x3F | 0x80
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]))
}

func fnNZ(a []driver.Value) (driver.Value, error) {
	switch x := a[0].(type) {
	case int64:
		if x == 0 {
			return nil, sqlErr(ErrDivideByZero, "Divide by zero error encountered.")
		}
	case float64:
		if x == 0 {
			return nil, sqlErr(ErrDivideByZero, "Divide by zero error encountered.")
		}
	}
	return a[0], nil
}

func fnCast(try bool) scalarFn {
	return func(a []driver.Value) (driver.Value, error) {
		if len(a) < 2 {
			return nil, fmt.Errorf("tsql_cast: needs a value and a type")
		}
		tn, _ := a[1].(string)
		t, ok := parseTypeName(tn)
		if !ok {
			return nil, sqlErr(243, "Type %s is not a defined system type.", tn)
		}
		v := a[0]
		if len(a) > 2 && v != nil {
			if style, ok := a[2].(int64); ok {
				if s, ok := styleConvert(v, t, style); ok {
					return s, nil
				}
			}
		}
		out, err := toStorage(v, t)
		if err != nil {
			if try {
				return nil, nil
			}
			var ce *conversionError
			if asConv(err, &ce) {
				return nil, sqlErr(ErrConversion, "%s", ce.msg)
			}
			return nil, err
		}
		return out, nil
	}
}

func asConv(err error, target **conversionError) bool {
	ce, ok := err.(*conversionError)
	if ok {
		*target = ce
	}
	return ok
}

// styleConvert applies the common CONVERT styles for dates to strings.
func styleConvert(v any, t sqlType, style int64) (any, bool) {
	if !t.isString() {
		return nil, false
	}
	s, ok := v.(string)
	if !ok {
		return nil, false
	}
	tm, ok := parseDateTime(s)
	if !ok {
		return nil, false
	}
	layouts := map[int64]string{
		1: "01/02/06", 101: "01/02/2006", 3: "02/01/06", 103: "02/01/2006", 12: "060102",
		112: "20060102", 108: "15:04:05", 120: "2006-01-02 15:04:05", 121: "2006-01-02 15:04:05.000",
		126: "2006-01-02T15:04:05.000", 127: "2006-01-02T15:04:05.000Z", 23: "2006-01-02",
	}
	l, ok := layouts[style]
	if !ok {
		return nil, false
	}
	out := tm.Format(l)
	if t.size > 0 && len(out) > t.size {
		out = out[:t.size]
	}
	return out, true
}

func strFn(f func(string) any) scalarFn {
	return func(a []driver.Value) (driver.Value, error) {
		switch x := a[0].(type) {
		case nil:
			return nil, nil
		case string:
			return f(x), nil
		case []byte:
			return f(string(x)), nil
		case int64:
			return f(strconv.FormatInt(x, 10)), nil
		case float64:
			return f(formatFloat(x)), nil
		}
		return f(fmt.Sprint(a[0])), nil
	}
}

func asString(v driver.Value) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case []byte:
		return string(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return formatFloat(x), true
	case time.Time:
		return x.Format(layoutDT2), true
	}
	return fmt.Sprint(v), true
}

func asInt(v driver.Value) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case float64:
		return int64(x), true
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return i, err == nil
	}
	return 0, false
}

func fnDataLength(a []driver.Value) (driver.Value, error) {
	switch x := a[0].(type) {
	case nil:
		return nil, nil
	case []byte:
		return int64(len(x)), nil
	case string:
		return int64(len(x)), nil
	case int64:
		return int64(8), nil
	case float64:
		return int64(8), nil
	}
	return nil, nil
}

func fnLeftRight(left bool) scalarFn {
	return func(a []driver.Value) (driver.Value, error) {
		s, ok := asString(a[0])
		n, ok2 := asInt(a[1])
		if !ok || !ok2 {
			return nil, nil
		}
		if n < 0 {
			return nil, sqlErr(536, "Invalid length parameter passed to the %s function.", map[bool]string{true: "left", false: "right"}[left])
		}
		r := []rune(s)
		if int(n) >= len(r) {
			return s, nil
		}
		if left {
			return string(r[:n]), nil
		}
		return string(r[len(r)-int(n):]), nil
	}
}

func fnCharIndex(a []driver.Value) (driver.Value, error) {
	if len(a) < 2 {
		return nil, fmt.Errorf("CHARINDEX needs two arguments")
	}
	needle, ok := asString(a[0])
	hay, ok2 := asString(a[1])
	if !ok || !ok2 {
		return nil, nil
	}
	needle = strings.Trim(needle, "%")
	r := []rune(hay)
	start := 0
	if len(a) > 2 {
		if s, ok := asInt(a[2]); ok && s > 1 {
			start = int(s) - 1
		}
	}
	if start > len(r) {
		return int64(0), nil
	}
	idx := strings.Index(strings.ToLower(string(r[start:])), strings.ToLower(needle))
	if idx < 0 {
		return int64(0), nil
	}
	return int64(start + utf8.RuneCountInString(string(r[start:])[:idx]) + 1), nil
}

func fnReplicate(a []driver.Value) (driver.Value, error) {
	s, ok := asString(a[0])
	n, ok2 := asInt(a[1])
	if !ok || !ok2 || n < 0 {
		return nil, nil
	}
	if int64(len(s))*n > 1<<24 {
		return nil, sqlErr(1101, "REPLICATE result too large for the simulator.")
	}
	return strings.Repeat(s, int(n)), nil
}

func fnConcat(a []driver.Value) (driver.Value, error) {
	var b strings.Builder
	for _, v := range a {
		if s, ok := asString(v); ok {
			b.WriteString(s)
		}
	}
	return b.String(), nil
}

func fnIsNumeric(a []driver.Value) (driver.Value, error) {
	switch x := a[0].(type) {
	case int64, float64:
		return int64(1), nil
	case string:
		if _, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
			return int64(1), nil
		}
	}
	return int64(0), nil
}

func mathFn(f func(float64) float64) scalarFn {
	return func(a []driver.Value) (driver.Value, error) {
		switch x := a[0].(type) {
		case int64:
			return x, nil
		case float64:
			return f(x), nil
		case nil:
			return nil, nil
		}
		s, _ := asString(a[0])
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, sqlErr(ErrConversion, "Error converting data type varchar to float.")
		}
		return f(v), nil
	}
}

func fnPower(a []driver.Value) (driver.Value, error) {
	if a[0] == nil || a[1] == nil {
		return nil, nil
	}
	x, y := toFloat(a[0]), toFloat(a[1])
	r := math.Pow(x, y)
	if _, isInt := a[0].(int64); isInt && r == math.Trunc(r) && math.Abs(r) < 1<<62 {
		return int64(r), nil
	}
	return r, nil
}

func fnQuoteName(a []driver.Value) (driver.Value, error) {
	s, ok := asString(a[0])
	if !ok {
		return nil, nil
	}
	q := "["
	if len(a) > 1 {
		if c, ok := asString(a[1]); ok && c != "" {
			q = c[:1]
		}
	}
	switch q {
	case "[", "]":
		return "[" + strings.ReplaceAll(s, "]", "]]") + "]", nil
	case "\"":
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`, nil
	case "'":
		return "'" + strings.ReplaceAll(s, "'", "''") + "'", nil
	}
	return nil, nil
}

func fnStuff(a []driver.Value) (driver.Value, error) {
	s, ok := asString(a[0])
	start, ok2 := asInt(a[1])
	n, ok3 := asInt(a[2])
	repl, _ := asString(a[3])
	if !ok || !ok2 || !ok3 {
		return nil, nil
	}
	r := []rune(s)
	if start < 1 || int(start) > len(r) || n < 0 {
		return nil, nil
	}
	end := min(int(start-1+n), len(r))
	return string(r[:start-1]) + repl + string(r[end:]), nil
}

// fnProp answers SERVERPROPERTY, DATABASEPROPERTYEX, DB_NAME(id), DB_ID(name)
// and sys.fn_hadr_is_primary_replica for instance a[0].
func fnProp(_ *sqlite.FunctionContext, a []driver.Value) (driver.Value, error) {
	id, _ := a[0].(int64)
	v, ok := registry.Load(id)
	if !ok {
		return nil, nil
	}
	db := v.(*DB)
	kind, _ := a[1].(string)
	arg, _ := asString(a[2])
	switch kind {
	case "server":
		return db.serverProperty(arg), nil
	case "dbprop":
		p, _ := asString(a[3])
		return db.databaseProperty(arg, p), nil
	case "db_name":
		n, ok := asInt(a[2])
		if !ok {
			return nil, nil
		}
		for _, d := range db.allDatabases() {
			if int64(d.id) == n {
				return d.name, nil
			}
		}
		return nil, nil
	case "db_id":
		for _, d := range db.allDatabases() {
			if strings.EqualFold(d.name, arg) {
				return int64(d.id), nil
			}
		}
		return nil, nil
	case "hadr_primary":
		if _, ok := db.database(arg); !ok {
			return nil, nil
		}
		return b2i(db.IsPrimary()), nil
	}
	return nil, nil
}
