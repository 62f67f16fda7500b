package mssqlsim

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tdsproxy/tdsproxy/tds"
)

// rawClient speaks TDS to the simulator with the project's codec, to check
// what go-mssqldb does not show: token order, status bits, layouts.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	pr   *tds.PacketReader
	pw   *tds.PacketWriter
	ver  uint32
}

func testLogin(ver uint32) *tds.Login7 {
	return &tds.Login7{
		TDSVersion: ver, PacketSize: 4096, ClientProgVer: 7, ClientPID: 1234,
		OptionFlags1: 0xE0, OptionFlags2: 0x03, HostName: "testhost",
		UserName: DefaultLogin, Password: DefaultPassword, AppName: "wire_test",
		ServerName: "sim", CltIntName: "wire_test", Language: "us_english",
	}
}

// dialRaw connects and logs in; it returns the client and the login
// response tokens. The login may fail (the tokens say so).
func dialRaw(t testing.TB, s *Server, login *tds.Login7) (*rawClient, []tds.Token) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := tds.ClientHandshake(ctx, nc, &tds.ClientHandshakeConfig{
		Encryption: tds.ClientEncryptDisable, Login: login,
		TLS: &tls.Config{InsecureSkipVerify: true},
	})
	if err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	c := &rawClient{t: t, conn: res.Conn, pr: tds.NewPacketReader(res.Conn, tds.MaxPacketSize),
		pw: tds.NewPacketWriter(res.Conn, 4096), ver: replyVersion(login.TDSVersion, false)}
	return c, c.read()
}

// read reads one response message and decodes its tokens.
func (c *rawClient) read() []tds.Token {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	m, err := c.pr.ReadMessage(64 << 20)
	if err != nil {
		c.t.Fatalf("reading response: %v", err)
	}
	if m.Type != tds.PacketReply {
		c.t.Fatalf("response has packet type %v", m.Type)
	}
	toks, err := tds.DecodeTokens(m.Data, c.ver)
	if err != nil {
		c.t.Fatalf("decoding response tokens (TDS %#x): %v", c.ver, err)
	}
	return toks
}

func (c *rawClient) send(typ tds.PacketType, status tds.PacketStatus, data []byte) {
	c.t.Helper()
	if err := c.pw.WriteMessage(typ, status, data); err != nil {
		c.t.Fatalf("sending %v: %v", typ, err)
	}
}

// batch sends a SQL batch (with ALL_HEADERS from TDS 7.2 on).
func (c *rawClient) batch(status tds.PacketStatus, text string) {
	c.t.Helper()
	b := &tds.SQLBatch{Text: text}
	if c.ver >= tds.VerTDS72 {
		b.HasHeaders = true
		b.Headers = tds.AllHeaders{HasTxDescriptor: true, OutstandingRequests: 1}
	}
	c.send(tds.PacketSQLBatch, status, b.Append(nil))
}

// summary renders tokens compactly, e.g. "ENVCHANGE(1) INFO(5701) DONE(0x0)".
func summary(toks []tds.Token) string {
	var parts []string
	for i := range toks {
		tk := &toks[i]
		switch tk.Type {
		case tds.TokenEnvChange:
			parts = append(parts, "ENVCHANGE("+strconv.Itoa(int(tk.Env.Type))+")")
		case tds.TokenInfo, tds.TokenError:
			parts = append(parts, tk.Type.String()+"("+strconv.Itoa(int(tk.Err.Number))+")")
		case tds.TokenDone, tds.TokenDoneProc, tds.TokenDoneInProc:
			parts = append(parts, tk.Type.String()+fmt.Sprintf("(0x%04x)", uint16(tk.Done.Status)))
		default:
			parts = append(parts, tk.Type.String())
		}
	}
	return strings.Join(parts, " ")
}

