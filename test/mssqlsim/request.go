package mssqlsim

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/tds"
	"github.com/tdsproxy/tdsproxy/test/mssqlsim/sqlengine"
)

// handle runs one request and writes its whole response. A returned error
// ends the connection; SQL errors are sent to the client and are not errors
// here.
func (c *conn) handle(ctx context.Context, req *request) error {
	if ce := c.log.Check(zap.DebugLevel, "request"); ce != nil {
		ce.Write(zap.Stringer("type", req.typ), zap.Stringer("status", req.status), zap.Int("bytes", len(req.data)), zap.Uint64("attention", req.attnSeq))
	}
	if req.typ == tds.PacketAttention {
		if req.attnSeq > c.attnAcked {
			// The request had already finished: acknowledge in a message of
			// its own.
			c.attnAcked = req.attnSeq
			b := tds.AppendDone(nil, tds.TokenDone, tds.Done{Status: tds.DoneAttn}, c.tdsVersion)
			return c.pw.WriteMessage(tds.PacketReply, 0, b)
		}
		return nil
	}
	switch req.typ {
	case tds.PacketSQLBatch, tds.PacketRPC, tds.PacketTransMgr, tds.PacketBulkLoad:
	default:
		return fmt.Errorf("unexpected %v message after login", req.typ)
	}

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.reqMu.Lock()
	c.reqCancel = cancel
	c.reqMu.Unlock()
	defer func() {
		c.reqMu.Lock()
		c.reqCancel = nil
		c.reqMu.Unlock()
	}()
	if c.attnSeen.Load() > c.attnAcked {
		cancel() // an Attention arrived before the cancel func was in place
	}

	r := &c.resp
	r.begin(c.pw, c.tdsVersion, c.srv.name)
	c.pw.BeginMessage(tds.PacketReply, 0)

	if req.ignore {
		// The client abandoned a partly sent message ([MS-TDS] §2.2.3.1.2).
		if err := r.send(tds.AppendDone(r.buf[:0], tds.TokenDone, tds.Done{Status: tds.DoneError}, c.tdsVersion)); err != nil {
			return err
		}
		return c.pw.EndMessage()
	}

	if d := c.srv.ResponseDelay(); d > 0 {
		sleep(rctx, d, c.stopping)
	}
	if req.status&(tds.StatusResetConnection|tds.StatusResetConnectionSkipTran) != 0 && req.typ != tds.PacketBulkLoad {
		if err := c.resetSession(r, req.status&tds.StatusResetConnectionSkipTran != 0); err != nil {
			return err
		}
	}

	var err error
	switch req.typ {
	case tds.PacketSQLBatch:
		err = c.execBatch(rctx, r, req.data)
	case tds.PacketRPC:
		err = c.execRPC(rctx, r, req.data)
	case tds.PacketTransMgr:
		err = c.execTM(rctx, r, req.data)
	case tds.PacketBulkLoad:
		err = c.execBulk(rctx, r, req.data)
	}
	if err != nil {
		return err
	}
	if err := c.pw.EndMessage(); err != nil {
		return err
	}
	if c.attnPending(rctx) {
		// The acknowledgement is a message of its own, after the cancelled
		// request's response: tedious reads it so, as SQL Server sends it.
		b := tds.AppendDone(r.buf[:0], tds.TokenDone, tds.Done{Status: tds.DoneAttn}, c.tdsVersion)
		return c.pw.WriteMessage(tds.PacketReply, 0, b)
	}
	return nil
}

// attnPending reports, and consumes, an Attention that cancelled the request
// that just ran: its acknowledgement is due.
func (c *conn) attnPending(rctx context.Context) bool {
	if seen := c.attnSeen.Load(); seen > c.attnAcked && rctx.Err() != nil {
		c.attnAcked = seen
		return true
	}
	return false
}

