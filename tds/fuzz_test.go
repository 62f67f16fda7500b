package tds

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// Fuzz targets for the codec-core decoders. Seeds come from testdata (spec
// examples, pytds vectors, babelfish captures) and run in plain `go test`.

// seedMessages adds the payload of every captured client message of type t
// and of the listed single-packet spec examples.
func seedMessages(f *testing.F, t PacketType, spec ...string) {
	f.Helper()
	for _, name := range spec {
		_, p := specPayload(f, name)
		f.Add(p)
	}
	for _, name := range babelfishCaptures(f) {
		msgs, _ := captureMessages(f, name)
		for _, m := range msgs {
			if m.Type == t {
				f.Add(m.Data)
			}
		}
	}
}

func FuzzPacketReader(f *testing.F) {
	for _, name := range []string{"01-go-login-select1", "06b-go-begintx-tm-requests", "04-pyodbc-types"} {
		f.Add(readTestdata(f, "babelfish/"+name+".c2s.bin"))
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "vectors", "ms-tds-v39-examples", "*.bin"))
	for _, file := range files {
		f.Add(readTestdata(f, "vectors/ms-tds-v39-examples/"+filepath.Base(file)))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const maxMsg = 1 << 16
		r := NewPacketReader(bytes.NewReader(in), MinPacketSize)
		var out bytes.Buffer
		w := NewPacketWriter(&out, MinPacketSize)
		var msgs [][]byte
		for {
			m, err := r.ReadMessage(maxMsg)
			if err != nil {
				var tl *MessageTooLargeError
				if errors.As(err, &tl) && tl.Size <= maxMsg {
					t.Fatalf("too-large error below the cap: %v", tl)
				}
				break
			}
			if len(m.Data) > maxMsg {
				t.Fatalf("message of %d bytes passed the cap", len(m.Data))
			}
			msgs = append(msgs, append([]byte(nil), m.Data...))
			if err := w.WriteMessage(m.Type, m.Status&^StatusIgnore, m.Data); err != nil {
				t.Fatal(err)
			}
		}
		// What was read re-packetizes and reads back identically.
		r2 := NewPacketReader(&out, MinPacketSize)
		for i, want := range msgs {
			m, err := r2.ReadMessage(maxMsg)
			if err != nil || !bytes.Equal(m.Data, want) {
				t.Fatalf("message %d: %v", i, err)
			}
		}
		if _, err := r2.ReadMessage(maxMsg); !errors.Is(err, io.EOF) {
			t.Fatalf("extra data after re-packetizing: %v", err)
		}
	})
}

func FuzzPrelogin(f *testing.F) {
	seedMessages(f, PacketPrelogin, "01-pre-login-request")
	for _, name := range []string{"prelogin-response-real-v10.0.5512", "prelogin-response-with-fedauthrequired"} {
		raw := readTestdata(f, "vectors/pytds/"+name+".bin")
		f.Add(raw[HeaderLen:])
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := DecodePrelogin(in)
		if err != nil {
			return
		}
		b := p.Append(nil)
		q, err := DecodePrelogin(b)
		if err != nil {
			t.Fatalf("re-encoded PRELOGIN does not decode: %v", err)
		}
		if q.String() != p.String() || !bytes.Equal(q.Append(nil), b) {
			t.Fatalf("round trip differs: %v vs %v", p, q)
		}
	})
}

func FuzzLogin7(f *testing.F) {
	seedMessages(f, PacketLogin7, "02-login-request", "16-featureext-sessionrecovery", "20-featureext-azuresqlsupport")
	f.Fuzz(func(t *testing.T, in []byte) {
		l, err := DecodeLogin7(in)
		if err != nil {
			return
		}
		b, err := l.Append(nil)
		if err != nil {
			return // e.g. an empty field whose recorded offset no longer fits
		}
		l2, err := DecodeLogin7(b)
		if err != nil {
			t.Fatalf("re-encoded LOGIN7 does not decode: %v", err)
		}
		if !sameLogin(l, l2) || l.Password != l2.Password {
			t.Fatalf("round trip differs:\n%v\n%v", l, l2)
		}
	})
}

