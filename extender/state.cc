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
         SameTaints(a.taints, b.taints) && a.allocatable == b.allocatable;
}

using PodUse = std::vector<std::pair<std::uint16_t, std::int64_t>>;

// Adds `delta` into a sparse use sorted by id.
PodUse Merge(const PodUse& base, const PodUse& delta) {
  PodUse out = base;
  for (auto [id, amount] : delta) {
    auto it = std::lower_bound(out.begin(), out.end(), id,
                               [](const auto& e, std::uint16_t i) { return e.first < i; });
    if (it == out.end() || it->first != id) it = out.insert(it, {id, 0});
    it->second += amount;
  }
  return out;
}

// Resources every cluster of accelerated instances has or may have: named from the start, so a
// pod listed before the node that has them is counted at once.
constexpr std::string_view kWellKnownResources[] = {
    "cpu",           "memory",        "ephemeral-storage", "pods", "vpc.amazonaws.com/efa",
    "hugepages-1Gi", "hugepages-2Mi",
};

}  // namespace

OwnedRequests OwnRequests(const scoring::ResourceList& requests) {
  OwnedRequests out;
  out.reserve(requests.size());
  for (const auto& r : requests) {
    if (r.amount > 0) out.emplace_back(std::string(r.name), r.amount);
  }
  return out;
}

const Snapshot::NodeEntry* Snapshot::FindNode(std::string_view name, std::int32_t* pods) const {
  const std::int32_t at = table_->index.Find(name);
  if (pods != nullptr) *pods = at < 0 ? 0 : (*pods_)[at];
  return at < 0 ? nullptr : table_->entries[at].get();
}

namespace {

// Per-thread scratch of ResolveNames: which entries this call has seen (entry i was seen when
// seen[i] == stamp).
struct FindScratch {
  std::vector<std::uint32_t> seen;
  std::uint32_t stamp = 0;
};
thread_local FindScratch find_scratch;

}  // namespace

void Snapshot::ResolveNames(const std::vector<std::string_view>& names,
                            std::vector<std::int32_t>& slots) const {
  FindScratch& f = find_scratch;
  table_->index.FindMany(names, slots);
  if (f.seen.size() < table_->entries.size() || ++f.stamp == 0) {
    f.seen.assign(std::max(f.seen.size(), table_->entries.size()), 0);
    f.stamp = 1;
  }
  for (std::int32_t& slot : slots) {
    if (slot < 0) {
      slot = kUnknownName;  // not indexed
      continue;
    }
    const auto at = static_cast<std::size_t>(slot);
    if (f.seen[at] == f.stamp) {
      slot = kRepeatedName;
      continue;
    }
    f.seen[at] = f.stamp;
    if (table_->entries[at] == nullptr) slot = kUnknownName;  // a name only pods have mentioned
  }
}

void Snapshot::ReleaseThreadScratch() { find_scratch = FindScratch(); }

std::int32_t Snapshot::PodsOn(std::string_view node) const {
  const std::int32_t at = table_->index.Find(node);
  return at < 0 ? 0 : (*pods_)[at];
}

std::int32_t Snapshot::SlotOf(std::string_view node) const {
  // A slot of the table beyond this snapshot's usage (the name came with a later node) has none.
  const std::int32_t at = table_->index.Find(node);
  return at >= 0 && static_cast<std::size_t>(at) < usage_->size() * kUsageChunk ? at : -1;
}

int Snapshot::ResourceId(std::string_view resource) const {
  auto it = resources_->find(resource);
  return it == resources_->end() ? -1 : it->second;
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
  for (std::string_view name : kWellKnownResources) InternResource(name);
  for (const std::string& name : policy_.accelerator_resources) InternResource(name);
}

int MemoryState::InternResource(std::string_view name) {
  if (auto it = resource_ids_.find(name); it != resource_ids_.end()) return it->second;
  if (resource_ids_.size() >= kMaxResources) return -1;
  const auto id = static_cast<std::uint16_t>(resource_ids_.size());
  resource_ids_.emplace(std::string(name), id);
  resources_dirty_ = true;
  // Pods listed before the first node with this resource now count it.
  std::vector<std::string> waiting(unresolved_.begin(), unresolved_.end());
  for (const std::string& uid : waiting) ResolveRequests(pods_.at(uid));
  return id;
}

void MemoryState::ResolveRequests(PodState& pod) {
  PodUse added;
  OwnedRequests rest;
  for (auto& [name, amount] : pod.record.requests) {
    auto it = resource_ids_.find(name);
    if (it == resource_ids_.end()) {
      rest.emplace_back(std::move(name), amount);
    } else {
      added.emplace_back(it->second, amount);
    }
  }
  pod.record.requests = std::move(rest);
  if (pod.record.requests.empty()) {
    unresolved_.erase(pod.record.uid);
  } else {
    unresolved_.insert(pod.record.uid);
  }
  if (added.empty()) return;
  std::sort(added.begin(), added.end());
  if (pod.slot >= 0) AddUse(pod.slot, added, +1);
  pod.use = Merge(pod.use, added);
}

void MemoryState::AddUse(std::int32_t slot, const PodUse& use, std::int64_t sign) {
  if (use.empty()) return;
  Usage next = usage_[slot] ? *usage_[slot] : Usage();
  for (auto [id, amount] : use) {
    if (id >= next.size()) next.resize(id + 1u, 0);
    next[id] += sign * amount;
  }
  while (!next.empty() && next.back() == 0) next.pop_back();
  usage_[slot] = next.empty() ? nullptr : std::make_shared<const Usage>(std::move(next));
  usage_chunk_dirty_[static_cast<std::size_t>(slot) / Snapshot::kUsageChunk] = true;
}

