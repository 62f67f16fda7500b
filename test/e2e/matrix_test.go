package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tdsproxy/tdsproxy/test/e2e/compat"
)

// runTimeout bounds one client × scenario run.
const runTimeout = 60 * time.Second

// inCI reports whether a missing client is a failure rather than a skip.
func inCI() bool { return os.Getenv("CI") == "true" }

// results collects every cell for the compatibility document.
var results struct {
	sync.Mutex
	list []compat.Result
}

func record(r compat.Result) {
	results.Lock()
	defer results.Unlock()
	results.list = append(results.list, r)
}

// TestClients runs every client × scenario against every target:
// TestClients/<target>/<client>/<scenario>. Clients run in parallel with each
// other; one client's scenarios run one after another.
func TestClients(t *testing.T) {
	started := time.Now()
	results.Lock()
	results.list = nil // -count=N runs the test N times
	results.Unlock()
	if out := os.Getenv("TDSPROXY_COMPAT_OUT"); out != "" {
		t.Cleanup(func() {
			results.Lock()
			list := append([]compat.Result(nil), results.list...)
			results.Unlock()
			compat.SortResults(list, scenarioRank())
			run := compat.Run{Started: started, GoVersion: runtime.Version(),
				Platform: runtime.GOOS + "/" + runtime.GOARCH, Results: list}
			if err := compat.Write(out, run); err != nil {
				t.Errorf("TDSPROXY_COMPAT_OUT: %v", err)
			}
		})
	}
	for _, tf := range targets {
		t.Run(tf.name, func(t *testing.T) {
			t.Parallel() // each target has its own simulator cluster
			tg, skip := tf.start(t)
			if skip != "" {
				for _, c := range clients {
					for _, sc := range scenarios {
						record(compat.Result{Target: tf.name, Client: c.Name(), Encryption: string(sc.mode),
							Scenario: sc.name, Status: compat.Skipped, Reason: skip})
					}
				}
				t.Skip(skip)
			}
			for _, c := range clients {
				t.Run(c.Name(), func(t *testing.T) {
					t.Parallel()
					runClient(t, tg, c)
				})
			}
		})
	}
}

func runClient(t *testing.T, tg *Target, c client) {
	version := ""
	missing := c.Missing()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			res := compat.Result{Target: tg.Name, Client: c.Name(), Encryption: string(sc.mode), Scenario: sc.name}
			start := time.Now()
			rec := &recorder{TB: t}
			defer func() {
				res.DurationMS = time.Since(start).Milliseconds()
				res.Version = version
				switch {
				case rec.na != "":
					res.Status, res.Reason = compat.NotApplicable, rec.na
				case t.Skipped():
					res.Status, res.Reason = compat.Skipped, rec.skip
				case t.Failed():
					res.Status, res.Reason = compat.Fail, rec.firstError()
				default:
					res.Status = compat.Pass
				}
				record(res)
			}()

			switch action, why := gate(c, missing, sc, tg, inCI()); action {
			case gateFail:
				rec.Fatalf("%s", why)
			case gateSkip:
				rec.Skipf("%s", why)
			case gateNA:
				rec.notApplicable(why)
			}
			o, wire := runOne(t, rec, tg, c, sc)
			if o != nil && o.Version != "" {
				version = o.Version
			}
			if o == nil {
				return
			}
			if o.Failure != nil {
				rec.Fatalf("%s failed: %s", sc.driver, o.Failure)
			}
			if sc.wire != "" {
				checkWire(rec, sc, wire)
			}
			sc.check(rec, tg, o)
		})
	}
}

// gateAction is what happens to one cell before anything runs.
type gateAction int

const (
	gateRun  gateAction = iota
	gateSkip            // not run here: a missing client (outside CI), a target limitation
	gateNA              // the client cannot do this scenario at all
	gateFail            // CI=true and the client is missing: CI installs every client
)

// gate decides whether a cell runs, and why not. missing is c.Missing().
func gate(c client, missing string, sc scenario, tg *Target, ci bool) (gateAction, string) {
	if missing != "" {
		if ci {
			return gateFail, "client not installed (CI=true, so this is a failure): " + missing
		}
		return gateSkip, "client not installed: " + missing
	}
	if why := c.NotApplicable(sc); why != "" {
		return gateNA, why
	}
	if why := tg.ModeNA[sc.mode]; why != "" {
		return gateSkip, fmt.Sprintf("target %s cannot serve %s: %s", tg.Name, sc.mode, why)
	}
	if sc.driver == "readonly" && tg.ReadOnlyAddr == "" {
		return gateSkip, fmt.Sprintf("target %s has no read-only endpoint: %s", tg.Name, tg.ReadOnlyNA)
	}
	return gateRun, ""
}

// runOne runs one scenario, through a wiretap for the login scenarios.
func runOne(t *testing.T, rec *recorder, tg *Target, c client, sc scenario) (*Observation, []wireSummary) {
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	r := runSpec{tg: tg, sc: sc, addr: tg.Addr, roAddr: tg.ReadOnlyAddr, table: uniqueTable(c.Name(), sc.name), tmp: t.TempDir()}
	var tap *wiretap
	if sc.wire != "" {
		tap = startWiretap(t, tg.Addr)
		r.addr = tap.Addr()
	}
	o, err := c.Run(ctx, r)
	if err != nil {
		rec.Errorf("running %s: %v", c.Name(), err)
		return nil, nil
	}
	if testing.Verbose() {
		if b, err := json.Marshal(o); err == nil {
			t.Logf("observed: %s", truncate(string(b), 2000))
		}
	}
	var wire []wireSummary
	if tap != nil {
		wire = tap.Conns()
	}
	return o, wire
}

// checkWire asserts that every connection the client made used the mode the
// scenario asked for, as seen on the wire.
func checkWire(t testing.TB, sc scenario, wire []wireSummary) {
	t.Helper()
	if len(wire) == 0 {
		t.Errorf("wiretap saw no connection")
	}
	for i, w := range wire {
		if w.Mode != sc.wire {
			t.Errorf("connection %d: wire shows %s, want %s", i+1, w, sc.wire)
		}
	}
}

// uniqueTable returns a table name no other run uses.
func uniqueTable(clientName, scenarioName string) string {
	var b [4]byte
	rand.Read(b[:])
	clean := strings.NewReplacer("-", "_", ".", "_").Replace
	return fmt.Sprintf("e2e_%s_%s_%s", clean(clientName), clean(scenarioName), hex.EncodeToString(b[:]))
}

// recorder keeps the first failure message and the skip reasons of a
// subtest for the compatibility document.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
	skip   string
	na     string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.TB.Helper()
	r.note(fmt.Sprintf(format, args...))
	r.TB.Errorf(format, args...)
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.TB.Helper()
	r.note(fmt.Sprintf(format, args...))
	r.TB.Fatalf(format, args...)
}

func (r *recorder) Skipf(format string, args ...any) {
	r.TB.Helper()
	r.skip = fmt.Sprintf(format, args...)
	r.TB.Skip(r.skip)
}

// notApplicable skips a scenario the client cannot do, naming the limitation.
func (r *recorder) notApplicable(why string) {
	r.TB.Helper()
	r.na = why
	r.TB.Skip("not applicable: " + why)
}

func (r *recorder) note(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, s)
}

func (r *recorder) firstError() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errors) == 0 {
		return "failed (see the test log)"
	}
	return r.errors[0]
}
