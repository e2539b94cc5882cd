#include "scoring/reasons.h"

namespace hyperplace::scoring {

std::string_view ReasonMetricName(Reason r) {
  switch (r) {
    case Reason::kFits:
      return "fits";
    case Reason::kNodeUnhealthy:
      return "node_unhealthy";
    case Reason::kUntoleratedHealthTaint:
      return "health_taint";
    case Reason::kNotAcceleratedType:
      return "not_accelerated_type";
    case Reason::kInstanceTypeMismatch:
      return "instance_type_mismatch";
    case Reason::kMissingTopologyLabel:
      return "missing_topology_label";
    case Reason::kOutsideGroupDomain:
      return "outside_group_domain";
    case Reason::kUnknownNode:
      return "unknown_node";
    case Reason::kMaxPodsReached:
      return "max_pods_reached";
    case Reason::kDomainTooSmall:
      return "domain_too_small";
    case Reason::kInsufficientResource:
      return "insufficient_resource";
  }
  return "unknown";
}

}  // namespace hyperplace::scoring
