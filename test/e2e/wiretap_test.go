package e2e

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"testing"
)

// A wiretap is a TCP relay between a client and a target that keeps the first
// bytes of each direction of every connection, so that a test can tell from
// the wire — not from what a driver claims — which encryption the client and
// the server actually used: plaintext, TLS for the login only, full TLS inside
// PRELOGIN, or TDS 8 (TLS first).
type wiretap struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	conns []*tappedConn
	open  []net.Conn // both ends of every relayed connection, closed at cleanup
	wg    sync.WaitGroup
}

// tapLimit is how many bytes of each direction a wiretap keeps.
const tapLimit = 64 << 10

type tappedConn struct {
	mu         sync.Mutex
	fromClient []byte
	fromServer []byte
}

func (c *tappedConn) snapshot() (fromClient, fromServer []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.fromClient...), append([]byte(nil), c.fromServer...)
}

// startWiretap listens on a free loopback port and relays every connection to
// target. It stops when the test ends.
func startWiretap(t testing.TB, target string) *wiretap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("wiretap: listening: %v", err)
	}
	w := &wiretap{ln: ln, target: target}
	w.wg.Add(1)
	go w.acceptLoop()
	t.Cleanup(func() {
		ln.Close()
		// Whoever holds a connection open (a pool in the proxy, a client
		// that hung) must not keep the test from ending.
		w.mu.Lock()
		for _, c := range w.open {
			c.Close()
		}
		w.mu.Unlock()
		w.wg.Wait()
	})
	return w
}

// Addr is the address clients connect to.
func (w *wiretap) Addr() string { return w.ln.Addr().String() }

func (w *wiretap) acceptLoop() {
	defer w.wg.Done()
	for {
		cc, err := w.ln.Accept()
		if err != nil {
			return
		}
		sc, err := net.Dial("tcp", w.target)
		if err != nil {
			cc.Close()
			continue
		}
		tc := &tappedConn{}
		w.mu.Lock()
		w.conns = append(w.conns, tc)
		w.open = append(w.open, cc, sc)
		w.mu.Unlock()
		w.wg.Add(2)
		go w.pump(sc, cc, tc, true)
		go w.pump(cc, sc, tc, false)
	}
}

// pump copies src to dst, recording what passes, and closes both ends when
// either side is done so that the other pump ends too.
func (w *wiretap) pump(dst, src net.Conn, tc *tappedConn, clientToServer bool) {
	defer w.wg.Done()
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			tc.mu.Lock()
			rec := &tc.fromServer
			if clientToServer {
				rec = &tc.fromClient
			}
			if room := tapLimit - len(*rec); room > 0 {
				*rec = append(*rec, buf[:min(n, room)]...)
			}
			tc.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // io.EOF or a closed connection: either way, done
			return
		}
	}
}

// Conns returns what was seen on every connection so far.
func (w *wiretap) Conns() []wireSummary {
	w.mu.Lock()
	conns := append([]*tappedConn(nil), w.conns...)
	w.mu.Unlock()
	out := make([]wireSummary, 0, len(conns))
	for _, c := range conns {
		fc, fs := c.snapshot()
		out = append(out, summarizeWire(fc, fs))
	}
	return out
}

// Encryption modes as seen on the wire.
const (
	wirePlain     = "plain"      // PRELOGIN, then LOGIN7 and everything else in the clear
	wireLoginOnly = "login-only" // TLS handshake in PRELOGIN, LOGIN7 over TLS, then plaintext TDS
	wireFull      = "tls"        // TLS handshake in PRELOGIN, then only TLS records
	wireStrict    = "strict"     // TDS 8: the connection starts with a TLS ClientHello
	wireUnknown   = "unknown"
)

// PRELOGIN ENCRYPTION option values ([MS-TDS] 2.2.6.5).
var encryptionNames = map[int]string{0: "ENCRYPT_OFF", 1: "ENCRYPT_ON", 2: "ENCRYPT_NOT_SUP", 3: "ENCRYPT_REQ"}

// wireSummary is what one relayed connection showed.
type wireSummary struct {
	Mode         string
	ClientEnc    int // PRELOGIN ENCRYPTION the client sent, -1 when absent
	ServerEnc    int // PRELOGIN ENCRYPTION the server answered, -1 when absent
	LoginInClear bool
	Detail       string
}

