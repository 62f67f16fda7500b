package tds

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// mixedResult builds a result of n rows of mixed types with the encoders:
// every third row is an NBCROW with most columns NULL.
func mixedResult(tb testing.TB, n int) []byte {
	tb.Helper()
	cols := []Column{
		{Flags: ColNullable, Type: TypeInfo{Type: TypeIntN, Size: 4}, Name: "id"},
		{Flags: ColNullable, Type: TypeInfo{Type: TypeIntN, Size: 8}, Name: "big"},
		{Flags: ColNullable, Type: TypeInfo{Type: TypeNVarChar, Size: 100, Collation: DefaultCollation}, Name: "name"},
		{Flags: ColNullable, Type: TypeInfo{Type: TypeBigVarChar, Size: 50, Collation: DefaultCollation}, Name: "code"},
		{Flags: ColNullable, Type: TypeInfo{Type: TypeDecimalN, Size: 9, Precision: 18, Scale: 2}, Name: "amount"},
		{Flags: ColNullable, Type: TypeInfo{Type: TypeDateTime2N, Scale: 7}, Name: "ts"},
		{Flags: ColNullable, Type: TypeInfo{Type: TypeFltN, Size: 8}, Name: "ratio"},
		{Flags: ColNullable, Type: TypeInfo{Type: TypeBitN, Size: 1}, Name: "flag"},
		{Flags: ColNullable, Type: TypeInfo{Type: TypeBigVarBin, Size: 100}, Name: "blob"},
		{Flags: ColNullable, Type: TypeInfo{Type: TypeNVarChar, Size: PLPSize, Collation: DefaultCollation}, Name: "note"},
	}
	b := AppendColMetadata(nil, cols)
	ts := time.Date(2025, 6, 1, 12, 30, 0, 0, time.UTC)
	amount, err := ParseDecimal("12345.67")
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("customer %d", i)
		var err error
		if i%3 == 2 {
			b, err = AppendNBCRow(b, cols, []any{int64(i), nil, nil, nil, nil, ts, nil, nil, nil, nil})
		} else {
			b, err = AppendRow(b, cols, []any{int64(i), int64(i) << 33, name, "CODE-" + name[:4],
				amount, ts, 0.25, i%2 == 0, []byte("\x01\x02\x03\x04\x05\x06\x07\x08"), strings.Repeat("n", i%20)})
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	return AppendDone(b, TokenDone, Done{Status: DoneCount, CurCmd: 0xC1, RowCount: uint64(n)}, VerTDS74)
}

func walkIn(w *Walker, data []byte, chunk int) error {
	for off := 0; off < len(data); off += chunk {
		if err := w.Feed(data[off:min(off+chunk, len(data))]); err != nil {
			return err
		}
	}
	return w.End()
}

// BenchmarkWalker10kRows walks a 10,000-row mixed result in 4 KiB chunks.
func BenchmarkWalker10kRows(b *testing.B) {
	data := mixedResult(b, 10000)
	w := NewWalker(VerTDS74, func(*Event) error { return nil })
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := walkIn(w, data, 4096); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10000), "ns/row")
}

// TestWalkerZeroAllocsPerRow guards the Walker's promise that walking rows
// allocates nothing, whatever the chunking: a walk of 1,000 rows allocates
// no more than a walk of 10 (only COLMETADATA allocates, for column names).
func TestWalkerZeroAllocsPerRow(t *testing.T) {
	small, large := mixedResult(t, 10), mixedResult(t, 1000)
	for _, chunk := range []int{1, 7, 512, 4096, 1 << 20} {
		allocs := func(data []byte, rows uint64) float64 {
			w := NewWalker(VerTDS74, func(*Event) error { return nil })
			if err := walkIn(w, data, chunk); err != nil { // warm up buffers
				t.Fatal(err)
			}
			a := testing.AllocsPerRun(3, func() {
				if err := walkIn(w, data, chunk); err != nil {
					t.Fatal(err)
				}
			})
			if w.Rows() != 5*rows {
				t.Fatalf("chunk %d: %d rows walked, want %d", chunk, w.Rows(), 5*rows)
			}
			return a
		}
		if a, b := allocs(small, 10), allocs(large, 1000); b > a {
			t.Errorf("chunk %d: %.0f allocations for 1,000 rows, %.0f for 10", chunk, b, a)
		}
	}
}

// TestWalkerMixedResult checks the benchmark's data is walked correctly,
// fed one byte at a time and in 4 KiB chunks.
func TestWalkerMixedResult(t *testing.T) {
	t.Parallel()
	v := replyVector{name: "mixed", ver: VerTDS74, data: mixedResult(t, 60)}
	want, wantRows := expectedEvents(t, v)
	if wantRows != 60 {
		t.Fatalf("DecodeTokens found %d rows, want 60", wantRows)
	}
	for _, chunk := range []int{1, 4096} {
		var cuts []int
		for c := chunk; c < len(v.data); c += chunk {
			cuts = append(cuts, c)
		}
		got, rows, err := walkChunks(v, cuts)
		if err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		sameEvents(t, "mixed", got, want, rows, wantRows)
	}
}
