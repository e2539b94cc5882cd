// The mutating admission webhook served over HTTPS (DESIGN §3): an HTTP server on
// webhook.listen whose TLS contexts come from the certificate reloader, with
//
//   POST /mutate   AdmissionReview in, AdmissionReview out (the apiserver's ?timeout=10s query
//                  is ignored); a review that cannot be decoded is a 400 with {"error": reason}
//   GET  /healthz  200 while serving
//   GET  /readyz   200 once a certificate is loaded and the Kueue catalog has synced, else 503
//   GET  /metrics  the shared registry, Prometheus text format
//
// Metrics (beside the reloader's certificate metrics and the HTTP request metrics shared with the
// extender, hyperplace_http_requests_total / _request_duration_seconds with server="webhook"):
//   hyperplace_webhook_admissions_total{kind,operation,decision}
//       kind: Pod, Job, PyTorchJob, JobSet, RayJob, RayCluster, LeaderWorkerSet, Deployment,
//             StatefulSet or other; operation: CREATE, UPDATE, DELETE, CONNECT or other;
//       decision: allowed, patched, denied or error
//   hyperplace_webhook_admission_duration_seconds  time to decode, decide and encode one review
//
// Lifecycle: construct, Start() (loads the certificate, binds, serves, and polls the certificate
// files every webhook.certReloadInterval on a background thread), Shutdown(). Not copyable. The
// registry must outlive the service.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include "common/config.h"
#include "common/metrics.h"
#include "common/status.h"
#include "net/http_server.h"
#include "webhook/catalog.h"

namespace hyperplace::webhook {

class Service {
 public:
  Service(const Config& config, std::shared_ptr<const KueueCatalog> catalog,
          metrics::Registry& registry);
  ~Service();  // Shutdown() with no drain time if still running
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Loads webhook.tlsCertFile / webhook.tlsPrivateKeyFile and starts serving on webhook.listen.
  // Errors (no certificate configured, a bad certificate, an address in use) name the problem;
  // nothing is left running after an error. Call once.
  Status Start();
  // Stops accepting, drains requests in progress for up to `drain`, stops the certificate watcher.
  void Shutdown(std::chrono::milliseconds drain = std::chrono::milliseconds(5000));

  // The bound port (after Start; useful with port 0).
  std::uint16_t port() const;
  // Checks the certificate files now instead of waiting for the next poll (SIGHUP, tests). True
  // when a new certificate was loaded.
  bool ReloadCertificate();
  bool Ready() const;

  // The /mutate handler, callable without a server (benchmarks). `body` must be followed by
  // net::kBodyPadding readable bytes.
  void Mutate(std::string_view body, net::Response& response);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hyperplace::webhook
