// A latency histogram with HDR-style log-linear buckets.
//
// Values are nanoseconds. Below 256 ns every value has its own bucket; above, each power of two
// [2^e, 2^(e+1)) is cut into 128 equal buckets, so a bucket's width is at most 1/128 of its lower
// bound. A percentile is reported as the middle of the bucket that holds the sample of that rank
// (clamped to the exact min and max), so it is within 1/256 (0.4%) of the true sample: comfortably
// inside the 1% this harness promises. The range is 0 .. 2^36 ns (68.7 s, above the 60 s a
// request could ever take here); larger values are counted in the top bucket, while max() stays
// exact. 3,840 buckets of 8 bytes: 30 KiB per histogram.
//
// Worked example: 1,234,567 ns lies in [2^20, 2^21); shift = 20 - 7 = 13, so the bucket is
// 1,234,567 >> 13 = 150, i.e. [150·8192, 151·8192) = [1,228,800, 1,236,992) ns, index
// (13 << 7) + 150 = 1814. It is reported as the bucket's middle, 1,232,895 ns, 0.14% from the true
// value.
//
// Not thread-safe: keep one per thread and Merge() them.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace hyperplace::bench {

class Histogram {
 public:
  static constexpr int kSubBucketBits = 7;
  static constexpr std::int64_t kMaxTrackable = (std::int64_t{1} << 36) - 1;  // ns, ≈68.7 s
  // The top value 2^36 - 1 has e = 35, shift 28 and index (28 << 7) + 255.
  static constexpr int kBucketCount = ((35 - kSubBucketBits) << kSubBucketBits) + 256;

  Histogram();

  // Records one value in nanoseconds (negative values count as 0).
  void Record(std::int64_t ns);
  // Adds every sample of `other`.
  void Merge(const Histogram& other);
  void Reset();

  std::uint64_t count() const { return count_; }
  // Exact smallest and largest values recorded; 0 when empty.
  std::int64_t min() const { return count_ ? min_ : 0; }
  std::int64_t max() const { return count_ ? max_ : 0; }
  double mean() const;

  // The value at quantile q in [0, 1]: the sample of rank ceil(q·count) (at least 1), to within
  // the bucket precision above; 0 when empty. q = 1 is max(), q = 0 is min().
  std::int64_t Percentile(double q) const;

  // (quantile, value) pairs for a percentile plot: quantiles 1 - 10^(-k/10) for k = 0, 1, ... while
  // that many samples exist (so the tail is as deep as the data allows), then q = 1.
  std::vector<std::pair<double, std::int64_t>> PercentileCurve() const;

  // Bucket arithmetic, exposed for tests.
  static int IndexOf(std::int64_t ns);
  static std::int64_t LowerBound(int index);
  static std::int64_t Width(int index);

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::int64_t min_ = 0;
  std::int64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace hyperplace::bench
