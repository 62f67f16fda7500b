package tds

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"strings"
	"sync"
)

// PacketType is the Type byte of a packet header ([MS-TDS] §2.2.3.1.1).
type PacketType uint8

// Packet types ([MS-TDS] §2.2.3.1.1).
const (
	PacketSQLBatch     PacketType = 1  // SQL batch
	PacketRPC          PacketType = 3  // RPC request
	PacketReply        PacketType = 4  // tabular result: every server reply, incl. the PRELOGIN answer
	PacketAttention    PacketType = 6  // attention (cancel)
	PacketBulkLoad     PacketType = 7  // bulk load data
	PacketFedAuthToken PacketType = 8  // federated authentication token
	PacketTransMgr     PacketType = 14 // transaction manager request
	PacketLogin7       PacketType = 16 // LOGIN7
	PacketSSPI         PacketType = 17 // SSPI message
	PacketPrelogin     PacketType = 18 // PRELOGIN, also the carrier of in-band TLS handshake records
)

var packetTypeNames = map[PacketType]string{
	PacketSQLBatch:     "SQLBatch",
	PacketRPC:          "RPC",
	PacketReply:        "Reply",
	PacketAttention:    "Attention",
	PacketBulkLoad:     "BulkLoad",
	PacketFedAuthToken: "FedAuthToken",
	PacketTransMgr:     "TransMgr",
	PacketLogin7:       "Login7",
	PacketSSPI:         "SSPI",
	PacketPrelogin:     "Prelogin",
}

// String returns the name of the packet type, or PacketType(0xNN) for an
// unknown value.
func (t PacketType) String() string {
	if s, ok := packetTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("PacketType(0x%02X)", uint8(t))
}

// PacketStatus is the Status bit field of a packet header
// ([MS-TDS] §2.2.3.1.2). Bits not defined here (real clients set 0x04 on
// non-final packets) carry no meaning and are ignored by this package.
type PacketStatus uint8

// Packet status bits ([MS-TDS] §2.2.3.1.2).
const (
	StatusEOM                     PacketStatus = 0x01 // last packet of a message
	StatusIgnore                  PacketStatus = 0x02 // the message is abandoned (sent with EOM)
	StatusResetConnection         PacketStatus = 0x08 // reset the session before the request (TDS 7.1+)
	StatusResetConnectionSkipTran PacketStatus = 0x10 // reset, keeping the transaction (TDS 7.3+)

	// statusKnown masks the bits this package gives a meaning to.
	statusKnown = StatusEOM | StatusIgnore | StatusResetConnection | StatusResetConnectionSkipTran
)

// String lists the set bits, e.g. "EOM|RESETCONNECTION"; undefined bits are
// shown in hex.
func (s PacketStatus) String() string {
	if s == 0 {
		return "0"
	}
	var parts []string
	for _, b := range []struct {
		bit  PacketStatus
		name string
	}{
		{StatusEOM, "EOM"},
		{StatusIgnore, "IGNORE"},
		{StatusResetConnection, "RESETCONNECTION"},
		{StatusResetConnectionSkipTran, "RESETCONNECTIONSKIPTRAN"},
	} {
		if s&b.bit != 0 {
			parts = append(parts, b.name)
		}
	}
	if rest := s &^ statusKnown; rest != 0 {
		parts = append(parts, fmt.Sprintf("0x%02X", uint8(rest)))
	}
	return strings.Join(parts, "|")
}

// Packet sizes ([MS-TDS] §2.2.3.1.3, §2.2.6.4 PacketSize).
const (
	HeaderLen         = 8     // bytes in a packet header
	DefaultPacketSize = 4096  // packet size before LOGIN7 negotiates another
	MinPacketSize     = 512   // smallest packet size a client may negotiate
	MaxPacketSize     = 32767 // largest packet size a client may negotiate

	// DefaultMaxMessageSize is the message size cap ReadMessage applies when
	// it is given no cap of its own.
	DefaultMaxMessageSize = 64 << 20
)

// Header is a packet header ([MS-TDS] §2.2.3.1). Length counts the header.
type Header struct {
	Type     PacketType
	Status   PacketStatus
	Length   uint16 // whole packet, header included; big-endian on the wire
	SPID     uint16 // server process id; clients send 0; big-endian on the wire
	PacketID uint8  // 1 for the first packet of a message, then +1 mod 256
	Window   uint8  // always 0
}

