#include "webhook/service.h"

#include <array>
#include <atomic>
#include <mutex>
#include <utility>

#include "certs/tls_reloader.h"
#include "common/log.h"
#include "net/http_metrics.h"
#include "webhook/admission.h"

namespace hyperplace::webhook {
namespace {

using Clock = std::chrono::steady_clock;
using Verdict = AdmissionResult::Verdict;

constexpr int kVerdictCount = 4;

}  // namespace

struct Service::Impl {
  Impl(const Config& config, std::shared_ptr<const KueueCatalog> catalog,
       metrics::Registry& registry)
      : webhook(config.webhook),
        admitter(config, std::move(catalog)),
        registry(registry),
        admissions(registry.AddCounter(
            "hyperplace_webhook_admissions_total",
            "Admission reviews answered by the webhook, by object kind, operation and decision "
            "(allowed untouched, patched, denied, or error for a review that could not be "
            "decoded).",
            {"kind", "operation", "decision"})),
        duration(registry
                     .AddHistogram("hyperplace_webhook_admission_duration_seconds",
                                   "Time to decode an admission review, apply the rules and "
                                   "encode the response.",
                                   {}, metrics::LatencyBuckets())
                     .Get()),
        http(registry, "webhook", {"/mutate", "/healthz", "/readyz", "/metrics"}) {}

  // The admissions counter child, looked up once per combination and then kept lock-free.
  metrics::Counter& AdmissionCounter(Kind kind, Operation operation, Verdict verdict) {
    const std::size_t index =
        (static_cast<std::size_t>(kind) * kOperationCount + static_cast<std::size_t>(operation)) *
            kVerdictCount +
        static_cast<std::size_t>(verdict);
    return admissions.Cached(counters[index],
                             {KindName(kind), OperationName(operation), VerdictName(verdict)});
  }

  void Mutate(std::string_view body, net::Response& response) {
    const Clock::time_point start = Clock::now();
    const AdmissionResult result = admitter.Admit(body, response.body);
    response.status = result.http_status;
    response.content_type = "application/json";
    duration.Observe(std::chrono::duration<double>(Clock::now() - start).count());
    AdmissionCounter(result.kind, result.operation, result.verdict).Increment();
    switch (result.verdict) {
      case Verdict::kDenied:
        HP_LOG(kInfo, "admission denied",
               {{"uid", result.uid},
                {"kind", result.kind_name},
                {"namespace", result.namespace_name},
                {"user", result.username},
                {"dry_run", result.dry_run},
                {"reason", result.message}});
        break;
      case Verdict::kError:
        HP_LOG(kWarn, "admission review rejected",
               {{"status", result.http_status}, {"error", result.message}});
        break;
      default:
        break;
    }
  }

  const WebhookConfig webhook;
  const Admitter admitter;
  metrics::Registry& registry;
  metrics::Family<metrics::Counter>& admissions;
  metrics::Histogram& duration;
  std::array<std::atomic<metrics::Counter*>, kKindCount * kOperationCount * kVerdictCount>
      counters{};
  net::HttpMetrics http;

