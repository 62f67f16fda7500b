package health

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	"go.uber.org/zap"
)

// Checker probes every configured backend on its own goroutine, one small
// database/sql pool (one connection) per backend, and keeps the latest
// status of each. Its methods are safe for concurrent use.
type Checker struct {
	log     *zap.Logger
	metrics *Metrics

	mu      sync.Mutex
	cfg     Config
	probers map[string]*prober // by backend name
	order   []string           // backend names in config order
	subs    map[int]func(Event)
	nextSub int
	ctx     context.Context // set by Start; nil before
	closed  bool
}

// prober probes one backend.
type prober struct {
	b      Backend
	db     *sql.DB
	cancel context.CancelFunc
	done   chan struct{}

	probing sync.Mutex    // one probe at a time (the loop and CheckNow)
	kick    chan struct{} // a reload changed the interval: re-arm the timer

	mu         sync.Mutex
	status     BackendStatus
	lastCommit time.Time                // from the last successful probe (server clock)
	remote     map[string]time.Duration // secondaries' lag, when this is a primary that reports it
	remoteAt   time.Time                // when remote was measured
}

// New returns a checker for cfg (defaults applied, validated). metrics may
// be nil. Nothing is probed before Start or CheckNow.
func New(cfg Config, log *zap.Logger, metrics *Metrics) (*Checker, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("health: invalid config: %w", err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	c := &Checker{log: log, metrics: metrics, probers: map[string]*prober{}, subs: map[int]func(Event){}}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.applyLocked(cfg); err != nil {
		c.closeLocked()
		return nil, err
	}
	return c, nil
}

// Start starts probing every backend every Interval, until ctx ends or
// Close. The first probe of each backend runs at once.
func (c *Checker) Start(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx != nil || c.closed {
		return
	}
	c.ctx = ctx
	for _, name := range c.order {
		c.startLocked(c.probers[name])
	}
}

// Close stops the probes and closes their pools. It waits for running
// probes to end.
func (c *Checker) Close() {
	c.mu.Lock()
	ps := c.closeLocked()
	c.mu.Unlock()
	for _, p := range ps {
		p.stop()
	}
}

func (c *Checker) closeLocked() []*prober {
	c.closed = true
	ps := make([]*prober, 0, len(c.probers))
	for _, p := range c.probers {
		ps = append(ps, p)
	}
	c.probers, c.order = map[string]*prober{}, nil
	return ps
}

// Reconfigure applies a reloaded config: added backends start being
// probed, removed ones stop (subscribers get an Event with Removed), and
// unchanged ones (same name, address and TLS settings, same credentials
// and timeout) keep their state and pool. Weight, MaxLag and Interval
// changes take effect from the next probe. On error nothing changes.
func (c *Checker) Reconfigure(cfg Config) error {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("health: invalid config: %w", err)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errors.New("health: checker is closed")
	}
	old := c.probers
	removed := make([]*prober, 0)
	keep := make(map[string]bool, len(cfg.Backends))
	credsSame := cfg.User == c.cfg.User && cfg.Password == c.cfg.Password && cfg.Database == c.cfg.Database && cfg.Timeout == c.cfg.Timeout
	for _, b := range cfg.Backends {
		if p, ok := old[b.Name]; ok && credsSame && p.b.key() == b.key() {
			keep[b.Name] = true
		}
	}
	for name, p := range old {
		if !keep[name] {
			removed = append(removed, p)
			delete(c.probers, name)
		}
	}
	prevCfg, prevOrder := c.cfg, slices.Clone(c.order)
	if cfg.Interval != prevCfg.Interval && c.ctx != nil {
		for name := range keep {
			select {
			case c.probers[name].kick <- struct{}{}:
			default:
			}
		}
	}
	if err := c.applyLocked(cfg); err != nil {
		for _, p := range removed {
			c.probers[p.b.Name] = p
		}
		c.cfg, c.order = prevCfg, prevOrder
		c.mu.Unlock()
		return err
	}
	names := make(map[string]bool, len(cfg.Backends))
	for _, b := range cfg.Backends {
		names[b.Name] = true
	}
	subs := c.subsLocked()
	c.mu.Unlock()
	for _, p := range removed {
		p.stop()
		st := p.snapshot()
		if names[st.Name] {
			continue // replaced by a backend of the same name
		}
		if c.metrics != nil {
			c.metrics.forget(st.Name)
		}
		notify(subs, Event{Status: st, Previous: st, Removed: true})
	}
	c.log.Info("health checks reconfigured", zap.Int("backends", len(cfg.Backends)), zap.Int("replaced_or_removed", len(removed)))
	return nil
}

