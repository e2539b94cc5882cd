// libFuzzer target for resource quantities (common/quantity.h): the text of every amount in a
// node's allocatable and a pod's requests, fed raw bytes.
//
// Properties checked beyond "no crash, no sanitizer report":
//   - an accepted quantity is never negative;
//   - the scale does not change what is a quantity: the text is refused as "not a quantity" or
//     "negative" in both scales or in neither, and "out of range" in units means it in milli too;
//   - the scales agree: when the milli value fits, the units value is it divided by 1000,
//     rounded up;
//   - AppendQuantity's text parses back to the same amount, in both scales.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/quantity.h"

namespace {

using hyperplace::QuantityScale;

void Check(bool ok, const char* property, std::string_view text) {
  if (ok) return;
  std::fprintf(stderr, "property violated: %s\ntext: \"%.*s\"\n", property,
               static_cast<int>(std::min<std::size_t>(text.size(), 2000)), text.data());
  std::abort();
}

void CheckRoundTrip(std::string_view text, std::int64_t amount, std::string_view resource) {
  std::string written;
  hyperplace::AppendQuantity(written, amount, resource);
  auto again = hyperplace::ParseQuantity(written, hyperplace::ScaleOf(resource));
  Check(again.ok() && *again == amount, "AppendQuantity parses back to the amount", text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto units = hyperplace::ParseQuantity(text, QuantityScale::kUnits);
  auto milli = hyperplace::ParseQuantity(text, QuantityScale::kMilli);

  if (units.ok()) Check(*units >= 0, "units are never negative", text);
  if (milli.ok()) Check(*milli >= 0, "milli are never negative", text);
  const std::string& units_error = units.status().message();
  const std::string& milli_error = milli.status().message();
  for (std::string_view scale_free : {"not a quantity", "negative"}) {
    Check((units_error == scale_free) == (milli_error == scale_free),
          "the scale does not change what is a quantity", text);
  }
  if (units_error == "out of range") {
    Check(milli_error == "out of range", "out of range in units is out of range in milli", text);
  }
  if (milli.ok()) {
    Check(units.ok() && *units == *milli / 1000 + (*milli % 1000 != 0 ? 1 : 0),
          "units are milli / 1000 rounded up", text);
  }

  if (units.ok()) CheckRoundTrip(text, *units, "memory");
  if (milli.ok()) CheckRoundTrip(text, *milli, "cpu");
  return 0;
}
