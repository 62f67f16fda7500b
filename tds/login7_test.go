package tds

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestPasswordObfuscation(t *testing.T) {
	t.Parallel()
	want := readTestdata(t, "vectors/derived/login7-password-obfuscation-testpwd.bin")
	got := ObfuscatePassword(nil, "testpwd")
	if !bytes.Equal(got, want) {
		t.Fatalf("got % X, want % X", got, want)
	}
	for _, s := range []string{"", "testpwd", "pässwörd", "日本語🔑"} {
		back, err := DeobfuscatePassword(ObfuscatePassword([]byte("prefix"), s)[6:])
		if err != nil || back != s {
			t.Errorf("%q: got %q, %v", s, back, err)
		}
	}
	if _, err := DeobfuscatePassword([]byte{1, 2, 3}); err == nil {
		t.Error("odd length accepted")
	}
}

func TestLogin7SpecExamples(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		check func(t *testing.T, l *Login7)
	}{
		{"02-login-request", func(t *testing.T, l *Login7) {
			want := Login7{TDSVersion: VerTDS72, PacketSize: 4096, ClientProgVer: 0x07000000, ClientPID: 256,
				OptionFlags1: 0xE0, OptionFlags2: 0x03, ClientLCID: 0x409,
				HostName: "skostov1", UserName: "sa", AppName: "OSQL-32", CltIntName: "ODBC",
				ClientID: [6]byte{0x00, 0x50, 0x8B, 0xE2, 0xB7, 0x8F}}
			if !sameLogin(l, &want) {
				t.Fatalf("got %s\n%+v", l, *l)
			}
		}},
		{"03-login-request-federated-auth", func(t *testing.T, l *Login7) {
			if !l.FedAuth() || l.IntegratedSecurity() || l.UserName != "" || l.Password != "" {
				t.Fatalf("fedauth=%t integrated=%t user=%q", l.FedAuth(), l.IntegratedSecurity(), l.UserName)
			}
			if f, _ := l.Feature(FeatureFedAuth); len(f.Data) < 1000 {
				t.Fatalf("FEDAUTH data %d bytes", len(f.Data))
			}
		}},
		{"16-featureext-sessionrecovery", func(t *testing.T, l *Login7) {
			if len(l.FeatureExt) == 0 || l.FeatureExt[0].ID != FeatureSessionRecovery {
				t.Fatalf("features %v", l.FeatureExt)
			}
		}},
		{"20-featureext-azuresqlsupport", func(t *testing.T, l *Login7) {
			if _, ok := l.Feature(FeatureAzureSQLSupport); !ok || !l.ReadOnlyIntent() {
				t.Fatalf("features %v readonly %t", l.FeatureExt, l.ReadOnlyIntent())
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, payload := specPayload(t, tc.name)
			if h.Type != PacketLogin7 {
				t.Fatalf("type %v", h.Type)
			}
			l, err := DecodeLogin7(payload)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, l)
			got, err := l.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("re-encoding differs:\n got % X\nwant % X", got, payload)
			}
		})
	}
}

// sameLogin compares the exported fields.
func sameLogin(a, b *Login7) bool {
	a2, b2 := *a, *b
	a2.emptyOff, b2.emptyOff = [login7Fields]uint16{}, [login7Fields]uint16{}
	a2.hasEmptyOff, b2.hasEmptyOff = false, false
	return fmt.Sprintf("%#v|%q|%q|%v|%v", a2.FeatureExt, a2.Password, a2.ChangePassword, a2.SSPI, a2.Unused) ==
		fmt.Sprintf("%#v|%q|%q|%v|%v", b2.FeatureExt, b2.Password, b2.ChangePassword, b2.SSPI, b2.Unused) &&
		a2.String() == b2.String() && a2.ClientID == b2.ClientID && a2.OptionFlags1 == b2.OptionFlags1 &&
		a2.OptionFlags2 == b2.OptionFlags2 && a2.OptionFlags3 == b2.OptionFlags3 && a2.TypeFlags == b2.TypeFlags &&
		a2.ClientProgVer == b2.ClientProgVer && a2.ClientPID == b2.ClientPID && a2.ConnectionID == b2.ConnectionID &&
		a2.ClientTimeZone == b2.ClientTimeZone && a2.ClientLCID == b2.ClientLCID && a2.AtchDBFile == b2.AtchDBFile
}

// TestLogin7Babelfish decodes and re-encodes every LOGIN7 real clients sent
// in clear text in the babelfish captures.
func TestLogin7Babelfish(t *testing.T) {
	t.Parallel()
	seen := 0
	for _, name := range babelfishCaptures(t) {
		msgs, _ := captureMessages(t, name)
		for _, m := range msgs {
			if m.Type != PacketLogin7 {
				continue
			}
			seen++
			t.Run(name, func(t *testing.T) {
				l, err := DecodeLogin7(m.Data)
				if err != nil {
					t.Fatal(err)
				}
				if l.UserName != "babelfish_user" || l.Password != "12345678" {
					t.Fatalf("user %q password ok=%t", l.UserName, l.Password == "12345678")
				}
				wantRO := strings.Contains(name, "readonly")
				if l.ReadOnlyIntent() != wantRO {
					t.Fatalf("ReadOnlyIntent %t", l.ReadOnlyIntent())
				}
				if strings.Contains(name, "pymssql") && l.TDSVersion != VerTDS73B {
					t.Fatalf("TDS version %x", l.TDSVersion)
				}
				if strings.Contains(name, "go-") && l.AppName != "go-mssqldb" {
					t.Fatalf("app %q", l.AppName)
				}
				got, err := l.Append(nil)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, m.Data) {
					t.Fatalf("re-encoding differs:\n got % X\nwant % X", got, m.Data)
				}
			})
		}
	}
	if seen < 20 {
		t.Fatalf("only %d clear-text LOGIN7 messages found", seen)
	}
}

