// The scheduling model: the parts of Kubernetes Nodes and Pods that hyperplace's rules read.
//
// Strings are views. Whoever builds a Node or Pod keeps the bytes alive: a request decoder points
// them into the request body (alive for the request), the watch cache into a per-object arena
// held by `storage`. Copying a Node copies views and shares the arena.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace hyperplace::scoring {

// Label or annotation map, sorted by key (unique keys) for binary search.
class Labels {
 public:
  using Entry = std::pair<std::string_view, std::string_view>;

  Labels() = default;
  // Takes entries in any order; the last of duplicate keys wins (as a JSON object would).
  explicit Labels(std::vector<Entry> entries);

  std::optional<std::string_view> Get(std::string_view key) const;
  bool Has(std::string_view key) const { return Get(key).has_value(); }
  const std::vector<Entry>& entries() const { return entries_; }
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

 private:
  std::vector<Entry> entries_;
};

enum class TaintEffect : std::uint8_t { kNoSchedule, kPreferNoSchedule, kNoExecute, kUnknown };
TaintEffect ParseTaintEffect(std::string_view s);

struct Taint {
  std::string_view key;
  std::string_view value;
  TaintEffect effect = TaintEffect::kNoSchedule;
};

struct Toleration {
  enum class Operator : std::uint8_t { kEqual, kExists };
  std::string_view key;  // empty with kExists: tolerates every taint
  Operator op = Operator::kEqual;
  std::string_view value;
  std::optional<TaintEffect> effect;  // empty: every effect
};

// Kubernetes' toleration semantics (k8s.io/api/core/v1 Toleration.ToleratesTaint).
bool Tolerates(const Toleration& toleration, const Taint& taint);

// An amount of one resource in the unit kube-scheduler compares (common/quantity.h): millicores
// for `cpu`, whole units rounded up (bytes, devices, pods) for every other resource.
struct ResourceAmount {
  std::string_view name;
  std::int64_t amount = 0;
  friend bool operator==(const ResourceAmount&, const ResourceAmount&) = default;
};

// Resource amounts sorted by name, one entry per name.
using ResourceList = std::vector<ResourceAmount>;

// The entry for `name` in a sorted list, or 0.
std::int64_t AmountOf(const ResourceList& list, std::string_view name);

struct Node {
  std::string_view name;
  Labels labels;
  std::vector<Taint> taints;
  ResourceList allocatable;             // status.allocatable, every resource
  std::int64_t allocatable_pods = -1;   // status.allocatable.pods; -1 when absent
  std::shared_ptr<const void> storage;  // keeps the viewed bytes alive; may be null
};

// One requirement of a required node-affinity term (matchExpressions).
struct NodeSelectorRequirement {
  std::string_view key;
  std::string_view op;  // In, NotIn, Exists, DoesNotExist, Gt, Lt
  std::vector<std::string_view> values;
};

struct Pod {
  std::string_view name;
  std::string_view namespace_name;
  std::string_view uid;
  Labels labels;
  Labels annotations;
  Labels node_selector;
  // requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms: the terms are ORed, the
  // requirements of one term ANDed.
  std::vector<std::vector<NodeSelectorRequirement>> required_node_terms;
  std::vector<Toleration> tolerations;
  std::string_view controller_uid;  // uid of the ownerReference with controller: true
  std::string_view node_name;       // spec.nodeName; empty while unscheduled
  std::string_view scheduler_name;  // spec.schedulerName (the API server defaults it)
  std::string_view phase;           // status.phase (Pending, Running, Succeeded, Failed)
  // The effective request of every resource the pod asks for (amount > 0), as kube-scheduler
  // computes it (scoring/resources.h): containers and sidecars summed, the largest plain init
  // container if larger, pod-level requests where set, plus spec.overhead.
  ResourceList requests;
  std::shared_ptr<const void> storage;
};

// Deep copies whose views point into one arena owned by the copy (`storage`), for objects that
// outlive the buffer they were decoded from (the watch cache).
Node OwnedCopy(const Node& node);
Pod OwnedCopy(const Pod& pod);

}  // namespace hyperplace::scoring