// applyLocked creates probers for cfg's backends that have none, updates
// the others' weight and max lag, and starts new probers when running.
func (c *Checker) applyLocked(cfg Config) error {
	fresh := make([]*prober, 0)
	for _, b := range cfg.Backends {
		if p, ok := c.probers[b.Name]; ok {
			p.mu.Lock()
			p.b = b
			p.status.Weight, p.status.MaxLag = b.Weight, b.MaxLag
			p.mu.Unlock()
			continue
		}
		conn, err := mssql.NewConnector(cfg.dsn(b))
		if err != nil {
			for _, p := range fresh {
				p.db.Close()
				delete(c.probers, p.b.Name)
			}
			// The error of a bad DSN may quote it: say only which backend.
			return fmt.Errorf("health: backend %s: bad connection settings", b.Name)
		}
		db := sql.OpenDB(conn)
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		p := &prober{b: b, db: db, kick: make(chan struct{}, 1), status: BackendStatus{Name: b.Name, Addr: b.Addr, Weight: b.Weight, MaxLag: b.MaxLag}}
		c.probers[b.Name] = p
		fresh = append(fresh, p)
	}
	c.cfg = cfg
	c.order = c.order[:0]
	for _, b := range cfg.Backends {
		c.order = append(c.order, b.Name)
	}
	if c.ctx != nil {
		for _, p := range fresh {
			c.startLocked(p)
		}
	}
	return nil
}

// startLocked starts p's probe loop.
func (c *Checker) startLocked(p *prober) {
	ctx, cancel := context.WithCancel(c.ctx)
	p.cancel, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		t := time.NewTimer(0)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-p.kick:
				t.Stop()
				t.Reset(c.interval())
				continue
			case <-t.C:
			}
			c.checkOne(ctx, p)
			t.Reset(c.interval()) // read each time: a reload may change it
		}
	}()
}

func (c *Checker) interval() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg.Interval
}

// stop ends p's loop (if any), waits for it and closes its pool.
func (p *prober) stop() {
	if p.cancel != nil {
		p.cancel()
		<-p.done
	}
	p.db.Close()
}

func (p *prober) snapshot() BackendStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

// CheckNow probes every backend once, concurrently, and returns when all
// probes have ended. Useful at start-up, before traffic, and in tests.
func (c *Checker) CheckNow(ctx context.Context) {
	c.mu.Lock()
	ps := make([]*prober, 0, len(c.order))
	for _, name := range c.order {
		ps = append(ps, c.probers[name])
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() { c.checkOne(ctx, p) })
	}
	wg.Wait()
}

