package route

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	_ "github.com/microsoft/go-mssqldb"

	"github.com/tdsproxy/tdsproxy/proxy/health"
	"github.com/tdsproxy/tdsproxy/test/mssqlsim"
)

// simRouter starts a simulator (primary + 2 replicas), a health checker
// probing every 50ms and a router watching it.
func simRouter(t *testing.T) (*mssqlsim.Cluster, *Router, *health.Checker) {
	t.Helper()
	cl, err := mssqlsim.Start(mssqlsim.Config{Addr: "127.0.0.1:0", Replicas: 2, SampleData: true,
		Logins: map[string]string{"monitor": "Mon-Passw0rd", "app": "App-Passw0rd"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	cfg := health.Config{Interval: 50 * time.Millisecond, Timeout: time.Second, DownAfter: 1,
		User: "monitor", Password: "Mon-Passw0rd", Database: "demo"}
	for _, s := range cl.Servers() {
		cfg.Backends = append(cfg.Backends, health.Backend{Name: s.Name(), Addr: s.Addr(), MaxLag: 10 * time.Second,
			TLS: health.TLS{Encrypt: "disable"}})
	}
	c, err := health.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	r, err := New(Config{Primary: cl.Servers()[0].Name()}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Watch(c))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c.CheckNow(ctx)
	c.Start(ctx)
	return cl, r, c
}

func openDB(t *testing.T, addr string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlserver", "sqlserver://app:App-Passw0rd@"+addr+"?database=demo&encrypt=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// eventually polls cond every 20ms for up to 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSimReadsOnReplicasWritesOnPrimary(t *testing.T) {
	t.Parallel()
	cl, r, _ := simRouter(t)
	seen := map[string]int{}
	for range 20 {
		d := r.Route(batch("SELECT @@SERVERNAME"), &SessionInfo{})
		if d.Target != TargetReplica {
			t.Fatalf("read: %v %v", d.Target, d.Reason)
		}
		done, err := d.Begin()
		if err != nil {
			t.Fatal(err)
		}
		var name string
		err = openDB(t, d.Addr).QueryRow("SELECT @@SERVERNAME").Scan(&name)
		done(err)
		if err != nil {
			t.Fatal(err)
		}
		seen[name]++
	}
	if len(seen) != 2 || seen[cl.Primary().Name()] != 0 {
		t.Fatalf("reads served by %v, want both replicas and not the primary", seen)
	}
	d := r.Route(batch("INSERT INTO dbo.customers (name) VALUES ('x')"), &SessionInfo{})
	if d.Target != TargetPrimary || d.Addr != cl.Primary().Addr() {
		t.Fatalf("write routed to %v %s", d.Target, d.Addr)
	}
}

// TestSimReadYourWrites: with replicas lagging 1.5s, a session's reads stay
// on the primary after its write, and the first read routed to a replica
// finds the write there.
func TestSimReadYourWrites(t *testing.T) {
	t.Parallel()
	cl, r, _ := simRouter(t)
	cl.SetReplicaLag(1500 * time.Millisecond)
	primary := openDB(t, cl.Primary().Addr())
	marker := fmt.Sprintf("ryw-%d", time.Now().UnixNano())
	if _, err := primary.Exec("INSERT INTO dbo.customers (name, email, created) VALUES (@p1, 'r@example.com', '2025-01-01')", marker); err != nil {
		t.Fatal(err)
	}
	sess := &SessionInfo{LastWrite: time.Now()}
	read := batch("SELECT COUNT(*) FROM dbo.customers WHERE name = @p1")
	if d := r.Route(read, sess); d.Target != TargetPrimary || d.Reason != ReasonReadYourWrites {
		t.Fatalf("read right after the write: %v %v", d.Target, d.Reason)
	}
	other := r.Route(read, &SessionInfo{})
	if other.Target != TargetReplica {
		t.Fatalf("another session's read: %v %v", other.Target, other.Reason)
	}
	var n int
	if err := openDB(t, other.Addr).QueryRow("SELECT COUNT(*) FROM dbo.customers WHERE name = @p1", marker).Scan(&n); err != nil || n != 0 {
		t.Fatalf("another session on a replica sees %d rows (%v); want 0: the lag is 1.5s", n, err)
	}
	var onReplica Decision
	eventually(t, "a replica is known to have the write", func() bool {
		onReplica = r.Route(read, sess)
		return onReplica.Target == TargetReplica
	})
	if err := openDB(t, onReplica.Addr).QueryRow("SELECT COUNT(*) FROM dbo.customers WHERE name = @p1", marker).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the replica the session's read went to has %d rows of its write (%v), want 1", n, err)
	}
	if waited := time.Since(sess.LastWrite); waited > DefaultReadYourWritesWindow {
		t.Errorf("the read reached a replica only after the window (%v), not by the replica catching up", waited)
	}
}

func TestSimFailoverAndReplicaLoss(t *testing.T) {
	t.Parallel()
	cl, r, _ := simRouter(t)
	gone := cl.Servers()[2]
	if err := gone.Stop(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "reads avoid the stopped replica", func() bool {
		for range 4 {
			if r.Route(batch("SELECT 1"), &SessionInfo{}).Backend == gone.Name() {
				return false
			}
		}
		return true
	})
	if err := cl.Failover(1); err != nil {
		t.Fatal(err)
	}
	newPrimary := cl.Servers()[1]
	eventually(t, "writes go to the new primary", func() bool {
		d := r.Route(batch("UPDATE dbo.customers SET name = 'y' WHERE id = 1"), &SessionInfo{})
		return d.Target == TargetPrimary && d.Backend == newPrimary.Name()
	})
	d := r.Route(batch("UPDATE dbo.customers SET name = 'y' WHERE id = 1"), &SessionInfo{})
	done, err := d.Begin()
	if err != nil {
		t.Fatal(err)
	}
	_, err = openDB(t, d.Addr).Exec("UPDATE dbo.customers SET name = 'y' WHERE id = 1")
	done(err)
	if err != nil {
		t.Fatalf("write on the new primary: %v", err)
	}
	// The old primary is now a replica: it serves reads.
	eventually(t, "the old primary serves reads", func() bool {
		return r.Route(batch("SELECT 1"), &SessionInfo{}).Backend == cl.Servers()[0].Name()
	})
	if err := gone.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the restarted replica serves reads again", func() bool {
		for range 6 {
			if r.Route(batch("SELECT 1"), &SessionInfo{}).Backend == gone.Name() {
				return true
			}
		}
		return false
	})
}
