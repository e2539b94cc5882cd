// The answers hyperplace's extender must give for the generated cluster, so the load harness can
// reject a wrong reply instead of timing it.
//
// They are derived from the generator's own facts (GeneratedNode, PendingPod, Occupancy) and the
// rules of DESIGN §2.2-2.3 written out again here, never from hyperplace's scoring library: a
// bench that asked the server's code what the server should say would check nothing.
//
// What the model covers, for every pending pod:
//   filter     each node's verdict (fits, or the reason and whether it is resolvable), in the
//              order of the request: health label, health taint, ml. instance type, max pods,
//              required topology (peers' domain; otherwise domains too small for the group);
//   prioritize every host's score, over every node and over the nodes the filter keeps, and so
//              the set of hosts with the highest score. Only the ranking matters to the
//              scheduler (DESIGN §2.1), so a reply may shift every score by one amount.
// Scores follow DESIGN §2.3 with the default weights (topology 4, density 2, health 1; pack) and
// the arithmetic scoring/score.h documents as the contract (milli-scores, a weighted integer
// average rounded half up to 0..10), because ties at the top depend on it.
//
// Not modelled: the Resources rule of DESIGN §2.2 and the resource term of "copies that fit".
// hyperplace does not implement them yet, and the generated occupancy (every pod requests all 8
// GPUs of its node, 30 pods per node) would reject every node once it does; both need changing
// together.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bench/payload.h"

namespace hyperplace::bench {

// A node's filter verdict for one pod.
enum class NodeVerdict : std::uint8_t {
  kFits = 0,
  kNodeUnhealthy,   // unresolvable
  kHealthTaint,     // unresolvable
  kNotMlType,       // unresolvable
  kOutsideDomain,   // unresolvable: required topology, peers placed in another domain
  kMaxPodsReached,  // resolvable
  kDomainTooSmall,  // resolvable: required topology, the node's domain cannot hold the group
};
inline constexpr int kNodeVerdictCount = 7;

bool IsResolvable(NodeVerdict v);
// The reason text hyperplace writes for the verdict: the stable strings of DESIGN §2.2 that
// kube-scheduler aggregates and alerts match (scoring/reasons.h). Empty for kFits.
std::string_view VerdictReason(NodeVerdict v);
// "node_unhealthy", ...: for messages.
std::string_view NodeVerdictName(NodeVerdict v);

struct FilterExpectation {
  std::vector<NodeVerdict> verdict;  // per node, request order
  std::vector<int> passed;           // nodes that fit, request order
  int failed = 0;                    // resolvable rejections (FailedNodes)
  int unresolvable = 0;              // FailedAndUnresolvableNodes
  std::array<int, kNodeVerdictCount> by_verdict{};
  // The whole names-mode reply as hyperplace writes it (request order), for a one-compare fast
  // path; any other form of the same answer is accepted by the slower set comparison.
  std::string names_reply;
  // Full-node mode: the reply from the end of the Nodes items array on ("]},"NodeNames":null,...").
  std::string full_tail;
  // Full-node mode: the size of the expected reply (for the transfer floor's reply).
  std::size_t full_reply_bytes = 0;
};

// The prioritize answer for one candidate list.
struct TopExpectation {
  std::vector<int> top;  // node indices with the highest score, ascending
  int top_score = 0;     // 0..10, for messages only
  // Every candidate's score, by node index (-1: not a candidate). A reply may shift all scores by
  // one amount (DESIGN §2.1: that changes no decision) but not change their order or ties.
  std::vector<std::int8_t> score;
};

struct PodExpectation {
  std::string pod;  // "namespace/name", for messages
  FilterExpectation filter;
  TopExpectation all;                   // /prioritize with every node
  TopExpectation kept;                  // /prioritize with filter.passed
  std::vector<std::uint8_t> kept_mask;  // per node: 1 when it is in filter.passed
};

class ClusterExpectations {
 public:
  // `nodes` must outlive the result (it is read, not copied: 43 MB at 5000 nodes). `pending`
  // and `occupancy` come from GeneratePendingPods and ModelOccupancy with the same SchedulingSpec.
  static std::shared_ptr<const ClusterExpectations> Make(const std::vector<GeneratedNode>& nodes,
                                                         const std::vector<PendingPod>& pending,
                                                         const Occupancy& occupancy);

  std::size_t pod_count() const { return pods_.size(); }
  const PodExpectation& pod(std::size_t i) const { return pods_[i]; }
  const std::vector<GeneratedNode>& nodes() const { return *nodes_; }
  // A node's name, from one contiguous copy (a reply check reads 5000 of them in order).
  std::string_view name(int node) const { return names_[static_cast<std::size_t>(node)]; }
  // `{"Host":"<name>","Score":`: how a HostPriorityList entry for the node begins.
  std::string_view priority_prefix(int node) const {
    return priority_prefixes_[static_cast<std::size_t>(node)];
  }
  // The index of a node by name, or -1.
  int NodeIndex(std::string_view name) const;

  // For tests: replace a pod's expectation (to show a check fails when the answer differs).
  PodExpectation& mutable_pod(std::size_t i) { return pods_[i]; }

 private:
  const std::vector<GeneratedNode>* nodes_ = nullptr;
  std::string name_bytes_;
  std::vector<std::string_view> names_;  // into name_bytes_
  std::string prefix_bytes_;
  std::vector<std::string_view> priority_prefixes_;  // into prefix_bytes_
  std::unordered_map<std::string_view, int> index_;
  std::vector<PodExpectation> pods_;
};

// The model's pieces, exposed for tests.

// Verdicts for `pod` over every node (request order = node order).
std::vector<NodeVerdict> ExpectedVerdicts(const std::vector<GeneratedNode>& nodes,
                                          const PendingPod& pod,
                                          const std::vector<int>& pods_on_node,
                                          const std::vector<int>& peers);
// Scores 0..10 for `pod` over `candidates` (node indices, in the order sent).
std::vector<int> ExpectedScores(const std::vector<GeneratedNode>& nodes, const PendingPod& pod,
                                const std::vector<int>& pods_on_node, const std::vector<int>& peers,
                                const std::vector<int>& candidates);
// DESIGN §1's maximum pods for the node's instance type, else its allocatable pods.
int DesignMaxPods(const GeneratedNode& node);

}  // namespace hyperplace::bench
