// hpbench's results: the model, its JSON form (versioned schema), the DESIGN §5 target checks
// and the terminal summary.
//
// JSON schema "hyperplace-bench" version 1 (a reader refuses any other version):
//   {"schema":"hyperplace-bench","schema_version":1,"tool":"hpbench","created":"<UTC>",
//    "label":"<git describe>","host":{...},"settings":{...},
//    "scenarios":[{id, target, face, verb, mode, load, nodes, pods_cached, connections, rate,
//                  warmup_s, duration_s, measured_s, ops, requests, warmup_ops,
//                  warmup_errors, warmup_error_sample, throughput,
//                  latency_us:{min,mean,p50,p90,p99,p999,max}, errors:{kind:n},
//                  error_samples:{kind:text}, request_bytes, response_bytes, max_send_lag_us,
//                  server:{cpu_percent, cpu_us_per_op, rss_mean_mib, rss_max_mib},
//                  client:{cpu_percent}, percentiles:[[q,us]...],
//                  timeline:[[t_s,ops,errors,p50_us,p99_us,max_us]...], skipped, note}],
//    "memory":[{id, nodes, pods_served, nodes_cached, pods_cached, sync_s, rss_after_sync_mib,
//               rss_max_mib, peak_rss_mib, rss_max_full_mib, note}],
//    "micro":[{name, real_time_ns, cpu_time_ns, bytes_per_second, iterations}],
//    "targets":[{name, target, measured, pass, value, limit, unit, detail}]}
// Latencies are microseconds, sizes bytes unless the name says MiB, times seconds.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "bench/histogram.h"
#include "bench/load.h"
#include "common/status.h"

namespace hyperplace::bench {

inline constexpr const char* kSchemaName = "hyperplace-bench";
inline constexpr int kSchemaVersion = 1;

struct LatencySummary {
  double min_us = 0, mean_us = 0, p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
  static LatencySummary Of(const Histogram& h);
};

struct TimelineRow {
  double t_s = 0;
  std::uint64_t ops = 0, errors = 0;
  double p50_us = 0, p99_us = 0, max_us = 0;
};

struct ScenarioResult {
  std::string id;      // stable across runs: what --compare matches on
  std::string target;  // "hyperplace" or "floor"
  std::string face;    // "extender" or "webhook"
  std::string verb;    // "filter", "prioritize", "filter+prioritize", "bind", "mutate"
  std::string mode;    // "names", "full", or empty
  std::string load;    // "closed" or "open"
  int nodes = 0;
  std::int64_t pods_cached = 0;
  int connections = 1;
  double rate = 0;  // open loop: operations per second asked for
  double warmup_s = 0, duration_s = 0, measured_s = 0;
  std::uint64_t ops = 0, requests = 0, warmup_ops = 0;
  std::uint64_t warmup_errors = 0;  // not in `errors`; shown so a bad start is not hidden
  std::string warmup_error_sample;
  double throughput = 0;  // successful operations per second
  LatencySummary latency;
  std::map<std::string, std::uint64_t> errors;  // every kind, zeros included
  std::map<std::string, std::string> error_samples;
  double request_bytes = 0, response_bytes = 0;  // per operation
  double max_send_lag_us = 0;
  double server_cpu_percent = 0, server_cpu_us_per_op = 0;
  double server_rss_mean_mib = 0, server_rss_max_mib = 0;
  double client_cpu_percent = 0;
  std::vector<std::pair<double, double>> percentiles;  // (quantile, µs)
  std::vector<TimelineRow> timeline;
  bool skipped = false;
  std::string note;

  std::uint64_t total_errors() const;
};

struct MemoryResult {
  std::string id;
  int nodes = 0;
  std::int64_t pods_served = 0;                    // by the fake API server
  std::int64_t nodes_cached = 0, pods_cached = 0;  // hyperplace's own gauges after sync
  double sync_s = 0;                               // start to /readyz 200
  double rss_after_sync_mib = 0;                   // settled, a second after /readyz
  double rss_max_mib = 0;   // largest sample from readiness through the names-mode loads
  double peak_rss_mib = 0;  // VmHWM at that point: includes the initial list
  // Largest sample during the full-node scenarios that follow (request and reply buffers of
  // tens of MB stay with the server's workers); the binds come after them.
  double rss_max_full_mib = 0;
  std::string note;
};

struct MicroResult {
  std::string name;  // Google Benchmark's, e.g. "BM_DecodeArgsFull/5000"
  double real_time_ns = 0, cpu_time_ns = 0;
  double bytes_per_second = 0;
  std::int64_t iterations = 0;
};

struct TargetCheck {
  std::string name;    // "names-mode filter+prioritize p99, 5000 nodes, 1 connection"
  std::string target;  // "< 1 ms"
  bool measured = false;
  bool pass = false;
  double value = 0, limit = 0;
  std::string unit;
  std::string detail;
  // The same figure for the floor (the HTTP floor server, or the fastest parse) measured in the
  // same run, as text ("p99 3.86ms"); empty when the target has none.
  std::string floor;
};

struct HostInfo {
  int cpus = 0;
  std::string cpu_model;
  std::string kernel;
  double load1_start = 0, load5_start = 0, load15_start = 0, load1_end = 0;
};

struct Results {
  std::string created;  // UTC, ISO 8601
  std::string label;    // free text (run.sh: git describe)
  HostInfo host;
  std::map<std::string, std::string> settings;  // the options the run used
  std::vector<ScenarioResult> scenarios;
  std::vector<MemoryResult> memory;
  std::vector<MicroResult> micro;
  std::vector<TargetCheck> targets;

  const ScenarioResult* FindScenario(const std::string& id) const;
  const MicroResult* FindMicro(const std::string& name) const;
};

// Fills a scenario's measured fields from a run (id, target and the other labels are left alone).
void FillFromLoad(const LoadStats& stats, ScenarioResult& out);

std::string ToJson(const Results& results);
StatusOr<Results> FromJson(const std::string& text);
StatusOr<Results> LoadResultsFile(const std::string& path);
Status SaveTextFile(const std::string& path, const std::string& text);

// Google Benchmark's --benchmark_out JSON: the "iteration" runs of every benchmark.
StatusOr<std::vector<MicroResult>> ParseGoogleBenchmarkJson(const std::string& text);

// Empty when no scenario had an error (measured or during its warm-up); else one line per
// scenario with errors: its id, the counts by kind and the first message.
std::string FailureSummary(const Results& results);

// DESIGN §5 checks that can be computed from `results` (unmeasured ones say why).
std::vector<TargetCheck> EvaluateTargets(const Results& results);

// The scenario ids EvaluateTargets reads.
std::string ScenarioId(const std::string& target, const std::string& face, const std::string& verb,
                       const std::string& mode, int nodes, int connections, double rate);

HostInfo ReadHostInfo();
std::string UtcNow();

// "87µs", "1.23ms", "4.5s".
std::string FormatMicros(double us);
// A fixed-width table of every scenario, then memory, targets and micro-benchmarks.
std::string FormatSummary(const Results& results);

// The targets as a Markdown table for the README: when, where and under what load the run was
// made, the command, and for each target its figure next to its floor and its limit. `command` is
// what produced the results; `html_link` (may be empty) the report to link.
std::string FormatMarkdown(const Results& results, const std::string& command,
                           const std::string& html_link);

}  // namespace hyperplace::bench
