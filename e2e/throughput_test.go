package e2e_test

// Scheduling throughput of the real kube-scheduler alone and with hyperplace as its extender
// (names mode, filter + prioritize + bind, from manifests/scheduler-config.yaml), same cluster,
// same run: 1000 nodes, 1000 plain pods per phase. Reported, not asserted (timings belong to
// benchmarks); the test asserts that every pod got bound (by hyperplace, in its phases), and
// that hyperplace's names-mode filter knew every node name it was sent.

import (
	"context"
	"crypto/tls"
	"fmt"
	"math"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/yaml"

	"hyperplace.dev/e2e/harness"
)

// The cluster and the pods of each phase: 1000 of each, or HYPERPLACE_E2E_THROUGHPUT (nodes =
// pods, at least 100) for DESIGN §5's other size, 5000, which takes minutes more than CI has.
var throughputNodes, throughputPods = throughputSize()

func throughputSize() (nodes, pods int) {
	n := 1000
	if v := os.Getenv("HYPERPLACE_E2E_THROUGHPUT"); v != "" {
		parsed, err := strconv.Atoi(v)
		if err != nil || parsed < 100 {
			panic(fmt.Sprintf("HYPERPLACE_E2E_THROUGHPUT=%q: want a number of nodes, at least 100", v))
		}
		n = parsed
	}
	return n, n
}

const (
	// CPU profiles of kube-scheduler and kube-apiserver cover this many seconds from the first
	// create of each phase (the shortest phase lasts about 5 s).
	throughputProfileSeconds = 4
)

// latency summarises one histogram (seconds).
type latency struct {
	Count     float64 `json:"count"`
	MeanMs    float64 `json:"mean_ms"`
	P50Ms     float64 `json:"p50_le_ms"` // upper bound of the bucket holding the quantile
	P99Ms     float64 `json:"p99_le_ms"`
	TotalSecs float64 `json:"total_s"`
}

// summarise converts a histogram; a quantile above the largest finite bucket is reported as -1.
func summarise(h histogram) latency {
	ms := func(q float64) float64 {
		v := h.Quantile(q)
		if math.IsInf(v, 0) {
			return -1
		}
		return v * 1000
	}
	return latency{Count: h.Count, MeanMs: h.Mean() * 1000, P50Ms: ms(0.5), P99Ms: ms(0.99), TotalSecs: h.Sum}
}

type phaseResult struct {
	Name             string  `json:"name"`
	Namespace        string  `json:"namespace"`
	Pods             int     `json:"pods"`
	Seconds          float64 `json:"seconds"` // first pod created -> last pod bound
	PodsPerSecond    float64 `json:"pods_per_second"`
	CreateSeconds    float64 `json:"create_seconds"`      // first create -> last create answered
	BindWindowSecs   float64 `json:"bind_window_seconds"` // first bound -> last bound
	SchedulerAttempt latency `json:"scheduler_attempt"`   // scheduler_scheduling_attempt_duration_seconds (scheduled)
	// hyperplace's own view (phase with the extender only), by verb.
	Extender map[string]latency `json:"extender,omitempty"`
	// Nodes hyperplace's /filter rejected during the phase, by reason (reasons that rose), and
	// the mean number of node names per /filter request.
	Rejected    map[string]float64 `json:"extender_rejections,omitempty"`
	FilterNames float64            `json:"extender_filter_names_mean,omitempty"`
	// Names-mode candidate lists hyperplace recognised from an earlier request, and decoded anew.
	ListsRecognised float64 `json:"extender_lists_recognised,omitempty"`
	ListsDecoded    float64 `json:"extender_lists_decoded,omitempty"`
	// kube-scheduler's time per extension point, over the phase.
	ExtensionPoints map[string]latency `json:"scheduler_extension_points"`
	// CPU seconds each process used during the phase (user + system, from /proc).
	CPUSeconds map[string]float64 `json:"cpu_seconds"`
	// Requests the apiserver served during the phase, by "VERB resource[/subresource]".
	APIRequests map[string]float64 `json:"apiserver_requests"`
}

