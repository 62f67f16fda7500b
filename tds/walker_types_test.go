package tds

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

// allTypesColumns has one column of every type that can appear in a result.
func allTypesColumns() []Column {
	c := DefaultCollation
	tis := []TypeInfo{
		{Type: TypeInt1, Size: 1}, {Type: TypeBit, Size: 1}, {Type: TypeInt2, Size: 2}, {Type: TypeInt4, Size: 4},
		{Type: TypeDateTim4, Size: 4}, {Type: TypeFlt4, Size: 4}, {Type: TypeMoney, Size: 8}, {Type: TypeDateTime, Size: 8},
		{Type: TypeFlt8, Size: 8}, {Type: TypeMoney4, Size: 4}, {Type: TypeInt8, Size: 8},
		{Type: TypeGUID, Size: 16}, {Type: TypeIntN, Size: 4}, {Type: TypeBitN, Size: 1},
		{Type: TypeDecimalN, Size: 17, Precision: 38, Scale: 10}, {Type: TypeNumericN, Size: 5, Precision: 9, Scale: 0},
		{Type: TypeFltN, Size: 8}, {Type: TypeMoneyN, Size: 8}, {Type: TypeDateTimeN, Size: 4},
		{Type: TypeDateN, Size: 3}, {Type: TypeTimeN, Scale: 3}, {Type: TypeDateTime2N, Scale: 0},
		{Type: TypeDateTimeOffsetN, Scale: 7},
		{Type: TypeBigVarBin, Size: 10}, {Type: TypeBigVarChar, Size: 10, Collation: c}, {Type: TypeBigBinary, Size: 4},
		{Type: TypeBigChar, Size: 3, Collation: c}, {Type: TypeNVarChar, Size: 20, Collation: c}, {Type: TypeNChar, Size: 4, Collation: c},
		{Type: TypeBigVarBin, Size: PLPSize}, {Type: TypeBigVarChar, Size: PLPSize, Collation: c}, {Type: TypeNVarChar, Size: PLPSize, Collation: c},
		{Type: TypeXML, Size: PLPSize, XMLSchema: &XMLSchema{DBName: "db", OwningSchema: "dbo", Collection: "sc"}},
		{Type: TypeUDT, Size: PLPSize, UDT: &UDTInfo{MaxByteSize: 892, DBName: "db", SchemaName: "sys", TypeName: "hierarchyid", AssemblyName: "Microsoft.SqlServer.Types"}},
		{Type: TypeText, Size: 0x7FFFFFFF, Collation: c, TableName: []string{"dbo", "t"}},
		{Type: TypeNText, Size: 0x7FFFFFFE, Collation: c, TableName: []string{"t"}},
		{Type: TypeImage, Size: 0x7FFFFFFF, TableName: []string{"db", "dbo", "t"}},
		{Type: TypeVariant, Size: 8009},
	}
	cols := make([]Column, len(tis))
	for i, ti := range tis {
		cols[i] = Column{Flags: ColNullable, Type: ti, Name: "c" + ti.Type.String()}
	}
	return cols
}

func allTypesValues(tb testing.TB) []any {
	tb.Helper()
	d := mustDecimal(tb, "-1234567890.0123456789", 38, 10)
	n := mustDecimal(tb, "42", 9, 0)
	ts := time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC)
	return []any{
		int64(7), true, int64(-3), int64(100000), ts, 1.5, Money(-10000), ts, 2.25, Money(99), int64(1) << 40,
		GUID{1, 2, 3}, int64(5), false, d, n, 3.5, Money(123456789), ts,
		time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(1, 1, 1, 23, 59, 59, 999000000, time.UTC), ts, ts.In(time.FixedZone("", -5*3600)),
		[]byte{1, 2}, "abc", []byte{9, 8, 7, 6}, "xyz", "ünïcode", "ab",
		bytes.Repeat([]byte{0xAB}, 1200), strings.Repeat("v", 900), strings.Repeat("ŵ", 700),
		"<x>1</x>", []byte{0x58, 0x0F}, "text", "ntext ✓", []byte{0xFF, 0xD8},
		Variant{TypeInfo{Type: TypeDateTimeOffsetN, Scale: 2}, ts.In(time.FixedZone("", 3600))},
	}
}

