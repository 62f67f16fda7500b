package tds

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// notByteExact lists replies whose re-encoding differs from the original
// for a documented reason; for them the re-encoded bytes must decode to
// the same tokens.
var notByteExact = map[string]string{
	// Babelfish sends DECIMAL values in the fewest bytes (5 for a
	// NUMERIC(18,4) value); SQL Server, and AppendValue, use the length the
	// precision implies.
	"tokens/babelfish/04-pyodbc-types.r10.bin": "short DECIMAL",
	// Babelfish sends "dummy textptr" as TEXT pointer; AppendValue writes
	// its own dummy pointer (clients test it only for NULL).
	"tokens/babelfish/11-tedious-prepare-execute-unprepare.r04.bin": "TEXTPTR",
	"tokens/babelfish/11-tedious-prepare-execute-unprepare.r05.bin": "TEXTPTR",
	"tokens/babelfish/11b-pyodbc-prepared.r10.bin":                  "TEXTPTR",
	"tokens/babelfish/11b-pyodbc-prepared.r12.bin":                  "TEXTPTR",
}

// TestDecodeTokensReencode decodes every server reply vector into tokens
// (row values included) and re-encodes them: the bytes must be identical.
func TestDecodeTokensReencode(t *testing.T) {
	t.Parallel()
	for _, v := range replyVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			toks, err := DecodeTokens(v.data, v.ver)
			if err != nil {
				t.Fatalf("DecodeTokens: %v", err)
			}
			last := toks[len(toks)-1]
			if last.Type != TokenDone && last.Type != TokenDoneProc {
				t.Errorf("last token %v, want DONE or DONEPROC", &last)
			}
			got, err := AppendTokens(nil, toks, v.ver)
			if err != nil {
				t.Fatalf("AppendTokens: %v", err)
			}
			if why, ok := notByteExact[v.name]; ok {
				again, err := DecodeTokens(got, v.ver)
				if err != nil {
					t.Fatalf("decoding the re-encoded reply (%s): %v", why, err)
				}
				if !reflect.DeepEqual(again, toks) {
					t.Fatalf("re-encoded reply (%s) decodes differently", why)
				}
				if bytes.Equal(got, v.data) {
					t.Fatalf("reply re-encodes byte for byte now; remove it from notByteExact")
				}
				return
			}
			if !bytes.Equal(got, v.data) {
				i := 0
				for i < len(got) && i < len(v.data) && got[i] == v.data[i] {
					i++
				}
				t.Fatalf("re-encoded %d bytes, want %d; first difference at %d: got % X, want % X",
					len(got), len(v.data), i, got[i:min(i+16, len(got))], v.data[i:min(i+16, len(v.data))])
			}
		})
	}
}

// TestSpec417Erratum guards the handling of the stray byte in example 4.17:
// the stream as printed is malformed at that byte, and nothing panics.
func TestSpec417Erratum(t *testing.T) {
	t.Parallel()
	p := tokRead(t, "vectors/ms-tds-v39-examples/17-featureextack-sessionrecovery.bin")[8:] // one packet, 1 byte longer than its header says
	if !bytes.Equal(p[spec17Erratum-2:spec17Erratum+2], []byte{0x34, 0, 0, 0xE3}) {
		t.Fatalf("vector changed: bytes around the erratum are % X", p[spec17Erratum-2:spec17Erratum+2])
	}
	_, err := DecodeTokens(p, VerTDS74)
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("DecodeTokens(4.17 as printed) = %v, want a FormatError", err)
	}
	w := NewWalker(VerTDS74, nil)
	if err := w.Feed(p); !errors.As(err, &fe) {
		t.Fatalf("Walker.Feed(4.17 as printed) = %v, want a FormatError", err)
	}
}
