package sqlengine

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tdsproxy/tdsproxy/tds"
)

// sqlType is a T-SQL data type as declared (CREATE TABLE, CAST, DECLARE).
type sqlType struct {
	name  string // canonical lower-case base name: int, nvarchar, decimal, ...
	size  int    // characters for char types, bytes for binary; -1 = (max)
	prec  uint8  // decimal/numeric precision
	scale uint8  // decimal/numeric scale; fractional digits of time types
}

// maxSize marks (max) types.
const maxSize = -1

var (
	typInt       = sqlType{name: "int"}
	typBigint    = sqlType{name: "bigint"}
	typBit       = sqlType{name: "bit"}
	typFloat     = sqlType{name: "float"}
	typDatetime  = sqlType{name: "datetime"}
	typDatetime2 = sqlType{name: "datetime2", scale: 7}
	typGUID      = sqlType{name: "uniqueidentifier"}
	typSysname   = sqlType{name: "nvarchar", size: 128}
	typNVarMax   = sqlType{name: "nvarchar", size: maxSize}
	typVarbinMax = sqlType{name: "varbinary", size: maxSize}
	typVariant   = sqlType{name: "sql_variant"}
)

// typeAliases maps synonyms to canonical names.
var typeAliases = map[string]string{
	"integer": "int", "dec": "decimal", "double": "float", "character": "char",
	"national": "nchar", "sysname": "sysname", "rowversion": "binary", "timestamp": "binary",
	"text": "varchar", "ntext": "nvarchar", "image": "varbinary", "xml": "nvarchar",
	"hierarchyid": "varbinary", "geography": "varbinary", "geometry": "varbinary",
}

// knownTypes lists the base names the engine understands.
var knownTypes = map[string]bool{
	"tinyint": true, "smallint": true, "int": true, "bigint": true, "bit": true,
	"decimal": true, "numeric": true, "float": true, "real": true, "money": true, "smallmoney": true,
	"char": true, "varchar": true, "nchar": true, "nvarchar": true, "binary": true, "varbinary": true,
	"datetime": true, "smalldatetime": true, "datetime2": true, "date": true, "time": true,
	"datetimeoffset": true, "uniqueidentifier": true, "sql_variant": true,
}

// makeType builds a type from its name and up to two numeric arguments
// (nil when absent). max is true for "(max)".
func makeType(name string, args []int, max bool) (sqlType, error) {
	n := strings.ToLower(name)
	if a, ok := typeAliases[n]; ok {
		switch n {
		case "text", "ntext", "image", "xml":
			max = true
		case "sysname":
			return typSysname, nil
		case "rowversion", "timestamp":
			args = []int{8}
		}
		n = a
	}
	if !knownTypes[n] {
		return sqlType{}, fmt.Errorf("Column, parameter, or variable #1: Cannot find data type %s.", name)
	}
	t := sqlType{name: n}
	switch n {
	case "char", "varchar", "nchar", "nvarchar", "binary", "varbinary":
		t.size = 1
		if max {
			if n == "char" || n == "nchar" || n == "binary" {
				return sqlType{}, fmt.Errorf("Incorrect syntax near 'max'.")
			}
			t.size = maxSize
		} else if len(args) > 0 {
			t.size = args[0]
			limit := 8000
			if n == "nchar" || n == "nvarchar" {
				limit = 4000
			}
			if t.size < 1 || t.size > limit {
				return sqlType{}, fmt.Errorf("The size (%d) given to the type '%s' exceeds the maximum allowed for any data type (%d).", t.size, n, limit)
			}
		} else if len(args) == 0 && !max {
			t.size = 1
		}
	case "decimal", "numeric":
		t.prec, t.scale = 18, 0
		if len(args) > 0 {
			if args[0] < 1 || args[0] > 38 {
				return sqlType{}, fmt.Errorf("Column or parameter #1: Specified column precision %d is greater than the maximum precision of 38.", args[0])
			}
			t.prec = uint8(args[0])
		}
		if len(args) > 1 {
			if args[1] < 0 || args[1] > int(t.prec) {
				return sqlType{}, fmt.Errorf("Column or parameter #1: Specified column scale %d is greater than the specified precision of %d.", args[1], t.prec)
			}
			t.scale = uint8(args[1])
		}
	case "float":
		if len(args) > 0 && args[0] <= 24 {
			t.name = "real"
		}
	case "datetime2", "time", "datetimeoffset":
		t.scale = 7
		if len(args) > 0 {
			if args[0] < 0 || args[0] > 7 {
				return sqlType{}, fmt.Errorf("Specified scale %d is invalid.", args[0])
			}
			t.scale = uint8(args[0])
		}
	}
	return t, nil
}

