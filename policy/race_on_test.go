//go:build race

package policy

// raceEnabled is true under the race detector, whose overhead makes the
// timing guards meaningless.
const raceEnabled = true
