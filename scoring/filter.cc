#include "scoring/filter.h"

#include <algorithm>
#include <limits>
#include <unordered_map>

namespace hyperplace::scoring {
namespace {

bool ToleratesHealthTaint(const Pod& pod, const Node& node, const Policy& policy) {
  for (const Taint& taint : node.taints) {
    if (taint.key != policy.health_taint_key) continue;
    if (taint.effect != TaintEffect::kNoSchedule && taint.effect != TaintEffect::kNoExecute) {
      continue;
    }
    bool tolerated = std::any_of(pod.tolerations.begin(), pod.tolerations.end(),
                                 [&](const Toleration& t) { return Tolerates(t, taint); });
    if (!tolerated) return false;
  }
  return true;
}

// Required topology (DESIGN §2.2): label present; inside the peers' domain once peers are placed;
// before that, only domains whose copies that fit hold the whole group, as long as one domain can.
void RequiredTopology(const Cycle& cycle, const Policy& policy, std::span<Reason> out) {
  const PodFacts& pod = *cycle.pod;
  LevelDomains d = DomainsAt(cycle, policy, pod.required_level);
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == Reason::kFits && d.candidate[i] == 0) out[i] = Reason::kMissingTopologyLabel;
  }

  if (!d.peer.empty()) {
    // Peers should share one domain. If they do not (placed before the annotation was added, or
    // by another scheduler), follow the domain holding most of them, ties to the lexically first.
    std::unordered_map<std::uint32_t, int> count;
    for (std::uint32_t id : d.peer) {
      if (id != 0) ++count[id];
    }
    if (count.empty()) return;  // peers on nodes without the label: nothing to align with
    std::uint32_t home = 0;
    int best = -1;
    for (auto [id, n] : count) {
      if (n > best || (n == best && d.rank[id] < d.rank[home])) {
        home = id;
        best = n;
      }
    }
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (out[i] == Reason::kFits && d.candidate[i] != home) out[i] = Reason::kOutsideGroupDomain;
    }
    return;
  }

  if (pod.group_total <= 0) return;
  // Copies that fit per domain over the candidates that pass every other rule: pods of one group
  // share a spec, so this pod's candidates stand for its peers' too.
  const std::int64_t need = pod.group_total;
  std::vector<std::int64_t> free(d.rank.size(), 0);  // by domain id
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] != Reason::kFits) continue;
    free[d.candidate[i]] += CopiesThatFit(cycle, i, need);
  }
  bool some_fit = std::any_of(free.begin(), free.end(), [&](std::int64_t f) { return f >= need; });
  if (!some_fit) return;  // reject nothing: the group cannot fit anywhere yet (Kueue holds it)
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == Reason::kFits && free[d.candidate[i]] < need) out[i] = Reason::kDomainTooSmall;
  }
}

}  // namespace

Reason NodeRules(const Cycle& cycle, const Policy& policy, std::size_t i) {
  const PodFacts& pod = *cycle.pod;
  const NodeFacts& node = *cycle.candidates[i];
  if (!node.healthy) return Reason::kNodeUnhealthy;
  if (node.has_health_taint && !ToleratesHealthTaint(*pod.pod, *node.node, policy)) {
    return Reason::kUntoleratedHealthTaint;
  }
  if (pod.accelerated && !node.accelerated) return Reason::kNotAcceleratedType;
  if (!pod.instance_types.empty() &&
      !std::binary_search(pod.instance_types.begin(), pod.instance_types.end(),
                          node.instance_type)) {
    return Reason::kInstanceTypeMismatch;
  }
  if (node.max_pods >= 0 && cycle.pods_on_node[i] >= node.max_pods) {
    return Reason::kMaxPodsReached;
  }
  if (FirstShortResource(cycle, i) >= 0) return Reason::kInsufficientResource;
  return Reason::kFits;
}

void Filter(const Cycle& cycle, const Policy& policy, std::span<Reason> out) {
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = NodeRules(cycle, policy, i);
  // A domain assigned at admission (Kueue TAS) is final: a pod refused there stays Pending, since
  // Kueue does not reassign it. Its peers may still sit elsewhere (a Job re-admitted into another
  // rack while its evicted pods terminate), and Kueue counts capacity its own way; health,
  // instance type, pod slots and resources above still apply.
  if (!cycle.pod->required_level.empty() && !cycle.pod->domain_assigned) {
    RequiredTopology(cycle, policy, out);
  }
}

}  // namespace hyperplace::scoring
