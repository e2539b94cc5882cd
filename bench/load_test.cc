#include "bench/load.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <mutex>
#include <set>

namespace hyperplace::bench {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(OpenLoopScheduleTest, IntegerRateGivesExactOffsets) {
  // 5000/s: one operation every 200 µs, exactly.
  OpenLoopSchedule s(5000, seconds(1), seconds(5));
  EXPECT_EQ(s.Offset(0), Nanos(0));
  EXPECT_EQ(s.Offset(1), Nanos(200000));
  EXPECT_EQ(s.Offset(5000), seconds(1));
  EXPECT_EQ(s.Offset(5000 * 3600), seconds(3600));  // no drift after an hour
  EXPECT_EQ(s.FirstMeasured(), 5000u);              // due at exactly 1 s: measured
  EXPECT_EQ(s.End(), 30000u);                       // due at exactly 6 s: not sent
  EXPECT_EQ(s.MeasuredCount(), 25000u);             // 5000/s for 5 s
}

TEST(OpenLoopScheduleTest, FractionalRateBoundariesAreTheFirstOperationDueAtOrAfter) {
  for (double rate : {333.3, 1.5, 7919.0, 123456.789}) {
    for (Nanos warmup : {Nanos(0), Nanos(1), Nanos(999999937), Nanos(2500000000)}) {
      const Nanos duration = milliseconds(3700);
      OpenLoopSchedule s(rate, warmup, duration);
      const std::uint64_t first = s.FirstMeasured(), end = s.End();
      EXPECT_GE(s.Offset(first), warmup) << rate;
      if (first > 0) {
        EXPECT_LT(s.Offset(first - 1), warmup) << rate;
      }
      EXPECT_GE(s.Offset(end), warmup + duration) << rate;
      EXPECT_LT(s.Offset(end - 1), warmup + duration) << rate;
      // rate × duration operations, give or take the one that straddles each boundary.
      EXPECT_NEAR(static_cast<double>(s.MeasuredCount()), rate * 3.7, 1.0) << rate;
    }
  }
}

TEST(OpenLoopScheduleTest, OffsetsAreMonotonicAndDoNotDrift) {
  const double rate = 3333.3;
  OpenLoopSchedule s(rate, Nanos(0), seconds(1));
  Nanos previous(-1);
  for (std::uint64_t i = 0; i < 200000; ++i) {
    const Nanos o = s.Offset(i);
    ASSERT_GE(o, previous);
    previous = o;
  }
  // Far out, still within a nanosecond of i·1e9/rate (floored).
  const std::uint64_t i = 100000000;
  const double exact = static_cast<double>(i) * 1e9 / rate;
  EXPECT_NEAR(static_cast<double>(s.Offset(i).count()), exact, 1.0);
}

// Sessions that never touch the network: the runner's bookkeeping in isolation. The endpoint's
// port 1 on loopback refuses the initial connect attempt, which the runner tolerates.
class FakeWorkload final : public Workload {
 public:
  FakeWorkload(std::int64_t service_ns, int error_every)
      : service_ns_(service_ns), error_every_(error_every) {}

  std::unique_ptr<Session> NewSession(int) const override {
    return std::make_unique<FakeSession>(*this);
  }
  std::set<std::uint64_t> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }
  int duplicates() const { return duplicates_; }

 private:
  class FakeSession final : public Session {
   public:
    explicit FakeSession(const FakeWorkload& w) : w_(w) {}
    OpResult Run(std::uint64_t seq, HttpConnection&, Clock::time_point) override {
      {
        std::lock_guard lock(w_.mu_);
        if (!w_.seen_.insert(seq).second) ++w_.duplicates_;
      }
      OpResult r;
      r.service_ns = w_.service_ns_;
      if (w_.error_every_ > 0 && seq % static_cast<std::uint64_t>(w_.error_every_) == 0) {
        r.error = ErrorKind::kBadBody;
        r.detail = "op " + std::to_string(seq);
      }
      return r;
    }

