package proxy

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tdsproxy/tdsproxy/tds"
)

func TestSeveralRPCsInOneMessage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	c, r := h.rawLogin(nil)
	readTokens(t, r)
	nvarchar := tds.TypeInfo{Type: tds.TypeNVarChar, Size: 8000, Collation: tds.DefaultCollation}
	call := func(q string) tds.RPCCall {
		return tds.RPCCall{ProcID: tds.ProcSpExecuteSQL, BatchFlag: tds.RPCBatchFlag,
			Params: []tds.Param{{Type: nvarchar, Value: q}}}
	}
	req := tds.RPCRequest{HasHeaders: true, Headers: tds.AllHeaders{HasTxDescriptor: true, OutstandingRequests: 1},
		Calls: []tds.RPCCall{call("SELECT 11"), call("SELECT 22"), call("SELECT 33")}}
	req.Calls[2].BatchFlag = 0
	payload, err := req.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	w := tds.NewPacketWriter(c, 4096)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := w.WriteMessage(tds.PacketRPC, 0, payload); err != nil {
		t.Fatal(err)
	}
	var got []int64
	var dones int
	for _, tk := range readTokens(t, r) {
		switch tk.Type {
		case tds.TokenRow, tds.TokenNBCRow:
			v, _ := tk.Row[0].(int64)
			got = append(got, v)
		case tds.TokenDoneProc:
			dones++
		}
	}
	if fmt.Sprint(got) != "[11 22 33]" || dones != 3 {
		t.Errorf("rows %v and %d DONEPROCs, want [11 22 33] and 3", got, dones)
	}
	if n := metricValue(t, h.srv.metrics.request(tds.PacketRPC)); n != 1 {
		t.Errorf("rpc requests = %v, want 1 message", n)
	}
}

func TestMARSIsDeclined(t *testing.T) {
	t.Parallel()
	fb := newFakeBackend(t, 8)
	srv := newFakeHarness(t, fb, nil)
	conn, err := dialTimeout(srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := tds.ClientHandshake(ctx, conn, &tds.ClientHandshakeConfig{
		Encryption: tds.ClientEncryptDisable,
		Login:      &tds.Login7{TDSVersion: tds.VerTDS74, UserName: "u", Password: "p"},
		Prelogin:   func(p *tds.Prelogin) { p.HasMARS, p.MARS = true, true },
	})
	if err != nil {
		t.Fatal(err)
	}
	if sp := res.ServerPrelogin; sp == nil || !sp.HasMARS || sp.MARS {
		t.Errorf("PRELOGIN answer %v: want MARS present and off", sp)
	}
}

func TestClientEncryptionRequired(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{config: func(c *Config) { c.ClientEncryption = ClientEncryptionRequired }})
	// A client that cannot encrypt is refused …
	db := h.open("encrypt=disable")
	if err := db.Ping(); err == nil {
		t.Fatal("a client that does not encrypt got in")
	}
	waitFor(t, 2*time.Second, "the refusal to be counted", func() bool {
		return h.metric(h.srv.metrics.Errors.WithLabelValues(string(ReasonEncryptionRequired))) >= 1
	})
	// … one asking for login-only encryption gets full TLS …
	db = h.open("encrypt=false&TrustServerCertificate=true")
	if err := db.Ping(); err != nil {
		t.Fatalf("login-only client: %v", err)
	}
	// … and one asking for encryption gets it.
	db = h.open("encrypt=true&TrustServerCertificate=true")
	if err := db.Ping(); err != nil {
		t.Fatalf("encrypting client: %v", err)
	}
	if n := h.logs.FilterMessage("session logged in").FilterField(zap.String("mode", "full")).Len(); n != 2 {
		t.Errorf("%d sessions in full TLS, want 2", n)
	}
}

