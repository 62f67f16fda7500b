package tds

import "fmt"

// Event is a token reported by a Walker. Row is never set: rows are
// skipped, not decoded. An Event and everything it references (slices,
// byte values) are valid only during the callback.
type Event = Token

// DefaultMaxReturnValueSize is the largest RETURNVALUE value (wire bytes)
// a Walker decodes; larger values are skipped and flagged ValueSkipped.
const DefaultMaxReturnValueSize = 64 << 10

// Walker steps through a server response ([MS-TDS] §2.2.7) token by token.
// It is fed arbitrary chunks (e.g. one packet payload at a time); tokens
// and values may straddle chunks. It reports every token except ROW and
// NBCROW to its handler and skips row data without copying it: memory is
// bounded by the largest non-row token (at most 1 MiB) and PLP data is
// skipped as it streams. Walking rows allocates nothing.
//
// The negotiated TDS version selects the 7.1 or 7.2+ layouts; a LOGINACK
// in the stream switches the Walker to the version it announces, and a
// FEATUREEXTACK acknowledging DATACLASSIFICATION enables that token
// (reported with its body in Raw). ALTMETADATA and ALTROW (COMPUTE BY)
// and Always Encrypted columns are reported as errors.
// COLMETADATA persists across End so rows after a "no metadata"
// COLMETADATA (fNoMetaData requests) can be walked. A Walker is not safe
// for concurrent use.
type Walker struct {
	ver uint32
	h   func(ev *Event) error
	// MaxReturnValueSize caps the RETURNVALUE values that are decoded
	// (DefaultMaxReturnValueSize when 0).
	MaxReturnValueSize int

	err       error // sticky: once failed, every call returns it
	dcVersion uint8 // negotiated DATACLASSIFICATION version, 0: none
	state     walkState
	tok       TokenType
	buf       []byte // carried-over bytes of a token body being buffered
	ev        Event

	cols   []Column
	kinds  []valKind
	colBuf []Column

	// row state
	col    int
	nbc    bool
	bitmap []byte
	bmHave int
	v      valState
	rows   uint64

	// RETURNVALUE state
	rv     ReturnValue
	rvKind valKind
	rvBuf  []byte
	rvOver bool
	offset uint64 // bytes consumed in total, for error messages
}

type walkState uint8

const (
	wsToken  walkState = iota // expecting a token type byte
	wsBody                    // buffering a non-row token body
	wsBitmap                  // NBCROW null bitmap
	wsRow                     // row values
	wsRetVal                  // RETURNVALUE value
)

// NewWalker returns a Walker for a connection that negotiated tdsVersion
// (0: latest). h is called for each token; its error stops the walk and
// is returned by Feed.
func NewWalker(tdsVersion uint32, h func(ev *Event) error) *Walker {
	return &Walker{ver: tdsVersion, h: h}
}

// Reset forgets all state (column metadata included) and any error; it
// keeps the TDS and data classification versions.
func (w *Walker) Reset() {
	*w = Walker{ver: w.ver, h: w.h, MaxReturnValueSize: w.MaxReturnValueSize, dcVersion: w.dcVersion,
		buf: w.buf[:0], colBuf: w.colBuf[:0], bitmap: w.bitmap[:0], rvBuf: w.rvBuf[:0], kinds: w.kinds[:0]}
}

// SetVersion changes the TDS version used for the following tokens.
func (w *Walker) SetVersion(v uint32) { w.ver = v }

// SetDataClassificationVersion sets the DATACLASSIFICATION version the
// server acknowledged at login (the first byte of its FEATUREEXTACK data),
// when the login response was not walked by this Walker. A FEATUREEXTACK
// seen by the Walker sets it too. Without it, a DATACLASSIFICATION token
// is an error.
func (w *Walker) SetDataClassificationVersion(v uint8) { w.dcVersion = v }

// Rows returns the number of ROW and NBCROW tokens walked so far.
func (w *Walker) Rows() uint64 { return w.rows }

// Columns returns the current result's column metadata (valid until the
// next Feed).
func (w *Walker) Columns() []Column { return w.cols }

// AtBoundary reports whether the Walker is between tokens (and not failed):
// a response cut here can be completed with further tokens.
func (w *Walker) AtBoundary() bool { return w.err == nil && w.state == wsToken }

// End is called at the end of a message: it fails if a token is incomplete.
func (w *Walker) End() error {
	if w.err != nil {
		return w.err
	}
	if w.state != wsToken {
		w.err = formatErr("token stream", w.tok.String(), "message ends inside the token (offset %d)", w.offset)
		return w.err
	}
	return nil
}

