package tds

import (
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// errOddUCS2 is returned when a UCS-2 field has an odd number of bytes.
var errOddUCS2 = errors.New("odd number of bytes in UCS-2 text")

// AppendUCS2 appends s encoded as UTF-16LE (the "UCS-2" of [MS-TDS] §2.2.5.1)
// to dst. Characters outside the BMP become surrogate pairs, as SQL Server
// stores them.
func AppendUCS2(dst []byte, s string) []byte {
	for _, r := range s {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			dst = append(dst, byte(r1), byte(r1>>8), byte(r2), byte(r2>>8))
			continue
		}
		if r == utf8.RuneError {
			r = 0xFFFD
		}
		dst = append(dst, byte(r), byte(r>>8))
	}
	return dst
}

// UCS2Len returns the number of UTF-16 code units s encodes to; TDS length
// prefixes of character data count these.
func UCS2Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// DecodeUCS2 decodes UTF-16LE bytes into a string. Unpaired surrogates become
// U+FFFD. It returns an error only for an odd byte count.
func DecodeUCS2(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", errOddUCS2
	}
	// Fast path: all code units below 0x80.
	ascii := true
	for i := 0; i < len(b); i += 2 {
		if b[i+1] != 0 || b[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		// One allocation: the string itself.
		var sb strings.Builder
		sb.Grow(len(b) / 2)
		for i := 0; i < len(b); i += 2 {
			sb.WriteByte(b[i])
		}
		return sb.String(), nil
	}
	// Decode straight to UTF-8: no intermediate []uint16.
	out := make([]byte, 0, len(b)+len(b)/2)
	for i := 0; i < len(b); i += 2 {
		c := rune(uint16(b[i]) | uint16(b[i+1])<<8)
		switch {
		case c < 0xD800 || c >= 0xE000:
			out = utf8.AppendRune(out, c)
		case c < 0xDC00 && i+3 < len(b):
			c2 := rune(uint16(b[i+2]) | uint16(b[i+3])<<8)
			if c2 >= 0xDC00 && c2 < 0xE000 {
				out = utf8.AppendRune(out, utf16.DecodeRune(c, c2))
				i += 2
			} else {
				out = utf8.AppendRune(out, utf8.RuneError)
			}
		default:
			out = utf8.AppendRune(out, utf8.RuneError)
		}
	}
	return string(out), nil
}
