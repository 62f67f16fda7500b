package tds

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// TokenType is the first byte of a token in a tabular result ([MS-TDS] §2.2.7).
type TokenType uint8

// Token types ([MS-TDS] §2.2.7).
const (
	TokenOffset             TokenType = 0x78
	TokenReturnStatus       TokenType = 0x79
	TokenColMetadata        TokenType = 0x81
	TokenAltMetadata        TokenType = 0x88
	TokenDataClassification TokenType = 0xA3
	TokenTabName            TokenType = 0xA4
	TokenColInfo            TokenType = 0xA5
	TokenOrder              TokenType = 0xA9
	TokenError              TokenType = 0xAA
	TokenInfo               TokenType = 0xAB
	TokenReturnValue        TokenType = 0xAC
	TokenLoginAck           TokenType = 0xAD
	TokenFeatureExtAck      TokenType = 0xAE
	TokenRow                TokenType = 0xD1
	TokenNBCRow             TokenType = 0xD2
	TokenAltRow             TokenType = 0xD3
	TokenEnvChange          TokenType = 0xE3
	TokenSessionState       TokenType = 0xE4
	TokenSSPI               TokenType = 0xED
	TokenFedAuthInfo        TokenType = 0xEE
	TokenDone               TokenType = 0xFD
	TokenDoneProc           TokenType = 0xFE
	TokenDoneInProc         TokenType = 0xFF
)

var tokenNames = map[TokenType]string{
	TokenOffset: "OFFSET", TokenReturnStatus: "RETURNSTATUS", TokenColMetadata: "COLMETADATA",
	TokenAltMetadata: "ALTMETADATA", TokenDataClassification: "DATACLASSIFICATION",
	TokenTabName: "TABNAME", TokenColInfo: "COLINFO", TokenOrder: "ORDER", TokenError: "ERROR",
	TokenInfo: "INFO", TokenReturnValue: "RETURNVALUE", TokenLoginAck: "LOGINACK",
	TokenFeatureExtAck: "FEATUREEXTACK", TokenRow: "ROW", TokenNBCRow: "NBCROW", TokenAltRow: "ALTROW",
	TokenEnvChange: "ENVCHANGE", TokenSessionState: "SESSIONSTATE", TokenSSPI: "SSPI",
	TokenFedAuthInfo: "FEDAUTHINFO", TokenDone: "DONE", TokenDoneProc: "DONEPROC", TokenDoneInProc: "DONEINPROC",
}

// String returns the token's name in [MS-TDS].
func (t TokenType) String() string {
	if s, ok := tokenNames[t]; ok {
		return s
	}
	return fmt.Sprintf("TokenType(0x%02X)", uint8(t))
}

// errShort is returned by the internal token decoders when the input ends
// before the token does; the Walker waits for more bytes, public decoders
// report it as malformed input.
var errShort = &FormatError{Msg: "token stream", Reason: "input ends in the middle of a token"}

// is72 reports whether a negotiated TDS version uses the 7.2+ layouts
// (8-byte DONE row counts, 4-byte user types and line numbers).
func is72(ver uint32) bool { return ver == 0 || ver >= VerTDS72 }

// DoneStatus is the Status field of DONE, DONEPROC and DONEINPROC ([MS-TDS] §2.2.7.6).
type DoneStatus uint16

// Done status bits.
const (
	DoneFinal      DoneStatus = 0x000
	DoneMore       DoneStatus = 0x001
	DoneError      DoneStatus = 0x002
	DoneInxact     DoneStatus = 0x004
	DoneCount      DoneStatus = 0x010
	DoneAttn       DoneStatus = 0x020
	DoneRPCInBatch DoneStatus = 0x080
	DoneSrvError   DoneStatus = 0x100
)

// String lists the set bits, e.g. "MORE|COUNT", or "FINAL".
func (s DoneStatus) String() string {
	if s == 0 {
		return "FINAL"
	}
	names := []struct {
		bit  DoneStatus
		name string
	}{{DoneMore, "MORE"}, {DoneError, "ERROR"}, {DoneInxact, "INXACT"}, {DoneCount, "COUNT"},
		{DoneAttn, "ATTN"}, {DoneRPCInBatch, "RPCINBATCH"}, {DoneSrvError, "SRVERROR"}}
	var parts []string
	rest := s
	for _, n := range names {
		if s&n.bit != 0 {
			parts = append(parts, n.name)
			rest &^= n.bit
		}
	}
	if rest != 0 {
		parts = append(parts, fmt.Sprintf("0x%X", uint16(rest)))
	}
	return strings.Join(parts, "|")
}