// Feed walks the next chunk of the response. The Walker does not retain p.
func (w *Walker) Feed(p []byte) error {
	if w.err != nil {
		return w.err
	}
	for len(p) > 0 {
		n, err := w.step(p)
		w.offset += uint64(n)
		p = p[n:]
		if err != nil {
			w.err = err
			return err
		}
	}
	return nil
}

// step consumes a prefix of p (all of it, or up to a token boundary).
func (w *Walker) step(p []byte) (int, error) {
	switch w.state {
	case wsToken:
		return w.startToken(p)
	case wsBody:
		return w.feedBody(p)
	case wsBitmap:
		n := min(len(w.bitmap)-w.bmHave, len(p))
		copy(w.bitmap[w.bmHave:], p[:n])
		w.bmHave += n
		if w.bmHave == len(w.bitmap) {
			w.state = wsRow
		}
		return n, nil
	case wsRow:
		return w.feedRow(p)
	case wsRetVal:
		return w.feedRetVal(p)
	}
	return 0, fmt.Errorf("tds: walker in invalid state %d", w.state)
}

func (w *Walker) startToken(p []byte) (int, error) {
	w.tok = TokenType(p[0])
	switch w.tok {
	case TokenRow, TokenNBCRow:
		if w.cols == nil {
			return 0, formatErr(w.tok.String(), "", "row without COLMETADATA at offset %d", w.offset)
		}
		w.rows++
		w.col = 0
		w.v = valState{}
		w.nbc = w.tok == TokenNBCRow
		if w.nbc {
			w.bitmap = w.bitmap[:(len(w.cols)+7)/8]
			w.bmHave = 0
			w.state = wsBitmap
		} else {
			w.state = wsRow
		}
		return 1, nil
	}
	if _, known := tokenNames[w.tok]; !known {
		return 0, w.wrap(formatErr("token stream", "TokenType", "unknown token 0x%02X", uint8(w.tok)))
	}
	switch w.tok {
	case TokenAltMetadata, TokenAltRow:
		// Fail now with decodeTokenBody's explanation rather than
		// waiting for a body that is never decoded.
		_, err := decodeTokenBody(&Event{Type: w.tok}, nil, w.ver, nil, 0)
		return 0, w.wrap(err)
	}
	w.state = wsBody
	w.buf = w.buf[:0]
	return 1, nil
}

