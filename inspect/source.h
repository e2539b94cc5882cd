// Where `hyperplace topology` and the /debug endpoints get the cluster: saved lists (a file of
// `kubectl get nodes,pods -A -o json`, or a NodeList or PodList) or the API server itself.
#pragma once

#include <string_view>

#include "common/status.h"
#include "inspect/topology.h"
#include "kube/client.h"

namespace hyperplace::inspect {

// Adds the Nodes and Pods of a list document (kind List, NodeList or PodList, as kubectl or the
// API server writes it) to `out`. Items of other kinds are skipped; finished pods are kept (the
// view ignores them). Each pod's pending reason is the message of its PodScheduled=False
// condition (kube-scheduler's FailedScheduling summary, which carries the extender's reasons).
Status AddList(std::string_view json, ClusterInput& out);

// Lists every Node and every Pod not finished from the API server, in pages of `page_size`.
Status ListCluster(kube::Client& client, int page_size, ClusterInput& out);

}  // namespace hyperplace::inspect
