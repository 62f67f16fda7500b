package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tdsproxy/tdsproxy/tds"
)

// watchingNow reports whether a watcher read the client during the session's
// last response (and holds or awaits its next message for the loop).
func (s *session) watchingNow() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.watching
}

// rowValues returns the first column of each row of a reply.
func rowValues(toks []tds.Token) []int64 {
	var got []int64
	for _, tk := range toks {
		if (tk.Type == tds.TokenRow || tk.Type == tds.TokenNBCRow) && len(tk.Row) > 0 {
			v, _ := tk.Row[0].(int64)
			got = append(got, v)
		}
	}
	return got
}

// TestRequestsAfterWatchedResponses guards the hand-over between the
// watcher (which reads the client during a long response) and the request
// loop: the request a watcher read must be served, in order, and quick
// requests read by the loop itself must follow.
func TestRequestsAfterWatchedResponses(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	c, r := h.rawLogin(nil)
	defer c.Close()
	readTokens(t, r)
	sess := h.onlySession()
	w := tds.NewPacketWriter(c, 4096)
	for i := range 3 {
		for _, slow := range []bool{true, false} {
			q := fmt.Sprintf("SELECT %d", i)
			if slow {
				// Well past watchDelay: the watcher takes over the client.
				q = "WAITFOR DELAY '00:00:00.500'; " + q
			}
			if err := w.WriteMessage(tds.PacketSQLBatch, 0, sqlBatch(q)); err != nil {
				t.Fatal(err)
			}
			got := rowValues(readTokens(t, r))
			if len(got) != 1 || got[0] != int64(i) {
				t.Fatalf("%q: rows %v, want [%d]", q, got, i)
			}
			if slow && !sess.watchingNow() {
				t.Fatalf("%q: no watcher ran during a 500ms response", q)
			}
		}
	}
}

// TestIdleTimeoutAfterWatchedResponse guards the idle timeout when the next
// message is awaited from a watcher rather than read by the loop.
func TestIdleTimeoutAfterWatchedResponse(t *testing.T) {
	t.Parallel()
	const idle = 300 * time.Millisecond
	h := newHarness(t, harnessOpts{config: func(c *Config) { c.IdleTimeout = idle }})
	c, r := h.rawLogin(nil)
	defer c.Close()
	readTokens(t, r)
	w := tds.NewPacketWriter(c, 4096)
	if err := w.WriteMessage(tds.PacketSQLBatch, 0, sqlBatch("WAITFOR DELAY '00:00:00.500'; SELECT 1")); err != nil {
		t.Fatal(err)
	}
	readTokens(t, r)
	if !h.onlySession().watchingNow() {
		t.Fatal("no watcher ran during a 500ms response")
	}
	start := time.Now()
	expectClosed(t, c, 3*time.Second)
	if el := time.Since(start); el < idle-50*time.Millisecond {
		t.Errorf("closed after %s, before the %s idle timeout", el, idle)
	}
	h.waitIdle()
	if got := h.metric(h.srv.metrics.Errors.WithLabelValues(string(ReasonIdleTimeout))); got != 1 {
		t.Errorf("idle_timeout errors = %v, want 1", got)
	}
}

// TestWatchClockRegistry guards the clock's session list: removal in any
// order keeps every index right, and a session is removed only once.
func TestWatchClockRegistry(t *testing.T) {
	t.Parallel()
	c := newWatchClock(0)
	var all []*session
	for range 50 {
		s := &session{clockIdx: -1}
		c.add(s)
		all = append(all, s)
	}
	check := func() {
		t.Helper()
		for i, s := range c.sessions {
			if s.clockIdx != i {
				t.Fatalf("session at %d has index %d", i, s.clockIdx)
			}
		}
	}
	for i := 0; i < len(all); i += 3 { // every third, from the front
		c.remove(all[i])
		c.remove(all[i]) // twice: no effect
		check()
	}
	for i := len(all) - 1; i >= 0; i-- {
		c.remove(all[i])
		check()
	}
	if len(c.sessions) != 0 {
		t.Fatalf("%d sessions left", len(c.sessions))
	}
}

