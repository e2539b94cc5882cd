#include "bench/expect.h"

#include <algorithm>
#include <map>
#include <set>

namespace hyperplace::bench {
namespace {

constexpr int kLayer3 = 2;  // index of network-node-layer-3 in GeneratedNode::layer

// policy.accelerator_resources' default (DESIGN §2.3: GPUs, Neuron devices), sorted.
constexpr std::array<std::string_view, 4> kAccelerators = {
    "aws.amazon.com/neuron", "aws.amazon.com/neuroncore", "aws.amazon.com/neurondevice",
    "nvidia.com/gpu"};

// The value of a node's label at a level, as the generator wrote it: ties between domains break
// on these strings (DESIGN §2.3: "ties by node name"; by domain value for domains).
std::string LayerValue(const GeneratedNode& node, int level) {
  return "nn-" + std::to_string(node.layer[level]);
}

// The node's domain at a level; 0 where it lacks the label.
int DomainAt(const GeneratedNode& node, int level) {
  return level < node.layers ? node.layer[level] : 0;
}

std::int64_t FreeOf(const GeneratedNode& node, const Resources& used, std::string_view name) {
  return node.allocatable.Get(name) - used.Get(name);
}

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {  // b > 0
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// The first requested resource (by name) of which the node cannot hold one more request, or
// nullptr.
const std::pair<std::string, std::int64_t>* FirstShort(const GeneratedNode& node,
                                                       const Resources& used,
                                                       const Resources& requests) {
  for (const auto& r : requests.items) {
    if (FreeOf(node, used, r.first) < r.second) return &r;
  }
  return nullptr;
}

// DESIGN §2.2's per-node rules (scoring's NodeRules), in order. Every pending pod targets ml.
// capacity (team namespace, queue label), selects no instance type and does not tolerate the
// health taint.
NodeVerdict NodeRules(const GeneratedNode& n, const PendingPod& pod, int pods,
                      const Resources& used) {
  if (n.unhealthy) return NodeVerdict::kNodeUnhealthy;
  if (n.health_taint) return NodeVerdict::kHealthTaint;
  if (!n.ml_type) return NodeVerdict::kNotMlType;
  if (pods >= DesignMaxPods(n)) return NodeVerdict::kMaxPodsReached;
  if (FirstShort(n, used, pod.requests) != nullptr) return NodeVerdict::kInsufficientResource;
  return NodeVerdict::kFits;
}

// Copies of the pod per candidate, 0 where NodeRules reject it, at most `cap`.
std::vector<std::int64_t> Copies(const std::vector<GeneratedNode>& nodes, const PendingPod& pod,
                                 const Occupancy& occ, const std::vector<int>& candidates,
                                 std::int64_t cap) {
  std::vector<std::int64_t> copies(candidates.size(), 0);
  for (std::size_t k = 0; k < candidates.size(); ++k) {
    const int c = candidates[k];
    if (NodeRules(nodes[c], pod, occ.pods_on_node[c], occ.used[c]) == NodeVerdict::kFits) {
      copies[k] = CopiesThatFit(nodes[c], occ.pods_on_node[c], occ.used[c], pod.requests, cap);
    }
  }
  return copies;
}

// Σ copies per domain of a level over the candidates in scope (all when `scope` is null); the
// candidates lacking the level's label are in no domain.
struct LevelCaps {
  std::map<int, std::int64_t> cap;
  std::map<int, std::string> value;
};

LevelCaps CapsAt(const std::vector<GeneratedNode>& nodes, const std::vector<int>& candidates,
                 const std::vector<std::int64_t>& copies, const std::vector<std::uint8_t>* scope,
                 int level) {
  LevelCaps caps;
  for (std::size_t k = 0; k < candidates.size(); ++k) {
    if (scope != nullptr && (*scope)[k] == 0) continue;
    const GeneratedNode& node = nodes[candidates[k]];
    const int d = DomainAt(node, level);
    if (d == 0) continue;
    caps.cap[d] += copies[k];
    caps.value.emplace(d, LayerValue(node, level));
  }
  return caps;
}

// Of the domains `keep` admits, the one `better` orders first by cap, ties to the lexically first
// value; 0 when none is admitted.
template <typename Keep, typename Better>
int Pick(const LevelCaps& caps, Keep keep, Better better) {
  int best = 0;
  for (const auto& [d, cap] : caps.cap) {
    if (!keep(d, cap)) continue;
    if (best == 0 || better(cap, caps.cap.at(best)) ||
        (cap == caps.cap.at(best) && caps.value.at(d) < caps.value.at(best))) {
      best = d;
    }
  }
  return best;
}

bool Less(std::int64_t a, std::int64_t b) { return a < b; }
bool More(std::int64_t a, std::int64_t b) { return a > b; }

// The domain at `level` holding most peers, ties to the lexically first value; 0 when no peer has
// the label.
int HomeAt(const std::vector<GeneratedNode>& nodes, const std::vector<int>& peers, int level) {
  LevelCaps count;
  for (int p : peers) {
    const int d = DomainAt(nodes[p], level);
    if (d == 0) continue;
    ++count.cap[d];
    count.value.emplace(d, LayerValue(nodes[p], level));
  }
  return Pick(
      count, [](int, std::int64_t) { return true; }, More);
}

std::set<int> PeerDomains(const std::vector<GeneratedNode>& nodes, const std::vector<int>& peers,
                          int level) {
  std::set<int> out;
  for (int p : peers) {
    if (const int d = DomainAt(nodes[p], level); d != 0) out.insert(d);
  }
  return out;
}

// score.h's Distribute(S): the domains holding a peer, largest first, while some of the group is
// left; then the tightest that holds the rest, else the largest, until none is left.
std::set<int> Distribute(const LevelCaps& s, const std::set<int>& peer_domains, std::int64_t rest) {
  std::set<int> taken;
  std::vector<int> with_peers;
  for (const auto& [d, cap] : s.cap) {
    if (peer_domains.count(d)) with_peers.push_back(d);
  }
  std::sort(with_peers.begin(), with_peers.end(), [&](int a, int b) {
    const std::int64_t ca = s.cap.at(a), cb = s.cap.at(b);
    return ca != cb ? ca > cb : s.value.at(a) < s.value.at(b);
  });
  for (int d : with_peers) {
    if (rest <= 0) break;
    taken.insert(d);
    rest -= s.cap.at(d);
  }
  while (rest > 0) {
    auto open = [&](int d, std::int64_t cap) { return cap > 0 && !taken.count(d); };
    const int fit = Pick(
        s, [&](int d, std::int64_t cap) { return open(d, cap) && cap >= rest; }, Less);
    if (fit != 0) {
      taken.insert(fit);
      rest = 0;
      break;
    }
    const int largest = Pick(s, open, More);
    if (largest == 0) break;
    taken.insert(largest);
    rest -= s.cap.at(largest);
  }
  return taken;
}

// The plan's part of topology, p(n) per candidate (score.h, "Plan"): the group's domain D at
// level λ, the domains C_l chosen below it, and how deep a candidate lies inside them.
std::vector<std::int64_t> PlanScores(const std::vector<GeneratedNode>& nodes,
                                     const std::vector<int>& candidates,
                                     const std::vector<std::int64_t>& copies,
                                     const std::vector<int>& peers, bool required,
                                     std::int64_t rest) {
  const std::size_t n = candidates.size();
  int levels = 0;  // K: the deepest any candidate carries
  for (int c : candidates) levels = std::max(levels, nodes[c].layers);
  const int ell = kLayer3;
  const int lowest = required ? ell : 0;
  std::vector<std::set<int>> chosen(static_cast<std::size_t>(std::max(levels, ell + 1)));
  int lambda = -1;
  for (int l = ell; l >= lowest && lambda < 0; --l) {
    const LevelCaps caps = CapsAt(nodes, candidates, copies, nullptr, l);
    int d = 0;
    if (peers.empty()) {
      d = Pick(
          caps, [&](int, std::int64_t cap) { return cap >= rest; }, Less);
    } else {
      const int home = HomeAt(nodes, peers, l);
      if (home != 0 && caps.cap.count(home) && caps.cap.at(home) >= rest) d = home;
    }
    if (d != 0) {
      lambda = l;
      chosen[l] = {d};
    }
  }
  if (lambda < 0) {
    lambda = required ? ell : 0;
    chosen[lambda] = Distribute(CapsAt(nodes, candidates, copies, nullptr, lambda),
                                PeerDomains(nodes, peers, lambda), rest);
  }
  std::vector<std::uint8_t> scope(n, 0);
  for (int l = lambda + 1; l < levels; ++l) {
    for (std::size_t k = 0; k < n; ++k) {
      scope[k] = chosen[l - 1].count(DomainAt(nodes[candidates[k]], l - 1)) ? 1 : 0;
    }
    chosen[l] = Distribute(CapsAt(nodes, candidates, copies, &scope, l),
                           PeerDomains(nodes, peers, l), rest);
  }
  std::vector<std::int64_t> p(n, 0);
  for (std::size_t k = 0; k < n; ++k) {
    std::int64_t depth = 0;
    for (int l = lambda; l < levels; ++l) {
      const int d = DomainAt(nodes[candidates[k]], l);
      if (d == 0 || !chosen[l].count(d)) break;
      ++depth;
    }
    p[k] = 1000 * depth / (levels - lambda);
  }
  return p;
}

}  // namespace

bool IsResolvable(NodeVerdict v) {
  return v == NodeVerdict::kMaxPodsReached || v == NodeVerdict::kDomainTooSmall ||
         v == NodeVerdict::kInsufficientResource;
}

std::string_view VerdictReason(NodeVerdict v) {
  switch (v) {
    case NodeVerdict::kFits:
      return "";
    case NodeVerdict::kNodeUnhealthy:
      return "hyperplace: node health status is not schedulable";
    case NodeVerdict::kHealthTaint:
      return "hyperplace: node has an untolerated health taint";
    case NodeVerdict::kNotMlType:
      return "hyperplace: node is not an ml. instance type";
    case NodeVerdict::kOutsideDomain:
      return "hyperplace: node is outside the topology domain of the pod's group";
    case NodeVerdict::kMaxPodsReached:
      return "hyperplace: node reached the maximum pods for its instance type";
    case NodeVerdict::kDomainTooSmall:
      return "hyperplace: node's topology domain cannot hold the pod's group";
    case NodeVerdict::kInsufficientResource:
      return "hyperplace: node has too little of a requested resource free";
  }
  return "?";
}

std::string_view NodeVerdictName(NodeVerdict v) {
  switch (v) {
    case NodeVerdict::kFits:
      return "fits";
    case NodeVerdict::kNodeUnhealthy:
      return "node_unhealthy";
    case NodeVerdict::kHealthTaint:
      return "health_taint";
    case NodeVerdict::kNotMlType:
      return "not_ml_type";
    case NodeVerdict::kOutsideDomain:
      return "outside_group_domain";
    case NodeVerdict::kMaxPodsReached:
      return "max_pods_reached";
    case NodeVerdict::kDomainTooSmall:
      return "domain_too_small";
    case NodeVerdict::kInsufficientResource:
      return "insufficient_resource";
  }
  return "?";
}

int DesignMaxPods(const GeneratedNode& node) {
  // The rows of DESIGN §1's table for the ml. types the generator uses.
  static const std::map<std::string, int, std::less<>> kTable = {
      {"ml.p5.48xlarge", 49}, {"ml.p4d.24xlarge", 49},  {"ml.g5.48xlarge", 49},
      {"ml.g5.8xlarge", 29},  {"ml.trn1.32xlarge", 49},
  };
  auto it = kTable.find(node.instance_type);
  return it != kTable.end() ? it->second : node.max_pods;
}

std::int64_t CopiesThatFit(const GeneratedNode& node, int pods, const Resources& used,
                           const Resources& requests, std::int64_t cap) {
  std::int64_t copies = std::min<std::int64_t>(cap, std::max(0, DesignMaxPods(node) - pods));
  for (const auto& [name, amount] : requests.items) {
    copies =
        std::min(copies, std::max<std::int64_t>(0, FloorDiv(FreeOf(node, used, name), amount)));
  }
  return copies;
}

std::string FormatQuantity(std::int64_t amount, std::string_view resource) {
  if (resource == "cpu") {
    return amount % 1000 == 0 ? std::to_string(amount / 1000) : std::to_string(amount) + "m";
  }
  static constexpr const char* kSuffix[] = {"", "Ki", "Mi", "Gi", "Ti"};
  for (int k = 4; k >= 1 && amount != 0; --k) {
    const std::int64_t unit = std::int64_t{1} << (10 * k);
    if (amount % unit == 0) return std::to_string(amount / unit) + kSuffix[k];
  }
  return std::to_string(amount);
}

std::string ResourceReason(const GeneratedNode& node, const Resources& used,
                           const Resources& requests) {
  const auto* r = FirstShort(node, used, requests);
  if (r == nullptr) return "";
  return "hyperplace: node has " + FormatQuantity(FreeOf(node, used, r->first), r->first) + " of " +
         FormatQuantity(node.allocatable.Get(r->first), r->first) + " " + r->first + " free";
}

std::vector<NodeVerdict> ExpectedVerdicts(const std::vector<GeneratedNode>& nodes,
                                          const PendingPod& pod, const Occupancy& occupancy,
                                          const std::vector<int>& peers,
                                          std::vector<std::string>* reasons) {
  std::vector<NodeVerdict> v(nodes.size(), NodeVerdict::kFits);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    v[i] = NodeRules(nodes[i], pod, occupancy.pods_on_node[i], occupancy.used[i]);
  }
  auto fill_reasons = [&] {
    if (reasons == nullptr) return;
    reasons->assign(nodes.size(), std::string());
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      (*reasons)[i] = v[i] == NodeVerdict::kInsufficientResource
                          ? ResourceReason(nodes[i], occupancy.used[i], pod.requests)
                          : std::string(VerdictReason(v[i]));
    }
  };
  if (pod.topology != TopologyKind::kRequired || pod.group_size <= 0) {
    fill_reasons();
    return v;
  }
  // Required topology at layer 3, which every generated node carries.
  if (!peers.empty()) {
    // Nodes outside the peers' domain (the one holding most of them) are rejected.
    const int home = HomeAt(nodes, peers, kLayer3);
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (v[i] == NodeVerdict::kFits && nodes[i].layer[kLayer3] != home) {
        v[i] = NodeVerdict::kOutsideDomain;
      }
    }
    fill_reasons();
    return v;
  }
  // The first pod: domains whose copies that fit (over the nodes the rules above keep) cannot
  // hold the whole group are rejected, as long as one domain can.
  const std::int64_t need = pod.group_size;
  std::map<int, std::int64_t> cap;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (v[i] != NodeVerdict::kFits) continue;
    cap[nodes[i].layer[kLayer3]] +=
        CopiesThatFit(nodes[i], occupancy.pods_on_node[i], occupancy.used[i], pod.requests, need);
  }
  const bool some_fit =
      std::any_of(cap.begin(), cap.end(), [&](const auto& d) { return d.second >= need; });
  for (std::size_t i = 0; some_fit && i < nodes.size(); ++i) {
    if (v[i] == NodeVerdict::kFits && cap[nodes[i].layer[kLayer3]] < need) {
      v[i] = NodeVerdict::kDomainTooSmall;
    }
  }
  fill_reasons();
  return v;
}

