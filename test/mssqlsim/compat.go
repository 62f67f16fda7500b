package mssqlsim

import (
	"time"

	"github.com/tdsproxy/tdsproxy/tds"
)

// typeConverter adapts result types to the client's TDS version, as SQL
// Server does for down-level clients: before TDS 7.3 the date and time types
// travel as NVARCHAR strings; before TDS 7.2 the (max) types travel as
// NTEXT, TEXT and IMAGE.
type typeConverter struct {
	ver    uint32
	active bool           // some column of the current result set is converted
	kinds  []convKind     // per column
	out    []any          // converted row values (reused)
	plan   []tds.TypeInfo // original types, per column
}

type convKind uint8

const (
	convNone convKind = iota
	convTimeString
)

// columns rewrites cols in place for the client's version and remembers how
// to convert the values of each column.
func (c *typeConverter) columns(cols []tds.Column) {
	c.active = false
	c.kinds = c.kinds[:0]
	c.plan = c.plan[:0]
	for i := range cols {
		t, k := c.convert(cols[i].Type)
		c.plan = append(c.plan, cols[i].Type)
		c.kinds = append(c.kinds, k)
		if k != convNone || t.Type != cols[i].Type.Type {
			c.active = true
		}
		cols[i].Type = t
	}
}

// convert returns the type a down-level client gets instead of t.
func (c *typeConverter) convert(t tds.TypeInfo) (tds.TypeInfo, convKind) {
	if c.ver < tds.VerTDS73A {
		if n := timeStringLen(t); n > 0 {
			return tds.TypeInfo{Type: tds.TypeNVarChar, Size: 2 * n, Collation: tds.DefaultCollation}, convTimeString
		}
	}
	if c.ver < tds.VerTDS72 && t.IsPLP() {
		switch t.Type {
		case tds.TypeNVarChar, tds.TypeXML:
			return tds.TypeInfo{Type: tds.TypeNText, Size: 0x7FFFFFFF, Collation: collationOr(t.Collation)}, convNone
		case tds.TypeBigVarChar:
			return tds.TypeInfo{Type: tds.TypeText, Size: 0x7FFFFFFF, Collation: collationOr(t.Collation)}, convNone
		case tds.TypeBigVarBin:
			return tds.TypeInfo{Type: tds.TypeImage, Size: 0x7FFFFFFF}, convNone
		}
	}
	return t, convNone
}

func collationOr(c tds.Collation) tds.Collation {
	if c == (tds.Collation{}) {
		return tds.DefaultCollation
	}
	return c
}

// values converts one row's values in place where a column was converted.
func (c *typeConverter) values(cols []tds.Column, vals []any) {
	for i, v := range vals {
		if i >= len(c.kinds) || v == nil || c.kinds[i] != convTimeString {
			continue
		}
		if tm, ok := v.(time.Time); ok {
			vals[i] = formatTime(c.plan[i], tm)
		}
	}
}

// returnValue converts an RPC output parameter for the client's version.
func (c *typeConverter) returnValue(t tds.TypeInfo, v any) (tds.TypeInfo, any) {
	nt, k := c.convert(t)
	if k == convTimeString && v != nil {
		if tm, ok := v.(time.Time); ok {
			v = formatTime(t, tm)
		}
	}
	return nt, v
}

// timeStringLen is the NVARCHAR length SQL Server uses for a date or time
// type sent to a pre-7.3 client, or 0 for other types.
func timeStringLen(t tds.TypeInfo) int {
	frac := int(t.Scale)
	if frac > 0 {
		frac++ // the dot
	}
	switch t.Type {
	case tds.TypeDateN:
		return 10
	case tds.TypeTimeN:
		return 8 + frac
	case tds.TypeDateTime2N:
		return 19 + frac
	case tds.TypeDateTimeOffsetN:
		return 26 + frac
	}
	return 0
}

// formatTime renders tm as SQL Server converts the type to a string.
func formatTime(t tds.TypeInfo, tm time.Time) string {
	frac := ""
	if t.Scale > 0 {
		frac = "." + tm.Format(".000000000")[1:1+int(t.Scale)]
	}
	switch t.Type {
	case tds.TypeDateN:
		return tm.Format("2006-01-02")
	case tds.TypeTimeN:
		return tm.Format("15:04:05") + frac
	case tds.TypeDateTime2N:
		return tm.Format("2006-01-02 15:04:05") + frac
	default:
		return tm.Format("2006-01-02 15:04:05") + frac + tm.Format(" -07:00")
	}
}
