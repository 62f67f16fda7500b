package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadFile feeds arbitrary bytes as the config file: loading must return
// settings or an error, never panic.
func FuzzLoadFile(f *testing.F) {
	seeds := []string{
		"primary: p:1\n",
		"primary: p:1\nreplicas: [a:1, b:2]\nlogin-timeout: 5s\n",
		"listen:\n  - a\n  - b\n",
		"replicas: {a: 1}\n",
		"backend-encrypt: true\nmax-client-conns: 1e9\n",
		"primary: &a p:1\nlisten: *a\n",
		"? [a]\n: b\n",
		"- 1\n",
		"primary: !!binary aGVsbG8=\n",
		"idle-timeout: 9223372036854775807\n",
		"max-message-size: -0x10\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "fuzz.yaml")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := LoadFile(p)
		if err == nil && s.Proxy.Primary == "" {
			t.Errorf("loaded without a primary: %+v", s.Proxy)
		}
	})
}
