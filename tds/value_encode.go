package tds

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Value encoding: AppendValue's internals (see value.go for the Go
// representations).

func appendValue(dst []byte, t TypeInfo, v any, ctx valueCtx) ([]byte, error) {
	if t.Type == TypeTVP {
		tv, ok := v.(*TVP)
		if !ok && v != nil {
			return dst, fmt.Errorf("tds: TVP value must be *TVP, got %T", v)
		}
		return appendTVP(dst, tv)
	}
	if v == nil {
		return appendNull(dst, t, ctx)
	}
	switch t.Type.lenKind() {
	case lenFixed:
		start := len(dst)
		dst, err := appendData(dst, t, v)
		if err != nil {
			return dst[:start], err
		}
		if len(dst)-start != t.Size {
			return dst[:start], fmt.Errorf("tds: %s value has %d bytes, want %d", t.Type, len(dst)-start, t.Size)
		}
		return dst, nil
	case lenByte, lenScale, lenDate:
		start := len(dst)
		dst = append(dst, 0)
		dst, err := appendData(dst, t, v)
		if err != nil {
			return dst[:start], err
		}
		n := len(dst) - start - 1
		if n > 255 || (t.Type.lenKind() == lenByte && n > t.Size && t.Size > 0) {
			return dst[:start], fmt.Errorf("tds: %s value of %d bytes exceeds max length %d", t.Type, n, t.Size)
		}
		if n == 0 {
			// A zero length is NULL for these types: an empty string or
			// binary cannot be told apart, so refuse it.
			return dst[:start], fmt.Errorf("tds: empty %s value (zero length means NULL for this type)", t.Type)
		}
		dst[start] = byte(n)
		return dst, nil
	case lenUShort:
		if t.IsPLP() {
			return appendPLP(dst, t, v)
		}
		start := len(dst)
		dst = append(dst, 0, 0)
		dst, err := appendData(dst, t, v)
		if err != nil {
			return dst[:start], err
		}
		n := len(dst) - start - 2
		if n > t.Size {
			return dst[:start], fmt.Errorf("tds: %s value of %d bytes exceeds max length %d", t.Type, n, t.Size)
		}
		binary.LittleEndian.PutUint16(dst[start:], uint16(n))
		return dst, nil
	case lenLong:
		start := len(dst)
		if t.Type != TypeVariant && ctx == ctxRow {
			// TEXTPTR (16 bytes) and TIMESTAMP (8 bytes); SQL Server sends
			// a dummy pointer, clients only test it for NULL.
			dst = append(dst, 16)
			dst = append(dst, textPtrDummy[:]...)
		}
		lenAt := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		var err error
		if t.Type == TypeVariant {
			dst, err = appendVariant(dst, v)
		} else {
			dst, err = appendData(dst, t, v)
		}
		if err != nil {
			return dst[:start], err
		}
		binary.LittleEndian.PutUint32(dst[lenAt:], uint32(len(dst)-lenAt-4))
		return dst, nil
	case lenPLP:
		return appendPLP(dst, t, v)
	}
	return dst, fmt.Errorf("tds: cannot encode values of type 0x%02X", uint8(t.Type))
}

// textPtrDummy is the TEXTPTR (16 bytes) + TIMESTAMP (8 bytes) written for
// non-NULL TEXT/NTEXT/IMAGE values in rows.
var textPtrDummy = [24]byte{0: 0x64, 15: 0x64}

func appendPLP(dst []byte, t TypeInfo, v any) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, 12)...)
	dst, err := appendData(dst, t, v)
	if err != nil {
		return dst[:start], err
	}
	n := len(dst) - start - 12
	if t.Type == TypeXML {
		// SQL Server streams XML with an unknown total length ([MS-TDS]
		// §4.15).
		binary.LittleEndian.PutUint64(dst[start:], plpUnknown)
	} else {
		binary.LittleEndian.PutUint64(dst[start:], uint64(n))
	}
	if n == 0 {
		// An empty value is the total length 0 followed by the terminator.
		return dst[:start+12], nil
	}
	binary.LittleEndian.PutUint32(dst[start+8:], uint32(n))
	return append(dst, 0, 0, 0, 0), nil
}

func appendNull(dst []byte, t TypeInfo, ctx valueCtx) ([]byte, error) {
	switch t.Type.lenKind() {
	case lenFixed:
		if t.Type == TypeNull {
			return dst, nil
		}
		return dst, fmt.Errorf("tds: fixed-length type %s cannot be NULL (use its N type)", t.Type)
	case lenByte, lenScale, lenDate:
		return append(dst, 0), nil
	case lenUShort:
		if t.IsPLP() {
			return binary.LittleEndian.AppendUint64(dst, plpNull), nil
		}
		return append(dst, 0xFF, 0xFF), nil
	case lenLong:
		if t.Type == TypeVariant {
			return append(dst, 0, 0, 0, 0), nil
		}
		if ctx == ctxParam {
			return append(dst, 0xFF, 0xFF, 0xFF, 0xFF), nil
		}
		return append(dst, 0), nil
	case lenPLP:
		return binary.LittleEndian.AppendUint64(dst, plpNull), nil
	}
	return dst, fmt.Errorf("tds: cannot encode NULL of type 0x%02X", uint8(t.Type))
}

