// Request metrics for one HTTP listener, shared by the extender and the webhook:
//   hyperplace_http_requests_total{server,verb,code}
//   hyperplace_http_request_duration_seconds{server,verb}
// and, once Watch()ed, its limits and load:
//   hyperplace_http_limit{server,limit}            every ServerLimits field (bytes, seconds,
//   counts) hyperplace_http_open_connections{server} hyperplace_http_in_flight_requests{server}
//   hyperplace_http_refused_connections_total{server}   (max_connections were open)
//   hyperplace_http_shed_requests_total{server}         (max_in_flight were in flight: 503)
// Labels stay bounded whatever clients send: paths outside `paths` count as verb "other", and
// status codes outside the ones the server produces as "4xx"/"5xx".
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/metrics.h"
#include "net/http_server.h"

namespace hyperplace::net {

class HttpMetrics {
 public:
  // `paths`: the routes served ("/filter", ...); the verb label is the path without its '/'.
  HttpMetrics(metrics::Registry& registry, std::string server, std::vector<std::string> paths);

  // An observer for ServerOptions::observer; `this` must outlive the server.
  RequestObserver Observer();

  // Reports the server's limits, and its live counts at every render of the registry.
  void Watch(const HttpServer& server);

  // A sink for ServerOptions::on_event: counts every event in
  // hyperplace_http_events_total{server,event} and logs at most `per_second` of them a second
  // (a port scanner or a flood of bad requests must not flood the log); the next line logged
  // says how many were left out. `this` must outlive the server.
  std::function<void(std::string_view, std::string_view)> EventLog(int per_second = 10);

 private:
  // The status codes counted one by one; the others as "4xx" or "5xx", the last two labels.
  static constexpr std::string_view kCodes[] = {"200", "400", "404", "405", "408", "413",
                                                "431", "500", "503", "4xx", "5xx"};
  static constexpr std::size_t kCodeCount = std::size(kCodes);
  static std::size_t CodeIndex(int status);
  std::size_t VerbIndex(std::string_view path) const;  // paths_.size() for any other path

  metrics::Registry& registry_;
  std::string server_;
  std::vector<std::string> paths_;
  // The verb label of each path (the path without its '/'), then "other"; views into paths_.
  std::vector<std::string_view> verbs_;
  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Histogram>& latency_;
  // Children looked up on first use and kept: a request costs two atomic loads, never a label
  // map and the family's mutex. Indexed by verb (then code); the last verb is "other".
  std::unique_ptr<std::atomic<metrics::Counter*>[]> request_children_;
  std::unique_ptr<std::atomic<metrics::Histogram*>[]> latency_children_;
};

}  // namespace hyperplace::net