// parseTypeName parses a declared type such as "NVARCHAR(100)",
// "decimal(12, 2)" or "VARCHAR(MAX)" (SQLite decltypes are stored this way).
func parseTypeName(s string) (sqlType, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return sqlType{}, false
	}
	name, rest, hasArgs := strings.Cut(s, "(")
	name = strings.TrimSpace(name)
	if name == "INTEGER" {
		// identity columns are declared INTEGER PRIMARY KEY (the rowid alias)
		return typInt, true
	}
	var args []int
	max := false
	if hasArgs {
		rest = strings.TrimSuffix(strings.TrimSpace(rest), ")")
		for _, a := range strings.Split(rest, ",") {
			a = strings.TrimSpace(a)
			if strings.EqualFold(a, "max") {
				max = true
				continue
			}
			v, err := strconv.Atoi(a)
			if err != nil {
				return sqlType{}, false
			}
			if v == -1 {
				max = true // SQLite column types cannot say (max)
				continue
			}
			args = append(args, v)
		}
	}
	t, err := makeType(name, args, max)
	if err != nil {
		return sqlType{}, false
	}
	return t, true
}

// decl renders t as the declared type stored in SQLite (and as T-SQL).
func (t sqlType) decl() string {
	switch t.name {
	case "char", "varchar", "nchar", "nvarchar", "binary", "varbinary":
		if t.size == maxSize {
			return strings.ToUpper(t.name) + "(MAX)"
		}
		return fmt.Sprintf("%s(%d)", strings.ToUpper(t.name), t.size)
	case "decimal", "numeric":
		return fmt.Sprintf("%s(%d,%d)", strings.ToUpper(t.name), t.prec, t.scale)
	case "datetime2", "time", "datetimeoffset":
		return fmt.Sprintf("%s(%d)", strings.ToUpper(t.name), t.scale)
	}
	return strings.ToUpper(t.name)
}

// sqliteDecl is decl as a SQLite column type, which allows only numbers
// in parentheses: (max) becomes (-1).
func (t sqlType) sqliteDecl() string {
	return strings.Replace(t.decl(), "(MAX)", "(-1)", 1)
}

func (t sqlType) String() string { return strings.ToLower(t.decl()) }

func (t sqlType) isString() bool {
	switch t.name {
	case "char", "varchar", "nchar", "nvarchar":
		return true
	}
	return false
}

func (t sqlType) isUnicode() bool { return t.name == "nchar" || t.name == "nvarchar" }

func (t sqlType) isBinary() bool { return t.name == "binary" || t.name == "varbinary" }

func (t sqlType) isDateTime() bool {
	switch t.name {
	case "datetime", "smalldatetime", "datetime2", "date", "time", "datetimeoffset":
		return true
	}
	return false
}

// numericRank orders numeric types by SQL Server's data type precedence.
func (t sqlType) numericRank() int {
	switch t.name {
	case "bit":
		return 1
	case "tinyint":
		return 2
	case "smallint":
		return 3
	case "int":
		return 4
	case "bigint":
		return 5
	case "smallmoney":
		return 6
	case "money":
		return 7
	case "decimal", "numeric":
		return 8
	case "real":
		return 9
	case "float":
		return 10
	}
	return 0
}

