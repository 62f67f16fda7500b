package tds

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
)

// tokenServer is a minimal TDS server built on this package's encoders: it
// answers the login, every SQL batch with the result `rows` of `cols`, and
// every RPC with one row echoing the parameters' decoded values (with the
// parameters' own types as columns). It reports server-side errors.
type tokenServer struct {
	ln   net.Listener
	cols []Column
	rows [][]any
	errs chan error
}

func startTokenServer(t *testing.T, cols []Column, rows [][]any) *tokenServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &tokenServer{ln: ln, cols: cols, rows: rows, errs: make(chan error, 16)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *tokenServer) fail(err error) {
	select {
	case s.errs <- err:
	default:
	}
}

func (s *tokenServer) serve(c net.Conn) {
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := ServerHandshake(ctx, c, &ServerHandshakeConfig{Encryption: EncryptNotSup})
	if err != nil {
		s.fail(fmt.Errorf("handshake: %w", err))
		return
	}
	ver := res.Login.TDSVersion
	login := AppendEnvChange(nil, EnvDatabase("master", "master"))
	login = AppendInfo(login, ServerError{Number: 5701, State: 2, Message: "Changed database context to 'master'.", ServerName: "tokensrv", Line: 1})
	login = AppendEnvChange(login, EnvCollation(DefaultCollation, Collation{}))
	login = AppendLoginAck(login, LoginAck{Interface: 1, TDSVersion: VerTDS74, ProgName: "Microsoft SQL Server", ProgVersion: [4]byte{16, 0, 0x0F, 0xA0}})
	login = AppendEnvChange(login, EnvPacketSize(4096, 4096))
	login = AppendDone(login, TokenDone, Done{}, ver)
	w := NewPacketWriter(res.Conn, DefaultPacketSize)
	if err := w.WriteMessage(PacketReply, 0, login); err != nil {
		s.fail(err)
		return
	}
	r := NewPacketReader(res.Conn, MaxPacketSize)
	for {
		m, err := r.ReadMessage(0)
		if err != nil {
			return // the client closed
		}
		var reply []byte
		switch m.Type {
		case PacketSQLBatch:
			reply, err = s.result(s.cols, s.rows, ver)
		case PacketRPC:
			reply, err = s.echo(m.Data, ver)
		default:
			err = fmt.Errorf("unexpected %v message", m.Type)
		}
		if err != nil {
			s.fail(err)
			reply = AppendError(nil, ServerError{Number: 50000, State: 1, Class: 16, Message: err.Error()})
			reply = AppendDone(reply, TokenDone, Done{Status: DoneError}, ver)
		}
		if err := w.WriteMessage(PacketReply, 0, reply); err != nil {
			return
		}
	}
}

func (s *tokenServer) result(cols []Column, rows [][]any, ver uint32) ([]byte, error) {
	b := AppendColMetadata(nil, cols)
	for i, row := range rows {
		var err error
		if i%2 == 1 {
			b, err = AppendNBCRow(b, cols, row)
		} else {
			b, err = AppendRow(b, cols, row)
		}
		if err != nil {
			return nil, err
		}
	}
	return AppendDone(b, TokenDone, Done{Status: DoneCount, CurCmd: 0xC1, RowCount: uint64(len(rows))}, ver), nil
}

// echo returns the parameters after the SQL text and its declaration
// (sp_executesql's first two) as one row.
func (s *tokenServer) echo(data []byte, ver uint32) ([]byte, error) {
	req, err := DecodeRPCRequest(data, ver)
	if err != nil {
		return nil, err
	}
	c := req.Calls[0]
	if c.ProcNameOrID() != "sp_executesql" || len(c.Params) < 3 {
		return nil, fmt.Errorf("unexpected call %s with %d parameters", c.ProcNameOrID(), len(c.Params))
	}
	var cols []Column
	var row []any
	for _, p := range c.Params[2:] {
		if p.DecodeErr != nil {
			return nil, p.DecodeErr
		}
		cols = append(cols, Column{Flags: ColNullable, Type: p.Type, Name: p.Name})
		row = append(row, p.Value)
	}
	return s.result(cols, [][]any{row}, ver)
}

