#include "extender/bind_tracker.h"

namespace hyperplace::extender {

void BindTracker::Filtered(std::string_view uid) {
  if (uid.empty()) return;
  std::lock_guard lock(mu_);
  if (binder_ == Binder::kSchedulerBinds) return;
  pending_[std::string(uid)] = Clock::now();
}

void BindTracker::BindArrived(std::string_view uid) {
  {
    std::lock_guard lock(mu_);
    binder_ = Binder::kBinds;
    pending_.erase(std::string(uid));
  }
  bound_.notify_all();
}

bool BindTracker::OthersPending(std::string_view uid) const {
  for (const auto& [pending_uid, since] : pending_) {
    if (pending_uid != uid) return true;
  }
  return false;
}

std::chrono::nanoseconds BindTracker::WaitForPending(std::string_view uid,
                                                     std::chrono::milliseconds timeout) {
  const auto start = Clock::now();
  std::unique_lock lock(mu_);
  if (binder_ == Binder::kSchedulerBinds || !OthersPending(uid)) return Clock::now() - start;
  if (!bound_.wait_for(lock, timeout, [&] { return !OthersPending(uid); })) {
    // They will not bind (a later plugin or preemption stopped them): stop waiting for them. If
    // no bind ever came, the scheduler binds by itself: stop waiting altogether.
    for (auto it = pending_.begin(); it != pending_.end();) {
      it = it->first == uid ? std::next(it) : pending_.erase(it);
    }
    if (binder_ == Binder::kUnknown) {
      binder_ = Binder::kSchedulerBinds;
      pending_.clear();
    }
  }
  return Clock::now() - start;
}

std::size_t BindTracker::pending() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}

}  // namespace hyperplace::extender
