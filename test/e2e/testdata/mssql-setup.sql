-- Creates the sample objects the client matrix (test/e2e) expects, on a real
-- SQL Server named by TDSPROXY_TEST_MSSQL. Idempotent: safe to run on every
-- test run. Batches are separated by GO lines (split by the test, not sqlcmd).
-- Values mirror the simulator's sample data (test/mssqlsim/sqlengine/doc.go)
-- and test/e2e/sampledata_test.go.
IF DB_ID(N'demo') IS NULL CREATE DATABASE demo;
GO
USE demo;
GO
IF SCHEMA_ID(N'sales') IS NULL EXEC(N'CREATE SCHEMA sales');
GO
IF OBJECT_ID(N'dbo.customers') IS NULL
BEGIN
    CREATE TABLE dbo.customers (
        id int NOT NULL PRIMARY KEY,
        name nvarchar(100) NOT NULL,
        email nvarchar(200) NULL,
        created_at datetime2 NOT NULL DEFAULT SYSUTCDATETIME()
    );
    INSERT INTO dbo.customers (id, name, email) VALUES
        (1, N'Ada Lovelace', N'ada@example.com'),
        (2, N'Grace Hopper', N'grace@example.com'),
        (3, N'Edsger Dijkstra', NULL);
END
GO
IF OBJECT_ID(N'sales.orders') IS NULL
BEGIN
    CREATE TABLE sales.orders (
        id int NOT NULL PRIMARY KEY,
        customer_id int NOT NULL,
        amount decimal(18, 2) NOT NULL,
        ordered_at datetime2 NOT NULL DEFAULT SYSUTCDATETIME()
    );
    INSERT INTO sales.orders (id, customer_id, amount) VALUES
        (1, 1, 100.00), (2, 1, 25.50), (3, 2, 9.99);
END
GO
IF OBJECT_ID(N'dbo.numbers') IS NULL
BEGIN
    CREATE TABLE dbo.numbers (n int NOT NULL PRIMARY KEY);
    WITH d AS (SELECT v FROM (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) AS t(v))
    INSERT INTO dbo.numbers (n)
    SELECT 1 + a.v + 10 * b.v + 100 * c.v + 1000 * e.v + 10000 * f.v
    FROM d a, d b, d c, d e, d f;  -- 1..100000
END
GO
IF OBJECT_ID(N'dbo.all_types') IS NULL
BEGIN
    CREATE TABLE dbo.all_types (
        id int NOT NULL PRIMARY KEY,
        c_int int NULL,
        c_bigint bigint NULL,
        c_smallint smallint NULL,
        c_tinyint tinyint NULL,
        c_bit bit NULL,
        c_decimal decimal(18, 4) NULL,
        c_numeric numeric(10, 2) NULL,
        c_float float NULL,
        c_real real NULL,
        c_money money NULL,
        c_nvarchar nvarchar(50) NULL,
        c_varchar varchar(50) NULL,
        c_nvarcharmax nvarchar(max) NULL,
        c_varcharmax varchar(max) NULL,
        c_varbinary varbinary(50) NULL,
        c_varbinarymax varbinary(max) NULL,
        c_datetime datetime NULL,
        c_datetime2 datetime2(7) NULL,
        c_date date NULL,
        c_time time(7) NULL,
        c_uniqueidentifier uniqueidentifier NULL
    );
    INSERT INTO dbo.all_types VALUES (
        1, 2147483647, 9223372036854775807, -32768, 255, 1,
        12345678901234.5678, -12345678.90, 3.141592653589793, 2.5, 922337203685477.5807,
        N'héllo wörld ☃', 'hello world', N'ünïcødé max', 'ascii max',
        0xDEADBEEF, 0x00FF00FF,
        '2024-02-29T13:45:30.123', '2024-02-29T13:45:30.1234567', '2024-02-29', '13:45:30.1234567',
        '6F9619FF-8B86-D011-B42D-00C04FC964FF');
    INSERT INTO dbo.all_types (id) VALUES (2);
END
GO
