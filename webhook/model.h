// What the webhook's rules see of an admission request: plain views into the request body (and
// the decoder's string buffer), filled by the review codec and read by the rules and the patch
// builder. Nothing here owns memory beyond its vectors; views stay valid until the next decode on
// the same Decoder.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace hyperplace::webhook {

// The kinds the webhook tells apart (DESIGN §3), matched by API group and kind in any version.
// From kPod on: the kinds Kueue manages through their labels, which the rules label on CREATE and
// check on UPDATE (IsKueueKind). kOther is every other kind: on CREATE only team scope applies
// to it. kEvent is a record of what happened, not a workload, and is outside the rules.
enum class Kind : std::uint8_t {
  kOther,
  kEvent,            // core or events.k8s.io Event
  kPod,              // core Pod
  kJob,              // batch Job
  kPyTorchJob,       // kubeflow.org
  kMPIJob,           // kubeflow.org
  kTFJob,            // kubeflow.org
  kXGBoostJob,       // kubeflow.org
  kPaddleJob,        // kubeflow.org
  kJAXJob,           // kubeflow.org
  kTrainJob,         // trainer.kubeflow.org
  kJobSet,           // jobset.x-k8s.io
  kRayJob,           // ray.io
  kRayCluster,       // ray.io
  kLeaderWorkerSet,  // leaderworkerset.x-k8s.io
  kDeployment,       // apps
  kStatefulSet,      // apps
};
inline constexpr int kKindCount = 17;
static_assert(static_cast<int>(Kind::kStatefulSet) + 1 == kKindCount);

// True for the kinds whose queue and priority labels Kueue reads (kPod and after).
constexpr bool IsKueueKind(Kind kind) { return kind >= Kind::kPod; }

enum class Operation : std::uint8_t { kOther, kCreate, kUpdate, kDelete, kConnect };
inline constexpr int kOperationCount = 5;

Kind ClassifyKind(std::string_view group, std::string_view kind);
Operation ClassifyOperation(std::string_view operation);
// Bounded names for metrics and logs: "Event", "Pod", ..., "other"; "CREATE", ..., "other".
std::string_view KindName(Kind kind);
std::string_view OperationName(Operation operation);

// How a JSON member stood in the object. Patches differ for each: a missing or null member is
// added whole, a present one is added into.
enum class Presence : std::uint8_t { kAbsent, kNull, kPresent };

struct Label {
  std::string_view key;
  std::string_view value;
};

// metadata.labels of the object under review.
struct LabelsView {
  Presence metadata = Presence::kAbsent;  // the metadata object itself
  Presence labels = Presence::kAbsent;    // metadata.labels
  // In document order. A key repeated in the JSON keeps its last value (as every JSON decoder
  // Kubernetes uses does), so lookups search from the back.
  std::vector<Label> entries;

  // The value of `key`, or nullptr.
  const std::string_view* Find(std::string_view key) const {
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
      if (it->key == key) return &it->value;
    }
    return nullptr;
  }
  void Clear() {
    metadata = labels = Presence::kAbsent;
    entries.clear();
  }
};

// One requirement of spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution
// .nodeSelectorTerms[term].matchExpressions[expression]; its values are
// PodSpecView::values[values_begin, values_begin + values_count).
struct MatchExpression {
  std::uint32_t term = 0;
  std::uint32_t expression = 0;
  std::string_view key;
  std::string_view op;
  std::uint32_t values_begin = 0;
  std::uint32_t values_count = 0;
};

// The scheduling constraints of one pod spec (a Pod's spec, or a Job's spec.template.spec) that
// the instance-type rule reads. Parts whose JSON types are not what a Pod spec has are marked
// unusable and left alone (the decoder is strict about JSON, lenient about shapes it only might
// rewrite: the object could be a custom resource whose spec looks different).
struct PodSpecView {
  bool present = false;  // the spec object exists
  bool node_selector_usable = true;
  std::vector<Label> node_selector;  // in document order; repeated keys: the last counts
  bool affinity_usable = true;
  std::vector<MatchExpression> expressions;
  std::vector<std::string_view> values;
  // spec.schedulerName: absent, null, or a string; a value of another type marks it unusable.
  Presence scheduler_name_presence = Presence::kAbsent;
  bool scheduler_name_usable = true;
  std::string_view scheduler_name;

  void Clear() {
    present = false;
    node_selector_usable = affinity_usable = scheduler_name_usable = true;
    node_selector.clear();
    expressions.clear();
    values.clear();
    scheduler_name_presence = Presence::kAbsent;
    scheduler_name = {};
  }
};

// The decoded parts of request.object.
struct ObjectView {
  Presence presence = Presence::kAbsent;
  LabelsView labels;
  PodSpecView spec;           // spec (a Pod's pod spec)
  PodSpecView template_spec;  // spec.template.spec (a Job's pod template)

  void Clear() {
    presence = Presence::kAbsent;
    labels.Clear();
    spec.Clear();
    template_spec.Clear();
  }
};

// The rules' input: who asks to do what to which object where.
struct AdmissionInput {
  std::string_view namespace_name;
  Operation operation = Operation::kOther;
  Kind kind = Kind::kOther;
  std::string_view kind_name;     // request.kind.kind as sent, for messages
  std::string_view sub_resource;  // non-empty: a subresource request (never mutated)
  std::string_view username;
  std::vector<std::string_view> groups;
  ObjectView object;
  // request.oldObject (UPDATE and DELETE): only its labels, which an UPDATE is compared against.
  Presence old_object = Presence::kAbsent;
  LabelsView old_labels;

  void Clear() {
    namespace_name = kind_name = sub_resource = username = {};
    operation = Operation::kOther;
    kind = Kind::kOther;
    groups.clear();
    object.Clear();
    old_object = Presence::kAbsent;
    old_labels.Clear();
  }
};

}  // namespace hyperplace::webhook
