// Package route decides where each client request goes: the primary or a
// replica, with read-your-writes, lag- and load-aware replica choice,
// per-backend circuit breakers (sony/gobreaker), the session-state replay
// plan (StateLog) and the retry rule for reads. See docs/routing.md for the
// rules.
//
// Router.Route is pure: it reads an immutable topology (swapped by Update,
// or by Watch from a health.Checker) and the request's classification
// (package policy), and does no I/O. The proxy session owns the I/O.
//
// # How a session uses it
//
// Per server: health.New(...) and checker.CheckNow before listening, then
// checker.Start; route.NewBreakers, route.New(Config{Primary: <name of the
// configured primary backend>}), router.Watch(checker); /backends serves
// checker.Handler(); on reload checker.Reconfigure and router.SetConfig.
//
// Per session: one StateLog (NewStateLog), the time of its last write, and
// for each backend connection it holds the StateLog version it was synced
// to (0 after login or a reset).
//
// Per request:
//
//  1. Classify; fill RequestInfo (Class, Text, RPC, TxDescriptor from
//     ALL_HEADERS, CreatesHandle for sp_prepare/sp_prepexec/sp_cursoropen/
//     sp_cursorprepare/sp_cursorprepexec, PrimaryHint = HasPrimaryHint(text))
//     and SessionInfo (ReadOnlyIntent from LOGIN7, Tx from the state
//     tracker, Pinned from StateLog.Pinned, PinnedBackend when the held
//     transaction or pinned state is on a replica, LastWrite, Database).
//  2. d := router.Route(&req, &sess). d.Err != nil: answer ERROR+DONE with
//     its number, class, state and message; forward nothing.
//  3. w, err := d.Start() (or done, err := d.Begin(), which allocates
//     its callback; below, done(x) is w.End(x)). ErrBreakerOpen: route again with
//     req.Exclude = d.Backend (once), else answer 40613.
//  4. Take the session's connection to d.Backend (log in if it has none;
//     a login failure is done(err) and a retry as in 7). If the session holds
//     a transaction or pinned state on another backend, the state is lost
//     (failover): answer 40613 rather than silently switching.
//  5. batch, v := log.Replay(conn.synced); when batch != "", run it on that
//     connection without relaying its response; an ERROR in it: log.Pin
//     (ReasonSetOption) and go back to 2. Then conn.synced = v.
//  6. Forward the request and stream the response, noting whether any byte
//     reached the client.
//  7. An I/O failure: done(ioErr); if d2, ok := router.Retry(&req, &sess, d,
//     sentToClient); ok, go to 3 with d2; else fail as today (40197).
//  8. Success (SQL errors included): done(nil); log.Record(&req); if
//     d.Write, LastWrite = time.Now(). On a RESETCONNECTION acknowledgement:
//     log.Reset() and reset the session's other connections before their
//     next use.
package route
