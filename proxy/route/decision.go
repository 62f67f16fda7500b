package route

import (
	"fmt"
	"strings"
	"time"

	"github.com/tdsproxy/tdsproxy/policy"
)

// Target is where a request goes.
type Target uint8

// Targets.
const (
	// TargetNone: the request is not forwarded; Decision.Err is answered.
	TargetNone Target = iota
	TargetPrimary
	TargetReplica
	numTargets
)

var targetNames = [numTargets]string{"none", "primary", "replica"}

// String returns "none", "primary" or "replica" (the metric label).
func (t Target) String() string {
	if t < numTargets {
		return targetNames[t]
	}
	return fmt.Sprintf("Target(%d)", uint8(t))
}

// Reason says why a request went where it went, or why a session is pinned.
// The names are metric label values: a fixed, small set.
type Reason uint8

// Reasons.
const (
	ReasonRead             Reason = iota // every statement reads: a replica
	ReasonReadOnlyIntent                 // ApplicationIntent=ReadOnly session: a replica, always
	ReasonWrite                          // DML, SELECT INTO, bulk load, …
	ReasonDDL                            // CREATE, ALTER, DROP, GRANT, …
	ReasonExec                           // a procedure call not listed as read-only, dynamic SQL
	ReasonTransaction                    // a transaction is open or the request controls one
	ReasonUnknown                        // the classifier could not classify the request
	ReasonPinned                         // the session is pinned to the primary (see PinReason)
	ReasonHint                           // the /* tdsproxy:primary */ hint
	ReasonReadYourWrites                 // the session wrote recently and no replica has caught up
	ReasonNoReplica                      // no replica qualifies (all down, lagging or open breakers)
	ReasonTempTable                      // temporary tables live on one connection
	ReasonCursor                         // server cursors live on one connection
	ReasonExecuteAs                      // EXECUTE AS / REVERT / SETUSER
	ReasonAppRole                        // sp_setapprole
	ReasonContextInfo                    // SET CONTEXT_INFO, sp_set_session_context
	ReasonAppLock                        // sp_getapplock
	ReasonPrepared                       // prepared statement handles (sp_prepare, sp_cursorprepare, …)
	ReasonSetOption                      // a SET option that cannot be replayed
	ReasonConditionalState               // SET or USE inside IF/WHILE/dynamic SQL: its effect is unknown
	ReasonReadOnlyWrite                  // a write from a ReadOnly-intent session: error 3906
	ReasonUnavailable                    // no backend can take the request: error 40613
	numReasons
)

var reasonNames = [numReasons]string{
	"read", "read_only_intent", "write", "ddl", "exec", "transaction", "unknown", "pinned", "hint",
	"read_your_writes", "no_replica", "temp_table", "cursor", "execute_as", "app_role", "context_info",
	"app_lock", "prepared", "set_option", "conditional_state", "read_only_write", "unavailable",
}

// String returns the reason's metric label value.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// TxState is what the session knows of its transaction (the proxy package's
// stateTracker: ENVCHANGE, the client's descriptor, DONE_INXACT).
type TxState uint8

// Transaction states; TxUnknown routes as TxOpen.
const (
	TxNone TxState = iota
	TxOpen
	TxUnknown
)

// RequestInfo is what the router needs to know of one request.
type RequestInfo struct {
	// Class is the request's classification (policy.Classifier); nil is
	// treated as unknown.
	Class *policy.Classification
	// Text is the classified text (the batch, or the statement of
	// sp_executesql); StateLog.Record takes SET and USE statements from it.
	// Route does not read it.
	Text string
	// RPC is set for RPC requests: SET and USE inside sp_executesql are
	// scoped to that call and are not session state.
	RPC bool
	// TxDescriptor is the client's ALL_HEADERS transaction descriptor (0 for
	// none): a client that sends one believes a transaction is open.
	TxDescriptor uint64
	// CreatesHandle is set for RPCs that return a handle the client reuses on
	// the same connection: sp_prepare, sp_prepexec, sp_cursoropen,
	// sp_cursorprepare, sp_cursorprepexec.
	CreatesHandle bool
	// PrimaryHint is HasPrimaryHint(text).
	PrimaryHint bool
	// Exclude names a backend not to choose (a retry's failed backend).
	Exclude string
}

// SessionInfo is what the router needs to know of the session.
type SessionInfo struct {
	// ReadOnlyIntent: the client logged in with ApplicationIntent=ReadOnly.
	ReadOnlyIntent bool
	// Tx is the tracked transaction state.
	Tx TxState
	// PinnedBackend names the backend holding the session's open transaction
	// or pinned state when it is not the primary: ReadOnly-intent sessions
	// keep theirs on a replica. "" means the primary.
	PinnedBackend string
	// Pinned: the session must stay on the primary (StateLog.Pinned).
	Pinned bool
	// LastWrite is when the session's last write (any request not routed as
	// a read) completed; zero if it never wrote.
	LastWrite time.Time
	// Database is the current database, for error messages.
	Database string
}

// Error is an answer the proxy sends itself instead of forwarding: the
// fields of an ERROR token ([MS-TDS] §2.2.7.10), as SQL Server words them.
type Error struct {
	Number  int32
	Class   uint8
	State   uint8
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("error %d: %s", e.Number, e.Message) }

// readOnlyError is SQL Server's own answer to a write on a read-only
// database (error 3906).
func readOnlyError(db string) *Error {
	if db == "" {
		db = "(current)"
	}
	return &Error{Number: 3906, Class: 16, State: 1,
		Message: fmt.Sprintf("Failed to update database \"%s\" because the database is read-only.", db)}
}

// unavailableError is the transient error drivers retry on (40613, class 17).
func unavailableError(db, what string) *Error {
	if db == "" {
		db = "(current)"
	}
	return &Error{Number: 40613, Class: 17, State: 3,
		Message: fmt.Sprintf("Database '%s' on server 'tdsproxy' is not currently available. Please retry the connection later. (tdsproxy: %s)", db, what)}
}

// Decision is where one request goes.
type Decision struct {
	Target Target
	Reason Reason
	// Backend and Addr name the chosen backend (empty for TargetNone).
	Backend, Addr string
	// Err is set, with TargetNone, when the proxy answers itself.
	Err *Error
	// Write: the request is not a pure read (DML, DDL, a procedure call,
	// transaction control, unknown…). When a Write request completes on the
	// primary, the session sets SessionInfo.LastWrite (read-your-writes).
	Write bool
	// Retryable: a read that may be retried once elsewhere (Router.Retry)
	// if it fails before any byte reached the client.
	Retryable bool

	ref *backendRef
}

// primaryHint is the comment that sends one request to the primary.
const primaryHint = "tdsproxy:primary"

// HasPrimaryHint reports whether text holds the /* tdsproxy:primary */ hint
// (case-insensitive, spaces inside the comment allowed) in a block comment.
func HasPrimaryHint(text string) bool {
	for i := 0; i+2 <= len(text); {
		j := strings.Index(text[i:], "/*")
		if j < 0 {
			return false
		}
		i += j + 2
		end := strings.Index(text[i:], "*/")
		if end < 0 {
			return false
		}
		body := strings.TrimSpace(text[i : i+end])
		if len(body) == len(primaryHint) && strings.EqualFold(body, primaryHint) {
			return true
		}
		i += end + 2
	}
	return false
}
