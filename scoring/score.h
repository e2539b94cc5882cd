// Scores (DESIGN §2.3): integers 0..kMaxScore, deterministic for the same inputs.
//
// Each component yields a value in 0..1000 ("milli-score") per candidate; the components that
// apply to the pod are averaged with the policy's weights and rounded to 0..10:
//   score = round( Σ w_c · m_c / Σ w_c / 100 )
// A component that does not apply (topology for a pod without a group) takes no weight, so the
// others keep their full range.
#pragma once

#include <cstdint>
#include <span>

#include "scoring/cycle.h"

namespace hyperplace::scoring {

inline constexpr std::int32_t kMilli = 1000;

// Topology affinity, or false when it does not apply (no group, or a first pod with neither a
// known group size nor a topology annotation).
//
// With peers placed: for candidate n with D levels and peers p1..pP,
//   m(n) = 1000 · Σ_p shared(n, p) / (D · P)
// where shared(n, p) counts the levels among n's D at which p sits in n's domain. A peer under the
// same closest network node scores 1000, one sharing only layer 1 of 4 scores 250; the sum
// weighs each level by how many peers share it.
//
// First pod of a group with a required or preferred level L and a known size G: best fit. Free
// slots per domain of L are summed over the candidates; among domains with free >= G the
// tightest (ties: lexically first domain value) gets 1000 and a looser one 900 · tightest / free.
// Preferred: if no domain of L fits, the level above is tried, and so on; when none fits at the
// top (or for required), domains score by free slots relative to the largest (biggest first).
bool TopologyScores(const Cycle& cycle, const Policy& policy, std::span<std::int32_t> milli);

// Density: pack = 1000 · (occupied + 1) / max (capped at 1000), spread = 1000 − pack;
// 500 when the node has no max.
void DensityScores(const Cycle& cycle, const Policy& policy, std::span<std::int32_t> milli);

// Deep health: Passed 1000, unknown 500, InProgress 200, Failed 0.
void HealthScores(const Cycle& cycle, std::span<std::int32_t> milli);

// The combined 0..10 scores for every candidate.
void Score(const Cycle& cycle, const Policy& policy, std::span<std::int32_t> out);

}  // namespace hyperplace::scoring
