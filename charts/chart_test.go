package charts

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tdsproxy/tdsproxy/config"
)

const chartDir = "tdsproxy"

// kubeVersion is the cluster version charts are rendered for: the chart
// needs 1.30 (preStop sleep action); helm built without release ldflags
// would assume 1.20.
const kubeVersion = "1.31.0"

// helmPath finds helm on PATH or in GOPATH/bin (where `go install
// helm.sh/helm/v3/cmd/helm@…` puts it); the tests that need it skip without it.
func helmPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		home, _ := os.UserHomeDir()
		gopath = filepath.Join(home, "go")
	}
	if p := filepath.Join(gopath, "bin", "helm"); fileExists(p) {
		return p
	}
	t.Skip("helm not installed (go install helm.sh/helm/v3/cmd/helm@v3.22.0); chart rendering not checked")
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmPath(t), args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String() + errb.String(), err
	}
	return out.String(), nil
}

// TestChartFilesParse runs without helm: the chart's plain YAML files parse.
func TestChartFilesParse(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"Chart.yaml", "values.yaml"} {
		t.Run(f, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(filepath.Join(chartDir, f))
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := yaml.Unmarshal(data, &m); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(m) == 0 {
				t.Fatalf("%s is empty", f)
			}
		})
	}
}

func TestHelmLint(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"service", "sidecar"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			out, err := helm(t, "lint", "--strict", chartDir, "--kube-version", kubeVersion, "--set", "primary=sql:1433", "--set", "mode="+mode)
			if err != nil {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
		})
	}
}

// manifest is the part of a Kubernetes object the tests look at.
type manifest struct {
	Kind     string
	Metadata struct{ Name string }
	Data     map[string]string
	Spec     yaml.Node
}

func render(t *testing.T, args ...string) map[string]manifest {
	t.Helper()
	out, err := helm(t, append([]string{"template", "rel", chartDir, "--kube-version", kubeVersion}, args...)...)
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	objs := map[string]manifest{}
	dec := yaml.NewDecoder(strings.NewReader(out))
	for {
		var m manifest
		if err := dec.Decode(&m); err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("rendered YAML does not parse: %v\n%s", err, out)
		}
		if m.Kind != "" {
			objs[m.Kind] = m
		}
	}
	return objs
}