ScoreParts ExpectedScoreParts(const std::vector<GeneratedNode>& nodes, const PendingPod& pod,
                              const Occupancy& occupancy, const std::vector<int>& peers,
                              const std::vector<int>& candidates) {
  const std::size_t n = candidates.size();
  ScoreParts parts;
  std::vector<std::int64_t> total(n, 0), milli(n, 0);
  std::int64_t weight = 0;
  auto add = [&](std::int64_t w, std::vector<std::int64_t>& part) {
    for (std::size_t k = 0; k < n; ++k) total[k] += w * milli[k];
    weight += w;
    part = milli;
  };

  // Topology (weight 4), for a pod with a group: affinity to the placed peers, the plan for the
  // rest of the group (a level and the group's size are known), their mean when both apply.
  const bool affinity = pod.group_size > 0 && !peers.empty();
  const bool plan = pod.group_size > 0 && pod.topology != TopologyKind::kNone;
  if (affinity || plan) {
    std::vector<std::int64_t> a(n, 0), p(n, 0);
    parts.topology_applies = true;
    if (affinity) {
      // 1000 · Σ_p shared(n, p) / (levels · peers): each level a candidate shares with a peer.
      for (std::size_t k = 0; k < n; ++k) {
        const GeneratedNode& c = nodes[candidates[k]];
        std::int64_t shared = 0;
        for (int peer : peers) {
          for (int l = 0; l < c.layers && l < nodes[peer].layers; ++l) {
            shared += c.layer[l] == nodes[peer].layer[l];
          }
        }
        a[k] = 1000 * shared / (c.layers * static_cast<std::int64_t>(peers.size()));
      }
    }
    if (plan) {
      const std::int64_t rest =
          std::max<std::int64_t>(pod.group_size - static_cast<std::int64_t>(peers.size()), 1);
      p = PlanScores(nodes, candidates, Copies(nodes, pod, occupancy, candidates, rest), peers,
                     pod.topology == TopologyKind::kRequired, rest);
    }
    for (std::size_t k = 0; k < n; ++k) {
      milli[k] = affinity && plan ? (a[k] + p[k]) / 2 : affinity ? a[k] : p[k];
    }
    parts.affinity = std::move(a);
    parts.plan = std::move(p);
    add(4, parts.topology);
  }

  // Packing (weight 2, strategy pack). A pod requesting accelerators: on each candidate the
  // scarcest of them (least ⌊free ÷ request⌋, ties to the first by name); what the pod would leave
  // free of it, relative to the node's allocatable: 1000 − 1000 · left / allocatable (0 on a node
  // without it). Otherwise pod slots: the node's fill once this pod is on it.
  std::vector<std::pair<std::string_view, std::int64_t>> accelerators;
  for (std::string_view name : kAccelerators) {
    if (const std::int64_t r = pod.requests.Get(name); r > 0) accelerators.emplace_back(name, r);
  }
  for (std::size_t k = 0; k < n; ++k) {
    const int c = candidates[k];
    const GeneratedNode& node = nodes[c];
    if (accelerators.empty()) {
      const std::int64_t max = DesignMaxPods(node);
      milli[k] = 1000 * std::min<std::int64_t>(occupancy.pods_on_node[c] + 1, max) / max;
      continue;
    }
    std::size_t scarcest = 0;
    for (std::size_t a = 1; a < accelerators.size(); ++a) {
      auto copies = [&](std::size_t x) {
        return FloorDiv(FreeOf(node, occupancy.used[c], accelerators[x].first),
                        accelerators[x].second);
      };
      if (copies(a) < copies(scarcest)) scarcest = a;
    }
    const auto& [name, request] = accelerators[scarcest];
    const std::int64_t allocatable = node.allocatable.Get(name);
    const std::int64_t left =
        std::max<std::int64_t>(0, FreeOf(node, occupancy.used[c], name) - request);
    milli[k] = allocatable <= 0 ? 0 : 1000 - 1000 * left / allocatable;
  }
  add(2, parts.packing);

  // Deep health (weight 1): Passed 1000, unknown 500, InProgress 200.
  for (std::size_t k = 0; k < n; ++k) {
    const GeneratedNode& node = nodes[candidates[k]];
    milli[k] = node.health_taint ? 200 : node.deep_health_unknown ? 500 : 1000;
  }
  add(1, parts.health);
  parts.average.resize(n);
  for (std::size_t k = 0; k < n; ++k) parts.average[k] = total[k] / weight;
  return parts;
}

