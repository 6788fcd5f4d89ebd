// Package rendertest renders the Helm chart in ../flagcache with Helm's
// own engine (helm.sh/helm/v3 as a library) and decodes every rendered
// object strictly as a Kubernetes object of the client-go scheme. It is a
// module of its own so that Helm and Kubernetes stay out of flagcache's
// dependency graph; .ci/run runs it:
//
//	cd deploy/helm/rendertest && go test ./...
package rendertest

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
)

const chartDir = "../flagcache"

// rendered is a release's objects by "Kind/name".
type rendered map[string]runtime.Object

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	return c
}

// render renders the chart with values over its values.yaml and decodes
// every object; a template error is returned.
func render(t *testing.T, values map[string]any) (rendered, error) {
	t.Helper()
	c := loadChart(t)
	if err := chartutil.ValidateAgainstSchema(c, values); err != nil {
		return nil, err
	}
	vals, err := chartutil.ToRenderValues(c, values, chartutil.ReleaseOptions{
		Name: "ff", Namespace: "flags", Revision: 1, IsInstall: true,
	}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(c, vals)
	if err != nil {
		return nil, err
	}
	// Strict: an unknown or duplicate field is an error, as kubectl's
	// server-side field validation would make it.
	decoder := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	out := rendered{}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		for i, doc := range strings.Split(files[name], "\n---") {
			if strings.TrimSpace(strings.TrimPrefix(doc, "---")) == "" {
				continue
			}
			obj, gvk, err := decoder.Decode([]byte(doc), nil, nil)
			if err != nil {
				t.Fatalf("%s, document %d does not decode as a Kubernetes object: %v\n%s", name, i, err, doc)
			}
			key := gvk.Kind + "/" + obj.(interface{ GetName() string }).GetName()
			if _, dup := out[key]; dup {
				t.Fatalf("%s rendered twice", key)
			}
			out[key] = obj
		}
	}
	return out, nil
}

func mustRender(t *testing.T, values map[string]any) rendered {
	t.Helper()
	r, err := render(t, values)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return r
}

func (r rendered) keys() []string {
	var k []string
	for key := range r {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

func get[T runtime.Object](t *testing.T, r rendered, key string) T {
	t.Helper()
	obj, ok := r[key].(T)
	if !ok {
		t.Fatalf("no %s among %v", key, r.keys())
	}
	return obj
}

// config decodes the flagcache.toml of the release's ConfigMap.
func config(t *testing.T, r rendered) map[string]any {
	t.Helper()
	cm := get[*corev1.ConfigMap](t, r, "ConfigMap/ff-flagcache")
	var cfg map[string]any
	if _, err := toml.Decode(cm.Data["flagcache.toml"], &cfg); err != nil {
		t.Fatalf("flagcache.toml is not TOML: %v\n%s", err, cm.Data["flagcache.toml"])
	}
	return cfg
}

func container(t *testing.T, cs []corev1.Container, name string) corev1.Container {
	t.Helper()
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return corev1.Container{}
}

// checkFlagcache checks the flagcache container: probes, resources from
// docs/deploy.md's sizing, config and secrets mounted.
func checkFlagcache(t *testing.T, c corev1.Container) {
	t.Helper()
	probes := map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe}
	want := map[string]string{"startup": "/readyz", "readiness": "/readyz", "liveness": "/healthz"}
	for kind, p := range probes {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want[kind] || p.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe: got %+v, want GET %s on port http", kind, p, want[kind])
		}
	}
	if got := c.Resources.Requests[corev1.ResourceMemory]; got.Cmp(resource.MustParse("96Mi")) != 0 {
		t.Errorf("memory request: got %s, want 96Mi", got.String())
	}
	if got := c.Resources.Limits[corev1.ResourceMemory]; got.Cmp(resource.MustParse("256Mi")) != 0 {
		t.Errorf("memory limit: got %s, want 256Mi", got.String())
	}
	if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Errorf("the root filesystem is writable")
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if mounts["flagcache-config"] != "/etc/flagcache" || mounts["flagcache-secrets"] != "/etc/flagcache/secrets" {
		t.Errorf("mounts: got %v", mounts)
	}
	if len(c.Env) == 0 || c.Env[0].Name != "FLAGCACHE_CONFIG" || c.Env[0].Value != "/etc/flagcache/flagcache.toml" {
		t.Errorf("env: got %+v", c.Env)
	}
}

func secretVolume(t *testing.T, spec corev1.PodSpec) string {
	t.Helper()
	for _, v := range spec.Volumes {
		if v.Name == "flagcache-secrets" && v.Secret != nil {
			return v.Secret.SecretName
		}
	}
	t.Fatal("no flagcache-secrets volume")
	return ""
}

