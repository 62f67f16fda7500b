package tds

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustDecimal(t testing.TB, s string, prec, scale uint8) Decimal {
	t.Helper()
	d, err := ParseDecimal(s)
	if err != nil {
		t.Fatal(err)
	}
	if d, err = d.Rescale(prec, scale); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestValueRoundTrip encodes values with AppendValue, compares the wire
// bytes with hand-computed ones ([MS-TDS] §2.2.5.5) and decodes them back.
func TestValueRoundTrip(t *testing.T) {
	t.Parallel()
	ts := time.Date(2024, 2, 29, 13, 14, 15, 123456700, time.UTC)
	cet := time.FixedZone("", 2*3600)
	guid, _ := ParseGUID("6F9619FF-8B86-D011-B42D-00C04FC964FF")
	nv := func(n int) TypeInfo { return TypeInfo{Type: TypeNVarChar, Size: n, Collation: DefaultCollation} }
	vc := func(n int, c Collation) TypeInfo { return TypeInfo{Type: TypeBigVarChar, Size: n, Collation: c} }
	for _, tc := range []struct {
		name string
		ti   TypeInfo
		in   any
		wire string
		out  any // decoded value when it differs from in
	}{
		{"tinyint", TypeInfo{Type: TypeInt1, Size: 1}, int64(200), "c8", nil},
		{"int fixed", TypeInfo{Type: TypeInt4, Size: 4}, int64(-2), "feffffff", nil},
		{"intn 2 from int", TypeInfo{Type: TypeIntN, Size: 2}, 300, "02 2c01", int64(300)},
		{"intn 8", TypeInfo{Type: TypeIntN, Size: 8}, int64(-1), "08 ffffffffffffffff", nil},
		{"intn null", TypeInfo{Type: TypeIntN, Size: 4}, nil, "00", nil},
		{"bit", TypeInfo{Type: TypeBit, Size: 1}, true, "01", nil},
		{"bitn false", TypeInfo{Type: TypeBitN, Size: 1}, false, "01 00", nil},
		{"real", TypeInfo{Type: TypeFltN, Size: 4}, 1.5, "04 0000c03f", nil},
		{"float", TypeInfo{Type: TypeFlt8, Size: 8}, -2.0, "00000000000000c0", nil},
		{"smallmoney", TypeInfo{Type: TypeMoneyN, Size: 4}, Money(12345678), "04 4e61bc00", nil},
		{"money", TypeInfo{Type: TypeMoney, Size: 8}, Money(12345678901234), "3a0b0000 f22fce73", nil},
		{"decimal(5,2)", TypeInfo{Type: TypeDecimalN, Size: 5, Precision: 5, Scale: 2}, mustDecimal(t, "123.45", 5, 2), "05 01 39300000", nil},
		{"numeric(18,4) negative from string", TypeInfo{Type: TypeNumericN, Size: 9, Precision: 18, Scale: 4}, "-1.5", "09 00 983a000000000000", mustDecimal(t, "-1.5000", 18, 4)},
		{"decimal(38,0) max", TypeInfo{Type: TypeDecimalN, Size: 17, Precision: 38}, strings.Repeat("9", 38),
			"11 01 ffffffff3f228a097ac4865aa84c3b4b", mustDecimal(t, strings.Repeat("9", 38), 38, 0)},
		{"guid", TypeInfo{Type: TypeGUID, Size: 16}, guid, "10 ff19966f868b11d0b42d00c04fc964ff", nil},
		{"guid from string", TypeInfo{Type: TypeGUID, Size: 16}, "6f9619ff-8b86-d011-b42d-00c04fc964ff", "10 ff19966f868b11d0b42d00c04fc964ff", guid},
		{"datetime", TypeInfo{Type: TypeDateTime, Size: 8}, time.Date(2000, 1, 1, 12, 0, 0, 0, time.UTC), "ac8e0000 00c1c500", nil},
		{"datetimn 1900", TypeInfo{Type: TypeDateTimeN, Size: 8}, time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), "08 00000000 00000000", nil},
		{"datetime 1/300 s", TypeInfo{Type: TypeDateTime, Size: 8}, time.Date(1900, 1, 1, 0, 0, 1, 3333333, time.UTC), "00000000 2d010000", nil},
		{"smalldatetime", TypeInfo{Type: TypeDateTim4, Size: 4}, time.Date(2000, 1, 1, 0, 1, 0, 0, time.UTC), "ac8e 0100", nil},
		{"date", TypeInfo{Type: TypeDateN, Size: 3}, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), "03 07240b", nil},
		{"date 0001", TypeInfo{Type: TypeDateN, Size: 3}, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), "03 000000", nil},
		{"time(7)", TypeInfo{Type: TypeTimeN, Scale: 7}, time.Date(1, 1, 1, 13, 14, 15, 123456700, time.UTC), "05 07c4aaf46e", nil},
		{"datetime2(3)", TypeInfo{Type: TypeDateTime2N, Scale: 3}, ts, "07 d328d702 80460b", time.Date(2024, 2, 29, 13, 14, 15, 123000000, time.UTC)},
		{"datetimeoffset(7)", TypeInfo{Type: TypeDateTimeOffsetN, Scale: 7}, ts.Add(-2 * time.Hour).In(cet), "0a 07f421315e 80460b 7800", nil},
		{"nvarchar", nv(20), "héllo", "0a00 6800e9006c006c006f00", nil},
		{"nvarchar empty", nv(20), "", "0000", nil},
		{"nvarchar null", nv(20), nil, "ffff", nil},
		{"nvarchar(max)", nv(PLPSize), "ab", "0400000000000000 04000000 61006200 00000000", nil},
		{"nvarchar(max) empty", nv(PLPSize), "", "0000000000000000 00000000", nil},
		{"nvarchar(max) null", nv(PLPSize), nil, "ffffffffffffffff", nil},
		{"varchar cp1252", vc(10, DefaultCollation), "€é", "0200 80e9", nil},
		{"varchar utf8", vc(10, UTF8Collation), "€", "0300 e282ac", nil},
		{"char raw bytes", TypeInfo{Type: TypeBigChar, Size: 2, Collation: DefaultCollation}, []byte("ab"), "0200 6162", "ab"},
		{"varbinary", TypeInfo{Type: TypeBigVarBin, Size: 10}, []byte{1, 2}, "0200 0102", nil},
		{"varbinary(max)", TypeInfo{Type: TypeBigVarBin, Size: PLPSize}, []byte{9}, "0100000000000000 01000000 09 00000000", nil},
		{"text", TypeInfo{Type: TypeText, Size: 0x7FFFFFFF, Collation: DefaultCollation}, "hi",
			"10 64000000000000000000000000000064 0000000000000000 02000000 6869", nil},
		{"ntext null", TypeInfo{Type: TypeNText, Size: 0x7FFFFFFE, Collation: DefaultCollation}, nil, "00", nil},
		{"image", TypeInfo{Type: TypeImage, Size: 0x7FFFFFFF}, []byte{7},
			"10 64000000000000000000000000000064 0000000000000000 01000000 07", nil},
		{"xml", TypeInfo{Type: TypeXML, Size: PLPSize}, "<a/>", "feffffffffffffff 08000000 3c0061002f003e00 00000000", nil},
		{"udt", TypeInfo{Type: TypeUDT, Size: PLPSize, UDT: &UDTInfo{MaxByteSize: 892}}, []byte{1}, "0100000000000000 01000000 01 00000000", nil},
		{"variant int", TypeInfo{Type: TypeVariant, Size: 8009}, int64(5), "0a000000 7f00 0500000000000000", Variant{TypeInfo{Type: TypeInt8, Size: 8}, int64(5)}},
		{"variant nvarchar", TypeInfo{Type: TypeVariant, Size: 8009}, Variant{TypeInfo{Type: TypeNVarChar, Size: 20, Collation: DefaultCollation}, "a"},
			"0b000000 e707 0904d00034 1400 6100", nil},
		{"variant decimal", TypeInfo{Type: TypeVariant, Size: 8009}, mustDecimal(t, "1.5", 5, 1),
			"09000000 6c02 0501 01 0f000000", Variant{TypeInfo{Type: TypeNumericN, Size: 5, Precision: 5, Scale: 1}, mustDecimal(t, "1.5", 5, 1)}},
		{"variant null", TypeInfo{Type: TypeVariant, Size: 8009}, nil, "00000000", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := unhex(t, tc.wire)
			got, err := AppendValue([]byte{0xAA}, tc.ti, tc.in)
			if err != nil {
				t.Fatalf("AppendValue: %v", err)
			}
			if !bytes.Equal(got[1:], want) || got[0] != 0xAA {
				t.Fatalf("AppendValue = % X, want % X", got[1:], want)
			}
			out := tc.out
			if out == nil {
				out = tc.in
			}
			in := append(append([]byte{}, want...), 0xEE) // trailing byte must not be consumed
			v, n, err := DecodeValue(tc.ti, in)
			if err != nil {
				t.Fatalf("DecodeValue: %v", err)
			}
			if n != len(want) {
				t.Fatalf("DecodeValue consumed %d bytes, want %d", n, len(want))
			}
			if !valuesEqual(v, out) {
				t.Fatalf("DecodeValue = %#v, want %#v", v, out)
			}
			if n, err := SkipValue(tc.ti, in); err != nil || n != len(want) {
				t.Fatalf("SkipValue = %d, %v; want %d", n, err, len(want))
			}
			for cut := 0; cut < len(want); cut++ {
				if _, _, err := DecodeValue(tc.ti, want[:cut]); err == nil {
					t.Fatalf("DecodeValue of %d of %d bytes succeeded", cut, len(want))
				}
			}
		})
	}
}

