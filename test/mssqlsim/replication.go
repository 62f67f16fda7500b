package mssqlsim

import (
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/test/mssqlsim/sqlengine"
)

// healthRefresh is how often a replica with pending transactions refreshes
// the lag its catalog views report.
const healthRefresh = 100 * time.Millisecond

// replQueue holds the committed primary transactions a replica has not
// applied yet, oldest first.
type replQueue struct {
	mu    sync.Mutex
	items []sqlengine.CommittedTx
	wake  chan struct{} // capacity 1: "something changed, look again"
	busy  sync.Mutex    // held while applying, so drain and the applier never overlap
}

func newReplQueue() *replQueue { return &replQueue{wake: make(chan struct{}, 1)} }

func (q *replQueue) push(tx sqlengine.CommittedTx) {
	q.mu.Lock()
	q.items = append(q.items, tx)
	q.mu.Unlock()
	q.poke()
}

func (q *replQueue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// head returns the oldest pending transaction.
func (q *replQueue) head() (sqlengine.CommittedTx, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return sqlengine.CommittedTx{}, false
	}
	return q.items[0], true
}

// pop removes the oldest pending transaction after it was applied.
func (q *replQueue) pop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) > 0 {
		q.items[0] = sqlengine.CommittedTx{}
		q.items = q.items[1:]
	}
}

func (q *replQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// drain applies every pending transaction now, ignoring the lag.
func (q *replQueue) drain(db *sqlengine.DB) error {
	q.busy.Lock()
	defer q.busy.Unlock()
	for {
		tx, ok := q.head()
		if !ok {
			return nil
		}
		if err := db.Apply(tx); err != nil {
			return fmt.Errorf("applying LSN %d: %w", tx.LSN, err)
		}
		q.pop()
	}
}

// applier applies s's pending transactions once they are ReplicaLag old,
// until the cluster closes. It runs for every server whatever its role: a
// primary's queue is simply empty.
func (c *Cluster) applier(s *Server) {
	defer c.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		tx, ok := s.repl.head()
		var wait time.Duration
		if ok {
			wait = time.Until(tx.CommitTime.Add(c.ReplicaLag()))
			if wait <= 0 {
				s.repl.busy.Lock()
				// Re-check: Failover may have drained the queue meanwhile.
				if cur, ok := s.repl.head(); ok && cur.LSN == tx.LSN {
					if err := c.apply(s, tx); err != nil {
						// A replica that cannot apply stays behind; the error
						// is logged, the transaction dropped so replication
						// goes on (test infrastructure, not a database).
						c.log.Error("replication apply failed", zap.String("server", s.name), zap.Uint64("lsn", tx.LSN), zap.Error(err))
					}
					s.repl.pop()
				}
				s.repl.busy.Unlock()
				s.updateHealth()
				continue
			}
			wait = min(wait, healthRefresh)
			timer.Reset(wait)
		}
		select {
		case <-c.done:
			timer.Stop()
			return
		case <-s.repl.wake:
		case <-timer.C:
			s.updateHealth()
		}
		timer.Stop()
	}
}

// apply applies one transaction on s; a panic in the engine is an error.
func (c *Cluster) apply(s *Server, tx sqlengine.CommittedTx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic applying LSN %d: %v\n%s", tx.LSN, r, debug.Stack())
		}
	}()
	return s.db.Apply(tx)
}

// updateHealth tells s's database its role's health for the catalog views:
// on a replica, the lag is the age of the oldest transaction not applied yet.
func (s *Server) updateHealth() {
	h := sqlengine.HealthInfo{SynchronizationState: "SYNCHRONIZED"}
	if !s.IsPrimary() {
		h.SynchronizationState = "SYNCHRONIZING"
		if tx, ok := s.repl.head(); ok {
			h.SecondaryLag = max(time.Since(tx.CommitTime), 0)
		}
	}
	s.db.SetHealthInfo(h)
}

// pendingTransactions is how many primary transactions s has not applied.
func (s *Server) pendingTransactions() int { return s.repl.len() }
