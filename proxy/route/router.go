package route

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tdsproxy/tdsproxy/policy"
	"github.com/tdsproxy/tdsproxy/proxy/health"
)

// DefaultReadYourWritesWindow is how long after a write a session's reads
// stay on the primary when no replica is known to have caught up.
const DefaultReadYourWritesWindow = 5 * time.Second

// Config configures a Router. Zero values mean the defaults.
type Config struct {
	// Primary is the name of the configured primary (or availability-group
	// listener). Until the health checker reports roles it takes writes; once
	// it does, whichever backend reports the primary role does (failover).
	Primary string
	// ReadOnlyProcedures are procedures that only read, as "schema.name" or
	// "name" (schema dbo), case-insensitive: calls to them may go to replicas.
	ReadOnlyProcedures []string
	// ReadYourWritesWindow: after a session writes, its reads stay on the
	// primary until a replica is known to have applied the write, or for at
	// most this long (default 5s; negative: read-your-writes off).
	ReadYourWritesWindow time.Duration
	// NoPrimaryReads: when no replica qualifies, reads fail with 40613
	// instead of falling back to the primary.
	NoPrimaryReads bool
}

// Validate reports invalid fields by their setting keys.
func (c *Config) Validate() error {
	var errs []error
	for i, p := range c.ReadOnlyProcedures {
		if _, ok := procKey(p); !ok {
			errs = append(errs, fmt.Errorf("routing.read-only-procedures[%d]: %q is not a [schema.]name procedure name", i, p))
		}
	}
	return errors.Join(errs...)
}

// procKey normalizes a configured procedure name to "schema.name".
func procKey(s string) (string, bool) {
	parts := strings.Split(strings.ToLower(strings.TrimSpace(s)), ".")
	for i, p := range parts {
		parts[i] = strings.Trim(p, "[]\"")
		if parts[i] == "" {
			return "", false
		}
	}
	switch len(parts) {
	case 1:
		return "dbo." + parts[0], true
	case 2:
		return parts[0] + "." + parts[1], true
	}
	return "", false
}

// backendRef is one backend as the router sees it. A backend keeps its
// ref (and outstanding count) across topology updates.
type backendRef struct {
	name, addr  string
	breaker     *Breaker
	outstanding atomic.Int64 // requests begun and not done
	served      atomic.Int64 // requests begun, ever
}

// node is a backendRef with the health facts of one topology.
type node struct {
	ref            *backendRef
	weight         int64
	state          health.State
	lagOK          bool      // up, with a known lag within its limit (or no limit)
	appliedThrough time.Time // from the health checker; zero when unknown
}

// topology is an immutable view of the backends, swapped atomically.
type topology struct {
	primary  *node // nil: no usable primary
	replicas []node
}

// Router decides where each request goes. Route is safe for concurrent use
// and does not lock; Update swaps the topology atomically.
type Router struct {
	set      atomic.Pointer[settings]
	breakers *Breakers
	metrics  *Metrics
	now      func() time.Time

	topo atomic.Pointer[topology]
	rr   atomic.Uint32 // rotates the start of the replica scan: spreads ties

	mu   sync.Mutex
	refs map[string]*backendRef
}

// New returns a router with no backends (every request gets 40613 until
// Update). breakers and metrics may be nil.
func New(cfg Config, breakers *Breakers, metrics *Metrics) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if breakers == nil {
		breakers = NewBreakers(BreakerConfig{}, nil, metrics)
	}
	r := &Router{breakers: breakers, metrics: metrics, now: time.Now, refs: map[string]*backendRef{}}
	r.set.Store(newSettings(cfg))
	r.topo.Store(&topology{})
	return r, nil
}

// settings is a Config in the form Route reads, swapped atomically.
type settings struct {
	Config
	procs map[string]bool
}

