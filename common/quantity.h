// Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource.Quantity), parsed exactly
// as the API server and kube-scheduler read them.
//
// Syntax: <signed number><suffix>, the number with an optional fraction ("1.5", ".5", "1."), the
// suffix a binary SI one (Ki Mi Gi Ti Pi Ei), a decimal SI one (n u m "" k M G T P E) or a decimal
// exponent (e3, E-2, e+6). Nothing else: no spaces, no "K", no "1e" without digits.
//
// kube-scheduler compares cpu in millicores (Quantity.MilliValue) and every other resource in
// whole units (Quantity.Value), both rounded up: "1.5" GiB of memory, "100m" of memory (0.1 byte)
// is 1 byte, "0.1m" of cpu is 1 millicore. Values beyond int64 are errors, as is a negative
// quantity (the API server refuses negative requests and allocatable).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hyperplace {

enum class QuantityScale : std::uint8_t {
  kUnits,  // Quantity.Value(): whole units, rounded up
  kMilli,  // Quantity.MilliValue(): thousandths, rounded up
};

// The scale kube-scheduler counts a resource in: kMilli for "cpu", kUnits for everything else.
QuantityScale ScaleOf(std::string_view resource);

// The quantity in `scale`, or InvalidArgument ("not a quantity", "negative", "out of range")
// without the field: the caller names it.
StatusOr<std::int64_t> ParseQuantity(std::string_view text, QuantityScale scale);

// Appends an amount in `resource`'s scale for people: cpu "1500m" or "96", memory-like units with
// the largest exact binary suffix ("16Gi", "1536Mi", "1000") — what a reason or log shows.
void AppendQuantity(std::string& out, std::int64_t amount, std::string_view resource);

}  // namespace hyperplace
