// Command tdsproxy is a SQL Server (TDS) access proxy and Kubernetes sidecar.
// Run "tdsproxy demo" for a local try-out, "tdsproxy serve --help" for the
// settings. The commands live in package app.
package main

import (
	"os"

	"github.com/tdsproxy/tdsproxy/cmd/tdsproxy/internal/app"
)

func main() { os.Exit(app.Main(os.Args[1:])) }
