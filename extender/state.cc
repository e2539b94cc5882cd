#include "extender/state.h"

namespace hyperplace::extender {

const Snapshot::NodeEntry* Snapshot::FindNode(std::string_view name, std::int32_t* pods) const {
  const std::int32_t at = index_.Find(name);
  if (at < 0) {
    if (pods != nullptr) *pods = 0;
    return nullptr;
  }
  if (pods != nullptr) *pods = slots_[at].pods;
  return slots_[at].entry.get();
}

void Snapshot::FindNodes(const std::vector<std::string_view>& names,
                         std::vector<const NodeEntry*>& entries,
                         std::vector<std::int32_t>& pods) const {
  thread_local std::vector<std::int32_t> at;
  index_.FindMany(names, at);
  entries.resize(names.size());
  pods.resize(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    entries[i] = at[i] < 0 ? nullptr : slots_[at[i]].entry.get();
    pods[i] = at[i] < 0 ? 0 : slots_[at[i]].pods;
  }
}

std::int32_t Snapshot::PodsOn(std::string_view node) const {
  const std::int32_t at = index_.Find(node);
  return at < 0 ? 0 : slots_[at].pods;
}

const std::vector<Snapshot::Placement>* Snapshot::GroupPlacements(std::string_view group) const {
  auto it = groups_.find(group);
  return it == groups_.end() ? nullptr : &it->second;
}

MemoryState::MemoryState(scoring::Policy policy)
    : policy_(std::move(policy)), current_(std::make_shared<const Snapshot>()) {}

void MemoryState::UpsertNode(scoring::Node node) {
  std::lock_guard lock(mu_);
  auto entry = std::make_shared<Snapshot::NodeEntry>();
  entry->node = std::move(node);
  entry->facts = scoring::DeriveNodeFacts(entry->node, policy_, domains_);
  std::string name(entry->node.name);
  nodes_[std::move(name)] = std::move(entry);
}

void MemoryState::DeleteNode(std::string_view name) {
  std::lock_guard lock(mu_);
  if (auto it = nodes_.find(name); it != nodes_.end()) nodes_.erase(it);
}

void MemoryState::UpsertPod(PodRecord pod) {
  std::lock_guard lock(mu_);
  std::string uid = pod.uid;
  pods_[std::move(uid)] = std::move(pod);
}

void MemoryState::DeletePod(std::string_view uid) {
  std::lock_guard lock(mu_);
  if (auto it = pods_.find(uid); it != pods_.end()) pods_.erase(it);
}

void MemoryState::Publish() {
  std::lock_guard lock(mu_);
  auto next = std::make_shared<Snapshot>();
  // Slots: every cached node, then nodes known only from their pods (full-node requests count
  // those too). Entries are immutable and shared between snapshots.
  std::unordered_map<std::string_view, std::int32_t> slot_of;
  std::vector<std::string_view> names;
  for (const auto& [name, entry] : nodes_) {
    slot_of.emplace(entry->node.name, static_cast<std::int32_t>(next->slots_.size()));
    names.push_back(entry->node.name);
    next->slots_.push_back({entry, 0});
  }
  next->node_count_ = nodes_.size();
  for (const auto& [uid, pod] : pods_) {
    if (pod.node.empty() || slot_of.count(pod.node)) continue;
    slot_of.emplace(pod.node, static_cast<std::int32_t>(next->slots_.size()));
    next->pod_only_names_.push_back(pod.node);
    next->slots_.push_back({nullptr, 0});
  }
  // Views into pod_only_names_ are taken only now that it no longer grows.
  for (const std::string& name : next->pod_only_names_) names.push_back(name);
  next->index_.Build(std::move(names));
  for (const auto& [uid, pod] : pods_) {
    if (pod.node.empty()) continue;
    ++next->slots_[slot_of.at(pod.node)].pods;
    ++next->pod_count_;
    if (!pod.group.empty()) next->groups_[pod.group].push_back({pod.uid, pod.node});
  }
  next->generation_ = ++generation_;
  current_.store(std::move(next));
}

std::shared_ptr<const Snapshot> MemoryState::Current() const { return current_.load(); }

}  // namespace hyperplace::extender