// affinity is the SQLite type a CAST to t produces before tsql_cast
// normalises it.
func (t sqlType) typeInfo() tds.TypeInfo {
	switch t.name {
	case "tinyint":
		return tds.TypeInfo{Type: tds.TypeIntN, Size: 1}
	case "smallint":
		return tds.TypeInfo{Type: tds.TypeIntN, Size: 2}
	case "int":
		return tds.TypeInfo{Type: tds.TypeIntN, Size: 4}
	case "bigint":
		return tds.TypeInfo{Type: tds.TypeIntN, Size: 8}
	case "bit":
		return tds.TypeInfo{Type: tds.TypeBitN, Size: 1}
	case "decimal", "numeric":
		dt := tds.TypeDecimalN
		if t.name == "numeric" {
			dt = tds.TypeNumericN
		}
		return tds.TypeInfo{Type: dt, Size: decimalBytes(t.prec), Precision: t.prec, Scale: t.scale}
	case "float":
		return tds.TypeInfo{Type: tds.TypeFltN, Size: 8}
	case "real":
		return tds.TypeInfo{Type: tds.TypeFltN, Size: 4}
	case "money":
		return tds.TypeInfo{Type: tds.TypeMoneyN, Size: 8}
	case "smallmoney":
		return tds.TypeInfo{Type: tds.TypeMoneyN, Size: 4}
	case "char", "varchar":
		dt := tds.TypeBigVarChar
		if t.name == "char" {
			dt = tds.TypeBigChar
		}
		return tds.TypeInfo{Type: dt, Size: byteSize(t.size, 1), Collation: tds.DefaultCollation}
	case "nchar", "nvarchar":
		dt := tds.TypeNVarChar
		if t.name == "nchar" {
			dt = tds.TypeNChar
		}
		return tds.TypeInfo{Type: dt, Size: byteSize(t.size, 2), Collation: tds.DefaultCollation}
	case "binary", "varbinary":
		dt := tds.TypeBigVarBin
		if t.name == "binary" {
			dt = tds.TypeBigBinary
		}
		return tds.TypeInfo{Type: dt, Size: byteSize(t.size, 1)}
	case "datetime":
		return tds.TypeInfo{Type: tds.TypeDateTimeN, Size: 8}
	case "smalldatetime":
		return tds.TypeInfo{Type: tds.TypeDateTimeN, Size: 4}
	case "datetime2":
		return tds.TypeInfo{Type: tds.TypeDateTime2N, Scale: t.scale}
	case "date":
		return tds.TypeInfo{Type: tds.TypeDateN}
	case "time":
		return tds.TypeInfo{Type: tds.TypeTimeN, Scale: t.scale}
	case "datetimeoffset":
		return tds.TypeInfo{Type: tds.TypeDateTimeOffsetN, Scale: t.scale}
	case "uniqueidentifier":
		return tds.TypeInfo{Type: tds.TypeGUID, Size: 16}
	case "sql_variant":
		return tds.TypeInfo{Type: tds.TypeVariant, Size: 8016}
	}
	return tds.TypeInfo{Type: tds.TypeNVarChar, Size: tds.PLPSize, Collation: tds.DefaultCollation}
}

func byteSize(chars, per int) int {
	if chars == maxSize {
		return tds.PLPSize
	}
	return chars * per
}

func decimalBytes(prec uint8) int {
	switch {
	case prec <= 9:
		return 5
	case prec <= 19:
		return 9
	case prec <= 28:
		return 13
	}
	return 17
}

