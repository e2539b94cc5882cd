package harness

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

// Kueue's names, as its kustomize overlays install it (config/default: namePrefix "kueue-",
// namespace kueue-system).
const (
	KueueNamespace     = "kueue-system"
	kueueService       = "kueue-webhook-service"
	kueueSecret        = "kueue-webhook-server-cert"
	kueueWebhookPrefix = "kueue-"
)

var (
	crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	mwcGVR = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "mutatingwebhookconfigurations"}
	vwcGVR = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingwebhookconfigurations"}
)

// StartControllerManager starts kube-controller-manager with only the Job, garbage-collector
// and namespace controllers: Jobs create their pods, owners' deletion removes dependents, and
// deleted namespaces empty. (Never the node lifecycle controller: kwok's nodes send no kubelet
// heartbeats it would trust, and it would taint and evict them.) It runs as
// system:kube-controller-manager, with that identity for every controller
// (--use-service-account-credentials=false), a member of system:masters here: it is the
// cluster's machinery, not under test. extra names more controllers to run (e.g.
// "deployment-controller", "replicaset-controller" for Deployments). It waits for /healthz; the
// caller stops it, or teardown does.
func (c *Cluster) StartControllerManager(extra ...string) *Process {
	c.t.Helper()
	controllers := append([]string{"job-controller", "garbage-collector-controller", "namespace-controller"}, extra...)
	port, err := freePort()
	if err != nil {
		c.t.Fatalf("harness: %v", err)
	}
	kubeconfig := c.KubeconfigPath(UserControllerManager)
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--controllers=" + strings.Join(controllers, ","),
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(c.Dir, "kube-controller-manager-certs"),
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--authentication-skip-lookup=true",
		"-v=2",
	}
	began := time.Now()
	p, err := c.startProcess("kube-controller-manager", "kube-controller-manager", args, nil)
	if err != nil {
		c.t.Fatalf("harness: %v", err)
	}
	if err := waitReady(p, fmt.Sprintf("https://127.0.0.1:%d/healthz", port), "",
		&tls.Config{InsecureSkipVerify: true}, c.opts.ReadyTimeout); err != nil {
		c.t.Fatalf("harness: %v", err)
	}
	c.t.Logf("harness: kube-controller-manager ready after %v", time.Since(began).Round(time.Millisecond))
	return p
}

// KueueOptions configures StartKueue.
type KueueOptions struct {
	// Frameworks are the integrations Kueue manages (integrations.frameworks); default
	// ["batch/job"]. Only their webhooks, and those of Kueue's own kinds, are registered.
	Frameworks []string
	// FeatureGates are added to the configuration's featureGates (VisibilityOnDemand is off:
	// it would serve from a fixed folder).
	FeatureGates map[string]bool
}

// frameworkGroups maps an integration to the API group of its webhooks' rules.
var frameworkGroups = map[string]string{"batch/job": "batch", "pod": ""}