// TestWatchClockTick guards the clock's two duties: a request running for
// longer than watchDelay is handed to a watcher and a younger one is not;
// a wait longer than the idle timeout ends with a read deadline and a
// shorter one does not.
func TestWatchClockTick(t *testing.T) {
	t.Parallel()
	const idle = time.Second
	c := newWatchClock(idle)
	newSess := func() (*session, net.Conn) {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		s := &session{clockIdx: -1, conn: a, watched: make(chan clientRead, 1)}
		c.add(s)
		return s, b
	}
	now := int64(10 * time.Second)
	oldReq, _ := newSess()
	oldReq.relaySince.Store(now - int64(watchDelay))
	newReq, _ := newSess()
	newReq.relaySince.Store(now - int64(watchDelay) + 1)
	idleLong, _ := newSess()
	idleLong.idleSince.Store(now - int64(idle))
	idleShort, _ := newSess()
	idleShort.idleSince.Store(now - int64(idle) + 1)

	c.tick(now)
	if got := oldReq.relaySince.Load(); got != 0 {
		t.Errorf("request older than watchDelay: relaySince %d, want 0 (watcher started)", got)
	}
	if got := newReq.relaySince.Load(); got == 0 {
		t.Error("request younger than watchDelay got a watcher")
	}
	if got := idleShort.idleSince.Load(); got == idleFired {
		t.Error("a wait shorter than the idle timeout was ended")
	}
	if got := idleLong.idleSince.Load(); got != idleFired {
		t.Fatalf("a wait of the idle timeout: idleSince %d, want idleFired", got)
	}
	_, err := idleLong.conn.Read(make([]byte, 1))
	if !isTimeout(err) {
		t.Errorf("read after the idle timeout fired: %v, want a timeout", err)
	}
}

// chunkReader returns at most n bytes per Read, like a socket.
type chunkReader struct {
	data []byte
	n    int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.data)
	c.data = c.data[k:]
	return k, nil
}

// TestLeanReaderPackets guards the backend leg's read path of relayResponse:
// packets taken straight from the read buffer and packets read through a
// PacketReader over the same buffer come out whole and in order, whatever
// the read sizes; a packet with a bad Length is never taken from the buffer
// (the PacketReader rejects it); and the buffer goes back to its pool once
// drained.
func TestLeanReaderPackets(t *testing.T) {
	t.Parallel()
	const size = 4096
	var stream []byte
	var want [][]byte
	for i := range 40 {
		n := []int{0, 1, 100, size - tds.HeaderLen, 777}[i%5]
		payload := bytes.Repeat([]byte{byte(i)}, n)
		pkt := tds.Header{Type: tds.PacketReply, Status: tds.StatusEOM, PacketID: uint8(i)}.Append(nil)
		pkt[2], pkt[3] = byte((tds.HeaderLen+n)>>8), byte(tds.HeaderLen+n)
		pkt = append(pkt, payload...)
		stream = append(stream, pkt...)
		want = append(want, pkt)
	}
	bad := []byte{byte(tds.PacketReply), 1, 0, 5, 0, 0, 1, 0} // Length 5
	for _, chunk := range []int{1, 7, 100, 3000, 1 << 20} {
		t.Run(fmt.Sprint(chunk), func(t *testing.T) {
			l := &leanReader{r: &chunkReader{data: append(append([]byte(nil), stream...), bad...), n: chunk}}
			pr := tds.NewPacketReader(l, size)
			for i, w := range want {
				var got []byte
				if raw, ok := l.takePacket(size); ok {
					got = raw
				} else {
					h, p, err := pr.ReadPacket()
					if err != nil {
						t.Fatalf("packet %d: %v", i, err)
					}
					got = append(h.Append(nil), p...)
					got[2], got[3] = byte(len(got)>>8), byte(len(got))
				}
				if !bytes.Equal(got, w) {
					t.Fatalf("packet %d: %d bytes % x…, want %d bytes % x…", i, len(got), got[:8], len(w), w[:8])
				}
			}
			if l.hasPacket(size) {
				t.Fatal("a packet with Length 5 counts as buffered")
			}
			if _, ok := l.takePacket(size); ok {
				t.Fatal("a packet with Length 5 was taken")
			}
			if _, _, err := pr.ReadPacket(); err == nil {
				t.Fatal("the PacketReader accepted Length 5")
			}
			l.release()
			if l.bp != nil && len(l.buf) == 0 {
				t.Fatal("a drained reader kept its buffer")
			}
		})
	}
}
