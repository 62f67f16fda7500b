package load

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
)

// DefaultConnectTimeout bounds one connection's dial, PRELOGIN, LOGIN7 and
// first ping when Options.ConnectTimeout (-connect-timeout) is not set.
const DefaultConnectTimeout = 30 * time.Second

// ErrConnectTimeout is wrapped by the error of a connection whose login did
// not complete within the connect timeout.
var ErrConnectTimeout = errors.New("no login response within the connect timeout")

// OpenDB returns a database/sql handle for a go-mssqldb DSN whose
// connections can be abandoned by openConn: go-mssqldb reads the login
// response without watching the context, so a server that accepts a
// connection and never answers (one out of file descriptors, say) would
// hold the caller forever.
func OpenDB(dsn string) (*sql.DB, error) {
	c, err := mssql.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	c.Dialer = &trackingDialer{}
	return sql.OpenDB(c), nil
}

// trackingDialer dials TCP and hands each socket to the attempt (if any)
// found in the dial context, so that the attempt can close it.
type trackingDialer struct{ nd net.Dialer }

func (d *trackingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := d.nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if a, ok := ctx.Value(attemptKey{}).(*attempt); ok && !a.track(c) {
		c.Close()
		return nil, errors.New("connection attempt abandoned")
	}
	return c, nil
}

type attemptKey struct{}

// attempt is one openConn call: the sockets dialed for it (database/sql
// may retry), closed at once when it is abandoned.
type attempt struct {
	mu        sync.Mutex
	conns     []net.Conn
	abandoned bool
}

// track records c; false means the attempt was abandoned (close c).
func (a *attempt) track(c net.Conn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.abandoned {
		return false
	}
	a.conns = append(a.conns, c)
	return true
}

// abandon closes the attempt's sockets: the driver's pending read fails and
// the goroutine that waits in it returns.
func (a *attempt) abandon() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.abandoned = true
	for _, c := range a.conns {
		_ = c.Close()
	}
	a.conns = nil
}

// openConn opens one connection from db and pings it. It returns within
// timeout (ErrConnectTimeout) or as soon as ctx ends (context.Cause(ctx)),
// whether or not the driver does: the attempt's socket is closed if db came
// from OpenDB, and the connection is closed if it completes later.
func openConn(ctx context.Context, db *sql.DB, timeout time.Duration) (*sql.Conn, error) {
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	a := &attempt{}
	actx, cancel := context.WithTimeout(context.WithValue(ctx, attemptKey{}, a), timeout)
	defer cancel()
	type result struct {
		c   *sql.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := db.Conn(actx)
		if err == nil {
			if err = c.PingContext(actx); err != nil {
				_ = c.Close()
				c = nil
			}
		}
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, timeoutError(ctx, actx, timeout, r.err)
		}
		return r.c, nil
	case <-actx.Done():
		a.abandon()
		go func() {
			if r := <-done; r.c != nil {
				_ = r.c.Close()
			}
		}()
		return nil, timeoutError(ctx, actx, timeout, nil)
	}
}

// timeoutError names why an attempt ended when its context did: the
// caller's cancellation (e.g. a signal) or the connect timeout. A driver
// error at or after the deadline (a dial that timed out on it, reported
// just before the context's own timer fired) is a timeout too.
func timeoutError(ctx, actx context.Context, timeout time.Duration, err error) error {
	deadline, _ := actx.Deadline()
	switch {
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case actx.Err() != nil || !time.Now().Before(deadline):
		if err != nil {
			return fmt.Errorf("%w (%s; -connect-timeout): %w", ErrConnectTimeout, timeout, err)
		}
		return fmt.Errorf("%w (%s; -connect-timeout)", ErrConnectTimeout, timeout)
	}
	return err
}
