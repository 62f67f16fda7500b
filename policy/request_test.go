package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestClassifyRequests(t *testing.T) {
	t.Parallel()
	ps := NewPreparedStatements(2)
	if err := ps.Put(1, ClassifyText("SELECT * FROM s.t")); err != nil {
		t.Fatal(err)
	}
	if err := ps.Put(2, ClassifyText("DELETE s.t")); err != nil {
		t.Fatal(err)
	}
	if err := ps.Put(3, ClassifyText("SELECT 1")); !errors.Is(err, ErrTooManyPrepared) {
		t.Fatalf("Put beyond max = %v, want ErrTooManyPrepared", err)
	}
	tests := []struct {
		name string
		req  Request
		want string
		bad  bool // ErrBadRequest expected
	}{
		{"batch", Request{Kind: RequestBatch, Text: "SELECT 1"}, "select: select", false},
		{"rpc executesql by id", Request{Kind: RequestRPC, ProcID: ProcExecuteSQL, Text: "UPDATE s.t SET a = @p1"}, "update: update s.t", false},
		{"rpc executesql by name", Request{Kind: RequestRPC, ProcName: "SP_EXECUTESQL", Text: "SELECT 1"}, "select: select", false},
		{"rpc executesql qualified", Request{Kind: RequestRPC, ProcName: "master.sys.sp_executesql", Text: "SELECT 1"}, "select: select", false},
		{"rpc user proc named like system", Request{Kind: RequestRPC, ProcName: "sales.sp_executesql"}, "exec: exec sales.sp_executesql", false},
		{"rpc prepare", Request{Kind: RequestRPC, ProcID: ProcPrepare, Text: "DELETE s.t"}, "delete: delete s.t", false},
		{"rpc prepexec", Request{Kind: RequestRPC, ProcID: ProcPrepExec, Text: "INSERT s.t VALUES (1)"}, "insert: insert s.t", false},
		{"rpc execute known handle", Request{Kind: RequestRPC, ProcID: ProcExecute, Handle: 2, HasHandle: true, Prepared: ps}, "delete: delete s.t", false},
		{"rpc execute unknown handle", Request{Kind: RequestRPC, ProcID: ProcExecute, Handle: 9, HasHandle: true, Prepared: ps}, "unknown: unknown (prepared handle 9 is not known)", false},
		{"rpc execute nil map", Request{Kind: RequestRPC, ProcName: "sp_execute", Handle: 1, HasHandle: true}, "unknown: unknown (prepared handle 1 is not known)", false},
		{"rpc execute without handle", Request{Kind: RequestRPC, ProcID: ProcExecute, Prepared: ps}, "unknown: unknown (execute of a prepared statement without a handle)", true},
		{"rpc cursorexecute uses cursor map", Request{Kind: RequestRPC, ProcID: ProcCursorExecute, Handle: 1, HasHandle: true, Prepared: ps}, "unknown: unknown (prepared handle 1 is not known)", false},
		{"rpc unprepare", Request{Kind: RequestRPC, ProcID: ProcUnprepare}, "unprepare: unprepare", false},
		{"rpc sp_cursor", Request{Kind: RequestRPC, ProcID: ProcCursor}, "unknown: unknown (positioned change through sp_cursor)", false},
		{"rpc procedure", Request{Kind: RequestRPC, ProcName: "[sales].[place order]"}, "exec: exec sales.place order", false},
		{"rpc bad name", Request{Kind: RequestRPC, ProcName: "a b"}, "unknown: unknown (RPC procedure name the classifier does not understand)", false},
		{"rpc text missing", Request{Kind: RequestRPC, ProcID: ProcExecuteSQL}, "unknown: unknown (RPC without statement text)", true},
		{"rpc unknown id", Request{Kind: RequestRPC, ProcID: 77}, "unknown: unknown (RPC to unknown procedure id 77)", true},
		{"tm begin", Request{Kind: RequestTM, TM: TMBegin}, "begin_tran(tm): begin_tran", false},
		{"tm commit", Request{Kind: RequestTM, TM: TMCommit}, "commit(tm): commit", false},
		{"tm rollback", Request{Kind: RequestTM, TM: TMRollback}, "rollback(tm): rollback", false},
		{"tm save", Request{Kind: RequestTM, TM: TMSave}, "save_tran(tm): save_tran", false},
		{"tm promote", Request{Kind: RequestTM, TM: TMPromote}, "distributed_tran(tm): distributed_tran", false},
		{"tm bogus", Request{Kind: RequestTM, TM: 42}, "unknown: unknown (transaction manager request type 42)", false},
		{"bulk by text", Request{Kind: RequestBulkLoad, Text: "insert bulk dbo.t (a int)"}, "bulk_insert: bulk_insert dbo.t", false},
		{"bulk by table", Request{Kind: RequestBulkLoad, BulkTable: "[dbo].[t]"}, "bulk_insert: bulk_insert dbo.t", false},
		{"bulk nothing", Request{Kind: RequestBulkLoad}, "unknown: unknown (bulk load without a target table)", true},
		{"zero kind", Request{}, "unknown: unknown (unknown request kind)", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := Classify(tc.req)
			if got := c.Describe(); got != tc.want {
				t.Errorf("Classify = %q, want %q", got, tc.want)
			}
			if errors.Is(err, ErrBadRequest) != tc.bad {
				t.Errorf("err = %v, want bad request %v", err, tc.bad)
			}
		})
	}
}

