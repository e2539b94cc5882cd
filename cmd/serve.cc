#include "cmd/serve.h"

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "certs/tls_reloader.h"
#include "cmd/topology.h"
#include "common/json.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/process_metrics.h"
#include "extender/binder.h"
#include "extender/codec.h"
#include "extender/extender.h"
#include "extender/policy.h"
#include "extender/state.h"
#include "extender/watch_cache.h"
#include "kube/access.h"
#include "kube/client.h"
#include "net/http_metrics.h"
#include "net/http_server.h"
#include "webhook/catalog.h"
#include "webhook/kueue_watch.h"
#include "webhook/service.h"

#ifndef HYPERPLACE_VERSION
#define HYPERPLACE_VERSION "dev"
#endif

namespace hyperplace::cli {
namespace {

// GET /healthz, /readyz (the extender's cache has synced) and /metrics: on the extender listener,
// and on the plain health listener for callers without a client certificate.
void RegisterHealth(net::HttpServer& server, std::shared_ptr<extender::MemoryState> state,
                    metrics::Registry& registry) {
  // Probes are answered on the event loop: busy handler threads (slow binds) never delay them.
  server.Handle(
      "GET", "/healthz",
      [](const net::Request&, net::Response& res) {
        res.content_type = "text/plain; charset=utf-8";
        res.body = "ok\n";
      },
      net::HttpServer::RunOn::kEventLoop);
  server.Handle(
      "GET", "/readyz",
      [state](const net::Request&, net::Response& res) {
        res.content_type = "text/plain; charset=utf-8";
        if (state->Ready()) {
          res.body = "ok\n";
        } else {
          res.status = 503;
          res.body = "cache not synced\n";
        }
      },
      net::HttpServer::RunOn::kEventLoop);
  server.Handle("GET", "/metrics", [&registry](const net::Request&, net::Response& res) {
    res.content_type = metrics::Registry::kContentType;
    res.body = registry.Render();
  });
}

// The extender listener's TLS (DESIGN §2.1): none without a certificate; with a client CA, only
// callers holding a certificate it signed complete the handshake, so no one else reaches /bind.
StatusOr<std::unique_ptr<certs::TlsReloader>> ExtenderTls(const ExtenderConfig& e,
                                                          metrics::Registry& registry) {
  if (e.tls_cert_file.empty()) return std::unique_ptr<certs::TlsReloader>();
  certs::TlsReloaderOptions tls;
  tls.name = "extender";
  tls.cert_file = e.tls_cert_file;
  tls.key_file = e.tls_private_key_file;
  tls.client_ca_file = e.client_ca_file;
  tls.reload_interval = e.cert_reload_interval;
  return certs::TlsReloader::Create(std::move(tls), &registry);
}

std::string ExtenderTlsMode(const ExtenderConfig& e) {
  if (e.tls_cert_file.empty()) return "off (plain HTTP)";
  if (e.client_ca_file.empty()) return "on, no client certificates asked for";
  return "on, client certificates of " + e.client_ca_file + " required";
}

}  // namespace

void RegisterDebug(net::HttpServer& server, std::shared_ptr<kube::Client> client, Config config,
                   std::shared_ptr<const extender::FilterVerdicts> verdicts) {
  // Each answer lists every node and unfinished pod from the API server, on the handler threads
  // that also serve /filter. One runs at a time: a request arriving meanwhile is told to come
  // back (503, Retry-After) instead of queueing, so callers can hold at most one handler thread
  // and one list of the cluster, however many they are; each answer is as fresh as its request.
  auto building = std::make_shared<std::mutex>();
  auto handler = [client, config = std::move(config), verdicts, building](bool jobs) {
    return [client, config, verdicts, building, jobs](const net::Request&, net::Response& res) {
      if (!client) {
        res.status = 503;
        res.body = "{\"error\":\"no API server configured\"}";
        return;
      }
      std::unique_lock lock(*building, std::try_to_lock);
      if (!lock.owns_lock()) {
        res.status = 503;
        res.headers.emplace_back("Retry-After", "1");
        res.body = "{\"error\":\"another /debug request is listing the cluster\"}";
        return;
      }
      StatusOr<inspect::View> view = LiveView(*client, config, verdicts.get());
      if (!view.ok()) {
        res.status = 503;
        res.body = "{\"error\":";
        json::AppendJsonString(res.body, view.status().message());
        res.body += "}";
        return;
      }
      res.body = inspect::RenderJson(*view, {.tree = !jobs, .jobs = jobs});
    };
  };
  server.Handle("GET", "/debug/topology", handler(false));
  server.Handle("GET", "/debug/jobs", handler(true));
}

void RegisterServeMetrics(metrics::Registry& registry,
                          std::shared_ptr<const extender::MemoryState> state) {
  metrics::RegisterProcessMetrics(registry);
  registry
      .AddGauge("hyperplace_build_info", "Build information; the value is always 1.",
                {"version", "json_kernel"})
      .With({HYPERPLACE_VERSION, extender::DecoderKernel()})
      .Set(1);
  registry.AddCallbackGauge("hyperplace_cache_nodes", "Nodes in the extender's cache.", [state] {
    return static_cast<double>(state->Current()->node_count());
  });
  registry.AddCallbackGauge("hyperplace_cache_pods",
                            "Pods placed on nodes in the extender's cache.",
                            [state] { return static_cast<double>(state->Current()->pod_count()); });
  registry.AddCallbackGauge(
      "hyperplace_cache_pending_pods",
      "Pods not yet placed, kept in the extender's cache for their group (uid and group only).",
      [state] { return static_cast<double>(state->Current()->pending_pod_count()); });
}

int Serve(const Config& config, const ServeFlags& flags) {
  log::Configure(config.log.level, config.log.format);
#if defined(__AVX2__)
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("bmi2") ||
      !__builtin_cpu_supports("pclmul")) {
    HP_LOG(kError,
           "this build needs an x86-64-v3 CPU with PCLMUL; rebuild with -DHYPERPLACE_ARCH_FLAGS=");
    return 1;
  }
#endif

