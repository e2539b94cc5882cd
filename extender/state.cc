#include "extender/state.h"

#include <algorithm>
#include <functional>

namespace hyperplace::extender {
namespace {

std::size_t ShardOf(std::string_view group) {
  return std::hash<std::string_view>{}(group) % Snapshot::kGroupShards;
}

bool SameTaints(const std::vector<scoring::Taint>& a, const std::vector<scoring::Taint>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const scoring::Taint& x, const scoring::Taint& y) {
                      return x.key == y.key && x.value == y.value && x.effect == y.effect;
                    });
}

// Whether two versions of a node differ in anything the rules read.
bool SameForRules(const scoring::Node& a, const scoring::Node& b) {
  return a.allocatable_pods == b.allocatable_pods && a.labels.entries() == b.labels.entries() &&
         SameTaints(a.taints, b.taints);
}

}  // namespace

const Snapshot::NodeEntry* Snapshot::FindNode(std::string_view name, std::int32_t* pods) const {
  const std::int32_t at = table_->index.Find(name);
  if (pods != nullptr) *pods = at < 0 ? 0 : (*pods_)[at];
  return at < 0 ? nullptr : table_->entries[at].get();
}

namespace {

// Per-thread scratch of FindNodes: the index of each name, and which entries this call has seen
// (entry i was seen when seen[i] == stamp).
struct FindScratch {
  std::vector<std::int32_t> at;
  std::vector<std::uint32_t> seen;
  std::uint32_t stamp = 0;
};
thread_local FindScratch find_scratch;

}  // namespace

void Snapshot::FindNodes(const std::vector<std::string_view>& names,
                         std::vector<const NodeEntry*>& entries,
                         std::vector<std::int32_t>& pods) const {
  FindScratch& f = find_scratch;
  table_->index.FindMany(names, f.at);
  if (f.seen.size() < table_->entries.size() || ++f.stamp == 0) {
    f.seen.assign(std::max(f.seen.size(), table_->entries.size()), 0);
    f.stamp = 1;
  }
  entries.resize(names.size());
  pods.resize(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::int32_t at = f.at[i];
    if (at >= 0 && f.seen[at] == f.stamp) {
      entries[i] = nullptr;
      pods[i] = kDuplicate;
      continue;
    }
    if (at >= 0) f.seen[at] = f.stamp;
    entries[i] = at < 0 ? nullptr : table_->entries[at].get();
    pods[i] = at < 0 ? 0 : (*pods_)[at];
  }
}

void Snapshot::ReleaseThreadScratch() { find_scratch = FindScratch(); }

std::int32_t Snapshot::PodsOn(std::string_view node) const {
  const std::int32_t at = table_->index.Find(node);
  return at < 0 ? 0 : (*pods_)[at];
}

const std::vector<Snapshot::Placement>* Snapshot::GroupPlacements(std::string_view group) const {
  const auto& shard = groups_[ShardOf(group)];
  if (!shard) return nullptr;
  auto it = shard->find(std::string(group));
  return it == shard->end() || it->second.empty() ? nullptr : &it->second;
}

MemoryState::MemoryState(scoring::Policy policy)
    : policy_(std::move(policy)), current_(std::make_shared<const Snapshot>()) {
  for (auto& shard : shards_) shard = std::make_shared<Snapshot::GroupShard>();
}

std::int32_t MemoryState::SlotOf(std::string_view node) {
  if (auto it = slot_of_.find(std::string(node)); it != slot_of_.end()) return it->second;
  const auto slot = static_cast<std::int32_t>(slot_names_.size());
  slot_names_.emplace_back(node);
  entries_.emplace_back();
  pod_counts_.push_back(0);
  slot_of_.emplace(std::string(node), slot);
  table_dirty_ = counts_dirty_ = true;
  return slot;
}

Snapshot::GroupShard& MemoryState::MutableShard(std::string_view group) {
  const std::size_t i = ShardOf(group);
  if (shard_published_[i]) {  // a snapshot reads this one: copy before writing
    shards_[i] = std::make_shared<Snapshot::GroupShard>(*shards_[i]);
    shard_published_[i] = false;
  }
  return *shards_[i];
}

void MemoryState::AddPod(PodState& pod) {
  if (pod.record.node.empty()) {
    pod.slot = -1;
    ++pending_pods_;
    return;
  }
  pod.slot = SlotOf(pod.record.node);
  ++pod_counts_[pod.slot];
  ++placed_pods_;
  counts_dirty_ = true;
  if (!pod.record.group.empty()) {
    MutableShard(pod.record.group)[pod.record.group].push_back({pod.record.uid, pod.record.node});
  }
}

