package e2e_test

// TestHelm: the Helm chart (charts/hyperplace), with helm built from the Go module proxy
// (e2e/build.sh helm). Lint and render with every values file, the rendered objects checked
// against each other and the configuration against hyperplace itself; manifests/ equal to the
// chart's rendering; then install, upgrade and uninstall on a real control plane with kwok nodes.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"hyperplace.dev/e2e/harness"
)

const (
	helmRelease   = "hyperplace"
	helmNamespace = "hyperplace-system"
)

// helmCLI runs the helm binary of build.sh with its own cache, configuration and data folders.
type helmCLI struct {
	bin string
	env []string
}

func newHelm(t *testing.T) *helmCLI {
	t.Helper()
	bin := os.Getenv("HELM")
	if bin == "" {
		bin = filepath.Join(harness.DefaultBinDir(), "helm")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("helm not found at %s (run e2e/build.sh helm, or set HELM): %v", bin, err)
	}
	home := t.TempDir()
	env := append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	return &helmCLI{bin: bin, env: env}
}

// Run runs helm and returns its standard output; err carries the standard error.
func (h *helmCLI) Run(args ...string) (string, error) {
	cmd := exec.Command(h.bin, args...)
	cmd.Env = h.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// chartDir is charts/hyperplace, absolute (helm resolves -f files against the working folder).
func chartDir(t testing.TB) string {
	t.Helper()
	d, err := filepath.Abs(repoPath("charts", "hyperplace"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// rendered is one `helm template`: its objects, and each by "Kind/name".
type rendered struct {
	objs []*unstructured.Unstructured
	byID map[string]*unstructured.Unstructured
}

func (r *rendered) Get(kind, name string) *unstructured.Unstructured { return r.byID[kind+"/"+name] }

// Must returns the object, failing the test now if it was not rendered.
func (r *rendered) Must(t testing.TB, kind, name string) *unstructured.Unstructured {
	t.Helper()
	o := r.Get(kind, name)
	if o == nil {
		t.Fatalf("%s/%s not rendered (have %s)", kind, name, strings.Join(r.IDs(), ", "))
	}
	return o
}

func (r *rendered) IDs() []string {
	ids := make([]string, 0, len(r.byID))
	for id := range r.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// helmTemplate renders the chart as release hyperplace in hyperplace-system with the values files
// (relative to the chart) and --set flags.
func helmTemplate(t *testing.T, h *helmCLI, values []string, set ...string) (*rendered, error) {
	t.Helper()
	args := []string{"template", helmRelease, chartDir(t), "--namespace", helmNamespace}
	for _, v := range values {
		args = append(args, "-f", filepath.Join(chartDir(t), v))
	}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := h.Run(args...)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(t.TempDir(), "rendered.yaml")
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &rendered{objs: manifestObjects(t, path), byID: map[string]*unstructured.Unstructured{}}
	for _, o := range r.objs {
		id := o.GetKind() + "/" + o.GetName()
		if r.byID[id] != nil {
			t.Errorf("%s rendered twice", id)
		}
		r.byID[id] = o
	}
	return r, nil
}

// chartCase is one values file and what its rendering must hold.
type chartCase struct {
	name       string
	values     string // under charts/hyperplace; "" for the defaults
	fullname   string
	helmLabels bool
	scheduler  bool
	present    []string // "Kind/name"
	absent     []string
	check      func(t *testing.T, r *rendered, cfg map[string]any)
}

var (
	helmSchedulerObjects = []string{"ServiceAccount/hyperplace-scheduler", "ClusterRoleBinding/hyperplace-scheduler",
		"ClusterRoleBinding/hyperplace-scheduler-volume", "RoleBinding/hyperplace-scheduler-authentication-reader",
		"Role/hyperplace-scheduler-lease", "RoleBinding/hyperplace-scheduler-lease",
		"ConfigMap/hyperplace-scheduler-config", "Deployment/hyperplace-scheduler"}
	helmCoreObjects = []string{"ServiceAccount/hyperplace", "ClusterRole/hyperplace", "ClusterRoleBinding/hyperplace",
		"ConfigMap/hyperplace-config", "Deployment/hyperplace", "Service/hyperplace",
		"MutatingWebhookConfiguration/hyperplace-mutating-webhook"}
	helmCertManagerObjects = []string{"Issuer/hyperplace-selfsigned", "Certificate/hyperplace-ca", "Issuer/hyperplace-ca",
		"Certificate/hyperplace-tls", "Certificate/hyperplace-scheduler-tls"}
	helmKueueObjects = []string{"Namespace/hyperpod-ns-team-a", "Namespace/hyperpod-ns-team-b", "Topology/aws-network",
		"ResourceFlavor/ml-p5-48xlarge", "ResourceFlavor/ml-g5-8xlarge",
		"ClusterQueue/hyperpod-ns-team-a-clusterqueue", "LocalQueue/hyperpod-ns-team-a-localqueue",
		"WorkloadPriorityClass/fine-tuning-priority"}
	helmMonitoringObjects = []string{"Service/hyperplace-metrics", "ServiceMonitor/hyperplace", "ConfigMap/hyperplace-dashboard"}
)

// valueFiles is the -f list of the case: none for the chart's defaults.
func (c chartCase) valueFiles() []string {
	if c.values == "" {
		return nil
	}
	return []string{c.values}
}

var chartCases = []chartCase{
	{
		name: "defaults", fullname: "hyperplace", helmLabels: true, scheduler: true,
		present: slices.Concat(helmCoreObjects, helmSchedulerObjects, []string{"NetworkPolicy/hyperplace", "PodDisruptionBudget/hyperplace"}),
		absent:  slices.Concat(helmCertManagerObjects, helmKueueObjects, helmMonitoringObjects, []string{"Namespace/hyperplace-system"}),
		check: func(t *testing.T, r *rendered, cfg map[string]any) {
			// No cluster to read the Secret's ca.crt from, no value: no caBundle at all (the
			// API server would then verify with its own roots, and fail closed).
			if cc := webhookClientConfig(t, r.Must(t, "MutatingWebhookConfiguration", "hyperplace-mutating-webhook")); cc["caBundle"] != nil {
				t.Errorf("caBundle %v rendered without a value or a cluster", cc["caBundle"])
			}
			dep := r.Must(t, "Deployment", "hyperplace")
			if got := podSpecString(dep, "containers", "0", "image"); got != "hyperplace:0.1.0" {
				t.Errorf("image %q, want hyperplace:<appVersion> hyperplace:0.1.0", got)
			}
		},
	},
	{
		name: "manifests", values: "ci/manifests-values.yaml", fullname: "hyperplace", scheduler: true,
		present: slices.Concat(helmCoreObjects, helmSchedulerObjects, helmKueueObjects,
			[]string{"Namespace/hyperplace-system", "NetworkPolicy/hyperplace", "PodDisruptionBudget/hyperplace"}),
		absent: slices.Concat(helmCertManagerObjects, helmMonitoringObjects),
		check: func(t *testing.T, r *rendered, cfg map[string]any) {
			ns := r.Must(t, "Namespace", "hyperplace-system")
			if got := ns.GetLabels()["pod-security.kubernetes.io/enforce"]; got != "restricted" {
				t.Errorf("Namespace hyperplace-system: pod-security enforce %q, want restricted", got)
			}
			cc := webhookClientConfig(t, r.Must(t, "MutatingWebhookConfiguration", "hyperplace-mutating-webhook"))
			if s, _ := cc["caBundle"].(string); !strings.HasPrefix(s, "<") {
				t.Errorf("caBundle %q, want the placeholder users fill in", s)
			}
		},
	},
	{
		name: "cert-manager", values: "ci/cert-manager-values.yaml", fullname: "hyperplace", helmLabels: true, scheduler: true,
		present: slices.Concat(helmCoreObjects, helmSchedulerObjects, helmCertManagerObjects, helmMonitoringObjects),
		absent:  helmKueueObjects,
		check:   checkCertManagerCase,
	},
	{
		name: "self-managed", values: "ci/self-managed-values.yaml", fullname: "hyperplace", helmLabels: true,
		present: helmCoreObjects,
		absent: slices.Concat(helmSchedulerObjects, helmCertManagerObjects, helmKueueObjects, helmMonitoringObjects,
			[]string{"NetworkPolicy/hyperplace", "PodDisruptionBudget/hyperplace"}),
		check: func(t *testing.T, r *rendered, cfg map[string]any) {
			dep := r.Must(t, "Deployment", "hyperplace")
			if n := toInt64(dep.Object["spec"].(map[string]any)["replicas"]); n != 1 {
				t.Errorf("replicas %d, want 1", n)
			}
			if got := nestedStrings(cfg, "extender", "schedulerNames"); !reflect.DeepEqual(got, []string{"default-scheduler"}) {
				t.Errorf("config extender.schedulerNames %v, want [default-scheduler]", got)
			}
		},
	},
	{
		name: "custom", values: "ci/custom-values.yaml", fullname: "hp", helmLabels: true, scheduler: true,
		present: []string{"Deployment/hp", "Deployment/hp-scheduler", "ConfigMap/hp-config", "ConfigMap/hp-scheduler-config",
			"MutatingWebhookConfiguration/hyperplace-hp-mutating-webhook", "NetworkPolicy/hp", "Topology/aws-network"},
		absent: slices.Concat(helmCoreObjects, helmCertManagerObjects),
		check:  checkCustomCase,
	},
}

func TestHelm(t *testing.T) {
	h := newHelm(t)
	hp := hyperplaceBinary(t)
	if out, err := h.Run("version", "--short"); err != nil || !strings.HasPrefix(out, "v3.") {
		t.Fatalf("helm version: %q %v", out, err)
	} else {
		t.Logf("helm %s", strings.TrimSpace(out))
	}
	t.Run("Lint", func(t *testing.T) { testHelmLint(t, h) })
	t.Run("Template", func(t *testing.T) { testHelmTemplate(t, h, hp) })
	t.Run("Refused", func(t *testing.T) { testHelmRefused(t, h) })
	t.Run("ManifestsFromChart", func(t *testing.T) { testManifestsFromChart(t, h) })
	t.Run("Dashboard", func(t *testing.T) { checkDashboard(t) })
	t.Run("Install", func(t *testing.T) { testHelmInstall(t, h, hp) })
}

// Lint: `helm lint --strict` with the defaults and every ci/*.yaml (schema included).
func testHelmLint(t *testing.T, h *helmCLI) {
	files, _ := filepath.Glob(filepath.Join(chartDir(t), "ci", "*.yaml"))
	if len(files) < 4 {
		t.Fatalf("ci/*.yaml: %d files, want the %d of chartCases", len(files), len(chartCases)-1)
	}
	for _, f := range append([]string{""}, files...) {
		args := []string{"lint", "--strict", chartDir(t)}
		if f != "" {
			args = append(args, "-f", f)
		}
		out, err := h.Run(args...)
		if err != nil {
			t.Errorf("lint %s: %v\n%s", filepath.Base(f), err, out)
		} else if !strings.Contains(out, "0 chart(s) failed") {
			t.Errorf("lint %s:\n%s", filepath.Base(f), out)
		}
	}
	// Every ci file is a case below, so none is only linted.
	for _, f := range files {
		rel := "ci/" + filepath.Base(f)
		if !slices.ContainsFunc(chartCases, func(c chartCase) bool { return c.values == rel }) {
			t.Errorf("%s is in no chartCase of helm_test.go", rel)
		}
	}
}

// Template: each values file renders what it promises, and the objects agree with each other.
func testHelmTemplate(t *testing.T, h *helmCLI, hp string) {
	for _, c := range chartCases {
		t.Run(c.name, func(t *testing.T) {
			r, err := helmTemplate(t, h, c.valueFiles())
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range c.present {
				if r.byID[id] == nil {
					t.Errorf("%s not rendered", id)
				}
			}
			for _, id := range c.absent {
				if r.byID[id] != nil {
					t.Errorf("%s rendered", id)
				}
			}
			cfg := checkChart(t, r, hp, c)
			if c.check != nil && cfg != nil {
				c.check(t, r, cfg)
			}
			t.Logf("%d objects: %s", len(r.objs), strings.Join(r.IDs(), " "))
		})
	}
}

// clusterScoped are the kinds without a namespace among those the chart renders.
var clusterScoped = map[string]bool{"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"MutatingWebhookConfiguration": true, "Topology": true, "ResourceFlavor": true, "ClusterQueue": true,
	"WorkloadPriorityClass": true}

// checkChart checks what holds for every values file and returns the configuration file.
func checkChart(t *testing.T, r *rendered, hp string, c chartCase) map[string]any {
	t.Helper()
	full := c.fullname
	for _, o := range r.objs {
		id := o.GetKind() + "/" + o.GetName()
		kueue := strings.HasPrefix(o.GetAPIVersion(), "kueue.x-k8s.io/") || strings.HasPrefix(o.GetName(), "hyperpod-ns-")
		switch {
		case clusterScoped[o.GetKind()] && o.GetNamespace() != "":
			t.Errorf("%s: cluster-scoped, namespace %q", id, o.GetNamespace())
		case !clusterScoped[o.GetKind()] && o.GetNamespace() == "":
			t.Errorf("%s: no namespace (plain manifests need it)", id)
		case !clusterScoped[o.GetKind()] && !kueue && o.GetNamespace() != helmNamespace && o.GetNamespace() != "kube-system":
			t.Errorf("%s: namespace %q, want the release namespace %s", id, o.GetNamespace(), helmNamespace)
		}
		if kueue {
			continue
		}
		_, chart := o.GetLabels()["helm.sh/chart"]
		if chart != c.helmLabels {
			t.Errorf("%s: helm.sh/chart label %v, want %v (helmLabels)", id, chart, c.helmLabels)
		}
		if o.GetLabels()["app.kubernetes.io/name"] == "" {
			t.Errorf("%s: no app.kubernetes.io/name label", id)
		}
	}

	// The configuration file: hyperplace accepts it and prints back exactly it (every key given).
	cm := r.Must(t, "ConfigMap", full+"-config")
	text, _, _ := unstructured.NestedString(cm.Object, "data", "config.yaml")
	cfg := checkConfigRoundTrip(t, hp, text)
	if cfg == nil {
		return nil
	}

	dep := r.Must(t, "Deployment", full)
	podLabels := nestedStringMap(dep, "spec", "template", "metadata", "labels")
	checkSelects(t, "Deployment "+full+" selector", nestedStringMap(dep, "spec", "selector", "matchLabels"), podLabels)
	if got, want := nestedStringMap(dep, "spec", "template", "metadata", "annotations")["checksum/config"], sha256Hex(strings.TrimSuffix(text, "\n")); got != want {
		t.Errorf("Deployment %s: checksum/config %s, want sha256 of config.yaml %s", full, got, want)
	}
	ports := containerPorts(t, dep, "hyperplace")
	for name, key := range map[string][]string{"extender": {"extender", "listen"}, "webhook": {"webhook", "listen"},
		"health": {"extender", "healthListen"}} {
		if want := listenPort(t, cfg, key...); ports[name] != want {
			t.Errorf("Deployment %s: container port %s %d, want %d (config %s)", full, name, ports[name], want, strings.Join(key, "."))
		}
	}
	// One replica per node: a node's loss takes at most one, and the PodDisruptionBudget holds.
	aa, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "affinity", "podAntiAffinity",
		"requiredDuringSchedulingIgnoredDuringExecution")
	if len(aa) != 1 || aa[0].(map[string]any)["topologyKey"] != "kubernetes.io/hostname" {
		t.Errorf("Deployment %s: required anti-affinity %v, want one term on kubernetes.io/hostname", full, aa)
	} else {
		sel, _, _ := unstructured.NestedStringMap(aa[0].(map[string]any), "labelSelector", "matchLabels")
		checkSelects(t, "Deployment "+full+" anti-affinity", sel, podLabels)
	}
	if got := podSpecString(dep, "securityContext", "runAsNonRoot"); got != "true" {
		t.Errorf("Deployment %s: runAsNonRoot %s", full, got)
	}
	if got := podSpecString(dep, "containers", "0", "securityContext", "readOnlyRootFilesystem"); got != "true" {
		t.Errorf("Deployment %s: readOnlyRootFilesystem %s", full, got)
	}
	vols := volumes(dep)
	if vols["config"] != "configMap:"+full+"-config" {
		t.Errorf("Deployment %s: volume config %q, want configMap %s-config", full, vols["config"], full)
	}
	tlsSecret := strings.TrimPrefix(vols["tls"], "secret:")

	svc := r.Must(t, "Service", full)
	checkSelects(t, "Service "+full, nestedStringMap(svc, "spec", "selector"), podLabels)
	svcPorts := servicePorts(svc)
	if svcPorts["extender"].port != ports["extender"] || svcPorts["extender"].target != "extender" {
		t.Errorf("Service %s: extender port %+v, want %d -> extender", full, svcPorts["extender"], ports["extender"])
	}
	if pdb := r.Get("PodDisruptionBudget", full); pdb != nil {
		checkSelects(t, "PodDisruptionBudget", nestedStringMap(pdb, "spec", "selector", "matchLabels"), podLabels)
	}
	for _, o := range r.objs {
		if o.GetKind() != "MutatingWebhookConfiguration" {
			continue
		}
		if o.GetName() >= "kueue-mutating-webhook-configuration" {
			t.Errorf("MutatingWebhookConfiguration %s sorts after Kueue's", o.GetName())
		}
		svcRef, _ := webhookClientConfig(t, o)["service"].(map[string]any)
		port := toInt64(svcRef["port"])
		if svcRef["name"] != full || svcRef["namespace"] != helmNamespace || svcPorts["webhook"].port != port ||
			svcPorts["webhook"].target != "webhook" {
			t.Errorf("webhook clientConfig.service %v, want %s/%s port %d (Service port webhook %+v)", svcRef, helmNamespace, full, port, svcPorts["webhook"])
		}
	}

	sched := r.Get("Deployment", full+"-scheduler")
	if (sched != nil) != c.scheduler {
		t.Fatalf("scheduler Deployment rendered %v, want %v", sched != nil, c.scheduler)
	}
	if sched != nil {
		checkRenderedScheduler(t, r, cfg, full, sched, ports["extender"])
	}
	if np := r.Get("NetworkPolicy", full); np != nil {
		checkSelects(t, "NetworkPolicy podSelector", nestedStringMap(np, "spec", "podSelector", "matchLabels"), podLabels)
		if sched != nil {
			ingress, _, _ := unstructured.NestedSlice(np.Object, "spec", "ingress")
			from, _, _ := unstructured.NestedSlice(ingress[0].(map[string]any), "from")
			peer, _, _ := unstructured.NestedStringMap(from[0].(map[string]any), "podSelector", "matchLabels")
			checkSelects(t, "NetworkPolicy extender peer", peer,
				nestedStringMap(sched, "spec", "template", "metadata", "labels"))
		}
	}
	if tlsSecret != full+"-tls" {
		t.Errorf("Deployment %s mounts Secret %q, want %s-tls", full, tlsSecret, full)
	}
	return cfg
}

// checkRenderedScheduler: hyperplace's scheduler calls this release's Service, as a profile
// hyperplace serves, with its own lease, from the configuration the checksum hashes.
func checkRenderedScheduler(t *testing.T, r *rendered, cfg map[string]any, full string, sched *unstructured.Unstructured, extenderPort int64) {
	t.Helper()
	name := full + "-scheduler"
	cm := r.Must(t, "ConfigMap", name+"-config")
	text, _, _ := unstructured.NestedString(cm.Object, "data", "scheduler-config.yaml")
	var kc map[string]any
	if err := yaml.Unmarshal([]byte(text), &kc); err != nil {
		t.Fatalf("scheduler-config.yaml: %v", err)
	}
	if kc["kind"] != "KubeSchedulerConfiguration" {
		t.Errorf("scheduler-config.yaml kind %v", kc["kind"])
	}
	profiles, _, _ := unstructured.NestedSlice(kc, "profiles")
	if len(profiles) != 1 {
		t.Fatalf("scheduler-config.yaml: %d profiles, want 1", len(profiles))
	}
	profile, _ := profiles[0].(map[string]any)["schedulerName"].(string)
	if !slices.Contains(nestedStrings(cfg, "extender", "schedulerNames"), profile) {
		t.Errorf("profile %q not in config extender.schedulerNames %v: hyperplace would refuse its binds", profile, nestedStrings(cfg, "extender", "schedulerNames"))
	}
	if ws, _, _ := unstructured.NestedString(cfg, "webhook", "schedulerName"); ws != profile {
		t.Errorf("config webhook.schedulerName %q, want the profile %q (team pods go to hyperplace's scheduler)", ws, profile)
	}
	leName, _, _ := unstructured.NestedString(kc, "leaderElection", "resourceName")
	leNS, _, _ := unstructured.NestedString(kc, "leaderElection", "resourceNamespace")
	if leName != name || leNS != helmNamespace {
		t.Errorf("leaderElection lease %s/%s, want %s/%s", leNS, leName, helmNamespace, name)
	}
	role := r.Must(t, "Role", name+"-lease")
	if !strings.Contains(fmt.Sprint(role.Object["rules"]), "resourceNames:["+name+"]") {
		t.Errorf("Role %s-lease rules %v do not name the lease %s", name, role.Object["rules"], name)
	}
	exts, _, _ := unstructured.NestedSlice(kc, "extenders")
	if len(exts) != 1 {
		t.Fatalf("scheduler-config.yaml: %d extenders", len(exts))
	}
	ext := exts[0].(map[string]any)
	if want := fmt.Sprintf("https://%s.%s.svc:%d", full, helmNamespace, extenderPort); ext["urlPrefix"] != want {
		t.Errorf("extender urlPrefix %v, want %s", ext["urlPrefix"], want)
	}
	if ext["bindVerb"] != "bind" || ext["nodeCacheCapable"] != true || ext["enableHTTPS"] != true {
		t.Errorf("extender %v: want bind, names mode, HTTPS", ext)
	}
	if got, want := nestedStringMap(sched, "spec", "template", "metadata", "annotations")["checksum/config"], sha256Hex(strings.TrimSuffix(text, "\n")); got != want {
		t.Errorf("Deployment %s: checksum/config %s, want sha256 of scheduler-config.yaml %s", name, got, want)
	}
	if v := volumes(sched)["config"]; v != "configMap:"+name+"-config" {
		t.Errorf("Deployment %s: config volume %q", name, v)
	}
	checkSelects(t, "Deployment "+name+" selector", nestedStringMap(sched, "spec", "selector", "matchLabels"),
		nestedStringMap(sched, "spec", "template", "metadata", "labels"))
	for _, crb := range []string{name, name + "-volume"} {
		o := r.Must(t, "ClusterRoleBinding", crb)
		if !strings.Contains(fmt.Sprint(o.Object["subjects"]), "name:"+name+" namespace:"+helmNamespace) {
			t.Errorf("ClusterRoleBinding %s subjects %v, want ServiceAccount %s/%s", crb, o.Object["subjects"], helmNamespace, name)
		}
	}
}

func checkCertManagerCase(t *testing.T, r *rendered, cfg map[string]any) {
	mwc := r.Must(t, "MutatingWebhookConfiguration", "hyperplace-mutating-webhook")
	if got := mwc.GetAnnotations()["cert-manager.io/inject-ca-from"]; got != helmNamespace+"/hyperplace-tls" {
		t.Errorf("inject-ca-from %q, want %s/hyperplace-tls (the serving Certificate)", got, helmNamespace)
	}
	if cc := webhookClientConfig(t, mwc); cc["caBundle"] != nil {
		t.Errorf("caBundle %v rendered: Helm would fight cert-manager's CA injector over it", cc["caBundle"])
	}
	serving := r.Must(t, "Certificate", "hyperplace-tls")
	if s, _, _ := unstructured.NestedString(serving.Object, "spec", "secretName"); s != "hyperplace-tls" {
		t.Errorf("serving Certificate writes %q, want the Secret the pods mount, hyperplace-tls", s)
	}
	usages, _, _ := unstructured.NestedStringSlice(serving.Object, "spec", "usages")
	if !slices.Contains(usages, "server auth") || slices.Contains(usages, "client auth") {
		t.Errorf("serving Certificate usages %v: want server auth only (the extender must refuse it as a client)", usages)
	}
	dns, _, _ := unstructured.NestedStringSlice(serving.Object, "spec", "dnsNames")
	if !slices.Contains(dns, "hyperplace."+helmNamespace+".svc") {
		t.Errorf("serving Certificate dnsNames %v: want the Service's name, which kube-scheduler and the API server dial", dns)
	}
	client := r.Must(t, "Certificate", "hyperplace-scheduler-tls")
	usages, _, _ = unstructured.NestedStringSlice(client.Object, "spec", "usages")
	if !slices.Contains(usages, "client auth") || slices.Contains(usages, "server auth") {
		t.Errorf("scheduler Certificate usages %v, want client auth only", usages)
	}
	for _, id := range []string{"Certificate/hyperplace-tls", "Certificate/hyperplace-scheduler-tls"} {
		o := r.byID[id]
		if iss, _, _ := unstructured.NestedString(o.Object, "spec", "issuerRef", "name"); iss != "hyperplace-ca" {
			t.Errorf("%s issued by %q, want the release's own CA Issuer hyperplace-ca", id, iss)
		}
	}
	// Prometheus: the ServiceMonitor selects the metrics Service, whose port is the health port.
	msvc := r.Must(t, "Service", "hyperplace-metrics")
	sm := r.Must(t, "ServiceMonitor", "hyperplace")
	checkSelects(t, "ServiceMonitor selector", nestedStringMap(sm, "spec", "selector", "matchLabels"), msvc.GetLabels())
	if main := r.Must(t, "Service", "hyperplace"); labels.SelectorFromSet(nestedStringMap(sm, "spec", "selector", "matchLabels")).Matches(labels.Set(main.GetLabels())) {
		t.Errorf("ServiceMonitor also selects Service hyperplace (no /metrics on its ports)")
	}
	if sm.GetLabels()["release"] != "kube-prometheus-stack" {
		t.Errorf("ServiceMonitor labels %v: want serviceMonitor.labels", sm.GetLabels())
	}
	checkSelects(t, "Service hyperplace-metrics", nestedStringMap(msvc, "spec", "selector"),
		nestedStringMap(r.Must(t, "Deployment", "hyperplace"), "spec", "template", "metadata", "labels"))
	if p := servicePorts(msvc)["health"]; p.port != listenPort(t, cfg, "extender", "healthListen") || p.target != "health" {
		t.Errorf("Service hyperplace-metrics port health %+v", p)
	}
	// Grafana: the sidecar's label, and the dashboard as shipped.
	dash := r.Must(t, "ConfigMap", "hyperplace-dashboard")
	if dash.GetLabels()["grafana_dashboard"] != "1" || dash.GetAnnotations()["grafana_folder"] != "hyperplace" {
		t.Errorf("dashboard ConfigMap labels %v annotations %v", dash.GetLabels(), dash.GetAnnotations())
	}
	text, _, _ := unstructured.NestedString(dash.Object, "data", "hyperplace.json")
	raw, err := os.ReadFile(filepath.Join(chartDir(t), "dashboards", "hyperplace.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(text) != strings.TrimSpace(string(raw)) {
		t.Errorf("dashboard ConfigMap's hyperplace.json differs from dashboards/hyperplace.json")
	}
}

func checkCustomCase(t *testing.T, r *rendered, cfg map[string]any) {
	dep := r.Must(t, "Deployment", "hp")
	if got := podSpecString(dep, "containers", "0", "image"); !strings.HasSuffix(got, "/hyperplace@sha256:0000000000000000000000000000000000000000000000000000000000000000") {
		t.Errorf("image %q: want the digest, not a tag", got)
	}
	if got := podSpecString(dep, "imagePullSecrets", "0", "name"); got != "ecr-pull" {
		t.Errorf("imagePullSecrets %q", got)
	}
	if got := podSpecString(r.Must(t, "Deployment", "hp-scheduler"), "imagePullSecrets", "0", "name"); got != "ecr-pull" {
		t.Errorf("scheduler imagePullSecrets %q", got)
	}
	if got := podSpecString(r.Must(t, "Deployment", "hp-scheduler"), "containers", "0", "image"); got != "registry.k8s.io/kube-scheduler:v1.33.4" {
		t.Errorf("scheduler image %q", got)
	}
	mwc := r.Must(t, "MutatingWebhookConfiguration", "hyperplace-hp-mutating-webhook")
	if cc := webhookClientConfig(t, mwc); cc["caBundle"] != "Zm9v" {
		t.Errorf("caBundle %v, want webhook.caBundle", cc["caBundle"])
	}
	// Maps merge: the added instance type and the defaults.
	for typ, want := range map[string]float64{"ml.p6-b200.48xlarge": 49, "ml.p5.48xlarge": 49, "ml.g5.xlarge": 14} {
		if got, _, _ := unstructured.NestedFieldNoCopy(cfg, "cluster", "maxPodsPerInstanceType", typ); got != want {
			t.Errorf("config maxPodsPerInstanceType[%s] %v, want %v", typ, got, want)
		}
	}
	for _, o := range r.objs {
		if o.GetKind() == "ResourceFlavor" {
			if tn, found, _ := unstructured.NestedString(o.Object, "spec", "topologyName"); found {
				t.Errorf("ResourceFlavor %s topologyName %q: want a quota-only flavor", o.GetName(), tn)
			}
		}
	}
	np := r.Must(t, "NetworkPolicy", "hp")
	if s := fmt.Sprint(np.Object["spec"]); !strings.Contains(s, "cidr:10.0.0.0/16") || !strings.Contains(s, "component:kube-scheduler") {
		t.Errorf("NetworkPolicy %s: want networkPolicy.webhookFrom and extenderFrom", s)
	}
}

// Refused: values that cannot work fail the render, naming what to change.
func testHelmRefused(t *testing.T, h *helmCLI) {
	for _, c := range []struct {
		set  []string
		want string
	}{
		{[]string{"scheduler.name=other"}, "is not in config.extender.schedulerNames"},
		{[]string{"config.extender.healthListen="}, "config.extender.healthListen must be set"},
		{[]string{"config.webhook.listen=localhost"}, "want HOST:PORT"},
		{[]string{"webhook.name=zz-hyperplace"}, "must sort before kueue-mutating-webhook-configuration"},
		{[]string{"config.extender.tlsCertFile="}, "scheduler.enabled needs config.extender.tlsCertFile"},
		{[]string{"config.extender.clientCAFile="}, "without clientCAFile any caller"},
		{[]string{"config.webhook.schedulerName=other"}, "a scheduler the chart does not run"},
		{[]string{"webhook.namespaceSelector.matchLabels=null"}, "namespaceSelector"},
		{[]string{"config.log.level=verbose"}, "log.level"},
		{[]string{"config.extender.bogus=1"}, "additional properties 'bogus' not allowed"},
		{[]string{"config.kube.listPageSize=many"}, "listPageSize"},
		{[]string{"kueueExample.enabled=true", "kueueExample.flavors[0].name=ml-x", "kueueExample.flavors[0].instanceType=ml.x"},
			"kueueExample.teams[team-a].quotas has no ml-x"},
	} {
		_, err := helmTemplate(t, h, nil, c.set...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("helm template --set %s: %v, want an error with %q", strings.Join(c.set, " --set "), err, c.want)
		}
	}
}

// ManifestsFromChart: manifests/ is exactly what scripts/manifests.sh renders from the chart.
func testManifestsFromChart(t *testing.T, h *helmCLI) {
	cmd := exec.Command("bash", repoPath("scripts", "manifests.sh"), "--check")
	cmd.Env = append(h.env, "HELM="+h.bin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/manifests.sh --check: %v: manifests/ is not the chart's rendering; edit the chart and run scripts/manifests.sh\n%s", err, out)
	}
}

// checkDashboard: the dashboard is Grafana JSON with the datasource, namespace and job variables,
// and every query uses all three.
func checkDashboard(t *testing.T) {
	d := loadDashboard(t)
	if v, _ := d["schemaVersion"].(float64); v < 36 {
		t.Errorf("schemaVersion %v", d["schemaVersion"])
	}
	vars := map[string]map[string]any{}
	list, _, _ := unstructured.NestedSlice(d, "templating", "list")
	for _, v := range list {
		vm := v.(map[string]any)
		vars[vm["name"].(string)] = vm
	}
	if ds := vars["datasource"]; ds == nil || ds["type"] != "datasource" || ds["query"] != "prometheus" {
		t.Errorf("datasource variable %v, want type datasource, query prometheus", ds)
	}
	for _, name := range []string{"namespace", "job"} {
		if vars[name] == nil {
			t.Errorf("no %s variable", name)
		}
	}
	exprs := dashboardExprs(d)
	if len(exprs) < 20 {
		t.Errorf("%d queries", len(exprs))
	}
	for _, e := range exprs {
		if !strings.Contains(e.expr, `namespace=~"$namespace"`) || !strings.Contains(e.expr, `job=~"$job"`) {
			t.Errorf("panel %q: %s does not filter by $namespace and $job", e.panel, e.expr)
		}
		if e.datasource != "${datasource}" {
			t.Errorf("panel %q: datasource %q, want ${datasource}", e.panel, e.datasource)
		}
	}
	for _, want := range []string{"hyperplace_http_request_duration_seconds_bucket", "hyperplace_extender_nodes_rejected_total",
		"hyperplace_extender_binds_total", "hyperplace_cache_nodes", "hyperplace_cache_pods",
		"hyperplace_kube_watch_restarts_total", "hyperplace_webhook_admissions_total",
		"hyperplace_webhook_certificate_expiry_seconds"} {
		if !slices.ContainsFunc(exprs, func(e dashboardExpr) bool { return strings.Contains(e.expr, want) }) {
			t.Errorf("no panel queries %s", want)
		}
	}
}

type dashboardExpr struct{ panel, expr, datasource string }

func loadDashboard(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(chartDir(t), "dashboards", "hyperplace.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dashboards/hyperplace.json: %v", err)
	}
	return d
}

func dashboardExprs(d map[string]any) []dashboardExpr {
	var out []dashboardExpr
	var walk func(panels []any)
	walk = func(panels []any) {
		for _, p := range panels {
			pm := p.(map[string]any)
			targets, _ := pm["targets"].([]any)
			for _, tg := range targets {
				tm := tg.(map[string]any)
				expr, _ := tm["expr"].(string)
				ds, _, _ := unstructured.NestedString(tm, "datasource", "uid")
				out = append(out, dashboardExpr{panel: fmt.Sprint(pm["title"]), expr: expr, datasource: ds})
			}
			if sub, ok := pm["panels"].([]any); ok {
				walk(sub)
			}
		}
	}
	panels, _ := d["panels"].([]any)
	walk(panels)
	return out
}

var metricName = regexp.MustCompile(`\b(?:hyperplace|process)_[a-z0-9_]+\b`)

// Install: the chart on a real control plane. hyperplace's Secret first (the webhook's caBundle
// comes from its ca.crt), then helm install; both Deployments' pods are placed on kwok's nodes by
// the default scheduler (required anti-affinity: hyperplace's on two nodes) and become ready
// under Pod Security "restricted"; hyperplace runs from the installed ConfigMap as the chart's
// ServiceAccount and serves every metric the dashboard queries; helm upgrade of one config value
// rolls hyperplace's pods and not the scheduler's; helm uninstall removes everything it made.
func testHelmInstall(t *testing.T, h *helmCLI, hp string) {
	ctx := t.Context()
	c := harness.Start(t, harness.Options{Kwok: true})
	c.StartControllerManager("deployment-controller", "replicaset-controller")
	admin := c.Client(harness.UserAdmin)
	kubeconfig := c.KubeconfigPath(harness.UserAdmin)
	nodes := []string{"helm-node-1", "helm-node-2", "helm-node-3"}
	for _, n := range nodes {
		if _, err := admin.CoreV1().Nodes().Create(ctx, hyperpodNode(n, "nn-l1", "nn-l2", "nn-l3-"+n), metav1.CreateOptions{}); err != nil {
			t.Fatalf("node %s: %v", n, err)
		}
	}
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: helmNamespace, Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The Secrets certs/make-certs.sh would make: hyperplace's serving certificate (and the CA
	// of its clients), the scheduler's client certificate.
	dir := t.TempDir()
	svcDNS := []string{"hyperplace." + helmNamespace + ".svc", "hyperplace." + helmNamespace + ".svc.cluster.local", "localhost"}
	certFile, keyFile, err := c.CA.Issue(dir, "hyperplace", svcDNS, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	clientCert, clientKey, err := c.CA.IssueClient(dir, "hyperplace-scheduler")
	if err != nil {
		t.Fatal(err)
	}
	for name, files := range map[string][2]string{"hyperplace-tls": {certFile, keyFile}, "hyperplace-scheduler-tls": {clientCert, clientKey}} {
		crt, _ := os.ReadFile(files[0])
		key, _ := os.ReadFile(files[1])
		if _, err := admin.CoreV1().Secrets(helmNamespace).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Data:       map[string][]byte{"tls.crt": crt, "tls.key": key, "ca.crt": c.CA.CertPEM},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// Every values file's built-in objects pass the API server's validation and Pod Security
	// "restricted" (a server-side dry run; the CRDs of cert-manager, Prometheus Operator and
	// Kueue are not installed here: TestKueue applies the Kueue example for real).
	a := newApplier(t, c, harness.UserAdmin)
	for _, cc := range chartCases {
		r, err := helmTemplate(t, h, cc.valueFiles())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, o := range r.objs {
			if _, err := a.Mapping(o.GroupVersionKind()); err != nil {
				continue
			}
			if o.GetKind() == "MutatingWebhookConfiguration" {
				fillCABundle(o, c.CA.CertPEM) // the manifests' placeholder
			}
			if _, err := a.Apply(ctx, o, true); err != nil {
				t.Errorf("%s: %s %s: dry-run apply: %v", cc.name, o.GetKind(), o.GetName(), err)
			}
			for _, w := range a.TakeWarnings() {
				t.Errorf("%s: %s %s: apiserver warning: %s", cc.name, o.GetKind(), o.GetName(), w)
			}
			n++
		}
		t.Logf("%s: %d of %d objects dry-run applied", cc.name, n, len(r.objs))
	}

	began := time.Now()
	if out, err := h.Run("install", helmRelease, chartDir(t), "--namespace", helmNamespace, "--kubeconfig", kubeconfig); err != nil {
		t.Fatal(err)
	} else {
		notes := out[strings.Index(out, "NOTES:")+1:]
		if !strings.Contains(out, "STATUS: deployed") || !strings.Contains(notes, "is installed as hyperplace in "+helmNamespace) {
			t.Errorf("helm install:\n%s", out)
		}
		// The Secret exists, so its ca.crt became the caBundle and NOTES do not warn.
		if strings.Contains(notes, "WARNING") {
			t.Errorf("helm install NOTES warn:\n%s", notes)
		}
		t.Logf("helm install N%s", notes)
	}
	checkRelease(t, h, kubeconfig, 1)
	mwc, err := admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "hyperplace-mutating-webhook", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := mwc.Webhooks[0].ClientConfig.CABundle; string(got) != string(c.CA.CertPEM) {
		t.Errorf("webhook caBundle %q, want the Secret hyperplace-tls's ca.crt (read by lookup at install)", got)
	}
	sel := "app.kubernetes.io/instance=" + helmRelease
	hpPods := waitDeploymentPods(t, admin, "hyperplace", 2, "")
	schedPods := waitDeploymentPods(t, admin, "hyperplace-scheduler", 2, "")
	if hpPods[0].Spec.NodeName == hpPods[1].Spec.NodeName {
		t.Errorf("both hyperplace pods on %s: required anti-affinity", hpPods[0].Spec.NodeName)
	}
	for _, p := range append(hpPods, schedPods...) {
		if !slices.Contains(nodes, p.Spec.NodeName) {
			t.Errorf("pod %s on %q, not a kwok node", p.Name, p.Spec.NodeName)
		}
	}
	t.Logf("installed: hyperplace on %s, %s; its scheduler on %s, %s; ready %v after helm install began",
		hpPods[0].Spec.NodeName, hpPods[1].Spec.NodeName, schedPods[0].Spec.NodeName, schedPods[1].Spec.NodeName,
		time.Since(began).Round(time.Millisecond))

	checkInstalledConfigServes(t, c, hp, certFile, keyFile)

	// Upgrade: one configuration value. hyperplace's pods roll; the scheduler's do not.
	dep, err := admin.AppsV1().Deployments(helmNamespace).Get(ctx, "hyperplace", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	oldSum := dep.Spec.Template.Annotations["checksum/config"]
	schedBefore, err := admin.AppsV1().Deployments(helmNamespace).Get(ctx, "hyperplace-scheduler", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	if _, err := h.Run("upgrade", helmRelease, chartDir(t), "--namespace", helmNamespace, "--kubeconfig", kubeconfig,
		"--reuse-values", "--set", "config.log.level=debug"); err != nil {
		t.Fatal(err)
	}
	checkRelease(t, h, kubeconfig, 2)
	cm, err := admin.CoreV1().ConfigMaps(helmNamespace).Get(ctx, "hyperplace-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &cfg); err != nil {
		t.Fatal(err)
	}
	if lvl, _, _ := unstructured.NestedString(cfg, "log", "level"); lvl != "debug" {
		t.Errorf("config log.level %q after the upgrade, want debug", lvl)
	}
	newSum := sha256Hex(strings.TrimSuffix(cm.Data["config.yaml"], "\n"))
	if newSum == oldSum {
		t.Fatalf("checksum/config unchanged by a configuration change")
	}
	rolled := waitDeploymentPods(t, admin, "hyperplace", 2, newSum)
	for _, p := range rolled {
		if slices.ContainsFunc(hpPods, func(o corev1.Pod) bool { return o.UID == p.UID }) {
			t.Errorf("pod %s survived the rollout", p.Name)
		}
	}
	schedAfter, err := admin.AppsV1().Deployments(helmNamespace).Get(ctx, "hyperplace-scheduler", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if schedAfter.Generation != schedBefore.Generation {
		t.Errorf("the scheduler's Deployment changed (generation %d -> %d) though its configuration did not",
			schedBefore.Generation, schedAfter.Generation)
	}
	if mwc, err := admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "hyperplace-mutating-webhook", metav1.GetOptions{}); err != nil || len(mwc.Webhooks[0].ClientConfig.CABundle) == 0 {
		t.Errorf("webhook caBundle lost in the upgrade: %v", err)
	}
	t.Logf("upgraded: hyperplace's pods rolled to %s, %s in %v", rolled[0].Name, rolled[1].Name, time.Since(began).Round(time.Millisecond))

	// Uninstall: everything the chart made is gone, the Secrets it did not make stay.
	began = time.Now()
	if _, err := h.Run("uninstall", helmRelease, "--namespace", helmNamespace, "--kubeconfig", kubeconfig, "--wait", "--timeout", "60s"); err != nil {
		t.Fatal(err)
	}
	var left []string
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		left = leftovers(ctx, admin, sel)
		return len(left) == 0, nil
	})
	if err != nil {
		t.Errorf("after helm uninstall, still there: %s", strings.Join(left, ", "))
	}
	for _, s := range []string{"hyperplace-tls", "hyperplace-scheduler-tls"} {
		if _, err := admin.CoreV1().Secrets(helmNamespace).Get(ctx, s, metav1.GetOptions{}); err != nil {
			t.Errorf("Secret %s (not the chart's): %v", s, err)
		}
	}
	if out, err := h.Run("list", "--namespace", helmNamespace, "--kubeconfig", kubeconfig, "--short"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("helm list after uninstall: %q %v", out, err)
	}
	t.Logf("uninstalled in %v", time.Since(began).Round(time.Millisecond))
}

// checkRelease: helm status reports the release deployed at this revision.
func checkRelease(t *testing.T, h *helmCLI, kubeconfig string, revision int) {
	t.Helper()
	out, err := h.Run("status", helmRelease, "--namespace", helmNamespace, "--kubeconfig", kubeconfig, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Version int `json:"version"`
		Info    struct {
			Status string `json:"status"`
		} `json:"info"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("helm status: %v", err)
	}
	if st.Version != revision || st.Info.Status != "deployed" {
		t.Errorf("helm status: revision %d %s, want %d deployed", st.Version, st.Info.Status, revision)
	}
}

// waitDeploymentPods waits until the Deployment has exactly n pods, none terminating, each bound
// and Ready (kwok), with the checksum/config annotation if sum is set, and reports n available;
// it returns the pods sorted by name.
func waitDeploymentPods(t *testing.T, cs kubernetes.Interface, name string, n int, sum string) []corev1.Pod {
	t.Helper()
	ctx := t.Context()
	var pods []corev1.Pod
	var last, lastErr string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 45*time.Second, true, func(ctx context.Context) (bool, error) {
		dep, err := cs.AppsV1().Deployments(helmNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			lastErr = err.Error()
			return false, nil
		}
		list, err := cs.CoreV1().Pods(helmNamespace).List(ctx, metav1.ListOptions{
			LabelSelector: labels.SelectorFromSet(dep.Spec.Selector.MatchLabels).String()})
		if err != nil {
			lastErr = err.Error()
			return false, nil
		}
		pods = list.Items
		var states []string
		ok := len(pods) == n && dep.Status.AvailableReplicas == int32(n) && dep.Status.UpdatedReplicas == int32(n) &&
			dep.Status.Replicas == int32(n)
		for _, p := range pods {
			ready := slices.ContainsFunc(p.Status.Conditions, func(c corev1.PodCondition) bool {
				return c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue
			})
			states = append(states, fmt.Sprintf("%s node=%q phase=%s ready=%v deleting=%v sum=%.8s", p.Name, p.Spec.NodeName,
				p.Status.Phase, ready, p.DeletionTimestamp != nil, p.Annotations["checksum/config"]))
			if p.Spec.NodeName == "" || !ready || p.DeletionTimestamp != nil || (sum != "" && p.Annotations["checksum/config"] != sum) {
				ok = false
			}
		}
		last = fmt.Sprintf("deployment replicas %d updated %d available %d; pods: %s", dep.Status.Replicas,
			dep.Status.UpdatedReplicas, dep.Status.AvailableReplicas, strings.Join(states, "; "))
		for _, cnd := range dep.Status.Conditions {
			if cnd.Type == "ReplicaFailure" && cnd.Status == corev1.ConditionTrue {
				last += "; ReplicaFailure: " + cnd.Message
			}
		}
		return ok, nil
	})
	if err != nil {
		if sum != "" {
			last = fmt.Sprintf("want checksum/config %.8s; %s", sum, last)
		}
		t.Fatalf("Deployment %s: want %d pods placed and ready: %s (last error: %s)", name, n, last, lastErr)
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	return pods
}

// checkInstalledConfigServes runs hyperplace with the installed ConfigMap's configuration file
// (only listen addresses and certificate paths changed to this machine's) as the chart's
// ServiceAccount: it must get ready (its watches list nodes and pods with the ClusterRole's rights
// alone) and serve every metric the dashboard queries.
func checkInstalledConfigServes(t *testing.T, c *harness.Cluster, hp, certFile, keyFile string) {
	t.Helper()
	ctx := t.Context()
	cm, err := c.Client(harness.UserAdmin).CoreV1().ConfigMaps(helmNamespace).Get(ctx, "hyperplace-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &cfg); err != nil {
		t.Fatal(err)
	}
	health := freePort(t)
	set := func(v any, path ...string) {
		if err := unstructured.SetNestedField(cfg, v, path...); err != nil {
			t.Fatal(err)
		}
	}
	set(fmt.Sprintf("127.0.0.1:%d", freePort(t)), "extender", "listen")
	set(fmt.Sprintf("127.0.0.1:%d", health), "extender", "healthListen")
	set(fmt.Sprintf("127.0.0.1:%d", freePort(t)), "webhook", "listen")
	for _, face := range []string{"extender", "webhook"} {
		set(certFile, face, "tlsCertFile")
		set(keyFile, face, "tlsPrivateKeyFile")
	}
	set(c.CA.CertPath, "extender", "clientCAFile")
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	kubeconfig := c.ServiceAccountKubeconfig(helmNamespace, "hyperplace")
	p := c.StartProcess("hyperplace-from-chart", hp, []string{"serve", "--config", path, "--kubeconfig", kubeconfig}, nil)
	defer func() { _ = p.Stop() }()
	base := fmt.Sprintf("http://127.0.0.1:%d", health)
	var last string
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		if done, _ := p.Exited(); done {
			return false, fmt.Errorf("exited")
		}
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			last = err.Error()
			return false, nil
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = fmt.Sprintf("%s %s", resp.Status, body)
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("hyperplace with the installed configuration, as ServiceAccount hyperplace: not ready: %v (%s)\n%s", err, last, p.LogTail(20))
	}
	// One admission review through the webhook face (TLS with the Secret's certificate), so that
	// its counters have a series.
	review, err := os.ReadFile(repoPath("webhook", "testdata", "pod_create_alice.json"))
	if err != nil {
		t.Fatal(err)
	}
	wl, _, _ := unstructured.NestedString(cfg, "webhook", "listen")
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.CA.Pool}}}
	resp, err := hc.Post("https://"+wl+"/mutate?timeout=10s", "application/json", bytes.NewReader(review))
	if err != nil {
		t.Fatalf("webhook with the installed configuration: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("webhook /mutate: %s", resp.Status)
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	families := map[string]string{} // name -> type
	for _, line := range strings.Split(string(body), "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			families[f[2]] = f[3]
		}
	}
	if m, _ := parseMetrics(bytes.NewReader(body)); m.Sum("hyperplace_cache_nodes") != 3 {
		t.Errorf("hyperplace_cache_nodes %v, want the 3 nodes", m.Sum("hyperplace_cache_nodes"))
	}
	seen := map[string]bool{}
	var unexercised []string
	for _, e := range dashboardExprs(loadDashboard(t)) {
		for _, name := range metricName.FindAllString(e.expr, -1) {
			if seen[name] {
				continue
			}
			seen[name] = true
			base := name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(name, suffix); ok && families[b] == "histogram" {
					base = b
				}
			}
			switch {
			case families[base] != "":
			case pinnedMetric(t, base):
				// A labelled family without a series yet (no watch restarted here).
				unexercised = append(unexercised, base)
			default:
				t.Errorf("dashboard panel %q queries %s, which hyperplace neither exports nor registers", e.panel, name)
			}
		}
	}
	t.Logf("hyperplace ran from the installed ConfigMap as ServiceAccount hyperplace: ready, %d metric families exported; of the dashboard's %d metrics, %d without a series here but pinned in cmd/testdata/serve_metrics.txt: %v",
		len(families), len(seen), len(unexercised), unexercised)
}

// pinnedMetric: the metric is one serve registers, as pinned in
// cmd/testdata/serve_metrics.txt (lines "TYPE NAME{labels} help"); a labelled family appears in a
// scrape only once it has a series (no watch restarted here).
func pinnedMetric(t *testing.T, name string) bool {
	t.Helper()
	raw, err := os.ReadFile(repoPath("cmd", "testdata", "serve_metrics.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if fields := strings.Fields(line); len(fields) >= 2 && strings.SplitN(fields[1], "{", 2)[0] == name {
			return true
		}
	}
	return false
}

// leftovers lists what the release made that still exists.
func leftovers(ctx context.Context, cs kubernetes.Interface, sel string) []string {
	var left []string
	opts := metav1.ListOptions{LabelSelector: sel}
	add := func(kind string, names []string, err error) {
		if err != nil && !apierrors.IsNotFound(err) {
			left = append(left, kind+": "+err.Error())
		}
		for _, n := range names {
			left = append(left, kind+"/"+n)
		}
	}
	deps, err := cs.AppsV1().Deployments(helmNamespace).List(ctx, opts)
	add("Deployment", names(deps.Items, err), err)
	pods, err := cs.CoreV1().Pods(helmNamespace).List(ctx, metav1.ListOptions{})
	add("Pod", names(pods.Items, err), err)
	cms, err := cs.CoreV1().ConfigMaps(helmNamespace).List(ctx, opts)
	add("ConfigMap", names(cms.Items, err), err)
	svcs, err := cs.CoreV1().Services(helmNamespace).List(ctx, opts)
	add("Service", names(svcs.Items, err), err)
	sas, err := cs.CoreV1().ServiceAccounts(helmNamespace).List(ctx, opts)
	add("ServiceAccount", names(sas.Items, err), err)
	nps, err := cs.NetworkingV1().NetworkPolicies(helmNamespace).List(ctx, opts)
	add("NetworkPolicy", names(nps.Items, err), err)
	pdbs, err := cs.PolicyV1().PodDisruptionBudgets(helmNamespace).List(ctx, opts)
	add("PodDisruptionBudget", names(pdbs.Items, err), err)
	crs, err := cs.RbacV1().ClusterRoles().List(ctx, opts)
	add("ClusterRole", names(crs.Items, err), err)
	crbs, err := cs.RbacV1().ClusterRoleBindings().List(ctx, opts)
	add("ClusterRoleBinding", names(crbs.Items, err), err)
	rbs, err := cs.RbacV1().RoleBindings("").List(ctx, opts)
	add("RoleBinding", names(rbs.Items, err), err)
	roles, err := cs.RbacV1().Roles(helmNamespace).List(ctx, opts)
	add("Role", names(roles.Items, err), err)
	mwcs, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, opts)
	add("MutatingWebhookConfiguration", names(mwcs.Items, err), err)
	// The release's own record.
	secrets, err := cs.CoreV1().Secrets(helmNamespace).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"})
	add("Secret", names(secrets.Items, err), err)
	return left
}

// names of API objects (empty on err).
func names[T any, P interface {
	*T
	GetName() string
}](items []T, err error) []string {
	if err != nil {
		return nil
	}
	var out []string
	for i := range items {
		out = append(out, P(&items[i]).GetName())
	}
	return out
}

// checkConfigRoundTrip: `hyperplace check-config` accepts the file and prints back the same
// configuration, key for key (so the chart's values name every key the binary reads, with the
// binary's spelling of each value). Returns the parsed file, or nil after an error.
func checkConfigRoundTrip(t *testing.T, hp, text string) map[string]any {
	t.Helper()
	if text == "" {
		t.Errorf("ConfigMap: no config.yaml")
		return nil
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := execOutput(hp, "check-config", path)
	if err != nil {
		t.Errorf("hyperplace check-config refuses the chart's config.yaml: %v\n%s", err, out)
		return nil
	}
	var given, effective map[string]any
	if err := yaml.Unmarshal([]byte(text), &given); err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	if err := yaml.Unmarshal([]byte(out), &effective); err != nil {
		t.Fatalf("check-config output: %v", err)
	}
	if d := diffPaths("", given, effective); len(d) > 0 {
		t.Errorf("the chart's config.yaml and hyperplace's effective configuration differ (a key missing from or unknown to the chart's config values, or spelled otherwise):\n  %s",
			strings.Join(d, "\n  "))
	}
	return given
}

// diffPaths lists the paths where a and b differ.
func diffPaths(path string, a, b any) []string {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		var out []string
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			p := strings.TrimPrefix(path+"."+k, ".")
			av, ain := am[k]
			bv, bin := bm[k]
			switch {
			case !ain:
				out = append(out, fmt.Sprintf("%s: not in the chart's file, hyperplace has %v", p, bv))
			case !bin:
				out = append(out, fmt.Sprintf("%s: %v in the chart's file, not in hyperplace's", p, av))
			default:
				out = append(out, diffPaths(p, av, bv)...)
			}
		}
		return out
	}
	if !reflect.DeepEqual(a, b) {
		return []string{fmt.Sprintf("%s: chart %v, hyperplace %v", path, a, b)}
	}
	return nil
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// checkSelects: every key=value of selector is among the target's labels.
func checkSelects(t *testing.T, what string, selector, target map[string]string) {
	t.Helper()
	if len(selector) == 0 {
		t.Errorf("%s: empty selector", what)
		return
	}
	if !labels.SelectorFromSet(selector).Matches(labels.Set(target)) {
		t.Errorf("%s %v does not select %v", what, selector, target)
	}
}

func nestedStringMap(o *unstructured.Unstructured, path ...string) map[string]string {
	m, _, _ := unstructured.NestedStringMap(o.Object, path...)
	return m
}

func nestedStrings(m map[string]any, path ...string) []string {
	s, _, _ := unstructured.NestedStringSlice(m, path...)
	return s
}

// podSpecString is the pod template's spec field at path (list indexes as numbers), formatted.
func podSpecString(o *unstructured.Unstructured, path ...string) string {
	var cur any = o.Object
	for _, p := range append([]string{"spec", "template", "spec"}, path...) {
		switch v := cur.(type) {
		case map[string]any:
			cur = v[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i >= len(v) {
				return ""
			}
			cur = v[i]
		default:
			return ""
		}
	}
	if cur == nil {
		return ""
	}
	return fmt.Sprint(cur)
}

func containerPorts(t *testing.T, dep *unstructured.Unstructured, container string) map[string]int64 {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	for _, c := range cs {
		cm := c.(map[string]any)
		if cm["name"] != container {
			continue
		}
		out := map[string]int64{}
		ports, _ := cm["ports"].([]any)
		for _, p := range ports {
			pm := p.(map[string]any)
			out[pm["name"].(string)] = toInt64(pm["containerPort"])
		}
		return out
	}
	t.Fatalf("Deployment %s: no container %s", dep.GetName(), container)
	return nil
}

type svcPort struct {
	port   int64
	target string
}

func servicePorts(svc *unstructured.Unstructured) map[string]svcPort {
	out := map[string]svcPort{}
	ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	for _, p := range ports {
		pm := p.(map[string]any)
		out[fmt.Sprint(pm["name"])] = svcPort{port: toInt64(pm["port"]), target: fmt.Sprint(pm["targetPort"])}
	}
	return out
}

// volumes maps a pod template's volume names to "configMap:NAME" or "secret:NAME".
func volumes(dep *unstructured.Unstructured) map[string]string {
	out := map[string]string{}
	vs, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "volumes")
	for _, v := range vs {
		vm := v.(map[string]any)
		if n, ok, _ := unstructured.NestedString(vm, "configMap", "name"); ok {
			out[vm["name"].(string)] = "configMap:" + n
		}
		if n, ok, _ := unstructured.NestedString(vm, "secret", "secretName"); ok {
			out[vm["name"].(string)] = "secret:" + n
		}
	}
	return out
}

// listenPort is the port of the HOST:PORT at path in the configuration.
func listenPort(t *testing.T, cfg map[string]any, path ...string) int64 {
	t.Helper()
	addr, _, _ := unstructured.NestedString(cfg, path...)
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Errorf("config %s %q: %v", strings.Join(path, "."), addr, err)
		return -1
	}
	n, _ := strconv.ParseInt(port, 10, 64)
	return n
}

func webhookClientConfig(t *testing.T, mwc *unstructured.Unstructured) map[string]any {
	t.Helper()
	hooks, _, _ := unstructured.NestedSlice(mwc.Object, "webhooks")
	if len(hooks) != 1 {
		t.Fatalf("MutatingWebhookConfiguration %s: %d webhooks, want 1", mwc.GetName(), len(hooks))
	}
	cc, _ := hooks[0].(map[string]any)["clientConfig"].(map[string]any)
	return cc
}

// toInt64 reads a number decoded from YAML or JSON (int64 or float64, by decoder).
func toInt64(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case float64:
		return int64(n)
	case json.Number:
		i, _ := n.Int64()
		return i
	}
	return -1
}
