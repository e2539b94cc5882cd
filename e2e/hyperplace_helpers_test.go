package e2e_test

// Helpers for the scenarios that run hyperplace against the real control plane: the hyperplace
// process, manifests, HyperPod-shaped nodes and pods, a pod recorder, metrics and the capturing
// proxy.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"hyperplace.dev/e2e/harness"
)

// Label and annotation keys of the HyperPod / Kueue domain (DESIGN §1).
const (
	labelInstanceType = "node.kubernetes.io/instance-type"
	labelLayer1       = "topology.k8s.aws/network-node-layer-1"
	labelLayer2       = "topology.k8s.aws/network-node-layer-2"
	labelLayer3       = "topology.k8s.aws/network-node-layer-3"
	labelHealth       = "sagemaker.amazonaws.com/node-health-status"
	labelDeepHealth   = "sagemaker.amazonaws.com/deep-health-check-status"
	labelQueue        = "kueue.x-k8s.io/queue-name"
	labelPriority     = "kueue.x-k8s.io/priority-class"
	labelPodGroup     = "kueue.x-k8s.io/pod-group-name"
	annotGroupTotal   = "kueue.x-k8s.io/pod-group-total-count"
	annotRequiredTopo = "kueue.x-k8s.io/podset-required-topology"
	annotPreferTopo   = "kueue.x-k8s.io/podset-preferred-topology"
	// labelScenario keeps each scenario's pods on its own nodes (pods select it), so that
	// scenarios sharing one cluster never see each other's capacity.
	labelScenario = "e2e.hyperplace.dev/scenario"

	resourceGPU        = corev1.ResourceName("nvidia.com/gpu")
	resourceEFA        = corev1.ResourceName("vpc.amazonaws.com/efa")
	resourceNeuron     = corev1.ResourceName("aws.amazon.com/neuron")
	resourceNeuronCore = corev1.ResourceName("aws.amazon.com/neuroncore")

	// The extender's reason texts (README "What the extender decides").
	reasonMaxPods   = "hyperplace: node reached the maximum pods for its instance type"
	reasonUnhealthy = "hyperplace: node health status is not schedulable"
)

// repoPath is a path inside the repository (tests run in e2e/).
func repoPath(parts ...string) string {
	return filepath.Join(append([]string{".."}, parts...)...)
}

// hyperplaceBinary is $HYPERPLACE_BIN, else build/hyperplace of the repository.
func hyperplaceBinary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("HYPERPLACE_BIN")
	if bin == "" {
		bin = repoPath("build", "hyperplace")
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		t.Fatalf("hyperplace binary %q: %v", bin, err)
	}
	if st, err := os.Stat(abs); err != nil || st.IsDir() {
		t.Fatalf("hyperplace binary not found at %s (build it, or set HYPERPLACE_BIN; e2e/run.sh does both): %v", abs, err)
	}
	return abs
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ---------------------------------------------------------------------------------------------
// The hyperplace process.

type hyperplaceProc struct {
	t    testing.TB
	c    *harness.Cluster
	name string // process name: its log is <name>.log in the cluster's log folder
	bin  string
	port int
	args []string
	URL  string // the extender: https://127.0.0.1:<port> with withExtenderTLS, else http://
	// HTTP is the client for URL: with withExtenderTLS it verifies hyperplace against the cluster
	// CA and presents the scheduler's client certificate.
	HTTP *http.Client
	// SchedulerTLS: the files kube-scheduler's tlsConfig uses for this extender; nil: plain HTTP.
	SchedulerTLS *extenderTLS
	proc         *harness.Process
	starts       int
	// The webhook face (when started with withWebhook): https://127.0.0.1:<port>, serving a
	// certificate of the cluster CA for IP 127.0.0.1.
	WebhookURL string
}

// withWebhook turns hyperplace's webhook listener on (a certificate issued by the cluster CA).
const withWebhook = "--with-webhook"

// withExtenderTLS serves the extender as the manifests ship it: HTTPS (a certificate of the
// cluster CA for 127.0.0.1) accepting only clients with a certificate of the extender's own
// client CA, made at start.
const withExtenderTLS = "--with-extender-tls"

// extenderTLS is one TLS extender's client side.
type extenderTLS struct {
	CertFile, KeyFile string      // kube-scheduler's client certificate (clientAuth) and key
	CAFile            string      // verifies hyperplace's serving certificate (the cluster CA)
	ClientCA          *harness.CA // the CA hyperplace accepts callers of
}

// Client is an HTTP client presenting the client certificate.
func (x *extenderTLS) Client(t testing.TB, serverCAs *x509.CertPool) *http.Client {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(x.CertFile, x.KeyFile)
	if err != nil {
		t.Fatalf("extender client certificate: %v", err)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: serverCAs, Certificates: []tls.Certificate{cert}},
	}}
}

// startExtenderTLS makes the extender's certificates in dir and returns the flags that turn TLS
// with client certificates on.
func startExtenderTLS(t testing.TB, c *harness.Cluster, dir string) (*extenderTLS, []string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	clientCA, err := harness.NewCA(dir, "hyperplace-e2e-scheduler-ca")
	if err != nil {
		t.Fatalf("extender client CA: %v", err)
	}
	cert, key, err := c.CA.Issue(dir, "extender", []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatalf("extender serving certificate: %v", err)
	}
	x := &extenderTLS{CAFile: c.CA.CertPath, ClientCA: clientCA}
	if x.CertFile, x.KeyFile, err = clientCA.IssueClient(dir, "kube-scheduler"); err != nil {
		t.Fatalf("scheduler client certificate: %v", err)
	}
	return x, []string{"--extender-tls-cert-file", cert, "--extender-tls-private-key-file", key,
		"--extender-client-ca-file", clientCA.CertPath}
}

// startHyperplace runs `hyperplace serve` as the hyperplace token user (whose rights come only
// from manifests/rbac.yaml) on a fixed loopback port, and waits for /readyz (of the webhook too
// when extraArgs holds withWebhook).
func startHyperplace(t testing.TB, c *harness.Cluster, extraArgs ...string) *hyperplaceProc {
	t.Helper()
	return startHyperplaceAs(t, c, "hyperplace", extraArgs...)
}

