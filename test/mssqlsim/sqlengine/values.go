package sqlengine

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tdsproxy/tdsproxy/tds"
)

// conversionError is error 245/8114: a value cannot be converted to a type.
type conversionError struct {
	msg string
}

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
	case tds.Variant:
		return bindValue(x.Value, t)
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
