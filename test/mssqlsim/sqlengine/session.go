package sqlengine

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"modernc.org/sqlite"

	"github.com/tdsproxy/tdsproxy/tds"
)

// Session is one client connection's state: its own SQLite connection (so
// transactions are isolated; opened on first use, see lazyConn), current
// database, variables, SET options, open transaction and prepared
// statements. A Session is used by one
// goroutine at a time (the TDS connection's); only cancellation through the
// ctx passed to ExecBatch/ExecRPC comes from elsewhere.
type Session struct {
	db       *DB
	conn     *lazyConn // nil only while newSession builds the session
	spid     uint16
	login    string
	loginDB  string
	curDB    string
	attached map[string]bool // SQLite schemas attached on conn (set when it opens)

	vars map[string]*variable
	opts sessionOptions

	tranCount  int
	tranName   string // name given to the outermost BEGIN TRAN
	txDesc     uint64
	savepoints []string
	xactDoomed bool

	rowCount int64
	identity any
	lastErr  int32
	errInfo  *tds.ServerError // for ERROR_MESSAGE() etc. inside CATCH

	prepared   map[int32]*preparedStmt
	nextHandle int32
	stmts      map[string]driver.Stmt
	colCache   map[string]colCacheEntry
	tempGen    uint64
	hasTemp    bool            // a #temp table may exist (Reset drops them)
	tableVars  []string        // table variables of the current request (temp tables)
	catalogs   map[string]bool // catalog temp tables created

	changesMu  sync.Mutex
	changes    []change // replicated changes of the open SQLite transaction
	closed     atomic.Bool
	encrypted  atomic.Bool
	rolledBack atomic.Bool // SQLite rolled a transaction back (rollback hook)
	txWrote    atomic.Bool // the open transaction has written (pre-update hook, DDL)
}

// variable is a DECLAREd variable or a bound parameter.
type variable struct {
	typ sqlType
	val any // storage form (int64, float64, string, []byte or nil)
}

// sessionOptions are the SET options a session remembers.
type sessionOptions struct {
	nocount     bool
	xactAbort   bool
	language    string
	dateFormat  string
	dateFirst   int64
	textSize    int64
	lockTimeout int64
	isolation   string
	fmtOnly     bool
	implicitTx  bool // SET IMPLICIT_TRANSACTIONS ON (JDBC drivers' autocommit off)
	ansiNulls   bool
}

func defaultOptions() sessionOptions {
	return sessionOptions{language: "us_english", dateFormat: "mdy", dateFirst: 7, textSize: 4096, lockTimeout: -1,
		isolation: "READ COMMITTED", ansiNulls: true}
}

// preparedStmt is a handle from sp_prepare/sp_prepexec.
type preparedStmt struct {
	params string // parameter declarations "@a int, @b nvarchar(10)"
	decls  []paramDecl
	text   string
}

type colInfo struct {
	name     string
	typ      sqlType
	typed    bool
	pk       bool
	identity bool // INTEGER PRIMARY KEY: an IDENTITY column
}

type colCacheEntry struct {
	gen, tempGen uint64
	cols         []colInfo
}

// NewSession opens a session for login in database ("" = master). An
// error is a login failure (*LoginError carries the SQL Server number,
// e.g. 4060 for an unknown database).
func (db *DB) NewSession(login, database string, spid uint16) (*Session, error) {
	return db.newSession(login, database, spid, true)
}

