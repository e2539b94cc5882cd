package e2e_test

// hyperplace's own scheduler beside the cluster's default one, as on EKS (DESIGN §4 "Its own
// scheduler"; subtests of TestHyperplace, which starts both): scores of kube-scheduler's plugins
// that disagree with topology, the loss of the scheduler's leader in the middle of a batch, and,
// over the whole run, which scheduler placed which pod.

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// The cluster's default scheduler, as kube-scheduler names its only profile unless told.
const defaultScheduler = "default-scheduler"

// sharedNamespace creates, if it does not exist, a namespace outside the teams': shared
// workloads there name no scheduler, so the cluster's default one places them.
func sharedNamespace(ctx context.Context, t testing.TB, cs kubernetes.Interface, name string) string {
	t.Helper()
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}

var (
	// A shared data-preprocessing executor (no team, no GPU): nearly all of an ml.p5.48xlarge's
	// CPU and memory.
	cpuHeavy = requestList("cpu", "180", "memory", "1800Gi")
	// A shared inference server: 6 of an ml.p5.48xlarge's 8 GPUs.
	sixGPUs = requestList("nvidia.com/gpu", "6", "cpu", "48", "memory", "480Gi")
	// A training worker of a quarter node that needs little CPU.
	twoGPUs = requestList("nvidia.com/gpu", "2", "cpu", "2", "memory", "16Gi")
)

// InTreeScoresDisagree: a gang of 6 team pods whose first 2, its placed peers, sit one per node
// in one rack of two ml.p5.48xlarge. Beside it, under the same layer-2 domain, is a second such
// rack, and under another layer-2 domain a third. The other 4 are created at once. The busy rack
// runs a shared workload, placed by the cluster's default scheduler, that makes kube-scheduler's
// scoring plugins rank the racks against topology; the gang must still land beside its peers.
// Each case first checks that the plugins do disagree: a control pod, the gang's pod without a
// group, goes to another rack than the peers'.
//
// hyperplace's score for a gang pod is 10 on the peers' rack, 0 on the far one and some points
// between on the near one (it shares two of three layers with the peers), so what decides is
// how many points the near rack trails by, times the extender's weight, against what the plugins
// give it more.
//
// PeersInCPUBusyRack: the peers' rack runs 180 of each node's 191 cores and 1800 of its 2002
// GiB. The scoring EKS's own scheduler ships, LeastAllocated over cpu and memory, ranks a node of
// the near, idle rack about 93 points above one of the peers' (99 against 6, for a 2-GPU worker;
// BalancedAllocation, which in kube-scheduler v1.36 scores how much a pod improves a node's
// balance, gives both about 75): the control pod, under the default scheduler, goes to an idle
// rack. hyperplace ranks the near rack 8 points lower (its packing also prefers the peers' nodes,
// where GPUs are in use): 80 at the weight of 1 the README once gave, outvoted; 480 at 60. The
// tuned profile's MostAllocated agrees with topology here. Preferred: decided by the scores
// alone; Required: hyperplace's filter also turns the other racks away (outside_group_domain).
//
// PeersBesideGPUBusyRack: the peers sit in an idle rack; each node of the near rack runs a 6-GPU
// inference server. hyperplace's own packing prefers a busy node (it would leave 1 GPU idle
// there, 6 beside the peers), so hyperplace ranks it only 4 points below the peers' rack: 40
// points at weight 1, outvoted by the plugins; 240 at 60. The control pod, under hyperplace's
// scheduler, goes to the busy rack: packing alone decides it (the profile's MostAllocated
// counts cpu and memory only; hyperplace packs accelerators).
func (f *fixture) testInTreeScoresDisagree(t *testing.T) {
	t.Run("PeersInCPUBusyRack", func(t *testing.T) {
		t.Run("Preferred", func(t *testing.T) { f.scoresDisagree(t, "cpu-busy-pref", annotPreferTopo, true) })
		t.Run("Required", func(t *testing.T) { f.scoresDisagree(t, "cpu-busy-req", annotRequiredTopo, true) })
	})
	t.Run("PeersBesideGPUBusyRack", func(t *testing.T) { f.scoresDisagree(t, "gpu-busy-pref", annotPreferTopo, false) })
}

