package e2e_test

// Scenarios whose pods request accelerators (subtests of TestHyperplace; DESIGN §1 "Resources",
// §2.2 "Resources" and "Copies that fit", §2.3 "Packing"). Nodes report status.allocatable as
// HyperPod instances do (nvidia.com/gpu or aws.amazon.com/neuron, vpc.amazonaws.com/efa, cpu,
// memory, pods) and pods request them, so a rack holds as many whole-node pods as it has free
// nodes, however many pod slots it has. kube-scheduler's NodeResourcesFit checks the same
// resources node by node (it runs before the extender, so a node without room never reaches
// hyperplace); which rack a gang goes to, and which partly used node a pod fills, is hyperplace's
// decision. Each scenario's nodes carry its own scenario label and are deleted afterwards.

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// requestList builds a ResourceList from name, quantity pairs.
func requestList(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i+1 < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

var (
	// A distributed-training pod that takes a whole ml.p5.48xlarge: its 8 GPUs and 32 EFA
	// interfaces, most of its CPU and memory.
	wholeP5 = requestList("nvidia.com/gpu", "8", "vpc.amazonaws.com/efa", "32", "cpu", "184", "memory", "1900Gi")
	// Half of one: 4 GPUs, 16 EFA.
	halfP5 = requestList("nvidia.com/gpu", "4", "vpc.amazonaws.com/efa", "16", "cpu", "48", "memory", "480Gi")
	// A notebook with one GPU and little else: it leaves room for everything but a GPU.
	oneGPU = requestList("nvidia.com/gpu", "1", "cpu", "4", "memory", "32Gi")
	// A whole ml.trn1.32xlarge: its 16 Trainium devices and 8 EFA interfaces.
	wholeTrn1 = requestList("aws.amazon.com/neuron", "16", "vpc.amazonaws.com/efa", "8", "cpu", "120", "memory", "460Gi")
)

// rack is a layer-3 domain of n nodes; the first `unhealthy` carry node-health-status
// Unschedulable.
type rack struct {
	l1, l2, l3   string
	n, unhealthy int
}

// accelRun is one accelerator scenario: its nodes, namespace and pod recorder.
type accelRun struct {
	f        *fixture
	t        *testing.T
	scenario string
	ns       string
	nodes    []*corev1.Node // in creation order
	rec      *podRecorder
	before   metricSet // hyperplace's metrics once the nodes were cached
	// preview is what hyperplace answered for the scenario's first pod just before it was
	// created (see previewFirst), logged if the test fails.
	preview []string
}

// accelScenario creates the racks' nodes of type typ (rack after rack, in order), waits until
// hyperplace caches them, creates the team namespace hyperpod-ns-<scenario> and starts recording
// its pods. At the end of the test (passed or not) the pods and then the nodes are deleted; when
// the test failed, where every pod is and what hyperplace now answers for the pending ones are
// logged first.
func (f *fixture) accelScenario(t *testing.T, scenario string, typ instanceType, racks []rack) *accelRun {
	t.Helper()
	ctx := t.Context()
	s := &accelRun{f: f, t: t, scenario: scenario}
	i := 0
	for _, r := range racks {
		for k := 0; k < r.n; k++ {
			o := nodeOpts{scenario: scenario, index: i, typ: typ, l1: r.l1, l2: r.l2, l3: r.l3}
			if k < r.unhealthy {
				o.health = "Unschedulable"
			}
			s.nodes = append(s.nodes, o.build())
			i++
		}
	}
	cached := f.hp.Metrics(t).Sum("hyperplace_cache_nodes")
	t.Cleanup(func() { f.deleteScenarioNodes(t, scenario, cached) })
	createNodeObjects(ctx, t, f.admin, s.nodes...)
	waitNodesInCache(ctx, t, f.hp, int(cached)+len(s.nodes))

	s.ns = teamNamespace(ctx, t, f.admin, scenario)
	t.Cleanup(func() { deleteNamespacePods(context.Background(), t, f.admin, s.ns) })
	s.rec = recordPods(t, f.admin, s.ns)
	s.before = f.hp.Metrics(t)
	t.Cleanup(func() {
		if t.Failed() {
			s.explain()
		}
	})
	return s
}

// rack returns the names of the nodes of layer-3 domain l3, in creation order.
func (s *accelRun) rack(l3 string) []string {
	var out []string
	for _, n := range s.nodes {
		if n.Labels[labelLayer3] == l3 {
			out = append(out, n.Name)
		}
	}
	return out
}

// occupy puts one pod requesting req on each of nodes (nodeSelector kubernetes.io/hostname, no
// group), scheduled like any other pod, and waits until kwok runs them all.
func (s *accelRun) occupy(prefix string, nodes []string, req corev1.ResourceList) {
	s.t.Helper()
	var pods []*corev1.Pod
	for i, node := range nodes {
		pods = append(pods, podOpts{ns: s.ns, name: fmt.Sprintf("%s-%d", prefix, i), scenario: s.scenario,
			labels: teamLabels(s.ns, nil), nodeSelector: map[string]string{"kubernetes.io/hostname": node},
			requests: req}.build())
	}
	createPods(s.t.Context(), s.t, s.f.admin, pods)
	s.waitRunning(podNames(pods), 60*time.Second)
	for _, p := range pods {
		if got := s.nodeOf(p.Name); got != p.Spec.NodeSelector["kubernetes.io/hostname"] {
			s.t.Fatalf("%s on %q, want %s", p.Name, got, p.Spec.NodeSelector["kubernetes.io/hostname"])
		}
	}
}

func podNames(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

// nodeOf is the node the recorder last saw pod on ("" while unbound).
func (s *accelRun) nodeOf(pod string) string {
	if r, ok := s.rec.Snapshot()[pod]; ok && len(r.Nodes) > 0 {
		return r.Nodes[len(r.Nodes)-1]
	}
	return ""
}

// waitRunning waits until every named pod is Running (kwok plays its kubelet); it reports those
// that are not, with their PodScheduled condition.
func (s *accelRun) waitRunning(pods []string, timeout time.Duration) {
	s.t.Helper()
	notRunning := func() []string {
		var out []string
		snap := s.rec.Snapshot()
		for _, name := range pods {
			if r, ok := snap[name]; !ok || r.Pod == nil || r.Pod.Status.Phase != corev1.PodRunning {
				out = append(out, name)
			}
		}
		return out
	}
	if err := wait.PollUntilContextTimeout(s.t.Context(), 200*time.Millisecond, timeout, true,
		func(ctx context.Context) (bool, error) { return len(notRunning()) == 0, nil }); err != nil {
		for _, name := range notRunning() {
			s.t.Errorf("pod %s not Running after %v: %s", name, timeout, s.describe(name))
		}
	}
}

// describe is a pod's phase, node and PodScheduled condition, as last recorded.
func (s *accelRun) describe(pod string) string {
	r, ok := s.rec.Snapshot()[pod]
	if !ok || r.Pod == nil {
		return "never seen"
	}
	out := fmt.Sprintf("phase %s, node %q", r.Pod.Status.Phase, r.Pod.Spec.NodeName)
	for _, c := range r.Pod.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			out += fmt.Sprintf(", PodScheduled=%s %s: %s", c.Status, c.Reason, c.Message)
		}
	}
	return out
}

