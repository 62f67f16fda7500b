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

// TestEncodersBuildSpecReplies builds replies with the encoders and their
// helpers (as the simulator does) and compares them with the spec's and
// pytds' bytes.
func TestEncodersBuildSpecReplies(t *testing.T) {
	t.Parallel()
	payload := func(rel string) []byte { return tokPackets(t, tokRead(t, rel)) }
	for _, tc := range []struct {
		name  string
		want  []byte
		build func() ([]byte, error)
	}{
		{"4.4 login response", payload("vectors/ms-tds-v39-examples/04-login-response.bin"), func() ([]byte, error) {
			b := AppendEnvChange(nil, EnvDatabase("master", "master"))
			b = AppendInfo(b, ServerError{Number: 5701, State: 2, Message: "Changed database context to 'master'."})
			b = AppendEnvChange(b, EnvCollation(DefaultCollation, Collation{}))
			b = AppendEnvChange(b, EnvLanguage("us_english", ""))
			b = AppendEnvChange(b, EnvPacketSize(4096, 4096))
			b = AppendInfo(b, ServerError{Number: 5703, State: 1, Message: "Changed language setting to us_english."})
			b = AppendLoginAck(b, LoginAck{Interface: 1, TDSVersion: VerTDS72, ProgName: "Microsoft SQL Server\x00\x00"})
			return AppendDone(b, TokenDone, Done{}, VerTDS72), nil
		}},
		{"4.7 batch response", payload("vectors/ms-tds-v39-examples/07-sql-batch-server-response.bin"), func() ([]byte, error) {
			cols := []Column{{Flags: 0x20, Type: TypeInfo{Type: TypeBigVarChar, Size: 3, Collation: DefaultCollation}, Name: "bar"}}
			b := AppendColMetadata(nil, cols)
			b, err := AppendRow(b, cols, []any{"foo"})
			return AppendDone(b, TokenDone, Done{Status: DoneCount, CurCmd: 0xC1, RowCount: 1}, VerTDS72), err
		}},
		{"4.9 RPC response", payload("vectors/ms-tds-v39-examples/09-rpc-server-response.bin"), func() ([]byte, error) {
			b := AppendDone(nil, TokenDoneInProc, Done{Status: DoneMore | DoneCount, CurCmd: 0xC1, RowCount: 1}, VerTDS72)
			b = AppendReturnStatus(b, 0)
			return AppendDone(b, TokenDoneProc, Done{CurCmd: 0xE0}, VerTDS72), nil
		}},
		{"4.18 SESSIONSTATE", payload("vectors/ms-tds-v39-examples/18-table-response-sessionstate.bin"), func() ([]byte, error) {
			b := AppendDone(nil, TokenDone, Done{Status: DoneMore, CurCmd: 0xBE}, VerTDS74)
			b = AppendSessionState(b, SessionState{SeqNo: 1, Recoverable: true, States: []SessionStateEntry{{ID: 9, Value: []byte{0xFF, 0xFF, 0xFF, 0xFF}}}})
			return AppendDone(b, TokenDone, Done{CurCmd: 0xFD}, VerTDS74), nil
		}},
		{"pytds BEGIN TRAN", payload("vectors/pytds/begin-tran-envchange8-response.bin"), func() ([]byte, error) {
			b := AppendEnvChange(nil, EnvBeginTran(0x0000005A00000001))
			return AppendDone(b, TokenDone, Done{CurCmd: 0xFD}, VerTDS73B), nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.build()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("built\n% X\nwant\n% X", got, tc.want)
			}
		})
	}
}