var tryOut = map[string]any{
	"auth":     map[string]any{"writeToken": "w-token", "readToken": "r-token"},
	"postgres": map[string]any{"dsn": "postgres://flagcache:pw@postgres:5432/flags"},
	"redis":    map[string]any{"addrs": []any{"redis:6379"}},
}

func TestDeploymentMode(t *testing.T) {
	r := mustRender(t, tryOut)
	if got, want := fmt.Sprint(r.keys()), "[ConfigMap/ff-flagcache Deployment/ff-flagcache Secret/ff-flagcache Service/ff-flagcache]"; got != want {
		t.Fatalf("objects: got %s, want %s", got, want)
	}
	d := get[*appsv1.Deployment](t, r, "Deployment/ff-flagcache")
	spec := d.Spec.Template.Spec
	if *d.Spec.Replicas != 2 || len(spec.Containers) != 1 {
		t.Fatalf("replicas %d, containers %d; want 2 and 1", *d.Spec.Replicas, len(spec.Containers))
	}
	checkFlagcache(t, spec.Containers[0])
	if len(spec.InitContainers) != 1 || spec.InitContainers[0].Args[0] != "migrate" {
		t.Errorf("init containers: got %+v, want flagcache migrate", spec.InitContainers)
	}
	if got := secretVolume(t, spec); got != "ff-flagcache" {
		t.Errorf("secret volume: got %s", got)
	}
	if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
		t.Error("the pod may run as root")
	}
	svc := get[*corev1.Service](t, r, "Service/ff-flagcache")
	for k, v := range svc.Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("the Service selects %s=%s, which the pods lack", k, v)
		}
	}
	secret := get[*corev1.Secret](t, r, "Secret/ff-flagcache")
	if secret.StringData["write-token"] != "w-token" || secret.StringData["read-token"] != "r-token" ||
		secret.StringData["postgres-dsn"] != "postgres://flagcache:pw@postgres:5432/flags" {
		t.Errorf("secret: got %v", secret.StringData)
	}
	cfg := config(t, r)
	if pg := cfg["postgres"].(map[string]any); pg["dsn_file"] != "/etc/flagcache/secrets/postgres-dsn" || pg["dsn"] != nil {
		t.Errorf("postgres config: got %v, want the DSN from the Secret's file only", pg)
	}
	tokens := cfg["auth"].(map[string]any)["tokens"].([]map[string]any)
	if len(tokens) != 2 || tokens[0]["file"] != "/etc/flagcache/secrets/write-token" || tokens[1]["scope"] != "read" {
		t.Errorf("tokens: got %v", tokens)
	}
	if cm := get[*corev1.ConfigMap](t, r, "ConfigMap/ff-flagcache"); strings.Contains(cm.Data["flagcache.toml"], "w-token") ||
		strings.Contains(cm.Data["flagcache.toml"], "pw@") {
		t.Error("a secret is in the ConfigMap")
	}
	if cfg["server"].(map[string]any)["listen"] != "0.0.0.0:8080" {
		t.Errorf("server: got %v", cfg["server"])
	}
	if got := cfg["redis"].(map[string]any)["addrs"]; fmt.Sprint(got) != "[redis:6379]" {
		t.Errorf("redis.addrs: got %v", got)
	}
}

func TestExistingSecret(t *testing.T) {
	r := mustRender(t, map[string]any{"auth": map[string]any{"existingSecret": "prod-flagcache"}})
	if _, ok := r["Secret/ff-flagcache"]; ok {
		t.Error("a Secret was created beside the existing one")
	}
	d := get[*appsv1.Deployment](t, r, "Deployment/ff-flagcache")
	if got := secretVolume(t, d.Spec.Template.Spec); got != "prod-flagcache" {
		t.Errorf("secret volume: got %s, want prod-flagcache", got)
	}
}

