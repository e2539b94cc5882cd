// Helpers the renderers share (internal to inspect/).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "inspect/topology.h"

namespace hyperplace::inspect {

// "gpu" for nvidia.com/gpu, "neuron" for aws.amazon.com/neuron: the part after the last '/'.
inline std::string ShortResource(std::string_view resource) {
  std::size_t slash = resource.rfind('/');
  return std::string(slash == std::string_view::npos ? resource : resource.substr(slash + 1));
}

inline std::string FreeOfTotal(std::int64_t free, std::int64_t total) {
  return std::to_string(free) + "/" + std::to_string(total);
}

// "met", "not met", or "" when the job asked for nothing.
// JSON: true or false once judged; null without the annotation or with nothing placed.
inline const char* WantJson(Want w) {
  return w == Want::kMet ? "true" : w == Want::kNotMet ? "false" : "null";
}

inline std::string WantName(Want w) {
  switch (w) {
    case Want::kNone:
      return "";
    case Want::kWaiting:
      return "waiting, nothing placed";
    case Want::kMet:
      return "met";
    case Want::kNotMet:
      return "not met";
  }
  return "";
}

}  // namespace hyperplace::inspect
