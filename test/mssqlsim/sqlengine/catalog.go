package sqlengine

import (
	"database/sql/driver"
	"fmt"
	"strings"
	"time"
)

// catalogDef is a catalog view, materialised per session as a temporary
// table refreshed before each statement that reads it.
type catalogDef struct {
	cols string
	rows func(s *Session) [][]any
}

// catalogTables lists the catalog views ("schema.name") the engine knows.
var catalogTables = map[string]bool{}

var catalogs = map[string]catalogDef{
	"sys.dm_hadr_database_replica_states": {
		cols: `database_id INT, group_database_id UNIQUEIDENTIFIER, replica_id UNIQUEIDENTIFIER, is_local BIT,
			is_primary_replica BIT, synchronization_state TINYINT, synchronization_state_desc NVARCHAR(60),
			synchronization_health TINYINT, synchronization_health_desc NVARCHAR(60), database_state_desc NVARCHAR(60),
			is_suspended BIT, last_commit_time DATETIME, secondary_lag_seconds BIGINT, log_send_queue_size BIGINT,
			redo_queue_size BIGINT`,
		rows: hadrDatabaseRows,
	},
	"sys.dm_hadr_availability_replica_states": {
		cols: `replica_id UNIQUEIDENTIFIER, group_id UNIQUEIDENTIFIER, is_local BIT, role TINYINT, role_desc NVARCHAR(60),
			operational_state_desc NVARCHAR(60), connected_state_desc NVARCHAR(60), recovery_health_desc NVARCHAR(60),
			synchronization_health_desc NVARCHAR(60)`,
		rows: hadrReplicaRows,
	},
	"sys.databases": {
		cols: `name NVARCHAR(128), database_id INT, state_desc NVARCHAR(60), is_read_only BIT, compatibility_level TINYINT,
			collation_name NVARCHAR(128), user_access_desc NVARCHAR(60), recovery_model_desc NVARCHAR(60), create_date DATETIME`,
		rows: func(s *Session) [][]any {
			var out [][]any
			ro := b2i(!s.db.IsPrimary())
			for _, d := range s.db.allDatabases() {
				out = append(out, []any{d.name, int64(d.id), "ONLINE", ro, int64(160), "SQL_Latin1_General_CP1_CI_AS", "MULTI_USER", "FULL", "2024-01-01 00:00:00.000"})
			}
			return out
		},
	},
	"sys.tables":  {cols: objectCols, rows: func(s *Session) [][]any { return s.objectRows(true) }},
	"sys.objects": {cols: objectCols, rows: func(s *Session) [][]any { return s.objectRows(false) }},
	"sys.schemas": {
		cols: `name NVARCHAR(128), schema_id INT, principal_id INT`,
		rows: func(s *Session) [][]any {
			s.db.mu.Lock()
			defer s.db.mu.Unlock()
			out := [][]any{{"dbo", int64(1), int64(1)}, {"guest", int64(2), int64(2)}, {"INFORMATION_SCHEMA", int64(3), int64(3)}, {"sys", int64(4), int64(4)}}
			id := int64(5)
			for n := range s.db.schemas {
				switch n {
				case "dbo", "guest", "information_schema", "sys":
					continue
				}
				out = append(out, []any{n, id, int64(1)})
				id++
			}
			return out
		},
	},
	"sys.dm_exec_connections": {
		cols: `session_id SMALLINT, encrypt_option NVARCHAR(40), net_transport NVARCHAR(40), auth_scheme NVARCHAR(40),
			protocol_type NVARCHAR(40), client_net_address VARCHAR(48)`,
		rows: func(s *Session) [][]any {
			var out [][]any
			for _, x := range s.db.sessionList() {
				enc := "FALSE"
				if x.encrypted.Load() {
					enc = "TRUE"
				}
				out = append(out, []any{int64(x.spid), enc, "TCP", "SQL", "TSQL", "127.0.0.1"})
			}
			return out
		},
	},
	"sys.dm_exec_sessions": {
		cols: `session_id SMALLINT, login_name NVARCHAR(128), status NVARCHAR(30), is_user_process BIT, database_id SMALLINT,
			open_transaction_count INT`,
		rows: func(s *Session) [][]any {
			var out [][]any
			for _, x := range s.db.sessionList() {
				id := int64(1)
				if d, ok := s.db.database(x.curDB); ok {
					id = int64(d.id)
				}
				status := "sleeping"
				if x == s {
					status = "running"
				}
				out = append(out, []any{int64(x.spid), x.login, status, int64(1), id, int64(x.tranCount)})
			}
			return out
		},
	},
	"information_schema.tables": {
		cols: `TABLE_CATALOG NVARCHAR(128), TABLE_SCHEMA NVARCHAR(128), TABLE_NAME NVARCHAR(128), TABLE_TYPE VARCHAR(10)`,
		rows: func(s *Session) [][]any {
			var out [][]any
			for _, o := range s.objectRows(false) {
				typ := "BASE TABLE"
				if o[3] == "V " {
					typ = "VIEW"
				}
				out = append(out, []any{s.curDB, o[6], o[0], typ})
			}
			return out
		},
	},
	"information_schema.columns": {
		cols: `TABLE_CATALOG NVARCHAR(128), TABLE_SCHEMA NVARCHAR(128), TABLE_NAME NVARCHAR(128), COLUMN_NAME NVARCHAR(128),
			ORDINAL_POSITION INT, IS_NULLABLE VARCHAR(3), DATA_TYPE NVARCHAR(128), CHARACTER_MAXIMUM_LENGTH INT,
			NUMERIC_PRECISION TINYINT, NUMERIC_SCALE INT`,
		rows: func(s *Session) [][]any {
			var out [][]any
			d, _ := s.db.database(s.curDB)
			for _, o := range s.objectRows(false) {
				ref := tableRef{schema: d.schema, name: strings.ToLower(o[6].(string) + "." + o[0].(string))}
				for i, c := range s.tableColumns(ref) {
					var maxLen, prec, scale any
					if c.typ.isString() || c.typ.isBinary() {
						maxLen = int64(c.typ.size)
					}
					if c.typ.name == "decimal" || c.typ.name == "numeric" {
						prec, scale = int64(c.typ.prec), int64(c.typ.scale)
					}
					out = append(out, []any{s.curDB, o[6], o[0], c.name, int64(i + 1), "YES", c.typ.name, maxLen, prec, scale})
				}
			}
			return out
		},
	},
}

