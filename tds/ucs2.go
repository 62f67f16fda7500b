package tds

import (
	"errors"
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
		out := make([]byte, len(b)/2)
		for i := range out {
			out[i] = b[2*i]
		}
		return string(out), nil
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	return string(utf16.Decode(u)), nil
}