func TestLogin7RoundTripBuilt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		l    Login7
	}{
		{"minimal", Login7{TDSVersion: VerTDS74}},
		{"full", Login7{TDSVersion: VerTDS74, PacketSize: 8192, ClientPID: 77, OptionFlags2: Login7ODBC,
			TypeFlags: Login7ReadOnlyIntent, ClientTimeZone: -120, ClientLCID: 1033,
			HostName: "host", UserName: "ünïcode", Password: "s3cr€t🔑", AppName: "app", ServerName: "srv",
			CltIntName: "lib", Language: "us_english", Database: "db", AtchDBFile: "file.mdf",
			ChangePassword: "new", ClientID: [6]byte{1, 2, 3, 4, 5, 6},
			FeatureExt: []FeatureExt{{ID: FeatureUTF8Support, Data: []byte{1}}, {ID: FeatureFedAuth, Data: []byte{2, 3}}}}},
		{"sspi", Login7{TDSVersion: VerTDS73B, OptionFlags2: Login7IntSecurity, SSPI: []byte("NTLMSSP\x00\x01")}},
		{"long sspi", Login7{TDSVersion: VerTDS74, SSPI: bytes.Repeat([]byte{7}, 70000)}},
		{"unused bytes", Login7{TDSVersion: VerTDS72, Unused: []byte{9, 9}}},
		{"tds 7.0", Login7{TDSVersion: VerTDS70, UserName: "old", Password: "pw"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := tc.l.Append([]byte("junk"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeLogin7(b[4:])
			if err != nil {
				t.Fatal(err)
			}
			want := tc.l
			if len(want.FeatureExt) > 0 {
				want.OptionFlags3 |= Login7Extension
			}
			if !sameLogin(got, &want) {
				t.Fatalf("got  %#v\nwant %#v", got, want)
			}
			b2, err := got.Append(nil)
			if err != nil || !bytes.Equal(b2, b[4:]) {
				t.Fatalf("second encoding differs: %v", err)
			}
		})
	}
}

func TestLogin7NeverShowsPassword(t *testing.T) {
	t.Parallel()
	l := &Login7{UserName: "u", Password: "hunter2-secret", ChangePassword: "next-secret"}
	for _, s := range []string{l.String(), fmt.Sprint(l), fmt.Sprintf("%v %+v %#v %s", l, l, l, *l), fmt.Sprintf("%#v", *l)} {
		if strings.Contains(s, "secret") || strings.Contains(s, "hunter2") {
			t.Fatalf("password leaked: %s", s)
		}
	}
}

func TestLogin7Errors(t *testing.T) {
	t.Parallel()
	valid, err := (&Login7{TDSVersion: VerTDS74, UserName: "user", Password: "pw",
		FeatureExt: []FeatureExt{{ID: FeatureUTF8Support, Data: []byte{1}}}}).Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	mut := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), valid...))
	}
	le16 := binary.LittleEndian.PutUint16
	extOff := int(binary.LittleEndian.Uint16(valid[pairPos(fExtension):]))
	for _, tc := range []struct {
		name, field string
		in          []byte
	}{
		{"empty", "Length", nil},
		{"short fixed part", "Length", valid[:60]},
		{"length beyond message", "Length", mut(func(b []byte) []byte { b[0] = 0xFF; return b })},
		// Regression (found by FuzzLogin7): a Length below the fixed part
		// truncated the message before the fixed fields were read.
		{"length below fixed part", "Length", mut(func(b []byte) []byte { b[0], b[1] = 32, 0; return b })},
		{"user offset beyond end", "ibUserName", mut(func(b []byte) []byte { le16(b[40:], 0xFFF0); return b })},
		{"user length beyond end", "ibUserName", mut(func(b []byte) []byte { le16(b[42:], 0x7FFF); return b })},
		{"user inside the fixed part", "ibUserName", mut(func(b []byte) []byte { le16(b[40:], 10); return b })},
		{"featureext offset beyond end", "ibExtension", mut(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[extOff:], 1<<30)
			return b
		})},
		{"featureext short slot", "ibExtension", mut(func(b []byte) []byte { le16(b[pairPos(fExtension)+2:], 2); return b })},
		{"featureext unterminated", "ibExtension", mut(func(b []byte) []byte {
			b = b[:len(b)-1]
			binary.LittleEndian.PutUint32(b, uint32(len(b)))
			return b
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeLogin7(tc.in)
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a FormatError", err)
			}
			if fe.Msg != "LOGIN7" || fe.Field != tc.field {
				t.Fatalf("got %v, want field %s", err, tc.field)
			}
		})
	}
}

func TestLogin7AppendTooLarge(t *testing.T) {
	t.Parallel()
	l := &Login7{TDSVersion: VerTDS74, HostName: strings.Repeat("h", 70000)}
	if _, err := l.Append(nil); err == nil {
		t.Fatal("oversized login encoded")
	}
}
