package tds

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Go representations of TDS values, used by AppendValue and DecodeValue:
//
//	NULL                          nil
//	INT1/2/4/8, INTN              int64 (AppendValue accepts any Go integer)
//	BIT, BITN                     bool
//	FLT4/8, FLTN                  float64 (AppendValue accepts float32 too)
//	MONEY, MONEY4, MONEYN         Money (int64 ten-thousandths)
//	DECIMAL/NUMERIC(N)            Decimal (AppendValue accepts strings and integers too)
//	GUID                          GUID ([16]byte in wire order)
//	char, varchar, text, nchar,
//	nvarchar, ntext, xml, json    string (AppendValue accepts []byte for char types: raw bytes)
//	binary, varbinary, image, UDT []byte (AppendValue accepts string too)
//	DATETIME, SMALLDATETIME, DATE,
//	TIME, DATETIME2               time.Time in UTC (TIME on 0001-01-01)
//	DATETIMEOFFSET                time.Time in a fixed zone with the offset
//	SSVARIANT                     Variant (AppendValue also infers a base type from a plain Go value)
//	TVP                           *TVP
//
// VARCHAR data is converted with the collation's code page: UTF-8
// collations, code page 1252 (Latin1 collations) and plain ASCII in any
// other code page are supported; other non-ASCII data yields an error
// naming the code page.

// valueCtx says whether a value sits in a ROW (TEXT/NTEXT/IMAGE carry a
// text pointer and timestamp) or in an RPC parameter (they do not).
type valueCtx uint8

const (
	ctxRow valueCtx = iota
	ctxParam
)

// PLP length markers ([MS-TDS] §2.2.5.2.3).
const (
	plpNull    = 0xFFFFFFFFFFFFFFFF
	plpUnknown = 0xFFFFFFFFFFFFFFFE
)

// AppendValue appends v as a value of type t as it appears in a ROW token
// (including its length prefix, or PLP chunks for (max) types).
func AppendValue(dst []byte, t TypeInfo, v any) ([]byte, error) {
	return appendValue(dst, t, v, ctxRow)
}

// DecodeValue decodes one value of type t from the start of b as it appears
// in a ROW token, returning it and the number of bytes consumed. It copies
// what it keeps.
func DecodeValue(t TypeInfo, b []byte) (v any, n int, err error) {
	v, n, err = decodeValue(t, b, ctxRow)
	if err != nil {
		return nil, 0, fmt.Errorf("decoding %s value: %w", t.Type, err)
	}
	return v, n, nil
}

// SkipValue returns the length of the value of type t at the start of b
// (ROW layout) without decoding or allocating (a TVP, which only RPC
// parameters carry, is the exception: its column metadata is decoded).
func SkipValue(t TypeInfo, b []byte) (n int, err error) {
	n, err = valueLen(t, b, ctxRow)
	if err != nil {
		return 0, fmt.Errorf("skipping %s value: %w", t.Type, err)
	}
	return n, nil
}

// valueLen computes the wire length of a value without allocating.
func valueLen(t TypeInfo, b []byte, ctx valueCtx) (int, error) {
	switch t.Type.lenKind() {
	case lenFixed:
		if len(b) < t.Size {
			return 0, errShort
		}
		return t.Size, nil
	case lenByte, lenScale, lenDate:
		if len(b) < 1 {
			return 0, errShort
		}
		n := 1 + int(b[0])
		if len(b) < n {
			return 0, errShort
		}
		return n, nil
	case lenUShort:
		if t.Size == PLPSize {
			return plpLen(b)
		}
		if len(b) < 2 {
			return 0, errShort
		}
		l := int(binary.LittleEndian.Uint16(b))
		if l == 0xFFFF {
			return 2, nil
		}
		if len(b) < 2+l {
			return 0, errShort
		}
		return 2 + l, nil
	case lenLong:
		return longLen(t, b, ctx)
	case lenPLP:
		return plpLen(b)
	case lenTVP:
		_, n, err := decodeTVP(b, false)
		return n, err
	}
	return 0, formatErr("value", "TYPE", "unknown data type 0x%02X", uint8(t.Type))
}

// longLen measures TEXT/NTEXT/IMAGE and SSVARIANT values.
func longLen(t TypeInfo, b []byte, ctx valueCtx) (int, error) {
	if t.Type == TypeVariant || ctx == ctxParam {
		if len(b) < 4 {
			return 0, errShort
		}
		l := binary.LittleEndian.Uint32(b)
		if t.Type != TypeVariant && l == 0xFFFFFFFF {
			return 4, nil
		}
		if uint64(len(b)-4) < uint64(l) {
			return 0, errShort
		}
		return 4 + int(l), nil
	}
	if len(b) < 1 {
		return 0, errShort
	}
	p := int(b[0])
	if p == 0 {
		return 1, nil
	}
	off := 1 + p + 8
	if len(b) < off+4 {
		return 0, errShort
	}
	l := binary.LittleEndian.Uint32(b[off:])
	if uint64(len(b)-off-4) < uint64(l) {
		return 0, errShort
	}
	return off + 4 + int(l), nil
}

// plpLen measures a PLP value: total length, chunks, terminator.
func plpLen(b []byte) (int, error) {
	if len(b) < 8 {
		return 0, errShort
	}
	if binary.LittleEndian.Uint64(b) == plpNull {
		return 8, nil
	}
	off := 8
	for {
		if len(b)-off < 4 {
			return 0, errShort
		}
		l := binary.LittleEndian.Uint32(b[off:])
		off += 4
		if l == 0 {
			return off, nil
		}
		if uint64(len(b)-off) < uint64(l) {
			return 0, errShort
		}
		off += int(l)
	}
}

