// `hpbench --compare BASELINE.json`: the differences between two result files, per scenario (and
// memory run, and micro-benchmark) and metric, each judged better, worse or the same against a
// relative threshold in the metric's own direction (more throughput is better, less latency is).
#pragma once

#include <string>
#include <vector>

#include "bench/report.h"

namespace hyperplace::bench {

enum class Verdict { kSame, kBetter, kWorse, kOnlyBaseline, kOnlyCurrent };
std::string_view VerdictName(Verdict v);  // "same", "better", "WORSE", "gone", "new"

struct MetricDiff {
  std::string subject;  // scenario id, "memory:<id>" or "micro:<name>"
  std::string metric;   // "throughput", "p99_us", ...
  double baseline = 0;
  double current = 0;
  double change_pct = 0;  // (current - baseline) / baseline · 100; 0 when baseline is 0
  Verdict verdict = Verdict::kSame;
};

// Every metric of every subject present in either file, in the current file's order (then the
// subjects only the baseline has). A metric moves "better" or "worse" when it changed by more than
// `threshold_pct` percent in that direction (three times that for p99.9 and max, which single
// samples decide); error counts are worse on any increase.
std::vector<MetricDiff> Compare(const Results& baseline, const Results& current,
                                double threshold_pct = 10.0);

// A table of the differences; with `all` false, only the metrics that are not "same".
std::string FormatComparison(const std::vector<MetricDiff>& diffs, bool all);

}  // namespace hyperplace::bench
