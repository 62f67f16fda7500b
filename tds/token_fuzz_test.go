package tds

import (
	"bytes"
	"testing"
)

var fuzzVersions = [...]uint32{VerTDS74, VerTDS71, VerTDS72, VerTDS73B}

// FuzzWalker feeds arbitrary replies to the Walker, whole and split in
// three, and compares both walks with DecodeTokens: whenever DecodeTokens
// succeeds, the Walker must report the same tokens and rows, and the
// re-encoded tokens must decode again.
func FuzzWalker(f *testing.F) {
	for _, v := range replyVectors(f) {
		if len(v.data) <= 16<<10 {
			ver := byte(0)
			if v.ver == VerTDS71 {
				ver = 1
			}
			f.Add(v.data, ver, uint16(len(v.data)/3), uint16(len(v.data)/2))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, verSel byte, cut1, cut2 uint16) {
		ver := fuzzVersions[int(verSel)%len(fuzzVersions)]
		v := replyVector{name: "fuzz", ver: ver, data: data}
		walk := func(cuts []int) ([]string, uint64, error) {
			var evs []string
			w := NewWalker(ver, func(ev *Event) error { evs = append(evs, eventSummary(ev)); return nil })
			w.MaxReturnValueSize = 1 << 30
			prev := 0
			for _, c := range append(cuts, len(data)) {
				if err := w.Feed(data[prev:c]); err != nil {
					return evs, w.Rows(), err
				}
				prev = c
			}
			return evs, w.Rows(), w.End()
		}
		a, b := int(cut1)%(len(data)+1), int(cut2)%(len(data)+1)
		if a > b {
			a, b = b, a
		}
		whole, wholeRows, errWhole := walk(nil)
		split, splitRows, errSplit := walk([]int{a, b})
		if (errWhole == nil) != (errSplit == nil) {
			t.Fatalf("whole walk error %v, split walk error %v", errWhole, errSplit)
		}
		if errWhole == nil {
			sameEvents(t, "split", split, whole, splitRows, wholeRows)
		}
		toks, err := DecodeTokens(data, ver)
		if err != nil {
			return
		}
		if errWhole != nil {
			t.Fatalf("DecodeTokens succeeded, Walker failed: %v", errWhole)
		}
		want, wantRows := expectedEvents(t, v)
		sameEvents(t, "DecodeTokens", whole, want, wholeRows, wantRows)
		enc, err := AppendTokens(nil, toks, ver)
		if err != nil {
			return // e.g. values that are valid on the wire but out of range for the encoders
		}
		if _, err := DecodeTokens(enc, ver); err != nil {
			t.Fatalf("re-encoded tokens do not decode: %v", err)
		}
	})
}

// FuzzRPCRequest decodes arbitrary RPC requests; whatever decodes must
// re-encode to the same bytes.
func FuzzRPCRequest(f *testing.F) {
	for _, v := range rpcVectors(f) {
		ver := byte(0)
		if v.ver == VerTDS71 {
			ver = 1
		}
		f.Add(v.data, ver)
	}
	f.Fuzz(func(t *testing.T, data []byte, verSel byte) {
		ver := fuzzVersions[int(verSel)%len(fuzzVersions)]
		req, err := DecodeRPCRequest(data, ver)
		if err != nil {
			return
		}
		got, err := req.Append(nil)
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("re-encoded % X\nwant % X", got, data)
		}
		for i := range req.Calls {
			req.Calls[i].ProcNameOrID()
			req.Calls[i].SQLText()
		}
	})
}

// FuzzTypeInfoValue decodes a TYPE_INFO and a value after it; SkipValue
// must agree with DecodeValue on the length.
func FuzzTypeInfoValue(f *testing.F) {
	for _, c := range allTypesColumns() {
		ti := c.Type.Append(nil)
		f.Add(append(ti, 0x04, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 'a', 0, 0, 0, 0, 0))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ti, n, err := DecodeTypeInfo(data)
		if err != nil {
			return
		}
		if n > len(data) {
			t.Fatalf("DecodeTypeInfo consumed %d of %d bytes", n, len(data))
		}
		if again := ti.Append(nil); !bytes.Equal(again, data[:n]) && ti.Type != TypeTVP {
			if _, m, err := DecodeTypeInfo(again); err != nil || m != len(again) {
				t.Fatalf("re-encoded TYPE_INFO % X does not decode: %v", again, err)
			}
		}
		rest := data[n:]
		v, vn, verr := DecodeValue(ti, rest)
		sn, serr := SkipValue(ti, rest)
		if verr == nil && (serr != nil || sn != vn) {
			t.Fatalf("DecodeValue consumed %d, SkipValue %d, %v", vn, sn, serr)
		}
		if verr == nil {
			if _, err := AppendValue(nil, ti, v); err != nil {
				return // representable on the wire, not by the encoder (e.g. out-of-range dates)
			}
		}
	})
}
