package tds

import (
	"encoding/binary"
	"fmt"
)

// PreloginToken identifies a PRELOGIN option ([MS-TDS] §2.2.6.5).
type PreloginToken uint8

// PRELOGIN option tokens ([MS-TDS] §2.2.6.5).
const (
	PreloginVersion         PreloginToken = 0x00
	PreloginEncryption      PreloginToken = 0x01
	PreloginInstOpt         PreloginToken = 0x02
	PreloginThreadID        PreloginToken = 0x03
	PreloginMARS            PreloginToken = 0x04
	PreloginTraceID         PreloginToken = 0x05
	PreloginFedAuthRequired PreloginToken = 0x06
	PreloginNonce           PreloginToken = 0x07
	PreloginTerminator      PreloginToken = 0xFF
)

var preloginTokenNames = map[PreloginToken]string{
	PreloginVersion: "VERSION", PreloginEncryption: "ENCRYPTION", PreloginInstOpt: "INSTOPT",
	PreloginThreadID: "THREADID", PreloginMARS: "MARS", PreloginTraceID: "TRACEID",
	PreloginFedAuthRequired: "FEDAUTHREQUIRED", PreloginNonce: "NONCEOPT", PreloginTerminator: "TERMINATOR",
}

// String returns the spec name of the option, or PreloginToken(0xNN).
func (t PreloginToken) String() string {
	if s, ok := preloginTokenNames[t]; ok {
		return s
	}
	return fmt.Sprintf("PreloginToken(0x%02X)", uint8(t))
}

// Encryption is the value of the PRELOGIN ENCRYPTION option
// ([MS-TDS] §2.2.6.5). EncryptClientCert may be OR-ed with another value.
type Encryption uint8

// ENCRYPTION option values ([MS-TDS] §2.2.6.5).
const (
	EncryptOff        Encryption = 0x00 // encrypt the login packet only
	EncryptOn         Encryption = 0x01 // encryption on
	EncryptNotSup     Encryption = 0x02 // encryption not supported
	EncryptReq        Encryption = 0x03 // encryption required
	EncryptClientCert Encryption = 0x80 // client certificate authentication (flag)
)

// String returns the spec name, e.g. ENCRYPT_ON or ENCRYPT_ON|CLIENT_CERT.
func (e Encryption) String() string {
	var s string
	switch e &^ EncryptClientCert {
	case EncryptOff:
		s = "ENCRYPT_OFF"
	case EncryptOn:
		s = "ENCRYPT_ON"
	case EncryptNotSup:
		s = "ENCRYPT_NOT_SUP"
	case EncryptReq:
		s = "ENCRYPT_REQ"
	default:
		s = fmt.Sprintf("Encryption(0x%02X)", uint8(e&^EncryptClientCert))
	}
	if e&EncryptClientCert != 0 {
		s += "|CLIENT_CERT"
	}
	return s
}

// PreloginOption is a PRELOGIN option this package does not interpret, kept
// so that a decoded message re-encodes unchanged.
type PreloginOption struct {
	Token PreloginToken
	Data  []byte
}

// Prelogin is the PRELOGIN message of a client or a server
// ([MS-TDS] §2.2.6.5). Each Has field reports whether the option is present;
// an option present with no data (servers send an empty THREADID) keeps its
// zero value and re-encodes with length 0.
type Prelogin struct {
	Version    uint32 // major, minor, build (big-endian u16), e.g. 0x0C0007D0 = 12.0.2000
	SubBuild   uint16
	HasVersion bool

	Encryption    Encryption
	HasEncryption bool

	InstOpt    []byte // instance name, NUL-terminated; a server answers 0 (match) or 1
	HasInstOpt bool

	ThreadID    uint32 // little-endian on the wire
	HasThreadID bool

	MARS    bool
	HasMARS bool

	TraceID    []byte // 36 bytes: connection id, activity id, sequence
	HasTraceID bool

	FedAuthRequired    bool
	HasFedAuthRequired bool

	Nonce    []byte // 32 bytes
	HasNonce bool

	// Unknown holds options with tokens this package does not know.
	Unknown []PreloginOption

	order []PreloginToken // option order as decoded
	empty uint16          // bit per known token: present with length 0
}

// String describes the options for logs.
func (p *Prelogin) String() string {
	return fmt.Sprintf("PRELOGIN{version=%d.%d.%d.%d encryption=%v mars=%t fedauth=%t instopt=%q threadid=%d traceid=%t nonce=%t unknown=%d}",
		p.Version>>24, p.Version>>16&0xFF, p.Version&0xFFFF, p.SubBuild, p.Encryption, p.MARS,
		p.FedAuthRequired, p.InstOpt, p.ThreadID, p.HasTraceID, p.HasNonce, len(p.Unknown))
}

