#include "bench/expect.h"

#include <algorithm>
#include <map>

namespace hyperplace::bench {
namespace {

constexpr int kLayer3 = 2;  // index of network-node-layer-3 in GeneratedNode::layer

// The value of a node's label at a level, as the generator wrote it: ties between domains break
// on these strings (DESIGN §2.3: "ties by node name"; by domain value for domains).
std::string LayerValue(const GeneratedNode& node, int level) {
  return "nn-" + std::to_string(node.layer[level]);
}

// The lexically first of the domain values with the best count: `better(a, b)` orders counts.
template <typename Better>
int PickDomain(const std::map<int, std::int64_t>& by_domain,
               const std::vector<GeneratedNode>& nodes, const std::map<int, int>& sample_node,
               int level, Better better) {
  int best = -1;
  std::int64_t best_count = 0;
  std::string best_value;
  for (const auto& [domain, count] : by_domain) {
    const std::string value = LayerValue(nodes[sample_node.at(domain)], level);
    if (best < 0 || better(count, best_count) || (count == best_count && value < best_value)) {
      best = domain;
      best_count = count;
      best_value = value;
    }
  }
  return best;
}

std::int64_t FreeSlots(const GeneratedNode& node, int used) {
  return std::max(0, DesignMaxPods(node) - used);
}

// DESIGN §2.3's first-pod placement at `level` over the candidates: the tightest domain that holds
// the whole group scores highest, looser ones less (900 · tightest / free, score.h), smaller ones
// nothing; for preferred topology, climb a level when none holds it; at the top (or required),
// the biggest domains first.
void BestFit(const std::vector<GeneratedNode>& nodes, const std::vector<int>& used,
             const std::vector<int>& candidates, std::int64_t need, int level, bool climb,
             std::vector<std::int64_t>& milli) {
  while (true) {
    std::map<int, std::int64_t> free;
    std::map<int, int> sample;
    for (int c : candidates) {
      const int domain = nodes[c].layer[level];
      free[domain] += FreeSlots(nodes[c], used[c]);
      sample.emplace(domain, c);
    }
    std::map<int, std::int64_t> fitting;
    std::int64_t largest = 0;
    for (const auto& [domain, f] : free) {
      largest = std::max(largest, f);
      if (f >= need) fitting.emplace(domain, f);
    }
    const int tightest = fitting.empty()
                             ? -1
                             : PickDomain(fitting, nodes, sample, level,
                                          [](std::int64_t a, std::int64_t b) { return a < b; });
    if (tightest >= 0 || !climb || level == 0) {
      for (std::size_t k = 0; k < candidates.size(); ++k) {
        const int domain = nodes[candidates[k]].layer[level];
        const std::int64_t f = free[domain];
        if (tightest >= 0) {
          milli[k] = domain == tightest ? 1000 : f >= need ? 900 * free[tightest] / f : 0;
        } else {
          milli[k] = largest > 0 ? 1000 * f / largest : 0;
        }
      }
      return;
    }
    --level;
  }
}

}  // namespace

bool IsResolvable(NodeVerdict v) {
  return v == NodeVerdict::kMaxPodsReached || v == NodeVerdict::kDomainTooSmall;
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

std::vector<NodeVerdict> ExpectedVerdicts(const std::vector<GeneratedNode>& nodes,
                                          const PendingPod& pod,
                                          const std::vector<int>& pods_on_node,
                                          const std::vector<int>& peers) {
  std::vector<NodeVerdict> v(nodes.size(), NodeVerdict::kFits);
  // The per-node rules in DESIGN §2.2's order. Every pending pod targets ml. capacity (team
  // namespace, queue label), selects no instance type and does not tolerate the health taint.
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const GeneratedNode& n = nodes[i];
    if (n.unhealthy) {
      v[i] = NodeVerdict::kNodeUnhealthy;
    } else if (n.health_taint) {
      v[i] = NodeVerdict::kHealthTaint;
    } else if (!n.ml_type) {
      v[i] = NodeVerdict::kNotMlType;
    } else if (pods_on_node[i] >= DesignMaxPods(n)) {
      v[i] = NodeVerdict::kMaxPodsReached;
    }
  }
  if (pod.topology != TopologyKind::kRequired || pod.group_size <= 0) return v;
  // Required topology at layer 3, which every generated node carries.
  if (!peers.empty()) {
    // Nodes outside the peers' domain (the one holding most of them) are rejected.
    std::map<int, std::int64_t> count;
    std::map<int, int> sample;
    for (int p : peers) {
      ++count[nodes[p].layer[kLayer3]];
      sample.emplace(nodes[p].layer[kLayer3], p);
    }
    const int home = PickDomain(count, nodes, sample, kLayer3,
                                [](std::int64_t a, std::int64_t b) { return a > b; });
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (v[i] == NodeVerdict::kFits && nodes[i].layer[kLayer3] != home) {
        v[i] = NodeVerdict::kOutsideDomain;
      }
    }
    return v;
  }
  // The first pod: domains whose free slots (over the nodes that fit) cannot hold the whole group
  // are rejected, as long as one domain can.
  std::map<int, std::int64_t> free;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (v[i] == NodeVerdict::kFits)
      free[nodes[i].layer[kLayer3]] += FreeSlots(nodes[i], pods_on_node[i]);
  }
  const std::int64_t need = pod.group_size;
  const bool some_fit =
      std::any_of(free.begin(), free.end(), [&](const auto& d) { return d.second >= need; });
  if (!some_fit) return v;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (v[i] == NodeVerdict::kFits && free[nodes[i].layer[kLayer3]] < need) {
      v[i] = NodeVerdict::kDomainTooSmall;
    }
  }
  return v;
}

