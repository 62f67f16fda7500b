package app

import (
	"github.com/spf13/cobra"

	"github.com/tdsproxy/tdsproxy/policy/audit"
	"github.com/tdsproxy/tdsproxy/policy/policycli"
)

// policyCommands returns "policy check|explain" and "audit verify", thin
// wrappers over policy/policycli and policy/audit that pass their exit codes
// through.
func (a *App) policyCommands() []*cobra.Command {
	pol := &cobra.Command{
		Use:   "policy",
		Short: "Check policy files and explain decisions",
	}
	pol.AddCommand(&cobra.Command{
		Use:   "check FILE...",
		Short: "Validate policy files: every problem with file:line; exit 0 valid, 1 invalid",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			return codeErr(policycli.Check(files, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	})

	var ex policycli.ExplainArgs
	explain := &cobra.Command{
		Use:   "explain --policy FILE... --user LOGIN [--database DB] [--app NAME] [--host H] --sql TEXT",
		Short: "Classify a SQL batch and show the decision and the rule behind it; exit 0 allowed, 1 denied, 2 usage error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return codeErr(policycli.Explain(ex, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	f := explain.Flags()
	f.StringArrayVar(&ex.Policy, "policy", nil, "policy YAML file (repeatable)")
	f.StringVar(&ex.User, "user", "", "login name the batch runs as")
	f.StringVar(&ex.Database, "database", "", "current database")
	f.StringVar(&ex.App, "app", "", "application name the client sends")
	f.StringVar(&ex.Host, "host", "", "client host name the client sends")
	f.StringVar(&ex.SQL, "sql", "", "the SQL batch to decide")
	pol.AddCommand(explain)

	aud := &cobra.Command{
		Use:   "audit",
		Short: "Work with audit logs",
	}
	aud.AddCommand(&cobra.Command{
		Use:   "verify FILE...",
		Short: "Verify the hash chain of audit log files; exit 0 intact, 1 broken or unreadable",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			return codeErr(audit.VerifyCmd(files, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	})
	return []*cobra.Command{pol, aud}
}

// codeErr turns a command function's exit code into Run's result; the
// function has already printed its messages.
func codeErr(code int) error {
	if code == 0 {
		return nil
	}
	return exitCode(code, nil)
}
