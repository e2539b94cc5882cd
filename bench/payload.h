// Deterministic, realistic kube-scheduler payloads for benchmarks and load tests.
//
// Nodes look like HyperPod EKS nodes (≈25 labels, the health taint on some, allocatable pods, a
// status with conditions, addresses and ~20 images: ≈8.5 KB each, as the scheduler sends them).
// The cluster is a network tree: layer-1 domains of 512 nodes, each 8 spines (layer 2) of 4 racks
// (layer 3) of 16 nodes.
// Everything is derived from the seed, so two runs with one seed produce identical bytes.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace hyperplace::bench {

struct ClusterSpec {
  int nodes = 1000;
  std::uint64_t seed = 1;
  double unhealthy_fraction = 0.02;  // health label not Schedulable
  double tainted_fraction = 0.01;    // deep health check in progress, with the health taint
  double non_ml_fraction = 0.02;     // plain EC2 instance types
  int images_per_node = 20;
};

struct GeneratedNode {
  std::string name;
  std::string instance_type;
  int max_pods = 0;  // status.allocatable.pods (the DESIGN table agrees for the ml. types used)
  // What the generator wrote into `json`, so answers can be checked against it (bench/expect.h):
  bool ml_type = true;        // the instance type carries the "ml." prefix
  bool unhealthy = false;     // node-health-status is UnschedulablePendingReplacement
  bool health_taint = false;  // the NoSchedule health taint and deep-health-check InProgress;
                              // otherwise the deep health check is Passed
  int layers = 3;             // network-node-layer-1..`layers` are set (4 on ml.p5.48xlarge)
  // The number in each layer's "nn-<number>" value: layer 1 the top domain (i / 512), layer 2 the
  // spine (i / 64), layer 3 the rack (i / 16), layer 4 a group of 4 (when `layers` is 4).
  std::array<int, 4> layer{};
  std::string json;  // the Node object as the API server serializes it
};

std::vector<GeneratedNode> GenerateNodes(const ClusterSpec& spec);

// A pending pod of a training job: team namespace, queue and priority labels, a pod group of
// `group_size` with required topology at layer 3 (when `topology` is set). The job is
// "train-<index / group_size>" and its team follows the job, so a group's pods share a namespace.
std::string GeneratePodJson(std::uint64_t seed, int index, int group_size, bool topology);

enum class TopologyKind { kNone, kRequired, kPreferred };

// Everything GeneratePod varies. Defaults give GeneratePodJson(1, 0, 0, false).
struct PodOptions {
  std::uint64_t seed = 1;
  int index = 0;                // feeds the uid and, without `name`, the pod name
  std::string team = "team-a";  // namespace "hyperpod-ns-<team>"
  std::string job = "train-0";  // owner Job; also the pod-group label when group_size > 0
  std::string name;             // empty: "<job>-worker-<index>"
  int group_size = 0;           // 0: no pod group
  TopologyKind topology = TopologyKind::kNone;  // at layer 3
  // Set: a running pod bound to this node (spec.nodeName, status Running with IPs and container
  // statuses, as a pod list returns it, ≈2.3 KB). Empty: a pending pod.
  std::string node_name;
  std::string resource_version = "1";  // the fake API server's "__RV__" placeholder fits here
};
std::string GeneratePod(const PodOptions& options);

// ExtenderArgs bodies, byte-for-byte in Go's encoding/json shape.
std::string FullNodesArgs(const std::string& pod_json, const std::vector<GeneratedNode>& nodes);
std::string NodeNamesArgs(const std::string& pod_json, const std::vector<GeneratedNode>& nodes);

// The pods of a names-mode scheduling benchmark and the cluster occupancy around them.
//
// Pending pods (what kube-scheduler asks about, cycled through by the load) come in four kinds,
// by index % 20:
//   0..7   a gang with required layer-3 topology of which some peers are already placed in one
//          rack (the common case once a job starts): topology affinity against placed peers;
//   8..13  the first pod of a gang with required topology (best-fit domain search);
//   14..16 the first pod of a gang with preferred topology;
//   17..19 a pod without a group in a team namespace.
// Placed pods are those peers plus background jobs (gangs of 8 on consecutive nodes, so mostly in
// one rack) until `total_pods` pods occupy the nodes; no node gets more than its maximum minus 4.
struct SchedulingSpec {
  std::uint64_t seed = 1;
  int pending_pods = 60;
  int total_pods = 0;  // placed pods in the cache (e.g. 30 per node)
};