// startHyperplaceAs is startHyperplace under another process name (one more replica: its own
// port and log).
func startHyperplaceAs(t testing.TB, c *harness.Cluster, name string, extraArgs ...string) *hyperplaceProc {
	t.Helper()
	h := &hyperplaceProc{t: t, c: c, name: name, bin: hyperplaceBinary(t), port: freePort(t)}
	h.URL = fmt.Sprintf("http://127.0.0.1:%d", h.port)
	h.HTTP = &http.Client{Timeout: 10 * time.Second}
	h.args = []string{"serve",
		"--kubeconfig", c.KubeconfigPath(harness.UserHyperplace),
		"--extender-listen", fmt.Sprintf("127.0.0.1:%d", h.port),
	}
	for _, a := range extraArgs {
		if a == withExtenderTLS {
			var flags []string
			h.SchedulerTLS, flags = startExtenderTLS(t, c, filepath.Join(c.Dir, name+"-extender-tls"))
			h.args = append(h.args, flags...)
			h.URL = fmt.Sprintf("https://127.0.0.1:%d", h.port)
			h.HTTP = h.SchedulerTLS.Client(t, c.CA.Pool)
			continue
		}
		if a != withWebhook {
			h.args = append(h.args, a)
			continue
		}
		dir := filepath.Join(c.Dir, "webhook-tls")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		cert, key, err := c.CA.Issue(dir, "hyperplace-webhook", []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")})
		if err != nil {
			t.Fatalf("webhook certificate: %v", err)
		}
		wport := freePort(t)
		h.WebhookURL = fmt.Sprintf("https://127.0.0.1:%d", wport)
		h.args = append(h.args, "--webhook-listen", fmt.Sprintf("127.0.0.1:%d", wport),
			"--tls-cert-file", cert, "--tls-private-key-file", key)
	}
	h.Start()
	return h
}

// Start starts the process (again, on the same ports) and waits until /readyz answers 200.
func (h *hyperplaceProc) Start() {
	h.t.Helper()
	h.starts++
	began := time.Now()
	h.proc = h.c.StartProcess(h.name, h.bin, h.args, nil)
	if err := h.waitReady(h.URL+"/readyz", h.HTTP, 90*time.Second); err != nil {
		h.t.Fatalf("hyperplace: %v", err)
	}
	if h.WebhookURL != "" {
		hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: h.c.CA.Pool}}}
		if err := h.waitReady(h.WebhookURL+"/readyz", hc, 90*time.Second); err != nil {
			h.t.Fatalf("hyperplace webhook: %v", err)
		}
	}
	h.t.Logf("%s (start %d) ready after %v on %s %s", h.name, h.starts, time.Since(began).Round(time.Millisecond), h.URL, h.WebhookURL)
}