// TestLoginResponse checks the login response of each TDS version: token
// order as SQL Server sends it, the LOGINACK version, and the DONE layout
// (9 bytes in 7.1, 13 after: a wrong layout fails the decoding).
func TestLoginResponse(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{})
	const order = "ENVCHANGE(1) INFO(5701) ENVCHANGE(7) ENVCHANGE(2) INFO(5703) LOGINACK ENVCHANGE(4)"
	tests := []struct {
		name     string
		ver      uint32
		features []tds.FeatureExt
		wantVer  uint32
		want     string
	}{
		{"7.4", tds.VerTDS74, nil, tds.VerTDS74, order + " DONE(0x0000)"},
		{"7.4 asking UTF-8", tds.VerTDS74, []tds.FeatureExt{{ID: tds.FeatureUTF8Support, Data: []byte{1}}}, tds.VerTDS74, order + " FEATUREEXTACK DONE(0x0000)"},
		{"7.4 asking session recovery", tds.VerTDS74, []tds.FeatureExt{{ID: tds.FeatureSessionRecovery}}, tds.VerTDS74, order + " DONE(0x0000)"},
		{"7.3B (pymssql)", tds.VerTDS73B, nil, tds.VerTDS73B, order + " DONE(0x0000)"},
		{"7.2", tds.VerTDS72, nil, tds.VerTDS72, order + " DONE(0x0000)"},
		{"7.1", tds.VerTDS71, nil, tds.VerTDS71, order + " DONE(0x0000)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := testLogin(tc.ver)
			l.FeatureExt = tc.features
			cl, toks := dialRaw(t, c.Primary(), l)
			if got := summary(toks); got != tc.want {
				t.Fatalf("login response = %s\nwant             %s", got, tc.want)
			}
			for _, tk := range toks {
				switch tk.Type {
				case tds.TokenLoginAck:
					if tk.LoginAck.TDSVersion != tc.wantVer || tk.LoginAck.ProgName != "Microsoft SQL Server" || tk.LoginAck.ProgVersion[0] != 16 {
						t.Errorf("LOGINACK = %+v", tk.LoginAck)
					}
				case tds.TokenEnvChange:
					if tk.Env.Type == tds.EnvPacketSizeType && (tk.Env.NewString() != "4096" || tk.Env.OldString() != "4096") {
						t.Errorf("packet size ENVCHANGE = %s", tk.Env)
					}
					if tk.Env.Type == tds.EnvDatabaseType && tk.Env.NewString() != "master" {
						t.Errorf("database ENVCHANGE = %s", tk.Env)
					}
				}
			}
			// The session works in that version's layouts.
			cl.batch(0, "SELECT 1 AS one, N'x' AS s; SELECT 2")
			if got := summary(cl.read()); got != "COLMETADATA ROW DONE(0x0011) COLMETADATA ROW DONE(0x0010)" {
				t.Errorf("batch response = %s", got)
			}
		})
	}
}

// TestAuthenticationRefusals: integrated (SSPI) and federated logins get a
// clear error, then the connection closes.
func TestAuthenticationRefusals(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{})
	tests := []struct {
		name   string
		edit   func(l *tds.Login7)
		number int32
		msg    string
	}{
		{"SSPI", func(l *tds.Login7) { l.OptionFlags2 |= tds.Login7IntSecurity; l.SSPI = []byte("NTLMSSP\x00\x01") }, 18452, "SQL logins only"},
		{"federated", func(l *tds.Login7) {
			l.FeatureExt = []tds.FeatureExt{{ID: tds.FeatureFedAuth, Data: []byte{0x02, 0, 0, 0, 0}}}
		}, 18456, "federated"},
		{"TDS 7.0", func(l *tds.Login7) { l.TDSVersion = tds.VerTDS70 }, 18456, "Login failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := testLogin(tds.VerTDS74)
			tc.edit(l)
			cl, toks := dialRaw(t, c.Primary(), l)
			if got := summary(toks); got != "ERROR("+strconv.Itoa(int(tc.number))+") DONE(0x0002)" {
				t.Fatalf("response = %s", got)
			}
			if !strings.Contains(toks[0].Err.Message, tc.msg) {
				t.Errorf("message %q does not mention %q", toks[0].Err.Message, tc.msg)
			}
			_ = cl.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := cl.conn.Read(make([]byte, 1)); err == nil {
				t.Error("connection still open after a refused login")
			}
		})
	}
}

