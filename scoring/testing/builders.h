// Fluent builders for test fixtures:
//   Node n = NodeBuilder("n1").InstanceType("ml.p5.48xlarge").Layers({"a", "b", "c"}).Build();
// Built objects own their strings (through Node::storage / Pod::storage).
#pragma once

#include <deque>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "scoring/model.h"
#include "scoring/policy.h"

namespace hyperplace::scoring::testing {

// A Policy with the product defaults (DESIGN §1), built without the config library.
Policy DefaultPolicy();

class Arena {
 public:
  std::string_view Keep(std::string_view s) { return strings_->emplace_back(s); }
  std::shared_ptr<const void> handle() const { return strings_; }

 private:
  std::shared_ptr<std::deque<std::string>> strings_ = std::make_shared<std::deque<std::string>>();
};

class NodeBuilder {
 public:
  explicit NodeBuilder(std::string_view name);
  NodeBuilder& Label(std::string_view key, std::string_view value);
  NodeBuilder& InstanceType(std::string_view type);
  // Network layers 1..n, top first: Layers({"nn-1", "nn-2", "nn-3"}).
  NodeBuilder& Layers(std::initializer_list<std::string_view> ids);
  NodeBuilder& Health(std::string_view status);
  NodeBuilder& DeepHealth(std::string_view status);
  NodeBuilder& Taint(std::string_view key, std::string_view value, std::string_view effect);
  NodeBuilder& AllocatablePods(std::int64_t pods);
  // status.allocatable[resource], in the scheduler's scale (millicores for cpu).
  NodeBuilder& Allocatable(std::string_view resource, std::int64_t amount);
  // An ml.p5.48xlarge's allocatable: `gpus` nvidia.com/gpu, 32 EFA, 191450m cpu, 2002Gi memory.
  NodeBuilder& Gpus(std::int64_t gpus);
  Node Build();

 private:
  Arena arena_;
  Node node_;
  std::vector<Labels::Entry> labels_;
};

class PodBuilder {
 public:
  PodBuilder(std::string_view namespace_name, std::string_view name);
  PodBuilder& Label(std::string_view key, std::string_view value);
  PodBuilder& Annotation(std::string_view key, std::string_view value);
  PodBuilder& Group(std::string_view name, int total = 0);  // kueue pod-group label (+ count)
  PodBuilder& RequiredTopology(std::string_view level_key);
  PodBuilder& PreferredTopology(std::string_view level_key);
  PodBuilder& NodeSelector(std::string_view key, std::string_view value);
  // One required node-affinity term with a single "key In values" requirement.
  PodBuilder& AffinityIn(std::string_view key, std::initializer_list<std::string_view> values);
  PodBuilder& Tolerate(std::string_view key, std::string_view op, std::string_view value,
                       std::string_view effect);
  PodBuilder& Owner(std::string_view controller_uid);
  PodBuilder& OnNode(std::string_view node_name);
  // An effective request (what the decoder computes from the containers), scheduler's scale.
  PodBuilder& Request(std::string_view resource, std::int64_t amount);
  Pod Build();

 private:
  Arena arena_;
  Pod pod_;
  std::vector<Labels::Entry> labels_, annotations_, selector_;
};

// Layer label key n (1-based) of the default policy.
std::string LayerKey(int n);

}  // namespace hyperplace::scoring::testing
