package tds

import (
	"encoding/binary"
	"fmt"
)

// DataType is a TDS data type code ([MS-TDS] §2.2.5.4).
type DataType uint8

// Data type codes. Fixed-length types ([MS-TDS] §2.2.5.4.1) carry no length
// in TYPE_INFO; the others are variable-length ([MS-TDS] §2.2.5.4.2) or
// partially length-prefixed ([MS-TDS] §2.2.5.4.3).
const (
	TypeNull            DataType = 0x1F
	TypeInt1            DataType = 0x30
	TypeBit             DataType = 0x32
	TypeInt2            DataType = 0x34
	TypeInt4            DataType = 0x38
	TypeDateTim4        DataType = 0x3A // smalldatetime
	TypeFlt4            DataType = 0x3B
	TypeMoney           DataType = 0x3C
	TypeDateTime        DataType = 0x3D
	TypeFlt8            DataType = 0x3E
	TypeMoney4          DataType = 0x7A // smallmoney
	TypeInt8            DataType = 0x7F
	TypeGUID            DataType = 0x24
	TypeIntN            DataType = 0x26
	TypeDecimal         DataType = 0x37 // legacy
	TypeNumeric         DataType = 0x3F // legacy
	TypeBitN            DataType = 0x68
	TypeDecimalN        DataType = 0x6A
	TypeNumericN        DataType = 0x6C
	TypeFltN            DataType = 0x6D
	TypeMoneyN          DataType = 0x6E
	TypeDateTimeN       DataType = 0x6F
	TypeDateN           DataType = 0x28
	TypeTimeN           DataType = 0x29
	TypeDateTime2N      DataType = 0x2A
	TypeDateTimeOffsetN DataType = 0x2B
	TypeChar            DataType = 0x2F // legacy
	TypeVarChar         DataType = 0x27 // legacy
	TypeBinary          DataType = 0x2D // legacy
	TypeVarBinary       DataType = 0x25 // legacy
	TypeBigVarBin       DataType = 0xA5
	TypeBigVarChar      DataType = 0xA7
	TypeBigBinary       DataType = 0xAD
	TypeBigChar         DataType = 0xAF
	TypeNVarChar        DataType = 0xE7
	TypeNChar           DataType = 0xEF
	TypeXML             DataType = 0xF1
	TypeUDT             DataType = 0xF0
	TypeText            DataType = 0x23
	TypeImage           DataType = 0x22
	TypeNText           DataType = 0x63
	TypeVariant         DataType = 0x62 // sql_variant
	TypeTVP             DataType = 0xF3 // table-valued parameter, RPC only
	TypeJSON            DataType = 0xF4 // json (SQL Server 2025), always PLP
)

var dataTypeNames = map[DataType]string{
	TypeNull: "NULL", TypeInt1: "INT1", TypeBit: "BIT", TypeInt2: "INT2", TypeInt4: "INT4",
	TypeDateTim4: "DATETIM4", TypeFlt4: "FLT4", TypeMoney: "MONEY", TypeDateTime: "DATETIME",
	TypeFlt8: "FLT8", TypeMoney4: "MONEY4", TypeInt8: "INT8", TypeGUID: "GUID", TypeIntN: "INTN",
	TypeDecimal: "DECIMAL", TypeNumeric: "NUMERIC", TypeBitN: "BITN", TypeDecimalN: "DECIMALN",
	TypeNumericN: "NUMERICN", TypeFltN: "FLTN", TypeMoneyN: "MONEYN", TypeDateTimeN: "DATETIMN",
	TypeDateN: "DATEN", TypeTimeN: "TIMEN", TypeDateTime2N: "DATETIME2N",
	TypeDateTimeOffsetN: "DATETIMEOFFSETN", TypeChar: "CHAR", TypeVarChar: "VARCHAR",
	TypeBinary: "BINARY", TypeVarBinary: "VARBINARY", TypeBigVarBin: "BIGVARBINARY",
	TypeBigVarChar: "BIGVARCHAR", TypeBigBinary: "BIGBINARY", TypeBigChar: "BIGCHAR",
	TypeNVarChar: "NVARCHAR", TypeNChar: "NCHAR", TypeXML: "XML", TypeUDT: "UDT",
	TypeText: "TEXT", TypeImage: "IMAGE", TypeNText: "NTEXT", TypeVariant: "SSVARIANT",
	TypeTVP: "TVP", TypeJSON: "JSON",
}

