// Package sqlengine is the SQL engine of mssqlsim, the project's SQL Server
// simulator. It is test infrastructure and the embedded backend of
// `tdsproxy demo` — never a production component, and no substitute for
// SQL Server's semantics beyond what clients and the proxy's tests need.
//
// T-SQL runs for real on SQLite (modernc.org/sqlite, one file per database
// in WAL mode): a small lexer splits a batch into statements (with or without
// semicolons), statements are translated to SQLite (names, TOP, OFFSET/FETCH,
// CAST/CONVERT, ISNULL, + on strings, GETDATE() and friends, @@variables,
// division by zero as an error, ...), and results come back typed as SQL
// Server types them: declared column types are kept as SQLite column types,
// expressions are typed by a small inference (literals, CAST targets,
// functions, arithmetic), and what cannot be inferred is typed from the
// values. Parsed batches and translations are cached by text; a constant
// SELECT (go-mssqldb's "select 1;" ping) is answered without SQLite.
//
// Each session has its own SQLite connection (its transactions, #temp
// tables and isolation are SQLite's), opened on the session's first
// statement that needs SQLite: a login, the ping, USE and SET cost no file
// descriptors, so thousands of idle clients fit under the usual descriptor
// limits (an open connection holds four: master, demo and their WAL files).
//
// # Names
//
// Each database is a SQLite schema on every session's connection (master is
// "main", others are attached under their lower-case name). A T-SQL table
// schema.name becomes the SQLite table "schema.name" in its database; #temp
// tables live in SQLite's per-connection temp schema, so they are private to
// a session. Character columns are declared COLLATE NOCASE
// (SQL_Latin1_General_CP1_CI_AS compares case-insensitively).
//
// # Errors
//
// Errors carry SQL Server's numbers, classes and continuation: 102 syntax
// (the batch does not run), 207/208 invalid column/object and 245 conversion
// (the batch stops), 8134 divide by zero, 2627 duplicate key (class 14), 515
// NULL into NOT NULL, 547 constraint, 3906 write on a replica (the statement
// fails, the batch goes on), 4060 unknown database at login (LoginError),
// 137 undeclared variable, 2812 unknown procedure, 8179 bad prepared handle.
// SET XACT_ABORT ON and BEGIN TRY/CATCH behave as in SQL Server.
//
// # Statements
//
// SELECT (TOP, OFFSET/FETCH, joins, subqueries, CTEs, window functions,
// SELECT ... INTO, @v = assignment), INSERT/UPDATE/DELETE (with OUTPUT
// inserted./deleted., mapped to RETURNING), CREATE/DROP/ALTER TABLE
// (IDENTITY, PRIMARY KEY, UNIQUE, DEFAULT, CHECK; foreign keys accepted but
// not enforced), CREATE INDEX/VIEW/SCHEMA/DATABASE, TRUNCATE, USE,
// DECLARE/SET (also table variables), IF/ELSE, WHILE, BEGIN/END, TRY/CATCH, BEGIN/COMMIT/ROLLBACK/
// SAVE TRAN, SET options (NOCOUNT, XACT_ABORT, IMPLICIT_TRANSACTIONS,
// FMTONLY, LANGUAGE, ... the others are accepted), EXEC (procedures,
// sp_executesql, dynamic SQL), WAITFOR DELAY/TIME, PRINT, RAISERROR, THROW.
//
// # Health catalog
//
// The catalog views and functions SQL Server Always On exposes, with values
// from SetRole and SetHealthInfo:
//
//   - sys.dm_hadr_database_replica_states: one row per user database (not
//     master), all local (is_local = 1): database_id, group_database_id,
//     replica_id, is_local, is_primary_replica, synchronization_state(_desc)
//     (HealthInfo.SynchronizationState; default SYNCHRONIZED on a primary,
//     SYNCHRONIZING on a replica), synchronization_health(_desc),
//     database_state_desc, is_suspended, last_commit_time (the last commit
//     on a primary, the last applied commit on a replica, or
//     HealthInfo.LastCommitTime), secondary_lag_seconds
//     (HealthInfo.SecondaryLag on a replica, 0 on a primary — SQL Server
//     reports it on the primary's rows for its secondaries; the simulator
//     reports each instance's own lag on its local row), log_send_queue_size,
//     redo_queue_size. No rows when HealthInfo.HadrDisabled.
//   - sys.dm_hadr_availability_replica_states: the local replica: replica_id,
//     group_id, is_local, role (1/2), role_desc (PRIMARY/SECONDARY),
//     operational_state_desc, connected_state_desc, recovery_health_desc,
//     synchronization_health_desc.
//   - sys.fn_hadr_is_primary_replica('db'): 1 on a primary, 0 on a replica,
//     NULL for an unknown database.
//   - DATABASEPROPERTYEX(DB_NAME(), 'Updateability'): READ_WRITE or
//     READ_ONLY (sql_variant), also Status, Recovery, Collation, UserAccess.
//   - SERVERPROPERTY('IsHadrEnabled') (1 unless HadrDisabled),
//     'ServerName', 'MachineName', 'ProductVersion' (16.0.1000.6), 'Edition',
//     'EngineEdition' (3), 'Collation', ... as sql_variant.
//   - @@SERVERNAME (Options.ServerName), @@VERSION ("Microsoft SQL Server
//     2022 (RTM) - 16.0.1000.6 (X64) (mssqlsim) ..."), @@SPID, @@TRANCOUNT.
//   - Also: sys.databases, sys.tables, sys.objects, sys.schemas,
//     sys.dm_exec_connections (encrypt_option from Session.SetEncrypted),
//     sys.dm_exec_sessions,
//     INFORMATION_SCHEMA.TABLES and INFORMATION_SCHEMA.COLUMNS.
//
// # Sample data (Options.SampleData)
//
// Database demo (database_id 5) with schemas dbo and sales:
//
//   - dbo.customers (id int IDENTITY PRIMARY KEY, name nvarchar(100),
//     email varchar(200), created datetime2): 200 rows; row i has name
//     "Customer i", email "customeri@example.com", created 2024-01-01 plus
//     (i mod 365) days at 09:00.
//   - sales.orders (id int IDENTITY PRIMARY KEY, customer_id int,
//     amount decimal(12,2), placed_at datetime, status varchar(20)): 500
//     rows; order i belongs to customer (i mod 200)+1, amount is
//     ((i*3719) mod 100000)/100 + 5 (order 1: 42.19), status cycles
//     new/paid/shipped/cancelled by i mod 4 (order 1: paid).
//   - sales.order_lines (id, order_id, line_no, product nvarchar(100),
//     quantity int, unit_price decimal(10,2)): 2 lines per order (1000).
//   - dbo.numbers (n int): a view of 1..100000 (for large results).
//
// dbo.all_types (id int PRIMARY KEY and one column per type) has two rows:
// id 2 is all NULL, id 1 holds:
//
//	c_int int                     42
//	c_bigint bigint               9007199254740993
//	c_smallint smallint           32767
//	c_tinyint tinyint             255
//	c_bit bit                     1
//	c_decimal decimal(18,4)       12345.6789
//	c_numeric numeric(10,2)       -98765.43
//	c_float float                 3.141592653589793
//	c_real real                   2.5
//	c_money money                 1234.5678
//	c_nvarchar nvarchar(50)       N'héllo wörld ☃'
//	c_varchar varchar(50)         'plain ascii'
//	c_nvarcharmax nvarchar(max)   N'ab' repeated 3000 times (6000 chars)
//	c_varcharmax varchar(max)     'y' repeated 9000 times
//	c_varbinary varbinary(50)     0xDEADBEEF
//	c_varbinarymax varbinary(max) 0x0102030405
//	c_datetime datetime           2024-02-29 13:45:30.123
//	c_datetime2 datetime2(7)      2024-02-29 13:45:30.1234567
//	c_date date                   2024-02-29
//	c_time time(7)                13:45:30.1234567
//	c_uniqueidentifier            6F9619FF-8B86-D011-B42D-00C04FC964FF
//
// The sample data is deterministic, so a primary and its replicas opened
// with SampleData start identical.
//
// # Replication
//
// On a replica every database, master included, is read-only (in SQL
// Server master is not part of an availability group and stays writable);
// temporary tables stay writable.
//
// Replication is row based (see repl.go): the committed changes of a
// primary reach SetReplicationHook in commit order and replicas apply them
// with Apply, so values computed on the primary (identities, defaults,
// GETDATE(), NEWID()) arrive unchanged.
//
// # Limits
//
// Procedures: CREATE [OR ALTER] PROCEDURE with parameters (defaults,
// OUTPUT), a body of the statements above and RETURN n; they are callable
// by RPC (name) and EXEC, and replicate. Table variables (DECLARE @t
// TABLE) are temporary tables living for one request. Not supported:
// functions, triggers, cursors, MERGE, OUTPUT ... INTO, bulk load (the TDS
// server turns bulk loads into INSERTs). Decimal and money values are kept
// as SQLite REAL (about 15 significant digits). Identity columns are SQLite
// rowids and always report int. Transactions are SQLite's: a transaction
// that read, then writes after another session committed is restarted if
// it has not written yet, and fails with 1222 otherwise. A database name
// must be a valid identifier; at most 9 databases per instance.
package sqlengine
