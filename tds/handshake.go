package tds

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// EncryptionMode is how a connection ended up encrypted.
type EncryptionMode int

// Encryption modes ([MS-TDS] §3.2.5.2, §3.3.5.1; TDS 8: §1.7).
const (
	ModeNone      EncryptionMode = iota // plaintext
	ModeLoginOnly                       // only the first LOGIN7 packet was TLS
	ModeFull                            // TLS negotiated in PRELOGIN, for the whole connection
	ModeStrict                          // TDS 8: TLS before any TDS byte
)

// String names the mode.
func (m EncryptionMode) String() string {
	switch m {
	case ModeNone:
		return "none"
	case ModeLoginOnly:
		return "login-only"
	case ModeFull:
		return "full"
	case ModeStrict:
		return "strict"
	}
	return fmt.Sprintf("EncryptionMode(%d)", int(m))
}

// DefaultServerVersion is the PRELOGIN VERSION a server answers unless
// configured otherwise: 16.0.4000 (SQL Server 2022).
const DefaultServerVersion uint32 = 0x10000FA0

// maxPreloginSize caps a PRELOGIN message (options are a few dozen bytes).
const maxPreloginSize = 64 << 10

// EncryptionRefusedError reports that client and server cannot agree on
// encryption: the server ends the connection ([MS-TDS] §3.3.5.1). When the
// client spoke TDS 7.x, ServerHandshake has already sent a PRELOGIN answer
// with the server's setting, so the client reports its own clear error.
type EncryptionRefusedError struct {
	Server Encryption // the server's setting
	Client Encryption // the client's request
	Reason string
}

// Error implements error.
func (e *EncryptionRefusedError) Error() string {
	return fmt.Sprintf("tds: encryption refused (server %v, client %v): %s", e.Server, e.Client, e.Reason)
}

// ServerHandshakeConfig configures the server side of a handshake.
type ServerHandshakeConfig struct {
	// TLS holds the server certificate. nil: the server cannot encrypt; it
	// answers ENCRYPT_NOT_SUP and refuses clients that require encryption
	// and TDS 8 strict clients.
	TLS *tls.Config
	// Encryption is the server setting: EncryptOff (login-only TLS for
	// clients that ask for nothing), EncryptOn / EncryptReq (TLS always;
	// clients that cannot encrypt are refused), EncryptNotSup (never TLS).
	Encryption Encryption
	// Version and SubBuild are the PRELOGIN VERSION answered; 0 means
	// DefaultServerVersion.
	Version  uint32
	SubBuild uint16
	// MaxLoginSize caps the LOGIN7 message; 0 means 128 KiB - 1.
	MaxLoginSize int
	// Prelogin, if set, may edit the PRELOGIN answer before it is sent (add
	// FEDAUTHREQUIRED, a NONCE, change VERSION). The negotiated ENCRYPTION
	// value and MARS=0 (MARS is not supported) are enforced afterwards.
	Prelogin func(client, answer *Prelogin)
}

// ServerHandshakeResult is a handshake that reached a decoded LOGIN7.
type ServerHandshakeResult struct {
	// Conn is the stream for everything after LOGIN7: the TLS conn (full,
	// strict) or the raw conn (none, login-only).
	Conn net.Conn
	// Login is the decoded LOGIN7; LoginRaw its payload as received
	// (decrypted), for forwarding.
	Login    *Login7
	LoginRaw []byte
	// ClientPrelogin is the client's PRELOGIN (sent inside TLS in strict
	// mode); Answer is what the server answered.
	ClientPrelogin *Prelogin
	Answer         *Prelogin
	Mode           EncryptionMode
	// TLSState is set when TLS was used (all modes but ModeNone).
	TLSState *tls.ConnectionState
}

// ServerHandshake runs the server side of a connection up to a decoded
// LOGIN7. It peeks at the first byte: 0x16 starts a TDS 8 strict TLS
// handshake (ALPN tds/8.0) followed by PRELOGIN and LOGIN7 inside TLS; 0x12
// is a TDS 7.x PRELOGIN, answered per NegotiateEncryption, followed by a TLS
// handshake carried in PRELOGIN packets when encryption was agreed, and
// LOGIN7 (in login-only mode its first packet is read through TLS, the rest
// as plaintext). It never downgrades a client that asks for encryption: it
// encrypts or refuses with *EncryptionRefusedError. It honours ctx's deadline
// and cancellation, and closes nothing: on error the caller may still send
// an error (when the client is past PRELOGIN) and closes conn.
func ServerHandshake(ctx context.Context, conn net.Conn, cfg *ServerHandshakeConfig) (*ServerHandshakeResult, error) {
	if cfg == nil {
		cfg = &ServerHandshakeConfig{}
	}
	if cfg.TLS == nil && (cfg.Encryption == EncryptOn || cfg.Encryption == EncryptReq) {
		return nil, fmt.Errorf("tds: server handshake: encryption %v needs a TLS config", cfg.Encryption)
	}
	stop := watchContext(ctx, conn)
	res, err := serverHandshake(ctx, conn, cfg)
	if serr := stop(); serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		return nil, fmt.Errorf("tds: server handshake: %w", withContextErr(ctx, err))
	}
	return res, nil
}

