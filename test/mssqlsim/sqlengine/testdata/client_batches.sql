-- batch
CREATE TABLE t(id int primary key, v nvarchar(20));
INSERT INTO t VALUES (1, N'one'), (2, N'two');
SELECT id, v FROM t ORDER BY id;
UPDATE t SET v = UPPER(v);
DELETE FROM t WHERE id = 2;
-- batch
INSERT INTO dbo.t19 (id, v) VALUES (101, N'batch-1') INSERT INTO dbo.t19 (id, v) VALUES (102, N'batch-2') INSERT INTO dbo.t19 (id, v) VALUES (103, N'batch-3') INSERT INTO dbo.t19 (id, v) VALUES (104, N'batch-4') INSERT INTO dbo.t19 (id, v) VALUES (105, N'batch-5')
-- batch
INSERT INTO t06 VALUES (1, N'committed')
-- batch
INSERT INTO t06 VALUES (2, N'rolled back')
-- batch
INSERT INTO t06 VALUES (3, N'tm committed')
-- batch
INSERT INTO t06 VALUES (4, N'tm rolled back')
-- batch
SELECT 'after close' AS marker
-- batch
SELECT 'after error' AS still_alive
-- batch
SELECT 'still usable' AS after_errors
-- batch
SELECT @@SPID AS spid_b, OBJECT_ID('tempdb..#t20') AS temp_table_id
-- batch
SELECT DATABASEPROPERTYEX(DB_NAME(), 'Updateability') AS updateability
-- batch
SELECT TOP 1000 ROW_NUMBER() OVER (ORDER BY (SELECT NULL)) AS n, CAST(REPLICATE(N'x', 45) AS nvarchar(50)) AS pad FROM (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) a(x) CROSS JOIN (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) b(x) CROSS JOIN (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) c(x)
-- batch
SELECT TOP 20000 ROW_NUMBER() OVER (ORDER BY (SELECT NULL)) AS n, CAST(N'row' AS nvarchar(20)) AS label, CAST(12.5 AS float) AS val FROM (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) a(x) CROSS JOIN (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) b(x) CROSS JOIN (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) c(x) CROSS JOIN (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) d(x) CROSS JOIN (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) e(x)
-- batch
WAITFOR DELAY '00:00:05'
-- batch
BEGIN TRAN
-- batch
COMMIT
-- batch
CREATE TABLE #t20 (x int); INSERT INTO #t20 VALUES (1); SELECT @@SPID AS spid_a, (SELECT COUNT(*) FROM #t20) AS temp_rows
-- batch
ROLLBACK
-- batch
SELECT * FROM no_such_table
-- batch
SELECT 1 AS x
-- batch
SELECT 1 AS x, @@OPTIONS AS options
-- batch
SELECT 1
-- batch
SELECT 1/0 AS boom
-- batch
SELECT 2 AS y
-- batch
SELECT @@TRANCOUNT AS trancount
-- batch
SELECT COUNT(*) FROM dbo.t19
-- batch
SELECT COUNT_BIG(*) AS n FROM (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) a(x) CROSS JOIN (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) b(x) CROSS JOIN (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) c(x) CROSS JOIN (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) d(x) CROSS JOIN (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) e(x) CROSS JOIN (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) f(x) CROSS JOIN (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) g(x) CROSS JOIN (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) h(x)
-- batch
SELECT DB_NAME() AS db
-- batch
SELECT encrypt_option FROM sys.dm_exec_connections WHERE session_id = @@SPID
-- batch
SELECT id, 10/(id-5) AS q FROM dbo.t15 ORDER BY id
-- batch
SELECT id, c_int, c_bigint, c_bit, c_dec, c_float, c_nvarchar, c_varcharmax, c_varbinary, c_datetime2, c_date, c_guid FROM dbo.typetest ORDER BY id
-- batch
SELECT id, v FROM t06 ORDER BY id
-- batch
SET ARITHABORT ON;SET CONCAT_NULL_YIELDS_NULL ON;SET ANSI_NULLS ON;SET ANSI_NULL_DFLT_ON ON;SET ANSI_PADDING ON;SET ANSI_WARNINGS ON;SET ANSI_NULL_DFLT_ON ON;SET CURSOR_CLOSE_ON_COMMIT ON;SET QUOTED_IDENTIFIER ON;SET TEXTSIZE 2147483647;
-- batch
SET FMTONLY ON select * from master.dbo.bulk13 SET FMTONLY OFF
-- batch
SET FMTONLY ON
-- batch
SET LANGUAGE us_english
-- batch
SET NOCOUNT OFF
-- batch
SET NOCOUNT ON
-- batch
SET XACT_ABORT ON
-- batch
USE appdb
-- batch
USE master
-- batch
select * from [dbo].[bulk13] SET FMTONLY OFF
-- batch
select * from [dbo].[bulk13c] SET FMTONLY OFF
-- batch
set ansi_nulls on
set ansi_null_dflt_on on
set ansi_padding on
set ansi_warnings on
set arithabort on
set concat_null_yields_null on
set datefirst 7
set dateformat mdy
set implicit_transactions off
set language us_english
set numeric_roundabort off
set quoted_identifier on
set textsize 2147483647
set transaction isolation level read committed
set xact_abort off
-- batch
set textsize 4096 
-- batch
sp_datatype_info_100 -3,3
-- batch
sp_datatype_info_100 -9,3
-- batch
sp_datatype_info_100 12,3
-- batch
sp_datatype_info_100 93,3
