// Why a node was rejected. The texts are stable: kube-scheduler aggregates identical reasons
// across nodes ("0/5000 nodes are available: 4990 hyperplace: ..."), users grep for them, and
// alerts match them. Never put per-node details in a reason.
#pragma once

#include <cstdint>
#include <string_view>

namespace hyperplace::scoring {

enum class Reason : std::uint8_t {
  kFits = 0,
  // Unresolvable: preemption cannot make the node fit.
  kNodeUnhealthy,           // health label present and not schedulable
  kUntoleratedHealthTaint,  // the health agent's taint, not tolerated
  kNotAcceleratedType,      // accelerated pod, instance type without the ml. prefix
  kInstanceTypeMismatch,    // the pod selects other instance types
  kMissingTopologyLabel,    // required topology level label absent
  kOutsideGroupDomain,      // required topology: peers are placed in another domain
  kUnknownNode,             // names mode: node not in the cache
  // Resolvable: evicting pods could make the node fit.
  kMaxPodsReached,  // pods on the node reached the max for its instance type
  kDomainTooSmall,  // required topology: the node's domain cannot hold the whole group
  // Free allocatable cannot hold the pod's request of some resource. The one reason with
  // per-node figures ("node has 3 of 8 nvidia.com/gpu free", DESIGN §2.2): the extender writes it
  // with ResourceReason(); the figures take few distinct values (free GPUs 0..7), so the
  // scheduler's aggregate stays readable.
  kInsufficientResource,
};

inline constexpr int kReasonCount = 11;

inline bool IsResolvable(Reason r) {
  return r == Reason::kMaxPodsReached || r == Reason::kDomainTooSmall ||
         r == Reason::kInsufficientResource;
}

inline std::string_view ReasonText(Reason r) {
  switch (r) {
    case Reason::kFits:
      return "";
    case Reason::kNodeUnhealthy:
      return "hyperplace: node health status is not schedulable";
    case Reason::kUntoleratedHealthTaint:
      return "hyperplace: node has an untolerated health taint";
    case Reason::kNotAcceleratedType:
      return "hyperplace: node is not an ml. instance type";
    case Reason::kInstanceTypeMismatch:
      return "hyperplace: node instance type does not match the pod's selector";
    case Reason::kMissingTopologyLabel:
      return "hyperplace: node lacks the pod's required topology label";
    case Reason::kOutsideGroupDomain:
      return "hyperplace: node is outside the topology domain of the pod's group";
    case Reason::kUnknownNode:
      return "hyperplace: node is not in the extender's cache";
    case Reason::kMaxPodsReached:
      return "hyperplace: node reached the maximum pods for its instance type";
    case Reason::kDomainTooSmall:
      return "hyperplace: node's topology domain cannot hold the pod's group";
    case Reason::kInsufficientResource:
      return "hyperplace: node has too little of a requested resource free";
  }
  return "hyperplace: unknown reason";
}

// A short stable label value for metrics ("node_unhealthy").
std::string_view ReasonMetricName(Reason r);

}  // namespace hyperplace::scoring
