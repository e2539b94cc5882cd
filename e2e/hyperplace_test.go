package e2e_test

// hyperplace against the real control plane: kube-scheduler (configured from
// manifests/scheduler-config.yaml) calls hyperplace's extender for every pod; hyperplace watches
// the apiserver as the `hyperplace` user with exactly the rights of manifests/rbac.yaml; kwok plays
// kubelet. One cluster serves every scenario; each scenario has its own namespace and nodes (its
// pods select its nodes by label, so capacity never leaks between scenarios).

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authzv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"hyperplace.dev/e2e/harness"
)

type fixture struct {
	c     *harness.Cluster
	admin kubernetes.Interface
	hp    *hyperplaceProc
	// schedulerConfig is the configuration hyperplace's kube-scheduler runs with (restored after
	// scenarios that swap it); schedulerKubeconfig its service account's (manifests/scheduler.yaml).
	schedulerConfig     string
	schedulerKubeconfig string
	// apiDown are the intervals from each kube-apiserver restart's SIGTERM to its /readyz.
	apiDown [][2]time.Time
}

// restartAPIServer restarts kube-apiserver and remembers when it was not ready.
func (f *fixture) restartAPIServer() {
	began := time.Now()
	f.c.RestartAPIServer()
	f.apiDown = append(f.apiDown, [2]time.Time{began, time.Now()})
}

// duringAPIRestart: a hyperplace log line stamped while kube-apiserver was restarting. The new
// apiserver answers before its RBAC authorizer has loaded the policy (it is not ready yet), so
// a 403 then says nothing about rbac.yaml.
func (f *fixture) duringAPIRestart(line string) bool {
	i := strings.Index(line, "ts=")
	if i < 0 {
		return false
	}
	ts, _, _ := strings.Cut(line[i+3:], " ")
	at, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return false
	}
	for _, w := range f.apiDown {
		if !at.Before(w[0]) && !at.After(w[1].Add(time.Second)) {
			return true
		}
	}
	return false
}

func TestHyperplace(t *testing.T) {
	ctx := t.Context()
	c := harness.Start(t, harness.Options{NoScheduler: true, Kwok: true})
	f := &fixture{c: c, admin: c.Client(harness.UserAdmin)}
	audit := startSchedulerAudit(t, f.admin)

	// As on EKS (DESIGN §4): the cluster's own scheduler, without an extender and with leader
	// election on its lease kube-system/kube-scheduler, schedules every pod that names no other
	// scheduler; hyperplace's scheduler, from manifests/scheduler-config.yaml as shipped (profile
	// hyperplace, leader election on its own lease), runs beside it as the manifest's service
	// account and schedules the team pods, which name it (the webhook sets it, or the scenario
	// does as the webhook would).
	c.StartSchedulerNamed("default-scheduler", "leaderElection: {leaderElect: true}")
	applyRBAC(ctx, t, c)
	checkLeastPrivilege(ctx, t, f)
	f.schedulerKubeconfig = applySchedulerRBAC(ctx, t, c)
	f.hp = startHyperplace(t, c, withWebhook, withExtenderTLS, "--config", debugEndpointsConfig(t, c))
	f.schedulerConfig = schedulerConfigFromManifest(t, f.hp.URL, f.hp.SchedulerTLS, f.schedulerKubeconfig, nil)
	c.StartScheduler(f.schedulerConfig)

	t.Run("Manifests", f.testManifests)
	t.Run("ExtenderAuthentication", f.testExtenderAuthentication)
	t.Run("RequiredTopology", f.testRequiredTopology)
	t.Run("RequiredTopologyAtScale", f.testRequiredTopologyAtScale)
	t.Run("PreferredTopology", f.testPreferredTopology)
	t.Run("RequiredTopologyWholeNodeGPUs", f.testRequiredTopologyWholeNodeGPUs)
	t.Run("RequiredTopologyWholeNodeNeuron", f.testRequiredTopologyWholeNodeNeuron)
	t.Run("RequiredTopologyPartlyUsedRack", f.testRequiredTopologyPartlyUsedRack)
	t.Run("RequiredTopologyUnhealthyRack", f.testRequiredTopologyUnhealthyRack)
	t.Run("PreferredTopologyWholeNodeGPUs", f.testPreferredTopologyWholeNodeGPUs)
	t.Run("AcceleratorPacking", f.testAcceleratorPacking)
	t.Run("InTreeScoresDisagree", f.testInTreeScoresDisagree)
	t.Run("UnhealthyNodes", f.testUnhealthyNodes)
	t.Run("PodDensity", f.testPodDensity)
	t.Run("InstanceType", f.testInstanceType)
	t.Run("Webhook", f.testWebhook)
	t.Run("GoldenCaptures", f.testGoldenCaptures)
	t.Run("ReplicaFailover", f.testReplicaFailover)
	t.Run("SchedulerFailover", f.testSchedulerFailover)
	t.Run("HyperplaceKilledMidBatch", f.testKilledMidBatch)
	t.Run("APIServerRestart", f.testAPIServerRestart)

	// Over the whole run: each pod placed once, by the scheduler it names.
	audit.check(ctx, t, f.admin)

	// hyperplace is still up, and SIGTERM makes it drain and exit 0 (DESIGN §4).
	if exited, err := f.hp.proc.Exited(); exited {
		t.Errorf("hyperplace exited during the run: %v; log tail:\n%s", err, f.hp.proc.LogTail(10))
	} else if err := f.hp.proc.Stop(); err != nil {
		t.Errorf("hyperplace after SIGTERM: %v, want exit status 0; log tail:\n%s", err, f.hp.proc.LogTail(5))
	}

	// Over the whole run: hyperplace never met a 403 (a right missing from rbac.yaml shows up as
	// a failed list/watch/bind with HTTP 403 in its log).
	logText, err := os.ReadFile(f.hp.proc.LogPath)
	if err != nil {
		t.Fatalf("hyperplace log: %v", err)
	}
	for _, line := range strings.Split(string(logText), "\n") {
		if (strings.Contains(line, "HTTP 403") || strings.Contains(strings.ToLower(line), "forbidden")) && !f.duringAPIRestart(line) {
			t.Errorf("hyperplace was refused by the apiserver (rbac.yaml lacks a right it uses): %s", line)
		}
	}
}

