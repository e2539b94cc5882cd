// Load generation over N keep-alive connections, one thread and one request in flight each.
//
// Closed loop: each connection sends its next operation as soon as the last one completed; the
// latency of an operation is the time spent waiting for the server (for a multi-request operation
// such as filter+prioritize, the sum of its round trips).
//
// Open loop: operations are due at a fixed rate, operation i at start + i/rate (OpenLoopSchedule),
// whichever connection is free takes the next due one, and its latency is measured from when it
// was *due*, not from when it was sent. A server stall therefore shows up in every operation that
// should have been sent during it (the correction for coordinated omission that wrk2 and
// HdrHistogram describe), instead of as one slow sample.
//
// Operations are measured only after the warm-up: closed loop by when they started, open loop by
// when they were due. Errors are counted by kind and excluded from the latency histogram.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/histogram.h"
#include "bench/http_client.h"

namespace hyperplace::bench {

using Nanos = std::chrono::nanoseconds;

// The open-loop arrival schedule. Offsets are exact integer nanoseconds, floor(i·1e9/rate), so
// they never drift however long the run (no accumulated floating-point steps).
class OpenLoopSchedule {
 public:
  // rate > 0 operations per second; warm-up and measured duration >= 0.
  OpenLoopSchedule(double rate, Nanos warmup, Nanos duration);

  // When operation i is due, from the start of the run.
  Nanos Offset(std::uint64_t i) const;
  // The first operation due at or after the warm-up: operations [0, FirstMeasured()) warm up.
  std::uint64_t FirstMeasured() const { return first_measured_; }
  // The first operation due at or after warm-up + duration: it and later ones are never sent.
  std::uint64_t End() const { return end_; }
  std::uint64_t MeasuredCount() const { return end_ - first_measured_; }
  double rate() const { return rate_; }

 private:
  // The smallest i with Offset(i) >= t.
  std::uint64_t FirstAtOrAfter(Nanos t) const;

  double rate_;
  std::uint64_t first_measured_ = 0;
  std::uint64_t end_ = 0;
};

struct LoadOptions {
  int connections = 1;
  double rate = 0;  // operations per second over all connections; 0: closed loop
  Nanos warmup = std::chrono::seconds(1);
  Nanos duration = std::chrono::seconds(5);
  Nanos timeout = std::chrono::seconds(5);        // per operation (kube-scheduler's default)
  Nanos window = std::chrono::milliseconds(100);  // timeline resolution
  const std::atomic<bool>* cancel = nullptr;      // set: stop as soon as possible
};

struct OpResult {
  ErrorKind error = ErrorKind::kOk;
  std::int64_t service_ns = 0;  // time spent waiting for the server
  std::string detail;           // what went wrong (errors only)
  std::uint64_t requests = 1;   // HTTP requests this operation made
};

// Executes operations on one connection; created and used by one thread.
class Session {
 public:
  virtual ~Session() = default;
  // Performs operation `seq` (numbered across the whole run) on `conn` before `deadline`.
  virtual OpResult Run(std::uint64_t seq, HttpConnection& conn, Clock::time_point deadline) = 0;
};

// What to send. Thread-safe: NewSession is called once per connection, from that connection's
// thread.
class Workload {
 public:
  virtual ~Workload() = default;
  virtual std::unique_ptr<Session> NewSession(int connection) const = 0;
};

struct TimelinePoint {
  double t_s = 0;  // start of the window, seconds after the warm-up
  std::uint64_t ops = 0;
  std::uint64_t errors = 0;
  std::int64_t p50_ns = 0, p99_ns = 0, max_ns = 0;
};

struct LoadStats {
  Histogram latency;           // successful measured operations
  std::uint64_t ops = 0;       // successful measured operations
  std::uint64_t requests = 0;  // HTTP requests of those
  std::uint64_t errors[kErrorKindCount] = {};
  std::string error_samples[kErrorKindCount];  // the first message of each kind
  std::uint64_t warmup_ops = 0;
  // Errors during the warm-up are not in `errors`, but they are not hidden either.
  std::uint64_t warmup_errors = 0;
  std::string warmup_error_sample;
  std::vector<TimelinePoint> timeline;
  double measured_s = 0;  // length of the measured interval
  // Open loop: the latest an operation was sent after it was due. Large values mean the client
  // (not the server) could not keep up or all connections were busy.
  std::int64_t max_send_lag_ns = 0;
  std::uint64_t bytes_sent = 0, bytes_received = 0, connects = 0;
  double client_cpu_percent = 0;  // this process, over the measured interval (100 = one core)
  Clock::time_point measure_start, measure_end;

  std::uint64_t total_errors() const;
  double throughput() const { return measured_s > 0 ? static_cast<double>(ops) / measured_s : 0; }
};

// Live progress, updated as operations complete (relaxed atomics).
struct LiveCounters {
  std::atomic<std::uint64_t> ops{0};
  std::atomic<std::uint64_t> errors{0};
  std::atomic<bool> measuring{false};
};

// Runs the load to completion. `live` may be null.
LoadStats RunLoad(const Endpoint& endpoint, const Workload& workload, const LoadOptions& options,
                  LiveCounters* live = nullptr);

}  // namespace hyperplace::bench
