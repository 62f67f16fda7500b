package tds

import (
	"encoding/binary"
	"fmt"
)

// ServerError is the body of an ERROR or INFO token ([MS-TDS] §2.2.7.10,
// §2.2.7.13). SQL Server sends INFO for Class <= 10 and ERROR above.
type ServerError struct {
	Number     int32
	State      uint8
	Class      uint8
	Message    string
	ServerName string
	ProcName   string
	Line       int32
}

// Error formats the message with its number, class (severity) and state,
// e.g. "server error 208, class 16, state 1: Invalid object name 'x'.".
func (e ServerError) Error() string {
	return fmt.Sprintf("server error %d, class %d, state %d: %s", e.Number, e.Class, e.State, e.Message)
}

// maxMessageChars bounds ERROR/INFO message text so the token fits its
// 2-byte length with the longest server and procedure names.
const maxMessageChars = (0xFFFF - 4 - 2 - 2 - 2*(1+2*255) - 4) / 2

// AppendError appends an ERROR token in the TDS 7.2+ layout.
func AppendError(dst []byte, e ServerError) []byte {
	return AppendMessage(dst, TokenError, e, VerTDS74)
}

// AppendInfo appends an INFO token in the TDS 7.2+ layout.
func AppendInfo(dst []byte, e ServerError) []byte {
	return AppendMessage(dst, TokenInfo, e, VerTDS74)
}

// AppendMessage appends an ERROR or INFO token (tok) for tdsVersion: the
// line number is 2 bytes before TDS 7.2, 4 bytes from 7.2 on.
func AppendMessage(dst []byte, tok TokenType, e ServerError, tdsVersion uint32) []byte {
	dst = append(dst, byte(tok), 0, 0)
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(e.Number))
	dst = append(dst, e.State, e.Class)
	// The token length is 2 bytes: keep the message short enough for the
	// whole body to fit (SQL Server's messages are at most 2,047 characters).
	msg := e.Message
	if UCS2Len(msg) > maxMessageChars {
		msg = truncateUCS2(msg, maxMessageChars)
	}
	dst = appendUSVarchar(dst, msg)
	dst = appendBVarchar(dst, e.ServerName)
	dst = appendBVarchar(dst, e.ProcName)
	if is72(tdsVersion) {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(e.Line))
	} else {
		dst = binary.LittleEndian.AppendUint16(dst, uint16(e.Line))
	}
	binary.LittleEndian.PutUint16(dst[start-2:], uint16(len(dst)-start))
	return dst
}

// decodeServerError decodes an ERROR/INFO body (after the token byte).
func decodeServerError(b []byte, ver uint32) (ServerError, int, error) {
	const msg = "ERROR/INFO"
	if len(b) < 2 {
		return ServerError{}, 0, errShort
	}
	l := int(binary.LittleEndian.Uint16(b))
	if len(b) < 2+l {
		return ServerError{}, 0, errShort
	}
	r := newReader(b[2 : 2+l])
	var e ServerError
	e.Number = int32(r.u32())
	e.State = r.u8()
	e.Class = r.u8()
	e.Message = r.usVarchar()
	e.ServerName = r.bVarchar()
	e.ProcName = r.bVarchar()
	if is72(ver) {
		e.Line = int32(r.u32())
	} else {
		e.Line = int32(r.u16())
	}
	if !r.ok {
		return ServerError{}, 0, formatErr(msg, "Length", "fields overrun the token length %d", l)
	}
	if r.off != l {
		return ServerError{}, 0, formatErr(msg, "Length", "%d bytes left after LineNumber", l-r.off)
	}
	return e, 2 + l, nil
}
