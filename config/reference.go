package config

import (
	"fmt"
	"strings"
)

// Markers around the generated part of docs/configuration.md.
const (
	ReferenceBegin = "<!-- BEGIN GENERATED: settings table (go test ./config -run TestReferenceDoc -update) -->"
	ReferenceEnd   = "<!-- END GENERATED -->"
)

// MarkdownReference renders the settings table of docs/configuration.md
// from the same table the flags are made from, so the two cannot drift.
func MarkdownReference() string {
	var b strings.Builder
	b.WriteString("| key (file) | flag | env | type | default | meaning |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| — | `--%s` | `%s` | path | | %s |\n", ConfigFlag, configEnv(),
		"YAML file with any of the keys below")
	for _, s := range Reference() {
		typ := s.Type
		if len(s.Allowed) > 0 {
			typ = "`" + strings.Join(s.Allowed, "` \\| `") + "`"
		}
		def := ""
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | `%s` | %s | %s | %s |\n",
			s.Key, s.Flag, s.Env, typ, def, strings.ReplaceAll(s.Usage, "|", "\\|"))
	}
	return b.String()
}

// ReplaceReference returns doc with the text between ReferenceBegin and
// ReferenceEnd replaced by MarkdownReference, or an error if the markers
// are missing.
func ReplaceReference(doc string) (string, error) {
	i := strings.Index(doc, ReferenceBegin)
	j := strings.Index(doc, ReferenceEnd)
	if i < 0 || j < i {
		return "", fmt.Errorf("config: reference markers not found (want %q … %q)", ReferenceBegin, ReferenceEnd)
	}
	return doc[:i+len(ReferenceBegin)] + "\n" + MarkdownReference() + doc[j:], nil
}
