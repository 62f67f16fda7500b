package mssqlsim

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
)

func TestTopology(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{Replicas: 2, NamePrefix: "topo"})
	if len(c.Servers()) != 3 || len(c.Replicas()) != 2 || c.Primary() != c.Servers()[0] {
		t.Fatalf("servers=%d replicas=%d", len(c.Servers()), len(c.Replicas()))
	}
	ctx := testCtx(t)
	seen := map[string]bool{}
	for i, s := range c.Servers() {
		if s.IsPrimary() != (i == 0) {
			t.Errorf("%s IsPrimary = %t", s.Name(), s.IsPrimary())
		}
		var name string
		if err := openDB(t, s, nil).QueryRowContext(ctx, "SELECT @@SERVERNAME").Scan(&name); err != nil {
			t.Fatal(err)
		}
		if name != s.Name() || seen[name] {
			t.Errorf("server %d: @@SERVERNAME = %q, Name() = %q", i, name, s.Name())
		}
		seen[name] = true
	}
	if c.ServerByName("replica2") != c.Servers()[2] || c.ServerByName("topo-primary") != c.Servers()[0] || c.ServerByName("x") != nil {
		t.Error("ServerByName does not resolve names and suffixes")
	}
}

// TestReplicaReadOnly connects with ApplicationIntent=ReadOnly to a replica:
// reads work, writes fail with 3906.
func TestReplicaReadOnly(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{Replicas: 1})
	ctx := testCtx(t)
	if _, err := openDB(t, c.Primary(), nil).ExecContext(ctx, "CREATE TABLE dbo.ro_t (id int)"); err != nil {
		t.Fatal(err)
	}
	rdb := openDB(t, c.Replicas()[0], map[string]string{"ApplicationIntent": "ReadOnly", "database": "master"})
	waitFor(t, 5*time.Second, "the table to reach the replica", func() bool {
		var n int
		return rdb.QueryRowContext(ctx, "SELECT COUNT(*) FROM dbo.ro_t").Scan(&n) == nil
	})
	_, err := rdb.ExecContext(ctx, "INSERT INTO dbo.ro_t VALUES (1)")
	var me mssql.Error
	if !errors.As(err, &me) || me.Number != 3906 {
		t.Fatalf("write on a replica = %v, want error 3906", err)
	}
}

// TestReplicaLag writes on the primary and checks that the write shows on
// the replica only after the lag; SetReplicaLag applies at run time.
func TestReplicaLag(t *testing.T) {
	t.Parallel()
	const lag = 400 * time.Millisecond
	c := startCluster(t, Config{Replicas: 1, ReplicaLag: lag})
	ctx := testCtx(t)
	pdb := openDB(t, c.Primary(), nil)
	rdb := openDB(t, c.Replicas()[0], map[string]string{"ApplicationIntent": "ReadOnly", "database": "master"})
	if _, err := pdb.ExecContext(ctx, "CREATE TABLE dbo.lag_t (id int)"); err != nil {
		t.Fatal(err)
	}
	count := func() int64 {
		var n int64
		if err := rdb.QueryRowContext(ctx, "SELECT COUNT(*) FROM dbo.lag_t").Scan(&n); err != nil {
			return -1 // table not there yet
		}
		return n
	}
	waitFor(t, 5*time.Second, "the table on the replica", func() bool { return count() == 0 })

	start := time.Now()
	if _, err := pdb.ExecContext(ctx, "INSERT INTO dbo.lag_t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 && time.Since(start) < lag {
		t.Fatalf("replica shows %d rows %s after the commit, before the %s lag", n, time.Since(start), lag)
	}
	if c.Replicas()[0].pendingTransactions() == 0 && time.Since(start) < lag {
		t.Error("no transaction pending on the replica during the lag")
	}
	waitFor(t, 5*time.Second, "the row on the replica", func() bool { return count() == 1 })
	if d := time.Since(start); d < lag {
		t.Errorf("row visible after %s, before the %s lag", d, lag)
	}

	// A long lag, shortened at run time: the waiting write lands soon after.
	c.SetReplicaLag(time.Hour)
	if _, err := pdb.ExecContext(ctx, "INSERT INTO dbo.lag_t VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := count(); n != 1 {
		t.Fatalf("replica shows %d rows with a 1h lag, want 1", n)
	}
	c.SetReplicaLag(0)
	waitFor(t, 5*time.Second, "the second row after the lag is removed", func() bool { return count() == 2 })
}

