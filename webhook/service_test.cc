#include "webhook/service.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "certs/testing/test_certs.h"
#include "webhook/catalog.h"

namespace hyperplace::webhook {
namespace {

using certs::testing::Client;
using certs::testing::FileSerialHex;
using certs::testing::MakeCerts;
using certs::testing::TempDir;
using certs::testing::WriteFile;
using nlohmann::json;

std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(HYPERPLACE_TESTDATA_DIR) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_FALSE(ss.str().empty()) << name;
  return ss.str();
}

// A metric sample's value from the exposition ("" if absent).
std::string Sample(const std::string& text, const std::string& series) {
  const std::size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return "";
  const std::size_t begin = at + series.size() + 2;
  return text.substr(begin, text.find('\n', begin) - begin);
}

Config TestConfig(const TempDir& dir) {
  Config config;
  config.webhook.listen = "127.0.0.1:0";
  config.webhook.tls_cert_file = dir.File("tls.crt");
  config.webhook.tls_private_key_file = dir.File("tls.key");
  config.webhook.server.threads = 4;
  config.webhook.server.max_body_bytes = 256 * 1024;
  config.webhook.server.read_timeout = std::chrono::milliseconds(1000);
  // Polling is driven by the tests (ReloadCertificate) so nothing depends on timing.
  config.webhook.cert_reload_interval = std::chrono::hours(1);
  return config;
}

// A started service with its own certificates and registry.
class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(MakeCerts(dir_.path()), 0);
    config_ = TestConfig(dir_);
  }
  void StartService(std::shared_ptr<const KueueCatalog> catalog = nullptr) {
    if (!catalog) catalog = std::make_shared<StaticCatalog>(config_);
    service_ = std::make_unique<Service>(config_, std::move(catalog), registry_);
    Status st = service_->Start();
    ASSERT_TRUE(st.ok()) << st.message();
    ASSERT_NE(service_->port(), 0);
  }
  void TearDown() override {
    if (service_) service_->Shutdown(std::chrono::milliseconds(1000));
  }
  // A TLS connection verified against the test CA as "localhost".
  std::unique_ptr<Client> Connect() {
    auto client = std::make_unique<Client>(service_->port());
    EXPECT_TRUE(client->StartTls(dir_.File("ca.crt"), "localhost"));
    return client;
  }

  TempDir dir_;
  Config config_;
  metrics::Registry registry_;
  std::unique_ptr<Service> service_;
};

TEST_F(ServiceTest, MutatesOverVerifiedTlsWithKeepAlive) {
  StartService();
  auto client = Connect();
  const std::string review = ReadTestdata("pod_create_alice.json");
  for (int i = 0; i < 3; ++i) {
    // The apiserver appends ?timeout=<timeoutSeconds>s.
    const Client::Response r = client->Post("/mutate?timeout=3s", review);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Header("content-type"), "application/json");
    const json reply = json::parse(r.body);
    EXPECT_EQ(reply["response"]["uid"], "8a1c8f3e-5d43-4b8e-9a0f-3c2d1e4f5a60");
    EXPECT_EQ(reply["response"]["allowed"], true);
    EXPECT_EQ(reply["response"]["patchType"], "JSONPatch");
  }
  const Client::Response denied =
      client->Post("/mutate", ReadTestdata("pod_create_bob_denied.json"));
  ASSERT_EQ(denied.status, 200);
  EXPECT_EQ(json::parse(denied.body)["response"]["status"]["code"], 403);
}

TEST_F(ServiceTest, ProbesAndMetrics) {
  StartService();
  EXPECT_TRUE(service_->Ready());
  auto client = Connect();
  EXPECT_EQ(client->Get("/healthz").status, 200);
  EXPECT_EQ(client->Get("/readyz").status, 200);
  ASSERT_EQ(client->Post("/mutate", ReadTestdata("pod_create_alice.json")).status, 200);
  ASSERT_EQ(client->Post("/mutate", ReadTestdata("pod_update.json")).status, 200);
  ASSERT_EQ(client->Post("/mutate", ReadTestdata("pod_create_bob_denied.json")).status, 200);
  ASSERT_EQ(client->Post("/mutate", "{").status, 400);
  EXPECT_EQ(client->Get("/mutate").status, 405);
  EXPECT_EQ(client->Get("/nothing-here").status, 404);

  const Client::Response metrics = client->Get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  const std::string& text = metrics.body;
  EXPECT_EQ(Sample(text, R"(hyperplace_webhook_admissions_total{kind="Pod",operation="CREATE",)"
                         R"(decision="patched"})"),
            "1");
  // pod_update.json moves the pod onto another queue (DESIGN §3 rule 6).
  EXPECT_EQ(Sample(text, R"(hyperplace_webhook_admissions_total{kind="Pod",operation="UPDATE",)"
                         R"(decision="denied"})"),
            "1");
  EXPECT_EQ(Sample(text, R"(hyperplace_webhook_admissions_total{kind="Pod",operation="CREATE",)"
                         R"(decision="denied"})"),
            "1");
  EXPECT_EQ(Sample(text, R"(hyperplace_webhook_admissions_total{kind="other",operation="other",)"
                         R"(decision="error"})"),
            "1");
  EXPECT_EQ(Sample(text, "hyperplace_webhook_admission_duration_seconds_count"), "4");
  EXPECT_EQ(Sample(text, R"(hyperplace_http_requests_total{server="webhook",verb="mutate",)"
                         R"(code="200"})"),
            "3");
  EXPECT_EQ(Sample(text, R"(hyperplace_http_requests_total{server="webhook",verb="other",)"
                         R"(code="404"})"),
            "1");
  EXPECT_EQ(Sample(text, R"(hyperplace_webhook_certificate_reloads_total{result="success"})"), "0");
  const std::string expiry = Sample(text, "hyperplace_webhook_certificate_expiry_seconds");
  ASSERT_FALSE(expiry.empty());
  EXPECT_GT(std::stod(expiry), 364.0 * 86400);  // make-certs.sh: 365 days
}