  // A peer that closes a socket we write to (an API server restarting, a client going away) must
  // be an error return, never a process-killing SIGPIPE: ignore it process-wide, before any thread.
  signal(SIGPIPE, SIG_IGN);

  // SIGTERM and SIGINT are taken synchronously by this thread; every thread started below
  // inherits the blocked mask, so no worker is interrupted.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  metrics::Registry registry;

  // Certificates first: a bad one stops the start before anything runs.
  StatusOr<std::unique_ptr<certs::TlsReloader>> extender_tls =
      ExtenderTls(config.extender, registry);
  if (!extender_tls.ok()) {
    HP_LOG(kError, "cannot load the extender's TLS files",
           {{"error", extender_tls.status().message()}});
    return 1;
  }
  if (*extender_tls && config.extender.client_ca_file.empty()) {
    HP_LOG(kWarn,
           "extender TLS without extender.clientCAFile: any caller that reaches the port can "
           "call /bind");
  }

  scoring::Policy policy = extender::MakePolicy(config);
  auto state = std::make_shared<extender::MemoryState>(policy);
  RegisterServeMetrics(registry, state);

  // The API server: --kubeconfig, else the pod's service account, else none (DESIGN §2.4).
  std::shared_ptr<kube::Client> client;
  {
    StatusOr<kube::Access> access = Unavailable("");
    if (!flags.kubeconfig.empty()) {
      access = kube::LoadKubeconfig(flags.kubeconfig);
    } else if (std::getenv("KUBERNETES_SERVICE_HOST") != nullptr) {
      access = kube::InClusterAccess();
    }
    if (!access.ok() && !access.status().message().empty()) {
      HP_LOG(kError, "cannot configure the API-server client",
             {{"error", access.status().message()}});
      return 1;
    }
    if (access.ok()) {
      kube::ClientOptions options;
      options.request_timeout = config.kube.request_timeout;
      options.user_agent = std::string("hyperplace/") + HYPERPLACE_VERSION;
      auto created = kube::Client::Create(*access, options);
      if (!created.ok()) {
        HP_LOG(kError, "cannot configure the API-server client",
               {{"error", created.status().message()}});
        return 1;
      }
      client = *created;
      HP_LOG(kInfo, "API server", {{"server", client->server()}, {"from", access->origin}});
    }
  }
  std::unique_ptr<extender::WatchCache> cache;
  if (client) {
    cache = std::make_unique<extender::WatchCache>(client, state, config.kube, registry);
    cache->Start();  // /readyz fails until the first lists are in
  }
  auto groups = std::make_shared<extender::GroupMemo>();
  auto binds = std::make_shared<extender::BindTracker>();

  std::vector<std::string> extender_paths = {"/filter",  "/prioritize", "/bind",
                                             "/healthz", "/readyz",     "/metrics"};
  if (config.extender.debug_endpoints) {
    extender_paths.insert(extender_paths.end(), {"/debug/topology", "/debug/jobs"});
  }
  net::HttpMetrics extender_metrics(registry, "extender", std::move(extender_paths));
  net::ServerOptions options;
  options.limits = config.extender.server;
  options.observer = extender_metrics.Observer();
  options.on_event = extender_metrics.EventLog();
  if (*extender_tls) options.tls = (*extender_tls)->Source();
  net::HttpServer server(std::move(options));
  extender_metrics.Watch(server);
  extender::Extender extender(policy, state, registry, groups, binds, config.extender.bind_wait);
  std::shared_ptr<extender::FilterVerdicts> verdicts;
  if (config.extender.debug_endpoints) {
    verdicts = std::make_shared<extender::FilterVerdicts>();
    extender.RecordVerdicts(verdicts);
    RegisterDebug(server, client, config, verdicts);
  }
  extender.Register(server);
  extender::Binder binder(client, state, groups, config, registry, binds);
  binder.Register(server);
  RegisterHealth(server, state, registry);

