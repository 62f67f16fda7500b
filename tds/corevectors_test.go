package tds

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// Helpers shared by codec-core tests: load test vectors from testdata.

// readTestdata reads testdata/<rel>.
func readTestdata(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// specPayload reads a single-packet spec example and returns its header and payload.
func specPayload(t testing.TB, name string) (Header, []byte) {
	t.Helper()
	b := readTestdata(t, "vectors/ms-tds-v39-examples/"+name+".bin")
	h, err := DecodeHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	return h, b[HeaderLen:h.Length]
}

// capturedMessage is one client message of a babelfish capture.
type capturedMessage struct {
	Type   PacketType
	Status PacketStatus
	Data   []byte
	// Raw is the message's packets as they were on the wire.
	Raw []byte
}

// isClientPacketType reports whether t may start a client packet; anything
// else in a capture is a bare TLS record (after an in-band TLS handshake).
func isClientPacketType(t byte) bool {
	switch PacketType(t) {
	case PacketSQLBatch, PacketRPC, PacketAttention, PacketBulkLoad, PacketFedAuthToken,
		PacketTransMgr, PacketLogin7, PacketSSPI, PacketPrelogin:
		return true
	}
	return false
}

// captureMessages splits a client→server capture into messages, stopping at
// the first byte that cannot start a TDS packet (TLS after the handshake).
// It reports whether the whole stream was plain TDS.
func captureMessages(t testing.TB, name string) ([]capturedMessage, bool) {
	t.Helper()
	stream := readTestdata(t, "babelfish/"+name+".c2s.bin")
	// Cut the stream where TDS stops.
	end := 0
	for end+HeaderLen <= len(stream) && isClientPacketType(stream[end]) {
		h, err := DecodeHeader(stream[end:])
		if err != nil {
			t.Fatalf("%s at %d: %v", name, end, err)
		}
		end += int(h.Length)
	}
	plain := end == len(stream)
	if end > len(stream) {
		t.Fatalf("%s: truncated packet", name)
	}
	r := NewPacketReader(bytes.NewReader(stream[:end]), MaxPacketSize)
	var msgs []capturedMessage
	off := 0
	for {
		m, err := r.ReadMessage(0)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// A PRELOGIN carrying TLS may be cut by the stop above.
			if errors.Is(err, io.ErrUnexpectedEOF) && !plain {
				break
			}
			t.Fatalf("%s: %v", name, err)
		}
		n := 0
		for i, rest := 0, stream[off:]; i < m.Packets; i++ {
			h, _ := DecodeHeader(rest)
			n += int(h.Length)
			rest = rest[h.Length:]
		}
		msgs = append(msgs, capturedMessage{
			Type: m.Type, Status: m.Status,
			Data: append([]byte(nil), m.Data...),
			Raw:  stream[off : off+n],
		})
		off += n
	}
	return msgs, plain
}

// babelfishCaptures lists the capture names in testdata/babelfish.
func babelfishCaptures(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "babelfish", "*.c2s.bin"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f[:len(f)-len(".c2s.bin")]))
	}
	return names
}