func (db *DB) newSession(login, database string, spid uint16, hooks bool) (*Session, error) {
	if hooks && len(db.opts.Logins) > 0 {
		ok := false
		for _, l := range db.opts.Logins {
			if strings.EqualFold(l, login) {
				ok = true
				break
			}
		}
		if !ok {
			return nil, &LoginError{Err: tds.ServerError{Number: ErrLoginFailed, Class: 14, State: 1,
				Message: fmt.Sprintf("Login failed for user '%s'.", login)}}
		}
	}
	if database == "" {
		database = "master"
	}
	d, ok := db.database(database)
	if !ok {
		return nil, &LoginError{Err: tds.ServerError{Number: ErrCannotOpenDB, Class: 11, State: 1,
			Message: fmt.Sprintf("Cannot open database \"%s\" requested by the login. The login failed.", database)}}
	}
	s := &Session{db: db, spid: spid, login: login, loginDB: d.name, curDB: d.name,
		vars: map[string]*variable{}, opts: defaultOptions(), prepared: map[int32]*preparedStmt{},
		stmts: map[string]driver.Stmt{}, colCache: map[string]colCacheEntry{}, catalogs: map[string]bool{},
		attached: map[string]bool{}}
	s.conn = &lazyConn{open: func() (driver.Conn, error) { return s.openConn(hooks) }}
	if err := db.register(s); err != nil {
		return nil, err
	}
	return s, nil
}

// openConn opens the session's SQLite connection (lazyConn's open): master
// with every database attached, and the replication hooks when asked.
func (s *Session) openConn(hooks bool) (driver.Conn, error) {
	c, list, err := s.db.openAttached()
	if err != nil {
		return nil, err
	}
	if hooks {
		if err := s.installHooks(c); err != nil {
			c.Close()
			return nil, err
		}
	}
	for _, a := range list {
		s.attached[a.schema] = true
	}
	return c, nil
}

// LoginError is a NewSession failure to send to the client as an ERROR
// token before closing the connection.
type LoginError struct{ Err tds.ServerError }

func (e *LoginError) Error() string { return e.Err.Message }

// hookConn is what modernc's connection offers for replication capture.
type hookConn interface {
	RegisterPreUpdateHook(sqlite.PreUpdateHookFn)
	RegisterCommitHook(sqlite.CommitHookFn)
	RegisterRollbackHook(sqlite.RollbackHookFn)
}

func (s *Session) installHooks(c driver.Conn) error {
	hc, ok := c.(hookConn)
	if !ok {
		return fmt.Errorf("sqlengine: the SQLite driver (%T) offers no update hooks: replication would be silently lost", c)
	}
	hc.RegisterPreUpdateHook(s.preUpdate)
	hc.RegisterCommitHook(s.onCommit)
	hc.RegisterRollbackHook(func() {
		s.changesMu.Lock()
		s.changes = s.changes[:0]
		s.changesMu.Unlock()
		s.rolledBack.Store(true)
	})
	return nil
}

// Close rolls back any open transaction and closes the SQLite connection.
func (s *Session) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.db.unregister(s)
	if s.tranCount > 0 {
		_ = execConn(s.conn, "ROLLBACK")
	}
	for _, st := range s.stmts {
		st.Close()
	}
	return s.conn.Close()
}

// SPID is the session id given to NewSession.
func (s *Session) SPID() uint16 { return s.spid }

// TranCount is @@TRANCOUNT.
func (s *Session) TranCount() int { return s.tranCount }

// TxDescriptor is the descriptor of the open transaction (0 when none), as
// sent in ENVCHANGE 8 and expected in ALL_HEADERS.
func (s *Session) TxDescriptor() uint64 {
	if s.tranCount == 0 {
		return 0
	}
	return s.txDesc
}

// Database is the current database name.
func (s *Session) Database() string { return s.curDB }

// SetEncrypted records whether the connection is encrypted, for
// sys.dm_exec_connections.encrypt_option (TRUE/FALSE). It survives Reset.
func (s *Session) SetEncrypted(on bool) {
	s.encrypted.Store(on)
}

// NoCount reports SET NOCOUNT.
func (s *Session) NoCount() bool { return s.opts.nocount }