func (h *hyperplaceProc) waitReady(url string, hc *http.Client, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for time.Now().Before(deadline) {
		if ok, err := h.proc.Exited(); ok {
			return fmt.Errorf("exited (%v) before %s answered 200; last answer %s; log tail:\n%s", err, url, last, h.proc.LogTail(30))
		}
		resp, err := hc.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not 200 after %v; last answer %s; log tail:\n%s", url, timeout, last, h.proc.LogTail(30))
}

// Kill SIGKILLs hyperplace.
func (h *hyperplaceProc) Kill() { h.proc.Kill() }

// filterReply is the extender's /filter answer in names mode.
type filterReply struct {
	NodeNames                  []string
	FailedNodes                map[string]string
	FailedAndUnresolvableNodes map[string]string
	Error                      string
}

// Ask sends hyperplace's extender verb ("filter", "prioritize") what kube-scheduler sends in names
// mode for pod and the node names, and decodes the answer into out. Both verbs only read its
// cache.
func (h *hyperplaceProc) Ask(verb string, pod *corev1.Pod, names []string, out any) error {
	body, err := json.Marshal(map[string]any{"Pod": pod, "Nodes": nil, "NodeNames": names})
	if err != nil {
		return err
	}
	resp, err := h.HTTP.Post(h.URL+"/"+verb, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", resp.Status, raw)
	}
	return json.Unmarshal(raw, out)
}

// Metrics scrapes /metrics.
func (h *hyperplaceProc) Metrics(t testing.TB) metricSet {
	t.Helper()
	m, err := scrape(h.HTTP, h.URL+"/metrics")
	if err != nil {
		t.Fatalf("hyperplace /metrics: %v", err)
	}
	return m
}

// metricSet maps a series ("name{labels}" exactly as exposed) to its value.
type metricSet map[string]float64

func scrape(hc *http.Client, url string) (metricSet, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (metricSet, error) {
	m := metricSet{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			// "name{…} value timestamp"
			rest := strings.TrimSpace(line[:i])
			j := strings.LastIndexByte(rest, ' ')
			if j < 0 {
				continue
			}
			if v, err = strconv.ParseFloat(rest[j+1:], 64); err != nil {
				continue
			}
			i = j
			line = rest
		}
		m[strings.TrimSpace(line[:i])] = v
	}
	return m, sc.Err()
}

// Sum adds every series of metric `name` whose labels contain all of `match` (`key="value"`).
func (m metricSet) Sum(name string, match ...string) float64 {
	total := 0.0
	for series, v := range m {
		base, labels, _ := strings.Cut(series, "{")
		if base != name {
			continue
		}
		ok := true
		for _, want := range match {
			if !strings.Contains(labels, want) {
				ok = false
				break
			}
		}
		if ok {
			total += v
		}
	}
	return total
}

// histogram is one Prometheus histogram's cumulative buckets.
type histogram struct {
	Count, Sum float64
	Buckets    [][2]float64 // (upper bound, cumulative count), ascending
}

// Histogram collects `name` (without _bucket/_sum/_count) over the series matching `match`.
func (m metricSet) Histogram(name string, match ...string) histogram {
	h := histogram{Count: m.Sum(name+"_count", match...), Sum: m.Sum(name+"_sum", match...)}
	byLE := map[float64]float64{}
	for series, v := range m {
		base, labels, _ := strings.Cut(series, "{")
		if base != name+"_bucket" {
			continue
		}
		ok := true
		for _, want := range match {
			if !strings.Contains(labels, want) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		_, rest, found := strings.Cut(labels, `le="`)
		if !found {
			continue
		}
		leText, _, _ := strings.Cut(rest, `"`)
		le := math.Inf(1)
		if leText != "+Inf" {
			var err error
			if le, err = strconv.ParseFloat(leText, 64); err != nil {
				continue
			}
		}
		byLE[le] += v
	}
	for le, v := range byLE {
		h.Buckets = append(h.Buckets, [2]float64{le, v})
	}
	sort.Slice(h.Buckets, func(i, j int) bool { return h.Buckets[i][0] < h.Buckets[j][0] })
	return h
}

// Minus is the histogram of observations made between `before` and h.
func (h histogram) Minus(before histogram) histogram {
	out := histogram{Count: h.Count - before.Count, Sum: h.Sum - before.Sum}
	prev := map[float64]float64{}
	for _, b := range before.Buckets {
		prev[b[0]] = b[1]
	}
	for _, b := range h.Buckets {
		out.Buckets = append(out.Buckets, [2]float64{b[0], b[1] - prev[b[0]]})
	}
	return out
}

// Quantile is the upper bound of the bucket holding quantile q (coarse, as Prometheus buckets
// are).
func (h histogram) Quantile(q float64) float64 {
	if h.Count == 0 {
		return 0
	}
	rank := q * h.Count
	for _, b := range h.Buckets {
		if b[1] >= rank {
			return b[0]
		}
	}
	return math.Inf(1)
}

func (h histogram) Mean() float64 {
	if h.Count == 0 {
		return 0
	}
	return h.Sum / h.Count
}

// ---------------------------------------------------------------------------------------------
// kube-scheduler configuration derived from manifests/scheduler-config.yaml.

// schedulerConfigFromManifest reads manifests/scheduler-config.yaml, checks that it registers
// hyperplace the way DESIGN §4 says (names mode, filter + prioritize + bind, every node scored,
// HTTPS with a client certificate, profile hyperplace, leader election on its own lease, the
// tuned scoring), and points the extender at url with the client files of x (nil: plain HTTP,
// for the test proxies). kubeconfig (the scheduler's service account; "" for the harness's
// system:kube-scheduler user) becomes clientConnection.kubeconfig. Everything else is as
// shipped. mutate, if given, edits the (single) extender entry.
func schedulerConfigFromManifest(t testing.TB, url string, x *extenderTLS, kubeconfig string, mutate func(ext map[string]any)) string {
	t.Helper()
	raw, err := os.ReadFile(repoPath("manifests", "scheduler-config.yaml"))
	if err != nil {
		t.Fatalf("scheduler config manifest: %v", err)
	}
	cfg := map[string]any{}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("manifests/scheduler-config.yaml: %v", err)
	}
	if cfg["apiVersion"] != "kubescheduler.config.k8s.io/v1" || cfg["kind"] != "KubeSchedulerConfiguration" {
		t.Fatalf("manifests/scheduler-config.yaml: apiVersion %v kind %v", cfg["apiVersion"], cfg["kind"])
	}
	if p, _ := cfg["percentageOfNodesToScore"].(float64); p != 100 {
		t.Errorf("manifests/scheduler-config.yaml: percentageOfNodesToScore %v, want 100", cfg["percentageOfNodesToScore"])
	}
	exts, _ := cfg["extenders"].([]any)
	if len(exts) != 1 {
		t.Fatalf("manifests/scheduler-config.yaml: %d extenders, want 1", len(exts))
	}
	ext, _ := exts[0].(map[string]any)
	for key, want := range map[string]any{
		"filterVerb": "filter", "prioritizeVerb": "prioritize", "bindVerb": "bind",
		"nodeCacheCapable": true, "ignorable": false,
	} {
		if ext[key] != want {
			t.Errorf("manifests/scheduler-config.yaml: extenders[0].%s = %v, want %v", key, ext[key], want)
		}
	}
	if w, _ := ext["weight"].(float64); w <= 0 {
		t.Errorf("manifests/scheduler-config.yaml: extenders[0].weight = %v, want > 0", ext["weight"])
	}
	// The shipped default is the authenticated extender (DESIGN §2.1).
	if u, _ := ext["urlPrefix"].(string); ext["enableHTTPS"] != true || !strings.HasPrefix(u, "https://") {
		t.Errorf("manifests/scheduler-config.yaml: extenders[0] urlPrefix %v enableHTTPS %v, want https:// and true", ext["urlPrefix"], ext["enableHTTPS"])
	}
	tlsConfig, _ := ext["tlsConfig"].(map[string]any)
	for _, key := range []string{"certFile", "keyFile", "caFile"} {
		if v, _ := tlsConfig[key].(string); v == "" {
			t.Errorf("manifests/scheduler-config.yaml: extenders[0].tlsConfig.%s is empty, want the scheduler's client certificate files", key)
		}
	}
	if tlsConfig["insecure"] == true {
		t.Errorf("manifests/scheduler-config.yaml: extenders[0].tlsConfig.insecure is true")
	}
	profiles, _ := cfg["profiles"].([]any)
	if len(profiles) != 1 {
		t.Fatalf("manifests/scheduler-config.yaml: %d profiles, want 1 (hyperplace)", len(profiles))
	}
	profile, _ := profiles[0].(map[string]any)
	if profile["schedulerName"] != "hyperplace" {
		t.Errorf("manifests/scheduler-config.yaml: profiles[0].schedulerName = %v, want hyperplace", profile["schedulerName"])
	}
	checkTunedScoring(t, profile, ext)
	le, _ := cfg["leaderElection"].(map[string]any)
	if le["leaderElect"] != true || le["resourceNamespace"] != "hyperplace-system" || le["resourceName"] != "hyperplace-scheduler" {
		t.Errorf("manifests/scheduler-config.yaml: leaderElection %v, want leaderElect on the lease hyperplace-system/hyperplace-scheduler", le)
	}
	if kubeconfig != "" {
		cfg["clientConnection"] = map[string]any{"kubeconfig": kubeconfig}
	}
	ext["urlPrefix"] = url
	if x != nil {
		ext["tlsConfig"] = map[string]any{"certFile": x.CertFile, "keyFile": x.KeyFile, "caFile": x.CAFile}
	} else {
		ext["enableHTTPS"] = false
		delete(ext, "tlsConfig")
	}
	if mutate != nil {
		mutate(ext)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatalf("scheduler config: %v", err)
	}
	return string(out)
}

// checkTunedScoring fails the test if the shipped profile's scoring drifts from what its
// comment argues: NodeResourcesFit MostAllocated over cpu and memory only (hyperplace packs
// accelerators; every extended resource listed there costs kube-scheduler a regular expression
// per node and pod), the spreading plugins lowered to 1, and the extender's weight worth more
// per point of hyperplace's score than the incidental plugins together.
func checkTunedScoring(t testing.TB, profile, ext map[string]any) {
	t.Helper()
	weights := map[string]float64{}
	plugins, _ := profile["plugins"].(map[string]any)
	multi, _ := plugins["multiPoint"].(map[string]any)
	enabled, _ := multi["enabled"].([]any)
	for _, e := range enabled {
		p, _ := e.(map[string]any)
		name, _ := p["name"].(string)
		weights[name], _ = p["weight"].(float64)
	}
	// Defaults of kube-scheduler v1.36 for those not listed.
	for name, w := range map[string]float64{"TaintToleration": 3, "NodeAffinity": 2, "NodeResourcesFit": 1,
		"PodTopologySpread": 2, "InterPodAffinity": 2, "NodeResourcesBalancedAllocation": 1, "ImageLocality": 1} {
		if _, ok := weights[name]; !ok {
			weights[name] = w
		}
	}
	for _, name := range []string{"PodTopologySpread", "InterPodAffinity"} {
		if weights[name] != 1 {
			t.Errorf("manifests/scheduler-config.yaml: %s weight %v, want 1 (lowered from 2)", name, weights[name])
		}
	}
	incidental := 100 * (weights["NodeResourcesFit"] + weights["PodTopologySpread"] + weights["InterPodAffinity"] +
		weights["NodeResourcesBalancedAllocation"] + weights["ImageLocality"])
	all := incidental + 100*(weights["TaintToleration"]+weights["NodeAffinity"])
	w, _ := ext["weight"].(float64)
	if 10*w <= incidental || 2*10*w <= all {
		t.Errorf("manifests/scheduler-config.yaml: extender weight %v: 1 point is worth %v, 2 points %v; want above %v (the incidental plugins) and %v (every plugin)",
			w, 10*w, 20*w, incidental, all)
	}
	var strategy map[string]any
	configs, _ := profile["pluginConfig"].([]any)
	for _, c := range configs {
		pc, _ := c.(map[string]any)
		if pc["name"] == "NodeResourcesFit" {
			args, _ := pc["args"].(map[string]any)
			strategy, _ = args["scoringStrategy"].(map[string]any)
		}
	}
	if strategy["type"] != "MostAllocated" {
		t.Errorf("manifests/scheduler-config.yaml: NodeResourcesFit scoringStrategy %v, want MostAllocated", strategy)
	}
	resources := map[string]float64{}
	list, _ := strategy["resources"].([]any)
	for _, r := range list {
		m, _ := r.(map[string]any)
		name, _ := m["name"].(string)
		resources[name], _ = m["weight"].(float64)
	}
	if len(resources) != 2 || resources["cpu"] <= 0 || resources["memory"] <= 0 {
		t.Errorf("manifests/scheduler-config.yaml: MostAllocated weights %v: want cpu and memory only", resources)
	}
}

// selfManaged turns the shipped configuration into the one for a control plane whose own
// scheduler takes the extender (README "Self-managed control plane"): the profile is the
// default scheduler's, so pods that name no scheduler go through hyperplace, and leader election
// is off (one scheduler, no lease).
func selfManaged(t testing.TB, configYAML string) string {
	t.Helper()
	cfg := map[string]any{}
	if err := yaml.Unmarshal([]byte(configYAML), &cfg); err != nil {
		t.Fatalf("scheduler config: %v", err)
	}
	profiles, _ := cfg["profiles"].([]any)
	profile, _ := profiles[0].(map[string]any)
	profile["schedulerName"] = "default-scheduler"
	cfg["leaderElection"] = map[string]any{"leaderElect": false}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatalf("scheduler config: %v", err)
	}
	return string(out)
}