// TestDoneBits checks DONE status bits and counts of a multi-statement
// batch the way SQL Server sets them.
func TestDoneBits(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{})
	cl, _ := dialRaw(t, c.Primary(), testLogin(tds.VerTDS74))
	cl.batch(0, "CREATE TABLE dbo.d (id int); INSERT INTO dbo.d VALUES (1), (2); SELECT id FROM dbo.d; UPDATE dbo.d SET id = 3 WHERE id = 1")
	toks := cl.read()
	var dones []tds.Done
	for _, tk := range toks {
		if tk.Type == tds.TokenDone {
			dones = append(dones, tk.Done)
		}
	}
	if len(dones) != 4 {
		t.Fatalf("got %d DONE tokens, want 4: %s", len(dones), summary(toks))
	}
	want := []struct {
		status tds.DoneStatus
		rows   uint64
	}{
		{tds.DoneMore, 0},
		{tds.DoneMore | tds.DoneCount, 2},
		{tds.DoneMore | tds.DoneCount, 2},
		{tds.DoneCount, 1},
	}
	for i, w := range want {
		if dones[i].Status != w.status || (w.status&tds.DoneCount != 0 && dones[i].RowCount != w.rows) {
			t.Errorf("DONE %d = %s rows %d, want %s rows %d", i, dones[i].Status, dones[i].RowCount, w.status, w.rows)
		}
	}
	more := []struct{ text, want string }{
		{"", "DONE(0x0000)"}, // an empty batch still gets its DONE
		{"SELECT 1 WHERE 1 = 0; SELECT 2", "COLMETADATA DONE(0x0011) COLMETADATA ROW DONE(0x0010)"},
	}
	for _, m := range more {
		cl.batch(0, m.text)
		if got := summary(cl.read()); got != m.want {
			t.Errorf("batch %q answered %s, want %s", m.text, got, m.want)
		}
	}
	// An error in the last statement: ERROR, then the final DONE with DONE_ERROR.
	cl.batch(0, "SELECT 1; SELECT * FROM dbo.missing")
	toks = cl.read()
	last := toks[len(toks)-1]
	if last.Type != tds.TokenDone || last.Done.Status&tds.DoneError == 0 || last.Done.Status&tds.DoneMore != 0 {
		t.Errorf("batch ending in an error = %s", summary(toks))
	}
}

// TestResetConnection sends a batch with RESETCONNECTION: the response starts
// with ENVCHANGE 18 and the session state (temp tables, open transaction)
// is gone.
func TestResetConnection(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{})
	cl, _ := dialRaw(t, c.Primary(), testLogin(tds.VerTDS74))
	cl.batch(0, "CREATE TABLE #tmp (id int); BEGIN TRAN")
	if toks := cl.read(); toks[len(toks)-1].Done.Status&tds.DoneError != 0 {
		t.Fatalf("setup failed: %s", summary(toks))
	}
	cl.batch(tds.StatusResetConnection, "SELECT @@TRANCOUNT")
	toks := cl.read()
	if len(toks) == 0 || toks[0].Type != tds.TokenEnvChange || toks[0].Env.Type != tds.EnvResetAckType {
		t.Fatalf("response to a reset = %s, want ENVCHANGE(18) first", summary(toks))
	}
	for _, tk := range toks {
		if tk.Type == tds.TokenRow && tk.Row[0] != int64(0) {
			t.Errorf("@@TRANCOUNT after reset = %v, want 0", tk.Row[0])
		}
	}
	cl.batch(0, "SELECT * FROM #tmp")
	if toks := cl.read(); toks[0].Type != tds.TokenError || toks[0].Err.Number != 208 {
		t.Errorf("temp table after reset: %s, want ERROR(208)", summary(toks))
	}
}

