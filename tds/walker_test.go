package tds

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// eventSummary renders everything a Walker reports about a token, so that
// walks can be compared with DecodeTokens and with each other.
func eventSummary(ev *Event) string {
	return fmt.Sprintf("%s done=%+v env=%s/%x/%x err=%+v ack=%+v rv=%+v rs=%d cols=%+v order=%v feat=%v ss=%+v raw=%x",
		ev.Type, ev.Done, ev.Env.Type, ev.Env.New, ev.Env.Old, ev.Err, ev.LoginAck, ev.ReturnValue,
		ev.ReturnStatus, ev.Columns, ev.Order, ev.FeatureExtAck, ev.SessionState, ev.Raw)
}

// expectedEvents decodes the reply with DecodeTokens: the non-row tokens
// and the number of rows.
func expectedEvents(t testing.TB, v replyVector) ([]string, uint64) {
	t.Helper()
	toks, err := DecodeTokens(v.data, v.ver)
	if err != nil {
		t.Fatalf("DecodeTokens: %v", err)
	}
	var evs []string
	var rows uint64
	for i := range toks {
		if toks[i].Type == TokenRow || toks[i].Type == TokenNBCRow {
			rows++
			continue
		}
		evs = append(evs, eventSummary(&toks[i]))
	}
	return evs, rows
}

// walkChunks walks data split at the given cut points.
func walkChunks(v replyVector, cuts []int) ([]string, uint64, error) {
	var evs []string
	w := NewWalker(v.ver, func(ev *Event) error {
		evs = append(evs, eventSummary(ev))
		return nil
	})
	prev := 0
	for _, c := range append(cuts, len(v.data)) {
		if err := w.Feed(v.data[prev:c]); err != nil {
			return nil, 0, err
		}
		prev = c
	}
	if err := w.End(); err != nil {
		return nil, 0, err
	}
	return evs, w.Rows(), nil
}

func sameEvents(t *testing.T, how string, got, want []string, gotRows, wantRows uint64) {
	t.Helper()
	if gotRows != wantRows {
		t.Fatalf("%s: walked %d rows, want %d", how, gotRows, wantRows)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d:\n got %s\nwant %s", how, len(got), len(want),
			strings.Join(got, "\n    "), strings.Join(want, "\n    "))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: event %d:\n got %s\nwant %s", how, i, got[i], want[i])
		}
	}
}

// TestWalkerVectors walks every server reply whole, one byte at a time, split
// at every position (replies up to 8 KiB) or at random positions (larger
// ones), and compares the events with DecodeTokens.
func TestWalkerVectors(t *testing.T) {
	t.Parallel()
	for _, v := range replyVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			want, wantRows := expectedEvents(t, v)
			got, rows, err := walkChunks(v, nil)
			if err != nil {
				t.Fatalf("whole: %v", err)
			}
			sameEvents(t, "whole", got, want, rows, wantRows)

			ones := make([]int, 0, len(v.data))
			for i := 1; i < len(v.data); i++ {
				ones = append(ones, i)
			}
			if got, rows, err = walkChunks(v, ones); err != nil {
				t.Fatalf("1 byte at a time: %v", err)
			}
			sameEvents(t, "1 byte at a time", got, want, rows, wantRows)

			if len(v.data) <= 8<<10 {
				for i := 1; i < len(v.data); i++ {
					got, rows, err := walkChunks(v, []int{i})
					if err != nil {
						t.Fatalf("split at %d: %v", i, err)
					}
					sameEvents(t, fmt.Sprintf("split at %d", i), got, want, rows, wantRows)
				}
				return
			}
			rng := rand.New(rand.NewPCG(uint64(len(v.data)), 7))
			for range 50 {
				cuts := make([]int, 1+rng.IntN(8))
				for j := range cuts {
					cuts[j] = 1 + rng.IntN(len(v.data)-1)
				}
				sortInts(cuts)
				got, rows, err := walkChunks(v, cuts)
				if err != nil {
					t.Fatalf("split at %v: %v", cuts, err)
				}
				sameEvents(t, fmt.Sprintf("split at %v", cuts), got, want, rows, wantRows)
			}
		})
	}
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// TestWalkerTruncated checks that a reply cut short fails at End (or at
// Feed) with a FormatError, for every cut of the smaller replies.
func TestWalkerTruncated(t *testing.T) {
	t.Parallel()
	for _, v := range replyVectors(t) {
		if _, inexact := notByteExact[v.name]; inexact || len(v.data) > 4<<10 {
			continue // token boundaries come from re-encoding
		}
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			boundaries := tokenBoundaries(t, v)
			for cut := 1; cut < len(v.data); cut++ {
				w := NewWalker(v.ver, nil)
				err := w.Feed(v.data[:cut])
				if err == nil {
					err = w.End()
				}
				if boundaries[cut] {
					if err != nil {
						t.Fatalf("cut at token boundary %d: %v", cut, err)
					}
					continue
				}
				var fe *FormatError
				if !errors.As(err, &fe) {
					t.Fatalf("cut at %d: error %v, want a FormatError", cut, err)
				}
			}
		})
	}
}

