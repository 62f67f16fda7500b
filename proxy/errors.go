package proxy

import (
	"errors"
	"fmt"

	"github.com/tdsproxy/tdsproxy/tds"
)

// Reason names a class of session failure. It is the value of the reason
// label of tdsproxy_client_errors_total and picks the row of the error table
// (errorTable) that decides what a client sees.
type Reason string

// Failure reasons. Each one has exactly one row in errorTable.
const (
	ReasonBackendUnavailable Reason = "backend_unavailable"  // dialing or logging in to a backend failed (not an auth error)
	ReasonBackendLoginFailed Reason = "backend_login_failed" // the backend refused the login; its own tokens are relayed
	ReasonBackendLost        Reason = "backend_lost"         // the backend connection broke mid-session
	ReasonRoutingLoop        Reason = "routing_loop"         // the backend redirected the login too many times
	ReasonUnsupportedAuth    Reason = "unsupported_auth"     // SSPI/integrated or federated authentication
	ReasonEncryptionRequired Reason = "encryption_required"  // the client does not encrypt but the proxy requires it
	ReasonTooManyConns       Reason = "too_many_connections" // MaxClientConns reached
	ReasonLoginTimeout       Reason = "login_timeout"        // the client did not finish PRELOGIN/TLS/LOGIN7 in time
	ReasonHandshake          Reason = "handshake"            // PRELOGIN/TLS/LOGIN7 failed (bad bytes, TLS error, client went away)
	ReasonIdleTimeout        Reason = "idle_timeout"         // no request for IdleTimeout
	ReasonMessageTooLarge    Reason = "message_too_large"    // a request exceeded MaxMessageSize
	ReasonProtocol           Reason = "protocol"             // malformed or unexpected client input after login
	ReasonClientGone         Reason = "client_gone"          // the client disconnected in the middle of a request
	ReasonShutdown           Reason = "shutdown"             // the proxy is shutting down
	ReasonInternal           Reason = "internal"             // a bug: a recovered panic or an impossible state
)

var allReasons = []Reason{ReasonBackendUnavailable, ReasonBackendLoginFailed, ReasonBackendLost,
	ReasonRoutingLoop, ReasonUnsupportedAuth, ReasonEncryptionRequired, ReasonTooManyConns,
	ReasonLoginTimeout, ReasonHandshake, ReasonIdleTimeout, ReasonMessageTooLarge, ReasonProtocol,
	ReasonClientGone, ReasonShutdown, ReasonInternal}

// wireError is what a client receives for a failure: the fields of an ERROR
// token ([MS-TDS] §2.2.7.10).
type wireError struct {
	Number  int32
	Class   uint8
	State   uint8
	Message string
}

// errorRow is one row of the error table. Format receives the failure's
// arguments (see SessionError.Args). Silent rows are never sent: the client
// is not in a state to read a token (it has not finished logging in, or is
// idle and not expecting a reply), so the connection is just closed.
type errorRow struct {
	Number int32
	Class  uint8
	State  uint8
	Format string
	Silent bool
}

// errorTable maps every internal failure to what SQL Server would have sent.
// Numbers are SQL Server's own where one fits, so that drivers' retry logic
// recognises them (40613 and 40197 are in every driver's transient list);
// 18456 is the login failure every client understands.
var errorTable = map[Reason]errorRow{
	ReasonBackendUnavailable: {40613, 17, 1, "Database '%s' on server '%s' is not currently available. Please retry the connection later. (tdsproxy: %s)", false},
	ReasonBackendLoginFailed: {18456, 14, 1, "Login failed for user '%s'. (tdsproxy: %s)", false},
	ReasonBackendLost:        {40197, 20, 1, "The service has encountered an error processing your request. Please try again. (tdsproxy: the connection to the backend was lost: %s)", false},
	ReasonRoutingLoop:        {40613, 17, 2, "Database '%s' on server '%s' is not currently available. Please retry the connection later. (tdsproxy: %s)", false},
	ReasonUnsupportedAuth:    {18456, 14, 5, "Login failed for user '%s'. tdsproxy supports SQL Server authentication (user name and password) only; %s is not supported.", false},
	ReasonEncryptionRequired: {0, 20, 4, "tdsproxy requires encryption: connect with Encrypt=true (or strict).", true},
	ReasonTooManyConns:       {17809, 20, 1, "Could not connect because the maximum number of '%d' user connections has already been reached. (tdsproxy: max-client-conns)", false},
	ReasonLoginTimeout:       {0, 20, 1, "login timeout", true},
	ReasonHandshake:          {0, 20, 2, "handshake failed", true},
	ReasonIdleTimeout:        {0, 20, 3, "idle timeout", true},
	ReasonMessageTooLarge:    {4002, 20, 2, "The incoming tabular data stream (TDS) protocol stream is incorrect. The request of more than %d bytes exceeds tdsproxy's max-message-size.", false},
	ReasonProtocol:           {4002, 20, 1, "The incoming tabular data stream (TDS) protocol stream is incorrect. (tdsproxy: %s)", false},
	ReasonClientGone:         {0, 20, 5, "client gone", true},
	ReasonShutdown:           {6005, 14, 1, "SHUTDOWN is in progress. (tdsproxy is shutting down; retry the connection)", false},
	ReasonInternal:           {40197, 20, 2, "The service has encountered an error processing your request. Please try again. (tdsproxy internal error; see the proxy log for session %s)", false},
}

// SessionError is an internal failure of a client session, carrying its
// Reason and the arguments for the client-facing message.
type SessionError struct {
	Reason Reason
	Args   []any // arguments for the row's Format, in order
	Err    error // the underlying cause, for logs (may be nil)
}

func (e *SessionError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Reason, e.Err)
	}
	return string(e.Reason)
}

func (e *SessionError) Unwrap() error { return e.Err }

// failf builds a *SessionError.
func failf(r Reason, cause error, args ...any) *SessionError {
	return &SessionError{Reason: r, Args: args, Err: cause}
}

// classify maps any error to its SessionError; errors that are not
// SessionErrors are internal.
func classify(err error) *SessionError {
	var se *SessionError
	if errors.As(err, &se) {
		return se
	}
	return &SessionError{Reason: ReasonInternal, Args: []any{"?"}, Err: err}
}

// toWire is the one function that turns a failure into what the client sees.
// ok is false when the failure must not be sent (the row is Silent).
func toWire(se *SessionError) (we wireError, ok bool) {
	row, found := errorTable[se.Reason]
	if !found {
		row = errorTable[ReasonInternal]
	}
	if row.Silent {
		return wireError{}, false
	}
	msg := row.Format
	if len(se.Args) > 0 || containsVerb(row.Format) {
		msg = fmt.Sprintf(row.Format, se.Args...)
	}
	return wireError{Number: row.Number, Class: row.Class, State: row.State, Message: msg}, true
}

// appendErrorDone appends what a client receives for a failure: an ERROR
// token and a final DONE with DONE_ERROR, for the session's TDS version.
// Every error the proxy itself sends goes through toWire and this function.
func appendErrorDone(dst []byte, we wireError, tdsVersion uint32) []byte {
	dst = tds.AppendMessage(dst, tds.TokenError, tds.ServerError{
		Number: we.Number, State: we.State, Class: we.Class,
		Message: we.Message, ServerName: "tdsproxy",
	}, tdsVersion)
	return tds.AppendDone(dst, tds.TokenDone, tds.Done{Status: tds.DoneError}, tdsVersion)
}

func containsVerb(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '%' && s[i+1] != '%' {
			return true
		}
	}
	return false
}
