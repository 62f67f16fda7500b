package tds

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Variant is a non-NULL sql_variant value ([MS-TDS] §2.2.5.5.4): the base
// type and the value in its Go form. A NULL sql_variant is plain nil.
type Variant struct {
	Type  TypeInfo
	Value any
}

// decodeVariant decodes an SSVARIANT_INSTANCE (after the 4-byte length).
func decodeVariant(d []byte) (Variant, error) {
	const msg = "SSVARIANT"
	if len(d) < 2 {
		return Variant{}, formatErr(msg, "VARIANT_BASETYPE", "instance of %d bytes", len(d))
	}
	t := TypeInfo{Type: DataType(d[0])}
	props := int(d[1])
	if len(d) < 2+props {
		return Variant{}, formatErr(msg, "VARIANT_PROPBYTES", "%d property bytes in an instance of %d", props, len(d))
	}
	p, data := d[2:2+props], d[2+props:]
	wantProps := 0
	switch t.Type {
	case TypeGUID:
		t.Size = 16
	case TypeBit, TypeInt1, TypeInt2, TypeInt4, TypeInt8, TypeDateTime, TypeDateTim4,
		TypeFlt4, TypeFlt8, TypeMoney, TypeMoney4:
		t.Size, _ = t.Type.fixedSize()
	case TypeDateN:
		t.Size = 3
	case TypeTimeN, TypeDateTime2N, TypeDateTimeOffsetN:
		wantProps = 1
		if props == 1 {
			t.Scale = p[0]
			if t.Scale > 7 {
				return Variant{}, formatErr(msg, "VARIANT_PROPERTIES", "scale %d > 7", t.Scale)
			}
		}
	case TypeBigVarBin, TypeBigBinary:
		wantProps = 2
		if props == 2 {
			t.Size = int(binary.LittleEndian.Uint16(p))
		}
	case TypeNumericN, TypeDecimalN:
		wantProps = 2
		if props == 2 {
			t.Precision, t.Scale = p[0], p[1]
			t.Size = decimalSize(t.Precision)
			if t.Precision > 38 || t.Scale > t.Precision {
				return Variant{}, formatErr(msg, "VARIANT_PROPERTIES", "precision %d scale %d", t.Precision, t.Scale)
			}
		}
	case TypeBigVarChar, TypeBigChar, TypeNVarChar, TypeNChar:
		wantProps = 7
		if props == 7 {
			copy(t.Collation[:], p[:5])
			t.Size = int(binary.LittleEndian.Uint16(p[5:]))
		}
	default:
		return Variant{}, formatErr(msg, "VARIANT_BASETYPE", "type %s not allowed in sql_variant", t.Type)
	}
	if props != wantProps {
		return Variant{}, formatErr(msg, "VARIANT_PROPBYTES", "%d for %s, want %d", props, t.Type, wantProps)
	}
	if n, fixed := t.Type.fixedSize(); fixed && len(data) != n {
		return Variant{}, formatErr(msg, "VARIANT_DATAVAL", "%d bytes for %s", len(data), t.Type)
	}
	v, err := convertData(t, data)
	if err != nil {
		return Variant{}, err
	}
	return Variant{Type: t, Value: v}, nil
}

// variantType infers the sql_variant base type of a plain Go value.
func variantType(v any) (TypeInfo, error) {
	switch x := v.(type) {
	case bool:
		return TypeInfo{Type: TypeBit, Size: 1}, nil
	case float64, float32:
		return TypeInfo{Type: TypeFlt8, Size: 8}, nil
	case Money:
		return TypeInfo{Type: TypeMoney, Size: 8}, nil
	case GUID, [16]byte:
		return TypeInfo{Type: TypeGUID, Size: 16}, nil
	case time.Time:
		return TypeInfo{Type: TypeDateTime2N, Scale: 7}, nil
	case Decimal:
		return TypeInfo{Type: TypeNumericN, Precision: x.Precision, Scale: x.Scale, Size: decimalSize(x.Precision)}, nil
	case string:
		n := 2 * UCS2Len(x)
		if n > 8000 {
			return TypeInfo{}, fmt.Errorf("tds: string of %d bytes too long for sql_variant", n)
		}
		return TypeInfo{Type: TypeNVarChar, Size: 8000, Collation: DefaultCollation}, nil
	case []byte:
		if len(x) > 8000 {
			return TypeInfo{}, fmt.Errorf("tds: %d bytes too long for sql_variant", len(x))
		}
		return TypeInfo{Type: TypeBigVarBin, Size: 8000}, nil
	}
	if _, ok := toInt64(v); ok {
		return TypeInfo{Type: TypeInt8, Size: 8}, nil
	}
	return TypeInfo{}, fmt.Errorf("tds: cannot encode %T as sql_variant", v)
}

