package e2e_test

// Scenarios at HyperPod scale (subtests of TestHyperplace): a required-topology gang on over a
// thousand nodes in names mode, and two hyperplace replicas behind one address losing the first
// one in the middle of a gang.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"hyperplace.dev/e2e/harness"
)

// fastAdmin is an admin client without a meaningful rate limit, for creating thousands of
// objects quickly (the default client allows 100 requests/s).
func (f *fixture) fastAdmin(t testing.TB) kubernetes.Interface {
	t.Helper()
	cfg := rest.CopyConfig(f.c.RESTConfig(harness.UserAdmin))
	cfg.QPS, cfg.Burst = 5000, 5000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// networkNode is a value of a topology.k8s.aws/network-node-layer-N label as EC2 reports it
// ("nn-" and 17 hex digits), stable for (scenario, layer, index).
func networkNode(scenario string, layer, index int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/layer-%d/%d", scenario, layer, index)))
	return "nn-" + hex.EncodeToString(sum[:])[:17]
}

// rejections is the rise of hyperplace_extender_nodes_rejected_total per reason from before to
// after (reasons that did not rise are left out).
func rejections(before, after metricSet) map[string]float64 {
	out := map[string]float64{}
	for series, v := range after {
		base, labels, _ := strings.Cut(series, "{")
		if base != "hyperplace_extender_nodes_rejected_total" {
			continue
		}
		_, rest, ok := strings.Cut(labels, `reason="`)
		if !ok {
			continue
		}
		reason, _, _ := strings.Cut(rest, `"`)
		if d := v - before[series]; d != 0 {
			out[reason] += d
		}
	}
	return out
}

// The reason hyperplace gives (and counts) for a node name it does not cache (scoring/reasons.cc).
const rejectUnknownNode = `reason="unknown_node"`

// A required-topology gang in names mode on 1027 ml.p5.48xlarge nodes (hyperplace allows 49 pods
// on each): 512 racks (layer 3) of 2 nodes, 98 pod slots, and one rack of 3, 147 slots, under 33
// layer-2 and 9 layer-1 domains. The gang of 100 pods (podset-required-topology on layer 3) fits
// only the rack of 3, and that rack's nodes are created first, before the others: kube-scheduler
// lists nodes in the order they arrived, starting every cycle where the last one started (with
// percentageOfNodesToScore 100 it examines every node, which brings the start back to the same
// place), so every filter request carries all 1027 names with that rack's among the first and
// not among the last 16. A names lookup that misses any name rejects that node ("not in the
// extender's cache"); with a lookup that found only the last 16 names the rack that fits would
// be rejected, and the gang would go to a rack of 98 slots and stall there. So: every pod lands
// in that rack, hyperplace rejected no node as unknown, and every filter request carried all
// 1027 names (hyperplace_extender_candidate_nodes).
func (f *fixture) testRequiredTopologyAtScale(t *testing.T) {
	ctx := t.Context()
	const (
		scenario  = "scale-required-topology"
		racks     = 512 // of 2 nodes, besides the rack of 3 that holds the gang
		nodeCount = 3 + 2*racks
		size      = 100
	)
	ns := teamNamespace(ctx, t, f.admin, "scale")
	fast := f.fastAdmin(t)

	rackOf := func(i int) int { // rack 0 is the rack of 3
		if i < 3 {
			return 0
		}
		return 1 + (i-3)/2
	}
	l3Of := map[string]string{}
	nodes := make([]*corev1.Node, nodeCount)
	for i := range nodes {
		r := rackOf(i)
		n := nodeOpts{scenario: scenario, index: i, typ: p5_48xlarge,
			l1: networkNode(scenario, 1, r/16/4), l2: networkNode(scenario, 2, r/16), l3: networkNode(scenario, 3, r)}.build()
		nodes[i] = n
		l3Of[n.Name] = n.Labels[labelLayer3]
	}
	target := networkNode(scenario, 3, 0)
	before := f.hp.Metrics(t)
	began := time.Now()
	createNodeObjects(ctx, t, fast, nodes[:3]...) // the rack that fits: first, in order
	parallel(16, nodeCount-3, func(i int) error {
		_, err := fast.CoreV1().Nodes().Create(ctx, nodes[3+i], metav1.CreateOptions{})
		return err
	}, t)
	defer f.deleteScenarioNodes(t, scenario, before.Sum("hyperplace_cache_nodes"))
	waitNodesInCache(ctx, t, f.hp, int(before.Sum("hyperplace_cache_nodes"))+nodeCount)
	t.Logf("%d nodes created and in hyperplace's cache after %v", nodeCount, time.Since(began).Round(time.Millisecond))

	// From here the cache holds every node: no name may be unknown.
	synced := f.hp.Metrics(t)
	rec := recordPods(t, f.admin, ns)
	began = time.Now()
	createPods(ctx, t, fast, groupPods(ns, scenario, "pretrain", size, annotRequiredTopo, labelLayer3, nil))
	placed := rec.WaitBoundOrStall(ctx, size, 30*time.Second, 240*time.Second)
	t.Logf("%d of %d pods bound after %v", rec.Bound(), size, time.Since(began).Round(time.Millisecond))
	after := f.hp.Metrics(t)

	byRack := map[string]int{}
	for node, pods := range rec.Placement() {
		byRack[l3Of[node]] += len(pods)
		if len(pods) > 49 {
			t.Errorf("node %s holds %d pods, hyperplace allows 49 on ml.p5.48xlarge", node, len(pods))
		}
	}
	if placed != nil {
		t.Errorf("gang not placed: %v; pods per layer-3 domain %v (want all %d in %s)", placed, byRack, size, target)
	} else if len(byRack) != 1 || byRack[target] != size {
		t.Errorf("gang spread over layer-3 domains %v; want all %d pods in %s (the only rack with room for them)", byRack, size, target)
	}
	rec.CheckBoundOnce(t)

	rejected := rejections(synced, after)
	t.Logf("hyperplace's rejections during the scenario, by reason: %v", rejected)
	if n := after.Sum("hyperplace_extender_nodes_rejected_total", rejectUnknownNode) -
		synced.Sum("hyperplace_extender_nodes_rejected_total", rejectUnknownNode); n != 0 {
		t.Errorf("hyperplace rejected %v nodes as not in its cache, although it cached all %d before the first pod", n, nodeCount)
	}
	if rejected["domain_too_small"] == 0 {
		t.Errorf("no node rejected as domain_too_small: the gang's first filter did not turn the small racks away")
	}
	cand := after.Histogram("hyperplace_extender_candidate_nodes", `verb="filter"`).
		Minus(synced.Histogram("hyperplace_extender_candidate_nodes", `verb="filter"`))
	// Every node of the scenario passes kube-scheduler's own filters (hyperplace's 49 pods per
	// node come long before the kubelet's 100), and no other node does: a mean of exactly
	// nodeCount means each request named all of them.
	t.Logf("filter requests: %v, %.1f names each on average", cand.Count, cand.Mean())
	if cand.Count < size || cand.Mean() != nodeCount {
		t.Errorf("%v filter requests with %.1f names on average; want at least %d, each with all %d names",
			cand.Count, cand.Mean(), size, nodeCount)
	}
	lat := summarise(after.Histogram("hyperplace_http_request_duration_seconds", `server="extender"`, `verb="filter"`).
		Minus(synced.Histogram("hyperplace_http_request_duration_seconds", `server="extender"`, `verb="filter"`)))
	t.Logf("hyperplace /filter with %d names: mean %.3f ms, p99 <= %.3g ms", nodeCount, lat.MeanMs, lat.P99Ms)
	deleteNamespacePods(ctx, t, f.admin, ns)
}

// deleteScenarioNodes deletes the scenario's nodes and waits until hyperplace's cache is back to
// `cached` nodes, so that later scenarios do not carry a thousand extra nodes.
func (f *fixture) deleteScenarioNodes(t *testing.T, scenario string, cached float64) {
	t.Helper()
	ctx := context.Background()
	if err := f.admin.CoreV1().Nodes().DeleteCollection(ctx, metav1.DeleteOptions{},
		metav1.ListOptions{LabelSelector: labelScenario + "=" + scenario}); err != nil {
		t.Errorf("delete the nodes of %s: %v", scenario, err)
		return
	}
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true,
		func(ctx context.Context) (bool, error) {
			return f.hp.Metrics(t).Sum("hyperplace_cache_nodes") == cached, nil
		}); err != nil {
		t.Errorf("hyperplace caches %v nodes after deleting those of %s, want %v", f.hp.Metrics(t).Sum("hyperplace_cache_nodes"), scenario, cached)
	}
}