  std::unique_ptr<certs::TlsReloader> reloader;
  std::unique_ptr<net::HttpServer> server;
  std::atomic<bool> serving{false};
  std::once_flag shutdown_once;
};

Service::Service(const Config& config, std::shared_ptr<const KueueCatalog> catalog,
                 metrics::Registry& registry)
    : impl_(std::make_unique<Impl>(config, std::move(catalog), registry)) {}

Service::~Service() { Shutdown(std::chrono::milliseconds(0)); }

Status Service::Start() {
  Impl& s = *impl_;
  if (s.server) return Internal("webhook: Start() called twice");
  if (s.webhook.tls_cert_file.empty() || s.webhook.tls_private_key_file.empty()) {
    return InvalidArgument(
        "webhook: no serving certificate configured (webhook.tlsCertFile and "
        "webhook.tlsPrivateKeyFile, or --tls-cert-file and --tls-private-key-file)");
  }
  StatusOr<HostPort> address = ParseHostPort(s.webhook.listen);
  if (!address.ok()) return InvalidArgument("webhook.listen: " + address.status().message());

  certs::TlsReloaderOptions tls;
  tls.cert_file = s.webhook.tls_cert_file;
  tls.key_file = s.webhook.tls_private_key_file;
  tls.reload_interval = s.webhook.cert_reload_interval;
  StatusOr<std::unique_ptr<certs::TlsReloader>> reloader =
      certs::TlsReloader::Create(std::move(tls), &s.registry);
  if (!reloader.ok()) {
    return Status(reloader.status().code(), "webhook certificate: " + reloader.status().message());
  }

  net::ServerOptions options;
  options.limits = s.webhook.server;
  options.tls = (*reloader)->Source();
  options.observer = s.http.Observer();
  options.on_event = s.http.EventLog();
  auto server = std::make_unique<net::HttpServer>(std::move(options));
  s.http.Watch(*server);
  // Admission is pure computation of microseconds: on the event loop, with no hand-off.
  server->Handle(
      "POST", "/mutate",
      [&s](const net::Request& req, net::Response& res) { s.Mutate(req.body, res); },
      net::HttpServer::RunOn::kEventLoop);
  server->OnHandlerIdle(
      [keep = s.webhook.server.keep_buffer_bytes] { ReleaseThreadScratch(keep); });
  server->Handle(
      "GET", "/healthz",
      [](const net::Request&, net::Response& res) {
        res.content_type = "text/plain; charset=utf-8";
        res.body = "ok\n";
      },
      net::HttpServer::RunOn::kEventLoop);
  server->Handle(
      "GET", "/readyz",
      [this](const net::Request&, net::Response& res) {
        res.content_type = "text/plain; charset=utf-8";
        if (Ready()) {
          res.body = "ok\n";
        } else {
          res.status = 503;
          res.body = "kueue catalog not synced\n";
        }
      },
      net::HttpServer::RunOn::kEventLoop);
  server->Handle("GET", "/metrics", [&s](const net::Request&, net::Response& res) {
    res.content_type = metrics::Registry::kContentType;
    res.body = s.registry.Render();
  });
  if (Status st = server->Listen(*address); !st.ok()) {
    return Status(st.code(), "webhook: " + st.message());
  }
  if (Status st = server->Start(); !st.ok()) {
    return Status(st.code(), "webhook: " + st.message());
  }
  s.reloader = std::move(*reloader);
  s.server = std::move(server);
  s.reloader->StartWatching();
  s.serving.store(true);
  const certs::CertificateInfo info = s.reloader->CurrentInfo();
  HP_LOG(kInfo, "webhook listening",
         {{"address", address->host + ":" + std::to_string(s.server->port())},
          {"threads", s.webhook.server.threads},
          {"cert_file", s.webhook.tls_cert_file},
          {"serial", info.serial_hex},
          {"subject", info.subject}});
  return Status::Ok();
}

void Service::Shutdown(std::chrono::milliseconds drain) {
  Impl& s = *impl_;
  if (!s.server) return;
  std::call_once(s.shutdown_once, [&] {
    s.serving.store(false);
    s.server->Shutdown(drain);
    if (s.reloader) s.reloader->StopWatching();
  });
}

std::uint16_t Service::port() const { return impl_->server ? impl_->server->port() : 0; }

bool Service::ReloadCertificate() {
  if (!impl_->reloader) return false;
  return impl_->reloader->Poll() == certs::TlsReloader::PollResult::kReloaded;
}

bool Service::Ready() const {
  return impl_->serving.load() && impl_->reloader != nullptr &&
         impl_->admitter.catalog().Current() != nullptr;
}

void Service::Mutate(std::string_view body, net::Response& response) {
  impl_->Mutate(body, response);
}

}  // namespace hyperplace::webhook