struct PendingPod {
  std::string json;
  std::string name;
  std::string namespace_name;
  std::string uid;
  TopologyKind topology = TopologyKind::kNone;  // at network-node-layer-3
  int placed_peers = 0;
  // Facts for the expected answers: 0 without a pod group (then no owner either, so no group at
  // all), else kueue pod-group-total-count. Every pending pod is in a team namespace with a queue
  // label (it targets ml. capacity), selects no instance type and does not tolerate the health
  // taint.
  int group_size = 0;
};

struct PlacedPod {
  std::string name;
  std::string namespace_name;
  int node = 0;      // index into the nodes
  std::string json;  // resourceVersion "__RV__"
};

std::vector<PendingPod> GeneratePendingPods(const SchedulingSpec& spec,
                                            const std::vector<GeneratedNode>& nodes);
// Calls `emit` once per placed pod (peers of the pending gangs first), in a fixed order. Pods are
// produced one at a time so 150,000 of them need not be held at once.
// Returns how many were emitted (less than total_pods only when the nodes are full).
int ForEachPlacedPod(const SchedulingSpec& spec, const std::vector<GeneratedNode>& nodes,
                     const std::function<void(const PlacedPod&)>& emit);

// Where the placed pods are, from the same placement as ForEachPlacedPod without building their
// JSON: what hyperplace's cache must hold once it has listed them.
struct Occupancy {
  std::vector<int> pods_on_node;  // per node
  // Per pending pod (GeneratePendingPods' order): the node of each placed peer of its group, in
  // placement order (a node repeats once per pod on it). Empty for pods without placed peers.
  std::vector<std::vector<int>> peers;
  int placed = 0;  // ForEachPlacedPod's return value
};
Occupancy ModelOccupancy(const SchedulingSpec& spec, const std::vector<GeneratedNode>& nodes);

// kube-scheduler's ExtenderBindingArgs.
std::string BindingArgs(const std::string& pod_name, const std::string& pod_namespace,
                        const std::string& pod_uid, const std::string& node);

// admission.k8s.io/v1 AdmissionReviews as the kube-apiserver sends them for creations in team
// namespaces: Pods made by the Job controller, Jobs and Pods made by team members and their
// service accounts (with and without Kueue labels, with instance-type selectors lacking "ml."),
// and, 15% of them, requests the webhook must deny: a user of another team, another team's queue,
// an unknown priority class. 5% go to a non-team namespace and pass untouched. Objects carry
// managedFields and defaulted pod specs, 3–6 KB per review.
//
// Each case carries what the webhook must answer (DESIGN §3), derived from the case's own plan:
// the decision, the patch (which labels the generator left out, which instance-type selector it
// wrote without "ml."), the warnings, and for a denial what its message must name.
struct PatchOp {
  std::string op;     // "add" or "replace"
  std::string path;   // JSON Pointer, keys escaped per RFC 6901
  std::string value;  // the value as a JSON text (here always a string: "\"ml.p5.48xlarge\"")
  friend bool operator==(const PatchOp&, const PatchOp&) = default;
  friend auto operator<=>(const PatchOp&, const PatchOp&) = default;
};

struct AdmissionCase {
  std::string body;
  std::string uid;   // request.uid, echoed in the response
  std::string kind;  // "Pod" or "Job"
  std::string what;  // short description ("job-controller pod", "deny: other team's queue", ...)
  bool expect_allowed = true;
  std::vector<PatchOp> expect_patch;  // sorted; empty: the response must carry no patch
  // expect_patch as one JSON Patch document in rule order (queue, priority, then rewrites), and
  // its base64: a response in exactly this form is accepted without decoding.
  std::string expect_patch_json;
  std::string expect_patch_base64;
  int expect_warnings = 0;  // one per rewritten instance type
  // A denial's status.message must contain each of these (the user, the right queue, ...).
  std::vector<std::string> expect_message_has;
};
std::vector<AdmissionCase> GenerateAdmissionReviews(std::uint64_t seed, int count);

}  // namespace hyperplace::bench
