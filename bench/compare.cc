#include "bench/compare.h"

#include <cmath>
#include <cstdio>
#include <functional>
#include <set>

namespace hyperplace::bench {
namespace {

enum class Better { kHigher, kLower, kZero };

struct Metric {
  const char* name;
  Better better;
  // Multiplies the threshold: single extreme samples (p99.9 of a few thousand, max) move far
  // more between identical runs than medians do.
  double threshold_scale = 1.0;
};

template <typename T>
struct Accessor {
  Metric metric;
  std::function<double(const T&)> get;
};

const std::vector<Accessor<ScenarioResult>>& ScenarioMetrics() {
  static const std::vector<Accessor<ScenarioResult>> kMetrics = {
      {{"throughput", Better::kHigher}, [](const ScenarioResult& s) { return s.throughput; }},
      {{"p50_us", Better::kLower}, [](const ScenarioResult& s) { return s.latency.p50_us; }},
      {{"p90_us", Better::kLower}, [](const ScenarioResult& s) { return s.latency.p90_us; }},
      {{"p99_us", Better::kLower}, [](const ScenarioResult& s) { return s.latency.p99_us; }},
      {{"p999_us", Better::kLower, 3.0}, [](const ScenarioResult& s) { return s.latency.p999_us; }},
      {{"max_us", Better::kLower, 3.0}, [](const ScenarioResult& s) { return s.latency.max_us; }},
      {{"errors", Better::kZero},
       [](const ScenarioResult& s) { return static_cast<double>(s.total_errors()); }},
      {{"server_cpu_us_per_op", Better::kLower},
       [](const ScenarioResult& s) { return s.server_cpu_us_per_op; }},
      {{"server_rss_max_mib", Better::kLower},
       [](const ScenarioResult& s) { return s.server_rss_max_mib; }},
  };
  return kMetrics;
}

const std::vector<Accessor<MemoryResult>>& MemoryMetrics() {
  static const std::vector<Accessor<MemoryResult>> kMetrics = {
      {{"rss_after_sync_mib", Better::kLower},
       [](const MemoryResult& m) { return m.rss_after_sync_mib; }},
      {{"rss_max_mib", Better::kLower}, [](const MemoryResult& m) { return m.rss_max_mib; }},
      {{"peak_rss_mib", Better::kLower}, [](const MemoryResult& m) { return m.peak_rss_mib; }},
      {{"rss_max_full_mib", Better::kLower},
       [](const MemoryResult& m) { return m.rss_max_full_mib; }},
      {{"sync_s", Better::kLower}, [](const MemoryResult& m) { return m.sync_s; }},
  };
  return kMetrics;
}

const std::vector<Accessor<MicroResult>>& MicroMetrics() {
  static const std::vector<Accessor<MicroResult>> kMetrics = {
      {{"real_time_ns", Better::kLower}, [](const MicroResult& m) { return m.real_time_ns; }},
  };
  return kMetrics;
}

MetricDiff Judge(const std::string& subject, const Metric& metric, double base, double cur,
                 double threshold_pct) {
  MetricDiff d;
  d.subject = subject;
  d.metric = metric.name;
  d.baseline = base;
  d.current = cur;
  if (base != 0) d.change_pct = (cur - base) / std::fabs(base) * 100.0;
  switch (metric.better) {
    case Better::kZero:
      d.verdict = cur > base ? Verdict::kWorse : cur < base ? Verdict::kBetter : Verdict::kSame;
      break;
    case Better::kHigher:
    case Better::kLower: {
      if (base == 0) {
        d.verdict = cur == 0                             ? Verdict::kSame
                    : (metric.better == Better::kHigher) ? Verdict::kBetter
                                                         : Verdict::kWorse;
        break;
      }
      const double signed_gain = metric.better == Better::kHigher ? d.change_pct : -d.change_pct;
      const double threshold = threshold_pct * metric.threshold_scale;
      d.verdict = signed_gain > threshold    ? Verdict::kBetter
                  : signed_gain < -threshold ? Verdict::kWorse
                                             : Verdict::kSame;
      break;
    }
  }
  return d;
}

template <typename T>
void CompareList(const std::vector<T>& base, const std::vector<T>& cur,
                 const std::function<std::string(const T&)>& key, const std::string& prefix,
                 const std::vector<Accessor<T>>& metrics, double threshold_pct,
                 std::vector<MetricDiff>& out) {
  std::set<std::string> seen;
  for (const T& c : cur) {
    const std::string k = key(c);
    if (k.empty() || !seen.insert(k).second) continue;
    const T* b = nullptr;
    for (const T& x : base) {
      if (key(x) == k) b = &x;
    }
    if (b == nullptr) {
      MetricDiff d;
      d.subject = prefix + k;
      d.verdict = Verdict::kOnlyCurrent;
      out.push_back(d);
      continue;
    }
    for (const Accessor<T>& a : metrics) {
      out.push_back(Judge(prefix + k, a.metric, a.get(*b), a.get(c), threshold_pct));
    }
  }
  for (const T& b : base) {
    const std::string k = key(b);
    if (k.empty() || !seen.insert(k).second) continue;
    MetricDiff d;
    d.subject = prefix + k;
    d.verdict = Verdict::kOnlyBaseline;
    out.push_back(d);
  }
}

}  // namespace

std::string_view VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kSame:
      return "same";
    case Verdict::kBetter:
      return "better";
    case Verdict::kWorse:
      return "WORSE";
    case Verdict::kOnlyBaseline:
      return "gone";
    case Verdict::kOnlyCurrent:
      return "new";
  }
  return "?";
}

