package mssqlsim

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/tdsproxy/tdsproxy/tds"
)

func TestServerAddrs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		addr     string
		replicas int
		want     []string
		wantErr  bool
	}{
		{name: "fixed port", addr: "127.0.0.1:14330", replicas: 2, want: []string{"127.0.0.1:14330", "127.0.0.1:14331", "127.0.0.1:14332"}},
		{name: "any port", addr: "127.0.0.1:0", replicas: 1, want: []string{"127.0.0.1:0", "127.0.0.1:0"}},
		{name: "no replicas", addr: "[::1]:1433", want: []string{"[::1]:1433"}},
		{name: "no port", addr: "127.0.0.1", wantErr: true},
		{name: "bad port", addr: "127.0.0.1:x", wantErr: true},
		{name: "port overflow", addr: "127.0.0.1:65535", replicas: 1, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := serverAddrs(tc.addr, tc.replicas)
			if (err != nil) != tc.wantErr {
				t.Fatalf("serverAddrs(%q, %d) error = %v, want error %t", tc.addr, tc.replicas, err, tc.wantErr)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("serverAddrs(%q, %d) = %v, want %v", tc.addr, tc.replicas, got, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "defaults", cfg: Config{}},
		{name: "negative replicas", cfg: Config{Replicas: -1}, wantErr: "Replicas"},
		{name: "negative lag", cfg: Config{ReplicaLag: -time.Second}, wantErr: "ReplicaLag"},
		{name: "bad encryption", cfg: Config{Encryption: tds.EncryptReq}, wantErr: "Encryption"},
		{name: "cert without key", cfg: Config{CertFile: "c.pem"}, wantErr: "KeyFile"},
		{name: "empty login", cfg: Config{Logins: map[string]string{"": "x"}}, wantErr: "empty login"},
		{name: "bad addr", cfg: Config{Addr: "nope"}, wantErr: "Addr"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.withDefaults().Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v, want an error mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c := Config{}.withDefaults()
	if c.Logins[DefaultLogin] != DefaultPassword || len(c.Logins) != 1 {
		t.Errorf("default logins = %v, want only %s", c.Logins, DefaultLogin)
	}
	if c.NamePrefix != DefaultNamePrefix || c.Addr != "127.0.0.1:0" || c.Logger == nil {
		t.Errorf("defaults not applied: %+v", c)
	}
	// The caller's map is copied, not shared.
	in := map[string]string{"app": "pw"}
	c = Config{Logins: in}.withDefaults()
	c.Logins["other"] = "x"
	if len(in) != 1 {
		t.Error("withDefaults shares the caller's Logins map")
	}
}

func TestParseInsertBulk(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text  string
		table string
		ok    bool
	}{
		{text: "INSERT BULK [dbo].[t] ([id] int, [v] nvarchar(50))", table: "[dbo].[t]", ok: true},
		{text: "  insert   bulk t(id int)", table: "t", ok: true},
		{text: "insert bulk [my table] ([a] int) WITH (TABLOCK)", table: "[my table]", ok: true},
		{text: "INSERT BULK \"s\".\"t (x)\" (a int)", table: "\"s\".\"t (x)\"", ok: true},
		{text: "INSERT INTO t VALUES (1)"},
		{text: "insert bulk"},
		{text: "SELECT 1"},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			t.Parallel()
			got, ok := parseInsertBulk(tc.text)
			if ok != tc.ok || got.table != tc.table {
				t.Errorf("parseInsertBulk(%q) = %q, %t; want %q, %t", tc.text, got.table, ok, tc.table, tc.ok)
			}
		})
	}
}

func TestReplyVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		client uint32
		strict bool
		want   uint32
	}{
		{"7.4", tds.VerTDS74, false, tds.VerTDS74},
		{"7.3B (pymssql)", tds.VerTDS73B, false, tds.VerTDS73B},
		{"7.3A", tds.VerTDS73A, false, tds.VerTDS73A},
		{"7.2", tds.VerTDS72, false, tds.VerTDS72},
		{"7.1", tds.VerTDS71, false, tds.VerTDS71},
		{"8.0 in LOGIN7", 0x08000000, false, tds.VerTDS74},
		{"strict", tds.VerTDS73B, true, tds.VerTDS74},
		{"newer than 7.4", 0x75000000, false, tds.VerTDS74},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := replyVersion(tc.client, tc.strict); got != tc.want {
				t.Errorf("replyVersion(%#x, %t) = %#x, want %#x", tc.client, tc.strict, got, tc.want)
			}
		})
	}
}

func TestNegotiatePacketSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		req  uint32
		want int
	}{{0, 4096}, {100, 512}, {4096, 4096}, {16384, 16384}, {32767, 32767}, {65536, 32767}} {
		if got := negotiatePacketSize(tc.req); got != tc.want {
			t.Errorf("negotiatePacketSize(%d) = %d, want %d", tc.req, got, tc.want)
		}
	}
}