func FuzzSQLBatch(f *testing.F) {
	seedMessages(f, PacketSQLBatch, "06-sql-batch-client-request")
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, ver := range []uint32{0, VerTDS71, VerTDS74} {
			b, err := DecodeSQLBatch(in, ver)
			if err != nil {
				continue
			}
			enc := b.Append(nil)
			b2, err := DecodeSQLBatch(enc, ver)
			if err != nil {
				t.Fatalf("re-encoded batch does not decode (version %#x): %v", ver, err)
			}
			if b2.Text != b.Text || b2.HasHeaders != b.HasHeaders || b2.Headers.String() != b.Headers.String() {
				t.Fatalf("round trip differs: %v %v", b, b2)
			}
		}
	})
}

func FuzzTMRequest(f *testing.F) {
	seedMessages(f, PacketTransMgr)
	_, p := specPayload(f, "13-transaction-manager-request")
	f.Add(p)
	f.Fuzz(func(t *testing.T, in []byte) {
		tm, err := DecodeTMRequest(in)
		if err != nil {
			return
		}
		enc := tm.Append(nil)
		tm2, err := DecodeTMRequest(enc)
		if err != nil {
			t.Fatalf("re-encoded TM request does not decode: %v", err)
		}
		if tm2.String() != tm.String() || !bytes.Equal(tm2.Append(nil), enc) {
			t.Fatalf("round trip differs: %v %v", tm, tm2)
		}
	})
}

// bytesConn is a net.Conn that reads fixed bytes and discards writes.
type bytesConn struct{ r *bytes.Reader }

func (c *bytesConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c *bytesConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c *bytesConn) Close() error                     { return nil }
func (c *bytesConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *bytesConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *bytesConn) SetDeadline(time.Time) error      { return nil }
func (c *bytesConn) SetReadDeadline(time.Time) error  { return nil }
func (c *bytesConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzServerHandshake feeds arbitrary client bytes to ServerHandshake, with
// and without a TLS config: it must fail or succeed, never panic or hang.
func FuzzServerHandshake(f *testing.F) {
	for _, name := range []string{"01-go-login-select1", "02-go-login-only-tls", "16-pymssql-tds73-login", "18-go-full-tls"} {
		f.Add(readTestdata(f, "babelfish/"+name+".c2s.bin"))
	}
	f.Add([]byte{tlsRecordHandshake, 3, 1, 0, 5, 1, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, cfg := range []*ServerHandshakeConfig{{}, {TLS: serverTLS(t), Encryption: EncryptOff}} {
			res, err := ServerHandshake(context.Background(), &bytesConn{r: bytes.NewReader(in)}, cfg)
			if err == nil && (res.Login == nil || res.Conn == nil) {
				t.Fatalf("success without a login: %+v", res)
			}
		}
	})
}

// FuzzClientHandshake feeds arbitrary server bytes to ClientHandshake in
// each encryption setting: it must fail or succeed, never panic or hang.
func FuzzClientHandshake(f *testing.F) {
	for _, name := range []string{"prelogin-response-real-v10.0.5512", "prelogin-response-with-fedauthrequired"} {
		f.Add(readTestdata(f, "vectors/pytds/"+name+".bin"))
	}
	on := (&Prelogin{HasVersion: true, HasEncryption: true, Encryption: EncryptOn}).Append(nil)
	f.Add(append(pkt(PacketReply, StatusEOM, 1, on), pkt(PacketPrelogin, StatusEOM, 1, []byte{0x16, 3, 3, 0, 1, 0})...))
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, enc := range []ClientEncryption{ClientEncryptDisable, ClientEncryptOptional, ClientEncryptRequired, ClientEncryptStrict} {
			cfg := &ClientHandshakeConfig{TLS: clientTLS(t), Encryption: enc, Login: testLogin()}
			res, err := ClientHandshake(context.Background(), &bytesConn{r: bytes.NewReader(in)}, cfg)
			if err == nil && (res.ServerPrelogin == nil || res.Conn == nil) {
				t.Fatalf("success without an answer: %+v", res)
			}
			if err == nil && enc == ClientEncryptRequired && res.Mode != ModeFull {
				t.Fatalf("required encryption ended in mode %v", res.Mode)
			}
		}
	})
}
