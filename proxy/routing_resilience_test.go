package proxy

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
)

func TestRoutingReadOnlyIntentNeverTouchesPrimary(t *testing.T) {
	h := newRoutedHarness(t, nil)
	primary := h.sim.Primary()
	before := primary.ActiveConnections() // the health checker's probe connection
	ro := h.open("ApplicationIntent=ReadOnly")
	ro.SetMaxOpenConns(2)
	for range 10 {
		if got := serverName(t, ro, ""); got == primary.Name() {
			t.Fatalf("a ReadOnly-intent read was served by the primary")
		}
	}
	_, err := ro.Exec("INSERT INTO dbo.nothing VALUES (1)")
	if e, ok := sqlError(err); !ok || e.Number != 3906 {
		t.Errorf("a write from a ReadOnly-intent session: %v, want error 3906", err)
	}
	if got := serverName(t, ro, ""); got == primary.Name() {
		t.Errorf("after the refused write, a read went to the primary")
	}
	if during := primary.ActiveConnections(); during > before {
		t.Errorf("the primary has %d connections with a ReadOnly session open, %d before", during, before)
	}
}

func TestRoutingReadYourWrites(t *testing.T) {
	h := newRoutedHarness(t, nil)
	setup := h.open("")
	if _, err := setup.Exec("CREATE TABLE dbo.ryw (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // the replicas have the table; the setup write is forgotten
	h.sim.SetReplicaLag(2 * time.Second)

	writer := h.open("")
	writer.SetMaxOpenConns(1)
	other := h.open("")
	other.SetMaxOpenConns(1)
	count := func(db *sql.DB, id int) int {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM dbo.ryw WHERE id = @p1", id).Scan(&n); err != nil {
			t.Fatalf("reading: %v", err)
		}
		return n
	}
	othersLate := 0
	for id := 1; id <= 5; id++ {
		if _, err := writer.Exec("INSERT INTO dbo.ryw VALUES (@p1)", id); err != nil {
			t.Fatal(err)
		}
		if n := count(writer, id); n != 1 {
			t.Errorf("the writing session does not see its own row %d at once", id)
		}
		if count(other, id) == 0 {
			othersLate++
		}
	}
	// Other sessions read from the lagging replicas: they see the rows late.
	if othersLate == 0 {
		t.Errorf("another session saw every row at once although replicas lag 2s: were its reads on the primary?")
	}
	if n := h.gathered("tdsproxy_router_requests_total", map[string]string{"target": "primary", "reason": "read_your_writes"}); n < 5 {
		t.Errorf("read_your_writes routings = %v, want >= 5", n)
	}
}

func TestRoutingReplaysSessionState(t *testing.T) {
	h := newRoutedHarness(t, nil)
	createDatabase(t, h.sim.Primary().Addr(), "other")
	time.Sleep(500 * time.Millisecond) // replicas apply it
	db := h.open("")
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	if _, err := conn.ExecContext(ctx, "USE other"); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 6 { // both replicas, each needing the replay once
		var dbName, server string
		if err := conn.QueryRowContext(ctx, "SELECT DB_NAME(), @@SERVERNAME").Scan(&dbName, &server); err != nil {
			t.Fatal(err)
		}
		seen[server] = true
		if dbName != "other" {
			t.Errorf("%s answered in database %q, want other (the USE was not replayed)", server, dbName)
		}
	}
	if len(seen) < 2 {
		t.Errorf("reads served by %v only", seen)
	}
}

func TestRoutingReplicaLossUnderLoad(t *testing.T) {
	h := newRoutedHarness(t, nil)
	victim := h.sim.Replicas()[0]
	breaker := h.srv.routing.router.Breakers().Get(victim.Addr())
	db := h.open("")
	db.SetMaxOpenConns(16)

	var openedAt atomic.Int64 // unix nanos when the victim was first seen down or its breaker open
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			st, _ := h.srv.routing.checker.Status(victim.Addr())
			if openedAt.Load() == 0 && (breaker.State() == gobreaker.StateOpen || st.State.String() == "down") {
				openedAt.Store(time.Now().UnixNano())
			}
		}
	}()
	type failure struct {
		start time.Time
		err   error
	}
	var mu sync.Mutex
	var failures []failure
	var served sync.Map // server name → *atomic.Int64 after the restart
	var restarted atomic.Bool
	var total atomic.Int64
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				var name string
				err := db.QueryRowContext(ctx, "SELECT @@SERVERNAME").Scan(&name)
				cancel()
				total.Add(1)
				if err != nil {
					mu.Lock()
					failures = append(failures, failure{start, err})
					mu.Unlock()
					continue
				}
				if restarted.Load() {
					v, _ := served.LoadOrStore(name, new(atomic.Int64))
					v.(*atomic.Int64).Add(1)
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	if err := victim.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	restarted.Store(true)
	waitFor(t, 5*time.Second, "reads to reach the restarted replica", func() bool {
		v, ok := served.Load(victim.Name())
		return ok && v.(*atomic.Int64).Load() > 0
	})
	close(stop)
	wg.Wait()

	opened := openedAt.Load()
	if opened == 0 {
		t.Fatal("the stopped replica was never seen down nor its breaker open")
	}
	late := 0
	for _, f := range failures {
		if f.start.UnixNano() > opened {
			late++
			t.Errorf("a read started %v after the replica was marked down failed: %v", time.Duration(f.start.UnixNano()-opened), f.err)
		}
	}
	t.Logf("%d reads, %d client-visible errors (all before the breaker opened: %t), retries %v",
		total.Load(), len(failures), late == 0, h.gathered("tdsproxy_router_retries_total", nil))
	if n := h.gathered("tdsproxy_breaker_transitions_total", map[string]string{"backend": victim.Addr()}); n == 0 {
		t.Errorf("no breaker transition counted for %s", victim.Addr())
	}
}