// TestAttention cancels a running WAITFOR with an Attention: the response
// ends at once and the acknowledgement (DONE_ATTN) follows in a message of
// its own, as tedious requires. An Attention that arrives after the
// response is acknowledged the same way.
func TestAttention(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{})
	tests := []struct {
		name  string
		send  func(cl *rawClient)
		delay time.Duration
	}{
		{"batch", func(cl *rawClient) { cl.batch(0, "WAITFOR DELAY '00:00:30'; SELECT 1") }, 100 * time.Millisecond},
		{"rpc", func(cl *rawClient) {
			req := &tds.RPCRequest{HasHeaders: true, Headers: tds.AutocommitHeaders(), Calls: []tds.RPCCall{
				{ProcID: tds.ProcSpExecuteSQL, Params: []tds.Param{{Type: nvarchar, Value: "WAITFOR DELAY '00:00:30'"}}}}}
			data, err := req.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			cl.send(tds.PacketRPC, 0, data)
		}, 100 * time.Millisecond},
		{"after the response", func(cl *rawClient) { cl.batch(0, "SELECT 1") }, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cl, _ := dialRaw(t, c.Primary(), testLogin(tds.VerTDS74))
			start := time.Now()
			tc.send(cl)
			if tc.delay == 0 {
				cl.read() // the whole response first
			} else {
				time.Sleep(tc.delay)
			}
			cl.send(tds.PacketAttention, 0, nil)
			if tc.delay != 0 {
				toks := cl.read()
				last := toks[len(toks)-1]
				if (last.Type != tds.TokenDone && last.Type != tds.TokenDoneProc) || last.Done.Status&(tds.DoneMore|tds.DoneAttn) != 0 {
					t.Fatalf("cancelled request's response = %s, want it to end with a final DONE", summary(toks))
				}
			}
			if got := summary(cl.read()); got != "DONE(0x0020)" {
				t.Fatalf("attention acknowledgement = %s, want DONE(0x0020) alone", got)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("cancel took %s", d)
			}
			cl.batch(0, "SELECT 5")
			if got := summary(cl.read()); got != "COLMETADATA ROW DONE(0x0010)" {
				t.Errorf("after Attention the session answers %s", got)
			}
		})
	}
}

// TestMalformedInput sends broken messages: a bad request body gets an
// ERROR and the session goes on; a broken stream closes that connection
// only; the server keeps serving.
func TestMalformedInput(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{})
	s := c.Primary()

	t.Run("bad batch body", func(t *testing.T) {
		cl, _ := dialRaw(t, s, testLogin(tds.VerTDS74))
		cl.send(tds.PacketSQLBatch, 0, []byte{0xFF, 0xFF, 0xFF, 0x7F, 1, 2, 3}) // ALL_HEADERS longer than the message
		if toks := cl.read(); toks[0].Type != tds.TokenError {
			t.Fatalf("bad batch answered %s", summary(toks))
		}
		cl.send(tds.PacketRPC, 0, []byte{0x16, 0, 0, 0, 0x12, 0, 0, 0, 2, 0})
		if toks := cl.read(); toks[0].Type != tds.TokenError {
			t.Fatalf("bad RPC answered %s", summary(toks))
		}
		cl.send(tds.PacketSQLBatch, 0, []byte{1}) // odd UCS-2 length
		cl.read()
		cl.batch(0, "SELECT 1")
		if got := summary(cl.read()); got != "COLMETADATA ROW DONE(0x0010)" {
			t.Errorf("session after bad messages answers %s", got)
		}
	})

	garbage := []struct {
		name string
		data []byte
	}{
		{"unknown packet type", []byte{0x55, 0x01, 0x00, 0x0A, 0, 0, 1, 0, 1, 2}},
		{"length below header", []byte{0x01, 0x01, 0x00, 0x04, 0, 0, 1, 0}},
		{"length above packet size", []byte{0x01, 0x01, 0xFF, 0xFF, 0, 0, 1, 0}},
		{"LOGIN7 again", append([]byte{0x10, 0x01, 0x00, 0x10, 0, 0, 1, 0}, make([]byte, 8)...)},
	}
	for _, g := range garbage {
		t.Run(g.name, func(t *testing.T) {
			cl, _ := dialRaw(t, s, testLogin(tds.VerTDS74))
			if _, err := cl.conn.Write(g.data); err != nil {
				t.Fatal(err)
			}
			_ = cl.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 4096)
			for {
				if _, err := cl.conn.Read(buf); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						t.Fatal("connection not closed after a broken stream")
					}
					break
				}
			}
		})
	}

	t.Run("garbage before PRELOGIN", func(t *testing.T) {
		nc, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := nc.Read(make([]byte, 16)); err == nil {
			t.Error("server answered HTTP")
		}
	})

	// The server is still fine.
	cl, _ := dialRaw(t, s, testLogin(tds.VerTDS74))
	cl.batch(0, "SELECT 1")
	if got := summary(cl.read()); got != "COLMETADATA ROW DONE(0x0010)" {
		t.Errorf("server after malformed input answers %s", got)
	}
}

