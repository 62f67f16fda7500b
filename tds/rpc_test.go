package tds

import (
	"bytes"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

type rpcVector struct {
	name string
	ver  uint32
	data []byte
}

// rpcVectors loads the RPC requests: spec 4.8 and 4.14, the Babelfish
// clients' RPCs and the nDPI capture's RPCs (some of them without
// ALL_HEADERS, as TDS 7.1 clients send them).
func rpcVectors(t testing.TB) []rpcVector {
	t.Helper()
	var vs []rpcVector
	for _, n := range []string{"08-rpc-client-request", "14-tvp-insert-statement"} {
		vs = append(vs, rpcVector{"spec/" + n, VerTDS74, tokPackets(t, tokRead(t, "vectors/ms-tds-v39-examples/"+n+".bin"))})
	}
	for _, f := range tokGlob(t, "tokens/rpc/*.bin") {
		ver := VerTDS74
		if strings.HasPrefix(filepath.Base(f), "ndpi-") {
			ver = VerTDS71
		}
		vs = append(vs, rpcVector{f, ver, tokRead(t, f)})
	}
	if len(vs) < 25 {
		t.Fatalf("only %d RPC vectors", len(vs))
	}
	return vs
}

// rpcNotByteExact lists RPCs whose value re-encoding legitimately differs;
// for them the re-encoded bytes must decode to the same request.
var rpcNotByteExact = map[string]string{
	// go-mssqldb sends an empty nvarchar(max) as PLP of unknown length
	// (0xFFFFFFFFFFFFFFFE) and a terminator; AppendValue sends length 0.
	"tokens/rpc/babelfish-14-go-rpc-proc-output-returnstatus.01.bin": "empty PLP",
}

// TestRPCReencode decodes every RPC vector and re-encodes it twice: from
// the parameters' raw bytes, and from their decoded values only. Both must
// give the original bytes.
func TestRPCReencode(t *testing.T) {
	t.Parallel()
	for _, v := range rpcVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			req, err := DecodeRPCRequest(v.data, v.ver)
			if err != nil {
				t.Fatalf("DecodeRPCRequest: %v", err)
			}
			got, err := req.Append(nil)
			if err != nil {
				t.Fatalf("Append (raw): %v", err)
			}
			if !bytes.Equal(got, v.data) {
				t.Fatalf("Append (raw) differs:\n got % X\nwant % X", got, v.data)
			}
			for i := range req.Calls {
				for j := range req.Calls[i].Params {
					p := &req.Calls[i].Params[j]
					if p.DecodeErr != nil {
						t.Fatalf("call %d param %d: %v", i+1, j+1, p.DecodeErr)
					}
					p.Raw = nil
				}
			}
			got, err = req.Append(nil)
			if err != nil {
				t.Fatalf("Append (values): %v", err)
			}
			if why, ok := rpcNotByteExact[v.name]; ok {
				again, err := DecodeRPCRequest(got, v.ver)
				if err != nil {
					t.Fatalf("decoding re-encoded request (%s): %v", why, err)
				}
				orig, _ := DecodeRPCRequest(v.data, v.ver)
				for _, r := range []*RPCRequest{again, orig} {
					for i := range r.Calls {
						for j := range r.Calls[i].Params {
							r.Calls[i].Params[j].Raw = nil
						}
					}
				}
				if !reflect.DeepEqual(again, orig) || bytes.Equal(got, v.data) {
					t.Fatalf("re-encoded request (%s) decodes differently or is now byte-exact", why)
				}
				return
			}
			if !bytes.Equal(got, v.data) {
				i := 0
				for i < len(got) && i < len(v.data) && got[i] == v.data[i] {
					i++
				}
				t.Fatalf("Append (values) differs at %d of %d/%d: got % X, want % X", i, len(got), len(v.data),
					got[i:min(len(got), i+24)], v.data[i:min(len(v.data), i+24)])
			}
		})
	}
}

func TestRPCSpecExamples(t *testing.T) {
	t.Parallel()
	p := tokPackets(t, tokRead(t, "vectors/ms-tds-v39-examples/08-rpc-client-request.bin"))
	req, err := DecodeRPCRequest(p, VerTDS72)
	if err != nil {
		t.Fatal(err)
	}
	want := []RPCCall{{ProcName: "foo3", Params: []Param{{Status: ParamDefault, Type: TypeInfo{Type: TypeIntN, Size: 2}, Raw: []byte{0}}}}}
	if !req.HasHeaders || !reflect.DeepEqual(req.Calls, want) {
		t.Fatalf("4.8 decoded as %+v", req.Calls)
	}

	p = tokPackets(t, tokRead(t, "vectors/ms-tds-v39-examples/14-tvp-insert-statement.bin"))
	if req, err = DecodeRPCRequest(p, VerTDS73B); err != nil {
		t.Fatal(err)
	}
	prm := req.Calls[0].Params[0]
	tv, ok := prm.Value.(*TVP)
	if !ok || prm.Type.TVP == nil || prm.Type.TVP.OwningSchema != "dbo" || prm.Type.TVP.TypeName != "tvptype" {
		t.Fatalf("4.14 parameter %+v", prm)
	}
	wantCols := []Column{{Type: TypeInfo{Type: TypeIntN, Size: 1}}}
	if !reflect.DeepEqual(tv.Columns, wantCols) || !reflect.DeepEqual(tv.Rows, [][]any{{int64(2)}}) {
		t.Fatalf("4.14 TVP %+v", tv)
	}
}

