// Package e2e holds the real-client compatibility matrix: unmodified
// third-party SQL Server clients (go-mssqldb, tedious and mssql for Node,
// FreeTDS tsql, pyodbc over the FreeTDS ODBC driver, pymssql, python-tds) run
// the same scenarios against every target — the simulator directly, the
// simulator through the proxy, and a real SQL Server when TDSPROXY_TEST_MSSQL
// names one.
//
// Everything lives in _test.go files; run it with `go test ./test/e2e/`. The
// driver programs the tests start are in test/clients/. With
// TDSPROXY_COMPAT_OUT=FILE the run writes its results as JSON, from which
// `go run ./test/e2e/compatgen` renders docs/compatibility.md.
//
// A client that is not installed is skipped with the reason, except when
// CI=true, where it is a failure: CI installs them all (.ci/run).
package e2e
