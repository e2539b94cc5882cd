// The cluster's Kueue objects for the webhook: LocalQueues and WorkloadPriorityClasses, listed
// and watched like nodes and pods (kueue.x-k8s.io v1beta2, or v1beta1 on older Kueue), so the
// webhook only writes names that exist. When the API server has no Kueue API, the configured
// lists are used instead and the log says so.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/config.h"
#include "common/metrics.h"
#include "kube/client.h"
#include "kube/informer.h"
#include "webhook/catalog.h"

namespace hyperplace::webhook {

class WatchedKueueCatalog final : public KueueCatalog {
 public:
  WatchedKueueCatalog(std::shared_ptr<kube::Client> client, const Config& config,
                      metrics::Registry& registry);
  ~WatchedKueueCatalog() override;

  // Finds Kueue's API version and starts the informers in the background. Until both have
  // listed, Current() is null (the webhook is not ready).
  void Start();
  void Stop();

  std::shared_ptr<const KueueObjects> Current() const override { return current_.load(); }
  // The API version in use ("v1beta2", "v1beta1"), or "" when Kueue is absent or not found yet.
  std::string api_version() const;

  // Object decoders (exposed for tests): name, namespace and, for a WorkloadPriorityClass, value.
  static Status DecodeLocalQueue(std::string_view object, std::string& ns, std::string& name);
  static Status DecodePriorityClass(std::string_view object, PriorityClassConfig& out);

 private:
  class QueueHandler;
  class ClassHandler;
  void Discover();
  void Publish();

  std::shared_ptr<kube::Client> client_;
  const Config config_;
  metrics::Registry& registry_;
  std::unique_ptr<QueueHandler> queues_handler_;
  std::unique_ptr<ClassHandler> classes_handler_;
  std::unique_ptr<kube::Informer> queues_;
  std::unique_ptr<kube::Informer> classes_;
  std::thread discover_;
  std::atomic<bool> stop_{false};

  mutable std::mutex mu_;  // guards the masters and version_
  std::set<std::pair<std::string, std::string>> queue_set_;
  std::map<std::string, std::int32_t> class_map_;
  bool queues_synced_ = false, classes_synced_ = false;
  std::string version_;
  std::atomic<std::shared_ptr<const KueueObjects>> current_;
};

}  // namespace hyperplace::webhook