// multiChunkPLP re-encodes a single-chunk PLP value as chunks of size n.
func multiChunkPLP(v []byte, n int) []byte {
	if binary.LittleEndian.Uint64(v) == plpNull || len(v) == 12 {
		return v
	}
	data := v[12 : len(v)-4]
	out := append([]byte{}, v[:8]...)
	for len(data) > 0 {
		k := min(n, len(data))
		out = binary.LittleEndian.AppendUint32(out, uint32(k))
		out = append(out, data[:k]...)
		data = data[k:]
	}
	return append(out, 0, 0, 0, 0)
}

// TestWalkerAllTypes walks a result with a column of every type (values,
// NULLs, NBCROW, PLP in many chunks) and RETURNVALUEs small and large, at
// every split point, and checks the events and the decoded values.
func TestWalkerAllTypes(t *testing.T) {
	t.Parallel()
	cols := allTypesColumns()
	vals := allTypesValues(t)
	nulls := make([]any, len(cols))
	for i := range nulls {
		if i%3 == 0 {
			nulls[i] = vals[i]
		}
	}
	fixed := func(i int) bool { _, ok := cols[i].Type.Type.fixedSize(); return ok }
	allNull := make([]any, len(cols))
	for i := range allNull {
		if fixed(i) {
			allNull[i] = vals[i] // fixed-length types cannot be NULL
		}
	}
	b := AppendFeatureExtAck(nil, []FeatureExt{{ID: FeatureUTF8Support, Data: []byte{1}}, {ID: FeatureSessionRecovery}})
	b = AppendEnvChange(b, EnvRouting("replica", 1433))
	b = AppendColMetadata(b, cols)
	b = AppendOrder(b, []uint16{2, 1})
	var err error
	if b, err = AppendRow(b, cols, vals); err != nil {
		t.Fatal(err)
	}
	if b, err = AppendRow(b, cols, allNull); err != nil {
		t.Fatal(err)
	}
	for i := range nulls {
		if fixed(i) && nulls[i] == nil {
			nulls[i] = vals[i]
		}
	}
	if b, err = AppendNBCRow(b, cols, nulls); err != nil {
		t.Fatal(err)
	}
	// A row whose PLP values come in 300-byte chunks, as servers stream them.
	row := []byte{byte(TokenRow)}
	for i, c := range cols {
		v, err := AppendValue(nil, c.Type, vals[i])
		if err != nil {
			t.Fatal(err)
		}
		if c.Type.IsPLP() {
			v = multiChunkPLP(v, 300)
		}
		row = append(row, v...)
	}
	b = append(b, row...)
	b = AppendInfo(b, ServerError{Number: 5701, State: 2, Message: "info", ServerName: "srv", Line: 1})
	b = AppendError(b, ServerError{Number: 8134, State: 1, Class: 16, Message: "Divide by zero error encountered.", ProcName: "p", Line: 3})
	b = AppendDone(b, TokenDoneInProc, Done{Status: DoneMore | DoneCount, CurCmd: 0xC1, RowCount: 4}, VerTDS74)
	small := ReturnValue{Ordinal: 1, Name: "@out", Status: ReturnValueOutput, Type: TypeInfo{Type: TypeIntN, Size: 4}, Value: int64(42)}
	big := ReturnValue{Ordinal: 2, Name: "@doc", Status: ReturnValueOutput, Type: TypeInfo{Type: TypeNVarChar, Size: PLPSize, Collation: DefaultCollation},
		Value: strings.Repeat("d", 1000)}
	b = AppendReturnStatus(b, 0)
	for _, rv := range []ReturnValue{small, big} {
		if b, err = AppendReturnValue(b, rv); err != nil {
			t.Fatal(err)
		}
	}
	b = AppendDone(b, TokenDoneProc, Done{}, VerTDS74)

	// DecodeTokens gets every value back.
	toks, err := DecodeTokens(b, VerTDS74)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]any{vals, allNull, nulls, vals} {
		got := toks[4+i].Row
		for j := range want {
			if !valuesEqual(got[j], want[j]) {
				t.Fatalf("row %d column %d (%s): got %#v, want %#v", i, j, cols[j].Type, got[j], want[j])
			}
		}
	}

	// The Walker reports the same tokens, decodes the small RETURNVALUE
	// and skips the big one, at every split point.
	v := replyVector{name: "all types", ver: VerTDS74, data: b}
	want, wantRows := expectedEvents(t, v)
	for i, e := range want {
		if strings.Contains(e, "@doc") {
			want[i] = strings.Replace(e, "Value:"+strings.Repeat("d", 1000)+" ValueSkipped:false", "Value:<nil> ValueSkipped:true", 1)
		}
	}
	// One byte at a time covers every straddle; single splits at ~1000
	// positions cover resuming from a long carried-over chunk.
	ones := make([]int, 0, len(b))
	for i := 1; i < len(b); i++ {
		ones = append(ones, i)
	}
	splits := [][]int{ones}
	for cut := 1; cut < len(b); cut += max(1, len(b)/1000) {
		splits = append(splits, []int{cut})
	}
	for _, cuts := range splits {
		cut := cuts[0]
		var evs []string
		w := NewWalker(VerTDS74, func(ev *Event) error { evs = append(evs, eventSummary(ev)); return nil })
		w.MaxReturnValueSize = 1000
		prev := 0
		for _, c := range append(cuts, len(b)) {
			if err := w.Feed(b[prev:c]); err != nil {
				t.Fatalf("split at %d: %v", cut, err)
			}
			prev = c
		}
		if err := w.End(); err != nil {
			t.Fatal(err)
		}
		sameEvents(t, "all types", evs, want, w.Rows(), wantRows)
	}
}

