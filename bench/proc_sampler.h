// Samples a process's CPU time (utime + stime from /proc/PID/stat) and resident set size every
// 100 ms on a background thread, so a run reports what the *server* spent, not just the
// latencies the client saw.
//
// Thread-safe: Samples() and Between() may be called while sampling runs.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench/http_client.h"

namespace hyperplace::bench {

struct ProcSample {
  Clock::time_point t;
  double cpu_s = 0;            // utime + stime, seconds (clock-tick resolution, 10 ms)
  std::int64_t rss_bytes = 0;  // resident set size
};

// Reads /proc/PID/stat now; nullopt when the process is gone.
std::optional<ProcSample> ReadProcSample(pid_t pid);
// VmHWM (peak resident set size) from /proc/PID/status, bytes; 0 when unavailable.
std::int64_t ReadPeakRss(pid_t pid);

struct ProcUsage {
  double cpu_percent = 0;  // 100 = one core busy for the whole interval
  double cpu_s = 0;        // CPU seconds spent in the interval
  std::int64_t rss_mean_bytes = 0;
  std::int64_t rss_max_bytes = 0;
  int samples = 0;
};

class ProcSampler {
 public:
  explicit ProcSampler(pid_t pid,
                       std::chrono::milliseconds interval = std::chrono::milliseconds(100));
  ~ProcSampler();
  ProcSampler(const ProcSampler&) = delete;
  ProcSampler& operator=(const ProcSampler&) = delete;

  void Start();
  void Stop();

  std::vector<ProcSample> Samples() const;
  // CPU between the samples that bracket [from, to] (the last one at or before `from`, the first
  // at or after `to`), and RSS over the samples inside. Zero usage when there are no samples.
  ProcUsage Between(Clock::time_point from, Clock::time_point to) const;
  // Largest RSS seen in any sample.
  std::int64_t MaxRss() const;
  pid_t pid() const { return pid_; }

 private:
  void Loop();

  const pid_t pid_;
  const std::chrono::milliseconds interval_;
  mutable std::mutex mu_;
  std::vector<ProcSample> samples_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace hyperplace::bench
