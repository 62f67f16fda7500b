package sqlengine

import (
	"sync"
	"testing"
	"time"

	"github.com/tdsproxy/tdsproxy/tds"
)

// pair opens a primary and a replica with sample data; committed
// transactions of the primary are collected in order.
func pair(t *testing.T) (primary, replica *DB, txs func() []CommittedTx) {
	t.Helper()
	var err error
	primary, err = Open(Options{ServerName: "PRIMARY", Dir: t.TempDir(), SampleData: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { primary.Close() })
	replica, err = Open(Options{ServerName: "REPLICA", Dir: t.TempDir(), SampleData: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replica.Close() })
	replica.SetRole(false)
	var mu sync.Mutex
	var got []CommittedTx
	primary.SetReplicationHook(func(tx CommittedTx) {
		mu.Lock()
		got = append(got, tx)
		mu.Unlock()
	})
	return primary, replica, func() []CommittedTx {
		mu.Lock()
		defer mu.Unlock()
		return append([]CommittedTx(nil), got...)
	}
}

// TestReplication: committed writes reach the replica in order, with the
// values computed on the primary; rolled-back work and temp tables do not.
func TestReplication(t *testing.T) {
	t.Parallel()
	primary, replica, txs := pair(t)
	p := session(t, primary, "demo")
	mustRun(t, p, "INSERT INTO dbo.customers (name, email) VALUES (N'Zoë', 'zoe@example.com')")
	mustRun(t, p, "BEGIN TRAN UPDATE sales.orders SET status = 'archived' WHERE id <= 3 DELETE FROM sales.order_lines WHERE order_id = 1 COMMIT")
	mustRun(t, p, "BEGIN TRAN INSERT INTO dbo.customers (name) VALUES (N'ghost') ROLLBACK")
	mustRun(t, p, "CREATE TABLE #tmp (x int) INSERT INTO #tmp VALUES (1)")
	mustRun(t, p, "CREATE TABLE dbo.events (id int IDENTITY PRIMARY KEY, at datetime2 DEFAULT SYSDATETIME(), g uniqueidentifier) INSERT INTO dbo.events (g) VALUES (NEWID())")
	run(t, p, "INSERT INTO dbo.customers (id, name) VALUES (1, N'duplicate')") // fails: nothing to replicate
	r := mustRun(t, p, "SELECT id, name INTO dbo.cust_copy FROM dbo.customers WHERE id <= 5 DELETE FROM sales.order_lines TRUNCATE TABLE dbo.all_types")
	if r.dones[0].RowCount != 5 || r.dones[1].RowCount != 998 {
		t.Errorf("SELECT INTO / DELETE row counts %+v", r.dones)
	}
	got := txs()
	if len(got) != 7 {
		t.Fatalf("%d transactions replicated, want 7", len(got))
	}
	for i, tx := range got {
		if tx.LSN != uint64(i+1) || tx.CommitTime.IsZero() || tx.Statements() == 0 {
			t.Errorf("tx %d: LSN %d time %v statements %d", i, tx.LSN, tx.CommitTime, tx.Statements())
		}
	}
	if lsn, _ := primary.LastApplied(); lsn != 7 {
		t.Errorf("primary LastApplied %d", lsn)
	}
	for _, tx := range got {
		if err := replica.Apply(tx); err != nil {
			t.Fatalf("Apply LSN %d: %v", tx.LSN, err)
		}
	}
	if err := replica.Apply(got[0]); err != nil {
		t.Errorf("re-applying an old LSN: %v", err)
	}
	lsn, ct := replica.LastApplied()
	if lsn != 7 || !ct.Equal(got[6].CommitTime) {
		t.Errorf("replica LastApplied %d %v", lsn, ct)
	}
	rs := session(t, replica, "demo")
	for _, q := range []string{
		"SELECT id, name, email, created FROM dbo.customers ORDER BY id",
		"SELECT * FROM sales.orders ORDER BY id",
		"SELECT COUNT(*) FROM sales.order_lines",
		"SELECT * FROM dbo.events",
		"SELECT * FROM dbo.cust_copy ORDER BY id",
		"SELECT COUNT(*) FROM dbo.all_types",
	} {
		a, b := mustRun(t, p, q), mustRun(t, rs, q)
		if !equalSets(a.sets, b.sets) {
			t.Errorf("%s differs on the replica", q)
		}
	}
}

func equalSets(a, b []*resultSet) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i].rows) != len(b[i].rows) {
			return false
		}
		for j := range a[i].rows {
			for k := range a[i].rows[j] {
				if !equalValue(a[i].rows[j][k], b[i].rows[j][k]) {
					return false
				}
			}
		}
	}
	return true
}