// TestRPCCalls checks procedure names, batching and the SQL text helper on
// real requests.
func TestRPCCalls(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file  string
		ver   uint32
		procs []string // ProcNameOrID per call
		flags []byte   // BatchFlag per call
		sql   string   // SQLText prefix of the first call ("" when none)
	}{
		{"tokens/rpc/babelfish-03-tedious-execsql-param.01.bin", VerTDS74, []string{"sp_executesql"}, []byte{0}, "SELECT @id AS id"},
		{"tokens/rpc/babelfish-11-tedious-prepare-execute-unprepare.01.bin", VerTDS74, []string{"sp_prepare"}, []byte{0}, "SELECT @a + 1"},
		{"tokens/rpc/babelfish-19-odbc-paramarray-rpc-batch.02.bin", VerTDS74,
			[]string{"sp_execute", "sp_execute", "sp_execute", "sp_execute", "sp_execute"}, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0}, ""},
		{"tokens/rpc/ndpi-1111.02.bin", VerTDS71, []string{"sp_prepexec"}, []byte{0}, "select * from test_table_1"},
		{"tokens/rpc/ndpi-4444.01.bin", VerTDS71, []string{"sp_executesql"}, []byte{0}, "SELECT TOP 88"},
		{"tokens/rpc/ndpi-5555.04.bin", VerTDS71, []string{"sp_execute", "sp_execute"}, []byte{0xFF, 0}, ""},
		{"tokens/rpc/ndpi-33333.01.bin", VerTDS71, []string{"dbo.proc_GetMySampleDataItems"}, []byte{0}, ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			req, err := DecodeRPCRequest(tokRead(t, tc.file), tc.ver)
			if err != nil {
				t.Fatal(err)
			}
			var procs []string
			var flags []byte
			for i := range req.Calls {
				procs = append(procs, req.Calls[i].ProcNameOrID())
				flags = append(flags, req.Calls[i].BatchFlag)
			}
			if !reflect.DeepEqual(procs, tc.procs) || !bytes.Equal(flags, tc.flags) {
				t.Fatalf("calls %v flags % X, want %v % X", procs, flags, tc.procs, tc.flags)
			}
			sql, ok := req.Calls[0].SQLText()
			if ok != (tc.sql != "") || !strings.HasPrefix(sql, tc.sql) {
				t.Fatalf("SQLText = %q, %v; want prefix %q", sql, ok, tc.sql)
			}
		})
	}
}

func TestProcNameOrID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		call RPCCall
		want string
	}{
		{RPCCall{ProcID: ProcSpExecuteSQL}, "sp_executesql"},
		{RPCCall{ProcID: ProcSpCursor}, "sp_cursor"},
		{RPCCall{ProcID: ProcSpUnprepare}, "sp_unprepare"},
		{RPCCall{ProcID: 16}, "procid:16"},
		{RPCCall{ProcName: "dbo.p", ProcID: 10}, "dbo.p"},
	} {
		if got := tc.call.ProcNameOrID(); got != tc.want {
			t.Errorf("ProcNameOrID(%+v) = %q, want %q", tc.call, got, tc.want)
		}
	}
}

// TestRPCMalformed checks clear errors for broken requests.
func TestRPCMalformed(t *testing.T) {
	t.Parallel()
	hdr := AutocommitHeaders()
	h := hdr.Append(nil)
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"no call", h, "no procedure call"},
		{"proc id 0", append(append([]byte{}, h...), 0xFF, 0xFF, 0, 0, 0, 0), "ProcID"},
		{"name overruns", append(append([]byte{}, h...), 9, 0, 'a', 0), "ProcName"},
		{"bad separator", append(append([]byte{}, h...), 0xFF, 0xFF, 10, 0, 0, 0, 0, 0x55), "parameter 1"},
		{"truncated value", append(append([]byte{}, h...), 0xFF, 0xFF, 10, 0, 0, 0, 0, 0, 0x26, 4, 4, 1), "truncated"},
		{"encrypted", append(append([]byte{}, h...), 0xFF, 0xFF, 10, 0, 0, 0, 0, 0x08, 0x26, 4, 0), "encrypted"},
		{"no headers in 7.4", []byte{0xFF, 0xFF, 10, 0, 0, 0}, "ALL_HEADERS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeRPCRequest(tc.in, VerTDS74)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("DecodeRPCRequest = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// BenchmarkDecodeRPCRequest decodes the nDPI capture's 8 KB RPC request
// (a procedure call with a long NVARCHAR parameter), as the proxy does for
// every RPC it authorizes.
func BenchmarkDecodeRPCRequest(b *testing.B) {
	data := tokRead(b, "tokens/rpc/ndpi-6666.01.bin")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for range b.N {
		if _, err := DecodeRPCRequest(data, VerTDS71); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRPCDecodeCopies guards DecodeRPCRequest's promise to copy what it
// keeps: the proxy reuses its message buffer.
func TestRPCDecodeCopies(t *testing.T) {
	t.Parallel()
	for _, v := range rpcVectors(t) {
		buf := append([]byte{}, v.data...)
		req, err := DecodeRPCRequest(buf, v.ver)
		if err != nil {
			t.Fatal(err)
		}
		before, _ := req.Append(nil)
		for i := range buf {
			buf[i] = 0xA5
		}
		after, _ := req.Append(nil)
		if !bytes.Equal(before, after) || !bytes.Equal(after, v.data) {
			t.Fatalf("%s: decoded request changed with its input buffer", v.name)
		}
	}
}