// ---------------------------------------------------------------------------------------------
// Manifests.

// manifestObjects splits a multi-document YAML file into objects.
func manifestObjects(t testing.TB, path string) []*unstructured.Unstructured {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("%s: document %d: %v", path, len(objs)+1, err)
		}
		if len(m) == 0 {
			continue // an empty document (comments only)
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	return objs
}

// applier applies objects with server-side apply through the dynamic client.
type applier struct {
	dyn    dynamic.Interface
	mapper meta.RESTMapper
	// warnings returned by the apiserver (e.g. PodSecurity), in order.
	mu       sync.Mutex
	warnings []string
}

type warningRecorder struct{ a *applier }

func (w warningRecorder) HandleWarningHeader(code int, agent, text string) {
	if code != 299 || text == "" {
		return
	}
	w.a.mu.Lock()
	w.a.warnings = append(w.a.warnings, text)
	w.a.mu.Unlock()
}

func newApplier(t testing.TB, c *harness.Cluster, user string) *applier {
	t.Helper()
	a := &applier{}
	cfg := rest.CopyConfig(c.RESTConfig(user))
	cfg.WarningHandler = warningRecorder{a}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("dynamic client: %v", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatalf("discovery client: %v", err)
	}
	a.dyn = dyn
	a.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return a
}

// warningList keeps the apiserver's warnings of a client (rest.WarningHandler).
type warningList struct {
	mu   sync.Mutex
	list []string
}

func (w *warningList) HandleWarningHeader(code int, agent, text string) {
	if code != 299 || text == "" {
		return
	}
	w.mu.Lock()
	w.list = append(w.list, text)
	w.mu.Unlock()
}

// Take returns and clears the warnings seen so far.
func (w *warningList) Take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

// TakeWarnings returns and clears the warnings seen so far.
func (a *applier) TakeWarnings() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	w := a.warnings
	a.warnings = nil
	return w
}

// Mapping resolves an object's kind to its resource, or an error if the apiserver does not
// serve it.
func (a *applier) Mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	return a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
}

// Apply server-side-applies obj (dry run if dryRun), returning the server's answer.
func (a *applier) Apply(ctx context.Context, obj *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	m, err := a.Mapping(obj.GroupVersionKind())
	if err != nil {
		return nil, err
	}
	var ri dynamic.ResourceInterface = a.dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := obj.GetNamespace()
		if ns == "" {
			ns = "default"
		}
		ri = a.dyn.Resource(m.Resource).Namespace(ns)
	}
	opts := metav1.ApplyOptions{FieldManager: "hyperplace-e2e", Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return ri.Apply(ctx, obj.GetName(), obj, opts)
}

