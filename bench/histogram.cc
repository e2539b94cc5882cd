#include "bench/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace hyperplace::bench {

Histogram::Histogram() : counts_(kBucketCount, 0) {}

int Histogram::IndexOf(std::int64_t ns) {
  std::uint64_t v = static_cast<std::uint64_t>(std::clamp<std::int64_t>(ns, 0, kMaxTrackable));
  const int e = 63 - std::countl_zero(v | 1);
  const int shift = std::max(0, e - kSubBucketBits);
  // For v < 256 shift is 0 and the index is v itself; above, (v >> shift) is in [128, 256), so
  // consecutive powers of two take consecutive runs of 128 indexes.
  return (shift << kSubBucketBits) + static_cast<int>(v >> shift);
}

std::int64_t Histogram::LowerBound(int index) {
  if (index < 256) return index;
  const int shift = (index >> kSubBucketBits) - 1;
  const std::int64_t m = index - (shift << kSubBucketBits);
  return m << shift;
}

std::int64_t Histogram::Width(int index) {
  if (index < 256) return 1;
  return std::int64_t{1} << ((index >> kSubBucketBits) - 1);
}

void Histogram::Record(std::int64_t ns) {
  if (ns < 0) ns = 0;
  ++counts_[static_cast<std::size_t>(IndexOf(ns))];
  if (count_ == 0) {
    min_ = max_ = ns;
  } else {
    min_ = std::min(min_, ns);
    max_ = std::max(max_, ns);
  }
  ++count_;
  sum_ += ns;
}

void Histogram::Merge(const Histogram& other) {
  if (other.count_ == 0) return;
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  if (count_ == 0) {
    min_ = other.min_;
    max_ = other.max_;
  } else {
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }
  count_ += other.count_;
  sum_ += other.sum_;
}

void Histogram::Reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  min_ = max_ = 0;
  sum_ = 0;
}

double Histogram::mean() const {
  return count_ ? static_cast<double>(sum_ / static_cast<long double>(count_)) : 0.0;
}

std::int64_t Histogram::Percentile(double q) const {
  if (count_ == 0) return 0;
  if (q <= 0) return min_;
  if (q >= 1) return max_;
  std::uint64_t rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (int i = 0; i < kBucketCount; ++i) {
    seen += counts_[static_cast<std::size_t>(i)];
    if (seen >= rank) {
      const std::int64_t mid = LowerBound(i) + (Width(i) - 1) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

std::vector<std::pair<double, std::int64_t>> Histogram::PercentileCurve() const {
  std::vector<std::pair<double, std::int64_t>> out;
  if (count_ == 0) return out;
  for (int k = 0;; ++k) {
    const double tail = std::pow(10.0, -k / 10.0);  // 1 - q
    if (tail * static_cast<double>(count_) < 1.0) break;
    const double q = 1.0 - tail;
    out.emplace_back(q, Percentile(q));
  }
  out.emplace_back(1.0, max_);
  return out;
}

}  // namespace hyperplace::bench
