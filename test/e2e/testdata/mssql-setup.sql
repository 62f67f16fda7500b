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
        id int IDENTITY(1,1) PRIMARY KEY,
        name nvarchar(100) NOT NULL,
        email varchar(200) NULL,
        created datetime2 NOT NULL DEFAULT SYSDATETIME()
    );
    INSERT INTO dbo.customers (name, email)
    SELECT TOP (200) N'Customer ' + CAST(n AS nvarchar(10)), 'customer' + CAST(n AS varchar(10)) + '@example.com'
    FROM (SELECT ROW_NUMBER() OVER (ORDER BY (SELECT NULL)) AS n FROM sys.all_objects) AS t;
END
GO
IF OBJECT_ID(N'sales.orders') IS NULL
BEGIN
    CREATE TABLE sales.orders (
        id int IDENTITY(1,1) PRIMARY KEY,
        customer_id int NOT NULL,
        amount decimal(12,2) NOT NULL,
        placed_at datetime NOT NULL,
        status varchar(20) NOT NULL
    );
    INSERT INTO sales.orders (customer_id, amount, placed_at, status) VALUES
        (1, 100.00, '2024-01-02T10:00:00', 'paid'), (2, 25.50, '2024-01-03T11:00:00', 'new');
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
        c_int int, c_bigint bigint, c_smallint smallint, c_tinyint tinyint, c_bit bit,
        c_decimal decimal(18,4), c_numeric numeric(10,2), c_float float, c_real real, c_money money,
        c_nvarchar nvarchar(50), c_varchar varchar(50), c_nvarcharmax nvarchar(max), c_varcharmax varchar(max),
        c_varbinary varbinary(50), c_varbinarymax varbinary(max),
        c_datetime datetime, c_datetime2 datetime2, c_date date, c_time time, c_uniqueidentifier uniqueidentifier
    );
    -- REPLICATE of a non-max string stops at 8000 bytes: cast to (max) first.
    INSERT INTO dbo.all_types VALUES (1, 42, 9007199254740993, 32767, 255, 1,
        12345.6789, -98765.43, 3.141592653589793, 2.5, 1234.5678,
        N'héllo wörld ☃', 'plain ascii',
        REPLICATE(CAST(N'ab' AS nvarchar(max)), 3000), REPLICATE(CAST('y' AS varchar(max)), 9000),
        0xDEADBEEF, 0x0102030405,
        '2024-02-29T13:45:30.123', '2024-02-29T13:45:30.1234567', '2024-02-29', '13:45:30.1234567',
        '6F9619FF-8B86-D011-B42D-00C04FC964FF');
    INSERT INTO dbo.all_types (id) VALUES (2);
END
GO