// landing is where a pod is: its node and that node's labels as the API server has them.
type landing struct {
	pod, node, l2, l3, health string
}

func (l landing) String() string {
	if l.node == "" {
		return l.pod + " -> (unbound)"
	}
	return fmt.Sprintf("%s -> %s (layer 2 %s, layer 3 %s, %s)", l.pod, l.node, l.l2, l.l3, l.health)
}

// landings reads the node of each pod from the recorder and the node's labels from the API.
func (s *accelRun) landings(pods []string) []landing {
	s.t.Helper()
	l, err := s.f.admin.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{LabelSelector: labelScenario + "=" + s.scenario})
	if err != nil {
		s.t.Fatalf("list the nodes of %s: %v", s.scenario, err)
	}
	labels := map[string]map[string]string{}
	for _, n := range l.Items {
		labels[n.Name] = n.Labels
	}
	var out []landing
	for _, p := range pods {
		node := s.nodeOf(p)
		lab := labels[node]
		out = append(out, landing{pod: p, node: node, l2: lab[labelLayer2], l3: lab[labelLayer3], health: lab[labelHealth]})
	}
	return out
}

// expectRack checks that every pod is bound to a node of layer-3 domain want, one pod per node
// (each takes a whole node), and logs where each landed.
func (s *accelRun) expectRack(pods []string, want string) {
	s.t.Helper()
	perNode := map[string][]string{}
	for _, l := range s.landings(pods) {
		s.t.Logf("%v", l)
		switch {
		case l.node == "":
			s.t.Errorf("pod %s not placed, want it in rack %s: %s", l.pod, want, s.describe(l.pod))
		case l.l3 != want:
			s.t.Errorf("pod %s on %s in rack %s, want rack %s", l.pod, l.node, l.l3, want)
		}
		if l.node != "" {
			perNode[l.node] = append(perNode[l.node], l.pod)
		}
	}
	for node, on := range perNode {
		if len(on) > 1 {
			s.t.Errorf("node %s holds %v: each pod takes a whole node", node, on)
		}
	}
}