// scoresDisagree runs one case: peersInBusy puts the peers in the busy rack (busy with CPU),
// else beside it (busy with GPUs).
func (f *fixture) scoresDisagree(t *testing.T, scenario, topoAnnotation string, peersInBusy bool) {
	ctx := t.Context()
	d := func(s string) string { return "nn-" + scenario + "-" + s }
	s := f.accelScenario(t, scenario, p5_48xlarge, []rack{
		{l1: d("l1"), l2: d("l2-a"), l3: d("l3-busy"), n: 2},
		{l1: d("l1"), l2: d("l2-a"), l3: d("l3-idle"), n: 2},
		{l1: d("l1"), l2: d("l2-b"), l3: d("l3-far"), n: 2},
	})
	busyRack, home := d("l3-busy"), d("l3-idle")
	busyLoad, gangReq := sixGPUs, oneGPU
	if peersInBusy {
		home = busyRack
		busyLoad, gangReq = cpuHeavy, twoGPUs
	}

	// The shared workload: one pod per node of the busy rack, outside the teams' namespaces.
	shared := sharedNamespace(ctx, t, f.admin, "data-platform")
	var load []*corev1.Pod
	for i, node := range s.rack(busyRack) {
		load = append(load, podOpts{ns: shared, name: fmt.Sprintf("%s-load-%d", scenario, i), scenario: scenario,
			nodeSelector: map[string]string{"kubernetes.io/hostname": node}, requests: busyLoad}.build())
	}
	t.Cleanup(func() { deletePods(t, f.admin, load) })
	createPods(ctx, t, f.admin, load)
	for _, p := range load {
		if node := waitBound(ctx, t, f.admin, shared, p.Name); node != p.Spec.NodeSelector["kubernetes.io/hostname"] {
			t.Fatalf("shared pod %s on %s, want %s", p.Name, node, p.Spec.NodeSelector["kubernetes.io/hostname"])
		}
	}

	// The peers: the gang's first pods, one on each node of their rack.
	const size = 6
	gang := groupPods(s.ns, scenario, "pretrain", size, topoAnnotation, labelLayer3, gangReq)
	peers := s.rack(home)
	for i, node := range peers {
		gang[i].Spec.NodeSelector["kubernetes.io/hostname"] = node
	}
	createPods(ctx, t, f.admin, gang[:len(peers)])
	s.waitRunning(podNames(gang[:len(peers)]), 60*time.Second)

	rest := gang[len(peers):]
	s.previewFirst(rest[0])
	if err := submit(ctx, t, f.admin, s.rec, rest, false); err != nil {
		t.Errorf("gang not placed: %v", err)
	}
	for _, l := range s.landings(podNames(gang)) {
		t.Logf("%v", l)
		switch {
		case l.node == "":
			t.Errorf("pod %s not placed: %s", l.pod, s.describe(l.pod))
		case l.l3 != home:
			t.Errorf("pod %s on %s in rack %s, want rack %s, beside its peers", l.pod, l.node, l.l3, home)
		}
	}
	s.expectBoundOnce()
	s.expectNonePending()
	if r := s.rejections(); topoAnnotation == annotRequiredTopo && r["outside_group_domain"] == 0 {
		t.Errorf("hyperplace rejected no node as outside_group_domain (rejections %v)", r)
	}

	// The premise: without a group the same pod goes elsewhere.
	control := podOpts{ns: s.ns, name: "control", scenario: scenario, labels: teamLabels(s.ns, nil), requests: gangReq}
	if peersInBusy {
		control.ns, control.labels = shared, nil // the default scheduler's stock scoring
		defer deletePods(t, f.admin, []*corev1.Pod{control.build()})
	}
	createPods(ctx, t, f.admin, []*corev1.Pod{control.build()})
	node := waitBound(ctx, t, f.admin, control.ns, control.name)
	onRack := ""
	for _, n := range s.nodes {
		if n.Name == node {
			onRack = n.Labels[labelLayer3]
		}
	}
	t.Logf("control pod %s/%s (no group) on %s in rack %s", control.ns, control.name, node, onRack)
	if onRack == home || (!peersInBusy && onRack != busyRack) {
		want := "another rack than " + home
		if !peersInBusy {
			want = busyRack
		}
		t.Errorf("control pod %s/%s on %s in rack %s, want %s: the scores this scenario sets against topology do not disagree with it",
			control.ns, control.name, node, onRack, want)
	}
}

