#include "extender/state.h"

namespace hyperplace::extender {

const Snapshot::NodeEntry* Snapshot::FindNode(std::string_view name) const {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : it->second.get();
}

std::int32_t Snapshot::PodsOn(std::string_view node) const {
  auto it = pods_on_node_.find(node);
  return it == pods_on_node_.end() ? 0 : it->second;
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
  next->nodes_ = nodes_;  // entries are immutable and shared between snapshots
  for (const auto& [uid, pod] : pods_) {
    if (pod.node.empty()) continue;
    ++next->pods_on_node_[pod.node];
    ++next->pod_count_;
    if (!pod.group.empty()) next->groups_[pod.group].push_back({pod.uid, pod.node});
  }
  next->generation_ = ++generation_;
  current_.store(std::move(next));
}

std::shared_ptr<const Snapshot> MemoryState::Current() const { return current_.load(); }

}  // namespace hyperplace::extender
