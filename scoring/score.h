// Scores (DESIGN §2.3): integers 0..kMaxScore, deterministic for the same inputs.
//
// Each component yields a value in 0..1000 ("milli-score") per candidate. The components that
// apply to the pod are averaged with the policy's weights (integer division):
//   c(n) = Σ w_k · m_k(n) / Σ w_k
// A component that does not apply (topology for a pod without a group) takes no weight.
//
// Using the full range. Rounding c to 0..10 directly would tie nodes that differ by less than 50
// milli, e.g. a 1-GPU pod's node with 1 GPU free and one with 2 free once topology and health
// take their weights. So the averages are stretched over the candidates before rounding: the
// best candidate gets 10, the worst 0, the others in proportion, rounded half up:
//   score(n) = (20 · (c(n) − min) + (max − min)) / (2 · (max − min))     when max > min
//   score(n) = (c(n) + 50) / 100                                         when all are equal
// Only the ranking matters to the scheduler (DESIGN §2.1), and the stretch keeps it; it gives the
// extender's preference its whole weight against the scheduler's plugins. Two candidates still
// share a score when their averages are within 1/20 of the spread of all candidates.
#pragma once

#include <cstdint>
#include <span>

#include "scoring/cycle.h"

namespace hyperplace::scoring {

inline constexpr std::int32_t kMilli = 1000;

// Topology, or false when it does not apply: no group, or neither a placed peer nor a plan (which
// needs both a known group size G and a topology annotation). Two parts:
//
// Affinity, when peers are placed: for candidate n with D levels and peers p1..pP,
//   a(n) = 1000 · Σ_p shared(n, p) / (D · P)
// where shared(n, p) counts the levels among n's D at which p sits in n's domain. A peer under the
// same closest network node scores 1000, one sharing only layer 1 of 4 scores 250; the sum
// weighs each level by how many peers share it.
//
// Plan, when G is known and the pod has a required (else preferred) level L: where the rest of the
// group should go, as Kueue TAS places a whole workload (BestFit, "minimize domains before
// nodes"), recomputed for every pod from the live cache.
//   Levels are the configured ones, 0 (top) .. K−1, K the deepest any candidate carries; ℓ is L's
//   index (a level key that is not configured is a hierarchy of that one level).
//   R = max(G − P, 1) is the rest of the group. copies(n) = CopiesThatFit(n, R) for a candidate
//   that passes NodeRules, else 0. cap_l(d) = Σ copies over the candidates in domain d of level
//   l. "Tightest" means least cap, "largest" most cap, ties to the lexically first domain value.
//   1. The group's domain D at level λ:
//      - no peers: the tightest domain at ℓ with cap >= R (λ = ℓ); none and L preferred: the
//        same at ℓ−1, ℓ−2, .. 0, the first level where one fits;
//      - peers: their home at ℓ (the domain holding most peers; ties lexical) when its cap >= R;
//        otherwise, L preferred, the home at ℓ−1, ℓ−2, .. whose cap >= R, the first found;
//      - nothing found (or L required and the home is too small): no D; λ is ℓ (required) or 0
//        (preferred) and C_λ = Distribute(every domain at λ).
//      C_λ = {D}.
//   2. Descend: for l = λ+1 .. K−1, C_l = Distribute(the domains at l of the candidates whose
//      level-(l−1) domain is in C_{l−1}, caps counted over those candidates only).
//      Distribute(S): rest = R; take the domains of S holding a peer, largest first, while rest > 0
//      (rest −= cap); then while rest > 0 and S has a domain with cap > 0 not taken: take the
//      tightest with cap >= rest if there is one (rest = 0), else the largest (rest −= cap).
//   3. depth(n) = how many levels l = λ, λ+1, .. in a row have n's level-l domain in C_l, and
//      p(n) = 1000 · depth(n) / (K − λ).
//
// The component is a(n) with peers and no plan, p(n) with a plan and no peers, (a(n) + p(n)) / 2
// with both. So the first pod goes where the whole group fits most tightly, in the fewest racks;
// the next ones follow their peers, and a gang that outgrows its rack opens the tightest rack
// that holds the rest rather than the largest free one.
bool TopologyScores(const Cycle& cycle, const Policy& policy, std::span<std::int32_t> milli);

// Packing. For a pod requesting accelerators (policy.accelerator_resources): on each candidate
// the scarcest of them, a = the one with least ⌊free ÷ request⌋ (ties: first by name); with
// left = max(0, free_a − request_a) what the pod would leave free of it,
//   pack = 1000 − 1000 · left / allocatable_a,   spread = 1000 · left / allocatable_a
// (0 where allocatable_a <= 0). A 4-GPU pod scores 1000 on a node with 4 of 8 GPUs free and 500
// on an empty one, so whole nodes stay whole for whole-node jobs. For a pod requesting none, pod
// slots: pack = 1000 · min(occupied + 1, max) / max, spread = 1000 − pack; 500 with no max.
void DensityScores(const Cycle& cycle, const Policy& policy, std::span<std::int32_t> milli);

// Deep health: Passed 1000, unknown 500, InProgress 200, Failed 0.
void HealthScores(const Cycle& cycle, std::span<std::int32_t> milli);

// The combined 0..10 scores for every candidate.
void Score(const Cycle& cycle, const Policy& policy, std::span<std::int32_t> out);

}  // namespace hyperplace::scoring