const objectCols = `name NVARCHAR(128), object_id INT, schema_id INT, type CHAR(2), type_desc NVARCHAR(60),
	create_date DATETIME, schema_name NVARCHAR(128)`

func init() {
	for k := range catalogs {
		catalogTables[k] = true
	}
}

// objectRows lists the tables (and views unless tablesOnly) of the
// current database: name, object_id, schema_id, type, type_desc,
// create_date, schema name.
func (s *Session) objectRows(tablesOnly bool) [][]any {
	d, ok := s.db.database(s.curDB)
	if !ok {
		return nil
	}
	rows, err := queryConn(s.conn, `SELECT rowid + 1000, name, type FROM `+quoteIdent(d.schema)+`.sqlite_master WHERE type IN ('table','view') AND name NOT LIKE 'sqlite%' AND name NOT LIKE '\_\_mssqlsim%' ESCAPE '\'`)
	if err != nil {
		return nil
	}
	var out [][]any
	for _, r := range rows {
		full, _ := r[1].(string)
		typ, _ := r[2].(string)
		if tablesOnly && typ != "table" {
			continue
		}
		schema, name, ok := strings.Cut(full, ".")
		if !ok {
			schema, name = "dbo", full
		}
		t, desc := "U ", "USER_TABLE"
		if typ == "view" {
			t, desc = "V ", "VIEW"
		}
		out = append(out, []any{name, r[0], int64(1), t, desc, "2024-01-01 00:00:00.000", schema})
	}
	return out
}

func (db *DB) sessionList() []*Session {
	db.replMu.Lock()
	defer db.replMu.Unlock()
	out := make([]*Session, 0, len(db.sessions))
	for s := range db.sessions {
		out = append(out, s)
	}
	return out
}

// allDatabases lists the databases with tempdb, model and msdb added.
func (db *DB) allDatabases() []dbInfo {
	list := db.databaseList()
	out := []dbInfo{list[0], {name: "tempdb", id: 2}, {name: "model", id: 3}, {name: "msdb", id: 4}}
	return append(out, list[1:]...)
}

const (
	replicaGUID = "5F7E3A4C-1B2D-4C3E-9F00-0000000000"
	groupGUID   = "A1B2C3D4-0000-4000-8000-000000000001"
)

func (db *DB) syncState() string {
	h := db.health.Load()
	if h.SynchronizationState != "" {
		return h.SynchronizationState
	}
	if db.IsPrimary() {
		return "SYNCHRONIZED"
	}
	return "SYNCHRONIZING"
}

