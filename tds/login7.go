package tds

import (
	"encoding/binary"
	"fmt"
)

// TDS protocol versions as sent in LOGIN7.TDSVersion and LOGINACK
// ([MS-TDS] §2.2.6.4, §2.2.7.14, Appendix A <69>).
const (
	VerTDS70  uint32 = 0x70000000
	VerTDS71  uint32 = 0x71000001
	VerTDS72  uint32 = 0x72090002
	VerTDS73A uint32 = 0x730A0003
	VerTDS73B uint32 = 0x730B0003
	VerTDS74  uint32 = 0x74000004
	VerTDS80  uint32 = 0x08000000 // LOGIN7 of a TDS 8 (strict) client; not comparable with the 7.x values
)

// EffectiveVersion maps a LOGIN7 TDSVersion to the 7.x version whose message
// layouts apply, so that versions compare numerically: TDS 8.0 (0x08000000,
// sent by strict-mode clients) uses the layouts of 7.4.
func EffectiveVersion(v uint32) uint32 {
	if v>>24 == 0x08 {
		return VerTDS74
	}
	return v
}

// LOGIN7 flag bits ([MS-TDS] §2.2.6.4).
const (
	// OptionFlags1
	Login7UseDB   uint8 = 0x20 // fUseDB: warn on a database change
	Login7SetLang uint8 = 0x80 // fSetLang: warn on a language change
	// OptionFlags2
	Login7ODBC        uint8 = 0x02 // fODBC
	Login7IntSecurity uint8 = 0x80 // fIntSecurity: integrated (SSPI) authentication
	// TypeFlags
	Login7ReadOnlyIntent uint8 = 0x20 // fReadOnlyIntent: ApplicationIntent=ReadOnly
	// OptionFlags3
	Login7ChangePassword           uint8 = 0x01 // fChangePassword
	Login7UserInstance             uint8 = 0x04 // fUserInstance
	Login7UnknownCollationHandling uint8 = 0x08 // fUnknownCollationHandling
	Login7Extension                uint8 = 0x10 // fExtension: ibExtension points to a FeatureExt offset
)

const (
	login7FixedLen   = 94 // fixed part, TDS 7.1 and later
	login7FixedLen70 = 86 // fixed part of TDS 7.0: no ibChangePassword, cbSSPILong
	login7MaxLen     = 128<<10 - 1
	login7Fields     = 12 // offset/length pairs
)

// Indexes of the offset/length pairs, in wire order.
const (
	fHostName = iota
	fUserName
	fPassword
	fAppName
	fServerName
	fExtension // ibUnused/cbUnused when fExtension is not set
	fCltIntName
	fLanguage
	fDatabase
	fSSPI
	fAtchDBFile
	fChangePassword
)

var login7FieldNames = [login7Fields]string{
	"ibHostName", "ibUserName", "ibPassword", "ibAppName", "ibServerName", "ibExtension",
	"ibCltIntName", "ibLanguage", "ibDatabase", "ibSSPI", "ibAtchDBFile", "ibChangePassword",
}

// pairPos returns where the offset/length pair of field i sits in the fixed part.
func pairPos(i int) int {
	if i < fSSPI {
		return 36 + 4*i
	}
	return 78 + 4*(i-fSSPI)
}

// Login7 is the LOGIN7 message ([MS-TDS] §2.2.6.4). Password and
// ChangePassword hold clear text; they are obfuscated on the wire. String and
// GoString never show them.
type Login7 struct {
	TDSVersion     uint32 // e.g. VerTDS74
	PacketSize     uint32 // requested packet size
	ClientProgVer  uint32
	ClientPID      uint32
	ConnectionID   uint32
	OptionFlags1   uint8
	OptionFlags2   uint8 // Login7IntSecurity, Login7ODBC, ...
	TypeFlags      uint8 // Login7ReadOnlyIntent, ...
	OptionFlags3   uint8 // Login7Extension, ...
	ClientTimeZone int32
	ClientLCID     uint32

	HostName   string
	UserName   string
	Password   string
	AppName    string
	ServerName string
	CltIntName string // client interface library, e.g. "go-mssqldb", "ODBC"
	Language   string
	Database   string
	ClientID   [6]byte // usually the client's MAC address

	SSPI           []byte // SSPI/NTLM/Kerberos token of integrated authentication
	AtchDBFile     string
	ChangePassword string

	// FeatureExt lists the feature extensions in order, without the
	// terminator. Append sets Login7Extension when it is not empty.
	FeatureExt []FeatureExt
	// Unused holds the bytes of the ibUnused slot when Login7Extension is not
	// set (normally none).
	Unused []byte

	// emptyOff records, for a decoded message, the offset each empty field
	// had on the wire (clients put 0 or the current position there), so that
	// Append reproduces the message byte for byte.
	emptyOff    [login7Fields]uint16
	hasEmptyOff bool
}

