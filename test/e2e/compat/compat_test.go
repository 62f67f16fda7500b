package compat

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleRun() Run {
	return Run{
		Started:   time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC),
		GoVersion: "go1.26",
		Platform:  "linux/amd64",
		Results: []Result{
			{Target: "direct", Client: "tedious", Version: "19.2.2", Encryption: "plain", Scenario: "login-plain", Status: Pass},
			{Target: "direct", Client: "tedious", Version: "19.2.2", Encryption: "login-only", Scenario: "login-only-tls", Status: NotApplicable, Reason: "tedious never sends ENCRYPT_OFF"},
			{Target: "direct", Client: "tsql", Version: "FreeTDS 1.3.17", Encryption: "plain", Scenario: "login-plain", Status: Fail, Reason: "wire shows tls | want plain"},
			{Target: "direct", Client: "tsql", Encryption: "login-only", Scenario: "login-only-tls", Status: NotApplicable, Reason: "tedious never sends ENCRYPT_OFF"},
			{Target: "proxy", Client: "tedious", Encryption: "plain", Scenario: "login-plain", Status: Skipped, Reason: "proxy not built"},
			{Target: "proxy", Client: "tsql", Encryption: "plain", Scenario: "login-plain", Status: Pass},
		},
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "r.json")
	want := sampleRun()
	if err := Write(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Results) != len(want.Results) || got.Results[2] != want.Results[2] || !got.Started.Equal(want.Started) {
		t.Errorf("round trip changed the run:\n got %+v\nwant %+v", got, want)
	}
}

func TestReadRejectsBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, json, wantErr string
	}{
		{"not json", "{", "decoding"},
		{"unknown field", `{"results": [], "extra": 1}`, "unknown field"},
		{"missing client", `{"results": [{"target": "direct", "scenario": "types", "status": "pass"}]}`, "required"},
		{"bad status", `{"results": [{"target": "direct", "client": "x", "scenario": "types", "status": "green"}]}`, "unknown status"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "r.json")
			if err := os.WriteFile(path, []byte(tc.json), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Read(path)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Read error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestMarkdown(t *testing.T) {
	t.Parallel()
	run := sampleRun()
	// A real-server section listed first still comes after the proxy's.
	run.Results = append([]Result{{Target: "mssql", Client: "tsql", Encryption: "plain", Scenario: "login-plain", Status: Skipped, Reason: "no server"}}, run.Results...)
	md := string(Markdown(run))
	if d, p, m := strings.Index(md, "## Directly against the simulator"), strings.Index(md, "## Through tdsproxy"), strings.Index(md, "## Directly against a real SQL Server"); !(d < p && p < m) {
		t.Errorf("sections out of order: direct at %d, proxy at %d, real server at %d", d, p, m)
	}
	for _, want := range []string{
		"## Directly against the simulator (mssqlsim)",
		"## Through tdsproxy (in front of the simulator)",
		"| client | version | login-plain<br>*plain* | login-only-tls<br>*login-only* |",
		"| tedious | 19.2.2 | ✅ | ➖ 1 |",
		"| tsql | FreeTDS 1.3.17 | ❌ 2 | ➖ 1 |", // the same reason shares one note
		"1. ➖ tedious never sends ENCRYPT_OFF",
		`2. ❌ wire shows tls \| want plain`, // pipes escaped inside a table document
		"1 passed, 1 failed, 2 not applicable, 0 skipped.",
		"⏭ 1",
		"## Directly against a real SQL Server\n\nNot run: no server\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestSortResults(t *testing.T) {
	t.Parallel()
	rs := []Result{
		{Target: "proxy", Client: "a", Scenario: "types"},
		{Target: "direct", Client: "b", Scenario: "types"},
		{Target: "direct", Client: "a", Scenario: "types"},
		{Target: "direct", Client: "a", Scenario: "login-plain"},
		{Target: "direct", Client: "a", Scenario: "zzz"},
	}
	SortResults(rs, map[string]int{"login-plain": 0, "types": 1})
	var got []string
	for _, r := range rs {
		got = append(got, r.Target+"/"+r.Client+"/"+r.Scenario)
	}
	want := "direct/a/login-plain direct/a/types direct/a/zzz direct/b/types proxy/a/types"
	if strings.Join(got, " ") != want {
		t.Errorf("order = %v, want %s", got, want)
	}
}