type throughputReport struct {
	Nodes  int           `json:"nodes"`
	Phases []phaseResult `json:"phases"` // in the order run: alone, with, with, alone
	// Mean pods/s of the two runs of each configuration, and their ratio.
	PodsPerSecondAlone float64 `json:"pods_per_second_alone"`
	PodsPerSecondWith  float64 `json:"pods_per_second_with_hyperplace"`
	Ratio              float64 `json:"ratio_with_over_without"`
	// kube-scheduler's CPU per pod (ms, mean of the two runs of each configuration) and their
	// ratio: what the extender costs the scheduler. It moves less than pods/s with the machine's
	// other load (a busy machine still inflates every process's CPU per operation).
	SchedulerCPUPerPodAloneMs float64 `json:"scheduler_cpu_ms_per_pod_alone"`
	SchedulerCPUPerPodWithMs  float64 `json:"scheduler_cpu_ms_per_pod_with_hyperplace"`
	SchedulerCPURatio         float64 `json:"scheduler_cpu_ratio_with_over_without"`
	// The whole control plane's CPU per pod (every process measured, hyperplace included).
	TotalCPUPerPodAloneMs float64 `json:"total_cpu_ms_per_pod_alone"`
	TotalCPUPerPodWithMs  float64 `json:"total_cpu_ms_per_pod_with_hyperplace"`
	LoadBefore            string  `json:"loadavg_before"`
	LoadAfter             string  `json:"loadavg_after"`
	CPUs                  int     `json:"cpus"`
	Versions              string  `json:"versions"`
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

func TestThroughput(t *testing.T) {
	ctx := t.Context()
	// Profiling on (the harness turns it off): each phase records where the CPU goes.
	c := harness.Start(t, harness.Options{NoScheduler: true, APIServerArgs: []string{"--profiling=true"}})
	admin := c.Client(harness.UserAdmin)
	// Creating 2000 objects fast must not be what is measured: a client without rate limits.
	fastCfg := rest.CopyConfig(c.RESTConfig(harness.UserAdmin))
	fastCfg.QPS, fastCfg.Burst = 5000, 5000
	fast, err := kubernetes.NewForConfig(fastCfg)
	if err != nil {
		t.Fatal(err)
	}
	applyRBAC(ctx, t, c)
	hp := startHyperplace(t, c, withExtenderTLS)
	report := throughputReport{Nodes: throughputNodes, LoadBefore: loadavg(), CPUs: runtime.NumCPU()}

	// p5 nodes in racks of 8, 5 racks to a layer-2 domain, 25 to a layer-1 domain (1000 nodes: 125
	// racks, 25 layer-2 domains, 5 layer-1 domains).
	began := time.Now()
	nodes := make([]*corev1.Node, throughputNodes)
	for i := range nodes {
		nodes[i] = nodeOpts{scenario: "throughput", index: i, typ: p5_48xlarge,
			l1: fmt.Sprintf("nn-tp-l1-%d", i/200), l2: fmt.Sprintf("nn-tp-l2-%d", i/40), l3: fmt.Sprintf("nn-tp-l3-%d", i/8)}.build()
	}
	parallel(16, len(nodes), func(i int) error {
		_, err := fast.CoreV1().Nodes().Create(ctx, nodes[i], metav1.CreateOptions{})
		return err
	}, t)
	waitNodesInCache(ctx, t, hp, throughputNodes)
	t.Logf("%d nodes created and in hyperplace's cache after %v", throughputNodes, time.Since(began).Round(time.Millisecond))

	// The same scheduler settings in both phases; only the extender differs. The client's rate
	// limit is raised in both (its default 50 QPS would cap the default binder, not hyperplace).
	base := func(ext bool) string {
		if ext {
			return selfManaged(t, schedulerConfigFromManifest(t, hp.URL, hp.SchedulerTLS, "", nil))
		}
		out, _ := yaml.Marshal(map[string]any{
			"percentageOfNodesToScore": 100,
			"leaderElection":           map[string]any{"leaderElect": false},
		})
		return string(out)
	}
	withQPS := func(cfgYAML string) string {
		cfg := map[string]any{}
		if err := yaml.Unmarshal([]byte(cfgYAML), &cfg); err != nil {
			t.Fatal(err)
		}
		cfg["clientConnection"] = map[string]any{"qps": 5000, "burst": 5000}
		out, _ := yaml.Marshal(cfg)
		return string(out)
	}

	// Two runs of each configuration, in the order alone, with, with, alone, so that a drift in
	// the machine's load over the run weighs on both alike.
	for round, ext := range []bool{false, true, true, false} {
		name := "kube-scheduler alone"
		if ext {
			name = "kube-scheduler + hyperplace"
		}
		sched := c.StartScheduler(withQPS(base(ext)))
		res := runPhase(ctx, t, c, admin, fast, hp, sched, name, ext, round)
		report.Phases = append(report.Phases, res)
		c.StopScheduler()
		// Empty the nodes again for the next phase (and hyperplace's cache with them).
		deleteNamespacePods(ctx, t, admin, res.Namespace)
		if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true,
			func(ctx context.Context) (bool, error) {
				return hp.Metrics(t).Sum("hyperplace_cache_pods") == 0, nil
			}); err != nil {
			t.Fatalf("hyperplace still caches %v pods after the deletes", hp.Metrics(t).Sum("hyperplace_cache_pods"))
		}
	}
	report.LoadAfter = loadavg()
	v, _ := admin.Discovery().ServerVersion()
	if v != nil {
		report.Versions = "kube-apiserver/kube-scheduler " + v.GitVersion
	}
	if out, err := execOutput(hp.bin, "version"); err == nil {
		report.Versions += ", " + strings.TrimSpace(out)
	}
	report.PodsPerSecondAlone = (report.Phases[0].PodsPerSecond + report.Phases[3].PodsPerSecond) / 2
	report.PodsPerSecondWith = (report.Phases[1].PodsPerSecond + report.Phases[2].PodsPerSecond) / 2
	report.Ratio = report.PodsPerSecondWith / report.PodsPerSecondAlone
	perPod := func(a, b phaseResult, proc string) float64 {
		sum := func(p phaseResult) float64 {
			if proc != "" {
				return p.CPUSeconds[proc]
			}
			t := 0.0
			for _, v := range p.CPUSeconds {
				t += v
			}
			return t
		}
		return 1000 * (sum(a) + sum(b)) / float64(a.Pods+b.Pods)
	}
	report.SchedulerCPUPerPodAloneMs = perPod(report.Phases[0], report.Phases[3], "kube-scheduler")
	report.SchedulerCPUPerPodWithMs = perPod(report.Phases[1], report.Phases[2], "kube-scheduler")
	report.SchedulerCPURatio = report.SchedulerCPUPerPodWithMs / report.SchedulerCPUPerPodAloneMs
	report.TotalCPUPerPodAloneMs = perPod(report.Phases[0], report.Phases[3], "")
	report.TotalCPUPerPodWithMs = perPod(report.Phases[1], report.Phases[2], "")
	t.Logf("scheduling throughput, %d nodes, %d pods per phase (first pod created -> last pod bound):", throughputNodes, throughputPods)
	for _, p := range report.Phases {
		t.Logf("  %-28s %6.1f pods/s (%.2fs; creates %.2fs; CPU s: %s)",
			p.Name, p.PodsPerSecond, p.Seconds, p.CreateSeconds, formatCPU(p.CPUSeconds))
	}
	t.Logf("  mean: alone %.1f pods/s, with hyperplace %.1f pods/s, ratio %.2f (target >= 0.9); load average before %s, after %s; %d CPUs",
		report.PodsPerSecondAlone, report.PodsPerSecondWith, report.Ratio, report.LoadBefore, report.LoadAfter, report.CPUs)
	t.Logf("  CPU per pod: kube-scheduler %.2f ms alone, %.2f ms with hyperplace (ratio %.2f); every process %.2f ms alone, %.2f ms with",
		report.SchedulerCPUPerPodAloneMs, report.SchedulerCPUPerPodWithMs, report.SchedulerCPURatio,
		report.TotalCPUPerPodAloneMs, report.TotalCPUPerPodWithMs)
	for _, p := range report.Phases[1:3] {
		for _, verb := range []string{"filter", "prioritize", "bind"} {
			l := p.Extender[verb]
			t.Logf("  hyperplace %-10s n=%-5.0f mean %.3f ms, p50 <= %.3g ms, p99 <= %.3g ms", verb, l.Count, l.MeanMs, l.P50Ms, l.P99Ms)
		}
		t.Logf("  hyperplace filter: %.0f node names per request on average; nodes rejected by reason %v; name lists recognised %.0f, decoded %.0f",
			p.FilterNames, p.Rejected, p.ListsRecognised, p.ListsDecoded)
	}
	for _, p := range report.Phases[:2] {
		var keys []string
		for k, v := range p.APIRequests {
			if v >= 100 {
				keys = append(keys, fmt.Sprintf("%s %.0f", k, v))
			}
		}
		sort.Strings(keys)
		t.Logf("  %-28s apiserver requests: %s", p.Name, strings.Join(keys, ", "))
		for _, ep := range []string{"Filter", "Score", "Bind"} {
			if l, ok := p.ExtensionPoints[ep]; ok {
				t.Logf("  %-28s in-tree %-6s n=%-5.0f mean %.3f ms", p.Name, ep, l.Count, l.MeanMs)
			}
		}
	}
	writeResult(t, c, "throughput.json", report)
}