std::vector<int> ExpectedScores(const std::vector<GeneratedNode>& nodes, const PendingPod& pod,
                                const std::vector<int>& pods_on_node, const std::vector<int>& peers,
                                const std::vector<int>& candidates) {
  const std::size_t n = candidates.size();
  std::vector<std::int64_t> total(n, 0), milli(n, 0);
  std::int64_t weight = 0;
  auto add = [&](std::int64_t w) {
    for (std::size_t k = 0; k < n; ++k) total[k] += w * milli[k];
    weight += w;
  };

  // Topology affinity (weight 4), for a pod with a group.
  bool topology = false;
  if (pod.group_size > 0 && !peers.empty()) {
    // Against the placed peers: each level a candidate shares with a peer counts, over the
    // candidate's levels and the peers: 1000 · Σ_p shared(n, p) / (levels · peers).
    topology = true;
    for (std::size_t k = 0; k < n; ++k) {
      const GeneratedNode& c = nodes[candidates[k]];
      std::int64_t shared = 0;
      for (int p : peers) {
        for (int l = 0; l < c.layers && l < nodes[p].layers; ++l) {
          shared += c.layer[l] == nodes[p].layer[l];
        }
      }
      milli[k] = 1000 * shared / (c.layers * static_cast<std::int64_t>(peers.size()));
    }
  } else if (pod.group_size > 0 && pod.topology != TopologyKind::kNone) {
    topology = true;
    BestFit(nodes, pods_on_node, candidates, pod.group_size, kLayer3,
            /*climb=*/pod.topology == TopologyKind::kPreferred, milli);
  }
  if (topology) add(4);

  // Density, pack (weight 2): the node's fill once this pod is on it.
  for (std::size_t k = 0; k < n; ++k) {
    const GeneratedNode& c = nodes[candidates[k]];
    const std::int64_t max = DesignMaxPods(c);
    milli[k] = 1000 * std::min<std::int64_t>(pods_on_node[candidates[k]] + 1, max) / max;
  }
  add(2);

  // Deep health (weight 1): Passed above unknown, InProgress below (Passed 1000, InProgress 200).
  for (std::size_t k = 0; k < n; ++k) milli[k] = nodes[candidates[k]].health_taint ? 200 : 1000;
  add(1);

  std::vector<int> scores(n);
  for (std::size_t k = 0; k < n; ++k) {
    scores[k] = static_cast<int>(std::clamp<std::int64_t>((total[k] / weight + 50) / 100, 0, 10));
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

void AppendReasonMap(const std::vector<GeneratedNode>& nodes,
                     const std::vector<NodeVerdict>& verdict, bool resolvable, std::string& out) {
  out += '{';
  bool first = true;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (verdict[i] == NodeVerdict::kFits || IsResolvable(verdict[i]) != resolvable) continue;
    if (!first) out += ',';
    first = false;
    out.append("\"").append(nodes[i].name).append("\":\"");
    out.append(VerdictReason(verdict[i])).append("\"");
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
    f.verdict = ExpectedVerdicts(nodes, pod, occupancy.pods_on_node, peers);
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
    AppendReasonMap(nodes, f.verdict, /*resolvable=*/true, maps);
    maps += R"(,"FailedAndUnresolvableNodes":)";
    AppendReasonMap(nodes, f.verdict, /*resolvable=*/false, maps);
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

    x.all =
        TopOf(nodes.size(), all, ExpectedScores(nodes, pod, occupancy.pods_on_node, peers, all));
    x.kept = TopOf(nodes.size(), f.passed,
                   ExpectedScores(nodes, pod, occupancy.pods_on_node, peers, f.passed));
    e->pods_.push_back(std::move(x));
  }
  return e;
}

int ClusterExpectations::NodeIndex(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? -1 : it->second;
}

}  // namespace hyperplace::bench
