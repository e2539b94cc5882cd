package e2e_test

// The same stream of gangs placed two ways on the same nodes, both behind real Kueue quota:
// by Kueue's topology-aware scheduling (a ResourceFlavor with topologyName; Kueue picks every
// pod's node at admission and hyperplace only checks health and binds), and by hyperplace (a
// flavor without topologyName; Kueue admits by quota alone and hyperplace places the gang from
// its own annotations). A report, not a race: what must hold is only what both setups promise.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"hyperplace.dev/e2e/harness"
)

// hyperplace's own topology annotations, for jobs behind a quota-only flavor: Kueue refuses to
// admit a PodSet carrying its podset-*-topology annotations on a flavor without topologyName.
const (
	annotHPRequiredTopo = "hyperplace.dev/podset-required-topology"
	annotHPPreferTopo   = "hyperplace.dev/podset-preferred-topology"
)

// cmpJob is one gang of the stream: pods of gpus GPUs each (8: a whole ml.p5.48xlarge), with a
// required or a preferred layer-3 topology.
type cmpJob struct {
	name     string
	pods     int
	gpus     int
	required bool
}

// The stream: whole-node and smaller gangs, required and preferred, in arrival order. The first
// six take 114 of the layout's 128 GPUs; the last arrives when no rack has 4 whole nodes free.
var cmpStream = []cmpJob{
	{"pretrain-a", 4, 8, true},
	{"finetune-b", 2, 4, false},
	{"pretrain-c", 6, 8, false},
	{"eval-d", 3, 2, true},
	{"pretrain-e", 2, 8, true},
	{"sweep-f", 4, 1, false},
	{"pretrain-g", 4, 8, true},
}

// cmpResult is how one job landed.
type cmpResult struct {
	Job         string  `json:"job"`
	Pods        int     `json:"pods"`
	GPUsPerPod  int     `json:"gpus_per_pod"`
	Topology    string  `json:"topology"` // "required layer 3" or "preferred layer 3"
	Running     bool    `json:"running"`  // every pod Running within the wait
	PodsRunning int     `json:"pods_running"`
	Seconds     float64 `json:"seconds_to_running"` // creation to all pods Running (or the wait)
	Racks       int     `json:"racks"`              // layer-3 domains its running pods span
	Layer2      int     `json:"layer2_domains"`
	Nodes       int     `json:"nodes"`
	// GPUs free on partly used nodes of the layout once this job landed (all jobs so far).
	StrandedGPUs int `json:"stranded_gpus_after"`
	// Nodes with all 8 GPUs free once this job landed, healthy or not (the rebooting node counts).
	FreeNodes int `json:"free_nodes_after"`
	// GPUs taken by the running pods of the gangs (so far) that were not wholly running when their
	// wait ended: a training job waits for its last worker, and every GPU it holds meanwhile is
	// idle. Sampled at each such gang's wait, and never lowered: nothing recovers in the stream.
	IdleHeldGPUs int `json:"idle_gpus_held_by_partial_gangs_after"`
	// For a job not wholly running: its Workload's state and its pods' PodScheduled messages.
	Waiting string `json:"waiting,omitempty"`
}

