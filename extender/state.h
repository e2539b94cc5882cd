// The extender's view of the cluster: nodes, the pods occupying each node, and where the pods of
// each group (job) are placed.
//
// Request threads read an immutable Snapshot; writers (the watch cache, binds) stage changes in a
// MemoryState and publish them atomically, so a request never sees half an event and never waits
// for a writer. Publishing is incremental: the node table is shared until a node changes, pod
// counts are one small array, and group placements live in copy-on-write shards, so a pod event
// costs microseconds even with 150,000 pods cached.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "extender/name_index.h"
#include "scoring/facts.h"
#include "scoring/policy.h"

namespace hyperplace::extender {

// A pod as the state counts it: it occupies `node` (empty while unscheduled) and belongs to
// `group` (scoring::PodFacts::group; empty for none). The state keeps unscheduled pods too, so
// that a /bind for any pod knows its group (DESIGN §2.4), even when this process never served the
// pod's /filter, and its spec.schedulerName, so that /bind refuses a pod of another scheduler
// (§2.1). A placed pod's scheduler name is not kept: it is never bound again.
// A pod's effective requests with owned names (scoring::Pod::requests, copied out of the JSON).
using OwnedRequests = std::vector<std::pair<std::string, std::int64_t>>;
OwnedRequests OwnRequests(const scoring::ResourceList& requests);

struct PodRecord {
  std::string uid;
  std::string node;
  std::string group;
  std::string scheduler_name = {};  // from the watch; empty when only a bind knows the pod
  OwnedRequests requests = {};      // what the pod takes of its node's allocatable
};

// Amounts by resource id (Snapshot::ResourceId), dense: what the pods on one node request in all,
// or a node's allocatable. Ids past the end are 0. Dense because a names-mode cycle reads it for
// every candidate and requested resource: an index, not a search.
using Usage = std::vector<std::int64_t>;
// The amount of resource `id` (null: nothing; -1, an unknown resource: 0).
inline std::int64_t UsedOf(const Usage* usage, int id) {
  return usage != nullptr && id >= 0 && static_cast<std::size_t>(id) < usage->size()
             ? (*usage)[static_cast<std::size_t>(id)]
             : 0;
}

// Resource ids below this are also kept inline, in fixed rows: the well-known resources and the
// default accelerators take 11. A names-mode cycle reads a row per candidate where a Usage would
// cost two dependent cache misses (the vector, then its heap block) at every candidate.
inline constexpr int kInlineResources = 16;
using InlineAmounts = std::array<std::int64_t, kInlineResources>;

class Snapshot {
 public:
  struct NodeEntry {
    scoring::Node node;        // owns its bytes through node.storage
    scoring::NodeFacts facts;  // facts.node points at `node`
    Usage allocatable;         // node.allocatable by resource id

    // The node's allocatable of resource `id` (-1: 0).
    std::int64_t Allocatable(int id) const { return UsedOf(&allocatable, id); }
  };
  struct Placement {
    std::string uid;
    std::string node;
  };

