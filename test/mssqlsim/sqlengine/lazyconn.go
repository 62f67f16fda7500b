package sqlengine

import (
	"context"
	"database/sql/driver"
	"sync"
)

// lazyConn is a session's SQLite connection, opened on its first use. A
// connection to master with the other databases attached holds four file
// descriptors (each database file and its WAL), so a simulator that opened
// one per login would run out of descriptors at a few thousand idle
// clients; a session that only logs in, pings ("select 1;" is answered
// without SQLite) and idles holds none.
//
// It implements the driver interfaces the engine uses (Conn, ExecerContext,
// QueryerContext, ConnPrepareContext). Statements and rows it returns are
// the underlying connection's. Like the session, it is used by one
// goroutine at a time; mu only orders opening against a Close from another
// goroutine (DB.Close), so that no descriptor is opened after Close.
type lazyConn struct {
	open func() (driver.Conn, error) // opens and sets up the connection

	mu     sync.Mutex
	c      driver.Conn
	closed bool
}

var (
	_ driver.Conn               = (*lazyConn)(nil)
	_ driver.ExecerContext      = (*lazyConn)(nil)
	_ driver.QueryerContext     = (*lazyConn)(nil)
	_ driver.ConnPrepareContext = (*lazyConn)(nil)
)

// get returns the connection, opening it on first use.
func (l *lazyConn) get() (driver.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c != nil {
		return l.c, nil
	}
	if l.closed {
		return nil, errClosed
	}
	c, err := l.open()
	if err != nil {
		return nil, err
	}
	l.c = c
	return c, nil
}

// isOpen reports whether the connection has been opened (and not closed).
func (l *lazyConn) isOpen() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c != nil
}

// Prepare implements driver.Conn.
func (l *lazyConn) Prepare(query string) (driver.Stmt, error) {
	c, err := l.get()
	if err != nil {
		return nil, err
	}
	return c.Prepare(query)
}

// PrepareContext implements driver.ConnPrepareContext.
func (l *lazyConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	c, err := l.get()
	if err != nil {
		return nil, err
	}
	return c.(driver.ConnPrepareContext).PrepareContext(ctx, query)
}

// Begin implements driver.Conn (the engine runs BEGIN as a statement).
func (l *lazyConn) Begin() (driver.Tx, error) {
	c, err := l.get()
	if err != nil {
		return nil, err
	}
	return c.Begin() //nolint:staticcheck // driver.Conn requires Begin
}

// ExecContext implements driver.ExecerContext.
func (l *lazyConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c, err := l.get()
	if err != nil {
		return nil, err
	}
	return c.(driver.ExecerContext).ExecContext(ctx, query, args)
}

// QueryContext implements driver.QueryerContext.
func (l *lazyConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c, err := l.get()
	if err != nil {
		return nil, err
	}
	return c.(driver.QueryerContext).QueryContext(ctx, query, args)
}

// Close closes the connection if it was opened; later uses fail.
func (l *lazyConn) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.c == nil {
		return nil
	}
	c := l.c
	l.c = nil
	return c.Close()
}
