#include "net/http_metrics.h"

#include <chrono>

namespace hyperplace::net {

HttpMetrics::HttpMetrics(metrics::Registry& registry, std::string server,
                         std::vector<std::string> paths)
    : server_(std::move(server)),
      paths_(std::move(paths)),
      requests_(registry.AddCounter("hyperplace_http_requests_total",
                                    "HTTP requests served, by listener, verb and status code.",
                                    {"server", "verb", "code"})),
      latency_(registry.AddHistogram(
          "hyperplace_http_request_duration_seconds",
          "Time from a request's first byte to its response written, by listener and verb.",
          {"server", "verb"}, metrics::LatencyBuckets())) {}

std::string_view HttpMetrics::VerbOf(std::string_view path) const {
  for (const std::string& known : paths_) {
    if (path == known) return std::string_view(known).substr(1);
  }
  return "other";
}

std::string_view HttpMetrics::CodeLabel(int status) {
  switch (status) {
    case 200:
      return "200";
    case 400:
      return "400";
    case 404:
      return "404";
    case 405:
      return "405";
    case 408:
      return "408";
    case 413:
      return "413";
    case 431:
      return "431";
    case 500:
      return "500";
    case 503:
      return "503";
    default:
      return status < 500 ? "4xx" : "5xx";
  }
}

RequestObserver HttpMetrics::Observer() {
  return [this](std::string_view, std::string_view path, int status,
                std::chrono::nanoseconds elapsed) {
    const std::string_view verb = VerbOf(path);
    requests_.With({server_, verb, CodeLabel(status)}).Inc();
    latency_.With({server_, verb}).Observe(std::chrono::duration<double>(elapsed).count());
  };
}

}  // namespace hyperplace::net
