// Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource.Quantity), parsed exactly
// as the API server and kube-scheduler read them.
//
// Syntax: <signed number><suffix>, the number with an optional fraction ("1.5", ".5", "1."), the
// suffix a binary SI one (Ki Mi Gi Ti Pi Ei), a decimal SI one (n u m "" k M G T P E) or a decimal
// exponent (e3, E-2, e+6; "E" alone is exa). Nothing else: no spaces, no "K", no "1e" without
// digits. Like upstream's scanner, a number may have no digits at all and is then zero ("+",
// ".", "k", "Mi"), except where upstream's exact path refuses it ("Pi", "Ei", "e-10"); and a
// decimal exponent is read as int64 and truncated to int32, as upstream does.
//
// kube-scheduler compares cpu in millicores (Quantity.MilliValue) and every other resource in
// whole units (Quantity.Value), both rounded up: "1.5Gi" of memory is 1610612736 bytes, "100m" of
// memory (0.1 byte) is 1 byte, "0.1m" of cpu is 1 millicore. A negative quantity is an error (the
// API server refuses negative requests and allocatable), and so is a value beyond int64 where
// upstream's Value() would silently wrap; a binary-suffixed value beyond 2^63-1 is capped at
// 2^63-1 as upstream's parser caps it ("8Ei" of memory is 9223372036854775807 bytes). The
// arithmetic is exact (no floating point) and linear in the length of the text.
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

// Appends an amount in `resource`'s scale for people: cpu "1500m" or "96", every other resource
// with the largest exact binary suffix up to Ti ("16Gi", "1536Mi", "1000") — what a reason or log
// shows. ParseQuantity reads what it writes back to the same amount (negative amounts get a '-').
void AppendQuantity(std::string& out, std::int64_t amount, std::string_view resource);

}  // namespace hyperplace