// String returns the type's name in [MS-TDS] (without the TYPE suffix).
func (t DataType) String() string {
	if s, ok := dataTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("DataType(0x%02X)", uint8(t))
}

// fixedSize returns the value length of a fixed-length type and true, or
// false for variable-length types.
func (t DataType) fixedSize() (int, bool) {
	switch t {
	case TypeNull:
		return 0, true
	case TypeInt1, TypeBit:
		return 1, true
	case TypeInt2:
		return 2, true
	case TypeInt4, TypeDateTim4, TypeFlt4, TypeMoney4:
		return 4, true
	case TypeMoney, TypeDateTime, TypeFlt8, TypeInt8:
		return 8, true
	}
	return 0, false
}

// lenKind says how a type's TYPE_INFO length and value length prefix are encoded.
type lenKind uint8

const (
	lenFixed  lenKind = iota // no length: fixed size
	lenByte                  // BYTELEN: 1-byte max length, 1-byte value length
	lenScale                 // TIME/DATETIME2/DATETIMEOFFSET: scale only, 1-byte value length
	lenDate                  // DATE: nothing, 1-byte value length
	lenUShort                // USHORTLEN: 2-byte max length (0xFFFF: PLP)
	lenLong                  // LONGLEN: 4-byte max length (TEXT, NTEXT, IMAGE, SSVARIANT)
	lenPLP                   // XML, UDT, JSON: always PLP, no max length
	lenTVP                   // TVP
	lenUnknown
)

func (t DataType) lenKind() lenKind {
	if _, ok := t.fixedSize(); ok {
		return lenFixed
	}
	switch t {
	case TypeGUID, TypeIntN, TypeDecimal, TypeNumeric, TypeBitN, TypeDecimalN, TypeNumericN,
		TypeFltN, TypeMoneyN, TypeDateTimeN, TypeChar, TypeVarChar, TypeBinary, TypeVarBinary:
		return lenByte
	case TypeTimeN, TypeDateTime2N, TypeDateTimeOffsetN:
		return lenScale
	case TypeDateN:
		return lenDate
	case TypeBigVarBin, TypeBigVarChar, TypeBigBinary, TypeBigChar, TypeNVarChar, TypeNChar:
		return lenUShort
	case TypeText, TypeImage, TypeNText, TypeVariant:
		return lenLong
	case TypeXML, TypeUDT, TypeJSON:
		return lenPLP
	case TypeTVP:
		return lenTVP
	}
	return lenUnknown
}

// hasCollation reports whether TYPE_INFO of t carries a COLLATION.
func (t DataType) hasCollation() bool {
	switch t {
	case TypeBigChar, TypeBigVarChar, TypeText, TypeNText, TypeNChar, TypeNVarChar:
		return true
	}
	return false
}

// PLPSize is the TYPE_INFO max length that marks a (max) type sent as
// partially length-prefixed data ([MS-TDS] §2.2.5.2.3).
const PLPSize = 0xFFFF

// Collation is the 5-byte COLLATION rule ([MS-TDS] §2.2.5.1.2): LCID and
// comparison flags in the first four bytes (little-endian), SortId last.
type Collation [5]byte

// DefaultCollation is SQL_Latin1_General_CP1_CI_AS.
var DefaultCollation = Collation{0x09, 0x04, 0xD0, 0x00, 0x34}

// UTF8Collation is Latin1_General_100_CI_AS_SC_UTF8.
var UTF8Collation = Collation{0x09, 0x04, 0xD0, 0x04, 0x00}

// LCID returns the collation's locale identifier (20 bits).
func (c Collation) LCID() uint32 {
	return uint32(c[0]) | uint32(c[1])<<8 | uint32(c[2]&0x0F)<<16
}

// SortID returns the SQL collation sort id (0 for Windows collations).
func (c Collation) SortID() uint8 { return c[4] }

// IsUTF8 reports whether the fUTF8 flag is set: char data is UTF-8.
func (c Collation) IsUTF8() bool { return c[3]&0x04 != 0 }

// String describes the collation, e.g. "LCID 0x409 sort 52 (code page 1252)".
func (c Collation) String() string {
	return fmt.Sprintf("LCID 0x%X sort %d (code page %d)", c.LCID(), c.SortID(), c.CodePage())
}

// XMLSchema is the optional schema collection of an XML type ([MS-TDS] §2.2.5.5.3).
type XMLSchema struct {
	DBName, OwningSchema, Collection string
}