// testExtenderAuthentication: with TLS on, as the manifests ship it (DESIGN §2.1), no caller
// without a client certificate of the extender's client CA reaches /bind: neither one without a
// certificate nor one with a certificate of another CA (a stranger's, or the cluster's own, which
// signed hyperplace's serving certificate). Their handshakes are refused, so hyperplace counts
// no request and the pod they tried to bind stays unbound; the scheduler's certificate gets
// through on the same port (the refusals are about the certificates).
func (f *fixture) testExtenderAuthentication(t *testing.T) {
	ctx := t.Context()
	if f.hp.SchedulerTLS == nil {
		t.Fatal("hyperplace runs without extender TLS")
	}
	ns := teamNamespace(ctx, t, f.admin, "auth")
	victim := podOpts{ns: ns, name: "victim", labels: teamLabels(ns, nil)}.build()
	victim.Spec.SchedulerName = "e2e-no-scheduler" // no scheduler serves it: only a /bind places it
	createPods(ctx, t, f.admin, []*corev1.Pod{victim})
	created, err := f.admin.CoreV1().Pods(ns).Get(ctx, "victim", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bind := func(name string, uid string) string {
		return fmt.Sprintf(`{"PodName":%q,"PodNamespace":%q,"PodUID":%q,"Node":"hyperpod-e2e-auth-node"}`, name, ns, uid)
	}
	binds := func() float64 {
		return f.hp.Metrics(t).Sum("hyperplace_http_requests_total", `server="extender"`, `verb="bind"`)
	}

	dir := t.TempDir()
	stranger, err := harness.NewCA(dir, "hyperplace-e2e-scheduler-ca") // the real CA's very name
	if err != nil {
		t.Fatal(err)
	}
	strangerCert, strangerKey, err := stranger.IssueClient(dir, "kube-scheduler")
	if err != nil {
		t.Fatal(err)
	}
	clusterCert, clusterKey, err := f.c.CA.IssueClient(dir, "cluster-ca-client")
	if err != nil {
		t.Fatal(err)
	}
	before := binds()
	for _, c := range []struct{ name, cert, key string }{
		{"no certificate", "", ""},
		{"a stranger's CA", strangerCert, strangerKey},
		{"the cluster CA", clusterCert, clusterKey},
	} {
		cfg := &tls.Config{RootCAs: f.c.CA.Pool}
		if c.cert != "" {
			pair, err := tls.LoadX509KeyPair(c.cert, c.key)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		resp, err := hc.Post(f.hp.URL+"/bind", "application/json", strings.NewReader(bind("victim", string(created.UID))))
		if err == nil {
			resp.Body.Close()
			t.Errorf("client with %s: /bind answered %s, want the TLS handshake refused", c.name, resp.Status)
			continue
		}
		t.Logf("client with %s: %v", c.name, err)
	}
	// Plain HTTP to the TLS port is no way in either.
	plain := strings.Replace(f.hp.URL, "https://", "http://", 1)
	if resp, err := (&http.Client{Timeout: 10 * time.Second}).Post(plain+"/bind", "application/json",
		strings.NewReader(bind("victim", string(created.UID)))); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP /bind answered %s on the TLS port", resp.Status)
		}
	}
	if got := binds(); got != before {
		t.Errorf("hyperplace counted %v /bind requests from callers without a valid certificate, want 0", got-before)
	}
	if p, err := f.admin.CoreV1().Pods(ns).Get(ctx, "victim", metav1.GetOptions{}); err != nil {
		t.Error(err)
	} else if p.Spec.NodeName != "" {
		t.Errorf("pod %s/victim was bound to %q by a caller without a valid certificate", ns, p.Spec.NodeName)
	}

	// The scheduler's client certificate is answered (a pod that does not exist: nothing bound).
	resp, err := f.hp.HTTP.Post(f.hp.URL+"/bind", "application/json", strings.NewReader(bind("no-such-pod", "0")))
	if err != nil {
		t.Fatalf("/bind with the scheduler's certificate: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/bind with the scheduler's certificate: %s %s, want 200", resp.Status, body)
	}
	if got := binds(); got != before+1 {
		t.Errorf("hyperplace counted %v /bind requests after the scheduler's, want 1", got-before)
	}
	_ = f.admin.CoreV1().Pods(ns).Delete(ctx, "victim", metav1.DeleteOptions{})
}

// checkLeastPrivilege: the hyperplace user can do what the extender needs and nothing more.
func checkLeastPrivilege(ctx context.Context, t *testing.T, f *fixture) {
	t.Helper()
	type access struct {
		verb, group, resource, sub, ns string
		allowed                        bool
	}
	for _, a := range []access{
		{"list", "", "nodes", "", "", true},
		{"watch", "", "nodes", "", "", true},
		{"list", "", "pods", "", "", true},
		{"watch", "", "pods", "", "", true},
		{"create", "", "pods", "binding", "hyperpod-ns-team-a", true},
		{"list", "kueue.x-k8s.io", "localqueues", "", "", true},
		{"list", "kueue.x-k8s.io", "workloadpriorityclasses", "", "", true},
		{"create", "", "pods", "", "hyperpod-ns-team-a", false},
		{"delete", "", "pods", "", "hyperpod-ns-team-a", false},
		{"patch", "", "pods", "", "hyperpod-ns-team-a", false},
		{"update", "", "pods", "status", "hyperpod-ns-team-a", false},
		{"update", "", "nodes", "", "", false},
		{"patch", "", "nodes", "status", "", false},
		{"get", "", "secrets", "", "hyperplace-system", false},
		{"list", "", "configmaps", "", "hyperplace-system", false},
		{"create", "", "events", "", "hyperpod-ns-team-a", false},
	} {
		sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
			User: harness.UserHyperplace,
			ResourceAttributes: &authzv1.ResourceAttributes{
				Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.sub, Namespace: a.ns,
			},
		}}
		got, err := f.admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("SubjectAccessReview: %v", err)
		}
		if got.Status.Allowed != a.allowed {
			res := a.group + "/" + a.resource
			if a.sub != "" {
				res += "/" + a.sub
			}
			t.Errorf("hyperplace may %s %s in %q: %v, want %v (%s)", a.verb, res, a.ns, got.Status.Allowed, a.allowed, got.Status.Reason)
		}
	}
}

// layout is a rack (layer-3 domain) of n identical nodes.
type layout struct {
	l1, l2, l3 string
	n          int
}

// makeNodes creates the scenario's nodes, rack after rack, and waits until hyperplace caches
// them. It returns node name -> rack (layer 3) and layer 2.
func (f *fixture) makeNodes(ctx context.Context, t *testing.T, scenario string, typ instanceType, racks []layout) (l3Of, l2Of map[string]string) {
	t.Helper()
	l3Of, l2Of = map[string]string{}, map[string]string{}
	var nodes []*corev1.Node
	i := 0
	for _, r := range racks {
		for k := 0; k < r.n; k++ {
			n := nodeOpts{scenario: scenario, index: i, typ: typ, l1: r.l1, l2: r.l2, l3: r.l3}.build()
			nodes = append(nodes, n)
			l3Of[n.Name], l2Of[n.Name] = r.l3, r.l2
			i++
		}
	}
	before := f.hp.Metrics(t).Sum("hyperplace_cache_nodes")
	createNodeObjects(ctx, t, f.admin, nodes...)
	waitNodesInCache(ctx, t, f.hp, int(before)+len(nodes))
	return l3Of, l2Of
}

func groupPods(ns, scenario, group string, n int, topoKey, topoLevel string, requests corev1.ResourceList) []*corev1.Pod {
	var pods []*corev1.Pod
	for i := 0; i < n; i++ {
		pods = append(pods, podOpts{
			ns: ns, name: fmt.Sprintf("%s-%d", group, i), scenario: scenario,
			labels: teamLabels(ns, map[string]string{labelPodGroup: group}),
			annotations: map[string]string{
				annotGroupTotal: strconv.Itoa(n),
				topoKey:         topoLevel,
			},
			requests: requests,
		}.build())
	}
	return pods
}