// expectBoundOnce checks that no pod of the namespace was bound twice or recreated, and that the
// scheduler reported at most one Scheduled event for each.
func (s *accelRun) expectBoundOnce() {
	s.t.Helper()
	s.rec.CheckBoundOnce(s.t)
	for pod, n := range scheduledEvents(context.Background(), s.t, s.f.admin, s.ns) {
		if n > 1 {
			s.t.Errorf("pod %s has %d Scheduled events, want at most 1", pod, n)
		}
	}
}

// expectNonePending waits until every pod of the namespace is Running: none is left Pending.
func (s *accelRun) expectNonePending() {
	s.t.Helper()
	var all []string
	for name := range s.rec.Snapshot() {
		all = append(all, name)
	}
	sort.Strings(all)
	s.waitRunning(all, 60*time.Second)
}

// rejections is the rise of hyperplace's rejections per reason since the nodes were cached.
func (s *accelRun) rejections() map[string]float64 {
	return rejections(s.before, s.f.hp.Metrics(s.t))
}

// explain logs, for a failed scenario, every pod's node with its rack, hyperplace's rejections
// by reason during the scenario, and for the pods still unbound their PodScheduled condition and
// what hyperplace answers now to /filter and /prioritize for them over the scenario's nodes.
func (s *accelRun) explain() {
	t := s.t
	snap := s.rec.Snapshot()
	var names []string
	for name := range snap {
		names = append(names, name)
	}
	sort.Strings(names)
	t.Logf("explain %s: where every pod is", s.scenario)
	var pending []string
	for _, l := range s.landings(names) {
		t.Logf("  %v", l)
		if l.node == "" {
			pending = append(pending, l.pod)
		}
	}
	t.Logf("explain %s: hyperplace's rejections during the scenario: %v", s.scenario, s.rejections())
	for _, line := range s.preview {
		t.Logf("  %s", line)
	}
	for i, name := range pending {
		if i == 2 {
			t.Logf("explain %s: (%d more pending pods not probed)", s.scenario, len(pending)-i)
			break
		}
		t.Logf("explain %s: %s: %s", s.scenario, name, s.describe(name))
		if pod := snap[name].Pod; pod != nil {
			for _, line := range s.probe(pod, "now") {
				t.Logf("  %s", line)
			}
		}
	}
}

