package mssqlsim

import (
	"fmt"

	"github.com/tdsproxy/tdsproxy/tds"
	"github.com/tdsproxy/tdsproxy/test/mssqlsim/sqlengine"
)

// curCmdProc is the CurCmd SQL Server puts in a DONEPROC (EXECUTE).
const curCmdProc = 0xE0

// responder turns the engine's results into tokens streamed into the open
// response message. It implements sqlengine.ResultWriter. In a batch, the
// DONE of each statement is held back until the next token shows whether it
// is the last (DONE_MORE on all but the last); inside an RPC every statement
// ends with DONEINPROC (DONE_MORE set: a DONEPROC always follows).
type responder struct {
	w      *tds.PacketWriter
	ver    uint32
	server string // ServerName of ERROR and INFO tokens
	conv   typeConverter
	buf    []byte
	cols   []tds.Column // current result set, converted for the client's TDS version
	inProc bool

	pending    tds.Done
	hasPending bool
	sawError   bool // an ERROR token was sent in this request (or RPC call)
}

var _ sqlengine.ResultWriter = (*responder)(nil)

// begin prepares the responder for a new request.
func (r *responder) begin(w *tds.PacketWriter, ver uint32, server string) {
	r.w, r.ver, r.server = w, ver, server
	r.conv = typeConverter{ver: ver}
	r.cols = r.cols[:0]
	r.inProc, r.hasPending, r.sawError = false, false, false
}

func (r *responder) send(b []byte) error {
	r.buf = b[:0]
	if _, err := r.w.Write(b); err != nil {
		return fmt.Errorf("%w: %w", errWrite, err)
	}
	return nil
}

// flushPending sends a held-back statement DONE with DONE_MORE: another
// token follows.
func (r *responder) flushPending() error {
	if !r.hasPending {
		return nil
	}
	r.hasPending = false
	d := r.pending
	d.Status |= tds.DoneMore
	return r.send(tds.AppendDone(r.buf[:0], tds.TokenDone, d, r.ver))
}

// Columns implements sqlengine.ResultWriter.
func (r *responder) Columns(cols []tds.Column) error {
	if err := r.flushPending(); err != nil {
		return err
	}
	r.cols = append(r.cols[:0], cols...)
	r.conv.columns(r.cols)
	if r.ver >= tds.VerTDS72 {
		return r.send(tds.AppendColMetadata(r.buf[:0], r.cols))
	}
	// TDS 7.1 layout (2-byte UserType).
	tok := tds.Token{Type: tds.TokenColMetadata, Columns: r.cols}
	b, err := tok.Append(r.buf[:0], nil, r.ver)
	if err != nil {
		return fmt.Errorf("encoding COLMETADATA: %w", err)
	}
	return r.send(b)
}

// Row implements sqlengine.ResultWriter. Rows with enough NULLs go as NBCROW
// (TDS 7.3+), as SQL Server does.
func (r *responder) Row(vals []any) error {
	if len(vals) != len(r.cols) {
		return fmt.Errorf("row has %d values for %d columns", len(vals), len(r.cols))
	}
	if r.conv.active {
		r.conv.values(r.cols, vals)
	}
	nulls := 0
	for _, v := range vals {
		if v == nil {
			nulls++
		}
	}
	var (
		b   []byte
		err error
	)
	if nulls > 0 && r.ver >= tds.VerTDS73A && nulls >= (len(vals)+7)/8 {
		b, err = tds.AppendNBCRow(r.buf[:0], r.cols, vals)
	} else {
		b, err = tds.AppendRow(r.buf[:0], r.cols, vals)
	}
	if err != nil {
		r.buf = b[:0]
		return fmt.Errorf("encoding row: %w", err)
	}
	return r.send(b)
}

// StatementDone implements sqlengine.ResultWriter.
func (r *responder) StatementDone(d sqlengine.StatementResult) error {
	done := tds.Done{CurCmd: d.CurCmd, RowCount: uint64(max(d.RowCount, 0))}
	if d.HasCount {
		done.Status |= tds.DoneCount
	}
	if d.Error {
		done.Status |= tds.DoneError
	}
	if r.inProc {
		done.Status |= tds.DoneMore
		return r.send(tds.AppendDone(r.buf[:0], tds.TokenDoneInProc, done, r.ver))
	}
	if err := r.flushPending(); err != nil {
		return err
	}
	r.pending, r.hasPending = done, true
	return nil
}

// Error implements sqlengine.ResultWriter.
func (r *responder) Error(e tds.ServerError) error {
	if err := r.flushPending(); err != nil {
		return err
	}
	r.sawError = true
	if e.ServerName == "" {
		e.ServerName = r.server
	}
	return r.send(tds.AppendMessage(r.buf[:0], tds.TokenError, e, r.ver))
}

// Info implements sqlengine.ResultWriter.
func (r *responder) Info(e tds.ServerError) error {
	if err := r.flushPending(); err != nil {
		return err
	}
	if e.ServerName == "" {
		e.ServerName = r.server
	}
	return r.send(tds.AppendMessage(r.buf[:0], tds.TokenInfo, e, r.ver))
}

// EnvChange implements sqlengine.ResultWriter.
func (r *responder) EnvChange(e tds.EnvChange) error {
	if err := r.flushPending(); err != nil {
		return err
	}
	return r.send(tds.AppendEnvChange(r.buf[:0], e))
}

// ReturnValue implements sqlengine.ResultWriter.
func (r *responder) ReturnValue(ordinal int, name string, t tds.TypeInfo, v any) error {
	if err := r.flushPending(); err != nil {
		return err
	}
	t, v = r.conv.returnValue(t, v)
	tok := tds.Token{Type: tds.TokenReturnValue, ReturnValue: tds.ReturnValue{
		Ordinal: uint16(ordinal), Name: name, Status: tds.ReturnValueOutput, Type: t, Value: v,
	}}
	b, err := tok.Append(r.buf[:0], nil, r.ver)
	if err != nil {
		r.buf = b[:0]
		return fmt.Errorf("encoding return value %s: %w", name, err)
	}
	return r.send(b)
}

// ReturnStatus implements sqlengine.ResultWriter.
func (r *responder) ReturnStatus(v int32) error {
	if err := r.flushPending(); err != nil {
		return err
	}
	return r.send(tds.AppendReturnStatus(r.buf[:0], v))
}

// finishBatch ends a batch's token stream with the last statement's DONE
// without DONE_MORE (or a DONE of its own when no statement ended).
func (r *responder) finishBatch() error {
	if r.hasPending {
		r.hasPending = false
		return r.send(tds.AppendDone(r.buf[:0], tds.TokenDone, r.pending, r.ver))
	}
	var d tds.Done
	if r.sawError {
		d.Status = tds.DoneError
	}
	return r.send(tds.AppendDone(r.buf[:0], tds.TokenDone, d, r.ver))
}

// finishProc ends one RPC call with DONEPROC: DONE_MORE|DONE_RPCINBATCH when
// another call of the same message follows, as SQL Server does.
func (r *responder) finishProc(last bool) error {
	d := tds.Done{CurCmd: curCmdProc}
	if r.sawError {
		d.Status |= tds.DoneError
	}
	if !last {
		d.Status |= tds.DoneMore | tds.DoneRPCInBatch
	}
	return r.send(tds.AppendDone(r.buf[:0], tds.TokenDoneProc, d, r.ver))
}
