package sqlengine

// The engine's surface, used by the TDS server (test/mssqlsim):
//
//	Open(Options) (*DB, error); db.Close()
//	db.NewSession(login, database, spid) (*Session, error)   // *LoginError: 18456, 4060
//	db.SetRole(primary); db.IsPrimary(); db.SetHealthInfo(HealthInfo)
//	db.SetReplicationHook(func(CommittedTx)); db.Apply(CommittedTx); db.LastApplied()
//	s.ExecBatch(ctx, sql, params, w); s.ExecRPC(ctx, proc, params, w)
//	s.Begin(name, isolation); s.Commit(name); s.Rollback(name)  // TM requests; *SQLError
//	s.Reset()                                                  // RESETCONNECTION
//	s.TranCount(); s.TxDescriptor(); s.Database(); s.NoCount(); s.SPID()
//	s.SetEncrypted(bool)                                       // sys.dm_exec_connections
//	s.Close()

import (
	"time"

	"github.com/tdsproxy/tdsproxy/tds"
)

// Options configures one simulated SQL Server backend (see Open).
type Options struct {
	// ServerName is what @@SERVERNAME and SERVERPROPERTY('ServerName') report.
	ServerName string
	// Dir is where the SQLite files (one per database) live; "" means a fresh
	// temporary directory that Close removes.
	Dir string
	// SampleData creates the demo database with its sample tables (see doc.go).
	// Replicas must be opened with the same SampleData as their primary: the
	// sample data is generated deterministically so both start identical.
	SampleData bool
	// Logins lists the login names NewSession accepts; empty accepts any login.
	// The engine does not check passwords: the TDS server does that.
	Logins []string
}

// Param is one parameter of an RPC call or of a parameterised batch. Name
// includes the leading '@' when the client sent one ("" for positional
// parameters). Value is the decoded Go value as tds.DecodeValue returns it.
type Param struct {
	Name   string
	Type   tds.TypeInfo
	Value  any
	Output bool
}

// StatementResult describes the end of one statement: the caller turns it
// into a DONE (batch) or DONEINPROC (inside an RPC) token.
type StatementResult struct {
	// RowCount is the number of rows selected or affected.
	RowCount int64
	// HasCount sets DONE_COUNT: false under SET NOCOUNT ON and for
	// statements that do not count rows.
	HasCount bool
	// CurCmd is the SQL Server command code (0xC1 SELECT, 0xC3 INSERT,
	// 0xC4 DELETE, 0xC5 UPDATE, 0xD4 BEGIN TRAN, 0xD5 COMMIT, 0xD2 ROLLBACK, ...).
	CurCmd uint16
	// Error sets DONE_ERROR: the statement failed (an Error was written first).
	Error bool
}

// ResultWriter receives the results of a batch or RPC in the order SQL Server
// sends them. The engine never writes the final DONE/DONEPROC of a request:
// the caller does that after ExecBatch/ExecRPC returns (setting DONE_MORE on
// every StatementDone but the last it sends, DONE_INXACT from TranCount, and
// DONE_ATTN after a cancellation). Calls happen on the goroutine that called
// ExecBatch/ExecRPC. A non-nil error from any method stops the request and is
// returned by ExecBatch/ExecRPC (wrapped).
type ResultWriter interface {
	// Columns starts a result set (COLMETADATA). cols is owned by the engine
	// and must not be retained after the next call.
	Columns(cols []tds.Column) error
	// Row sends one row; vals are Go values as tds.AppendValue takes them
	// (nil for NULL). vals is reused: do not retain it.
	Row(vals []any) error
	// StatementDone ends one statement (DONE / DONEINPROC).
	StatementDone(d StatementResult) error
	// Error sends an ERROR token (class > 10).
	Error(e tds.ServerError) error
	// Info sends an INFO token (class <= 10), e.g. 5701 after USE.
	Info(e tds.ServerError) error
	// EnvChange sends an ENVCHANGE: database (1) after USE, language (2),
	// begin/commit/rollback transaction (8/9/10, 8-byte descriptors).
	EnvChange(e tds.EnvChange) error
	// ReturnValue sends an RPC output parameter (RETURNVALUE).
	ReturnValue(ordinal int, name string, t tds.TypeInfo, v any) error
	// ReturnStatus sends the RPC's RETURNSTATUS.
	ReturnStatus(v int32) error
}