// checkOne runs one probe of p and publishes its outcome.
func (c *Checker) checkOne(ctx context.Context, p *prober) {
	p.probing.Lock()
	defer p.probing.Unlock()
	c.mu.Lock()
	timeout := c.cfg.Timeout
	params := applyParams{downAfter: c.cfg.DownAfter, lagSlack: c.cfg.LagSlack}
	c.mu.Unlock()
	pctx, cancel := context.WithTimeout(ctx, timeout)
	start := time.Now()
	res, err := probe(pctx, p.db)
	took := time.Since(start)
	timedOut := pctx.Err() == context.DeadlineExceeded || isTimeout(err)
	cancel()
	if ctx.Err() != nil {
		return // stopping: not the backend's fault
	}
	if err != nil {
		// Drop the pooled connection: after a restart it is dead.
		p.db.SetMaxIdleConns(0)
		p.db.SetMaxIdleConns(1)
	}
	params.primaryLastCommit, params.reported = c.primaryView(p, res.serverName)
	p.mu.Lock()
	prev := p.status
	p.status = apply(prev, res, err, start, took, params)
	if err == nil {
		p.lastCommit, p.remote, p.remoteAt = res.lastCommit, res.remote, start
	}
	cur := p.status
	p.mu.Unlock()

	result := "ok"
	switch {
	case err != nil && timedOut:
		result = "timeout"
	case err != nil:
		result = "error"
	}
	ev := Event{Status: cur, Previous: prev, Changed: cur.State != prev.State || cur.Role != prev.Role}
	if ev.Changed {
		fields := []zap.Field{zap.String("backend", cur.Name), zap.String("addr", cur.Addr),
			zap.Stringer("state", cur.State), zap.Stringer("from", prev.State), zap.Stringer("role", cur.Role)}
		if cur.State == StateDown {
			c.log.Warn("backend is down", append(fields, zap.String("error", cur.LastError), zap.Int("failures", cur.Failures))...)
		} else {
			c.log.Info("backend state changed", append(fields, zap.Duration("lag", cur.Lag))...)
		}
	}
	c.mu.Lock()
	live := c.probers[cur.Name] == p
	subs := c.subsLocked()
	c.mu.Unlock()
	if !live {
		return // removed or replaced by a reload meanwhile
	}
	if c.metrics != nil {
		c.metrics.observe(cur, result)
	}
	notify(subs, ev)
}

// primaryView returns what a usable primary other than p last said: its
// last commit time, and the lag it reported for the secondary named
// serverName (nil if none).
func (c *Checker) primaryView(p *prober, serverName string) (time.Time, *remoteLag) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, q := range c.probers {
		if q == p {
			continue
		}
		q.mu.Lock()
		st, lc, remote, at := q.status, q.lastCommit, q.remote, q.remoteAt
		q.mu.Unlock()
		if st.Role != RolePrimary || !st.Usable() {
			continue
		}
		if lag, ok := remote[strings.ToUpper(serverName)]; ok && serverName != "" {
			return lc, &remoteLag{lag: lag, at: at}
		}
		return lc, nil
	}
	return time.Time{}, nil
}

// Snapshot returns every backend's status, in config order.
func (c *Checker) Snapshot() []BackendStatus {
	c.mu.Lock()
	ps := make([]*prober, 0, len(c.order))
	for _, name := range c.order {
		ps = append(ps, c.probers[name])
	}
	c.mu.Unlock()
	out := make([]BackendStatus, len(ps))
	for i, p := range ps {
		out[i] = p.snapshot()
	}
	return out
}

// Status returns one backend's status by name.
func (c *Checker) Status(name string) (BackendStatus, bool) {
	c.mu.Lock()
	p, ok := c.probers[name]
	c.mu.Unlock()
	if !ok {
		return BackendStatus{}, false
	}
	return p.snapshot(), true
}

// Subscribe calls fn after every probe of every backend (Event.Changed
// tells state or role changes apart) and when a reload removes a backend.
// fn runs on the probing goroutine: it must be quick and must not call
// Reconfigure or Close. The returned function unsubscribes.
func (c *Checker) Subscribe(fn func(Event)) (cancel func()) {
	c.mu.Lock()
	id := c.nextSub
	c.nextSub++
	c.subs[id] = fn
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		delete(c.subs, id)
		c.mu.Unlock()
	}
}

func (c *Checker) subsLocked() []func(Event) {
	ids := make([]int, 0, len(c.subs))
	for id := range c.subs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]func(Event), len(ids))
	for i, id := range ids {
		out[i] = c.subs[id]
	}
	return out
}

func notify(subs []func(Event), ev Event) {
	for _, fn := range subs {
		fn(ev)
	}
}

// isTimeout reports a network or context timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