func TestSidecarMode(t *testing.T) {
	values := map[string]any{
		"mode": "sidecar",
		"workload": map[string]any{
			"name": "checkout",
			"containers": []any{map[string]any{"name": "app", "image": "checkout:1.2.3",
				"env": []any{map[string]any{"name": "PORT", "value": "9000"}}}},
		},
	}
	for k, v := range tryOut {
		values[k] = v
	}
	r := mustRender(t, values)
	if got, want := fmt.Sprint(r.keys()), "[ConfigMap/ff-flagcache Deployment/checkout Secret/ff-flagcache]"; got != want {
		t.Fatalf("objects: got %s, want %s", got, want)
	}
	spec := get[*appsv1.Deployment](t, r, "Deployment/checkout").Spec.Template.Spec
	if len(spec.InitContainers) != 2 || spec.InitContainers[0].Name != "flagcache-migrate" {
		t.Fatalf("init containers: got %d, want migrate then the flagcache sidecar", len(spec.InitContainers))
	}
	sidecar := container(t, spec.InitContainers, "flagcache")
	checkFlagcache(t, sidecar)
	if sidecar.RestartPolicy == nil || *sidecar.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Error("flagcache is not a native sidecar (restartPolicy: Always)")
	}
	app := container(t, spec.Containers, "app")
	env := map[string]corev1.EnvVar{}
	for _, e := range app.Env {
		env[e.Name] = e
	}
	if env["FLAGCACHE_URL"].Value != "http://127.0.0.1:8080" || env["PORT"].Value != "9000" {
		t.Errorf("app env: got %+v", app.Env)
	}
	if ref := env["FLAGCACHE_TOKEN"].ValueFrom; ref == nil || ref.SecretKeyRef == nil ||
		ref.SecretKeyRef.Name != "ff-flagcache" || ref.SecretKeyRef.Key != "read-token" {
		t.Errorf("the app's token: got %+v, want the read token from the Secret", env["FLAGCACHE_TOKEN"])
	}
}

func TestEmbeddedSource(t *testing.T) {
	r := mustRender(t, map[string]any{
		"replicaCount": 1,
		"source":       map[string]any{"kind": "embedded"},
		"auth":         map[string]any{"writeToken": "w"},
	})
	spec := get[*appsv1.Deployment](t, r, "Deployment/ff-flagcache").Spec.Template.Spec
	if len(spec.InitContainers) != 0 {
		t.Error("an embedded source needs no migration")
	}
	if cfg := config(t, r); cfg["source"].(map[string]any)["data_dir"] != "/data" || cfg["postgres"] != nil {
		t.Errorf("config: got %v", cfg)
	}
	if tokens := config(t, r)["auth"].(map[string]any)["tokens"].([]map[string]any); len(tokens) != 1 {
		t.Errorf("tokens: got %v, want the write token only", tokens)
	}
}

// Values that cannot work fail the render with a message saying why.
func TestRefusedValues(t *testing.T) {
	cases := []struct {
		name    string
		values  map[string]any
		mention string
	}{
		{"no token", map[string]any{"postgres": map[string]any{"dsn": "postgres://x"}}, "auth.writeToken"},
		{"postgres without a DSN", map[string]any{"auth": map[string]any{"writeToken": "w"}}, "postgres.dsn"},
		{"embedded on two pods", map[string]any{"auth": map[string]any{"writeToken": "w"}, "source": map[string]any{"kind": "embedded"}}, "replicaCount"},
		{"sidecar without a workload", map[string]any{"mode": "sidecar", "auth": map[string]any{"existingSecret": "s"}}, "workload.containers"},
		{"unknown mode", map[string]any{"mode": "daemonset", "auth": map[string]any{"existingSecret": "s"}}, "mode"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := render(t, c.values)
			if err == nil || !strings.Contains(err.Error(), c.mention) {
				t.Fatalf("got %v, want an error mentioning %s", err, c.mention)
			}
		})
	}
}

// flagcache reads its tokens and DSN once, at start: a Secret the chart
// renders with other values must roll the pods, as a changed ConfigMap
// does (checksum annotations on the pod template).
func TestSecretChangeRollsPods(t *testing.T) {
	for _, mode := range []string{"deployment", "sidecar"} {
		t.Run(mode, func(t *testing.T) {
			annotations := func(writeToken string) map[string]string {
				values := map[string]any{
					"mode":     mode,
					"workload": map[string]any{"containers": []any{map[string]any{"name": "app", "image": "app:1"}}},
					"auth":     map[string]any{"writeToken": writeToken},
					"postgres": tryOut["postgres"],
				}
				r := mustRender(t, values)
				key := "Deployment/ff-flagcache"
				if mode == "sidecar" {
					key = "Deployment/ff"
				}
				return get[*appsv1.Deployment](t, r, key).Spec.Template.Annotations
			}
			a, b := annotations("token-a"), annotations("token-b")
			if fmt.Sprint(a) == fmt.Sprint(b) {
				t.Errorf("another write token leaves the pod template as it was: %v", a)
			}
			if strings.Contains(fmt.Sprint(a), "token-a") {
				t.Errorf("the token is in the pod template: %v", a)
			}
		})
	}
}
