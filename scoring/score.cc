#include "scoring/score.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "scoring/filter.h"

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

// The plan of score.h: where the rest of the group should go, as a depth per candidate.
class Plan {
 public:
  Plan(const Cycle& cycle, const Policy& policy, std::string_view level_key, bool required)
      : cycle_(cycle), n_(cycle.candidates.size()) {
    const PodFacts& pod = *cycle.pod;
    rest_ =
        std::max<std::int64_t>(pod.group_total - static_cast<std::int64_t>(cycle.peers.size()), 1);
    int target = policy.LevelIndex(level_key);
    int deepest = 1;
    if (target < 0) {
      levels_.push_back(DomainsAt(cycle, policy, level_key));
      target = 0;
    } else {
      deepest = target + 1;
      for (const NodeFacts* f : cycle.candidates) deepest = std::max<int>(deepest, f->depth);
      for (int l = 0; l < deepest; ++l) {
        levels_.push_back(DomainsAt(cycle, policy, policy.topology_levels[l]));
      }
    }
    copies_.resize(n_);
    for (std::size_t i = 0; i < n_; ++i) {
      copies_[i] =
          NodeRules(cycle, policy, i) == Reason::kFits ? CopiesThatFit(cycle, i, rest_) : 0;
    }
    Choose(target, required);
  }

  // 1000 · depth / (K − λ).
  std::int32_t Milli(std::size_t i) const {
    int depth = 0;
    for (std::size_t l = lambda_; l < levels_.size(); ++l) {
      const std::uint32_t id = levels_[l].candidate[i];
      if (id == 0 || !chosen_[l][id]) break;
      ++depth;
    }
    return static_cast<std::int32_t>(kMilli * depth / static_cast<int>(levels_.size() - lambda_));
  }

 private:
  struct Tally {
    std::vector<std::int64_t> cap;  // by domain id
    std::vector<std::int32_t> peers;
    std::vector<bool> present;  // a candidate counted here is in the domain
  };

  // Caps over the candidates `in` admits (all when empty), and peers, at level l.
  Tally Count(std::size_t l, const std::vector<bool>& in) const {
    const LevelDomains& d = levels_[l];
    Tally t{std::vector<std::int64_t>(d.rank.size(), 0),
            std::vector<std::int32_t>(d.rank.size(), 0), std::vector<bool>(d.rank.size(), false)};
    for (std::size_t i = 0; i < n_; ++i) {
      if (d.candidate[i] == 0 || (!in.empty() && !in[i])) continue;
      t.cap[d.candidate[i]] += copies_[i];
      t.present[d.candidate[i]] = true;
    }
    for (std::uint32_t id : d.peer) {
      if (id != 0) ++t.peers[id];
    }
    return t;
  }

  // True when domain a ranks before b by `more` (a larger key first) or by lexical value.
  bool Before(std::size_t l, std::uint32_t a, std::int64_t ka, std::uint32_t b,
              std::int64_t kb) const {
    return ka != kb ? ka > kb : levels_[l].rank[a] < levels_[l].rank[b];
  }

  // The tightest present domain with cap >= need, or 0.
  std::uint32_t Tightest(std::size_t l, const Tally& t, std::int64_t need,
                         const std::vector<bool>& taken) const {
    std::uint32_t best = 0;
    for (std::uint32_t id = 1; id < t.cap.size(); ++id) {
      if (!t.present[id] || taken[id] || t.cap[id] < need) continue;
      if (best == 0 || Before(l, id, -t.cap[id], best, -t.cap[best])) best = id;
    }
    return best;
  }

  void Distribute(std::size_t l, const Tally& t) {
    std::vector<bool>& taken = chosen_[l];
    std::int64_t rest = rest_;
    std::vector<std::uint32_t> opened;
    for (std::uint32_t id = 1; id < t.cap.size(); ++id) {
      if (t.present[id] && t.peers[id] > 0) opened.push_back(id);
    }
    std::sort(opened.begin(), opened.end(), [&](std::uint32_t a, std::uint32_t b) {
      return Before(l, a, t.cap[a], b, t.cap[b]);
    });
    for (std::uint32_t id : opened) {
      if (rest <= 0) break;
      taken[id] = true;
      rest -= t.cap[id];
    }
    while (rest > 0) {
      if (std::uint32_t id = Tightest(l, t, rest, taken); id != 0) {
        taken[id] = true;
        return;
      }
      std::uint32_t largest = 0;
      for (std::uint32_t id = 1; id < t.cap.size(); ++id) {
        if (!t.present[id] || taken[id] || t.cap[id] <= 0) continue;
        if (largest == 0 || Before(l, id, t.cap[id], largest, t.cap[largest])) largest = id;
      }
      if (largest == 0) return;
      taken[largest] = true;
      rest -= t.cap[largest];
    }
  }

