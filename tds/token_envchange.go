package tds

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// EnvType is the type of an ENVCHANGE token ([MS-TDS] §2.2.7.9).
type EnvType uint8

// ENVCHANGE types.
const (
	EnvDatabaseType        EnvType = 1
	EnvLanguageType        EnvType = 2
	EnvCharsetType         EnvType = 3
	EnvPacketSizeType      EnvType = 4
	EnvUnicodeLCIDType     EnvType = 5
	EnvUnicodeCompareType  EnvType = 6
	EnvCollationType       EnvType = 7
	EnvBeginTranType       EnvType = 8
	EnvCommitTranType      EnvType = 9
	EnvRollbackTranType    EnvType = 10
	EnvEnlistDTCType       EnvType = 11
	EnvDefectTranType      EnvType = 12
	EnvMirrorPartnerType   EnvType = 13
	EnvPromoteTranType     EnvType = 15
	EnvTranManagerAddrType EnvType = 16
	EnvTranEndedType       EnvType = 17
	EnvResetAckType        EnvType = 18
	EnvUserInstanceType    EnvType = 19
	EnvRoutingType         EnvType = 20
	EnvEnhancedRoutingType EnvType = 21
)

var envNames = map[EnvType]string{
	EnvDatabaseType: "Database", EnvLanguageType: "Language", EnvCharsetType: "CharacterSet",
	EnvPacketSizeType: "PacketSize", EnvUnicodeLCIDType: "UnicodeSortingLocalId",
	EnvUnicodeCompareType: "UnicodeSortingComparisonFlags", EnvCollationType: "SQLCollation",
	EnvBeginTranType: "BeginTransaction", EnvCommitTranType: "CommitTransaction",
	EnvRollbackTranType: "RollbackTransaction", EnvEnlistDTCType: "EnlistDTCTransaction",
	EnvDefectTranType: "DefectTransaction", EnvMirrorPartnerType: "DatabaseMirroringPartner",
	EnvPromoteTranType: "PromoteTransaction", EnvTranManagerAddrType: "TransactionManagerAddress",
	EnvTranEndedType: "TransactionEnded", EnvResetAckType: "ResetConnectionAck",
	EnvUserInstanceType: "UserInstance", EnvRoutingType: "Routing", EnvEnhancedRoutingType: "EnhancedRouting",
}

// String returns the spec's name of the type.
func (t EnvType) String() string {
	if s, ok := envNames[t]; ok {
		return s
	}
	return fmt.Sprintf("EnvType(%d)", uint8(t))
}

// envValueKind is how an ENVCHANGE type encodes its new and old values.
type envValueKind uint8

const (
	envBVarchar  envValueKind = iota // B_VARCHAR: length in UCS-2 characters
	envBVarbyte                      // B_VARBYTE: length in bytes
	envUSVarbyte                     // US_VARBYTE (routing)
	envPromote                       // new L_VARBYTE, old B_VARBYTE
	envOpaque                        // unknown type: body kept in New
)

func (t EnvType) kind() envValueKind {
	switch t {
	case EnvDatabaseType, EnvLanguageType, EnvCharsetType, EnvPacketSizeType, EnvUnicodeLCIDType,
		EnvUnicodeCompareType, EnvMirrorPartnerType, EnvUserInstanceType:
		return envBVarchar
	case EnvCollationType, EnvBeginTranType, EnvCommitTranType, EnvRollbackTranType, EnvEnlistDTCType,
		EnvDefectTranType, EnvTranManagerAddrType, EnvTranEndedType, EnvResetAckType:
		return envBVarbyte
	case EnvRoutingType, EnvEnhancedRoutingType:
		return envUSVarbyte
	case EnvPromoteTranType:
		return envPromote
	}
	return envOpaque
}

// EnvChange is an ENVCHANGE token ([MS-TDS] §2.2.7.9). New and Old are the
// values' bytes without their length prefixes: UCS-2 text for the string
// types (database, language, packet size, …), raw bytes otherwise (a
// collation, an 8-byte transaction descriptor, routing data). For an
// unknown type, New holds the whole body after the type byte.
type EnvChange struct {
	Type     EnvType
	New, Old []byte
}

// NewString returns New decoded from UCS-2 ("" when not text).
func (e EnvChange) NewString() string { return e.text(e.New) }