// valuesEqual compares decoded values; times compare as instants with the
// same offset.
func valuesEqual(a, b any) bool {
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		_, oa := ta.Zone()
		_, ob := tb.Zone()
		return ok && ta.Equal(tb) && oa == ob
	}
	return reflect.DeepEqual(a, b)
}

func TestAppendValueErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ti   TypeInfo
		in   any
		want string
	}{
		{"tinyint overflow", TypeInfo{Type: TypeIntN, Size: 1}, 256, "out of range"},
		{"int overflow", TypeInfo{Type: TypeInt4, Size: 4}, int64(1) << 40, "out of range"},
		{"fixed null", TypeInfo{Type: TypeInt4, Size: 4}, nil, "cannot be NULL"},
		{"wrong go type", TypeInfo{Type: TypeIntN, Size: 4}, "1", "cannot encode string"},
		{"nvarchar too long", TypeInfo{Type: TypeNVarChar, Size: 4}, "abc", "exceeds max length"},
		{"decimal too big", TypeInfo{Type: TypeDecimalN, Size: 5, Precision: 5, Scale: 2}, "12345.6", "does not fit"},
		{"bad decimal", TypeInfo{Type: TypeDecimalN, Size: 5, Precision: 5}, "1e5", "invalid decimal"},
		{"cp1252 unmappable", TypeInfo{Type: TypeBigVarChar, Size: 10, Collation: DefaultCollation}, "日", "code page 1252"},
		{"unknown code page", TypeInfo{Type: TypeBigVarChar, Size: 10, Collation: Collation{0x11, 0x04, 0, 0, 0}}, "日", "code page 0"},
		{"datetime before 1753", TypeInfo{Type: TypeDateTime, Size: 8}, time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC), "out of range"},
		{"smallmoney overflow", TypeInfo{Type: TypeMoney4, Size: 4}, Money(1 << 40), "out of range"},
		{"variant of map", TypeInfo{Type: TypeVariant, Size: 8009}, map[string]int{}, "sql_variant"},
		{"tvp wrong type", TypeInfo{Type: TypeTVP}, 1, "*TVP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := AppendValue([]byte{1, 2}, tc.ti, tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("AppendValue = %v, want an error containing %q", err, tc.want)
			}
			if !bytes.Equal(got, []byte{1, 2}) {
				t.Fatalf("AppendValue left % X in dst after an error", got)
			}
		})
	}
}

func TestDecodeValueErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ti   TypeInfo
		in   string
	}{
		{"intn length 3", TypeInfo{Type: TypeIntN, Size: 4}, "03 010203"},
		{"datetime ticks beyond a day", TypeInfo{Type: TypeDateTime, Size: 8}, "00000000 00ffffff"},
		{"time beyond a day", TypeInfo{Type: TypeTimeN, Scale: 7}, "05 ffffffffff"},
		{"datetimeoffset bad offset", TypeInfo{Type: TypeDateTimeOffsetN, Scale: 0}, "08 000000 000000 ff7f"},
		{"odd nvarchar", TypeInfo{Type: TypeNVarChar, Size: 10}, "0100 41"},
		{"variant null base", TypeInfo{Type: TypeVariant, Size: 8009}, "02000000 2600"},
		{"variant bad props", TypeInfo{Type: TypeVariant, Size: 8009}, "03000000 7f05 00"},
		{"plp chunk overruns", TypeInfo{Type: TypeNVarChar, Size: PLPSize}, "0200000000000000 09000000 4100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := DecodeValue(tc.ti, unhex(t, tc.in))
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("DecodeValue = %v, want a FormatError", err)
			}
		})
	}
}

func TestDecimalString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"0", "0"}, {"-0.00", "0.00"}, {"123.45", "123.45"}, {"-0.5", "-0.5"}, {".25", "0.25"},
		{"+7", "7"}, {"000123", "123"}, {strings.Repeat("9", 38), strings.Repeat("9", 38)},
		{"0." + strings.Repeat("0", 37) + "1", "0." + strings.Repeat("0", 37) + "1"},
	} {
		d, err := ParseDecimal(tc.in)
		if err != nil {
			t.Fatalf("ParseDecimal(%q): %v", tc.in, err)
		}
		if d.String() != tc.want {
			t.Errorf("ParseDecimal(%q).String() = %q, want %q", tc.in, d.String(), tc.want)
		}
	}
	for _, bad := range []string{"", "-", ".", "1.2.3", "1e5", "abc", strings.Repeat("9", 39)} {
		if _, err := ParseDecimal(bad); err == nil {
			t.Errorf("ParseDecimal(%q) succeeded", bad)
		}
	}
	d, _ := ParseDecimal("2.345")
	if r, _ := d.Rescale(5, 2); r.String() != "2.35" {
		t.Errorf("Rescale(2.345, 2) = %s, want 2.35 (half away from zero)", r)
	}
	if u := d.Unscaled(); u.Cmp(big.NewInt(2345)) != 0 {
		t.Errorf("Unscaled = %s", u)
	}
}

