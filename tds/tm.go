package tds

import (
	"encoding/binary"
	"fmt"
)

// TMType is the RequestType of a transaction manager request
// ([MS-TDS] §2.2.6.9).
type TMType uint16

// Transaction manager request types ([MS-TDS] §2.2.6.9).
const (
	TMGetDTCAddress TMType = 0 // TM_GET_DTC_ADDRESS
	TMPropagateXact TMType = 1 // TM_PROPAGATE_XACT
	TMBeginXact     TMType = 5 // TM_BEGIN_XACT
	TMPromoteXact   TMType = 6 // TM_PROMOTE_XACT
	TMCommitXact    TMType = 7 // TM_COMMIT_XACT
	TMRollbackXact  TMType = 8 // TM_ROLLBACK_XACT
	TMSaveXact      TMType = 9 // TM_SAVE_XACT
)

var tmTypeNames = map[TMType]string{
	TMGetDTCAddress: "TM_GET_DTC_ADDRESS", TMPropagateXact: "TM_PROPAGATE_XACT",
	TMBeginXact: "TM_BEGIN_XACT", TMPromoteXact: "TM_PROMOTE_XACT", TMCommitXact: "TM_COMMIT_XACT",
	TMRollbackXact: "TM_ROLLBACK_XACT", TMSaveXact: "TM_SAVE_XACT",
}

// String returns the spec name, or TMType(N).
func (t TMType) String() string {
	if s, ok := tmTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("TMType(%d)", uint16(t))
}

// IsolationLevel is a transaction isolation level as sent in TM_BEGIN_XACT
// ([MS-TDS] §2.2.6.9).
type IsolationLevel uint8

// Isolation levels ([MS-TDS] §2.2.6.9).
const (
	IsolationNoChange        IsolationLevel = 0
	IsolationReadUncommitted IsolationLevel = 1
	IsolationReadCommitted   IsolationLevel = 2
	IsolationRepeatableRead  IsolationLevel = 3
	IsolationSerializable    IsolationLevel = 4
	IsolationSnapshot        IsolationLevel = 5
)

// TMBeginXactFlag is the XACT_FLAGS bit of TM_COMMIT_XACT and
// TM_ROLLBACK_XACT asking the server to begin a new transaction.
const TMBeginXactFlag uint8 = 0x01

// TMRequest is a transaction manager request ([MS-TDS] §2.2.6.9).
// SqlClient's BeginTransaction and go-mssqldb's BeginTx use these instead of
// T-SQL, so a proxy must look at them to follow transactions.
type TMRequest struct {
	Headers AllHeaders
	Type    TMType
	// IsolationLevel: TM_BEGIN_XACT, and TM_COMMIT/ROLLBACK_XACT with
	// TMBeginXactFlag.
	IsolationLevel IsolationLevel
	// Name: the transaction (or savepoint) name of BEGIN, COMMIT, ROLLBACK,
	// SAVE; may be empty.
	Name string
	// Flags (XACT_FLAGS) of COMMIT and ROLLBACK; HasFlags is false when the
	// client omitted the byte.
	Flags    uint8
	HasFlags bool
	// NewName is the name of the transaction COMMIT/ROLLBACK begins when
	// Flags has TMBeginXactFlag.
	NewName string
	// Cookie: TM_PROPAGATE_XACT's transaction cookie (US_VARBYTE);
	// TM_GET_DTC_ADDRESS carries an empty one.
	Cookie []byte
}

