package harness

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

func (c *Cluster) startEtcd() error {
	client, err := freePort()
	if err != nil {
		return err
	}
	peer, err := freePort()
	if err != nil {
		return err
	}
	c.etcdPeer = peer
	c.EtcdURL = fmt.Sprintf("http://127.0.0.1:%d", client)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	args := []string{
		"--name=e2e",
		"--data-dir=" + filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls=" + c.EtcdURL,
		"--advertise-client-urls=" + c.EtcdURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=e2e=" + peerURL,
		"--unsafe-no-fsync",
		"--log-level=warn",
	}
	p, err := c.startProcess("etcd", "etcd", args, nil)
	if err != nil {
		return err
	}
	c.etcd = p
	return waitReady(p, c.EtcdURL+"/health", "", nil, c.opts.ReadyTimeout)
}

func (c *Cluster) apiserverArgs() []string {
	pki := filepath.Join(c.Dir, "pki")
	args := []string{
		"--etcd-servers=" + c.EtcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(c.apiPort),
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + filepath.Join(c.Dir, "apiserver-certs"),
		"--tls-cert-file=" + filepath.Join(pki, "apiserver.crt"),
		"--tls-private-key-file=" + filepath.Join(pki, "apiserver.key"),
		"--client-ca-file=" + c.CA.CertPath,
		"--token-auth-file=" + filepath.Join(pki, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + filepath.Join(pki, "sa.key"),
		"--service-account-signing-key-file=" + filepath.Join(pki, "sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		// kube-controller-manager runs only where a test starts it, and
		// then without the service-account and node controllers: nothing
		// creates default service accounts or lifts the not-ready taint.
		"--disable-admission-plugins=ServiceAccount,TaintNodesByCondition",
		"--enable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook",
		"--allow-privileged=true",
		"--profiling=false",
		// On SIGTERM, drain and then give open watches (the scheduler's,
		// hyperplace's) 2 s instead of the 60 s request timeout: restarts
		// stay fast and watchers see the disconnect a real restart causes.
		"--shutdown-send-retry-after=true",
	}
	return append(args, c.opts.APIServerArgs...)
}

func (c *Cluster) startAPIServer() error {
	if c.apiArgs == nil {
		c.apiArgs = c.apiserverArgs()
	}
	p, err := c.startProcess("kube-apiserver", "kube-apiserver", c.apiArgs, nil)
	if err != nil {
		return err
	}
	c.apiserver = p
	return waitReady(p, c.APIServerURL+"/readyz", c.tokens[UserAdmin],
		&tls.Config{RootCAs: c.CA.Pool}, c.opts.ReadyTimeout)
}

// RestartAPIServer stops kube-apiserver (SIGTERM) and starts it again with
// the same flags and port, then waits for /readyz. etcd keeps the data.
func (c *Cluster) RestartAPIServer() {
	c.t.Helper()
	began := time.Now()
	if err := c.apiserver.Stop(); err != nil {
		c.t.Logf("harness: kube-apiserver stopped: %v", err)
	}
	if err := c.startAPIServer(); err != nil {
		c.t.Fatalf("harness: restarting kube-apiserver: %v", err)
	}
	c.t.Logf("harness: kube-apiserver restarted in %v", time.Since(began).Round(time.Millisecond))
}

// APIServer is the kube-apiserver process (replaced by RestartAPIServer).
func (c *Cluster) APIServer() *Process { return c.apiserver }

// Etcd is the etcd process.
func (c *Cluster) Etcd() *Process { return c.etcd }

// StartScheduler starts kube-scheduler with configYAML, a
// KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1) that may leave
// out apiVersion/kind, clientConnection.kubeconfig (set to the
// system:kube-scheduler user's) and leaderElection (set to off); "" means
// the default configuration (default plugins, no extender). It waits for the
// scheduler's /readyz. Call StopScheduler before starting another.
func (c *Cluster) StartScheduler(configYAML string) *Process {
	c.t.Helper()
	c.mu.Lock()
	running := c.scheduler
	c.mu.Unlock()
	if running != nil {
		if ok, _ := running.Exited(); !ok {
			c.t.Fatalf("harness: kube-scheduler already running (call StopScheduler first)")
		}
	}
	p := c.StartSchedulerNamed("kube-scheduler", configYAML)
	c.mu.Lock()
	c.scheduler = p
	c.mu.Unlock()
	return p
}

// StartSchedulerNamed starts one more kube-scheduler beside the one of
// StartScheduler (another scheduler of the cluster, or a replica), configured
// as StartScheduler describes, logging to LogDir/<name>.log. Its secure port
// authenticates and authorizes with the configuration's
// clientConnection.kubeconfig, so a scheduler running as a service account
// needs that account's rights for it too. The caller stops it (Process.Stop,
// Kill); teardown stops it otherwise.
func (c *Cluster) StartSchedulerNamed(name, configYAML string) *Process {
	c.t.Helper()
	cfg := map[string]any{}
	if err := yaml.Unmarshal([]byte(configYAML), &cfg); err != nil {
		c.t.Fatalf("harness: scheduler configuration: %v", err)
	}
	if cfg == nil {
		cfg = map[string]any{}
	}
	setDefault(cfg, "kubescheduler.config.k8s.io/v1", "apiVersion")
	setDefault(cfg, "KubeSchedulerConfiguration", "kind")
	setDefault(cfg, c.KubeconfigPath(UserScheduler), "clientConnection", "kubeconfig")
	setDefault(cfg, false, "leaderElection", "leaderElect")
	kubeconfig, _ := cfg["clientConnection"].(map[string]any)["kubeconfig"].(string)
	out, err := yaml.Marshal(cfg)
	if err != nil {
		c.t.Fatalf("harness: scheduler configuration: %v", err)
	}
	cfgPath := filepath.Join(c.Dir, name+".yaml")
	if err := os.WriteFile(cfgPath, out, 0o644); err != nil {
		c.t.Fatalf("harness: %v", err)
	}
	port, err := freePort()
	if err != nil {
		c.t.Fatalf("harness: %v", err)
	}
	args := []string{
		"--config=" + cfgPath,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(c.Dir, name+"-certs"),
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		// And its profiles (enableProfiling is on by default): a test cluster's, for the
		// throughput test's CPU profiles.
		"--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics,/debug/pprof,/debug/pprof/*",
		"-v=2",
	}
	began := time.Now()
	p, err := c.startProcess(name, "kube-scheduler", args, nil)
	if err != nil {
		c.t.Fatalf("harness: %v", err)
	}
	// The scheduler serves a self-signed certificate. A standby of leader
	// election is ready too (its informers sync before it waits for the lease).
	if err := waitReady(p, fmt.Sprintf("https://127.0.0.1:%d/readyz", port), "",
		&tls.Config{InsecureSkipVerify: true}, c.opts.ReadyTimeout); err != nil {
		c.t.Fatalf("harness: %v", err)
	}
	c.t.Logf("harness: %s ready after %v", name, time.Since(began).Round(time.Millisecond))
	return p
}

// ServiceAccountKubeconfig writes a kubeconfig for namespace/name, a
// ServiceAccount that must exist, with a token from the TokenRequest API
// (valid for the test's life), and returns its path. A process using it has
// exactly the rights RBAC gives that account.
func (c *Cluster) ServiceAccountKubeconfig(namespace, name string) string {
	c.t.Helper()
	seconds := int64(24 * 3600)
	tr, err := c.Client(UserAdmin).CoreV1().ServiceAccounts(namespace).CreateToken(context.Background(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds}},
		metav1.CreateOptions{})
	if err != nil {
		c.t.Fatalf("harness: token for service account %s/%s: %v", namespace, name, err)
	}
	user := "system:serviceaccount:" + namespace + ":" + name
	path := filepath.Join(c.Dir, "kubeconfig", fileName(user)+".kubeconfig")
	if err := os.WriteFile(path, []byte(c.kubeconfigWithToken(user, tr.Status.Token)), 0o600); err != nil {
		c.t.Fatalf("harness: %v", err)
	}
	return path
}

// StopScheduler stops kube-scheduler if it runs.
func (c *Cluster) StopScheduler() {
	c.mu.Lock()
	p := c.scheduler
	c.scheduler = nil
	c.mu.Unlock()
	if p != nil {
		_ = p.Stop()
	}
}

// Scheduler is the running kube-scheduler, or nil.
func (c *Cluster) Scheduler() *Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.scheduler
}