// ReadOnlyIntent reports ApplicationIntent=ReadOnly (TypeFlags fReadOnlyIntent).
func (l *Login7) ReadOnlyIntent() bool { return l.TypeFlags&Login7ReadOnlyIntent != 0 }

// IntegratedSecurity reports SSPI (Windows) authentication: fIntSecurity set
// or an SSPI token present.
func (l *Login7) IntegratedSecurity() bool {
	return l.OptionFlags2&Login7IntSecurity != 0 || len(l.SSPI) > 0
}

// FedAuth reports federated (Azure AD / Entra) authentication: a FEDAUTH
// feature extension is present.
func (l *Login7) FedAuth() bool {
	for _, f := range l.FeatureExt {
		if f.ID == FeatureFedAuth {
			return true
		}
	}
	return false
}

// Feature returns the feature extension with the given id, if present.
func (l *Login7) Feature(id FeatureID) (FeatureExt, bool) {
	for _, f := range l.FeatureExt {
		if f.ID == id {
			return f, true
		}
	}
	return FeatureExt{}, false
}

// String describes the login for logs. It never includes a password.
func (l Login7) String() string {
	return fmt.Sprintf("LOGIN7{tds=%s user=%q host=%q app=%q server=%q db=%q lib=%q packet=%d readonly=%t integrated=%t fedauth=%t features=%v}",
		tdsVersionString(l.TDSVersion), l.UserName, l.HostName, l.AppName, l.ServerName, l.Database,
		l.CltIntName, l.PacketSize, l.ReadOnlyIntent(), l.IntegratedSecurity(), l.FedAuth(), l.FeatureExt)
}

// GoString is String, so %#v cannot print the password either.
func (l Login7) GoString() string { return l.String() }

// tdsVersionString names a TDS version for logs.
func tdsVersionString(v uint32) string {
	switch v {
	case VerTDS70:
		return "7.0"
	case VerTDS71:
		return "7.1"
	case VerTDS72:
		return "7.2"
	case VerTDS73A:
		return "7.3A"
	case VerTDS73B:
		return "7.3B"
	case VerTDS74:
		return "7.4"
	}
	return fmt.Sprintf("0x%08X", v)
}

