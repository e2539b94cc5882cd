#include "net/http_metrics.h"

#include <chrono>
#include <memory>
#include <mutex>
#include <utility>

#include "common/log.h"

namespace hyperplace::net {

HttpMetrics::HttpMetrics(metrics::Registry& registry, std::string server,
                         std::vector<std::string> paths)
    : registry_(registry),
      server_(std::move(server)),
      paths_(std::move(paths)),
      requests_(registry.AddCounter("hyperplace_http_requests_total",
                                    "HTTP requests served, by listener, verb and status code.",
                                    {"server", "verb", "code"})),
      latency_(registry.AddHistogram(
          "hyperplace_http_request_duration_seconds",
          "Time from a request's first byte to its response written, by listener and verb.",
          {"server", "verb"}, metrics::LatencyBuckets())),
      request_children_(
          std::make_unique<std::atomic<metrics::Counter*>[]>((paths_.size() + 1) * kCodeCount)),
      latency_children_(std::make_unique<std::atomic<metrics::Histogram*>[]>(paths_.size() + 1)) {
  for (const std::string& path : paths_) verbs_.push_back(std::string_view(path).substr(1));
  verbs_.push_back("other");
}

std::size_t HttpMetrics::VerbIndex(std::string_view path) const {
  for (std::size_t i = 0; i < paths_.size(); ++i) {
    if (path == paths_[i]) return i;
  }
  return paths_.size();
}

std::size_t HttpMetrics::CodeIndex(int status) {
  static constexpr int kCounted[] = {200, 400, 404, 405, 408, 413, 431, 500, 503};
  static_assert(std::size(kCounted) + 2 == kCodeCount);
  for (std::size_t i = 0; i < std::size(kCounted); ++i) {
    if (status == kCounted[i]) return i;
  }
  return status < 500 ? kCodeCount - 2 : kCodeCount - 1;
}

void HttpMetrics::Watch(const HttpServer& server) {
  const ServerLimits& l = server.limits();
  auto& limits = registry_.AddGauge(
      "hyperplace_http_limit",
      "Configured limits of each HTTP listener (bytes, seconds or counts; 0: no limit).",
      {"server", "limit"});
  const auto seconds = [](std::chrono::milliseconds d) { return d.count() / 1000.0; };
  const std::pair<std::string_view, double> values[] = {
      {"max_body_bytes", static_cast<double>(l.max_body_bytes)},
      {"max_header_bytes", static_cast<double>(l.max_header_bytes)},
      {"max_reply_bytes", static_cast<double>(l.max_reply_bytes)},
      {"keep_buffer_bytes", static_cast<double>(l.keep_buffer_bytes)},
      {"handshake_timeout_seconds", seconds(l.handshake_timeout)},
      {"read_timeout_seconds", seconds(l.read_timeout)},
      {"write_timeout_seconds", seconds(l.write_timeout)},
      {"idle_timeout_seconds", seconds(l.idle_timeout)},
      {"max_keepalive_requests", static_cast<double>(l.max_keepalive_requests)},
      {"threads", static_cast<double>(l.threads)},
      {"max_connections", static_cast<double>(l.max_connections)},
      {"max_in_flight", static_cast<double>(l.max_in_flight)},
  };
  for (const auto& [name, value] : values) limits.With({server_, name}).Set(value);

  metrics::Gauge* open =
      &registry_
           .AddGauge("hyperplace_http_open_connections",
                     "Connections open on each HTTP listener, idle included.", {"server"})
           .With({server_});
  metrics::Gauge* in_flight =
      &registry_
           .AddGauge("hyperplace_http_in_flight_requests",
                     "Requests read and waiting for or running in a handler.", {"server"})
           .With({server_});
  metrics::Counter* refused =
      &registry_
           .AddCounter("hyperplace_http_refused_connections_total",
                       "Connections refused at once because max_connections were open.", {"server"})
           .With({server_});
  metrics::Counter* shed =
      &registry_
           .AddCounter("hyperplace_http_shed_requests_total",
                       "Requests answered 503 because max_in_flight requests were in flight.",
                       {"server"})
           .With({server_});
  // Counters only go up: add what the server counted since the last render.
  struct Seen {
    std::mutex mu;
    std::uint64_t refused = 0;
    std::uint64_t shed = 0;
  };
  registry_.AddCollector(
      [stats = server.stats(), seen = std::make_shared<Seen>(), open, in_flight, refused, shed] {
        open->Set(stats->open_connections.load());
        in_flight->Set(stats->in_flight.load());
        std::lock_guard lock(seen->mu);
        const std::uint64_t r = stats->refused_connections.load();
        const std::uint64_t s = stats->shed_requests.load();
        if (r > seen->refused) refused->Increment(static_cast<double>(r - seen->refused));
        if (s > seen->shed) shed->Increment(static_cast<double>(s - seen->shed));
        seen->refused = r;
        seen->shed = s;
      });
}

std::function<void(std::string_view, std::string_view)> HttpMetrics::EventLog(int per_second) {
  auto& events = registry_.AddCounter("hyperplace_http_events_total",
                                      "Server-side HTTP events (bad requests, timeouts, TLS "
                                      "handshake failures, overload), logged at a bounded rate.",
                                      {"server", "event"});
  struct Window {
    std::mutex mu;
    std::chrono::steady_clock::time_point start;
    int logged = 0;
    std::uint64_t left_out = 0;
  };
  return [this, &events, per_second, window = std::make_shared<Window>()](std::string_view event,
                                                                          std::string_view detail) {
    events.With({server_, event}).Increment();
    std::uint64_t left_out = 0;
    {
      std::lock_guard lock(window->mu);
      const auto now = std::chrono::steady_clock::now();
      if (now - window->start >= std::chrono::seconds(1)) {
        window->start = now;
        window->logged = 0;
      }
      if (window->logged >= per_second) {
        ++window->left_out;
        return;
      }
      ++window->logged;
      left_out = std::exchange(window->left_out, 0);
    }
    HP_LOG(kWarn, "http",
           {{"server", server_}, {"event", event}, {"detail", detail}, {"left_out", left_out}});
  };
}

RequestObserver HttpMetrics::Observer() {
  return [this](std::string_view, std::string_view path, int status,
                std::chrono::nanoseconds elapsed) {
    const std::size_t verb = VerbIndex(path);
    const std::size_t code = CodeIndex(status);
    requests_
        .Cached(request_children_[verb * kCodeCount + code], {server_, verbs_[verb], kCodes[code]})
        .Increment();
    latency_.Cached(latency_children_[verb], {server_, verbs_[verb]})
        .Observe(std::chrono::duration<double>(elapsed).count());
  };
}

}  // namespace hyperplace::net
