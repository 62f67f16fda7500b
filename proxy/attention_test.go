package proxy

import (
	"testing"
	"time"

	"github.com/tdsproxy/tdsproxy/tds"
)

// readUntilAttnAck reads reply messages until one holds DONE_ATTN and returns
// how many DONE_ATTN tokens arrived in all of them.
func readUntilAttnAck(t *testing.T, r *tds.PacketReader) int {
	t.Helper()
	acks := 0
	for acks == 0 {
		for _, tk := range readTokens(t, r) {
			if (tk.Type == tds.TokenDone || tk.Type == tds.TokenDoneProc) && tk.Done.Status&tds.DoneAttn != 0 {
				acks++
			}
		}
	}
	return acks
}

func TestAttention(t *testing.T) {
	t.Parallel()
	fb := newFakeBackend(t, 4)
	srv := newFakeHarness(t, fb, nil)
	attention := func(t *testing.T, w *tds.PacketWriter) {
		t.Helper()
		if err := w.WriteMessage(tds.PacketAttention, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		run  func(t *testing.T, w *tds.PacketWriter, r *tds.PacketReader)
	}{
		{"while the response streams", func(t *testing.T, w *tds.PacketWriter, r *tds.PacketReader) {
			if err := w.WriteMessage(tds.PacketSQLBatch, 0, sqlBatch("SLOW")); err != nil {
				t.Fatal(err)
			}
			if _, _, err := r.ReadPacket(); err != nil { // the first packet of the result
				t.Fatal(err)
			}
			attention(t, w)
			// The rest of the message, with exactly one DONE_ATTN.
			h, p, err := r.ReadPacket()
			if err != nil || h.Status&tds.StatusEOM == 0 {
				t.Fatalf("end of the response: %v %v", h, err)
			}
			toks, err := tds.DecodeTokens(p, tds.VerTDS74)
			if err != nil || len(toks) != 1 || toks[0].Done.Status&tds.DoneAttn == 0 {
				t.Fatalf("want one DONE_ATTN, got %v %v", toks, err)
			}
		}},
		{"after the response ended", func(t *testing.T, w *tds.PacketWriter, r *tds.PacketReader) {
			if id := queryID(t, w, r); id != 4 {
				t.Fatalf("id %d", id)
			}
			attention(t, w)
			if n := readUntilAttnAck(t, r); n != 1 {
				t.Fatalf("%d DONE_ATTN, want 1", n)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, r := rawLogin(t, srv.Addr().String(), nil)
			readTokens(t, r)
			w := tds.NewPacketWriter(c, 4096)
			c.SetDeadline(time.Now().Add(5 * time.Second))
			tc.run(t, w, r)
			// The session is consistent: the next request gets its own answer.
			for range 2 {
				if id := queryID(t, w, r); id != 4 {
					t.Fatalf("after the attention: id %d", id)
				}
			}
		})
	}
}

func TestBackendLostAtTokenBoundaryGetsError(t *testing.T) {
	t.Parallel()
	fb := newFakeBackend(t, 5)
	srv := newFakeHarness(t, fb, nil)
	c, r := rawLogin(t, srv.Addr().String(), nil)
	readTokens(t, r)
	w := tds.NewPacketWriter(c, 4096)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := w.WriteMessage(tds.PacketSQLBatch, 0, sqlBatch("DIE")); err != nil {
		t.Fatal(err)
	}
	toks := readTokens(t, r) // the partial result, completed by the proxy's error
	e, ok := firstError(toks)
	if !ok || e.Number != 40197 {
		t.Fatalf("want error 40197 after the partial result, got %v", toks)
	}
	last := toks[len(toks)-1]
	if last.Type != tds.TokenDone || last.Done.Status&tds.DoneError == 0 || last.Done.Status&tds.DoneMore != 0 {
		t.Errorf("last token %v, want a final DONE with DONE_ERROR", &last)
	}
	expectClosed(t, c, 2*time.Second)
}

func TestIgnoredMessageIsAnsweredLocally(t *testing.T) {
	t.Parallel()
	fb := newFakeBackend(t, 10)
	srv := newFakeHarness(t, fb, nil)
	c, r := rawLogin(t, srv.Addr().String(), nil)
	readTokens(t, r)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	w := tds.NewPacketWriter(c, 4096)
	// A client abandons a batch: its last packet carries IGNORE with EOM.
	if err := w.WriteMessage(tds.PacketSQLBatch, tds.StatusIgnore, sqlBatch("SELECT 'abandoned'")); err != nil {
		t.Fatal(err)
	}
	toks := readTokens(t, r)
	if len(toks) != 1 || toks[0].Type != tds.TokenDone || toks[0].Done.Status&tds.DoneError == 0 {
		t.Fatalf("want a single DONE_ERROR, got %v", toks)
	}
	if id := queryID(t, w, r); id != 10 {
		t.Fatalf("next request: id %d", id)
	}
	if n := fb.batches.Load(); n != 1 {
		t.Errorf("the backend saw %d batches, want only the one after the ignored message", n)
	}
}
