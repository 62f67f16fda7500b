package tds

import (
	"bytes"
	"errors"
	"testing"
)

func TestPreloginVectors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file  string
		check func(t *testing.T, p *Prelogin)
	}{
		{"vectors/ms-tds-v39-examples/01-pre-login-request.bin", func(t *testing.T, p *Prelogin) {
			if p.Version != 0x09000000 || p.Encryption != EncryptOn || !p.MARS || p.ThreadID != 0xDB8 ||
				!bytes.Equal(p.InstOpt, []byte{0}) || p.HasTraceID {
				t.Fatalf("got %v", p)
			}
		}},
		{"vectors/pytds/prelogin-response-real-v10.0.5512.bin", func(t *testing.T, p *Prelogin) {
			if p.Version != 0x0A001588 || p.Encryption != EncryptNotSup || !p.HasThreadID || p.ThreadID != 0 || p.MARS {
				t.Fatalf("got %v", p)
			}
		}},
		{"vectors/pytds/prelogin-response-with-fedauthrequired.bin", func(t *testing.T, p *Prelogin) {
			if !p.HasFedAuthRequired || p.Version>>24 != 12 {
				t.Fatalf("got %v", p)
			}
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			raw := readTestdata(t, tc.file)
			h, err := DecodeHeader(raw)
			if err != nil {
				t.Fatal(err)
			}
			payload := raw[HeaderLen:h.Length]
			p, err := DecodePrelogin(payload)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, p)
			if got := p.Append(nil); !bytes.Equal(got, payload) {
				t.Fatalf("re-encoding differs:\n got % X\nwant % X", got, payload)
			}
		})
	}
}

// TestPreloginBabelfish decodes the first PRELOGIN of every capture (the
// later ones of TLS captures carry handshake records) and re-encodes it.
func TestPreloginBabelfish(t *testing.T) {
	t.Parallel()
	for _, name := range babelfishCaptures(t) {
		msgs, _ := captureMessages(t, name)
		if len(msgs) == 0 || msgs[0].Type != PacketPrelogin {
			t.Fatalf("%s: no PRELOGIN first", name)
		}
		p, err := DecodePrelogin(msgs[0].Data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !p.HasEncryption || p.MARS {
			t.Errorf("%s: %v", name, p)
		}
		if got := p.Append(nil); !bytes.Equal(got, msgs[0].Data) {
			t.Errorf("%s: re-encoding differs:\n got % X\nwant % X", name, got, msgs[0].Data)
		}
		// The TLS captures' next PRELOGIN packets hold a TLS record (0x16 handshake).
		for _, m := range msgs[1:] {
			if m.Type == PacketPrelogin && (len(m.Data) == 0 || m.Data[0] != 0x16) {
				t.Errorf("%s: second PRELOGIN is not TLS: % X", name, m.Data[:min(8, len(m.Data))])
			}
		}
	}
}

func TestPreloginBuild(t *testing.T) {
	t.Parallel()
	p := &Prelogin{HasEncryption: true, Encryption: EncryptReq, HasVersion: true, Version: 0x10000FA0,
		HasMARS: true, HasThreadID: true, HasInstOpt: true, InstOpt: []byte{0},
		HasNonce: true, Nonce: bytes.Repeat([]byte{7}, 32),
		Unknown: []PreloginOption{{Token: 0x42, Data: []byte("x")}}}
	b := p.Append(nil)
	if b[0] != byte(PreloginVersion) {
		t.Fatalf("VERSION not first: % X", b)
	}
	q, err := DecodePrelogin(b)
	if err != nil {
		t.Fatal(err)
	}
	if q.Encryption != EncryptReq || q.Version != 0x10000FA0 || !q.HasMARS || q.MARS || !bytes.Equal(q.Nonce, p.Nonce) ||
		len(q.Unknown) != 1 || q.Unknown[0].Token != 0x42 || q.HasTraceID {
		t.Fatalf("got %v", q)
	}
	// A decoded, then modified message re-encodes with the change.
	q.Encryption = EncryptOn
	r, err := DecodePrelogin(q.Append(nil))
	if err != nil || r.Encryption != EncryptOn {
		t.Fatalf("modified: %v %v", r, err)
	}
}

func TestPreloginErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"no terminator", []byte{0x00, 0x00, 0x06, 0x00, 0x06}},
		{"truncated entry", []byte{0x00, 0x00}},
		{"offset beyond end", []byte{0x01, 0x00, 0x20, 0x00, 0x01, 0xFF}},
		{"length beyond end", []byte{0x01, 0x00, 0x06, 0x00, 0x09, 0xFF, 0x00}},
		{"bad version length", []byte{0x00, 0x00, 0x06, 0x00, 0x01, 0xFF, 0x09}},
		{"repeated option", []byte{0x01, 0x00, 0x0B, 0x00, 0x01, 0x01, 0x00, 0x0B, 0x00, 0x01, 0xFF, 0x00}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodePrelogin(tc.in)
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Msg != "PRELOGIN" {
				t.Fatalf("got %v, want a PRELOGIN FormatError", err)
			}
		})
	}
}

func TestNegotiateEncryption(t *testing.T) {
	t.Parallel()
	// The table of PROTOCOL.md §2 ([MS-TDS] §3.3.5.1), plus EncryptReq as a
	// server setting and unknown client values.
	for _, tc := range []struct {
		server, client Encryption
		answer         Encryption
		outcome        EncryptionOutcome
	}{
		{EncryptOff, EncryptOff, EncryptOff, LoginOnlyTLS},
		{EncryptOff, EncryptOn, EncryptOn, FullTLS},
		{EncryptOff, EncryptNotSup, EncryptNotSup, NoTLS},
		{EncryptOff, EncryptReq, EncryptOn, FullTLS},
		{EncryptOn, EncryptOff, EncryptReq, FullTLS},
		{EncryptOn, EncryptOn, EncryptOn, FullTLS},
		{EncryptOn, EncryptNotSup, EncryptReq, Refuse},
		{EncryptOn, EncryptReq, EncryptOn, FullTLS},
		{EncryptNotSup, EncryptOff, EncryptNotSup, NoTLS},
		{EncryptNotSup, EncryptOn, EncryptNotSup, Refuse},
		{EncryptNotSup, EncryptNotSup, EncryptNotSup, NoTLS},
		{EncryptNotSup, EncryptReq, EncryptNotSup, Refuse},
		{EncryptReq, EncryptOff, EncryptReq, FullTLS},
		{EncryptReq, EncryptNotSup, EncryptReq, Refuse},
		{EncryptReq, EncryptOn | EncryptClientCert, EncryptOn, FullTLS},
		{EncryptOff, Encryption(0x04), EncryptOn, FullTLS}, // unknown: never downgrade
		{EncryptNotSup, Encryption(0x04), EncryptNotSup, Refuse},
	} {
		t.Run(tc.server.String()+"/"+tc.client.String(), func(t *testing.T) {
			t.Parallel()
			a, o := NegotiateEncryption(tc.server, tc.client)
			if a != tc.answer || o != tc.outcome {
				t.Fatalf("got %v %v, want %v %v", a, o, tc.answer, tc.outcome)
			}
		})
	}
}
