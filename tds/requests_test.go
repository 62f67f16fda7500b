package tds

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The spec examples 4.6, 4.8 and 4.13 encode the ALL_HEADERS transaction
// descriptor as bytes 00 00 00 00 00 00 00 01 with outstanding count
// 00 00 00 00 (erratum; §2.2.5.3.2 and real clients send descriptor 0,
// count 1). These tests pin how we treat it: decoded literally, re-encoded
// unchanged.
const specErratumDescriptor = 0x0100000000000000

func TestSQLBatchSpecExample(t *testing.T) {
	t.Parallel()
	h, payload := specPayload(t, "06-sql-batch-client-request")
	if h.Type != PacketSQLBatch {
		t.Fatalf("type %v", h.Type)
	}
	b, err := DecodeSQLBatch(payload, VerTDS72)
	if err != nil {
		t.Fatal(err)
	}
	if b.Text != "\nselect 'foo' as 'bar'\n        " {
		t.Fatalf("text %q", b.Text)
	}
	if !b.HasHeaders || b.Headers.TxDescriptor != specErratumDescriptor || b.Headers.OutstandingRequests != 0 {
		t.Fatalf("headers %v (erratum: literal bytes expected)", b.Headers)
	}
	if got := b.Append(nil); !bytes.Equal(got, payload) {
		t.Fatalf("re-encoding differs:\n got % X\nwant % X", got, payload)
	}
	// The version does not matter: the headers are detected for 7.1 too.
	if b71, err := DecodeSQLBatch(payload, VerTDS71); err != nil || !b71.HasHeaders || b71.Text != b.Text {
		t.Fatalf("7.1 decode: %v %v", b71, err)
	}
}