func TestMoneyAndGUIDString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		m    Money
		want string
	}{{0, "0.0000"}, {12345, "1.2345"}, {-5, "-0.0005"}, {Money(-9223372036854775808), "-922337203685477.5808"}} {
		if got := tc.m.String(); got != tc.want {
			t.Errorf("Money(%d).String() = %q, want %q", int64(tc.m), got, tc.want)
		}
	}
	g := GUID{0xFF, 0x19, 0x96, 0x6F, 0x86, 0x8B, 0x11, 0xD0, 0xB4, 0x2D, 0x00, 0xC0, 0x4F, 0xC9, 0x64, 0xFF}
	if g.String() != "6F9619FF-8B86-D011-B42D-00C04FC964FF" {
		t.Errorf("GUID.String() = %s", g)
	}
	if p, err := ParseGUID("{" + strings.ToLower(g.String()) + "}"); err != nil || p != g {
		t.Errorf("ParseGUID round trip = %v, %v", p, err)
	}
	if _, err := ParseGUID("6F9619FF-8B86-D011-B42D-00C04FC964F"); err == nil {
		t.Error("ParseGUID accepted a short GUID")
	}
}

// TestSkipValueAllocs guards SkipValue's promise not to allocate.
func TestSkipValueAllocs(t *testing.T) {
	b, _ := AppendValue(nil, TypeInfo{Type: TypeNVarChar, Size: PLPSize}, strings.Repeat("x", 100))
	ti := TypeInfo{Type: TypeNVarChar, Size: PLPSize}
	if a := testing.AllocsPerRun(100, func() {
		if _, err := SkipValue(ti, b); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Fatalf("SkipValue allocates %.1f times per call", a)
	}
}

// TestDecimalOverflowNotTruncated guards against silently dropping the high
// bytes of a decoded decimal whose digits exceed its declared precision.
func TestDecimalOverflowNotTruncated(t *testing.T) {
	t.Parallel()
	ti := TypeInfo{Type: TypeDecimalN, Size: 5, Precision: 5}
	v, _, err := DecodeValue(TypeInfo{Type: TypeDecimalN, Size: 9, Precision: 5}, unhex(t, "09 01 0000000001000000"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AppendValue(nil, ti, v); err == nil || !strings.Contains(err.Error(), "more digits") {
		t.Fatalf("AppendValue = %v, want a precision error", err)
	}
}
