// POST /bind (DESIGN §2.1, §2.4): records the placement in the state at once ("assumed"), so the
// next pod sees it before the watch event arrives — even while the Binding is still on its way to
// the API server — then performs the Binding. The API server stays the source of truth: if it
// refuses the Binding, the assumption is withdrawn; if the watch never confirms it, it expires.
#pragma once

#include <memory>
#include <string_view>

#include "common/config.h"
#include "common/metrics.h"
#include "extender/bind_tracker.h"
#include "extender/group_memo.h"
#include "extender/state.h"
#include "kube/client.h"
#include "net/http_server.h"

namespace hyperplace::extender {

class Binder {
 public:
  // `client` may be null: without an API server every bind is answered with an Error.
  Binder(std::shared_ptr<kube::Client> client, std::shared_ptr<MemoryState> state,
         std::shared_ptr<const GroupMemo> groups, const KubeConfig& config,
         metrics::Registry& registry, std::shared_ptr<BindTracker> binds = nullptr);

  void Register(net::HttpServer& server);
  // The handler; `body` must be followed by net::kBodyPadding readable bytes.
  void Bind(std::string_view body, net::Response& response);

 private:
  std::shared_ptr<kube::Client> client_;
  std::shared_ptr<MemoryState> state_;
  std::shared_ptr<const GroupMemo> groups_;
  std::shared_ptr<BindTracker> tracker_;
  const std::chrono::milliseconds assume_timeout_;
  metrics::Family<metrics::Counter>& binds_;
};

// Whether `name` is a valid object name for a path segment (DNS-1123 subdomain: lower-case
// alphanumerics, '-' and '.', at most 253 characters).
bool IsDnsSubdomain(std::string_view name);

}  // namespace hyperplace::extender
