// The answers hyperplace's extender must give for the generated cluster, so the load harness can
// reject a wrong reply instead of timing it.
//
// They are derived from the generator's own facts (GeneratedNode, PendingPod, Occupancy: health,
// instance type, layers, allocatable, the effective requests of the pods on each node) and the
// rules of DESIGN §2.2-2.3 written out again here, never from hyperplace's scoring library: a
// bench that asked the server's code what the server should say would check nothing.
//
// What the model covers, for every pending pod:
//   filter     each node's verdict (fits, or the reason and whether it is resolvable), in the
//              order of DESIGN §2.2: health label, health taint, ml. instance type, (instance type
//              selector: no pending pod has one), max pods, resources (the first requested
//              resource, by name, of which the node's free allocatable cannot hold the request:
//              resolvable, "hyperplace: node has <free> of <allocatable> <resource> free"),
//              required topology (peers' domain; otherwise racks whose copies that fit cannot
//              hold the group, as long as one can);
//   prioritize every host's score, over every node and over the nodes the filter keeps, and so
//              the set of hosts with the highest score. Only the ranking matters to the
//              scheduler (DESIGN §2.1), so a reply may shift every score by one amount.
// Scores follow the arithmetic scoring/score.h states as its contract, with the default weights
// (topology 4, packing 2, health 1; strategy pack): milli-scores per component (topology: the
// affinity to placed peers and the plan for the rest of the group, counted in copies that fit;
// packing by the scarcest requested accelerator, or pod slots; deep health), their weighted
// integer average, and the stretch of the averages over the candidates to 0..10.
//
// Not modelled: the missing-topology-label rule and the instance type selector (every generated
// node carries layer 3, no pending pod selects a type), and spread packing (not the default).
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
  kNodeUnhealthy,         // unresolvable
  kHealthTaint,           // unresolvable
  kNotMlType,             // unresolvable
  kOutsideDomain,         // unresolvable: required topology, peers placed in another domain
  kMaxPodsReached,        // resolvable
  kDomainTooSmall,        // resolvable: required topology, the node's domain cannot hold the group
  kInsufficientResource,  // resolvable: free allocatable cannot hold a requested resource
};
inline constexpr int kNodeVerdictCount = 8;

bool IsResolvable(NodeVerdict v);
// The reason text hyperplace writes for the verdict: the stable strings of DESIGN §2.2 that
// kube-scheduler aggregates and alerts match (scoring/reasons.h). Empty for kFits. For
// kInsufficientResource the reply names the node's figures (ResourceReason); this is the generic
// text, for messages.
std::string_view VerdictReason(NodeVerdict v);
// "node_unhealthy", ...: for messages.
std::string_view NodeVerdictName(NodeVerdict v);

struct FilterExpectation {
  std::vector<NodeVerdict> verdict;  // per node, request order
  // The reason text the reply must give a rejected node (the per-node figures of a resource
  // rejection included): reasons[reason_of[node]]; reasons[0] is "" (kept).
  std::vector<std::string> reasons;
  std::vector<std::uint32_t> reason_of;
  std::string_view Reason(int node) const {
    return reasons[reason_of[static_cast<std::size_t>(node)]];
  }
  std::vector<int> passed;  // nodes that fit, request order
  int failed = 0;           // resolvable rejections (FailedNodes)
  int unresolvable = 0;     // FailedAndUnresolvableNodes
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

// Verdicts for `pod` over every node (request order = node order); with `reasons`, each node's
// reason text too (empty when it fits).
std::vector<NodeVerdict> ExpectedVerdicts(const std::vector<GeneratedNode>& nodes,
                                          const PendingPod& pod, const Occupancy& occupancy,
                                          const std::vector<int>& peers,
                                          std::vector<std::string>* reasons = nullptr);
// The components of the scores over `candidates` (milli-scores, 0..1000, per candidate) and their
// weighted average, before the stretch: for tests and for explaining a disagreement.
struct ScoreParts {
  bool topology_applies = false;
  std::vector<std::int64_t> affinity, plan, topology;  // empty when topology does not apply
  std::vector<std::int64_t> packing, health, average;
};
ScoreParts ExpectedScoreParts(const std::vector<GeneratedNode>& nodes, const PendingPod& pod,
                              const Occupancy& occupancy, const std::vector<int>& peers,
                              const std::vector<int>& candidates);
// Scores 0..10 for `pod` over `candidates` (node indices, in the order sent).
std::vector<int> ExpectedScores(const std::vector<GeneratedNode>& nodes, const PendingPod& pod,
                                const Occupancy& occupancy, const std::vector<int>& peers,
                                const std::vector<int>& candidates);
// DESIGN §1's maximum pods for the node's instance type, else its allocatable pods.
int DesignMaxPods(const GeneratedNode& node);
// Copies of `pod` that fit on the node (DESIGN §2.2): min(free pod slots, for every requested
// resource ⌊free ÷ request⌋), at most `cap`.
std::int64_t CopiesThatFit(const GeneratedNode& node, int pods, const Resources& used,
                           const Resources& requests, std::int64_t cap);
// "hyperplace: node has <free> of <allocatable> <resource> free" for the first requested
// resource (by name) the node cannot hold, or "" when it holds them all.
std::string ResourceReason(const GeneratedNode& node, const Resources& used,
                           const Resources& requests);
// An amount for people, as common/quantity.h's AppendQuantity states it: cpu in cores when whole
// ("96"), else millicores ("1500m"); any other resource with the largest binary suffix up to Ti
// that divides it exactly ("16Gi", "1536Mi", "1024Ti"), else the plain number ("1000", "8").
std::string FormatQuantity(std::int64_t amount, std::string_view resource);

}  // namespace hyperplace::bench
