package sqlengine

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DB is one simulated SQL Server instance: a set of databases, each one
// SQLite file (WAL mode) in Options.Dir. It is safe for concurrent use;
// each Session has its own SQLite connection (opened on first use).
type DB struct {
	id   int64
	opts Options
	dir  string
	temp bool // dir is ours to remove

	mu        sync.Mutex
	databases []dbInfo        // in creation order; [0] is master
	schemas   map[string]bool // lower-case schema names known in any database
	closed    bool
	apply     driver.Conn // replica: connection used by Apply

	batches  sync.Map      // text → *batch: the parsed batch cache
	nBatches atomic.Int64  // entries in batches
	gen      atomic.Uint64 // schema generation, bumped by every DDL
	primary  atomic.Bool
	health   atomic.Pointer[HealthInfo]
	nextDesc atomic.Uint64 // transaction descriptors

	replMu      sync.Mutex
	hook        func(CommittedTx)
	lastApplied uint64
	lastCommit  time.Time
	sessions    map[*Session]bool
}

// dbInfo is one database of the instance.
type dbInfo struct {
	name   string // as created, e.g. "demo"
	id     int
	schema string // SQLite schema name: "main" for master, else the lower-case name
	path   string
}

// batch is a parsed batch, shared by all sessions.
type batch struct {
	stmts []*stmt
	err   error
}

// Limits of the parsed batch cache.
const (
	maxCachedBatches  = 4096
	maxCachedBatchLen = 64 << 10
)

var (
	registry   sync.Map // id → *DB, for the tsql_prop SQL function
	nextID     atomic.Int64
	regFuncs   sync.Once
	regFuncErr error
)

// Open creates or opens an instance. With opts.Dir == "" it uses a fresh
// temporary directory removed by Close.
func Open(opts Options) (*DB, error) {
	regFuncs.Do(func() { regFuncErr = registerFunctions() })
	if regFuncErr != nil {
		return nil, fmt.Errorf("sqlengine: registering SQL functions: %w", regFuncErr)
	}
	if opts.ServerName == "" {
		opts.ServerName = "MSSQLSIM"
	}
	db := &DB{opts: opts, dir: opts.Dir, schemas: map[string]bool{"dbo": true, "sys": true, "information_schema": true, "guest": true},
		sessions: map[*Session]bool{}}
	if db.dir == "" {
		d, err := os.MkdirTemp("", "mssqlsim-*")
		if err != nil {
			return nil, fmt.Errorf("sqlengine: creating data directory: %w", err)
		}
		db.dir, db.temp = d, true
	} else if err := os.MkdirAll(db.dir, 0o755); err != nil {
		return nil, fmt.Errorf("sqlengine: creating data directory: %w", err)
	}
	db.id = nextID.Add(1)
	db.primary.Store(true)
	db.health.Store(&HealthInfo{})
	db.nextDesc.Store(uint64(db.id) << 40)
	registry.Store(db.id, db)
	db.databases = []dbInfo{{name: "master", id: 1, schema: "main", path: filepath.Join(db.dir, "master.db")}}
	if err := db.initFile(db.databases[0].path); err != nil {
		db.Close()
		return nil, err
	}
	// databases left in Dir by an earlier run
	entries, _ := os.ReadDir(db.dir)
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".db")
		if !ok || strings.EqualFold(name, "master") {
			continue
		}
		if _, err := db.addDatabase(name); err != nil {
			db.Close()
			return nil, err
		}
	}
	if opts.SampleData {
		if err := db.createSampleData(); err != nil {
			db.Close()
			return nil, fmt.Errorf("sqlengine: creating sample data: %w", err)
		}
	}
	if err := db.loadSchemas(); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// initFile creates a database file in WAL mode.