// DecodeHeader decodes the first 8 bytes of b. It checks only that Length
// covers the header; the caller checks it against the packet size.
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, formatErr("packet header", "", "%d bytes, need %d", len(b), HeaderLen)
	}
	h := Header{
		Type:     PacketType(b[0]),
		Status:   PacketStatus(b[1]),
		Length:   binary.BigEndian.Uint16(b[2:4]),
		SPID:     binary.BigEndian.Uint16(b[4:6]),
		PacketID: b[6],
		Window:   b[7],
	}
	if h.Length < HeaderLen {
		return Header{}, formatErr("packet header", "Length", "%d is less than the header length %d", h.Length, HeaderLen)
	}
	return h, nil
}

// Append appends the 8-byte encoding of h to dst.
func (h Header) Append(dst []byte) []byte {
	return append(dst, byte(h.Type), byte(h.Status), byte(h.Length>>8), byte(h.Length),
		byte(h.SPID>>8), byte(h.SPID), h.PacketID, h.Window)
}

// String describes the header for logs.
func (h Header) String() string {
	return fmt.Sprintf("%v status=%v len=%d spid=%d id=%d", h.Type, h.Status, h.Length, h.SPID, h.PacketID)
}

// MessageTooLargeError is returned by ReadMessage when a message grows past
// the caller's cap. The rest of the message is not read, so the stream is
// unusable afterwards.
type MessageTooLargeError struct {
	Type PacketType
	Max  int // the cap
	Size int // bytes received when the cap was passed
}

// Error implements error.
func (e *MessageTooLargeError) Error() string {
	return fmt.Sprintf("tds: %v message exceeds %d bytes (%d received)", e.Type, e.Max, e.Size)
}

// clampPacketSize limits n to the sizes a TDS peer may negotiate.
func clampPacketSize(n int) int {
	switch {
	case n < MinPacketSize:
		return MinPacketSize
	case n > MaxPacketSize:
		return MaxPacketSize
	}
	return n
}

// Message is one reassembled message ([MS-TDS] §2.2.1): the payloads of its
// packets up to and including the one with EOM.
type Message struct {
	Type PacketType
	// Status holds the defined bits of the first packet's status (where the
	// RESETCONNECTION bits live), plus IGNORE when the last packet had it.
	Status PacketStatus
	// Data is the payload of all packets concatenated.
	Data []byte
	// Ignore reports that the last packet had IGNORE: the client abandoned
	// the message and the server must discard it ([MS-TDS] §2.2.3.1.2).
	Ignore bool
	// Packets is the number of packets the message arrived in.
	Packets int
}

// Packet and message buffers come from pools of power-of-two size classes,
// from 512 bytes to 1 MiB (32 KiB holds the largest packet, header
// included), so that an idle reader or writer holds none: a proxy keeps
// thousands of idle connections, each with a reader and a writer per leg.
// Larger messages get buffers of their own. A pool keeps nothing across two
// garbage collections.
const (
	minBufClass = 9  // 512 bytes
	maxBufClass = 20 // 1 MiB
)

var bufPools [maxBufClass - minBufClass + 1]sync.Pool

// bufClass returns the index in bufPools of the smallest class holding n
// bytes, or -1 when n is larger than every class.
func bufClass(n int) int {
	if n > 1<<maxBufClass {
		return -1
	}
	c := bits.Len(uint(max(n, 1) - 1)) // 1<<c >= n
	return max(c, minBufClass) - minBufClass
}

// getBuf returns a buffer of length 0 and capacity >= n: a pooled one when
// n fits a class, else a new one.
func getBuf(n int) *[]byte {
	c := bufClass(n)
	if c < 0 {
		b := make([]byte, 0, n)
		return &b
	}
	if bp, ok := bufPools[c].Get().(*[]byte); ok {
		*bp = (*bp)[:0]
		return bp
	}
	b := make([]byte, 0, 1<<(c+minBufClass))
	return &b
}

