//go:build !race

package policy

// raceEnabled is true under the race detector.
const raceEnabled = false