// DecodeLogin7 decodes a LOGIN7 message payload. It copies what it keeps.
func DecodeLogin7(b []byte) (*Login7, error) {
	const msg = "LOGIN7"
	if len(b) < login7FixedLen70 {
		return nil, formatErr(msg, "Length", "%d bytes, need at least %d", len(b), login7FixedLen70)
	}
	length := binary.LittleEndian.Uint32(b)
	if length > uint32(len(b)) || length > login7MaxLen || length < login7FixedLen70 {
		return nil, formatErr(msg, "Length", "%d, but the message has %d bytes (min %d, max %d)", length, len(b), login7FixedLen70, login7MaxLen)
	}
	b = b[:length]
	l := &Login7{
		TDSVersion:     binary.LittleEndian.Uint32(b[4:]),
		PacketSize:     binary.LittleEndian.Uint32(b[8:]),
		ClientProgVer:  binary.LittleEndian.Uint32(b[12:]),
		ClientPID:      binary.LittleEndian.Uint32(b[16:]),
		ConnectionID:   binary.LittleEndian.Uint32(b[20:]),
		OptionFlags1:   b[24],
		OptionFlags2:   b[25],
		TypeFlags:      b[26],
		OptionFlags3:   b[27],
		ClientTimeZone: int32(binary.LittleEndian.Uint32(b[28:])),
		ClientLCID:     binary.LittleEndian.Uint32(b[32:]),
		hasEmptyOff:    true,
	}
	copy(l.ClientID[:], b[72:78])
	fixed, nfields := login7FixedLen, login7Fields
	if l.TDSVersion == VerTDS70 {
		fixed, nfields = login7FixedLen70, fChangePassword
	}
	if len(b) < fixed {
		return nil, formatErr(msg, "Length", "%d bytes, need at least %d", len(b), fixed)
	}
	for i := 0; i < nfields; i++ {
		p := pairPos(i)
		off := int(binary.LittleEndian.Uint16(b[p:]))
		n := int(binary.LittleEndian.Uint16(b[p+2:]))
		name := login7FieldNames[i]
		switch i {
		case fSSPI, fExtension:
			// lengths in bytes
		default:
			n *= 2 // lengths in UCS-2 characters
		}
		if i == fSSPI && n == 0xFFFF && fixed == login7FixedLen {
			n = int(binary.LittleEndian.Uint32(b[90:]))
		}
		if n == 0 {
			l.emptyOff[i] = uint16(off)
			continue
		}
		if off < fixed || n > len(b)-off {
			return nil, formatErr(msg, name, "offset %d length %d outside the variable part [%d, %d)", off, n, fixed, len(b))
		}
		data := b[off : off+n]
		var err error
		switch i {
		case fHostName:
			l.HostName, err = DecodeUCS2(data)
		case fUserName:
			l.UserName, err = DecodeUCS2(data)
		case fPassword:
			l.Password, err = DeobfuscatePassword(data)
		case fAppName:
			l.AppName, err = DecodeUCS2(data)
		case fServerName:
			l.ServerName, err = DecodeUCS2(data)
		case fExtension:
			err = l.decodeExtension(b, data)
		case fCltIntName:
			l.CltIntName, err = DecodeUCS2(data)
		case fLanguage:
			l.Language, err = DecodeUCS2(data)
		case fDatabase:
			l.Database, err = DecodeUCS2(data)
		case fSSPI:
			l.SSPI = append([]byte(nil), data...)
		case fAtchDBFile:
			l.AtchDBFile, err = DecodeUCS2(data)
		case fChangePassword:
			l.ChangePassword, err = DeobfuscatePassword(data)
		}
		if err != nil {
			return nil, formatErr(msg, name, "%v", err)
		}
	}
	return l, nil
}

// decodeExtension reads the ibExtension slot: with fExtension it holds the
// u32 offset of the FeatureExt list, otherwise unused bytes.
func (l *Login7) decodeExtension(b, slot []byte) error {
	if l.OptionFlags3&Login7Extension == 0 {
		l.Unused = append([]byte(nil), slot...)
		return nil
	}
	if len(slot) < 4 {
		return fmt.Errorf("cbExtension %d, need 4", len(slot))
	}
	off := binary.LittleEndian.Uint32(slot)
	if off < login7FixedLen || uint64(off) >= uint64(len(b)) {
		return fmt.Errorf("FeatureExt offset %d outside the message (%d bytes)", off, len(b))
	}
	list, _, err := DecodeFeatureExtList(b[off:], "LOGIN7")
	if err != nil {
		return err
	}
	// Copy: the decoded list must not retain b.
	l.FeatureExt = make([]FeatureExt, len(list))
	for i, f := range list {
		l.FeatureExt[i] = FeatureExt{ID: f.ID, Data: append([]byte{}, f.Data...)}
	}
	return nil
}

