package route

import (
	"strings"

	"github.com/tdsproxy/tdsproxy/policy"
)

// replayableSets are the SET options whose effect is connection state that
// replaying the statement recreates exactly.
var replayableSets = map[string]bool{
	"ansi_defaults": true, "ansi_null_dflt_on": true, "ansi_null_dflt_off": true, "ansi_nulls": true,
	"ansi_padding": true, "ansi_warnings": true, "arithabort": true, "arithignore": true,
	"concat_null_yields_null": true, "cursor_close_on_commit": true, "datefirst": true,
	"dateformat": true, "deadlock_priority": true, "language": true, "lock_timeout": true,
	"nocount": true, "numeric_roundabort": true, "quoted_identifier": true, "rowcount": true,
	"textsize": true, "transaction_isolation_level": true, "xact_abort": true,
	"query_governor_cost_limit": true, "statistics": true, "concat_null_yields_null_on": true,
}

// pinReason returns why running st ties the session to the connection it
// ran on, or ReasonRead when it does not. SET and USE inside an RPC
// (sp_executesql) end with the call and tie nothing.
func pinReason(st *policy.Statement, rpc bool) Reason {
	switch st.Kind {
	case policy.KindExecuteAs, policy.KindRevert:
		return ReasonExecuteAs
	case policy.KindCursor:
		return ReasonCursor
	case policy.KindUnprepare:
		// sp_unprepare, sp_cursorfetch, sp_cursorclose…: the handle lives
		// on the connection that made it.
		return ReasonPrepared
	case policy.KindDeclare:
		if st.Type == "cursor" {
			return ReasonCursor
		}
	case policy.KindSet:
		switch {
		case st.Type == "variable" || st.Type == "":
			return ReasonRead
		case st.Type == "context_info":
			return ReasonContextInfo
		case rpc:
			return ReasonRead
		case st.Depth > 0 || st.Dynamic:
			return ReasonConditionalState
		case !replayableSets[st.Type]:
			return ReasonSetOption
		}
	case policy.KindUse:
		if !rpc && (st.Depth > 0 || st.Dynamic) {
			return ReasonConditionalState
		}
	case policy.KindExec:
		if st.Proc != nil {
			switch strings.ToLower(st.Proc.Name) {
			case "sp_setapprole", "sp_unsetapprole":
				return ReasonAppRole
			case "sp_set_session_context":
				return ReasonContextInfo
			case "sp_getapplock", "sp_releaseapplock":
				return ReasonAppLock
			}
		}
	}
	return ReasonRead
}

// setEntry is one replayable SET: key identifies the option, so that only
// its last value is replayed.
type setEntry struct {
	key, text string
}

// StateLog records the session state a client set with USE and SET, so
// that every backend connection the session uses can be given the same
// state before its first use (Replay), and notices state it cannot replay,
// which pins the session to the connection that holds it (Pinned). One per
// session; not safe for concurrent use (the session's request loop owns it).
type StateLog struct {
	metrics *Metrics
	use     string     // the last top-level USE, as written
	sets    []setEntry // the last SET of each option, in order of last use
	version uint64     // bumped on every change; 0 is the login state
	pinned  bool
	why     Reason
}

// NewStateLog returns an empty log (the login state). metrics may be nil.
func NewStateLog(metrics *Metrics) *StateLog { return &StateLog{metrics: metrics} }

// Record notes the state changes of a request that ran (whatever its
// outcome: a batch may change state before an error). req.Class and
// req.Text must be those the request was routed with.
func (l *StateLog) Record(req *RequestInfo) {
	if req.CreatesHandle {
		l.Pin(ReasonPrepared)
	}
	c := req.Class
	if c == nil {
		return
	}
	for i := range c.Statements {
		st := &c.Statements[i]
		if why := pinReason(st, req.RPC); why != ReasonRead {
			l.Pin(why)
			continue
		}
		for _, a := range st.Accesses {
			if a.Object != nil && a.Object.Temp {
				l.Pin(ReasonTempTable)
			}
		}
		if req.RPC || st.Depth > 0 || st.Dynamic {
			continue
		}
		switch {
		case st.Kind == policy.KindUse:
			if text, ok := stmtText(req.Text, st); ok {
				l.use = text
				l.version++
			} else {
				l.Pin(ReasonConditionalState)
			}
		case st.Kind == policy.KindSet && replayableSets[st.Type]:
			text, ok := stmtText(req.Text, st)
			if !ok {
				l.Pin(ReasonSetOption)
				continue
			}
			l.addSet(setKey(st.Type, text), text)
		}
	}
}

// stmtText returns the statement's text without a trailing semicolon.
func stmtText(text string, st *policy.Statement) (string, bool) {
	if st.Start < 0 || st.End > len(text) || st.Start >= st.End {
		return "", false
	}
	return strings.TrimRight(strings.TrimSpace(text[st.Start:st.End]), ";"), true
}

// setKey identifies the option a SET statement sets: its type, and for
// SET STATISTICS the statistic (IO, TIME, XML, PROFILE).
func setKey(typ, text string) string {
	if typ != "statistics" {
		return typ
	}
	f := strings.Fields(strings.ToLower(text))
	if len(f) >= 3 {
		return typ + " " + f[2]
	}
	return typ
}

func (l *StateLog) addSet(key, text string) {
	for i, e := range l.sets {
		if e.key == key {
			l.sets = append(l.sets[:i], l.sets[i+1:]...)
			break
		}
	}
	l.sets = append(l.sets, setEntry{key: key, text: text})
	l.version++
}

// Pin ties the session to its current connection for good (until Reset),
// for a reason the session found itself (e.g. a RETURNVALUE handle, or a
// replay that failed). The first pin is counted in
// tdsproxy_router_pins_total.
func (l *StateLog) Pin(why Reason) {
	if l.pinned {
		return
	}
	l.pinned, l.why = true, why
	if l.metrics != nil {
		l.metrics.pins.WithLabelValues(why.String()).Inc()
	}
}

// Pinned reports whether the session is pinned, and why.
func (l *StateLog) Pinned() (Reason, bool) { return l.why, l.pinned }

// Version identifies the recorded state: a connection that was given the
// state of version v needs no replay while Version() == v.
func (l *StateLog) Version() uint64 { return l.version }

// Replay returns the batch that gives a backend connection the session's
// state, for a connection that already has the state of version synced (0:
// a fresh or reset connection, which has the login state), and the version
// it will have. An empty batch means nothing to send. The batch is the
// whole state, not a delta: the USE first, then the SETs in order.
func (l *StateLog) Replay(synced uint64) (batch string, version uint64) {
	if synced == l.version || (l.use == "" && len(l.sets) == 0) {
		return "", l.version
	}
	var b strings.Builder
	if l.use != "" {
		b.WriteString(l.use)
		b.WriteString(";\n")
	}
	for _, e := range l.sets {
		b.WriteString(e.text)
		b.WriteString(";\n")
	}
	return b.String(), l.version
}

// Reset returns the log to the login state, as a RESETCONNECTION does to
// the session (temp tables dropped, options and database reset): the
// session is no longer pinned. The version moves on, so every connection
// is brought back to the login state by its own reset.
func (l *StateLog) Reset() {
	l.use, l.sets = "", l.sets[:0]
	l.pinned, l.why = false, 0
	l.version++
}