// typeFromTypeInfo maps a parameter's TDS type back to a T-SQL type.
func typeFromTypeInfo(ti tds.TypeInfo) sqlType {
	switch ti.Type {
	case tds.TypeInt1:
		return sqlType{name: "tinyint"}
	case tds.TypeInt2:
		return sqlType{name: "smallint"}
	case tds.TypeInt4:
		return typInt
	case tds.TypeInt8:
		return typBigint
	case tds.TypeIntN:
		switch ti.Size {
		case 1:
			return sqlType{name: "tinyint"}
		case 2:
			return sqlType{name: "smallint"}
		case 8:
			return typBigint
		}
		return typInt
	case tds.TypeBit, tds.TypeBitN:
		return typBit
	case tds.TypeFlt4:
		return sqlType{name: "real"}
	case tds.TypeFlt8:
		return typFloat
	case tds.TypeFltN:
		if ti.Size == 4 {
			return sqlType{name: "real"}
		}
		return typFloat
	case tds.TypeMoney, tds.TypeMoneyN, tds.TypeMoney4:
		if ti.Size == 4 || ti.Type == tds.TypeMoney4 {
			return sqlType{name: "smallmoney"}
		}
		return sqlType{name: "money"}
	case tds.TypeDecimal, tds.TypeDecimalN, tds.TypeNumeric, tds.TypeNumericN:
		return sqlType{name: "decimal", prec: max(ti.Precision, 1), scale: ti.Scale}
	case tds.TypeGUID:
		return typGUID
	case tds.TypeDateTime, tds.TypeDateTimeN, tds.TypeDateTim4:
		return typDatetime
	case tds.TypeDateTime2N:
		return sqlType{name: "datetime2", scale: ti.Scale}
	case tds.TypeDateN:
		return sqlType{name: "date"}
	case tds.TypeTimeN:
		return sqlType{name: "time", scale: ti.Scale}
	case tds.TypeDateTimeOffsetN:
		return sqlType{name: "datetimeoffset", scale: ti.Scale}
	case tds.TypeBigVarChar, tds.TypeVarChar, tds.TypeText:
		return charType("varchar", ti.Size, 1)
	case tds.TypeBigChar, tds.TypeChar:
		return charType("char", ti.Size, 1)
	case tds.TypeNVarChar, tds.TypeNText, tds.TypeXML:
		return charType("nvarchar", ti.Size, 2)
	case tds.TypeNChar:
		return charType("nchar", ti.Size, 2)
	case tds.TypeBigVarBin, tds.TypeVarBinary, tds.TypeImage:
		return charType("varbinary", ti.Size, 1)
	case tds.TypeBigBinary, tds.TypeBinary:
		return charType("binary", ti.Size, 1)
	}
	return typNVarMax
}

func charType(name string, size, per int) sqlType {
	if size == tds.PLPSize || size <= 0 || size/per > 8000 {
		return sqlType{name: name, size: maxSize}
	}
	return sqlType{name: name, size: max(size/per, 1)}
}

// Storage formats for date and time values in SQLite (TEXT, sortable).
const (
	layoutDateTime = "2006-01-02 15:04:05.000"
	layoutDT2      = "2006-01-02 15:04:05.0000000"
	layoutDate     = "2006-01-02"
	layoutTime     = "15:04:05.0000000"
	layoutDTO      = "2006-01-02 15:04:05.0000000 -07:00"
)

var parseLayouts = []string{
	"2006-01-02 15:04:05.999999999 -07:00",
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
	"20060102 15:04:05.999999999",
	"20060102",
	"01/02/2006 15:04:05.999999999",
	"01/02/2006",
	"15:04:05.999999999",
	"15:04",
	"Jan 2 2006 3:04PM",
	"Jan _2 2006  3:04PM",
}

// parseDateTime parses the date/time forms T-SQL accepts (ISO 8601, ODBC,
// yyyymmdd, mdy) and SQLite's own.
func parseDateTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, l := range parseLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// storeTime renders a time as the storage text of type t.
func storeTime(tm time.Time, t sqlType) string {
	switch t.name {
	case "date":
		return tm.Format(layoutDate)
	case "time":
		return tm.Format(layoutTime)
	case "datetimeoffset":
		return tm.Format(layoutDTO)
	case "datetime", "smalldatetime":
		return tm.Format(layoutDateTime)
	}
	return tm.Format(layoutDT2)
}

