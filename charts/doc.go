// Package charts holds the Helm charts (charts/tdsproxy) and the Go tests that
// render them with helm and check the result with tdsproxy's own config loader.
// It has no Go code of its own.
package charts
