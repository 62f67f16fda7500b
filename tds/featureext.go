package tds

import (
	"encoding/binary"
	"fmt"
)

// FeatureID identifies a feature extension in LOGIN7's FeatureExt list
// ([MS-TDS] §2.2.6.4) and in the server's FEATUREEXTACK token
// ([MS-TDS] §2.2.7.11).
type FeatureID uint8

// Feature extension ids ([MS-TDS] §2.2.6.4).
const (
	FeatureSessionRecovery    FeatureID = 0x01
	FeatureFedAuth            FeatureID = 0x02
	FeatureColumnEncryption   FeatureID = 0x04
	FeatureGlobalTransactions FeatureID = 0x05
	FeatureAzureSQLSupport    FeatureID = 0x08
	FeatureDataClassification FeatureID = 0x09
	FeatureUTF8Support        FeatureID = 0x0A
	FeatureAzureSQLDNSCaching FeatureID = 0x0B
	FeatureJSONSupport        FeatureID = 0x0D
	FeatureVectorSupport      FeatureID = 0x0E
	FeatureEnhancedRouting    FeatureID = 0x0F
	FeatureTerminator         FeatureID = 0xFF // ends the list; never an element
)

var featureNames = map[FeatureID]string{
	FeatureSessionRecovery:    "SESSIONRECOVERY",
	FeatureFedAuth:            "FEDAUTH",
	FeatureColumnEncryption:   "COLUMNENCRYPTION",
	FeatureGlobalTransactions: "GLOBALTRANSACTIONS",
	FeatureAzureSQLSupport:    "AZURESQLSUPPORT",
	FeatureDataClassification: "DATACLASSIFICATION",
	FeatureUTF8Support:        "UTF8_SUPPORT",
	FeatureAzureSQLDNSCaching: "AZURESQLDNSCACHING",
	FeatureJSONSupport:        "JSONSUPPORT",
	FeatureVectorSupport:      "VECTORSUPPORT",
	FeatureEnhancedRouting:    "ENHANCEDROUTINGSUPPORT",
	FeatureTerminator:         "TERMINATOR",
}

// String returns the spec name of the feature, or FeatureID(0xNN).
func (f FeatureID) String() string {
	if s, ok := featureNames[f]; ok {
		return s
	}
	return fmt.Sprintf("FeatureID(0x%02X)", uint8(f))
}

// FeatureExt is one element of a FeatureExt list or of a FEATUREEXTACK token
// ([MS-TDS] §2.2.6.4, §2.2.7.11): an id and its opaque data.
type FeatureExt struct {
	ID   FeatureID
	Data []byte
}

// String shows the id and the data length (feature data may carry tokens).
func (f FeatureExt) String() string {
	return fmt.Sprintf("%v(%d bytes)", f.ID, len(f.Data))
}

// DecodeFeatureExtList decodes a feature list: elements {id u8, length u32 LE,
// data} up to and including the 0xFF terminator. msg names the enclosing
// message in errors (e.g. "LOGIN7"). It returns the elements (their Data
// retains src) and the number of bytes consumed, terminator included.
func DecodeFeatureExtList(src []byte, msg string) ([]FeatureExt, int, error) {
	var list []FeatureExt
	off := 0
	for {
		if off >= len(src) {
			return nil, 0, formatErr(msg, "FeatureExt", "list not terminated by 0xFF (%d bytes)", len(src))
		}
		id := FeatureID(src[off])
		off++
		if id == FeatureTerminator {
			return list, off, nil
		}
		if len(src)-off < 4 {
			return nil, 0, formatErr(msg, "FeatureExt", "feature %v: truncated length", id)
		}
		n := binary.LittleEndian.Uint32(src[off:])
		off += 4
		if uint64(n) > uint64(len(src)-off) {
			return nil, 0, formatErr(msg, "FeatureExt", "feature %v: length %d exceeds the %d bytes left", id, n, len(src)-off)
		}
		list = append(list, FeatureExt{ID: id, Data: src[off : off+int(n) : off+int(n)]})
		off += int(n)
	}
}

// AppendFeatureExtList appends list in wire format, followed by the 0xFF
// terminator.
func AppendFeatureExtList(dst []byte, list []FeatureExt) []byte {
	for _, f := range list {
		dst = append(dst, byte(f.ID))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(f.Data)))
		dst = append(dst, f.Data...)
	}
	return append(dst, byte(FeatureTerminator))
}