// conversionError is error 245/8114: a value cannot be converted to a type.
type conversionError struct {
	msg string
}

func (e *conversionError) Error() string { return e.msg }

func convErr(v any, t sqlType) error {
	src := "varchar"
	switch v.(type) {
	case int64:
		src = "int"
	case float64:
		src = "float"
	case []byte:
		src = "varbinary"
	}
	return &conversionError{msg: fmt.Sprintf("Conversion failed when converting the %s value '%v' to data type %s.", src, v, t.name)}
}

// toStorage converts a SQLite value to the canonical storage value of type t
// (what tsql_cast returns): int64, float64, string or []byte, or nil.
func toStorage(v any, t sqlType) (any, error) {
	if v == nil {
		return nil, nil
	}
	if tm, ok := v.(time.Time); ok {
		v = tm.Format(layoutDT2)
	}
	switch t.name {
	case "tinyint", "smallint", "int", "bigint":
		var i int64
		switch x := v.(type) {
		case int64:
			i = x
		case float64:
			i = int64(x)
		case string:
			s := strings.TrimSpace(x)
			p, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, convErr(v, t)
			}
			i = p
		case []byte:
			var u int64
			for _, b := range x {
				u = u<<8 | int64(b)
			}
			i = u
		}
		if !intFits(i, t.name) {
			return nil, &conversionError{msg: fmt.Sprintf("Arithmetic overflow error converting expression to data type %s.", t.name)}
		}
		return i, nil
	case "bit":
		switch x := v.(type) {
		case int64:
			return b2i(x != 0), nil
		case float64:
			return b2i(x != 0), nil
		case string:
			switch strings.ToUpper(strings.TrimSpace(x)) {
			case "TRUE", "1":
				return int64(1), nil
			case "FALSE", "0":
				return int64(0), nil
			}
			if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
				return b2i(f != 0), nil
			}
			return nil, convErr(v, t)
		}
		return nil, convErr(v, t)
	case "decimal", "numeric", "money", "smallmoney", "float", "real":
		var f float64
		switch x := v.(type) {
		case int64:
			if t.name == "float" || t.name == "real" {
				return float64(x), nil
			}
			return x, nil
		case float64:
			f = x
		case string:
			p, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil {
				return nil, convErr(v, t)
			}
			f = p
		default:
			return nil, convErr(v, t)
		}
		switch t.name {
		case "decimal", "numeric":
			p := math.Pow10(int(t.scale))
			f = math.Round(f*p) / p
			if math.Abs(f) >= math.Pow10(int(t.prec-t.scale)) {
				return nil, &conversionError{msg: fmt.Sprintf("Arithmetic overflow error converting %s to data type numeric.", "expression")}
			}
		case "money", "smallmoney":
			f = math.Round(f*10000) / 10000
		case "real":
			f = float64(float32(f))
		}
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 && t.name != "float" && t.name != "real" {
			return int64(f), nil
		}
		return f, nil
	case "char", "varchar", "nchar", "nvarchar":
		var s string
		switch x := v.(type) {
		case int64:
			s = strconv.FormatInt(x, 10)
		case float64:
			s = formatFloat(x)
		case string:
			s = x
		case []byte:
			s = string(x)
		}
		if t.size > 0 && len([]rune(s)) > t.size {
			s = string([]rune(s)[:t.size])
		}
		if t.name == "char" || t.name == "nchar" {
			if n := len([]rune(s)); t.size > 0 && n < t.size {
				s += strings.Repeat(" ", t.size-n)
			}
		}
		return s, nil
	case "binary", "varbinary":
		var b []byte
		switch x := v.(type) {
		case []byte:
			b = x
		case string:
			b = []byte(x)
		case int64:
			b = []byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}
		default:
			return nil, convErr(v, t)
		}
		if t.size > 0 && len(b) > t.size {
			b = b[:t.size]
		}
		return b, nil
	case "datetime", "smalldatetime", "datetime2", "date", "time", "datetimeoffset":
		s, ok := v.(string)
		if !ok {
			if i, isInt := v.(int64); isInt && (t.name == "datetime" || t.name == "smalldatetime") {
				return storeTime(time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(i)), t), nil
			}
			return nil, &conversionError{msg: fmt.Sprintf("Explicit conversion from data type %s to %s is not allowed.", goTypeName(v), t.name)}
		}
		tm, ok := parseDateTime(s)
		if !ok {
			return nil, &conversionError{msg: "Conversion failed when converting date and/or time from character string."}
		}
		if t.name == "datetime" {
			tm = tm.Round(time.Millisecond)
		}
		if t.name == "time" {
			tm = time.Date(1, 1, 1, tm.Hour(), tm.Minute(), tm.Second(), tm.Nanosecond(), time.UTC)
		}
		return storeTime(tm, t), nil
	case "uniqueidentifier":
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case []byte:
			if len(x) == 16 {
				return tds.GUID(x).String(), nil
			}
			s = string(x)
		default:
			return nil, convErr(v, t)
		}
		g, err := tds.ParseGUID(strings.TrimSpace(s))
		if err != nil {
			return nil, &conversionError{msg: "Conversion failed when converting from a character string to uniqueidentifier."}
		}
		return g.String(), nil
	}
	return v, nil
}

