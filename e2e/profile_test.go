package e2e_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"hyperplace.dev/e2e/harness"
)

// cpuProfiles collects CPU profiles of the control plane's Go processes (kube-scheduler,
// kube-apiserver) over the same window, from their /debug/pprof/profile endpoints: where a
// phase's CPU goes, and so what the extender costs the scheduler.
type cpuProfiles struct {
	results map[string]chan profileResult
}

type profileResult struct {
	data []byte
	err  error
}

// startCPUProfiles starts a profile of `seconds` of each process now.
func startCPUProfiles(c *harness.Cluster, sched *harness.Process, seconds int) *cpuProfiles {
	p := &cpuProfiles{results: map[string]chan profileResult{}}
	fetch := func(name, url, token string, tlsConfig *tls.Config) {
		ch := make(chan profileResult, 1)
		p.results[name] = ch
		go func() {
			req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", url, seconds), nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			hc := &http.Client{Timeout: time.Duration(seconds+30) * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
			resp, err := hc.Do(req)
			if err != nil {
				ch <- profileResult{err: err}
				return
			}
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(data)))
			}
			ch <- profileResult{data: data, err: err}
		}()
	}
	fetch("kube-scheduler", "https://127.0.0.1:"+secureArg(sched), "", &tls.Config{InsecureSkipVerify: true})
	fetch("kube-apiserver", c.APIServerURL, c.Token(harness.UserAdmin), &tls.Config{RootCAs: c.CA.Pool})
	return p
}

// finish waits for the profiles, writes each as <prefix>-<process>.pprof in the cluster's log
// folder and in $HYPERPLACE_E2E_RESULTS_DIR, and logs the top functions of each by CPU (flat).
func (p *cpuProfiles) finish(t *testing.T, c *harness.Cluster, prefix string, top int) {
	t.Helper()
	for _, name := range []string{"kube-scheduler", "kube-apiserver"} {
		r := <-p.results[name]
		if r.err != nil {
			t.Errorf("%s CPU profile: %v", name, r.err)
			continue
		}
		paths := saveResult(t, c, "pprof", prefix+"-"+name+".pprof", r.data)
		path := paths[len(paths)-1]
		out, err := exec.Command("go", "tool", "pprof", "-top", fmt.Sprintf("-nodecount=%d", top), path).CombinedOutput()
		if err != nil {
			t.Errorf("go tool pprof %s: %v\n%s", path, err, out)
			continue
		}
		t.Logf("%s %s (%s):\n%s", prefix, name, path, pprofTop(string(out)))
	}
}

// pprofTop keeps the total line and the table of `go tool pprof -top`.
func pprofTop(out string) string {
	var keep []string
	table := false
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "Duration:"), strings.HasPrefix(line, "Showing nodes"):
			keep = append(keep, "    "+strings.TrimSpace(line))
		case strings.Contains(line, "flat%") && strings.Contains(line, "cum%"):
			table = true
			keep = append(keep, "    "+line)
		case table:
			keep = append(keep, "    "+line)
		}
	}
	return strings.Join(keep, "\n")
}

// secureArg is the --secure-port of a kube-* process.
func secureArg(p *harness.Process) string {
	for _, a := range p.Args {
		if v, ok := strings.CutPrefix(a, "--secure-port="); ok {
			return v
		}
	}
	return ""
}