// CommittedTx is one transaction committed on a primary, handed to the
// replication hook in commit order and applied on replicas with DB.Apply.
// Its content is opaque to callers apart from LSN and CommitTime.
type CommittedTx struct {
	// LSN increases by one per replicated transaction, starting at 1.
	LSN uint64
	// CommitTime is when the primary committed.
	CommitTime time.Time
	// stmts are the row changes and DDL of the transaction, in order.
	stmts []change
}

// Statements reports how many changes (rows written, DDL) the transaction
// carries.
func (tx CommittedTx) Statements() int { return len(tx.stmts) }

// HealthInfo is what the Always On catalog views report (see doc.go). The
// role itself comes from SetRole.
type HealthInfo struct {
	// SynchronizationState is synchronization_state_desc:
	// "SYNCHRONIZED", "SYNCHRONIZING", "NOT SYNCHRONIZING", ...
	// Empty means "SYNCHRONIZED" on a primary and "SYNCHRONIZING" on a replica.
	SynchronizationState string
	// SecondaryLag is reported as secondary_lag_seconds on a replica.
	SecondaryLag time.Duration
	// LastCommitTime is last_commit_time; zero means the engine's own value
	// (the last commit on a primary, the last applied commit on a replica).
	LastCommitTime time.Time
	// HadrDisabled makes SERVERPROPERTY('IsHadrEnabled') return 0 (default 1).
	HadrDisabled bool
}

// Error numbers the engine reports, as SQL Server numbers them.
const (
	ErrSyntax            = 102   // Incorrect syntax near '%s'.
	ErrInvalidObject     = 208   // Invalid object name '%s'.
	ErrInvalidColumn     = 207   // Invalid column name '%s'.
	ErrConversion        = 245   // Conversion failed when converting ...
	ErrMustDeclare       = 137   // Must declare the scalar variable "%s".
	ErrObjectExists      = 2714  // There is already an object named '%s' in the database.
	ErrNullInsert        = 515   // Cannot insert the value NULL into column ...
	ErrDuplicateKey      = 2627  // Violation of PRIMARY KEY constraint ...
	ErrConstraint        = 547   // The INSERT statement conflicted with the ... constraint.
	ErrDivideByZero      = 8134  // Divide by zero error encountered.
	ErrReadOnlyDatabase  = 3906  // Failed to update database "%s" because the database is read-only.
	ErrCannotOpenDB      = 4060  // Cannot open database "%s" requested by the login.
	ErrLoginFailed       = 18456 // Login failed for user '%s'.
	ErrNoSuchDatabase    = 911   // Database '%s' does not exist.
	ErrNoSuchProcedure   = 2812  // Could not find stored procedure '%s'.
	ErrCommitNoTran      = 3902  // The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.
	ErrRollbackNoTran    = 3903  // The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.
	ErrNoSavepoint       = 6401  // Cannot roll back %s. No transaction or savepoint of that name was found.
	ErrLockTimeout       = 1222  // Lock request time out period exceeded.
	ErrBadPrepareHandle  = 8179  // Could not find prepared statement with handle %d.
	ErrNotSupported      = 40517 // Keyword or statement option '%s' is not supported in this version of SQL Server.
	ErrParamNotSupplied  = 201   // Procedure or function '%s' expects parameter '%s', which was not supplied.
	ErrChangedDBContext  = 5701  // Changed database context to '%s'. (INFO)
	ErrChangedLanguage   = 5703  // Changed language setting to %s. (INFO)
	ErrTranCountMismatch = 266   // Transaction count after EXECUTE indicates a mismatching number ...
)
