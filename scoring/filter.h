// Filter rules (DESIGN §2.2). Pure: no I/O, no clocks, no allocation beyond scratch vectors.
#pragma once

#include <span>

#include "scoring/cycle.h"
#include "scoring/reasons.h"

namespace hyperplace::scoring {

// Writes, for each candidate, Reason::kFits or the first rule that rejects it. Rules in order:
// health label, health taint, accelerated type, selected instance type, max pods, resources (the
// first requested resource short: FirstShortResource), required topology (label present, peers'
// domain, domain capacity in copies that fit for the whole group), skipped for a pod whose
// nodeSelector already pins its required domain (PodFacts::domain_assigned: Kueue TAS chose it).
// `out.size()` must equal `cycle.candidates.size()`.
void Filter(const Cycle& cycle, const Policy& policy, std::span<Reason> out);

// The per-node rules alone (everything but required topology), for one candidate.
Reason NodeRules(const Cycle& cycle, const Policy& policy, std::size_t i);

}  // namespace hyperplace::scoring
