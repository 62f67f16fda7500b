package tds

import "encoding/binary"

// AppendFeatureExtAck appends a FEATUREEXTACK token ([MS-TDS] §2.2.7.11):
// the acknowledged features and the 0xFF terminator.
func AppendFeatureExtAck(dst []byte, acks []FeatureExt) []byte {
	dst = append(dst, byte(TokenFeatureExtAck))
	return AppendFeatureExtList(dst, acks)
}

// decodeFeatureExtAck decodes a FEATUREEXTACK body; Data retains b.
func decodeFeatureExtAck(b []byte) ([]FeatureExt, int, error) {
	var acks []FeatureExt
	off := 0
	for {
		if off >= len(b) {
			return nil, 0, errShort
		}
		id := FeatureID(b[off])
		off++
		if id == FeatureTerminator {
			return acks, off, nil
		}
		if len(b)-off < 4 {
			return nil, 0, errShort
		}
		l := binary.LittleEndian.Uint32(b[off:])
		off += 4
		if l > maxTokenLen {
			return nil, 0, formatErr("FEATUREEXTACK", id.String(), "data length %d exceeds %d", l, maxTokenLen)
		}
		if uint64(len(b)-off) < uint64(l) {
			return nil, 0, errShort
		}
		acks = append(acks, FeatureExt{ID: id, Data: b[off : off+int(l)]})
		off += int(l)
	}
}
