package tds

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestOpaqueTokens round-trips the tokens kept as raw bodies and checks
// the Walker reports them.
func TestOpaqueTokens(t *testing.T) {
	t.Parallel()
	toks := []Token{
		{Type: TokenTabName, Raw: []byte{1, 1, 0, 't', 0}},
		{Type: TokenColInfo, Raw: []byte{1, 1, 0}},
		{Type: TokenOffset, Raw: []byte{1, 0, 2, 0}},
		{Type: TokenSSPI, Raw: []byte{0x4E, 0x54, 0x4C, 0x4D}},
		{Type: TokenFedAuthInfo, Raw: []byte{0, 0, 0, 0}},
		{Type: TokenOrder, Order: []uint16{3}},
		{Type: TokenDone},
	}
	b, err := AppendTokens(nil, toks, VerTDS74)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeTokens(b, VerTDS74)
	if err != nil || !reflect.DeepEqual(got, toks) {
		t.Fatalf("DecodeTokens = %+v, %v", got, err)
	}
	var types []TokenType
	w := NewWalker(VerTDS74, func(ev *Event) error { types = append(types, ev.Type); return nil })
	for i := range b {
		if err := w.Feed(b[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if len(types) != len(toks) || w.End() != nil {
		t.Fatalf("walked %v", types)
	}
	if s := (&toks[6]).String(); s != "DONE(FINAL cmd=0 rows=0)" {
		t.Errorf("String() = %q", s)
	}
}

// TestTVPRoundTrip encodes a TVP with every optional part and decodes it.
func TestTVPRoundTrip(t *testing.T) {
	t.Parallel()
	ti := TypeInfo{Type: TypeTVP, TVP: &TVPTypeName{OwningSchema: "dbo", TypeName: "tt"}}
	tv := &TVP{
		Columns: []Column{
			{Flags: ColNullable, Type: TypeInfo{Type: TypeIntN, Size: 4}},
			{Flags: ColDefault, Type: TypeInfo{Type: TypeIntN, Size: 4}},
			{Flags: ColNullable, Type: TypeInfo{Type: TypeNVarChar, Size: PLPSize, Collation: DefaultCollation}},
			{Flags: ColNullable, Type: TypeInfo{Type: TypeNText, Size: 0x7FFFFFFE, Collation: DefaultCollation}},
		},
		OrderUnique:    []TVPOrder{{Column: 1, Flags: 0x05}},
		ColumnOrdering: []uint16{1, 2, 3, 4},
		Rows:           [][]any{{int64(1), "a", "x"}, {nil, nil, nil}},
	}
	for _, v := range []*TVP{tv, {NullMetadata: true}} {
		req := &RPCRequest{Headers: AutocommitHeaders(), HasHeaders: true, Calls: []RPCCall{{ProcName: "p", Params: []Param{{Type: ti, Value: v}}}}}
		b, err := req.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeRPCRequest(b, VerTDS74)
		if err != nil {
			t.Fatal(err)
		}
		if gv := got.Calls[0].Params[0].Value.(*TVP); !reflect.DeepEqual(gv, v) {
			t.Fatalf("TVP decoded as %+v, want %+v", gv, v)
		}
		if again, _ := got.Append(nil); !bytes.Equal(again, b) {
			t.Fatal("TVP request does not re-encode byte for byte")
		}
	}
	bad := &TVP{Columns: tv.Columns, Rows: [][]any{{int64(1)}}}
	if _, err := AppendValue(nil, ti, bad); err == nil || !strings.Contains(err.Error(), "row 0") {
		t.Fatalf("short TVP row: %v", err)
	}
}

// TestVariantInference checks the base type chosen for plain Go values.
func TestVariantInference(t *testing.T) {
	t.Parallel()
	ts := time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC)
	dec := mustDecimal(t, "3.25", 5, 2)
	for _, tc := range []struct {
		in   any
		base DataType
		out  any
	}{
		{int32(-7), TypeInt8, int64(-7)}, {uint16(7), TypeInt8, int64(7)}, {true, TypeBit, true},
		{float32(0.5), TypeFlt8, 0.5}, {Money(15), TypeMoney, Money(15)}, {GUID{1}, TypeGUID, GUID{1}},
		{ts, TypeDateTime2N, ts}, {dec, TypeNumericN, dec}, {"héllo", TypeNVarChar, "héllo"}, {[]byte{1}, TypeBigVarBin, []byte{1}},
	} {
		b, err := AppendValue(nil, TypeInfo{Type: TypeVariant, Size: 8009}, tc.in)
		if err != nil {
			t.Fatalf("%T: %v", tc.in, err)
		}
		v, _, err := DecodeValue(TypeInfo{Type: TypeVariant, Size: 8009}, b)
		if err != nil {
			t.Fatalf("%T: %v", tc.in, err)
		}
		vv := v.(Variant)
		if vv.Type.Type != tc.base || !valuesEqual(vv.Value, tc.out) {
			t.Errorf("%T: base %s value %#v, want %s %#v", tc.in, vv.Type.Type, vv.Value, tc.base, tc.out)
		}
	}
	for _, bad := range []any{uint64(1) << 63, strings.Repeat("x", 4001), make([]byte, 8001), Variant{Type: TypeInfo{Type: TypeIntN, Size: 4}, Value: int64(1)}} {
		if _, err := AppendValue(nil, TypeInfo{Type: TypeVariant, Size: 8009}, bad); err == nil {
			t.Errorf("%T accepted as sql_variant", bad)
		}
	}
}

func TestWellFormedUTF16(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []byte
		want bool
	}{
		{[]byte{'a', 0}, true},
		{[]byte{0x3D, 0xD8, 0x00, 0xDE}, true}, // U+1F600
		{[]byte{0x3D, 0xD8}, false},            // high surrogate at the end
		{[]byte{0x3D, 0xD8, 'a', 0}, false},    // high surrogate then a letter
		{[]byte{0x00, 0xDE, 'a', 0}, false},    // lone low surrogate
	} {
		if got := wellFormedUTF16(tc.in); got != tc.want {
			t.Errorf("wellFormedUTF16(% X) = %v", tc.in, got)
		}
	}
}

// TestLongNamesTruncated checks names longer than their length prefix
// allows are cut at the limit instead of corrupting the token.
func TestLongNamesTruncated(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 300)
	b := AppendColMetadata(nil, []Column{{Type: TypeInfo{Type: TypeIntN, Size: 4}, Name: long}})
	toks, err := DecodeTokens(b, VerTDS74)
	if err != nil {
		t.Fatal(err)
	}
	if n := toks[0].Columns[0].Name; n != long[:2*255] {
		t.Fatalf("name of %d runes, want 255", len([]rune(n)))
	}
}

// TestOversizedFieldsStayWellFormed checks that encoders cut values longer
// than their length prefixes instead of emitting a corrupt token.
func TestOversizedFieldsStayWellFormed(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 70000)
	b := AppendError(nil, ServerError{Number: 1, Class: 16, Message: long, ServerName: long, ProcName: long})
	b = AppendEnvChange(b, EnvDatabase(long, long))
	b = AppendEnvChange(b, EnvChange{Type: EnvBeginTranType, New: make([]byte, 300)})
	b = AppendEnvChange(b, EnvChange{Type: EnvLanguageType, New: []byte{'a', 0, 'b'}}) // odd byte count
	toks, err := DecodeTokens(b, VerTDS74)
	if err != nil || len(toks) != 4 {
		t.Fatalf("DecodeTokens = %d tokens, %v", len(toks), err)
	}
	if n := len(toks[0].Err.Message); n < 2047 || n > maxMessageChars {
		t.Fatalf("message of %d characters", n)
	}
	if toks[1].Env.NewString() != long[:255] || len(toks[2].Env.New) != 255 || toks[3].Env.NewString() != "a" {
		t.Fatalf("ENVCHANGE values not cut as expected")
	}
}