// A group with required layer-3 topology on a cluster where exactly one rack can hold it (racks
// of 2, 1 and 1 ml.g5.xlarge nodes: 28, 14 and 14 pod slots; the group's 20 pods fit only the
// first): every pod lands in that rack, and kwok runs them.
func (f *fixture) testRequiredTopology(t *testing.T) {
	ctx := t.Context()
	const scenario = "required-topology"
	ns := teamNamespace(ctx, t, f.admin, "req")
	l3Of, _ := f.makeNodes(ctx, t, scenario, g5_xlarge, []layout{
		{"nn-req-l1", "nn-req-l2-a", "nn-req-l3-b", 1}, // 14 slots
		{"nn-req-l1", "nn-req-l2-a", "nn-req-l3-a", 2}, // 28 slots: the only rack that holds 20
		{"nn-req-l1", "nn-req-l2-b", "nn-req-l3-c", 1}, // 14 slots
	})
	rec := recordPods(t, f.admin, ns)
	const size = 20
	createPods(ctx, t, f.admin, groupPods(ns, scenario, "data-prep", size, annotRequiredTopo, labelLayer3, nil))
	rec.WaitBound(ctx, t, size, 120*time.Second)

	racks := map[string]int{}
	for node, pods := range rec.Placement() {
		racks[l3Of[node]] += len(pods)
	}
	if len(racks) != 1 || racks["nn-req-l3-a"] != size {
		t.Errorf("group spread over layer-3 domains %v; want all %d pods in nn-req-l3-a (the only rack with room for them)", racks, size)
	}
	// (Pods per node under a burst: PodDensity/Burst.)
	rec.CheckBoundOnce(t)
	waitRunning(ctx, t, f.admin, ns, size)
	// `hyperplace topology` and /debug/jobs see the same: the gang in nn-req-l3-a, required met.
	f.checkTopologyReport(t, ns, "data-prep", rec.Placement(), topoWant{
		sharedLevels: 3, domain: "nn-req-l3-a", spans: []int{1, 1, 1}, required: ptrBool(true),
	})
	deleteNamespacePods(ctx, t, f.admin, ns)
}

// submit creates pods: all at once (serial false), or one at a time, each once the previous is
// bound. It waits until every pod is bound, or placement stalls (no pod bound for 20 s), and
// returns an error in that case.
func submit(ctx context.Context, t *testing.T, cs kubernetes.Interface, rec *podRecorder, pods []*corev1.Pod, serial bool) error {
	t.Helper()
	if !serial {
		createPods(ctx, t, cs, pods)
		return rec.WaitBoundOrStall(ctx, len(pods), 20*time.Second, 180*time.Second)
	}
	for i, p := range pods {
		createPods(ctx, t, cs, []*corev1.Pod{p})
		if err := rec.WaitBoundOrStall(ctx, i+1, 20*time.Second, 60*time.Second); err != nil {
			return fmt.Errorf("serial submission stopped at pod %d (%s): %w", i, p.Name, err)
		}
	}
	return nil
}

// Preferred layer-3 topology on a fragmented cluster: no rack holds the group of 20 (each rack
// is one ml.g5.xlarge, 14 slots), so the group must relax to layer 2. Layer-2 domain a has 2
// racks (28 slots), b has 3 (42), c has 1 (14). Closest placement: every pod under one layer-2
// domain, the tightest that fits (a: big domains stay whole), with one rack filled to its 14.
// Random placement puts pods under several layer-2 domains. Burst: the group's pods are created
// at once (as Kueue releases a group); Serial: one at a time, each once the previous is bound.
func (f *fixture) testPreferredTopology(t *testing.T) {
	t.Run("Burst", func(t *testing.T) { f.preferredTopology(t, "burst") })
	t.Run("Serial", func(t *testing.T) { f.preferredTopology(t, "serial") })
}

func (f *fixture) preferredTopology(t *testing.T, mode string) {
	ctx := t.Context()
	scenario := "preferred-topology-" + mode
	ns := teamNamespace(ctx, t, f.admin, "pref-"+mode)
	d := func(s string) string { return "nn-pref-" + mode + "-" + s }
	l3Of, l2Of := f.makeNodes(ctx, t, scenario, g5_xlarge, []layout{
		{d("l1"), d("l2-b"), d("l3-b1"), 1},
		{d("l1"), d("l2-c"), d("l3-c1"), 1},
		{d("l1"), d("l2-a"), d("l3-a1"), 1},
		{d("l1"), d("l2-b"), d("l3-b2"), 1},
		{d("l1"), d("l2-a"), d("l3-a2"), 1},
		{d("l1"), d("l2-b"), d("l3-b3"), 1},
	})
	rec := recordPods(t, f.admin, ns)
	const size = 20
	if err := submit(ctx, t, f.admin, rec, groupPods(ns, scenario, "finetune", size, annotPreferTopo, labelLayer3, nil), mode == "serial"); err != nil {
		t.Fatalf("%v; pods per node %v", err, placementSizes(rec.Placement()))
	}

	l2 := map[string]int{}
	l3 := map[string]int{}
	for node, pods := range rec.Placement() {
		l2[l2Of[node]] += len(pods)
		l3[l3Of[node]] += len(pods)
	}
	t.Logf("placement by layer 2 %v, by layer 3 %v", l2, l3)
	if len(l2) != 1 || l2[d("l2-a")] != size {
		t.Errorf("group under layer-2 domains %v; want all %d under %s (the tightest layer-2 domain that holds the group)", l2, size, d("l2-a"))
	}
	maxRack := 0
	for _, n := range l3 {
		maxRack = max(maxRack, n)
	}
	if maxRack != 14 {
		t.Errorf("the fullest rack holds %d of the group; want 14 (a whole ml.g5.xlarge rack): %v", maxRack, l3)
	}
	for node, pods := range rec.Placement() {
		if len(pods) > 14 {
			t.Errorf("node %s holds %d pods, ml.g5.xlarge allows 14", node, len(pods))
		}
	}
	rec.CheckBoundOnce(t)
	// Reported as placed: under l2-a, in its two racks; layer 3 preferred and not met (no rack
	// holds 20), and no tighter domain could have held it.
	f.checkTopologyReport(t, ns, "finetune", rec.Placement(), topoWant{
		sharedLevels: 2, domain: d("l2-a"), spans: []int{1, 1, 2}, preferred: ptrBool(false),
	})
	deleteNamespacePods(ctx, t, f.admin, ns)
}

// Nodes whose health label is any of the unschedulable values, or which carry the health agent's
// taint, never receive a pod; the healthy ones take them all.
func (f *fixture) testUnhealthyNodes(t *testing.T) {
	ctx := t.Context()
	const scenario = "health"
	ns := teamNamespace(ctx, t, f.admin, "health")
	healthTaint := func(effect corev1.TaintEffect) []corev1.Taint {
		return []corev1.Taint{{Key: labelHealth, Value: "Unschedulable", Effect: effect}}
	}
	specs := []nodeOpts{
		{health: "Schedulable"},
		{health: "Unschedulable"},
		{health: "UnschedulablePendingReplacement"},
		{health: "UnschedulablePendingReboot"},
		{health: "Schedulable", deepHealth: "InProgress", taints: healthTaint(corev1.TaintEffectNoSchedule)},
		{health: "Schedulable", deepHealth: "Failed", taints: healthTaint(corev1.TaintEffectNoExecute)},
		{health: "Schedulable"},
	}
	healthy := map[string]bool{}
	desc := map[string]string{}
	var nodes []*corev1.Node
	for i, s := range specs {
		s.scenario, s.index, s.typ = scenario, i, g5_xlarge
		s.l1, s.l2, s.l3 = "nn-health-l1", "nn-health-l2", fmt.Sprintf("nn-health-l3-%d", i%3)
		n := s.build()
		nodes = append(nodes, n)
		healthy[n.Name] = s.health == "Schedulable" && len(s.taints) == 0
		desc[n.Name] = fmt.Sprintf("health=%s taints=%v", s.health, s.taints)
	}
	before := f.hp.Metrics(t)
	createNodeObjects(ctx, t, f.admin, nodes...)
	waitNodesInCache(ctx, t, f.hp, int(before.Sum("hyperplace_cache_nodes"))+len(nodes))

	rec := recordPods(t, f.admin, ns)
	const count = 24 // 2 healthy × 14 slots = 28
	var pods []*corev1.Pod
	for i := 0; i < count; i++ {
		pods = append(pods, podOpts{ns: ns, name: fmt.Sprintf("eval-%d", i), scenario: scenario, labels: teamLabels(ns, nil)}.build())
	}
	createPods(ctx, t, f.admin, pods)
	rec.WaitBound(ctx, t, count, 120*time.Second)
	for node, pods := range rec.Placement() {
		if !healthy[node] {
			t.Errorf("%d pods on unhealthy node %s (%s): %v", len(pods), node, desc[node], pods)
		}
	}
	// The label-only nodes pass every in-tree filter: hyperplace is what turned them away.
	after := f.hp.Metrics(t)
	rejected := after.Sum("hyperplace_extender_nodes_rejected_total", `reason="node_unhealthy"`) -
		before.Sum("hyperplace_extender_nodes_rejected_total", `reason="node_unhealthy"`)
	if rejected < 3 {
		t.Errorf("hyperplace rejected unhealthy nodes %v times during the scenario, want at least 3", rejected)
	}
	deleteNamespacePods(ctx, t, f.admin, ns)
}