  auto address = ParseHostPort(config.extender.listen);
  if (!address.ok()) {
    HP_LOG(kError, "extender.listen invalid", {{"error", address.status().message()}});
    return 1;
  }
  if (Status st = server.Listen(*address); !st.ok()) {
    HP_LOG(kError, "cannot listen", {{"server", "extender"}, {"error", st.message()}});
    return 1;
  }
  if (Status st = server.Start(); !st.ok()) {
    HP_LOG(kError, "cannot start", {{"server", "extender"}, {"error", st.message()}});
    return 1;
  }
  if (*extender_tls) (*extender_tls)->StartWatching();

  // The health listener: plain HTTP, GETs only.
  std::unique_ptr<net::HttpMetrics> health_metrics;
  std::unique_ptr<net::HttpServer> health;
  if (!config.extender.health_listen.empty()) {
    health_metrics = std::make_unique<net::HttpMetrics>(
        registry, "health", std::vector<std::string>{"/healthz", "/readyz", "/metrics"});
    net::ServerOptions health_options;
    health_options.limits = config.extender.server;
    // Open to any caller (networkpolicy.yaml): small limits, so a flood here stays here.
    health_options.limits.threads = 2;
    health_options.limits.max_body_bytes = 4096;
    health_options.limits.max_connections = 64;
    health_options.limits.max_in_flight = 16;
    health_options.observer = health_metrics->Observer();
    health_options.on_event = health_metrics->EventLog();
    health = std::make_unique<net::HttpServer>(std::move(health_options));
    health_metrics->Watch(*health);
    RegisterHealth(*health, state, registry);
    StatusOr<HostPort> health_address = ParseHostPort(config.extender.health_listen);
    Status st = health_address.ok() ? health->Listen(*health_address) : health_address.status();
    if (st.ok()) st = health->Start();
    if (!st.ok()) {
      HP_LOG(kError, "cannot listen", {{"server", "health"}, {"error", st.message()}});
      server.Shutdown(std::chrono::milliseconds(0));
      return 1;
    }
    HP_LOG(kInfo, "health listening",
           {{"address", health_address->host + ":" + std::to_string(health->port())}});
  }
  // The webhook (HTTPS): on when a certificate is configured (flag or webhook.tlsCertFile).
  std::unique_ptr<webhook::Service> hook;
  std::shared_ptr<webhook::WatchedKueueCatalog> watched_catalog;
  if (config.webhook.tls_cert_file.empty()) {
    HP_LOG(kInfo, "webhook listener off: no --tls-cert-file given");
  } else {
    std::shared_ptr<const webhook::KueueCatalog> catalog;
    if (client && config.kube.watch_kueue) {
      watched_catalog = std::make_shared<webhook::WatchedKueueCatalog>(client, config, registry);
      watched_catalog->Start();
      catalog = watched_catalog;
    } else {
      catalog = std::make_shared<webhook::StaticCatalog>(config);
    }
    hook = std::make_unique<webhook::Service>(config, catalog, registry);
    if (Status st = hook->Start(); !st.ok()) {
      HP_LOG(kError, "cannot start the webhook", {{"error", st.message()}});
      server.Shutdown(std::chrono::milliseconds(0));
      if (health) health->Shutdown(std::chrono::milliseconds(0));
      return 1;
    }
    HP_LOG(kInfo, "webhook Kueue catalog",
           {{"source", watched_catalog ? "the cluster (watched)" : "the configuration"}});
  }

  HP_LOG(kInfo, "extender listening",
         {{"address", address->host + ":" + std::to_string(server.port())},
          {"threads", config.extender.server.threads},
          {"tls", ExtenderTlsMode(config.extender)},
          {"json_kernel", extender::DecoderKernel()},
          {"api_server", client ? client->server() : "none: full-node requests only, no binds"}});

  int received = 0;
  sigwait(&signals, &received);
  HP_LOG(kInfo, "shutting down: draining in-flight requests", {{"signal", received}});
  if (hook) hook->Shutdown(std::chrono::milliseconds(10000));
  server.Shutdown(std::chrono::milliseconds(10000));
  if (health) health->Shutdown(std::chrono::milliseconds(1000));
  if (*extender_tls) (*extender_tls)->StopWatching();
  if (watched_catalog) watched_catalog->Stop();
  if (cache) cache->Stop();
  if (client) client->CancelAll();
  HP_LOG(kInfo, "stopped");
  return 0;
}

}  // namespace hyperplace::cli
