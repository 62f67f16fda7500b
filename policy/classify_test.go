package policy

import "testing"

// TestClassifyStatements covers every statement kind and the objects each
// one reads and writes. The want column is Classification.Describe: one
// line per statement, "kind(type): action object, …".
func TestClassifyStatements(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sql  string
		want string
	}{
		{"SELECT 1", "select: select"},
		{"SELECT a FROM t", "select: select t"},
		{"SELECT * FROM db.s.t JOIN srv.db2.s2.t2 ON 1=1", "select: select db.s.t, select srv.db2.s2.t2"},
		{"SELECT * FROM #tmp JOIN ##g ON 1=1", "select: select #tmp(temp), select ##g(temp)"},
		{"WITH c AS (SELECT * FROM a.b) SELECT * FROM c JOIN d ON 1=1", "select: select a.b, select d"},
		{"INSERT INTO s.t (a) VALUES (1)", "insert: insert s.t"},
		{"INSERT s.t SELECT * FROM s.u", "insert: select s.u, insert s.t"},
		{"INSERT INTO s.t EXEC s.p 1", "insert: exec s.p, insert s.t"},
		{"INSERT INTO s.t EXEC('SELECT 1')", "insert: dynamic_sql, insert s.t\nselect [dynamic]: select"},
		{"INSERT BULK s.t (a int)", "bulk_insert: bulk_insert s.t"},
		{"BULK INSERT s.t FROM 'f' WITH (TABLOCK)", "bulk_insert: bulk_insert s.t"},
		{"UPDATE s.t SET a = (SELECT max(b) FROM s.u) WHERE c = 1", "update: select s.u, update s.t"},
		{"UPDATE x SET a = 1 FROM s.t AS x JOIN s.u y ON x.id = y.id", "update: select s.t, select s.u, update s.t"},
		{"DELETE FROM s.t WHERE a IN (SELECT a FROM s.u)", "delete: select s.u, delete s.t"},
		{"DELETE x FROM s.t x", "delete: select s.t, delete s.t"},
		{"MERGE INTO s.t AS tgt USING (SELECT * FROM s.u) AS src ON tgt.id = src.id WHEN MATCHED THEN UPDATE SET a = src.a WHEN NOT MATCHED BY SOURCE THEN DELETE;", "merge: select s.u, merge s.t"},
		{"TRUNCATE TABLE s.t", "truncate: truncate s.t"},
		{"SELECT a INTO s.new FROM s.t", "select_into: select_into s.new, select s.t"},
		{"SELECT a INTO #n FROM s.t", "select_into: select_into #n(temp), select s.t"},
		{"CREATE TABLE s.t (a int PRIMARY KEY)", "create(table): create s.t"},
		{"CREATE UNIQUE NONCLUSTERED INDEX ix ON s.t (a) WITH (ONLINE = ON)", "create(index): create s.t"},
		{"DROP INDEX s.t.ix", "drop(index): drop s.t"},
		{"DROP INDEX ix ON s.t", "drop(index): drop s.t"},
		{"CREATE OR ALTER PROCEDURE s.p AS BEGIN DELETE FROM x END", "create(procedure): create s.p"},
		{"ALTER TABLE s.t DROP COLUMN a", "alter(table): alter s.t"},
		{"ALTER TABLE s.t ADD b int DROP TABLE s.u", "alter(table): alter s.t\ndrop(table): drop s.u"},
		{"DROP VIEW IF EXISTS s.v, s.w", "drop(view): drop s.v, drop s.w"},
		{"CREATE LOGIN l WITH PASSWORD = 'p'", "create(login): create"},
		{"CREATE DATABASE SCOPED CREDENTIAL c WITH IDENTITY = 'i'", "create(database_scoped_credential): create"},
		{"ALTER DATABASE d SET RECOVERY SIMPLE", "alter(database): alter"},
		{"CREATE APPLICATION ROLE r WITH PASSWORD = 'x'", "create(application_role): create"},
		{"CREATE XML SCHEMA COLLECTION s.c AS N'<x/>'", "create(xml_schema_collection): create s.c"},
		{"GRANT SELECT, INSERT ON OBJECT::s.t TO u WITH GRANT OPTION", "grant: grant s.t"},
		{"REVOKE EXECUTE ON SCHEMA::s FROM u", "revoke(schema): revoke"},
		{"DENY DELETE ON s.t TO u CASCADE", "deny: deny s.t"},
		{"EXEC s.p @a = 1, @b = 'x' OUTPUT", "exec: exec s.p"},
		{"EXECUTE @rc = s.p", "exec: exec s.p"},
		{"s.p 1, 2", "exec: exec s.p"},
		{"EXEC ('SELECT 1 FROM a.b') AS USER = 'u'", "dynamic_sql: dynamic_sql, execute_as\nselect [dynamic]: select a.b"},
		{"EXEC (@sql)", "dynamic_sql: dynamic_sql, unknown (dynamic SQL built at run time)"},
		{"EXEC sp_executesql N'SELECT * FROM a.b WHERE c = @c', N'@c int', @c = 1", "dynamic_sql: dynamic_sql\nselect [dynamic]: select a.b"},
		{"EXEC sp_executesql @stmt", "dynamic_sql: dynamic_sql, unknown (sp_executesql with a statement built at run time)"},
		{"EXEC @p", "exec: exec, unknown (procedure name held in a variable)"},
		{"SET NOCOUNT ON", "set(nocount): set"},
		{"SET @x = 1", "set(variable): set"},
		{"SET TRANSACTION ISOLATION LEVEL SNAPSHOT", "set(transaction_isolation_level): set"},
		{"SET IDENTITY_INSERT s.t ON", "set(identity_insert): set"},
		{"USE d SELECT * FROM t", "use(d): use\nselect: select d..t"},
		{"BEGIN TRAN t1", "begin_tran: begin_tran"},
		{"BEGIN TRANSACTION", "begin_tran: begin_tran"},
		{"BEGIN DISTRIBUTED TRANSACTION", "distributed_tran: distributed_tran"},
		{"COMMIT TRANSACTION t1", "commit: commit"},
		{"ROLLBACK WORK", "rollback: rollback"},
		{"SAVE TRANSACTION sp1", "save_tran: save_tran"},
		{"DECLARE @a int = 1, @b varchar(10)", "declare(variable): declare"},
		{"DECLARE c CURSOR FOR SELECT a FROM s.t FOR UPDATE OF a", "declare(cursor): declare, select s.t"},
		{"IF @a = 1 BEGIN SELECT 1 END ELSE SELECT 2", "if: if\nblock: block\nselect: select\nelse: else\nselect: select"},
		{"WHILE @a < 10 SET @a += 1", "while: while\nset(variable): set"},
		{"BEGIN TRY SELECT 1 END TRY BEGIN CATCH THROW END CATCH", "try: try\nselect: select\ncatch: catch\nraiserror: raiserror"},
		{"RETURN 1", "return: return"},
		{"lbl: GOTO lbl", "goto(label): goto\ngoto: goto"},
		{"WAITFOR DELAY '00:00:01'", "waitfor: waitfor"},
		{"DBCC FREEPROCCACHE WITH NO_INFOMSGS", "dbcc(freeproccache): dbcc"},
		{"BACKUP LOG d TO DISK = 'x' WITH INIT", "backup: backup"},
		{"RESTORE DATABASE d FROM DISK = 'x'", "restore: restore"},
		{"KILL 52", "kill: kill"},
		{"SHUTDOWN", "shutdown: shutdown"},
		{"RECONFIGURE WITH OVERRIDE", "reconfigure: reconfigure"},
		{"CHECKPOINT", "checkpoint: checkpoint"},
		{"SELECT * FROM OPENROWSET(BULK 'x', SINGLE_CLOB) AS d", "select: select, openrowset"},
		{"EXECUTE AS USER = 'u'", "execute_as: execute_as"},
		{"REVERT", "revert: revert"},
		{"PRINT 'x'", "print: print"},
		{"OPEN c FETCH NEXT FROM c INTO @a CLOSE c DEALLOCATE c", "cursor: cursor\ncursor: cursor\ncursor: cursor\ncursor: cursor"},
		{"SELECT * FROM s.f(1) CROSS APPLY s.g(x) OUTER APPLY (SELECT * FROM s.h) z", "select: select s.f, select s.g, select s.h"},
		{"SELECT s.fn(a), x.value('.', 'int'), COUNT(*) FROM s.t", "select: select s.fn, select s.t"},
		{"UPDATE STATISTICS s.t", "update_statistics: update_statistics s.t"},
		{"SELECT 1 FROM", "select: select"},
		{"END", "unknown: unknown (END without BEGIN)"},
		{"BEGIN", "block: block\nunknown: unknown (BEGIN without END)"},
		{"SELECT * FROM a.b x WHERE x.c = 1 UNION ALL (SELECT * FROM c.d)", "select: select a.b, select c.d"},
		{"INSERT INTO s.t SELECT * FROM (MERGE s.u USING s.v ON 1=1 WHEN MATCHED THEN DELETE OUTPUT deleted.*) AS m;", "merge: merge s.u\ninsert: insert s.t"},
		{"WITH x AS (SELECT * FROM s.a) INSERT INTO s.b SELECT * FROM x", "insert: select s.a, insert s.b"},
		{"WITH XMLNAMESPACES ('uri' AS ns) SELECT * FROM s.t", "select: select s.t"},
		{"DELETE TOP (10) FROM s.t OUTPUT deleted.* INTO s.archive", "delete: insert s.archive, delete s.t"},
		{"UPDATE s.t SET a = 1 SET NOCOUNT OFF", "update: update s.t\nset(nocount): set"},
		{"DECLARE @t TABLE (a int) INSERT @t VALUES (1) SELECT * FROM @t", "declare(variable): declare\ninsert: insert\nselect: select"},
		{"SELECT * FROM s.t WHERE a = 1 ORDER BY a OFFSET 0 ROWS FETCH NEXT 1 ROWS ONLY", "select: select s.t"},
		{"ENABLE TRIGGER tr ON s.t", "alter(trigger): alter s.t"},
		{"READTEXT s.t.c @p 0 1", "readtext: readtext s.t"},
		{"SEND ON CONVERSATION @h MESSAGE TYPE m ('x')", "broker: broker"},
		{"GET CONVERSATION GROUP @g FROM s.q", "broker: broker, select s.q"},
		{"RAISERROR (N'x', 16, 1) WITH LOG", "raiserror: raiserror"},
		{"SELECT a FROM s.t t1 INNER JOIN s.u t2 ON t1.a = t2.a LEFT JOIN s.v t3 ON 1=1 RIGHT OUTER JOIN s.w ON 1=1", "select: select s.t, select s.u, select s.v, select s.w"},
	}
	for _, tc := range tests {
		t.Run(tc.sql, func(t *testing.T) {
			t.Parallel()
			if got := ClassifyText(tc.sql).Describe(); got != tc.want {
				t.Errorf("ClassifyText(%q):\ngot:\n%s\nwant:\n%s", tc.sql, got, tc.want)
			}
		})
	}
}