// nvarchar is the TYPE_INFO of an nvarchar(4000) parameter.
var nvarchar = tds.TypeInfo{Type: tds.TypeNVarChar, Size: 8000, Collation: tds.DefaultCollation}

// TestMultipleRPCs sends two sp_executesql calls (by ProcID) and a call by
// name in one RPC message: each ends with DONEPROC, all but the last with
// DONE_MORE|DONE_RPCINBATCH, as SQL Server answers them.
func TestMultipleRPCs(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{})
	cl, _ := dialRaw(t, c.Primary(), testLogin(tds.VerTDS74))
	intN := tds.TypeInfo{Type: tds.TypeIntN, Size: 4}
	req := &tds.RPCRequest{HasHeaders: true, Headers: tds.AutocommitHeaders(), Calls: []tds.RPCCall{
		{ProcID: tds.ProcSpExecuteSQL, BatchFlag: tds.RPCBatchFlag, Params: []tds.Param{
			{Type: nvarchar, Value: "SELECT @a + 1 AS x"},
			{Type: nvarchar, Value: "@a int"},
			{Name: "@a", Type: intN, Value: int64(41)},
		}},
		{ProcID: tds.ProcSpExecuteSQL, BatchFlag: tds.RPCBatchFlag, Params: []tds.Param{
			{Type: nvarchar, Value: "SELECT * FROM dbo.missing_table"},
		}},
		{ProcName: "sp_executesql", Params: []tds.Param{
			{Type: nvarchar, Value: "SET @o = 7"},
			{Type: nvarchar, Value: "@o int OUTPUT"},
			{Name: "@o", Status: tds.ReturnValueOutput, Type: intN, Value: nil},
		}},
	}}
	data, err := req.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	cl.send(tds.PacketRPC, 0, data)
	toks := cl.read()
	var procs []tds.Done
	var row []any
	var rv *tds.ReturnValue
	for i, tk := range toks {
		switch tk.Type {
		case tds.TokenDoneProc:
			procs = append(procs, tk.Done)
		case tds.TokenRow:
			row = tk.Row
		case tds.TokenReturnValue:
			rv = &toks[i].ReturnValue
		case tds.TokenDone:
			t.Errorf("DONE in an RPC response: %s", summary(toks))
		}
	}
	if len(procs) != 3 {
		t.Fatalf("got %d DONEPROC, want 3: %s", len(procs), summary(toks))
	}
	inBatch := tds.DoneMore | tds.DoneRPCInBatch
	if procs[0].Status != inBatch || procs[1].Status&inBatch != inBatch || procs[1].Status&tds.DoneError == 0 || procs[2].Status&(tds.DoneMore|tds.DoneRPCInBatch) != 0 {
		t.Errorf("DONEPROC statuses = %s, %s, %s; response %s", procs[0].Status, procs[1].Status, procs[2].Status, summary(toks))
	}
	if len(row) != 1 || row[0] != int64(42) {
		t.Errorf("first call's row = %v, want [42]", row)
	}
	if rv == nil || rv.Value != int64(7) || rv.Name != "@o" {
		t.Errorf("RETURNVALUE = %+v, want @o = 7", rv)
	}
}

