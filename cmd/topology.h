// `hyperplace topology`: the network tree with capacity and health, and where every job sits,
// from the API server or from saved lists (inspect/).
#pragma once

#include <string>

#include "cmd/cli.h"
#include "common/config.h"
#include "common/status.h"
#include "extender/filter_verdicts.h"
#include "inspect/render.h"
#include "inspect/topology.h"
#include "kube/client.h"

namespace hyperplace::cli {

// The rendering `flags.output` names of the cluster the flags point at.
StatusOr<std::string> RunTopology(const TopologyFlags& flags);

// The view of the cluster as the API server lists it now, under `config`'s vocabulary. With
// `verdicts`, a pending pod's reason is the extender's own last verdict on it when it has one
// (else the scheduler's message in the pod's PodScheduled condition).
StatusOr<inspect::View> LiveView(kube::Client& client, const Config& config,
                                 const extender::FilterVerdicts* verdicts = nullptr);

// Prints RunTopology's result; returns the exit code (1 with the reason on stderr).
int Topology(const TopologyFlags& flags);

}  // namespace hyperplace::cli
