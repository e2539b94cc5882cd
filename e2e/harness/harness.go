// Package harness runs a real Kubernetes control plane for hyperplace's e2e
// tests: etcd, kube-apiserver and kube-scheduler (and optionally kwok as the
// fake kubelet) as child processes on 127.0.0.1, built by e2e/build.sh.
//
// Every file of a cluster lives in one temporary folder outside the
// repository; it is removed when the test passes and kept (its path printed)
// when the test fails, or always with HYPERPLACE_E2E_KEEP=1.
package harness

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Well-known user names of the static token file.
const (
	UserAdmin      = "admin"                 // group system:masters
	UserScheduler  = "system:kube-scheduler" // bootstrap RBAC binds its roles
	UserHyperplace = "hyperplace"            // no groups: RBAC comes from a manifest
	UserAlice      = "alice"                 // team a
	UserBob        = "bob"                   // team b
	UserKwok       = "kwok"                  // group system:masters
	// UserControllerManager runs kube-controller-manager with its own credentials for every
	// controller, as its name (group system:masters: its controllers need all their roles).
	UserControllerManager = "system:kube-controller-manager"
)

// User is one line of the apiserver's static token file.
type User struct {
	Name   string
	Groups []string
}

// DefaultUsers are always present.
var DefaultUsers = []User{
	{Name: UserAdmin, Groups: []string{"system:masters"}},
	{Name: UserScheduler},
	{Name: UserHyperplace},
	{Name: UserAlice, Groups: []string{"hyperpod-ns-team-a-namespace-level-group"}},
	{Name: UserBob, Groups: []string{"hyperpod-ns-team-b-namespace-level-group"}},
	{Name: UserKwok, Groups: []string{"system:masters"}},
	{Name: UserControllerManager, Groups: []string{"system:masters"}},
}

// Options configures Start. The zero value starts etcd, kube-apiserver and a
// default kube-scheduler (no extender).
type Options struct {
	// BinDir holds etcd, kube-apiserver, kube-scheduler, kwok. Default:
	// $HYPERPLACE_E2E_BIN, else $HOME/.cache/hyperplace-e2e/bin.
	BinDir string
	// NoScheduler: do not start kube-scheduler (call StartScheduler later,
	// e.g. once the extender it calls is up).
	NoScheduler bool
	// SchedulerConfig is the KubeSchedulerConfiguration YAML for the
	// scheduler started by Start (see StartScheduler).
	SchedulerConfig string
	// Kwok starts kwok (v0.7.0 default stages) managing every node: it marks
	// nodes Ready and plays kubelet for pods bound to them.
	Kwok bool
	// Users are added to DefaultUsers.
	Users []User
	// APIServerArgs are appended to the kube-apiserver flags (later flags win).
	APIServerArgs []string
	// ReadyTimeout bounds each wait for a component to become ready
	// (default 90 s).
	ReadyTimeout time.Duration
}

// Cluster is a running control plane.
type Cluster struct {
	t    testing.TB
	opts Options

	// Dir is the cluster's folder; LogDir (Dir/logs) has one log per process.
	Dir    string
	LogDir string
	// CA signs the apiserver's serving certificate; use it for any other
	// certificate the test needs (CA.Issue).
	CA *CA
	// APIServerURL is https://127.0.0.1:<port>.
	APIServerURL string
	// EtcdURL is http://127.0.0.1:<port>.
	EtcdURL string

	bin       string
	tokens    map[string]string
	users     []User
	etcdPeer  int
	apiPort   int
	apiArgs   []string
	etcd      *Process
	apiserver *Process

	mu        sync.Mutex
	scheduler *Process
	kwok      *Process
	procs     []*Process // everything started, in order
	clients   map[string]kubernetes.Interface
}

// DefaultBinDir is where build.sh puts the binaries by default.
func DefaultBinDir() string {
	if d := os.Getenv("HYPERPLACE_E2E_BIN"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "hyperplace-e2e", "bin")
	}
	return filepath.Join(home, ".cache", "hyperplace-e2e", "bin")
}

