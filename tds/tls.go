package tds

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"fmt"
	"io"
	"math/big"
	"net"
	"time"
)

// ALPNTDS8 is the ALPN protocol id of TDS 8.0 "strict" encryption
// ([MS-TDS] §2.1, §3.3.5.1): TLS comes before any TDS byte.
const ALPNTDS8 = "tds/8.0"

// handshakePacketSize is the size of the packets a server writes before
// LOGIN7 (PRELOGIN answer, TLS flights). The client's packet size is not known
// yet, and go-mssqldb rejects packets above its configured size (which may be
// as low as 512), so the smallest size is the one every client accepts.
const handshakePacketSize = MinPacketSize

// tlsRecordHandshake is the first byte of a TLS handshake record; a TDS 8
// client starts its connection with it.
const tlsRecordHandshake = 0x16

// GenerateSelfSignedCert returns a self-signed ECDSA P-256 certificate for the
// given host names and IP addresses (default "localhost", 127.0.0.1 and ::1),
// valid from an hour ago for one year. It is meant for tests, the demo and
// development; production deployments configure a real certificate.
func GenerateSelfSignedCert(hosts []string) (tls.Certificate, error) {
	if len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1", "::1"}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tds: generating key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tds: generating serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hosts[0], Organization: []string{"tdsproxy self-signed"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tds: creating certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tds: parsing certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// inBandTLSConfig returns a copy of cfg for a TLS handshake carried in
// PRELOGIN packets. It is capped at TLS 1.2: in TDS 7.x the peers switch to
// raw TLS right after the handshake, and TLS 1.3 post-handshake messages
// (session tickets) would arrive after one side has switched.
func inBandTLSConfig(cfg *tls.Config) *tls.Config {
	c := cfg.Clone()
	if c.MaxVersion == 0 || c.MaxVersion > tls.VersionTLS12 {
		c.MaxVersion = tls.VersionTLS12
	}
	return c
}

// strictTLSConfig returns a copy of cfg for TDS 8 strict mode (ALPN tds/8.0).
func strictTLSConfig(cfg *tls.Config) *tls.Config {
	c := cfg.Clone()
	c.NextProtos = []string{ALPNTDS8}
	return c
}

// preloginConn is the net.Conn a tls.Conn runs over in TDS 7.x
// ([MS-TDS] §3.2.5.2, §3.3.5.1). While wrapping, every Write (crypto/tls
// writes one per handshake flight) becomes one PRELOGIN message and Read
// serves the payloads of incoming PRELOGIN packets. After the handshake the
// owner switches it to raw pass-through, or to record mode, which never reads
// past the end of the current TLS record, so that plaintext following a
// login-only TLS record stays unread in the socket.
//
// A PRELOGIN message spanning several packets is sent with ONE Write on the
// socket: Microsoft's ODBC Driver 18 (msodbcsql, mssql-python) fails the
// handshake with SEC_E_INVALID_TOKEN (0x80090308) when the server's first
// flight (ServerHello … ServerHelloDone, three 512-byte packets with an RSA
// 2048 certificate) arrives with a pause right after its second packet, as
// happens when the writer is descheduled between per-packet writes under
// load. One Write lets the flight arrive whole.
type preloginConn struct {
	net.Conn
	mode        int
	pr          *PacketReader
	pw          *PacketWriter
	pending     []byte       // unread payload of the current PRELOGIN packet
	acceptReply bool         // client side: servers may answer with type 4 packets
	out         bytes.Buffer // wrapped mode: the packets of one message, sent in one Write

	hdr      [5]byte // record mode: current TLS record header
	hdrLeft  int     // header bytes not yet returned
	bodyLeft int     // body bytes not yet read
}

const (
	modeWrapped = iota // handshake records inside PRELOGIN packets
	modeRaw            // pass-through
	modeRecord         // pass-through, one TLS record at a time
)

func newPreloginConn(c net.Conn, acceptReply bool) *preloginConn {
	pc := &preloginConn{
		Conn:        c,
		pr:          NewPacketReader(c, MaxPacketSize),
		acceptReply: acceptReply,
	}
	pc.pw = NewPacketWriter(&pc.out, handshakePacketSize)
	return pc
}

func (c *preloginConn) Read(b []byte) (int, error) {
	switch c.mode {
	case modeRaw:
		return c.Conn.Read(b)
	case modeRecord:
		return c.readRecord(b)
	}
	for len(c.pending) == 0 {
		h, p, err := c.pr.ReadPacket()
		if err != nil {
			return 0, err
		}
		if h.Type != PacketPrelogin && !(c.acceptReply && h.Type == PacketReply) {
			return 0, formatErr("TLS handshake", "packet type", "got %v, want %v", h.Type, PacketPrelogin)
		}
		c.pending = p
	}
	n := copy(b, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// readRecord reads from the current TLS record only.
func (c *preloginConn) readRecord(b []byte) (int, error) {
	if c.hdrLeft == 0 && c.bodyLeft == 0 {
		if _, err := io.ReadFull(c.Conn, c.hdr[:]); err != nil {
			return 0, err
		}
		c.hdrLeft = len(c.hdr)
		c.bodyLeft = int(binary.BigEndian.Uint16(c.hdr[3:]))
	}
	if c.hdrLeft > 0 {
		n := copy(b, c.hdr[len(c.hdr)-c.hdrLeft:])
		c.hdrLeft -= n
		return n, nil
	}
	if len(b) > c.bodyLeft {
		b = b[:c.bodyLeft]
	}
	n, err := c.Conn.Read(b)
	c.bodyLeft -= n
	return n, err
}

func (c *preloginConn) Write(b []byte) (int, error) {
	if c.mode != modeWrapped {
		return c.Conn.Write(b)
	}
	// The buffer is dropped afterwards: the conn outlives the handshake.
	defer func() { c.out = bytes.Buffer{} }()
	if err := c.pw.WriteMessage(PacketPrelogin, 0, b); err != nil {
		return 0, err
	}
	if _, err := c.Conn.Write(c.out.Bytes()); err != nil {
		return 0, fmt.Errorf("tds: writing %v message: %w", PacketPrelogin, err)
	}
	return len(b), nil
}

// prefixConn is a net.Conn whose first bytes were already read (peeked).
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(b, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// unwrap returns the underlying conn once the prefix has been consumed.
func (c *prefixConn) unwrap() net.Conn {
	if len(c.prefix) == 0 {
		return c.Conn
	}
	return c
}

// firstPacketWriter sends its first Write to first and the rest to rest: the
// packets of a LOGIN7 in login-only mode.
type firstPacketWriter struct {
	first, rest io.Writer
	done        bool
}

func (w *firstPacketWriter) Write(b []byte) (int, error) {
	if w.done {
		return w.rest.Write(b)
	}
	w.done = true
	return w.first.Write(b)
}
