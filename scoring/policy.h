// The rules' parameters: the cluster vocabulary (label keys, values, the max-pods table) and the
// scoring weights. Built once from the configuration by the extender; immutable and shared by
// request threads.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace hyperplace::scoring {

inline constexpr int kMaxTopologyLevels = 8;
inline constexpr int kMaxScore = 10;  // kube-scheduler's MaxExtenderPriority

enum class Strategy { kPack, kSpread };

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct Policy {
  std::string instance_type_label = "node.kubernetes.io/instance-type";
  std::string instance_type_prefix = "ml.";
  std::vector<std::string> topology_levels;  // top of the hierarchy first; <= kMaxTopologyLevels
  // The node-name label: a pod whose nodeSelector names it has its node chosen already.
  std::string hostname_label = "kubernetes.io/hostname";
  std::string health_label;
  std::vector<std::string> schedulable_health_values;
  std::string deep_health_label;
  std::string deep_health_passed;
  std::string deep_health_in_progress;
  std::string deep_health_failed;
  std::string health_taint_key;

  std::string queue_name_label;
  std::string required_topology_annotation;
  std::string preferred_topology_annotation;
  std::string pod_group_label;
  std::string pod_group_total_count_annotation;
  std::vector<std::string> group_fallback_labels;
  std::string team_namespace_prefix;

  std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>> max_pods;
  // Extended resources that are accelerators, sorted: packing counts the scarcest one a pod
  // requests (DESIGN §2.3).
  std::vector<std::string> accelerator_resources = {
      "aws.amazon.com/neuron", "aws.amazon.com/neuroncore", "aws.amazon.com/neurondevice",
      "nvidia.com/gpu"};

  Strategy strategy = Strategy::kPack;
  std::uint32_t topology_weight = 4;
  std::uint32_t density_weight = 2;
  std::uint32_t health_weight = 1;

  // Index of `key` in topology_levels, or -1.
  int LevelIndex(std::string_view key) const;
  bool IsAccelerator(std::string_view resource) const;
};

}  // namespace hyperplace::scoring
