#include "scoring/model.h"

#include <string>

namespace hyperplace::scoring {

Labels::Labels(std::vector<Entry> entries) : entries_(std::move(entries)) {
  // Go writes map keys sorted, so objects from the API server arrive sorted and unique.
  bool sorted_unique = true;
  for (std::size_t i = 1; i < entries_.size() && sorted_unique; ++i) {
    sorted_unique = entries_[i - 1].first < entries_[i].first;
  }
  if (sorted_unique) return;
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

namespace {

// Copies every viewed string into one buffer sized up front, then re-points the views.
class ArenaBuilder {
 public:
  void Count(std::string_view s) { bytes_ += s.size(); }
  void Allocate() {
    buffer_ = std::make_shared<std::string>();
    buffer_->reserve(bytes_);
  }
  std::string_view Copy(std::string_view s) {
    if (s.empty()) return {};
    std::size_t at = buffer_->size();
    buffer_->append(s);  // never reallocates: capacity was reserved for every byte
    return std::string_view(buffer_->data() + at, s.size());
  }
  std::shared_ptr<const void> handle() { return buffer_; }

 private:
  std::size_t bytes_ = 0;
  std::shared_ptr<std::string> buffer_;
};

template <typename Visit>
void VisitLabels(const Labels& labels, Visit&& visit) {
  for (const auto& [k, v] : labels.entries()) {
    visit(k);
    visit(v);
  }
}

Labels CopyLabels(const Labels& labels, ArenaBuilder& arena) {
  std::vector<Labels::Entry> entries;
  entries.reserve(labels.size());
  for (const auto& [k, v] : labels.entries()) entries.emplace_back(arena.Copy(k), arena.Copy(v));
  return Labels(std::move(entries));
}

}  // namespace

std::int64_t AmountOf(const ResourceList& list, std::string_view name) {
  auto it =
      std::lower_bound(list.begin(), list.end(), name,
                       [](const ResourceAmount& r, std::string_view n) { return r.name < n; });
  return it != list.end() && it->name == name ? it->amount : 0;
}

Node OwnedCopy(const Node& node) {
  ArenaBuilder arena;
  auto count = [&](std::string_view s) { arena.Count(s); };
  count(node.name);
  VisitLabels(node.labels, count);
  for (const Taint& t : node.taints) {
    count(t.key);
    count(t.value);
  }
  for (const ResourceAmount& r : node.allocatable) count(r.name);
  arena.Allocate();
  Node copy;
  copy.name = arena.Copy(node.name);
  copy.labels = CopyLabels(node.labels, arena);
  copy.taints.reserve(node.taints.size());
  for (const Taint& t : node.taints) {
    copy.taints.push_back({arena.Copy(t.key), arena.Copy(t.value), t.effect});
  }
  copy.allocatable.reserve(node.allocatable.size());
  for (const ResourceAmount& r : node.allocatable) {
    copy.allocatable.push_back({arena.Copy(r.name), r.amount});
  }
  copy.allocatable_pods = node.allocatable_pods;
  copy.storage = arena.handle();
  return copy;
}

Pod OwnedCopy(const Pod& pod) {
  ArenaBuilder arena;
  auto count = [&](std::string_view s) { arena.Count(s); };
  for (auto s : {pod.name, pod.namespace_name, pod.uid, pod.controller_uid, pod.node_name,
                 pod.scheduler_name, pod.phase}) {
    count(s);
  }
  VisitLabels(pod.labels, count);
  VisitLabels(pod.annotations, count);
  VisitLabels(pod.node_selector, count);
  for (const auto& term : pod.required_node_terms) {
    for (const auto& req : term) {
      count(req.key);
      count(req.op);
      for (auto v : req.values) count(v);
    }
  }
  for (const Toleration& t : pod.tolerations) {
    count(t.key);
    count(t.value);
  }
  for (const ResourceAmount& r : pod.requests) count(r.name);
  arena.Allocate();
  Pod copy;
  copy.name = arena.Copy(pod.name);
  copy.namespace_name = arena.Copy(pod.namespace_name);
  copy.uid = arena.Copy(pod.uid);
  copy.controller_uid = arena.Copy(pod.controller_uid);
  copy.node_name = arena.Copy(pod.node_name);
  copy.scheduler_name = arena.Copy(pod.scheduler_name);
  copy.phase = arena.Copy(pod.phase);
  copy.labels = CopyLabels(pod.labels, arena);
  copy.annotations = CopyLabels(pod.annotations, arena);
  copy.node_selector = CopyLabels(pod.node_selector, arena);
  for (const auto& term : pod.required_node_terms) {
    auto& out = copy.required_node_terms.emplace_back();
    for (const auto& req : term) {
      NodeSelectorRequirement r{arena.Copy(req.key), arena.Copy(req.op), {}};
      for (auto v : req.values) r.values.push_back(arena.Copy(v));
      out.push_back(std::move(r));
    }
  }
  for (const Toleration& t : pod.tolerations) {
    Toleration c = t;
    c.key = arena.Copy(t.key);
    c.value = arena.Copy(t.value);
    copy.tolerations.push_back(c);
  }
  copy.requests.reserve(pod.requests.size());
  for (const ResourceAmount& r : pod.requests)
    copy.requests.push_back({arena.Copy(r.name), r.amount});
  copy.storage = arena.handle();
  return copy;
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
