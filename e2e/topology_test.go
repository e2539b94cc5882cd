package e2e_test

// `hyperplace topology` and GET /debug/topology, /debug/jobs against the live control plane: after
// a topology scenario has placed its gang, both must report what the scenario itself measured
// (which node each pod is on, the deepest layer the gang shares, the domains it spans, whether
// its annotation is met).

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"hyperplace.dev/e2e/harness"
)

// topoReport is the JSON of `hyperplace topology --output json --jobs` (inspect/render.cc).
type topoReport struct {
	Levels  []string    `json:"levels"`
	Cluster *topoDomain `json:"cluster"`
	Jobs    []topoJob   `json:"jobs"`
}

type topoDomain struct {
	Level        int          `json:"level"`
	Name         string       `json:"name"`
	Nodes        int          `json:"nodes"`
	HealthyNodes int          `json:"healthyNodes"`
	Pods         int          `json:"pods"`
	Domains      []topoDomain `json:"domains"`
	NodeList     []topoNode   `json:"nodeList"`
}

type topoNode struct {
	Name     string   `json:"name"`
	Healthy  bool     `json:"healthy"`
	Problems []string `json:"problems"`
	Pods     int      `json:"pods"`
}

type topoLevelRef struct {
	Level int    `json:"level"`
	Name  string `json:"name"`
}

type topoJob struct {
	ID              string        `json:"id"`
	Placed          int           `json:"placed"`
	Pending         int           `json:"pending"`
	GroupSize       int           `json:"groupSize"`
	RequiredMet     *bool         `json:"requiredMet"`
	PreferredMet    *bool         `json:"preferredMet"`
	SharedLevels    int           `json:"sharedLevels"`
	SharedDomain    *topoLevelRef `json:"sharedDomain"`
	DomainsPerLevel []int         `json:"domainsPerLevel"`
	WiderThanNeeded bool          `json:"widerThanNeeded"`
	TighterDomain   *topoLevelRef `json:"tighterDomain"`
	Pods            []struct {
		Name          string  `json:"name"`
		Node          *string `json:"node"`
		PendingReason *string `json:"pendingReason"`
	} `json:"pods"`
}

func (r topoReport) job(id string) *topoJob {
	for i := range r.Jobs {
		if r.Jobs[i].ID == id {
			return &r.Jobs[i]
		}
	}
	return nil
}

// find returns the domain named `name` anywhere under d.
func (d *topoDomain) find(name string) *topoDomain {
	if d == nil {
		return nil
	}
	for i := range d.Domains {
		if d.Domains[i].Name == name {
			return &d.Domains[i]
		}
		if found := d.Domains[i].find(name); found != nil {
			return found
		}
	}
	return nil
}

// debugEndpointsConfig is a configuration file that turns the /debug endpoints on. A file is
// validated on its own before the flags apply, so it names a loopback listen (the flag's address
// and TLS flags then replace and secure it).
func debugEndpointsConfig(t testing.TB, c *harness.Cluster) string {
	path := filepath.Join(c.Dir, "hyperplace-debug-endpoints.yaml")
	body := "extender:\n  listen: 127.0.0.1:8888\n  debugEndpoints: true\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// topologyCommand runs `hyperplace topology --kubeconfig ... --output json --jobs` as the
// hyperplace user (manifests/rbac.yaml's rights are enough).
func (f *fixture) topologyCommand(t *testing.T) topoReport {
	t.Helper()
	cmd := exec.Command(f.hp.bin, "topology", "--kubeconfig", f.c.KubeconfigPath(harness.UserHyperplace),
		"--output", "json", "--jobs")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hyperplace topology: %v: %s", err, stderr.String())
	}
	var r topoReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("hyperplace topology printed no JSON report: %v: %.300s", err, out)
	}
	return r
}

// debugGet reads one /debug endpoint with the scheduler's client certificate.
// One answer is built at a time: a 503 with Retry-After (another request listing the cluster)
// is retried as a client should.
func (f *fixture) debugGet(t *testing.T, path string) topoReport {
	t.Helper()
	var resp *http.Response
	var body []byte
	for attempt := 0; ; attempt++ {
		var err error
		resp, err = f.hp.HTTP.Get(f.hp.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || attempt == 10 {
			break
		}
		time.Sleep(time.Second)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %.300s", path, resp.Status, body)
	}
	var r topoReport
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("GET %s: %v: %.300s", path, err, body)
	}
	return r
}

// topoWant is what a scenario measured about its gang.
type topoWant struct {
	sharedLevels int    // layers, from the top, that every pod shares
	domain       string // the deepest of them
	spans        []int  // domains per layer (as many layers as given)
	required     *bool  // podset-required-topology met (nil: not asked)
	preferred    *bool
	wider        bool
}

