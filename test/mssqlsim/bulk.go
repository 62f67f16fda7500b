package mssqlsim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/tdsproxy/tdsproxy/tds"
	"github.com/tdsproxy/tdsproxy/test/mssqlsim/sqlengine"
)

// bulkChunkRows is how many rows one parameterised INSERT carries.
const bulkChunkRows = 100

// curCmdBulk is the CurCmd of the DONE answering a bulk load (INSERT BULK).
const curCmdBulk = 0xF0

// bulkTarget is an INSERT BULK statement waiting for its bulk load message.
type bulkTarget struct {
	table string // as the client wrote it, e.g. "[dbo].[orders]"
}

// parseInsertBulk recognises the statement that announces a bulk load
// ("INSERT BULK table (col type, …) [WITH (…)]") and returns its table.
func parseInsertBulk(text string) (bulkTarget, bool) {
	s := strings.TrimLeftFunc(text, unicode.IsSpace)
	if len(s) < 11 || !strings.EqualFold(s[:6], "insert") {
		return bulkTarget{}, false
	}
	s = strings.TrimLeftFunc(s[6:], unicode.IsSpace)
	if len(s) < 4 || !strings.EqualFold(s[:4], "bulk") {
		return bulkTarget{}, false
	}
	s = strings.TrimLeftFunc(s[4:], unicode.IsSpace)
	// The table name runs to the column list or the end; brackets and quotes
	// may hide spaces and parentheses.
	end, inBracket, inQuote := len(s), false, false
scan:
	for i, r := range s {
		switch {
		case inBracket:
			inBracket = r != ']'
		case inQuote:
			inQuote = r != '"'
		case r == '[':
			inBracket = true
		case r == '"':
			inQuote = true
		case r == '(' || unicode.IsSpace(r):
			end = i
			break scan
		}
	}
	table := s[:end]
	if table == "" {
		return bulkTarget{}, false
	}
	return bulkTarget{table: table}, true
}

// startBulk answers INSERT BULK: the rows follow in a bulk load message.
func (c *conn) startBulk(ctx context.Context, r *responder, t bulkTarget) error {
	c.bulk = &t
	return nil
}

// execBulk loads the rows of a bulk load message ([MS-TDS] §2.2.6.1: a
// COLMETADATA, ROW tokens and an optional DONE, as the client encodes them)
// into the table announced by the preceding INSERT BULK.
func (c *conn) execBulk(rctx context.Context, r *responder, data []byte) error {
	t := c.bulk
	c.bulk = nil
	if t == nil {
		if err := r.Error(tds.ServerError{Number: 4804, State: 1, Class: 21, ServerName: c.srv.name, Line: 1,
			Message: "While reading current row from host, a premature end-of-message was encountered: no INSERT BULK statement preceded the bulk load data."}); err != nil {
			return err
		}
		return r.finishBatch()
	}
	cols, rows, err := decodeBulk(data, c.tdsVersion)
	if err != nil {
		if err := c.protocolError(r, "bulk load", err); err != nil {
			return err
		}
		return r.finishBatch()
	}
	n, err := c.bulkInsert(rctx, r, t.table, cols, rows)
	if err := c.tmErr(rctx, r, err); err != nil {
		return err
	}
	d := tds.Done{CurCmd: curCmdBulk, RowCount: uint64(max(n, 0)), Status: tds.DoneCount}
	if r.sawError {
		d = tds.Done{CurCmd: curCmdBulk, Status: tds.DoneError}
	}
	r.pending, r.hasPending = d, true
	return r.finishBatch()
}

// decodeBulk decodes the client's COLMETADATA and rows.
func decodeBulk(data []byte, ver uint32) ([]tds.Column, [][]any, error) {
	toks, err := tds.DecodeTokens(data, ver)
	if err != nil {
		return nil, nil, err
	}
	var (
		cols []tds.Column
		rows [][]any
	)
	for i := range toks {
		switch toks[i].Type {
		case tds.TokenColMetadata:
			cols = toks[i].Columns
		case tds.TokenRow, tds.TokenNBCRow:
			if cols == nil {
				return nil, nil, errors.New("row before COLMETADATA")
			}
			rows = append(rows, toks[i].Row)
		}
	}
	if cols == nil {
		return nil, nil, errors.New("no COLMETADATA")
	}
	return cols, rows, nil
}

// bulkInsert inserts rows with parameterised multi-row INSERT statements,
// all in one transaction (the client's, or one of its own). SQL errors are
// written to r by the engine; the rows inserted are counted.
func (c *conn) bulkInsert(ctx context.Context, r *responder, table string, cols []tds.Column, rows [][]any) (int64, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	names := make([]string, len(cols))
	for i, col := range cols {
		names[i] = quoteName(col.Name)
	}
	own := c.sess.TranCount() == 0
	if own {
		if _, err := c.sess.Begin("", 0); err != nil {
			return 0, err
		}
	}
	cw := &countingWriter{ResultWriter: r}
	var text string
	textRows := 0
	params := make([]sqlengine.Param, 0, bulkChunkRows*len(cols))
	for start := 0; start < len(rows) && !cw.failed; start += bulkChunkRows {
		chunk := rows[start:min(start+bulkChunkRows, len(rows))]
		if len(chunk) != textRows {
			text, textRows = bulkInsertText(table, names, len(chunk)), len(chunk)
		}
		params = params[:0]
		for _, row := range chunk {
			for j, v := range row {
				params = append(params, sqlengine.Param{Name: fmt.Sprintf("@p%d", len(params)+1), Type: cols[j].Type, Value: v})
			}
		}
		if err := c.sess.ExecBatch(ctx, text, params, cw); err != nil {
			if own {
				_ = c.sess.Rollback("")
			}
			return cw.rows, err
		}
	}
	if own {
		if cw.failed {
			return 0, c.sess.Rollback("")
		}
		if err := c.sess.Commit(""); err != nil {
			return 0, err
		}
	}
	return cw.rows, nil
}

// bulkInsertText is "INSERT INTO table (cols) VALUES (@p1, …), (…)".
func bulkInsertText(table string, names []string, rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (" + strings.Join(names, ", ") + ") VALUES ")
	p := 1
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j := range names {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "@p%d", p)
			p++
		}
		b.WriteByte(')')
	}
	return b.String()
}

// countingWriter passes errors and messages through, counts the rows the
// statements affected and swallows their DONEs (the bulk load answers with
// one DONE of its own).
type countingWriter struct {
	sqlengine.ResultWriter
	rows   int64
	failed bool
}

func (w *countingWriter) StatementDone(d sqlengine.StatementResult) error {
	if d.Error {
		w.failed = true
	} else {
		w.rows += d.RowCount
	}
	return nil
}

func (w *countingWriter) Error(e tds.ServerError) error {
	w.failed = true
	return w.ResultWriter.Error(e)
}