// preloginLen gives the data length a known option must have; -1: any.
func preloginLen(t PreloginToken) int {
	switch t {
	case PreloginVersion:
		return 6
	case PreloginEncryption, PreloginMARS, PreloginFedAuthRequired:
		return 1
	case PreloginThreadID:
		return 4
	case PreloginTraceID:
		return 36
	case PreloginNonce:
		return 32
	}
	return -1
}

// DecodePrelogin decodes a PRELOGIN payload (not one carrying TLS). It copies
// what it keeps.
func DecodePrelogin(b []byte) (*Prelogin, error) {
	const msg = "PRELOGIN"
	p := &Prelogin{}
	seen := map[PreloginToken]bool{}
	for i := 0; ; i += 5 {
		if i >= len(b) {
			return nil, formatErr(msg, "option list", "not terminated by 0xFF (%d bytes)", len(b))
		}
		tok := PreloginToken(b[i])
		if tok == PreloginTerminator {
			break
		}
		if len(b)-i < 5 {
			return nil, formatErr(msg, tok.String(), "truncated option entry at %d", i)
		}
		off := int(binary.BigEndian.Uint16(b[i+1:]))
		n := int(binary.BigEndian.Uint16(b[i+3:]))
		if off > len(b) || n > len(b)-off {
			return nil, formatErr(msg, tok.String(), "offset %d length %d beyond %d bytes", off, n, len(b))
		}
		if seen[tok] {
			return nil, formatErr(msg, tok.String(), "option repeated")
		}
		seen[tok] = true
		p.order = append(p.order, tok)
		data := b[off : off+n]
		if want := preloginLen(tok); want >= 0 && n != want && n != 0 {
			return nil, formatErr(msg, tok.String(), "length %d, want %d", n, want)
		}
		if n == 0 && tok <= PreloginNonce {
			p.empty |= 1 << tok
		}
		switch tok {
		case PreloginVersion:
			p.HasVersion = true
			if n > 0 {
				p.Version = binary.BigEndian.Uint32(data)
				p.SubBuild = binary.BigEndian.Uint16(data[4:])
			}
		case PreloginEncryption:
			p.HasEncryption = true
			if n > 0 {
				p.Encryption = Encryption(data[0])
			}
		case PreloginInstOpt:
			p.HasInstOpt = true
			p.InstOpt = append([]byte(nil), data...)
		case PreloginThreadID:
			p.HasThreadID = true
			if n > 0 {
				p.ThreadID = binary.LittleEndian.Uint32(data)
			}
		case PreloginMARS:
			p.HasMARS = true
			p.MARS = n > 0 && data[0] != 0
		case PreloginTraceID:
			p.HasTraceID = true
			p.TraceID = append([]byte(nil), data...)
		case PreloginFedAuthRequired:
			p.HasFedAuthRequired = true
			p.FedAuthRequired = n > 0 && data[0] != 0
		case PreloginNonce:
			p.HasNonce = true
			p.Nonce = append([]byte(nil), data...)
		default:
			p.Unknown = append(p.Unknown, PreloginOption{Token: tok, Data: append([]byte(nil), data...)})
		}
	}
	return p, nil
}

// has reports whether option t is set to be encoded.
func (p *Prelogin) has(t PreloginToken) bool {
	switch t {
	case PreloginVersion:
		return p.HasVersion
	case PreloginEncryption:
		return p.HasEncryption
	case PreloginInstOpt:
		return p.HasInstOpt
	case PreloginThreadID:
		return p.HasThreadID
	case PreloginMARS:
		return p.HasMARS
	case PreloginTraceID:
		return p.HasTraceID
	case PreloginFedAuthRequired:
		return p.HasFedAuthRequired
	case PreloginNonce:
		return p.HasNonce
	}
	for _, u := range p.Unknown {
		if u.Token == t {
			return true
		}
	}
	return false
}

// optionData appends the data of option t.
func (p *Prelogin) optionData(dst []byte, t PreloginToken) []byte {
	if t <= PreloginNonce && p.empty&(1<<t) != 0 && p.isZero(t) {
		return dst // present with length 0, unchanged since decoding
	}
	switch t {
	case PreloginVersion:
		dst = binary.BigEndian.AppendUint32(dst, p.Version)
		return binary.BigEndian.AppendUint16(dst, p.SubBuild)
	case PreloginEncryption:
		return append(dst, byte(p.Encryption))
	case PreloginInstOpt:
		return append(dst, p.InstOpt...)
	case PreloginThreadID:
		return binary.LittleEndian.AppendUint32(dst, p.ThreadID)
	case PreloginMARS:
		return append(dst, b2u8(p.MARS))
	case PreloginTraceID:
		return append(dst, p.TraceID...)
	case PreloginFedAuthRequired:
		return append(dst, b2u8(p.FedAuthRequired))
	case PreloginNonce:
		return append(dst, p.Nonce...)
	}
	for _, u := range p.Unknown {
		if u.Token == t {
			return append(dst, u.Data...)
		}
	}
	return dst
}

