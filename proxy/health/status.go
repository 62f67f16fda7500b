package health

import (
	"encoding/json"
	"fmt"
	"time"
)

// State is a backend's health.
type State uint8

// Backend states.
const (
	// StateUnknown: not probed yet.
	StateUnknown State = iota
	// StateUp: the last probe succeeded and the lag is within the limit.
	StateUp
	// StateLagging: reachable, but a secondary whose lag is above its MaxLag
	// (or unknown while a MaxLag is set). It serves no reads.
	StateLagging
	// StateDown: DownAfter consecutive probes failed.
	StateDown
)

var stateNames = [...]string{"unknown", "up", "lagging", "down"}

// String returns "unknown", "up", "lagging" or "down".
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// MarshalText renders the state by name in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Role is the availability role a backend reports.
type Role uint8

// Roles; the numbers are those of sys.dm_hadr_availability_replica_states.role
// (and the value of the tdsproxy_backend_role metric).
const (
	RoleUnknown   Role = 0
	RolePrimary   Role = 1
	RoleSecondary Role = 2
)

// String returns "unknown", "primary" or "secondary".
func (r Role) String() string {
	switch r {
	case RolePrimary:
		return "primary"
	case RoleSecondary:
		return "secondary"
	case RoleUnknown:
		return "unknown"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// MarshalText renders the role by name in JSON.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// BackendStatus is what the checker knows of one backend. It is a value:
// a snapshot never changes after it is returned.
type BackendStatus struct {
	Name   string        `json:"name"`
	Addr   string        `json:"addr"`
	Weight int           `json:"weight"`
	MaxLag time.Duration `json:"-"`

	State State `json:"state"`
	Role  Role  `json:"role"`
	// ServerName is the backend's @@SERVERNAME.
	ServerName string `json:"server_name,omitempty"`
	// Lag is the replica lag measured by the last probe (0 on a primary).
	Lag time.Duration `json:"-"`
	// LagKnown is false when the backend reports no lag (a secondary outside
	// an availability group, or no replica states visible).
	LagKnown bool `json:"lag_known"`
	// AppliedThrough: every transaction the primary committed before this
	// instant has been applied on this backend, on the evidence of the last
	// successful probe (the probe's start minus an upper bound of the lag).
	// Zero when unknown. Read-your-writes compares it with a write's time.
	AppliedThrough time.Time `json:"applied_through,omitzero"`
	// CheckedAt is when the last probe started; Latency how long it took.
	CheckedAt time.Time     `json:"checked_at,omitzero"`
	Latency   time.Duration `json:"-"`
	// Since is when State last changed.
	Since time.Time `json:"since,omitzero"`
	// Failures counts consecutive failed probes; LastError is the last one's
	// error (never holds credentials: go-mssqldb errors do not).
	Failures  int    `json:"consecutive_failures"`
	LastError string `json:"last_error,omitempty"`
}

// Usable reports whether the backend may take new work (up or lagging).
func (s *BackendStatus) Usable() bool { return s.State == StateUp || s.State == StateLagging }

// MarshalJSON adds durations in seconds.
func (s BackendStatus) MarshalJSON() ([]byte, error) {
	type plain BackendStatus
	return json.Marshal(struct {
		plain
		MaxLagSeconds  float64 `json:"max_lag_seconds"`
		LagSeconds     float64 `json:"lag_seconds"`
		LatencySeconds float64 `json:"latency_seconds"`
	}{plain(s), s.MaxLag.Seconds(), s.Lag.Seconds(), s.Latency.Seconds()})
}

// Event is one probe's outcome, given to subscribers.
type Event struct {
	// Status is the backend's status after the probe (or its last status
	// when Removed).
	Status BackendStatus
	// Previous is the status before the probe.
	Previous BackendStatus
	// Changed is set when State or Role changed.
	Changed bool
	// Removed is set when a reload removed the backend.
	Removed bool
}