// valueData returns the data bytes of the value at the start of b (PLP
// chunks concatenated into a new slice), whether it is NULL, and the wire length.
func valueData(t TypeInfo, b []byte, ctx valueCtx) (data []byte, null bool, n int, err error) {
	n, err = valueLen(t, b, ctx)
	if err != nil {
		return nil, false, 0, err
	}
	w := b[:n]
	switch t.Type.lenKind() {
	case lenFixed:
		return w, t.Type == TypeNull, n, nil
	case lenByte, lenScale, lenDate:
		return w[1:], w[0] == 0, n, nil
	case lenLong:
		if t.Type == TypeVariant {
			return w[4:], n == 4, n, nil
		}
		if ctx == ctxParam {
			return w[4:], binary.LittleEndian.Uint32(w) == 0xFFFFFFFF, n, nil
		}
		if w[0] == 0 {
			return nil, true, n, nil
		}
		return w[1+int(w[0])+8+4:], false, n, nil
	case lenUShort, lenPLP:
		if t.IsPLP() {
			if binary.LittleEndian.Uint64(w) == plpNull {
				return nil, true, n, nil
			}
			return plpData(w[8:]), false, n, nil
		}
		if binary.LittleEndian.Uint16(w) == 0xFFFF {
			return nil, true, n, nil
		}
		return w[2:], false, n, nil
	}
	return w, false, n, nil
}

// plpData concatenates validated PLP chunks (b starts after the total length).
func plpData(b []byte) []byte {
	total := 0
	for off := 0; ; {
		l := int(binary.LittleEndian.Uint32(b[off:]))
		if l == 0 {
			break
		}
		total += l
		off += 4 + l
	}
	out := make([]byte, 0, total)
	for off := 0; ; {
		l := int(binary.LittleEndian.Uint32(b[off:]))
		if l == 0 {
			return out
		}
		out = append(out, b[off+4:off+4+l]...)
		off += 4 + l
	}
}

func decodeValue(t TypeInfo, b []byte, ctx valueCtx) (any, int, error) {
	if t.Type == TypeTVP {
		tv, n, err := decodeTVP(b, true)
		if err != nil {
			return nil, 0, err
		}
		return tv, n, nil
	}
	data, null, n, err := valueData(t, b, ctx)
	if err != nil {
		return nil, 0, err
	}
	if null {
		return nil, n, nil
	}
	v, err := convertData(t, data)
	if err != nil {
		return nil, 0, err
	}
	return v, n, nil
}

// convertData turns the data bytes of a non-NULL value into its Go form.
func convertData(t TypeInfo, d []byte) (any, error) {
	const msg = "value"
	bad := func() error {
		return formatErr(msg, t.Type.String(), "invalid data length %d", len(d))
	}
	switch t.Type {
	case TypeInt1, TypeInt2, TypeInt4, TypeInt8, TypeIntN:
		switch len(d) {
		case 1:
			return int64(d[0]), nil
		case 2:
			return int64(int16(binary.LittleEndian.Uint16(d))), nil
		case 4:
			return int64(int32(binary.LittleEndian.Uint32(d))), nil
		case 8:
			return int64(binary.LittleEndian.Uint64(d)), nil
		}
		return nil, bad()
	case TypeBit, TypeBitN:
		if len(d) != 1 {
			return nil, bad()
		}
		return d[0] != 0, nil
	case TypeFlt4, TypeFlt8, TypeFltN:
		switch len(d) {
		case 4:
			return float64(math.Float32frombits(binary.LittleEndian.Uint32(d))), nil
		case 8:
			return math.Float64frombits(binary.LittleEndian.Uint64(d)), nil
		}
		return nil, bad()
	case TypeMoney, TypeMoney4, TypeMoneyN:
		switch len(d) {
		case 4:
			return Money(int32(binary.LittleEndian.Uint32(d))), nil
		case 8:
			hi := int64(int32(binary.LittleEndian.Uint32(d)))
			lo := int64(binary.LittleEndian.Uint32(d[4:]))
			return Money(hi<<32 | lo), nil
		}
		return nil, bad()
	case TypeDecimal, TypeNumeric, TypeDecimalN, TypeNumericN:
		return decodeDecimal(d, t.Precision, t.Scale)
	case TypeGUID:
		if len(d) != 16 {
			return nil, bad()
		}
		var g GUID
		copy(g[:], d)
		return g, nil
	case TypeDateTime, TypeDateTim4, TypeDateTimeN, TypeDateN, TypeTimeN, TypeDateTime2N, TypeDateTimeOffsetN:
		return decodeTime(t, d)
	case TypeNChar, TypeNVarChar, TypeNText, TypeXML, TypeJSON:
		if t.Type == TypeJSON {
			return string(d), nil
		}
		s, err := DecodeUCS2(d)
		if err != nil {
			return nil, formatErr(msg, t.Type.String(), "%v", err)
		}
		return s, nil
	case TypeChar, TypeVarChar, TypeBigChar, TypeBigVarChar, TypeText:
		return decodeChars(t.Collation, d)
	case TypeBinary, TypeVarBinary, TypeBigBinary, TypeBigVarBin, TypeImage, TypeUDT:
		return append([]byte(nil), d...), nil
	case TypeVariant:
		return decodeVariant(d)
	case TypeNull:
		return nil, nil
	}
	return nil, formatErr(msg, "TYPE", "unknown data type 0x%02X", uint8(t.Type))
}
