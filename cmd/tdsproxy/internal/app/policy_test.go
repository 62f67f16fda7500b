package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// examplePolicy is the repository's example policy (owned by the policy
// engineer); these tests only check that the commands are wired.
const examplePolicy = "../../../../examples/policy/reporting.yaml"

func TestPolicyCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(broken, []byte("version: 1\nroles:\n  r:\n    default: maybe\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		code       int
		wantOut    string
		wantStderr string
	}{
		{name: "check valid", args: []string{"policy", "check", examplePolicy}, code: 0, wantOut: "OK"},
		{name: "check invalid", args: []string{"policy", "check", broken}, code: 1, wantStderr: "broken.yaml"},
		{name: "check no files", args: []string{"policy", "check"}, code: ExitUsage, wantStderr: "requires at least 1 arg"},
		{name: "explain allowed", args: []string{"policy", "explain", "--policy", examplePolicy, "--user", "reporter",
			"--database", "demo", "--sql", "SELECT * FROM sales.orders"}, code: 0, wantOut: "ALLOW"},
		{name: "explain denied", args: []string{"policy", "explain", "--policy", examplePolicy, "--user", "reporter",
			"--database", "demo", "--sql", "DELETE FROM sales.orders"}, code: 1, wantOut: "DENY"},
		{name: "explain missing sql", args: []string{"policy", "explain", "--policy", examplePolicy, "--user", "reporter"},
			code: 2, wantStderr: "--sql"},
		{name: "audit verify no files", args: []string{"audit", "verify"}, code: ExitUsage, wantStderr: "requires at least 1 arg"},
		{name: "audit verify missing file", args: []string{"audit", "verify", filepath.Join(dir, "nope.jsonl")}, code: 1,
			wantStderr: "nope.jsonl"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := run(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Errorf("stdout lacks %q:\n%s", tc.wantOut, out)
			}
			if !strings.Contains(errOut, tc.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantStderr, errOut)
			}
		})
	}
}
