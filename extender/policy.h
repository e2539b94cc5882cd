// Builds the scoring core's Policy from the configuration (the only place that knows both).
#pragma once

#include "common/config.h"
#include "scoring/policy.h"

namespace hyperplace::extender {

scoring::Policy MakePolicy(const Config& config);

}  // namespace hyperplace::extender