// applyRBAC applies manifests/namespace.yaml and rbac.yaml as admin and binds the manifest's
// ClusterRole to the hyperplace token user too (the manifest binds the ServiceAccount that the
// Deployment runs as; the e2e process authenticates as a user). That extra binding is the test's
// only addition: hyperplace gets exactly the ClusterRole's rules.
func applyRBAC(ctx context.Context, t testing.TB, c *harness.Cluster) {
	t.Helper()
	a := newApplier(t, c, harness.UserAdmin)
	for _, f := range []string{"namespace.yaml", "rbac.yaml"} {
		for _, obj := range manifestObjects(t, repoPath("manifests", f)) {
			if _, err := a.Apply(ctx, obj, false); err != nil {
				t.Fatalf("apply manifests/%s %s %s: %v", f, obj.GetKind(), obj.GetName(), err)
			}
		}
	}
	crb := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1",
		"kind":       "ClusterRoleBinding",
		"metadata":   map[string]any{"name": "hyperplace-e2e-user"},
		"roleRef": map[string]any{
			"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "hyperplace",
		},
		"subjects": []any{map[string]any{
			"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": harness.UserHyperplace,
		}},
	}}
	if _, err := a.Apply(ctx, crb, false); err != nil {
		t.Fatalf("bind ClusterRole hyperplace to user %s: %v", harness.UserHyperplace, err)
	}
	// RBAC is enforced asynchronously from its informers: wait until the user may list nodes.
	hp := c.Client(harness.UserHyperplace)
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true,
		func(ctx context.Context) (bool, error) {
			_, err := hp.CoreV1().Nodes().List(ctx, metav1.ListOptions{Limit: 1})
			return err == nil, nil
		})
	if err != nil {
		t.Fatalf("user %s still cannot list nodes after applying rbac.yaml: %v", harness.UserHyperplace, err)
	}
}

// applySchedulerRBAC applies manifests/scheduler.yaml's ServiceAccount and RBAC for real (not its
// Deployment: the test runs the scheduler as a process) and returns a kubeconfig of that service
// account, so that hyperplace's scheduler runs with exactly the rights the manifest gives it.
func applySchedulerRBAC(ctx context.Context, t testing.TB, c *harness.Cluster) string {
	t.Helper()
	a := newApplier(t, c, harness.UserAdmin)
	for _, obj := range manifestObjects(t, repoPath("manifests", "scheduler.yaml")) {
		if obj.GetKind() == "Deployment" {
			continue
		}
		if _, err := a.Apply(ctx, obj, false); err != nil {
			t.Fatalf("apply manifests/scheduler.yaml %s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
	}
	kubeconfig := c.ServiceAccountKubeconfig("hyperplace-system", "hyperplace-scheduler")
	// RBAC is enforced asynchronously from its informers: wait until the account may list nodes.
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("scheduler kubeconfig: %v", err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true,
		func(ctx context.Context) (bool, error) {
			_, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{Limit: 1})
			return err == nil, nil
		}); err != nil {
		t.Fatalf("service account hyperplace-scheduler still cannot list nodes after applying scheduler.yaml: %v", err)
	}
	return kubeconfig
}

// ---------------------------------------------------------------------------------------------
// Nodes.

// instance types used by the scenarios, with what a real node of that type reports in
// status.allocatable (cpu and memory net of EKS's kube-reserved share).
type instanceType struct {
	name          string
	cpu, memory   string
	gpus, efas    int64
	neuron        int64 // aws.amazon.com/neuron (Trainium devices)
	neuronCores   int64 // aws.amazon.com/neuroncore
	allocatablePo int64 // the kubelet's max-pods (EKS default for the type), above HyperPod's table
}

var (
	p5_48xlarge = instanceType{name: "ml.p5.48xlarge", cpu: "191450m", memory: "2002Gi", gpus: 8, efas: 32, allocatablePo: 100}
	g5_xlarge   = instanceType{name: "ml.g5.xlarge", cpu: "3920m", memory: "14Gi", gpus: 1, allocatablePo: 58}
	// 16 Trainium devices of 2 NeuronCores each, 8 EFA interfaces.
	trn1_32xlarge = instanceType{name: "ml.trn1.32xlarge", cpu: "127610m", memory: "500Gi", efas: 8,
		neuron: 16, neuronCores: 32, allocatablePo: 247}
	// A plain EKS node outside HyperPod (no ml. prefix): system workloads run here.
	m5_large = instanceType{name: "m5.large", cpu: "1930m", memory: "7Gi", allocatablePo: 29}
)

type nodeOpts struct {
	scenario       string
	index          int
	typ            instanceType
	l1, l2, l3     string
	health         string // default Schedulable
	deepHealth     string // default Passed
	taints         []corev1.Taint
	instanceGroup  string
	extraLabels    map[string]string
	allocatablePod int64 // 0: typ.allocatablePo
}

// nodeName is a HyperPod-style EC2 instance name, stable for (scenario, index).
func nodeName(scenario string, index int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", scenario, index)))
	return "hyperpod-i-0" + hex.EncodeToString(sum[:])[:16]
}

func (o nodeOpts) build() *corev1.Node {
	name := nodeName(o.scenario, o.index)
	health := o.health
	if health == "" {
		health = "Schedulable"
	}
	deep := o.deepHealth
	if deep == "" {
		deep = "Passed"
	}
	group := o.instanceGroup
	if group == "" {
		group = "worker-group-1"
	}
	labels := map[string]string{
		"kubernetes.io/hostname":                      name,
		"kubernetes.io/os":                            "linux",
		"kubernetes.io/arch":                          "amd64",
		labelInstanceType:                             o.typ.name,
		"beta.kubernetes.io/instance-type":            o.typ.name,
		"topology.kubernetes.io/region":               "us-west-2",
		"topology.kubernetes.io/zone":                 "us-west-2a",
		"topology.k8s.aws/zone-id":                    "usw2-az2",
		"sagemaker.amazonaws.com/compute-type":        "hyperpod",
		"sagemaker.amazonaws.com/cluster-name":        "e2e-cluster",
		"sagemaker.amazonaws.com/instance-group-name": group,
		labelHealth:     health,
		labelDeepHealth: deep,
		labelScenario:   o.scenario,
	}
	if !strings.HasPrefix(o.typ.name, "ml.") {
		delete(labels, "sagemaker.amazonaws.com/compute-type")
		delete(labels, "sagemaker.amazonaws.com/cluster-name")
		delete(labels, "sagemaker.amazonaws.com/instance-group-name")
		delete(labels, labelHealth)
		delete(labels, labelDeepHealth)
		labels["eks.amazonaws.com/nodegroup"] = "system"
	}
	for k, v := range map[string]string{labelLayer1: o.l1, labelLayer2: o.l2, labelLayer3: o.l3} {
		if v != "" {
			labels[k] = v
		}
	}
	for k, v := range o.extraLabels {
		labels[k] = v
	}
	pods := o.allocatablePod
	if pods == 0 {
		pods = o.typ.allocatablePo
	}
	res := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse(o.typ.cpu),
		corev1.ResourceMemory:           resource.MustParse(o.typ.memory),
		corev1.ResourceEphemeralStorage: resource.MustParse("450Gi"),
		corev1.ResourcePods:             *resource.NewQuantity(pods, resource.DecimalSI),
	}
	if o.typ.gpus > 0 {
		res[resourceGPU] = *resource.NewQuantity(o.typ.gpus, resource.DecimalSI)
	}
	if o.typ.efas > 0 {
		res[resourceEFA] = *resource.NewQuantity(o.typ.efas, resource.DecimalSI)
	}
	if o.typ.neuron > 0 {
		res[resourceNeuron] = *resource.NewQuantity(o.typ.neuron, resource.DecimalSI)
	}
	if o.typ.neuronCores > 0 {
		res[resourceNeuronCore] = *resource.NewQuantity(o.typ.neuronCores, resource.DecimalSI)
	}
	now := metav1.Now()
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.NodeSpec{
			ProviderID: "aws:///us-west-2a/" + strings.TrimPrefix(name, "hyperpod-"),
			Taints:     o.taints,
		},
		Status: corev1.NodeStatus{
			Capacity:    res,
			Allocatable: res,
			Phase:       corev1.NodeRunning,
			Conditions: []corev1.NodeCondition{{
				Type: corev1.NodeReady, Status: corev1.ConditionTrue,
				Reason: "KubeletReady", Message: "kubelet is posting ready status",
				LastHeartbeatTime: now, LastTransitionTime: now,
			}},
		},
	}
}