// OldString returns Old decoded from UCS-2 ("" when not text).
func (e EnvChange) OldString() string { return e.text(e.Old) }

func (e EnvChange) text(b []byte) string {
	if e.Type.kind() != envBVarchar {
		return ""
	}
	s, err := DecodeUCS2(b)
	if err != nil {
		return ""
	}
	return s
}

// TxDescriptor returns the transaction descriptor of a begin (New) or of a
// commit, rollback, defect or transaction-ended (Old) change.
func (e EnvChange) TxDescriptor() (uint64, bool) {
	b := e.Old
	if e.Type == EnvBeginTranType || e.Type == EnvEnlistDTCType {
		b = e.New
	}
	switch e.Type {
	case EnvBeginTranType, EnvCommitTranType, EnvRollbackTranType, EnvEnlistDTCType,
		EnvDefectTranType, EnvTranEndedType:
		if len(b) == 8 {
			return binary.LittleEndian.Uint64(b), true
		}
	}
	return 0, false
}

// PacketSize returns the new packet size of a packet-size change.
func (e EnvChange) PacketSize() (int, bool) {
	if e.Type != EnvPacketSizeType {
		return 0, false
	}
	n, err := strconv.Atoi(e.NewString())
	return n, err == nil
}

// Routing returns the server and port of a routing change (type 20).
func (e EnvChange) Routing() (server string, port uint16, ok bool) {
	if e.Type != EnvRoutingType || len(e.New) < 5 || e.New[0] != 0 {
		return "", 0, false
	}
	port = binary.LittleEndian.Uint16(e.New[1:])
	r := newReader(e.New[3:])
	server = r.usVarchar()
	if !r.ok || r.off != len(e.New)-3 {
		return "", 0, false
	}
	return server, port, true
}

// String describes the change, e.g. `Database "master" -> "tempdb"`.
func (e EnvChange) String() string {
	switch e.Type.kind() {
	case envBVarchar:
		return fmt.Sprintf("%s %q -> %q", e.Type, e.OldString(), e.NewString())
	}
	if d, ok := e.TxDescriptor(); ok {
		return fmt.Sprintf("%s 0x%016X", e.Type, d)
	}
	if s, p, ok := e.Routing(); ok {
		return fmt.Sprintf("%s %s:%d", e.Type, s, p)
	}
	return fmt.Sprintf("%s new=%x old=%x", e.Type, e.New, e.Old)
}

func envText(t EnvType, newV, oldV string) EnvChange {
	return EnvChange{Type: t, New: AppendUCS2(nil, truncateUCS2(newV, 255)), Old: AppendUCS2(nil, truncateUCS2(oldV, 255))}
}

// EnvDatabase is a database change (type 1).
func EnvDatabase(newDB, oldDB string) EnvChange { return envText(EnvDatabaseType, newDB, oldDB) }

// EnvLanguage is a language change (type 2).
func EnvLanguage(newLang, oldLang string) EnvChange {
	return envText(EnvLanguageType, newLang, oldLang)
}

// EnvPacketSize is a packet size change (type 4); sizes travel as decimal text.
func EnvPacketSize(newSize, oldSize int) EnvChange {
	return envText(EnvPacketSizeType, strconv.Itoa(newSize), strconv.Itoa(oldSize))
}

// EnvCollation is a collation change (type 7). A zero old collation is sent
// as an empty value, as SQL Server does in a login response.
func EnvCollation(newC, oldC Collation) EnvChange {
	e := EnvChange{Type: EnvCollationType, New: append([]byte(nil), newC[:]...)}
	if oldC != (Collation{}) {
		e.Old = append([]byte(nil), oldC[:]...)
	}
	return e
}

func descriptor(d uint64) []byte { return binary.LittleEndian.AppendUint64(nil, d) }

// EnvBeginTran reports a new transaction with its descriptor (type 8).
func EnvBeginTran(desc uint64) EnvChange {
	return EnvChange{Type: EnvBeginTranType, New: descriptor(desc)}
}

// EnvCommitTran reports that transaction desc committed (type 9).
func EnvCommitTran(desc uint64) EnvChange {
	return EnvChange{Type: EnvCommitTranType, Old: descriptor(desc)}
}

