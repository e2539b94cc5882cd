// The network tree and the jobs on it, as a person planning or checking placement wants to see
// them (`hyperplace topology`, GET /debug/topology and /debug/jobs).
//
// Pure: built from decoded Nodes and Pods under the extender's Policy, with the scoring core's
// own facts (health, taints, layers, pod slots, group identity, node rules, copies that fit). No
// I/O, clocks or logging. Everything is sorted by name, ties broken by name, so the same cluster
// always gives the same view.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "scoring/model.h"
#include "scoring/policy.h"

namespace hyperplace::inspect {

struct PodInput {
  scoring::Pod pod;  // its views must outlive BuildView (ClusterInput::storage)
  // Why the pod is not placed yet, as far as it is known (the message of its PodScheduled=False
  // condition, which carries the extender's reasons in kube-scheduler's FailedScheduling
  // summary); empty when placed or unknown.
  std::string pending_reason;
};

struct ClusterInput {
  std::vector<scoring::Node> nodes;
  std::vector<PodInput> pods;
  // Keeps the bytes the nodes and pods view alive.
  std::vector<std::shared_ptr<const void>> storage;
};

// Free and total amount of one accelerator resource (Policy::accelerator_resources).
struct Accelerator {
  std::string resource;
  std::int64_t free = 0;  // allocatable minus the requests of the pods on the node, at least 0
  std::int64_t total = 0;
};

// What a node or a domain holds. Sums over its nodes.
struct Capacity {
  int nodes = 0;
  int healthy = 0;                        // health label schedulable and no health taint
  std::vector<Accelerator> accelerators;  // only those some node has, sorted by resource
  // Pod slots of the nodes that have a limit (DESIGN §1 table, else allocatable pods): free is
  // scoring::FreeSlots. A node without a limit adds nothing.
  std::int64_t slots_free = 0;
  std::int64_t slots_total = 0;
  int pods = 0;  // pods occupying the nodes (not finished)

  void Add(const Capacity& other);
  // Sum of free and of total over every accelerator resource.
  std::int64_t AcceleratorsFree() const;
  std::int64_t AcceleratorsTotal() const;
};

struct NodeView {
  std::string name;
  std::string instance_type;
  std::vector<std::string> path;  // the node's domain at each level it carries, top first
  bool healthy = true;            // Capacity::healthy
  // Why it is not healthy or takes no pods, one entry per cause: "health Unschedulable",
  // "taint KEY=VALUE:NoSchedule" (every NoSchedule/NoExecute taint, the health agent's and others).
  std::vector<std::string> problems;
  Capacity capacity;
};

struct DomainView {
  int level = -1;     // index into View::levels; -1 for the whole cluster (the root)
  std::string name;   // the level's label value ("" for the root)
  Capacity capacity;  // over every node under it
  std::vector<std::size_t> children;  // View::domains indices, sorted by name
  std::vector<std::size_t> nodes;     // View::nodes directly here (no deeper level), by name
};

// A job's topology annotation against where its pods are: kNone without the annotation,
// kWaiting while none of its pods is placed (nothing to judge yet), else met or not.
enum class Want { kNone, kWaiting, kMet, kNotMet };

struct JobPod {
  std::string name;
  std::string node;  // empty while pending
  std::string pending_reason;
};

struct JobView {
  std::string id;  // the group identity (scoring::PodFacts::group): "ns/label-key=value"
  std::string namespace_name;
  std::vector<JobPod> pods;  // sorted by name
  int placed = 0;
  int pending = 0;
  int total = 0;                // pod-group-total-count, 0 when not given
  std::string required_level;   // label key, or empty
  std::string preferred_level;  // label key, or empty
  // How many levels, from the top, all placed pods share one domain of; their domain at each.
  int shared_levels = 0;
  std::vector<std::string> shared_path;
  // Distinct domains the placed pods occupy at each level (View::levels order); a pod on a node
  // without that level counts in none.
  std::vector<int> spans;
  // The annotations against the placed pods: met when they all share one domain of that label.
  Want required = Want::kNone;
  Want preferred = Want::kNone;
  // Spread wider than needed: every pod placed, the job asked for a topology, and one domain
  // deeper than the levels it shares could hold the whole job now (its own pods' room given
  // back; nodes that hyperplace's node rules reject, or that the pods' node selector or required
  // node affinity exclude, count as none): the tightest such domain at the deepest level that
  // has one. Judged against the cluster as it is, not as it was at placement.
  bool wider_than_needed = false;
  int tighter_level = -1;
  std::string tighter_domain;
};

struct View {
  std::vector<std::string> levels;  // the policy's topology levels, top first
  std::vector<NodeView> nodes;      // sorted by name
  std::vector<DomainView> domains;  // domains[0] is the root (the whole cluster)
  std::vector<JobView> jobs;        // pods with a group, by id
};

View BuildView(const ClusterInput& input, const scoring::Policy& policy);

// "layer 3" for topology.k8s.aws/network-node-layer-3 and any key ending in "-<digits>", else the
// key itself.
std::string LevelName(const std::string& key);

}  // namespace hyperplace::inspect
