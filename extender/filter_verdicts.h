// The last /filter verdict that left a pod without a node, by pod uid: why the extender keeps it
// Pending, for GET /debug/jobs. Bounded (the older half is forgotten when full); a pod that fits
// somewhere again is forgotten at once. Thread-safe.
#pragma once

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "scoring/reasons.h"

namespace hyperplace::extender {

class FilterVerdicts {
 public:
  explicit FilterVerdicts(std::size_t capacity = 16384) : capacity_(capacity) {}

  void Rejected(std::string_view uid, std::string summary);
  void Fits(std::string_view uid);
  std::optional<std::string> Find(std::string_view uid) const;

 private:
  const std::size_t capacity_;
  mutable std::mutex mu_;
  // Two generations: when `current_` holds half the capacity it becomes `previous_`, so memory
  // stays bounded and the newest verdicts are kept.
  std::unordered_map<std::string, std::string> current_, previous_;
};

// kube-scheduler's way of summing up a filter: "0/5 nodes fit: 3 <reason>, 2 <reason>", the most
// frequent reason first (ties by text). `rejected[r]` counts the nodes rejected for reason r.
std::string RejectionSummary(const int (&rejected)[scoring::kReasonCount], std::size_t nodes);

}  // namespace hyperplace::extender
