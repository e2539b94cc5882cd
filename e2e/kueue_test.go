package e2e_test

// hyperplace next to real task governance: Kueue v0.17.0 (its CRDs, webhooks and controller,
// built from the module proxy) and kube-controller-manager's Job controller, on their own
// control plane.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"hyperplace.dev/e2e/harness"
)

// userCarol is a member of team c, which is onboarded during the run.
const userCarol = "carol"

type kueueFixture struct {
	c     *harness.Cluster
	admin kubernetes.Interface
	dyn   dynamic.Interface
	hp    *hyperplaceProc
}

// TestKueue: one control plane with Kueue (batch/job integration), kube-controller-manager
// (Job, garbage-collector and namespace controllers), the cluster's default scheduler and, once
// the example's queues exist, hyperplace (extender and webhook, registered as shipped) and
// hyperplace's own scheduler, as on EKS.
func TestKueue(t *testing.T) {
	ctx := t.Context()
	c := harness.Start(t, harness.Options{NoScheduler: true, Kwok: true, Users: []harness.User{
		{Name: userCarol, Groups: []string{"hyperpod-ns-team-c-namespace-level-group"}},
	}})
	// Kueue's CRDs first: the garbage collector learns resources at its start and then only at its
	// periodic discovery resync (30 s), so a Workload would outlive its deleted Job until then.
	c.StartKueue(harness.KueueOptions{})
	c.StartControllerManager()
	c.StartSchedulerNamed("default-scheduler", "leaderElection: {leaderElect: true}")
	dyn, err := dynamic.NewForConfig(c.RESTConfig(harness.UserAdmin))
	if err != nil {
		t.Fatal(err)
	}
	f := &kueueFixture{c: c, admin: c.Client(harness.UserAdmin), dyn: dyn}

	t.Run("ExampleManifests", f.testExampleManifests)
	t.Run("JobController", f.testJobController)

	applyRBAC(ctx, t, c)
	schedulerKubeconfig := applySchedulerRBAC(ctx, t, c)
	f.hp = startHyperplace(t, c, withWebhook, withExtenderTLS)
	c.StartScheduler(schedulerConfigFromManifest(t, f.hp.URL, f.hp.SchedulerTLS, schedulerKubeconfig, nil))
	applyWorkloadAuthors(ctx, t, c)
	unregister := registerWebhook(ctx, t, c, f.hp, "hyperpod-ns-team-a", "kueue-probe")
	defer unregister()

	t.Run("TeamJob", f.testTeamJob)
	t.Run("TASHealthAside", f.testTASHealthAside)
	t.Run("WatchedQueuesAndClasses", f.testWatchedQueuesAndClasses)
	t.Run("QuotaBorrowAndReclaim", f.testQuotaBorrowAndReclaim)
	t.Run("PriorityPreemption", f.testPriorityPreemption)
	t.Run("CompareWithKueueTAS", f.testCompareWithKueueTAS)
}

var kueueGVR = func(resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "kueue.x-k8s.io", Version: "v1beta2", Resource: resource}
}

// ExampleManifests: manifests/kueue-example.yaml is applied for real, as admin, through Kueue's
// webhooks (registered with failurePolicy Fail: an object they did not answer is refused), with
// no warning; Kueue then reports both teams' ClusterQueues and LocalQueues Active, which it does
// only once their flavors, topology and cohort resolve.
func (f *kueueFixture) testExampleManifests(t *testing.T) {
	ctx := t.Context()
	a := newApplier(t, f.c, harness.UserAdmin)
	objs := manifestObjects(t, repoPath("manifests", "kueue-example.yaml"))
	kinds := map[string]int{}
	for _, obj := range objs {
		id := fmt.Sprintf("%s %s", obj.GetKind(), obj.GetName())
		if _, err := a.Apply(ctx, obj, false); err != nil {
			t.Errorf("kueue-example.yaml: %s: %v", id, err)
			continue
		}
		for _, w := range a.TakeWarnings() {
			t.Errorf("kueue-example.yaml: %s: apiserver warning: %s", id, w)
		}
		kinds[obj.GetKind()]++
	}
	t.Logf("applied %v", kinds)
	checkKueueConventions(t, objs)
	for _, kind := range []string{"Topology", "ResourceFlavor", "ClusterQueue", "LocalQueue", "WorkloadPriorityClass"} {
		if kinds[kind] == 0 {
			t.Errorf("kueue-example.yaml applied no %s", kind)
		}
	}
	for _, obj := range objs {
		var res string
		switch obj.GetKind() {
		case "ClusterQueue":
			res = "clusterqueues"
		case "LocalQueue":
			res = "localqueues"
		default:
			continue
		}
		var last string
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true,
			func(ctx context.Context) (bool, error) {
				got, err := f.dyn.Resource(kueueGVR(res)).Namespace(obj.GetNamespace()).Get(ctx, obj.GetName(), metav1.GetOptions{})
				if err != nil {
					last = err.Error()
					return false, nil
				}
				ok, msg := condition(got, "Active")
				last = msg
				return ok, nil
			})
		if err != nil {
			t.Errorf("%s %s/%s not Active: %s", obj.GetKind(), obj.GetNamespace(), obj.GetName(), last)
		}
	}
}