// TestFailover promotes the replica: writes go there, the old primary
// refuses them, and replication runs the other way.
func TestFailover(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{Replicas: 1})
	ctx := testCtx(t)
	oldP, newP := c.Servers()[0], c.Servers()[1]
	if _, err := openDB(t, oldP, nil).ExecContext(ctx, "CREATE TABLE dbo.fo_t (id int); INSERT INTO dbo.fo_t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if err := c.Failover(0); err == nil {
		t.Error("Failover to the current primary succeeded")
	}
	if err := c.Failover(5); err == nil {
		t.Error("Failover to a server that does not exist succeeded")
	}
	if err := c.Failover(1); err != nil {
		t.Fatalf("Failover(1): %v", err)
	}
	if c.Primary() != newP || !newP.IsPrimary() || oldP.IsPrimary() || c.Replicas()[0] != oldP {
		t.Fatal("roles not swapped")
	}
	// Everything committed before the failover is on the new primary.
	ndb := openDB(t, newP, nil)
	if got := queryInt(t, ctx, ndb, "SELECT COUNT(*) FROM dbo.fo_t"); got != 1 {
		t.Fatalf("new primary has %d rows, want 1", got)
	}
	if _, err := ndb.ExecContext(ctx, "INSERT INTO dbo.fo_t VALUES (2)"); err != nil {
		t.Fatalf("write on the new primary: %v", err)
	}
	odb := openDB(t, oldP, nil)
	_, err := odb.ExecContext(ctx, "INSERT INTO dbo.fo_t VALUES (3)")
	var me mssql.Error
	if !errors.As(err, &me) || me.Number != 3906 {
		t.Fatalf("write on the old primary = %v, want 3906", err)
	}
	waitFor(t, 5*time.Second, "the new primary's write on the old primary", func() bool {
		var n int64
		return odb.QueryRowContext(ctx, "SELECT COUNT(*) FROM dbo.fo_t").Scan(&n) == nil && n == 2
	})
}

func TestServerFaults(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{})
	s := c.Primary()
	ctx := testCtx(t)

	t.Run("stop and start", func(t *testing.T) {
		db := openDB(t, s, nil)
		db.SetMaxOpenConns(1)
		if err := db.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		addr := s.Addr()
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
		if s.ActiveConnections() != 0 || s.Running() {
			t.Fatalf("after Stop: %d connections, running %t", s.ActiveConnections(), s.Running())
		}
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := openDB(t, s, nil).PingContext(qctx)
		cancel()
		if err == nil {
			t.Fatal("Ping on a stopped server succeeded")
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		if s.Addr() != addr {
			t.Errorf("address after restart = %s, want %s", s.Addr(), addr)
		}
		// database/sql discards the dead connection and dials again.
		waitFor(t, 5*time.Second, "a query after the restart", func() bool { return db.PingContext(ctx) == nil })
	})

	t.Run("drop connections", func(t *testing.T) {
		db := openDB(t, s, nil)
		db.SetMaxOpenConns(1)
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		if s.ActiveConnections() == 0 {
			t.Fatal("no active connection")
		}
		s.DropConnections()
		waitFor(t, 2*time.Second, "the connections to go", func() bool { return s.ActiveConnections() == 0 })
		if err := conn.PingContext(ctx); err == nil {
			t.Fatal("a dropped connection still answers")
		}
	})

	t.Run("response delay", func(t *testing.T) {
		db := openDB(t, s, nil)
		if err := db.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		s.SetResponseDelay(250 * time.Millisecond)
		start := time.Now()
		queryInt(t, ctx, db, "SELECT 1")
		s.SetResponseDelay(0)
		if d := time.Since(start); d < 250*time.Millisecond {
			t.Errorf("query took %s with a 250ms response delay", d)
		}
	})
}

