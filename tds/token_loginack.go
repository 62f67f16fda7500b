package tds

import (
	"encoding/binary"
	"fmt"
)

// LoginAck is the body of a LOGINACK token ([MS-TDS] §2.2.7.14).
type LoginAck struct {
	Interface   uint8  // 1: SQL_TSQL
	TDSVersion  uint32 // e.g. VerTDS74; big-endian on the wire
	ProgName    string // e.g. "Microsoft SQL Server"
	ProgVersion [4]byte
}

// String shows the server program and TDS version.
func (a LoginAck) String() string {
	return fmt.Sprintf("%s %d.%d.%d TDS 0x%08X", a.ProgName, a.ProgVersion[0], a.ProgVersion[1],
		int(a.ProgVersion[2])<<8|int(a.ProgVersion[3]), a.TDSVersion)
}

// AppendLoginAck appends a LOGINACK token.
func AppendLoginAck(dst []byte, a LoginAck) []byte {
	dst = append(dst, byte(TokenLoginAck), 0, 0)
	start := len(dst)
	dst = append(dst, a.Interface)
	dst = binary.BigEndian.AppendUint32(dst, a.TDSVersion)
	dst = appendBVarchar(dst, a.ProgName)
	dst = append(dst, a.ProgVersion[:]...)
	binary.LittleEndian.PutUint16(dst[start-2:], uint16(len(dst)-start))
	return dst
}

func decodeLoginAck(b []byte) (LoginAck, int, error) {
	const msg = "LOGINACK"
	if len(b) < 2 {
		return LoginAck{}, 0, errShort
	}
	l := int(binary.LittleEndian.Uint16(b))
	if len(b) < 2+l {
		return LoginAck{}, 0, errShort
	}
	r := newReader(b[2 : 2+l])
	var a LoginAck
	a.Interface = r.u8()
	if r.need(4) {
		a.TDSVersion = binary.BigEndian.Uint32(r.b[r.off:])
		r.off += 4
	}
	a.ProgName = r.bVarchar()
	copy(a.ProgVersion[:], r.bytes(4))
	if !r.ok {
		return LoginAck{}, 0, formatErr(msg, "Length", "fields overrun the token length %d", l)
	}
	if r.off != l {
		return LoginAck{}, 0, formatErr(msg, "Length", "%d bytes left after ProgVersion", l-r.off)
	}
	return a, 2 + l, nil
}