// TestReplicaIsReadOnly: writes fail with 3906, reads work, and the health
// catalog reports the role.
func TestReplicaIsReadOnly(t *testing.T) {
	t.Parallel()
	_, replica, _ := pair(t)
	s := session(t, replica, "demo")
	for _, q := range []string{
		"INSERT INTO dbo.customers (name) VALUES (N'x')",
		"UPDATE sales.orders SET status = 'x'",
		"DELETE FROM sales.orders",
		"CREATE TABLE dbo.nope (x int)",
	} {
		r := run(t, s, q)
		if len(r.errs) != 1 || r.errs[0].Number != ErrReadOnlyDatabase {
			t.Errorf("%s: errors %v", q, r.errs)
		}
	}
	// temp tables stay writable on a replica
	mustRun(t, s, "CREATE TABLE #w (x int) INSERT INTO #w VALUES (1)")
	replica.SetHealthInfo(HealthInfo{SecondaryLag: 3 * time.Second, SynchronizationState: "SYNCHRONIZING"})
	r := mustRun(t, s, `SELECT is_local, is_primary_replica, synchronization_state_desc, secondary_lag_seconds, database_id
		FROM sys.dm_hadr_database_replica_states WHERE is_local = 1`)
	if len(r.sets[0].rows) != 1 {
		t.Fatalf("rows %v", r.sets[0].rows)
	}
	row := r.sets[0].rows[0]
	if row[0] != true || row[1] != false || row[2] != "SYNCHRONIZING" || row[3] != int64(3) || row[4] != int64(5) {
		t.Errorf("replica states %v", row)
	}
	r = mustRun(t, s, "SELECT role_desc FROM sys.dm_hadr_availability_replica_states WHERE is_local = 1")
	if r.scalar(t) != "SECONDARY" {
		t.Errorf("role_desc %v", r.scalar(t))
	}
	r = mustRun(t, s, "SELECT sys.fn_hadr_is_primary_replica('demo'), DATABASEPROPERTYEX(DB_NAME(), 'Updateability')")
	want := tds.Variant{Type: tds.TypeInfo{Type: tds.TypeNVarChar, Size: 256, Collation: tds.DefaultCollation}, Value: "READ_ONLY"}
	if row := r.sets[0].rows[0]; row[0] != false || !equalValue(row[1], want) {
		t.Errorf("replica properties %v", row)
	}
	// promotion
	replica.SetRole(true)
	mustRun(t, s, "INSERT INTO dbo.customers (name) VALUES (N'promoted')")
	r = mustRun(t, s, "SELECT role_desc FROM sys.dm_hadr_availability_replica_states")
	if r.scalar(t) != "PRIMARY" {
		t.Errorf("after promotion role_desc %v", r.scalar(t))
	}
}

// TestCatalogViews covers the other catalog views.
func TestCatalogViews(t *testing.T) {
	t.Parallel()
	s := session(t, sample(t), "demo")
	tests := []struct {
		sql  string
		want any
	}{
		{"SELECT COUNT(*) FROM sys.databases WHERE name IN ('master', 'tempdb', 'demo')", int64(3)},
		{"SELECT name FROM sys.tables WHERE name = 'customers'", "customers"},
		{"SELECT COUNT(*) FROM sys.schemas WHERE name = 'sales'", int64(1)},
		{"SELECT encrypt_option FROM sys.dm_exec_connections WHERE session_id = @@SPID", "FALSE"},
		{"SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'sales'", int64(2)},
		{"SELECT DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'orders' AND COLUMN_NAME = 'amount'", "decimal"},
	}
	for _, tc := range tests {
		t.Run(tc.sql, func(t *testing.T) {
			if got := mustRun(t, s, tc.sql).scalar(t); !equalValue(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
	s.SetEncrypted(true)
	if v := mustRun(t, s, "SELECT encrypt_option FROM sys.dm_exec_connections WHERE session_id = @@SPID").scalar(t); v != "TRUE" {
		t.Errorf("encrypt_option after SetEncrypted(true): %v", v)
	}
	r := run(t, s, "SELECT * FROM sys.nonexistent_view")
	if len(r.errs) != 1 || r.errs[0].Number != ErrInvalidObject {
		t.Errorf("unknown catalog view: %v", r.errs)
	}
}

// TestHealthProbeQueries runs the proxy's health probe queries
// (proxy/health/probe.go) on a primary and a replica.
func TestHealthProbeQueries(t *testing.T) {
	t.Parallel()
	primary, replica, _ := pair(t)
	replica.SetHealthInfo(HealthInfo{SecondaryLag: 2 * time.Second})
	const (
		qServer = `SELECT @@SERVERNAME, CONVERT(nvarchar(128), DATABASEPROPERTYEX(DB_NAME(), 'Updateability')), CONVERT(int, SERVERPROPERTY('IsHadrEnabled'))`
		qRole   = `SELECT role_desc FROM sys.dm_hadr_availability_replica_states WHERE is_local = 1`
		qLag    = `SELECT secondary_lag_seconds, last_commit_time FROM sys.dm_hadr_database_replica_states WHERE is_local = 1`
	)
	tests := []struct {
		db              *DB
		name, upd, role string
		lag             int64
	}{
		{primary, "PRIMARY", "READ_WRITE", "PRIMARY", 0},
		{replica, "REPLICA", "READ_ONLY", "SECONDARY", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := session(t, tc.db, "master")
			row := mustRun(t, s, qServer).sets[0].rows[0]
			if row[0] != tc.name || row[1] != tc.upd || row[2] != int64(1) {
				t.Errorf("server row %v", row)
			}
			if r := mustRun(t, s, qRole).scalar(t); r != tc.role {
				t.Errorf("role %v", r)
			}
			r := mustRun(t, s, qLag)
			if len(r.sets[0].rows) != 1 || r.sets[0].rows[0][0] != tc.lag {
				t.Errorf("lag rows %v", r.sets[0].rows)
			}
			if c := r.sets[0].cols[1]; c.Type.Type != tds.TypeDateTimeN {
				t.Errorf("last_commit_time type %v", c.Type)
			}
		})
	}
}
