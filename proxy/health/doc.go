// Package health probes SQL Server backends (go-mssqldb, one small pool per
// backend) on an interval with a timeout, and keeps each backend's state
// (up, lagging, down), availability role (primary, secondary) and replica
// lag, from the catalog views SQL Server Always On exposes:
// sys.dm_hadr_availability_replica_states.role_desc,
// sys.dm_hadr_database_replica_states (secondary_lag_seconds,
// last_commit_time) and DATABASEPROPERTYEX(DB_NAME(), 'Updateability'). A
// server without Always On is a primary when its database takes writes.
//
// The Checker exposes a snapshot (Snapshot), change notifications
// (Subscribe), Prometheus metrics (NewMetrics) and a JSON handler for the
// admin endpoint's /backends (Handler). Reconfigure applies a reloaded
// config without disturbing unchanged backends.
package health
