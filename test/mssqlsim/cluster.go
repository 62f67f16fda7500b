package mssqlsim

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/test/mssqlsim/sqlengine"
)

// Cluster is a simulated availability group: one primary and its replicas,
// each its own Server with its own database and listener, in one process.
type Cluster struct {
	cfg     Config
	log     *zap.Logger
	hs      handshakeSettings
	servers []*Server // fixed order: [0] "<prefix>-primary", [i] "<prefix>-replica<i>"

	lag atomic.Int64 // time.Duration

	// failoverMu serializes Failover calls; roleMu guards the roles against
	// the replication hook.
	failoverMu sync.Mutex
	roleMu     sync.Mutex
	primary    int    // index into servers
	lsn        uint64 // last replication LSN handed out
	closed     bool

	done chan struct{} // closed by Close: stops the appliers
	wg   sync.WaitGroup
}

// Start opens the databases, starts the listeners and the replication of a
// new cluster. On error nothing is left running.
func Start(cfg Config) (*Cluster, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	addrs, err := serverAddrs(cfg.Addr, cfg.Replicas)
	if err != nil {
		return nil, err
	}
	hs, err := newHandshakeSettings(cfg)
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, log: cfg.Logger, hs: hs, done: make(chan struct{})}
	c.lag.Store(int64(cfg.ReplicaLag))
	logins := make([]string, 0, len(cfg.Logins))
	for name := range cfg.Logins {
		logins = append(logins, name)
	}
	for i, addr := range addrs {
		name := cfg.NamePrefix + "-primary"
		if i > 0 {
			name = fmt.Sprintf("%s-replica%d", cfg.NamePrefix, i)
		}
		db, err := sqlengine.Open(sqlengine.Options{ServerName: name, SampleData: cfg.SampleData, Logins: logins})
		if err == nil {
			db.SetRole(i == 0)
		}
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("mssqlsim: opening database of %s: %w", name, err)
		}
		s := &Server{
			cluster: c,
			name:    name,
			db:      db,
			log:     cfg.Logger,
			addr:    addr,
			conns:   make(map[*conn]struct{}),
			repl:    newReplQueue(),
		}
		s.primary.Store(i == 0)
		c.servers = append(c.servers, s)
	}
	c.applyRoles()
	for _, s := range c.servers {
		s.db.SetReplicationHook(func(tx sqlengine.CommittedTx) { c.replicate(s, tx) })
		c.wg.Add(1)
		go c.applier(s)
	}
	for _, s := range c.servers {
		if err := s.Start(); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// CertificatePEM returns the servers' TLS certificate in PEM form (nil when
// Encryption is EncryptNotSup), for clients that verify it: TDS 8 strict
// clients always do (go-mssqldb: certificate=<file>).
func (c *Cluster) CertificatePEM() []byte { return certificatePEM(c.hs.config.TLS) }

// Primary returns the current primary.
func (c *Cluster) Primary() *Server {
	c.roleMu.Lock()
	defer c.roleMu.Unlock()
	return c.servers[c.primary]
}

// Replicas returns the current replicas, in Servers order.
func (c *Cluster) Replicas() []*Server {
	c.roleMu.Lock()
	defer c.roleMu.Unlock()
	out := make([]*Server, 0, len(c.servers)-1)
	for i, s := range c.servers {
		if i != c.primary {
			out = append(out, s)
		}
	}
	return out
}

// Servers returns every server in a fixed order: index 0 is the server
// started as the primary ("<prefix>-primary"), index i the one started as
// replica i ("<prefix>-replica<i>"), whatever their roles are now.
func (c *Cluster) Servers() []*Server {
	return append([]*Server(nil), c.servers...)
}

// ServerByName finds a server by its full name or by the suffix after the
// name prefix ("replica1"); nil when there is none.
func (c *Cluster) ServerByName(name string) *Server {
	for _, s := range c.servers {
		if strings.EqualFold(s.name, name) || strings.EqualFold(s.name, c.cfg.NamePrefix+"-"+name) {
			return s
		}
	}
	return nil
}

// ReplicaLag returns the current replication lag.
func (c *Cluster) ReplicaLag() time.Duration { return time.Duration(c.lag.Load()) }

// SetReplicaLag changes the replication lag at run time: transactions
// already waiting are applied at their commit time plus the new lag.
func (c *Cluster) SetReplicaLag(d time.Duration) {
	c.lag.Store(int64(max(d, 0)))
	for _, s := range c.servers {
		s.repl.poke()
	}
	c.log.Info("replica lag set", zap.Duration("lag", d))
}

// Failover makes Servers()[replica] the primary. Like an Always On failover
// it first applies every transaction the new primary has not applied yet,
// drops the client connections of the old and new primary, then swaps the
// roles: the old primary becomes a replica of the new one and writes go to
// the new one. The catalog views of every server report the new roles.
func (c *Cluster) Failover(replica int) error {
	c.failoverMu.Lock()
	defer c.failoverMu.Unlock()
	c.roleMu.Lock()
	if c.closed {
		c.roleMu.Unlock()
		return errors.New("mssqlsim: failover: cluster is closed")
	}
	if replica < 0 || replica >= len(c.servers) {
		c.roleMu.Unlock()
		return fmt.Errorf("mssqlsim: failover: no server %d (servers 0..%d; 1 is %s-replica1)", replica, len(c.servers)-1, c.cfg.NamePrefix)
	}
	if replica == c.primary {
		c.roleMu.Unlock()
		return fmt.Errorf("mssqlsim: failover: %s is already the primary", c.servers[replica].name)
	}
	oldP, newP := c.servers[c.primary], c.servers[replica]
	// The old primary stops taking writes first; its clients go away.
	oldP.primary.Store(false)
	oldP.db.SetRole(false)
	c.roleMu.Unlock()
	// Outside the lock: killing connections waits for nothing, but a commit
	// in flight runs the replication hook, which takes roleMu.
	oldP.DropConnections()

	c.roleMu.Lock()
	defer c.roleMu.Unlock()
	if c.closed {
		return errors.New("mssqlsim: failover: cluster is closed")
	}
	// Catch the new primary up (no lag: a planned failover waits for sync).
	if err := newP.repl.drain(newP.db); err != nil {
		return fmt.Errorf("mssqlsim: failover: catching %s up: %w", newP.name, err)
	}
	c.primary = replica
	newP.primary.Store(true)
	c.applyRoles()
	newP.DropConnections()
	c.log.Info("failover", zap.String("old_primary", oldP.name), zap.String("new_primary", newP.name))
	return nil
}

// applyRoles sets every database's role and health info from c.primary.
// roleMu is held (or the cluster is not yet shared).
func (c *Cluster) applyRoles() {
	for i, s := range c.servers {
		s.db.SetRole(i == c.primary)
		s.updateHealth()
	}
}

// replicate is every database's replication hook (set once, at start): the
// current primary's commits are queued on every other server. It runs under
// the committing database's replication lock; lock order is that lock, then
// roleMu, then the queues' locks.
func (c *Cluster) replicate(from *Server, tx sqlengine.CommittedTx) {
	c.roleMu.Lock()
	defer c.roleMu.Unlock()
	if c.closed {
		return
	}
	if c.servers[c.primary] != from {
		// A commit that raced a failover on the demoted primary.
		c.log.Warn("commit on a server that is no longer the primary is not replicated",
			zap.String("server", from.name), zap.Uint64("lsn", tx.LSN))
		return
	}
	// LSNs are the cluster's, not the committing database's: after a
	// failover the new primary's own counter restarts, but replicas apply
	// strictly increasing LSNs.
	c.lsn++
	tx.LSN = c.lsn
	for _, s := range c.servers {
		if s != from {
			s.repl.push(tx)
		}
	}
}

// Close stops every server and the replication, and closes the databases.
func (c *Cluster) Close() error {
	c.roleMu.Lock()
	if c.closed {
		c.roleMu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	c.roleMu.Unlock()
	var errs []error
	for _, s := range c.servers {
		if err := s.close(); err != nil {
			errs = append(errs, err)
		}
	}
	c.wg.Wait()
	for _, s := range c.servers {
		if err := s.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("mssqlsim: closing database of %s: %w", s.name, err))
		}
	}
	return errors.Join(errs...)
}