  // The cached node, or null; with `pods` set to the pods occupying it (one hash lookup).
  const NodeEntry* FindNode(std::string_view name, std::int32_t* pods = nullptr) const;
  // Names mode's resolution of a request's names, which depends on the node table alone:
  // slots[i] is the slot of the cached node named names[i], kUnknownName when no Node object of
  // that name is cached, or kRepeatedName when an earlier name of `names` is the same (each name
  // is answered once, however often a request repeats it). Two snapshots with the
  // same table_id() resolve every list alike.
  void ResolveNames(const std::vector<std::string_view>& names,
                    std::vector<std::int32_t>& slots) const;
  static constexpr std::int32_t kUnknownName = -1;
  static constexpr std::int32_t kRepeatedName = -2;
  std::uint64_t table_id() const { return table_->id; }
  // Frees the calling thread's ResolveNames scratch (grown by a request of many names).
  static void ReleaseThreadScratch();
  // Pods occupying a node, cached or not.
  std::int32_t PodsOn(std::string_view node) const;
  // The same by slot (SlotOf; -1: 0).
  std::int32_t PodsAt(std::int32_t slot) const {
    return slot < 0 ? 0 : (*pods_)[static_cast<std::size_t>(slot)];
  }
  // The node's slot (for UsedAt), or -1 when the snapshot has never seen the name.
  std::int32_t SlotOf(std::string_view node) const;
  // The facts and allocatable of the cached node in `slot` (ResolveNames gave it), from
  // dense tables by slot: a names-mode cycle reads them for every candidate, and one array in
  // slot order is what the caches and the prefetcher serve best, where a pointer per entry costs a
  // cache miss per candidate.
  const scoring::NodeFacts& FactsAt(std::int32_t slot) const {
    return table_->facts[static_cast<std::size_t>(slot)];
  }
  // For scoring::Cycle::domain_ranks: the ids in FactsAt and FindNode's facts are ranked.
  std::span<const std::vector<std::uint32_t>> DomainRanks() const { return table_->domain_ranks; }
  std::int64_t AllocatableAt(std::int32_t slot, int id) const {
    const auto s = static_cast<std::size_t>(slot);
    if (id < 0) return 0;
    if (id < kInlineResources) return AllocatableRow(slot)[static_cast<std::size_t>(id)];
    return table_->entries[s]->Allocatable(id);
  }
  // What the pods occupying the node in `slot` request in all of resource `id` (-1 for either: 0).
  std::int64_t UsedAt(std::int32_t slot, int id) const {
    if (slot < 0 || id < 0) return 0;
    if (id < kInlineResources) return UsedRow(slot)[static_cast<std::size_t>(id)];
    const auto s = static_cast<std::size_t>(slot);
    const UsageChunk& chunk = *(*usage_)[s / kUsageChunk];
    return s % kUsageChunk < chunk.full.size() ? UsedOf(chunk.full[s % kUsageChunk].get(), id) : 0;
  }
  // AllocatableAt and UsedAt of every id below kInlineResources at once, for a cached node's slot
  // (>= 0): a cycle reads a few ids of thousands of slots, one row each.
  const InlineAmounts& AllocatableRow(std::int32_t slot) const {
    return table_->allocatable[static_cast<std::size_t>(slot)];
  }
  const InlineAmounts& UsedRow(std::int32_t slot) const {
    const auto s = static_cast<std::size_t>(slot);
    return (*usage_)[s / kUsageChunk]->head[s % kUsageChunk];
  }
  // The same by node name.
  std::int64_t UsedOn(std::string_view node, int id) const { return UsedAt(SlotOf(node), id); }
  // The id of a resource some node has (or a well-known one), or -1: no node has any of it.
  int ResourceId(std::string_view resource) const;
  // Placed pods of a group, or null when none is placed.
  const std::vector<Placement>* GroupPlacements(std::string_view group) const;

  std::size_t node_count() const { return node_count_; }
  // Pods occupying a node (assumed ones included), and pods known but not yet placed.
  std::size_t pod_count() const { return pod_count_; }
  std::size_t pending_pod_count() const { return pending_count_; }
  std::uint64_t generation() const { return generation_; }

  static constexpr std::size_t kGroupShards = 1024;

 private:
  friend class MemoryState;

  // Slot i is a node name seen in a node or a pod; slots never move, so pod counts index them.
  struct NodeTable {
    std::uint64_t id = 0;  // unique per table built by this process (0: the empty one)
    std::vector<std::shared_ptr<const NodeEntry>> entries;  // null: no Node object (yet)
    std::vector<std::string> names;
    NameIndex index;
    // By slot, copied from entries (default where there is none): facts.node points into the
    // entry, which the table keeps alive.
    std::vector<scoring::NodeFacts> facts;
    std::vector<InlineAmounts> allocatable;  // ids below kInlineResources
    // Per configured topology level, the rank of every domain id (scoring::DomainTable::Ranks).
    std::vector<std::vector<std::uint32_t>> domain_ranks;
  };
  using GroupShard = std::unordered_map<std::string, std::vector<Placement>>;
  // Usage by slot, in chunks of kUsageChunk slots: a pod event copies one chunk on publish, not
  // the whole table. The ids below kInlineResources are in `head`, one row per slot; `full` holds
  // the usage of the slots that also use a higher id (null: none; shorter: none past its end).
  static constexpr std::size_t kUsageChunk = 256;
  struct UsageChunk {
    std::array<InlineAmounts, kUsageChunk> head{};
    std::vector<std::shared_ptr<const Usage>> full;
  };
  using UsageTable = std::vector<std::shared_ptr<const UsageChunk>>;
  using ResourceIndex =
      std::unordered_map<std::string, std::uint16_t, scoring::StringHash, std::equal_to<>>;