// withContextErr adds ctx's error to err when ctx ended the I/O: cancelled,
// or past its deadline (the conn deadline may fire just before ctx's own).
func withContextErr(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if cerr == nil {
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			cerr = context.DeadlineExceeded
		}
	}
	if cerr == nil || errors.Is(err, cerr) {
		return err
	}
	return fmt.Errorf("%w (%w)", cerr, err)
}

func serverHandshake(ctx context.Context, conn net.Conn, cfg *ServerHandshakeConfig) (*ServerHandshakeResult, error) {
	var first [1]byte
	if _, err := io.ReadFull(conn, first[:]); err != nil {
		return nil, fmt.Errorf("reading first byte: %w", err)
	}
	pc := &prefixConn{Conn: conn, prefix: first[:]}
	switch first[0] {
	case tlsRecordHandshake:
		return serverStrict(ctx, pc, cfg)
	case byte(PacketPrelogin):
		return serverPrelogin(ctx, pc, cfg)
	}
	return nil, formatErr("connection", "first byte", "0x%02X is neither PRELOGIN (0x12) nor a TLS handshake (0x16)", first[0])
}

// serverStrict handles a TDS 8 client: TLS first, then PRELOGIN and LOGIN7.
func serverStrict(ctx context.Context, pc *prefixConn, cfg *ServerHandshakeConfig) (*ServerHandshakeResult, error) {
	if cfg.TLS == nil || cfg.Encryption == EncryptNotSup {
		return nil, &EncryptionRefusedError{Server: EncryptNotSup, Client: EncryptReq, Reason: "TDS 8 strict client, server cannot encrypt"}
	}
	tc := tls.Server(pc, strictTLSConfig(cfg.TLS))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("TLS handshake (strict): %w", err)
	}
	res := &ServerHandshakeResult{Conn: tc, Mode: ModeStrict}
	pr := NewPacketReader(tc, MaxPacketSize)
	client, err := readPrelogin(pr)
	if err != nil {
		return nil, err
	}
	// The ENCRYPTION option is ignored in TDS 8; the connection is encrypted.
	res.ClientPrelogin = client
	res.Answer = buildAnswer(cfg, client, EncryptOn)
	if err := NewPacketWriter(tc, handshakePacketSize).WriteMessage(PacketReply, 0, res.Answer.Append(nil)); err != nil {
		return nil, fmt.Errorf("writing PRELOGIN answer: %w", err)
	}
	if err := readLogin(res, pr, cfg); err != nil {
		return nil, err
	}
	st := tc.ConnectionState()
	res.TLSState = &st
	return res, nil
}

// serverPrelogin handles a TDS 7.x client.
func serverPrelogin(ctx context.Context, pc *prefixConn, cfg *ServerHandshakeConfig) (*ServerHandshakeResult, error) {
	pr := NewPacketReader(pc, MaxPacketSize)
	client, err := readPrelogin(pr)
	if err != nil {
		return nil, err
	}
	conn := pc.unwrap()
	setting := cfg.Encryption
	if cfg.TLS == nil {
		setting = EncryptNotSup
	}
	requested := EncryptNotSup // a client without the option cannot encrypt
	if client.HasEncryption {
		requested = client.Encryption
	}
	answer, outcome := NegotiateEncryption(setting, requested)
	res := &ServerHandshakeResult{Conn: conn, ClientPrelogin: client, Answer: buildAnswer(cfg, client, answer)}
	if err := NewPacketWriter(conn, handshakePacketSize).WriteMessage(PacketReply, 0, res.Answer.Append(nil)); err != nil {
		return nil, fmt.Errorf("writing PRELOGIN answer: %w", err)
	}
	switch outcome {
	case Refuse:
		reason := "client requires encryption, server cannot encrypt"
		if setting != EncryptNotSup {
			reason = "server requires encryption, client cannot encrypt"
		}
		return nil, &EncryptionRefusedError{Server: setting, Client: requested, Reason: reason}
	case NoTLS:
		res.Mode = ModeNone
		return res, readLogin(res, pr, cfg)
	}

	tconn := newPreloginConn(conn, false)
	tc := tls.Server(tconn, inBandTLSConfig(cfg.TLS))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("TLS handshake in PRELOGIN: %w", err)
	}
	st := tc.ConnectionState()
	res.TLSState = &st
	if outcome == FullTLS {
		tconn.mode = modeRaw
		res.Mode, res.Conn = ModeFull, tc
		return res, readLogin(res, NewPacketReader(tc, MaxPacketSize), cfg)
	}
	// Login-only: the first LOGIN7 packet is one TLS record (or a few); the
	// rest of the connection is plaintext.
	tconn.mode = modeRecord
	res.Mode = ModeLoginOnly
	return res, readLoginOnly(res, NewPacketReader(tc, MaxPacketSize), pr, cfg)
}

