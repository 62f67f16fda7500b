package proxy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/tdsproxy/tdsproxy/tds"
)

// readMessages splits a recorded one-direction byte stream into messages.
func readMessages(t *testing.T, path string) []*tds.Message {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := tds.NewPacketReader(bytes.NewReader(b), tds.MaxPacketSize)
	var out []*tds.Message
	for {
		m, err := r.ReadMessage(0)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: message %d: %v", path, len(out), err)
		}
		c := *m
		c.Data = bytes.Clone(m.Data)
		out = append(out, &c)
	}
}

// replay drives a tracker with a recorded session the way the request loop
// does: each request, then its response fed packet-sized chunk by chunk
// through a Walker. It returns the state after each request.
func replay(t *testing.T, name string) []SessionState {
	t.Helper()
	reqs := readMessages(t, filepath.Join("testdata", "babelfish", name+".c2s.bin"))
	resps := readMessages(t, filepath.Join("testdata", "babelfish", name+".s2c.bin"))
	if len(reqs) < 2 || len(reqs) != len(resps) {
		t.Fatalf("%d requests and %d responses", len(reqs), len(resps))
	}
	var tr stateTracker
	w := tds.NewWalker(tds.VerTDS74, func(ev *tds.Event) error {
		_, err := tr.observe(ev)
		return err
	})
	feed := func(data []byte) {
		for len(data) > 0 { // straddle tokens across chunks as packets do
			n := min(len(data), 61)
			if err := w.Feed(data[:n]); err != nil {
				t.Fatal(err)
			}
			data = data[n:]
		}
		if err := w.End(); err != nil {
			t.Fatal(err)
		}
	}
	feed(resps[1].Data) // the login response
	tr.loginDone()
	var states []SessionState
	for i := 2; i < len(reqs); i++ {
		m := reqs[i]
		desc, hasDesc := requestDescriptor(m, tds.VerTDS74)
		mayTx := (m.Type == tds.PacketSQLBatch || m.Type == tds.PacketRPC) && mayControlTx(m.Data)
		tr.beginRequest(uint8(m.Status), desc, hasDesc, mayTx)
		feed(resps[i].Data)
		tr.endResponse()
		states = append(states, tr.Snapshot())
	}
	return states
}

func TestStateReplayRealTraffic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		wantTx []TxState // after each request
		check  func(t *testing.T, st []SessionState)
	}{
		{
			// BEGIN TRAN, INSERT, COMMIT, BEGIN TRAN, INSERT, ROLLBACK, SELECT.
			// Babelfish reports none of it: the tracker must never claim "none"
			// once T-SQL may have opened a transaction.
			name:   "06-explicit-transactions",
			wantTx: []TxState{TxUnknown, TxUnknown, TxUnknown, TxUnknown, TxUnknown, TxUnknown, TxUnknown},
		},
		{
			// BeginTx (TM), INSERT, SELECT @@TRANCOUNT, Commit (TM), BeginTx, INSERT, Rollback, SELECT.
			name:   "06b-go-begintx-tm-requests",
			wantTx: []TxState{TxOpen, TxOpen, TxOpen, TxNone, TxOpen, TxOpen, TxNone, TxNone},
			check: func(t *testing.T, st []SessionState) {
				if st[0].TxDescriptor == 0 || st[4].TxDescriptor == 0 || st[0].TxDescriptor == st[4].TxDescriptor {
					t.Errorf("descriptors %#x and %#x: want two distinct non-zero ones", st[0].TxDescriptor, st[4].TxDescriptor)
				}
			},
		},
		{
			name:   "01-go-login-select1",
			wantTx: []TxState{TxNone},
			check: func(t *testing.T, st []SessionState) {
				if st[0].Database != "master" {
					t.Errorf("database %q, want master", st[0].Database)
				}
			},
		},
		{
			// SELECT DB_NAME(), USE appdb, SELECT, USE master, 4 SETs and SELECTs, SET LANGUAGE.
			name: "10-use-and-set-options",
			check: func(t *testing.T, st []SessionState) {
				want := []string{"master", "appdb", "appdb", "master"}
				for i, db := range want {
					if st[i].Database != db {
						t.Errorf("after request %d: database %q, want %q", i, st[i].Database, db)
					}
				}
				last := st[len(st)-1]
				if last.Language != "us_english" || last.Tx != TxNone {
					t.Errorf("at the end: language %q tx %v, want us_english none", last.Language, last.Tx)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := replay(t, tc.name)
			if tc.wantTx != nil {
				if len(st) != len(tc.wantTx) {
					t.Fatalf("%d requests replayed, want %d", len(st), len(tc.wantTx))
				}
				for i, s := range st {
					if s.Tx != tc.wantTx[i] {
						t.Errorf("after request %d: tx %v, want %v", i, s.Tx, tc.wantTx[i])
					}
				}
			}
			if tc.check != nil {
				tc.check(t, st)
			}
		})
	}
}

func TestMayControlTx(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text string
		want bool
	}{
		{"begin tran", true},
		{"BEGIN TRANSACTION; INSERT t VALUES (1)", true},
		{"Commit", true},
		{"rollback tran x", true},
		{"SET IMPLICIT_TRANSACTIONS ON", true},
		{"SELECT 1", false},
		{"SELECT name FROM sys.tables", false},
		{"UPDATE orders SET total = 1", false},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			t.Parallel()
			if got := mayControlTx(tds.AppendUCS2(nil, tc.text)); got != tc.want {
				t.Errorf("mayControlTx(%q) = %v, want %v", tc.text, got, tc.want)
			}
			// Odd alignment, as RPC parameter values may have.
			if got := mayControlTx(tds.AppendUCS2([]byte{0}, tc.text)); got != tc.want {
				t.Errorf("mayControlTx(odd-aligned %q) = %v, want %v", tc.text, got, tc.want)
			}
		})
	}
}