// checkKueueConventions: what Kueue accepts is not all hyperplace needs. The Topology's levels
// are the network layers hyperplace reads, top to bottom; flavors select ml. instance types;
// LocalQueues carry HyperPod's names (the webhook's default queue); the priority classes the
// webhook defaults to exist.
func checkKueueConventions(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	var classes []string
	for _, o := range objs {
		switch name := o.GetName(); o.GetKind() {
		case "Topology":
			levels, _, _ := unstructured.NestedSlice(o.Object, "spec", "levels")
			var labels []string
			for _, l := range levels {
				lm, _ := l.(map[string]any)
				s, _ := lm["nodeLabel"].(string)
				labels = append(labels, s)
			}
			if len(labels) < 3 || labels[0] != labelLayer1 || labels[1] != labelLayer2 || labels[2] != labelLayer3 {
				t.Errorf("Topology %s levels %v: want %s, %s, %s first", name, labels, labelLayer1, labelLayer2, labelLayer3)
			}
		case "ResourceFlavor":
			it, _, _ := unstructured.NestedString(o.Object, "spec", "nodeLabels", labelInstanceType)
			if !strings.HasPrefix(it, "ml.") {
				t.Errorf("ResourceFlavor %s selects instance type %q, want an ml. type", name, it)
			}
		case "LocalQueue":
			if ns := o.GetNamespace(); name != ns+"-localqueue" {
				t.Errorf("LocalQueue %s in %s: HyperPod names it %s-localqueue", name, ns, ns)
			}
		case "WorkloadPriorityClass":
			classes = append(classes, name)
		}
	}
	for _, want := range []string{"inference-priority", "training-priority", "fine-tuning-priority"} {
		if !slices.Contains(classes, want) {
			t.Errorf("kueue-example.yaml lacks WorkloadPriorityClass %s (webhook default)", want)
		}
	}
}

// condition reports whether obj's status condition typ is True, and its reason and message.
func condition(obj *unstructured.Unstructured, typ string) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			return m["status"] == "True", fmt.Sprintf("%v %v: %v", m["status"], m["reason"], m["message"])
		}
	}
	return false, "no " + typ + " condition"
}

// JobController: a Job outside the teams' namespaces (no queue label, so Kueue leaves it alone)
// gets its pods from kube-controller-manager's Job controller; the default scheduler binds them
// to a plain node and kwok runs them, and they stay Running (kwok's pod-complete stage is off:
// the tests end their pods).
func (f *kueueFixture) testJobController(t *testing.T) {
	ctx := t.Context()
	const scenario = "job-controller"
	node := nodeOpts{scenario: scenario, index: 0, typ: m5_large}.build()
	createNodeObjects(ctx, t, f.admin, node)
	ns := sharedNamespace(ctx, t, f.admin, "platform-batch")
	pod := podOpts{ns: ns, name: "unused", scenario: scenario}.build()
	parallel := int32(3)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly-report", Namespace: ns},
		Spec: batchv1.JobSpec{
			Parallelism: &parallel, Completions: &parallel,
			Template: corev1.PodTemplateSpec{Spec: pod.Spec},
		},
	}
	if _, err := f.admin.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Job: %v", err)
	}
	var pods []corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true,
		func(ctx context.Context) (bool, error) {
			l, err := f.admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=nightly-report"})
			if err != nil {
				return false, nil
			}
			pods = l.Items
			running := 0
			for _, p := range pods {
				if p.Status.Phase == corev1.PodRunning && p.Spec.NodeName == node.Name {
					running++
				}
			}
			return running == int(parallel), nil
		})
	if err != nil {
		t.Fatalf("Job's pods: %d, want %d Running on %s: %v", len(pods), parallel, node.Name, describePods(pods))
	}
	// Still Running a while later: nothing completes them but the test.
	time.Sleep(3 * time.Second)
	l, err := f.admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=nightly-report"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range l.Items {
		if p.Status.Phase != corev1.PodRunning {
			t.Errorf("Job pod %s is %s, want it left Running", p.Name, p.Status.Phase)
		}
	}
	// The garbage collector removes a deleted Job's pods.
	background := metav1.DeletePropagationBackground
	if err := f.admin.BatchV1().Jobs(ns).Delete(ctx, job.Name, metav1.DeleteOptions{PropagationPolicy: &background}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true,
		func(ctx context.Context) (bool, error) {
			l, err := f.admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=nightly-report"})
			return err == nil && len(l.Items) == 0, nil
		}); err != nil {
		t.Errorf("the deleted Job's pods were not garbage-collected")
	}
}

// describePods is each pod's name, phase and node.
func describePods(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, fmt.Sprintf("%s %s on %q", p.Name, p.Status.Phase, p.Spec.NodeName))
	}
	return out
}