func TestAllHeadersPytds(t *testing.T) {
	t.Parallel()
	raw := readTestdata(t, "vectors/pytds/all-headers-txdesc-autocommit.bin")
	h, rest, err := DecodeAllHeaders(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 0 || !h.HasTxDescriptor || h.TxDescriptor != 0 || h.OutstandingRequests != 1 {
		t.Fatalf("got %v rest %d", h, len(rest))
	}
	if got := h.Append(nil); !bytes.Equal(got, raw) {
		t.Fatalf("re-encoding differs")
	}
	auto := AutocommitHeaders()
	if got := auto.Append(nil); !bytes.Equal(got, raw) {
		t.Fatalf("AutocommitHeaders: % X", got)
	}
}

func TestAllHeadersAllTypes(t *testing.T) {
	t.Parallel()
	h := AllHeaders{HasTxDescriptor: true, TxDescriptor: 0x0102030405060708, OutstandingRequests: 3,
		TraceActivity: bytes.Repeat([]byte{9}, 20), QueryNotification: []byte{2, 0, 'a', 0, 0, 0},
		Unknown: []RawHeader{{Type: 0x77, Data: []byte{1}}}}
	b := h.Append([]byte("x"))[1:]
	got, rest, err := DecodeAllHeaders(append(b, 'y', 0))
	if err != nil {
		t.Fatal(err)
	}
	if string(rest) != "y\x00" || got.TxDescriptor != h.TxDescriptor || got.OutstandingRequests != 3 ||
		!bytes.Equal(got.TraceActivity, h.TraceActivity) || !bytes.Equal(got.QueryNotification, h.QueryNotification) ||
		len(got.Unknown) != 1 || got.Unknown[0].Type != 0x77 {
		t.Fatalf("got %+v", got)
	}
	if !bytes.Equal(got.Append(nil), b) {
		t.Fatal("re-encoding differs")
	}
}

// TestAllHeadersOrderBeyondFour decodes more headers than AllHeaders keeps
// inline (unknown types after the known ones, out of the usual order):
// re-encoding keeps their order and a repeat past the fourth is still refused.
func TestAllHeadersOrderBeyondFour(t *testing.T) {
	t.Parallel()
	hdr := func(typ uint16, data ...byte) []byte {
		b := binary.LittleEndian.AppendUint32(nil, uint32(6+len(data)))
		return append(binary.LittleEndian.AppendUint16(b, typ), data...)
	}
	all := func(hs ...[]byte) []byte {
		body := bytes.Join(hs, nil)
		return append(binary.LittleEndian.AppendUint32(nil, uint32(4+len(body))), body...)
	}
	tx := hdr(HeaderTransactionDescriptor, make([]byte, 12)...)
	trace := hdr(HeaderTraceActivity, make([]byte, 20)...)
	in := all(hdr(0x71, 1), trace, hdr(0x72, 2), hdr(0x73, 3), tx, hdr(0x74, 4))
	h, rest, err := DecodeAllHeaders(in)
	if err != nil || len(rest) != 0 || len(h.Unknown) != 4 || !h.HasTxDescriptor {
		t.Fatalf("decode: %+v, rest %d, %v", h, len(rest), err)
	}
	if got := h.Append(nil); !bytes.Equal(got, in) {
		t.Fatalf("re-encoding differs:\n got % X\nwant % X", got, in)
	}
	c := cloneHeaders(h)
	if got := c.Append(nil); !bytes.Equal(got, in) {
		t.Fatalf("re-encoding of a clone differs")
	}
	if _, _, err := DecodeAllHeaders(all(hdr(0x71, 1), trace, hdr(0x72, 2), hdr(0x73, 3), tx, hdr(0x72, 5))); err == nil {
		t.Fatal("a header repeated after the fourth was accepted")
	}
}

// TestAllHeadersDecodeAllocs pins the request hot path: the headers
// clients send decode without allocating, and ASCII text in one.
func TestAllHeadersDecodeAllocs(t *testing.T) {
	h := AllHeaders{HasTxDescriptor: true, OutstandingRequests: 1, TraceActivity: make([]byte, 20)}
	b := append(h.Append(nil), AppendUCS2(nil, "SELECT 1")...)
	if n := testing.AllocsPerRun(100, func() {
		if _, _, err := DecodeAllHeaders(b); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("DecodeAllHeaders: %v allocations, want 0", n)
	}
	text := AppendUCS2(nil, "SELECT name FROM dbo.customers WHERE id = 1")
	if n := testing.AllocsPerRun(100, func() {
		if _, err := DecodeUCS2(text); err != nil {
			t.Fatal(err)
		}
	}); n != 1 {
		t.Errorf("DecodeUCS2 of ASCII text: %v allocations, want 1", n)
	}
}

func TestAllHeadersErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"short", []byte{1, 0}},
		{"total beyond", []byte{0x40, 0, 0, 0, 0, 0}},
		{"total below 4", []byte{2, 0, 0, 0}},
		{"header length beyond", []byte{10, 0, 0, 0, 0x20, 0, 0, 0, 2, 0}},
		{"header length below 6", []byte{10, 0, 0, 0, 3, 0, 0, 0, 2, 0}},
		{"truncated header", []byte{8, 0, 0, 0, 6, 0, 0, 0}},
		{"short descriptor", []byte{12, 0, 0, 0, 8, 0, 0, 0, 2, 0, 1, 2}},
		{"repeated", []byte{16, 0, 0, 0, 6, 0, 0, 0, 1, 0, 6, 0, 0, 0, 1, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := DecodeAllHeaders(tc.in)
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Msg != "ALL_HEADERS" {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestSQLBatchVersions(t *testing.T) {
	t.Parallel()
	text := AppendUCS2(nil, "SELECT 1")
	withHeaders := (&SQLBatch{Headers: AutocommitHeaders(), HasHeaders: true, Text: "SELECT 1"}).Append(nil)
	for _, tc := range []struct {
		name    string
		in      []byte
		ver     uint32
		headers bool
		fail    bool
	}{
		{"7.1 without headers", text, VerTDS71, false, false},
		{"unknown version without headers", text, 0, false, false},
		{"7.1 with headers", withHeaders, VerTDS71, true, false},
		{"7.4 with headers", withHeaders, VerTDS74, true, false},
		{"7.4 without headers", text, VerTDS74, false, true},
		{"8.0 with headers", withHeaders, VerTDS80, true, false},
		{"8.0 without headers", text, VerTDS80, false, true},
		{"odd text", append(withHeaders, 'x'), VerTDS74, true, true},
		{"empty 7.1", nil, VerTDS71, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := DecodeSQLBatch(tc.in, tc.ver)
			if tc.fail {
				if err == nil {
					t.Fatalf("no error: %v", b)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.HasHeaders != tc.headers || (len(tc.in) > 0 && b.Text != "SELECT 1") {
				t.Fatalf("got %v %q", b, b.Text)
			}
			if !bytes.Equal(b.Append(nil), tc.in) {
				t.Fatal("re-encoding differs")
			}
		})
	}
	if s := (&SQLBatch{Text: "UPDATE secrets SET pw='x'"}).String(); strings.Contains(s, "secrets") {
		t.Fatalf("String shows the text: %s", s)
	}
}

func TestTMRequestSpecErratum(t *testing.T) {
	t.Parallel()
	h, payload := specPayload(t, "13-transaction-manager-request")
	if h.Type != PacketTransMgr {
		t.Fatalf("type %v", h.Type)
	}
	// Erratum: RequestType is 16 00 (22), while the annotation says
	// TM_PROMOTE_XACT (6). 22 is no request type: rejected, naming the field.
	_, err := DecodeTMRequest(payload)
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Field != "RequestType" || !strings.Contains(fe.Reason, "22") {
		t.Fatalf("got %v", err)
	}
	// With the RequestType the annotation names, it decodes, descriptor bytes literal.
	fixed := append([]byte(nil), payload...)
	fixed[len(fixed)-2] = byte(TMPromoteXact)
	tm, err := DecodeTMRequest(fixed)
	if err != nil {
		t.Fatal(err)
	}
	if tm.Type != TMPromoteXact || tm.Headers.TxDescriptor != specErratumDescriptor {
		t.Fatalf("got %v", tm)
	}
	if !bytes.Equal(tm.Append(nil), fixed) {
		t.Fatal("re-encoding differs")
	}
}

func TestTMRequestRoundTrip(t *testing.T) {
	t.Parallel()
	hdr := AllHeaders{HasTxDescriptor: true, TxDescriptor: 0x288, OutstandingRequests: 1}
	for _, tc := range []TMRequest{
		{Type: TMGetDTCAddress, Cookie: []byte{}},
		{Type: TMPropagateXact, Cookie: []byte{1, 2, 3, 4}},
		{Type: TMBeginXact, IsolationLevel: IsolationSnapshot, Name: "tx1"},
		{Type: TMBeginXact},
		{Type: TMPromoteXact},
		{Type: TMCommitXact, Name: "tx1"},
		{Type: TMCommitXact, HasFlags: true},
		{Type: TMCommitXact, HasFlags: true, Flags: TMBeginXactFlag, IsolationLevel: IsolationSerializable, NewName: "next"},
		{Type: TMRollbackXact, Name: "sp", HasFlags: true},
		{Type: TMRollbackXact, HasFlags: true, Flags: TMBeginXactFlag, IsolationLevel: IsolationReadCommitted},
		{Type: TMSaveXact, Name: "savepoint_1"},
	} {
		t.Run(tc.Type.String()+"/"+tc.Name+tc.NewName, func(t *testing.T) {
			t.Parallel()
			tc.Headers = hdr
			b := tc.Append(nil)
			got, err := DecodeTMRequest(b)
			if err != nil {
				t.Fatal(err)
			}
			if got.Type != tc.Type || got.Name != tc.Name || got.NewName != tc.NewName || got.Flags != tc.Flags ||
				got.HasFlags != tc.HasFlags || got.IsolationLevel != tc.IsolationLevel ||
				!bytes.Equal(got.Cookie, tc.Cookie) || got.Headers.TxDescriptor != 0x288 {
				t.Fatalf("got %+v\nwant %+v", got, tc)
			}
			if !bytes.Equal(got.Append(nil), b) {
				t.Fatal("re-encoding differs")
			}
		})
	}
}

func TestTMRequestErrors(t *testing.T) {
	t.Parallel()
	hdr := AutocommitHeaders()
	base := hdr.Append(nil)
	for _, tc := range []struct {
		name string
		tail []byte
	}{
		{"no type", nil},
		{"unknown type", []byte{2, 0}},
		{"begin without isolation", []byte{5, 0}},
		{"begin name beyond end", []byte{5, 0, 0, 5, 'a', 0}},
		{"commit with trailing bytes", []byte{7, 0, 0, 0, 9}},
		{"commit begin flag without isolation", []byte{7, 0, 0, 1}},
		{"propagate short cookie", []byte{1, 0, 9, 0, 1}},
		{"save odd name", []byte{9, 0, 1, 'a'}},
		{"promote with payload", []byte{6, 0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeTMRequest(append(append([]byte(nil), base...), tc.tail...))
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want FormatError", err)
			}
		})
	}
	if _, err := DecodeTMRequest([]byte{5, 0}); err == nil {
		t.Fatal("TM request without ALL_HEADERS accepted")
	}
}

// TestBabelfishRequests decodes every clear-text SQLBatch and TM request
// real clients sent in the babelfish captures and re-encodes it byte for
// byte; the TM requests of go-mssqldb's BeginTx/Commit/Rollback are checked
// field by field.
func TestBabelfishRequests(t *testing.T) {
	t.Parallel()
	var batches, tms int
	for _, name := range babelfishCaptures(t) {
		msgs, _ := captureMessages(t, name)
		ver := uint32(0)
		for i, m := range msgs {
			switch m.Type {
			case PacketLogin7:
				l, err := DecodeLogin7(m.Data)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				ver = l.TDSVersion
			case PacketSQLBatch:
				batches++
				b, err := DecodeSQLBatch(m.Data, ver)
				if err != nil {
					t.Fatalf("%s message %d: %v", name, i, err)
				}
				if strings.TrimSpace(b.Text) == "" {
					t.Errorf("%s message %d: empty text", name, i)
				}
				if ver >= VerTDS72 && !b.Headers.HasTxDescriptor {
					t.Errorf("%s message %d: no transaction descriptor", name, i)
				}
				if !bytes.Equal(b.Append(nil), m.Data) {
					t.Errorf("%s message %d: re-encoding differs", name, i)
				}
			case PacketTransMgr:
				tms++
				tm, err := DecodeTMRequest(m.Data)
				if err != nil {
					t.Fatalf("%s message %d: %v", name, i, err)
				}
				if !bytes.Equal(tm.Append(nil), m.Data) {
					t.Errorf("%s message %d: re-encoding differs", name, i)
				}
			}
		}
	}
	if batches < 40 || tms != 4 {
		t.Fatalf("decoded %d batches and %d TM requests", batches, tms)
	}

	// 06b: go-mssqldb BeginTx, Commit, BeginTx, Rollback.
	msgs, _ := captureMessages(t, "06b-go-begintx-tm-requests")
	var seq []string
	for _, m := range msgs {
		if m.Type == PacketTransMgr {
			tm, _ := DecodeTMRequest(m.Data)
			seq = append(seq, tm.Type.String())
			if tm.Type == TMCommitXact && (tm.Headers.TxDescriptor != 0x288 || !tm.HasFlags || tm.Flags != 0) {
				t.Errorf("commit %v", tm)
			}
			if m.Status&StatusResetConnection != 0 && tm.Type != TMBeginXact {
				t.Errorf("reset on %v", tm.Type)
			}
		}
	}
	if got := strings.Join(seq, ","); got != "TM_BEGIN_XACT,TM_COMMIT_XACT,TM_BEGIN_XACT,TM_ROLLBACK_XACT" {
		t.Fatalf("sequence %s", got)
	}
}

// TestVectorPackets reads every spec example and pytds message vector
// through PacketReader: each is one message of one packet.
func TestVectorPackets(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "vectors", "*", "*.bin"))
	if err != nil || len(files) < 25 {
		t.Fatalf("%d vector files: %v", len(files), err)
	}
	for _, file := range files {
		base := filepath.Base(file)
		if strings.HasPrefix(base, "all-headers") || strings.HasPrefix(base, "login7-password") {
			continue // fragments, not packets
		}
		t.Run(base, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			r := NewPacketReader(bytes.NewReader(raw), DefaultPacketSize)
			m, err := r.ReadMessage(0)
			if err != nil {
				t.Fatal(err)
			}
			if m.Packets != 1 || len(m.Data)+HeaderLen > len(raw) {
				t.Fatalf("%d packets, %d bytes", m.Packets, len(m.Data))
			}
			_, err = r.ReadMessage(0)
			if strings.HasPrefix(base, "17-") {
				// Erratum (a): 407 bytes against a header Length of 406.
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("stray byte: got %v", err)
				}
				return
			}
			if !errors.Is(err, io.EOF) {
				t.Fatalf("after the message: %v", err)
			}
		})
	}
}

// TestSpecRPCAllHeaders pins how the ALL_HEADERS errata of 4.8 and 4.14
// decode: literally, with the descriptor/count bytes as the examples have them.
func TestSpecRPCAllHeaders(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		desc  uint64
		count uint32
	}{
		{"08-rpc-client-request", specErratumDescriptor, 0},
		{"14-tvp-insert-statement", 0, 0x01000000},
	} {
		_, p := specPayload(t, tc.name)
		h, _, err := DecodeAllHeaders(p)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if h.TxDescriptor != tc.desc || h.OutstandingRequests != tc.count {
			t.Errorf("%s: got %v", tc.name, h)
		}
	}
}
