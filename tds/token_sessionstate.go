package tds

import (
	"encoding/binary"
	"fmt"
)

// maxTokenLen bounds tokens with a 4-byte length that the Walker buffers
// (SESSIONSTATE, FEDAUTHINFO, FEATUREEXTACK data).
const maxTokenLen = 1 << 20

// SessionState is the body of a SESSIONSTATE token ([MS-TDS] §2.2.7.21),
// sent when session recovery was negotiated.
type SessionState struct {
	SeqNo       uint32
	Recoverable bool // Status fRecoverable
	States      []SessionStateEntry
}

// SessionStateEntry is one StateId and its value.
type SessionStateEntry struct {
	ID    uint8
	Value []byte
}

// AppendSessionState appends a SESSIONSTATE token.
func AppendSessionState(dst []byte, s SessionState) []byte {
	dst = append(dst, byte(TokenSessionState), 0, 0, 0, 0)
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, s.SeqNo)
	if s.Recoverable {
		dst = append(dst, 1)
	} else {
		dst = append(dst, 0)
	}
	for _, e := range s.States {
		dst = append(dst, e.ID)
		if len(e.Value) < 0xFF {
			dst = append(dst, byte(len(e.Value)))
		} else {
			dst = append(dst, 0xFF)
			dst = binary.LittleEndian.AppendUint32(dst, uint32(len(e.Value)))
		}
		dst = append(dst, e.Value...)
	}
	binary.LittleEndian.PutUint32(dst[start-4:], uint32(len(dst)-start))
	return dst
}

// decodeSessionState decodes a SESSIONSTATE body; values retain b.
func decodeSessionState(b []byte) (SessionState, int, error) {
	const msg = "SESSIONSTATE"
	if len(b) < 4 {
		return SessionState{}, 0, errShort
	}
	l := binary.LittleEndian.Uint32(b)
	if l > maxTokenLen {
		return SessionState{}, 0, formatErr(msg, "Length", "%d exceeds %d", l, maxTokenLen)
	}
	if uint64(len(b)-4) < uint64(l) {
		return SessionState{}, 0, errShort
	}
	r := newReader(b[4 : 4+int(l)])
	var s SessionState
	s.SeqNo = r.u32()
	status := r.u8()
	if !r.ok {
		return SessionState{}, 0, formatErr(msg, "Length", "%d is too short for SeqNo and Status", l)
	}
	s.Recoverable = status&1 != 0
	for r.off < len(r.b) {
		id := r.u8()
		n := int(r.u8())
		if n == 0xFF {
			n = int(r.u32())
		}
		v := r.bytes(n)
		if !r.ok {
			return SessionState{}, 0, formatErr(msg, fmt.Sprintf("StateId %d", id), "value overruns the token length %d", l)
		}
		s.States = append(s.States, SessionStateEntry{ID: id, Value: v})
	}
	return s, 4 + int(l), nil
}
