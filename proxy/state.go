package proxy

import (
	"encoding/binary"
	"fmt"
	"sync"
	"unicode/utf16"

	"github.com/tdsproxy/tdsproxy/tds"
)

// TxState is what the proxy knows about a session's transaction.
type TxState int

const (
	// TxNone: no transaction is open (autocommit), on positive evidence.
	TxNone TxState = iota
	// TxOpen: a transaction is open (the backend reported it, or the client's
	// transaction descriptor says so).
	TxOpen
	// TxUnknown: the signals disagree or are missing (e.g. a server that does
	// not report transactions with ENVCHANGE, DESIGN.md decision 8). Treat as
	// open: the connection is neither free nor routable until a backend
	// probe (SELECT @@TRANCOUNT) or an ENVCHANGE settles it.
	TxUnknown
)

func (t TxState) String() string {
	switch t {
	case TxNone:
		return "none"
	case TxOpen:
		return "open"
	case TxUnknown:
		return "unknown"
	}
	return fmt.Sprintf("TxState(%d)", int(t))
}

// ENVCHANGE types the tracker reads ([MS-TDS] §2.2.7.9).
const (
	envDatabase      = 1
	envLanguage      = 2
	envPacketSize    = 4
	envBeginTran     = 8
	envCommitTran    = 9
	envRollbackTran  = 10
	envEnlistDTC     = 11
	envDefectTran    = 12
	envPromoteTran   = 15
	envTranEnded     = 17
	envResetAck      = 18
	envRouting       = 20
	envRoutingEnhanc = 21
)

// DONE status bits the tracker reads ([MS-TDS] §2.2.7.6).
const (
	doneMore   = 0x0001
	doneInxact = 0x0004
)

// Request status bits ([MS-TDS] §2.2.3.1.2).
const (
	statusResetConn         = 0x08
	statusResetConnSkipTran = 0x10
)

// SessionState is a snapshot of a session's server-side state as tracked
// from the token stream. Later issues route and pool on it.
type SessionState struct {
	Tx            TxState
	TxDescriptor  uint64 // from ENVCHANGE 8; 0 when none is open
	Database      string // current database (ENVCHANGE 1)
	LoginDatabase string // the database after login; a reset returns to it
	Language      string // current language (ENVCHANGE 2)
	PacketSize    int    // backend packet size (ENVCHANGE 4)
	Resets        int    // reset acknowledgements seen (ENVCHANGE 18)
	Requests      int    // requests observed
}

// stateTracker follows one session's state. The request loop feeds it
// (beginRequest, envChange, done); other goroutines read it with Snapshot.
//
// Transaction state combines three signals (DESIGN.md decision 8):
// ENVCHANGE 8/9/10/11/12/15/17 from the backend (authoritative when sent),
// the client's ALL_HEADERS transaction descriptor, and DONE_INXACT from
// servers that set it. It never concludes "no transaction" from the absence
// of a signal: a disagreement leaves TxUnknown.
type stateTracker struct {
	mu sync.Mutex
	s  SessionState

	// resetPending is the RESETCONNECTION kind (statusResetConn or
	// statusResetConnSkipTran) of the current request until its ack.
	resetPending uint8
	// loginLanguage is restored on a reset.
	loginLanguage string
	// inxactSeen: the server sets DONE_INXACT, so its absence means something.
	inxactSeen bool
	// reqMayTx: the current request's text may hold transaction-control
	// statements; reqTxEnv: its response carried a transaction ENVCHANGE.
	reqMayTx, reqTxEnv bool
	// reportsTextTx: this server has answered T-SQL transaction control
	// with ENVCHANGE (SQL Server does; Babelfish does not).
	reportsTextTx bool
}

// Snapshot returns a copy of the current state.
func (t *stateTracker) Snapshot() SessionState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.s
}

// loginDone records the state after a successful login.
func (t *stateTracker) loginDone() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.s.LoginDatabase = t.s.Database
	t.loginLanguage = t.s.Language
}

