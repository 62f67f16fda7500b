package mssqlsim

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tdsproxy/tdsproxy/tds"
	"github.com/tdsproxy/tdsproxy/test/mssqlsim/sqlengine"
)

// CurCmd values SQL Server puts in the DONE of transaction statements.
const (
	curCmdBeginTran    = 0xD4
	curCmdCommitTran   = 0xD5
	curCmdRollbackTran = 0xD2
)

// execTM runs a transaction manager request ([MS-TDS] §2.2.6.9), as
// SqlClient's BeginTransaction and go-mssqldb's BeginTx send them: the
// response is ENVCHANGE 8 (begin), 9 (commit) or 10 (rollback) and a DONE.
func (c *conn) execTM(rctx context.Context, r *responder, data []byte) error {
	tm, err := tds.DecodeTMRequest(data)
	if err != nil {
		if err := c.protocolError(r, "transaction manager", err); err != nil {
			return err
		}
		return r.finishBatch()
	}
	beginAgain := tm.HasFlags && tm.Flags&tds.TMBeginXactFlag != 0
	var cmd uint16
	switch tm.Type {
	case tds.TMBeginXact:
		cmd = curCmdBeginTran
		err = c.tmBegin(r, tm.Name, tm.IsolationLevel)
	case tds.TMCommitXact:
		cmd = curCmdCommitTran
		desc := c.sess.TxDescriptor()
		if err = c.sess.Commit(tm.Name); err == nil {
			err = c.tmEnded(r, desc, tds.EnvCommitTran)
		}
		if err == nil && beginAgain {
			err = c.tmBegin(r, tm.NewName, tm.IsolationLevel)
		}
	case tds.TMRollbackXact:
		cmd = curCmdRollbackTran
		desc := c.sess.TxDescriptor()
		if err = c.sess.Rollback(tm.Name); err == nil {
			err = c.tmEnded(r, desc, tds.EnvRollbackTran)
		}
		if err == nil && beginAgain {
			err = c.tmBegin(r, tm.NewName, tm.IsolationLevel)
		}
	case tds.TMSaveXact:
		// The T-SQL statement does exactly this, DONE included.
		err = c.sess.ExecBatch(rctx, "SAVE TRANSACTION "+quoteName(tm.Name), nil, r)
		if err := c.tmErr(rctx, r, err); err != nil {
			return err
		}
		return r.finishBatch()
	default:
		// Distributed transactions (DTC) do not exist here.
		err = &sqlengine.SQLError{Err: tds.ServerError{Number: 8509, State: 1, Class: 16,
			Message: fmt.Sprintf("mssqlsim does not support the transaction manager request %v (no distributed transactions).", tm.Type)}}
	}
	if err := c.tmErr(rctx, r, err); err != nil {
		return err
	}
	d := tds.Done{CurCmd: cmd}
	if r.sawError {
		d.Status |= tds.DoneError
	}
	r.pending, r.hasPending = d, true
	return r.finishBatch()
}

// tmBegin begins (or nests) a transaction; the outermost one is announced
// with ENVCHANGE 8 and its descriptor.
func (c *conn) tmBegin(r *responder, name string, iso tds.IsolationLevel) error {
	outer := c.sess.TranCount() == 0
	desc, err := c.sess.Begin(name, uint8(iso))
	if err != nil || !outer {
		return err
	}
	return r.EnvChange(tds.EnvBeginTran(desc))
}

// tmEnded sends ENVCHANGE 9/10 when a commit or rollback ended the
// transaction (a rollback to a savepoint does not).
func (c *conn) tmEnded(r *responder, desc uint64, env func(uint64) tds.EnvChange) error {
	if desc == 0 || c.sess.TranCount() > 0 {
		return nil
	}
	return r.EnvChange(env(desc))
}

// tmErr reports a TM entry point's SQL error as an ERROR token; other
// errors go through execErr.
func (c *conn) tmErr(rctx context.Context, r *responder, err error) error {
	var se *sqlengine.SQLError
	if errors.As(err, &se) {
		e := se.Err
		e.ServerName, e.Line = c.srv.name, 1
		return r.Error(e)
	}
	return c.execErr(rctx, r, err)
}

// quoteName brackets a T-SQL identifier.
func quoteName(s string) string {
	return "[" + strings.ReplaceAll(s, "]", "]]") + "]"
}
