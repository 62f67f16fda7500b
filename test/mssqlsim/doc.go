// Package mssqlsim is tdsproxy's SQL Server simulator: a TDS server built on
// the project's tds codec that executes T-SQL through sqlengine (SQLite
// underneath).
//
// It is test infrastructure and the embedded backend of `tdsproxy demo`. It is
// NEVER a production component: it implements just enough of SQL Server for
// real, unmodified clients (go-mssqldb, tedious, FreeTDS, pyodbc, pymssql,
// mssql-jdbc) to connect, run queries, transactions, prepared statements and
// bulk loads, and for the proxy's routing, pooling and failover to be tested.
//
// One Cluster runs, in one process, a primary and any number of replicas, each
// with its own database and listener. Replicas refuse writes and apply the
// primary's committed transactions after a configurable lag; Failover swaps the
// roles. Every Server can be stopped, restarted, have its connections dropped
// and have faults injected (slow or failing logins, slow responses), through
// the Go API or, for the mssqlsim binary, a local HTTP control endpoint (see
// ControlHandler).
//
// Concurrency: every client connection is served by two goroutines, a reader
// (which frames request messages and notices Attention at any time) and a
// processor (which executes one request at a time and streams its response).
// The exported methods of Cluster and Server are safe for concurrent use.
package mssqlsim