// isZero reports whether option t holds its zero value.
func (p *Prelogin) isZero(t PreloginToken) bool {
	switch t {
	case PreloginVersion:
		return p.Version == 0 && p.SubBuild == 0
	case PreloginEncryption:
		return p.Encryption == 0
	case PreloginInstOpt:
		return len(p.InstOpt) == 0
	case PreloginThreadID:
		return p.ThreadID == 0
	case PreloginMARS:
		return !p.MARS
	case PreloginTraceID:
		return len(p.TraceID) == 0
	case PreloginFedAuthRequired:
		return !p.FedAuthRequired
	case PreloginNonce:
		return len(p.Nonce) == 0
	}
	return false
}

func b2u8(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// Append appends the PRELOGIN payload to dst: options in the order they were
// decoded (then any newly set ones in token order, then unknown options), so
// a decoded message re-encodes byte for byte. VERSION comes first in a built
// message, as the spec requires.
func (p *Prelogin) Append(dst []byte) []byte {
	var toks []PreloginToken
	inOrder := map[PreloginToken]bool{}
	for _, t := range p.order {
		if p.has(t) && !inOrder[t] {
			toks = append(toks, t)
			inOrder[t] = true
		}
	}
	for t := PreloginVersion; t <= PreloginNonce; t++ {
		if p.has(t) && !inOrder[t] {
			toks = append(toks, t)
			inOrder[t] = true
		}
	}
	for _, u := range p.Unknown {
		if !inOrder[u.Token] && u.Token != PreloginTerminator {
			toks = append(toks, u.Token)
			inOrder[u.Token] = true
		}
	}
	start := len(dst)
	hdrLen := 5*len(toks) + 1
	dst = append(dst, make([]byte, hdrLen)...)
	for i, t := range toks {
		off := len(dst) - start
		dst = p.optionData(dst, t)
		e := dst[start+5*i:]
		e[0] = byte(t)
		binary.BigEndian.PutUint16(e[1:], uint16(off))
		binary.BigEndian.PutUint16(e[3:], uint16(len(dst)-start-off))
	}
	dst[start+hdrLen-1] = byte(PreloginTerminator)
	return dst
}

// EncryptionOutcome says what follows a PRELOGIN exchange.
type EncryptionOutcome int

// Outcomes of NegotiateEncryption.
const (
	NoTLS        EncryptionOutcome = iota // no TLS at all
	LoginOnlyTLS                          // TLS for the first LOGIN7 packet only
	FullTLS                               // TLS for the rest of the connection
	Refuse                                // the server ends the connection
)

// String names the outcome.
func (o EncryptionOutcome) String() string {
	switch o {
	case NoTLS:
		return "no TLS"
	case LoginOnlyTLS:
		return "login-only TLS"
	case FullTLS:
		return "full TLS"
	case Refuse:
		return "refuse"
	}
	return fmt.Sprintf("EncryptionOutcome(%d)", int(o))
}

// NegotiateEncryption applies the table of [MS-TDS] §3.3.5.1 (PROTOCOL.md §2):
// from the server's setting and the client's request it returns the value the
// server answers and what follows. A server set to EncryptReq behaves like
// EncryptOn. A client value this package does not know is taken as a request
// for encryption, so the answer is never a downgrade. The CLIENT_CERT flag is
// ignored. On Refuse the returned value is the server's own setting
// (EncryptNotSup or EncryptReq), which a server may still send so that the
// client reports a clear error.
func NegotiateEncryption(server, client Encryption) (Encryption, EncryptionOutcome) {
	client &^= EncryptClientCert
	server &^= EncryptClientCert
	if client > EncryptReq {
		client = EncryptOn
	}
	switch server {
	case EncryptNotSup:
		if client == EncryptOff || client == EncryptNotSup {
			return EncryptNotSup, NoTLS
		}
		return EncryptNotSup, Refuse
	case EncryptOff:
		switch client {
		case EncryptOff:
			return EncryptOff, LoginOnlyTLS
		case EncryptNotSup:
			return EncryptNotSup, NoTLS
		default: // ON, REQ
			return EncryptOn, FullTLS
		}
	default: // EncryptOn, EncryptReq and unknown server values: encryption required
		switch client {
		case EncryptOff:
			return EncryptReq, FullTLS
		case EncryptNotSup:
			return EncryptReq, Refuse
		default:
			return EncryptOn, FullTLS
		}
	}
}