func newSettings(cfg Config) *settings {
	if cfg.ReadYourWritesWindow == 0 {
		cfg.ReadYourWritesWindow = DefaultReadYourWritesWindow
	}
	s := &settings{Config: cfg, procs: make(map[string]bool, len(cfg.ReadOnlyProcedures))}
	for _, p := range cfg.ReadOnlyProcedures {
		k, _ := procKey(p)
		s.procs[k] = true
	}
	return s
}

// SetConfig applies a reloaded config to the requests routed from now on.
// Backends come from Update, not from here; a changed Primary takes effect
// at the next Update.
func (r *Router) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	r.set.Store(newSettings(cfg))
	return nil
}

// Breakers returns the router's breakers.
func (r *Router) Breakers() *Breakers { return r.breakers }

// Update replaces the topology with the health checker's statuses
// (health.Checker.Snapshot). The backend reporting the primary role is the
// primary; before any role is known, the configured Primary is. Secondaries
// that are up serve reads. Backends no longer listed are forgotten.
func (r *Router) Update(statuses []health.BackendStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updateLocked(statuses)
}

func (r *Router) updateLocked(statuses []health.BackendStatus) {
	t := &topology{}
	seen := make(map[string]bool, len(statuses))
	var cfgPrimary *node
	for i := range statuses {
		s := &statuses[i]
		seen[s.Name] = true
		ref := r.refs[s.Name]
		if ref == nil || ref.addr != s.Addr {
			ref = &backendRef{name: s.Name, addr: s.Addr, breaker: r.breakers.Get(s.Name)}
			if old := r.refs[s.Name]; old != nil {
				ref.outstanding.Store(old.outstanding.Load())
			}
			r.refs[s.Name] = ref
		}
		n := node{ref: ref, weight: int64(max(s.Weight, 1)), state: s.State, appliedThrough: s.AppliedThrough,
			lagOK: s.State == health.StateUp && (s.MaxLag == 0 || s.LagKnown && s.Lag <= s.MaxLag)}
		switch {
		case s.Role == health.RolePrimary && s.Usable():
			if t.primary == nil {
				t.primary = &n
			}
		case s.Role == health.RoleSecondary:
			t.replicas = append(t.replicas, n)
		case s.Name == r.set.Load().Primary && s.State == health.StateUnknown:
			cfgPrimary = &n
		}
	}
	if t.primary == nil && cfgPrimary != nil && !anyRoleKnown(statuses) {
		t.primary = cfgPrimary
	}
	for name := range r.refs {
		if !seen[name] {
			delete(r.refs, name)
			r.breakers.Remove(name)
		}
	}
	r.topo.Store(t)
}

func anyRoleKnown(ss []health.BackendStatus) bool {
	for _, s := range ss {
		if s.Role != health.RoleUnknown {
			return true
		}
	}
	return false
}

// Watch keeps the router's topology in step with c: it applies c's
// snapshot now and after every probe. The returned function stops it.
func (r *Router) Watch(c *health.Checker) (stop func()) {
	// The snapshot is taken under r.mu: concurrent probes cannot store an
	// older snapshot over a newer one.
	refresh := func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.updateLocked(c.Snapshot())
	}
	stop = c.Subscribe(func(health.Event) { refresh() })
	refresh()
	return stop
}

// Route decides where a request goes. It does no I/O, does not lock and
// does not allocate; it counts the decision in tdsproxy_router_requests_total.
func (r *Router) Route(req *RequestInfo, s *SessionInfo) Decision {
	d := r.route(req, s)
	d.Write = d.Target != TargetNone && d.Reason != ReasonRead && d.Reason != ReasonReadOnlyIntent && r.classify(req) != ReasonRead
	if r.metrics != nil {
		r.metrics.countRoute(d.Target, d.Reason)
	}
	return d
}