// appendVariant appends an SSVARIANT_INSTANCE (without its 4-byte length).
func appendVariant(dst []byte, v any) ([]byte, error) {
	var t TypeInfo
	if vv, ok := v.(Variant); ok {
		t, v = vv.Type, vv.Value
		if v == nil {
			return dst, fmt.Errorf("tds: sql_variant cannot hold a NULL %s; use a nil sql_variant", t.Type)
		}
	} else {
		var err error
		if t, err = variantType(v); err != nil {
			return dst, err
		}
	}
	dst = append(dst, byte(t.Type))
	switch t.Type {
	case TypeTimeN, TypeDateTime2N, TypeDateTimeOffsetN:
		dst = append(dst, 1, t.Scale)
	case TypeBigVarBin, TypeBigBinary:
		dst = append(dst, 2)
		dst = binary.LittleEndian.AppendUint16(dst, uint16(t.Size))
	case TypeNumericN, TypeDecimalN:
		dst = append(dst, 2, t.Precision, t.Scale)
	case TypeBigVarChar, TypeBigChar, TypeNVarChar, TypeNChar:
		dst = append(dst, 7)
		dst = append(dst, t.Collation[:]...)
		dst = binary.LittleEndian.AppendUint16(dst, uint16(t.Size))
	case TypeGUID, TypeBit, TypeInt1, TypeInt2, TypeInt4, TypeInt8, TypeDateTime, TypeDateTim4,
		TypeFlt4, TypeFlt8, TypeMoney, TypeMoney4, TypeDateN:
		dst = append(dst, 0)
	default:
		return dst, fmt.Errorf("tds: type %s not allowed in sql_variant", t.Type)
	}
	return appendData(dst, t, v)
}

// TVP is the value of a table-valued parameter ([MS-TDS] §2.2.5.5.5): its
// column metadata, optional ordering tokens, and rows. Each row holds one
// value per column without the ColDefault flag, in the order sent (which is
// ColumnOrdering when that is present).
type TVP struct {
	Columns      []Column // nil and NullMetadata set for TVP_NULL_TOKEN
	NullMetadata bool
	// OrderUnique is the TVP_ORDER_UNIQUE token; nil when absent.
	OrderUnique []TVPOrder
	// ColumnOrdering is the TVP_COLUMN_ORDERING token; nil when absent.
	ColumnOrdering []uint16
	Rows           [][]any
}

// TVPOrder is one entry of TVP_ORDER_UNIQUE: a 1-based column number and
// its flags (0x01 ascending, 0x02 descending, 0x04 unique).
type TVPOrder struct {
	Column uint16
	Flags  uint8
}

// TVP tokens.
const (
	tvpEnd            = 0x00
	tvpRow            = 0x01
	tvpOrderUnique    = 0x10
	tvpColumnOrdering = 0x11
)