// TestTypeInfoRoundTrip checks TYPE_INFO encode/decode for every column
// type in COLMETADATA, and the TDS 7.1 table name layout.
func TestTypeInfoRoundTrip(t *testing.T) {
	t.Parallel()
	for _, ver := range []uint32{VerTDS71, VerTDS74} {
		cols := allTypesColumns()
		b := appendColMetadata(nil, cols, ver)
		got, n, err := decodeColMetadata(b[1:], ver, nil)
		if err != nil || n != len(b)-1 {
			t.Fatalf("ver %#x: decodeColMetadata = %d, %v", ver, n, err)
		}
		for i := range cols {
			want := cols[i]
			if ver == VerTDS71 && want.Type.TableName != nil {
				want.Type.TableName = want.Type.TableName[len(want.Type.TableName)-1:]
			}
			if !valuesEqual(got[i], want) {
				t.Errorf("ver %#x column %d: got %+v, want %+v", ver, i, got[i], want)
			}
		}
	}
	for _, ti := range []TypeInfo{
		{Type: TypeUDT, Size: PLPSize, UDT: &UDTInfo{DBName: "d", SchemaName: "s", TypeName: "t"}},
		{Type: TypeTVP, TVP: &TVPTypeName{OwningSchema: "dbo", TypeName: "tt"}},
		{Type: TypeXML, Size: PLPSize},
	} {
		b := ti.appendCtx(nil, tiParam)
		got, n, err := decodeTypeInfo(b, tiParam)
		if err != nil || n != len(b) || !valuesEqual(got, ti) {
			t.Errorf("param TYPE_INFO %s: got %+v, %d, %v", ti, got, n, err)
		}
	}
	for _, bad := range []string{"26 03", "6a 11 27 00", "29 08", "e7 41 1f", "f3", "00", "ad ff ff"} {
		if _, _, err := DecodeTypeInfo(unhex(t, bad)); err == nil {
			t.Errorf("DecodeTypeInfo(%s) succeeded", bad)
		}
	}
}
