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
	// qRemoteLag: on a primary, each secondary's lag as the primary sees it
	// (SQL Server fills secondary_lag_seconds there). Asked only when the
	// primary's own rows carry no lag, as on SQL Server.
	qRemoteLag = `SELECT ar.replica_server_name, MAX(drs.secondary_lag_seconds)
FROM sys.dm_hadr_database_replica_states AS drs
JOIN sys.availability_replicas AS ar ON ar.replica_id = drs.replica_id
WHERE drs.is_local = 0
GROUP BY ar.replica_server_name`
)

// remoteLag is a secondary's lag as reported by the primary's probe.
type remoteLag struct {
	lag time.Duration
	at  time.Time // the start of the primary's probe
}

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
	// remote maps upper-cased secondary server names to their lag, as a
	// primary reports them (qRemoteLag); nil when not asked or not known.
	remote map[string]time.Duration
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
	if r.role == RolePrimary && !r.lagKnown {
		// Best effort: a login without access to sys.availability_replicas
		// still gets roles and commit-time estimates.
		r.remote, _ = remoteLags(ctx, db)
	}
	return r, nil
}

// remoteLags asks a primary for its secondaries' lag.
func remoteLags(ctx context.Context, db *sql.DB) (map[string]time.Duration, error) {
	rows, err := db.QueryContext(ctx, qRemoteLag)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]time.Duration{}
	for rows.Next() {
		var name sql.NullString
		var lag sql.NullInt64
		if err := rows.Scan(&name, &lag); err != nil {
			return nil, err
		}
		if name.Valid && lag.Valid {
			out[strings.ToUpper(name.String)] = time.Duration(max(lag.Int64, 0)) * time.Second
		}
	}
	return out, rows.Err()
}

// lagGranularity is the resolution of secondary_lag_seconds: a reported lag
// of L seconds means a true lag below L+1 s.
const lagGranularity = time.Second

// applyParams are the settings apply needs.
type applyParams struct {
	// primaryLastCommit is the current primary's last commit time (zero
	// when unknown).
	primaryLastCommit time.Time
	// reported is this backend's lag as the primary reported it, if it did.
	reported  *remoteLag
	downAfter int
	lagSlack  time.Duration
}

// apply folds a probe's outcome into the previous status. start is when the
// probe began.
func apply(prev BackendStatus, res probeResult, err error, start time.Time, took time.Duration, p applyParams) BackendStatus {
	s := prev
	s.CheckedAt, s.Latency = start, took
	if err != nil {
		s.Failures++
		s.LastError = err.Error()
		if s.Failures >= p.downAfter || s.State == StateUnknown || errors.Is(err, errNotServing) {
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
		s.AppliedThrough = start.Add(-(res.lag + lagGranularity + max(p.lagSlack, 0)))
	case p.reported != nil:
		// SQL Server: the primary's figure for this secondary, as of the
		// primary's probe.
		s.Lag, s.LagKnown = p.reported.lag, true
		s.AppliedThrough = p.reported.at.Add(-(p.reported.lag + lagGranularity + max(p.lagSlack, 0)))
	case !res.lastCommit.IsZero() && !p.primaryLastCommit.IsZero():
		// SQL Server's own secondary rows: estimate from commit times
		// (both server clocks of one group). Only an estimate: it says
		// nothing exact about which writes are applied.
		s.Lag, s.LagKnown = max(p.primaryLastCommit.Sub(res.lastCommit), 0), true
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
