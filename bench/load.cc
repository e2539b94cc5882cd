#include "bench/load.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <thread>

namespace hyperplace::bench {
namespace {

// steady_clock is CLOCK_MONOTONIC on Linux; sleeping on an absolute time avoids drift.
void SleepUntil(Clock::time_point t) {
  const auto ns = std::chrono::duration_cast<Nanos>(t.time_since_epoch()).count();
  timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// One connection's results; merged at the end.
struct ThreadStats {
  Histogram latency;
  std::uint64_t ops = 0, requests = 0, warmup_ops = 0, warmup_errors = 0;
  std::string warmup_error_sample;
  std::uint64_t errors[kErrorKindCount] = {};
  std::string error_samples[kErrorKindCount];
  std::vector<Histogram> windows;
  std::vector<std::uint64_t> window_errors;
  std::int64_t max_send_lag_ns = 0;
  Clock::time_point last_completion{};

  void Window(std::size_t w, std::int64_t latency_ns, bool error) {
    if (w >= windows.size()) {
      windows.resize(w + 1);
      window_errors.resize(w + 1, 0);
    }
    if (error) {
      ++window_errors[w];
    } else {
      windows[w].Record(latency_ns);
    }
  }
};

}  // namespace

OpenLoopSchedule::OpenLoopSchedule(double rate, Nanos warmup, Nanos duration) : rate_(rate) {
  first_measured_ = FirstAtOrAfter(warmup);
  end_ = FirstAtOrAfter(warmup + duration);
}

Nanos OpenLoopSchedule::Offset(std::uint64_t i) const {
  const long double ns = static_cast<long double>(i) * 1e9L / static_cast<long double>(rate_);
  return Nanos(static_cast<std::int64_t>(std::floor(ns)));
}

std::uint64_t OpenLoopSchedule::FirstAtOrAfter(Nanos t) const {
  if (t.count() <= 0) return 0;
  const long double guess =
      std::ceil(static_cast<long double>(t.count()) * static_cast<long double>(rate_) / 1e9L);
  std::uint64_t i = static_cast<std::uint64_t>(guess);
  // Floating-point rounding can leave the guess one off either way; settle it exactly.
  while (i > 0 && Offset(i - 1) >= t) --i;
  while (Offset(i) < t) ++i;
  return i;
}

std::uint64_t LoadStats::total_errors() const {
  std::uint64_t n = 0;
  for (int k = 1; k < kErrorKindCount; ++k) n += errors[k];
  return n;
}

LoadStats RunLoad(const Endpoint& endpoint, const Workload& workload, const LoadOptions& options,
                  LiveCounters* live) {
  const int connections = std::max(1, options.connections);
  const bool open_loop = options.rate > 0;
  const OpenLoopSchedule schedule(open_loop ? options.rate : 1.0, options.warmup, options.duration);
  const std::int64_t window_ns = std::max<std::int64_t>(1000000, options.window.count());

  std::vector<ThreadStats> stats(static_cast<std::size_t>(connections));
  std::vector<std::unique_ptr<HttpConnection>> conns;
  for (int c = 0; c < connections; ++c) conns.push_back(std::make_unique<HttpConnection>(endpoint));

  std::atomic<std::uint64_t> next_op{0};
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  Clock::time_point start{};
  Clock::time_point measure_start{}, measure_end{};
  auto cancelled = [&] {
    return options.cancel != nullptr && options.cancel->load(std::memory_order_relaxed);
  };

  auto body = [&](int c) {
    ThreadStats& st = stats[static_cast<std::size_t>(c)];
    HttpConnection& conn = *conns[static_cast<std::size_t>(c)];
    // Sleeps end on time: the default 50 µs timer slack would be added to every open-loop latency.
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    std::unique_ptr<Session> session = workload.NewSession(c);
    // Connect before the clock starts; a failure here is retried (and counted) in the loop.
    std::string ignored;
    (void)conn.Connect(Clock::now() + options.timeout, &ignored);
    ready.fetch_add(1);
    while (!go.load(std::memory_order_acquire)) std::this_thread::yield();

    std::uint64_t closed_seq = static_cast<std::uint64_t>(c);
    for (;;) {
      if (cancelled()) break;
      std::uint64_t seq;
      Clock::time_point due;
      if (open_loop) {
        seq = next_op.fetch_add(1, std::memory_order_relaxed);
        if (seq >= schedule.End()) break;
        due = start + schedule.Offset(seq);
        if (Clock::now() < due) SleepUntil(due);
      } else {
        due = Clock::now();
        if (due >= measure_end) break;
        seq = closed_seq;
        closed_seq += static_cast<std::uint64_t>(connections);
      }
      const Clock::time_point sent = Clock::now();
      OpResult r = session->Run(seq, conn, sent + options.timeout);
      const Clock::time_point done = Clock::now();
      const bool measured = open_loop ? seq >= schedule.FirstMeasured() : due >= measure_start;
      // Open loop: the wait for a free connection (sent - due) is part of the latency.
      const std::int64_t latency =
          r.service_ns + (open_loop ? std::chrono::duration_cast<Nanos>(sent - due).count() : 0);
      if (open_loop) {
        st.max_send_lag_ns = std::max<std::int64_t>(st.max_send_lag_ns, (sent - due).count());
      }
      if (!measured) {
        if (r.error == ErrorKind::kOk) {
          ++st.warmup_ops;
        } else if (st.warmup_errors++ == 0) {
          st.warmup_error_sample = std::string(ErrorKindName(r.error)) + ": " + r.detail;
        }
      } else {
        const std::size_t w = static_cast<std::size_t>(
            std::max<std::int64_t>(0, (due - measure_start).count()) / window_ns);
        const int k = static_cast<int>(r.error);
        if (r.error == ErrorKind::kOk) {
          st.latency.Record(latency);
          ++st.ops;
          st.requests += r.requests;
        } else {
          if (st.errors[k]++ == 0) st.error_samples[k] = r.detail;
        }
        st.Window(w, latency, r.error != ErrorKind::kOk);
        st.last_completion = std::max(st.last_completion, done);
      }
      if (live != nullptr) {
        if (r.error == ErrorKind::kOk) {
          live->ops.fetch_add(1, std::memory_order_relaxed);
        } else {
          live->errors.fetch_add(1, std::memory_order_relaxed);
        }
      }
      if (r.error == ErrorKind::kConnect) {
        // The server is not there: do not spin; the schedule keeps running in open loop.
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  };

  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) threads.emplace_back(body, c);
  while (ready.load() < connections) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  start = Clock::now() + std::chrono::milliseconds(5);
  measure_start = start + options.warmup;
  measure_end = measure_start + options.duration;
  go.store(true, std::memory_order_release);

  SleepUntil(measure_start);
  if (live != nullptr) live->measuring.store(true);
  const double cpu0 = CpuSeconds();
  const Clock::time_point wall0 = Clock::now();
  for (auto& t : threads) t.join();
  const double cpu1 = CpuSeconds();
  const Clock::time_point wall1 = Clock::now();
  if (live != nullptr) live->measuring.store(false);

  LoadStats out;
  out.measure_start = measure_start;
  out.measure_end = measure_end;
  std::vector<Histogram> windows;
  std::vector<std::uint64_t> window_errors;
  Clock::time_point last_completion = measure_start;
  for (std::size_t c = 0; c < stats.size(); ++c) {
    ThreadStats& st = stats[c];
    out.latency.Merge(st.latency);
    out.ops += st.ops;
    out.requests += st.requests;
    out.warmup_ops += st.warmup_ops;
    out.warmup_errors += st.warmup_errors;
    if (out.warmup_error_sample.empty()) out.warmup_error_sample = st.warmup_error_sample;
    for (int k = 0; k < kErrorKindCount; ++k) {
      out.errors[k] += st.errors[k];
      if (out.error_samples[k].empty()) out.error_samples[k] = st.error_samples[k];
    }
    out.max_send_lag_ns = std::max(out.max_send_lag_ns, st.max_send_lag_ns);
    if (st.windows.size() > windows.size()) {
      windows.resize(st.windows.size());
      window_errors.resize(st.windows.size(), 0);
    }
    for (std::size_t w = 0; w < st.windows.size(); ++w) {
      windows[w].Merge(st.windows[w]);
      window_errors[w] += st.window_errors[w];
    }
    last_completion = std::max(last_completion, st.last_completion);
    out.bytes_sent += conns[c]->bytes_sent();
    out.bytes_received += conns[c]->bytes_received();
    out.connects += conns[c]->connects();
  }
  const double window_s = static_cast<double>(window_ns) / 1e9;
  for (std::size_t w = 0; w < windows.size(); ++w) {
    TimelinePoint p;
    p.t_s = static_cast<double>(w) * window_s;
    p.ops = windows[w].count();
    p.errors = window_errors[w];
    p.p50_ns = windows[w].Percentile(0.5);
    p.p99_ns = windows[w].Percentile(0.99);
    p.max_ns = windows[w].max();
    out.timeline.push_back(p);
  }
  const double nominal = std::chrono::duration<double>(options.duration).count();
  if (open_loop) {
    // A server that falls behind finishes the scheduled work late: count the time it took.
    out.measured_s =
        std::max(nominal, std::chrono::duration<double>(last_completion - measure_start).count());
  } else {
    out.measured_s = nominal;
  }
  if (cancelled()) {
    out.measured_s = std::max(
        1e-3, std::min(out.measured_s,
                       std::chrono::duration<double>(last_completion - measure_start).count()));
  }
  const double wall = std::chrono::duration<double>(wall1 - wall0).count();
  out.client_cpu_percent = wall > 0 ? 100.0 * (cpu1 - cpu0) / wall : 0;
  return out;
}

}  // namespace hyperplace::bench
