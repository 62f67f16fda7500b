// Package e2e holds the real-client compatibility matrix: unmodified
// third-party SQL Server clients (go-mssqldb, tedious and mssql for Node,
// FreeTDS tsql, pyodbc over the FreeTDS ODBC driver, pymssql, python-tds, and
// Microsoft's own drivers) run the same scenarios against every target — the
// simulator directly, the simulator through the proxy, and a real SQL Server
// when one is configured: TestClients/<target>/<client>/<scenario>.
//
// Everything lives in _test.go files; run it with `go test ./test/e2e/`. The
// driver programs the tests start are in test/clients/. Each driver prints
// what its client observed as JSON; the assertions are all here. Login
// scenarios run through a wiretap that checks, on the wire, which encryption
// the client really used.
//
// Environment:
//
//	CI=true                       a client that is not installed fails instead of skipping
//	TDSPROXY_COMPAT_OUT=FILE      write the results as JSON (an absolute path: tests run
//	                              in test/e2e); `go run ./test/e2e/compatgen -in FILE`
//	                              renders them as docs/compatibility.md
//	TDSPROXY_TEST_MSSQL=DSN       also run against a real SQL Server (go-mssqldb DSN);
//	                              testdata/mssql-setup.sql creates the sample objects
//	TDSPROXY_TEST_MSSQL_READONLY  HOST:PORT of its readable secondary (readonly scenario)
//	TDSPROXY_TEST_MSSQL_CAFILE    PEM file verifying its certificate (TDS 8 strict)
//	TDSPROXY_E2E_PROXY=off        skip the via-proxy target
package e2e
