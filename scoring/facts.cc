#include "scoring/facts.h"

#include <algorithm>
#include <charconv>

namespace hyperplace::scoring {

int Policy::LevelIndex(std::string_view key) const {
  for (std::size_t i = 0; i < topology_levels.size(); ++i) {
    if (topology_levels[i] == key) return static_cast<int>(i);
  }
  return -1;
}

bool Policy::IsAccelerator(std::string_view resource) const {
  return std::binary_search(accelerator_resources.begin(), accelerator_resources.end(), resource);
}

std::uint32_t DomainTable::Intern(int level, std::string_view value) {
  auto& ids = ids_[level];
  if (auto it = ids.find(value); it != ids.end()) return it->second;
  auto id = static_cast<std::uint32_t>(ids.size() + 1);
  ids.emplace(std::string(value), id);
  return id;
}

std::uint32_t DomainTable::Find(int level, std::string_view value) const {
  const auto& ids = ids_[level];
  auto it = ids.find(value);
  return it == ids.end() ? 0 : it->second;
}

std::vector<std::uint32_t> DomainTable::Ranks(int level) const {
  const auto& ids = ids_[level];
  std::vector<std::pair<std::string_view, std::uint32_t>> by_value;
  by_value.reserve(ids.size());
  for (const auto& [value, id] : ids) by_value.emplace_back(value, id);
  std::sort(by_value.begin(), by_value.end());
  std::vector<std::uint32_t> rank(ids.size() + 1, 0);
  for (std::size_t r = 0; r < by_value.size(); ++r) {
    rank[by_value[r].second] = static_cast<std::uint32_t>(r + 1);
  }
  return rank;
}

std::string NormalizeInstanceType(std::string_view type, std::string_view prefix) {
  std::string out;
  if (type.substr(0, prefix.size()) != prefix) out.append(prefix);
  out.append(type);
  return out;
}

NodeFacts DeriveNodeFacts(const Node& node, const Policy& policy, DomainTable& domains) {
  NodeFacts f;
  f.node = &node;
  if (auto type = node.labels.Get(policy.instance_type_label)) {
    f.instance_type = *type;
    f.accelerated =
        type->substr(0, policy.instance_type_prefix.size()) == policy.instance_type_prefix;
  }
  if (auto health = node.labels.Get(policy.health_label)) {
    const auto& ok = policy.schedulable_health_values;
    f.healthy = std::find(ok.begin(), ok.end(), *health) != ok.end();
  }
  if (auto deep = node.labels.Get(policy.deep_health_label)) {
    if (*deep == policy.deep_health_passed) {
      f.deep_health = DeepHealth::kPassed;
    } else if (*deep == policy.deep_health_in_progress) {
      f.deep_health = DeepHealth::kInProgress;
    } else if (*deep == policy.deep_health_failed) {
      f.deep_health = DeepHealth::kFailed;
    }
  }
  for (const Taint& t : node.taints) {
    if (t.key == policy.health_taint_key &&
        (t.effect == TaintEffect::kNoSchedule || t.effect == TaintEffect::kNoExecute)) {
      f.has_health_taint = true;
    }
  }
  if (auto it = policy.max_pods.find(f.instance_type); it != policy.max_pods.end()) {
    f.max_pods = it->second;
  } else if (node.allocatable_pods >= 0) {
    f.max_pods = static_cast<std::int32_t>(std::min<std::int64_t>(node.allocatable_pods, 1 << 30));
  }
  // Depth counts levels from the top until the first missing one: a level below a gap cannot be
  // placed in the hierarchy.
  const int levels = static_cast<int>(policy.topology_levels.size());
  for (int l = 0; l < levels; ++l) {
    auto value = node.labels.Get(policy.topology_levels[l]);
    if (!value || value->empty()) break;
    f.domain[l] = domains.Intern(l, *value);
    f.depth = static_cast<std::uint8_t>(l + 1);
  }
  return f;
}

namespace {

// The instance types a pod's nodeSelector and required node affinity allow, or empty for "any".
std::vector<std::string> SelectedInstanceTypes(const Pod& pod, const Policy& policy) {
  const std::string& key = policy.instance_type_label;
  std::vector<std::string> from_terms;
  bool every_term_constrains = !pod.required_node_terms.empty();
  for (const auto& term : pod.required_node_terms) {
    bool constrains = false;
    for (const auto& req : term) {
      if (req.key != key || req.op != "In") continue;
      constrains = true;
      for (auto v : req.values) {
        from_terms.push_back(NormalizeInstanceType(v, policy.instance_type_prefix));
      }
    }
    every_term_constrains = every_term_constrains && constrains;
  }
  if (!every_term_constrains) from_terms.clear();

  std::vector<std::string> types;
  if (auto selected = pod.node_selector.Get(key)) {
    std::string want = NormalizeInstanceType(*selected, policy.instance_type_prefix);
    // nodeSelector and affinity are ANDed: the selector's type must also be allowed by a term.
    if (every_term_constrains &&
        std::find(from_terms.begin(), from_terms.end(), want) == from_terms.end()) {
      // Contradictory: nothing matches. Keep a type no node carries so every node is rejected.
      types.push_back(want + " (excluded by node affinity)");
    } else {
      types.push_back(std::move(want));
    }
  } else {
    types = std::move(from_terms);
  }
  std::sort(types.begin(), types.end());
  types.erase(std::unique(types.begin(), types.end()), types.end());
  return types;
}

// The nodeSelector pins the required domain: a node, the required level, or a level below it.
bool DomainAssigned(const Pod& pod, const Policy& policy, std::string_view required_level) {
  const Labels& selector = pod.node_selector;
  if (selector.Has(policy.hostname_label)) return true;
  if (required_level.empty()) return false;
  if (selector.Has(required_level)) return true;
  const int required = policy.LevelIndex(required_level);
  if (required < 0) return false;
  const auto& levels = policy.topology_levels;
  return std::any_of(levels.begin() + required + 1, levels.end(),
                     [&](const std::string& l) { return selector.Has(l); });
}

}  // namespace

PodFacts DerivePodFacts(const Pod& pod, const Policy& policy) {
  PodFacts f;
  f.pod = &pod;
  auto qualified = [&](std::string_view key, std::string_view value) {
    std::string g;
    g.reserve(pod.namespace_name.size() + key.size() + value.size() + 2);
    g.append(pod.namespace_name).append("/").append(key).append("=").append(value);
    return g;
  };
  if (auto name = pod.labels.Get(policy.pod_group_label); name && !name->empty()) {
    f.group = qualified(policy.pod_group_label, *name);
  } else {
    for (const std::string& key : policy.group_fallback_labels) {
      if (auto value = pod.labels.Get(key); value && !value->empty()) {
        f.group = qualified(key, *value);
        break;
      }
    }
    if (f.group.empty() && !pod.controller_uid.empty()) {
      f.group = qualified("owner", pod.controller_uid);
    }
  }
  if (auto total = pod.annotations.Get(policy.pod_group_total_count_annotation)) {
    std::int32_t n = 0;
    auto [end, ec] = std::from_chars(total->data(), total->data() + total->size(), n);
    if (ec == std::errc() && end == total->data() + total->size() && n > 0) f.group_total = n;
  }
  if (auto level = pod.annotations.Get(policy.required_topology_annotation)) {
    f.required_level = *level;
  }
  if (auto level = pod.annotations.Get(policy.preferred_topology_annotation)) {
    f.preferred_level = *level;
  }
  f.domain_assigned = DomainAssigned(pod, policy, f.required_level);
  f.instance_types = SelectedInstanceTypes(pod, policy);
  const auto& prefix = policy.team_namespace_prefix;
  f.accelerated = (pod.namespace_name.size() > prefix.size() &&
                   pod.namespace_name.substr(0, prefix.size()) == prefix) ||
                  pod.labels.Has(policy.queue_name_label) || !f.instance_types.empty();
  return f;
}

}  // namespace hyperplace::scoring
