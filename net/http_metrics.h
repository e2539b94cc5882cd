// Request metrics for one HTTP listener, shared by the extender and the webhook:
//   hyperplace_http_requests_total{server,verb,code}
//   hyperplace_http_request_duration_seconds{server,verb}
// Labels stay bounded whatever clients send: paths outside `paths` count as verb "other", and
// status codes outside the ones the server produces as "4xx"/"5xx".
#pragma once

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

  std::string_view VerbOf(std::string_view path) const;
  static std::string_view CodeLabel(int status);

 private:
  std::string server_;
  std::vector<std::string> paths_;
  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Histogram>& latency_;
};

}  // namespace hyperplace::net