// deletePods deletes pods by name, now, and waits until they are gone.
func deletePods(t testing.TB, cs kubernetes.Interface, pods []*corev1.Pod) {
	t.Helper()
	ctx := context.Background()
	zero := int64(0)
	for _, p := range pods {
		err := cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete pod %s/%s: %v", p.Namespace, p.Name, err)
		}
	}
	for _, p := range pods {
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true,
			func(ctx context.Context) (bool, error) {
				_, err := cs.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
				return apierrors.IsNotFound(err), nil
			})
		if err != nil {
			t.Errorf("pod %s/%s not gone", p.Namespace, p.Name)
		}
	}
}

// SchedulerFailover: hyperplace's scheduler runs as manifests/scheduler.yaml ships it, two
// replicas on the lease hyperplace-system/hyperplace-scheduler. The fixture's replica leads; a
// second one starts as its standby. A batch of 100 team pods is created on 8 ml.g5.xlarge (112
// pod slots) and the leader is SIGKILLed once 10 are bound. Its lease runs out (15 s), the
// standby takes it and places the rest through hyperplace. Meanwhile the cluster's default
// scheduler, on its own lease, goes on: a kube-system pod created just after the kill is placed
// by it before the standby takes over. Every pod ends bound exactly once, no node holds more
// than 14, each pod has at most one Scheduled event and the standby placed some; the pods whose
// binds the leader had sent when it died were bound by hyperplace all the same (no event, no
// bind by the standby).
func (f *fixture) testSchedulerFailover(t *testing.T) {
	ctx := t.Context()
	const scenario = "scheduler-failover"
	ns := teamNamespace(ctx, t, f.admin, "sched-failover")
	t.Cleanup(func() { deleteNamespacePods(context.Background(), t, f.admin, ns) }) // also when it fails
	f.makeNodes(ctx, t, scenario, g5_xlarge, []layout{
		{"nn-sfo-l1", "nn-sfo-l2", "nn-sfo-l3-a", 4},
		{"nn-sfo-l1", "nn-sfo-l2", "nn-sfo-l3-b", 4},
	})
	leases := f.admin.CoordinationV1().Leases("hyperplace-system")
	holder := func() string {
		l, err := leases.Get(ctx, "hyperplace-scheduler", metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	leader := f.c.Scheduler()
	leaderHolder := holder()
	if leader == nil || leaderHolder == "" {
		t.Fatalf("hyperplace's scheduler holds no lease hyperplace-system/hyperplace-scheduler (holder %q)", leaderHolder)
	}
	standby := f.c.StartSchedulerNamed("hyperplace-scheduler-standby", f.schedulerConfig)
	standbyHolder := ""
	defer func() {
		// The fixture's scheduler again: started as the standby's standby, it takes the lease the
		// standby releases when it stops (kube-scheduler releases its lease on SIGTERM).
		f.c.StopScheduler()
		f.c.StartScheduler(f.schedulerConfig)
		if err := standby.Stop(); err != nil {
			t.Errorf("standby scheduler after SIGTERM: %v", err)
		}
		if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 60*time.Second, true,
			func(ctx context.Context) (bool, error) {
				h := holder()
				return h != "" && h != leaderHolder && h != standbyHolder, nil
			}); err != nil {
			t.Errorf("the fixture's scheduler did not take the lease back from the standby (holder %q)", holder())
		}
	}()
	if acquiredLease(standby.LogPath) {
		t.Fatalf("the standby took the lease while the leader was alive; its log:\n%s", standby.LogTail(20))
	}

	rec := recordPods(t, f.admin, ns)
	const count = 100
	created := f.batchUnderWay(ctx, t, rec, ns, scenario, count, 10)
	leader.Kill()
	killed := time.Now()
	boundAtKill := rec.Bound()
	t.Logf("SIGKILLed the leading scheduler with %d of %d pods bound", boundAtKill, count)
	if boundAtKill >= count {
		t.Fatalf("all pods were bound before the kill: the scenario did not interrupt a batch")
	}

	// The default scheduler does not wait for hyperplace's: a system pod created now is placed
	// while hyperplace's scheduler has no leader.
	system := podOpts{ns: "kube-system", name: "coredns-sfo", scenario: scenario}.build()
	defer deletePods(t, f.admin, []*corev1.Pod{system})
	createPods(ctx, t, f.admin, []*corev1.Pod{system})
	var systemBound, tookOver time.Time
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true,
		func(ctx context.Context) (bool, error) {
			if systemBound.IsZero() {
				if p, err := f.admin.CoreV1().Pods(system.Namespace).Get(ctx, system.Name, metav1.GetOptions{}); err == nil && p.Spec.NodeName != "" {
					systemBound = time.Now()
				}
			}
			if tookOver.IsZero() && acquiredLease(standby.LogPath) {
				tookOver = time.Now()
			}
			return !systemBound.IsZero() && !tookOver.IsZero(), nil
		}); err != nil {
		t.Fatalf("after the kill: kube-system/%s bound %v, standby leading %v; standby log:\n%s",
			system.Name, !systemBound.IsZero(), !tookOver.IsZero(), standby.LogTail(20))
	}
	boundAtTakeover := rec.Bound()
	standbyHolder = holder()
	// (The count includes the standby's first binds, made before the poll saw its log line.)
	t.Logf("the standby took the lease %v after the kill (holder %q); %d pods bound meanwhile; kube-system/%s bound %v after the kill",
		tookOver.Sub(killed).Round(100*time.Millisecond), standbyHolder, boundAtTakeover-boundAtKill, system.Name,
		systemBound.Sub(killed).Round(100*time.Millisecond))
	if standbyHolder == leaderHolder || standbyHolder == "" {
		t.Errorf("lease holder %q after the takeover, want the standby (the dead leader was %q)", standbyHolder, leaderHolder)
	}
	if systemBound.After(tookOver) {
		t.Errorf("kube-system/%s was bound only after hyperplace's standby took over: the default scheduler waited for it", system.Name)
	}

	if err := <-created; err != nil {
		t.Fatal(err)
	}
	if err := rec.WaitBoundOrStall(ctx, count, 30*time.Second, 180*time.Second); err != nil {
		t.Fatalf("after the takeover: %v; pending %v", err, pendingPods(rec))
	}
	rec.CheckBoundOnce(t)
	for node, on := range rec.Placement() {
		if len(on) > 14 {
			t.Errorf("node %s holds %d pods, ml.g5.xlarge allows 14", node, len(on))
		}
	}
	events := scheduledEvents(ctx, t, f.admin, ns)
	byLeader, byStandby := boundIn(leader.LogPath, ns), boundIn(standby.LogPath, ns)
	noEvent, neither := 0, 0
	for name := range rec.Snapshot() {
		if n := events[name]; n > 1 {
			t.Errorf("pod %s has %d Scheduled events", name, n)
		} else if n == 0 {
			noEvent++
		}
		switch l, s := byLeader[name], byStandby[name]; {
		case l && s:
			t.Errorf("pod %s was bound by both schedulers", name)
		case !l && !s:
			neither++
		}
	}
	t.Logf("bound by the leader %d, by the standby %d, by neither (bind sent by the leader, completed after its death) %d; %d pods without a Scheduled event",
		len(byLeader), len(byStandby), neither, noEvent)
	if len(byStandby) == 0 {
		t.Errorf("the standby bound no pod of the batch")
	}
	if neither > 16 || noEvent > 16 {
		// Only binds the leader had sent before it died may complete without a leader.
		t.Errorf("%d pods bound by neither scheduler's account, %d without a Scheduled event: more than the binds in flight at the kill", neither, noEvent)
	}
}