// 30 pods for two ml.g5.xlarge nodes: the kubelet would take 58 each, hyperplace caps them at 14;
// the 2 left over stay Pending with hyperplace's reason in their PodScheduled condition.
// Burst: the 30 pods are created at once (a Job's or a group's pods arrive together);
// Serial: each pod is created once the previous one is bound or refused, so that no bind is in
// flight when the next pod is filtered.
func (f *fixture) testPodDensity(t *testing.T) {
	t.Run("Burst", func(t *testing.T) { f.podDensity(t, "density-burst", false) })
	t.Run("Serial", func(t *testing.T) { f.podDensity(t, "density-serial", true) })
}

func (f *fixture) podDensity(t *testing.T, scenario string, serial bool) {
	ctx := t.Context()
	ns := teamNamespace(ctx, t, f.admin, scenario)
	f.makeNodes(ctx, t, scenario, g5_xlarge, []layout{{"nn-" + scenario + "-l1", "nn-" + scenario + "-l2", "nn-" + scenario + "-l3", 2}})
	rec := recordPods(t, f.admin, ns)
	const count, capacity = 30, 28
	var pods []*corev1.Pod
	for i := 0; i < count; i++ {
		pods = append(pods, podOpts{ns: ns, name: fmt.Sprintf("infer-%02d", i), scenario: scenario, labels: teamLabels(ns, nil)}.build())
	}
	if serial {
		for i, p := range pods {
			createPods(ctx, t, f.admin, []*corev1.Pod{p})
			if i < capacity {
				rec.WaitBound(ctx, t, i+1, 60*time.Second)
			}
		}
	} else {
		createPods(ctx, t, f.admin, pods)
	}
	rec.WaitBound(ctx, t, capacity, 120*time.Second)
	rec.WaitSeen(ctx, t, count, 30*time.Second)

	var pending []string
	for name, r := range rec.Snapshot() {
		if len(r.Nodes) == 0 {
			pending = append(pending, name)
		}
	}
	for node, pods := range rec.Placement() {
		if len(pods) > 14 {
			t.Errorf("node %s holds %d pods, ml.g5.xlarge allows 14", node, len(pods))
		}
	}
	if len(pending) != count-capacity {
		t.Fatalf("%d pods pending, want %d: pods per node %v", len(pending), count-capacity, placementSizes(rec.Placement()))
	}
	for _, name := range pending {
		msg := waitSchedulingFailure(ctx, t, f.admin, ns, name, reasonMaxPods, 60*time.Second)
		t.Logf("%s: %s", name, msg)
	}
	// Still exactly 28 after the pending pods were retried.
	if got := rec.Bound(); got != capacity {
		t.Errorf("%d pods bound, want %d", got, capacity)
	}
	rec.CheckBoundOnce(t)
	deleteNamespacePods(ctx, t, f.admin, ns)
}

// Instance types: a team pod never lands on a node without the ml. prefix (although kube-scheduler
// alone would take it); a pod selecting "p5.48xlarge" (no ml.) matches no node in kube-scheduler's
// own NodeAffinity filter, which runs before the extender: without the webhook rewriting the
// selector (it is not registered here; see Webhook), it stays Pending with the scheduler's
// affinity reason, although the extender itself would accept ml.p5.48xlarge for it.
func (f *fixture) testInstanceType(t *testing.T) {
	ctx := t.Context()
	const scenario = "instance-type"
	ns := teamNamespace(ctx, t, f.admin, "itype")
	p5 := nodeOpts{scenario: scenario, index: 0, typ: p5_48xlarge, l1: "nn-it-l1", l2: "nn-it-l2", l3: "nn-it-l3"}.build()
	m5 := nodeOpts{scenario: scenario, index: 1, typ: m5_large}.build()
	// The plain node is bigger and emptier for the in-tree scorers, so that only hyperplace's
	// rule keeps team pods off it.
	m5.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse("256")
	m5.Status.Allocatable[corev1.ResourceMemory] = resource.MustParse("4Ti")
	m5.Status.Capacity = m5.Status.Allocatable
	before := f.hp.Metrics(t)
	createNodeObjects(ctx, t, f.admin, p5, m5)
	waitNodesInCache(ctx, t, f.hp, int(before.Sum("hyperplace_cache_nodes"))+2)
	rec := recordPods(t, f.admin, ns)

	var pods []*corev1.Pod
	for i := 0; i < 6; i++ {
		pods = append(pods, podOpts{ns: ns, name: fmt.Sprintf("team-%d", i), scenario: scenario, labels: teamLabels(ns, nil)}.build())
	}
	pods = append(pods,
		podOpts{ns: ns, name: "prefixed", scenario: scenario, labels: teamLabels(ns, nil),
			nodeSelector: map[string]string{labelInstanceType: "ml.p5.48xlarge"}}.build(),
		podOpts{ns: ns, name: "unprefixed", scenario: scenario, labels: teamLabels(ns, nil),
			nodeSelector: map[string]string{labelInstanceType: "p5.48xlarge"}}.build())
	createPods(ctx, t, f.admin, pods)
	rec.WaitBound(ctx, t, 7, 120*time.Second)
	for node, names := range rec.Placement() {
		if node != p5.Name {
			t.Errorf("team pods %v on %s (%s): want only %s (ml.p5.48xlarge)", names, node, m5_large.name, p5.Name)
		}
	}
	msg := waitSchedulingFailure(ctx, t, f.admin, ns, "unprefixed", "didn't match Pod's node affinity/selector", 60*time.Second)
	t.Logf("unprefixed (nodeSelector %s=p5.48xlarge, no webhook): %s", labelInstanceType, msg)
	rejected := f.hp.Metrics(t).Sum("hyperplace_extender_nodes_rejected_total", `reason="not_accelerated_type"`) -
		before.Sum("hyperplace_extender_nodes_rejected_total", `reason="not_accelerated_type"`)
	if rejected < 1 {
		t.Errorf("hyperplace never rejected the m5.large node for a team pod")
	}

	// Control: outside team namespaces the plain node takes pods (it is a healthy node; the
	// rejection above is hyperplace's instance-type rule).
	other := sharedNamespace(ctx, t, f.admin, "platform-tools")
	ctl := podOpts{ns: other, name: "metrics-agent", scenario: scenario,
		nodeSelector: map[string]string{"kubernetes.io/hostname": m5.Name}}.build()
	createPods(ctx, t, f.admin, []*corev1.Pod{ctl})
	if node := waitBound(ctx, t, f.admin, other, "metrics-agent"); node != m5.Name {
		t.Errorf("control pod on %s, want %s", node, m5.Name)
	}
	// A pod outside team namespaces names no scheduler: the cluster's default one placed it.
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true,
		func(ctx context.Context) (bool, error) {
			evs, err := f.admin.CoreV1().Events(other).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=metrics-agent,reason=Scheduled"})
			return err == nil && len(evs.Items) == 1 && evs.Items[0].ReportingController == "default-scheduler", nil
		}); err != nil {
		t.Errorf("metrics-agent: want one Scheduled event, by default-scheduler")
	}
	deleteNamespacePods(ctx, t, f.admin, ns)
	deleteNamespacePods(ctx, t, f.admin, other)
}