func (db *DB) initFile(path string) error {
	c, err := openConn(path)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := execConn(c, `PRAGMA journal_mode=WAL`); err != nil {
		return fmt.Errorf("sqlengine: setting WAL mode on %s: %w", path, err)
	}
	if err := execConn(c, `CREATE TABLE IF NOT EXISTS "__mssqlsim_schemas" (name TEXT PRIMARY KEY COLLATE NOCASE)`); err != nil {
		return err
	}
	return execConn(c, `CREATE TABLE IF NOT EXISTS "__mssqlsim_procs" (name TEXT PRIMARY KEY COLLATE NOCASE, params TEXT NOT NULL, body TEXT NOT NULL)`)
}

// addDatabase registers a database file (creating it if needed).
func (db *DB) addDatabase(name string) (dbInfo, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	for _, d := range db.databases {
		if strings.EqualFold(d.name, name) {
			return d, nil
		}
	}
	if len(db.databases) >= 9 {
		return dbInfo{}, fmt.Errorf("sqlengine: too many databases (the simulator supports 9)")
	}
	d := dbInfo{name: name, id: 4 + len(db.databases), schema: strings.ToLower(name), path: filepath.Join(db.dir, name+".db")}
	if err := db.initFile(d.path); err != nil {
		return dbInfo{}, err
	}
	db.databases = append(db.databases, d)
	db.gen.Add(1)
	return d, nil
}

// database finds a database by name (case-insensitive); tempdb is not one.
func (db *DB) database(name string) (dbInfo, bool) {
	db.mu.Lock()
	defer db.mu.Unlock()
	for _, d := range db.databases {
		if strings.EqualFold(d.name, name) {
			return d, true
		}
	}
	return dbInfo{}, false
}

func (db *DB) databaseList() []dbInfo {
	db.mu.Lock()
	defer db.mu.Unlock()
	return append([]dbInfo(nil), db.databases...)
}

// loadSchemas reads schema names from every database (created schemas and
// the prefixes of table names).
func (db *DB) loadSchemas() error {
	c, list, err := db.openAttached()
	if err != nil {
		return err
	}
	defer c.Close()
	for _, d := range list {
		rows, err := queryConn(c, `SELECT name FROM `+quoteIdent(d.schema)+`."__mssqlsim_schemas" UNION SELECT substr(name, 1, instr(name, '.') - 1) FROM `+quoteIdent(d.schema)+`.sqlite_master WHERE type = 'table' AND instr(name, '.') > 0`)
		if err != nil {
			return fmt.Errorf("sqlengine: reading schemas of %s: %w", d.name, err)
		}
		for _, r := range rows {
			if s, ok := r[0].(string); ok {
				db.addSchema(s)
			}
		}
	}
	return nil
}

func (db *DB) addSchema(name string) {
	db.mu.Lock()
	db.schemas[strings.ToLower(name)] = true
	db.mu.Unlock()
}

func (db *DB) hasSchema(name string) bool {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.schemas[strings.ToLower(name)]
}

// isSchemaQualified reports whether a multi-part name names a table
// (schema.table or db.schema.table) rather than a qualified column.
func (db *DB) isSchemaQualified(parts []string) bool {
	switch len(parts) {
	case 2:
		return db.hasSchema(parts[0])
	case 3, 4:
		n := len(parts)
		if _, ok := db.database(parts[n-3]); ok || strings.EqualFold(parts[n-3], "tempdb") {
			return parts[n-2] == "" || db.hasSchema(parts[n-2])
		}
	}
	return false
}

// openConn opens one SQLite connection to a file.
func openConn(path string) (driver.Conn, error) {
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=synchronous(OFF)&_pragma=foreign_keys(0)&_txlock=deferred&_dqs=0"
	drv, err := sqliteDriver()
	if err != nil {
		return nil, fmt.Errorf("sqlengine: %w", err)
	}
	c, err := drv.Open(dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlengine: opening %s: %w", path, err)
	}
	return c, nil
}

// openAttached opens a connection to master with every other database
// attached under its name, and returns the databases it holds (master
// first).
func (db *DB) openAttached() (driver.Conn, []dbInfo, error) {
	list := db.databaseList()
	c, err := openConn(list[0].path)
	if err != nil {
		return nil, nil, err
	}
	for _, d := range list[1:] {
		if err := attach(c, d); err != nil {
			c.Close()
			return nil, nil, err
		}
	}
	return c, list, nil
}