func goTypeName(v any) string {
	switch v.(type) {
	case int64:
		return "int"
	case float64:
		return "float"
	case []byte:
		return "varbinary"
	}
	return "varchar"
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func intFits(i int64, name string) bool {
	switch name {
	case "tinyint":
		return i >= 0 && i <= 255
	case "smallint":
		return i >= math.MinInt16 && i <= math.MaxInt16
	case "int":
		return i >= math.MinInt32 && i <= math.MaxInt32
	}
	return true
}

func formatFloat(f float64) string {
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// wireValue converts a value read from SQLite to the Go value tds.AppendValue
// takes for type t.
func wireValue(v any, t sqlType) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch t.name {
	case "sql_variant":
		switch x := v.(type) {
		case int64:
			if x >= math.MinInt32 && x <= math.MaxInt32 {
				return tds.Variant{Type: tds.TypeInfo{Type: tds.TypeInt4, Size: 4}, Value: x}, nil
			}
			return x, nil
		case string:
			return tds.Variant{Type: tds.TypeInfo{Type: tds.TypeNVarChar, Size: 256, Collation: tds.DefaultCollation}, Value: x}, nil
		}
		return v, nil
	case "tinyint", "smallint", "int", "bigint":
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			return int64(x), nil
		case bool:
			return b2i(x), nil
		}
		s, err := toStorage(v, t)
		if err != nil {
			return nil, err
		}
		return s, nil
	case "bit":
		switch x := v.(type) {
		case int64:
			return x != 0, nil
		case float64:
			return x != 0, nil
		case bool:
			return x, nil
		}
		s, err := toStorage(v, t)
		if err != nil {
			return nil, err
		}
		return s.(int64) != 0, nil
	case "float", "real":
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		}
		s, err := toStorage(v, t)
		if err != nil {
			return nil, err
		}
		return toFloat(s), nil
	case "decimal", "numeric":
		f, isFloat := v.(float64)
		switch x := v.(type) {
		case int64:
			if t.scale == 0 {
				return strconv.FormatInt(x, 10), nil
			}
			return strconv.FormatInt(x, 10) + "." + strings.Repeat("0", int(t.scale)), nil
		case string:
			s, err := toStorage(x, t)
			if err != nil {
				return nil, err
			}
			return wireValue(s, t)
		}
		if !isFloat {
			return nil, convErr(v, t)
		}
		return strconv.FormatFloat(f, 'f', int(t.scale), 64), nil
	case "money", "smallmoney":
		switch x := v.(type) {
		case int64:
			return tds.Money(x * 10000), nil
		case float64:
			return tds.Money(math.Round(x * 10000)), nil
		}
		s, err := toStorage(v, t)
		if err != nil {
			return nil, err
		}
		return wireValue(s, t)
	case "char", "varchar", "nchar", "nvarchar":
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case int64:
			s = strconv.FormatInt(x, 10)
		case float64:
			s = formatFloat(x)
		case []byte:
			s = string(x)
		case time.Time:
			s = x.Format(layoutDT2)
		default:
			s = fmt.Sprint(x)
		}
		if t.size > 0 {
			if r := []rune(s); len(r) > t.size {
				s = string(r[:t.size])
			}
		}
		return s, nil
	case "binary", "varbinary":
		switch x := v.(type) {
		case []byte:
			if t.size > 0 && len(x) > t.size {
				x = x[:t.size]
			}
			return x, nil
		case string:
			return []byte(x), nil
		}
		s, err := toStorage(v, t)
		if err != nil {
			return nil, err
		}
		return s, nil
	case "datetime", "smalldatetime", "datetime2", "date", "time", "datetimeoffset":
		var tm time.Time
		switch x := v.(type) {
		case time.Time:
			tm = x
		case string:
			p, ok := parseDateTime(x)
			if !ok {
				return nil, &conversionError{msg: "Conversion failed when converting date and/or time from character string."}
			}
			tm = p
		default:
			return nil, convErr(v, t)
		}
		if t.name != "datetimeoffset" {
			tm = time.Date(tm.Year(), tm.Month(), tm.Day(), tm.Hour(), tm.Minute(), tm.Second(), tm.Nanosecond(), time.UTC)
		}
		switch t.name {
		case "time":
			tm = time.Date(1, 1, 1, tm.Hour(), tm.Minute(), tm.Second(), tm.Nanosecond(), time.UTC)
		case "date":
			tm = time.Date(tm.Year(), tm.Month(), tm.Day(), 0, 0, 0, 0, time.UTC)
		}
		return tm, nil
	case "uniqueidentifier":
		switch x := v.(type) {
		case string:
			g, err := tds.ParseGUID(x)
			if err != nil {
				return nil, &conversionError{msg: "Conversion failed when converting from a character string to uniqueidentifier."}
			}
			return g, nil
		case []byte:
			if len(x) == 16 {
				return tds.GUID(x), nil
			}
		}
		return nil, convErr(v, t)
	}
	return v, nil
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	}
	return 0
}

