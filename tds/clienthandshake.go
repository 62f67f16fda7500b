package tds

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
)

// ClientEncryption is a client's encryption setting, named after
// go-mssqldb's encrypt= connection-string values.
type ClientEncryption int

// Client encryption settings.
const (
	// ClientEncryptOptional ("false"): PRELOGIN ENCRYPT_OFF. TLS for the
	// login packet only, or for everything when the server requires it.
	ClientEncryptOptional ClientEncryption = iota
	// ClientEncryptDisable ("disable"): ENCRYPT_NOT_SUP, never TLS.
	ClientEncryptDisable
	// ClientEncryptRequired ("true"): ENCRYPT_ON, TLS for the connection.
	ClientEncryptRequired
	// ClientEncryptStrict ("strict"): TDS 8, TLS (ALPN tds/8.0) before
	// any TDS byte.
	ClientEncryptStrict
)

// String returns the connection-string spelling.
func (e ClientEncryption) String() string {
	switch e {
	case ClientEncryptOptional:
		return "false"
	case ClientEncryptDisable:
		return "disable"
	case ClientEncryptRequired:
		return "true"
	case ClientEncryptStrict:
		return "strict"
	}
	return fmt.Sprintf("ClientEncryption(%d)", int(e))
}

// ParseClientEncryption parses go-mssqldb's spellings: "disable", "false" /
// "optional" / "no", "true" / "mandatory" / "yes", "strict".
func ParseClientEncryption(s string) (ClientEncryption, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "disable":
		return ClientEncryptDisable, nil
	case "false", "optional", "no", "0", "f":
		return ClientEncryptOptional, nil
	case "true", "mandatory", "yes", "1", "t":
		return ClientEncryptRequired, nil
	case "strict":
		return ClientEncryptStrict, nil
	}
	return 0, fmt.Errorf("tds: unknown encryption setting %q (want disable, false, true or strict)", s)
}

// ClientHandshakeConfig configures the client side of a handshake.
type ClientHandshakeConfig struct {
	// TLS is used when the connection is encrypted; the caller sets
	// ServerName, RootCAs or InsecureSkipVerify. Required unless Encryption
	// is ClientEncryptDisable.
	TLS        *tls.Config
	Encryption ClientEncryption
	// Login is sent as is (set TDSVersion to VerTDS80 for strict mode, as
	// go-mssqldb does).
	Login *Login7
	// PacketSize is the packet size of the PRELOGIN and LOGIN7 messages; 0
	// means DefaultPacketSize.
	PacketSize int
	// Version is the PRELOGIN VERSION sent; 0 means 0x0B000000 (11.0).
	Version uint32
	// Prelogin, if set, may edit the PRELOGIN before it is sent.
	Prelogin func(p *Prelogin)
}

// ClientHandshakeResult is a handshake that has sent LOGIN7.
type ClientHandshakeResult struct {
	// Conn is where the login response is read and the session continues:
	// the TLS conn (full, strict) or the raw conn (none, login-only).
	Conn           net.Conn
	ServerPrelogin *Prelogin
	Mode           EncryptionMode
	TLSState       *tls.ConnectionState
}

// ClientHandshake sends PRELOGIN, negotiates TLS (in PRELOGIN packets, or
// first with ALPN tds/8.0 in strict mode) and sends LOGIN7 (in login-only
// mode its first packet through TLS and the rest in plaintext). It refuses a
// server that would leave a connection the caller wants encrypted in
// plaintext. It honours ctx's deadline and cancellation; it closes nothing.
func ClientHandshake(ctx context.Context, conn net.Conn, cfg *ClientHandshakeConfig) (*ClientHandshakeResult, error) {
	if cfg == nil || cfg.Login == nil {
		return nil, fmt.Errorf("tds: client handshake: no LOGIN7")
	}
	if cfg.TLS == nil && cfg.Encryption != ClientEncryptDisable {
		return nil, fmt.Errorf("tds: client handshake: encryption %v needs a TLS config", cfg.Encryption)
	}
	login, err := cfg.Login.Append(nil)
	if err != nil {
		return nil, fmt.Errorf("tds: client handshake: %w", err)
	}
	stop := watchContext(ctx, conn)
	res, err := clientHandshake(ctx, conn, cfg, login)
	if serr := stop(); serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		return nil, fmt.Errorf("tds: client handshake: %w", withContextErr(ctx, err))
	}
	return res, nil
}