func (s wireSummary) String() string {
	name := func(v int) string {
		if n, ok := encryptionNames[v]; ok {
			return n
		}
		return fmt.Sprintf("%d", v)
	}
	return fmt.Sprintf("mode=%s client=%s server=%s loginInClear=%v (%s)",
		s.Mode, name(s.ClientEnc), name(s.ServerEnc), s.LoginInClear, s.Detail)
}

// unit is one TDS packet or one TLS record found in a byte stream.
type unit struct {
	tls  bool
	typ  byte
	body []byte // payload after the header (may be truncated by tapLimit)
}

// splitUnits walks a stream of TDS packets and TLS records. They are told
// apart by the first byte: TLS record types are 0x14–0x17, TDS packet types
// used by clients and servers are below 0x14. It stops at the first unit
// whose header does not fit in b.
func splitUnits(b []byte) []unit {
	var out []unit
	for len(b) > 0 {
		typ := b[0]
		if typ >= 0x14 && typ <= 0x17 { // TLS record: type, version(2), length(2)
			if len(b) < 5 {
				break
			}
			n := 5 + int(binary.BigEndian.Uint16(b[3:5]))
			out = append(out, unit{tls: true, typ: typ, body: b[5:min(n, len(b))]})
			if n > len(b) {
				break
			}
			b = b[n:]
			continue
		}
		if len(b) < 8 { // TDS packet header
			break
		}
		n := int(binary.BigEndian.Uint16(b[2:4]))
		if n < 8 {
			out = append(out, unit{typ: typ})
			break
		}
		out = append(out, unit{typ: typ, body: b[8:min(n, len(b))]})
		if n > len(b) {
			break
		}
		b = b[n:]
	}
	return out
}

// preloginEncryption returns the ENCRYPTION option of a PRELOGIN payload
// ([MS-TDS] 2.2.6.5: option tokens of type(1) offset(2) length(2), ending
// with 0xFF), or -1.
func preloginEncryption(p []byte) int {
	for i := 0; i+5 <= len(p) && p[i] != 0xFF; i += 5 {
		if p[i] != 0x01 {
			continue
		}
		off := int(binary.BigEndian.Uint16(p[i+1 : i+3]))
		if l := binary.BigEndian.Uint16(p[i+3 : i+5]); l < 1 || off >= len(p) {
			return -1
		}
		return int(p[off])
	}
	return -1
}

// summarizeWire classifies one connection from the bytes each side sent.
func summarizeWire(fromClient, fromServer []byte) wireSummary {
	s := wireSummary{Mode: wireUnknown, ClientEnc: -1, ServerEnc: -1}
	if len(fromClient) == 0 {
		s.Detail = "client sent nothing"
		return s
	}
	if fromClient[0] == 0x16 {
		s.Mode = wireStrict
		s.Detail = "connection starts with a TLS handshake record"
		return s
	}
	cu := splitUnits(fromClient)
	if len(cu) == 0 || cu[0].tls || cu[0].typ != 0x12 {
		s.Detail = fmt.Sprintf("first client packet is not PRELOGIN (type 0x%02x)", fromClient[0])
		return s
	}
	s.ClientEnc = preloginEncryption(cu[0].body)
	if su := splitUnits(fromServer); len(su) > 0 && !su[0].tls && su[0].typ == 0x04 {
		s.ServerEnc = preloginEncryption(su[0].body)
	}
	handshake, tlsRecords, plainAfterTLS := false, 0, 0
	for _, u := range cu[1:] {
		switch {
		case !u.tls && u.typ == 0x12:
			handshake = true
		case u.tls:
			tlsRecords++
		case u.typ == 0x10:
			s.LoginInClear = true
		default:
			if tlsRecords > 0 {
				plainAfterTLS++
			}
		}
	}
	s.Detail = fmt.Sprintf("handshake-in-prelogin=%v tls-records=%d plaintext-packets-after-tls=%d", handshake, tlsRecords, plainAfterTLS)
	switch {
	case s.LoginInClear && !handshake:
		s.Mode = wirePlain
	case handshake && !s.LoginInClear && tlsRecords > 0 && plainAfterTLS > 0:
		s.Mode = wireLoginOnly
	case handshake && !s.LoginInClear && tlsRecords > 0:
		s.Mode = wireFull
	}
	return s
}
