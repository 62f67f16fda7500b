package app

import "github.com/spf13/cobra"

// policyCommands returns "policy check|explain" and "audit verify".
// They are wired to policy/policycli and policy/audit once those exist.
func (a *App) policyCommands() []*cobra.Command { return nil }