func createNodeObjects(ctx context.Context, t testing.TB, cs kubernetes.Interface, nodes ...*corev1.Node) {
	t.Helper()
	for _, n := range nodes {
		got, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create node %s: %v", n.Name, err)
		}
		if want, have := n.Status.Allocatable.Pods().Value(), got.Status.Allocatable.Pods().Value(); want != have {
			t.Fatalf("node %s: allocatable pods %d, created with %d", n.Name, have, want)
		}
	}
}

// waitNodesInCache waits until hyperplace's cache holds at least n nodes (its gauge), so that a
// scenario's first pod does not race the node watch.
func waitNodesInCache(ctx context.Context, t testing.TB, h *hyperplaceProc, n int) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true,
		func(ctx context.Context) (bool, error) {
			return h.Metrics(t).Sum("hyperplace_cache_nodes") >= float64(n), nil
		})
	if err != nil {
		t.Fatalf("hyperplace cache never reached %d nodes (has %v)", n, h.Metrics(t).Sum("hyperplace_cache_nodes"))
	}
}

// ---------------------------------------------------------------------------------------------
// Pods.

type podOpts struct {
	ns, name     string
	scenario     string // nodeSelector e2e.hyperplace.dev/scenario (empty: none)
	labels       map[string]string
	annotations  map[string]string
	nodeSelector map[string]string
	tolerations  []corev1.Toleration
	requests     corev1.ResourceList
	// spec.schedulerName. Empty: in a team namespace "hyperplace", as the webhook sets it (DESIGN
	// §3 rule 5; most scenarios run without the webhook), elsewhere none (the default scheduler).
	schedulerName string
	// asUserSends: name no scheduler whatever the namespace, as a user's pod arrives at the
	// webhook.
	asUserSends bool
}

// hyperplaceScheduler is the profile of manifests/scheduler-config.yaml.
const hyperplaceScheduler = "hyperplace"

func (o podOpts) build() *corev1.Pod {
	sel := map[string]string{}
	if o.scenario != "" {
		sel[labelScenario] = o.scenario
	}
	for k, v := range o.nodeSelector {
		sel[k] = v
	}
	req := o.requests
	if req == nil {
		req = corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("100m"),
			corev1.ResourceMemory: resource.MustParse("256Mi"),
		}
	}
	limits := corev1.ResourceList{}
	for k, v := range req {
		switch k {
		case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		default:
			limits[k] = v // extended resources need limit == request
		}
	}
	scheduler := o.schedulerName
	if scheduler == "" && !o.asUserSends && strings.HasPrefix(o.ns, "hyperpod-ns-") {
		scheduler = hyperplaceScheduler
	}
	var zero int64
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: o.name, Namespace: o.ns, Labels: o.labels, Annotations: o.annotations,
		},
		Spec: corev1.PodSpec{
			SchedulerName:                 scheduler,
			NodeSelector:                  sel,
			Tolerations:                   o.tolerations,
			TerminationGracePeriodSeconds: &zero,
			RestartPolicy:                 corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name:    "trainer",
				Image:   "registry.invalid/hyperpod/trainer:e2e", // never pulled: kwok plays kubelet
				Command: []string{"torchrun", "train.py"},
				Resources: corev1.ResourceRequirements{
					Requests: req, Limits: limits,
				},
			}},
		},
	}
}

// teamNamespace creates a HyperPod team namespace hyperpod-ns-<team>, labelled as HyperPod task
// governance labels it.
func teamNamespace(ctx context.Context, t testing.TB, cs kubernetes.Interface, team string) string {
	t.Helper()
	name := "hyperpod-ns-" + team
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: name,
		Labels: map[string]string{
			"sagemaker.amazonaws.com/sagemaker-managed-queue": "true",
			"sagemaker.amazonaws.com/quota-allocation-id":     team,
			"sagemaker.amazonaws.com/activate-quota":          "Enabled",
		},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}

// teamLabels are the queue and priority labels the webhook would have added.
func teamLabels(ns string, extra map[string]string) map[string]string {
	l := map[string]string{labelQueue: ns + "-localqueue", labelPriority: "training-priority"}
	for k, v := range extra {
		l[k] = v
	}
	return l
}

// createPods creates pods with a few concurrent workers.
func createPods(ctx context.Context, t testing.TB, cs kubernetes.Interface, pods []*corev1.Pod) {
	t.Helper()
	if err := createPodsErr(ctx, cs, pods); err != nil {
		t.Fatal(err)
	}
}

// createPodsErr is createPods for goroutines: it returns the first error.
func createPodsErr(ctx context.Context, cs kubernetes.Interface, pods []*corev1.Pod) error {
	errs := make(chan error, len(pods))
	work := make(chan *corev1.Pod)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				if _, err := cs.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
					errs <- fmt.Errorf("create pod %s/%s: %w", p.Namespace, p.Name, err)
				}
			}
		}()
	}
	for _, p := range pods {
		work <- p
	}
	close(work)
	wg.Wait()
	close(errs)
	return <-errs
}