// TeamJob: alice creates a batch Job in her team's namespace with neither Kueue label, 4 pods of
// 8 GPUs each with required layer-3 topology. hyperplace's webhook adds her team's queue and the
// default priority; Kueue's webhook (after hyperplace's: configurations run in name order)
// suspends the Job, Kueue admits its Workload against team-a's quota, with the example's
// topology-aware flavor; the Job controller creates the pods; Kueue's topology ungater gives
// each a node (kubernetes.io/hostname) in the one rack that holds all 4 (racks of 3 and 5
// ml.p5.48xlarge); hyperplace's scheduler places them there, through hyperplace, and kwok runs
// them.
func (f *kueueFixture) testTeamJob(t *testing.T) {
	ctx := t.Context()
	const scenario = "team-job"
	ns := "hyperpod-ns-team-a"
	rackOf := f.p5Racks(t, scenario, 3, 5)
	rec := recordPods(t, f.admin, ns)
	gpu8 := requestList("nvidia.com/gpu", "8", "cpu", "184", "memory", "1900Gi")
	const size = 4
	job := gangJob(ns, scenario, "llama-pretrain", size, gpu8, map[string]string{annotRequiredTopo: labelLayer3}, nil)
	created := f.createJob(t, harness.UserAlice, job)
	if q, p := created.Labels[labelQueue], created.Labels[labelPriority]; q != ns+"-localqueue" || p != "fine-tuning-priority" {
		t.Errorf("alice's Job labelled queue %q priority %q, want %s-localqueue and fine-tuning-priority (hyperplace's webhook)", q, p, ns)
	}
	if created.Spec.Suspend == nil || !*created.Spec.Suspend {
		t.Errorf("alice's Job was not suspended at creation (Kueue's webhook did not see its queue label)")
	}

	// Kueue admits the Job's Workload.
	wl := f.waitWorkload(t, ns, job.Name, "Admitted", 60*time.Second)
	t.Logf("Workload %s admitted", wl.GetName())

	if err := rec.WaitBoundOrStall(ctx, size, 30*time.Second, 120*time.Second); err != nil {
		t.Fatalf("the Job's pods: %v; %v", err, pendingPods(rec))
	}
	waitRunning(ctx, t, f.admin, ns, size)
	events := scheduledEvents(ctx, t, f.admin, ns)
	perNode := map[string]int{}
	for name, r := range rec.Snapshot() {
		p := r.Pod
		node := p.Spec.NodeName
		perNode[node]++
		t.Logf("%s on %s (rack %s), nodeSelector %v", name, node, rackOf[node], p.Spec.NodeSelector)
		if rackOf[node] != "nn-team-job-l3-b" {
			t.Errorf("pod %s in rack %s, want nn-team-job-l3-b (the only rack that holds the Job)", name, rackOf[node])
		}
		if p.Spec.SchedulerName != hyperplaceScheduler {
			t.Errorf("pod %s names scheduler %q, want %s (hyperplace's webhook, rule 5)", name, p.Spec.SchedulerName, hyperplaceScheduler)
		}
		if host := p.Spec.NodeSelector["kubernetes.io/hostname"]; host != node {
			t.Errorf("pod %s: Kueue's topology assignment kubernetes.io/hostname=%q, bound to %s", name, host, node)
		}
		if len(p.Spec.SchedulingGates) != 0 {
			t.Errorf("pod %s still has scheduling gates %v", name, p.Spec.SchedulingGates)
		}
		if events[name] != 1 {
			t.Errorf("pod %s has %d Scheduled events, want 1", name, events[name])
		}
	}
	for node, k := range perNode {
		if k > 1 {
			t.Errorf("node %s holds %d of the Job's whole-node pods", node, k)
		}
	}
	rec.CheckBoundOnce(t)
	if bound := f.hp.Metrics(t).Sum("hyperplace_extender_binds_total", `result="bound"`); bound < size {
		t.Errorf("hyperplace bound %v pods, want the Job's %d", bound, size)
	}
}

