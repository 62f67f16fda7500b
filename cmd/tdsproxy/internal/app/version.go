package app

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Set at link time, e.g.
//
//	go build -ldflags "-X github.com/tdsproxy/tdsproxy/cmd/tdsproxy/internal/app.version=v0.1.0 \
//	  -X github.com/tdsproxy/tdsproxy/cmd/tdsproxy/internal/app.commit=$(git rev-parse HEAD)" ./cmd/tdsproxy
//
// When unset, the values come from the Go build info (module version, VCS
// revision), which `go build` and `go install` record.
var (
	version = ""
	commit  = ""
)

// BuildInfo describes the running binary.
type BuildInfo struct {
	Version   string // release version, or "(devel)"
	Commit    string // VCS revision, or "unknown"
	Modified  bool   // built from a work tree with uncommitted changes
	Time      string // commit time (RFC 3339), if known
	GoVersion string // e.g. go1.26.8
	Platform  string // GOOS/GOARCH
}

// ReadBuildInfo returns the link-time values, falling back to the Go build
// info for what was not set.
func ReadBuildInfo() BuildInfo {
	bi := BuildInfo{Version: version, Commit: commit, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		if bi.Version == "" && info.Main.Version != "" {
			bi.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if bi.Commit == "" {
					bi.Commit = s.Value
				}
			case "vcs.time":
				bi.Time = s.Value
			case "vcs.modified":
				bi.Modified = s.Value == "true"
			}
		}
	}
	if bi.Version == "" {
		bi.Version = "(devel)"
	}
	if bi.Commit == "" {
		bi.Commit = "unknown"
	}
	return bi
}

// Write prints the build info, one "name: value" per line.
func (b BuildInfo) Write(w io.Writer) {
	fmt.Fprintf(w, "tdsproxy %s\n", b.Version)
	c := b.Commit
	if b.Modified {
		c += " (modified)"
	}
	fmt.Fprintf(w, "commit: %s\n", c)
	if b.Time != "" {
		fmt.Fprintf(w, "built from commit of: %s\n", b.Time)
	}
	fmt.Fprintf(w, "go: %s %s\n", b.GoVersion, b.Platform)
}