func TestDownLevelTypes(t *testing.T) {
	t.Parallel()
	tm := time.Date(2024, 2, 29, 13, 45, 30, 123456700, time.FixedZone("", 90*60))
	tests := []struct {
		name     string
		ver      uint32
		in       tds.TypeInfo
		wantType tds.DataType
		wantVal  any
	}{
		{"date for 7.2", tds.VerTDS72, tds.TypeInfo{Type: tds.TypeDateN}, tds.TypeNVarChar, "2024-02-29"},
		{"time(7) for 7.2", tds.VerTDS72, tds.TypeInfo{Type: tds.TypeTimeN, Scale: 7}, tds.TypeNVarChar, "13:45:30.1234567"},
		{"datetime2(3) for 7.1", tds.VerTDS71, tds.TypeInfo{Type: tds.TypeDateTime2N, Scale: 3}, tds.TypeNVarChar, "2024-02-29 13:45:30.123"},
		{"datetimeoffset(0) for 7.2", tds.VerTDS72, tds.TypeInfo{Type: tds.TypeDateTimeOffsetN}, tds.TypeNVarChar, "2024-02-29 13:45:30 +01:30"},
		{"date for 7.3", tds.VerTDS73B, tds.TypeInfo{Type: tds.TypeDateN}, tds.TypeDateN, tm},
		{"nvarchar(max) for 7.1", tds.VerTDS71, tds.TypeInfo{Type: tds.TypeNVarChar, Size: 0xFFFF}, tds.TypeNText, "x"},
		{"varbinary(max) for 7.1", tds.VerTDS71, tds.TypeInfo{Type: tds.TypeBigVarBin, Size: 0xFFFF}, tds.TypeImage, "x"},
		{"nvarchar(max) for 7.2", tds.VerTDS72, tds.TypeInfo{Type: tds.TypeNVarChar, Size: 0xFFFF}, tds.TypeNVarChar, "x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := typeConverter{ver: tc.ver}
			cols := []tds.Column{{Name: "c", Type: tc.in}}
			c.columns(cols)
			if cols[0].Type.Type != tc.wantType {
				t.Fatalf("column type = %v, want %v", cols[0].Type.Type, tc.wantType)
			}
			var in any = tm
			if s, ok := tc.wantVal.(string); ok && s == "x" {
				in = "x"
			}
			vals := []any{in}
			c.values(cols, vals)
			if vals[0] != tc.wantVal {
				t.Errorf("value = %#v, want %#v", vals[0], tc.wantVal)
			}
			if s, ok := vals[0].(string); ok && cols[0].Type.Type == tds.TypeNVarChar && !cols[0].Type.IsPLP() && 2*len(s) > cols[0].Type.Size {
				t.Errorf("value %q does not fit NVARCHAR size %d", s, cols[0].Type.Size)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	o, err := parseFlags([]string{"-listen", "127.0.0.1:15000", "-login", "app:secret", "-login", "ro:pw:with:colons",
		"-replicas", "2", "-encryption", "on", "-lag", "3s", "-control", "127.0.0.1:18080", "-sample-data=false", "-log", "off"}, &stderr)
	if err != nil {
		t.Fatalf("parseFlags: %v", err)
	}
	if o.cfg.Addr != "127.0.0.1:15000" || o.cfg.Replicas != 2 || o.cfg.Encryption != tds.EncryptOn ||
		o.cfg.ReplicaLag != 3*time.Second || o.control != "127.0.0.1:18080" || o.cfg.SampleData {
		t.Errorf("parsed config wrong: %+v control=%q", o.cfg, o.control)
	}
	if o.cfg.Logins["app"] != "secret" || o.cfg.Logins["ro"] != "pw:with:colons" {
		t.Errorf("logins = %v", o.cfg.Logins)
	}
	if s := o.logins.String(); strings.Contains(s, "secret") {
		t.Errorf("login flag String() shows a password: %q", s)
	}

	for _, bad := range [][]string{{"-encryption", "maybe"}, {"-login", "nopassword"}, {"-log", "loud"}, {"extra"}} {
		if _, err := parseFlags(bad, &stderr); err == nil {
			t.Errorf("parseFlags(%q) succeeded, want an error", bad)
		}
	}
	stderr.Reset()
	if _, err := parseFlags([]string{"-help"}, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("parseFlags(-help) = %v, want flag.ErrHelp", err)
	}
	for _, f := range []string{"-listen", "-login", "-replicas", "-tls-cert", "-tls-key", "-encryption", "-lag", "-control", "-sample-data", "-cert-out", "-name", "-log", "POST /failover", "NOT a production"} {
		if !strings.Contains(stderr.String(), f) {
			t.Errorf("-help output does not document %s", f)
		}
	}
}

// FuzzParseInsertBulk: any text is either not an INSERT BULK or yields a
// non-empty table name taken from the text; never a panic.
func FuzzParseInsertBulk(f *testing.F) {
	for _, s := range []string{"INSERT BULK [dbo].[t] ([a] int)", "insert bulk \"x y\"(a int)", "insert  bulk", "INSERT INTO t", "insert bulk [unterminated"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseInsertBulk(s)
		if ok && (got.table == "" || !strings.Contains(s, got.table)) {
			t.Fatalf("parseInsertBulk(%q) = %q", s, got.table)
		}
	})
}