func (r *Router) route(req *RequestInfo, s *SessionInfo) Decision {
	t := r.topo.Load()
	if s.ReadOnlyIntent {
		return r.routeReadOnly(t, req, s)
	}
	if s.Pinned {
		return r.toPrimary(t, ReasonPinned, s)
	}
	if s.Tx != TxNone || req.TxDescriptor != 0 {
		return r.toPrimary(t, ReasonTransaction, s)
	}
	if req.PrimaryHint {
		return r.toPrimary(t, ReasonHint, s)
	}
	if why := r.classify(req); why != ReasonRead {
		return r.toPrimary(t, why, s)
	}
	// The clock is read only when a decision depends on it (a recent
	// write, an open breaker): it costs about 100 ns on some VMs.
	var since time.Time
	cfg := r.set.Load()
	if !s.LastWrite.IsZero() && cfg.ReadYourWritesWindow > 0 && r.now().Sub(s.LastWrite) < cfg.ReadYourWritesWindow {
		since = s.LastWrite
	}
	if n := r.pickReplica(t, req.Exclude, since); n != nil {
		return Decision{Target: TargetReplica, Reason: ReasonRead, Backend: n.ref.name, Addr: n.ref.addr, Retryable: true, ref: n.ref}
	}
	why := ReasonNoReplica
	if !since.IsZero() {
		why = ReasonReadYourWrites
	}
	if cfg.NoPrimaryReads && why == ReasonNoReplica {
		return Decision{Target: TargetNone, Reason: ReasonUnavailable, Err: unavailableError(s.Database, "no replica can serve reads")}
	}
	d := r.toPrimary(t, why, s)
	d.Retryable = d.Target == TargetPrimary && why == ReasonNoReplica
	return d
}

// routeReadOnly routes a request of an ApplicationIntent=ReadOnly session:
// replicas only. Writes get SQL Server's 3906; everything else goes to a
// replica, which refuses what it cannot do itself.
func (r *Router) routeReadOnly(t *topology, req *RequestInfo, s *SessionInfo) Decision {
	why := r.classify(req)
	switch why {
	case ReasonWrite, ReasonDDL, ReasonTempTable:
		if why != ReasonTempTable || writesNonTemp(req.Class) {
			return Decision{Target: TargetNone, Reason: ReasonReadOnlyWrite, Err: readOnlyError(s.Database)}
		}
	}
	sticky := s.Pinned || s.Tx != TxNone || req.TxDescriptor != 0
	if sticky && s.PinnedBackend != "" {
		for i := range t.replicas {
			if n := &t.replicas[i]; n.ref.name == s.PinnedBackend {
				if n.state == health.StateDown {
					break
				}
				return Decision{Target: TargetReplica, Reason: ReasonReadOnlyIntent, Backend: n.ref.name, Addr: n.ref.addr, ref: n.ref}
			}
		}
		return Decision{Target: TargetNone, Reason: ReasonUnavailable, Err: unavailableError(s.Database, "the replica of the open transaction is gone")}
	}
	if n := r.pickReplica(t, req.Exclude, time.Time{}); n != nil {
		return Decision{Target: TargetReplica, Reason: ReasonReadOnlyIntent, Backend: n.ref.name, Addr: n.ref.addr,
			Retryable: !sticky && why == ReasonRead, ref: n.ref}
	}
	return Decision{Target: TargetNone, Reason: ReasonUnavailable, Err: unavailableError(s.Database, "no replica can serve a read-only session")}
}

// toPrimary sends a request to the primary, or answers 40613 when there is
// none or its breaker is open (writes fail fast while the primary is down).
func (r *Router) toPrimary(t *topology, why Reason, s *SessionInfo) Decision {
	p := t.primary
	if p == nil {
		return Decision{Target: TargetNone, Reason: ReasonUnavailable, Err: unavailableError(s.Database, "no primary is available")}
	}
	if !p.ref.breaker.availableAt(r.now) {
		return Decision{Target: TargetNone, Reason: ReasonUnavailable, Err: unavailableError(s.Database, "the primary's circuit breaker is open")}
	}
	return Decision{Target: TargetPrimary, Reason: why, Backend: p.ref.name, Addr: p.ref.addr, ref: p.ref}
}

