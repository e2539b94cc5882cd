// `hyperplace serve`: wires configuration, state, metrics and the HTTP listeners together, then
// runs until SIGTERM or SIGINT, draining in-flight requests before it exits.
#pragma once

#include <memory>

#include "cmd/cli.h"
#include "common/config.h"
#include "common/metrics.h"
#include "extender/filter_verdicts.h"
#include "extender/state.h"
#include "kube/client.h"
#include "net/http_server.h"

namespace hyperplace::cli {

// Returns the process exit code: 0 after a clean shutdown, 1 when startup failed (the reason is
// logged as one line).
int Serve(const Config& config, const ServeFlags& flags);

// The metrics serve registers itself, beside those of the parts it starts: the process, the
// build, and the extender cache's sizes read from `state`.
void RegisterServeMetrics(metrics::Registry& registry,
                          std::shared_ptr<const extender::MemoryState> state);

// GET /debug/topology and /debug/jobs (extender.debugEndpoints): the JSON of `hyperplace
// topology --output json`, the tree alone or the jobs alone, listed through `client` (503
// without one) for each request, one at a time (others meanwhile: 503 with Retry-After). Pending
// pods carry the verdict `verdicts` holds for them, if any. Registered on the extender listener, so
// with TLS only callers holding a client certificate reach them, as for /bind; serve registers them
// only when the configuration turns them on.
void RegisterDebug(net::HttpServer& server, std::shared_ptr<kube::Client> client, Config config,
                   std::shared_ptr<const extender::FilterVerdicts> verdicts);

}  // namespace hyperplace::cli
