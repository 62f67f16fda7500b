package proxy

import (
	"testing"

	"github.com/tdsproxy/tdsproxy/tds"
)

// FuzzEnforce feeds arbitrary client messages of every request type to the
// enforcement path: it must never panic, and a refusal must be a well-formed
// ERROR + DONE. Undecodable input is unknown, so reporter never gets it past.
func FuzzEnforce(f *testing.F) {
	seed := func(m *tds.Message) { f.Add(uint8(m.Type), m.Data) }
	seed(batchMsg("SELECT * FROM sales.orders"))
	seed(tmMsg(tds.TMBeginXact))
	seed(rpcMsg(f, tds.RPCCall{ProcID: tds.ProcSpPrepExec, Params: []tds.Param{handleOut(), textParam(""), textParam("SELECT 1")}}))
	seed(rpcMsg(f, tds.RPCCall{ProcID: tds.ProcSpExecute, Params: []tds.Param{intParam(3)}},
		tds.RPCCall{ProcName: "sp_executesql", Params: []tds.Param{textParam("SELECT a FROM dbo.t")}}))
	f.Add(uint8(tds.PacketBulkLoad), []byte{0x81, 0, 0})
	types := []tds.PacketType{tds.PacketSQLBatch, tds.PacketRPC, tds.PacketTransMgr, tds.PacketBulkLoad}
	base, s, _ := unitEnforcer(f, "reporter", nil)
	f.Fuzz(func(t *testing.T, typ uint8, data []byte) {
		se := base.e.newSession(1, "c", &tds.Login7{UserName: "reporter"})
		msg := &tds.Message{Type: types[int(typ)%len(types)], Data: data}
		resp := se.enforce(s, msg)
		// Whatever was allowed, its response may carry handles.
		se.observe(&tds.Event{Type: tds.TokenReturnValue, ReturnValue: tds.ReturnValue{Value: int64(1)}})
		se.observe(&tds.Event{Type: tds.TokenDoneProc})
		if resp == nil {
			return
		}
		toks, err := tds.DecodeTokens(resp, tds.VerTDS74)
		if err != nil || len(toks) != 2 || toks[0].Type != tds.TokenError {
			t.Fatalf("malformed refusal: %v %v", toks, err)
		}
	})
}