// UDTInfo describes a CLR user-defined type ([MS-TDS] §2.2.5.5.2). MaxByteSize
// and AssemblyName are sent only in COLMETADATA.
type UDTInfo struct {
	MaxByteSize                  uint16
	DBName, SchemaName, TypeName string
	AssemblyName                 string
}

// TVPTypeName is the TVP_TYPENAME of a table-valued parameter ([MS-TDS] §2.2.5.5.5).
type TVPTypeName struct {
	DBName, OwningSchema, TypeName string
}

// TypeInfo is the TYPE_INFO rule ([MS-TDS] §2.2.5.6): a data type and what
// the type needs to decode its values.
type TypeInfo struct {
	Type DataType
	// Size is the maximum length in bytes for variable-length types
	// (PLPSize for (max) types), the value size for fixed-length types.
	Size      int
	Precision uint8 // DECIMAL/NUMERIC
	Scale     uint8 // DECIMAL/NUMERIC, TIME, DATETIME2, DATETIMEOFFSET
	Collation Collation
	// TableName holds the table name parts of a TEXT/NTEXT/IMAGE column;
	// sent in COLMETADATA only.
	TableName []string
	XMLSchema *XMLSchema   // XML with a schema collection
	UDT       *UDTInfo     // UDT
	TVP       *TVPTypeName // TVP
}

// IsPLP reports whether values of t are sent as partially length-prefixed
// data ([MS-TDS] §2.2.5.2.3).
func (t TypeInfo) IsPLP() bool {
	switch t.Type.lenKind() {
	case lenPLP:
		return true
	case lenUShort:
		return t.Size == PLPSize
	}
	return false
}

// String renders t in a SQL-like form, e.g. "NVARCHAR(max)" or "DECIMALN(18,2)".
func (t TypeInfo) String() string {
	switch t.Type.lenKind() {
	case lenByte, lenUShort, lenLong:
		if t.Type == TypeDecimalN || t.Type == TypeNumericN || t.Type == TypeDecimal || t.Type == TypeNumeric {
			return fmt.Sprintf("%s(%d,%d)", t.Type, t.Precision, t.Scale)
		}
		if t.IsPLP() {
			return t.Type.String() + "(max)"
		}
		return fmt.Sprintf("%s(%d)", t.Type, t.Size)
	case lenScale:
		return fmt.Sprintf("%s(%d)", t.Type, t.Scale)
	}
	return t.Type.String()
}

// tiContext says where a TYPE_INFO appears: the layout of TEXT/NTEXT/IMAGE
// (table name) and UDT (max size, assembly) differ.
type tiContext uint8

const (
	tiColumn   tiContext = iota // COLMETADATA / RETURNVALUE from a server
	tiParam                     // RPC parameter from a client
	tiReturn                    // RETURNVALUE: like a column but without table name
	tiColumn71                  // COLMETADATA before TDS 7.2: table name is one US_VARCHAR
)

// DecodeTypeInfo decodes a TYPE_INFO as it appears in a RETURNVALUE token
// (no TEXT table name). It returns the number of bytes consumed.
func DecodeTypeInfo(b []byte) (TypeInfo, int, error) {
	return decodeTypeInfo(b, tiReturn)
}

// Append appends t as it appears in a RETURNVALUE token.
func (t TypeInfo) Append(dst []byte) []byte {
	return t.appendCtx(dst, tiReturn)
}

// byteReader is a bounds-checked little-endian cursor over a byte slice.
// After any read past the end, ok is false and reads return zero values.
type byteReader struct {
	b   []byte
	off int
	ok  bool
}

func newReader(b []byte) byteReader { return byteReader{b: b, ok: true} }

func (r *byteReader) need(n int) bool {
	if !r.ok || n < 0 || len(r.b)-r.off < n {
		r.ok = false
		return false
	}
	return true
}

