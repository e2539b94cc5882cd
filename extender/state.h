// The extender's view of the cluster: nodes, the pods occupying each node, and where the pods of
// each group (job) are placed.
//
// Request threads read an immutable Snapshot; writers (the watch cache, binds) build the next one
// and publish it atomically, so a request never sees half an event and never takes a lock that a
// writer holds for long.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "extender/name_index.h"
#include "scoring/facts.h"
#include "scoring/policy.h"

namespace hyperplace::extender {

// A pod as the state counts it: it occupies `node` (empty while unscheduled) and belongs to
// `group` (scoring::PodFacts::group; empty for none).
struct PodRecord {
  std::string uid;
  std::string node;
  std::string group;
};

class Snapshot {
 public:
  struct NodeEntry {
    scoring::Node node;        // owns its bytes through node.storage
    scoring::NodeFacts facts;  // facts.node points at `node`
  };
  struct Placement {
    std::string uid;
    std::string node;
  };

  // The cached node, or null; with `pods` set to the pods occupying it (one hash lookup).
  const NodeEntry* FindNode(std::string_view name, std::int32_t* pods = nullptr) const;
  // FindNode for many names: entries[i] (null when not cached) and pods[i] for names[i].
  void FindNodes(const std::vector<std::string_view>& names, std::vector<const NodeEntry*>& entries,
                 std::vector<std::int32_t>& pods) const;
  // Pods occupying a node, cached or not.
  std::int32_t PodsOn(std::string_view node) const;
  // Placed pods of a group, or null when none is placed.
  const std::vector<Placement>* GroupPlacements(std::string_view group) const;

  std::size_t node_count() const { return node_count_; }
  std::size_t pod_count() const { return pod_count_; }
  std::uint64_t generation() const { return generation_; }

 private:
  friend class MemoryState;
  using StringMapHash = scoring::StringHash;
  template <typename V>
  using StringMap = std::unordered_map<std::string, V, StringMapHash, std::equal_to<>>;

  struct Slot {
    std::shared_ptr<const NodeEntry> entry;  // null for a node that only has pods
    std::int32_t pods = 0;
  };
  std::vector<Slot> slots_;
  std::vector<std::string> pod_only_names_;  // names of nodes known only from their pods
  NameIndex index_;                          // name -> slot
  std::size_t node_count_ = 0;
  StringMap<std::vector<Placement>> groups_;
  std::size_t pod_count_ = 0;
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

// An in-memory ClusterState: changes are staged and become visible together on Publish().
// Writers are serialised by an internal mutex; readers never block on it.
class MemoryState : public ClusterState {
 public:
  explicit MemoryState(scoring::Policy policy);

  // `node.storage` must own the bytes the node views.
  void UpsertNode(scoring::Node node);
  void DeleteNode(std::string_view name);
  // Replaces the pod with the same uid. A pod without a node occupies nothing.
  void UpsertPod(PodRecord pod);
  void DeletePod(std::string_view uid);
  // Makes every staged change visible at once.
  void Publish();
  void SetReady(bool ready) { ready_.store(ready); }

  std::shared_ptr<const Snapshot> Current() const override;
  bool Ready() const override { return ready_.load(); }

  const scoring::Policy& policy() const { return policy_; }

 private:
  const scoring::Policy policy_;
  std::mutex mu_;  // guards everything below but current_
  scoring::DomainTable domains_;
  Snapshot::StringMap<std::shared_ptr<const Snapshot::NodeEntry>> nodes_;
  Snapshot::StringMap<PodRecord> pods_;  // by uid
  std::uint64_t generation_ = 0;
  std::atomic<std::shared_ptr<const Snapshot>> current_;
  std::atomic<bool> ready_{true};
};

}  // namespace hyperplace::extender