void MemoryState::RemovePod(const PodState& pod) {
  if (pod.slot < 0) {
    --pending_pods_;
    return;
  }
  --pod_counts_[pod.slot];
  --placed_pods_;
  counts_dirty_ = true;
  if (pod.record.group.empty()) return;
  auto& shard = MutableShard(pod.record.group);
  auto it = shard.find(pod.record.group);
  if (it == shard.end()) return;
  auto& placements = it->second;
  auto p = std::find_if(placements.begin(), placements.end(),
                        [&](const Snapshot::Placement& x) { return x.uid == pod.record.uid; });
  if (p != placements.end()) {
    *p = std::move(placements.back());
    placements.pop_back();
  }
  if (placements.empty()) shard.erase(it);
}

void MemoryState::UpsertNodeLocked(scoring::Node node) {
  const std::int32_t slot = SlotOf(node.name);
  const auto& old = entries_[slot];
  if (old && SameForRules(old->node, node)) return;
  auto entry = std::make_shared<Snapshot::NodeEntry>();
  entry->node = std::move(node);
  entry->facts = scoring::DeriveNodeFacts(entry->node, policy_, domains_);
  if (!old) ++node_count_;
  entries_[slot] = std::move(entry);
  table_dirty_ = true;
}

void MemoryState::DeleteNodeLocked(std::string_view name) {
  auto it = slot_of_.find(std::string(name));
  if (it == slot_of_.end() || !entries_[it->second]) return;
  entries_[it->second].reset();  // the slot stays: pods may still name the node
  --node_count_;
  table_dirty_ = true;
}

void MemoryState::UpsertPodLocked(PodRecord pod) {
  if (!pod.node.empty()) pod.scheduler_name = std::string();  // bound for good: never needed
  auto it = pods_.find(pod.uid);
  if (it != pods_.end()) {
    PodState& old = it->second;
    if (old.assumed && pod.node.empty()) {
      // The watch still shows the pod unscheduled: the event predates the Binding. Keep counting
      // it where it was bound until the watch shows it there (or its assumption expires).
      pod.node = old.record.node;
    } else if (old.assumed) {
      old.assumed = false;  // the watch confirms (or corrects) what we assumed
      assumed_.erase(old.record.uid);
    }
    old.watched = true;
    if (old.record.node == pod.node && old.record.group == pod.group) {
      old.record.scheduler_name = std::move(pod.scheduler_name);
      return;
    }
    RemovePod(old);
    old.record = std::move(pod);
    AddPod(old);
    return;
  }
  PodState state;
  state.record = std::move(pod);
  state.watched = true;
  AddPod(state);
  std::string uid = state.record.uid;
  pods_.emplace(std::move(uid), std::move(state));
}

void MemoryState::DeletePodLocked(std::string_view uid) {
  auto it = pods_.find(std::string(uid));
  if (it == pods_.end()) return;
  RemovePod(it->second);
  if (it->second.assumed) assumed_.erase(it->first);
  pods_.erase(it);
}

void MemoryState::UpsertNode(scoring::Node node) {
  std::lock_guard lock(mu_);
  UpsertNodeLocked(std::move(node));
}

void MemoryState::DeleteNode(std::string_view name) {
  std::lock_guard lock(mu_);
  DeleteNodeLocked(name);
}

void MemoryState::UpsertPod(PodRecord pod) {
  std::lock_guard lock(mu_);
  UpsertPodLocked(std::move(pod));
}

void MemoryState::DeletePod(std::string_view uid) {
  std::lock_guard lock(mu_);
  DeletePodLocked(uid);
}

void MemoryState::AssumePod(PodRecord pod, Clock::time_point until) {
  std::lock_guard lock(mu_);
  auto it = pods_.find(pod.uid);
  if (it != pods_.end() && !it->second.assumed && !it->second.record.node.empty()) {
    return;  // the watch was faster than the bind reply: it already shows the pod placed
  }
  if (it != pods_.end()) {
    const bool was_assumed = it->second.assumed;
    pod.group = it->second.record.group;  // the watch's, not the caller's guess
    pod.scheduler_name = std::move(it->second.record.scheduler_name);
    RemovePod(it->second);
    it->second.record = std::move(pod);
    AddPod(it->second);
    it->second.assumed = true;
    it->second.assumed_until = until;
    if (!was_assumed) assumed_.insert(it->first);
    return;
  }
  PodState state;
  state.record = std::move(pod);
  state.assumed = true;
  state.assumed_until = until;
  AddPod(state);
  std::string uid = state.record.uid;
  assumed_.insert(uid);
  pods_.emplace(std::move(uid), std::move(state));
}

