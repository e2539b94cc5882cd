// Facts derived from a Node or Pod under a Policy, computed once (per node change in the cache,
// per node in a full-node request, per pod in a request) so the rules run over dense values.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "scoring/model.h"
#include "scoring/policy.h"

namespace hyperplace::scoring {

// Dense ids for topology domains, one id space per level; 0 means "no label at this level".
// Not thread-safe: owned by one snapshot builder or one request.
class DomainTable {
 public:
  std::uint32_t Intern(int level, std::string_view value);
  // 0 when the value was never interned at that level.
  std::uint32_t Find(int level, std::string_view value) const;
  // The lexical rank of every id of a level among the level's values (index = id; id 0, absent,
  // ranks first): what DomainsAt would compute for these ids, once for every cycle.
  std::vector<std::uint32_t> Ranks(int level) const;

 private:
  // Keys are owned copies: interned values outlive the Node that first carried them.
  std::array<std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>>,
             kMaxTopologyLevels>
      ids_;
};

enum class DeepHealth : std::uint8_t { kUnknown, kPassed, kInProgress, kFailed };

struct NodeFacts {
  const Node* node = nullptr;
  std::string_view instance_type;  // label value, empty when absent
  bool healthy = true;             // health label absent or schedulable
  bool accelerated = false;        // instance type carries the policy's prefix
  bool has_health_taint = false;   // a NoSchedule/NoExecute taint with the health key
  DeepHealth deep_health = DeepHealth::kUnknown;
  std::int32_t max_pods = -1;  // table, else allocatable pods, else -1 (no limit)
  std::uint8_t depth = 0;      // topology levels present, counted from the top
  std::array<std::uint32_t, kMaxTopologyLevels> domain{};  // per level; 0 = absent
};

NodeFacts DeriveNodeFacts(const Node& node, const Policy& policy, DomainTable& domains);

struct PodFacts {
  const Pod* pod = nullptr;
  // Namespace-qualified identity of the pod's job ("ns/label-key=value" or "ns/owner=uid");
  // empty when the pod belongs to no group.
  std::string group;
  std::int32_t group_total = 0;      // kueue pod-group-total-count; 0 when unknown
  std::string_view required_level;   // label key of the required topology level, or empty
  std::string_view preferred_level;  // label key of the preferred topology level, or empty
  // Its nodeSelector already pins its required domain: the hostname label, the required level's
  // label, or a deeper level's, as Kueue's topology-aware scheduling writes when it ungates a pod.
  // The domain was chosen at admission, so the filter must not second-guess it for topology. A
  // coarser pin (a spine for a gang that requires one rack) chooses nothing: false.
  bool domain_assigned = false;
  // Targets accelerated capacity: in a team namespace, has a queue, or selects an instance type.
  bool accelerated = false;
  // Instance types the pod selects, normalised with the policy's prefix; empty: any type.
  std::vector<std::string> instance_types;
};

PodFacts DerivePodFacts(const Pod& pod, const Policy& policy);

// Adds the policy's prefix to an instance type that lacks it ("p5.48xlarge" -> "ml.p5.48xlarge").
std::string NormalizeInstanceType(std::string_view type, std::string_view prefix);

}  // namespace hyperplace::scoring
