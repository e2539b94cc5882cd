// One scheduling question: where may a pod go, and how well does each candidate suit it?
//
// A Cycle is a read-only view assembled by the extender from a request and a cluster snapshot.
// Spans index the candidates in the request's order; results are written in the same order.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "scoring/facts.h"
#include "scoring/policy.h"

namespace hyperplace::scoring {

struct Cycle {
  const PodFacts* pod = nullptr;
  std::span<const NodeFacts* const> candidates;
  std::span<const std::int32_t> pods_on_node;  // pods occupying each candidate now
  // The node of every already-placed pod of the pod's group (a node repeats once per pod).
  std::span<const NodeFacts* const> peers;
  // The pod's effective requests (pod->pod->requests: amounts > 0, sorted by name), R of them,
  // and for every candidate its allocatable and free amount of each (row i holds candidate i's R
  // values, in the order of `requests`). Free is allocatable minus the effective requests of the
  // pods on the node, assumed ones included; it is negative on an overcommitted node.
  std::span<const ResourceAmount> requests;
  std::span<const std::int64_t> allocatable;
  std::span<const std::int64_t> free;
  // Optional, per configured level: DomainTable::Ranks of the table the candidates' and peers'
  // domain ids come from, which DomainsAt then uses instead of ranking the values it finds.
  std::span<const std::vector<std::uint32_t>> domain_ranks = {};
};

// Domain ids at one topology level (named by its label key) for every candidate and peer, in one
// id space; 0 where a node lacks the label. Configured levels reuse the ids in NodeFacts; any other
// label key is interned on the fly.
struct LevelDomains {
  std::vector<std::uint32_t> candidate;
  std::vector<std::uint32_t> peer;
  // Lexically ordered rank of each domain id (index = id), used to break ties by domain value.
  std::vector<std::uint32_t> rank;
};
LevelDomains DomainsAt(const Cycle& cycle, const Policy& policy, std::string_view level_key);

// Free pod slots of a candidate (max minus occupied, at least 0); `unlimited` when it has no max.
std::int64_t FreeSlots(const Cycle& cycle, std::size_t i, std::int64_t unlimited);

// Index into `cycle.requests` of the first resource the candidate cannot hold one more of, or -1.
int FirstShortResource(const Cycle& cycle, std::size_t i);

// Copies of the pod that fit on candidate i (DESIGN §2.2): min(free pod slots, for every
// requested resource ⌊free ÷ request⌋). A node without a pod limit has `unlimited` free slots, so
// that is also the count when the pod requests nothing. Node rules are not applied here.
std::int64_t CopiesThatFit(const Cycle& cycle, std::size_t i, std::int64_t unlimited);

}  // namespace hyperplace::scoring