// decodeTVP decodes the part of a TVP after TVP_TYPENAME: metadata, tokens
// and rows. With decode false it only measures (values are skipped).
func decodeTVP(b []byte, decode bool) (*TVP, int, error) {
	const msg = "TVP"
	r := newReader(b)
	tv := &TVP{}
	count := r.u16()
	if !r.ok {
		return nil, 0, errShort
	}
	if count == 0xFFFF {
		tv.NullMetadata = true
	} else {
		if count == 0 || count > 1024 {
			return nil, 0, formatErr(msg, "Count", "%d columns (1..1024)", count)
		}
		tv.Columns = make([]Column, 0, count)
		for i := 0; i < int(count); i++ {
			c, n, err := decodeColumn(b[r.off:], VerTDS74, tiParam)
			if err != nil {
				return nil, 0, err
			}
			r.off += n
			if c.Type.Type == TypeTVP {
				return nil, 0, formatErr(msg, "TYPE_INFO", "nested TVP")
			}
			tv.Columns = append(tv.Columns, c)
		}
	}
	for {
		tok := r.u8()
		if !r.ok {
			return nil, 0, errShort
		}
		if tok == tvpEnd {
			break
		}
		n := int(r.u16())
		switch tok {
		case tvpOrderUnique:
			tv.OrderUnique = make([]TVPOrder, 0, min(n, 1024))
			for i := 0; i < n && r.ok; i++ {
				tv.OrderUnique = append(tv.OrderUnique, TVPOrder{Column: r.u16(), Flags: r.u8()})
			}
		case tvpColumnOrdering:
			tv.ColumnOrdering = make([]uint16, 0, min(n, 1024))
			for i := 0; i < n && r.ok; i++ {
				tv.ColumnOrdering = append(tv.ColumnOrdering, r.u16())
			}
		default:
			return nil, 0, formatErr(msg, "token", "unexpected metadata token 0x%02X", tok)
		}
		if !r.ok {
			return nil, 0, errShort
		}
	}
	for {
		tok := r.u8()
		if !r.ok {
			return nil, 0, errShort
		}
		if tok == tvpEnd {
			return tv, r.off, nil
		}
		if tok != tvpRow {
			return nil, 0, formatErr(msg, "TVP_ROW", "unexpected token 0x%02X", tok)
		}
		var row []any
		if decode {
			row = make([]any, 0, len(tv.Columns))
		}
		for _, c := range tv.Columns {
			if c.Flags&ColDefault != 0 {
				continue
			}
			if decode {
				v, n, err := decodeValue(c.Type, b[r.off:], ctxParam)
				if err != nil {
					return nil, 0, err
				}
				row = append(row, v)
				r.off += n
			} else {
				n, err := valueLen(c.Type, b[r.off:], ctxParam)
				if err != nil {
					return nil, 0, err
				}
				r.off += n
			}
		}
		if decode {
			tv.Rows = append(tv.Rows, row)
		}
	}
}

func appendTVP(dst []byte, tv *TVP) ([]byte, error) {
	if tv == nil || tv.NullMetadata {
		dst = append(dst, 0xFF, 0xFF)
	} else {
		if len(tv.Columns) == 0 || len(tv.Columns) > 1024 {
			return dst, fmt.Errorf("tds: TVP with %d columns (1..1024)", len(tv.Columns))
		}
		dst = binary.LittleEndian.AppendUint16(dst, uint16(len(tv.Columns)))
		for _, c := range tv.Columns {
			dst = appendColumn(dst, c, VerTDS74, tiParam)
		}
	}
	if tv != nil && tv.OrderUnique != nil {
		dst = append(dst, tvpOrderUnique)
		dst = binary.LittleEndian.AppendUint16(dst, uint16(len(tv.OrderUnique)))
		for _, o := range tv.OrderUnique {
			dst = binary.LittleEndian.AppendUint16(dst, o.Column)
			dst = append(dst, o.Flags)
		}
	}
	if tv != nil && tv.ColumnOrdering != nil {
		dst = append(dst, tvpColumnOrdering)
		dst = binary.LittleEndian.AppendUint16(dst, uint16(len(tv.ColumnOrdering)))
		for _, c := range tv.ColumnOrdering {
			dst = binary.LittleEndian.AppendUint16(dst, c)
		}
	}
	dst = append(dst, tvpEnd)
	if tv != nil {
		for i, row := range tv.Rows {
			dst = append(dst, tvpRow)
			j := 0
			for _, c := range tv.Columns {
				if c.Flags&ColDefault != 0 {
					continue
				}
				if j >= len(row) {
					return dst, fmt.Errorf("tds: TVP row %d has %d values, want more", i, len(row))
				}
				var err error
				if dst, err = appendValue(dst, c.Type, row[j], ctxParam); err != nil {
					return dst, fmt.Errorf("tds: TVP row %d column %d: %w", i, j+1, err)
				}
				j++
			}
			if j != len(row) {
				return dst, fmt.Errorf("tds: TVP row %d has %d values, want %d", i, len(row), j)
			}
		}
	}
	return append(dst, tvpEnd), nil
}
