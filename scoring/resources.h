// A pod's effective resource request, as kube-scheduler computes it
// (k8s.io/component-helpers/resource.PodRequests, used by NodeResourcesFit):
//
//   containers   = Σ requests of spec.containers
//   sidecars     restartable init containers (restartPolicy: Always) run beside the containers:
//                their requests are added to `containers`
//   init         each plain init container runs alone, beside the sidecars started before it:
//                init = max over plain init containers i of (requests_i + Σ sidecars before i),
//                and a sidecar itself counts as (Σ sidecars up to and including it)
//   effective    = max(containers, init) per resource
//   pod level    spec.resources.requests, where set, replaces `effective` for its resources
//                (PodLevelResources: cpu, memory, hugepages-*)
//   overhead     spec.overhead is added last
//
// Amounts are in the scheduler's scale (common/quantity.h). The result holds every resource with
// an amount > 0, sorted by name; its names view the inputs' names.
#pragma once

#include <span>
#include <vector>

#include "scoring/model.h"

namespace hyperplace::scoring {

struct ContainerRequests {
  ResourceList requests;     // sorted by name
  bool restartable = false;  // an init container with restartPolicy: Always (a sidecar)
};

struct PodResourceSpec {
  std::vector<ResourceList> containers;            // spec.containers[].resources.requests
  std::vector<ContainerRequests> init_containers;  // spec.initContainers, in order
  ResourceList pod_level;                          // spec.resources.requests
  ResourceList overhead;                           // spec.overhead
};

// The effective requests; adds with saturation at INT64_MAX (no overflow on hostile input). Costs
// O(n log n) in the n entries of all the lists, however many containers or resources there are.
ResourceList EffectiveRequests(const PodResourceSpec& spec);

}  // namespace hyperplace::scoring
