package sqlengine

import (
	"encoding/hex"
	"fmt"
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

// typeInfo is the TDS type of t in COLMETADATA and RETURNVALUE: the
// nullable (N) variants SQL Server sends for result columns.
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
	if t, ok := parseStored(s); ok {
		return t, true
	}
	s = strings.TrimSpace(s)
	for _, l := range parseLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// parseStored parses the storage forms quickly: "YYYY-MM-DD",
// "YYYY-MM-DD HH:MM:SS[.fffffff]" (also with 'T') and "HH:MM:SS[.fffffff]".
func parseStored(s string) (time.Time, bool) {
	num := func(p string) (int, bool) {
		n := 0
		for i := 0; i < len(p); i++ {
			c := p[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	clock := func(c string) (h, m, sec, ns int, ok bool) {
		if len(c) < 8 || c[2] != ':' || c[5] != ':' {
			return 0, 0, 0, 0, false
		}
		h, ok1 := num(c[0:2])
		m, ok2 := num(c[3:5])
		sec, ok3 := num(c[6:8])
		if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || sec > 59 {
			return 0, 0, 0, 0, false
		}
		if len(c) > 8 {
			if c[8] != '.' || len(c) == 9 || len(c) > 18 {
				return 0, 0, 0, 0, false
			}
			f, okf := num(c[9:])
			if !okf {
				return 0, 0, 0, 0, false
			}
			for i := len(c) - 9; i < 9; i++ {
				f *= 10
			}
			ns = f
		}
		return h, m, sec, ns, true
	}
	if len(s) >= 8 && s[2] == ':' {
		h, m, sec, ns, ok := clock(s)
		return time.Date(1, 1, 1, h, m, sec, ns, time.UTC), ok
	}
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return time.Time{}, false
	}
	y, ok1 := num(s[0:4])
	mo, ok2 := num(s[5:7])
	d, ok3 := num(s[8:10])
	if !ok1 || !ok2 || !ok3 || mo < 1 || mo > 12 || d < 1 || d > 31 {
		return time.Time{}, false
	}
	if len(s) == 10 {
		t := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC)
		return t, t.Day() == d
	}
	if s[10] != ' ' && s[10] != 'T' {
		return time.Time{}, false
	}
	h, m, sec, ns, ok := clock(s[11:])
	if !ok {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, m, sec, ns, time.UTC)
	if t.Day() != d {
		return time.Time{}, false // e.g. February 30
	}
	return t, true
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

func (e *conversionError) Error() string { return e.msg }

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