// ---------------------------------------------------------------------------------------------
// Two replicas behind one address.

// failoverProxy is one address in front of two hyperplace replicas, as a Service with
// sessionAffinity: ClientIP is: every request goes to replica 1 while it accepts connections,
// and to replica 2 from the first request replica 1 refuses. A request replica 1 was serving
// when it died fails (502), as a reset connection does. Each request uses a new connection, so
// that a dead replica is seen at once.
//
// Once holdAfter binds have been let through, the next bind starts a hold: it and every later
// request wait until Release. Binds are counted as they arrive, not as they are answered:
// kube-scheduler binds a gang concurrently, so on a loaded machine every bind can arrive before
// holdAfter of them were answered. The test kills replica 1 during the hold, so that the binds then
// on their way, of pods whose /filter replica 1 served, reach replica 2.
type failoverProxy struct {
	URL       string
	began     time.Time
	targets   [2]string
	hc        *http.Client
	srv       *http.Server
	down      atomic.Bool // replica 1 refused a connection, or died serving a request
	holdAfter int

	mu       sync.Mutex
	binds    int  // binds let through before the hold
	binds1   int  // binds replica 1 answered
	holding  bool // requests wait for release
	waiting  int  // requests waiting now
	release  chan struct{}
	released bool
	rec      proxyRecord
}