  std::shared_ptr<const NodeTable> table_ = std::make_shared<NodeTable>();
  std::shared_ptr<const std::vector<std::int32_t>> pods_ =
      std::make_shared<std::vector<std::int32_t>>();
  std::shared_ptr<const UsageTable> usage_ = std::make_shared<UsageTable>();
  std::shared_ptr<const ResourceIndex> resources_ = std::make_shared<ResourceIndex>();
  std::array<std::shared_ptr<const GroupShard>, kGroupShards> groups_{};
  std::size_t node_count_ = 0;
  std::size_t pod_count_ = 0;
  std::size_t pending_count_ = 0;
  std::uint64_t generation_ = 0;
};

// Where request handlers get the current snapshot.
class ClusterState {
 public:
  virtual ~ClusterState() = default;
  // Never null. Thread-safe.
  virtual std::shared_ptr<const Snapshot> Current() const = 0;
  // True once the state reflects the cluster (the first lists synced, or no cluster configured).
  virtual bool Ready() const = 0;
};

// The in-memory ClusterState: changes are staged and become visible together on Publish().
// Writers are serialised by an internal mutex; readers never block on it.
class MemoryState : public ClusterState {
 public:
  using Clock = std::chrono::steady_clock;

  explicit MemoryState(scoring::Policy policy);

  // `node.storage` must own the bytes the node views. An update that changes nothing the rules
  // read (a status heartbeat) is dropped without touching the node table.
  void UpsertNode(scoring::Node node);
  void DeleteNode(std::string_view name);
  // Replaces the pod with the same uid (confirming it, if it was assumed). A pod without a node
  // occupies nothing but keeps its group known; an assumed pod stays assumed when the watch still
  // shows it unscheduled (the watch lags the bind), and expires at its deadline if never bound.
  void UpsertPod(PodRecord pod);
  void DeletePod(std::string_view uid);
  // Records a pod this extender just bound, before the watch shows it; it counts until `until`
  // unless the watch confirms it (UpsertPod) or removes it first. A pod the watch already shows
  // placed is left alone. The group is the one the watch knows for the pod (placed or pending);
  // `pod.group` counts only for a pod the watch has not shown yet.
  void AssumePod(PodRecord pod, Clock::time_point until);
  // The group of a pod the state knows ("" for none), or nullopt. For tests and diagnostics.
  std::optional<std::string> GroupOf(std::string_view uid) const;
  // The pod as the watch last showed it: the node it is bound to ("" while unscheduled; an
  // assumption of ours does not count) and its scheduler. nullopt for a pod the watch has not
  // shown (or no longer lists), whatever binds of ours know of it.
  struct WatchedPod {
    std::string node;
    std::string scheduler_name;
  };
  std::optional<WatchedPod> Watched(std::string_view uid) const;
  // Withdraws the assumption for `uid` on `node` (its Binding was refused): a pod the watch has
  // shown goes back to unscheduled, one only the bind knew is dropped. An assumption on another
  // node (a newer bind of the same pod) is left alone.
  void ForgetAssumed(std::string_view uid, std::string_view node);
  // Drops assumptions past their deadline; returns how many.
  std::size_t ExpireAssumptions(Clock::time_point now);

  // Full replacement after a (re)list: every node or pod not given is removed. Assumed pods that
  // the list does not show survive until their deadline (the bind may be newer than the list).
  void ReplaceNodes(std::vector<scoring::Node> nodes);
  void ReplacePods(std::vector<PodRecord> pods);

  // Makes every staged change visible at once.
  void Publish();
  void SetReady(bool ready) { ready_.store(ready); }

  std::shared_ptr<const Snapshot> Current() const override;
  bool Ready() const override { return ready_.load(); }

