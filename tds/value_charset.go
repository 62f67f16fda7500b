package tds

import (
	"fmt"
	"unicode/utf8"
)

// Single-byte character data (CHAR, VARCHAR, TEXT) is encoded in the code
// page of its collation ([MS-TDS] §2.2.5.1.2). Supported: UTF-8 collations
// (fUTF8), code page 1252 (Latin1 Windows collations and the
// SQL_Latin1_General_CP1 SQL collations), and ASCII-only data in any other
// code page. Other non-ASCII data fails with an error naming the code page.

const (
	cpUTF8 = 65001
	cp1252 = 1252
)

// CodePage returns the Windows code page of char data in collation c, or 0
// when this package does not know it.
func (c Collation) CodePage() int {
	if c.IsUTF8() {
		return cpUTF8
	}
	if id := c.SortID(); id != 0 {
		switch id {
		case 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 183, 184, 185, 186:
			return cp1252 // SQL_Latin1_General_CP1_* and relatives
		}
		return 0
	}
	switch c.LCID() & 0x3FF { // primary language
	case 0x03, 0x06, 0x07, 0x09, 0x0A, 0x0B, 0x0C, 0x0F, 0x10, 0x13, 0x14, 0x16, 0x1D,
		0x21, 0x2D, 0x36, 0x38, 0x3E, 0x41, 0x56:
		return cp1252
	}
	if c == (Collation{}) {
		return cp1252 // no collation given: SQL Server's default
	}
	return 0
}

// cp1252High maps bytes 0x80..0x9F of code page 1252; 0 marks undefined bytes.
var cp1252High = [32]rune{
	0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
	0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func decodeChars(c Collation, d []byte) (string, error) {
	if isASCII(d) {
		return string(d), nil
	}
	switch cp := c.CodePage(); cp {
	case cpUTF8:
		return string(d), nil
	case cp1252:
		out := make([]rune, len(d))
		for i, b := range d {
			switch {
			case b >= 0x80 && b < 0xA0 && cp1252High[b-0x80] != 0:
				out[i] = cp1252High[b-0x80]
			default:
				// Undefined bytes map to the C1 control of the same
				// value, as Windows' MultiByteToWideChar does.
				out[i] = rune(b)
			}
		}
		return string(out), nil
	default:
		return "", fmt.Errorf("tds: varchar data in code page %d (collation LCID 0x%X, sort id %d) is not supported", cp, c.LCID(), c.SortID())
	}
}

func appendChars(dst []byte, c Collation, s string) ([]byte, error) {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return append(dst, s...), nil
	}
	switch cp := c.CodePage(); cp {
	case cpUTF8:
		return append(dst, s...), nil
	case cp1252:
		for _, r := range s {
			b, ok := to1252(r)
			if !ok {
				return dst, fmt.Errorf("tds: character %q cannot be encoded in code page 1252", r)
			}
			dst = append(dst, b)
		}
		return dst, nil
	default:
		if !utf8.ValidString(s) {
			return dst, fmt.Errorf("tds: invalid UTF-8 in varchar value")
		}
		return dst, fmt.Errorf("tds: varchar data in code page %d (collation LCID 0x%X, sort id %d) is not supported", cp, c.LCID(), c.SortID())
	}
}

func to1252(r rune) (byte, bool) {
	if r < 0x80 || (r >= 0xA0 && r <= 0xFF) {
		return byte(r), true
	}
	for i, m := range cp1252High {
		if m == r && m != 0 {
			return byte(0x80 + i), true
		}
	}
	if r >= 0x80 && r < 0xA0 && cp1252High[r-0x80] == 0 {
		return byte(r), true // undefined bytes round-trip
	}
	return 0, false
}
