package tds

import "fmt"

// SQLBatch is a SQL batch request ([MS-TDS] §2.2.6.7): ALL_HEADERS (TDS
// 7.2+) and the statement text in UCS-2.
type SQLBatch struct {
	Headers    AllHeaders
	HasHeaders bool
	Text       string
}

// DecodeSQLBatch decodes a SQLBatch payload. For TDS 7.2 and later
// (EffectiveVersion(tdsVersion) >= VerTDS72, TDS 8 included) ALL_HEADERS is required; for older versions, or
// tdsVersion 0 (unknown), it is decoded only when the payload starts with a
// well-formed ALL_HEADERS, which UCS-2 text cannot resemble (its first four
// bytes would make a TotalLength far larger than the message). It copies
// what it keeps.
func DecodeSQLBatch(b []byte, tdsVersion uint32) (*SQLBatch, error) {
	const msg = "SQLBatch"
	batch := &SQLBatch{}
	text := b
	if EffectiveVersion(tdsVersion) >= VerTDS72 || hasAllHeaders(b) {
		h, rest, err := DecodeAllHeaders(b)
		if err != nil {
			return nil, fmt.Errorf("tds: decoding SQLBatch: %w", err)
		}
		batch.Headers, batch.HasHeaders, text = cloneHeaders(h), true, rest
	}
	s, err := DecodeUCS2(text)
	if err != nil {
		return nil, formatErr(msg, "SQLText", "%v", err)
	}
	batch.Text = s
	return batch, nil
}

// Append appends the SQLBatch payload to dst (ALL_HEADERS only when
// HasHeaders).
func (b *SQLBatch) Append(dst []byte) []byte {
	if b.HasHeaders {
		dst = b.Headers.Append(dst)
	}
	return AppendUCS2(dst, b.Text)
}

// String shows the text length, not the text (it may hold secrets).
func (b *SQLBatch) String() string {
	return fmt.Sprintf("SQLBatch{headers=%t tx=%#x chars=%d}", b.HasHeaders, b.Headers.TxDescriptor, len(b.Text))
}

// cloneHeaders copies the slices of h so that it no longer retains its source.
func cloneHeaders(h AllHeaders) AllHeaders {
	clone := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		return append([]byte{}, b...)
	}
	h.TraceActivity = clone(h.TraceActivity)
	h.QueryNotification = clone(h.QueryNotification)
	if h.Unknown != nil {
		u := make([]RawHeader, len(h.Unknown))
		for i, r := range h.Unknown {
			u[i] = RawHeader{Type: r.Type, Data: clone(r.Data)}
		}
		h.Unknown = u
	}
	h.orderMore = append([]uint16(nil), h.orderMore...) // order itself is an array: copied with h
	return h
}