   private:
    const FakeWorkload& w_;
  };

  std::int64_t service_ns_;
  int error_every_;
  mutable std::mutex mu_;
  mutable std::set<std::uint64_t> seen_;
  mutable int duplicates_ = 0;
};

Endpoint Nowhere() {
  Endpoint e;
  e.port = 1;
  return e;
}

TEST(RunLoadTest, OpenLoopRunsEveryScheduledOperationOnceAndMeasuresAfterWarmup) {
  FakeWorkload w(/*service_ns=*/1000000, /*error_every=*/10);
  LoadOptions o;
  o.connections = 3;
  o.rate = 2000;
  o.warmup = milliseconds(100);
  o.duration = milliseconds(400);
  const OpenLoopSchedule schedule(o.rate, o.warmup, o.duration);
  const LoadStats stats = RunLoad(Nowhere(), w, o);

  EXPECT_EQ(w.duplicates(), 0);
  EXPECT_EQ(w.seen().size(), schedule.End());
  // Operations 0 .. 199 warm up; 0, 10, ..., 190 of them fail and are counted apart.
  EXPECT_EQ(stats.warmup_ops + stats.warmup_errors, schedule.FirstMeasured());
  EXPECT_EQ(stats.warmup_errors, schedule.FirstMeasured() / 10);
  EXPECT_EQ(stats.warmup_error_sample.rfind("bad_body: op ", 0), 0u);
  // Operations 200 .. 999 are measured; every tenth of them fails.
  std::uint64_t failing = 0;
  for (std::uint64_t i = schedule.FirstMeasured(); i < schedule.End(); ++i) failing += i % 10 == 0;
  EXPECT_EQ(stats.errors[static_cast<int>(ErrorKind::kBadBody)], failing);
  EXPECT_EQ(stats.ops, schedule.MeasuredCount() - failing);
  EXPECT_EQ(stats.latency.count(), stats.ops);
  EXPECT_EQ(stats.error_samples[static_cast<int>(ErrorKind::kBadBody)].rfind("op ", 0), 0u);
  // Latency counts from when an operation was due, so it is never below the service time.
  EXPECT_GE(stats.latency.min(), 1000000);
  std::uint64_t timeline_ops = 0, timeline_errors = 0;
  for (const TimelinePoint& p : stats.timeline) {
    timeline_ops += p.ops;
    timeline_errors += p.errors;
  }
  EXPECT_EQ(timeline_ops, stats.ops);
  EXPECT_EQ(timeline_errors, failing);
}

TEST(RunLoadTest, ClosedLoopNumbersOperationsPerConnectionWithoutGaps) {
  FakeWorkload w(/*service_ns=*/5000, /*error_every=*/0);
  LoadOptions o;
  o.connections = 2;
  o.warmup = milliseconds(20);
  o.duration = milliseconds(50);
  const LoadStats stats = RunLoad(Nowhere(), w, o);
  EXPECT_EQ(w.duplicates(), 0);
  EXPECT_EQ(stats.total_errors(), 0u);
  EXPECT_EQ(stats.ops + stats.warmup_ops, w.seen().size());
  EXPECT_GT(stats.ops, 0u);
  // Closed-loop latency is the service time the session reported.
  EXPECT_EQ(stats.latency.min(), 5000);
  EXPECT_EQ(stats.latency.max(), 5000);
  EXPECT_DOUBLE_EQ(stats.measured_s, 0.05);
}

TEST(RunLoadTest, CancelStopsTheRun) {
  FakeWorkload w(1000, 0);
  std::atomic<bool> cancel{true};
  LoadOptions o;
  o.rate = 1000;
  o.warmup = Nanos(0);
  o.duration = seconds(30);
  o.cancel = &cancel;
  const LoadStats stats = RunLoad(Nowhere(), w, o);
  EXPECT_EQ(stats.ops, 0u);
}

}  // namespace
}  // namespace hyperplace::bench
