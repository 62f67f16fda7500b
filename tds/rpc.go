package tds

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Well-known procedure ids of an RPC request sent by id instead of by name
// ([MS-TDS] §2.2.6.6).
const (
	ProcSpCursor          uint16 = 1
	ProcSpCursorOpen      uint16 = 2
	ProcSpCursorPrepare   uint16 = 3
	ProcSpCursorExecute   uint16 = 4
	ProcSpCursorPrepExec  uint16 = 5
	ProcSpCursorUnprepare uint16 = 6
	ProcSpCursorFetch     uint16 = 7
	ProcSpCursorOption    uint16 = 8
	ProcSpCursorClose     uint16 = 9
	ProcSpExecuteSQL      uint16 = 10
	ProcSpPrepare         uint16 = 11
	ProcSpExecute         uint16 = 12
	ProcSpPrepExec        uint16 = 13
	ProcSpPrepExecRPC     uint16 = 14
	ProcSpUnprepare       uint16 = 15
)

var procNames = [...]string{
	ProcSpCursor: "sp_cursor", ProcSpCursorOpen: "sp_cursoropen", ProcSpCursorPrepare: "sp_cursorprepare",
	ProcSpCursorExecute: "sp_cursorexecute", ProcSpCursorPrepExec: "sp_cursorprepexec",
	ProcSpCursorUnprepare: "sp_cursorunprepare", ProcSpCursorFetch: "sp_cursorfetch",
	ProcSpCursorOption: "sp_cursoroption", ProcSpCursorClose: "sp_cursorclose",
	ProcSpExecuteSQL: "sp_executesql", ProcSpPrepare: "sp_prepare", ProcSpExecute: "sp_execute",
	ProcSpPrepExec: "sp_prepexec", ProcSpPrepExecRPC: "sp_prepexecrpc", ProcSpUnprepare: "sp_unprepare",
}

// ProcName returns the name of a well-known procedure id ("" if unknown).
func ProcName(id uint16) string {
	if int(id) < len(procNames) {
		return procNames[id]
	}
	return ""
}

// RPC option flags ([MS-TDS] §2.2.6.6).
const (
	RPCWithRecompile uint16 = 0x01
	RPCNoMetadata    uint16 = 0x02
	RPCReuseMetadata uint16 = 0x04
)

// RPC parameter status flags ([MS-TDS] §2.2.6.6).
const (
	ParamByRef     uint8 = 0x01 // OUTPUT parameter
	ParamDefault   uint8 = 0x02 // use the default value
	ParamEncrypted uint8 = 0x08 // Always Encrypted (not supported)
)

// Separators between the calls of one RPC request.
const (
	RPCBatchFlag   byte = 0xFF // TDS 7.2+
	RPCBatchFlag71 byte = 0x80 // before TDS 7.2
	RPCNoExecFlag  byte = 0xFE
)

// RPCRequest is an RPC request message ([MS-TDS] §2.2.6.6): optional
// ALL_HEADERS and one or more calls.
type RPCRequest struct {
	Headers    AllHeaders
	HasHeaders bool
	Calls      []RPCCall
}

// RPCCall is one RPCReqBatch: a procedure by name or well-known id, its
// option flags and parameters. BatchFlag is the separator that followed
// the call on the wire (0 when none).
type RPCCall struct {
	ProcName    string
	ProcID      uint16 // used when ProcName is ""
	OptionFlags uint16
	Params      []Param
	BatchFlag   byte
}

// Param is one RPC parameter. Raw holds the value's wire bytes (length
// prefix included) and is what Append writes when set; Value is the
// decoded Go value (see AppendValue for the representations). DecodeErr is
// set, and Value nil, when well-formed bytes could not be converted (for
// example VARCHAR in an unsupported code page).
type Param struct {
	Name      string
	Status    uint8
	Type      TypeInfo
	Raw       []byte
	Value     any
	DecodeErr error
}

// ProcNameOrID returns the procedure name, or for a call by id the
// well-known name (e.g. "sp_executesql"), or "procid:N" for unknown ids.
func (c *RPCCall) ProcNameOrID() string {
	if c.ProcName != "" {
		return c.ProcName
	}
	if n := ProcName(c.ProcID); n != "" {
		return n
	}
	return fmt.Sprintf("procid:%d", c.ProcID)
}

// stmtParam gives, per system procedure, the 1-based position of the
// parameter holding SQL text. Clients may also name it: @stmt (the
// documented name) or @statement (tedious).
var stmtParam = map[string]int{
	"sp_executesql":     1,
	"sp_prepare":        3,
	"sp_prepexec":       3,
	"sp_cursoropen":     2,
	"sp_cursorprepare":  3,
	"sp_cursorprepexec": 4,
}