// previewFirst asks hyperplace about pod (the first of the scenario's pods to be placed, not yet
// created) and keeps the answer for explain: it shows the decision the placement started from.
// /filter and /prioritize only read hyperplace's cache.
func (s *accelRun) previewFirst(pod *corev1.Pod) {
	s.preview = s.probe(pod, "before it was created")
}

// probe asks hyperplace's /filter and /prioritize, as kube-scheduler does in names mode, about pod
// on every node of the scenario, and returns the answer node by node with its rack.
func (s *accelRun) probe(pod *corev1.Pod, when string) []string {
	var names []string
	for _, n := range s.nodes {
		names = append(names, n.Name)
	}
	var filter filterReply
	var scores []struct {
		Host  string
		Score int
	}
	if err := s.f.hp.Ask("filter", pod, names, &filter); err != nil {
		return []string{fmt.Sprintf("probe /filter for %s: %v", pod.Name, err)}
	}
	var out []string
	if err := s.f.hp.Ask("prioritize", pod, names, &scores); err != nil {
		out = append(out, fmt.Sprintf("probe /prioritize for %s: %v", pod.Name, err))
	}
	score := map[string]string{}
	for _, h := range scores {
		score[h.Host] = fmt.Sprint(h.Score)
	}
	pass := map[string]bool{}
	for _, n := range filter.NodeNames {
		pass[n] = true
	}
	out = append(out, fmt.Sprintf("hyperplace's answers for %s %s (filter error %q), node by node:", pod.Name, when, filter.Error))
	for _, n := range s.nodes {
		verdict := "passes"
		if r, ok := filter.FailedNodes[n.Name]; ok {
			verdict = "rejected (resolvable): " + r
		} else if r, ok := filter.FailedAndUnresolvableNodes[n.Name]; ok {
			verdict = "rejected (unresolvable): " + r
		} else if !pass[n.Name] {
			verdict = "missing from the answer"
		}
		sc := score[n.Name]
		if sc == "" {
			sc = "-"
		}
		out = append(out, fmt.Sprintf("  %s rack %s: %s; score %s; pods %v", n.Name, n.Labels[labelLayer3], verdict, sc, s.podsOn(n.Name)))
	}
	return out
}