// putBuf returns a buffer from getBuf to its pool (buffers of no class are
// left to the garbage collector). The caller must not use it afterwards.
func putBuf(bp *[]byte) {
	if bp == nil {
		return
	}
	c := bufClass(cap(*bp))
	if c < 0 || cap(*bp) != 1<<(c+minBufClass) {
		return
	}
	bufPools[c].Put(bp)
}

// PacketReader frames packets ([MS-TDS] §2.2.3) from a byte stream and
// reassembles them into messages. It reads exactly one packet at a time
// (never past its end), so the stream may change hands between packets.
// Its buffers are pooled: between calls it holds only the payload or
// message it last returned, and Release gives that back too. It is not
// safe for concurrent use.
type PacketReader struct {
	r    io.Reader
	size int
	hdr  [HeaderLen]byte
	pkt  *[]byte // payload of the last packet, or nil
	msg  Message
	mbuf *[]byte // reassembled payload of the last multi-packet message, or nil
	err  error   // sticky: after a framing error the stream is unusable
	// rest is set when ReadMessage refused a message as too large before
	// its last packet: DiscardMessage may read the rest.
	rest bool
}

// NewPacketReader returns a reader for r that accepts packets of at most
// packetSize bytes (clamped to [MinPacketSize, MaxPacketSize]).
func NewPacketReader(r io.Reader, packetSize int) *PacketReader {
	pr := &PacketReader{r: r}
	pr.SetPacketSize(packetSize)
	return pr
}

// SetPacketSize changes the largest accepted packet, e.g. once LOGIN7 has
// negotiated it. n is clamped to [MinPacketSize, MaxPacketSize].
func (r *PacketReader) SetPacketSize(n int) {
	r.size = clampPacketSize(n)
}

// PacketSize returns the largest packet the reader accepts.
func (r *PacketReader) PacketSize() int { return r.size }

// Release ends the validity of the payload or message last returned and
// gives its buffer back to the pool, so that a reader between messages
// holds no buffer. ReadPacket and ReadMessage do the same when called; a
// caller that stops reading for a while (a proxy's backend leg between
// responses) calls Release.
func (r *PacketReader) Release() {
	putBuf(r.pkt)
	r.pkt = nil
	putBuf(r.mbuf)
	r.mbuf = nil
	r.msg = Message{}
}

// ReadPacket reads one packet. It rejects a Length below 8 or above the
// packet size before reading the payload. The payload is valid until the next
// call to ReadPacket, ReadMessage or Release. A clean end of stream before a
// header yields io.EOF; a stream that ends inside a packet yields
// io.ErrUnexpectedEOF.
func (r *PacketReader) ReadPacket() (Header, []byte, error) {
	r.Release()
	return r.readPacket()
}

// readPacket is ReadPacket without releasing a message being reassembled.
// The previous payload is released before the header is awaited.
func (r *PacketReader) readPacket() (Header, []byte, error) {
	putBuf(r.pkt)
	r.pkt = nil
	if r.err != nil {
		return Header{}, nil, r.err
	}
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		return Header{}, nil, err // io.EOF stays io.EOF: the peer closed between packets
	}
	h, err := DecodeHeader(r.hdr[:])
	if err != nil {
		r.err = err
		return Header{}, nil, err
	}
	if int(h.Length) > r.size {
		r.err = formatErr("packet header", "Length", "%d exceeds the packet size %d", h.Length, r.size)
		return Header{}, nil, r.err
	}
	n := int(h.Length) - HeaderLen
	r.pkt = getBuf(n)
	p := (*r.pkt)[:n]
	if _, err := io.ReadFull(r.r, p); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		r.err = fmt.Errorf("tds: reading %v packet payload: %w", h.Type, err)
		return Header{}, nil, r.err
	}
	return h, p[:n:n], nil
}

