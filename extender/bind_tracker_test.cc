#include "extender/bind_tracker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

namespace hyperplace::extender {
namespace {

using std::chrono::milliseconds;

// p's /bind, 50 ms from now on another thread; `bound` turns true just before it arrives.
std::thread BindLater(BindTracker& tracker, std::string uid, std::atomic<bool>& bound) {
  return std::thread([&tracker, uid = std::move(uid), &bound] {
    std::this_thread::sleep_for(milliseconds(50));
    bound.store(true);
    tracker.BindArrived(uid);
  });
}

TEST(BindTrackerTest, TheFirstGangWaitsForItsFirstBindToo) {
  // Just started (or restarted mid-burst): no bind seen yet, and p1's is on its way.
  BindTracker tracker;
  tracker.Filtered("p1");
  EXPECT_EQ(tracker.pending(), 1u);
  std::atomic<bool> bound{false};
  std::thread binder = BindLater(tracker, "p1", bound);
  tracker.WaitForPending("p2", milliseconds(10000));
  EXPECT_TRUE(bound.load());  // the wait ended on p1's bind, not on the long timeout
  binder.join();
}

TEST(BindTrackerTest, ASchedulerThatBindsByItselfCostsOneWait) {
  // No bindVerb: /bind never comes. One wait runs out; after it, filters no longer wait.
  BindTracker tracker;
  tracker.Filtered("a");
  tracker.WaitForPending("b", milliseconds(20));
  EXPECT_EQ(tracker.pending(), 0u);
  tracker.Filtered("b");
  EXPECT_EQ(tracker.pending(), 0u);
  EXPECT_LT(tracker.WaitForPending("c", milliseconds(10000)), milliseconds(5000));
  // A bind seen later (the scheduler's configuration changed) turns waiting back on.
  tracker.BindArrived("c");
  tracker.Filtered("d");
  EXPECT_EQ(tracker.pending(), 1u);
}

TEST(BindTrackerTest, NextFilterWaitsUntilTheEarlierPodsBindArrives) {
  BindTracker tracker;
  tracker.BindArrived("warm-up");  // hyperplace is the binder
  tracker.Filtered("p1");
  std::atomic<bool> bound{false};
  std::thread binder = BindLater(tracker, "p1", bound);
  tracker.WaitForPending("p2", milliseconds(10000));
  // The wait ended because p1's bind arrived, not because the long timeout passed.
  EXPECT_TRUE(bound.load());
  EXPECT_EQ(tracker.pending(), 0u);
  binder.join();
}

TEST(BindTrackerTest, APodDoesNotWaitForItself) {
  BindTracker tracker;
  tracker.BindArrived("warm-up");
  tracker.Filtered("p1");  // p1 is filtered again (its first attempt failed before binding)
  EXPECT_LT(tracker.WaitForPending("p1", milliseconds(10000)), milliseconds(5000));
  EXPECT_EQ(tracker.pending(), 1u);
}

TEST(BindTrackerTest, PodsThatNeverBindAreForgottenAfterOneWait) {
  BindTracker tracker;
  tracker.BindArrived("warm-up");
  tracker.Filtered("stuck");  // rejected later by another plugin: no bind will come
  tracker.WaitForPending("p2", milliseconds(20));
  EXPECT_EQ(tracker.pending(), 0u);
  EXPECT_LT(tracker.WaitForPending("p3", milliseconds(10000)), milliseconds(5000));
}

}  // namespace
}  // namespace hyperplace::extender
