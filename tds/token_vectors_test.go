package tds

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// replyVector is one server reply (token stream, packet headers removed).
type replyVector struct {
	name string
	ver  uint32
	data []byte
}

// tokPackets concatenates the payloads of a file holding whole TDS packets.
func tokPackets(t testing.TB, b []byte) []byte {
	t.Helper()
	var out []byte
	for len(b) > 0 {
		if len(b) < 8 {
			t.Fatalf("trailing %d bytes after the last packet", len(b))
		}
		n := int(binary.BigEndian.Uint16(b[2:]))
		if n < 8 || n > len(b) {
			t.Fatalf("packet length %d with %d bytes left", n, len(b))
		}
		out = append(out, b[8:n]...)
		b = b[n:]
	}
	return out
}

func tokRead(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tokGlob(t testing.TB, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	for i := range m {
		m[i] = strings.TrimPrefix(m[i], "testdata"+string(filepath.Separator))
	}
	return m
}

// spec17Erratum is the offset, in the payload of spec example 4.17, of the
// stray 00 byte after the collation ENVCHANGE (the header says 406 bytes,
// the dump has 407).
const spec17Erratum = 132

// specReplies are the server→client examples of [MS-TDS] §4.
var specReplies = []string{
	"04-login-response", "05-login-response-federated-auth", "07-sql-batch-server-response",
	"09-rpc-server-response", "15-sparse-column-select", "17-featureextack-sessionrecovery", "18-table-response-sessionstate",
	"21-featureextack-azuresqlsupport",
}

// replyVectors loads every server reply: the spec examples (4.17 with its
// erratum corrected), pytds' real replies, the nDPI capture's replies and
// the Babelfish replies.
func replyVectors(t testing.TB) []replyVector {
	t.Helper()
	var vs []replyVector
	for _, n := range specReplies {
		raw := tokRead(t, "vectors/ms-tds-v39-examples/"+n+".bin")
		if strings.HasPrefix(n, "17-") {
			raw = append(raw[:spec17Erratum+8:spec17Erratum+8], raw[spec17Erratum+9:]...)
		}
		p := tokPackets(t, raw)
		vs = append(vs, replyVector{name: "spec/" + n, ver: VerTDS74, data: p})
	}
	for _, n := range []string{"begin-tran-envchange8-response", "login-response-db-SubmissionPortal-tds73b", "login-response-with-featureextack"} {
		vs = append(vs, replyVector{name: "pytds/" + n, ver: VerTDS73B, data: tokPackets(t, tokRead(t, "vectors/pytds/"+n+".bin"))})
	}
	for _, f := range append(tokGlob(t, "tokens/ndpi/*.bin"), tokGlob(t, "tokens/babelfish/*.bin")...) {
		ver := VerTDS74
		if strings.HasPrefix(filepath.Base(f), "2222.") {
			ver = VerTDS71 // this connection's replies use the 9-byte DONE of TDS 7.1
		}
		vs = append(vs, replyVector{name: f, ver: ver, data: tokRead(t, f)})
	}
	if len(vs) < 100 {
		t.Fatalf("only %d reply vectors found", len(vs))
	}
	return vs
}