// podsOn lists the recorded pods on node.
func (s *accelRun) podsOn(node string) []string {
	var out []string
	for name, r := range s.rec.Snapshot() {
		if len(r.Nodes) > 0 && r.Nodes[len(r.Nodes)-1] == node {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// RequiredTopologyWholeNodeGPUs: a group of 8 pods of a whole ml.p5.48xlarge each (required layer
// 3) on racks of 3, 8 and 5 free nodes, 147, 392 and 245 pod slots: counted in pod slots every
// rack holds the group and the tightest is the rack of 3; counted in copies that fit (one per
// free node) only the rack of 8 does. Every pod lands there, one per node, all run.
func (f *fixture) testRequiredTopologyWholeNodeGPUs(t *testing.T) {
	t.Run("Burst", func(t *testing.T) { f.wholeNodeGang(t, "gpu-burst", p5_48xlarge, wholeP5, false) })
	t.Run("Serial", func(t *testing.T) { f.wholeNodeGang(t, "gpu-serial", p5_48xlarge, wholeP5, true) })
}

// RequiredTopologyWholeNodeNeuron: the same with ml.trn1.32xlarge (16 Trainium devices) and pods
// requesting all 16.
func (f *fixture) testRequiredTopologyWholeNodeNeuron(t *testing.T) {
	t.Run("Burst", func(t *testing.T) { f.wholeNodeGang(t, "neuron-burst", trn1_32xlarge, wholeTrn1, false) })
	t.Run("Serial", func(t *testing.T) { f.wholeNodeGang(t, "neuron-serial", trn1_32xlarge, wholeTrn1, true) })
}

func (f *fixture) wholeNodeGang(t *testing.T, scenario string, typ instanceType, req corev1.ResourceList, serial bool) {
	ctx := t.Context()
	d := func(s string) string { return "nn-" + scenario + "-" + s }
	s := f.accelScenario(t, scenario, typ, []rack{
		{l1: d("l1"), l2: d("l2-a"), l3: d("l3-a"), n: 3},
		{l1: d("l1"), l2: d("l2-a"), l3: d("l3-b"), n: 8}, // the only rack with 8 free nodes
		{l1: d("l1"), l2: d("l2-b"), l3: d("l3-c"), n: 5},
	})
	const size = 8
	gang := groupPods(s.ns, scenario, "pretrain", size, annotRequiredTopo, labelLayer3, req)
	s.previewFirst(gang[0])
	if err := submit(ctx, t, f.admin, s.rec, gang, serial); err != nil {
		t.Errorf("gang not placed: %v", err)
	}
	s.expectRack(podNames(gang), d("l3-b"))
	s.expectBoundOnce()
	s.expectNonePending()
	if r := s.rejections(); r["domain_too_small"] == 0 {
		t.Errorf("hyperplace rejected no node as domain_too_small (rejections %v): the racks of 3 and 5 were not turned away by the required-topology filter", r)
	}
}

// RequiredTopologyPartlyUsedRack: a required (layer 3) gang of 4 pods of a whole ml.p5.48xlarge.
// Rack a has 6 nodes, but 3 of them run a 1-GPU notebook (7 GPUs free: no room for the gang's
// pods, although plenty of pod slots, CPU and memory); rack b has 4 free nodes. Rack a holds 3
// copies, b 4: the gang lands in b. (Counting pod slots over the nodes that pass kube-scheduler's
// filters, a's 3 free nodes would be the tightest rack that holds 4 pods.)
func (f *fixture) testRequiredTopologyPartlyUsedRack(t *testing.T) {
	ctx := t.Context()
	const scenario = "gpu-partly-used"
	d := func(s string) string { return "nn-" + scenario + "-" + s }
	s := f.accelScenario(t, scenario, p5_48xlarge, []rack{
		{l1: d("l1"), l2: d("l2"), l3: d("l3-a"), n: 6},
		{l1: d("l1"), l2: d("l2"), l3: d("l3-b"), n: 4},
	})
	s.occupy("notebook", s.rack(d("l3-a"))[:3], oneGPU)
	gang := groupPods(s.ns, scenario, "pretrain", 4, annotRequiredTopo, labelLayer3, wholeP5)
	s.previewFirst(gang[0])
	if err := submit(ctx, t, f.admin, s.rec, gang, false); err != nil {
		t.Errorf("gang not placed: %v", err)
	}
	s.expectRack(podNames(gang), d("l3-b"))
	s.expectBoundOnce()
	s.expectNonePending()
	if r := s.rejections(); r["domain_too_small"] == 0 {
		t.Errorf("hyperplace rejected no node as domain_too_small (rejections %v): rack a's free nodes were not turned away", r)
	}
}

// RequiredTopologyUnhealthyRack: a required (layer 3) gang of 6 whole-node pods. Rack a has 8
// ml.p5.48xlarge, 3 of them labelled Unschedulable by HyperPod's health agent: 5 copies; rack b
// has 6 healthy nodes. The gang avoids a (too small once its unhealthy nodes count for nothing)
// and lands in b; no pod touches an unhealthy node.
func (f *fixture) testRequiredTopologyUnhealthyRack(t *testing.T) {
	ctx := t.Context()
	const scenario = "gpu-unhealthy-rack"
	d := func(s string) string { return "nn-" + scenario + "-" + s }
	s := f.accelScenario(t, scenario, p5_48xlarge, []rack{
		{l1: d("l1"), l2: d("l2"), l3: d("l3-a"), n: 8, unhealthy: 3},
		{l1: d("l1"), l2: d("l2"), l3: d("l3-b"), n: 6},
	})
	gang := groupPods(s.ns, scenario, "pretrain", 6, annotRequiredTopo, labelLayer3, wholeP5)
	s.previewFirst(gang[0])
	if err := submit(ctx, t, f.admin, s.rec, gang, false); err != nil {
		t.Errorf("gang not placed: %v", err)
	}
	s.expectRack(podNames(gang), d("l3-b"))
	for _, l := range s.landings(podNames(gang)) {
		if l.node != "" && l.health != "Schedulable" {
			t.Errorf("pod %s on %s, whose health is %s", l.pod, l.node, l.health)
		}
	}
	s.expectBoundOnce()
	s.expectNonePending()
	r := s.rejections()
	if r["node_unhealthy"] == 0 {
		t.Errorf("hyperplace rejected no node as node_unhealthy (rejections %v)", r)
	}
	if r["domain_too_small"] == 0 {
		t.Errorf("hyperplace rejected no node as domain_too_small (rejections %v): rack a's healthy nodes were not turned away", r)
	}
	// `hyperplace topology`: the gang in rack b, and rack a's 3 unhealthy nodes named with why.
	report := f.checkTopologyReport(t, s.ns, "pretrain", s.rec.Placement(), topoWant{
		sharedLevels: 3, domain: d("l3-b"), spans: []int{1, 1, 1}, required: ptrBool(true),
	})
	if a := report.Cluster.find(d("l3-a")); a == nil {
		t.Errorf("the tree has no rack %s", d("l3-a"))
	} else {
		unhealthy := 0
		for _, n := range a.NodeList {
			if !n.Healthy {
				unhealthy++
				if len(n.Problems) == 0 || !strings.HasPrefix(n.Problems[0], "health ") {
					t.Errorf("unhealthy node %s reported with problems %q, want its health label", n.Name, n.Problems)
				}
			}
		}
		if a.Nodes != 8 || a.HealthyNodes != 5 || unhealthy != 3 {
			t.Errorf("rack %s reported with %d nodes, %d healthy, %d marked; want 8, 5, 3", d("l3-a"), a.Nodes, a.HealthyNodes, unhealthy)
		}
	}
}

// PreferredTopologyWholeNodeGPUs: a preferred (layer 3) gang of 10 whole-node pods where no rack
// holds it. As Kueue places a workload that outgrows its preferred level: every pod under one
// layer-2 domain, in as few of its racks as hold 10 (two here), one pod per node.
//
// Burst, Serial: layer-2 domain a has racks of 3 and 8 ml.p5.48xlarge, b racks of 5 and 6; each
// holds 11 copies. (A placement counted in pod slots starts in the rack of 3, 147 slots, and spills
// into the rack of 8 beside it, which meets the same rule: this layout does not tell copies from
// pod slots.)
// TightestDomain (serial): a has racks of 3 and 9 (12 copies), b racks of 4 and 7 (11): the gang
// goes under b, the tightest layer-2 domain that holds it. Counted in pod slots the rack of 3 (147)
// would hold the group, and the gang would stay under a.
func (f *fixture) testPreferredTopologyWholeNodeGPUs(t *testing.T) {
	layout := func(a1, b1, a2, b2 int) func(d func(string) string) []rack {
		return func(d func(string) string) []rack {
			return []rack{
				{l1: d("l1"), l2: d("l2-a"), l3: d("l3-a1"), n: a1},
				{l1: d("l1"), l2: d("l2-b"), l3: d("l3-b1"), n: b1},
				{l1: d("l1"), l2: d("l2-a"), l3: d("l3-a2"), n: a2},
				{l1: d("l1"), l2: d("l2-b"), l3: d("l3-b2"), n: b2},
			}
		}
	}
	t.Run("Burst", func(t *testing.T) { f.preferredWholeNode(t, "gpu-pref-burst", false, layout(3, 5, 8, 6), "") })
	t.Run("Serial", func(t *testing.T) { f.preferredWholeNode(t, "gpu-pref-serial", true, layout(3, 5, 8, 6), "") })
	t.Run("TightestDomain", func(t *testing.T) {
		f.preferredWholeNode(t, "gpu-pref-tightest", true, layout(3, 4, 9, 7), "l2-b")
	})
}

// preferredWholeNode places the gang of 10 on the racks and checks it is under one layer-2
// domain (wantL2, if given), in exactly two racks.
func (f *fixture) preferredWholeNode(t *testing.T, scenario string, serial bool, racks func(d func(string) string) []rack, wantL2 string) {
	ctx := t.Context()
	d := func(s string) string { return "nn-" + scenario + "-" + s }
	s := f.accelScenario(t, scenario, p5_48xlarge, racks(d))
	const size = 10
	gang := groupPods(s.ns, scenario, "finetune", size, annotPreferTopo, labelLayer3, wholeP5)
	s.previewFirst(gang[0])
	if err := submit(ctx, t, f.admin, s.rec, gang, serial); err != nil {
		t.Errorf("gang not placed: %v", err)
	}
	l2, l3 := map[string]int{}, map[string]int{}
	perNode := map[string][]string{}
	for _, l := range s.landings(podNames(gang)) {
		t.Logf("%v", l)
		if l.node == "" {
			t.Errorf("pod %s not placed: %s", l.pod, s.describe(l.pod))
			continue
		}
		l2[l.l2]++
		l3[l.l3]++
		perNode[l.node] = append(perNode[l.node], l.pod)
	}
	t.Logf("placement by layer 2 %v, by layer 3 %v", l2, l3)
	switch {
	case wantL2 != "" && (len(l2) != 1 || l2[d(wantL2)] != size):
		t.Errorf("gang under layer-2 domains %v; want all %d under %s (the tightest that holds them)", l2, size, d(wantL2))
	case len(l2) != 1:
		t.Errorf("gang under layer-2 domains %v; want all %d under one", l2, size)
	}
	if len(l3) != 2 {
		t.Errorf("gang in racks %v; want exactly 2 (no rack holds 10, two of one layer-2 domain do)", l3)
	}
	for node, on := range perNode {
		if len(on) > 1 {
			t.Errorf("node %s holds %v: each pod takes a whole node", node, on)
		}
	}
	s.expectBoundOnce()
	s.expectNonePending()
}

// AcceleratorPacking: a 4-GPU pod goes to the ml.p5.48xlarge whose other 4 GPUs are in use (a
// Running 4-GPU pod there), not to the empty node, nor to the node with all 8 GPUs free that runs
// three CPU-only pods (the one that counting pod slots would pack onto), so that whole nodes stay
// whole for whole-node jobs. kube-scheduler's own LeastAllocated scoring favours the emptier
// nodes; hyperplace's preference must outweigh it.
func (f *fixture) testAcceleratorPacking(t *testing.T) {
	const scenario = "gpu-packing"
	d := func(s string) string { return "nn-" + scenario + "-" + s }
	s := f.accelScenario(t, scenario, p5_48xlarge, []rack{
		{l1: d("l1"), l2: d("l2"), l3: d("l3"), n: 3},
	})
	half, empty, agents := s.nodes[0].Name, s.nodes[1].Name, s.nodes[2].Name
	s.occupy("inference", []string{half}, halfP5)
	s.occupy("agent", []string{agents, agents, agents}, nil)
	pod := podOpts{ns: s.ns, name: "finetune", scenario: scenario, labels: teamLabels(s.ns, nil), requests: halfP5}.build()
	s.previewFirst(pod)
	createPods(t.Context(), t, f.admin, []*corev1.Pod{pod})
	got := waitBound(t.Context(), t, f.admin, s.ns, pod.Name)
	for _, l := range s.landings([]string{pod.Name}) {
		t.Logf("%v", l)
	}
	if got != half {
		which := map[string]string{empty: "the empty node", agents: "the node with 8 GPUs free and 3 CPU-only pods"}[got]
		t.Errorf("4-GPU pod on %s (%s), want %s (4 of its 8 GPUs in use)", got, which, half)
	}
	s.expectBoundOnce()
	s.expectNonePending()
}