std::vector<int> ExpectedScores(const std::vector<GeneratedNode>& nodes, const PendingPod& pod,
                                const Occupancy& occupancy, const std::vector<int>& peers,
                                const std::vector<int>& candidates) {
  // The averages, stretched over the candidates: the best 10, the worst 0, rounded half up.
  const std::vector<std::int64_t> c =
      ExpectedScoreParts(nodes, pod, occupancy, peers, candidates).average;
  const std::size_t n = c.size();
  std::vector<int> scores(n);
  if (n == 0) return scores;
  const auto [lo, hi] = std::minmax_element(c.begin(), c.end());
  const std::int64_t min = *lo, spread = *hi - *lo;
  for (std::size_t k = 0; k < n; ++k) {
    scores[k] = static_cast<int>(spread > 0 ? (20 * (c[k] - min) + spread) / (2 * spread)
                                            : (c[k] + 50) / 100);
  }
  return scores;
}

namespace {

TopExpectation TopOf(std::size_t nodes, const std::vector<int>& candidates,
                     const std::vector<int>& scores) {
  TopExpectation t;
  t.score.assign(nodes, -1);
  for (std::size_t k = 0; k < candidates.size(); ++k) {
    t.score[candidates[k]] = static_cast<std::int8_t>(scores[k]);
  }
  t.top_score = -1;
  for (std::size_t k = 0; k < candidates.size(); ++k) {
    if (scores[k] > t.top_score) {
      t.top_score = scores[k];
      t.top.clear();
    }
    if (scores[k] == t.top_score) t.top.push_back(candidates[k]);
  }
  std::sort(t.top.begin(), t.top.end());
  return t;
}

void AppendReasonMap(const std::vector<GeneratedNode>& nodes, const FilterExpectation& f,
                     bool resolvable, std::string& out) {
  out += '{';
  bool first = true;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (f.verdict[i] == NodeVerdict::kFits || IsResolvable(f.verdict[i]) != resolvable) continue;
    if (!first) out += ',';
    first = false;
    out.append("\"").append(nodes[i].name).append("\":\"");
    out.append(f.Reason(static_cast<int>(i))).append("\"");
  }
  out += '}';
}

}  // namespace

