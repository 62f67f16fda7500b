package health

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The probe's queries. Each is a plain SELECT that SQL Server (2016 and
// later) and the simulator answer; the monitor login needs VIEW SERVER
// STATE for the dm_hadr views (without it they return no rows and the
// backend is judged by Updateability alone).
const (
	// qServer: name, whether the current database takes writes, and
	// whether Always On is enabled on the instance.
	qServer = `SELECT @@SERVERNAME, CONVERT(nvarchar(128), DATABASEPROPERTYEX(DB_NAME(), 'Updateability')), CONVERT(int, SERVERPROPERTY('IsHadrEnabled'))`
	// qRole: the local replica's role in its availability group.
	qRole = `SELECT role_desc FROM sys.dm_hadr_availability_replica_states WHERE is_local = 1`
	// qLag: the local databases' lag and last commit. SQL Server fills
	// secondary_lag_seconds on the primary's rows for its secondaries and
	// leaves it NULL on a secondary's own rows; the simulator reports each
	// instance's own lag on its local rows. Both are handled.
	qLag = `SELECT secondary_lag_seconds, last_commit_time FROM sys.dm_hadr_database_replica_states WHERE is_local = 1`
)

// probeResult is what one successful probe learnt.
type probeResult struct {
	serverName string
	role       Role
	// lag is the largest secondary_lag_seconds over the local databases;
	// lagKnown is false when every row had NULL (or there were none).
	lag      time.Duration
	lagKnown bool
	// lastCommit is the earliest last_commit_time over the local databases
	// (server clock), zero when unknown.
	lastCommit time.Time
}

// errNotServing is returned for a backend whose role is neither primary nor
// secondary (RESOLVING: in the middle of a failover).
var errNotServing = errors.New("availability replica is neither primary nor secondary")

// probe runs the probe queries on db.
func probe(ctx context.Context, db *sql.DB) (probeResult, error) {
	var r probeResult
	var name, upd sql.NullString
	var hadr sql.NullInt64
	if err := db.QueryRowContext(ctx, qServer).Scan(&name, &upd, &hadr); err != nil {
		return r, fmt.Errorf("server query: %w", err)
	}
	r.serverName = name.String
	// Without Always On: a database that takes writes is a primary
	// (standalone server); a read-only one (log shipping standby, a
	// read-only database) is a secondary without a measurable lag.
	r.role = RolePrimary
	if strings.EqualFold(upd.String, "READ_ONLY") {
		r.role = RoleSecondary
	}
	if hadr.Int64 != 1 {
		return r, nil
	}
	var roleDesc sql.NullString
	switch err := db.QueryRowContext(ctx, qRole).Scan(&roleDesc); {
	case errors.Is(err, sql.ErrNoRows):
		// HADR enabled but this instance is in no availability group (or
		// the login lacks VIEW SERVER STATE): Updateability decides.
		return r, nil
	case err != nil:
		return r, fmt.Errorf("role query: %w", err)
	}
	switch strings.ToUpper(roleDesc.String) {
	case "PRIMARY":
		r.role = RolePrimary
	case "SECONDARY":
		r.role = RoleSecondary
	default:
		return r, fmt.Errorf("%w: role_desc %q", errNotServing, roleDesc.String)
	}
	rows, err := db.QueryContext(ctx, qLag)
	if err != nil {
		return r, fmt.Errorf("lag query: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var lag sql.NullInt64
		var last sql.NullTime
		if err := rows.Scan(&lag, &last); err != nil {
			return r, fmt.Errorf("lag query: %w", err)
		}
		if lag.Valid {
			r.lagKnown = true
			r.lag = max(r.lag, time.Duration(max(lag.Int64, 0))*time.Second)
		}
		if last.Valid && (r.lastCommit.IsZero() || last.Time.Before(r.lastCommit)) {
			r.lastCommit = last.Time
		}
	}
	if err := rows.Err(); err != nil {
		return r, fmt.Errorf("lag query: %w", err)
	}
	return r, nil
}

// lagGranularity is the resolution of secondary_lag_seconds: a reported lag
// of L seconds means a true lag below L+1 s.
const lagGranularity = time.Second

// apply folds a probe's outcome into the previous status. start is when the
// probe began, primaryLastCommit the current primary's last commit time
// (zero when unknown), downAfter the configured DownAfter.
func apply(prev BackendStatus, res probeResult, err error, start time.Time, took time.Duration, primaryLastCommit time.Time, downAfter int) BackendStatus {
	s := prev
	s.CheckedAt, s.Latency = start, took
	if err != nil {
		s.Failures++
		s.LastError = err.Error()
		if s.Failures >= downAfter || s.State == StateUnknown || errors.Is(err, errNotServing) {
			s.State = StateDown
		}
		if s.State != prev.State {
			s.Since = start
		}
		return s
	}
	s.Failures, s.LastError = 0, ""
	s.ServerName, s.Role = res.serverName, res.role
	switch {
	case res.role == RolePrimary:
		s.Lag, s.LagKnown, s.AppliedThrough = 0, true, start
	case res.lagKnown:
		s.Lag, s.LagKnown = res.lag, true
		s.AppliedThrough = start.Add(-(res.lag + lagGranularity))
	case !res.lastCommit.IsZero() && !primaryLastCommit.IsZero():
		// SQL Server's own secondary rows: estimate from commit times
		// (both server clocks of one group). Only an estimate: it says
		// nothing exact about which writes are applied.
		s.Lag, s.LagKnown = max(primaryLastCommit.Sub(res.lastCommit), 0), true
		s.AppliedThrough = time.Time{}
	default:
		s.Lag, s.LagKnown, s.AppliedThrough = 0, false, time.Time{}
	}
	s.State = StateUp
	if s.Role == RoleSecondary && s.MaxLag > 0 && (!s.LagKnown || s.Lag > s.MaxLag) {
		s.State = StateLagging
	}
	if s.State != prev.State {
		s.Since = start
	}
	return s
}