func TestLogsCarrySessionAndNeverThePassword(t *testing.T) {
	t.Parallel()
	const secret = "Sup3r-Secr3t-Pw!"
	fb := newFakeBackend(t, 9) // accepts any password
	core, logs := observer.New(zapcore.DebugLevel)
	srv, err := New(Config{Listen: "127.0.0.1:0", Primary: fb.addr(), BackendEncrypt: BackendEncryptDisable}, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, 5*time.Second, "the proxy to listen", func() bool { return srv.Addr() != nil })

	db, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://bob:%s@%s?encrypt=false&TrustServerCertificate=true", secret, srv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	var id int
	if err := db.QueryRow("SELECT 1").Scan(&id); err != nil {
		t.Fatal(err)
	}
	db.Close()
	waitFor(t, 2*time.Second, "the session to end", func() bool { return srv.sessionCount() == 0 })
	if logs.Len() == 0 {
		t.Fatal("no logs")
	}
	sessionLines := 0
	for _, e := range logs.All() {
		line := e.Message + fmt.Sprint(e.ContextMap())
		if strings.Contains(line, secret) {
			t.Errorf("password in a log line: %s", line)
		}
		if strings.HasPrefix(e.Message, "session") || strings.HasPrefix(e.Message, "client") {
			sessionLines++
			if _, ok := e.ContextMap()["session"]; !ok {
				t.Errorf("session line without a session id: %s", line)
			}
		}
	}
	if sessionLines < 2 {
		t.Errorf("%d session log lines, want at least the login and the close", sessionLines)
	}
}

func TestBackendLogin(t *testing.T) {
	t.Parallel()
	client := &tds.Login7{
		TDSVersion: tds.VerTDS74, UserName: "u", Password: "p", ServerName: "proxy.local", Database: "db",
		TypeFlags: tds.Login7ReadOnlyIntent, OptionFlags3: tds.Login7Extension,
		FeatureExt: []tds.FeatureExt{{ID: tds.FeatureSessionRecovery, Data: []byte{0}},
			{ID: tds.FeatureUTF8Support}, {ID: tds.FeatureColumnEncryption, Data: []byte{1}}},
	}
	tests := []struct {
		name        string
		in          func() *tds.Login7
		strict      bool
		wantVersion uint32
		wantFeat    []tds.FeatureID
	}{
		{"7.4 client, 7.x backend", func() *tds.Login7 { l := *client; return &l }, false, tds.VerTDS74, []tds.FeatureID{tds.FeatureUTF8Support}},
		{"TDS 8 client, 7.x backend", func() *tds.Login7 { l := *client; l.TDSVersion = tds.VerTDS80; return &l }, false, tds.VerTDS74, []tds.FeatureID{tds.FeatureUTF8Support}},
		{"7.4 client, strict backend", func() *tds.Login7 { l := *client; return &l }, true, tds.VerTDS80, []tds.FeatureID{tds.FeatureUTF8Support}},
		{"no kept feature", func() *tds.Login7 {
			l := *client
			l.FeatureExt = []tds.FeatureExt{{ID: tds.FeatureSessionRecovery}}
			return &l
		}, false, tds.VerTDS74, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := tc.in()
			bl := backendLogin(in, "db.internal", tc.strict)
			if bl.ServerName != "db.internal" || bl.UserName != "u" || bl.Password != "p" || bl.Database != "db" || !bl.ReadOnlyIntent() {
				t.Errorf("identity not passed through: %v", bl)
			}
			if bl.TDSVersion != tc.wantVersion {
				t.Errorf("version %#x, want %#x", bl.TDSVersion, tc.wantVersion)
			}
			var ids []tds.FeatureID
			for _, f := range bl.FeatureExt {
				ids = append(ids, f.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.wantFeat) {
				t.Errorf("features %v, want %v", ids, tc.wantFeat)
			}
			if (bl.OptionFlags3&tds.Login7Extension != 0) != (len(tc.wantFeat) > 0) {
				t.Errorf("fExtension %v with features %v", bl.OptionFlags3&tds.Login7Extension != 0, ids)
			}
			if in.ServerName != "proxy.local" || len(in.FeatureExt) == 0 {
				t.Error("the client's login was modified")
			}
		})
	}
}