// Reset is sp_reset_connection (RESETCONNECTION): it rolls back an open
// transaction, drops temporary tables, forgets variables, prepared handles
// and SET options, and returns to the login database.
func (s *Session) Reset() error {
	if s.tranCount > 0 {
		if err := execConn(s.conn, "ROLLBACK"); err != nil && !strings.Contains(err.Error(), "no transaction") {
			return fmt.Errorf("sqlengine: reset: rolling back: %w", err)
		}
		s.endTran()
	}
	if s.hasTemp {
		rows, err := queryConn(s.conn, `SELECT name FROM temp.sqlite_master WHERE type = 'table' AND name LIKE '#%'`)
		if err != nil {
			return fmt.Errorf("sqlengine: reset: listing temp tables: %w", err)
		}
		for _, r := range rows {
			if n, ok := r[0].(string); ok {
				if err := execConn(s.conn, `DROP TABLE temp.`+quoteIdent(n)); err != nil {
					return fmt.Errorf("sqlengine: reset: dropping %s: %w", n, err)
				}
			}
		}
		s.hasTemp = false
		s.tempGen++
	}
	if len(s.vars) > 0 {
		s.vars = map[string]*variable{}
	}
	s.opts = defaultOptions()
	if len(s.prepared) > 0 {
		s.prepared = map[int32]*preparedStmt{}
	}
	s.curDB = s.loginDB
	s.rowCount, s.identity, s.lastErr, s.errInfo = 0, nil, 0, nil
	return nil
}

func (s *Session) endTran() {
	s.rolledBack.Store(false)
	s.tranCount = 0
	s.tranName = ""
	s.savepoints = nil
	s.xactDoomed = false
}

// Begin starts a transaction for a TM BEGIN_XACT request and returns its
// descriptor (the caller sends ENVCHANGE 8). A nested Begin only increments
// @@TRANCOUNT, as BEGIN TRAN does.
func (s *Session) Begin(name string, isolation uint8) (uint64, error) {
	if err := s.beginTran(); err != nil {
		return 0, err
	}
	return s.txDesc, nil
}

// Commit commits for a TM COMMIT_XACT request: the whole transaction
// (a TM commit ends it regardless of nesting).
func (s *Session) Commit(name string) error {
	if s.tranCount == 0 {
		return &SQLError{Err: tds.ServerError{Number: ErrCommitNoTran, Class: 16, State: 1,
			Message: "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION."}}
	}
	s.tranCount = 1
	_, err := s.commitTran()
	return err
}

// Rollback rolls back for a TM ROLLBACK_XACT request (name = savepoint or
// "" for the whole transaction).
func (s *Session) Rollback(name string) error {
	if s.tranCount == 0 {
		return &SQLError{Err: tds.ServerError{Number: ErrRollbackNoTran, Class: 16, State: 1,
			Message: "The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION."}}
	}
	_, err := s.rollbackTran(name)
	return err
}

// SQLError is an error to report to the client as an ERROR token, returned
// by the TM entry points (Begin/Commit/Rollback).
type SQLError struct{ Err tds.ServerError }

func (e *SQLError) Error() string { return e.Err.Message }

// beginTran implements BEGIN TRAN: the outermost one starts a SQLite
// transaction and takes a new descriptor.
func (s *Session) beginTran() error {
	if s.tranCount == 0 {
		if err := execConn(s.conn, "BEGIN"); err != nil {
			return fmt.Errorf("sqlengine: BEGIN: %w", err)
		}
		s.txDesc = s.db.nextDesc.Add(1)
		s.rolledBack.Store(false)
		s.txWrote.Store(false)
		s.changesMu.Lock()
		s.changes = s.changes[:0]
		s.changesMu.Unlock()
	}
	s.tranCount++
	return nil
}

// commitTran implements COMMIT: it decrements @@TRANCOUNT and commits at 0.
// ended reports whether the transaction ended (ENVCHANGE 9 is due).
func (s *Session) commitTran() (ended bool, err error) {
	if s.tranCount > 1 {
		s.tranCount--
		return false, nil
	}
	if err := execConn(s.conn, "COMMIT"); err != nil {
		return false, fmt.Errorf("sqlengine: COMMIT: %w", err)
	}
	s.endTran()
	return true, nil
}