// Append appends the LOGIN7 payload to dst. Variable data follows the fixed
// part in wire order of the offset/length pairs, then the FeatureExt list;
// empty fields point at the current position, or, for a decoded message,
// where they pointed on the wire. It fails when a field cannot be
// represented (offsets are 16 bits, the message is at most 128 KiB - 1).
func (l *Login7) Append(dst []byte) ([]byte, error) {
	start := len(dst)
	fixed, nfields := login7FixedLen, login7Fields
	if l.TDSVersion == VerTDS70 {
		fixed, nfields = login7FixedLen70, fChangePassword
		if l.ChangePassword != "" {
			return dst, fmt.Errorf("tds: LOGIN7: TDS 7.0 cannot carry ChangePassword")
		}
	}
	of3 := l.OptionFlags3
	if len(l.FeatureExt) > 0 {
		of3 |= Login7Extension
	}
	dst = binary.LittleEndian.AppendUint32(dst, 0) // Length, patched below
	for _, v := range []uint32{l.TDSVersion, l.PacketSize, l.ClientProgVer, l.ClientPID, l.ConnectionID} {
		dst = binary.LittleEndian.AppendUint32(dst, v)
	}
	dst = append(dst, l.OptionFlags1, l.OptionFlags2, l.TypeFlags, of3)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(l.ClientTimeZone))
	dst = binary.LittleEndian.AppendUint32(dst, l.ClientLCID)
	dst = append(dst, make([]byte, fixed-36)...) // pairs, ClientID, cbSSPILong: patched below
	copy(dst[start+72:], l.ClientID[:])
	var pairs [login7Fields][2]uint16

	extPos := -1
	var sspiLong uint32
	for i := 0; i < nfields; i++ {
		pos := len(dst) - start
		cnt := 0 // the length as written in the pair
		switch i {
		case fHostName, fUserName, fAppName, fServerName, fCltIntName, fLanguage, fDatabase, fAtchDBFile:
			s := [...]string{fHostName: l.HostName, fUserName: l.UserName, fAppName: l.AppName,
				fServerName: l.ServerName, fCltIntName: l.CltIntName, fLanguage: l.Language,
				fDatabase: l.Database, fAtchDBFile: l.AtchDBFile}[i]
			dst = AppendUCS2(dst, s)
			cnt = UCS2Len(s)
		case fPassword:
			dst = ObfuscatePassword(dst, l.Password)
			cnt = UCS2Len(l.Password)
		case fChangePassword:
			dst = ObfuscatePassword(dst, l.ChangePassword)
			cnt = UCS2Len(l.ChangePassword)
		case fExtension:
			if of3&Login7Extension != 0 {
				extPos = pos
				dst = append(dst, 0, 0, 0, 0) // FeatureExt offset, patched below
				cnt = 4
			} else {
				dst = append(dst, l.Unused...)
				cnt = len(l.Unused)
			}
		case fSSPI:
			dst = append(dst, l.SSPI...)
			cnt = len(l.SSPI)
			if cnt >= 0xFFFF {
				if fixed != login7FixedLen {
					return dst[:start], fmt.Errorf("tds: LOGIN7: SSPI of %d bytes needs TDS 7.1+", cnt)
				}
				sspiLong, cnt = uint32(cnt), 0xFFFF
			}
		}
		if cnt == 0 {
			switch {
			case l.hasEmptyOff:
				pos = int(l.emptyOff[i])
			case pos > 0xFFFF: // after a long SSPI token
				pos = 0
			}
		}
		if pos > 0xFFFF || cnt > 0xFFFF {
			return dst[:start], fmt.Errorf("tds: LOGIN7: field %s does not fit (offset %d, length %d)", login7FieldNames[i], pos, cnt)
		}
		pairs[i] = [2]uint16{uint16(pos), uint16(cnt)}
	}
	hdr := dst[start : start+fixed]
	for i := 0; i < nfields; i++ {
		p := pairPos(i)
		binary.LittleEndian.PutUint16(hdr[p:], pairs[i][0])
		binary.LittleEndian.PutUint16(hdr[p+2:], pairs[i][1])
	}
	if fixed == login7FixedLen {
		binary.LittleEndian.PutUint32(hdr[90:], sspiLong)
	}
	if extPos >= 0 {
		binary.LittleEndian.PutUint32(dst[start+extPos:], uint32(len(dst)-start))
		dst = AppendFeatureExtList(dst, l.FeatureExt)
	}
	total := len(dst) - start
	if total > login7MaxLen {
		return dst[:start], fmt.Errorf("tds: LOGIN7: %d bytes exceed the maximum %d", total, login7MaxLen)
	}
	binary.LittleEndian.PutUint32(dst[start:], uint32(total))
	return dst, nil
}

// ObfuscatePassword appends s as UTF-16LE with each byte's nibbles swapped and
// then XORed with 0xA5, the LOGIN7 password encoding ([MS-TDS] §2.2.6.4).
func ObfuscatePassword(dst []byte, s string) []byte {
	n := len(dst)
	dst = AppendUCS2(dst, s)
	for i := n; i < len(dst); i++ {
		c := dst[i]
		dst[i] = (c<<4 | c>>4) ^ 0xA5
	}
	return dst
}

// DeobfuscatePassword reverses ObfuscatePassword.
func DeobfuscatePassword(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", errOddUCS2
	}
	u := make([]byte, len(b))
	for i, c := range b {
		c ^= 0xA5
		u[i] = c<<4 | c>>4
	}
	s, err := DecodeUCS2(u)
	clear(u)
	return s, err
}
