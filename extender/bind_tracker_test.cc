#include "extender/bind_tracker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace hyperplace::extender {
namespace {

using std::chrono::milliseconds;

TEST(BindTrackerTest, NeverWaitsBeforeTheFirstBind) {
  // A scheduler that binds by itself never calls /bind: filters must not wait for binds.
  BindTracker tracker;
  tracker.Filtered("a");
  EXPECT_EQ(tracker.pending(), 0u);
  EXPECT_LT(tracker.WaitForPending("b", milliseconds(10000)), milliseconds(5000));
}

TEST(BindTrackerTest, NextFilterWaitsUntilTheEarlierPodsBindArrives) {
  BindTracker tracker;
  tracker.BindArrived("warm-up");  // hyperplace is the binder
  tracker.Filtered("p1");
  std::atomic<bool> bound{false};
  std::thread binder([&] {
    std::this_thread::sleep_for(milliseconds(50));
    bound.store(true);
    tracker.BindArrived("p1");
  });
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