// rollbackTran implements ROLLBACK [name]: a savepoint name rolls back to
// it; otherwise the whole transaction ends. ended reports the latter.
func (s *Session) rollbackTran(name string) (ended bool, err error) {
	if name != "" {
		for i := len(s.savepoints) - 1; i >= 0; i-- {
			if strings.EqualFold(s.savepoints[i], name) {
				if err := execConn(s.conn, "ROLLBACK TO "+quoteIdent("sp_"+strings.ToLower(name))); err != nil {
					return false, fmt.Errorf("sqlengine: ROLLBACK TO: %w", err)
				}
				s.truncateChangesToSavepoint(name)
				s.savepoints = s.savepoints[:i+1]
				return false, nil
			}
		}
	}
	if err := execConn(s.conn, "ROLLBACK"); err != nil && !strings.Contains(err.Error(), "no transaction is active") {
		return false, fmt.Errorf("sqlengine: ROLLBACK: %w", err)
	}
	s.changesMu.Lock()
	s.changes = s.changes[:0]
	s.changesMu.Unlock()
	s.endTran()
	return true, nil
}

// saveTran implements SAVE TRAN name.
func (s *Session) saveTran(name string) error {
	if s.tranCount == 0 {
		return &SQLError{Err: tds.ServerError{Number: 628, Class: 16, State: 0,
			Message: "Cannot issue SAVE TRANSACTION when there is no active transaction."}}
	}
	if err := execConn(s.conn, "SAVEPOINT "+quoteIdent("sp_"+strings.ToLower(name))); err != nil {
		return fmt.Errorf("sqlengine: SAVEPOINT: %w", err)
	}
	s.savepoints = append(s.savepoints, name)
	s.changesMu.Lock()
	s.changes = append(s.changes, change{op: opSavepoint, sql: strings.ToLower(name)})
	s.changesMu.Unlock()
	return nil
}

// syncTran notices a transaction SQLite rolled back by itself (an
// interrupted write inside a transaction, for one) and ends it here too,
// telling the client with ENVCHANGE 10 as SQL Server does when it rolls a
// transaction back.
func (s *Session) syncTran(w ResultWriter) error {
	if s.tranCount == 0 || !s.rolledBack.Load() {
		return nil
	}
	desc := s.txDesc
	s.endTran()
	if err := w.EnvChange(tds.EnvRollbackTran(desc)); err != nil {
		return &writerError{err}
	}
	return nil
}

// dropTableVars drops the temporary tables behind the request's table
// variables (they live for one batch or procedure call).
func (s *Session) dropTableVars() {
	for _, name := range s.tableVars {
		_ = execConn(s.conn, "DROP TABLE IF EXISTS temp."+quoteIdent(name))
	}
	if len(s.tableVars) > 0 {
		s.tableVars = s.tableVars[:0]
		s.tempGen++
	}
}

// restartReadTran handles SQLite refusing a write in a transaction whose
// snapshot went stale (another session committed after this one read):
// if the transaction has not written yet, nothing it did can be lost by
// starting it again with the write lock (READ COMMITTED promises no
// snapshot), so it restarts and reports true: the statement may be retried.
func (s *Session) restartReadTran(err error) bool {
	if s.tranCount == 0 || s.txWrote.Load() || len(s.savepoints) > 0 || !strings.Contains(err.Error(), "database is locked") {
		return false
	}
	if execConn(s.conn, "ROLLBACK") != nil || execConn(s.conn, "BEGIN IMMEDIATE") != nil {
		return false
	}
	s.rolledBack.Store(false)
	return true
}

// varType returns the type of a variable or parameter.
func (s *Session) varType(name string) (sqlType, bool) {
	v, ok := s.vars[strings.ToLower(name)]
	if !ok {
		return sqlType{}, false
	}
	return v.typ, true
}