// ReadMessage reads packets up to and including the one with EOM and returns
// the reassembled message. maxSize caps the payload (<= 0 means
// DefaultMaxMessageSize); past it, ReadMessage returns a
// *MessageTooLargeError and the stream is unusable. The packets of one message
// must share a type. The returned Message and its Data are owned by the reader
// and valid until the next call to ReadPacket, ReadMessage or Release.
func (r *PacketReader) ReadMessage(maxSize int) (*Message, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	r.Release()
	for {
		h, p, err := r.readPacket()
		if err != nil {
			if r.msg.Packets > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if r.msg.Packets == 0 {
			r.msg.Type = h.Type
			r.msg.Status = h.Status & statusKnown
		} else if h.Type != r.msg.Type {
			r.err = formatErr(r.msg.Type.String()+" message", "packet type",
				"packet %d has type %v", r.msg.Packets+1, h.Type)
			return nil, r.err
		}
		r.msg.Packets++
		if len(r.msg.Data)+len(p) > maxSize {
			r.err = &MessageTooLargeError{Type: r.msg.Type, Max: maxSize, Size: len(r.msg.Data) + len(p)}
			r.rest = h.Status&StatusEOM == 0
			return nil, r.err
		}
		eom := h.Status&StatusEOM != 0
		switch {
		case eom && r.msg.Packets == 1:
			// One packet (most requests): its payload is the message.
			r.msg.Data = p
		default:
			r.appendData(p)
		}
		if eom {
			if h.Status&StatusIgnore != 0 {
				r.msg.Ignore = true
				r.msg.Status |= StatusIgnore
			}
			r.msg.Status |= StatusEOM
			return &r.msg, nil
		}
	}
}

// DiscardMessage reads and drops the rest of the message ReadMessage
// refused with a *MessageTooLargeError, up to and including its last
// packet, holding one packet at a time. A peer still sending that message
// can then finish and read the reply to it. It reads at most limit payload
// bytes (<= 0: no limit). On success the stream is usable again; on any
// error (none refused, the limit passed, a framing or read error) it stays
// unusable.
func (r *PacketReader) DiscardMessage(limit int) error {
	var tooLarge *MessageTooLargeError
	if !errors.As(r.err, &tooLarge) {
		if r.err != nil {
			return r.err
		}
		return errors.New("tds: no refused message to discard")
	}
	r.Release()
	if !r.rest {
		r.err = nil // the refused packet was the message's last
		return nil
	}
	r.err = nil
	for n := 0; ; {
		h, p, err := r.readPacket()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			r.err = fmt.Errorf("tds: discarding the rest of a %v message: %w", tooLarge.Type, err)
			return r.err
		}
		if h.Type != tooLarge.Type {
			r.err = formatErr(tooLarge.Type.String()+" message", "packet type", "a discarded message's packet has type %v", h.Type)
			return r.err
		}
		if n += len(p); limit > 0 && n > limit {
			r.err = tooLarge
			return fmt.Errorf("tds: the rest of a %v message exceeds the %d bytes that may be discarded", tooLarge.Type, limit)
		}
		if h.Status&StatusEOM != 0 {
			r.rest = false
			r.Release()
			return nil
		}
	}
}

// appendData appends p to the message being reassembled in r.mbuf.
func (r *PacketReader) appendData(p []byte) {
	if r.mbuf == nil {
		r.mbuf = getBuf(2 * len(p))
	}
	b := *r.mbuf
	if len(b)+len(p) > cap(b) {
		nb := getBuf(2 * (len(b) + len(p)))
		*nb = append(*nb, b...)
		putBuf(r.mbuf)
		r.mbuf = nb
		b = *nb
	}
	b = append(b, p...)
	*r.mbuf = b
	r.msg.Data = b[:len(b):len(b)]
}

// PacketWriter splits messages into packets of the current packet size
// ([MS-TDS] §2.2.3.1.3) and writes each packet with one Write call. PacketID
// starts at 1 for each message and increments modulo 256. Its packet buffer
// is pooled and held only while a message is open, so an idle writer holds
// none. It is not safe for concurrent use.
type PacketWriter struct {
	w      io.Writer
	size   int
	spid   uint16
	bp     *[]byte // pooled buffer of the open message, or nil
	buf    []byte  // header + payload of the packet being built, in *bp
	typ    PacketType
	status PacketStatus // status for the first packet (reset bits)
	id     uint8
	open   bool
	err    error // sticky write error
}

// NewPacketWriter returns a writer producing packets of at most packetSize
// bytes (clamped to [MinPacketSize, MaxPacketSize]).
func NewPacketWriter(w io.Writer, packetSize int) *PacketWriter {
	pw := &PacketWriter{w: w}
	pw.SetPacketSize(packetSize)
	return pw
}

