#include "extender/policy.h"

#include <algorithm>

namespace hyperplace::extender {

scoring::Policy MakePolicy(const Config& config) {
  const ClusterConfig& c = config.cluster;
  scoring::Policy p;
  p.instance_type_label = c.instance_type_label;
  p.instance_type_prefix = c.instance_type_prefix;
  p.hostname_label = c.hostname_label;
  p.topology_levels = c.topology_levels;
  p.health_label = c.health_label;
  p.schedulable_health_values = c.schedulable_health_values;
  p.deep_health_label = c.deep_health_label;
  p.deep_health_passed = c.deep_health_passed;
  p.deep_health_in_progress = c.deep_health_in_progress;
  p.deep_health_failed = c.deep_health_failed;
  p.health_taint_key = c.health_taint_key;
  p.queue_name_label = c.queue_name_label;
  p.required_topology_annotation = c.required_topology_annotation;
  p.preferred_topology_annotation = c.preferred_topology_annotation;
  p.pod_group_label = c.pod_group_label;
  p.pod_group_total_count_annotation = c.pod_group_total_count_annotation;
  p.group_fallback_labels = c.group_fallback_labels;
  p.team_namespace_prefix = c.team_namespace_prefix;
  for (const auto& [type, max] : c.max_pods_per_instance_type) {
    p.max_pods.emplace(type, static_cast<std::int32_t>(max));
  }
  p.accelerator_resources = c.accelerator_resources;
  std::sort(p.accelerator_resources.begin(), p.accelerator_resources.end());
  const ExtenderConfig& e = config.extender;
  p.strategy =
      e.strategy == DensityStrategy::kPack ? scoring::Strategy::kPack : scoring::Strategy::kSpread;
  p.topology_weight = e.weights.topology;
  p.density_weight = e.weights.density;
  p.health_weight = e.weights.health;
  return p;
}

}  // namespace hyperplace::extender
