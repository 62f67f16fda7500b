package policy

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"testing"
)

// TestSchemaInSync keeps policy/schema/policy.schema.json in step with the
// loader: the action enum must equal ActionNames and the keys of each
// object must equal the keys the loader accepts.
func TestSchemaInSync(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("schema/policy.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	get := func(v any, path ...string) any {
		for _, p := range path {
			v = v.(map[string]any)[p]
		}
		return v
	}
	keys := func(v any) []string {
		var out []string
		for k := range v.(map[string]any) {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	sorted := func(in []string) []string {
		out := append([]string(nil), in...)
		sort.Strings(out)
		return out
	}
	role := get(s, "properties", "roles", "additionalProperties")
	rule := get(role, "properties", "rules", "items")
	login := get(s, "properties", "logins", "items")
	checks := []struct {
		name string
		got  []string
		want []string
	}{
		{"top-level keys", keys(get(s, "properties")), sorted(topKeys)},
		{"login keys", keys(get(login, "properties")), sorted(loginKeys)},
		{"role keys", keys(get(role, "properties")), sorted(roleKeys)},
		{"rule keys", keys(get(rule, "properties")), sorted(ruleKeys)},
	}
	var enum []string
	for _, v := range get(rule, "properties", "allow", "oneOf").([]any)[0].(map[string]any)["anyOf"].([]any)[0].(map[string]any)["enum"].([]any) {
		enum = append(enum, v.(string))
	}
	checks = append(checks, struct {
		name string
		got  []string
		want []string
	}{"action enum", sorted(enum), ActionNames()})
	for _, c := range checks {
		if len(c.got) != len(c.want) {
			t.Errorf("%s: schema %v, loader %v", c.name, c.got, c.want)
			continue
		}
		for i := range c.got {
			if c.got[i] != c.want[i] {
				t.Errorf("%s: schema %v, loader %v", c.name, c.got, c.want)
				break
			}
		}
	}
	// The pattern regexp accepts what parsePattern accepts.
	re := regexp.MustCompile(get(rule, "properties", "objects", "oneOf").([]any)[0].(map[string]any)["pattern"].(string))
	for _, p := range []string{"*.sales.*", "a", "[my.db].dbo.*", "l.d.s.o"} {
		if _, err := parsePattern(p); err != nil || !re.MatchString(p) {
			t.Errorf("pattern %q: loader err %v, schema match %v", p, err, re.MatchString(p))
		}
	}
	for _, p := range []string{"a..b", "a.b.c.d.e", ""} {
		if _, err := parsePattern(p); err == nil || re.MatchString(p) {
			t.Errorf("bad pattern %q accepted (loader err %v, schema match %v)", p, err, re.MatchString(p))
		}
	}
}