// beginRequest notes a client request: its first packet's status (reset
// bits), the client's transaction descriptor when the request carries
// ALL_HEADERS, and whether its text may control transactions (mayTx: see
// mayControlTx).
func (t *stateTracker) beginRequest(status uint8, desc uint64, hasDesc, mayTx bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.s.Requests++
	t.reqMayTx, t.reqTxEnv = mayTx, false
	switch {
	case status&statusResetConn != 0:
		t.resetPending = statusResetConn
	case status&statusResetConnSkipTran != 0:
		t.resetPending = statusResetConnSkipTran
	default:
		t.resetPending = 0
	}
	if !hasDesc {
		return
	}
	// A client that sends a non-zero descriptor believes a transaction is
	// open (it learnt the descriptor from an ENVCHANGE 8, possibly on a
	// server leg the proxy did not see). Never let that coexist with TxNone.
	if desc != 0 && t.s.Tx == TxNone && t.resetPending != statusResetConn {
		t.s.Tx = TxUnknown
	}
}

// endResponse closes the current request. A request whose text may have
// begun or ended a transaction, answered without any transaction ENVCHANGE
// by a server not known to report them, leaves the state unknown: only a
// backend probe (@@TRANCOUNT) or a later ENVCHANGE can settle it.
func (t *stateTracker) endResponse() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.reqMayTx && t.reqTxEnv {
		t.reportsTextTx = true
	}
	if t.reqMayTx && !t.reqTxEnv && !t.reportsTextTx && t.s.Tx == TxNone {
		t.s.Tx = TxUnknown
	}
	t.reqMayTx, t.reqTxEnv = false, false
}

// envChange applies one ENVCHANGE token's type and raw new/old values.
func (t *stateTracker) envChange(typ uint8, newV, oldV []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch typ {
	case envBeginTran, envCommitTran, envRollbackTran, envEnlistDTC, envDefectTran, envPromoteTran, envTranEnded:
		t.reqTxEnv = true
	}
	switch typ {
	case envDatabase:
		db, err := bVarcharValue(newV)
		if err != nil {
			return fmt.Errorf("ENVCHANGE database: %w", err)
		}
		t.s.Database = db
	case envLanguage:
		l, err := bVarcharValue(newV)
		if err != nil {
			return fmt.Errorf("ENVCHANGE language: %w", err)
		}
		t.s.Language = l
	case envPacketSize:
		v, err := bVarcharValue(newV)
		if err != nil {
			return fmt.Errorf("ENVCHANGE packet size: %w", err)
		}
		n := 0
		if _, err := fmt.Sscanf(v, "%d", &n); err != nil {
			return fmt.Errorf("ENVCHANGE packet size %q: %w", v, err)
		}
		t.s.PacketSize = n
	case envBeginTran, envEnlistDTC, envPromoteTran:
		t.s.Tx = TxOpen
		if typ == envBeginTran {
			d, err := descriptorValue(newV)
			if err != nil {
				return fmt.Errorf("ENVCHANGE begin transaction: %w", err)
			}
			t.s.TxDescriptor = d
		}
	case envCommitTran, envRollbackTran, envDefectTran, envTranEnded:
		t.s.Tx = TxNone
		t.s.TxDescriptor = 0
	case envResetAck:
		t.s.Resets++
		if t.resetPending != statusResetConnSkipTran {
			// RESETCONNECTION rolls back an open transaction.
			t.s.Tx = TxNone
			t.s.TxDescriptor = 0
		}
		t.s.Database = t.s.LoginDatabase
		t.s.Language = t.loginLanguage
		t.resetPending = 0
	}
	return nil
}