// Start brings up etcd, kube-apiserver and (unless opts.NoScheduler)
// kube-scheduler, waits until each is ready, and registers teardown with
// t.Cleanup. It calls t.Fatal on any failure.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.BinDir == "" {
		opts.BinDir = DefaultBinDir()
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 90 * time.Second
	}
	need := []string{"etcd", "kube-apiserver", "kube-scheduler"}
	if opts.Kwok {
		need = append(need, "kwok", "kwok-pod-stages.yaml")
	}
	for _, b := range need {
		if _, err := os.Stat(filepath.Join(opts.BinDir, b)); err != nil {
			t.Fatalf("harness: %s not found in %s (run e2e/build.sh, or set HYPERPLACE_E2E_BIN): %v", b, opts.BinDir, err)
		}
	}
	dir, err := os.MkdirTemp("", "hyperplace-e2e-")
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	c := &Cluster{
		t: t, opts: opts, Dir: dir, LogDir: filepath.Join(dir, "logs"),
		bin: opts.BinDir, tokens: map[string]string{}, clients: map[string]kubernetes.Interface{},
	}
	t.Cleanup(c.teardown)
	if err := os.MkdirAll(c.LogDir, 0o755); err != nil {
		t.Fatalf("harness: %v", err)
	}
	if err := c.writeSecrets(); err != nil {
		t.Fatalf("harness: %v", err)
	}
	began := time.Now()
	if err := c.startEtcd(); err != nil {
		t.Fatalf("harness: %v", err)
	}
	if err := c.startAPIServer(); err != nil {
		t.Fatalf("harness: %v", err)
	}
	t.Logf("harness: etcd %s, kube-apiserver %s ready after %v (folder %s)",
		c.EtcdURL, c.APIServerURL, time.Since(began).Round(time.Millisecond), c.Dir)
	if opts.Kwok {
		c.StartKwok()
	}
	if !opts.NoScheduler {
		c.StartScheduler(opts.SchedulerConfig)
	}
	return c
}

// teardown stops every process (clients newest first, then kube-apiserver,
// then etcd, so that nothing holds a watch open while the apiserver drains),
// then removes the folder unless the test failed or HYPERPLACE_E2E_KEEP is set.
func (c *Cluster) teardown() {
	c.mu.Lock()
	var order []*Process
	for i := len(c.procs) - 1; i >= 0; i-- {
		if p := c.procs[i]; p != c.apiserver && p != c.etcd {
			order = append(order, p)
		}
	}
	c.mu.Unlock()
	for _, p := range []*Process{c.apiserver, c.etcd} {
		if p != nil {
			order = append(order, p)
		}
	}
	for _, p := range order {
		if died, err := p.diedUnasked(); died {
			c.t.Logf("harness: %s (pid %d) had exited by itself: %s; log %s", p.Name, p.Pid(), exitString(err), p.LogPath)
		}
		_ = p.Stop()
	}
	if c.t.Failed() || os.Getenv("HYPERPLACE_E2E_KEEP") != "" {
		c.t.Logf("harness: kept cluster folder %s (logs in %s)", c.Dir, c.LogDir)
		return
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		c.t.Logf("harness: removing %s: %v", c.Dir, err)
	}
}

func (c *Cluster) track(p *Process) {
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
}

// StartProcess runs bin (a path, or a name looked up in BinDir then PATH)
// with args and extra env (KEY=VALUE, appended to the test's environment),
// logging to LogDir/<name>.log. It is stopped at teardown; stop it earlier
// with Process.Stop.
func (c *Cluster) StartProcess(name, bin string, args, env []string) *Process {
	c.t.Helper()
	p, err := c.startProcess(name, bin, args, env)
	if err != nil {
		c.t.Fatalf("harness: %v", err)
	}
	return p
}

func (c *Cluster) startProcess(name, bin string, args, env []string) (*Process, error) {
	path := bin
	if !strings.ContainsRune(bin, filepath.Separator) {
		if _, err := os.Stat(filepath.Join(c.bin, bin)); err == nil {
			path = filepath.Join(c.bin, bin)
		}
	}
	p, err := startProcess(c.LogDir, name, path, args, env)
	if err != nil {
		return nil, err
	}
	c.track(p)
	return p, nil
}

// KubeconfigPath is the kubeconfig file of a user of the token file.
func (c *Cluster) KubeconfigPath(user string) string {
	if _, ok := c.tokens[user]; !ok {
		c.t.Fatalf("harness: no user %q", user)
	}
	return filepath.Join(c.Dir, "kubeconfig", fileName(user)+".kubeconfig")
}