// tokenBoundaries returns the offsets at which a token starts.
func tokenBoundaries(t *testing.T, v replyVector) map[int]bool {
	t.Helper()
	toks, err := DecodeTokens(v.data, v.ver)
	if err != nil {
		t.Fatal(err)
	}
	b := map[int]bool{}
	var cols []Column
	off := 0
	for i := range toks {
		b[off] = true
		enc, err := toks[i].Append(nil, cols, v.ver)
		if err != nil {
			t.Fatal(err)
		}
		if toks[i].Type == TokenColMetadata && toks[i].Columns != nil {
			cols = toks[i].Columns
		}
		off += len(enc)
	}
	return b
}

// TestWalkerHandlerError checks that the handler's error stops the walk
// and is returned unchanged, also by later calls.
func TestWalkerHandlerError(t *testing.T) {
	t.Parallel()
	stop := errors.New("stop")
	v := replyVectors(t)[0]
	n := 0
	w := NewWalker(v.ver, func(ev *Event) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if err := w.Feed(v.data); err != stop {
		t.Fatalf("Feed = %v, want the handler's error", err)
	}
	if err := w.Feed([]byte{0xFD}); err != stop {
		t.Fatalf("second Feed = %v, want the sticky error", err)
	}
	w.Reset()
	if err := w.Feed(AppendDone(nil, TokenDone, Done{}, 0)); err != nil || w.End() != nil {
		t.Fatalf("after Reset: %v", err)
	}
}

// TestWalkerUnsupportedTokens checks the clear errors for tokens the
// Walker does not walk.
func TestWalkerUnsupportedTokens(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"ALTMETADATA", []byte{0x88, 1, 0}, "COMPUTE BY"},
		{"ALTROW", []byte{0xD3, 1, 0}, "COMPUTE BY"},
		{"DATACLASSIFICATION not negotiated", []byte{0xA3, 1, 0}, "feature acknowledgement"},
		{"unknown token", []byte{0x00}, "unknown token 0x00"},
		{"row before metadata", []byte{0xD1, 1}, "without COLMETADATA"},
		{"encrypted column", append([]byte{0x81, 1, 0, 0, 0, 0, 0, 0x00, 0x08}, 0x38, 0), "Always Encrypted"},
		{"oversized SESSIONSTATE", []byte{0xE4, 0, 0, 0, 0x10}, "exceeds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := NewWalker(VerTDS74, nil)
			err := w.Feed(tc.in)
			var fe *FormatError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Feed = %v, want a FormatError containing %q", err, tc.want)
			}
		})
	}
}

// TestWalkerNoMetadataAcrossMessages checks that rows after a "no
// metadata" COLMETADATA (fNoMetaData requests) use the previous
// response's columns, and AtBoundary.
func TestWalkerNoMetadataAcrossMessages(t *testing.T) {
	t.Parallel()
	cols := []Column{{Type: TypeInfo{Type: TypeNVarChar, Size: 10, Collation: DefaultCollation}, Name: "s"}}
	first := AppendColMetadata(nil, cols)
	first, _ = AppendRow(first, cols, []any{"ab"})
	first = AppendDone(first, TokenDone, Done{Status: DoneCount, RowCount: 1}, 0)
	second := AppendColMetadata(nil, nil) // count 0xFFFF
	second, _ = AppendRow(second, cols, []any{"cd"})
	second = AppendDone(second, TokenDone, Done{Status: DoneCount, RowCount: 1}, 0)

	var noMeta bool
	w := NewWalker(VerTDS74, func(ev *Event) error {
		if ev.Type == TokenColMetadata && ev.Columns == nil {
			noMeta = true
		}
		return nil
	})
	for i, msg := range [][]byte{first, second} {
		if err := w.Feed(msg[:2]); err != nil {
			t.Fatal(err)
		}
		if w.AtBoundary() {
			t.Fatalf("message %d: AtBoundary inside COLMETADATA", i)
		}
		if err := w.Feed(msg[2:]); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !w.AtBoundary() || w.End() != nil {
			t.Fatalf("message %d: not at a boundary after DONE", i)
		}
	}
	if !noMeta || w.Rows() != 2 || len(w.Columns()) != 1 {
		t.Fatalf("noMeta=%v rows=%d columns=%d", noMeta, w.Rows(), len(w.Columns()))
	}
}