std::optional<MemoryState::WatchedPod> MemoryState::Watched(std::string_view uid) const {
  std::lock_guard lock(mu_);
  auto it = pods_.find(std::string(uid));
  if (it == pods_.end() || !it->second.watched) return std::nullopt;
  // An assumed pod is one the watch still shows unscheduled (UpsertPod ends the assumption as
  // soon as the watch shows it placed).
  const PodState& pod = it->second;
  return WatchedPod{pod.assumed ? std::string() : pod.record.node, pod.record.scheduler_name};
}

std::optional<std::string> MemoryState::GroupOf(std::string_view uid) const {
  std::lock_guard lock(mu_);
  auto it = pods_.find(std::string(uid));
  if (it == pods_.end()) return std::nullopt;
  return it->second.record.group;
}

void MemoryState::UnassumeLocked(std::string_view uid, std::string_view node) {
  auto it = pods_.find(std::string(uid));
  if (it == pods_.end() || !it->second.assumed) return;
  if (!node.empty() && it->second.record.node != node) return;  // a newer bind's assumption
  PodState& pod = it->second;
  if (!pod.watched) return DeletePodLocked(uid);
  RemovePod(pod);
  pod.record.node.clear();
  pod.assumed = false;
  assumed_.erase(it->first);
  AddPod(pod);
}

void MemoryState::ForgetAssumed(std::string_view uid, std::string_view node) {
  std::lock_guard lock(mu_);
  UnassumeLocked(uid, node);
}

std::size_t MemoryState::ExpireAssumptions(Clock::time_point now) {
  std::lock_guard lock(mu_);
  // Only the assumed pods are looked at: the state may hold 150,000 pods.
  std::vector<std::string> expired;
  for (const std::string& uid : assumed_) {
    if (pods_.at(uid).assumed_until <= now) expired.push_back(uid);
  }
  for (const std::string& uid : expired) UnassumeLocked(uid, "");
  return expired.size();
}

void MemoryState::ReplaceNodes(std::vector<scoring::Node> nodes) {
  std::lock_guard lock(mu_);
  std::unordered_map<std::string_view, bool> listed;
  for (const auto& n : nodes) listed.emplace(n.name, true);
  for (std::size_t slot = 0; slot < entries_.size(); ++slot) {
    if (entries_[slot] && !listed.count(slot_names_[slot])) DeleteNodeLocked(slot_names_[slot]);
  }
  for (auto& n : nodes) UpsertNodeLocked(std::move(n));
}

void MemoryState::ReplacePods(std::vector<PodRecord> pods) {
  std::lock_guard lock(mu_);
  std::unordered_map<std::string_view, bool> listed;
  for (const auto& p : pods) listed.emplace(p.uid, true);
  std::vector<std::string> gone;
  for (auto& [uid, pod] : pods_) {
    if (listed.count(uid)) continue;
    if (pod.assumed) {
      pod.watched = false;  // only our bind knows it now: dropped if that never shows
    } else {
      gone.push_back(uid);
    }
  }
  for (const std::string& uid : gone) DeletePodLocked(uid);
  for (auto& p : pods) UpsertPodLocked(std::move(p));
}

void MemoryState::Publish() {
  std::lock_guard lock(mu_);
  auto next = std::make_shared<Snapshot>();
  if (table_dirty_ || !table_) {
    auto table = std::make_shared<Snapshot::NodeTable>();
    table->entries = entries_;  // shared, immutable entries
    table->names = slot_names_;
    table->index.Build(std::vector<std::string_view>(table->names.begin(), table->names.end()));
    table_ = std::move(table);
    table_dirty_ = false;
  }
  next->table_ = table_;
  if (counts_dirty_) {
    next->pods_ = std::make_shared<const std::vector<std::int32_t>>(pod_counts_);
    counts_dirty_ = false;
  } else {
    next->pods_ = Current()->pods_;
  }
  // A snapshot made before a slot existed must still index every slot of its own table.
  if (next->pods_->size() < next->table_->names.size()) {
    next->pods_ = std::make_shared<const std::vector<std::int32_t>>(pod_counts_);
  }
  for (std::size_t i = 0; i < Snapshot::kGroupShards; ++i) {
    next->groups_[i] = shards_[i];
    shard_published_[i] = true;
  }
  next->node_count_ = node_count_;
  next->pod_count_ = placed_pods_;
  next->pending_count_ = pending_pods_;
  next->generation_ = ++generation_;
  std::shared_ptr<const Snapshot> published = std::move(next);
  std::lock_guard publish(current_mu_);
  current_.swap(published);  // the old snapshot is released after the lock, with `published`
}

std::shared_ptr<const Snapshot> MemoryState::Current() const {
  std::lock_guard lock(current_mu_);
  return current_;
}

std::size_t MemoryState::assumed_count() const {
  std::lock_guard lock(mu_);
  return assumed_.size();
}

}  // namespace hyperplace::extender
