package e2e

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Tests of the harness itself: the matrix's verdicts are only as good as the
// wire classification and value comparisons below.

func tdsPacket(typ byte, payload []byte) []byte {
	p := make([]byte, 8, 8+len(payload))
	p[0], p[1] = typ, 0x01
	binary.BigEndian.PutUint16(p[2:4], uint16(8+len(payload)))
	return append(p, payload...)
}

func preloginPayload(enc byte) []byte {
	// VERSION at offset 11 (6 bytes), ENCRYPTION at 17 (1 byte), terminator.
	return []byte{
		0x00, 0x00, 0x0B, 0x00, 0x06,
		0x01, 0x00, 0x11, 0x00, 0x01,
		0xFF,
		0x10, 0x00, 0x00, 0x00, 0x00, 0x00,
		enc,
	}
}

func tlsRecord(typ byte, n int) []byte {
	r := []byte{typ, 0x03, 0x03, 0, 0}
	binary.BigEndian.PutUint16(r[3:5], uint16(n))
	return append(r, make([]byte, n)...)
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestSummarizeWire(t *testing.T) {
	t.Parallel()
	serverOff := tdsPacket(0x04, preloginPayload(0))
	tests := []struct {
		name       string
		client     []byte
		server     []byte
		wantMode   string
		wantClient int
		wantServer int
	}{
		{
			name:     "plaintext login and batch",
			client:   cat(tdsPacket(0x12, preloginPayload(2)), tdsPacket(0x10, make([]byte, 90)), tdsPacket(0x01, []byte("s\x00"))),
			server:   tdsPacket(0x04, preloginPayload(2)),
			wantMode: wirePlain, wantClient: 2, wantServer: 2,
		},
		{
			name: "TLS for the login only, then plaintext",
			client: cat(tdsPacket(0x12, preloginPayload(0)), tdsPacket(0x12, make([]byte, 200)),
				tlsRecord(0x17, 300), tdsPacket(0x01, []byte("s\x00"))),
			server:   serverOff,
			wantMode: wireLoginOnly, wantClient: 0, wantServer: 0,
		},
		{
			name: "full TLS",
			client: cat(tdsPacket(0x12, preloginPayload(1)), tdsPacket(0x12, make([]byte, 200)),
				tlsRecord(0x17, 300), tlsRecord(0x17, 40)),
			server:   tdsPacket(0x04, preloginPayload(1)),
			wantMode: wireFull, wantClient: 1, wantServer: 1,
		},
		{
			name:     "TDS 8 strict",
			client:   tlsRecord(0x16, 100),
			wantMode: wireStrict, wantClient: -1, wantServer: -1,
		},
		{
			name:     "login in clear after a TLS handshake is not login-only",
			client:   cat(tdsPacket(0x12, preloginPayload(0)), tdsPacket(0x12, make([]byte, 20)), tdsPacket(0x10, make([]byte, 90))),
			server:   serverOff,
			wantMode: wireUnknown, wantClient: 0, wantServer: 0,
		},
		{
			name:     "not TDS",
			client:   []byte("GET / HTTP/1.1\r\n"),
			wantMode: wireUnknown, wantClient: -1, wantServer: -1,
		},
		{
			name:     "truncated prelogin",
			client:   tdsPacket(0x12, preloginPayload(1))[:12],
			wantMode: wireUnknown, wantClient: -1, wantServer: -1,
		},
		{
			name:     "nothing sent",
			wantMode: wireUnknown, wantClient: -1, wantServer: -1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := summarizeWire(tc.client, tc.server)
			if got.Mode != tc.wantMode || got.ClientEnc != tc.wantClient || got.ServerEnc != tc.wantServer {
				t.Errorf("got %s; want mode=%s client=%d server=%d", got, tc.wantMode, tc.wantClient, tc.wantServer)
			}
		})
	}
}

// FuzzSummarizeWire guards against panics on arbitrary bytes: the wiretap
// sees whatever a client or a broken server sends.
func FuzzSummarizeWire(f *testing.F) {
	f.Add(cat(tdsPacket(0x12, preloginPayload(0)), tlsRecord(0x17, 3)), tdsPacket(0x04, preloginPayload(0)))
	f.Add([]byte{0x12, 0x01, 0x00, 0x03}, []byte{0x04})
	f.Add([]byte{0x12, 0x01, 0xFF, 0xFF, 0, 0, 0, 0, 0x01, 0xFF, 0xFF, 0, 1}, []byte{})
	f.Fuzz(func(t *testing.T, client, server []byte) {
		s := summarizeWire(client, server)
		_ = s.String()
	})
}

