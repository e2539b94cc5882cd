// `hyperplace serve`: wires configuration, state, metrics and the HTTP listeners together, then
// runs until SIGTERM or SIGINT, draining in-flight requests before it exits.
#pragma once

#include <memory>

#include "cmd/cli.h"
#include "common/config.h"
#include "common/metrics.h"
#include "extender/state.h"

namespace hyperplace::cli {

// Returns the process exit code: 0 after a clean shutdown, 1 when startup failed (the reason is
// logged as one line).
int Serve(const Config& config, const ServeFlags& flags);

// The metrics serve registers itself, beside those of the parts it starts: the process, the
// build, and the extender cache's sizes read from `state`.
void RegisterServeMetrics(metrics::Registry& registry,
                          std::shared_ptr<const extender::MemoryState> state);

}  // namespace hyperplace::cli
