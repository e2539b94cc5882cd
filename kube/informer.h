// List+watch for one resource, the way client-go's reflector does it: list in pages, then watch
// from the list's resourceVersion with bookmarks, resume from the last seen version after a
// disconnect (jittered exponential backoff), and relist when the API server answers 410 Gone.
// Watch events are decoded incrementally from the chunked stream, one line at a time
// (watch_decoder.h); the stream is never buffered whole.
//
// The informer hands raw JSON objects to its handler on the informer's own thread; the handler
// decodes only what it needs.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/config.h"
#include "common/metrics.h"
#include "common/status.h"
#include "kube/client.h"
#include "kube/watch_decoder.h"

namespace hyperplace::kube {

class InformerHandler {
 public:
  virtual ~InformerHandler() = default;
  // A (re)list starts: stage a replacement of the whole set.
  virtual void BeginList() = 0;
  // Objects of one list page; the views are valid during the call.
  virtual void ListItems(const std::vector<std::string_view>& objects) = 0;
  // The list is complete: the staged set replaces the old one (what was not listed is gone).
  virtual void EndList() = 0;
  virtual void OnEvent(EventType type, std::string_view object) = 0;
  // Called after a batch of events (one read from the stream): a good moment to publish.
  virtual void Flush() {}
};

struct InformerOptions {
  std::string resource;        // metric label and log name: "nodes", "pods"
  std::string path;            // collection path: "/api/v1/pods"
  std::string field_selector;  // optional
  std::string label_selector;  // optional
  KubeConfig timing;
};

class Informer {
 public:
  Informer(std::shared_ptr<Client> client, InformerOptions options, InformerHandler* handler,
           metrics::Registry& registry);
  ~Informer();  // Stop()

  void Start();
  // Aborts the list or watch in progress and joins the thread.
  void Stop();
  // True once the first complete list has been handed to the handler.
  bool Synced() const { return synced_.load(); }
  std::string resource_version() const;

  // Parses one list page: the items' raw JSON, metadata.continue and metadata.resourceVersion.
  // `body` must be followed by 64 readable bytes. Exposed for tests.
  struct Page {
    std::vector<std::string_view> items;
    std::string continue_token;
    std::string resource_version;
  };
  static Status ParsePage(std::string_view body, Page& page);

 private:
  void Run();
  Status List();
  // Returns OK when the watch ended normally (server timeout); sets relist_ on 410.
  Status Watch();
  void Backoff();
  metrics::Counter& EventCounter(std::string_view type);
  std::string Query(bool watch) const;

  std::shared_ptr<Client> client_;
  const InformerOptions options_;
  InformerHandler* handler_;
  CancelToken cancel_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> synced_{false};
  bool relist_ = true;
  std::chrono::milliseconds backoff_;
  std::mt19937_64 rng_{std::random_device{}()};
  mutable std::mutex rv_mu_;
  std::string rv_;
  std::atomic<std::int64_t> last_activity_ns_{0};

  metrics::Counter* relists_;
  metrics::Family<metrics::Counter>* events_;
  // events_ children of ADDED, MODIFIED, DELETED and BOOKMARK, resolved once: every watch event
  // counts, so the usual ones never build a label map.
  metrics::Counter* added_;
  metrics::Counter* modified_;
  metrics::Counter* deleted_;
  metrics::Counter* bookmarks_;
  metrics::Family<metrics::Counter>* restarts_;
};

}  // namespace hyperplace::kube
