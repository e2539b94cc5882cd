#include "extender/filter_verdicts.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace hyperplace::extender {

void FilterVerdicts::Rejected(std::string_view uid, std::string summary) {
  std::lock_guard lock(mu_);
  if (current_.size() >= std::max<std::size_t>(capacity_ / 2, 1)) {
    previous_ = std::move(current_);
    current_.clear();
  }
  previous_.erase(std::string(uid));
  current_.insert_or_assign(std::string(uid), std::move(summary));
}

void FilterVerdicts::Fits(std::string_view uid) {
  std::lock_guard lock(mu_);
  if (current_.empty() && previous_.empty()) return;
  std::string key(uid);
  current_.erase(key);
  previous_.erase(key);
}

std::optional<std::string> FilterVerdicts::Find(std::string_view uid) const {
  std::lock_guard lock(mu_);
  std::string key(uid);
  if (auto it = current_.find(key); it != current_.end()) return it->second;
  if (auto it = previous_.find(key); it != previous_.end()) return it->second;
  return std::nullopt;
}

std::string RejectionSummary(const int (&rejected)[scoring::kReasonCount], std::size_t nodes) {
  std::vector<std::pair<int, std::string_view>> counts;
  for (int r = 1; r < scoring::kReasonCount; ++r) {
    if (rejected[r] > 0)
      counts.emplace_back(rejected[r], ReasonText(static_cast<scoring::Reason>(r)));
  }
  std::sort(counts.begin(), counts.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::string out = "0/" + std::to_string(nodes) + " nodes fit";
  for (std::size_t i = 0; i < counts.size(); ++i) {
    out += i == 0 ? ": " : ", ";
    out += std::to_string(counts[i].first) + " " + std::string(counts[i].second);
  }
  return out;
}

}  // namespace hyperplace::extender
