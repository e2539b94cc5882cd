// `hyperplace serve`: wires configuration, state, metrics and the HTTP listeners together, then
// runs until SIGTERM or SIGINT, draining in-flight requests before it exits.
#pragma once

#include "cmd/cli.h"
#include "common/config.h"

namespace hyperplace::cli {

// Returns the process exit code: 0 after a clean shutdown, 1 when startup failed (the reason is
// logged as one line).
int Serve(const Config& config, const ServeFlags& flags);

}  // namespace hyperplace::cli