// SQLText returns the SQL statement text carried by a call to one of the
// system procedures that take one (sp_executesql, sp_prepare, sp_prepexec,
// sp_cursoropen, sp_cursorprepare, sp_cursorprepexec), whether called by id
// or by name (schema/database prefixes, brackets and case ignored). The
// parameter is found by name (@stmt or @statement) or else by position.
// ok is false for other procedures or when the parameter is missing or not
// text.
func (c *RPCCall) SQLText() (text string, ok bool) {
	name := strings.ToLower(c.ProcNameOrID())
	name = name[strings.LastIndexByte(name, '.')+1:]
	name = strings.Trim(name, "[]")
	pos, known := stmtParam[name]
	if !known {
		return "", false
	}
	for _, p := range c.Params {
		if strings.EqualFold(p.Name, "@stmt") || strings.EqualFold(p.Name, "@statement") {
			s, isText := p.Value.(string)
			return s, isText
		}
	}
	if len(c.Params) < pos {
		return "", false
	}
	s, isText := c.Params[pos-1].Value.(string)
	return s, isText
}

// DecodeRPCRequest decodes an RPC request message payload. From TDS 7.2
// ALL_HEADERS is required; before (or with tdsVersion 0, unknown), it is
// decoded when present, and before 7.2 0x80 also separates calls.
// Everything kept is copied.
func DecodeRPCRequest(b []byte, tdsVersion uint32) (*RPCRequest, error) {
	req := &RPCRequest{}
	rest := b
	if tdsVersion >= VerTDS72 || hasAllHeaders(b) {
		h, r, err := DecodeAllHeaders(b)
		if err != nil {
			return nil, fmt.Errorf("tds: decoding RPC request: %w", err)
		}
		req.Headers, req.HasHeaders, rest = cloneHeaders(h), true, r
	}
	base := len(b) - len(rest)
	if len(rest) == 0 {
		return nil, formatErr("RPC", "RPCReqBatch", "no procedure call")
	}
	for off := 0; off < len(rest); {
		c, n, err := decodeRPCCall(rest[off:], tdsVersion)
		if err != nil {
			return nil, fmt.Errorf("tds: decoding RPC call %d at offset %d: %w", len(req.Calls)+1, base+off, err)
		}
		off += n
		if off < len(rest) {
			if !isRPCSeparator(rest[off], tdsVersion) {
				return nil, formatErr("RPC", "BatchFlag", "unexpected byte 0x%02X at offset %d", rest[off], base+off)
			}
			c.BatchFlag = rest[off]
			off++
		}
		req.Calls = append(req.Calls, c)
	}
	return req, nil
}

func isRPCSeparator(c byte, ver uint32) bool {
	return c == RPCBatchFlag || c == RPCNoExecFlag || (c == RPCBatchFlag71 && ver != 0 && ver < VerTDS72)
}

func decodeRPCCall(b []byte, ver uint32) (RPCCall, int, error) {
	const msg = "RPC"
	var c RPCCall
	r := newReader(b)
	nameLen := r.u16()
	if !r.ok {
		return c, 0, formatErr(msg, "NameLenProcID", "%d bytes, need 2", len(b))
	}
	if nameLen == 0xFFFF {
		c.ProcID = r.u16()
		if !r.ok {
			return c, 0, formatErr(msg, "ProcID", "missing")
		}
		if c.ProcID == 0 {
			return c, 0, formatErr(msg, "ProcID", "0")
		}
	} else {
		if nameLen == 0 {
			return c, 0, formatErr(msg, "ProcName", "empty")
		}
		raw := r.bytes(2 * int(nameLen))
		if !r.ok {
			return c, 0, formatErr(msg, "ProcName", "%d characters overrun the message", nameLen)
		}
		if !wellFormedUTF16(raw) {
			return c, 0, formatErr(msg, "ProcName", "invalid UTF-16 (unpaired surrogate)")
		}
		c.ProcName, _ = DecodeUCS2(raw)
	}
	c.OptionFlags = r.u16()
	if !r.ok {
		return c, 0, formatErr(msg, "OptionFlags", "missing")
	}
	for r.off < len(b) && !isRPCSeparator(b[r.off], ver) {
		p, n, err := decodeParam(b[r.off:])
		if err != nil {
			name := fmt.Sprintf("parameter %d", len(c.Params)+1)
			return c, 0, fmt.Errorf("%s: %w", name, err)
		}
		c.Params = append(c.Params, p)
		r.off += n
	}
	return c, r.off, nil
}