// proxyRecord is what went where. Pods are "namespace/name".
type proxyRecord struct {
	served   [2]map[string]int   // verb -> requests each replica answered (any status)
	filterBy map[string]int      // pod -> replica (1, 2) that answered its last /filter with 200
	bindBy   map[string]int      // pod -> replica that bound it (/bind answered without error)
	failed   map[string][]string // verb -> pods whose request failed at the proxy (502)
	order    map[string][]string // pod -> "verb@replica+ms" (ms since the proxy started), in order
}

func startFailoverProxy(t testing.TB, replica1, replica2 string, holdAfter int) *failoverProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &failoverProxy{
		URL: "http://" + l.Addr().String(), began: time.Now(), targets: [2]string{replica1, replica2}, holdAfter: holdAfter,
		hc:      &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
		release: make(chan struct{}),
		rec: proxyRecord{served: [2]map[string]int{{}, {}}, filterBy: map[string]int{}, bindBy: map[string]int{},
			failed: map[string][]string{}, order: map[string][]string{}},
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve)}
	go func() { _ = p.srv.Serve(l) }()
	t.Cleanup(func() {
		p.Release()
		_ = p.srv.Close()
	})
	return p
}

func (p *failoverProxy) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	verb := strings.TrimPrefix(r.URL.Path, "/")
	podNS, podName := extenderArgsPod(body)
	pod := podNS + "/" + podName

	p.mu.Lock()
	if !p.holding && !p.released && verb == "bind" {
		if p.binds >= p.holdAfter {
			p.holding = true
		} else {
			p.binds++
		}
	}
	hold := p.holding
	if hold {
		p.waiting++
	}
	p.mu.Unlock()
	if hold {
		select {
		case <-p.release:
		case <-r.Context().Done():
		}
		p.mu.Lock()
		p.waiting--
		p.mu.Unlock()
	}

	for {
		i := 0
		if p.down.Load() {
			i = 1
		}
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, p.targets[i]+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := p.hc.Do(req)
		if err != nil {
			if i == 0 {
				p.down.Store(true)
				if op := (*net.OpError)(nil); errors.As(err, &op) && op.Op == "dial" {
					continue // it never reached replica 1: the Service sends it to replica 2
				}
			}
			p.mu.Lock()
			p.rec.failed[verb] = append(p.rec.failed[verb], pod)
			p.rec.order[pod] = append(p.rec.order[pod], fmt.Sprintf("%s@%d+%d:failed", verb, i+1, time.Since(p.began).Milliseconds()))
			p.mu.Unlock()
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		reply, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		p.mu.Lock()
		p.rec.served[i][verb]++
		p.rec.order[pod] = append(p.rec.order[pod], fmt.Sprintf("%s@%d+%d", verb, i+1, time.Since(p.began).Milliseconds()))
		if err == nil && resp.StatusCode == http.StatusOK {
			switch verb {
			case "filter":
				p.rec.filterBy[pod] = i + 1
			case "bind":
				var result struct{ Error string }
				if json.Unmarshal(reply, &result) == nil && result.Error == "" {
					p.rec.bindBy[pod] = i + 1
					if i == 0 {
						p.binds1++
					}
				}
			}
		}
		p.mu.Unlock()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(reply)
		return
	}
}