TEST_F(ServiceTest, MalformedReviewsAre400WithAReason) {
  StartService();
  auto client = Connect();
  struct Case {
    const char* name;
    std::string body;
    const char* error;
  };
  const Case kCases[] = {
      {"not JSON", "<html>", "review: "},
      {"missing request", R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})",
       "request: missing"},
      {"missing uid",
       R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}})",
       "request.uid: missing"},
      {"wrong apiVersion",
       R"({"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{}})",
       "apiVersion: expected"},
      {"wrong type",
       R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":1}})",
       "request.uid: expected a string"},
      {"deep nesting",
       R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"a":)" +
           std::string(50000, '[') + std::string(50000, ']') + "}}",
       "request: nested too deeply"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    const Client::Response r = client->Post("/mutate", c.body);
    ASSERT_EQ(r.status, 400) << r.body;
    const json reply = json::parse(r.body, nullptr, false);
    ASSERT_FALSE(reply.is_discarded()) << r.body;
    EXPECT_EQ(reply["error"].get<std::string>().rfind(c.error, 0), 0u) << r.body;
  }
  // The connection survives bad requests.
  EXPECT_EQ(client->Post("/mutate", ReadTestdata("pod_update.json")).status, 200);
}

TEST_F(ServiceTest, HugeReviewIs413) {
  StartService();  // maxBodyBytes 256Ki
  auto client = Connect();
  json review = json::parse(ReadTestdata("pod_create_alice.json"));
  review["request"]["object"]["metadata"]["annotations"]["big"] = std::string(300 * 1024, 'x');
  const Client::Response r = client->Post("/mutate", review.dump());
  EXPECT_EQ(r.status, 413);
}

