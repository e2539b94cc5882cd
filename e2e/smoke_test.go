package e2e_test

import (
	"context"
	"slices"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"hyperplace.dev/e2e/harness"
)

// hyperpodNode is a HyperPod-shaped fake node. Status given at create time is
// kept by the apiserver (later changes would go through nodes/status).
func hyperpodNode(name, layer1, layer2, layer3 string) *corev1.Node {
	res := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("192"),
		corev1.ResourceMemory: resource.MustParse("2048Gi"),
		corev1.ResourcePods:   resource.MustParse("49"),
	}
	now := metav1.Now()
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				"kubernetes.io/hostname":                           name,
				"kubernetes.io/os":                                 "linux",
				"kubernetes.io/arch":                               "amd64",
				"node.kubernetes.io/instance-type":                 "ml.p5.48xlarge",
				"topology.k8s.aws/network-node-layer-1":            layer1,
				"topology.k8s.aws/network-node-layer-2":            layer2,
				"topology.k8s.aws/network-node-layer-3":            layer3,
				"sagemaker.amazonaws.com/node-health-status":       "Schedulable",
				"sagemaker.amazonaws.com/deep-health-check-status": "Passed",
			},
		},
		Status: corev1.NodeStatus{
			Capacity:    res,
			Allocatable: res,
			Phase:       corev1.NodeRunning,
			Conditions: []corev1.NodeCondition{{
				Type: corev1.NodeReady, Status: corev1.ConditionTrue,
				Reason: "KubeletReady", Message: "fake node",
				LastHeartbeatTime: now, LastTransitionTime: now,
			}},
		},
	}
}

func smokePod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "main",
				Image: "registry.invalid/pause:3.10", // never pulled: there is no kubelet
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU:    resource.MustParse("1"),
					corev1.ResourceMemory: resource.MustParse("1Gi"),
				}},
			}},
		},
	}
}

var smokeNodes = []string{"hp-p5-0001", "hp-p5-0002", "hp-p5-0003"}

func createNodes(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	layers := [][3]string{
		{"nn-l1-a", "nn-l2-a", "nn-l3-a"},
		{"nn-l1-a", "nn-l2-a", "nn-l3-a"},
		{"nn-l1-a", "nn-l2-a", "nn-l3-b"},
	}
	for i, name := range smokeNodes {
		l := layers[i]
		n, err := cs.CoreV1().Nodes().Create(ctx, hyperpodNode(name, l[0], l[1], l[2]), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create node %s: %v", name, err)
		}
		if got := n.Status.Allocatable.Pods().Value(); got != 49 {
			t.Fatalf("node %s: status not kept at create: allocatable pods %d", name, got)
		}
	}
}

// waitBound waits until the pod has a node and returns it.
func waitBound(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string) string {
	t.Helper()
	var node string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true,
		func(ctx context.Context) (bool, error) {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil // the apiserver may be coming back
			}
			node = p.Spec.NodeName
			return node != "", nil
		})
	if err != nil {
		t.Fatalf("pod %s/%s not bound: %v", ns, name, err)
	}
	return node
}

func TestSmoke(t *testing.T) {
	ctx := t.Context()
	c := harness.Start(t, harness.Options{})
	admin := c.Client(harness.UserAdmin)

	v, err := admin.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("server version: %v", err)
	}
	t.Logf("server version %s (%s)", v.GitVersion, v.GoVersion)
	if v.GitVersion == "" || v.GitVersion[0] != 'v' || v.Major != "1" {
		t.Errorf("version not stamped: %+v", v)
	}

	// The token file's groups reach the apiserver.
	ssr, err := c.Client(harness.UserAlice).AuthenticationV1().SelfSubjectReviews().
		Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("alice SelfSubjectReview: %v", err)
	}
	if ui := ssr.Status.UserInfo; ui.Username != "alice" ||
		!slices.Contains(ui.Groups, "hyperpod-ns-team-a-namespace-level-group") {
		t.Errorf("alice is %q in %v", ui.Username, ui.Groups)
	}
	// RBAC is on: hyperplace has no rights until its manifest is applied.
	_, err = c.Client(harness.UserHyperplace).CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("hyperplace listing nodes without RBAC: want Forbidden, got %v", err)
	}

	createNodes(ctx, t, admin)
	if _, err := admin.CoreV1().Pods("default").Create(ctx, smokePod("smoke-1"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	node := waitBound(ctx, t, admin, "default", "smoke-1")
	if !slices.Contains(smokeNodes, node) {
		t.Fatalf("smoke-1 bound to unknown node %q", node)
	}
	t.Logf("default kube-scheduler bound smoke-1 to %s", node)

	c.RestartAPIServer()

	// The same clientset recovers (new connection) and the data survived.
	var p *corev1.Pod
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true,
		func(ctx context.Context) (bool, error) {
			p, err = admin.CoreV1().Pods("default").Get(ctx, "smoke-1", metav1.GetOptions{})
			return err == nil, nil
		})
	if err != nil {
		t.Fatalf("client did not recover after the apiserver restart: %v", err)
	}
	if p.Spec.NodeName != node {
		t.Errorf("after restart smoke-1 is on %q, was on %q", p.Spec.NodeName, node)
	}
	// The scheduler's watches recover too: a new pod is bound.
	if _, err := admin.CoreV1().Pods("default").Create(ctx, smokePod("smoke-2"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod after restart: %v", err)
	}
	node2 := waitBound(ctx, t, admin, "default", "smoke-2")
	t.Logf("after the apiserver restart, kube-scheduler bound smoke-2 to %s", node2)
	if ok, err := c.Scheduler().Exited(); ok {
		t.Errorf("kube-scheduler exited: %v", err)
	}
}

// TestSmokeKwok: with kwok as the fake kubelet, a bound pod becomes Running.
func TestSmokeKwok(t *testing.T) {
	ctx := t.Context()
	c := harness.Start(t, harness.Options{Kwok: true})
	admin := c.Client(harness.UserAdmin)
	createNodes(ctx, t, admin)
	if _, err := admin.CoreV1().Pods("default").Create(ctx, smokePod("kwok-1"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	node := waitBound(ctx, t, admin, "default", "kwok-1")
	var phase corev1.PodPhase
	var ip string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true,
		func(ctx context.Context) (bool, error) {
			p, err := admin.CoreV1().Pods("default").Get(ctx, "kwok-1", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			phase, ip = p.Status.Phase, p.Status.PodIP
			return phase == corev1.PodRunning, nil
		})
	if err != nil {
		t.Fatalf("kwok-1 on %s not Running (phase %q): %v", node, phase, err)
	}
	t.Logf("kwok-1 Running on %s with pod IP %s", node, ip)
}