// Holding reports whether the proxy has started holding requests, and how many wait.
func (p *failoverProxy) Holding() (bool, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.holding, p.waiting
}

// Release lets waiting requests through and stops holding.
func (p *failoverProxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.released {
		p.released = true
		p.holding = false
		close(p.release)
	}
}

// Record copies what went where so far.
func (p *failoverProxy) Record() proxyRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	cp := func(m map[string]int) map[string]int {
		out := map[string]int{}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	cpl := func(m map[string][]string) map[string][]string {
		out := map[string][]string{}
		for k, v := range m {
			out[k] = append([]string(nil), v...)
		}
		return out
	}
	return proxyRecord{served: [2]map[string]int{cp(p.rec.served[0]), cp(p.rec.served[1])},
		filterBy: cp(p.rec.filterBy), bindBy: cp(p.rec.bindBy), failed: cpl(p.rec.failed), order: cpl(p.rec.order)}
}

// Two hyperplace replicas against the same apiserver behind one address (failoverProxy);
// kube-scheduler calls that address. A gang of 14 (required layer 3) in burst, on rack a (one
// ml.g5.xlarge: 14 pod slots) and rack b (two: 28). Both hold the gang; best fit puts it in rack
// a. Replica 1 is SIGKILLed in the middle of the gang, while binds of pods whose /filter it
// served are on their way (the proxy holds them across the kill), and replica 2 serves the
// rest: those binds, and the filters of the pods not yet placed. A replica that placed the
// remaining pods without knowing their placed peers would see a fresh group of 14 and rack a
// with fewer free slots than that (a domain too small, and a worse best fit): it would send them
// to rack b, splitting the gang. So: every pod bound once, all in rack a, replica 2 bound pods
// (its binds_total{result="bound"}), among them one whose /filter replica 1 served, and
// filtered others.
//
// HalfBound: replica 1 answers 7 binds; the proxy holds the next one and replica 1 dies (its
// successor learns the placed pods from its pod watch). FirstBind: the proxy holds the first
// bind; replica 2 binds pods without having seen their /filter and must count each in its group
// at once (DESIGN §2.4: the group of every pod, placed or pending, is known from the watch): the
// next /filter or /prioritize may come before the watch shows the bind, when the pod already
// occupies rack a's node.
func (f *fixture) testReplicaFailover(t *testing.T) {
	t.Run("HalfBound", func(t *testing.T) { f.replicaFailover(t, "half", 7) })
	t.Run("FirstBind", func(t *testing.T) { f.replicaFailover(t, "first", 0) })
}

