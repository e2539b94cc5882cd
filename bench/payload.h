// Deterministic, realistic kube-scheduler payloads for benchmarks and load tests.
//
// Nodes look like HyperPod EKS nodes (≈25 labels, the health taint on some, capacity and
// allocatable of their instance type, a status with conditions, addresses and ~20 images: ≈8.5 KB
// each, as the scheduler sends them). Half the racks are ml.p5.48xlarge (8 GPUs, 32 EFA
// interfaces), the others p4d, g5 and trn1 instances; 2% are plain EC2 types.
// The cluster is a network tree: layer-1 domains of 512 nodes, each 8 spines (layer 2) of 4 racks
// (layer 3) of 16 nodes.
// Everything is derived from the seed, so two runs with one seed produce identical bytes.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hyperplace::bench {

// Amounts of resources in the unit kube-scheduler compares: millicores for cpu, bytes for memory
// and storage, whole units for everything else. Sorted by name, one entry per name.
struct Resources {
  std::vector<std::pair<std::string, std::int64_t>> items;

  std::int64_t Get(std::string_view name) const;  // 0 when absent
  void Add(std::string_view name, std::int64_t amount);
  void Add(const Resources& other);
  friend bool operator==(const Resources&, const Resources&) = default;
};

// A quantity as the generator writes it into an object ("191450m", "900Gi") and the amount it
// means, written down beside it (payload_test parses every text and checks the amount).
struct Quantity {
  std::string resource;
  std::string text;
  std::int64_t amount = 0;
};

// One container of a pod spec and what it requests (sorted by resource).
struct ContainerPlan {
  enum class Kind : std::uint8_t {
    kContainer,  // spec.containers
    kInit,       // spec.initContainers, runs to completion before the containers
    kSidecar,    // spec.initContainers with restartPolicy: Always, runs beside the containers
  };
  std::string name;
  Kind kind = Kind::kContainer;
  std::vector<Quantity> requests;
  std::vector<Quantity> limits;  // extended resources: equal to their requests
};

// A pod's effective request, as kube-scheduler computes it (k8s.io/component-helpers/resource
// PodRequests), written out here from the Kubernetes documentation: the containers and sidecars
// summed; each plain init container with the sidecars started before it, each sidecar with the
// sidecars up to and including it; per resource the larger of the two. Amounts > 0 only.
Resources EffectiveRequests(const std::vector<ContainerPlan>& containers);

struct ClusterSpec {
  int nodes = 1000;
  std::uint64_t seed = 1;
  double unhealthy_fraction = 0.02;  // health label not Schedulable
  double tainted_fraction = 0.01;    // deep health check in progress, with the health taint
  double non_ml_fraction = 0.02;     // plain EC2 instance types
  double deep_health_unknown_fraction = 0.1;  // no deep-health-check label (untainted nodes)
  int images_per_node = 20;
};

struct GeneratedNode {
  std::string name;
  std::string instance_type;
  int max_pods = 0;  // status.allocatable.pods (the DESIGN table agrees for the ml. types used)
  // What the generator wrote into `json`, so answers can be checked against it (bench/expect.h):
  bool ml_type = true;        // the instance type carries the "ml." prefix
  bool unhealthy = false;     // node-health-status is UnschedulablePendingReplacement
  bool health_taint = false;  // the NoSchedule health taint and deep-health-check InProgress
  // Otherwise deep-health-check is Passed, or absent when this is set (checks not run: unknown).
  bool deep_health_unknown = false;
  Resources allocatable;  // status.allocatable, every resource (pods included)
  int layers = 3;         // network-node-layer-1..`layers` are set (4 on ml.p5.48xlarge)
  // The number in each layer's "nn-<number>" value: layer 1 the top domain (i / 512), layer 2 the
  // spine (i / 64), layer 3 the rack (i / 16), layer 4 a group of 4 (when `layers` is 4).
  std::array<int, 4> layer{};
  std::string json;  // the Node object as the API server serializes it
};

std::vector<GeneratedNode> GenerateNodes(const ClusterSpec& spec);

// A pending pod of a training job: team namespace, queue and priority labels, a pod group of
// `group_size` with required topology at layer 3 (when `topology` is set), a whole p5 node's
// requests (TrainerContainers). The job is "train-<index / group_size>" and its team follows the
// job, so a group's pods share a namespace.
std::string GeneratePodJson(std::uint64_t seed, int index, int group_size, bool topology);

