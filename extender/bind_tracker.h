// Orders kube-scheduler's overlapping cycles as hyperplace sees them.
//
// The scheduler runs scheduling cycles one after another but binds in the background: pod N's
// /bind can arrive after pod N+1's /filter (measured in the e2e suite: up to 10 pods placed but
// not yet bound when the next filter came). A filter that does not count those pods overfills
// nodes and splits groups. So: a pod that got candidates from /filter is "pending" until its
// /bind arrives; the next /filter first waits (bounded) until no other pod is pending.
//
// Waiting starts at once: the first gang after hyperplace starts (or restarts mid-burst) needs
// it as much as any, and its first pod's bind is what would tell. A scheduler that binds by
// itself (no bindVerb) never calls /bind: the first wait that times out with no bind ever seen
// ends the waiting, so such a scheduler pays one bounded wait, and a bind seen later turns it
// back on. A pending pod that never binds (it failed later in the scheduler) is forgotten after
// one wait. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace hyperplace::extender {

class BindTracker {
 public:
  using Clock = std::chrono::steady_clock;

  // `uid` got at least one fitting node from /filter.
  void Filtered(std::string_view uid);
  // `uid`'s /bind arrived (call after the placement is visible in the state).
  void BindArrived(std::string_view uid);
  // Waits until no pod but `uid` is pending, at most `timeout`. Pods still pending then are
  // forgotten. Returns how long it waited.
  std::chrono::nanoseconds WaitForPending(std::string_view uid, std::chrono::milliseconds timeout);

  std::size_t pending() const;

 private:
  bool OthersPending(std::string_view uid) const;

  mutable std::mutex mu_;
  std::condition_variable bound_;
  std::unordered_map<std::string, Clock::time_point> pending_;
  // kUnknown until the first bind (kBinds) or the first wait that timed out without one
  // (kSchedulerBinds: nothing to wait for).
  enum class Binder : std::uint8_t { kUnknown, kBinds, kSchedulerBinds };
  Binder binder_ = Binder::kUnknown;
};

}  // namespace hyperplace::extender