// The admission webhook, registered from manifests/mutating-webhook.yaml with the Service
// reference replaced by hyperplace's loopback URL and the cluster CA as caBundle (everything else,
// rules, namespaceSelector, failurePolicy, timeout, as shipped), for this subtest only. Users act
// under a test-only ClusterRole that lets both teams create pods, ReplicaSets and Jobs anywhere,
// so that the webhook is what keeps them in their own team's namespace.
func (f *fixture) testWebhook(t *testing.T) {
	ctx := t.Context()
	const scenario = "webhook"
	nsA := teamNamespace(ctx, t, f.admin, "team-a")
	nsB := teamNamespace(ctx, t, f.admin, "team-b")
	p5 := nodeOpts{scenario: scenario, index: 0, typ: p5_48xlarge, l1: "nn-wh-l1", l2: "nn-wh-l2", l3: "nn-wh-l3"}.build()
	before := f.hp.Metrics(t)
	createNodeObjects(ctx, t, f.admin, p5)
	waitNodesInCache(ctx, t, f.hp, int(before.Sum("hyperplace_cache_nodes"))+1)

	applyWorkloadAuthors(ctx, t, f.c)
	unregister := registerWebhook(ctx, t, f.c, f.hp, nsA, scenario)
	defer unregister()

	// Clients of alice and bob that keep the apiserver's warnings.
	client := func(user string) (kubernetes.Interface, *warningList) {
		w := &warningList{}
		cfg := rest.CopyConfig(f.c.RESTConfig(user))
		cfg.WarningHandler = w
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return cs, w
	}
	alice, aliceWarnings := client(harness.UserAlice)
	bob, _ := client(harness.UserBob)
	create := func(cs kubernetes.Interface, p *corev1.Pod) (*corev1.Pod, error) {
		return cs.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{})
	}

	// alice in her team's namespace: queue and priority labels added.
	got, err := create(alice, podOpts{ns: nsA, name: "alice-notebook", scenario: scenario, asUserSends: true}.build())
	if err != nil {
		t.Fatalf("alice creating a pod in %s: %v", nsA, err)
	}
	if q, p := got.Labels[labelQueue], got.Labels[labelPriority]; q != nsA+"-localqueue" || p != "fine-tuning-priority" {
		t.Errorf("alice's pod labels %v: want %s=%s-localqueue and %s=fine-tuning-priority (the lowest class)", got.Labels, labelQueue, nsA, labelPriority)
	}
	// ... and sent to hyperplace's scheduler (DESIGN §3 rule 5): she named none, so the API
	// server's default-scheduler reached the webhook.
	if got.Spec.SchedulerName != hyperplaceScheduler {
		t.Errorf("alice's pod schedulerName %q, want %s", got.Spec.SchedulerName, hyperplaceScheduler)
	}
	// bob in team-b's: allowed, his team's queue.
	got, err = create(bob, podOpts{ns: nsB, name: "bob-eval", scenario: scenario, asUserSends: true}.build())
	if err != nil {
		t.Fatalf("bob creating a pod in %s: %v", nsB, err)
	}
	if q := got.Labels[labelQueue]; q != nsB+"-localqueue" {
		t.Errorf("bob's pod queue %q, want %s-localqueue", q, nsB)
	}

	denied := func(who string, err error, wants ...string) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: created, want a denial", who)
			return
		}
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: %v, want 403 Forbidden", who, err)
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: message %q lacks %q", who, err.Error(), w)
			}
		}
		t.Logf("%s: %v", who, err)
	}
	// bob in team-a's namespace: refused, naming him, the team and the group he lacks.
	_, err = create(bob, podOpts{ns: nsA, name: "bob-intruder", scenario: scenario, asUserSends: true}.build())
	denied("bob in "+nsA, err, `admission webhook "`, `"bob"`, `"team-a"`, `"hyperpod-ns-team-a-namespace-level-group"`)
	// An unknown priority class: refused, listing the classes.
	_, err = create(alice, podOpts{ns: nsA, name: "alice-urgent", scenario: scenario, asUserSends: true,
		labels: map[string]string{labelPriority: "urgent-priority"}}.build())
	denied("unknown priority class", err, `"urgent-priority"`, "training-priority", "inference-priority", "fine-tuning-priority")
	// Another team's queue: refused, naming the right one.
	_, err = create(alice, podOpts{ns: nsA, name: "alice-borrow", scenario: scenario, asUserSends: true,
		labels: map[string]string{labelQueue: nsB + "-localqueue"}}.build())
	denied("another team's queue", err, nsB+"-localqueue", nsA+"-localqueue")

	// "p5.48xlarge" without ml.: rewritten (with a warning), and the pod then lands on the
	// ml.p5.48xlarge node (without the webhook it matches no node: see InstanceType).
	aliceWarnings.Take()
	got, err = create(alice, podOpts{ns: nsA, name: "alice-p5", scenario: scenario, asUserSends: true,
		nodeSelector: map[string]string{labelInstanceType: "p5.48xlarge"}}.build())
	if err != nil {
		t.Fatalf("alice creating a p5.48xlarge pod: %v", err)
	}
	if v := got.Spec.NodeSelector[labelInstanceType]; v != "ml.p5.48xlarge" {
		t.Errorf("nodeSelector %s=%q after admission, want ml.p5.48xlarge", labelInstanceType, v)
	}
	if w := aliceWarnings.Take(); len(w) != 1 || !strings.Contains(w[0], "p5.48xlarge") || !strings.Contains(w[0], "ml.p5.48xlarge") {
		t.Errorf("admission warnings %q: want one naming p5.48xlarge and ml.p5.48xlarge", w)
	} else {
		t.Logf("warning: %s", w[0])
	}
	if node := waitBound(ctx, t, f.admin, nsA, "alice-p5"); node != p5.Name {
		t.Errorf("alice-p5 on %s, want %s (ml.p5.48xlarge)", node, p5.Name)
	}

	// The scheduler's Events about alice-p5 are not team scope's business (nor hyperplace's, which
	// never sees them): they are recorded.
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true,
		func(ctx context.Context) (bool, error) {
			evs, err := f.admin.CoreV1().Events(nsA).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=alice-p5"})
			if err != nil {
				return false, nil
			}
			// Reported by hyperplace's scheduler (the profile's name), not the default one.
			return slices.ContainsFunc(evs.Items, func(e corev1.Event) bool {
				return e.Reason == "Scheduled" && e.ReportingController == hyperplaceScheduler
			}), nil
		}); err != nil {
		t.Errorf("no Scheduled event by %s for alice-p5 in %s: scheduled by another scheduler, or its Events were refused?", hyperplaceScheduler, nsA)
	}

	// Team scope covers every kind created, not only the ones hyperplace labels: bob's ReplicaSet
	// in team-a's namespace (its controller's pods would get team-a's queue) is refused by the
	// API server with hyperplace's message. alice's passes, unpatched (Kueue reads no ReplicaSet
	// labels).
	replicas := int32(0)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "trainers", Namespace: nsA, Labels: map[string]string{"app": "trainers"}},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "trainers"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "trainers"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "trainer", Image: "train:1"}}},
			},
		},
	}
	_, err = bob.AppsV1().ReplicaSets(nsA).Create(ctx, rs, metav1.CreateOptions{})
	denied("bob's ReplicaSet in "+nsA, err, `admission webhook "mutate.hyperplace.sagemaker-hyperpod.dev"`,
		`user "bob" of team "team-b" may not create ReplicaSet objects in namespace "hyperpod-ns-team-a"`,
		`"hyperpod-ns-team-a-namespace-level-group"`)
	if gotRS, err := alice.AppsV1().ReplicaSets(nsA).Create(ctx, rs, metav1.CreateOptions{}); err != nil {
		t.Errorf("alice creating a ReplicaSet in %s: %v", nsA, err)
	} else if len(gotRS.Labels) != 1 {
		t.Errorf("alice's ReplicaSet labels %v: want only app (hyperplace labels only what Kueue reads)", gotRS.Labels)
	}

	// Kueue reads a changed queue label: alice moving her Job onto team-b's queue is refused; an
	// update that leaves the Kueue labels alone passes.
	suspend := true
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "alice-train", Namespace: nsA},
		Spec: batchv1.JobSpec{
			Suspend: &suspend,
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "trainer", Image: "train:1"}},
			}},
		},
	}
	gotJob, err := alice.BatchV1().Jobs(nsA).Create(ctx, job, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("alice creating a Job in %s: %v", nsA, err)
	}
	if q := gotJob.Labels[labelQueue]; q != nsA+"-localqueue" {
		t.Errorf("alice's Job queue %q, want %s-localqueue", q, nsA)
	}
	relabel := func(labels string) error {
		_, err := alice.BatchV1().Jobs(nsA).Patch(ctx, "alice-train", types.MergePatchType,
			[]byte(`{"metadata":{"labels":`+labels+`}}`), metav1.PatchOptions{})
		return err
	}
	err = relabel(`{"` + labelQueue + `":"` + nsB + `-localqueue"}`)
	denied("alice relabelling her Job to "+nsB+"'s queue", err, `admission webhook "mutate.hyperplace.sagemaker-hyperpod.dev"`,
		`queue "`+nsB+`-localqueue" is not allowed`, `must use LocalQueue "`+nsA+`-localqueue"`)
	if err := relabel(`{"stage":"eval"}`); err != nil {
		t.Errorf("alice adding an unrelated label to her Job: %v", err)
	}
	if j, err := f.admin.BatchV1().Jobs(nsA).Get(ctx, "alice-train", metav1.GetOptions{}); err != nil {
		t.Errorf("get alice-train: %v", err)
	} else if j.Labels[labelQueue] != nsA+"-localqueue" || j.Labels["stage"] != "eval" {
		t.Errorf("alice-train labels %v: want team-a's queue kept and stage=eval", j.Labels)
	}
	bg := metav1.DeletePropagationBackground
	if err := f.admin.BatchV1().Jobs(nsA).Delete(ctx, "alice-train", metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
		t.Errorf("delete alice-train: %v", err)
	}
	if err := f.admin.AppsV1().ReplicaSets(nsA).Delete(ctx, "trainers", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete trainers: %v", err)
	}

	m := f.hp.Metrics(t)
	for decision, least := range map[string]float64{"denied": 5, "patched": 4} {
		d := `decision="` + decision + `"`
		if n := m.Sum("hyperplace_webhook_admissions_total", d) - before.Sum("hyperplace_webhook_admissions_total", d); n < least {
			t.Errorf("hyperplace_webhook_admissions_total{%s} rose by %v, want at least %v", d, n, least)
		}
	}
	deleteNamespacePods(ctx, t, f.admin, nsA)
	deleteNamespacePods(ctx, t, f.admin, nsB)
}