func formatCPU(m map[string]float64) string {
	var parts []string
	total := 0.0
	for _, k := range []string{"kube-apiserver", "etcd", "kube-scheduler", "hyperplace", "test"} {
		if v, ok := m[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %.2f", k, v))
			total += v
		}
	}
	return fmt.Sprintf("%s; total %.2f", strings.Join(parts, ", "), total)
}

// cpuSeconds is the user + system CPU time of a process (Linux /proc), or -1.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// Fields after the ")" that ends the command name: state is field 3; utime 14, stime 15.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return -1
	}
	var ut, st float64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return (ut + st) / 100 // USER_HZ
}

func runPhase(ctx context.Context, t *testing.T, c *harness.Cluster, admin, fast kubernetes.Interface,
	hp *hyperplaceProc, sched *harness.Process, name string, ext bool, round int) phaseResult {
	t.Helper()
	res := phaseResult{Name: name, Pods: throughputPods}
	ns := teamNamespace(ctx, t, admin, fmt.Sprintf("tput-%d", round))
	res.Namespace = ns
	procs := map[string]int{
		"kube-apiserver": c.APIServer().Pid(), "etcd": c.Etcd().Pid(), "kube-scheduler": sched.Pid(),
		"hyperplace": hp.proc.Pid(), "test": os.Getpid(),
	}
	cpuBefore := map[string]float64{}
	for k, pid := range procs {
		cpuBefore[k] = cpuSeconds(pid)
	}

	// Watch binds: the time each pod is first seen with a node.
	var mu sync.Mutex
	bound := map[string]time.Time{}
	done := make(chan struct{})
	lw := cache.NewListWatchFromClient(fast.CoreV1().RESTClient(), "pods", ns, fields.Everything())
	_, ctrl := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: lw, ObjectType: &corev1.Pod{},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) { noteBound(obj, &mu, bound, done) },
			UpdateFunc: func(_, obj any) {
				noteBound(obj, &mu, bound, done)
			},
		},
	})
	stop := make(chan struct{})
	defer close(stop)
	go ctrl.Run(stop)
	cache.WaitForCacheSync(ctx.Done(), ctrl.HasSynced)

	pods := make([]*corev1.Pod, throughputPods)
	for i := range pods {
		// Self-managed mode (selfManaged): the extender is in the default scheduler's profile, so
		// the pods name that scheduler (the webhook is off there: webhook.schedulerName "").
		pods[i] = podOpts{ns: ns, name: fmt.Sprintf("pod-%04d", i), scenario: "throughput", labels: teamLabels(ns, nil),
			schedulerName: "default-scheduler",
			requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("1"),
				corev1.ResourceMemory: resource.MustParse("4Gi"),
			}}.build()
	}
	hpBefore := hp.Metrics(t)
	schedBefore := schedulerMetrics(t, sched)
	apiBefore := apiserverRequests(t, c)
	// 120 s for 1000 pods (8 pods/s would be a broken scheduler), proportionally more beyond.
	bindDeadline := time.Duration(max(120, throughputPods*120/1000)) * time.Second
	start := time.Now()
	// The same window in every phase: the creates and the bulk of the scheduling.
	profiles := startCPUProfiles(c, sched, throughputProfileSeconds)
	parallel(16, len(pods), func(i int) error {
		_, err := fast.CoreV1().Pods(ns).Create(ctx, pods[i], metav1.CreateOptions{})
		return err
	}, t)
	res.CreateSeconds = time.Since(start).Seconds()
	select {
	case <-done:
	case <-time.After(bindDeadline):
		mu.Lock()
		n := len(bound)
		mu.Unlock()
		t.Fatalf("%s: %d of %d pods bound after %v; scheduler log tail:\n%s", name, n, throughputPods, bindDeadline, sched.LogTail(20))
	}
	mu.Lock()
	var first, last time.Time
	for _, at := range bound {
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	if len(bound) != throughputPods {
		t.Errorf("%s: %d pods bound, want %d", name, len(bound), throughputPods)
	}
	mu.Unlock()
	profiles.finish(t, c, fmt.Sprintf("throughput-%d-%s", round, map[bool]string{false: "alone", true: "hyperplace"}[ext]), 12)
	res.CPUSeconds = map[string]float64{}
	for k, pid := range procs {
		res.CPUSeconds[k] = cpuSeconds(pid) - cpuBefore[k]
	}
	res.Seconds = last.Sub(start).Seconds()
	res.PodsPerSecond = float64(throughputPods) / res.Seconds
	res.BindWindowSecs = last.Sub(first).Seconds()

	schedAfter := schedulerMetrics(t, sched)
	res.APIRequests = map[string]float64{}
	for k, v := range apiserverRequests(t, c) {
		if d := v - apiBefore[k]; d >= 1 {
			res.APIRequests[k] = d
		}
	}
	res.SchedulerAttempt = summarise(schedAfter.Histogram("scheduler_scheduling_attempt_duration_seconds", `result="scheduled"`).
		Minus(schedBefore.Histogram("scheduler_scheduling_attempt_duration_seconds", `result="scheduled"`)))
	res.ExtensionPoints = map[string]latency{}
	for _, ep := range []string{"PreFilter", "Filter", "PreScore", "Score", "Reserve", "Permit", "PreBind", "Bind"} {
		m := `extension_point="` + ep + `"`
		l := summarise(schedAfter.Histogram("scheduler_framework_extension_point_duration_seconds", m).
			Minus(schedBefore.Histogram("scheduler_framework_extension_point_duration_seconds", m)))
		if l.Count > 0 {
			res.ExtensionPoints[ep] = l
		}
	}
	if ext {
		hpAfter := hp.Metrics(t)
		res.Extender = map[string]latency{}
		for _, verb := range []string{"filter", "prioritize", "bind"} {
			m := []string{`server="extender"`, `verb="` + verb + `"`}
			res.Extender[verb] = summarise(hpAfter.Histogram("hyperplace_http_request_duration_seconds", m...).
				Minus(hpBefore.Histogram("hyperplace_http_request_duration_seconds", m...)))
		}
		if n := res.Extender["bind"].Count; n < float64(throughputPods) {
			t.Errorf("%s: hyperplace served %v binds, want %d (the extender must do the binding)", name, n, throughputPods)
		}
		// Names mode with every node in each request: hyperplace's cache held all of them before
		// the first pod (waitNodesInCache), so none may be rejected as unknown.
		res.Rejected = rejections(hpBefore, hpAfter)
		if n := res.Rejected["unknown_node"]; n != 0 {
			t.Errorf("%s: hyperplace rejected %v nodes as not in its cache (all %d were cached before the phase)", name, n, throughputNodes)
		}
		cand := hpAfter.Histogram("hyperplace_extender_candidate_nodes", `verb="filter"`).
			Minus(hpBefore.Histogram("hyperplace_extender_candidate_nodes", `verb="filter"`))
		// Every node passes kube-scheduler's own filters (no pod fills one), and there are no
		// others: a mean of exactly throughputNodes means each request named all of them.
		res.FilterNames = cand.Mean()
		lists := func(result string) float64 {
			m := `result="` + result + `"`
			return hpAfter.Sum("hyperplace_extender_name_lists_total", m) - hpBefore.Sum("hyperplace_extender_name_lists_total", m)
		}
		res.ListsRecognised, res.ListsDecoded = lists("recognised"), lists("decoded")
		if cand.Count < float64(throughputPods) || res.FilterNames != float64(throughputNodes) {
			t.Errorf("%s: %v filter requests with %.1f node names on average; want at least %d, each naming all %d nodes",
				name, cand.Count, res.FilterNames, throughputPods, throughputNodes)
		}
	}
	return res
}

