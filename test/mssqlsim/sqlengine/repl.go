package sqlengine

import (
	"database/sql/driver"
	"fmt"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Replication is row based: the pre-update hook of each session's SQLite
// connection records every row a statement inserts, updates or deletes in a
// non-temporary table, DDL records its SQL text, and the commit hook (which
// SQLite calls under its write lock, so in commit order) hands the
// transaction's changes to the replication hook. A replica applies them by
// rowid, so values computed on the primary (GETDATE(), NEWID(), identities,
// defaults) arrive unchanged.

type changeOp uint8

const (
	opInsert         changeOp = iota + 1 // row: schema, table, rowid, values
	opDelete                             // row: schema, table, rowid
	opDDL                                // sql, run as is
	opCreateDatabase                     // sql = database name
	opSavepoint                          // marker, never replicated
	opStmtMark                           // marker, never replicated
)

// change is one replicated change.
type change struct {
	op     changeOp
	schema string // SQLite schema name (main, demo, ...)
	table  string
	rowid  int64
	values []any
	sql    string
}

// preUpdate records a row change (SQLite pre-update hook).
func (s *Session) preUpdate(d sqlite.SQLitePreUpdateData) {
	s.txWrote.Store(true)
	if d.DatabaseName == "temp" || strings.HasPrefix(d.TableName, "sqlite_") || strings.HasPrefix(d.TableName, "__mssqlsim") {
		return
	}
	var ch []change
	switch d.Op {
	case sqlite3.SQLITE_DELETE:
		ch = append(ch, change{op: opDelete, schema: d.DatabaseName, table: d.TableName, rowid: d.OldRowID})
	case sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE:
		vals := make([]any, d.Count())
		if err := d.New(vals...); err != nil {
			return
		}
		if d.Op == sqlite3.SQLITE_UPDATE && d.OldRowID != d.NewRowID {
			ch = append(ch, change{op: opDelete, schema: d.DatabaseName, table: d.TableName, rowid: d.OldRowID})
		}
		ch = append(ch, change{op: opInsert, schema: d.DatabaseName, table: d.TableName, rowid: d.NewRowID, values: vals})
	default:
		return
	}
	s.changesMu.Lock()
	s.changes = append(s.changes, ch...)
	s.changesMu.Unlock()
}

// recordDDL records a DDL statement's SQLite text for replication.
func (s *Session) recordDDL(sql string) {
	s.changesMu.Lock()
	s.changes = append(s.changes, change{op: opDDL, sql: sql})
	s.changesMu.Unlock()
}

// markStatement remembers where the current statement's changes start, so
// a failed statement can drop them (SQLite rolls the statement back).
func (s *Session) markStatement() int {
	s.changesMu.Lock()
	defer s.changesMu.Unlock()
	return len(s.changes)
}

func (s *Session) dropChangesFrom(mark int) {
	s.changesMu.Lock()
	if mark <= len(s.changes) {
		s.changes = s.changes[:mark]
	}
	s.changesMu.Unlock()
}

func (s *Session) truncateChangesToSavepoint(name string) {
	s.changesMu.Lock()
	defer s.changesMu.Unlock()
	for i := len(s.changes) - 1; i >= 0; i-- {
		if s.changes[i].op == opSavepoint && s.changes[i].sql == strings.ToLower(name) {
			s.changes = s.changes[:i+1]
			return
		}
	}
}

// onCommit runs inside SQLite's commit (commit hook): it assigns the next
// LSN and hands the changes to the replication hook.
func (s *Session) onCommit() int32 {
	s.changesMu.Lock()
	var out []change
	for _, c := range s.changes {
		if c.op != opSavepoint {
			out = append(out, c)
		}
	}
	s.changes = s.changes[:0]
	s.changesMu.Unlock()
	if len(out) == 0 {
		return 0
	}
	db := s.db
	db.replMu.Lock()
	tx := CommittedTx{LSN: db.lastApplied + 1, CommitTime: time.Now().UTC(), stmts: out}
	db.lastApplied, db.lastCommit = tx.LSN, tx.CommitTime
	hook := db.hook
	if hook != nil {
		hook(tx)
	}
	db.replMu.Unlock()
	return 0
}

// SetReplicationHook sets the function called after each commit on this
// instance with the transaction's changes, in commit order. f runs while
// the instance holds its commit lock: it must be quick (queue the
// transaction) and must not call back into the instance.
func (db *DB) SetReplicationHook(f func(tx CommittedTx)) {
	db.replMu.Lock()
	db.hook = f
	db.replMu.Unlock()
}

// Apply applies a transaction committed on the primary (on a replica).
// Transactions must be applied in LSN order; one already applied is
// skipped.
func (db *DB) Apply(tx CommittedTx) error {
	db.replMu.Lock()
	defer db.replMu.Unlock()
	if tx.LSN <= db.lastApplied {
		return nil
	}
	db.mu.Lock()
	closed := db.closed
	db.mu.Unlock()
	if closed {
		return errClosed
	}
	if db.apply == nil {
		c, _, err := db.openAttached()
		if err != nil {
			return err
		}
		db.mu.Lock()
		db.apply = c
		db.mu.Unlock()
	}
	c := db.apply
	// databases created since the apply connection was opened
	if rows, err := queryConn(c, `PRAGMA database_list`); err == nil {
		have := map[string]bool{}
		for _, r := range rows {
			if n, ok := r[1].(string); ok {
				have[n] = true
			}
		}
		for _, d := range db.databaseList() {
			if !have[d.schema] {
				if err := attach(c, d); err != nil {
					return err
				}
			}
		}
	}
	if err := execConn(c, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("sqlengine: apply LSN %d: %w", tx.LSN, err)
	}
	ddl := false
	for _, ch := range tx.stmts {
		if err := db.applyChange(c, ch); err != nil {
			_ = execConn(c, "ROLLBACK")
			return fmt.Errorf("sqlengine: apply LSN %d: %w", tx.LSN, err)
		}
		if ch.op == opDDL || ch.op == opCreateDatabase {
			ddl = true
		}
	}
	if err := execConn(c, "COMMIT"); err != nil {
		_ = execConn(c, "ROLLBACK")
		return fmt.Errorf("sqlengine: apply LSN %d: commit: %w", tx.LSN, err)
	}
	if ddl {
		db.gen.Add(1)
		_ = db.loadSchemas()
	}
	db.lastApplied, db.lastCommit = tx.LSN, tx.CommitTime
	return nil
}

func (db *DB) applyChange(c driver.Conn, ch change) error {
	switch ch.op {
	case opDDL:
		return execConn(c, ch.sql)
	case opCreateDatabase:
		_ = execConn(c, "COMMIT")
		d, err := db.addDatabase(ch.sql)
		if err != nil {
			return err
		}
		if err := attach(c, d); err != nil {
			return err
		}
		return execConn(c, "BEGIN IMMEDIATE")
	case opDelete:
		return execConn(c, `DELETE FROM `+quoteIdent(ch.schema)+`.`+quoteIdent(ch.table)+` WHERE rowid = ?`,
			driver.NamedValue{Ordinal: 1, Value: ch.rowid})
	case opInsert:
		args := make([]driver.NamedValue, 0, len(ch.values)+1)
		args = append(args, driver.NamedValue{Value: ch.rowid})
		for _, v := range ch.values {
			args = append(args, driver.NamedValue{Value: v})
		}
		// keep the rowid for tables without an INTEGER PRIMARY KEY
		// the rowid is given explicitly: it is the identity of an INTEGER
		// PRIMARY KEY table and keeps other tables' rows addressable
		q := `INSERT OR REPLACE INTO ` + quoteIdent(ch.schema) + `.` + quoteIdent(ch.table) + `(rowid, ` + db.columnList(c, ch.schema, ch.table) + `) VALUES (?` + strings.Repeat(", ?", len(ch.values)) + `)`
		for i := range args {
			args[i].Ordinal = i + 1
		}
		return execConn(c, q, args...)
	}
	return nil
}

// columnList returns the quoted column names of a table, in order.
func (db *DB) columnList(c driver.Conn, schema, table string) string {
	rows, err := queryConn(c, `SELECT name FROM pragma_table_info(`+quoteString(table)+`, `+quoteString(schema)+`)`)
	if err != nil {
		return "*"
	}
	names := make([]string, 0, len(rows))
	for _, r := range rows {
		n, _ := r[0].(string)
		names = append(names, quoteIdent(n))
	}
	return strings.Join(names, ", ")
}

// LastApplied reports the LSN and commit time of the last transaction
// committed (primary) or applied (replica). One counter serves both roles:
// a promoted replica numbers its commits after the last LSN it applied.
func (db *DB) LastApplied() (lsn uint64, commitTime time.Time) {
	db.replMu.Lock()
	defer db.replMu.Unlock()
	return db.lastApplied, db.lastCommit
}
