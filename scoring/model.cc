#include "scoring/model.h"

namespace hyperplace::scoring {

Labels::Labels(std::vector<Entry> entries) : entries_(std::move(entries)) {
  // Stable sort keeps input order among equal keys, so the last duplicate can be kept.
  std::stable_sort(entries_.begin(), entries_.end(),
                   [](const Entry& a, const Entry& b) { return a.first < b.first; });
  auto out = entries_.begin();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    auto next = it + 1;
    if (next != entries_.end() && next->first == it->first) continue;
    *out++ = *it;
  }
  entries_.erase(out, entries_.end());
}

std::optional<std::string_view> Labels::Get(std::string_view key) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), key,
                             [](const Entry& e, std::string_view k) { return e.first < k; });
  if (it == entries_.end() || it->first != key) return std::nullopt;
  return it->second;
}

TaintEffect ParseTaintEffect(std::string_view s) {
  if (s == "NoSchedule") return TaintEffect::kNoSchedule;
  if (s == "PreferNoSchedule") return TaintEffect::kPreferNoSchedule;
  if (s == "NoExecute") return TaintEffect::kNoExecute;
  return TaintEffect::kUnknown;
}

bool Tolerates(const Toleration& toleration, const Taint& taint) {
  if (toleration.effect.has_value() && *toleration.effect != taint.effect) return false;
  if (!toleration.key.empty() && toleration.key != taint.key) return false;
  switch (toleration.op) {
    case Toleration::Operator::kExists:
      return true;
    case Toleration::Operator::kEqual:
      // An empty key with Equal is invalid in the API; never tolerate on it.
      return !toleration.key.empty() && toleration.value == taint.value;
  }
  return false;
}

}  // namespace hyperplace::scoring