// Golden captures: the bodies the real kube-scheduler sends to hyperplace, recorded by a proxy
// in front of it. Names mode (the manifest's configuration): one filter, one prioritize, one
// bind; full-node mode (nodeCacheCapable: false): one filter. They go to the cluster's log folder,
// and to extender/testdata/captured/ when HYPERPLACE_E2E_UPDATE_CAPTURES=1.
func (f *fixture) testGoldenCaptures(t *testing.T) {
	ctx := t.Context()
	const scenario = "golden"
	ns := teamNamespace(ctx, t, f.admin, "golden")
	f.makeNodes(ctx, t, scenario, p5_48xlarge, []layout{
		{"nn-golden-l1", "nn-golden-l2-a", "nn-golden-l3-a", 2},
		{"nn-golden-l1", "nn-golden-l2-b", "nn-golden-l3-b", 1},
	})
	proxy := startCaptureProxy(t, f.hp)
	defer func() {
		f.c.StopScheduler()
		f.c.StartScheduler(f.schedulerConfig)
	}()
	gpus := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("90"),
		corev1.ResourceMemory: resource.MustParse("900Gi"),
		resourceGPU:           resource.MustParse("4"),
		resourceEFA:           resource.MustParse("16"),
	}
	run := func(mode, podName string, nodeCacheCapable bool) (filter, prioritize, bind []byte) {
		f.c.StopScheduler()
		f.c.StartScheduler(schedulerConfigFromManifest(t, proxy.URL, nil, f.schedulerKubeconfig, func(ext map[string]any) {
			ext["nodeCacheCapable"] = nodeCacheCapable
		}))
		pod := podOpts{ns: ns, name: podName, scenario: scenario,
			labels: teamLabels(ns, map[string]string{labelPodGroup: "golden-" + mode}),
			annotations: map[string]string{
				annotGroupTotal: "2", annotPreferTopo: labelLayer3,
			},
			requests: gpus,
		}.build()
		createPods(ctx, t, f.admin, []*corev1.Pod{pod})
		waitBound(ctx, t, f.admin, ns, podName)
		isPod := func(b []byte) bool { n, p := extenderArgsPod(b); return n == ns && p == podName }
		return proxy.Find("filter", isPod), proxy.Find("prioritize", isPod), proxy.Find("bind", isPod)
	}
	filter, prioritize, bind := run("names", "golden-names-0", true)
	fullFilter, _, _ := run("full", "golden-full-0", false)

	type shape struct {
		Pod       map[string]any
		Nodes     *struct{ Items []map[string]any }
		NodeNames *[]string
	}
	check := func(what string, body []byte, full bool) {
		if body == nil {
			t.Errorf("%s: not captured", what)
			return
		}
		var s shape
		if err := json.Unmarshal(body, &s); err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
		if s.Pod == nil {
			t.Errorf("%s: no Pod", what)
		}
		if full && (s.Nodes == nil || len(s.Nodes.Items) != 3 || s.NodeNames != nil) {
			t.Errorf("%s: want Nodes with 3 items and NodeNames null: %.300s", what, body)
		}
		if !full && (s.NodeNames == nil || len(*s.NodeNames) != 3 || s.Nodes != nil) {
			t.Errorf("%s: want NodeNames with 3 names and Nodes null: %.300s", what, body)
		}
	}
	check("names-mode filter", filter, false)
	check("names-mode prioritize", prioritize, false)
	check("full-node filter", fullFilter, true)
	var b struct{ PodName, PodNamespace, PodUID, Node string }
	if bind == nil || json.Unmarshal(bind, &b) != nil || b.PodName != "golden-names-0" || b.PodNamespace != ns || b.PodUID == "" || b.Node == "" {
		t.Errorf("bind body: %s", bind)
	}
	// No credential may end up in the repository.
	all := map[string][]byte{
		"filter_names.json": filter, "prioritize_names.json": prioritize, "bind.json": bind,
		"filter_full_nodes.json": fullFilter,
	}
	for name, body := range all {
		for _, u := range harness.DefaultUsers {
			if tok := f.c.Token(u.Name); strings.Contains(string(body), tok) {
				t.Fatalf("%s contains the token of %s", name, u.Name)
			}
		}
		for _, secret := range []string{"BEGIN PRIVATE KEY", "BEGIN RSA PRIVATE KEY", "BEGIN EC PRIVATE KEY", "Bearer ", "\"token\""} {
			if strings.Contains(string(body), secret) {
				t.Fatalf("%s contains %q", name, secret)
			}
		}
	}
	if t.Failed() {
		return
	}
	dirs := []string{filepath.Join(f.c.LogDir, "captured")}
	if os.Getenv("HYPERPLACE_E2E_UPDATE_CAPTURES") == "1" {
		dirs = append(dirs, repoPath("extender", "testdata", "captured"))
	}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatalf("%v", err)
		}
		for name, body := range all {
			if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
				t.Fatalf("%v", err)
			}
		}
		t.Logf("captured %d request bodies into %s", len(all), dir)
	}
	for name, body := range all {
		t.Logf("  %s: %d bytes", name, len(body))
	}
	deleteNamespacePods(ctx, t, f.admin, ns)
}