std::shared_ptr<const ClusterExpectations> ClusterExpectations::Make(
    const std::vector<GeneratedNode>& nodes, const std::vector<PendingPod>& pending,
    const Occupancy& occupancy) {
  auto e = std::make_shared<ClusterExpectations>();
  e->nodes_ = &nodes;
  std::size_t bytes = 0;
  for (const GeneratedNode& n : nodes) bytes += n.name.size();
  e->name_bytes_.reserve(bytes);
  for (const GeneratedNode& n : nodes) e->name_bytes_ += n.name;
  e->names_.reserve(nodes.size());
  e->index_.reserve(nodes.size());
  for (std::size_t i = 0, at = 0; i < nodes.size(); at += nodes[i].name.size(), ++i) {
    e->names_.push_back(std::string_view(e->name_bytes_).substr(at, nodes[i].name.size()));
    e->index_.emplace(e->names_.back(), static_cast<int>(i));
  }
  constexpr std::string_view kHost = R"({"Host":")", kScore = R"(","Score":)";
  e->prefix_bytes_.reserve(bytes + nodes.size() * (kHost.size() + kScore.size()));
  for (const GeneratedNode& n : nodes) {
    e->prefix_bytes_.append(kHost).append(n.name).append(kScore);
  }
  for (std::size_t i = 0, at = 0; i < nodes.size(); ++i) {
    const std::size_t size = kHost.size() + nodes[i].name.size() + kScore.size();
    e->priority_prefixes_.push_back(std::string_view(e->prefix_bytes_).substr(at, size));
    at += size;
  }
  std::vector<int> all(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) all[i] = static_cast<int>(i);
  static const std::vector<int> kNoPeers;

  for (std::size_t p = 0; p < pending.size(); ++p) {
    const PendingPod& pod = pending[p];
    const std::vector<int>& peers = p < occupancy.peers.size() ? occupancy.peers[p] : kNoPeers;
    PodExpectation x;
    x.pod = pod.namespace_name + "/" + pod.name;
    FilterExpectation& f = x.filter;
    std::vector<std::string> reasons;
    f.verdict = ExpectedVerdicts(nodes, pod, occupancy, peers, &reasons);
    // Distinct texts once (a resource rejection's figures take few values), an index per node.
    std::map<std::string, std::uint32_t> index = {{"", 0}};
    f.reasons = {""};
    f.reason_of.assign(nodes.size(), 0);
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      auto [it, added] = index.emplace(reasons[i], static_cast<std::uint32_t>(f.reasons.size()));
      if (added) f.reasons.push_back(reasons[i]);
      f.reason_of[i] = it->second;
    }
    x.kept_mask.assign(nodes.size(), 0);
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const NodeVerdict v = f.verdict[i];
      ++f.by_verdict[static_cast<int>(v)];
      if (v == NodeVerdict::kFits) {
        f.passed.push_back(static_cast<int>(i));
        x.kept_mask[i] = 1;
      } else if (IsResolvable(v)) {
        ++f.failed;
      } else {
        ++f.unresolvable;
      }
    }

    // The reply as hyperplace writes it (DESIGN §2.1's shape, nodes in request order).
    std::string maps = R"("FailedNodes":)";
    AppendReasonMap(nodes, f, /*resolvable=*/true, maps);
    maps += R"(,"FailedAndUnresolvableNodes":)";
    AppendReasonMap(nodes, f, /*resolvable=*/false, maps);
    maps += R"(,"Error":""})";
    f.names_reply = R"({"Nodes":null,"NodeNames":[)";
    std::size_t kept_json = 0;
    for (std::size_t k = 0; k < f.passed.size(); ++k) {
      const GeneratedNode& node = nodes[f.passed[k]];
      if (k > 0) f.names_reply += ',';
      f.names_reply.append("\"").append(node.name).append("\"");
      kept_json += node.json.size() + (k > 0 ? 1 : 0);
    }
    f.names_reply += "],";
    f.names_reply += maps;
    f.full_tail = R"(]},"NodeNames":null,)" + maps;
    f.full_reply_bytes = std::string_view(R"({"Nodes":{"metadata":{},"items":[)").size() +
                         kept_json + f.full_tail.size();

    x.all = TopOf(nodes.size(), all, ExpectedScores(nodes, pod, occupancy, peers, all));
    x.kept = TopOf(nodes.size(), f.passed, ExpectedScores(nodes, pod, occupancy, peers, f.passed));
    e->pods_.push_back(std::move(x));
  }
  return e;
}

int ClusterExpectations::NodeIndex(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? -1 : it->second;
}

}  // namespace hyperplace::bench
