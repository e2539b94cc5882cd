// The scheduler-extender face: POST /filter and /prioritize (DESIGN §2.1), served over the
// HTTP server with the scoring core and the cluster state.
//
// Thread-safe: handlers run concurrently on the server's workers; each worker keeps its own
// decoder and scratch buffers (reused across requests, so the steady state allocates little).
#pragma once

#include <memory>
#include <string_view>

#include "common/metrics.h"
#include "extender/bind_tracker.h"
#include "extender/filter_verdicts.h"
#include "extender/group_memo.h"
#include "extender/names_memo.h"
#include "extender/state.h"
#include "net/http_server.h"
#include "scoring/policy.h"

namespace hyperplace::extender {

class Extender {
 public:
  // `groups`, when given, learns the group of every pod seen (for /bind). `binds`, when given,
  // makes /filter wait up to `bind_wait` for binds of previously filtered pods (bind_tracker.h).
  Extender(scoring::Policy policy, std::shared_ptr<const ClusterState> state,
           metrics::Registry& registry, std::shared_ptr<GroupMemo> groups = nullptr,
           std::shared_ptr<BindTracker> binds = nullptr,
           std::chrono::milliseconds bind_wait = std::chrono::milliseconds(200));
  ~Extender();

  // Registers POST /filter and POST /prioritize, and the release of per-thread scratch on idle
  // handler threads.
  void Register(net::HttpServer& server);

  // The handlers, callable without a server (tests, benchmarks). `body` must be followed by
  // net::kBodyPadding readable bytes.
  void Filter(std::string_view body, net::Response& response);
  void Prioritize(std::string_view body, net::Response& response);

  const scoring::Policy& policy() const { return policy_; }

  // Remember why each pod that fit no node was rejected (GET /debug/jobs). Off by default: it
  // costs a lock per /filter. Call before Register.
  void RecordVerdicts(std::shared_ptr<FilterVerdicts> verdicts) { verdicts_ = std::move(verdicts); }

  // The names-mode lists recognised (not decoded and looked up again), and those that were not.
  const NamesMemo& names_memo() const { return names_memo_; }

 private:
  struct Metrics;
  // The names-mode list of a request decoded with `held`, counted as recognised or decoded.
  std::shared_ptr<const NamesMemo::List> ResolveList(const NamesMemo::Held& held,
                                                     const ExtenderArgs& args,
                                                     const Snapshot& snapshot);
  const scoring::Policy policy_;
  std::shared_ptr<const ClusterState> state_;
  std::shared_ptr<GroupMemo> groups_;
  std::shared_ptr<BindTracker> binds_;
  std::shared_ptr<FilterVerdicts> verdicts_;
  const std::chrono::milliseconds bind_wait_;
  NamesMemo names_memo_;
  std::unique_ptr<Metrics> metrics_;
};

// Frees the calling thread's filter/prioritize scratch if it holds more than `keep_bytes` (grown
// by a huge request); the next request allocates again.
void ReleaseThreadScratch(std::size_t keep_bytes);

}  // namespace hyperplace::extender
