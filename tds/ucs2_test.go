package tds

import (
	"testing"
	"unicode/utf16"
)

func TestUCS2RoundTrip(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "select 1", "Grüße", "日本語", "emoji 😀 pair", "\u00a0nbsp"} {
		b := AppendUCS2(nil, s)
		if got := UCS2Len(s); got*2 != len(b) {
			t.Errorf("UCS2Len(%q) = %d, encoded %d bytes", s, got, len(b))
		}
		out, err := DecodeUCS2(b)
		if err != nil || out != s {
			t.Errorf("DecodeUCS2(AppendUCS2(%q)) = %q, %v", s, out, err)
		}
	}
}

// TestDecodeUCS2UnpairedSurrogates guards the direct UTF-8 decoder against
// diverging from unicode/utf16 on malformed input.
func TestDecodeUCS2UnpairedSurrogates(t *testing.T) {
	t.Parallel()
	cases := [][]uint16{{0xD800}, {0xDC00}, {0xD800, 0x41}, {0x41, 0xDBFF}, {0xD83D, 0xDE00, 0xDE00}}
	for _, u := range cases {
		b := make([]byte, 0, 2*len(u))
		for _, c := range u {
			b = append(b, byte(c), byte(c>>8))
		}
		got, err := DecodeUCS2(b)
		if want := string(utf16.Decode(u)); err != nil || got != want {
			t.Errorf("DecodeUCS2(%x) = %q, %v; want %q", u, got, err, want)
		}
	}
	if _, err := DecodeUCS2([]byte{1, 0, 2}); err == nil {
		t.Error("odd length accepted")
	}
}