func openTokenServer(t *testing.T, s *tokenServer) *sql.DB {
	t.Helper()
	q := url.Values{}
	q.Set("encrypt", "disable")
	q.Set("dial timeout", "5")
	u := url.URL{Scheme: "sqlserver", User: url.UserPassword("u", "p"), Host: s.ln.Addr().String(), RawQuery: q.Encode()}
	connector, err := mssql.NewConnector(u.String())
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestGoMSSQLDBReadsEncodedResults has go-mssqldb, a real client, read a
// result of every common type built with AppendColMetadata/AppendRow/
// AppendNBCRow, and send typed parameters that DecodeRPCRequest decodes and
// the server echoes back.
func TestGoMSSQLDBReadsEncodedResults(t *testing.T) {
	t.Parallel()
	c := DefaultCollation
	ts := time.Date(2024, 2, 29, 13, 14, 15, 123456700, time.UTC)
	guid, _ := ParseGUID("6F9619FF-8B86-D011-B42D-00C04FC964FF")
	cols := []Column{
		{Type: TypeInfo{Type: TypeInt4, Size: 4}, Name: "i4"},
		{Type: TypeInfo{Type: TypeIntN, Size: 8}, Name: "i8", Flags: ColNullable},
		{Type: TypeInfo{Type: TypeBitN, Size: 1}, Name: "bit", Flags: ColNullable},
		{Type: TypeInfo{Type: TypeFltN, Size: 8}, Name: "flt", Flags: ColNullable},
		{Type: TypeInfo{Type: TypeDecimalN, Size: 9, Precision: 18, Scale: 4}, Name: "dec", Flags: ColNullable},
		{Type: TypeInfo{Type: TypeMoneyN, Size: 8}, Name: "money", Flags: ColNullable},
		{Type: TypeInfo{Type: TypeGUID, Size: 16}, Name: "guid", Flags: ColNullable},
		{Type: TypeInfo{Type: TypeDateTimeN, Size: 8}, Name: "dt", Flags: ColNullable},
		{Type: TypeInfo{Type: TypeDateN}, Name: "date", Flags: ColNullable},
		{Type: TypeInfo{Type: TypeDateTime2N, Scale: 7}, Name: "dt2", Flags: ColNullable},
		{Type: TypeInfo{Type: TypeDateTimeOffsetN, Scale: 7}, Name: "dto", Flags: ColNullable},
		{Type: TypeInfo{Type: TypeNVarChar, Size: 40, Collation: c}, Name: "nv", Flags: ColNullable},
		{Type: TypeInfo{Type: TypeBigVarChar, Size: 40, Collation: c}, Name: "vc", Flags: ColNullable},
		{Type: TypeInfo{Type: TypeNVarChar, Size: PLPSize, Collation: c}, Name: "nvmax", Flags: ColNullable},
		{Type: TypeInfo{Type: TypeBigVarBin, Size: 20}, Name: "vb", Flags: ColNullable},
		{Type: TypeInfo{Type: TypeNText, Size: 0x7FFFFFFE, Collation: c, TableName: []string{"dbo", "t"}}, Name: "nt", Flags: ColNullable},
		{Type: TypeInfo{Type: TypeVariant, Size: 8016}, Name: "var", Flags: ColNullable},
	}
	dto := ts.In(time.FixedZone("", -7*3600))
	row := []any{int64(-5), int64(1) << 40, true, 2.5, mustDecimal(t, "-1234.5678", 18, 4), Money(123456),
		guid, time.Date(2000, 1, 1, 12, 0, 0, 0, time.UTC), time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), ts, dto,
		"héllo ✓", "café", "long ✓ text", []byte{0xDE, 0xAD}, "ntext ✓", "variant ✓"}
	nulls := make([]any, len(cols))
	nulls[0] = int64(0)
	srv := startTokenServer(t, cols, [][]any{row, nulls})
	db := openTokenServer(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	rs, err := db.QueryContext(ctx, "select *")
	if err != nil {
		t.Fatalf("query: %v (server: %v)", err, pending(srv.errs))
	}
	defer rs.Close()
	got := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range got {
		ptrs[i] = &got[i]
	}
	want := []string{"-5", "1099511627776", "true", "2.5", "-1234.5678", "12.3456",
		"FF19966F868B11D0B42D00C04FC964FF", "2000-01-01T12:00:00Z", "2024-02-29T00:00:00Z",
		"2024-02-29T13:14:15.1234567Z", "2024-02-29T06:14:15.1234567-07:00",
		"héllo ✓", "café", "long ✓ text", "DEAD", "ntext ✓", "variant ✓"}
	for r := 0; rs.Next(); r++ {
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatalf("scan row %d: %v", r, err)
		}
		for i, v := range got {
			s := render(v)
			switch {
			case r == 0 && s != want[i]:
				t.Errorf("row 0 column %s: go-mssqldb read %s (%T), want %s", cols[i].Name, s, v, want[i])
			case r == 1 && i > 0 && v != nil:
				t.Errorf("row 1 column %s: go-mssqldb read %s, want NULL", cols[i].Name, s)
			}
		}
	}
	if err := rs.Err(); err != nil {
		t.Fatalf("rows: %v (server: %v)", err, pending(srv.errs))
	}

	// Parameters: go-mssqldb's encodings, decoded by DecodeRPCRequest,
	// echoed by AppendRow, read back by go-mssqldb.
	var uid mssql.UniqueIdentifier
	if err := uid.Scan(guid[:]); err != nil {
		t.Fatal(err)
	}
	args := []any{int64(7), "ünïcode", []byte{1, 2, 3}, true, 1.25, ts, uid, nil,
		// go-mssqldb sends VarChar as the string's UTF-8 bytes under the
		// connection's (code page 1252) collation, so only ASCII survives.
		mssql.VarChar("latin1"), mssql.NVarCharMax("max ✓"), mssql.DateTimeOffset(dto)}
	wantArgs := []string{"7", "ünïcode", "010203", "true", "1.25", "2024-02-29T13:14:15.1234567Z",
		"FF19966F868B11D0B42D00C04FC964FF", "<nil>", "latin1", "max ✓", "2024-02-29T06:14:15.1234567-07:00"}
	ptrs = make([]any, len(args))
	got = make([]any, len(args))
	for i := range got {
		ptrs[i] = &got[i]
	}
	if err := db.QueryRowContext(ctx, "select @p1", args...).Scan(ptrs...); err != nil {
		t.Fatalf("echo: %v (server: %v)", err, pending(srv.errs))
	}
	for i, v := range got {
		if s := render(v); s != wantArgs[i] {
			t.Errorf("parameter %d (%T): echoed as %s (%T), want %s", i+1, args[i], s, v, wantArgs[i])
		}
	}
}

// render formats what go-mssqldb returns for comparison.
func render(v any) string {
	switch x := v.(type) {
	case []byte:
		if len(x) > 0 && strings.Trim(string(x), "-.0123456789") == "" {
			return string(x) // decimal and money come back as text
		}
		return fmt.Sprintf("%X", x)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case nil:
		return "<nil>"
	}
	return fmt.Sprint(v)
}

func pending(errs chan error) error {
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}