// Done is the body of a DONE, DONEPROC or DONEINPROC token ([MS-TDS]
// §2.2.7.6–§2.2.7.8). RowCount is valid when Status has DoneCount.
type Done struct {
	Status   DoneStatus
	CurCmd   uint16
	RowCount uint64
}

// doneLen returns the body length of a DONE token for a TDS version.
func doneLen(ver uint32) int {
	if is72(ver) {
		return 12
	}
	return 8
}

// AppendDone appends a DONE, DONEPROC or DONEINPROC token (tok) with the
// row count as wide as tdsVersion wants (4 bytes before TDS 7.2, else 8).
func AppendDone(dst []byte, tok TokenType, d Done, tdsVersion uint32) []byte {
	dst = append(dst, byte(tok))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(d.Status))
	dst = binary.LittleEndian.AppendUint16(dst, d.CurCmd)
	if is72(tdsVersion) {
		return binary.LittleEndian.AppendUint64(dst, d.RowCount)
	}
	return binary.LittleEndian.AppendUint32(dst, uint32(d.RowCount))
}

func decodeDone(b []byte, ver uint32) (Done, int, error) {
	n := doneLen(ver)
	if len(b) < n {
		return Done{}, 0, errShort
	}
	d := Done{Status: DoneStatus(binary.LittleEndian.Uint16(b)), CurCmd: binary.LittleEndian.Uint16(b[2:])}
	if n == 12 {
		d.RowCount = binary.LittleEndian.Uint64(b[4:])
	} else {
		d.RowCount = uint64(binary.LittleEndian.Uint32(b[4:]))
	}
	return d, n, nil
}

// AppendReturnStatus appends a RETURNSTATUS token ([MS-TDS] §2.2.7.18).
func AppendReturnStatus(dst []byte, v int32) []byte {
	dst = append(dst, byte(TokenReturnStatus))
	return binary.LittleEndian.AppendUint32(dst, uint32(v))
}

// Token is one decoded token of a tabular result. Type says which fields
// are set: Done (DONE/DONEPROC/DONEINPROC), Env (ENVCHANGE), Err (ERROR and
// INFO), LoginAck, ReturnValue, ReturnStatus, Columns (COLMETADATA), Row
// (ROW/NBCROW, only from DecodeTokens), Order, FeatureExtAck, SessionState,
// Raw (body of tokens kept opaque: TABNAME, COLINFO, OFFSET, SSPI, FEDAUTHINFO).
type Token struct {
	Type          TokenType
	Done          Done
	Env           EnvChange
	Err           ServerError
	LoginAck      LoginAck
	ReturnValue   ReturnValue
	ReturnStatus  int32
	Columns       []Column
	Row           []any
	Order         []uint16
	FeatureExtAck []FeatureExt
	SessionState  SessionState
	Raw           []byte
}

// String summarises the token for logs and test failures (no row data).
func (t *Token) String() string {
	switch t.Type {
	case TokenDone, TokenDoneProc, TokenDoneInProc:
		return fmt.Sprintf("%s(%s cmd=%d rows=%d)", t.Type, t.Done.Status, t.Done.CurCmd, t.Done.RowCount)
	case TokenEnvChange:
		return fmt.Sprintf("ENVCHANGE(%s)", t.Env)
	case TokenError, TokenInfo:
		return fmt.Sprintf("%s(%d class=%d)", t.Type, t.Err.Number, t.Err.Class)
	case TokenColMetadata:
		return fmt.Sprintf("COLMETADATA(%d)", len(t.Columns))
	case TokenReturnStatus:
		return fmt.Sprintf("RETURNSTATUS(%d)", t.ReturnStatus)
	case TokenReturnValue:
		return fmt.Sprintf("RETURNVALUE(%q %s)", t.ReturnValue.Name, t.ReturnValue.Type)
	}
	return t.Type.String()
}