// TestDownLevelClients selects date, time and (max) columns with old TDS
// versions: before 7.3 the date and time types arrive as NVARCHAR strings,
// in 7.1 the (max) types as NTEXT/IMAGE, and every value decodes.
func TestDownLevelClients(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{SampleData: true})
	const query = "SELECT c_date, c_datetime2, c_time, c_nvarcharmax, c_varbinarymax FROM demo.dbo.all_types WHERE id = 1"
	tests := []struct {
		ver   uint32
		types []tds.DataType
	}{
		{tds.VerTDS74, []tds.DataType{tds.TypeDateN, tds.TypeDateTime2N, tds.TypeTimeN, tds.TypeNVarChar, tds.TypeBigVarBin}},
		{tds.VerTDS73B, []tds.DataType{tds.TypeDateN, tds.TypeDateTime2N, tds.TypeTimeN, tds.TypeNVarChar, tds.TypeBigVarBin}},
		{tds.VerTDS72, []tds.DataType{tds.TypeNVarChar, tds.TypeNVarChar, tds.TypeNVarChar, tds.TypeNVarChar, tds.TypeBigVarBin}},
		{tds.VerTDS71, []tds.DataType{tds.TypeNVarChar, tds.TypeNVarChar, tds.TypeNVarChar, tds.TypeNText, tds.TypeImage}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%#x", tc.ver), func(t *testing.T) {
			t.Parallel()
			cl, _ := dialRaw(t, c.Primary(), testLogin(tc.ver))
			cl.batch(0, query)
			toks := cl.read()
			var cols []tds.Column
			var row []any
			for _, tk := range toks {
				switch tk.Type {
				case tds.TokenColMetadata:
					cols = tk.Columns
				case tds.TokenRow, tds.TokenNBCRow:
					row = tk.Row
				case tds.TokenError:
					t.Fatalf("error: %s", tk.Err.Message)
				}
			}
			if len(cols) != len(tc.types) || len(row) != len(tc.types) {
				t.Fatalf("got %d columns, %d values: %s", len(cols), len(row), summary(toks))
			}
			for i, want := range tc.types {
				if cols[i].Type.Type != want {
					t.Errorf("column %s: type %v, want %v", cols[i].Name, cols[i].Type.Type, want)
				}
			}
			if want := "2024-02-29"; tc.ver < tds.VerTDS73A && row[0] != want {
				t.Errorf("date as string = %#v, want %q", row[0], want)
			}
			if s, ok := row[3].(string); !ok || len(s) < 1000 {
				t.Errorf("nvarchar(max) value = %T of length %d", row[3], len(fmt.Sprint(row[3])))
			}
		})
	}
}

