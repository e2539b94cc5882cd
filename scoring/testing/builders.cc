#include "scoring/testing/builders.h"

#include <algorithm>

namespace hyperplace::scoring::testing {
namespace {

// Sets `name` in a sorted list (an amount <= 0 removes it from a request list's sense: kept only
// when > 0 for requests, always for allocatable; callers pass what they mean).
void SetAmount(ResourceList& list, std::string_view name, std::int64_t amount) {
  auto it =
      std::lower_bound(list.begin(), list.end(), name,
                       [](const ResourceAmount& r, std::string_view n) { return r.name < n; });
  if (it != list.end() && it->name == name) {
    it->amount = amount;
  } else {
    list.insert(it, {name, amount});
  }
}

}  // namespace

Policy DefaultPolicy() {
  Policy p;
  p.instance_type_label = "node.kubernetes.io/instance-type";
  p.instance_type_prefix = "ml.";
  for (int i = 1; i <= 4; ++i) p.topology_levels.push_back(LayerKey(i));
  p.health_label = "sagemaker.amazonaws.com/node-health-status";
  p.schedulable_health_values = {"Schedulable"};
  p.deep_health_label = "sagemaker.amazonaws.com/deep-health-check-status";
  p.deep_health_passed = "Passed";
  p.deep_health_in_progress = "InProgress";
  p.deep_health_failed = "Failed";
  p.health_taint_key = "sagemaker.amazonaws.com/node-health-status";
  p.queue_name_label = "kueue.x-k8s.io/queue-name";
  p.required_topology_annotation = "kueue.x-k8s.io/podset-required-topology";
  p.preferred_topology_annotation = "kueue.x-k8s.io/podset-preferred-topology";
  p.pod_group_label = "kueue.x-k8s.io/pod-group-name";
  p.pod_group_total_count_annotation = "kueue.x-k8s.io/pod-group-total-count";
  p.group_fallback_labels = {"batch.kubernetes.io/job-name", "training.kubeflow.org/job-name",
                             "jobset.sigs.k8s.io/jobset-name", "leaderworkerset.sigs.k8s.io/name"};
  p.team_namespace_prefix = "hyperpod-ns-";
  p.max_pods = {{"ml.p5.48xlarge", 49}, {"ml.g5.xlarge", 14}, {"ml.g5.8xlarge", 29}};
  return p;
}

std::string LayerKey(int n) { return "topology.k8s.aws/network-node-layer-" + std::to_string(n); }

NodeBuilder::NodeBuilder(std::string_view name) { node_.name = arena_.Keep(name); }

NodeBuilder& NodeBuilder::Label(std::string_view key, std::string_view value) {
  labels_.emplace_back(arena_.Keep(key), arena_.Keep(value));
  return *this;
}

NodeBuilder& NodeBuilder::InstanceType(std::string_view type) {
  return Label("node.kubernetes.io/instance-type", type);
}

NodeBuilder& NodeBuilder::Layers(std::initializer_list<std::string_view> ids) {
  int level = 1;
  for (auto id : ids) Label(LayerKey(level++), id);
  return *this;
}

NodeBuilder& NodeBuilder::Health(std::string_view status) {
  return Label("sagemaker.amazonaws.com/node-health-status", status);
}

NodeBuilder& NodeBuilder::DeepHealth(std::string_view status) {
  return Label("sagemaker.amazonaws.com/deep-health-check-status", status);
}

NodeBuilder& NodeBuilder::Taint(std::string_view key, std::string_view value,
                                std::string_view effect) {
  node_.taints.push_back({arena_.Keep(key), arena_.Keep(value), ParseTaintEffect(effect)});
  return *this;
}

NodeBuilder& NodeBuilder::AllocatablePods(std::int64_t pods) {
  node_.allocatable_pods = pods;
  SetAmount(node_.allocatable, arena_.Keep("pods"), pods);
  return *this;
}

NodeBuilder& NodeBuilder::Allocatable(std::string_view resource, std::int64_t amount) {
  if (resource == "pods") return AllocatablePods(amount);
  SetAmount(node_.allocatable, arena_.Keep(resource), amount);
  return *this;
}

NodeBuilder& NodeBuilder::Gpus(std::int64_t gpus) {
  return Allocatable("nvidia.com/gpu", gpus)
      .Allocatable("cpu", 191450)
      .Allocatable("memory", std::int64_t{2002} << 30)
      .Allocatable("vpc.amazonaws.com/efa", 32);
}

Node NodeBuilder::Build() {
  node_.labels = Labels(labels_);
  node_.storage = arena_.handle();
  return node_;
}

PodBuilder::PodBuilder(std::string_view namespace_name, std::string_view name) {
  pod_.namespace_name = arena_.Keep(namespace_name);
  pod_.name = arena_.Keep(name);
  pod_.uid = arena_.Keep(std::string("uid-") + std::string(name));
}

PodBuilder& PodBuilder::Label(std::string_view key, std::string_view value) {
  labels_.emplace_back(arena_.Keep(key), arena_.Keep(value));
  return *this;
}

PodBuilder& PodBuilder::Annotation(std::string_view key, std::string_view value) {
  annotations_.emplace_back(arena_.Keep(key), arena_.Keep(value));
  return *this;
}

PodBuilder& PodBuilder::Group(std::string_view name, int total) {
  Label("kueue.x-k8s.io/pod-group-name", name);
  if (total > 0) Annotation("kueue.x-k8s.io/pod-group-total-count", std::to_string(total));
  return *this;
}

PodBuilder& PodBuilder::RequiredTopology(std::string_view level_key) {
  return Annotation("kueue.x-k8s.io/podset-required-topology", level_key);
}

PodBuilder& PodBuilder::PreferredTopology(std::string_view level_key) {
  return Annotation("kueue.x-k8s.io/podset-preferred-topology", level_key);
}

PodBuilder& PodBuilder::NodeSelector(std::string_view key, std::string_view value) {
  selector_.emplace_back(arena_.Keep(key), arena_.Keep(value));
  return *this;
}

PodBuilder& PodBuilder::AffinityIn(std::string_view key,
                                   std::initializer_list<std::string_view> values) {
  NodeSelectorRequirement req{arena_.Keep(key), "In", {}};
  for (auto v : values) req.values.push_back(arena_.Keep(v));
  pod_.required_node_terms.push_back({req});
  return *this;
}

PodBuilder& PodBuilder::Tolerate(std::string_view key, std::string_view op, std::string_view value,
                                 std::string_view effect) {
  Toleration t;
  t.key = arena_.Keep(key);
  t.op = op == "Exists" ? Toleration::Operator::kExists : Toleration::Operator::kEqual;
  t.value = arena_.Keep(value);
  if (!effect.empty()) t.effect = ParseTaintEffect(effect);
  pod_.tolerations.push_back(t);
  return *this;
}

PodBuilder& PodBuilder::Owner(std::string_view controller_uid) {
  pod_.controller_uid = arena_.Keep(controller_uid);
  return *this;
}

PodBuilder& PodBuilder::OnNode(std::string_view node_name) {
  pod_.node_name = arena_.Keep(node_name);
  return *this;
}

PodBuilder& PodBuilder::Request(std::string_view resource, std::int64_t amount) {
  SetAmount(pod_.requests, arena_.Keep(resource), amount);
  return *this;
}

Pod PodBuilder::Build() {
  pod_.labels = Labels(labels_);
  pod_.annotations = Labels(annotations_);
  pod_.node_selector = Labels(selector_);
  pod_.storage = arena_.handle();
  return pod_;
}

}  // namespace hyperplace::scoring::testing
