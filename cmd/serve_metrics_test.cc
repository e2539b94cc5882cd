// Every metric `hyperplace serve` exposes, pinned: name, type, label names and help text.
// Dashboards (the chart's Grafana JSON), alerts and recording rules depend on them, so a change
// here is a change for every user: update cmd/testdata/serve_metrics.txt on purpose, with
// HYPERPLACE_UPDATE_GOLDEN=1, and say so in the release notes.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "certs/testing/test_certs.h"
#include "certs/tls_reloader.h"
#include "cmd/serve.h"
#include "common/config.h"
#include "common/metrics.h"
#include "extender/binder.h"
#include "extender/extender.h"
#include "extender/policy.h"
#include "extender/state.h"
#include "extender/watch_cache.h"
#include "kube/access.h"
#include "kube/client.h"
#include "net/http_metrics.h"
#include "net/http_server.h"
#include "webhook/kueue_watch.h"
#include "webhook/service.h"

namespace hyperplace::cli {
namespace {

// One line per family: `TYPE NAME{label,...} HELP`.
std::string Describe(const metrics::Registry& registry) {
  std::string out;
  for (const auto& d : registry.Describe()) {
    out += d.type + " " + d.name + "{";
    for (std::size_t i = 0; i < d.label_names.size(); ++i) {
      if (i > 0) out += ",";
      out += d.label_names[i];
    }
    out += "} " + d.help + "\n";
  }
  return out;
}

// Registers what Serve() registers, part by part, with every optional part on: extender TLS, the
// health listener, the API-server watch cache, the webhook and its Kueue watch. Only the webhook
// starts (its certificate's metrics come with its listener). The Kueue watch adds one more idle
// gauge per resource (`hyperplace_kube_watch_idle_seconds_localqueues`, `..._workloadpriority
// classes`) once it finds Kueue, named as the nodes' and pods' are.
TEST(ServeMetricsTest, NamesLabelsAndHelpArePinned) {
  Config config;
  metrics::Registry registry;
  auto state = std::make_shared<extender::MemoryState>(extender::MakePolicy(config));
  RegisterServeMetrics(registry, state);

  certs::testing::TempDir dir;
  ASSERT_EQ(certs::testing::MakeCerts(dir.path()), 0);
  certs::TlsReloaderOptions tls;
  tls.name = "extender";
  tls.cert_file = dir.File("tls.crt");
  tls.key_file = dir.File("tls.key");
  auto reloader = certs::TlsReloader::Create(tls, &registry);
  ASSERT_TRUE(reloader.ok()) << reloader.status().message();

  net::HttpMetrics extender_http(
      registry, "extender", {"/filter", "/prioritize", "/bind", "/healthz", "/readyz", "/metrics"});
  net::HttpServer server{net::ServerOptions{}};
  extender_http.Watch(server);
  auto event_log = extender_http.EventLog();
  net::HttpMetrics health_http(registry, "health", {"/healthz", "/readyz", "/metrics"});

  kube::Access access;
  access.server = "https://127.0.0.1:1";
  auto client = kube::Client::Create(access, kube::ClientOptions{});
  ASSERT_TRUE(client.ok()) << client.status().message();
  extender::WatchCache cache(*client, state, config.kube, registry);
  auto groups = std::make_shared<extender::GroupMemo>();
  auto binds = std::make_shared<extender::BindTracker>();
  extender::Extender extender(extender::MakePolicy(config), state, registry, groups, binds,
                              config.extender.bind_wait);
  extender::Binder binder(*client, state, groups, config, registry, binds);

  auto catalog = std::make_shared<webhook::WatchedKueueCatalog>(*client, config, registry);
  config.webhook.listen = "127.0.0.1:0";
  config.webhook.tls_cert_file = dir.File("tls.crt");
  config.webhook.tls_private_key_file = dir.File("tls.key");
  webhook::Service hook(config, catalog, registry);
  ASSERT_TRUE(hook.Start().ok());
  hook.Shutdown(std::chrono::milliseconds(0));

  const std::string golden_path =
      std::string(HYPERPLACE_SOURCE_DIR) + "/cmd/testdata/serve_metrics.txt";
  const std::string described = Describe(registry);
  if (const char* update = std::getenv("HYPERPLACE_UPDATE_GOLDEN"); update && *update == '1') {
    std::ofstream(golden_path) << described;
  }
  std::ifstream golden(golden_path);
  ASSERT_TRUE(golden) << "cannot read " << golden_path;
  std::stringstream want;
  want << golden.rdbuf();
  EXPECT_EQ(described, want.str());
}

}  // namespace
}  // namespace hyperplace::cli