TEST_F(ServiceTest, PlainHttpOnTheTlsPortGetsNoHttpAnswer) {
  StartService();
  Client plain(service_->port());
  ASSERT_TRUE(plain.connected());
  ASSERT_TRUE(plain.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string received;
  EXPECT_TRUE(plain.WaitForClose(&received));
  EXPECT_EQ(received.find("HTTP/1.1"), std::string::npos) << received;
  // The server still serves TLS clients.
  EXPECT_EQ(Connect()->Get("/healthz").status, 200);
}

TEST_F(ServiceTest, StalledHandshakeIsClosedAndOthersAreServed) {
  StartService();  // readTimeout 1s bounds the handshake
  Client stalled(service_->port());
  ASSERT_TRUE(stalled.connected());
  ASSERT_TRUE(stalled.Send("\x16\x03\x01"));  // the start of a ClientHello, then nothing
  // Served meanwhile by another worker.
  EXPECT_EQ(Connect()->Post("/mutate", ReadTestdata("pod_update.json")).status, 200);
  EXPECT_TRUE(stalled.WaitForClose());

  Client silent(service_->port());  // never sends anything
  ASSERT_TRUE(silent.connected());
  EXPECT_TRUE(silent.WaitForClose());
}

TEST_F(ServiceTest, RotatedCertificateReachesNewConnectionsOnly) {
  StartService();
  const std::string first_serial = FileSerialHex(dir_.File("tls.crt"));
  const std::string ca_before = dir_.File("ca-before.crt");
  ASSERT_TRUE(WriteFile(ca_before, certs::testing::ReadFile(dir_.File("ca.crt"))));
  const std::string review = ReadTestdata("job_create.json");

  Client old_connection(service_->port());
  ASSERT_TRUE(old_connection.StartTls(ca_before, "127.0.0.1"));
  EXPECT_EQ(old_connection.PeerSerialHex(), first_serial);
  ASSERT_EQ(old_connection.Post("/mutate", review).status, 200);

  // Rotate: a new CA and serving pair written over the files.
  ASSERT_EQ(MakeCerts(dir_.path()), 0);
  const std::string second_serial = FileSerialHex(dir_.File("tls.crt"));
  ASSERT_NE(second_serial, first_serial);
  ASSERT_TRUE(service_->ReloadCertificate());

  auto fresh = Connect();  // verifies against the new CA
  EXPECT_EQ(fresh->PeerSerialHex(), second_serial);
  EXPECT_EQ(fresh->Post("/mutate", review).status, 200);
  // The keep-alive connection from before the rotation keeps working with its certificate.
  EXPECT_EQ(old_connection.Post("/mutate", review).status, 200);
  EXPECT_EQ(old_connection.PeerSerialHex(), first_serial);
  // A client that only trusts the old CA cannot connect any more.
  Client stale(service_->port());
  EXPECT_FALSE(stale.StartTls(ca_before, "localhost"));

  // A broken pair: the current certificate stays.
  ASSERT_TRUE(WriteFile(dir_.File("tls.key"), "-----BEGIN PRIVATE KEY-----\nbroken\n"));
  EXPECT_FALSE(service_->ReloadCertificate());
  auto after_broken = Connect();
  EXPECT_EQ(after_broken->PeerSerialHex(), second_serial);
  EXPECT_EQ(after_broken->Post("/mutate", review).status, 200);

  const std::string metrics = Connect()->Get("/metrics").body;
  EXPECT_EQ(Sample(metrics, R"(hyperplace_webhook_certificate_reloads_total{result="success"})"),
            "1");
  EXPECT_EQ(Sample(metrics, R"(hyperplace_webhook_certificate_reloads_total{result="failure"})"),
            "1");
}

class UnsyncedCatalog : public KueueCatalog {
 public:
  std::shared_ptr<const KueueObjects> Current() const override { return nullptr; }
};

TEST_F(ServiceTest, NotReadyUntilTheCatalogSyncs) {
  StartService(std::make_shared<UnsyncedCatalog>());
  EXPECT_FALSE(service_->Ready());
  auto client = Connect();
  EXPECT_EQ(client->Get("/healthz").status, 200);
  EXPECT_EQ(client->Get("/readyz").status, 503);
  const Client::Response r = client->Post("/mutate", ReadTestdata("pod_create_alice.json"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(json::parse(r.body)["error"], "the Kueue catalog has not synced yet");
}

TEST(ServiceStartTest, StartFailsWithAClearReason) {
  TempDir dir;
  ASSERT_EQ(MakeCerts(dir.path()), 0);
  struct Case {
    const char* name;
    void (*mutate)(Config&, const TempDir&);
    const char* error;  // prefix
  };
  const Case kCases[] = {
      {"no certificate",
       [](Config& c, const TempDir&) {
         c.webhook.tls_cert_file.clear();
         c.webhook.tls_private_key_file.clear();
       },
       "webhook: no serving certificate configured"},
      {"missing file",
       [](Config& c, const TempDir& d) { c.webhook.tls_cert_file = d.File("nope.crt"); },
       "webhook certificate: cannot read TLS certificate file"},
      {"mismatched key",
       [](Config& c, const TempDir& d) { c.webhook.tls_private_key_file = d.File("ca.key"); },
       "webhook certificate: the private key in"},
      {"bad listen address", [](Config& c, const TempDir&) { c.webhook.listen = "nohost"; },
       "webhook.listen: invalid address"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Config config = TestConfig(dir);
    c.mutate(config, dir);
    metrics::Registry registry;
    Service service(config, std::make_shared<StaticCatalog>(config), registry);
    Status st = service.Start();
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.message().rfind(c.error, 0), 0u) << st.message();
    EXPECT_FALSE(service.Ready());
  }
}

TEST(ServiceStartTest, PortInUseIsAnError) {
  TempDir dir;
  ASSERT_EQ(MakeCerts(dir.path()), 0);
  Config config = TestConfig(dir);
  metrics::Registry first_registry, second_registry;
  Service first(config, std::make_shared<StaticCatalog>(config), first_registry);
  ASSERT_TRUE(first.Start().ok());
  config.webhook.listen = "127.0.0.1:" + std::to_string(first.port());
  Service second(config, std::make_shared<StaticCatalog>(config), second_registry);
  Status st = second.Start();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message().rfind("webhook: ", 0), 0u) << st.message();
  EXPECT_NE(st.message().find("in use"), std::string::npos) << st.message();
  first.Shutdown(std::chrono::milliseconds(100));
}

TEST(ServiceHandlerTest, MutateWorksWithoutAServer) {
  Config config;
  metrics::Registry registry;
  Service service(config, std::make_shared<StaticCatalog>(config), registry);
  std::string body = ReadTestdata("pod_create_kube_system_sa.json");
  const std::size_t size = body.size();
  body.append(net::kBodyPadding, '\0');
  net::Response response;
  service.Mutate(std::string_view(body.data(), size), response);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(json::parse(response.body)["response"]["allowed"], true);
}

}  // namespace
}  // namespace hyperplace::webhook