// appendDataClassification builds a DATACLASSIFICATION token with one
// label, one information type and per-column properties.
func appendDataClassification(dst []byte, version uint8, cols int) []byte {
	dst = append(dst, byte(TokenDataClassification))
	for _, pair := range [][2]string{{"Confidential", "L1"}, {"Financial", "T1"}} {
		dst = append(dst, 1, 0)
		dst = appendBVarchar(dst, pair[0])
		dst = appendBVarchar(dst, pair[1])
	}
	if version >= 2 {
		dst = append(dst, 20, 0, 0, 0)
	}
	dst = append(dst, byte(cols), 0)
	for i := range cols {
		dst = append(dst, byte(i%2), 0) // properties
		for range i % 2 {
			dst = append(dst, 0, 0, 0, 0)
			if version >= 2 {
				dst = append(dst, 10, 0, 0, 0)
			}
		}
	}
	return dst
}

// TestWalkerDataClassification walks DATACLASSIFICATION tokens of versions
// 1 and 2, enabled by a FEATUREEXTACK in the stream or by the setter.
func TestWalkerDataClassification(t *testing.T) {
	t.Parallel()
	cols := []Column{{Type: TypeInfo{Type: TypeIntN, Size: 4}, Name: "a"}, {Type: TypeInfo{Type: TypeIntN, Size: 4}, Name: "b"}}
	for _, version := range []uint8{1, 2} {
		login := AppendFeatureExtAck(nil, []FeatureExt{{ID: FeatureDataClassification, Data: []byte{version, 1}}})
		login = AppendDone(login, TokenDone, Done{}, 0)
		reply := appendDataClassification(nil, version, len(cols))
		dcLen := len(reply)
		reply = AppendColMetadata(reply, cols)
		reply, _ = AppendRow(reply, cols, []any{int64(1), int64(2)})
		reply = AppendDone(reply, TokenDone, Done{Status: DoneCount, RowCount: 1}, 0)

		toks, err := DecodeTokens(append(append([]byte{}, login...), reply...), VerTDS74)
		if err != nil {
			t.Fatalf("v%d: DecodeTokens: %v", version, err)
		}
		if toks[2].Type != TokenDataClassification || len(toks[2].Raw) != dcLen-1 {
			t.Fatalf("v%d: token %v with %d body bytes, want %d", version, &toks[2], len(toks[2].Raw), dcLen-1)
		}
		for _, viaSetter := range []bool{false, true} {
			var seen int
			w := NewWalker(VerTDS74, func(ev *Event) error {
				if ev.Type == TokenDataClassification {
					seen = len(ev.Raw)
				}
				return nil
			})
			if viaSetter {
				w.SetDataClassificationVersion(version)
			} else if err := w.Feed(login); err != nil {
				t.Fatal(err)
			}
			for i := range reply {
				if err := w.Feed(reply[i : i+1]); err != nil {
					t.Fatalf("v%d setter=%v: %v", version, viaSetter, err)
				}
			}
			if err := w.End(); err != nil || seen != dcLen-1 || w.Rows() != 1 {
				t.Fatalf("v%d setter=%v: End %v, DATACLASSIFICATION body %d, rows %d", version, viaSetter, err, seen, w.Rows())
			}
		}
		// The other version's layout does not fit: the walk fails or
		// mis-frames, never panics.
		w := NewWalker(VerTDS74, nil)
		w.SetDataClassificationVersion(3 - version)
		_ = w.Feed(reply)
	}
}

// TestWalkerBitmapResized guards the NBCROW fast path against a null
// bitmap sized for the previous result's columns.
func TestWalkerBitmapResized(t *testing.T) {
	t.Parallel()
	intCol := Column{Flags: ColNullable, Type: TypeInfo{Type: TypeIntN, Size: 4}}
	wide := make([]Column, 20)
	for i := range wide {
		wide[i] = intCol
	}
	wideRow := make([]any, 20)
	wideRow[19] = int64(1)
	narrow := []Column{intCol, intCol, intCol}
	b := AppendColMetadata(nil, wide)
	b, _ = AppendNBCRow(b, wide, wideRow)
	b = AppendDone(b, TokenDone, Done{Status: DoneMore | DoneCount, RowCount: 1}, 0)
	b = AppendColMetadata(b, narrow)
	b, _ = AppendRow(b, narrow, []any{int64(1), int64(2), int64(3)})
	b, _ = AppendNBCRow(b, narrow, []any{nil, int64(2), nil})
	b, _ = AppendNBCRow(b, narrow, []any{int64(1), nil, nil})
	b = AppendDone(b, TokenDone, Done{Status: DoneCount, RowCount: 3}, 0)
	v := replyVector{name: "resized", ver: VerTDS74, data: b}
	want, wantRows := expectedEvents(t, v)
	got, rows, err := walkChunks(v, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, "whole", got, want, rows, wantRows)
}
