package tds

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCertOnce generates the test certificate once per test binary.
var testCertOnce = sync.OnceValues(func() (tls.Certificate, error) { return GenerateSelfSignedCert(nil) })

func testCert(t testing.TB) tls.Certificate {
	t.Helper()
	c, err := testCertOnce()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func serverTLS(t testing.TB) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{testCert(t)}}
}

func clientTLS(t testing.TB) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(testCert(t).Leaf)
	return &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { client.Close(); r.c.Close() })
	return client, r.c
}

func TestGenerateSelfSignedCert(t *testing.T) {
	t.Parallel()
	cert, err := GenerateSelfSignedCert([]string{"db.example", "10.1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.Leaf.VerifyHostname("db.example"); err != nil {
		t.Error(err)
	}
	if err := cert.Leaf.VerifyHostname("10.1.2.3"); err != nil {
		t.Error(err)
	}
	if err := cert.Leaf.VerifyHostname("other.example"); err == nil {
		t.Error("other host verified")
	}
}

func testLogin() *Login7 {
	return &Login7{TDSVersion: VerTDS74, PacketSize: 4096, UserName: "alice", Password: "s3cret!",
		AppName: "handshake-test", Database: "sales", HostName: "client-host", ServerName: "localhost",
		CltIntName: "tds-test", TypeFlags: Login7ReadOnlyIntent}
}

func TestHandshakeClientServer(t *testing.T) {
	t.Parallel()
	bigLogin := testLogin()
	bigLogin.AppName = strings.Repeat("A", 700) // LOGIN7 spans several 512-byte packets
	for _, tc := range []struct {
		name       string
		srvTLS     bool
		srvEnc     Encryption
		cliEnc     ClientEncryption
		login      *Login7
		packetSize int
		want       EncryptionMode
	}{
		{"disable", true, EncryptOff, ClientEncryptDisable, nil, 0, ModeNone},
		{"server cannot encrypt", false, EncryptOff, ClientEncryptOptional, nil, 0, ModeNone},
		{"login-only", true, EncryptOff, ClientEncryptOptional, nil, 0, ModeLoginOnly},
		{"login-only multi-packet", true, EncryptOff, ClientEncryptOptional, bigLogin, 512, ModeLoginOnly},
		{"full (client asks)", true, EncryptOff, ClientEncryptRequired, nil, 0, ModeFull},
		{"full (server requires)", true, EncryptOn, ClientEncryptOptional, nil, 0, ModeFull},
		{"full multi-packet", true, EncryptReq, ClientEncryptRequired, bigLogin, 512, ModeFull},
		{"strict", true, EncryptOff, ClientEncryptStrict, nil, 0, ModeStrict},
		{"strict multi-packet", true, EncryptOn, ClientEncryptStrict, bigLogin, 512, ModeStrict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			login := tc.login
			if login == nil {
				login = testLogin()
			}
			cc, sc := tcpPair(t)
			scfg := &ServerHandshakeConfig{Encryption: tc.srvEnc, Version: 0x0F001234,
				Prelogin: func(_, a *Prelogin) { a.MARS = true }} // must be overridden
			if tc.srvTLS {
				scfg.TLS = serverTLS(t)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			type sres struct {
				r   *ServerHandshakeResult
				err error
			}
			ch := make(chan sres, 1)
			go func() {
				r, err := ServerHandshake(ctx, sc, scfg)
				ch <- sres{r, err}
			}()
			cres, err := ClientHandshake(ctx, cc, &ClientHandshakeConfig{TLS: clientTLS(t), Encryption: tc.cliEnc,
				Login: login, PacketSize: tc.packetSize})
			if err != nil {
				t.Fatalf("client: %v", err)
			}
			s := <-ch
			if s.err != nil {
				t.Fatalf("server: %v", s.err)
			}
			if s.r.Mode != tc.want || cres.Mode != tc.want {
				t.Fatalf("modes: server %v, client %v, want %v", s.r.Mode, cres.Mode, tc.want)
			}
			if (s.r.TLSState != nil) != (tc.want != ModeNone) || (cres.TLSState != nil) != (tc.want != ModeNone) {
				t.Fatalf("TLS state: server %v client %v", s.r.TLSState != nil, cres.TLSState != nil)
			}
			if tc.want == ModeStrict && s.r.TLSState.NegotiatedProtocol != ALPNTDS8 {
				t.Fatalf("ALPN %q", s.r.TLSState.NegotiatedProtocol)
			}
			if tc.want == ModeFull && s.r.TLSState.Version != tls.VersionTLS12 {
				t.Fatalf("in-band TLS version %x, want TLS 1.2", s.r.TLSState.Version)
			}
			if sp := cres.ServerPrelogin; sp.MARS || sp.Version != 0x0F001234 {
				t.Fatalf("answer %v", sp)
			}
			l := s.r.Login
			if l.UserName != login.UserName || l.Password != login.Password || l.Database != "sales" ||
				l.AppName != login.AppName || !l.ReadOnlyIntent() {
				t.Fatalf("login %v", l)
			}
			if want, _ := login.Append(nil); string(s.r.LoginRaw) != string(want) {
				t.Fatal("LoginRaw differs from what the client sent")
			}
			exchangeAfterLogin(t, cres.Conn, s.r.Conn)
		})
	}
}

// exchangeAfterLogin sends a reply server→client and a batch client→server
// on the post-login streams.
func exchangeAfterLogin(t *testing.T, client, server net.Conn) {
	t.Helper()
	reply := []byte{0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	errc := make(chan error, 1)
	go func() { errc <- NewPacketWriter(server, DefaultPacketSize).WriteMessage(PacketReply, 0, reply) }()
	m, err := NewPacketReader(client, DefaultPacketSize).ReadMessage(0)
	if err != nil || m.Type != PacketReply || string(m.Data) != string(reply) {
		t.Fatalf("client read %v %v", m, err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	batch := &SQLBatch{Headers: AutocommitHeaders(), HasHeaders: true, Text: "SELECT 1"}
	go func() {
		errc <- NewPacketWriter(client, DefaultPacketSize).WriteMessage(PacketSQLBatch, 0, batch.Append(nil))
	}()
	m, err = NewPacketReader(server, DefaultPacketSize).ReadMessage(0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := DecodeSQLBatch(m.Data, VerTDS74)
	if err != nil || b.Text != "SELECT 1" {
		t.Fatalf("server read %v %v", b, err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestHandshakeRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		srvTLS bool
		srvEnc Encryption
		cliEnc ClientEncryption
	}{
		{"client requires, server cannot", false, EncryptOff, ClientEncryptRequired},
		{"server requires, client cannot", true, EncryptReq, ClientEncryptDisable},
		{"server on, client cannot", true, EncryptOn, ClientEncryptDisable},
		{"server not-sup, client requires", true, EncryptNotSup, ClientEncryptRequired},
		{"strict client, server cannot", false, EncryptOff, ClientEncryptStrict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cc, sc := tcpPair(t)
			scfg := &ServerHandshakeConfig{Encryption: tc.srvEnc}
			if tc.srvTLS {
				scfg.TLS = serverTLS(t)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				_, err := ServerHandshake(ctx, sc, scfg)
				sc.Close() // as a caller would after a refusal
				errc <- err
			}()
			_, cerr := ClientHandshake(ctx, cc, &ClientHandshakeConfig{TLS: clientTLS(t), Encryption: tc.cliEnc, Login: testLogin()})
			serr := <-errc
			var ref *EncryptionRefusedError
			if !errors.As(serr, &ref) {
				t.Fatalf("server: got %v, want EncryptionRefusedError", serr)
			}
			if cerr == nil {
				t.Fatal("client handshake succeeded")
			}
		})
	}
}

func TestServerHandshakeContext(t *testing.T) {
	t.Parallel()
	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		_, sc := tcpPair(t) // the client never sends anything
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := ServerHandshake(ctx, sc, &ServerHandshakeConfig{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("took %v", d)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		t.Parallel()
		_, sc := tcpPair(t)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := ServerHandshake(ctx, sc, &ServerHandshakeConfig{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("client deadline", func(t *testing.T) {
		t.Parallel()
		cc, _ := tcpPair(t) // the server never answers
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := ClientHandshake(ctx, cc, &ClientHandshakeConfig{Encryption: ClientEncryptDisable, Login: testLogin()})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestServerHandshakeBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"not TDS", []byte("GET / HTTP/1.1\r\n\r\n")},
		{"TDS 7 LOGIN7 without PRELOGIN", pkt(PacketLogin7, StatusEOM, 1, make([]byte, 100))},
		{"malformed PRELOGIN", pkt(PacketPrelogin, StatusEOM, 1, []byte{0x00, 0x00, 0x40, 0x00, 0x06, 0xFF})},
		{"batch instead of LOGIN7", append(pkt(PacketPrelogin, StatusEOM, 1,
			(&Prelogin{HasVersion: true, HasEncryption: true, Encryption: EncryptNotSup}).Append(nil)),
			pkt(PacketSQLBatch, StatusEOM, 1, []byte("x\x00"))...)},
		{"PRELOGIN then EOF", pkt(PacketPrelogin, StatusEOM, 1,
			(&Prelogin{HasVersion: true, HasEncryption: true, Encryption: EncryptNotSup}).Append(nil))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cc, sc := tcpPair(t)
			go func() {
				cc.Write(tc.in)
				cc.(*net.TCPConn).CloseWrite()
				buf := make([]byte, 1024)
				for {
					if _, err := cc.Read(buf); err != nil {
						return
					}
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := ServerHandshake(ctx, sc, &ServerHandshakeConfig{}); err == nil {
				t.Fatal("no error")
			} else if ctx.Err() != nil {
				t.Fatalf("timed out: %v", err)
			}
		})
	}
}

func TestParseClientEncryption(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]ClientEncryption{"disable": ClientEncryptDisable, "false": ClientEncryptOptional,
		"True": ClientEncryptRequired, "strict": ClientEncryptStrict, "mandatory": ClientEncryptRequired} {
		if got, err := ParseClientEncryption(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseClientEncryption("maybe"); err == nil {
		t.Error("accepted maybe")
	}
}

// TestServerHandshakeReplay replays what real clients sent (babelfish
// captures without TLS) into ServerHandshake.
func TestServerHandshakeReplay(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"01-go-login-select1", "03-tedious-execsql-param", "04-pyodbc-types", "16-pymssql-tds73-login"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			stream := readTestdata(t, "babelfish/"+name+".c2s.bin")
			res, err := ServerHandshake(context.Background(), &bytesConn{r: bytes.NewReader(stream)}, &ServerHandshakeConfig{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Mode != ModeNone || res.Login.UserName != "babelfish_user" || res.Login.Password != "12345678" ||
				res.ClientPrelogin.Encryption != EncryptNotSup {
				t.Fatalf("mode %v login %v prelogin %v", res.Mode, res.Login, res.ClientPrelogin)
			}
			// The connection continues with the first request, unread.
			m, err := NewPacketReader(res.Conn, MaxPacketSize).ReadMessage(0)
			if err != nil || m.Type != PacketSQLBatch {
				t.Fatalf("next message %v %v", m, err)
			}
		})
	}
}

// TestClientHandshakeRejectsDowngrade: a server answering a client that
// requires encryption with OFF (login-only) or NOT_SUP is refused.
func TestClientHandshakeRejectsDowngrade(t *testing.T) {
	t.Parallel()
	for _, answer := range []Encryption{EncryptOff, EncryptNotSup} {
		t.Run(answer.String(), func(t *testing.T) {
			t.Parallel()
			cc, sc := tcpPair(t)
			go func() {
				if _, err := NewPacketReader(sc, MaxPacketSize).ReadMessage(0); err != nil {
					return
				}
				a := &Prelogin{HasVersion: true, HasEncryption: true, Encryption: answer}
				_ = NewPacketWriter(sc, DefaultPacketSize).WriteMessage(PacketReply, 0, a.Append(nil))
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := ClientHandshake(ctx, cc, &ClientHandshakeConfig{TLS: clientTLS(t), Encryption: ClientEncryptRequired, Login: testLogin()})
			var ref *EncryptionRefusedError
			if !errors.As(err, &ref) || ref.Server != answer {
				t.Fatalf("got %v", err)
			}
		})
	}
}