  void Choose(int target, bool required) {
    chosen_.resize(levels_.size());
    for (std::size_t l = 0; l < levels_.size(); ++l) {
      chosen_[l].assign(levels_[l].rank.size(), false);
    }
    const std::vector<bool> all;
    const bool peers = !cycle_.peers.empty();
    std::uint32_t group_domain = 0;
    for (int l = target; l >= 0; --l) {
      Tally t = Count(l, all);
      std::uint32_t id = 0;
      if (!peers) {
        id = Tightest(l, t, rest_, chosen_[l]);
      } else {
        // The home: the domain holding most peers, if it still holds the rest.
        for (std::uint32_t d = 1; d < t.peers.size(); ++d) {
          if (t.peers[d] > 0 && (id == 0 || Before(l, d, t.peers[d], id, t.peers[id]))) id = d;
        }
        if (id != 0 && t.cap[id] < rest_) id = 0;
      }
      if (id != 0) {
        lambda_ = static_cast<std::size_t>(l);
        group_domain = id;
        break;
      }
      if (required) break;
    }
    if (group_domain != 0) {
      chosen_[lambda_][group_domain] = true;
    } else {
      lambda_ = required ? static_cast<std::size_t>(target) : 0;
      Distribute(lambda_, Count(lambda_, all));
    }
    // Descend: at each level below, the fewest domains inside what was chosen above.
    std::vector<bool> in(n_);
    for (std::size_t l = lambda_ + 1; l < levels_.size(); ++l) {
      for (std::size_t i = 0; i < n_; ++i) {
        const std::uint32_t id = levels_[l - 1].candidate[i];
        in[i] = id != 0 && chosen_[l - 1][id];
      }
      Distribute(l, Count(l, in));
    }
  }

  const Cycle& cycle_;
  const std::size_t n_;
  std::int64_t rest_ = 1;
  std::vector<LevelDomains> levels_;
  std::vector<std::int64_t> copies_;
  std::vector<std::vector<bool>> chosen_;  // C_l, by level then domain id
  std::size_t lambda_ = 0;
};

}  // namespace

bool TopologyScores(const Cycle& cycle, const Policy& policy, std::span<std::int32_t> milli) {
  const PodFacts& pod = *cycle.pod;
  if (pod.group.empty()) return false;
  const bool required = !pod.required_level.empty();
  const std::string_view level = required ? pod.required_level : pod.preferred_level;
  const bool plan = pod.group_total > 0 && !level.empty();
  const bool peers = !cycle.peers.empty();
  if (!plan && !peers) return false;
  if (peers) PeerAffinity(cycle, policy, milli);
  if (plan) {
    const Plan p(cycle, policy, level, required);
    for (std::size_t i = 0; i < milli.size(); ++i) {
      milli[i] = peers ? (milli[i] + p.Milli(i)) / 2 : p.Milli(i);
    }
  }
  return true;
}

void DensityScores(const Cycle& cycle, const Policy& policy, std::span<std::int32_t> milli) {
  const std::size_t r = cycle.requests.size();
  std::vector<std::size_t> accelerators;
  for (std::size_t k = 0; k < r; ++k) {
    if (policy.IsAccelerator(cycle.requests[k].name)) accelerators.push_back(k);
  }
  const bool pack = policy.strategy == Strategy::kPack;
  for (std::size_t i = 0; i < milli.size(); ++i) {
    if (accelerators.empty()) {
      const std::int32_t max = cycle.candidates[i]->max_pods;
      if (max <= 0) {
        milli[i] = kMilli / 2;
        continue;
      }
      std::int64_t used = std::min<std::int64_t>(cycle.pods_on_node[i] + 1, max);
      auto packed = static_cast<std::int32_t>(kMilli * used / max);
      milli[i] = pack ? packed : kMilli - packed;
      continue;
    }
    // The scarcest requested accelerator on this node: fewest copies of the pod (first by name).
    const std::int64_t* free = cycle.free.data() + i * r;
    const std::int64_t* alloc = cycle.allocatable.data() + i * r;
    std::size_t a = accelerators.front();
    std::int64_t fewest = INT64_MAX;
    for (std::size_t k : accelerators) {
      const std::int64_t copies = std::max<std::int64_t>(0, free[k]) / cycle.requests[k].amount;
      if (copies < fewest) {
        fewest = copies;
        a = k;
      }
    }
    if (alloc[a] <= 0) {
      milli[i] = 0;
      continue;
    }
    const std::int64_t left = std::max<std::int64_t>(0, free[a] - cycle.requests[a].amount);
    const auto spread = static_cast<std::int32_t>(kMilli * std::min(left, alloc[a]) / alloc[a]);
    milli[i] = pack ? kMilli - spread : spread;
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
  // The weighted averages, stretched over the candidates (score.h).
  std::int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (std::size_t i = 0; i < n; ++i) {
    total[i] = weight > 0 ? total[i] / weight : 0;
    lo = std::min(lo, total[i]);
    hi = std::max(hi, total[i]);
  }
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t s = hi > lo ? (2 * kMaxScore * (total[i] - lo) + (hi - lo)) / (2 * (hi - lo))
                                   : (total[i] + 50) / 100;
    out[i] = static_cast<std::int32_t>(std::clamp<std::int64_t>(s, 0, kMaxScore));
  }
}

}  // namespace hyperplace::scoring
