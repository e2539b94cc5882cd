#include "scoring/cycle.h"

#include <algorithm>
#include <numeric>
#include <string>

namespace hyperplace::scoring {

LevelDomains DomainsAt(const Cycle& cycle, const Policy& policy, std::string_view level_key) {
  LevelDomains d;
  d.candidate.resize(cycle.candidates.size());
  d.peer.resize(cycle.peers.size());
  std::vector<std::string_view> names{std::string_view()};  // id -> value; id 0 is "absent"
  const int level = policy.LevelIndex(level_key);
  if (level >= 0 && static_cast<std::size_t>(level) < cycle.domain_ranks.size()) {
    for (std::size_t i = 0; i < cycle.candidates.size(); ++i) {
      d.candidate[i] = cycle.candidates[i]->domain[level];
    }
    for (std::size_t i = 0; i < cycle.peers.size(); ++i) d.peer[i] = cycle.peers[i]->domain[level];
    d.rank = cycle.domain_ranks[level];
    return d;
  }
  if (level >= 0) {
    // Ids from NodeFacts are already shared by candidates and peers; recover the value of each id
    // for ranking.
    auto note = [&](const NodeFacts* f) {
      std::uint32_t id = f->domain[level];
      if (id == 0) return id;
      if (id >= names.size()) names.resize(id + 1);
      if (names[id].empty()) names[id] = *f->node->labels.Get(level_key);
      return id;
    };
    for (std::size_t i = 0; i < cycle.candidates.size(); ++i)
      d.candidate[i] = note(cycle.candidates[i]);
    for (std::size_t i = 0; i < cycle.peers.size(); ++i) d.peer[i] = note(cycle.peers[i]);
  } else {
    DomainTable table;
    auto intern = [&](const NodeFacts* f) -> std::uint32_t {
      auto value = f->node->labels.Get(level_key);
      if (!value || value->empty()) return 0;
      std::uint32_t id = table.Intern(0, *value);
      if (id >= names.size()) names.resize(id + 1);
      names[id] = *value;
      return id;
    };
    for (std::size_t i = 0; i < cycle.candidates.size(); ++i)
      d.candidate[i] = intern(cycle.candidates[i]);
    for (std::size_t i = 0; i < cycle.peers.size(); ++i) d.peer[i] = intern(cycle.peers[i]);
  }
  std::vector<std::uint32_t> order(names.size());
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(),
            [&](std::uint32_t a, std::uint32_t b) { return names[a] < names[b]; });
  d.rank.assign(names.size(), 0);
  for (std::uint32_t r = 0; r < order.size(); ++r) d.rank[order[r]] = r;
  return d;
}

std::int64_t FreeSlots(const Cycle& cycle, std::size_t i, std::int64_t unlimited) {
  const std::int32_t max = cycle.candidates[i]->max_pods;
  if (max < 0) return unlimited;
  return std::max<std::int64_t>(0, max - cycle.pods_on_node[i]);
}

int FirstShortResource(const Cycle& cycle, std::size_t i) {
  const std::size_t r = cycle.requests.size();
  const std::int64_t* free = cycle.free.data() + i * r;
  for (std::size_t k = 0; k < r; ++k) {
    if (free[k] < cycle.requests[k].amount) return static_cast<int>(k);
  }
  return -1;
}

std::int64_t CopiesThatFit(const Cycle& cycle, std::size_t i, std::int64_t unlimited) {
  std::int64_t copies = FreeSlots(cycle, i, unlimited);
  const std::size_t r = cycle.requests.size();
  const std::int64_t* free = cycle.free.data() + i * r;
  for (std::size_t k = 0; k < r && copies > 0; ++k) {
    if (cycle.requests[k].amount <= 0) continue;  // not a request (builders may pass one)
    copies = std::min(copies, std::max<std::int64_t>(0, free[k]) / cycle.requests[k].amount);
  }
  return copies;
}

}  // namespace hyperplace::scoring
