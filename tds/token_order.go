package tds

import "encoding/binary"

// AppendOrder appends an ORDER token ([MS-TDS] §2.2.7.17): the 1-based
// column numbers of the ORDER BY clause.
func AppendOrder(dst []byte, cols []uint16) []byte {
	dst = append(dst, byte(TokenOrder))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(2*len(cols)))
	for _, c := range cols {
		dst = binary.LittleEndian.AppendUint16(dst, c)
	}
	return dst
}

func decodeOrder(b []byte) ([]uint16, int, error) {
	if len(b) < 2 {
		return nil, 0, errShort
	}
	l := int(binary.LittleEndian.Uint16(b))
	if l%2 != 0 {
		return nil, 0, formatErr("ORDER", "Length", "odd length %d", l)
	}
	if len(b) < 2+l {
		return nil, 0, errShort
	}
	cols := make([]uint16, l/2)
	for i := range cols {
		cols[i] = binary.LittleEndian.Uint16(b[2+2*i:])
	}
	return cols, 2 + l, nil
}