// readPrelogin reads and decodes a client's PRELOGIN message.
func readPrelogin(pr *PacketReader) (*Prelogin, error) {
	m, err := pr.ReadMessage(maxPreloginSize)
	if err != nil {
		return nil, fmt.Errorf("reading PRELOGIN: %w", err)
	}
	if m.Type != PacketPrelogin {
		return nil, formatErr("PRELOGIN", "packet type", "got %v", m.Type)
	}
	p, err := DecodePrelogin(m.Data)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// buildAnswer builds the server's PRELOGIN answer.
func buildAnswer(cfg *ServerHandshakeConfig, client *Prelogin, enc Encryption) *Prelogin {
	a := &Prelogin{
		HasVersion: true, Version: cfg.Version, SubBuild: cfg.SubBuild,
		HasEncryption: true, Encryption: enc,
		HasInstOpt: true, InstOpt: []byte{0}, // 0: the instance matches
		HasThreadID: true, // servers send it empty
		HasMARS:     true,
	}
	a.empty = 1 << PreloginThreadID
	if a.Version == 0 {
		a.Version = DefaultServerVersion
	}
	if cfg.Prelogin != nil {
		cfg.Prelogin(client, a)
	}
	a.HasEncryption, a.Encryption = true, enc
	a.HasMARS, a.MARS = true, false
	return a
}

func maxLogin(cfg *ServerHandshakeConfig) int {
	if cfg.MaxLoginSize > 0 {
		return cfg.MaxLoginSize
	}
	return login7MaxLen
}

// readLogin reads the LOGIN7 message from pr.
func readLogin(res *ServerHandshakeResult, pr *PacketReader, cfg *ServerHandshakeConfig) error {
	m, err := pr.ReadMessage(maxLogin(cfg))
	if err != nil {
		return fmt.Errorf("reading LOGIN7: %w", err)
	}
	if m.Type != PacketLogin7 {
		return formatErr("LOGIN7", "packet type", "got %v", m.Type)
	}
	return decodeLoginInto(res, m.Data)
}

// readLoginOnly reads LOGIN7's first packet through TLS (tpr) and any
// further packets as plaintext (pr).
func readLoginOnly(res *ServerHandshakeResult, tpr, pr *PacketReader, cfg *ServerHandshakeConfig) error {
	h, p, err := tpr.ReadPacket()
	if err != nil {
		return fmt.Errorf("reading LOGIN7 (TLS): %w", err)
	}
	if h.Type != PacketLogin7 {
		return formatErr("LOGIN7", "packet type", "got %v", h.Type)
	}
	data := append([]byte(nil), p...)
	for h.Status&StatusEOM == 0 {
		if h, p, err = pr.ReadPacket(); err != nil {
			return fmt.Errorf("reading LOGIN7: %w", err)
		}
		if h.Type != PacketLogin7 {
			return formatErr("LOGIN7", "packet type", "continuation packet has type %v", h.Type)
		}
		if len(data)+len(p) > maxLogin(cfg) {
			return &MessageTooLargeError{Type: PacketLogin7, Max: maxLogin(cfg), Size: len(data) + len(p)}
		}
		data = append(data, p...)
	}
	return decodeLoginInto(res, data)
}

func decodeLoginInto(res *ServerHandshakeResult, data []byte) error {
	l, err := DecodeLogin7(data)
	if err != nil {
		return err
	}
	res.Login = l
	res.LoginRaw = append([]byte(nil), data...)
	return nil
}

// watchContext applies ctx's deadline to conn and interrupts conn's I/O when
// ctx is cancelled. The returned stop undoes both.
func watchContext(ctx context.Context, conn net.Conn) (stop func() error) {
	if d, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(d); err != nil {
			return func() error { return fmt.Errorf("setting deadline: %w", err) }
		}
	}
	fired := make(chan struct{})
	stopAfter := context.AfterFunc(ctx, func() {
		_ = conn.SetDeadline(time.Unix(1, 0)) // wakes blocked reads and writes
		close(fired)
	})
	return func() error {
		if !stopAfter() {
			<-fired
			return ctx.Err()
		}
		if err := conn.SetDeadline(time.Time{}); err != nil && !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("clearing deadline: %w", err)
		}
		return nil
	}
}