func (r *byteReader) u8() uint8 {
	if !r.need(1) {
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

func (r *byteReader) u16() uint16 {
	if !r.need(2) {
		return 0
	}
	v := binary.LittleEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v
}

func (r *byteReader) u32() uint32 {
	if !r.need(4) {
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *byteReader) bytes(n int) []byte {
	if !r.need(n) {
		return nil
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v
}

// ucs2 reads n UTF-16 code units; it sets ok=false on odd/short input.
func (r *byteReader) ucs2(nChars int) string {
	b := r.bytes(2 * nChars)
	if !r.ok {
		return ""
	}
	s, err := DecodeUCS2(b)
	if err != nil {
		r.ok = false
	}
	return s
}

func (r *byteReader) bVarchar() string  { return r.ucs2(int(r.u8())) }
func (r *byteReader) usVarchar() string { return r.ucs2(int(r.u16())) }

func appendBVarchar(dst []byte, s string) []byte {
	n := UCS2Len(s)
	if n > 255 {
		// Truncate to the wire limit rather than emit a corrupt length.
		s, n = truncateUCS2(s, 255), 255
	}
	dst = append(dst, byte(n))
	return AppendUCS2(dst, s)
}

func appendUSVarchar(dst []byte, s string) []byte {
	n := UCS2Len(s)
	if n > 0xFFFF {
		s, n = truncateUCS2(s, 0xFFFF), 0xFFFF
	}
	dst = binary.LittleEndian.AppendUint16(dst, uint16(n))
	return AppendUCS2(dst, s)
}

// truncateUCS2 returns the longest prefix of s encoding to at most n code units.
func truncateUCS2(s string, n int) string {
	units := 0
	for i, r := range s {
		u := 1
		if r >= 0x10000 {
			u = 2
		}
		if units+u > n {
			return s[:i]
		}
		units += u
	}
	return s
}

func decodeTypeInfo(b []byte, ctx tiContext) (TypeInfo, int, error) {
	const msg = "TYPE_INFO"
	r := newReader(b)
	var t TypeInfo
	t.Type = DataType(r.u8())
	if !r.ok {
		return TypeInfo{}, 0, errShort
	}
	switch t.Type.lenKind() {
	case lenFixed:
		t.Size, _ = t.Type.fixedSize()
	case lenByte:
		t.Size = int(r.u8())
		switch t.Type {
		case TypeDecimal, TypeNumeric, TypeDecimalN, TypeNumericN:
			t.Precision, t.Scale = r.u8(), r.u8()
			if r.ok && (t.Precision > 38 || t.Scale > t.Precision) {
				return TypeInfo{}, 0, formatErr(msg, "PRECISION", "precision %d scale %d out of range", t.Precision, t.Scale)
			}
		}
		if r.ok {
			if err := checkByteLen(t); err != nil {
				return TypeInfo{}, 0, err
			}
		}
	case lenScale:
		t.Scale = r.u8()
		if r.ok && t.Scale > 7 {
			return TypeInfo{}, 0, formatErr(msg, "SCALE", "scale %d > 7 for %s", t.Scale, t.Type)
		}
	case lenDate:
		t.Size = 3
	case lenUShort:
		t.Size = int(r.u16())
		if r.ok && t.Size != PLPSize && t.Size > 8000 {
			return TypeInfo{}, 0, formatErr(msg, "TYPE_VARLEN", "max length %d > 8000 for %s", t.Size, t.Type)
		}
		if r.ok && t.Size == PLPSize && (t.Type == TypeBigChar || t.Type == TypeBigBinary || t.Type == TypeNChar) {
			return TypeInfo{}, 0, formatErr(msg, "TYPE_VARLEN", "%s cannot be (max)", t.Type)
		}
	case lenLong:
		t.Size = int(r.u32())
	case lenPLP:
		t.Size = PLPSize
		switch t.Type {
		case TypeXML:
			if r.u8() != 0 {
				t.XMLSchema = &XMLSchema{DBName: r.bVarchar(), OwningSchema: r.bVarchar(), Collection: r.usVarchar()}
			}
		case TypeUDT:
			u := &UDTInfo{}
			if ctx != tiParam {
				u.MaxByteSize = r.u16()
			}
			u.DBName, u.SchemaName, u.TypeName = r.bVarchar(), r.bVarchar(), r.bVarchar()
			if ctx != tiParam {
				u.AssemblyName = r.usVarchar()
			}
			t.UDT = u
		}
	case lenTVP:
		if ctx != tiParam {
			return TypeInfo{}, 0, formatErr(msg, "TYPE", "TVP outside an RPC parameter")
		}
		t.TVP = &TVPTypeName{DBName: r.bVarchar(), OwningSchema: r.bVarchar(), TypeName: r.bVarchar()}
	default:
		return TypeInfo{}, 0, formatErr(msg, "TYPE", "unknown data type 0x%02X", uint8(t.Type))
	}
	if t.Type.hasCollation() {
		copy(t.Collation[:], r.bytes(5))
	}
	if ctx == tiColumn71 && (t.Type == TypeText || t.Type == TypeNText || t.Type == TypeImage) {
		t.TableName = []string{r.usVarchar()}
	}
	if ctx == tiColumn && (t.Type == TypeText || t.Type == TypeNText || t.Type == TypeImage) {
		parts := int(r.u8())
		if r.ok && parts > 0 {
			t.TableName = make([]string, 0, min(parts, 8))
			for i := 0; i < parts && r.ok; i++ {
				t.TableName = append(t.TableName, r.usVarchar())
			}
		}
	}
	if !r.ok {
		return TypeInfo{}, 0, errShort
	}
	return t, r.off, nil
}

// checkByteLen validates the 1-byte max length of BYTELEN types.
func checkByteLen(t TypeInfo) error {
	ok := true
	switch t.Type {
	case TypeIntN:
		ok = t.Size == 1 || t.Size == 2 || t.Size == 4 || t.Size == 8
	case TypeBitN:
		ok = t.Size == 1
	case TypeFltN, TypeMoneyN, TypeDateTimeN:
		ok = t.Size == 4 || t.Size == 8
	case TypeGUID:
		ok = t.Size == 16
	case TypeDecimal, TypeNumeric, TypeDecimalN, TypeNumericN:
		// SQL Server sends 5, 9, 13 or 17 (by precision); FreeTDS' bcp
		// sends other sizes (6 for precision 10), which frame just as well.
		ok = t.Size >= 2 && t.Size <= 17
	}
	if !ok {
		return formatErr("TYPE_INFO", "TYPE_VARLEN", "invalid length %d for %s", t.Size, t.Type)
	}
	return nil
}

func (t TypeInfo) appendCtx(dst []byte, ctx tiContext) []byte {
	dst = append(dst, byte(t.Type))
	switch t.Type.lenKind() {
	case lenByte:
		dst = append(dst, byte(t.Size))
		switch t.Type {
		case TypeDecimal, TypeNumeric, TypeDecimalN, TypeNumericN:
			dst = append(dst, t.Precision, t.Scale)
		}
	case lenScale:
		dst = append(dst, t.Scale)
	case lenUShort:
		dst = binary.LittleEndian.AppendUint16(dst, uint16(t.Size))
	case lenLong:
		dst = binary.LittleEndian.AppendUint32(dst, uint32(t.Size))
	case lenPLP:
		switch t.Type {
		case TypeXML:
			if t.XMLSchema == nil {
				dst = append(dst, 0)
			} else {
				dst = append(dst, 1)
				dst = appendBVarchar(dst, t.XMLSchema.DBName)
				dst = appendBVarchar(dst, t.XMLSchema.OwningSchema)
				dst = appendUSVarchar(dst, t.XMLSchema.Collection)
			}
		case TypeUDT:
			u := t.UDT
			if u == nil {
				u = &UDTInfo{}
			}
			if ctx != tiParam {
				dst = binary.LittleEndian.AppendUint16(dst, u.MaxByteSize)
			}
			dst = appendBVarchar(dst, u.DBName)
			dst = appendBVarchar(dst, u.SchemaName)
			dst = appendBVarchar(dst, u.TypeName)
			if ctx != tiParam {
				dst = appendUSVarchar(dst, u.AssemblyName)
			}
		}
	case lenTVP:
		n := t.TVP
		if n == nil {
			n = &TVPTypeName{}
		}
		dst = appendBVarchar(dst, n.DBName)
		dst = appendBVarchar(dst, n.OwningSchema)
		dst = appendBVarchar(dst, n.TypeName)
	}
	if t.Type.hasCollation() {
		dst = append(dst, t.Collation[:]...)
	}
	if ctx == tiColumn71 && (t.Type == TypeText || t.Type == TypeNText || t.Type == TypeImage) {
		name := ""
		if len(t.TableName) > 0 {
			name = t.TableName[len(t.TableName)-1]
		}
		dst = appendUSVarchar(dst, name)
	}
	if ctx == tiColumn && (t.Type == TypeText || t.Type == TypeNText || t.Type == TypeImage) {
		dst = append(dst, byte(len(t.TableName)))
		for _, p := range t.TableName {
			dst = appendUSVarchar(dst, p)
		}
	}
	return dst
}