func TestControlEndpoint(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{Replicas: 1})
	srv := httptest.NewServer(ControlHandler(c))
	defer srv.Close()
	post := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Post(srv.URL+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var sb strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, sb.String()
	}
	r1 := c.Servers()[1]
	steps := []struct {
		path  string
		code  int
		check func() bool
	}{
		{"/servers/replica1/login-delay?d=2s", 200, func() bool { return r1.LoginDelay() == 2*time.Second }},
		{"/servers/mssqlsim-replica1/login-failure?on=1", 200, func() bool { return r1.LoginFailure() }},
		{"/servers/replica1/response-delay?d=150ms", 200, func() bool { return r1.ResponseDelay() == 150*time.Millisecond }},
		{"/servers/replica1/stop", 200, func() bool { return !r1.Running() }},
		{"/servers/replica1/start", 200, func() bool { return r1.Running() }},
		{"/servers/replica1/drop", 200, func() bool { return true }},
		{"/lag?d=3s", 200, func() bool { return c.ReplicaLag() == 3*time.Second }},
		{"/failover?replica=1", 200, func() bool { return c.Primary() == r1 }},
		{"/servers/nope/stop", 404, nil},
		{"/servers/replica1/explode", 400, nil},
		{"/servers/replica1/login-delay?d=soon", 400, nil},
		{"/lag?d=-1s", 400, nil},
		{"/failover?replica=1", 400, nil}, // already the primary
		{"/failover?replica=x", 400, nil},
	}
	for _, st := range steps {
		code, body := post(st.path)
		if code != st.code {
			t.Errorf("POST %s = %d %s, want %d", st.path, code, body, st.code)
			continue
		}
		if st.check != nil && !st.check() {
			t.Errorf("POST %s had no effect", st.path)
		}
	}
	resp, err := http.Get(srv.URL + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if len(st.Servers) != 2 || st.Servers[1].Name != "mssqlsim-replica1" || !st.Servers[1].Primary ||
		st.Servers[0].Primary || st.ReplicaLag != "3s" || st.Servers[1].LoginDelay != "2s" {
		t.Errorf("status = %+v", st)
	}
}

var _ = sql.ErrNoRows

// TestCatalogViews checks what the proxy's health checks read: the role of
// each server and a replica's lag, before and after a failover.
func TestCatalogViews(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{Replicas: 1})
	ctx := testCtx(t)
	pdb := openDB(t, c.Servers()[0], nil)
	rdb := openDB(t, c.Servers()[1], nil)
	role := func(db *sql.DB) string {
		t.Helper()
		var r string
		if err := db.QueryRowContext(ctx, "SELECT role_desc FROM sys.dm_hadr_availability_replica_states WHERE is_local = 1").Scan(&r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if p, r := role(pdb), role(rdb); p != "PRIMARY" || r != "SECONDARY" {
		t.Fatalf("roles = %s, %s; want PRIMARY, SECONDARY", p, r)
	}
	// The lag views list user databases: make one, let it reach the replica.
	if _, err := pdb.ExecContext(ctx, "CREATE DATABASE lagdb"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the database on the replica", func() bool {
		var n int64
		return rdb.QueryRowContext(ctx, "SELECT COUNT(*) FROM sys.dm_hadr_database_replica_states").Scan(&n) == nil && n > 0
	})
	c.SetReplicaLag(2 * time.Second)
	if _, err := pdb.ExecContext(ctx, "CREATE TABLE dbo.cv_t (id int); INSERT INTO dbo.cv_t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	// While the commits wait out the lag, the replica reports a growing lag.
	time.Sleep(1200 * time.Millisecond)
	var lag int64
	if err := rdb.QueryRowContext(ctx, "SELECT MAX(secondary_lag_seconds) FROM sys.dm_hadr_database_replica_states").Scan(&lag); err != nil {
		t.Fatal(err)
	}
	if lag < 1 {
		t.Errorf("replica lag = %ds with commits pending for 1.2s", lag)
	}
	c.SetReplicaLag(0)
	waitFor(t, 5*time.Second, "the replica to catch up", func() bool {
		var n int64
		return rdb.QueryRowContext(ctx, "SELECT COUNT(*) FROM dbo.cv_t").Scan(&n) == nil && n == 1
	})
	if err := c.Failover(1); err != nil {
		t.Fatal(err)
	}
	if p, r := role(openDB(t, c.Servers()[1], nil)), role(openDB(t, c.Servers()[0], nil)); p != "PRIMARY" || r != "SECONDARY" {
		t.Fatalf("roles after failover = %s, %s; want PRIMARY, SECONDARY", p, r)
	}
}
