// Feeds a MemoryState from the API server: list+watch of Nodes and of the Pods not finished
// (assigned ones occupy nodes; pending ones are kept so a bind from any replica knows the pod's
// group), and expiry of binds the watch never confirmed. Only the fields the rules read are kept:
// a node's labels, taints and allocatable pods; a pod's uid, node, group and (while it is
// pending) scheduler name.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "common/config.h"
#include "common/metrics.h"
#include "extender/state.h"
#include "kube/client.h"
#include "kube/informer.h"

namespace hyperplace::extender {

class WatchCache {
 public:
  WatchCache(std::shared_ptr<kube::Client> client, std::shared_ptr<MemoryState> state,
             const KubeConfig& config, metrics::Registry& registry);
  ~WatchCache();

  // Starts the informers; the state reports ready once both first lists are in.
  void Start();
  void Stop();
  bool Synced() const;

  // Decoders from a Node or Pod object's raw JSON (`object` needs no padding). Exposed for tests.
  static Status DecodeNode(std::string_view object, scoring::Node& out);
  static Status DecodePod(std::string_view object, const scoring::Policy& policy, PodRecord& out,
                          bool& finished);

 private:
  class NodeHandler;
  class PodHandler;

  std::shared_ptr<MemoryState> state_;
  std::unique_ptr<NodeHandler> node_handler_;
  std::unique_ptr<PodHandler> pod_handler_;
  std::unique_ptr<kube::Informer> nodes_;
  std::unique_ptr<kube::Informer> pods_;
  std::thread expiry_;
  std::atomic<bool> stop_{false};
};

}  // namespace hyperplace::extender