func (f *fixture) replicaFailover(t *testing.T, mode string, boundBeforeKill int) {
	ctx := t.Context()
	scenario := "failover-" + mode
	ns := teamNamespace(ctx, t, f.admin, "failover-"+mode)
	d := func(s string) string { return "nn-fo-" + mode + "-" + s }
	l3Of, _ := f.makeNodes(ctx, t, scenario, g5_xlarge, []layout{
		{d("l1"), d("l2"), d("l3-b"), 2}, // 28 slots
		{d("l1"), d("l2"), d("l3-a"), 1}, // 14 slots: the tightest rack that holds the gang
	})
	const size = 14
	cached := int(f.hp.Metrics(t).Sum("hyperplace_cache_nodes"))

	r1 := startHyperplaceAs(t, f.c, "hyperplace-"+mode+"-replica-1")
	r2 := startHyperplaceAs(t, f.c, "hyperplace-"+mode+"-replica-2")
	waitNodesInCache(ctx, t, r1, cached)
	waitNodesInCache(ctx, t, r2, cached)
	expectDebugOff(t, r1) // the default configuration
	proxy := startFailoverProxy(t, r1.URL, r2.URL, boundBeforeKill)
	defer func() {
		f.c.StopScheduler()
		f.c.StartScheduler(f.schedulerConfig)
	}()
	f.c.StopScheduler()
	f.c.StartScheduler(schedulerConfigFromManifest(t, proxy.URL, nil, f.schedulerKubeconfig, nil))

	rec := recordPods(t, f.admin, ns)
	createPods(ctx, t, f.admin, groupPods(ns, scenario, "llm-sft", size, annotRequiredTopo, labelLayer3, nil))

	// Kill replica 1 once it has bound boundBeforeKill pods (the recorder sees them) and the
	// proxy holds the next bind.
	err := wait.PollUntilContextTimeout(ctx, 2*time.Millisecond, 60*time.Second, true,
		func(ctx context.Context) (bool, error) {
			holding, waiting := proxy.Holding()
			return holding && waiting > 0 && rec.Bound() >= boundBeforeKill, nil
		})
	if err != nil {
		holding, waiting := proxy.Holding()
		t.Fatalf("the gang never reached the kill point: %d bound, proxy holding %v with %d waiting; replica 1 log tail:\n%s",
			rec.Bound(), holding, waiting, r1.proc.LogTail(20))
	}
	_, waiting := proxy.Holding()
	boundAtKill := rec.Bound()
	r1.Kill()
	t.Logf("SIGKILLed replica 1 with %d of %d pods bound and %d requests waiting at the proxy", boundAtKill, size, waiting)
	proxy.Release()

	if err := rec.WaitBoundOrStall(ctx, size, 30*time.Second, 180*time.Second); err != nil {
		t.Errorf("after the failover: %v; pods per node %v", err, placementSizes(rec.Placement()))
	}
	pr := proxy.Record()
	t.Logf("requests answered by replica 1 %v, by replica 2 %v; failed (502) %v", pr.served[0], pr.served[1], pr.failed)
	var pods []string
	for pod := range pr.order {
		pods = append(pods, pod)
	}
	sort.Strings(pods)
	for _, pod := range pods {
		t.Logf("  %s: %s", pod, strings.Join(pr.order[pod], " "))
	}
	byRack := map[string]int{}
	for node, pods := range rec.Placement() {
		byRack[l3Of[node]] += len(pods)
		if len(pods) > 14 {
			t.Errorf("node %s holds %d pods, ml.g5.xlarge allows 14", node, len(pods))
		}
	}
	if len(byRack) != 1 || byRack[d("l3-a")] != size {
		snap := rec.Snapshot()
		var names []string
		for name := range snap {
			names = append(names, name)
		}
		sort.Strings(names)
		var lines []string
		for _, name := range names {
			where := "pending"
			if nodes := snap[name].Nodes; len(nodes) > 0 {
				where = fmt.Sprintf("on %v (%s)", nodes, l3Of[nodes[len(nodes)-1]])
			}
			lines = append(lines, fmt.Sprintf("  %s %s: %s", name, where, strings.Join(pr.order[ns+"/"+name], " ")))
		}
		t.Errorf("gang split over layer-3 domains %v; want all %d pods in %s (where replica 1 put the first ones). Requests per pod:\n%s",
			byRack, size, d("l3-a"), strings.Join(lines, "\n"))
	}
	rec.CheckBoundOnce(t)
	for name, n := range scheduledEvents(ctx, t, f.admin, ns) {
		if n > 1 {
			t.Errorf("pod %s has %d Scheduled events", name, n)
		}
	}

	var handedOver []string // filtered by replica 1, bound by replica 2
	for pod, by := range pr.bindBy {
		if by == 2 && pr.filterBy[pod] == 1 {
			handedOver = append(handedOver, pod)
		}
	}
	sort.Strings(handedOver)
	filtered2 := 0
	for _, by := range pr.filterBy {
		if by == 2 {
			filtered2++
		}
	}
	t.Logf("replica 2 bound %d pods whose /filter replica 1 served %v, and filtered %d pods", len(handedOver), handedOver, filtered2)
	if len(handedOver) == 0 {
		t.Errorf("no pod filtered by replica 1 was bound by replica 2: the failover did not fall between a pod's filter and its bind")
	}
	if filtered2 == 0 {
		t.Errorf("replica 2 filtered no pod of the gang: the failover did not fall before the last pods were placed")
	}
	m2 := r2.Metrics(t)
	if bound := m2.Sum("hyperplace_extender_binds_total", `result="bound"`); bound < 1 {
		t.Errorf("replica 2 bound no pod (binds_total %v)", bound)
	} else {
		t.Logf("replica 2: binds_total{result=\"bound\"} %v, rejected %v", bound, m2.Sum("hyperplace_extender_binds_total", `result="rejected"`))
	}
	if ok, _ := r1.proc.Exited(); !ok {
		t.Errorf("replica 1 still running after SIGKILL")
	}
	if err := r2.proc.Stop(); err != nil {
		t.Errorf("replica 2 after SIGTERM: %v, want exit status 0; log tail:\n%s", err, r2.proc.LogTail(5))
	}
	deleteNamespacePods(ctx, t, f.admin, ns)
}