func clientHandshake(ctx context.Context, conn net.Conn, cfg *ClientHandshakeConfig, login []byte) (*ClientHandshakeResult, error) {
	size := cfg.PacketSize
	if size == 0 {
		size = DefaultPacketSize
	}
	p := &Prelogin{
		HasVersion: true, Version: cfg.Version,
		HasEncryption: true,
		HasInstOpt:    true, InstOpt: []byte{0},
		HasThreadID: true,
		HasMARS:     true,
	}
	if p.Version == 0 {
		p.Version = 0x0B000000
	}
	switch cfg.Encryption {
	case ClientEncryptDisable:
		p.Encryption = EncryptNotSup
	case ClientEncryptRequired:
		p.Encryption = EncryptOn
	case ClientEncryptStrict:
		p.Encryption = EncryptOn // ignored by TDS 8 servers
	default:
		p.Encryption = EncryptOff
	}
	if cfg.Prelogin != nil {
		cfg.Prelogin(p)
	}
	res := &ClientHandshakeResult{Conn: conn}

	if cfg.Encryption == ClientEncryptStrict {
		tc := tls.Client(conn, clientTLSConfig(strictTLSConfig(cfg.TLS)))
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("TLS handshake (strict): %w", err)
		}
		if np := tc.ConnectionState().NegotiatedProtocol; np != "" && np != ALPNTDS8 {
			return nil, fmt.Errorf("TLS handshake (strict): server chose ALPN %q", np)
		}
		st := tc.ConnectionState()
		res.Conn, res.Mode, res.TLSState = tc, ModeStrict, &st
		sp, err := exchangePrelogin(tc, tc, p, size)
		if err != nil {
			return nil, err
		}
		res.ServerPrelogin = sp
		return res, writeLogin(NewPacketWriter(tc, size), login)
	}

	sp, err := exchangePrelogin(conn, conn, p, size)
	if err != nil {
		return nil, err
	}
	res.ServerPrelogin = sp
	answer := EncryptNotSup
	if sp.HasEncryption {
		answer = sp.Encryption &^ EncryptClientCert
	}
	switch {
	case answer == EncryptNotSup && cfg.Encryption == ClientEncryptRequired:
		return nil, &EncryptionRefusedError{Server: answer, Client: p.Encryption, Reason: "server cannot encrypt"}
	case answer == EncryptNotSup:
		res.Mode = ModeNone
		return res, writeLogin(NewPacketWriter(conn, size), login)
	case cfg.Encryption == ClientEncryptDisable:
		return nil, &EncryptionRefusedError{Server: answer, Client: p.Encryption, Reason: "server requires encryption"}
	case answer == EncryptOff && cfg.Encryption == ClientEncryptRequired:
		return nil, &EncryptionRefusedError{Server: answer, Client: p.Encryption, Reason: "server offered login-only encryption"}
	}

	tconn := newPreloginConn(conn, true)
	tconn.pw.SetPacketSize(size)
	tc := tls.Client(tconn, clientTLSConfig(inBandTLSConfig(cfg.TLS)))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("TLS handshake in PRELOGIN: %w", err)
	}
	tconn.mode = modeRaw
	st := tc.ConnectionState()
	res.TLSState = &st
	if answer == EncryptOff {
		// Login-only: the first LOGIN7 packet through TLS, the rest and the
		// whole session in plaintext.
		res.Mode = ModeLoginOnly
		return res, writeLogin(NewPacketWriter(&firstPacketWriter{first: tc, rest: conn}, size), login)
	}
	res.Conn, res.Mode = tc, ModeFull
	return res, writeLogin(NewPacketWriter(tc, size), login)
}

// clientTLSConfig disables TLS dynamic record sizing on a (cloned) config,
// as go-mssqldb does: SQL Server expects one TLS record per TDS packet
// (go-mssqldb issue #166), which matters for the login-only LOGIN7 packet.
func clientTLSConfig(c *tls.Config) *tls.Config {
	c.DynamicRecordSizingDisabled = true
	return c
}

// exchangePrelogin sends the client's PRELOGIN on w and reads the answer from r.
func exchangePrelogin(w, r net.Conn, p *Prelogin, size int) (*Prelogin, error) {
	if err := NewPacketWriter(w, size).WriteMessage(PacketPrelogin, 0, p.Append(nil)); err != nil {
		return nil, fmt.Errorf("writing PRELOGIN: %w", err)
	}
	m, err := NewPacketReader(r, MaxPacketSize).ReadMessage(maxPreloginSize)
	if err != nil {
		return nil, fmt.Errorf("reading PRELOGIN answer: %w", err)
	}
	if m.Type != PacketReply && m.Type != PacketPrelogin {
		return nil, formatErr("PRELOGIN answer", "packet type", "got %v", m.Type)
	}
	sp, err := DecodePrelogin(m.Data)
	if err != nil {
		return nil, err
	}
	return sp, nil
}

func writeLogin(pw *PacketWriter, login []byte) error {
	if err := pw.WriteMessage(PacketLogin7, 0, login); err != nil {
		return fmt.Errorf("writing LOGIN7: %w", err)
	}
	return nil
}