// CompareWithKueueTAS: 16 ml.p5.48xlarge in two layer-2 domains (racks of 4, 3 and 2 under one,
// 5 and 2 under the other; one node of the rack of 5 labelled for a reboot). The stream is created
// job after job, each once the previous runs or a 15 s wait ends (admission and placement take
// 1-2 s): first with Kueue TAS placing it, then, on the same nodes emptied, with hyperplace placing
// it. What both setups promise is asserted: Kueue admitted every job that runs, a required gang
// that runs sits in one rack, TAS pods run on the node Kueue assigned, and quota-only pods carry
// no assignment (hyperplace chose). The figures are logged as a table and written to
// kueue-tas-comparison.json.
func (f *kueueFixture) testCompareWithKueueTAS(t *testing.T) {
	ctx := t.Context()
	const scenario = "cmp"
	// One node of the rack of 5 waits for a reboot: HyperPod's health agent labelled it
	// UnschedulablePendingReboot without a taint, an ordinary state of a large cluster.
	rebooting := func(k int, o *nodeOpts) {
		if k == 4 {
			o.health = "UnschedulablePendingReboot"
		}
	}
	nodes := f.p5Nodes(t, scenario,
		p5Rack{l2: "x", nodes: 4}, p5Rack{l2: "x", nodes: 3}, p5Rack{l2: "x", nodes: 2},
		p5Rack{l2: "y", nodes: 5, edit: rebooting}, p5Rack{l2: "y", nodes: 2})
	byName := map[string]*corev1.Node{}
	for _, n := range nodes {
		byName[n.Name] = n
	}

	// A flavor of the same nodes without topologyName: Kueue counts quota only.
	quotaFlavor := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ResourceFlavor",
		"metadata": map[string]any{"name": "ml-p5-48xlarge-quota"},
		"spec":     map[string]any{"nodeLabels": map[string]any{labelInstanceType: p5_48xlarge.name}},
	}}
	f.createKueueObject(t, quotaFlavor, "resourceflavors")
	t.Cleanup(func() { f.deleteKueueObject(t, quotaFlavor, "resourceflavors") })

	tas := f.runStream(t, "tas", "ml-p5-48xlarge", annotRequiredTopo, annotPreferTopo, byName)

	// hyperplace configured for the quota-only setup: its topology requests under its own keys.
	cfg := filepath.Join(f.c.Dir, "hyperplace-quota-only.yaml")
	body := fmt.Sprintf("cluster:\n  requiredTopologyAnnotation: %s\n  preferredTopologyAnnotation: %s\n",
		annotHPRequiredTopo, annotHPPreferTopo)
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	args := f.hp.args
	f.hp.args = append(append([]string(nil), args...), "--config", cfg)
	f.hp.Kill()
	f.hp.Start()
	defer func() { // the shipped configuration again, for whatever runs after
		f.hp.args = args
		f.hp.Kill()
		f.hp.Start()
	}()
	waitNodesInCache(ctx, t, f.hp, len(nodes))
	own := f.runStream(t, "hp", "ml-p5-48xlarge-quota", annotHPRequiredTopo, annotHPPreferTopo, byName)

	t.Logf("the same stream on 16 ml.p5.48xlarge (racks x: 4, 3, 2; y: 5 with one rebooting, 2), placed by Kueue TAS | by hyperplace:")
	t.Logf("  %-11s %-5s %-9s | %-7s %5s %3s %3s %8s %4s | %-7s %5s %3s %3s %8s %4s", "job", "pods", "topology",
		"running", "secs", "l3", "l2", "stranded", "idle", "running", "secs", "l3", "l2", "stranded", "idle")
	for i := range cmpStream {
		a, b := tas[i], own[i]
		row := func(r cmpResult) string {
			run := "yes"
			if !r.Running {
				run = fmt.Sprintf("%d/%d", r.PodsRunning, r.Pods)
			}
			return fmt.Sprintf("%-7s %5.1f %3d %3d %8d %4d", run, r.Seconds, r.Racks, r.Layer2, r.StrandedGPUs, r.IdleHeldGPUs)
		}
		t.Logf("  %-11s %dx%-3d %-9s | %s | %s", a.Job, a.Pods, a.GPUsPerPod, strings.Fields(a.Topology)[0], row(a), row(b))
	}
	report := map[string]any{
		"layout":     "16 ml.p5.48xlarge (8 GPUs each); layer-2 x: racks of 4, 3, 2; layer-2 y: racks of 5 (one labelled UnschedulablePendingReboot, no taint), 2",
		"kueue_tas":  tas,
		"hyperplace": own,
	}
	writeResult(t, f.c, "kueue-tas-comparison.json", report)
}

