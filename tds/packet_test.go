package tds

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestPacketTypeString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		t    PacketType
		want string
	}{
		{PacketSQLBatch, "SQLBatch"}, {PacketPrelogin, "Prelogin"}, {PacketType(0x99), "PacketType(0x99)"},
	} {
		if got := tc.t.String(); got != tc.want {
			t.Errorf("%d: got %q, want %q", tc.t, got, tc.want)
		}
	}
	if got := (StatusEOM | StatusResetConnection | 0x04).String(); got != "EOM|RESETCONNECTION|0x04" {
		t.Errorf("status string %q", got)
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	t.Parallel()
	// Spec example 4.10 (Attention).
	raw := []byte{0x06, 0x01, 0x00, 0x08, 0x00, 0x00, 0x01, 0x00}
	h, err := DecodeHeader(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := Header{Type: PacketAttention, Status: StatusEOM, Length: 8, PacketID: 1}
	if h != want {
		t.Fatalf("got %+v, want %+v", h, want)
	}
	if got := h.Append(nil); !bytes.Equal(got, raw) {
		t.Fatalf("append % x, want % x", got, raw)
	}
	h2 := Header{Type: PacketReply, Status: StatusEOM, Length: 0x1234, SPID: 0x0056, PacketID: 7}
	if got, _ := DecodeHeader(h2.Append(nil)); got != h2 {
		t.Fatalf("round trip %+v", got)
	}
}

func pkt(typ PacketType, st PacketStatus, id uint8, payload []byte) []byte {
	b := Header{Type: typ, Status: st, Length: uint16(HeaderLen + len(payload)), PacketID: id}.Append(nil)
	return append(b, payload...)
}

func TestPacketReaderErrors(t *testing.T) {
	t.Parallel()
	big := make([]byte, 600)
	for _, tc := range []struct {
		name    string
		in      []byte
		wantFmt bool  // a *FormatError
		wantErr error // errors.Is target
	}{
		{"empty stream", nil, false, io.EOF},
		{"short header", []byte{1, 1, 0}, false, io.ErrUnexpectedEOF},
		{"length below 8", []byte{1, 1, 0, 7, 0, 0, 1, 0}, true, nil},
		{"length zero", []byte{1, 1, 0, 0, 0, 0, 1, 0}, true, nil},
		{"length above packet size", pkt(PacketSQLBatch, StatusEOM, 1, big), true, nil},
		{"truncated payload", pkt(PacketSQLBatch, StatusEOM, 1, []byte("abcd"))[:10], false, io.ErrUnexpectedEOF},
		{"mixed types", append(pkt(PacketSQLBatch, 0, 1, []byte("ab")), pkt(PacketRPC, StatusEOM, 2, []byte("cd"))...), true, nil},
		{"stream ends mid-message", pkt(PacketSQLBatch, 0, 1, []byte("ab")), false, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := NewPacketReader(bytes.NewReader(tc.in), MinPacketSize)
			_, err := r.ReadMessage(0)
			if err == nil {
				t.Fatal("no error")
			}
			var fe *FormatError
			if tc.wantFmt && !errors.As(err, &fe) {
				t.Fatalf("got %v, want a FormatError", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
			// Framing errors are sticky.
			if _, err2 := r.ReadMessage(0); err2 == nil {
				t.Fatal("second read succeeded after an error")
			}
		})
	}
}

func TestReadMessageReassembly(t *testing.T) {
	t.Parallel()
	var in []byte
	// Non-final packets carry the undefined bit 0x04, as real clients send;
	// RESETCONNECTION on the first packet.
	in = append(in, pkt(PacketRPC, 0x04|StatusResetConnection, 1, []byte("hello "))...)
	in = append(in, pkt(PacketRPC, 0x04, 2, []byte("packet "))...)
	in = append(in, pkt(PacketRPC, StatusEOM, 3, []byte("world"))...)
	in = append(in, pkt(PacketSQLBatch, StatusEOM|StatusIgnore, 1, []byte("x"))...)
	in = append(in, pkt(PacketAttention, StatusEOM, 1, nil)...)
	r := NewPacketReader(bytes.NewReader(in), DefaultPacketSize)

	m, err := r.ReadMessage(100)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != PacketRPC || string(m.Data) != "hello packet world" || m.Packets != 3 ||
		m.Status != StatusEOM|StatusResetConnection || m.Ignore {
		t.Fatalf("message 1: %+v %q", m, m.Data)
	}
	m, err = r.ReadMessage(100)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != PacketSQLBatch || !m.Ignore || m.Status&StatusIgnore == 0 {
		t.Fatalf("message 2: %+v", m)
	}
	m, err = r.ReadMessage(100)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != PacketAttention || len(m.Data) != 0 {
		t.Fatalf("message 3: %+v", m)
	}
	if _, err := r.ReadMessage(100); !errors.Is(err, io.EOF) {
		t.Fatalf("at end: %v", err)
	}
}

func TestReadMessageTooLarge(t *testing.T) {
	t.Parallel()
	var in []byte
	for i := 0; i < 10; i++ {
		in = append(in, pkt(PacketSQLBatch, 0, uint8(i+1), make([]byte, 100))...)
	}
	r := NewPacketReader(bytes.NewReader(in), MinPacketSize)
	_, err := r.ReadMessage(350)
	var tl *MessageTooLargeError
	if !errors.As(err, &tl) {
		t.Fatalf("got %v, want MessageTooLargeError", err)
	}
	if tl.Max != 350 || tl.Size != 400 || tl.Type != PacketSQLBatch {
		t.Fatalf("got %+v", tl)
	}
}

// TestDiscardMessage reads past a message refused as too large: the rest
// of its packets are dropped and the next message reads normally; a rest
// longer than the limit, a packet of another type or a stream that ends
// leave the reader unusable.
func TestDiscardMessage(t *testing.T) {
	t.Parallel()
	big := func(n int, last PacketStatus) []byte {
		var b []byte
		for i := 0; i < n; i++ {
			st := PacketStatus(0)
			if i == n-1 {
				st = last
			}
			b = append(b, pkt(PacketSQLBatch, st, uint8(i+1), make([]byte, 100))...)
		}
		return b
	}
	next := pkt(PacketRPC, StatusEOM, 1, []byte("next"))
	cases := []struct {
		name   string
		in     []byte
		limit  int
		wantOK bool
	}{
		{"rest discarded", append(big(10, StatusEOM), next...), 0, true},
		{"refused packet was the last", append(big(4, StatusEOM), next...), 0, true},
		{"rest within the limit", append(big(10, StatusEOM), next...), 600, true},
		{"rest beyond the limit", append(big(10, StatusEOM), next...), 500, false},
		{"stream ends inside", big(10, 0), 0, false},
		{"packet of another type", append(big(5, 0), pkt(PacketRPC, StatusEOM, 6, make([]byte, 10))...), 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := NewPacketReader(bytes.NewReader(tc.in), MinPacketSize)
			var tl *MessageTooLargeError
			if _, err := r.ReadMessage(350); !errors.As(err, &tl) {
				t.Fatalf("ReadMessage: %v, want MessageTooLargeError", err)
			}
			err := r.DiscardMessage(tc.limit)
			if (err == nil) != tc.wantOK {
				t.Fatalf("DiscardMessage: %v, want ok=%v", err, tc.wantOK)
			}
			m, err := r.ReadMessage(350)
			if !tc.wantOK {
				if err == nil {
					t.Fatalf("reader usable after a failed discard: %+v", m)
				}
				return
			}
			if err != nil || m.Type != PacketRPC || string(m.Data) != "next" {
				t.Fatalf("next message: %+v, %v", m, err)
			}
		})
	}
	r := NewPacketReader(bytes.NewReader(next), MinPacketSize)
	if err := r.DiscardMessage(0); err == nil {
		t.Error("DiscardMessage without a refused message succeeded")
	}
}

func TestPacketWriterSplits(t *testing.T) {
	t.Parallel()
	payload := make([]byte, 3*(MinPacketSize-HeaderLen)) // exactly three full packets
	for i := range payload {
		payload[i] = byte(i)
	}
	for _, tc := range []struct {
		name    string
		n       int
		packets int
	}{
		{"empty", 0, 1},
		{"one byte", 1, 1},
		{"exactly one packet", MinPacketSize - HeaderLen, 1},
		{"one packet plus one", MinPacketSize - HeaderLen + 1, 2},
		{"exactly three packets", len(payload), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			w := NewPacketWriter(&out, MinPacketSize)
			w.SetSPID(0x33)
			if err := w.WriteMessage(PacketSQLBatch, StatusResetConnection, payload[:tc.n]); err != nil {
				t.Fatal(err)
			}
			r := NewPacketReader(bytes.NewReader(out.Bytes()), MinPacketSize)
			var got []byte
			for i := 0; i < tc.packets; i++ {
				h, p, err := r.ReadPacket()
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				last := i == tc.packets-1
				if (h.Status&StatusEOM != 0) != last || h.PacketID != uint8(i+1) || h.SPID != 0x33 {
					t.Fatalf("packet %d header %v", i, h)
				}
				if (h.Status&StatusResetConnection != 0) != (i == 0) {
					t.Fatalf("packet %d: reset bit %v", i, h.Status)
				}
				if !last && int(h.Length) != MinPacketSize {
					t.Fatalf("non-final packet %d has length %d", i, h.Length)
				}
				got = append(got, p...)
			}
			if _, _, err := r.ReadPacket(); !errors.Is(err, io.EOF) {
				t.Fatalf("extra packets: %v", err)
			}
			if !bytes.Equal(got, payload[:tc.n]) {
				t.Fatal("payload differs")
			}
		})
	}
}