// TestEnvChangeHelpers checks the ENVCHANGE constructors against their
// accessors and a decode of their encoding.
func TestEnvChangeHelpers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  EnvChange
		desc uint64
		str  string
	}{
		{"begin", EnvBeginTran(0x1122334455667788), 0x1122334455667788, "BeginTransaction 0x1122334455667788"},
		{"commit", EnvCommitTran(7), 7, "CommitTransaction 0x0000000000000007"},
		{"rollback", EnvRollbackTran(8), 8, "RollbackTransaction 0x0000000000000008"},
		{"ended", EnvTranEnded(9), 9, "TransactionEnded 0x0000000000000009"},
		{"reset", EnvResetAck(), 0, "ResetConnectionAck new= old="},
		{"routing", EnvRouting("replica-1.example", 14330), 0, "Routing replica-1.example:14330"},
		{"database", EnvDatabase("tempdb", "master"), 0, `Database "master" -> "tempdb"`},
		{"packet size", EnvPacketSize(8000, 4096), 0, `PacketSize "4096" -> "8000"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := AppendEnvChange(nil, tc.env)
			toks, err := DecodeTokens(b, VerTDS74)
			if err != nil || len(toks) != 1 {
				t.Fatalf("DecodeTokens = %v, %v", toks, err)
			}
			e := toks[0].Env
			if e.String() != tc.str {
				t.Fatalf("String() = %q, want %q", e.String(), tc.str)
			}
			if d, ok := e.TxDescriptor(); ok != (tc.desc != 0) || d != tc.desc {
				t.Fatalf("TxDescriptor() = %#x, %v", d, ok)
			}
		})
	}
	if n, ok := EnvPacketSize(8000, 4096).PacketSize(); !ok || n != 8000 {
		t.Errorf("PacketSize() = %d, %v", n, ok)
	}
	b := AppendEnvChange(nil, EnvRouting("srv", 1433))
	want := []byte{0xE3, 0x0D, 0, 20, 0x0B, 0, 0, 0x99, 0x05, 3, 0, 's', 0, 'r', 0, 'v', 0}
	want = append(want, 0, 0)
	want[1] = byte(len(want) - 3)
	if !bytes.Equal(b, want) {
		t.Errorf("routing ENVCHANGE % X, want % X", b, want)
	}
}

// TestDone71 checks the 4-byte row count of TDS 7.1 DONE tokens.
func TestDone71(t *testing.T) {
	t.Parallel()
	d := Done{Status: DoneCount | DoneMore, CurCmd: 0xC1, RowCount: 3}
	b71 := AppendDone(nil, TokenDoneInProc, d, VerTDS71)
	b74 := AppendDone(nil, TokenDoneInProc, d, VerTDS74)
	if len(b71) != 9 || len(b74) != 13 {
		t.Fatalf("DONE lengths %d and %d, want 9 and 13", len(b71), len(b74))
	}
	for _, tc := range []struct {
		b   []byte
		ver uint32
	}{{b71, VerTDS71}, {b74, VerTDS74}} {
		toks, err := DecodeTokens(tc.b, tc.ver)
		if err != nil || toks[0].Done != d {
			t.Fatalf("decoded %+v, %v; want %+v", toks, err, d)
		}
	}
}

// TestBulkLoadTokens decodes the client-built token streams of bulk load
// messages ([MS-TDS] §2.2.6.1, spec example 4.12, pytds, freebcp and
// go-mssqldb CopyIn against Babelfish) and re-encodes them byte for byte;
// the simulator decodes bulk loads this way.
func TestBulkLoadTokens(t *testing.T) {
	t.Parallel()
	vs := map[string][]byte{
		"spec/12-bulk-load": tokPackets(t, tokRead(t, "vectors/ms-tds-v39-examples/12-bulk-load.bin")),
		"pytds/bulkload":    tokPackets(t, tokRead(t, "vectors/pytds/bulkload-bcp-bit-column-client.bin")),
	}
	for _, f := range tokGlob(t, "tokens/bulk/*.bin") {
		vs[f] = tokRead(t, f)
	}
	if len(vs) != 5 {
		t.Fatalf("%d bulk vectors, want 5", len(vs))
	}
	for name, data := range vs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			toks, err := DecodeTokens(data, VerTDS74)
			if err != nil {
				t.Fatal(err)
			}
			rows := 0
			for _, tk := range toks {
				if tk.Type == TokenRow {
					rows++
				}
			}
			if toks[0].Type != TokenColMetadata || rows == 0 {
				t.Fatalf("tokens start with %v, %d rows", &toks[0], rows)
			}
			got, err := AppendTokens(nil, toks, VerTDS74)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("re-encoded (%v):\n% X\nwant\n% X", err, got, data)
			}
		})
	}
}