// TestTMRequests drives transaction manager requests directly: BEGIN answers
// ENVCHANGE 8 with a descriptor, COMMIT/ROLLBACK answer ENVCHANGE 9/10 with
// it, COMMIT with TMBeginXactFlag starts the next transaction, and errors
// come back as ERROR + DONE_ERROR.
func TestTMRequests(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{})
	cl, _ := dialRaw(t, c.Primary(), testLogin(tds.VerTDS74))
	tm := func(req tds.TMRequest) []tds.Token {
		t.Helper()
		req.Headers = tds.AutocommitHeaders()
		cl.send(tds.PacketTransMgr, 0, req.Append(nil))
		return cl.read()
	}
	env := func(toks []tds.Token, typ tds.EnvType) (uint64, bool) {
		for _, tk := range toks {
			if tk.Type == tds.TokenEnvChange && tk.Env.Type == typ {
				return tk.Env.TxDescriptor()
			}
		}
		return 0, false
	}
	toks := tm(tds.TMRequest{Type: tds.TMBeginXact, IsolationLevel: tds.IsolationReadCommitted})
	d1, ok := env(toks, tds.EnvBeginTranType)
	if !ok || d1 == 0 || toks[len(toks)-1].Done.Status != 0 {
		t.Fatalf("BEGIN answered %s", summary(toks))
	}
	toks = tm(tds.TMRequest{Type: tds.TMCommitXact, Flags: tds.TMBeginXactFlag, HasFlags: true})
	if d, ok := env(toks, tds.EnvCommitTranType); !ok || d != d1 {
		t.Fatalf("COMMIT+BEGIN answered %s (descriptor %x, want %x)", summary(toks), d, d1)
	}
	d2, ok := env(toks, tds.EnvBeginTranType)
	if !ok || d2 == d1 {
		t.Fatalf("COMMIT with TMBeginXactFlag did not begin a new transaction: %s", summary(toks))
	}
	toks = tm(tds.TMRequest{Type: tds.TMRollbackXact})
	if d, ok := env(toks, tds.EnvRollbackTranType); !ok || d != d2 {
		t.Fatalf("ROLLBACK answered %s", summary(toks))
	}
	toks = tm(tds.TMRequest{Type: tds.TMRollbackXact})
	if got := summary(toks); got != "ERROR(3903) DONE(0x0002)" {
		t.Errorf("ROLLBACK without a transaction answered %s", got)
	}
	toks = tm(tds.TMRequest{Type: tds.TMPropagateXact, Cookie: []byte{1, 2, 3}})
	if toks[0].Type != tds.TokenError || toks[len(toks)-1].Done.Status&tds.DoneError == 0 {
		t.Errorf("PROPAGATE answered %s", summary(toks))
	}
}

// TestMutatedRequests sends valid requests with random bytes changed or cut
// off (a fixed seed, so failures reproduce): every one gets a well-formed
// response ending with a final DONE, the connection stays usable, and the
// server never crashes.
func TestMutatedRequests(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{})
	cl, _ := dialRaw(t, c.Primary(), testLogin(tds.VerTDS74))
	rpc, err := (&tds.RPCRequest{HasHeaders: true, Headers: tds.AutocommitHeaders(), Calls: []tds.RPCCall{
		{ProcID: tds.ProcSpExecuteSQL, Params: []tds.Param{
			{Type: nvarchar, Value: "SELECT @a + 1"}, {Type: nvarchar, Value: "@a int"},
			{Name: "@a", Type: tds.TypeInfo{Type: tds.TypeIntN, Size: 4}, Value: int64(1)},
		}}}}).Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	batch := (&tds.SQLBatch{HasHeaders: true, Headers: tds.AutocommitHeaders(), Text: "SELECT 1 AS a, N'x' AS b"}).Append(nil)
	tm := (&tds.TMRequest{Headers: tds.AutocommitHeaders(), Type: tds.TMBeginXact, Name: "t"}).Append(nil)
	seeds := []struct {
		typ  tds.PacketType
		data []byte
	}{{tds.PacketSQLBatch, batch}, {tds.PacketRPC, rpc}, {tds.PacketTransMgr, tm}}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 400 {
		s := seeds[i%len(seeds)]
		m := append([]byte(nil), s.data...)
		for range 1 + rng.IntN(4) {
			m[rng.IntN(len(m))] = byte(rng.IntN(256))
		}
		if rng.IntN(4) == 0 {
			m = m[:rng.IntN(len(m))]
		}
		cl.send(s.typ, 0, m)
		toks := cl.read()
		last := toks[len(toks)-1]
		if last.Type != tds.TokenDone && last.Type != tds.TokenDoneProc || last.Done.Status&tds.DoneMore != 0 {
			t.Fatalf("message %d (%v % x): response %s does not end with a final DONE", i, s.typ, m, summary(toks))
		}
	}
	cl.batch(0, "IF @@TRANCOUNT > 0 ROLLBACK; SELECT 1")
	cl.read()
	cl.batch(0, "SELECT 1")
	if got := summary(cl.read()); got != "COLMETADATA ROW DONE(0x0010)" {
		t.Errorf("session after mutated requests answers %s", got)
	}
}