func decodeParam(b []byte) (Param, int, error) {
	const msg = "RPC parameter"
	var p Param
	r := newReader(b)
	rawName := r.bytes(2 * int(r.u8()))
	p.Status = r.u8()
	if !r.ok {
		return p, 0, formatErr(msg, "ParamMetaData", "truncated name or status")
	}
	if !wellFormedUTF16(rawName) {
		return p, 0, formatErr(msg, "ParamName", "invalid UTF-16 (unpaired surrogate)")
	}
	p.Name, _ = DecodeUCS2(rawName)
	if p.Status&ParamEncrypted != 0 {
		return p, 0, formatErr(msg, "StatusFlags", "encrypted parameter (Always Encrypted) not supported")
	}
	t, n, err := decodeTypeInfo(b[r.off:], tiParam)
	if err != nil {
		if isShort(err) {
			return p, 0, formatErr(msg, "TYPE_INFO", "truncated")
		}
		return p, 0, err
	}
	p.Type = t
	r.off += n
	vb := b[r.off:]
	if t.Type == TypeTVP {
		tv, m, err := decodeTVP(vb, true)
		if err != nil {
			if isShort(err) {
				return p, 0, formatErr(msg, "TVP", "truncated")
			}
			return p, 0, err
		}
		p.Value, p.Raw = tv, append([]byte(nil), vb[:m]...)
		return p, r.off + m, nil
	}
	data, null, m, err := valueData(t, vb, ctxParam)
	if err != nil {
		if isShort(err) {
			return p, 0, formatErr(msg, "value", "truncated %s value", t.Type)
		}
		return p, 0, err
	}
	p.Raw = append([]byte(nil), vb[:m]...)
	if !null {
		if v, err := convertData(t, data); err != nil {
			p.DecodeErr = err
		} else {
			p.Value = v
		}
	}
	return p, r.off + m, nil
}

// Append appends the request: ALL_HEADERS when HasHeaders, then each call
// and its BatchFlag. Parameters are written from Raw when set, else
// encoded from Value.
func (req *RPCRequest) Append(dst []byte) ([]byte, error) {
	if req.HasHeaders {
		dst = req.Headers.Append(dst)
	}
	for i := range req.Calls {
		var err error
		if dst, err = req.Calls[i].Append(dst); err != nil {
			return dst, fmt.Errorf("tds: RPC call %d: %w", i+1, err)
		}
	}
	return dst, nil
}

// Append appends one call (RPCReqBatch) followed by its BatchFlag, if any.
func (c *RPCCall) Append(dst []byte) ([]byte, error) {
	if c.ProcName != "" {
		dst = binary.LittleEndian.AppendUint16(dst, uint16(UCS2Len(c.ProcName)))
		dst = AppendUCS2(dst, c.ProcName)
	} else {
		dst = append(dst, 0xFF, 0xFF)
		dst = binary.LittleEndian.AppendUint16(dst, c.ProcID)
	}
	dst = binary.LittleEndian.AppendUint16(dst, c.OptionFlags)
	for i, p := range c.Params {
		dst = appendBVarchar(dst, p.Name)
		dst = append(dst, p.Status)
		dst = p.Type.appendCtx(dst, tiParam)
		if p.Raw != nil {
			dst = append(dst, p.Raw...)
			continue
		}
		var err error
		if dst, err = appendValue(dst, p.Type, p.Value, ctxParam); err != nil {
			return dst, fmt.Errorf("parameter %d (%s): %w", i+1, p.Name, err)
		}
	}
	if c.BatchFlag != 0 {
		dst = append(dst, c.BatchFlag)
	}
	return dst, nil
}

// wellFormedUTF16 reports whether UTF-16LE bytes (even length) have no
// unpaired surrogates, so that decoding and re-encoding is lossless.
func wellFormedUTF16(b []byte) bool {
	for i := 0; i+1 < len(b); i += 2 {
		u := uint16(b[i]) | uint16(b[i+1])<<8
		switch {
		case u >= 0xD800 && u < 0xDC00:
			if i+3 >= len(b) {
				return false
			}
			v := uint16(b[i+2]) | uint16(b[i+3])<<8
			if v < 0xDC00 || v >= 0xE000 {
				return false
			}
			i += 2
		case u >= 0xDC00 && u < 0xE000:
			return false
		}
	}
	return true
}