func TestPreparedStatementsLifecycle(t *testing.T) {
	t.Parallel()
	ps := NewPreparedStatements(0)
	c := ClassifyText("SELECT 1")
	for h := int32(1); h <= 3; h++ {
		if err := ps.Put(h, c); err != nil {
			t.Fatal(err)
		}
	}
	ps.Delete(2)
	if _, ok := ps.Get(2); ok || ps.Len() != 2 {
		t.Fatalf("after Delete: len %d", ps.Len())
	}
	ps.Reset()
	if ps.Len() != 0 {
		t.Fatal("Reset kept handles")
	}
	var nilPS *PreparedStatements
	nilPS.Delete(1)
	nilPS.Reset()
	if _, ok := nilPS.Get(1); ok || nilPS.Len() != 0 {
		t.Fatal("nil map not empty")
	}
}

func TestClassifierCache(t *testing.T) {
	t.Parallel()
	cl, err := NewClassifier(16)
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Kind: RequestBatch, Text: "SELECT * FROM s.t"}
	a, _ := cl.Classify(req)
	b, _ := cl.Classify(req)
	if a != b {
		t.Fatal("second classification not served from the cache")
	}
	rpc := Request{Kind: RequestRPC, ProcID: ProcExecuteSQL, Text: "SELECT * FROM s.t"}
	if c, _ := cl.Classify(rpc); c != a {
		t.Fatal("RPC text not served from the same cache entry")
	}
	st := cl.CacheStats()
	if st.Hits != 2 || st.Misses != 1 || st.Len != 1 {
		t.Fatalf("stats = %+v", st)
	}
	if _, err := NewClassifier(0); err == nil {
		t.Fatal("NewClassifier(0) succeeded")
	}
}

func TestReadOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sql  string
		want bool
	}{
		{"SELECT * FROM t", true}, {"DECLARE @a int; SET @a = 1; SELECT @a", true}, {"", false},
		{"SELECT * INTO #t FROM t", false}, {"BEGIN TRAN", false}, {"EXEC p", false}, {"USE x", false},
		{"SELECT NEXT VALUE FOR s", false}, {"ＳＥＬＥＣＴ 1", false},
	}
	for _, tc := range tests {
		if got := ClassifyText(tc.sql).ReadOnly(); got != tc.want {
			t.Errorf("ReadOnly(%q) = %v, want %v", tc.sql, got, tc.want)
		}
	}
}

func TestRequestStringHidesSecrets(t *testing.T) {
	t.Parallel()
	r := Request{Kind: RequestBatch, Login: "dba", Text: "ALTER LOGIN sa WITH PASSWORD = 'Hunter2'"}
	for _, s := range []string{r.String(), fmt.Sprintf("%v", r), fmt.Sprintf("%+v", r), fmt.Sprintf("%#v", r)} {
		if strings.Contains(s, "Hunter2") {
			t.Fatalf("password in %q", s)
		}
	}
}

func TestMerge(t *testing.T) {
	t.Parallel()
	a := ClassifyText("SELECT 1")
	b := ClassifyText("DELETE s.t")
	got := Merge(a, b, nil).Describe()
	want := "select: select\ndelete: delete s.t\nunknown: unknown (missing classification of an RPC call)"
	if got != want {
		t.Fatalf("Merge = %q, want %q", got, want)
	}
	if len(a.Statements) != 1 {
		t.Fatal("Merge modified its input")
	}
}