func TestRoutingPrimaryLossAndFailover(t *testing.T) {
	h := newRoutedHarness(t, nil)
	setup := h.open("")
	if _, err := setup.Exec("CREATE TABLE dbo.acked (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	db := h.open("")
	db.SetMaxOpenConns(8)
	// A session pinned to the primary by a temp table.
	pinned, err := h.open("").Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer pinned.Close()
	if _, err := pinned.ExecContext(context.Background(), "CREATE TABLE #mine (a INT)"); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	acked := map[int]bool{}
	inDoubt := map[int]bool{}
	var slowest time.Duration
	var transient, afterFailover atomic.Int64
	var failedOver atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := g*1_000_000 + i
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				start := time.Now()
				_, err := db.ExecContext(ctx, "INSERT INTO dbo.acked VALUES (@p1)", id)
				took := time.Since(start)
				cancel()
				mu.Lock()
				slowest = max(slowest, took)
				switch {
				case err == nil:
					acked[id] = true
					if failedOver.Load() {
						afterFailover.Add(1)
					}
				case strings.Contains(err.Error(), "connection was lost") || !isSQLError(err):
					inDoubt[id] = true // the backend may have applied it
				default:
					if e, _ := sqlError(err); e.Number == 40613 {
						transient.Add(1)
					} else {
						t.Errorf("write %d: unexpected error %v", id, err)
					}
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond) // a driver's retry back-off
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	old := h.sim.Primary()
	if err := old.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := h.sim.Failover(1); err != nil {
		t.Fatalf("Failover: %v", err)
	}
	failedOver.Store(true)
	waitFor(t, 5*time.Second, "writes to succeed on the new primary", func() bool { return afterFailover.Load() >= 20 })
	close(stop)
	wg.Wait()

	// The pinned session's temp table died with the old primary: it gets a
	// transient error, not a silent switch to a server without its table.
	_, err = pinned.ExecContext(context.Background(), "INSERT INTO #mine VALUES (1)")
	if e, ok := sqlError(err); !ok || e.Number != 40613 {
		t.Errorf("pinned session after the failover: %v, want error 40613", err)
	}
	// A session that logs in after the failover lands on the new primary.
	fresh := h.open("")
	if got := serverName(t, fresh, "INSERT INTO dbo.acked VALUES (-1); "); got != h.sim.Servers()[1].Name() {
		t.Errorf("a write of a new session after the failover ran on %s", got)
	}
	acked[-1] = true
	if transient.Load() == 0 {
		t.Errorf("no write got 40613 while the primary was down")
	}
	if slowest > 3*time.Second {
		t.Errorf("the slowest write took %v: writes must fail fast while the primary is down", slowest)
	}
	newPrimary := h.sim.Servers()[1]
	direct, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://%s:%s@%s?database=demo&encrypt=disable", simUser, simPassword, newPrimary.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	rows, err := direct.Query("SELECT id FROM dbo.acked")
	if err != nil {
		t.Fatalf("reading the rows on the new primary: %v", err)
	}
	stored := map[int]bool{}
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		if stored[id] {
			t.Errorf("row %d stored twice", id)
		}
		stored[id] = true
	}
	rows.Close()
	for id := range acked {
		if !stored[id] {
			t.Errorf("acknowledged row %d was lost", id)
		}
	}
	extra := 0
	for id := range stored {
		if !acked[id] {
			extra++
			if !inDoubt[id] {
				t.Errorf("row %d is stored but its write was refused", id)
			}
		}
	}
	t.Logf("acknowledged %d, stored %d (%d in-doubt writes applied), 40613 answers %d, slowest write %v",
		len(acked), len(stored), extra, transient.Load(), slowest)
}

// isSQLError reports an error the server (or proxy) answered with a token.
func isSQLError(err error) bool {
	_, ok := sqlError(err)
	return ok
}
