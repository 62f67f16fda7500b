package proxy

import (
	"context"
	"errors"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tdsproxy/tdsproxy/tds"
)

// fakeBackend is a scripted TDS server for what the simulator does not do
// (routing, odd packet sizes). Every SQL batch is answered with one INT row
// holding the backend's id.
type fakeBackend struct {
	t       testing.TB
	id      int64
	ln      net.Listener
	logins  atomic.Int64
	active  atomic.Int64 // connections being served
	batches atomic.Int64 // SQL batches received
	// loginTokens, if set, replaces the default login response tokens.
	loginTokens func(l *tds.Login7) []tds.Token
	// packetSize is the packet size the backend announces (default 4096).
	packetSize int

	mu        sync.Mutex
	lastLogin *tds.Login7
	wg        sync.WaitGroup
}

func newFakeBackend(t testing.TB, id int64) *fakeBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fb := &fakeBackend{t: t, id: id, ln: ln, packetSize: 4096}
	fb.wg.Add(1)
	go fb.accept()
	t.Cleanup(func() { ln.Close(); fb.wg.Wait() })
	return fb
}

func (fb *fakeBackend) addr() string { return fb.ln.Addr().String() }

func (fb *fakeBackend) port() uint16 {
	_, p, _ := net.SplitHostPort(fb.addr())
	n, _ := strconv.Atoi(p)
	return uint16(n)
}

func (fb *fakeBackend) accept() {
	defer fb.wg.Done()
	for {
		c, err := fb.ln.Accept()
		if err != nil {
			return
		}
		fb.wg.Add(1)
		fb.active.Add(1)
		go func() {
			defer fb.wg.Done()
			defer fb.active.Add(-1)
			defer c.Close()
			fb.serve(c)
		}()
	}
}

func (fb *fakeBackend) serve(c net.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := tds.ServerHandshake(ctx, c, &tds.ServerHandshakeConfig{Encryption: tds.EncryptNotSup})
	if err != nil {
		return
	}
	fb.logins.Add(1)
	fb.mu.Lock()
	fb.lastLogin = res.Login
	fb.mu.Unlock()
	w := tds.NewPacketWriter(res.Conn, 4096)
	w.SetSPID(uint16(50 + fb.id))
	toks := fb.defaultLogin()
	if fb.loginTokens != nil {
		toks = fb.loginTokens(res.Login)
	}
	resp, err := tds.AppendTokens(nil, toks, tds.VerTDS74)
	if err != nil {
		fb.t.Errorf("fake backend: encoding the login response: %v", err)
		return
	}
	if err := w.WriteMessage(tds.PacketReply, 0, resp); err != nil {
		return
	}
	w.SetPacketSize(fb.packetSize)
	r := tds.NewPacketReader(res.Conn, fb.packetSize)
	cols := []tds.Column{{Flags: tds.ColNullable, Type: tds.TypeInfo{Type: tds.TypeIntN, Size: 4}, Name: "id"}}
	for {
		msg, err := r.ReadMessage(1 << 20)
		if err != nil {
			return
		}
		var out []byte
		text := ""
		if msg.Type == tds.PacketSQLBatch {
			fb.batches.Add(1)
			if b, err := tds.DecodeSQLBatch(msg.Data, tds.VerTDS74); err == nil {
				text = b.Text
			}
		}
		switch {
		case msg.Type == tds.PacketAttention:
			out = tds.AppendDone(nil, tds.TokenDone, tds.Done{Status: tds.DoneAttn}, tds.VerTDS74)
		case text == "SLOW" || text == "DIE":
			// One packet of a result, then wait: for an Attention (SLOW),
			// which ends the response with DONE_ATTN as SQL Server does, or
			// die (DIE) at a token boundary.
			part := tds.AppendColMetadata(nil, cols)
			if part, err = tds.AppendRow(part, cols, []any{fb.id}); err != nil {
				fb.t.Errorf("fake backend: %v", err)
				return
			}
			if err := w.WritePacket(tds.Header{Type: tds.PacketReply, SPID: uint16(50 + fb.id), PacketID: 1}, part); err != nil {
				return
			}
			if text == "DIE" {
				return
			}
			m2, err := r.ReadMessage(1 << 20)
			if err != nil || m2.Type != tds.PacketAttention {
				fb.t.Errorf("fake backend: want an Attention, got %v, %v", m2, err)
				return
			}
			out = tds.AppendDone(nil, tds.TokenDone, tds.Done{Status: tds.DoneAttn}, tds.VerTDS74)
		default:
			out = tds.AppendColMetadata(nil, cols)
			if out, err = tds.AppendRow(out, cols, []any{fb.id}); err != nil {
				fb.t.Errorf("fake backend: %v", err)
				return
			}
			out = tds.AppendDone(out, tds.TokenDone, tds.Done{Status: tds.DoneCount, CurCmd: 0xC1, RowCount: 1}, tds.VerTDS74)
		}
		if err := w.WriteMessage(tds.PacketReply, 0, out); err != nil {
			return
		}
	}
}

