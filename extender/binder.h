// POST /bind (DESIGN §2.1, §2.4): records the placement in the state at once ("assumed"), so the
// next pod sees it before the watch event arrives — even while the Binding is still on its way to
// the API server — then performs the Binding. The API server stays the source of truth: if it
// refuses the Binding, the assumption is withdrawn; if the watch never confirms it, it expires.
//
// Before writing, a bind is refused (an Error to the scheduler, nothing written) for a pod that is
// already bound or whose spec.schedulerName is not in extender.schedulerNames. The pod is looked
// up in the watch cache; a pod the watch has not shown yet is read from the API server.
//
// Every bind is answered within kube.bindTimeout. A Binding whose outcome is uncertain (its
// response lost or late) is never sent again blindly: the pod is read back, and the bind
// succeeds if it is bound to the node asked for, fails if bound elsewhere, and is sent once more
// only if the pod is still unbound (the API server refuses a second Binding of a bound pod, so a
// late first one cannot bind it twice). A quarter of the deadline is kept for that read.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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
  // Reads kube.assumeTimeout, kube.bindTimeout and extender.schedulerNames.
  Binder(std::shared_ptr<kube::Client> client, std::shared_ptr<MemoryState> state,
         std::shared_ptr<const GroupMemo> groups, const Config& config, metrics::Registry& registry,
         std::shared_ptr<BindTracker> binds = nullptr);

  void Register(net::HttpServer& server);
  // The handler; `body` must be followed by net::kBodyPadding readable bytes.
  void Bind(std::string_view body, net::Response& response);

 private:
  // A pod as the API server has it.
  struct PodView {
    std::string uid;
    std::string node;
    std::string scheduler_name;
  };
  StatusOr<PodView> ReadPod(std::string_view pod_namespace, std::string_view pod_name,
                            kube::Deadline deadline);
  // Why hyperplace must not bind a pod bound to `node` ("" if none) of `scheduler`; "" if it may.
  std::string Refusal(std::string_view node, std::string_view scheduler) const;

  std::shared_ptr<kube::Client> client_;
  std::shared_ptr<MemoryState> state_;
  std::shared_ptr<const GroupMemo> groups_;
  std::shared_ptr<BindTracker> tracker_;
  const std::chrono::milliseconds assume_timeout_;
  const std::chrono::milliseconds bind_timeout_;
  const std::vector<std::string> scheduler_names_;
  // hyperplace_extender_binds_total{result}, one child per result, resolved once.
  metrics::Counter& ResultCounter(std::string_view result) const;
  metrics::Family<metrics::Counter>& binds_;
  metrics::Counter& bound_;
  metrics::Counter& refused_;
  metrics::Counter& rejected_;
  metrics::Counter& unavailable_;
  metrics::Counter& bad_request_;
};

// Whether `name` is a valid object name for a path segment (DNS-1123 subdomain: lower-case
// alphanumerics, '-' and '.', at most 253 characters).
bool IsDnsSubdomain(std::string_view name);

}  // namespace hyperplace::extender