// TASHealthAside: with the example's topology-aware flavor Kueue chooses every pod's node at
// admission, and hyperplace must never contradict it for topology; health is the exception, and
// Kueue reads health only from taints. Rack a holds 4 p5: one tainted by HyperPod's health agent
// (Kueue and hyperplace both skip it), one the agent labelled UnschedulablePendingReplacement
// without a taint (Kueue cannot know), two healthy; rack b holds 2. alice's Job of 3 whole-node
// pods (required layer 3) fits only rack a's three untainted nodes, so Kueue assigns the labelled
// one too. hyperplace binds the two pods Kueue sent to healthy nodes, refuses the third with its
// health reason, and rejects no node for a topology reason; once the agent marks the node
// Schedulable again, that pod is placed where Kueue said.
func (f *kueueFixture) testTASHealthAside(t *testing.T) {
	ctx := t.Context()
	const scenario = "tas-health"
	const ns = "hyperpod-ns-team-a"
	taint := corev1.Taint{Key: labelHealth, Value: "Unschedulable", Effect: corev1.TaintEffectNoSchedule}
	nodes := f.p5Nodes(t, scenario, p5Rack{nodes: 4, edit: func(k int, o *nodeOpts) {
		switch k {
		case 0:
			o.health, o.taints = "Unschedulable", []corev1.Taint{taint}
		case 1:
			o.health = "UnschedulablePendingReplacement"
		}
	}}, p5Rack{nodes: 2})
	tainted, labelled := nodes[0].Name, nodes[1].Name
	before := f.hp.Metrics(t)
	rec := recordPods(t, f.admin, ns)
	gpu8 := requestList("nvidia.com/gpu", "8", "cpu", "184", "memory", "1900Gi")
	job := gangJob(ns, scenario, "health-aside", 3, gpu8, map[string]string{annotRequiredTopo: labelLayer3}, nil)
	f.createJob(t, harness.UserAlice, job)
	f.waitWorkload(t, ns, job.Name, "Admitted", 60*time.Second)
	if err := rec.WaitBoundOrStall(ctx, 2, 30*time.Second, 120*time.Second); err != nil {
		t.Fatalf("the pods Kueue sent to healthy nodes: %v; %v", err, pendingPods(rec))
	}

	// The pod Kueue assigned to the labelled node waits, refused for health alone.
	var waiting string
	for name, r := range rec.Snapshot() {
		host := r.Pod.Spec.NodeSelector["kubernetes.io/hostname"]
		switch {
		case host == "":
			t.Errorf("pod %s has no node from Kueue's topology assignment (nodeSelector %v)", name, r.Pod.Spec.NodeSelector)
		case host == tainted:
			t.Errorf("Kueue assigned pod %s to the tainted node %s", name, tainted)
		case host == labelled:
			waiting = name
		case r.Pod.Spec.NodeName != host:
			t.Errorf("pod %s bound to %q, Kueue assigned %s", name, r.Pod.Spec.NodeName, host)
		}
	}
	if waiting == "" {
		t.Fatalf("Kueue assigned no pod to %s, the untainted node its health label rules out: the scenario's premise fails", labelled)
	}
	msg := waitSchedulingFailure(ctx, t, f.admin, ns, waiting, reasonUnhealthy, 60*time.Second)
	t.Logf("pod %s, assigned by Kueue to %s: %s", waiting, labelled, msg)
	r := rejections(before, f.hp.Metrics(t))
	if r["node_unhealthy"] == 0 {
		t.Errorf("hyperplace counted no node_unhealthy rejection (rejections %v)", r)
	}
	for _, reason := range []string{"outside_group_domain", "domain_too_small", "missing_topology_label"} {
		if r[reason] != 0 {
			t.Errorf("hyperplace rejected %v nodes as %s: it contradicted Kueue's topology assignment", r[reason], reason)
		}
	}
	// The scheduler sends hyperplace only the node Kueue pinned, inside the gang's rack, so the
	// counters above hold by construction. Where hyperplace's own rule disagrees (a pod pinned into
	// another rack, as when Kueue re-admits a Job elsewhere while its evicted pods terminate), ask
	// it directly: the waiting pod pinned to a node of rack b fits; the same pod unpinned does not,
	// its gang's placed pods being in rack a.
	probe := rec.Snapshot()[waiting].Pod.DeepCopy()
	elsewhere := nodes[4].Name
	probe.Spec.NodeSelector["kubernetes.io/hostname"] = elsewhere
	var pinnedAnswer, ownAnswer filterReply
	if err := f.hp.Ask("filter", probe, []string{elsewhere}, &pinnedAnswer); err != nil {
		t.Fatalf("ask hyperplace: %v", err)
	}
	if !slices.Contains(pinnedAnswer.NodeNames, elsewhere) {
		t.Errorf("hyperplace refuses rack b's %s for a gang pod Kueue pinned there: %+v", elsewhere, pinnedAnswer)
	}
	delete(probe.Spec.NodeSelector, "kubernetes.io/hostname")
	if err := f.hp.Ask("filter", probe, []string{elsewhere}, &ownAnswer); err != nil {
		t.Fatalf("ask hyperplace: %v", err)
	}
	if why := ownAnswer.FailedAndUnresolvableNodes[elsewhere]; !strings.Contains(why, "outside the topology domain") {
		t.Errorf("hyperplace's answer for the same pod unpinned on %s: %+v, want it outside the gang's domain", elsewhere, ownAnswer)
	}

	// The health agent clears the node. kube-scheduler requeues the waiting pod on that node
	// event, and its retry can reach hyperplace before hyperplace's own watch holds the change:
	// hyperplace refuses once more, and the pod waits for the next node event (or the scheduler's
	// periodic flush of unschedulable pods, 5 minutes). So the test waits until hyperplace itself
	// admits the node for the pod; if the pod is still waiting then, one more label change is the
	// next node event, and the pod must be bound on it.
	setLabel := func(key, value string) {
		t.Helper()
		patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, key, value)
		if _, err := f.admin.CoreV1().Nodes().Patch(ctx, labelled, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatalf("label %s %s=%s: %v", labelled, key, value, err)
		}
	}
	setLabel(labelHealth, "Schedulable")
	recovered := time.Now()
	pod := rec.Snapshot()[waiting].Pod
	bound := func() bool { return rec.Snapshot()[waiting].Pod.Spec.NodeName != "" }
	var answer filterReply
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true,
		func(ctx context.Context) (bool, error) {
			if bound() { // once bound, hyperplace counts the pod on the node: no room for a copy
				return true, nil
			}
			err := f.hp.Ask("filter", pod, []string{labelled}, &answer)
			return err == nil && slices.Contains(answer.NodeNames, labelled), nil
		}); err != nil {
		t.Fatalf("hyperplace still refuses %s for pod %s after it was marked Schedulable: %+v", labelled, waiting, answer)
	}
	if err := rec.WaitBoundOrStall(ctx, 3, 5*time.Second, 10*time.Second); err != nil {
		t.Logf("pod %s not retried on the node event in time (%v): kube-scheduler's retry reached hyperplace before its watch did; one more node event", waiting, err)
		setLabel(labelScenario+"-recheck", "1")
		if err := rec.WaitBoundOrStall(ctx, 3, 30*time.Second, 60*time.Second); err != nil {
			t.Fatalf("after %s recovered and changed again: %v; %v", labelled, err, pendingPods(rec))
		}
	}
	if got := rec.Snapshot()[waiting].Pod.Spec.NodeName; got != labelled {
		t.Errorf("pod %s bound to %q after the node recovered, Kueue assigned %s", waiting, got, labelled)
	}
	t.Logf("pod %s bound to %s %v after the node recovered; rejections by reason during the scenario: %v",
		waiting, labelled, time.Since(recovered).Round(100*time.Millisecond), rejections(before, f.hp.Metrics(t)))
	f.runningPods(t, ns, job.Name, 3, 60*time.Second)
	rec.CheckBoundOnce(t)
}