// pickReplica returns the replica with the fewest outstanding requests per
// unit of weight (then the fewest served per unit of weight) among those that are up, within their lag limit, with a
// closed (or half-open) breaker, not excluded and, when since is set, known
// to have applied everything committed before since. Remaining ties go round-robin.
func (r *Router) pickReplica(t *topology, exclude string, since time.Time) *node {
	n := len(t.replicas)
	if n == 0 {
		return nil
	}
	start := int(r.rr.Add(1) % uint32(n))
	var best *node
	var bestLoad, bestServed int64
	for k := 0; k < n; k++ {
		c := &t.replicas[(start+k)%n]
		if !c.lagOK || c.ref.name == exclude || !c.ref.breaker.availableAt(r.now) {
			continue
		}
		if !since.IsZero() && (c.appliedThrough.IsZero() || c.appliedThrough.Before(since)) {
			continue
		}
		load, served := c.ref.outstanding.Load(), c.ref.served.Load()
		// Fewest outstanding per unit of weight; on a tie, fewest served per
		// unit of weight (so idle replicas share by weight too).
		if best == nil {
			best, bestLoad, bestServed = c, load, served
			continue
		}
		l, bl := load*best.weight, bestLoad*c.weight
		if l < bl || l == bl && served*best.weight < bestServed*c.weight {
			best, bestLoad, bestServed = c, load, served
		}
	}
	return best
}

// classify returns ReasonRead when every statement of the request may run
// on a replica, else the reason it may not.
func (r *Router) classify(req *RequestInfo) Reason {
	c := req.Class
	if c == nil || len(c.Statements) == 0 {
		return ReasonUnknown
	}
	if req.CreatesHandle {
		return ReasonPrepared
	}
	for i := range c.Statements {
		st := &c.Statements[i]
		if why := pinReason(st, req.RPC); why != ReasonRead {
			return why
		}
		for _, a := range st.Accesses {
			if a.Object != nil && a.Object.Temp {
				return ReasonTempTable
			}
			switch {
			case a.Action == policy.KindUnknown:
				return ReasonUnknown
			case a.Action == policy.KindExec:
				if a.Object == nil || !r.readOnlyProc(a.Object) {
					return ReasonExec
				}
			case a.Action.IsRead():
			default:
				return kindReason(a.Action)
			}
		}
	}
	return ReasonRead
}

// readOnlyProc reports whether o is listed in ReadOnlyProcedures.
func (r *Router) readOnlyProc(o *policy.Object) bool {
	procs := r.set.Load().procs
	if len(procs) == 0 || o.Server != "" {
		return false
	}
	schema := o.Schema
	if schema == "" {
		schema = "dbo"
	}
	return procs[strings.ToLower(schema)+"."+strings.ToLower(o.Name)]
}

// kindReason is the routing reason of a non-read kind.
func kindReason(k policy.Kind) Reason {
	switch k {
	case policy.KindCreate, policy.KindAlter, policy.KindDrop, policy.KindGrant, policy.KindRevoke, policy.KindDeny:
		return ReasonDDL
	case policy.KindBeginTran, policy.KindCommit, policy.KindRollback, policy.KindSaveTran, policy.KindDistributedTran:
		return ReasonTransaction
	case policy.KindExec, policy.KindDynamicSQL:
		return ReasonExec
	case policy.KindExecuteAs, policy.KindRevert:
		return ReasonExecuteAs
	case policy.KindUnknown:
		return ReasonUnknown
	}
	return ReasonWrite
}

// writesNonTemp reports whether a request touching temp tables also writes
// something else. A ReadOnly-intent session may create and fill temp tables
// on a replica (tempdb is writable there), nothing more.
func writesNonTemp(c *policy.Classification) bool {
	for i := range c.Statements {
		for _, a := range c.Statements[i].Accesses {
			if a.Object != nil && !a.Object.Temp && !a.Action.IsRead() {
				return true
			}
		}
	}
	return false
}