// done applies a DONE/DONEPROC/DONEINPROC status. Servers that set
// DONE_INXACT (SQL Server never does) say a transaction is open.
//
// Once a server has been seen setting DONE_INXACT, a final DONE without it
// settles an unknown state as "none": that server reports faithfully.
func (t *stateTracker) done(status uint16) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if status&doneInxact != 0 {
		t.inxactSeen = true
		if t.s.Tx == TxNone {
			t.s.Tx = TxUnknown
		}
		return
	}
	if t.inxactSeen && status&doneMore == 0 && t.s.Tx == TxUnknown {
		t.s.Tx = TxNone
	}
}

// lost records that a response could not be followed: what it changed is
// unknown, so an open transaction can no longer be ruled out.
func (t *stateTracker) lost() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.s.Tx == TxNone {
		t.s.Tx = TxUnknown
	}
}

// setPacketSize records the backend packet size negotiated at login.
func (t *stateTracker) setPacketSize(n int) {
	t.mu.Lock()
	t.s.PacketSize = n
	t.mu.Unlock()
}

// observe applies one response token to the state and reports whether it
// was a DONE with DONE_ATTN (the acknowledgement of an Attention).
func (t *stateTracker) observe(ev *tds.Event) (attnAck bool, err error) {
	switch ev.Type {
	case tds.TokenEnvChange:
		return false, t.envChange(uint8(ev.Env.Type), ev.Env.New, ev.Env.Old)
	case tds.TokenDone, tds.TokenDoneProc, tds.TokenDoneInProc:
		t.done(uint16(ev.Done.Status))
		return ev.Done.Status&tds.DoneAttn != 0, nil
	}
	return false, nil
}

// txWords are the words whose presence in a request's text (UCS-2) means it
// may begin or end a transaction: BEGIN TRAN[SACTION], SAVE TRAN, COMMIT,
// ROLLBACK, SET IMPLICIT_TRANSACTIONS. "TRAN" covers the TRANSACTION forms.
var txWords = []string{"TRAN", "COMMIT", "ROLLBACK"}

// mayControlTx reports whether UCS-2 text in b may hold transaction-control
// statements. It over-approximates (a word in a comment or a string counts):
// a false positive only makes the state unknown, a false negative could
// make it wrongly "none". It does not allocate.
func mayControlTx(b []byte) bool {
	for _, w := range txWords {
		if ucs2ContainsFold(b, w) {
			return true
		}
	}
	return false
}

// ucs2ContainsFold reports whether UTF-16LE b contains the ASCII upper-case
// word w, ignoring ASCII case, at any offset (RPC parameter values need not
// be aligned).
func ucs2ContainsFold(b []byte, w string) bool {
	n := 2 * len(w)
outer:
	for i := 0; i+n <= len(b); i++ {
		for j := 0; j < len(w); j++ {
			c, hi := b[i+2*j], b[i+2*j+1]
			if hi != 0 || (c&^0x20) != w[j] {
				continue outer
			}
		}
		return true
	}
	return false
}

// bVarcharValue decodes an ENVCHANGE B_VARCHAR value (length in characters,
// UCS-2 data). v is either the raw value with its length byte or, when the
// codec strips it, the UCS-2 bytes alone; both are accepted.
func bVarcharValue(v []byte) (string, error) {
	if len(v)%2 == 1 { // UCS-2 is even: an odd value carries its length byte
		if int(v[0])*2 != len(v)-1 {
			return "", fmt.Errorf("B_VARCHAR length %d for %d bytes", v[0], len(v)-1)
		}
		v = v[1:]
	}
	if len(v)%2 != 0 {
		return "", fmt.Errorf("odd UCS-2 length %d", len(v))
	}
	u := make([]uint16, len(v)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(v[2*i:])
	}
	return string(utf16.Decode(u)), nil
}

// descriptorValue decodes the 8-byte transaction descriptor of ENVCHANGE 8
// (B_VARBYTE: length 8 then the descriptor, or the 8 bytes alone).
func descriptorValue(v []byte) (uint64, error) {
	if len(v) == 9 && v[0] == 8 {
		v = v[1:]
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("transaction descriptor of %d bytes, want 8", len(v))
	}
	return binary.LittleEndian.Uint64(v), nil
}