func noteBound(obj any, mu *sync.Mutex, bound map[string]time.Time, done chan struct{}) {
	p, ok := obj.(*corev1.Pod)
	if !ok || p.Spec.NodeName == "" {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	if _, seen := bound[p.Name]; seen {
		return
	}
	bound[p.Name] = time.Now()
	if len(bound) == throughputPods {
		close(done)
	}
}

// schedulerMetrics scrapes kube-scheduler's /metrics (its secure port, self-signed; the harness
// allows /metrics without authentication).
func schedulerMetrics(t testing.TB, sched *harness.Process) metricSet {
	t.Helper()
	port := secureArg(sched)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	m, err := scrape(hc, "https://127.0.0.1:"+port+"/metrics")
	if err != nil {
		t.Fatalf("kube-scheduler /metrics: %v", err)
	}
	return m
}

// apiserverRequests scrapes apiserver_request_total into "VERB resource[/subresource]" -> count.
func apiserverRequests(t testing.TB, c *harness.Cluster) map[string]float64 {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.APIServerURL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+c.Token(harness.UserAdmin))
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.CA.Pool}}}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("kube-apiserver /metrics: %v", err)
	}
	defer resp.Body.Close()
	m, err := parseMetrics(resp.Body)
	if err != nil {
		t.Fatalf("kube-apiserver /metrics: %v", err)
	}
	label := func(labels, key string) string {
		_, rest, ok := strings.Cut(labels, key+`="`)
		if !ok {
			return ""
		}
		v, _, _ := strings.Cut(rest, `"`)
		return v
	}
	out := map[string]float64{}
	for series, v := range m {
		base, labels, _ := strings.Cut(series, "{")
		if base != "apiserver_request_total" {
			continue
		}
		key := label(labels, "verb") + " " + label(labels, "resource")
		if sub := label(labels, "subresource"); sub != "" {
			key += "/" + sub
		}
		out[key] += v
	}
	return out
}

// parallel runs fn(0..n-1) on `workers` goroutines and fails the test on the first error.
func parallel(workers, n int, fn func(i int) error, t testing.TB) {
	t.Helper()
	idx := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				if err := fn(i); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		idx <- i
	}
	close(idx)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}
