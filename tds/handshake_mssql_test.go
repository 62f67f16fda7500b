package tds

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
)

// loginResponse hand-assembles LOGINACK (TDS 7.4, "tdsproxy-test" 16.0.4000)
// + DONE ([MS-TDS] §2.2.7.14, §2.2.7.6); codec-tokens owns the encoders.
func loginResponse() []byte {
	name := AppendUCS2(nil, "tdsproxy-test")
	body := []byte{1, 0x74, 0x00, 0x00, 0x04, byte(len(name) / 2)}
	body = append(body, name...)
	body = append(body, 16, 0, 0x0F, 0xA0)
	b := []byte{0xAD}
	b = binary.LittleEndian.AppendUint16(b, uint16(len(body)))
	b = append(b, body...)
	return append(b, doneFinal()...)
}

func doneFinal() []byte { return []byte{0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} }

// fakeServer accepts connections, runs ServerHandshake, answers the login
// and every batch with DONE, and reports what it saw.
type fakeServer struct {
	ln      net.Listener
	cfg     *ServerHandshakeConfig
	results chan *ServerHandshakeResult
	batches chan *SQLBatch
	errs    chan error
}

func startFakeServer(t *testing.T, cfg *ServerHandshakeConfig) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{ln: ln, cfg: cfg, results: make(chan *ServerHandshakeResult, 4),
		batches: make(chan *SQLBatch, 16), errs: make(chan error, 4)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *fakeServer) serve(c net.Conn) {
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := ServerHandshake(ctx, c, s.cfg)
	if err != nil {
		s.errs <- err
		return
	}
	s.results <- res
	w := NewPacketWriter(res.Conn, DefaultPacketSize)
	if err := w.WriteMessage(PacketReply, 0, loginResponse()); err != nil {
		s.errs <- err
		return
	}
	r := NewPacketReader(res.Conn, MaxPacketSize)
	for {
		m, err := r.ReadMessage(0)
		if err != nil {
			return // the client closed
		}
		if m.Type != PacketSQLBatch {
			s.errs <- fmt.Errorf("unexpected %v message", m.Type)
			return
		}
		b, err := DecodeSQLBatch(m.Data, res.Login.TDSVersion)
		if err != nil {
			s.errs <- err
			return
		}
		s.batches <- b
		if err := w.WriteMessage(PacketReply, 0, doneFinal()); err != nil {
			return
		}
	}
}

// TestHandshakeGoMSSQLDB runs real go-mssqldb against ServerHandshake in
// each of its encryption modes, up to its first batch.
func TestHandshakeGoMSSQLDB(t *testing.T) {
	t.Parallel()
	// encrypt=strict verifies the certificate (TrustServerCertificate is
	// ignored there), so the client gets the CA file.
	certFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: testCert(t).Leaf.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		encrypt    string
		packetSize string
		want       EncryptionMode
	}{
		{"disable", "", ModeNone},
		{"false", "", ModeLoginOnly},
		{"true", "", ModeFull},
		{"strict", "", ModeStrict},
		// Packet size 512: go-mssqldb rejects server packets above it, and
		// its LOGIN7 (long app name) spans packets: in login-only mode the
		// first is TLS, the rest plaintext.
		{"false", "512", ModeLoginOnly},
		{"true", "512", ModeFull},
	} {
		t.Run(tc.encrypt+"/"+tc.packetSize, func(t *testing.T) {
			t.Parallel()
			srv := startFakeServer(t, &ServerHandshakeConfig{TLS: serverTLS(t), Encryption: EncryptOff})
			q := url.Values{}
			q.Set("encrypt", tc.encrypt)
			q.Set("TrustServerCertificate", "true")
			q.Set("certificate", certFile)
			q.Set("database", "sales")
			app := "mssql-handshake-test"
			if tc.packetSize != "" {
				q.Set("packet size", tc.packetSize)
				app += strings.Repeat("-long", 100)
			}
			q.Set("app name", app)
			q.Set("ApplicationIntent", "ReadOnly")
			q.Set("dial timeout", "5")
			u := url.URL{Scheme: "sqlserver", User: url.UserPassword("alice", "p@ss w0rd€"),
				Host: srv.ln.Addr().String(), RawQuery: q.Encode()}
			if tc.encrypt == "strict" {
				q.Del("TrustServerCertificate")
				u.RawQuery = q.Encode()
			} else {
				q.Del("certificate")
				u.RawQuery = q.Encode()
			}
			connector, err := mssql.NewConnector(u.String())
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(connector)
			defer db.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			pingErr := make(chan error, 1)
			go func() { pingErr <- db.PingContext(ctx) }()

			var res *ServerHandshakeResult
			select {
			case res = <-srv.results:
			case err := <-srv.errs:
				t.Fatalf("server: %v", err)
			case err := <-pingErr:
				t.Fatalf("ping ended before the handshake: %v", err)
			case <-ctx.Done():
				t.Fatal("timeout waiting for the handshake")
			}
			if res.Mode != tc.want {
				t.Fatalf("mode %v, want %v", res.Mode, tc.want)
			}
			l := res.Login
			if l.UserName != "alice" || l.Password != "p@ss w0rd€" || l.Database != "sales" ||
				l.AppName != app || !l.ReadOnlyIntent() {
				t.Fatalf("login %v", l)
			}
			if tc.want == ModeStrict && (l.TDSVersion != VerTDS80 || res.TLSState.NegotiatedProtocol != ALPNTDS8) {
				t.Fatalf("strict: TDS %#x ALPN %q", l.TDSVersion, res.TLSState.NegotiatedProtocol)
			}
			select {
			case b := <-srv.batches:
				if b.Text == "" || !b.HasHeaders || !b.Headers.HasTxDescriptor {
					t.Fatalf("first batch %v %q", b, b.Text)
				}
				t.Logf("mode %v: first batch %q", res.Mode, b.Text)
			case err := <-srv.errs:
				t.Fatalf("server: %v", err)
			case <-ctx.Done():
				t.Fatal("timeout waiting for the first batch")
			}
			if err := <-pingErr; err != nil {
				t.Fatalf("ping: %v", err)
			}
		})
	}
}
