package proxy

import (
	"testing"

	"github.com/tdsproxy/tdsproxy/tds"
)

// FuzzRewriteLoginResponse feeds arbitrary backend login responses to the
// rewriter: it must return an error or a response that decodes, never
// panic.
func FuzzRewriteLoginResponse(f *testing.F) {
	ok, _ := tds.AppendTokens(nil, []tds.Token{
		{Type: tds.TokenEnvChange, Env: tds.EnvDatabase("master", "")},
		{Type: tds.TokenLoginAck, LoginAck: tds.LoginAck{Interface: 1, TDSVersion: tds.VerTDS74, ProgName: "x"}},
		{Type: tds.TokenEnvChange, Env: tds.EnvPacketSize(8000, 4096)},
		{Type: tds.TokenDone},
	}, tds.VerTDS74)
	routed, _ := tds.AppendTokens(nil, []tds.Token{
		{Type: tds.TokenLoginAck, LoginAck: tds.LoginAck{Interface: 1, TDSVersion: tds.VerTDS74, ProgName: "x"}},
		{Type: tds.TokenEnvChange, Env: tds.EnvRouting("db2", 1433)},
		{Type: tds.TokenDone},
	}, tds.VerTDS74)
	failed, _ := tds.AppendTokens(nil, []tds.Token{
		{Type: tds.TokenError, Err: tds.ServerError{Number: 18456, Class: 14, State: 1, Message: "Login failed for user 'x'."}},
		{Type: tds.TokenDone, Done: tds.Done{Status: tds.DoneError}},
	}, tds.VerTDS74)
	for _, seed := range [][]byte{ok, routed, failed, {}, {0xAD}, {0xE3, 0xFF, 0xFF}} {
		f.Add(seed, uint16(4096))
	}
	f.Fuzz(func(t *testing.T, data []byte, size uint16) {
		clientSize := negotiatedPacketSize(uint32(size))
		lr, err := rewriteLoginResponse(data, tds.VerTDS74, clientSize)
		if err != nil {
			return
		}
		toks, err := tds.DecodeTokens(lr.resp, tds.VerTDS74)
		if err != nil {
			t.Fatalf("the rewritten response does not decode: %v", err)
		}
		for _, tk := range toks {
			if tk.Type != tds.TokenEnvChange {
				continue
			}
			switch tk.Env.Type {
			case tds.EnvRoutingType:
				t.Fatal("a routing ENVCHANGE survived the rewrite")
			case tds.EnvPacketSizeType:
				if n, _ := tk.Env.PacketSize(); n != clientSize {
					t.Fatalf("packet size %d told to the client, want %d", n, clientSize)
				}
			}
		}
	})
}