// hyperplace is SIGKILLed while kube-scheduler is placing a batch of 100 pods on 8 ml.g5.xlarge
// nodes (112 slots) and started again on the same port: scheduling resumes through the new
// process, every pod ends bound exactly once, and no node exceeds 14 pods (the new process
// rebuilds its counts from the apiserver).
func (f *fixture) testKilledMidBatch(t *testing.T) {
	ctx := t.Context()
	const scenario = "chaos"
	ns := teamNamespace(ctx, t, f.admin, "chaos")
	f.makeNodes(ctx, t, scenario, g5_xlarge, []layout{
		{"nn-chaos-l1", "nn-chaos-l2", "nn-chaos-l3-a", 4},
		{"nn-chaos-l1", "nn-chaos-l2", "nn-chaos-l3-b", 4},
	})
	rec := recordPods(t, f.admin, ns)
	const count = 100
	created := f.batchUnderWay(ctx, t, rec, ns, scenario, count, 10)
	f.hp.Kill()
	boundAtKill := rec.Bound()
	t.Logf("SIGKILLed hyperplace with %d of %d pods bound", boundAtKill, count)
	if boundAtKill >= count {
		t.Fatalf("all pods were bound before the kill: the scenario did not interrupt a batch")
	}
	time.Sleep(3 * time.Second) // kube-scheduler meets a dead extender for a while
	if got := rec.Bound(); got != boundAtKill {
		// Binds hyperplace had already sent (at most its 8 server threads' worth) may complete,
		// and the recorder sees binds with a watch's delay; nothing else may bind while the only
		// binder is down (a fallback binder would place hundreds of pods in these 3 s).
		t.Logf("%d pods bound while hyperplace was down (binds in flight at the kill)", got-boundAtKill)
		if got-boundAtKill > 16 {
			t.Errorf("%d pods bound while hyperplace was down", got-boundAtKill)
		}
	}
	f.hp.Start()
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	rec.WaitBound(ctx, t, count, 180*time.Second)

	rec.CheckBoundOnce(t)
	for node, pods := range rec.Placement() {
		if len(pods) > 14 {
			t.Errorf("node %s holds %d pods after the restart, ml.g5.xlarge allows 14", node, len(pods))
		}
	}
	m := f.hp.Metrics(t)
	if bound := m.Sum("hyperplace_extender_binds_total", `result="bound"`); bound < 1 {
		t.Errorf("the restarted hyperplace bound no pod (binds_total %v): scheduling did not resume through it", bound)
	} else {
		t.Logf("the restarted hyperplace bound %v pods; refused by the apiserver: %v", bound,
			m.Sum("hyperplace_extender_binds_total", `result="rejected"`))
	}
	events := scheduledEvents(ctx, t, f.admin, ns)
	noEvent := 0
	for name := range rec.Snapshot() {
		switch n := events[name]; {
		case n > 1:
			t.Errorf("pod %s has %d Scheduled events", name, n)
		case n == 0:
			noEvent++ // bound by a bind whose reply the kill cut off; the scheduler then saw it bound
		}
	}
	t.Logf("%d pods without a Scheduled event (bind completed but its reply lost in the kill)", noEvent)
	if noEvent > 16 {
		t.Errorf("%d pods lack a Scheduled event", noEvent)
	}
	deleteNamespacePods(ctx, t, f.admin, ns)
}

// batchUnderWay creates count plain team pods in ns (batch-000, ...) in the background and
// returns once `started` of them are bound, when the failure scenarios strike; the channel then
// yields the creation's error.
func (f *fixture) batchUnderWay(ctx context.Context, t *testing.T, rec *podRecorder, ns, scenario string, count, started int) <-chan error {
	t.Helper()
	var pods []*corev1.Pod
	for i := 0; i < count; i++ {
		pods = append(pods, podOpts{ns: ns, name: fmt.Sprintf("batch-%03d", i), scenario: scenario, labels: teamLabels(ns, nil)}.build())
	}
	created := make(chan error, 1)
	go func() { created <- createPodsErr(ctx, f.admin, pods) }()
	if err := wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, 120*time.Second, true,
		func(ctx context.Context) (bool, error) { return rec.Bound() >= started, nil }); err != nil {
		t.Fatalf("batch never started: %d bound", rec.Bound())
	}
	return created
}