// loadRendered loads the ConfigMap's tdsproxy.yaml with the proxy's loader.
func loadRendered(t *testing.T, objs map[string]manifest) config.Settings {
	t.Helper()
	cm, ok := objs["ConfigMap"]
	if !ok {
		t.Fatal("no ConfigMap rendered")
	}
	p := filepath.Join(t.TempDir(), "tdsproxy.yaml")
	if err := os.WriteFile(p, []byte(cm.Data["tdsproxy.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := config.LoadFile(p)
	if err != nil {
		t.Fatalf("rendered tdsproxy.yaml is not a valid config: %v\n%s", err, cm.Data["tdsproxy.yaml"])
	}
	return s
}

func TestRenderServiceMode(t *testing.T) {
	t.Parallel()
	objs := render(t,
		"--set", "primary=sql-primary.db:1433",
		"--set", "replicas={sql-r1.db:1433,sql-r2.db:1433}",
		"--set", "tls.secretName=db-tls",
		"--set", "backendCA.configMapName=db-ca",
		"--set", "policy.configMapName=db-policy", "--set", "policy.files={policy.yaml}",
		"--set", "podDisruptionBudget.enabled=true", "--set", "serviceMonitor.enabled=true",
		"--set", "shutdownGraceSeconds=20", "--set", "preStopSleepSeconds=3",
		"--set", "config.idle-timeout=30m", "--set", "config.backend-encrypt=strict")
	for _, kind := range []string{"ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "ServiceMonitor"} {
		if _, ok := objs[kind]; !ok {
			t.Errorf("no %s rendered", kind)
		}
	}
	s := loadRendered(t, objs)
	p := s.Proxy
	if p.Listen != ":1433" || p.Primary != "sql-primary.db:1433" || len(p.Replicas) != 2 {
		t.Errorf("listen/primary/replicas = %q %q %q", p.Listen, p.Primary, p.Replicas)
	}
	if p.TLSCert != "/etc/tdsproxy/tls/tls.crt" || p.TLSKey != "/etc/tdsproxy/tls/tls.key" {
		t.Errorf("tls = %q %q", p.TLSCert, p.TLSKey)
	}
	if p.BackendCAFile != "/etc/tdsproxy/backend-ca/ca.crt" {
		t.Errorf("backend-ca-file = %q", p.BackendCAFile)
	}
	if len(p.PolicyFiles) != 1 || p.PolicyFiles[0] != "/etc/tdsproxy/policy/policy.yaml" {
		t.Errorf("policy-files = %q", p.PolicyFiles)
	}
	if p.ShutdownGrace != 20*time.Second || p.IdleTimeout != 30*time.Minute || p.BackendEncrypt != "strict" {
		t.Errorf("grace/idle/encrypt = %v %v %v", p.ShutdownGrace, p.IdleTimeout, p.BackendEncrypt)
	}
	if p.AdminListen != ":9090" {
		t.Errorf("admin-listen = %q", p.AdminListen)
	}

	var spec struct {
		Template struct {
			Spec struct {
				TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
				Containers                    []struct {
					Args           []string
					ReadinessProbe struct {
						HTTPGet struct{ Path string } `yaml:"httpGet"`
					} `yaml:"readinessProbe"`
					LivenessProbe struct {
						HTTPGet struct{ Path string } `yaml:"httpGet"`
					} `yaml:"livenessProbe"`
					Lifecycle struct {
						PreStop struct{ Sleep struct{ Seconds int } } `yaml:"preStop"`
					}
					VolumeMounts []struct {
						MountPath string `yaml:"mountPath"`
					} `yaml:"volumeMounts"`
				}
			}
		}
	}
	dep := objs["Deployment"]
	if err := dep.Spec.Decode(&spec); err != nil {
		t.Fatal(err)
	}
	ps := spec.Template.Spec
	if ps.TerminationGracePeriodSeconds != 3+20+10 {
		t.Errorf("terminationGracePeriodSeconds = %d, want preStop+grace+10 = 33", ps.TerminationGracePeriodSeconds)
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("%d containers", len(ps.Containers))
	}
	c := ps.Containers[0]
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("probes = %q / %q", c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path)
	}
	if c.Lifecycle.PreStop.Sleep.Seconds != 3 {
		t.Errorf("preStop sleep = %d", c.Lifecycle.PreStop.Sleep.Seconds)
	}
	if strings.Join(c.Args, " ") != "serve --config /etc/tdsproxy/config/tdsproxy.yaml" {
		t.Errorf("args = %q", c.Args)
	}
	mounts := map[string]bool{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = true
	}
	for _, m := range []string{"/etc/tdsproxy/config", "/etc/tdsproxy/tls", "/etc/tdsproxy/backend-ca", "/etc/tdsproxy/policy"} {
		if !mounts[m] {
			t.Errorf("no volume mounted at %s", m)
		}
	}
}

func TestRenderSidecarMode(t *testing.T) {
	t.Parallel()
	objs := render(t, "--set", "mode=sidecar", "--set", "primary=sql:1433")
	if len(objs) != 1 {
		kinds := []string{}
		for k := range objs {
			kinds = append(kinds, k)
		}
		t.Errorf("sidecar mode rendered %v, want only the ConfigMap", kinds)
	}
	s := loadRendered(t, objs)
	if s.Proxy.Listen != "127.0.0.1:1433" {
		t.Errorf("sidecar listen = %q, want loopback", s.Proxy.Listen)
	}
	if s.Proxy.TLSCert != "" {
		t.Errorf("tls-cert = %q without a Secret", s.Proxy.TLSCert)
	}
}

func TestRenderRejectsBadValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no primary", nil, "set primary"},
		{"bad mode", []string{"--set", "primary=sql:1433", "--set", "mode=daemonset"}, "mode"},
		{"port not a number", []string{"--set", "primary=sql:1433", "--set", "port=abc"}, "port"},
		{"replica without port", []string{"--set", "primary=sql:1433", "--set", "replicas={sql2}"}, "replicas"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := helm(t, append([]string{"template", "rel", chartDir, "--kube-version", kubeVersion}, tc.args...)...)
			if err == nil {
				t.Fatal("helm template succeeded")
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out)
			}
		})
	}
}
