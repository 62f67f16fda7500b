package tds

import (
	"encoding/binary"
	"fmt"
)

// Column flags of COLMETADATA and TVP_COLMETADATA ([MS-TDS] §2.2.7.4).
const (
	ColNullable        uint16 = 0x0001
	ColCaseSensitive   uint16 = 0x0002
	ColUpdateableMask  uint16 = 0x000C
	ColIdentity        uint16 = 0x0010
	ColComputed        uint16 = 0x0020
	ColFixedLenCLRType uint16 = 0x0100
	ColDefault         uint16 = 0x0200 // TVP only: value not sent
	ColSparseColumnSet uint16 = 0x0400
	ColEncrypted       uint16 = 0x0800
	ColHidden          uint16 = 0x2000
	ColKey             uint16 = 0x4000
	ColNullableUnknown uint16 = 0x8000
)

// Column is one column of a COLMETADATA token ([MS-TDS] §2.2.7.4).
type Column struct {
	UserType uint32 // 2 bytes before TDS 7.2
	Flags    uint16
	Type     TypeInfo
	Name     string
}

// NoMetadata is the COLMETADATA column count that says "no metadata
// follows" (the client asked for fNoMetaData).
const NoMetadata = 0xFFFF

func decodeColumn(b []byte, ver uint32, ctx tiContext) (Column, int, error) {
	const msg = "COLMETADATA"
	r := newReader(b)
	var c Column
	if is72(ver) || ctx == tiParam {
		c.UserType = r.u32()
	} else {
		c.UserType = uint32(r.u16())
	}
	c.Flags = r.u16()
	if !r.ok {
		return Column{}, 0, errShort
	}
	if c.Flags&ColEncrypted != 0 {
		return Column{}, 0, formatErr(msg, "Flags", "encrypted column (Always Encrypted) not supported")
	}
	if ctx == tiColumn && !is72(ver) {
		ctx = tiColumn71
	}
	t, n, err := decodeTypeInfo(b[r.off:], ctx)
	if err != nil {
		return Column{}, 0, err
	}
	r.off += n
	c.Type = t
	c.Name = r.bVarchar()
	if !r.ok {
		return Column{}, 0, errShort
	}
	return c, r.off, nil
}

func appendColumn(dst []byte, c Column, ver uint32, ctx tiContext) []byte {
	if is72(ver) || ctx == tiParam {
		dst = binary.LittleEndian.AppendUint32(dst, c.UserType)
	} else {
		dst = binary.LittleEndian.AppendUint16(dst, uint16(c.UserType))
	}
	dst = binary.LittleEndian.AppendUint16(dst, c.Flags)
	if ctx == tiColumn && !is72(ver) {
		ctx = tiColumn71
	}
	dst = c.Type.appendCtx(dst, ctx)
	return appendBVarchar(dst, c.Name)
}

// AppendColMetadata appends a COLMETADATA token (TDS 7.2+ layout). An empty
// cols is sent as "no metadata" (count 0xFFFF).
func AppendColMetadata(dst []byte, cols []Column) []byte {
	return appendColMetadata(dst, cols, VerTDS74)
}

func appendColMetadata(dst []byte, cols []Column, ver uint32) []byte {
	dst = append(dst, byte(TokenColMetadata))
	if len(cols) == 0 {
		return append(dst, 0xFF, 0xFF)
	}
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(cols)))
	for _, c := range cols {
		dst = appendColumn(dst, c, ver, tiColumn)
	}
	return dst
}

// decodeColMetadata decodes a COLMETADATA body. It returns nil columns for
// "no metadata".
func decodeColMetadata(b []byte, ver uint32, cols []Column) ([]Column, int, error) {
	if len(b) < 2 {
		return nil, 0, errShort
	}
	n := int(binary.LittleEndian.Uint16(b))
	if n == NoMetadata {
		return nil, 2, nil
	}
	if n == 0 {
		return nil, 0, formatErr("COLMETADATA", "Count", "0 columns")
	}
	off := 2
	cols = cols[:0]
	for i := 0; i < n; i++ {
		c, m, err := decodeColumn(b[off:], ver, tiColumn)
		if err != nil {
			if err != errShort {
				return nil, 0, fmt.Errorf("column %d: %w", i+1, err)
			}
			return nil, 0, err
		}
		if c.Type.Type == TypeTVP {
			return nil, 0, formatErr("COLMETADATA", "TYPE_INFO", "TVP column %d in a result", i+1)
		}
		cols = append(cols, c)
		off += m
	}
	return cols, off, nil
}

// AppendRow appends a ROW token with one value per column.
func AppendRow(dst []byte, cols []Column, vals []any) ([]byte, error) {
	if len(vals) != len(cols) {
		return dst, fmt.Errorf("tds: ROW with %d values for %d columns", len(vals), len(cols))
	}
	start := len(dst)
	dst = append(dst, byte(TokenRow))
	for i, c := range cols {
		var err error
		if dst, err = appendValue(dst, c.Type, vals[i], ctxRow); err != nil {
			return dst[:start], fmt.Errorf("tds: ROW column %d (%s): %w", i+1, c.Name, err)
		}
	}
	return dst, nil
}

// AppendNBCRow appends an NBCROW token ([MS-TDS] §2.2.7.15): a null bitmap,
// then the non-NULL values.
func AppendNBCRow(dst []byte, cols []Column, vals []any) ([]byte, error) {
	if len(vals) != len(cols) {
		return dst, fmt.Errorf("tds: NBCROW with %d values for %d columns", len(vals), len(cols))
	}
	start := len(dst)
	dst = append(dst, byte(TokenNBCRow))
	bm := len(dst)
	dst = append(dst, make([]byte, (len(cols)+7)/8)...)
	for i, c := range cols {
		if vals[i] == nil {
			dst[bm+i/8] |= 1 << (i % 8)
			continue
		}
		var err error
		if dst, err = appendValue(dst, c.Type, vals[i], ctxRow); err != nil {
			return dst[:start], fmt.Errorf("tds: NBCROW column %d (%s): %w", i+1, c.Name, err)
		}
	}
	return dst, nil
}

// decodeRow decodes a ROW or NBCROW body into vals (reused).
func decodeRow(b []byte, cols []Column, nbc bool, vals []any) ([]any, int, error) {
	vals = vals[:0]
	off := 0
	var bitmap []byte
	if nbc {
		n := (len(cols) + 7) / 8
		if len(b) < n {
			return nil, 0, errShort
		}
		bitmap, off = b[:n], n
	}
	for i, c := range cols {
		if bitmap != nil && bitmap[i/8]&(1<<(i%8)) != 0 {
			vals = append(vals, nil)
			continue
		}
		v, n, err := decodeValue(c.Type, b[off:], ctxRow)
		if err != nil {
			if err != errShort {
				return nil, 0, fmt.Errorf("column %d: %w", i+1, err)
			}
			return nil, 0, err
		}
		vals = append(vals, v)
		off += n
	}
	return vals, off, nil
}