// DecodeTMRequest decodes a TM request payload (ALL_HEADERS first; it is
// required for every TDS version that has TM requests). It copies what it
// keeps. Unknown request types and trailing bytes are errors.
func DecodeTMRequest(b []byte) (*TMRequest, error) {
	const msg = "TM request"
	h, rest, err := DecodeAllHeaders(b)
	if err != nil {
		return nil, fmt.Errorf("tds: decoding TM request: %w", err)
	}
	t := &TMRequest{Headers: cloneHeaders(h)}
	if len(rest) < 2 {
		return nil, formatErr(msg, "RequestType", "%d bytes, need 2", len(rest))
	}
	t.Type = TMType(binary.LittleEndian.Uint16(rest))
	d := &tmReader{b: rest[2:], msg: msg}
	switch t.Type {
	case TMGetDTCAddress, TMPropagateXact:
		t.Cookie = d.usVarByte("RequestPayload")
	case TMBeginXact:
		t.IsolationLevel = IsolationLevel(d.byte("ISOLATION_LEVEL"))
		t.Name = d.bVarChar("BEGIN_XACT_NAME")
	case TMPromoteXact:
	case TMCommitXact, TMRollbackXact:
		t.Name = d.bVarChar("XACT_NAME")
		if d.err == nil && len(d.b) > 0 {
			t.HasFlags = true
			t.Flags = d.byte("XACT_FLAGS")
			if t.Flags&TMBeginXactFlag != 0 {
				t.IsolationLevel = IsolationLevel(d.byte("ISOLATION_LEVEL"))
				t.NewName = d.bVarChar("BEGIN_XACT_NAME")
			}
		}
	case TMSaveXact:
		t.Name = d.bVarChar("XACT_NAME")
	default:
		return nil, formatErr(msg, "RequestType", "unknown type %d", uint16(t.Type))
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, formatErr(msg, t.Type.String(), "%d trailing bytes", len(d.b))
	}
	return t, nil
}

// Append appends the TM request payload to dst.
func (t *TMRequest) Append(dst []byte) []byte {
	dst = t.Headers.Append(dst)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(t.Type))
	switch t.Type {
	case TMGetDTCAddress, TMPropagateXact:
		dst = binary.LittleEndian.AppendUint16(dst, uint16(len(t.Cookie)))
		dst = append(dst, t.Cookie...)
	case TMBeginXact:
		dst = append(dst, byte(t.IsolationLevel))
		dst = appendTMName(dst, t.Name)
	case TMCommitXact, TMRollbackXact:
		dst = appendTMName(dst, t.Name)
		if t.HasFlags || t.Flags != 0 {
			dst = append(dst, t.Flags)
			if t.Flags&TMBeginXactFlag != 0 {
				dst = append(dst, byte(t.IsolationLevel))
				dst = appendTMName(dst, t.NewName)
			}
		}
	case TMSaveXact:
		dst = appendTMName(dst, t.Name)
	}
	return dst
}

// String describes the request for logs.
func (t *TMRequest) String() string {
	return fmt.Sprintf("TMRequest{%v tx=%#x name=%q isolation=%d flags=%#x}", t.Type, t.Headers.TxDescriptor, t.Name, t.IsolationLevel, t.Flags)
}

// appendTMName appends a transaction name as B_VARCHAR: a character count byte and UCS-2.
// Longer strings are cut to 255 UTF-16 code units.
func appendTMName(dst []byte, s string) []byte {
	u := AppendUCS2(nil, s)
	if len(u) > 510 {
		u = u[:510]
	}
	dst = append(dst, byte(len(u)/2))
	return append(dst, u...)
}

// tmReader reads the fields of a TM request payload; the first error sticks.
type tmReader struct {
	b   []byte
	msg string
	err error
}

func (r *tmReader) take(field string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = formatErr(r.msg, field, "need %d bytes, have %d", n, len(r.b))
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *tmReader) byte(field string) uint8 {
	if v := r.take(field, 1); v != nil {
		return v[0]
	}
	return 0
}

func (r *tmReader) bVarChar(field string) string {
	n := int(r.byte(field))
	v := r.take(field, 2*n)
	if r.err != nil {
		return ""
	}
	s, err := DecodeUCS2(v)
	if err != nil {
		r.err = formatErr(r.msg, field, "%v", err)
	}
	return s
}

func (r *tmReader) usVarByte(field string) []byte {
	l := r.take(field, 2)
	if r.err != nil {
		return nil
	}
	v := r.take(field, int(binary.LittleEndian.Uint16(l)))
	if r.err != nil {
		return nil
	}
	return append([]byte{}, v...)
}