// EnvRollbackTran reports that transaction desc rolled back (type 10).
func EnvRollbackTran(desc uint64) EnvChange {
	return EnvChange{Type: EnvRollbackTranType, Old: descriptor(desc)}
}

// EnvTranEnded reports that a batch ended transaction desc (type 17).
func EnvTranEnded(desc uint64) EnvChange {
	return EnvChange{Type: EnvTranEndedType, Old: descriptor(desc)}
}

// EnvResetAck acknowledges RESETCONNECTION (type 18).
func EnvResetAck() EnvChange { return EnvChange{Type: EnvResetAckType} }

// EnvRouting redirects the client to server:port over TCP (type 20).
func EnvRouting(server string, port uint16) EnvChange {
	v := []byte{0}
	v = binary.LittleEndian.AppendUint16(v, port)
	v = appendUSVarchar(v, server)
	return EnvChange{Type: EnvRoutingType, New: v, Old: []byte{}}
}

// AppendEnvChange appends an ENVCHANGE token.
func AppendEnvChange(dst []byte, e EnvChange) []byte {
	dst = append(dst, byte(TokenEnvChange), 0, 0)
	start := len(dst)
	dst = append(dst, byte(e.Type))
	// Values longer than their length prefix allows are cut, so the token
	// stays well-formed.
	clip := func(b []byte, n int) []byte { return b[:min(len(b), n)] }
	switch e.Type.kind() {
	case envBVarchar:
		nv, ov := clip(e.New, 2*255), clip(e.Old, 2*255)
		dst = append(dst, byte(len(nv)/2))
		dst = append(dst, nv[:len(nv)/2*2]...)
		dst = append(dst, byte(len(ov)/2))
		dst = append(dst, ov[:len(ov)/2*2]...)
	case envBVarbyte:
		nv, ov := clip(e.New, 255), clip(e.Old, 255)
		dst = append(dst, byte(len(nv)))
		dst = append(dst, nv...)
		dst = append(dst, byte(len(ov)))
		dst = append(dst, ov...)
	case envUSVarbyte:
		dst = binary.LittleEndian.AppendUint16(dst, uint16(len(e.New)))
		dst = append(dst, e.New...)
		dst = binary.LittleEndian.AppendUint16(dst, uint16(len(e.Old)))
		dst = append(dst, e.Old...)
	case envPromote:
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(e.New)))
		dst = append(dst, e.New...)
		dst = append(dst, byte(len(e.Old)))
		dst = append(dst, e.Old...)
	default:
		dst = append(dst, e.New...)
	}
	binary.LittleEndian.PutUint16(dst[start-2:], uint16(len(dst)-start))
	return dst
}

// decodeEnvChange decodes an ENVCHANGE body (after the token byte). New and
// Old retain b.
func decodeEnvChange(b []byte) (EnvChange, int, error) {
	const msg = "ENVCHANGE"
	if len(b) < 2 {
		return EnvChange{}, 0, errShort
	}
	l := int(binary.LittleEndian.Uint16(b))
	if len(b) < 2+l {
		return EnvChange{}, 0, errShort
	}
	if l < 1 {
		return EnvChange{}, 0, formatErr(msg, "Length", "0")
	}
	body := b[2 : 2+l]
	e := EnvChange{Type: EnvType(body[0])}
	r := newReader(body[1:])
	switch e.Type.kind() {
	case envBVarchar:
		e.New = r.bytes(2 * int(r.u8()))
		e.Old = r.bytes(2 * int(r.u8()))
	case envBVarbyte:
		e.New = r.bytes(int(r.u8()))
		e.Old = r.bytes(int(r.u8()))
	case envUSVarbyte:
		e.New = r.bytes(int(r.u16()))
		e.Old = r.bytes(int(r.u16()))
	case envPromote:
		e.New = r.bytes(int(r.u32()))
		e.Old = r.bytes(int(r.u8()))
	default:
		e.New = body[1:]
		r.off = len(body) - 1
	}
	if !r.ok {
		return EnvChange{}, 0, formatErr(msg, e.Type.String(), "values overrun the token length %d", l)
	}
	if r.off != len(body)-1 {
		return EnvChange{}, 0, formatErr(msg, e.Type.String(), "%d bytes left after the values", len(body)-1-r.off)
	}
	return e, 2 + l, nil
}
