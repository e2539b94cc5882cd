// The Kueue objects the webhook may name in the labels it writes: LocalQueues and
// WorkloadPriorityClasses (DESIGN §3). With an API server they come from the cluster (watched by
// the kube/ cache, which implements KueueCatalog); without one, from the configuration.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/config.h"

namespace hyperplace::webhook {

struct KueueObjects {
  // True when the lists below are the cluster's (watched). Then a LocalQueue must be listed to be
  // written or accepted, and only listed classes exist. False: the configuration's view, in
  // which every team namespace's templated LocalQueue is assumed to exist.
  bool from_cluster = false;
  // (namespace, name) of every LocalQueue. Unused when from_cluster is false.
  std::set<std::pair<std::string, std::string>> local_queues;
  // Every WorkloadPriorityClass (name and value), in any order.
  std::vector<PriorityClassConfig> priority_classes;
};

class KueueCatalog {
 public:
  virtual ~KueueCatalog() = default;
  // An immutable snapshot, shared by the requests that read it. nullptr means the catalog has
  // not synced yet: the webhook then reports itself not ready and answers /mutate with 503.
  // Thread-safe; called once per admission request, so it must be cheap (no I/O, no copying).
  virtual std::shared_ptr<const KueueObjects> Current() const = 0;
};

// The configuration's view: webhook.priorityClasses, from_cluster = false.
class StaticCatalog final : public KueueCatalog {
 public:
  explicit StaticCatalog(const Config& config);
  std::shared_ptr<const KueueObjects> Current() const override { return objects_; }

 private:
  std::shared_ptr<const KueueObjects> objects_;
};

}  // namespace hyperplace::webhook