// WatchedQueuesAndClasses: hyperplace's webhook knows LocalQueues and WorkloadPriorityClasses
// from its watch of the API server (DESIGN §3). A class created after hyperplace started is
// accepted as soon as the watch brings it, and refused (403, the allowed classes listed) once
// deleted; so is a new team's LocalQueue, the only queue its pods may name. Pods are created as
// dry runs, by alice (team a) and carol (team c).
func (f *kueueFixture) testWatchedQueuesAndClasses(t *testing.T) {
	ctx := t.Context()
	const ns = "hyperpod-ns-team-a"
	alice := f.c.Client(harness.UserAlice)
	try := func(queue, class string) error {
		p := podOpts{ns: ns, name: "watch-probe", scenario: "watch", asUserSends: true,
			labels: map[string]string{labelQueue: queue, labelPriority: class}}.build()
		_, err := alice.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	}
	// until polls try until ok(err), and returns the last error.
	until := func(what string, queue, class string, ok func(error) bool) error {
		t.Helper()
		began := time.Now()
		var last error
		if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 15*time.Second, true,
			func(ctx context.Context) (bool, error) { last = try(queue, class); return ok(last), nil }); err != nil {
			t.Errorf("%s: still %v", what, last)
			return last
		}
		t.Logf("%s after %v: %v", what, time.Since(began).Round(100*time.Millisecond), last)
		return last
	}
	accepted := func(err error) bool { return err == nil }
	refused := func(err error) bool { // by hyperplace's webhook, not by RBAC
		return apierrors.IsForbidden(err) && strings.Contains(err.Error(), `admission webhook "mutate.hyperplace`)
	}
	const queue, class = ns + "-localqueue", "training-priority"

	wpc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "WorkloadPriorityClass",
		"metadata": map[string]any{"name": "research-priority"},
		"value":    int64(7), "description": "Created after hyperplace started.",
	}}
	if err := try(queue, "research-priority"); !refused(err) {
		t.Errorf("a pod of the class research-priority before it exists: %v, want refused", err)
	}
	f.createKueueObject(t, wpc, "workloadpriorityclasses")
	until("class research-priority created: pod", queue, "research-priority", accepted)
	f.deleteKueueObject(t, wpc, "workloadpriorityclasses")
	if err := until("class research-priority deleted: pod", queue, "research-priority", refused); err != nil &&
		!strings.Contains(err.Error(), "fine-tuning-priority") {
		t.Errorf("refusal of the deleted class does not list the allowed ones: %v", err)
	}

	// A team onboarded after hyperplace started (HyperPod creates its namespace, ClusterQueue and
	// LocalQueue): carol's pods are refused until its LocalQueue exists, and again once it is gone.
	nsC := teamNamespace(ctx, t, f.admin, "team-c")
	if _, err := f.admin.RbacV1().RoleBindings(nsC).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "team-c-workload-author", Namespace: nsC},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "e2e-workload-author"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "Group", Name: "hyperpod-ns-team-c-namespace-level-group"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("team-c's RoleBinding: %v", err)
	}
	carol := f.c.Client(userCarol)
	tryC := func() error {
		p := podOpts{ns: nsC, name: "watch-probe", scenario: "watch", asUserSends: true}.build()
		_, err := carol.CoreV1().Pods(nsC).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	}
	untilC := func(what string, ok func(error) bool) {
		t.Helper()
		began := time.Now()
		var last error
		if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 15*time.Second, true,
			func(ctx context.Context) (bool, error) { last = tryC(); return ok(last), nil }); err != nil {
			t.Errorf("%s: still %v", what, last)
			return
		}
		t.Logf("%s after %v: %v", what, time.Since(began).Round(100*time.Millisecond), last)
	}
	untilC("team-c without its LocalQueue: carol's pod", refused)
	cq, lq := teamQueues(nsC, "hyperpod", "ml-p5-48xlarge", quota{cpu: "192", memory: "2Ti", gpus: "8", pods: "49"})
	f.createKueueObject(t, cq, "clusterqueues")
	f.createKueueObject(t, lq, "localqueues")
	untilC("team-c's LocalQueue created: carol's pod", accepted)
	f.deleteKueueObject(t, lq, "localqueues")
	untilC("team-c's LocalQueue deleted: carol's pod", refused)
	// Its quota would join the cohort the later scenarios count on: wait until it is gone
	// (Kueue's resource-in-use finalizer goes first).
	f.deleteKueueObject(t, cq, "clusterqueues")
}