// kube-apiserver restarts: hyperplace's watches restart (its metric says so) and its cache keeps
// following the cluster: a node created after the restart receives pods (names mode: a node
// missing from the cache is rejected), pods deleted after the restart free their slots, and the
// density cap still holds. Pods are created one at a time (each bound or refused before the
// next), so that what is checked is the cache, not binds racing the next pod's filter (see
// PodDensity/Burst). Binds after the restart must not fail.
func (f *fixture) testAPIServerRestart(t *testing.T) {
	ctx := t.Context()
	const scenario = "apiserver-restart"
	ns := teamNamespace(ctx, t, f.admin, "restart")
	first := nodeOpts{scenario: scenario, index: 0, typ: g5_xlarge, l1: "nn-rs-l1", l2: "nn-rs-l2", l3: "nn-rs-l3"}.build()
	before := f.hp.Metrics(t)
	createNodeObjects(ctx, t, f.admin, first)
	waitNodesInCache(ctx, t, f.hp, int(before.Sum("hyperplace_cache_nodes"))+1)
	rec := recordPods(t, f.admin, ns)
	pod := func(i int) *corev1.Pod {
		return podOpts{ns: ns, name: fmt.Sprintf("svc-%02d", i), scenario: scenario, labels: teamLabels(ns, nil)}.build()
	}
	// one creates pod i and waits until it is bound (or, if refuse, refused for density).
	one := func(i int, refuse bool) {
		t.Helper()
		createPods(ctx, t, f.admin, []*corev1.Pod{pod(i)})
		name := fmt.Sprintf("svc-%02d", i)
		if refuse {
			waitSchedulingFailure(ctx, t, f.admin, ns, name, reasonMaxPods, 60*time.Second)
			return
		}
		if node := waitBound(ctx, t, f.admin, ns, name); node == "" {
			t.Fatalf("%s not bound", name)
		}
	}
	for i := 0; i < 14; i++ {
		one(i, false)
	}
	one(14, true)
	one(15, true)

	f.restartAPIServer()
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true,
		func(ctx context.Context) (bool, error) {
			m := f.hp.Metrics(t)
			return m.Sum("hyperplace_kube_watch_restarts_total", `resource="nodes"`) > before.Sum("hyperplace_kube_watch_restarts_total", `resource="nodes"`) &&
				m.Sum("hyperplace_kube_watch_restarts_total", `resource="pods"`) > before.Sum("hyperplace_kube_watch_restarts_total", `resource="pods"`), nil
		})
	afterRestart := f.hp.Metrics(t)
	restarts := map[string]float64{}
	for k, v := range afterRestart {
		if strings.HasPrefix(k, "hyperplace_kube_watch_restarts_total") {
			restarts[k] = v - before[k]
		}
	}
	t.Logf("hyperplace_kube_watch_restarts_total increments: %v", restarts)
	if err != nil {
		t.Fatalf("hyperplace's node and pod watches did not both restart")
	}

	// After the restart: two bound pods go away and a second node arrives; the two pending pods
	// take the freed slots or the new node. Then 14 more come, one at a time: 12 + 2 + 14 = 28
	// = 2 × 14.
	zero := int64(0)
	onFirst := rec.Placement()[first.Name]
	if len(onFirst) != 14 {
		t.Fatalf("%d pods on %s before the deletes, want 14", len(onFirst), first.Name)
	}
	for _, name := range onFirst[:2] {
		if err := f.admin.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			t.Fatalf("delete %s: %v", name, err)
		}
	}
	second := nodeOpts{scenario: scenario, index: 1, typ: g5_xlarge, l1: "nn-rs-l1", l2: "nn-rs-l2", l3: "nn-rs-l3"}.build()
	createNodeObjects(ctx, t, f.admin, second)
	for _, name := range []string{"svc-14", "svc-15"} {
		waitBound(ctx, t, f.admin, ns, name)
	}
	for i := 16; i < 30; i++ {
		one(i, false)
	}
	placement := livePlacement(ctx, t, f.admin, ns)
	t.Logf("pods per node after the restart: %v", placementSizes(placement))
	if len(placement[second.Name]) == 0 {
		t.Errorf("no pod on %s, the node created after the apiserver restart", second.Name)
	}
	total := 0
	for node, pods := range placement {
		total += len(pods)
		if len(pods) > 14 {
			t.Errorf("node %s holds %d pods after the apiserver restart, ml.g5.xlarge allows 14", node, len(pods))
		}
	}
	if total != 28 {
		t.Errorf("%d pods bound, want 28", total)
	}
	// No room left anywhere.
	one(30, true)
	rec.CheckBoundOnce(t)
	end := f.hp.Metrics(t)
	if failed := end.Sum("hyperplace_extender_binds_total", `result="unavailable"`) -
		afterRestart.Sum("hyperplace_extender_binds_total", `result="unavailable"`); failed != 0 {
		t.Errorf("%v binds failed to reach the apiserver after it was back and ready; hyperplace log:\n%s",
			failed, grepLines(f.hp.proc.LogPath, "bind failed"))
	}
	deleteNamespacePods(ctx, t, f.admin, ns)
}

// grepLines returns the lines of a file that contain s, or why it could not be read: for
// failure messages.
func grepLines(path, s string) string {
	lines, err := matchingLines(path, s)
	if err != nil {
		return err.Error()
	}
	return strings.Join(lines, "\n")
}

// matchingLines returns the lines of a file that contain s.
func matchingLines(path, s string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out, nil
}

func pendingPods(rec *podRecorder) []string {
	var out []string
	for name, r := range rec.Snapshot() {
		if len(r.Nodes) == 0 {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// livePlacement lists the namespace's pods now: node -> pod names.
func livePlacement(ctx context.Context, t testing.TB, cs kubernetes.Interface, ns string) map[string][]string {
	t.Helper()
	l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	out := map[string][]string{}
	for _, p := range l.Items {
		if p.Spec.NodeName != "" {
			out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p.Name)
		}
	}
	return out
}

func placementSizes(p map[string][]string) map[string]int {
	out := map[string]int{}
	for k, v := range p {
		out[k] = len(v)
	}
	return out
}

// waitRunning waits until n pods of ns are Running (kwok plays their kubelet).
func waitRunning(ctx context.Context, t testing.TB, cs kubernetes.Interface, ns string, n int) {
	t.Helper()
	var running int
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true,
		func(ctx context.Context) (bool, error) {
			l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, nil
			}
			running = 0
			for _, p := range l.Items {
				if p.Status.Phase == corev1.PodRunning {
					running++
				}
			}
			return running >= n, nil
		})
	if err != nil {
		t.Errorf("%d of %d pods Running in %s (kwok): %v", running, n, ns, err)
	}
}

// ---------------------------------------------------------------------------------------------
// Manifests: every file in manifests/ applies with a server-side dry run.

func (f *fixture) testManifests(t *testing.T) {
	ctx := t.Context()
	files, err := filepath.Glob(repoPath("manifests", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	a := newApplier(t, f.c, harness.UserAdmin)
	applied := 0
	for _, file := range files {
		base := filepath.Base(file)
		if base == "kueue-example.yaml" {
			// Its Kueue objects need Kueue's CRDs and webhooks: TestKueue applies it for real.
			continue
		}
		objs := manifestObjects(t, file)
		if len(objs) == 0 {
			t.Errorf("%s: no objects", base)
		}
		for _, obj := range objs {
			gvk := obj.GroupVersionKind()
			id := fmt.Sprintf("%s: %s %s", base, gvk.Kind, obj.GetName())
			switch {
			case gvk.Kind == "KubeSchedulerConfiguration":
				// Not an API object: kube-scheduler reads it. The fixture's scheduler runs the
				// configuration derived from it (schedulerConfigFromManifest checks its fields).
				if gvk.GroupVersion().String() != "kubescheduler.config.k8s.io/v1" {
					t.Errorf("%s: apiVersion %s", id, gvk.GroupVersion())
				}
				continue
			case gvk.Group == "kueue.x-k8s.io":
				t.Errorf("%s: a Kueue object outside kueue-example.yaml", id)
				continue
			}
			if gvk.Kind == "MutatingWebhookConfiguration" {
				fillCABundle(obj, f.c.CA.CertPEM)
			}
			if _, err := a.Apply(ctx, obj, true); err != nil {
				t.Errorf("%s: dry-run apply: %v", id, err)
				continue
			}
			applied++
			for _, w := range a.TakeWarnings() {
				t.Errorf("%s: apiserver warning: %s", id, w)
			}
			if gvk.Kind == "ConfigMap" {
				checkConfigMap(t, id, obj)
			}
		}
	}
	t.Logf("%d objects from %d files applied with dryRun=All (kueue-example.yaml: in TestKueue)", applied, len(files))
}

func fillCABundle(obj *unstructured.Unstructured, ca []byte) {
	hooks, _, _ := unstructured.NestedSlice(obj.Object, "webhooks")
	for i, h := range hooks {
		hm, _ := h.(map[string]any)
		if hm == nil {
			continue
		}
		cc, _ := hm["clientConfig"].(map[string]any)
		if cc == nil {
			continue
		}
		if s, _ := cc["caBundle"].(string); s == "" || strings.Contains(s, "<") || strings.Contains(s, "$") {
			cc["caBundle"] = base64.StdEncoding.EncodeToString(ca)
		}
		hooks[i] = hm
	}
	_ = unstructured.SetNestedSlice(obj.Object, hooks, "webhooks")
}

// checkConfigMap: hyperplace accepts the configuration file the ConfigMap carries.
func checkConfigMap(t *testing.T, id string, obj *unstructured.Unstructured) {
	t.Helper()
	data, _, _ := unstructured.NestedStringMap(obj.Object, "data")
	text, ok := data["config.yaml"]
	if !ok {
		t.Errorf("%s: no data[config.yaml]", id)
		return
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := execOutput(hyperplaceBinary(t), "check-config", path)
	if err != nil {
		t.Errorf("%s: hyperplace check-config refuses data[config.yaml]: %v\n%s", id, err, out)
	}
}
