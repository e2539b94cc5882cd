#include "scoring/resources.h"

#include <algorithm>
#include <cstdint>
#include <string_view>

namespace hyperplace::scoring {
namespace {

std::int64_t SaturatingAdd(std::int64_t a, std::int64_t b) {
  std::int64_t sum = 0;
  if (!__builtin_add_overflow(a, b, &sum)) return sum;
  return b > 0 ? INT64_MAX : INT64_MIN;
}

// PodLevelResources covers cpu, memory and hugepages-* (IsSupportedPodLevelResource).
bool IsPodLevelResource(std::string_view name) {
  return name == "cpu" || name == "memory" || name.starts_with("hugepages-");
}

}  // namespace

// Upstream walks maps once per container, keeping the sum of sidecars started so far. Here every
// name is given a dense index first, so a pod with many containers or resources costs
// O(n log n) in its n entries rather than containers × resources.
//
// A plain init container i only matters for the resources it names: for any other resource its
// use is the sidecars started before it, which never exceeds the sidecars' total, and that total
// is already part of `containers` (sidecars run beside them). The same holds for a sidecar's own
// use (the sidecars up to it). So effective[r] = max(containers[r] + sidecars[r],
// max over plain i naming r of (requests_i[r] + sidecars before i[r])).
ResourceList EffectiveRequests(const PodResourceSpec& spec) {
  std::vector<std::string_view> names;
  std::size_t entries = spec.pod_level.size() + spec.overhead.size();
  for (const ResourceList& c : spec.containers) entries += c.size();
  for (const ContainerRequests& c : spec.init_containers) entries += c.requests.size();
  names.reserve(entries);
  auto add_names = [&names](const ResourceList& list) {
    for (const ResourceAmount& r : list) names.push_back(r.name);
  };
  for (const ResourceList& c : spec.containers) add_names(c);
  for (const ContainerRequests& c : spec.init_containers) add_names(c.requests);
  add_names(spec.pod_level);
  add_names(spec.overhead);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  auto index = [&names](std::string_view name) {
    return static_cast<std::size_t>(std::lower_bound(names.begin(), names.end(), name) -
                                    names.begin());
  };

  std::vector<std::int64_t> running(names.size());   // containers + sidecars
  std::vector<std::int64_t> sidecars(names.size());  // sidecars started so far
  std::vector<std::int64_t> init(names.size());      // the largest plain init container's use
  for (const ResourceList& c : spec.containers) {
    for (const ResourceAmount& r : c) {
      std::int64_t& v = running[index(r.name)];
      v = SaturatingAdd(v, r.amount);
    }
  }
  for (const ContainerRequests& c : spec.init_containers) {
    for (const ResourceAmount& r : c.requests) {
      const std::size_t i = index(r.name);
      if (c.restartable) {
        running[i] = SaturatingAdd(running[i], r.amount);
        sidecars[i] = SaturatingAdd(sidecars[i], r.amount);
      } else {
        init[i] = std::max(init[i], SaturatingAdd(r.amount, sidecars[i]));
      }
    }
  }
  std::vector<std::int64_t>& effective = running;
  for (std::size_t i = 0; i < names.size(); ++i) effective[i] = std::max(effective[i], init[i]);
  // Pod-level requests replace what the containers add up to (set to 0, a resource drops out).
  for (const ResourceAmount& r : spec.pod_level) {
    if (IsPodLevelResource(r.name)) effective[index(r.name)] = r.amount;
  }
  for (const ResourceAmount& r : spec.overhead) {
    std::int64_t& v = effective[index(r.name)];
    v = SaturatingAdd(v, r.amount);
  }

  ResourceList out;
  out.reserve(static_cast<std::size_t>(
      std::count_if(effective.begin(), effective.end(), [](std::int64_t v) { return v > 0; })));
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (effective[i] > 0) out.push_back({names[i], effective[i]});
  }
  return out;
}

}  // namespace hyperplace::scoring