// quota is one flavor's nominal quota of the four resources the teams' ClusterQueues cover.
type quota struct{ cpu, memory, gpus, pods string }

// teamQueues is team namespace ns's ClusterQueue <ns>-clusterqueue (nominal quota q of flavor, in
// cohort; "" for none) and its LocalQueue <ns>-localqueue, as HyperPod names them.
func teamQueues(ns, cohort, flavor string, q quota) (cq, lq *unstructured.Unstructured) {
	spec := map[string]any{
		"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": ns}},
		"resourceGroups": []any{map[string]any{
			"coveredResources": []any{"cpu", "memory", "nvidia.com/gpu", "pods"},
			"flavors": []any{map[string]any{"name": flavor, "resources": []any{
				map[string]any{"name": "cpu", "nominalQuota": q.cpu},
				map[string]any{"name": "memory", "nominalQuota": q.memory},
				map[string]any{"name": "nvidia.com/gpu", "nominalQuota": q.gpus},
				map[string]any{"name": "pods", "nominalQuota": q.pods},
			}}},
		}},
	}
	if cohort != "" {
		spec["cohortName"] = cohort
	}
	cq = &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ClusterQueue",
		"metadata": map[string]any{"name": ns + "-clusterqueue"},
		"spec":     spec,
	}}
	lq = &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "LocalQueue",
		"metadata": map[string]any{"name": ns + "-localqueue", "namespace": ns},
		"spec":     map[string]any{"clusterQueue": cq.GetName()},
	}}
	return cq, lq
}

// ---------------------------------------------------------------------------------------------
// Jobs through Kueue.

// p5Racks creates ml.p5.48xlarge nodes of the scenario, rack after rack (layer-3 domains under
// one layer-2 domain): see p5Nodes. It returns node -> rack.
func (f *kueueFixture) p5Racks(t *testing.T, scenario string, racks ...int) map[string]string {
	t.Helper()
	var rs []p5Rack
	for _, n := range racks {
		rs = append(rs, p5Rack{nodes: n})
	}
	rackOf := map[string]string{}
	for _, n := range f.p5Nodes(t, scenario, rs...) {
		rackOf[n.Name] = n.Labels[labelLayer3]
	}
	return rackOf
}

// p5Rack is one layer-3 domain of ml.p5.48xlarge nodes, under layer-2 domain l2 of the scenario
// ("" is the scenario's one layer-2 domain); edit, if set, changes node k's options (health,
// taints).
type p5Rack struct {
	l2    string
	nodes int
	edit  func(k int, o *nodeOpts)
}

// p5Nodes creates the scenario's racks (named nn-<scenario>-l3-a, -b, … in order), waits until
// hyperplace caches the nodes, and deletes them at the end of the test (after its pods: cleanups
// run last first).
func (f *kueueFixture) p5Nodes(t *testing.T, scenario string, racks ...p5Rack) []*corev1.Node {
	t.Helper()
	ctx := t.Context()
	d := func(s string) string { return "nn-" + scenario + "-" + s }
	var nodes []*corev1.Node
	for i, r := range racks {
		l2 := d("l2")
		if r.l2 != "" {
			l2 = d("l2-" + r.l2)
		}
		for k := 0; k < r.nodes; k++ {
			o := nodeOpts{scenario: scenario, index: 100*i + k, typ: p5_48xlarge, l1: d("l1"), l2: l2,
				l3: d(fmt.Sprintf("l3-%c", 'a'+i))}
			if r.edit != nil {
				r.edit(k, &o)
			}
			nodes = append(nodes, o.build())
		}
	}
	cached := f.hp.Metrics(t).Sum("hyperplace_cache_nodes")
	createNodeObjects(ctx, t, f.admin, nodes...)
	t.Cleanup(func() {
		if err := f.admin.CoreV1().Nodes().DeleteCollection(context.Background(), metav1.DeleteOptions{},
			metav1.ListOptions{LabelSelector: labelScenario + "=" + scenario}); err != nil {
			t.Errorf("delete the nodes of %s: %v", scenario, err)
			return
		}
		// The next scenario counts hyperplace's cache from here.
		if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 60*time.Second, true,
			func(ctx context.Context) (bool, error) {
				return f.hp.Metrics(t).Sum("hyperplace_cache_nodes") == cached, nil
			}); err != nil {
			t.Errorf("hyperplace caches %v nodes after deleting those of %s, want %v", f.hp.Metrics(t).Sum("hyperplace_cache_nodes"), scenario, cached)
		}
	})
	waitNodesInCache(ctx, t, f.hp, int(cached)+len(nodes))
	return nodes
}

// gangJob is a batch Job of size pods (parallelism = completions = size) requesting req, with
// the given pod-template annotations (Kueue's topology requests) and Job labels, on the
// scenario's nodes, naming no scheduler: as a team user writes it.
func gangJob(ns, scenario, name string, size int, req corev1.ResourceList, annotations, labels map[string]string) *batchv1.Job {
	tmpl := podOpts{ns: ns, scenario: scenario, asUserSends: true, annotations: annotations, requests: req}.build()
	n := int32(size)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: batchv1.JobSpec{
			Parallelism: &n, Completions: &n,
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Annotations: annotations}, Spec: tmpl.Spec},
		},
	}
}

