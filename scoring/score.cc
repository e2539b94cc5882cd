#include "scoring/score.h"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <vector>

namespace hyperplace::scoring {
namespace {

void PeerAffinity(const Cycle& cycle, const Policy& policy, std::span<std::int32_t> milli) {
  const int levels = static_cast<int>(policy.topology_levels.size());
  // Peers per domain at each level, dense by domain id: peers_at[l][id]. Ids are small (they
  // count the domains of one level), and a candidate's id beyond a level's table has no peer.
  std::vector<std::vector<std::int32_t>> peers_at(levels);
  for (const NodeFacts* p : cycle.peers) {
    for (int l = 0; l < p->depth; ++l) {
      auto& counts = peers_at[l];
      if (p->domain[l] >= counts.size()) counts.resize(p->domain[l] + 1, 0);
      ++counts[p->domain[l]];
    }
  }
  const std::int64_t peers = static_cast<std::int64_t>(cycle.peers.size());
  for (std::size_t i = 0; i < milli.size(); ++i) {
    const NodeFacts& n = *cycle.candidates[i];
    if (n.depth == 0) {
      milli[i] = 0;
      continue;
    }
    // Σ_p shared(n, p) = Σ_levels (peers in n's domain at that level).
    std::int64_t shared = 0;
    for (int l = 0; l < n.depth; ++l) {
      const auto& counts = peers_at[l];
      if (n.domain[l] < counts.size()) shared += counts[n.domain[l]];
    }
    milli[i] = static_cast<std::int32_t>(kMilli * shared / (n.depth * peers));
  }
}

// Best fit at `level_key` and, for preferred placement, the levels above it. Returns false when
// no candidate has the level label.
void BestFit(const Cycle& cycle, const Policy& policy, std::string_view level_key, bool climb,
             std::span<std::int32_t> milli) {
  const std::int64_t need = cycle.pod->group_total;
  std::string_view key = level_key;
  int level = policy.LevelIndex(key);
  while (true) {
    LevelDomains d = DomainsAt(cycle, policy, key);
    std::vector<std::int64_t> free(d.rank.size(), 0);  // by domain id
    std::vector<bool> present(d.rank.size(), false);
    for (std::size_t i = 0; i < milli.size(); ++i) {
      if (d.candidate[i] == 0) continue;
      free[d.candidate[i]] += FreeSlots(cycle, i, need);
      present[d.candidate[i]] = true;
    }
    std::uint32_t tightest = 0;
    std::int64_t tightest_free = 0;
    std::int64_t largest_free = 0;
    for (std::uint32_t id = 1; id < free.size(); ++id) {
      if (!present[id]) continue;
      const std::int64_t f = free[id];
      largest_free = std::max(largest_free, f);
      if (f < need) continue;
      if (tightest == 0 || f < tightest_free ||
          (f == tightest_free && d.rank[id] < d.rank[tightest])) {
        tightest = id;
        tightest_free = f;
      }
    }
    const bool can_climb = climb && level > 0;
    if (tightest != 0 || !can_climb) {
      for (std::size_t i = 0; i < milli.size(); ++i) {
        std::uint32_t id = d.candidate[i];
        if (id == 0) {
          milli[i] = 0;
        } else if (tightest != 0) {
          std::int64_t f = free[id];
          milli[i] = id == tightest ? kMilli
                     : f >= need    ? static_cast<std::int32_t>(900 * tightest_free / f)
                                    : 0;
        } else {
          milli[i] =
              largest_free > 0 ? static_cast<std::int32_t>(kMilli * free[id] / largest_free) : 0;
        }
      }
      return;
    }
    --level;
    key = policy.topology_levels[level];
  }
}

}  // namespace

bool TopologyScores(const Cycle& cycle, const Policy& policy, std::span<std::int32_t> milli) {
  const PodFacts& pod = *cycle.pod;
  if (pod.group.empty()) return false;
  if (!cycle.peers.empty()) {
    PeerAffinity(cycle, policy, milli);
    return true;
  }
  if (pod.group_total <= 0) return false;
  if (!pod.required_level.empty()) {
    BestFit(cycle, policy, pod.required_level, /*climb=*/false, milli);
    return true;
  }
  if (!pod.preferred_level.empty()) {
    // Climbing needs the level's place in the hierarchy; an unknown key is scored at that key only.
    BestFit(cycle, policy, pod.preferred_level, /*climb=*/true, milli);
    return true;
  }
  return false;
}

void DensityScores(const Cycle& cycle, const Policy& policy, std::span<std::int32_t> milli) {
  for (std::size_t i = 0; i < milli.size(); ++i) {
    const std::int32_t max = cycle.candidates[i]->max_pods;
    if (max <= 0) {
      milli[i] = kMilli / 2;
      continue;
    }
    std::int64_t used = std::min<std::int64_t>(cycle.pods_on_node[i] + 1, max);
    auto pack = static_cast<std::int32_t>(kMilli * used / max);
    milli[i] = policy.strategy == Strategy::kPack ? pack : kMilli - pack;
  }
}

void HealthScores(const Cycle& cycle, std::span<std::int32_t> milli) {
  for (std::size_t i = 0; i < milli.size(); ++i) {
    switch (cycle.candidates[i]->deep_health) {
      case DeepHealth::kPassed:
        milli[i] = kMilli;
        break;
      case DeepHealth::kUnknown:
        milli[i] = kMilli / 2;
        break;
      case DeepHealth::kInProgress:
        milli[i] = kMilli / 5;
        break;
      case DeepHealth::kFailed:
        milli[i] = 0;
        break;
    }
  }
}

void Score(const Cycle& cycle, const Policy& policy, std::span<std::int32_t> out) {
  const std::size_t n = out.size();
  std::vector<std::int64_t> total(n, 0);
  std::vector<std::int32_t> milli(n);
  std::int64_t weight = 0;
  auto add = [&](std::uint32_t w) {
    for (std::size_t i = 0; i < n; ++i) total[i] += static_cast<std::int64_t>(w) * milli[i];
    weight += w;
  };
  if (policy.topology_weight > 0 && TopologyScores(cycle, policy, milli))
    add(policy.topology_weight);
  if (policy.density_weight > 0) {
    DensityScores(cycle, policy, milli);
    add(policy.density_weight);
  }
  if (policy.health_weight > 0) {
    HealthScores(cycle, milli);
    add(policy.health_weight);
  }
  for (std::size_t i = 0; i < n; ++i) {
    // milli-average to 0..10, rounding half up: (avg + 50) / 100.
    std::int64_t avg = weight > 0 ? total[i] / weight : 0;
    out[i] = static_cast<std::int32_t>(std::clamp<std::int64_t>((avg + 50) / 100, 0, kMaxScore));
  }
}

}  // namespace hyperplace::scoring