  const scoring::Policy& policy() const { return policy_; }
  // Distinct resource names the state counts (node allocatable, and the well-known ones) at
  // most: a resource beyond it is not counted (and logged). Pods never add names: a pod
  // requesting what no node has cannot use up the table.
  static constexpr std::size_t kMaxResources = 1024;
  std::size_t assumed_count() const;

 private:
  struct PodState {
    PodRecord record;  // record.requests holds only the names not yet given an id
    // The requests whose resource has an id, sparse (a pod asks for a few of them), by id.
    std::vector<std::pair<std::uint16_t, std::int64_t>> use;
    std::int32_t slot = -1;  // slot of record.node; -1 when unplaced
    bool assumed = false;
    bool watched = false;  // the watch (or the last list) shows the pod: unassuming keeps it
    Clock::time_point assumed_until;
  };

  std::int32_t SlotOf(std::string_view node);  // creates the slot when new
  // Chunk c of the usage table, from usage_.
  std::shared_ptr<const Snapshot::UsageChunk> MakeUsageChunk(std::size_t c) const;
  // The id of a resource, given one when new (at most kMaxResources); -1 when none is left.
  int InternResource(std::string_view name);
  // Moves the requests of `pod.record` whose resource has an id into `pod.use`.
  void ResolveRequests(PodState& pod);
  void AddUse(std::int32_t slot, const std::vector<std::pair<std::uint16_t, std::int64_t>>& use,
              std::int64_t sign);
  void AddPod(PodState& pod);  // counts and group placement
  void RemovePod(const PodState& pod);
  Snapshot::GroupShard& MutableShard(std::string_view group);
  void UpsertNodeLocked(scoring::Node node);
  void DeleteNodeLocked(std::string_view name);
  void UpsertPodLocked(PodRecord pod);
  void DeletePodLocked(std::string_view uid);
  // Ends `uid`'s assumption (if on `node`; any node when empty): a pod the watch shows goes back
  // to unscheduled (its group stays known), one only we knew is dropped.
  void UnassumeLocked(std::string_view uid, std::string_view node);

  const scoring::Policy policy_;
  mutable std::mutex mu_;  // guards everything below but current_
  scoring::DomainTable domains_;
  // Masters, copied into snapshots on Publish when dirty.
  std::vector<std::shared_ptr<const Snapshot::NodeEntry>> entries_;
  std::vector<std::string> slot_names_;
  std::unordered_map<std::string, std::int32_t> slot_of_;
  std::vector<std::int32_t> pod_counts_;
  std::vector<std::shared_ptr<const Usage>> usage_;  // by slot
  std::vector<bool> usage_chunk_dirty_;              // by chunk of kUsageChunk slots
  Snapshot::UsageTable usage_chunks_;                // as last published
  std::unordered_map<std::string, std::uint16_t, scoring::StringHash, std::equal_to<>>
      resource_ids_;
  std::unordered_set<std::string> unresolved_;  // uids of pods requesting a resource without id
  std::array<std::shared_ptr<Snapshot::GroupShard>, Snapshot::kGroupShards> shards_;
  std::array<bool, Snapshot::kGroupShards> shard_published_{};  // shared with a snapshot
  std::unordered_map<std::string, PodState> pods_;              // by uid
  std::size_t node_count_ = 0;
  std::size_t placed_pods_ = 0;
  std::size_t pending_pods_ = 0;
  std::unordered_set<std::string> assumed_;  // uids of the assumed pods, for expiry
  bool table_dirty_ = true;
  bool counts_dirty_ = true;
  bool resources_dirty_ = true;
  std::shared_ptr<const Snapshot::NodeTable> table_;
  std::uint64_t generation_ = 0;

  // The published snapshot. Its own small lock, held only to copy or swap the pointer, never
  // while a writer works: readers do not wait for writers. (Not std::atomic<std::shared_ptr>:
  // libstdc++ 12's unlocks its internal spinlock with a relaxed store after a load, a data race
  // ThreadSanitizer reports rightly.)
  mutable std::mutex current_mu_;
  std::shared_ptr<const Snapshot> current_;
  std::atomic<bool> ready_{true};
};

}  // namespace hyperplace::extender