// StartKueue installs Kueue as its release manifests do, from what build.sh copied out of the
// module into BinDir/kueue-config, and starts it:
//   - its CRDs, with the conversion webhook on those its kustomization patches;
//   - Namespace kueue-system, the empty Secret its certificate rotator fills, and the webhook
//     Service as type ExternalName to localhost (the apiserver dials the Service's name and
//     port, and verifies kueue-webhook-service.kueue-system.svc, the name the rotator's
//     certificate carries);
//   - the webhook configurations, renamed as the release names them, for Kueue's own kinds and
//     the enabled frameworks only (a webhook of an integration that is off would refuse every
//     object of its kind), pointed at that Service;
//   - kueue itself, as the admin user (system:masters), with internal certificate management.
//
// The rotator waits for the kubelet to mount the Secret; here the harness copies the Secret's
// files into the certificate folder once they appear. StartKueue returns once /readyz passes
// and the validating webhook answers.
func (c *Cluster) StartKueue(opts KueueOptions) *Process {
	c.t.Helper()
	ctx := context.Background()
	began := time.Now()
	if len(opts.Frameworks) == 0 {
		opts.Frameworks = []string{"batch/job"}
	}
	src := filepath.Join(c.bin, "kueue-config")
	webhookPort, err := freePort()
	if err != nil {
		c.t.Fatalf("harness: %v", err)
	}
	healthPort, err := freePort()
	if err != nil {
		c.t.Fatalf("harness: %v", err)
	}
	dyn, err := dynamic.NewForConfig(c.RESTConfig(UserAdmin))
	if err != nil {
		c.t.Fatalf("harness: %v", err)
	}
	cs := c.Client(UserAdmin)
	apply := func(gvr schema.GroupVersionResource, obj *unstructured.Unstructured) {
		c.t.Helper()
		if _, err := dyn.Resource(gvr).Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: "e2e-harness", Force: true}); err != nil {
			c.t.Fatalf("harness: apply %s %s: %v", gvr.Resource, obj.GetName(), err)
		}
	}

	// CRDs.
	converted := map[string]bool{} // CRD names whose conversion goes through the webhook
	var kust struct {
		Patches []struct{ Path string } `json:"patches"`
	}
	readYAML(c.t, filepath.Join(src, "crd", "kustomization.yaml"), &kust)
	for _, p := range kust.Patches {
		var patch struct {
			Metadata struct{ Name string } `json:"metadata"`
			Spec     struct {
				Conversion map[string]any `json:"conversion"`
			} `json:"spec"`
		}
		readYAML(c.t, filepath.Join(src, "crd", p.Path), &patch)
		if patch.Spec.Conversion != nil {
			converted[patch.Metadata.Name] = true
		}
	}
	if len(converted) == 0 {
		c.t.Fatalf("harness: %s: no conversion webhook patch found", filepath.Join(src, "crd", "kustomization.yaml"))
	}
	files, err := filepath.Glob(filepath.Join(src, "crd", "bases", "*.yaml"))
	if err != nil || len(files) == 0 {
		c.t.Fatalf("harness: Kueue's CRDs not found in %s (run e2e/build.sh kueue): %v", src, err)
	}
	var crds []string
	for _, f := range files {
		crd := &unstructured.Unstructured{}
		readYAML(c.t, f, &crd.Object)
		name := crd.GetName()
		if converted[name] {
			port := int64(webhookPort)
			_ = unstructured.SetNestedMap(crd.Object, map[string]any{
				"strategy": "Webhook",
				"webhook": map[string]any{
					"clientConfig": map[string]any{"service": map[string]any{
						"namespace": KueueNamespace, "name": kueueService, "path": "/convert", "port": port,
					}},
					"conversionReviewVersions": []any{"v1"},
				},
			}, "spec", "conversion")
		}
		apply(crdGVR, crd)
		crds = append(crds, name)
	}
	for _, name := range crds {
		if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, c.opts.ReadyTimeout, true,
			func(ctx context.Context) (bool, error) {
				crd, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return false, nil
				}
				conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
				for _, cond := range conds {
					m, _ := cond.(map[string]any)
					if m["type"] == "Established" && m["status"] == "True" {
						return true, nil
					}
				}
				return false, nil
			}); err != nil {
			c.t.Fatalf("harness: CRD %s not Established", name)
		}
	}

	// Namespace, Secret, Service.
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: KueueNamespace}},
		metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		c.t.Fatalf("harness: namespace %s: %v", KueueNamespace, err)
	}
	if _, err := cs.CoreV1().Secrets(KueueNamespace).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: kueueSecret}},
		metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		c.t.Fatalf("harness: secret %s: %v", kueueSecret, err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: kueueService, Namespace: KueueNamespace},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeExternalName, ExternalName: "localhost",
			Ports: []corev1.ServicePort{{Name: "https", Port: int32(webhookPort), TargetPort: intstr.FromInt32(int32(webhookPort))}},
		},
	}
	if _, err := cs.CoreV1().Services(KueueNamespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		c.t.Fatalf("harness: service %s: %v", kueueService, err)
	}

	// Webhook configurations.
	groups := map[string]bool{"kueue.x-k8s.io": true}
	for _, f := range opts.Frameworks {
		g, ok := frameworkGroups[f]
		if !ok {
			c.t.Fatalf("harness: Kueue framework %q: no webhook mapping", f)
		}
		groups[g] = true
	}
	raw, err := os.ReadFile(filepath.Join(src, "webhooks.yaml"))
	if err != nil {
		c.t.Fatalf("harness: %v", err)
	}
	for _, doc := range strings.Split(string(raw), "\n---") {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
			c.t.Fatalf("harness: Kueue webhooks: %v", err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		gvr := mwcGVR
		if obj.GetKind() == "ValidatingWebhookConfiguration" {
			gvr = vwcGVR
		}
		hooks, _, _ := unstructured.NestedSlice(obj.Object, "webhooks")
		var kept []any
		for _, h := range hooks {
			hook, _ := h.(map[string]any)
			if !webhookGroupsIn(hook, groups) {
				continue
			}
			_ = unstructured.SetNestedField(hook, KueueNamespace, "clientConfig", "service", "namespace")
			_ = unstructured.SetNestedField(hook, kueueService, "clientConfig", "service", "name")
			_ = unstructured.SetNestedField(hook, int64(webhookPort), "clientConfig", "service", "port")
			kept = append(kept, hook)
		}
		_ = unstructured.SetNestedSlice(obj.Object, kept, "webhooks")
		obj.SetName(kueueWebhookPrefix + obj.GetName())
		apply(gvr, obj)
	}

	// Kueue.
	certDir := filepath.Join(c.Dir, "kueue-certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		c.t.Fatalf("harness: %v", err)
	}
	gates := map[string]any{"VisibilityOnDemand": false}
	for k, v := range opts.FeatureGates {
		gates[k] = v
	}
	frameworks := make([]any, len(opts.Frameworks))
	for i, f := range opts.Frameworks {
		frameworks[i] = f
	}
	cfg, err := yaml.Marshal(map[string]any{
		"apiVersion":     "config.kueue.x-k8s.io/v1beta2",
		"kind":           "Configuration",
		"namespace":      KueueNamespace,
		"health":         map[string]any{"healthProbeBindAddress": fmt.Sprintf("127.0.0.1:%d", healthPort)},
		"metrics":        map[string]any{"bindAddress": "0"},
		"webhook":        map[string]any{"host": "127.0.0.1", "port": webhookPort, "certDir": certDir},
		"leaderElection": map[string]any{"leaderElect": false},
		"internalCertManagement": map[string]any{
			"enable": true, "webhookServiceName": kueueService, "webhookSecretName": kueueSecret,
		},
		"manageJobsWithoutQueueName": false,
		"integrations":               map[string]any{"frameworks": frameworks},
		"featureGates":               gates,
	})
	if err != nil {
		c.t.Fatalf("harness: %v", err)
	}
	cfgPath := filepath.Join(c.Dir, "kueue.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		c.t.Fatalf("harness: %v", err)
	}
	p, err := c.startProcess("kueue", "kueue", []string{
		"--config=" + cfgPath, "--kubeconfig=" + c.KubeconfigPath(UserAdmin), "--zap-log-level=2",
	}, nil)
	if err != nil {
		c.t.Fatalf("harness: %v", err)
	}

	// Play kubelet for the Secret: copy its files into certDir once the rotator wrote them.
	copied := make(chan error, 1)
	go func() {
		copied <- wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, c.opts.ReadyTimeout, true,
			func(ctx context.Context) (bool, error) {
				if ok, _ := p.Exited(); ok {
					return false, fmt.Errorf("kueue exited")
				}
				s, err := cs.CoreV1().Secrets(KueueNamespace).Get(ctx, kueueSecret, metav1.GetOptions{})
				if err != nil || len(s.Data["tls.crt"]) == 0 || len(s.Data["tls.key"]) == 0 {
					return false, nil
				}
				for name, data := range s.Data {
					if err := os.WriteFile(filepath.Join(certDir, name), data, 0o600); err != nil {
						return false, err
					}
				}
				return true, nil
			})
	}()
	if err := <-copied; err != nil {
		c.t.Fatalf("harness: Kueue's webhook certificate never appeared in Secret %s/%s: %v; kueue log:\n%s",
			KueueNamespace, kueueSecret, err, p.LogTail(30))
	}
	if err := waitReady(p, fmt.Sprintf("http://127.0.0.1:%d/readyz", healthPort), "", nil, c.opts.ReadyTimeout); err != nil {
		c.t.Fatalf("harness: %v", err)
	}
	// /readyz alone proves little: Kueue first runs a bootstrap manager for its certificates on
	// the same port, with no readiness checks (so it answers 200). What counts is that the
	// apiserver reaches Kueue's webhooks with the injected CA: a dry-run object through them.
	probe := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ResourceFlavor",
		"metadata": map[string]any{"name": "harness-probe"},
	}}
	rf := schema.GroupVersionResource{Group: "kueue.x-k8s.io", Version: "v1beta2", Resource: "resourceflavors"}
	var lastErr error
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, c.opts.ReadyTimeout, true,
		func(ctx context.Context) (bool, error) {
			_, lastErr = dyn.Resource(rf).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			return lastErr == nil, nil
		}); err != nil {
		c.t.Fatalf("harness: Kueue's webhooks do not answer the apiserver: %v; kueue log:\n%s", lastErr, p.LogTail(30))
	}
	c.t.Logf("harness: kueue ready after %v (%d CRDs, frameworks %v)", time.Since(began).Round(time.Millisecond), len(crds), opts.Frameworks)
	return p
}

// webhookGroupsIn: every API group the webhook's rules name is in groups.
func webhookGroupsIn(hook map[string]any, groups map[string]bool) bool {
	rules, _, _ := unstructured.NestedSlice(hook, "rules")
	if len(rules) == 0 {
		return false
	}
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		gs, _, _ := unstructured.NestedStringSlice(rule, "apiGroups")
		if len(gs) == 0 || slices.ContainsFunc(gs, func(g string) bool { return !groups[g] }) {
			return false
		}
	}
	return true
}

// readYAML decodes a YAML file into out.
func readYAML(t testing.TB, path string, out any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	if err := yaml.Unmarshal(b, out); err != nil {
		t.Fatalf("harness: %s: %v", path, err)
	}
}