func attach(c driver.Conn, d dbInfo) error {
	if err := execConn(c, `ATTACH DATABASE `+quoteString(d.path)+` AS `+quoteIdent(d.schema)); err != nil {
		return fmt.Errorf("sqlengine: attaching %s: %w", d.name, err)
	}
	return execConn(c, `PRAGMA `+quoteIdent(d.schema)+`.synchronous=OFF`)
}

// execConn runs one statement without results.
func execConn(c driver.Conn, query string, args ...driver.NamedValue) error {
	_, err := c.(driver.ExecerContext).ExecContext(context.Background(), query, args)
	return err
}

// queryConn runs a query and returns all rows.
func queryConn(c driver.Conn, query string, args ...driver.NamedValue) ([][]any, error) {
	rows, err := c.(driver.QueryerContext).QueryContext(context.Background(), query, args)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]any
	for {
		dest := make([]driver.Value, len(rows.Columns()))
		if err := rows.Next(dest); err != nil {
			break
		}
		r := make([]any, len(dest))
		for i, v := range dest {
			r[i] = v
		}
		out = append(out, r)
	}
	return out, nil
}

// Close closes the instance (sessions still open are closed too) and
// removes its files if they live in a temporary directory.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	apply := db.apply
	db.mu.Unlock()
	db.replMu.Lock()
	sessions := make([]*Session, 0, len(db.sessions))
	for s := range db.sessions {
		sessions = append(sessions, s)
	}
	db.replMu.Unlock()
	for _, s := range sessions {
		s.Close()
	}
	if apply != nil {
		apply.Close()
	}
	registry.Delete(db.id)
	if db.temp {
		return os.RemoveAll(db.dir)
	}
	return nil
}

// SetRole makes the instance a primary (writable) or a replica (writes fail
// with 3906; changes arrive through Apply).
func (db *DB) SetRole(primary bool) { db.primary.Store(primary) }

// IsPrimary reports the role set by SetRole (primary by default).
func (db *DB) IsPrimary() bool { return db.primary.Load() }

// SetHealthInfo sets what the Always On catalog views report.
func (db *DB) SetHealthInfo(h HealthInfo) { db.health.Store(&h) }

// version is @@VERSION.
func (db *DB) version() string {
	return "Microsoft SQL Server 2022 (RTM) - 16.0.1000.6 (X64) (mssqlsim)\n\tOct  8 2022 05:58:25\n\tCopyright (C) 2022 Microsoft Corporation\n\tDeveloper Edition (64-bit) on Linux (mssqlsim, SQLite " + sqliteVersion + ") <X64>"
}

const sqliteVersion = "3"

// parse returns the parsed form of a batch, from the cache when possible.
func (db *DB) parse(text string) ([]*stmt, error) {
	if b, ok := db.batches.Load(text); ok {
		return b.(*batch).stmts, b.(*batch).err
	}
	toks, err := lex(text)
	var stmts []*stmt
	if err == nil {
		stmts, err = parseBatch(toks)
	}
	if len(text) > maxCachedBatchLen {
		return stmts, err // large batches (literal-heavy INSERTs) are not kept
	}
	if db.nBatches.Add(1) > maxCachedBatches {
		db.batches.Clear()
		db.nBatches.Store(1)
	}
	db.batches.Store(text, &batch{stmts: stmts, err: err})
	return stmts, err
}

func (db *DB) register(s *Session) error {
	db.replMu.Lock()
	defer db.replMu.Unlock()
	db.mu.Lock()
	closed := db.closed
	db.mu.Unlock()
	if closed {
		return errors.New("sqlengine: instance is closed")
	}
	db.sessions[s] = true
	return nil
}

func (db *DB) unregister(s *Session) {
	db.replMu.Lock()
	delete(db.sessions, s)
	db.replMu.Unlock()
}