func hadrDatabaseRows(s *Session) [][]any {
	db := s.db
	h := db.health.Load()
	if h.HadrDisabled {
		return nil
	}
	state := db.syncState()
	stateCode := map[string]int64{"NOT SYNCHRONIZING": 0, "SYNCHRONIZING": 1, "SYNCHRONIZED": 2, "REVERTING": 3, "INITIALIZING": 4}[state]
	health := "HEALTHY"
	if state == "NOT SYNCHRONIZING" {
		health = "NOT_HEALTHY"
	}
	_, last := db.LastApplied()
	if !h.LastCommitTime.IsZero() {
		last = h.LastCommitTime
	}
	var lastV any
	if !last.IsZero() {
		lastV = last.Format(layoutDateTime)
	}
	lag := int64(0)
	if !db.IsPrimary() {
		lag = int64(h.SecondaryLag / time.Second)
	}
	var out [][]any
	for _, d := range db.databaseList()[1:] {
		out = append(out, []any{int64(d.id), fmt.Sprintf("%s%02d", replicaGUID[:34], d.id), replicaGUID + fmt.Sprintf("%02d", db.id%100),
			int64(1), b2i(db.IsPrimary()), stateCode, state, int64(2), health, "ONLINE", int64(0), lastV, lag, int64(0), int64(0)})
	}
	return out
}

func hadrReplicaRows(s *Session) [][]any {
	db := s.db
	if db.health.Load().HadrDisabled {
		return nil
	}
	role, desc := int64(1), "PRIMARY"
	if !db.IsPrimary() {
		role, desc = 2, "SECONDARY"
	}
	health := "HEALTHY"
	if db.syncState() == "NOT SYNCHRONIZING" {
		health = "NOT_HEALTHY"
	}
	return [][]any{{replicaGUID + fmt.Sprintf("%02d", db.id%100), groupGUID, int64(1), role, desc, "ONLINE", "CONNECTED", "ONLINE", health}}
}

// refreshCatalogs fills the catalog tables a SQLite statement reads.
func (s *Session) refreshCatalogs(sql string) error {
	if !strings.Contains(sql, `"temp"."sys.`) && !strings.Contains(sql, `"temp"."information_schema.`) {
		return nil
	}
	for name, def := range catalogs {
		if !strings.Contains(sql, quoteIdent(name)) {
			continue
		}
		tbl := "temp." + quoteIdent(name)
		if !s.catalogs[name] {
			if err := execConn(s.conn, "CREATE TEMP TABLE IF NOT EXISTS "+quoteIdent(name)+" ("+def.cols+")"); err != nil {
				return fmt.Errorf("sqlengine: creating catalog %s: %w", name, err)
			}
			s.catalogs[name] = true
		}
		if err := execConn(s.conn, "DELETE FROM "+tbl); err != nil {
			return err
		}
		for _, r := range def.rows(s) {
			args := make([]driver.NamedValue, len(r))
			for i, v := range r {
				args[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
			}
			if err := execConn(s.conn, "INSERT INTO "+tbl+" VALUES (?"+strings.Repeat(", ?", len(r)-1)+")", args...); err != nil {
				return fmt.Errorf("sqlengine: filling catalog %s: %w", name, err)
			}
		}
	}
	return nil
}

// serverProperty answers SERVERPROPERTY(name).
func (db *DB) serverProperty(name string) any {
	switch strings.ToLower(name) {
	case "servername", "machinename":
		return db.opts.ServerName
	case "instancename":
		return nil
	case "productversion":
		return "16.0.1000.6"
	case "productmajorversion":
		return "16"
	case "productminorversion":
		return "0"
	case "productlevel":
		return "RTM"
	case "edition":
		return "Developer Edition (64-bit)"
	case "editionid":
		return int64(-2117995310)
	case "engineedition":
		return int64(3)
	case "ishadrenabled":
		return b2i(!db.health.Load().HadrDisabled)
	case "hadrmanagerstatus":
		return int64(1)
	case "isclustered", "isintegratedsecurityonly", "issingleuser", "isfulltextinstalled":
		return int64(0)
	case "collation":
		return "SQL_Latin1_General_CP1_CI_AS"
	case "processid":
		return int64(1)
	case "productupdatelevel":
		return nil
	}
	return nil
}

// databaseProperty answers DATABASEPROPERTYEX(db, property).
func (db *DB) databaseProperty(dbName, prop string) any {
	if _, ok := db.database(dbName); !ok && !strings.EqualFold(dbName, "tempdb") {
		return nil
	}
	switch strings.ToLower(prop) {
	case "updateability":
		if db.IsPrimary() || strings.EqualFold(dbName, "tempdb") {
			return "READ_WRITE"
		}
		return "READ_ONLY"
	case "status":
		return "ONLINE"
	case "useraccess":
		return "MULTI_USER"
	case "recovery":
		return "FULL"
	case "collation":
		return "SQL_Latin1_General_CP1_CI_AS"
	case "version":
		return int64(957)
	case "isautoclose", "isautoshrink":
		return int64(0)
	}
	return nil
}