func TestPacketWriterStreamingAndIDWrap(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	w := NewPacketWriter(&out, MinPacketSize)
	w.BeginMessage(PacketReply, 0)
	chunk := make([]byte, 7)
	total := 300 * (MinPacketSize - HeaderLen) // 300 packets: PacketID wraps
	for n := 0; n < total; n += len(chunk) {
		c := chunk
		if total-n < len(c) {
			c = c[:total-n]
		}
		if _, err := w.Write(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.EndMessage(); err != nil {
		t.Fatal(err)
	}
	r := NewPacketReader(bytes.NewReader(out.Bytes()), MinPacketSize)
	for i := 0; i < 300; i++ {
		h, _, err := r.ReadPacket()
		if err != nil {
			t.Fatal(err)
		}
		if h.PacketID != uint8(i+1) {
			t.Fatalf("packet %d has id %d", i, h.PacketID)
		}
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write outside a message succeeded")
	}
}

func TestWritePacketRelay(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	w := NewPacketWriter(&out, MinPacketSize)
	h := Header{Type: PacketRPC, Status: 0x04, SPID: 9, PacketID: 42, Length: 999}
	if err := w.WritePacket(h, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	want := pkt(PacketRPC, 0x04, 42, []byte("abc"))
	want[5] = 9
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("got % x, want % x", out.Bytes(), want)
	}
	if err := w.WritePacket(h, make([]byte, MinPacketSize)); err == nil {
		t.Fatal("oversized packet accepted")
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestPacketWriterError(t *testing.T) {
	t.Parallel()
	w := NewPacketWriter(errWriter{}, MinPacketSize)
	if err := w.WriteMessage(PacketSQLBatch, 0, []byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("got %v", err)
	}
}

// loopReader serves the same bytes forever without allocating.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}

func BenchmarkPacketReadMessage(b *testing.B) {
	const msgSize = 64 << 10
	var out bytes.Buffer
	w := NewPacketWriter(&out, DefaultPacketSize)
	if err := w.WriteMessage(PacketSQLBatch, 0, make([]byte, msgSize)); err != nil {
		b.Fatal(err)
	}
	r := NewPacketReader(&loopReader{data: out.Bytes()}, DefaultPacketSize)
	b.SetBytes(msgSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m, err := r.ReadMessage(0)
		if err != nil || len(m.Data) != msgSize {
			b.Fatalf("%v %d", err, len(m.Data))
		}
	}
}

func BenchmarkPacketWriteMessage(b *testing.B) {
	const msgSize = 64 << 10
	w := NewPacketWriter(io.Discard, DefaultPacketSize)
	data := make([]byte, msgSize)
	b.SetBytes(msgSize)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := w.WriteMessage(PacketSQLBatch, 0, data); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPacketSizeClamp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want int }{{0, MinPacketSize}, {100, MinPacketSize}, {4096, 4096}, {65535, MaxPacketSize}} {
		if got := NewPacketReader(nil, tc.in).PacketSize(); got != tc.want {
			t.Errorf("reader %d: got %d", tc.in, got)
		}
		if got := NewPacketWriter(nil, tc.in).PacketSize(); got != tc.want {
			t.Errorf("writer %d: got %d", tc.in, got)
		}
	}
	// A reader whose size grows accepts bigger packets afterwards.
	big := pkt(PacketSQLBatch, StatusEOM, 1, make([]byte, 1000))
	r := NewPacketReader(bytes.NewReader(append(append([]byte(nil), big...), big...)), 4096)
	r.SetPacketSize(512)
	if _, _, err := r.ReadPacket(); err == nil {
		t.Fatal("1008-byte packet accepted with size 512")
	}
	if _, err := DecodeHeader([]byte{1, 2, 3}); err == nil {
		t.Fatal("short header decoded")
	}
}

func TestMessageTooLargeErrorText(t *testing.T) {
	t.Parallel()
	e := &MessageTooLargeError{Type: PacketRPC, Max: 10, Size: 20}
	if got := e.Error(); got != "tds: RPC message exceeds 10 bytes (20 received)" {
		t.Fatalf("%q", got)
	}
	h := Header{Type: PacketReply, Status: StatusEOM, Length: 20, SPID: 5, PacketID: 1}
	if got := h.String(); got != "Reply status=EOM len=20 spid=5 id=1" {
		t.Fatalf("%q", got)
	}
}

func TestBufClass(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ n, class int }{
		{0, 0}, {1, 0}, {512, 0}, {513, 1}, {4096, 3}, {4104, 4}, {32767, 6}, {32768, 6},
		{1 << 20, 11}, {1<<20 + 1, -1},
	} {
		if got := bufClass(tc.n); got != tc.class {
			t.Errorf("bufClass(%d) = %d, want %d", tc.n, got, tc.class)
		}
		bp := getBuf(tc.n)
		if len(*bp) != 0 || cap(*bp) < tc.n {
			t.Errorf("getBuf(%d): len %d cap %d", tc.n, len(*bp), cap(*bp))
		}
		putBuf(bp)
	}
}

// TestIdleReaderWriterHoldNoBuffer guards the pooled buffers: a reader that
// has been released and a writer between messages hold no buffer (a proxy
// keeps thousands of idle connections), and returned data cannot be grown
// into a pooled buffer.
func TestIdleReaderWriterHoldNoBuffer(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	w := NewPacketWriter(&out, MinPacketSize)
	if err := w.WriteMessage(PacketSQLBatch, 0, []byte("one packet")); err != nil {
		t.Fatal(err)
	}
	long := bytes.Repeat([]byte("0123456789"), 300) // 6 packets of 512 bytes
	if err := w.WriteMessage(PacketRPC, 0, long); err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(Header{Type: PacketReply, Status: StatusEOM, PacketID: 1}, []byte("relayed")); err != nil {
		t.Fatal(err)
	}
	if w.bp != nil || w.buf != nil {
		t.Fatal("writer holds a buffer between messages")
	}
	r := NewPacketReader(bytes.NewReader(out.Bytes()), MinPacketSize)
	m, err := r.ReadMessage(0)
	if err != nil || string(m.Data) != "one packet" {
		t.Fatalf("message 1: %v %q", err, m.Data)
	}
	if cap(m.Data) != len(m.Data) {
		t.Errorf("single-packet Data: cap %d, len %d: an append would write into a pooled buffer", cap(m.Data), len(m.Data))
	}
	m, err = r.ReadMessage(0)
	if err != nil || !bytes.Equal(m.Data, long) || m.Packets != 6 {
		t.Fatalf("message 2: %v %d bytes in %d packets", err, len(m.Data), m.Packets)
	}
	if cap(m.Data) != len(m.Data) {
		t.Errorf("reassembled Data: cap %d, len %d", cap(m.Data), len(m.Data))
	}
	h, p, err := r.ReadPacket()
	if err != nil || h.Type != PacketReply || string(p) != "relayed" {
		t.Fatalf("packet: %v %v %q", err, h, p)
	}
	r.Release()
	if r.pkt != nil || r.mbuf != nil || r.msg.Data != nil {
		t.Fatal("reader holds a buffer after Release")
	}
	if _, _, err := r.ReadPacket(); !errors.Is(err, io.EOF) {
		t.Fatalf("at end: %v", err)
	}
	if r.pkt != nil || r.mbuf != nil {
		t.Fatal("reader waiting for a header holds a buffer")
	}
}

// TestReadMessageLargerThanPools reassembles a message past the largest
// pooled buffer class, in packets of every size.
func TestReadMessageLargerThanPools(t *testing.T) {
	t.Parallel()
	data := make([]byte, 1<<20+12345)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, size := range []int{MinPacketSize, DefaultPacketSize, MaxPacketSize} {
		var out bytes.Buffer
		w := NewPacketWriter(&out, size)
		for range 2 {
			if err := w.WriteMessage(PacketBulkLoad, 0, data); err != nil {
				t.Fatal(err)
			}
		}
		r := NewPacketReader(&out, size)
		for i := range 2 {
			m, err := r.ReadMessage(0)
			if err != nil || !bytes.Equal(m.Data, data) {
				t.Fatalf("size %d, message %d: %v, %d bytes", size, i, err, len(m.Data))
			}
		}
	}
}
