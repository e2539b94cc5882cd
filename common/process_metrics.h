// The standard process_* metrics (resident memory, CPU seconds, open file descriptors, start
// time), read from /proc at scrape time.
#pragma once

#include "common/metrics.h"

namespace hyperplace::metrics {

void RegisterProcessMetrics(Registry& registry);

// Resident set size of this process in bytes (0 if unknown).
double ResidentMemoryBytes();

}  // namespace hyperplace::metrics
