#include "bench/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace hyperplace::bench {
namespace {

constexpr double kQuantiles[] = {0.0, 0.001, 0.01, 0.1,   0.25,  0.5,    0.75,
                                 0.9, 0.95,  0.99, 0.995, 0.999, 0.9999, 1.0};

// The reference definition the histogram promises: the sample of rank ceil(q·n), at least 1.
std::int64_t Reference(const std::vector<std::int64_t>& sorted, double q) {
  if (q <= 0) return sorted.front();
  if (q >= 1) return sorted.back();
  std::size_t rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

void ExpectWithinOnePercent(const std::vector<std::int64_t>& values) {
  Histogram h;
  for (std::int64_t v : values) h.Record(v);
  std::vector<std::int64_t> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  for (double q : kQuantiles) {
    const double want = static_cast<double>(Reference(sorted, q));
    const double got = static_cast<double>(h.Percentile(q));
    // Values below 256 ns are exact; above, the bucket middle is within 1/256 of any member.
    EXPECT_LE(std::fabs(got - want), want * 0.01)
        << "q=" << q << " want " << want << " got " << got;
  }
  EXPECT_EQ(h.min(), sorted.front());
  EXPECT_EQ(h.max(), sorted.back());
  EXPECT_EQ(h.count(), values.size());
}

TEST(HistogramTest, LogUniformLatenciesFrom1usTo60sMatchSortedReference) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> exponent(3.0, std::log10(60e9));  // 1 µs .. 60 s
  std::vector<std::int64_t> values;
  for (int i = 0; i < 200000; ++i) {
    values.push_back(static_cast<std::int64_t>(std::pow(10.0, exponent(rng))));
  }
  ExpectWithinOnePercent(values);
}

TEST(HistogramTest, ServerLikeLatenciesWithATailMatchSortedReference) {
  // Mostly ~300 µs with a lognormal spread, 0.5% stalls of 5..50 ms.
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> body(std::log(300e3), 0.3);
  std::uniform_real_distribution<double> stall(5e6, 50e6);
  std::uniform_real_distribution<double> coin(0, 1);
  std::vector<std::int64_t> values;
  for (int i = 0; i < 100000; ++i) {
    values.push_back(static_cast<std::int64_t>(coin(rng) < 0.005 ? stall(rng) : body(rng)));
  }
  ExpectWithinOnePercent(values);
}

TEST(HistogramTest, SmallAndRepeatedValuesAreExact) {
  std::vector<std::int64_t> values = {0, 1, 1, 2, 3, 100, 255, 255, 255};
  Histogram h;
  for (std::int64_t v : values) h.Record(v);
  // Sorted: 0 1 1 2 3 100 255 255 255.
  EXPECT_EQ(h.Percentile(0.5), 3);    // rank ceil(4.5) = 5
  EXPECT_EQ(h.Percentile(0.6), 100);  // rank ceil(5.4) = 6
  EXPECT_EQ(h.Percentile(0.1), 0);    // rank ceil(0.9) = 1
  EXPECT_EQ(h.Percentile(0.12), 1);   // rank ceil(1.08) = 2
  EXPECT_EQ(h.Percentile(1.0), 255);
  EXPECT_EQ(h.min(), 0);
}

TEST(HistogramTest, BucketsCoverEveryValueWithRelativeWidthAtMostOneIn128) {
  std::mt19937_64 rng(1);
  std::int64_t previous_index = -1;
  // Walk a dense range exactly, then random values up to the top of the range.
  for (std::int64_t v = 0; v < 100000; ++v) {
    const int i = Histogram::IndexOf(v);
    ASSERT_GE(i, previous_index);
    ASSERT_LE(i, previous_index + 1);  // consecutive values never skip a bucket
    previous_index = i;
    ASSERT_LE(Histogram::LowerBound(i), v);
    ASSERT_LT(v, Histogram::LowerBound(i) + Histogram::Width(i));
  }
  for (int n = 0; n < 100000; ++n) {
    const std::int64_t v = static_cast<std::int64_t>(rng() % Histogram::kMaxTrackable);
    const int i = Histogram::IndexOf(v);
    ASSERT_LT(i, Histogram::kBucketCount);
    ASSERT_LE(Histogram::LowerBound(i), v);
    ASSERT_LT(v, Histogram::LowerBound(i) + Histogram::Width(i));
    if (v >= 256) {
      ASSERT_LE(static_cast<double>(Histogram::Width(i)) / Histogram::LowerBound(i), 1.0 / 128);
    }
  }
  EXPECT_EQ(Histogram::IndexOf(Histogram::kMaxTrackable), Histogram::kBucketCount - 1);
}

TEST(HistogramTest, WorkedExampleFromTheHeader) {
  // 1,234,567 ns: shift 13, bucket [150·8192, 151·8192), index (13 << 7) + 150.
  EXPECT_EQ(Histogram::IndexOf(1234567), 1814);
  EXPECT_EQ(Histogram::LowerBound(1814), 1228800);
  EXPECT_EQ(Histogram::Width(1814), 8192);
  Histogram h;
  h.Record(1000000);
  h.Record(1234567);
  h.Record(9000000);
  EXPECT_EQ(h.Percentile(0.5), 1232895);  // rank 2: the bucket's middle, 0.14% off
  Histogram one;
  one.Record(1234567);
  EXPECT_EQ(one.Percentile(0.5), 1234567);  // the middle is clamped to the exact min and max
}

TEST(HistogramTest, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 rng(3);
  std::exponential_distribution<double> exp(1.0 / 2e6);
  Histogram a, b, all;
  for (int i = 0; i < 50000; ++i) {
    const auto v = static_cast<std::int64_t>(exp(rng));
    (i % 3 == 0 ? a : b).Record(v);
    all.Record(v);
  }
  Histogram merged;
  merged.Merge(a);
  merged.Merge(b);
  merged.Merge(Histogram());  // an empty one changes nothing
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_DOUBLE_EQ(merged.mean(), all.mean());
  for (double q : kQuantiles) EXPECT_EQ(merged.Percentile(q), all.Percentile(q)) << q;
}

TEST(HistogramTest, MinAndMaxAreExactAndOutOfRangeValuesAreKept) {
  Histogram h;
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.Percentile(0.99), 0);
  h.Record(5000);
  h.Record(-7);                            // counted as 0
  h.Record(Histogram::kMaxTrackable * 3);  // beyond 68.7 s: top bucket, exact max
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), Histogram::kMaxTrackable * 3);
  EXPECT_EQ(h.Percentile(1.0), Histogram::kMaxTrackable * 3);
  EXPECT_EQ(h.count(), 3u);
  h.Reset();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.max(), 0);
}

TEST(HistogramTest, PercentileCurveIsMonotonicAndEndsAtMax) {
  Histogram h;
  for (int i = 1; i <= 10000; ++i) h.Record(i * 1000);
  auto curve = h.PercentileCurve();
  ASSERT_GE(curve.size(), 5u);
  EXPECT_EQ(curve.front().first, 0.0);
  EXPECT_EQ(curve.back().first, 1.0);
  EXPECT_EQ(curve.back().second, h.max());
  for (std::size_t i = 1; i < curve.size(); ++i) {
    EXPECT_GT(curve[i].first, curve[i - 1].first);
    EXPECT_GE(curve[i].second, curve[i - 1].second);
  }
  // The tail goes as deep as 10,000 samples allow: q = 1 - 10^-4 = 99.99%.
  EXPECT_NEAR(curve[curve.size() - 2].first, 0.9999, 1e-9);
}

}  // namespace
}  // namespace hyperplace::bench