// acquiredLease: a kube-scheduler's log says it became the leader on hyperplace's lease.
// (client-go's leader election logs `"Successfully acquired lease" lock="<namespace>/<name>"`.)
func acquiredLease(logPath string) bool {
	lines, _ := matchingLines(logPath, "Successfully acquired lease")
	for _, line := range lines {
		if strings.Contains(line, `lock="hyperplace-system/hyperplace-scheduler"`) {
			return true
		}
	}
	return false
}

// boundIn is the set of pods of ns a kube-scheduler's log (-v=2) says it bound.
func boundIn(logPath, ns string) map[string]bool {
	out := map[string]bool{}
	lines, _ := matchingLines(logPath, "Successfully bound pod to node")
	for _, line := range lines {
		if _, rest, ok := strings.Cut(line, `pod="`+ns+`/`); ok {
			name, _, _ := strings.Cut(rest, `"`)
			out[name] = true
		}
	}
	return out
}

// ---------------------------------------------------------------------------------------------
// Which scheduler placed which pod, over the whole run.

// schedulerAudit watches every pod of the cluster from the start of the run and remembers, by
// UID, the scheduler each names and whether it was ever bound.
type schedulerAudit struct {
	mu   sync.Mutex
	pods map[string]auditedPod // by UID
	stop chan struct{}
}

type auditedPod struct {
	ns, name, scheduler string
	bound               bool
}