// createJob creates job as user and deletes it (and its pods) at the end of the test.
func (f *kueueFixture) createJob(t *testing.T, user string, job *batchv1.Job) *batchv1.Job {
	t.Helper()
	created, err := f.c.Client(user).BatchV1().Jobs(job.Namespace).Create(t.Context(), job, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("%s creates Job %s/%s: %v", user, job.Namespace, job.Name, err)
	}
	t.Cleanup(func() { f.deleteJob(t, job.Namespace, job.Name) })
	return created
}

// deleteJob deletes a Job with its pods and Workload, and waits until they are gone (so that
// its quota is free for the next scenario).
func (f *kueueFixture) deleteJob(t *testing.T, ns, name string) {
	t.Helper()
	ctx := context.Background()
	background := metav1.DeletePropagationBackground
	if err := f.admin.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &background}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete Job %s/%s: %v", ns, name, err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true,
		func(ctx context.Context) (bool, error) {
			pods, err := f.admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + name})
			if err != nil || len(pods.Items) > 0 {
				return false, nil
			}
			return f.workload(ctx, ns, name) == nil, nil
		}); err != nil {
		t.Errorf("Job %s/%s: pods or Workload left after its deletion", ns, name)
	}
}

// workload is the Workload Kueue made for Job ns/name (owned by it), or nil.
func (f *kueueFixture) workload(ctx context.Context, ns, job string) *unstructured.Unstructured {
	l, err := f.dyn.Resource(kueueGVR("workloads")).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	for i := range l.Items {
		for _, o := range l.Items[i].GetOwnerReferences() {
			if o.Kind == "Job" && o.Name == job {
				return &l.Items[i]
			}
		}
	}
	return nil
}

// waitWorkload waits until the Job's Workload has condition typ True and returns it.
func (f *kueueFixture) waitWorkload(t *testing.T, ns, job, typ string, timeout time.Duration) *unstructured.Unstructured {
	t.Helper()
	var wl *unstructured.Unstructured
	last := "no Workload"
	if err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, timeout, true,
		func(ctx context.Context) (bool, error) {
			if wl = f.workload(ctx, ns, job); wl == nil {
				return false, nil
			}
			ok, msg := condition(wl, typ)
			last = msg
			return ok, nil
		}); err != nil {
		t.Fatalf("Job %s/%s: Workload not %s after %v: %s", ns, job, typ, timeout, last)
	}
	return wl
}

// runningPods waits until n pods of the Job run and returns them.
func (f *kueueFixture) runningPods(t *testing.T, ns, job string, n int, timeout time.Duration) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	if err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, timeout, true,
		func(ctx context.Context) (bool, error) {
			if p, err := f.jobPodsRunning(ctx, ns, job); err == nil {
				pods = p
			}
			return len(pods) == n, nil
		}); err != nil {
		t.Fatalf("Job %s/%s: %d pods Running, want %d", ns, job, len(pods), n)
	}
	return pods
}

// jobPodsRunning lists the Job's pods that run and are not being deleted.
func (f *kueueFixture) jobPodsRunning(ctx context.Context, ns, job string) ([]corev1.Pod, error) {
	l, err := f.admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + job})
	if err != nil {
		return nil, err
	}
	var pods []corev1.Pod
	for _, p := range l.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			pods = append(pods, p)
		}
	}
	return pods, nil
}