// feedBody buffers and decodes a non-row token body.
func (w *Walker) feedBody(p []byte) (int, error) {
	if len(w.buf) == 0 {
		n, err := w.decodeBody(p)
		if err == nil {
			return n, w.bodyDone()
		}
		if !isShort(err) {
			return 0, w.wrap(err)
		}
		if len(p) > maxTokenLen {
			return 0, formatErr(w.tok.String(), "", "token longer than %d bytes", maxTokenLen)
		}
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	prev := len(w.buf)
	if prev+len(p) > maxTokenLen+64 {
		return 0, formatErr(w.tok.String(), "", "token longer than %d bytes", maxTokenLen)
	}
	w.buf = append(w.buf, p...)
	n, err := w.decodeBody(w.buf)
	if err != nil {
		if !isShort(err) {
			return 0, w.wrap(err)
		}
		return len(p), nil
	}
	used := n - prev
	if err := w.bodyDone(); err != nil {
		return used, err
	}
	w.buf = w.buf[:0]
	return used, nil
}

func (w *Walker) wrap(err error) error {
	return fmt.Errorf("walking %s token at offset %d: %w", w.tok, w.offset, err)
}

// decodeBody decodes the current token's body from b into w.ev.
func (w *Walker) decodeBody(b []byte) (int, error) {
	w.ev = Event{Type: w.tok}
	if w.tok == TokenReturnValue {
		rv, n, err := decodeReturnValueHeader(b, w.ver)
		if err != nil {
			return 0, err
		}
		w.rv = rv
		return n, nil
	}
	return decodeTokenBody(&w.ev, b, w.ver, w.colBuf, w.dcVersion)
}

// bodyDone acts on a decoded token body.
func (w *Walker) bodyDone() error {
	w.state = wsToken
	switch w.tok {
	case TokenReturnValue:
		w.state = wsRetVal
		w.rvKind = kindOf(w.rv.Type)
		w.rvBuf = w.rvBuf[:0]
		w.rvOver = false
		w.v = valState{}
		return nil
	case TokenColMetadata:
		if w.ev.Columns != nil {
			w.colBuf = w.ev.Columns
			w.cols = w.ev.Columns
			w.kinds = w.kinds[:0]
			for _, c := range w.cols {
				w.kinds = append(w.kinds, kindOf(c.Type))
			}
			if n := (len(w.cols) + 7) / 8; cap(w.bitmap) < n {
				w.bitmap = make([]byte, n)
			} else {
				w.bitmap = w.bitmap[:n]
			}
		}
	case TokenFeatureExtAck:
		if v := dataClassificationVersion(w.ev.FeatureExtAck); v != 0 {
			w.dcVersion = v
		}
	case TokenLoginAck:
		switch v := w.ev.LoginAck.TDSVersion; v {
		case VerTDS71, VerTDS72, VerTDS73A, VerTDS73B, VerTDS74:
			w.ver = v
		}
	}
	return w.emit()
}

func (w *Walker) emit() error {
	if w.h == nil {
		return nil
	}
	return w.h(&w.ev)
}

// feedRow walks row values; it consumes as much of p as the row needs, and
// goes on with the rows that follow while they are whole in p (the hot
// path: no per-token dispatch, lengths read straight from p).
func (w *Walker) feedRow(p []byte) (int, error) {
	used := 0
	kinds := w.kinds
	for {
		col := w.col
		if w.v.phase != vStart { // resume a value that straddled chunks
			n, done, err := w.stepValue(kinds[col], p)
			used += n
			if err != nil {
				return used, w.wrap(err)
			}
			if !done {
				return used, nil
			}
			col++
		}
		nbc, bitmap := w.nbc, w.bitmap
		for col < len(kinds) {
			if nbc && bitmap[col>>3]&(1<<(col&7)) != 0 {
				col++
				continue
			}
			k := kinds[col]
			q := p[used:]
			n, ok := 0, false
			switch k.kind {
			case kFixed:
				n, ok = k.size, len(q) >= k.size
			case kLen1:
				if len(q) > 0 {
					n = 1 + int(q[0])
					ok = len(q) >= n
				}
			case kLen2:
				if len(q) > 1 {
					if l := int(q[0]) | int(q[1])<<8; l == 0xFFFF {
						n, ok = 2, true
					} else {
						n = 2 + l
						ok = len(q) >= n
					}
				}
			default:
				n, ok = fastLen(k, q)
			}
			if !ok {
				w.col = col
				var done bool
				var err error
				n, done, err = w.stepValue(k, q)
				if err != nil {
					return used + n, w.wrap(err)
				}
				if !done {
					return used + n, nil
				}
			}
			used += n
			col++
		}
		w.col = col
		w.state = wsToken
		if used >= len(p) {
			return used, nil
		}
		switch TokenType(p[used]) {
		case TokenRow:
			w.nbc = false
		case TokenNBCRow:
			bm := len(w.bitmap)
			if len(p)-used-1 < bm {
				return used, nil // let startToken carry the bitmap over
			}
			copy(w.bitmap, p[used+1:used+1+bm])
			w.nbc = true
			used += bm
		default:
			return used, nil
		}
		used++
		w.rows++
		w.col = 0
		w.state = wsRow
	}
}

func (w *Walker) feedRetVal(p []byte) (int, error) {
	limit := w.MaxReturnValueSize
	if limit <= 0 {
		limit = DefaultMaxReturnValueSize
	}
	if w.v.phase == vStart && len(w.rvBuf) == 0 {
		if n, ok := fastLen(w.rvKind, p); ok {
			if n <= limit {
				w.finishRetVal(p[:n])
			} else {
				w.rv.ValueSkipped = true
				w.finishRetVal(nil)
			}
			return n, w.emit()
		}
	}
	n, done, err := w.stepValue(w.rvKind, p)
	if err != nil {
		return n, w.wrap(err)
	}
	if !w.rvOver {
		if len(w.rvBuf)+n <= limit {
			w.rvBuf = append(w.rvBuf, p[:n]...)
		} else {
			w.rvOver = true
			w.rvBuf = w.rvBuf[:0]
		}
	}
	if !done {
		return n, nil
	}
	if w.rvOver {
		w.rv.ValueSkipped = true
		w.finishRetVal(nil)
	} else {
		w.finishRetVal(w.rvBuf)
	}
	return n, w.emit()
}

// finishRetVal decodes a complete RETURNVALUE value (nil: skipped) into w.ev.
func (w *Walker) finishRetVal(b []byte) {
	w.state = wsToken
	if b != nil {
		v, _, err := decodeValue(w.rv.Type, b, ctxRow)
		if err != nil {
			w.rv.ValueSkipped = true
		} else {
			w.rv.Value = v
		}
	}
	w.ev = Event{Type: TokenReturnValue, ReturnValue: w.rv}
}