std::shared_ptr<const Snapshot::UsageChunk> MemoryState::MakeUsageChunk(std::size_t c) const {
  auto chunk = std::make_shared<Snapshot::UsageChunk>();
  const std::size_t begin = c * Snapshot::kUsageChunk;
  const std::size_t end = std::min(usage_.size(), begin + Snapshot::kUsageChunk);
  for (std::size_t slot = begin; slot < end; ++slot) {
    const Usage* use = usage_[slot].get();
    if (use == nullptr) continue;
    const std::size_t head = std::min<std::size_t>(use->size(), kInlineResources);
    std::copy_n(use->begin(), head, chunk->head[slot - begin].begin());
    if (use->size() <= kInlineResources) continue;
    chunk->full.resize(slot - begin + 1);
    chunk->full[slot - begin] = usage_[slot];
  }
  return chunk;
}

std::int32_t MemoryState::SlotOf(std::string_view node) {
  if (auto it = slot_of_.find(std::string(node)); it != slot_of_.end()) return it->second;
  const auto slot = static_cast<std::int32_t>(slot_names_.size());
  slot_names_.emplace_back(node);
  entries_.emplace_back();
  pod_counts_.push_back(0);
  usage_.emplace_back();
  if (usage_chunk_dirty_.size() * Snapshot::kUsageChunk < usage_.size()) {
    usage_chunk_dirty_.push_back(true);
  }
  usage_chunk_dirty_.back() = true;  // the chunk grew
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
  AddUse(pod.slot, pod.use, +1);
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
  AddUse(pod.slot, pod.use, -1);
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
  for (const scoring::ResourceAmount& r : entry->node.allocatable) {
    const int id = InternResource(r.name);
    if (id < 0) continue;
    if (static_cast<std::size_t>(id) >= entry->allocatable.size()) {
      entry->allocatable.resize(static_cast<std::size_t>(id) + 1, 0);
    }
    entry->allocatable[static_cast<std::size_t>(id)] = r.amount;
  }
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
    PodState fresh;
    fresh.record = std::move(pod);
    ResolveRequests(fresh);  // fresh.slot is -1: counts nothing yet
    if (old.record.node == fresh.record.node && old.record.group == fresh.record.group &&
        old.use == fresh.use && old.record.requests == fresh.record.requests) {
      old.record.scheduler_name = std::move(fresh.record.scheduler_name);
      return;
    }
    RemovePod(old);
    old.record = std::move(fresh.record);
    old.use = std::move(fresh.use);
    AddPod(old);
    return;
  }
  PodState state;
  state.record = std::move(pod);
  state.watched = true;
  ResolveRequests(state);
  AddPod(state);
  std::string uid = state.record.uid;
  pods_.emplace(std::move(uid), std::move(state));
}

void MemoryState::DeletePodLocked(std::string_view uid) {
  auto it = pods_.find(std::string(uid));
  if (it == pods_.end()) return;
  RemovePod(it->second);
  unresolved_.erase(it->first);
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
    // The watch's group and requests, not the caller's guess.
    pod.group = it->second.record.group;
    pod.scheduler_name = std::move(it->second.record.scheduler_name);
    pod.requests = std::move(it->second.record.requests);
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
  ResolveRequests(state);
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
    static std::atomic<std::uint64_t> tables{0};
    auto table = std::make_shared<Snapshot::NodeTable>();
    table->id = ++tables;
    table->entries = entries_;  // shared, immutable entries
    table->names = slot_names_;
    table->index.Build(std::vector<std::string_view>(table->names.begin(), table->names.end()));
    for (std::size_t l = 0; l < policy_.topology_levels.size(); ++l) {
      table->domain_ranks.push_back(domains_.Ranks(static_cast<int>(l)));
    }
    table->facts.resize(entries_.size());
    table->allocatable.resize(entries_.size());
    for (std::size_t slot = 0; slot < entries_.size(); ++slot) {
      const Snapshot::NodeEntry* entry = entries_[slot].get();
      if (entry == nullptr) continue;
      table->facts[slot] = entry->facts;
      const std::size_t head = std::min<std::size_t>(entry->allocatable.size(), kInlineResources);
      std::copy_n(entry->allocatable.begin(), head, table->allocatable[slot].begin());
    }
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
  // Usage: only the chunks that changed are rebuilt.
  bool usage_changed = false;
  usage_chunks_.resize(usage_chunk_dirty_.size());
  for (std::size_t c = 0; c < usage_chunk_dirty_.size(); ++c) {
    if (!usage_chunk_dirty_[c]) continue;
    usage_chunks_[c] = MakeUsageChunk(c);
    usage_chunk_dirty_[c] = false;
    usage_changed = true;
  }
  next->usage_ = usage_changed ? std::make_shared<const Snapshot::UsageTable>(usage_chunks_)
                               : Current()->usage_;
  // A snapshot made before a slot existed must still index every slot of its own table.
  if (next->pods_->size() < next->table_->names.size()) {
    next->pods_ = std::make_shared<const std::vector<std::int32_t>>(pod_counts_);
  }
  if (resources_dirty_) {
    auto index = std::make_shared<Snapshot::ResourceIndex>();
    for (const auto& [name, id] : resource_ids_) index->emplace(name, id);
    next->resources_ = std::move(index);
    resources_dirty_ = false;
  } else {
    next->resources_ = Current()->resources_;
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