func startSchedulerAudit(t testing.TB, cs kubernetes.Interface) *schedulerAudit {
	t.Helper()
	a := &schedulerAudit{pods: map[string]auditedPod{}, stop: make(chan struct{})}
	observe := func(obj any) {
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		r := a.pods[string(p.UID)]
		r.ns, r.name, r.scheduler = p.Namespace, p.Name, p.Spec.SchedulerName
		r.bound = r.bound || p.Spec.NodeName != ""
		a.pods[string(p.UID)] = r
	}
	lw := cache.NewListWatchFromClient(cs.CoreV1().RESTClient(), "pods", metav1.NamespaceAll, fields.Everything())
	_, ctrl := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    &corev1.Pod{},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    observe,
			UpdateFunc: func(_, obj any) { observe(obj) },
		},
	})
	go ctrl.Run(a.stop)
	t.Cleanup(func() { close(a.stop) })
	if !cache.WaitForCacheSync(t.Context().Done(), ctrl.HasSynced) {
		t.Fatalf("scheduler audit: pod informer did not sync")
	}
	return a
}

// check: every pod a scheduler placed has at most one Scheduled event, reported by the scheduler
// the pod names (the profile name is the event's reporting controller); team pods name
// hyperplace's scheduler and the others the default one (DESIGN §3 rule 5); and both schedulers
// placed pods.
func (a *schedulerAudit) check(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	l, err := cs.CoreV1().Events(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: "reason=Scheduled"})
	if err != nil {
		t.Fatalf("list Scheduled events: %v", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	type tally struct {
		n     int
		by    map[string]bool
		names string
	}
	perPod := map[string]*tally{}
	for _, e := range l.Items {
		uid := string(e.InvolvedObject.UID)
		tl := perPod[uid]
		if tl == nil {
			tl = &tally{by: map[string]bool{}, names: e.InvolvedObject.Namespace + "/" + e.InvolvedObject.Name}
			perPod[uid] = tl
		}
		n := int(e.Count)
		if e.Series != nil && int(e.Series.Count) > n {
			n = int(e.Series.Count)
		}
		tl.n += max(n, 1)
		tl.by[e.ReportingController] = true
	}
	placedBy := map[string]int{}
	bound, withoutEvent := 0, 0
	for uid, p := range a.pods {
		if !p.bound {
			continue
		}
		bound++
		team := strings.HasPrefix(p.ns, "hyperpod-ns-")
		if team && p.scheduler != hyperplaceScheduler {
			// Only the extender-authentication victim names no real scheduler, and is never bound.
			t.Errorf("team pod %s/%s names scheduler %q and was bound, want %s", p.ns, p.name, p.scheduler, hyperplaceScheduler)
		}
		if !team && p.scheduler != defaultScheduler {
			t.Errorf("pod %s/%s outside the team namespaces names scheduler %q, want %s", p.ns, p.name, p.scheduler, defaultScheduler)
		}
		tl := perPod[uid]
		if tl == nil {
			withoutEvent++ // bound by hyperplace for a scheduler that died before the reply
			continue
		}
		if tl.n > 1 {
			t.Errorf("pod %s has %d Scheduled events", tl.names, tl.n)
		}
		for by := range tl.by {
			placedBy[by]++
			if by != p.scheduler {
				t.Errorf("pod %s/%s names scheduler %q but was placed by %q", p.ns, p.name, p.scheduler, by)
			}
		}
	}
	var summary []string
	for by, n := range placedBy {
		summary = append(summary, fmt.Sprintf("%s %d", by, n))
	}
	sort.Strings(summary)
	t.Logf("over the run: %d pods bound; placed by %s; %d bound without a Scheduled event", bound, strings.Join(summary, ", "), withoutEvent)
	// A pod without an event was bound by hyperplace for a scheduler that died before the reply:
	// only the two kill scenarios (HyperplaceKilledMidBatch, SchedulerFailover) allow that, at
	// most 16 each.
	if withoutEvent > 32 {
		t.Errorf("%d bound pods have no Scheduled event, more than the kill scenarios' binds in flight", withoutEvent)
	}
	// With -run naming only scenarios that bind nothing (Manifests, say), there is nothing to
	// split; every scenario that binds pods checks its own binds as well.
	if bound > 0 && (placedBy[hyperplaceScheduler] == 0 || placedBy[defaultScheduler] == 0) {
		t.Errorf("placed by %v: want pods placed by both %s and %s", placedBy, hyperplaceScheduler, defaultScheduler)
	}
}