// resolveName maps a T-SQL object name (1 to 4 parts) to its SQLite table.
func (s *Session) resolveName(parts []string) (tableRef, bool) {
	if len(parts) == 0 || len(parts) > 4 {
		return tableRef{}, false
	}
	if len(parts) == 4 {
		parts = parts[1:]
	}
	name := parts[len(parts)-1]
	schema := ""
	dbName := s.curDB
	if len(parts) >= 2 {
		schema = parts[len(parts)-2]
	}
	if len(parts) == 3 && parts[0] != "" {
		dbName = parts[0]
	}
	tsql := strings.Join(parts, ".")
	if name == "" {
		return tableRef{}, false
	}
	if strings.HasPrefix(name, "#") {
		return tableRef{schema: "temp", name: strings.ToLower(name), alias: name, tsql: tsql}, true
	}
	if strings.EqualFold(dbName, "tempdb") {
		return tableRef{}, false
	}
	d, ok := s.db.database(dbName)
	if !ok {
		return tableRef{}, false
	}
	if schema == "" {
		schema = "dbo"
	}
	ls := strings.ToLower(schema)
	if ls == "sys" || ls == "information_schema" {
		if !catalogTables[ls+"."+strings.ToLower(name)] {
			return tableRef{}, false
		}
		return tableRef{schema: "temp", name: ls + "." + strings.ToLower(name), alias: name, tsql: tsql}, true
	}
	return tableRef{schema: d.schema, name: ls + "." + strings.ToLower(name), alias: name, tsql: tsql}, true
}

// tableColumns returns the columns of a table (cached per schema generation).
func (s *Session) tableColumns(ref tableRef) []colInfo {
	key := ref.schema + "." + ref.name
	gen := s.db.gen.Load()
	if e, ok := s.colCache[key]; ok && e.gen == gen && e.tempGen == s.tempGen {
		return e.cols
	}
	rows, err := queryConn(s.conn, `SELECT name, type, pk FROM pragma_table_info(`+quoteString(ref.name)+`, `+quoteString(ref.schema)+`)`)
	if err != nil {
		return nil
	}
	cols := make([]colInfo, 0, len(rows))
	for _, r := range rows {
		n, _ := r[0].(string)
		ts, _ := r[1].(string)
		pk, _ := r[2].(int64)
		t, ok := parseTypeName(ts)
		cols = append(cols, colInfo{name: n, typ: t, typed: ok, pk: pk > 0, identity: pk > 0 && ts == "INTEGER"})
	}
	s.colCache[key] = colCacheEntry{gen: gen, tempGen: s.tempGen, cols: cols}
	return cols
}

// ensureAttached attaches databases created after the session's SQLite
// connection was opened (a connection not yet open attaches all when it
// opens).
func (s *Session) ensureAttached() error {
	if !s.conn.isOpen() {
		return nil
	}
	for _, d := range s.db.databaseList() {
		if !s.attached[d.schema] {
			if err := attach(s.conn, d); err != nil {
				return err
			}
			s.attached[d.schema] = true
		}
	}
	return nil
}

// prepare returns a cached prepared statement for SQLite text q.
func (s *Session) prepare(ctx context.Context, q string) (driver.Stmt, error) {
	if st, ok := s.stmts[q]; ok {
		return st, nil
	}
	if len(s.stmts) >= 512 {
		for k, st := range s.stmts {
			st.Close()
			delete(s.stmts, k)
		}
	}
	st, err := s.conn.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	s.stmts[q] = st
	return st, nil
}

// dropPrepared forgets cached SQLite statements (after DDL, whose schema
// change would otherwise make SQLite re-prepare them anyway).
func (s *Session) dropPrepared() {
	for k, st := range s.stmts {
		st.Close()
		delete(s.stmts, k)
	}
}

var errClosed = errors.New("sqlengine: session is closed")