func TestErrInfoNumber(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		e    *ErrInfo
		want int64
		ok   bool
	}{
		{"native number", &ErrInfo{Number: json.Number("208"), Message: "Invalid object name"}, 208, true},
		{"FreeTDS ODBC message", &ErrInfo{Message: "[42S02] [FreeTDS][SQL Server]Invalid object name 'x'. (208) (SQLExecDirectW)"}, 208, true},
		{"FreeTDS ODBC, no call name", &ErrInfo{Message: "[22012] [FreeTDS][SQL Server]Divide by zero error encountered. (8134)"}, 8134, true},
		{"tsql message", &ErrInfo{Message: "Msg 3906 (severity 16, state 1) from sim Line 1:"}, 3906, true},
		{"no number anywhere", &ErrInfo{Message: "connection reset"}, 0, false},
		{"no error", nil, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.e.number()
			if got != tc.want || ok != tc.ok {
				t.Errorf("number() = %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestMatchValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		kind colKind
		got  any
		want string
		ok   bool
	}{
		{"decimal exact with trailing zeros", kDecimal, "12.3450", "12.345", true},
		{"decimal as JSON number", kDecimal, json.Number("12.345"), "12.345", true},
		{"decimal off by one digit", kDecimal, "12.3451", "12.345", false},
		{"bigint beyond float precision", kInt, json.Number("9223372036854775807"), "9223372036854775807", true},
		{"bigint rounded by a float", kInt, json.Number("9223372036854775806"), "9223372036854775807", false},
		{"real within float32 precision", kReal, json.Number("3.1415927410125732"), "3.1415927", true},
		{"float exact", kFloat, json.Number("2.718281828459045"), "2.718281828459045", true},
		{"float wrong", kFloat, json.Number("2.7182"), "2.718281828459045", false},
		{"bit as text", kBool, "1", "true", true},
		{"bit false", kBool, false, "true", false},
		{"bytes with 0x and upper case", kBytes, "0xDEADBEEF", "deadbeef", true},
		{"datetime JS ISO with Z", kDateTime, "2024-02-29T13:45:30.123Z", "2024-02-29T13:45:30.123", true},
		{"datetime Python isoformat", kDateTime, "2024-02-29T13:45:30.123000", "2024-02-29T13:45:30.123", true},
		{"datetime FreeTDS style", kDateTime, "Feb 29 2024 01:45:30:123PM", "2024-02-29T13:45:30.123", true},
		{"datetime off by a second", kDateTime, "2024-02-29T13:45:31.123", "2024-02-29T13:45:30.123", false},
		{"date from a JS Date", kDate, "2024-02-29T00:00:00.000Z", "2024-02-29", true},
		{"time from a JS Date", kTime, "1970-01-01T13:45:30.123Z", "13:45:30.1234567", true},
		{"time wrong", kTime, "13:45:31", "13:45:30.1234567", false},
		{"tsql datetime to the minute", kDateTime, "Feb 29 2024 01:45PM", "2024-02-29T13:45:30.123", true},
		{"tsql datetime wrong minute", kDateTime, "Feb 29 2024 01:46PM", "2024-02-29T13:45:30.123", false},
		{"tsql time to the minute", kTime, "Jan  1 1900 01:45PM", "13:45:30.1234567", true},
		{"tsql time wrong hour", kTime, "Jan  1 1900 02:45PM", "13:45:30.1234567", false},
		{"uuid case and braces", kUUID, "{6F9619FF-8B86-D011-B42D-00C04FC964FF}", "6f9619ff-8b86-d011-b42d-00c04fc964ff", true},
		{"string exact", kString, "héllo", "héllo", true},
		{"string padded", kString, "héllo ", "héllo", false},
		{"null is no value", kInt, nil, "1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := matchValue(tc.kind, tc.got, tc.want); got != tc.ok {
				t.Errorf("matchValue(%v, %q) = %v, want %v", tc.got, tc.want, got, tc.ok)
			}
		})
	}
}

func TestAsTimeDropsZone(t *testing.T) {
	t.Parallel()
	got, ok := asTime("2024-02-29T13:45:30+02:00")
	want := time.Date(2024, 2, 29, 13, 45, 30, 0, time.UTC)
	if !ok || !got.Equal(want) {
		t.Errorf("asTime = %v, %v; want the wall clock %v", got, ok, want)
	}
}