// The containers of a whole-node training pod on ml.p5.48xlarge: the trainer (cpu 80, memory
// 900Gi, 8 GPUs, 32 EFA interfaces) and a log router sidecar (500m, 512Mi).
std::vector<ContainerPlan> TrainerContainers();

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
  // The pod's containers; empty: TrainerContainers().
  std::vector<ContainerPlan> containers;
  // Set: the namespace (instead of the team's), and no Kueue labels (a system pod).
  std::string system_namespace;
  std::string owner_kind = "Job";  // the controller owner's kind, named `job`
  std::string owner_uid;           // empty: random
  std::string scheduler_name = "default-scheduler";
};
std::string GeneratePod(const PodOptions& options);

// ExtenderArgs bodies, byte-for-byte in Go's encoding/json shape.
std::string FullNodesArgs(const std::string& pod_json, const std::vector<GeneratedNode>& nodes);
std::string NodeNamesArgs(const std::string& pod_json, const std::vector<GeneratedNode>& nodes);

// The pods of a names-mode scheduling benchmark and the cluster occupancy around them.
//
// Pending pods (what kube-scheduler asks about, cycled through by the load) come in these kinds,
// by index % 20; every gang is of whole-node 8-GPU pods (TrainerContainers), sizes 4, 8, 16, 32
// in turn:
//   0..5   a gang with required layer-3 topology of which some peers are already placed in one
//          p5 rack (the common case once a job starts): affinity to the peers and the plan for
//          the rest of the group;
//   6..7   the same with preferred topology;
//   8..13  the first pod of a gang with required topology (the plan: best-fit rack, counted in
//          copies that fit);
//   14..16 the first pod of a gang with preferred topology;
//   17     a CPU-only pod without a group (2 cpu, 8Gi);
//   18     a 4-GPU pod without a group (40 cpu, 300Gi, 4 GPUs);
//   19     a 1-GPU pod without a group (8 cpu, 64Gi, 1 GPU; an 80Gi init container).
// Placed pods, until `total_pods` of them occupy the nodes, in this order: those peers (on p5
// nodes with all GPUs free, a gang in one rack that keeps 6 such nodes free, or none placed);
// per rack, background GPU work (keeping those 6 free in the peers' racks): on 8-GPU racks 0..10
// whole-node pods in gangs on consecutive nodes, then per free node 4-GPU pods (one or two), 1..3
// 1-GPU pods, or nothing; on g5.8xlarge a 1-GPU pod on half the nodes, on trn1 a whole-node Neuron
// pod on half; the DaemonSet pods of every node (14 on accelerated nodes, 8 on plain ones, most
// with small requests); small CPU jobs (250m, 2G effective) filling one ml. node in 37 to its
// maximum pods, then spread round robin over the nodes that hold them. No pod goes where its
// requests do not fit, and no node but those filled gets more than its maximum pods minus 4.
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
  std::string what;                             // the kind, for messages
  TopologyKind topology = TopologyKind::kNone;  // at network-node-layer-3
  int placed_peers = 0;
  Resources requests;  // effective requests
  // Facts for the expected answers: 0 without a pod group (then no owner either, so no group at
  // all), else kueue pod-group-total-count. Every pending pod is in a team namespace with a queue
  // label (it targets ml. capacity), selects no instance type and does not tolerate the health
  // taint.
  int group_size = 0;
};

struct PlacedPod {
  std::string name;
  std::string namespace_name;
  int node = 0;        // index into the nodes
  std::string json;    // resourceVersion "__RV__"
  Resources requests;  // effective requests
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
  std::vector<Resources> used;    // per node: the effective requests of its pods summed
  // Per pending pod (GeneratePendingPods' order): the node of each placed peer of its group, in
  // placement order (a node repeats once per pod on it). Empty for pods without placed peers.
  std::vector<std::vector<int>> peers;
  int placed = 0;  // ForEachPlacedPod's return value
};
Occupancy ModelOccupancy(const SchedulingSpec& spec, const std::vector<GeneratedNode>& nodes);

// kube-scheduler's ExtenderBindingArgs.
std::string BindingArgs(const std::string& pod_name, const std::string& pod_namespace,
                        const std::string& pod_uid, const std::string& node);

// Pending pods for /bind to bind: what kube-scheduler binds are pods the API server holds,
// unscheduled, of a scheduler hyperplace serves (default-scheduler), so the cache shows them
// pending. Groupless team pods (cpu 250m, 1Gi) named "bind-<tag>-<i>", `tag` making a run's names
// its own. `json` carries the "__RV__" placeholder.
struct BindTarget {
  std::string name;
  std::string namespace_name;
  std::string uid;
  std::string json;
};
std::vector<BindTarget> GenerateBindTargets(std::uint64_t seed, const std::string& tag, int count);

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