// appendData appends the data bytes (no length prefix) of a non-NULL value.
func appendData(dst []byte, t TypeInfo, v any) ([]byte, error) {
	switch t.Type {
	case TypeInt1, TypeInt2, TypeInt4, TypeInt8, TypeIntN:
		i, ok := toInt64(v)
		if !ok {
			return dst, typeErr(t, v)
		}
		size := t.Size
		return appendInt(dst, t.Type, size, i)
	case TypeBit, TypeBitN:
		b, ok := v.(bool)
		if !ok {
			i, isInt := toInt64(v)
			if !isInt {
				return dst, typeErr(t, v)
			}
			b = i != 0
		}
		if b {
			return append(dst, 1), nil
		}
		return append(dst, 0), nil
	case TypeFlt4, TypeFlt8, TypeFltN:
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case float32:
			f = float64(x)
		default:
			i, ok := toInt64(v)
			if !ok {
				return dst, typeErr(t, v)
			}
			f = float64(i)
		}
		if t.Size == 4 {
			return binary.LittleEndian.AppendUint32(dst, math.Float32bits(float32(f))), nil
		}
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(f)), nil
	case TypeMoney, TypeMoney4, TypeMoneyN:
		m, ok := v.(Money)
		if !ok {
			return dst, typeErr(t, v)
		}
		if t.Size == 4 {
			if int64(m) < math.MinInt32 || int64(m) > math.MaxInt32 {
				return dst, fmt.Errorf("tds: %s out of range for smallmoney", m)
			}
			return binary.LittleEndian.AppendUint32(dst, uint32(int32(m))), nil
		}
		dst = binary.LittleEndian.AppendUint32(dst, uint32(int64(m)>>32))
		return binary.LittleEndian.AppendUint32(dst, uint32(int64(m))), nil
	case TypeDecimal, TypeNumeric, TypeDecimalN, TypeNumericN:
		return appendDecimal(dst, t, v)
	case TypeGUID:
		switch g := v.(type) {
		case GUID:
			return append(dst, g[:]...), nil
		case [16]byte:
			return append(dst, g[:]...), nil
		case string:
			p, err := ParseGUID(g)
			if err != nil {
				return dst, err
			}
			return append(dst, p[:]...), nil
		}
		return dst, typeErr(t, v)
	case TypeDateTime, TypeDateTim4, TypeDateTimeN, TypeDateN, TypeTimeN, TypeDateTime2N, TypeDateTimeOffsetN:
		tm, ok := v.(time.Time)
		if !ok {
			return dst, typeErr(t, v)
		}
		return appendTime(dst, t, tm)
	case TypeNChar, TypeNVarChar, TypeNText, TypeXML:
		s, ok := v.(string)
		if !ok {
			return dst, typeErr(t, v)
		}
		return AppendUCS2(dst, s), nil
	case TypeJSON:
		s, ok := v.(string)
		if !ok {
			return dst, typeErr(t, v)
		}
		return append(dst, s...), nil
	case TypeChar, TypeVarChar, TypeBigChar, TypeBigVarChar, TypeText:
		switch s := v.(type) {
		case string:
			return appendChars(dst, t.Collation, s)
		case []byte:
			return append(dst, s...), nil
		}
		return dst, typeErr(t, v)
	case TypeBinary, TypeVarBinary, TypeBigBinary, TypeBigVarBin, TypeImage, TypeUDT:
		switch s := v.(type) {
		case []byte:
			return append(dst, s...), nil
		case string:
			return append(dst, s...), nil
		}
		return dst, typeErr(t, v)
	}
	return dst, fmt.Errorf("tds: cannot encode values of type %s", t.Type)
}

func appendInt(dst []byte, dt DataType, size int, i int64) ([]byte, error) {
	switch size {
	case 1:
		if i < 0 || i > 255 {
			return dst, fmt.Errorf("tds: %d out of range for tinyint", i)
		}
		return append(dst, byte(i)), nil
	case 2:
		if i < math.MinInt16 || i > math.MaxInt16 {
			return dst, fmt.Errorf("tds: %d out of range for smallint", i)
		}
		return binary.LittleEndian.AppendUint16(dst, uint16(i)), nil
	case 4:
		if i < math.MinInt32 || i > math.MaxInt32 {
			return dst, fmt.Errorf("tds: %d out of range for int", i)
		}
		return binary.LittleEndian.AppendUint32(dst, uint32(i)), nil
	case 8:
		return binary.LittleEndian.AppendUint64(dst, uint64(i)), nil
	}
	return dst, fmt.Errorf("tds: invalid size %d for %s", size, dt)
}

func typeErr(t TypeInfo, v any) error {
	return fmt.Errorf("tds: cannot encode %T as %s", v, t.Type)
}

// toInt64 converts any Go integer to int64.
func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	case uint:
		if uint64(x) > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	}
	return 0, false
}
