package sqlengine

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestConcurrentSessions runs sessions in parallel: autocommit inserts,
// explicit transactions and reads on one instance, with replication on.
func TestConcurrentSessions(t *testing.T) {
	t.Parallel()
	primary, replica, txs := pair(t)
	setup := session(t, primary, "demo")
	mustRun(t, setup, "CREATE TABLE dbo.c (id int IDENTITY PRIMARY KEY, worker int, v nvarchar(20))")
	const workers, each = 6, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := primary.NewSession("w", "demo", uint16(200+w))
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			for i := range each {
				sql := fmt.Sprintf("INSERT INTO dbo.c (worker, v) VALUES (%d, N'x%d')", w, i)
				if i%5 == 0 {
					sql = "BEGIN TRAN " + sql + " SELECT COUNT(*) FROM dbo.c COMMIT"
				}
				r := &recorder{}
				if err := s.ExecBatch(t.Context(), sql, nil, r); err != nil {
					errs <- err
					return
				}
				if len(r.errs) > 0 {
					errs <- fmt.Errorf("worker %d: %d %s", w, r.errs[0].Number, r.errs[0].Message)
					return
				}
				r = &recorder{}
				if err := s.ExecBatch(t.Context(), "SELECT 1", nil, r); err != nil || len(r.sets) != 1 || r.sets[0].rows[0][0] != int64(1) {
					errs <- fmt.Errorf("select 1: %v %v", err, r.events)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := mustRun(t, setup, "SELECT COUNT(*) FROM dbo.c").scalar(t); n != int64(workers*each) {
		t.Errorf("rows %v, want %d", n, workers*each)
	}
	got := txs()
	for i, tx := range got {
		if tx.LSN != uint64(i+1) {
			t.Fatalf("LSN %d at position %d: commits out of order", tx.LSN, i)
		}
		if err := replica.Apply(tx); err != nil {
			t.Fatal(err)
		}
	}
	r := session(t, replica, "demo")
	if !equalSets(mustRun(t, setup, "SELECT * FROM dbo.c ORDER BY id").sets, mustRun(t, r, "SELECT * FROM dbo.c ORDER BY id").sets) {
		t.Error("replica differs after concurrent writes")
	}
}

// TestLogins checks Options.Logins and closing an instance with sessions.
func TestLogins(t *testing.T) {
	t.Parallel()
	db, err := Open(Options{ServerName: "L", Dir: t.TempDir(), Logins: []string{"app"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.NewSession("intruder", "", 1)
	var le *LoginError
	if !errors.As(err, &le) || le.Err.Number != ErrLoginFailed || le.Err.Class != 14 {
		t.Errorf("unknown login: %v", err)
	}
	s, err := db.NewSession("APP", "", 2)
	if err != nil {
		t.Fatalf("listed login (other case): %v", err)
	}
	if s.Database() != "master" {
		t.Errorf("default database %s", s.Database())
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.ExecBatch(t.Context(), "SELECT 1", nil, &recorder{}); err == nil {
		t.Error("ExecBatch on a session of a closed instance succeeded")
	}
	if _, err := db.NewSession("app", "", 3); err == nil {
		t.Error("NewSession on a closed instance succeeded")
	}
}