std::vector<MetricDiff> Compare(const Results& baseline, const Results& current,
                                double threshold_pct) {
  std::vector<MetricDiff> out;
  // Skipped scenarios have no figures: they compare as absent.
  std::vector<ScenarioResult> base_run, cur_run;
  for (const ScenarioResult& s : baseline.scenarios) {
    if (!s.skipped) base_run.push_back(s);
  }
  for (const ScenarioResult& s : current.scenarios) {
    if (!s.skipped) cur_run.push_back(s);
  }
  CompareList<ScenarioResult>(
      base_run, cur_run, [](const ScenarioResult& s) { return s.id; }, "", ScenarioMetrics(),
      threshold_pct, out);
  CompareList<MemoryResult>(
      baseline.memory, current.memory, [](const MemoryResult& m) { return m.id; },
      "memory:", MemoryMetrics(), threshold_pct, out);
  CompareList<MicroResult>(
      baseline.micro, current.micro, [](const MicroResult& m) { return m.name; },
      "micro:", MicroMetrics(), threshold_pct, out);
  return out;
}

std::string FormatComparison(const std::vector<MetricDiff>& diffs, bool all) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-56s %-22s %12s %12s %9s  %s\n", "subject", "metric",
                "baseline", "current", "change", "verdict");
  out += line;
  int shown = 0, worse = 0, better = 0;
  for (const MetricDiff& d : diffs) {
    if (d.verdict == Verdict::kWorse) ++worse;
    if (d.verdict == Verdict::kBetter) ++better;
    if (!all && d.verdict == Verdict::kSame) continue;
    ++shown;
    if (d.verdict == Verdict::kOnlyBaseline || d.verdict == Verdict::kOnlyCurrent) {
      std::snprintf(line, sizeof line, "%-56s %-22s %12s %12s %9s  %s\n", d.subject.c_str(), "-",
                    "-", "-", "-", std::string(VerdictName(d.verdict)).c_str());
    } else {
      std::snprintf(line, sizeof line, "%-56s %-22s %12.6g %12.6g %+8.1f%%  %s\n",
                    d.subject.c_str(), d.metric.c_str(), d.baseline, d.current, d.change_pct,
                    std::string(VerdictName(d.verdict)).c_str());
    }
    out += line;
  }
  std::snprintf(line, sizeof line, "%d metrics worse, %d better%s\n", worse, better,
                all || shown > 0 ? "" : " (everything else within the threshold)");
  out += line;
  return out;
}

}  // namespace hyperplace::bench