// checkTopologyReport checks the command's and the server's reports of the gang `group` in `ns`
// against the scenario's own placement (node -> pod names).
// It returns the command's report.
func (f *fixture) checkTopologyReport(t *testing.T, ns, group string, placement map[string][]string, want topoWant) topoReport {
	t.Helper()
	id := ns + "/" + labelPodGroup + "=" + group
	nodeOf := map[string]string{}
	for node, pods := range placement {
		for _, p := range pods {
			nodeOf[p] = node
		}
	}
	report := f.topologyCommand(t)
	job := report.job(id)
	if job == nil {
		t.Fatalf("hyperplace topology lists no job %s", id)
		return report
	}
	if job.Placed != len(nodeOf) || job.Pending != 0 || len(job.Pods) != len(nodeOf) {
		t.Errorf("job %s: %d placed, %d pending, %d pods; want all %d placed", id, job.Placed, job.Pending, len(job.Pods), len(nodeOf))
	}
	for _, p := range job.Pods {
		if p.Node == nil || *p.Node != nodeOf[p.Name] {
			got := "<pending>"
			if p.Node != nil {
				got = *p.Node
			}
			t.Errorf("job %s: pod %s on %s, the scenario saw it on %q", id, p.Name, got, nodeOf[p.Name])
		}
	}
	t.Logf("hyperplace topology: job %s: %d placed, shares %d layers down to %+v, domains per layer %v, required met %s, preferred met %s, wider than needed %v",
		id, job.Placed, job.SharedLevels, job.SharedDomain, job.DomainsPerLevel, fmtBool(job.RequiredMet), fmtBool(job.PreferredMet), job.WiderThanNeeded)
	if job.SharedLevels != want.sharedLevels || job.SharedDomain == nil || job.SharedDomain.Name != want.domain {
		t.Errorf("job %s shares %d layers (%+v); want %d, down to %s", id, job.SharedLevels, job.SharedDomain, want.sharedLevels, want.domain)
	}
	if len(job.DomainsPerLevel) < len(want.spans) || !reflect.DeepEqual(job.DomainsPerLevel[:len(want.spans)], want.spans) {
		t.Errorf("job %s spans %v domains per layer; want %v", id, job.DomainsPerLevel, want.spans)
	}
	if !reflect.DeepEqual(job.RequiredMet, want.required) || !reflect.DeepEqual(job.PreferredMet, want.preferred) {
		t.Errorf("job %s: required met %v, preferred met %v; want %v, %v", id, fmtBool(job.RequiredMet), fmtBool(job.PreferredMet), fmtBool(want.required), fmtBool(want.preferred))
	}
	if job.WiderThanNeeded != want.wider {
		t.Errorf("job %s: wider than needed %v (tighter %+v); want %v", id, job.WiderThanNeeded, job.TighterDomain, want.wider)
	}
	// The tree: the gang's deepest shared domain holds its pods.
	if d := report.Cluster.find(want.domain); d == nil {
		t.Errorf("the tree has no domain %s", want.domain)
	} else if d.Pods < len(nodeOf) {
		t.Errorf("domain %s holds %d pods; the gang alone has %d there", want.domain, d.Pods, len(nodeOf))
	}

	// The server answers the same, in two parts.
	jobs := f.debugGet(t, "/debug/jobs")
	if jobs.Cluster != nil {
		t.Errorf("/debug/jobs carries the tree too")
	}
	if served := jobs.job(id); served == nil || !reflect.DeepEqual(*served, *job) {
		t.Errorf("/debug/jobs reports job %s as %+v; the command as %+v", id, served, *job)
	}
	tree := f.debugGet(t, "/debug/topology")
	if tree.Jobs != nil {
		t.Errorf("/debug/topology carries the jobs too")
	}
	if served, cmd := tree.Cluster.find(want.domain), report.Cluster.find(want.domain); served == nil || cmd == nil || !reflect.DeepEqual(*served, *cmd) {
		t.Errorf("/debug/topology reports %s as %+v; the command as %+v", want.domain, served, cmd)
	}
	// Like /bind, the endpoints are for holders of a client certificate only.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.c.CA.Pool}}}
	if resp, err := hc.Get(f.hp.URL + "/debug/jobs"); err == nil {
		resp.Body.Close()
		t.Errorf("/debug/jobs without a client certificate answered %s, want the TLS handshake refused", resp.Status)
	}
	return report
}

func fmtBool(b *bool) string {
	if b == nil {
		return "-"
	}
	return fmt.Sprint(*b)
}

func ptrBool(b bool) *bool { return &b }

// expectDebugOff: with the default configuration the /debug endpoints do not exist.
func expectDebugOff(t *testing.T, h *hyperplaceProc) {
	t.Helper()
	for _, path := range []string{"/debug/topology", "/debug/jobs"} {
		resp, err := h.HTTP.Get(h.URL + path)
		if err != nil {
			t.Errorf("GET %s: %v", path, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s with the endpoints off: %s, want 404", path, resp.Status)
		}
	}
}
