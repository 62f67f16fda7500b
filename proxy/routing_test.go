package proxy

import (
	"strings"
	"testing"

	"github.com/tdsproxy/tdsproxy/tds"
)

// queryID runs a batch on a raw session and returns the INT the fake
// backend answers with (its id).
func queryID(t *testing.T, w *tds.PacketWriter, r *tds.PacketReader) int64 {
	t.Helper()
	if err := w.WriteMessage(tds.PacketSQLBatch, 0, sqlBatch("SELECT 1")); err != nil {
		t.Fatal(err)
	}
	for _, tk := range readTokens(t, r) {
		if tk.Type == tds.TokenRow {
			if v, ok := tk.Row[0].(int64); ok {
				return v
			}
			t.Fatalf("row value %T %v", tk.Row[0], tk.Row[0])
		}
	}
	t.Fatal("no row in the response")
	return 0
}

func TestRoutingIsFollowedNotRelayed(t *testing.T) {
	t.Parallel()
	target := newFakeBackend(t, 2)
	gateway := newFakeBackend(t, 1)
	gateway.loginTokens = func(*tds.Login7) []tds.Token {
		return []tds.Token{
			{Type: tds.TokenLoginAck, LoginAck: tds.LoginAck{Interface: 1, TDSVersion: tds.VerTDS74, ProgName: "gw"}},
			{Type: tds.TokenEnvChange, Env: tds.EnvRouting("127.0.0.1", target.port())},
			{Type: tds.TokenDone},
		}
	}
	srv := newFakeHarness(t, gateway, nil)
	c, r := rawLogin(t, srv.Addr().String(), func(l *tds.Login7) { l.UserName, l.Password = "bob", "s3cret" })
	for _, tk := range readTokens(t, r) {
		if tk.Type == tds.TokenEnvChange && tk.Env.Type == tds.EnvRoutingType {
			t.Fatal("the routing ENVCHANGE reached the client")
		}
	}
	w := tds.NewPacketWriter(c, 4096)
	if id := queryID(t, w, r); id != 2 {
		t.Errorf("query answered by backend %d, want the routed-to backend 2", id)
	}
	if gateway.logins.Load() != 1 || target.logins.Load() != 1 {
		t.Errorf("logins: gateway %d, target %d; want 1 each", gateway.logins.Load(), target.logins.Load())
	}
	target.mu.Lock()
	got := target.lastLogin
	target.mu.Unlock()
	if got.UserName != "bob" || got.Password != "s3cret" || got.ServerName != "127.0.0.1" {
		t.Errorf("routed login: user %q password ok %v server %q", got.UserName, got.Password == "s3cret", got.ServerName)
	}
}

func TestRoutingLoopIsAnError(t *testing.T) {
	t.Parallel()
	loop := newFakeBackend(t, 1)
	loop.loginTokens = func(*tds.Login7) []tds.Token {
		return []tds.Token{
			{Type: tds.TokenLoginAck, LoginAck: tds.LoginAck{Interface: 1, TDSVersion: tds.VerTDS74, ProgName: "gw"}},
			{Type: tds.TokenEnvChange, Env: tds.EnvRouting("127.0.0.1", loop.port())},
			{Type: tds.TokenDone},
		}
	}
	srv := newFakeHarness(t, loop, nil)
	c, r := rawLogin(t, srv.Addr().String(), nil)
	e, ok := firstError(readTokens(t, r))
	if !ok || e.Number != 40613 || !strings.Contains(e.Message, "routing") {
		t.Fatalf("want 40613 about routing, got %+v", e)
	}
	expectClosed(t, c, 2e9)
}

func TestPacketSizeRewrittenForClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                     string
		backendSize, clientAsked int
		wantClient               int
	}{
		{"backend larger than client", 8192, 1024, 1024},
		{"backend smaller than client", 512, 8000, 8000},
		{"client asks for the default", 4096, 0, 4096},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fb := newFakeBackend(t, 3)
			fb.packetSize = tc.backendSize
			srv := newFakeHarness(t, fb, nil)
			c, r := rawLogin(t, srv.Addr().String(), func(l *tds.Login7) { l.PacketSize = uint32(tc.clientAsked) })
			got := 0
			for _, tk := range readTokens(t, r) {
				if tk.Type == tds.TokenEnvChange && tk.Env.Type == tds.EnvPacketSizeType {
					got, _ = tk.Env.PacketSize()
				}
			}
			if got != tc.wantClient {
				t.Fatalf("client told packet size %d, want %d", got, tc.wantClient)
			}
			r.SetPacketSize(got)
			w := tds.NewPacketWriter(c, got)
			for range 3 {
				if id := queryID(t, w, r); id != 3 {
					t.Fatalf("got id %d", id)
				}
			}
		})
	}
}