// runStream runs cmpStream in a fresh team namespace hyperpod-ns-cmp-<mode> whose ClusterQueue
// admits it on flavor (twice the layout's capacity in quota, no cohort: capacity binds, not
// quota), with topology requests under the given annotation keys, and deletes the jobs, queues,
// pods and namespace afterwards.
func (f *kueueFixture) runStream(t *testing.T, mode, flavor, requiredKey, preferredKey string, byName map[string]*corev1.Node) []cmpResult {
	t.Helper()
	ctx := t.Context()
	ns := teamNamespace(ctx, t, f.admin, "cmp-"+mode)
	t.Cleanup(func() {
		if err := f.admin.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete namespace %s: %v", ns, err)
		}
	})
	cq, lq := teamQueues(ns, "", flavor, quota{cpu: "6144", memory: "64Ti", gpus: "256", pods: "784"})
	f.createKueueObject(t, cq, "clusterqueues")
	f.createKueueObject(t, lq, "localqueues")
	// hyperplace's webhook writes only queues its watch has seen: wait for it.
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true,
		func(ctx context.Context) (bool, error) {
			p := podOpts{ns: ns, name: "queue-probe", scenario: "cmp", asUserSends: true}.build()
			got, err := f.admin.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			return err == nil && got.Labels[labelQueue] == lq.GetName(), nil
		}); err != nil {
		t.Fatalf("hyperplace's webhook never labelled a pod of %s with %s", ns, lq.GetName())
	}
	defer func() {
		for _, j := range cmpStream {
			f.deleteJob(t, ns, j.name)
		}
		f.deleteKueueObject(t, lq, "localqueues")
		f.deleteKueueObject(t, cq, "clusterqueues")
	}()

	var out []cmpResult
	held := 0
	for _, j := range cmpStream {
		req := requestList("nvidia.com/gpu", strconv.Itoa(j.gpus), "cpu", strconv.Itoa(23*j.gpus),
			"memory", fmt.Sprintf("%dGi", 237*j.gpus))
		key, topo := preferredKey, "preferred layer 3"
		if j.required {
			key, topo = requiredKey, "required layer 3"
		}
		annotations := map[string]string{key: labelLayer3, annotGroupTotal: strconv.Itoa(j.pods)}
		job := gangJob(ns, "cmp", j.name, j.pods, req, annotations, nil)
		began := time.Now()
		if _, err := f.admin.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
			t.Fatalf("%s: create Job %s: %v", mode, j.name, err)
		}
		r := cmpResult{Job: j.name, Pods: j.pods, GPUsPerPod: j.gpus, Topology: topo}
		var running []corev1.Pod
		_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 15*time.Second, true,
			func(ctx context.Context) (bool, error) {
				// The last call may come with the wait's context cancelled: keep the last list.
				if p, err := f.jobPodsRunning(ctx, ns, j.name); err == nil {
					running = p
				}
				return len(running) == j.pods, nil
			})
		r.Seconds = time.Since(began).Seconds()
		r.PodsRunning, r.Running = len(running), len(running) == j.pods
		racks, l2s, hosts := map[string]bool{}, map[string]bool{}, map[string]bool{}
		for _, p := range running {
			n := byName[p.Spec.NodeName]
			if n == nil {
				t.Errorf("%s: pod %s runs on %q, not a node of the layout", mode, p.Name, p.Spec.NodeName)
				continue
			}
			racks[n.Labels[labelLayer3]], l2s[n.Labels[labelLayer2]], hosts[n.Name] = true, true, true
			assigned := p.Spec.NodeSelector["kubernetes.io/hostname"]
			switch {
			case flavor == "ml-p5-48xlarge" && assigned != n.Name:
				t.Errorf("%s: pod %s on %s, Kueue TAS assigned %q", mode, p.Name, n.Name, assigned)
			case flavor != "ml-p5-48xlarge" && assigned != "":
				t.Errorf("%s: pod %s carries a node assignment %q on a quota-only flavor", mode, p.Name, assigned)
			}
		}
		r.Racks, r.Layer2, r.Nodes = len(racks), len(l2s), len(hosts)
		if !r.Running {
			r.Waiting = f.whyWaiting(ctx, ns, j.name)
			t.Logf("%s: %s not running: %s", mode, j.name, r.Waiting)
		}
		if r.Running {
			if wl := f.workload(ctx, ns, j.name); wl == nil {
				t.Errorf("%s: Job %s runs without a Workload", mode, j.name)
			} else if ok, why := condition(wl, "Admitted"); !ok {
				t.Errorf("%s: Job %s runs but its Workload is not Admitted: %s", mode, j.name, why)
			}
			if j.required && r.Racks != 1 {
				t.Errorf("%s: required gang %s runs across %d racks", mode, j.name, r.Racks)
			}
		}
		r.StrandedGPUs, r.FreeNodes = f.gpuFragments(t, byName)
		if !r.Running {
			held += r.PodsRunning * j.gpus
		}
		r.IdleHeldGPUs = held
		t.Logf("%s: %s %dx%d GPU (%s): %d/%d running after %.1fs on %d nodes, %d racks, %d layer-2; stranded %d GPUs, %d whole nodes free, %d GPUs idle in partial gangs",
			mode, j.name, j.pods, j.gpus, topo, r.PodsRunning, j.pods, r.Seconds, r.Nodes, r.Racks, r.Layer2, r.StrandedGPUs, r.FreeNodes, r.IdleHeldGPUs)
		out = append(out, r)
	}
	return out
}