// execErr turns an error returned by the engine into tokens. Errors that end
// the connection (the client went away, the response could not be written)
// are returned.
func (c *conn) execErr(rctx context.Context, r *responder, err error) error {
	if err == nil {
		return nil
	}
	if rctx.Err() != nil && c.ctx.Err() == nil {
		return nil // cancelled by an Attention: the caller acknowledges it
	}
	if c.ctx.Err() != nil {
		return err
	}
	if errors.Is(err, errWrite) {
		return err
	}
	c.log.Warn("request failed", zap.Error(err))
	return r.Error(tds.ServerError{Number: 50000, State: 1, Class: 16, Message: "mssqlsim: " + err.Error(), ServerName: c.srv.name, Line: 1})
}

// errWrite marks a failure to write the response: the connection is done.
var errWrite = errors.New("writing the response failed")

// protocolError answers a request that could not be decoded; the framing is
// intact, so the connection stays usable.
func (c *conn) protocolError(r *responder, what string, err error) error {
	c.log.Info("malformed request", zap.String("request", what), zap.Error(err))
	return r.Error(tds.ServerError{Number: 8009, State: 1, Class: 16, ServerName: c.srv.name, Line: 1,
		Message: fmt.Sprintf("The incoming tabular data stream (TDS) %s protocol stream is incorrect: %v", what, err)})
}

func (c *conn) execBatch(rctx context.Context, r *responder, data []byte) error {
	b, err := tds.DecodeSQLBatch(data, c.tdsVersion)
	if err != nil {
		if err := c.protocolError(r, "SQL batch", err); err != nil {
			return err
		}
		return r.finishBatch()
	}
	if t, ok := parseInsertBulk(b.Text); ok {
		err = c.startBulk(rctx, r, t)
	} else {
		err = c.sess.ExecBatch(rctx, b.Text, nil, r)
	}
	if err := c.execErr(rctx, r, err); err != nil {
		return err
	}
	return r.finishBatch()
}

func (c *conn) execRPC(rctx context.Context, r *responder, data []byte) error {
	rpc, err := tds.DecodeRPCRequest(data, c.tdsVersion)
	if err != nil {
		if err := c.protocolError(r, "remote procedure call (RPC)", err); err != nil {
			return err
		}
		return r.finishBatch()
	}
	for i := range rpc.Calls {
		r.inProc, r.sawError = true, false
		call := &rpc.Calls[i]
		params, perr := rpcParams(call)
		var err error
		if perr != nil {
			err = c.protocolError(r, "remote procedure call (RPC)", perr)
		} else {
			err = c.sess.ExecRPC(rctx, call.ProcNameOrID(), params, r)
		}
		if err := c.execErr(rctx, r, err); err != nil {
			return err
		}
		last := i == len(rpc.Calls)-1
		if rctx.Err() != nil {
			return r.finishProc(true) // cancelled: the rest of the calls do not run
		}
		if err := r.finishProc(last); err != nil {
			return err
		}
	}
	if len(rpc.Calls) == 0 {
		return r.finishBatch()
	}
	return nil
}

// rpcParams converts an RPC call's parameters for the engine.
func rpcParams(call *tds.RPCCall) ([]sqlengine.Param, error) {
	out := make([]sqlengine.Param, len(call.Params))
	for i, p := range call.Params {
		if p.DecodeErr != nil {
			return nil, fmt.Errorf("%s parameter %d (%s): %w", call.ProcNameOrID(), i+1, p.Name, p.DecodeErr)
		}
		out[i] = sqlengine.Param{Name: p.Name, Type: p.Type, Value: p.Value, Output: p.Status&1 != 0}
	}
	return out, nil
}

// resetSession honours RESETCONNECTION: the session returns to its state
// after login (an open transaction is rolled back unless skipTran) and the
// response starts with ENVCHANGE 18.
func (c *conn) resetSession(r *responder, skipTran bool) error {
	if skipTran && c.sess.TranCount() > 0 {
		// RESETCONNECTIONSKIPTRAN keeps the transaction; the engine's Reset
		// would roll it back, so only the acknowledgement is sent.
		return r.EnvChange(tds.EnvResetAck())
	}
	if err := c.sess.Reset(); err != nil {
		c.log.Warn("session reset failed", zap.Error(err))
	}
	return r.EnvChange(tds.EnvResetAck())
}
