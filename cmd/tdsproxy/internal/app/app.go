// Package app is the tdsproxy binary: its commands (serve, demo, version,
// policy, audit), their flags and the wiring from configuration to a running
// proxy. cmd/tdsproxy/main.go only calls Main.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	"github.com/spf13/cobra"

	"github.com/tdsproxy/tdsproxy/proxy"
)

// Exit codes besides the lifecycle's (0, 1, 130, 143).
const (
	// ExitUsage is returned for bad flags, arguments or configuration.
	ExitUsage = 2
)

// App runs one invocation of the binary. The zero value is not usable; use
// Main, or fill Stdout and Stderr.
type App struct {
	Stdout, Stderr io.Writer
	// Signals replaces the process's SIGTERM/SIGINT/SIGHUP for serve and
	// demo (tests); nil means the real signals.
	Signals <-chan os.Signal
	// Listening, if set, is called by serve and demo with the proxy's and
	// the admin listener's addresses once both listen (admin may be nil).
	Listening func(proxyAddr, adminAddr net.Addr)
}

// Main runs the binary with args (without the program name) and returns
// the process exit code.
func Main(args []string) int {
	a := &App{Stdout: os.Stdout, Stderr: os.Stderr}
	return a.Run(context.Background(), args)
}

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error // already reported when nil
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// exitCode returns err as an exit with code, reporting err (if any) once.
func exitCode(code int, err error) error { return &exitError{code: code, err: err} }

// setProxyVersion gives tdsproxy_build_info this binary's version, once.
var setProxyVersion sync.Once

// Run executes the command line args and returns the exit code.
func (a *App) Run(ctx context.Context, args []string) int {
	setProxyVersion.Do(func() {
		if proxy.Version == "" {
			proxy.Version = ReadBuildInfo().Version
		}
	})
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(a.Stdout)
	root.SetErr(a.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(a.Stderr, "tdsproxy:", ee.err)
		}
		return ee.code
	}
	// cobra's own errors: unknown command or flag, bad flag value.
	fmt.Fprintln(a.Stderr, "tdsproxy:", err)
	return ExitUsage
}

func (a *App) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "tdsproxy",
		Short: "SQL Server (TDS) access proxy and Kubernetes sidecar",
		Long: `tdsproxy is a SQL Server access proxy: applications change only their
connection string's host and port, and get statement-level access policy,
audit, read/write routing, pooling and metrics.

Start with "tdsproxy demo" for a local try-out with an embedded simulator,
or "tdsproxy serve --primary HOST:PORT" in front of a SQL Server.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(a.serveCommand(), a.demoCommand(), a.versionCommand())
	root.AddCommand(a.policyCommands()...)
	return root
}

func (a *App) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ReadBuildInfo().Write(cmd.OutOrStdout())
			return nil
		},
	}
}