// QuotaBorrowAndReclaim (Lend and Borrow in a cohort): team a's ClusterQueue has 32 GPUs of its
// own and may borrow 16; team b's 16 sit idle. alice's Job of 5 whole-p5 pods (40 GPUs, required
// layer 3) is admitted by borrowing 8 of team b's, and runs in the one rack of 5 (a rack of 1
// beside it). Then bob's Job of 2 whole-node pods arrives: team b wants its quota back, and Kueue
// preempts the borrower (reclaimWithinCohort: Any) although bob's Job is of lower priority
// (fine-tuning against alice's training). alice's pods go; hyperplace's cache frees their slots
// and GPUs, so bob's gang lands whole in the same rack, and alice's Job waits.
func (f *kueueFixture) testQuotaBorrowAndReclaim(t *testing.T) {
	const scenario = "quota"
	rackOf := f.p5Racks(t, scenario, 5, 1)
	gpu8 := requestList("nvidia.com/gpu", "8", "cpu", "184", "memory", "1900Gi")
	topo := map[string]string{annotRequiredTopo: labelLayer3}
	const nsA, nsB = "hyperpod-ns-team-a", "hyperpod-ns-team-b"

	f.createJob(t, harness.UserAlice, gangJob(nsA, scenario, "borrower", 5, gpu8, topo,
		map[string]string{labelPriority: "training-priority"}))
	wl := f.waitWorkload(t, nsA, "borrower", "Admitted", 60*time.Second)
	borrowed, _, _ := unstructured.NestedSlice(wl.Object, "status", "admission", "podSetAssignments")
	t.Logf("alice's Job admitted: %v", borrowed)
	// Kueue reports the borrowing in the ClusterQueue's status (written after the admission).
	var gpus string
	if err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 30*time.Second, true,
		func(ctx context.Context) (bool, error) {
			cq, err := f.dyn.Resource(kueueGVR("clusterqueues")).Get(ctx, "hyperpod-ns-team-a-clusterqueue", metav1.GetOptions{})
			if err == nil {
				gpus = borrowedGPUs(cq)
			}
			return gpus == "8", nil
		}); err != nil {
		t.Errorf("team a's ClusterQueue borrows %q GPUs, want 8 (40 used, 32 its own)", gpus)
	}
	for _, p := range f.runningPods(t, nsA, "borrower", 5, 90*time.Second) {
		if rackOf[p.Spec.NodeName] != "nn-quota-l3-a" {
			t.Errorf("alice's pod %s on %s in rack %q, want nn-quota-l3-a", p.Name, p.Spec.NodeName, rackOf[p.Spec.NodeName])
		}
	}

	f.createJob(t, harness.UserBob, gangJob(nsB, scenario, "reclaimer", 2, gpu8, topo, nil))
	f.expectPreempted(t, nsA, "borrower", "reclamation within the cohort")
	f.waitWorkload(t, nsB, "reclaimer", "Admitted", 60*time.Second)
	pods := f.runningPods(t, nsB, "reclaimer", 2, 90*time.Second)
	nodes := map[string]bool{}
	for _, p := range pods {
		nodes[p.Spec.NodeName] = true
		if rackOf[p.Spec.NodeName] != "nn-quota-l3-a" {
			t.Errorf("bob's pod %s on %s in rack %q, want nn-quota-l3-a (the only rack that holds it)", p.Name, p.Spec.NodeName, rackOf[p.Spec.NodeName])
		}
		if p.Spec.SchedulerName != hyperplaceScheduler {
			t.Errorf("bob's pod %s names scheduler %q", p.Name, p.Spec.SchedulerName)
		}
	}
	if len(nodes) != 2 {
		t.Errorf("bob's 2 whole-node pods on %v", nodes)
	}
	// alice's Job waits: 40 GPUs do not fit beside team b's 16 in the cohort's 48.
	if wl := f.workload(t.Context(), nsA, "borrower"); wl != nil {
		if ok, _ := condition(wl, "Admitted"); ok {
			t.Errorf("alice's Job admitted again beside bob's")
		}
	}
}

// expectPreempted waits until Kueue evicts the Job's Workload and checks that it was preempted
// for the given cause (words of Kueue's message).
func (f *kueueFixture) expectPreempted(t *testing.T, ns, job, cause string) {
	t.Helper()
	_, why := condition(f.waitWorkload(t, ns, job, "Evicted", 60*time.Second), "Evicted")
	t.Logf("Job %s/%s evicted: %s", ns, job, why)
	if !strings.Contains(why, "Preempted") || !strings.Contains(why, cause) {
		t.Errorf("Job %s/%s evicted for %q, want Preempted, %s", ns, job, why, cause)
	}
}

// borrowedGPUs is nvidia.com/gpu's borrowed amount of flavor ml-p5-48xlarge in a ClusterQueue's
// flavorsUsage.
func borrowedGPUs(cq *unstructured.Unstructured) string {
	usage, _, _ := unstructured.NestedSlice(cq.Object, "status", "flavorsUsage")
	for _, u := range usage {
		fl, _ := u.(map[string]any)
		if fl["name"] != "ml-p5-48xlarge" {
			continue
		}
		res, _ := fl["resources"].([]any)
		for _, r := range res {
			m, _ := r.(map[string]any)
			if m["name"] == "nvidia.com/gpu" {
				if b, ok := m["borrowed"]; ok {
					return fmt.Sprint(b)
				}
			}
		}
	}
	return ""
}

// PriorityPreemption: inside team a's ClusterQueue (withinClusterQueue: LowerPriority), with team
// b using its own quota so that nothing can be borrowed: alice's fine-tuning Job takes team a's
// 32 GPUs (4 whole-p5 pods); her inference-priority Job of 1 pod preempts it and runs.
func (f *kueueFixture) testPriorityPreemption(t *testing.T) {
	const scenario = "priority"
	f.p5Racks(t, scenario, 7)
	gpu8 := requestList("nvidia.com/gpu", "8", "cpu", "184", "memory", "1900Gi")
	const nsA, nsB = "hyperpod-ns-team-a", "hyperpod-ns-team-b"
	f.createJob(t, harness.UserBob, gangJob(nsB, scenario, "team-b-work", 2, gpu8, nil, nil))
	f.waitWorkload(t, nsB, "team-b-work", "Admitted", 60*time.Second)
	f.createJob(t, harness.UserAlice, gangJob(nsA, scenario, "finetune", 4, gpu8, nil,
		map[string]string{labelPriority: "fine-tuning-priority"}))
	f.waitWorkload(t, nsA, "finetune", "Admitted", 60*time.Second)
	f.runningPods(t, nsA, "finetune", 4, 90*time.Second)

	f.createJob(t, harness.UserAlice, gangJob(nsA, scenario, "serve", 1, gpu8, nil,
		map[string]string{labelPriority: "inference-priority"}))
	f.expectPreempted(t, nsA, "finetune", "prioritization in the ClusterQueue")
	f.waitWorkload(t, nsA, "serve", "Admitted", 60*time.Second)
	f.runningPods(t, nsA, "serve", 1, 90*time.Second)
}