// deleteNamespacePods deletes every pod of ns at once (grace 0: there is no kubelet to wait for)
// and waits until they are gone, so that a finished scenario leaves no pending pod for the
// scheduler to retry.
func deleteNamespacePods(ctx context.Context, t testing.TB, cs kubernetes.Interface, ns string) {
	t.Helper()
	zero := int64(0)
	if err := cs.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{}); err != nil {
		t.Errorf("delete pods of %s: %v", ns, err)
		return
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true,
		func(ctx context.Context) (bool, error) {
			l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			return err == nil && len(l.Items) == 0, nil
		})
	if err != nil {
		t.Errorf("pods of %s not gone: %v", ns, err)
	}
}

// ---------------------------------------------------------------------------------------------
// Pod recorder: an informer over one namespace that remembers every node a pod was ever seen
// on. spec.nodeName can be set once only; a pod seen on two nodes, or under two UIDs, would be a
// double bind.

type podRecord struct {
	UID      string
	Nodes    []string // distinct nodeName values, in the order seen (at most one expected)
	BoundAt  time.Time
	Pod      *corev1.Pod
	Recreate int // times the same name was seen with a new UID
}

type podRecorder struct {
	mu   sync.Mutex
	pods map[string]*podRecord // by name
	stop chan struct{}
}

func recordPods(t testing.TB, cs kubernetes.Interface, ns string) *podRecorder {
	t.Helper()
	r := &podRecorder{pods: map[string]*podRecord{}, stop: make(chan struct{})}
	lw := cache.NewListWatchFromClient(cs.CoreV1().RESTClient(), "pods", ns, fields.Everything())
	_, ctrl := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    &corev1.Pod{},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { r.observe(obj) },
			UpdateFunc: func(_, obj any) { r.observe(obj) },
		},
	})
	go ctrl.Run(r.stop)
	t.Cleanup(func() { close(r.stop) })
	if !cache.WaitForCacheSync(t.Context().Done(), ctrl.HasSynced) {
		t.Fatalf("pod recorder for %s did not sync", ns)
	}
	return r
}

func (r *podRecorder) observe(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.pods[p.Name]
	if rec == nil {
		rec = &podRecord{UID: string(p.UID)}
		r.pods[p.Name] = rec
	}
	if rec.UID != string(p.UID) {
		rec.Recreate++
		rec.UID = string(p.UID)
	}
	rec.Pod = p
	if p.Spec.NodeName != "" {
		if len(rec.Nodes) == 0 || rec.Nodes[len(rec.Nodes)-1] != p.Spec.NodeName {
			rec.Nodes = append(rec.Nodes, p.Spec.NodeName)
		}
		if rec.BoundAt.IsZero() {
			rec.BoundAt = time.Now()
		}
	}
}

// Snapshot copies the records.
func (r *podRecorder) Snapshot() map[string]podRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]podRecord, len(r.pods))
	for k, v := range r.pods {
		c := *v
		c.Nodes = append([]string(nil), v.Nodes...)
		out[k] = c
	}
	return out
}

// Bound counts pods with a node; Placement maps node -> pods on it (last node seen).
func (r *podRecorder) Bound() int {
	n := 0
	for _, rec := range r.Snapshot() {
		if len(rec.Nodes) > 0 {
			n++
		}
	}
	return n
}

func (r *podRecorder) Placement() map[string][]string {
	out := map[string][]string{}
	for name, rec := range r.Snapshot() {
		if len(rec.Nodes) > 0 {
			node := rec.Nodes[len(rec.Nodes)-1]
			out[node] = append(out[node], name)
		}
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

// WaitBound waits until at least n pods are bound.
func (r *podRecorder) WaitBound(ctx context.Context, t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true,
		func(ctx context.Context) (bool, error) { return r.Bound() >= n, nil })
	if err != nil {
		t.Fatalf("%d pods bound after %v, want %d; placement %v", r.Bound(), timeout, n, r.Placement())
	}
}

// WaitSeen waits until the recorder has seen n pods.
func (r *podRecorder) WaitSeen(ctx context.Context, t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, timeout, true,
		func(ctx context.Context) (bool, error) { return len(r.Snapshot()) >= n, nil })
	if err != nil {
		t.Fatalf("recorder saw %d pods, want %d", len(r.Snapshot()), n)
	}
}

// WaitBoundOrStall waits until n pods are bound, or until the bound count has not changed for
// stall (placement is stuck), or timeout. It returns an error unless n were bound.
func (r *podRecorder) WaitBoundOrStall(ctx context.Context, n int, stall, timeout time.Duration) error {
	last, since := -1, time.Now()
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true,
		func(ctx context.Context) (bool, error) {
			b := r.Bound()
			if b >= n {
				return true, nil
			}
			if b != last {
				last, since = b, time.Now()
			} else if time.Since(since) > stall {
				return false, fmt.Errorf("%d of %d pods bound and no progress for %v", b, n, stall)
			}
			return false, nil
		})
}

// CheckBoundOnce fails for any pod seen on two nodes or recreated.
func (r *podRecorder) CheckBoundOnce(t testing.TB) {
	t.Helper()
	for name, rec := range r.Snapshot() {
		if len(rec.Nodes) > 1 || rec.Recreate > 0 {
			t.Errorf("pod %s bound more than once: nodes %v, recreated %d times", name, rec.Nodes, rec.Recreate)
		}
	}
}

// waitSchedulingFailure waits until the pod's PodScheduled condition is False (Unschedulable)
// with a message containing want, and returns the message.
func waitSchedulingFailure(ctx context.Context, t testing.TB, cs kubernetes.Interface, ns, name, want string, timeout time.Duration) string {
	t.Helper()
	var msg, reason string
	var node string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true,
		func(ctx context.Context) (bool, error) {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			node = p.Spec.NodeName
			if node != "" {
				return false, fmt.Errorf("pod was bound to %s", node)
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
					msg, reason = c.Message, c.Reason
					return strings.Contains(c.Message, want), nil
				}
			}
			return false, nil
		})
	if err != nil {
		t.Fatalf("pod %s/%s: PodScheduled=False with %q not seen (reason %q, message %q, node %q): %v",
			ns, name, want, reason, msg, node, err)
	}
	if reason != corev1.PodReasonUnschedulable {
		t.Errorf("pod %s/%s: PodScheduled reason %q, want %q", ns, name, reason, corev1.PodReasonUnschedulable)
	}
	return msg
}

