package tds

import (
	"encoding/binary"
	"fmt"
)

// ALL_HEADERS header types ([MS-TDS] §2.2.5.3).
const (
	HeaderQueryNotifications    uint16 = 1
	HeaderTransactionDescriptor uint16 = 2
	HeaderTraceActivity         uint16 = 3
)

// RawHeader is an ALL_HEADERS header of a type this package does not know,
// kept for re-encoding.
type RawHeader struct {
	Type uint16
	Data []byte
}

// AllHeaders is the ALL_HEADERS prefix of SQLBatch, RPC and TM requests in
// TDS 7.2+ ([MS-TDS] §2.2.5.3). The transaction descriptor of a request in
// autocommit mode is 0 with 1 outstanding request.
type AllHeaders struct {
	TxDescriptor        uint64 // §2.2.5.3.2; little-endian on the wire
	OutstandingRequests uint32
	HasTxDescriptor     bool
	TraceActivity       []byte // §2.2.5.3.3: ActivityId GUID (16) + sequence (4)
	QueryNotification   []byte // §2.2.5.3.1, raw: NotifyId, SSBDeployment, [NotifyTimeout]
	Unknown             []RawHeader

	// Header types in decoded order, for Append: the first len(order) in
	// order (no allocation for what clients send), the rest in orderMore.
	order     [4]uint16
	nOrder    uint8
	orderMore []uint16
}

// decodedOrder calls f with each decoded header type, in order; it stops
// when f returns false.
func (h *AllHeaders) decodedOrder(f func(uint16) bool) {
	for _, t := range h.order[:h.nOrder] {
		if !f(t) {
			return
		}
	}
	for _, t := range h.orderMore {
		if !f(t) {
			return
		}
	}
}

// addOrder records typ as the next decoded header type; it reports false
// when typ was already decoded.
func (h *AllHeaders) addOrder(typ uint16) bool {
	dup := false
	h.decodedOrder(func(t uint16) bool {
		dup = t == typ
		return !dup
	})
	switch {
	case dup:
		return false
	case int(h.nOrder) < len(h.order):
		h.order[h.nOrder] = typ
		h.nOrder++
	default:
		h.orderMore = append(h.orderMore, typ)
	}
	return true
}

// DecodeAllHeaders decodes ALL_HEADERS at the start of b (TotalLength
// first) and returns the bytes after it. The header data it keeps retains b.
func DecodeAllHeaders(b []byte) (AllHeaders, []byte, error) {
	const msg = "ALL_HEADERS"
	var h AllHeaders
	if len(b) < 4 {
		return h, nil, formatErr(msg, "TotalLength", "%d bytes, need 4", len(b))
	}
	total := binary.LittleEndian.Uint32(b)
	if total < 4 || uint64(total) > uint64(len(b)) {
		return h, nil, formatErr(msg, "TotalLength", "%d outside [4, %d]", total, len(b))
	}
	rest := b[total:]
	hs := b[4:total]
	for len(hs) > 0 {
		if len(hs) < 6 {
			return h, nil, formatErr(msg, "HeaderLength", "%d bytes left, need 6", len(hs))
		}
		n := binary.LittleEndian.Uint32(hs)
		if n < 6 || uint64(n) > uint64(len(hs)) {
			return h, nil, formatErr(msg, "HeaderLength", "%d outside [6, %d]", n, len(hs))
		}
		typ := binary.LittleEndian.Uint16(hs[4:])
		data := hs[6:n:n]
		hs = hs[n:]
		if !h.addOrder(typ) {
			return h, nil, formatErr(msg, "HeaderType", "header %d repeated", typ)
		}
		switch typ {
		case HeaderTransactionDescriptor:
			if len(data) != 12 {
				return h, nil, formatErr(msg, "TransactionDescriptor", "%d bytes, want 12", len(data))
			}
			h.HasTxDescriptor = true
			h.TxDescriptor = binary.LittleEndian.Uint64(data)
			h.OutstandingRequests = binary.LittleEndian.Uint32(data[8:])
		case HeaderTraceActivity:
			if len(data) != 20 {
				return h, nil, formatErr(msg, "TraceActivity", "%d bytes, want 20", len(data))
			}
			h.TraceActivity = data
		case HeaderQueryNotifications:
			h.QueryNotification = data
		default:
			h.Unknown = append(h.Unknown, RawHeader{Type: typ, Data: data})
		}
	}
	return h, rest, nil
}

// present reports whether header typ is to be encoded.
func (h *AllHeaders) present(typ uint16) bool {
	switch typ {
	case HeaderTransactionDescriptor:
		return h.HasTxDescriptor
	case HeaderTraceActivity:
		return h.TraceActivity != nil
	case HeaderQueryNotifications:
		return h.QueryNotification != nil
	}
	for _, u := range h.Unknown {
		if u.Type == typ {
			return true
		}
	}
	return false
}

// Append appends ALL_HEADERS to dst, headers in decoded order (then the
// transaction descriptor, trace activity, query notification, unknown ones).
func (h *AllHeaders) Append(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	done := map[uint16]bool{}
	emit := func(typ uint16) {
		if done[typ] || !h.present(typ) {
			return
		}
		done[typ] = true
		var data []byte
		switch typ {
		case HeaderTransactionDescriptor:
			data = binary.LittleEndian.AppendUint64(make([]byte, 0, 12), h.TxDescriptor)
			data = binary.LittleEndian.AppendUint32(data, h.OutstandingRequests)
		case HeaderTraceActivity:
			data = h.TraceActivity
		case HeaderQueryNotifications:
			data = h.QueryNotification
		default:
			for _, u := range h.Unknown {
				if u.Type == typ {
					data = u.Data
					break
				}
			}
		}
		dst = binary.LittleEndian.AppendUint32(dst, uint32(6+len(data)))
		dst = binary.LittleEndian.AppendUint16(dst, typ)
		dst = append(dst, data...)
	}
	h.decodedOrder(func(t uint16) bool {
		emit(t)
		return true
	})
	emit(HeaderTransactionDescriptor)
	emit(HeaderTraceActivity)
	emit(HeaderQueryNotifications)
	for _, u := range h.Unknown {
		emit(u.Type)
	}
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(dst)-start))
	return dst
}

// String describes the headers for logs.
func (h AllHeaders) String() string {
	return fmt.Sprintf("ALL_HEADERS{tx=%#x outstanding=%d trace=%t notification=%t}",
		h.TxDescriptor, h.OutstandingRequests, h.TraceActivity != nil, h.QueryNotification != nil)
}

// AutocommitHeaders returns the ALL_HEADERS of a request outside a
// transaction: descriptor 0, one outstanding request.
func AutocommitHeaders() AllHeaders {
	return AllHeaders{HasTxDescriptor: true, OutstandingRequests: 1}
}

// hasAllHeaders reports whether b plausibly starts with ALL_HEADERS: a
// TotalLength that fits and headers of known types that fill it exactly.
// Used for pre-7.2 requests, where ALL_HEADERS is optional.
func hasAllHeaders(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	total := binary.LittleEndian.Uint32(b)
	if total < 4+6 || uint64(total) > uint64(len(b)) {
		return false
	}
	hs := b[4:total]
	for len(hs) > 0 {
		if len(hs) < 6 {
			return false
		}
		n := binary.LittleEndian.Uint32(hs)
		typ := binary.LittleEndian.Uint16(hs[4:])
		if n < 6 || uint64(n) > uint64(len(hs)) || typ < HeaderQueryNotifications || typ > HeaderTraceActivity {
			return false
		}
		hs = hs[n:]
	}
	return true
}