func TestSplitGo(t *testing.T) {
	t.Parallel()
	got := splitGo("CREATE TABLE a (x int)\nGO\n  go  \nINSERT a VALUES (1)\nSELECT 'go'\nGo\n")
	want := []string{"CREATE TABLE a (x int)", "INSERT a VALUES (1)\nSELECT 'go'"}
	if len(got) != len(want) {
		t.Fatalf("splitGo = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("batch %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestParseTSQL(t *testing.T) {
	t.Parallel()
	out, err := os.ReadFile(filepath.Join("testdata", "tsql-output.txt"))
	if err != nil {
		t.Fatal(err)
	}
	steps, err := parseTSQL(string(out), 3)
	if err != nil {
		t.Fatalf("parseTSQL: %v", err)
	}
	if v, err := steps[0].one(); err != nil || v != "mssqlsim-primary" {
		t.Errorf("step 0 = %v, %v; want mssqlsim-primary", v, err)
	}
	if len(steps[1].errors) != 1 {
		t.Fatalf("step 1 errors = %v, want one", steps[1].errors)
	}
	e := steps[1].errors[0]
	if n, ok := e.number(); !ok || n != 208 || !strings.Contains(e.Message, "Invalid object name 'dbo.no_such_table_e2e'.") {
		t.Errorf("step 1 error = %s, want 208 with its message", e)
	}
	want := [][]string{
		{"1", "42", "héllo wörld ☃", "Feb 29 2024 01:45PM", "deadbeef", "6F9619FF-8B86-D011-B42D-00C04FC964FF"},
		{"2", "NULL", "NULL", "NULL", "NULL", "NULL"},
	}
	if got := steps[2].header; strings.Join(got, ",") != "id,c_int,c_nvarchar,c_datetime,c_varbinary,c_uniqueidentifier" {
		t.Errorf("step 2 header = %q", got)
	}
	if len(steps[2].rows) != len(want) {
		t.Fatalf("step 2 rows = %q, want %q", steps[2].rows, want)
	}
	for i := range want {
		if strings.Join(steps[2].rows[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("row %d = %q, want %q", i, steps[2].rows[i], want[i])
		}
	}
}

func TestParseTSQLTruncated(t *testing.T) {
	t.Parallel()
	// tsql died (or the login failed) before the last marker: an error, not
	// a scenario that silently saw nothing.
	for _, out := range []string{
		"",
		"Msg 18456 (severity 14, state 1) from sim:\n\t\"Login failed for user 'sa'.\"\n",
		"tdsproxy_e2e_marker\nmark:0\n\nmssqlsim-primary\n",
	} {
		if _, err := parseTSQL(out, 1); err == nil {
			t.Errorf("parseTSQL(%q) = nil error, want one", out)
		}
	}
}

func TestDecodeObservation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, out string
		ok        bool
	}{
		{"object on the last line", "noise\n{\"client\":\"x\",\"one\":1}\n", true},
		{"big integer stays exact", `{"sum": 9007199254740993}`, true},
		{"no JSON", "Traceback (most recent call last):\n", false},
		{"empty", "", false},
		{"truncated JSON", `{"client": "x", "one":`, false},
		{"wrong field type", `{"client": 3}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := decodeObservation([]byte(tc.out))
			if (err == nil) != tc.ok {
				t.Fatalf("decodeObservation = %+v, %v; want ok=%v", o, err, tc.ok)
			}
			if tc.name == "big integer stays exact" {
				if n, ok := asInt(o.Sum); !ok || n != 9007199254740993 {
					t.Errorf("sum = %v, want 9007199254740993 exactly", o.Sum)
				}
			}
		})
	}
}

func TestWriteFreeTDSConf(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path, err := writeFreeTDSConf(dir, ModeLoginOnly, true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[global]", "encryption = request", "read-only intent = yes", "client charset = UTF-8"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("freetds.conf lacks %q:\n%s", want, b)
		}
	}
	if _, err := writeFreeTDSConf(dir, ModeStrict, false); err == nil {
		t.Error("strict mode: want an error (FreeTDS has no TDS 8)")
	}
}

// fakeClient is a client that can do everything but strict.
type fakeClient struct{}

func (fakeClient) Name() string    { return "fake" }
func (fakeClient) Missing() string { return "" }
func (fakeClient) NotApplicable(sc scenario) string {
	if sc.mode == ModeStrict {
		return "no TDS 8"
	}
	return ""
}
func (fakeClient) Run(context.Context, runSpec) (*Observation, error) { return nil, nil }

func TestGate(t *testing.T) {
	t.Parallel()
	full := &Target{Name: "direct", ReadOnlyAddr: "127.0.0.1:2"}
	noRO := &Target{Name: "mssql", ReadOnlyNA: "no secondary", ModeNA: map[Mode]string{ModePlain: "forced encryption"}}
	types := scenario{name: "types", driver: "types", mode: ModeTLS}
	tests := []struct {
		name    string
		missing string
		sc      scenario
		tg      *Target
		ci      bool
		want    gateAction
		reason  string
	}{
		{"installed client runs", "", types, full, true, gateRun, ""},
		{"missing client skips outside CI", "npm ci not run", types, full, false, gateSkip, "npm ci not run"},
		{"missing client fails under CI", "npm ci not run", types, full, true, gateFail, "CI=true"},
		{"client limitation is n/a", "", scenario{name: "login-strict", driver: "login", mode: ModeStrict}, full, true, gateNA, "no TDS 8"},
		{"target cannot serve the mode", "", scenario{name: "login-plain", driver: "login", mode: ModePlain}, noRO, true, gateSkip, "forced encryption"},
		{"no read-only endpoint", "", scenario{name: "readonly", driver: "readonly", mode: ModeTLS}, noRO, true, gateSkip, "no secondary"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, why := gate(fakeClient{}, tc.missing, tc.sc, tc.tg, tc.ci)
			if got != tc.want || !strings.Contains(why, tc.reason) {
				t.Errorf("gate = %d %q, want %d containing %q", got, why, tc.want, tc.reason)
			}
		})
	}
}