// scheduledEvents counts the scheduler's "Scheduled" events per pod of ns (an event repeated
// for the same pod and node is folded into one with count > 1).
func scheduledEvents(ctx context.Context, t testing.TB, cs kubernetes.Interface, ns string) map[string]int {
	t.Helper()
	l, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=Scheduled"})
	if err != nil {
		t.Fatalf("list events of %s: %v", ns, err)
	}
	out := map[string]int{}
	for _, e := range l.Items {
		n := int(e.Count)
		if e.Series != nil && int(e.Series.Count) > n {
			n = int(e.Series.Count)
		}
		if n == 0 {
			n = 1
		}
		out[e.InvolvedObject.Name] += n
	}
	return out
}

// ---------------------------------------------------------------------------------------------
// Capturing proxy: sits between kube-scheduler and hyperplace and keeps request bodies.

type capture struct {
	Verb string
	Body []byte
}

type captureProxy struct {
	URL      string
	target   string
	mu       sync.Mutex
	captured []capture
	srv      *http.Server
}

func startCaptureProxy(t testing.TB, target *hyperplaceProc) *captureProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &captureProxy{URL: "http://" + l.Addr().String(), target: target.URL}
	hc := target.HTTP // the scheduler's client certificate, when the extender asks for one
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		p.captured = append(p.captured, capture{Verb: strings.TrimPrefix(r.URL.Path, "/"), Body: body})
		p.mu.Unlock()
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := hc.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})}
	go func() { _ = p.srv.Serve(l) }()
	t.Cleanup(func() { _ = p.srv.Close() })
	return p
}

// Find returns the first captured body of verb for which match is true.
func (p *captureProxy) Find(verb string, match func(body []byte) bool) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.captured {
		if c.Verb == verb && match(c.Body) {
			return c.Body
		}
	}
	return nil
}

// extenderArgsPod decodes the pod name and namespace of a filter/prioritize body (or the bind
// body's PodName/PodNamespace).
func extenderArgsPod(body []byte) (ns, name string) {
	var args struct {
		Pod *struct {
			Metadata struct{ Name, Namespace string } `json:"metadata"`
		}
		PodName, PodNamespace string
	}
	if json.Unmarshal(body, &args) != nil {
		return "", ""
	}
	if args.Pod != nil {
		return args.Pod.Metadata.Namespace, args.Pod.Metadata.Name
	}
	return args.PodNamespace, args.PodName
}

// execOutput runs a command and returns its combined output.
func execOutput(bin string, args ...string) (string, error) {
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}

// ---------------------------------------------------------------------------------------------
// Team users and the webhook.

// applyWorkloadAuthors gives both teams' groups a test-only ClusterRole to create pods,
// ReplicaSets and Jobs in any namespace, so that hyperplace's webhook, not RBAC, is what keeps
// each user in their own team's namespace.
func applyWorkloadAuthors(ctx context.Context, t testing.TB, c *harness.Cluster) {
	t.Helper()
	a := newApplier(t, c, harness.UserAdmin)
	for _, obj := range []*unstructured.Unstructured{
		{Object: map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
			"metadata": map[string]any{"name": "e2e-workload-author"},
			"rules": []any{
				map[string]any{"apiGroups": []any{""}, "resources": []any{"pods"},
					"verbs": []any{"create", "get", "list", "delete"}},
				map[string]any{"apiGroups": []any{"apps"}, "resources": []any{"replicasets"},
					"verbs": []any{"create", "get", "list", "delete"}},
				map[string]any{"apiGroups": []any{"batch"}, "resources": []any{"jobs"},
					"verbs": []any{"create", "get", "list", "update", "patch", "delete"}},
			},
		}},
		{Object: map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
			"metadata": map[string]any{"name": "e2e-workload-author"},
			"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "e2e-workload-author"},
			"subjects": []any{
				map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "hyperpod-ns-team-a-namespace-level-group"},
				map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "hyperpod-ns-team-b-namespace-level-group"},
			},
		}},
	} {
		if _, err := a.Apply(ctx, obj, false); err != nil {
			t.Fatalf("apply %s: %v", obj.GetKind(), err)
		}
	}
}

// registerWebhook registers manifests/mutating-webhook.yaml with hyperplace's loopback URL and
// the cluster CA as caBundle (rules, namespaceSelector, failurePolicy, timeout as shipped), and
// waits until it mutates a dry-run pod in the team namespace ns. The returned function
// unregisters it and waits until it no longer does.
func registerWebhook(ctx context.Context, t testing.TB, c *harness.Cluster, hp *hyperplaceProc, ns, scenario string) (unregister func()) {
	t.Helper()
	admin := c.Client(harness.UserAdmin)
	objs := manifestObjects(t, repoPath("manifests", "mutating-webhook.yaml"))
	if len(objs) != 1 || objs[0].GetKind() != "MutatingWebhookConfiguration" {
		t.Fatalf("manifests/mutating-webhook.yaml: want one MutatingWebhookConfiguration, have %d objects", len(objs))
	}
	mwc := objs[0]
	hooks, _, _ := unstructured.NestedSlice(mwc.Object, "webhooks")
	if len(hooks) == 0 {
		t.Fatalf("manifests/mutating-webhook.yaml: no webhooks")
	}
	for i := range hooks {
		h := hooks[i].(map[string]any)
		h["clientConfig"] = map[string]any{
			"url":      hp.WebhookURL + "/mutate",
			"caBundle": base64.StdEncoding.EncodeToString(c.CA.CertPEM),
		}
	}
	if err := unstructured.SetNestedSlice(mwc.Object, hooks, "webhooks"); err != nil {
		t.Fatal(err)
	}
	if _, err := newApplier(t, c, harness.UserAdmin).Apply(ctx, mwc, false); err != nil {
		t.Fatalf("register the webhook: %v", err)
	}
	// Unregistered even if the test stops before it calls unregister: with failurePolicy Fail a
	// webhook left behind would refuse every team pod once hyperplace is down.
	t.Cleanup(func() {
		err := admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), mwc.GetName(), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("unregister the webhook: %v", err)
		}
	})
	probe := func() bool {
		p := podOpts{ns: ns, name: "probe", scenario: scenario, asUserSends: true}.build()
		got, err := admin.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil && got.Labels[labelQueue] != ""
	}
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true,
		func(ctx context.Context) (bool, error) { return probe(), nil }); err != nil {
		t.Fatalf("the registered webhook never mutated a dry-run pod in %s", ns)
	}
	return func() {
		if err := admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), mwc.GetName(), metav1.DeleteOptions{}); err != nil {
			t.Errorf("unregister the webhook: %v", err)
		}
		if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 30*time.Second, true,
			func(ctx context.Context) (bool, error) { return !probe(), nil }); err != nil {
			t.Errorf("the webhook still mutates after its configuration was deleted")
		}
	}
}