// Token is the bearer token of a user of the token file.
func (c *Cluster) Token(user string) string {
	tok, ok := c.tokens[user]
	if !ok {
		c.t.Fatalf("harness: no user %q", user)
	}
	return tok
}

// RESTConfig is a client configuration for user (QPS 100, burst 200).
func (c *Cluster) RESTConfig(user string) *rest.Config {
	return &rest.Config{
		Host:            c.APIServerURL,
		BearerToken:     c.Token(user),
		TLSClientConfig: rest.TLSClientConfig{CAData: c.CA.CertPEM},
		QPS:             100,
		Burst:           200,
		Timeout:         30 * time.Second,
	}
}

// Client is a clientset acting as user (one per user, cached).
func (c *Cluster) Client(user string) kubernetes.Interface {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs, ok := c.clients[user]; ok {
		return cs
	}
	cs, err := kubernetes.NewForConfig(c.RESTConfig(user))
	if err != nil {
		c.t.Fatalf("harness: client for %s: %v", user, err)
	}
	c.clients[user] = cs
	return cs
}

func fileName(user string) string {
	return strings.NewReplacer(":", "-", "/", "-").Replace(user)
}

// writeSecrets makes the CA, the apiserver serving certificate, the
// service-account key, the token file and one kubeconfig per user.
func (c *Cluster) writeSecrets() error {
	pki := filepath.Join(c.Dir, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return err
	}
	ca, err := newCA(pki, "hyperplace-e2e-ca")
	if err != nil {
		return fmt.Errorf("CA: %w", err)
	}
	c.CA = ca
	if _, _, err := ca.Issue(pki, "apiserver",
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		[]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")}); err != nil {
		return fmt.Errorf("apiserver certificate: %w", err)
	}
	if err := writeRSAKey(filepath.Join(pki, "sa.key")); err != nil {
		return fmt.Errorf("service-account key: %w", err)
	}

	c.users = append(append([]User(nil), DefaultUsers...), c.opts.Users...)
	var csv strings.Builder
	for _, u := range c.users {
		if _, dup := c.tokens[u.Name]; dup {
			return fmt.Errorf("user %q given twice", u.Name)
		}
		tok := randomToken()
		c.tokens[u.Name] = tok
		// token,user,uid[,"group1,group2"]
		fmt.Fprintf(&csv, "%s,%s,uid-%s", tok, u.Name, fileName(u.Name))
		if len(u.Groups) > 0 {
			fmt.Fprintf(&csv, ",\"%s\"", strings.Join(u.Groups, ","))
		}
		csv.WriteString("\n")
	}
	if err := os.WriteFile(filepath.Join(pki, "tokens.csv"), []byte(csv.String()), 0o600); err != nil {
		return err
	}

	c.apiPort, err = freePort()
	if err != nil {
		return err
	}
	c.APIServerURL = fmt.Sprintf("https://127.0.0.1:%d", c.apiPort)
	kdir := filepath.Join(c.Dir, "kubeconfig")
	if err := os.MkdirAll(kdir, 0o700); err != nil {
		return err
	}
	for _, u := range c.users {
		if err := os.WriteFile(c.KubeconfigPath(u.Name), []byte(c.kubeconfig(u.Name)), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) kubeconfig(user string) string {
	return c.kubeconfigWithToken(user, c.tokens[user])
}

func (c *Cluster) kubeconfigWithToken(user, token string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: %q
  user:
    token: %s
contexts:
- name: e2e
  context:
    cluster: e2e
    user: %q
current-context: e2e
`, c.APIServerURL, c.CA.CertPath, user, token, user)
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls url until it answers 200, p exits, or timeout.
func waitReady(p *Process, url, token string, tlsConf *tls.Config, timeout time.Duration) error {
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf}}
	defer hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	last := "no answer"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err == nil {
			buf := make([]byte, 2048)
			n, _ := resp.Body.Read(buf)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(buf[:n])))
		} else {
			last = err.Error()
		}
		select {
		case <-p.Done():
			_, perr := p.Exited()
			return fmt.Errorf("%s exited (%s) before %s was ready; last answer: %s\n--- tail of %s:\n%s",
				p.Name, exitString(perr), url, last, p.LogPath, p.LogTail(30))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s after %v; last answer: %s\n--- tail of %s:\n%s",
				p.Name, url, timeout, last, p.LogPath, p.LogTail(30))
		case <-time.After(200 * time.Millisecond):
		}
	}
}