// StartKwok starts kwok (the fake kubelet) managing all nodes, with its
// built-in node stages (nodes become Ready) and its default pod stages less
// pod-complete (BinDir/kwok-pod-stages.yaml, from build.sh): pods bound to a
// node become Running and stay so, a Job's too, until deleted. Pod IPs come
// from 10.244.0.0/16; nothing is ever sent there.
func (c *Cluster) StartKwok() *Process {
	c.t.Helper()
	c.mu.Lock()
	running := c.kwok
	c.mu.Unlock()
	if running != nil {
		if ok, _ := running.Exited(); !ok {
			return running
		}
	}
	args := []string{
		"--kubeconfig=" + c.KubeconfigPath(UserKwok),
		"--manage-all-nodes=true",
		"--cidr=10.244.0.0/16", // pod IPs; nothing is ever sent there
		"--node-ip=10.244.0.1",
		"--config=" + filepath.Join(c.bin, "kwok-pod-stages.yaml"),
	}
	p, err := c.startProcess("kwok", "kwok", args, nil)
	if err != nil {
		c.t.Fatalf("harness: %v", err)
	}
	c.mu.Lock()
	c.kwok = p
	c.mu.Unlock()
	// kwok has no readiness endpoint unless it serves; fail fast on a crash.
	select {
	case <-p.Done():
		_, err := p.Exited()
		c.t.Fatalf("harness: kwok exited at start (%s):\n%s", exitString(err), p.LogTail(30))
	case <-time.After(500 * time.Millisecond):
	}
	return p
}

// setDefault sets cfg[path...] = v unless present, creating maps on the way.
func setDefault(cfg map[string]any, v any, path ...string) {
	m := cfg
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	last := path[len(path)-1]
	if _, ok := m[last]; !ok {
		m[last] = v
	}
}