// bindValue converts a parameter's Go value (as tds.DecodeValue returns it)
// to what SQLite stores for type t.
func bindValue(v any, t sqlType) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case bool:
		return b2i(x), nil
	case int64, float64, string:
		return toStorage(x, t)
	case int:
		return toStorage(int64(x), t)
	case int32:
		return toStorage(int64(x), t)
	case float32:
		return toStorage(float64(x), t)
	case []byte:
		if t.isBinary() || t.name == "" {
			return x, nil
		}
		return toStorage(x, t)
	case tds.Money:
		return toStorage(float64(x)/10000, t)
	case tds.GUID:
		return x.String(), nil
	case time.Time:
		if t.isDateTime() {
			return storeTime(x, t), nil
		}
		return x.Format(layoutDT2), nil
	case fmt.Stringer: // tds.Decimal and friends
		return toStorage(x.String(), t)
	}
	return nil, fmt.Errorf("unsupported parameter value %T", v)
}

// valueType infers a T-SQL type from a runtime SQLite value.
func valueType(v any) sqlType {
	switch x := v.(type) {
	case int64:
		if x >= math.MinInt32 && x <= math.MaxInt32 {
			return typInt
		}
		return typBigint
	case float64:
		return typFloat
	case []byte:
		return typVarbinMax
	case time.Time:
		return typDatetime2
	}
	return typNVarMax
}

// hexLiteral converts a T-SQL 0x... literal to SQLite's X'...'.
func hexLiteral(s string) string {
	h := s[2:]
	if len(h)%2 == 1 {
		h = "0" + h
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "X''"
	}
	return "X'" + h + "'"
}