func (fb *fakeBackend) defaultLogin() []tds.Token {
	return []tds.Token{
		{Type: tds.TokenEnvChange, Env: tds.EnvDatabase("master", "master")},
		{Type: tds.TokenLoginAck, LoginAck: tds.LoginAck{Interface: 1, TDSVersion: tds.VerTDS74, ProgName: "fake", ProgVersion: [4]byte{16, 0, 0, 1}}},
		{Type: tds.TokenEnvChange, Env: tds.EnvPacketSize(fb.packetSize, 4096)},
		{Type: tds.TokenDone},
	}
}

// newFakeHarness starts a proxy in front of a fake backend.
func newFakeHarness(t *testing.T, fb *fakeBackend, mod func(*Config)) *Server {
	return newFakeHarnessTB(t, fb, mod)
}

// newFakeHarnessTB is newFakeHarness for tests and benchmarks.
func newFakeHarnessTB(t testing.TB, fb *fakeBackend, mod func(*Config)) *Server {
	t.Helper()
	cfg := Config{Listen: "127.0.0.1:0", Primary: fb.addr(), BackendEncrypt: BackendEncryptDisable,
		LoginTimeout: 5 * time.Second, BackendConnectTimeout: 3 * time.Second, ShutdownGrace: time.Second}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("ListenAndServe: %v", err)
		}
	})
	waitFor(t, 5*time.Second, "the proxy to listen", func() bool { return srv.Addr() != nil })
	return srv
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rawLogin logs in to a TDS server at addr with the codec's client
// handshake (no encryption) and returns the connection, positioned before
// the login response, and a reader on it.
func rawLogin(t testing.TB, addr string, mod func(*tds.Login7)) (net.Conn, *tds.PacketReader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	login := &tds.Login7{
		TDSVersion: tds.VerTDS74, PacketSize: 4096, UserName: "app", Password: "App-Passw0rd!",
		AppName: "rawtest", HostName: "test", Database: "demo", CltIntName: "tdsproxy-test",
	}
	if mod != nil {
		mod(login)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := tds.ClientHandshake(ctx, c, &tds.ClientHandshakeConfig{
		Encryption: tds.ClientEncryptDisable, Login: login, PacketSize: 4096,
	})
	if err != nil {
		t.Fatalf("client handshake with %s: %v", addr, err)
	}
	return res.Conn, tds.NewPacketReader(res.Conn, tds.MaxPacketSize)
}

// readTokens reads one reply message and decodes it.
func readTokens(t testing.TB, r *tds.PacketReader) []tds.Token {
	t.Helper()
	msg, err := r.ReadMessage(1 << 20)
	if err != nil {
		t.Fatalf("reading a reply: %v", err)
	}
	toks, err := tds.DecodeTokens(msg.Data, tds.VerTDS74)
	if err != nil {
		t.Fatalf("decoding a reply: %v", err)
	}
	return toks
}

func firstError(toks []tds.Token) (tds.ServerError, bool) {
	for _, tk := range toks {
		if tk.Type == tds.TokenError {
			return tk.Err, true
		}
	}
	return tds.ServerError{}, false
}

// expectClosed reads until the proxy closes the connection.
func expectClosed(t testing.TB, c net.Conn, within time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, c)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the proxy did not close the connection within %s", within)
		}
	}
}

// sqlBatch builds a SQLBatch payload with the autocommit ALL_HEADERS.
func sqlBatch(text string) []byte {
	b := []byte{0x16, 0, 0, 0, 0x12, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}
	return tds.AppendUCS2(b, text)
}

// metricValue reads a gauge or counter.
func metricValue(t testing.TB, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	}
	t.Fatalf("metric %v is neither a gauge nor a counter", c.Desc())
	return 0
}

func dialTimeout(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, 2*time.Second) }