// SetPacketSize changes the packet size for the next message; n is clamped to
// [MinPacketSize, MaxPacketSize]. It must not be called inside a message.
func (w *PacketWriter) SetPacketSize(n int) {
	w.size = clampPacketSize(n)
}

// PacketSize returns the current packet size.
func (w *PacketWriter) PacketSize() int { return w.size }

// SetSPID sets the SPID written in every following packet header (servers).
func (w *PacketWriter) SetSPID(spid uint16) { w.spid = spid }

// WriteMessage writes data as one message of type t. status may carry
// RESETCONNECTION bits (first packet only) or IGNORE (last packet only); EOM
// is set on the last packet.
func (w *PacketWriter) WriteMessage(t PacketType, status PacketStatus, data []byte) error {
	w.BeginMessage(t, status)
	if _, err := w.Write(data); err != nil {
		w.open = false
		w.release()
		return err
	}
	return w.EndMessage()
}

// BeginMessage starts a message of type t. Write buffers its payload, sending
// a packet each time a full packet is followed by more data; EndMessage sends
// the last packet with EOM. A message begun while another is open replaces it
// (its buffered bytes are dropped).
func (w *PacketWriter) BeginMessage(t PacketType, status PacketStatus) {
	w.typ = t
	w.status = status &^ StatusEOM
	w.id = 1
	w.open = true
	if w.bp == nil || cap(*w.bp) < w.size {
		w.release()
		w.bp = getBuf(w.size)
	}
	w.buf = (*w.bp)[:HeaderLen]
}

// release returns the packet buffer to the pool.
func (w *PacketWriter) release() {
	putBuf(w.bp)
	w.bp, w.buf = nil, nil
}

// Write appends p to the open message's payload.
func (w *PacketWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if !w.open {
		return 0, errors.New("tds: PacketWriter.Write outside a message")
	}
	n := 0
	for len(p) > 0 {
		if len(w.buf) == w.size {
			// A full packet followed by more data: it is not the last one.
			if err := w.flush(false); err != nil {
				return n, err
			}
		}
		c := copy(w.buf[len(w.buf):w.size], p)
		w.buf = w.buf[:len(w.buf)+c]
		p = p[c:]
		n += c
	}
	return n, nil
}

// EndMessage sends the last packet of the open message with EOM.
func (w *PacketWriter) EndMessage() error {
	if w.err != nil {
		w.open = false
		w.release()
		return w.err
	}
	if !w.open {
		return errors.New("tds: PacketWriter.EndMessage outside a message")
	}
	err := w.flush(true)
	w.open = false
	w.release()
	return err
}

// flush writes the packet in w.buf.
func (w *PacketWriter) flush(last bool) error {
	st := w.status
	if w.id != 1 {
		// RESETCONNECTION bits belong to the first packet only.
		st &^= StatusResetConnection | StatusResetConnectionSkipTran
	}
	if last {
		st |= StatusEOM
	} else {
		st &^= StatusIgnore
	}
	h := Header{Type: w.typ, Status: st, Length: uint16(len(w.buf)), SPID: w.spid, PacketID: w.id}
	h.Append(w.buf[:0])
	w.id++
	if _, err := w.w.Write(w.buf); err != nil {
		w.err = fmt.Errorf("tds: writing %v packet: %w", w.typ, err)
		return w.err
	}
	w.buf = w.buf[:HeaderLen]
	return nil
}

// WritePacket writes one packet with h's type, status, SPID, PacketID and
// Window as given and Length computed from payload, for relaying packets
// unchanged. The payload must fit the packet size; no message may be open.
func (w *PacketWriter) WritePacket(h Header, payload []byte) error {
	if w.err != nil {
		return w.err
	}
	if w.open {
		return errors.New("tds: WritePacket inside an open message")
	}
	if HeaderLen+len(payload) > w.size {
		return fmt.Errorf("tds: WritePacket: %d payload bytes exceed packet size %d", len(payload), w.size)
	}
	h.Length = uint16(HeaderLen + len(payload))
	bp := getBuf(int(h.Length))
	b := h.Append(*bp)
	b = append(b, payload...)
	_, err := w.w.Write(b)
	*bp = b
	putBuf(bp)
	if err != nil {
		w.err = fmt.Errorf("tds: writing %v packet: %w", h.Type, err)
		return w.err
	}
	return nil
}