// whyWaiting says why a Job is not wholly running: its Workload's QuotaReserved and Admitted
// conditions, and each pending pod's PodScheduled message (pods with the same message folded).
func (f *kueueFixture) whyWaiting(ctx context.Context, ns, job string) string {
	var parts, pods []string
	if wl := f.workload(ctx, ns, job); wl == nil {
		parts = append(parts, "no Workload")
	} else {
		for _, c := range []string{"QuotaReserved", "Admitted"} {
			_, msg := condition(wl, c)
			parts = append(parts, c+": "+msg)
		}
	}
	l, err := f.admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + job})
	if err != nil {
		return strings.Join(append(parts, err.Error()), "; ")
	}
	pending := map[string]int{}
	for _, p := range l.Items {
		if p.Status.Phase == corev1.PodRunning {
			continue
		}
		why := string(p.Status.Phase)
		if len(p.Spec.SchedulingGates) > 0 {
			why += " gated"
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				why += ": " + c.Message
			}
		}
		pending[why]++
	}
	for why, n := range pending {
		pods = append(pods, fmt.Sprintf("%d pods %s", n, why))
	}
	sort.Strings(pods)
	return strings.Join(append(parts, pods...), "; ")
}

// gpuFragments counts, over the layout's nodes, the GPUs free on partly used nodes (stranded for
// whole-node jobs) and the nodes with all 8 free, from the pods bound to them now.
func (f *kueueFixture) gpuFragments(t *testing.T, byName map[string]*corev1.Node) (stranded, free int) {
	t.Helper()
	used := map[string]int64{}
	l, err := f.admin.CoreV1().Pods("").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	for _, p := range l.Items {
		if _, ok := byName[p.Spec.NodeName]; !ok || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, c := range p.Spec.Containers {
			if q, ok := c.Resources.Requests[resourceGPU]; ok {
				used[p.Spec.NodeName] += q.Value()
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		total := byName[n].Status.Allocatable.Name(resourceGPU, "").Value()
		switch u := used[n]; {
		case u == 0:
			free++
		case u < total:
			stranded += int(total - u)
		}
	}
	return stranded, free
}

// createKueueObject creates a cluster-scoped or namespaced Kueue object as admin.
func (f *kueueFixture) createKueueObject(t *testing.T, obj *unstructured.Unstructured, resource string) {
	t.Helper()
	if _, err := f.dyn.Resource(kueueGVR(resource)).Namespace(obj.GetNamespace()).Create(t.Context(), obj, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create %s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
}

// deleteKueueObject deletes it and waits until it is gone (Kueue's finalizers first).
func (f *kueueFixture) deleteKueueObject(t *testing.T, obj *unstructured.Unstructured, resource string) {
	t.Helper()
	ri := f.dyn.Resource(kueueGVR(resource)).Namespace(obj.GetNamespace())
	if err := ri.Delete(context.Background(), obj.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete %s %s: %v", obj.GetKind(), obj.GetName(), err)
		return
	}
	if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 30*time.Second, true,
		func(ctx context.Context) (bool, error) {
			_, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		}); err != nil {
		t.Errorf("%s %s not gone", obj.GetKind(), obj.GetName())
	}
}

// writeResult writes v as indented JSON to name in the cluster's log folder and in
// $HYPERPLACE_E2E_RESULTS_DIR.
func writeResult(t *testing.T, c *harness.Cluster, name string, v any) {
	t.Helper()
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for _, path := range saveResult(t, c, "", name, append(out, '\n')) {
		t.Logf("wrote %s", path)
	}
}

// saveResult writes data to name in the cluster's log folder and in
// $HYPERPLACE_E2E_RESULTS_DIR/subdir, and returns the paths written (the results folder's last).
func saveResult(t *testing.T, c *harness.Cluster, subdir, name string, data []byte) []string {
	t.Helper()
	dirs := []string{c.LogDir}
	if d := os.Getenv("HYPERPLACE_E2E_RESULTS_DIR"); d != "" {
		dirs = append(dirs, filepath.Join(d, subdir))
	}
	var paths []string
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(d, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	return paths
}
