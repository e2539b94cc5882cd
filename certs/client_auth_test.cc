// The extender's authenticated listener (DESIGN §2.1): an HTTPS server whose TLS contexts come
// from a TlsReloader with a client CA file. Only a client whose certificate that CA signed gets a
// request through; anyone else is refused during the handshake, before any handler runs.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "certs/testing/test_certs.h"
#include "certs/tls_reloader.h"
#include "common/metrics.h"
#include "net/http_server.h"

namespace hyperplace::certs {
namespace {

using testing::Client;
using testing::MakeCerts;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

constexpr char kBindBody[] =
    R"({"PodName":"p","PodNamespace":"hyperpod-ns-team-a","PodUID":"u","Node":"n"})";

// Two unrelated CAs, each with a serving and a client certificate (make-certs.sh, run for real).
struct Pki {
  TempDir ours;
  TempDir foreign;
  Pki() {
    EXPECT_EQ(MakeCerts(ours.path(), {"--client", "hyperplace-scheduler"}), 0);
    EXPECT_EQ(MakeCerts(foreign.path(), {"--client", "intruder"}), 0);
  }
};

TlsReloaderOptions ExtenderOptions(const TempDir& dir, bool client_ca = true) {
  TlsReloaderOptions options;
  options.name = "extender";
  options.cert_file = dir.File("tls.crt");
  options.key_file = dir.File("tls.key");
  if (client_ca) options.client_ca_file = dir.File("ca.crt");
  return options;
}

std::unique_ptr<TlsReloader> MustCreate(const TlsReloaderOptions& options,
                                        metrics::Registry* registry = nullptr) {
  StatusOr<std::unique_ptr<TlsReloader>> reloader = TlsReloader::Create(options, registry);
  EXPECT_TRUE(reloader.ok()) << reloader.status().message();
  return reloader.ok() ? std::move(*reloader) : nullptr;
}

// An HTTPS server on 127.0.0.1:0 with a POST /bind that counts the requests that reached it.
class BindServer {
 public:
  explicit BindServer(const TlsReloader& reloader) {
    net::ServerOptions options;
    options.limits.threads = 4;
    options.limits.read_timeout = std::chrono::milliseconds(2000);
    options.tls = reloader.Source();
    server_ = std::make_unique<net::HttpServer>(std::move(options));
    server_->Handle("POST", "/bind", [this](const net::Request&, net::Response& res) {
      binds_.fetch_add(1);
      res.body = R"({"Error":""})";
    });
    EXPECT_TRUE(server_->Listen(HostPort{"127.0.0.1", 0}).ok());
    EXPECT_TRUE(server_->Start().ok());
  }
  ~BindServer() { server_->Shutdown(std::chrono::milliseconds(1000)); }
  std::uint16_t port() const { return server_->port(); }
  int binds() const { return binds_.load(); }

 private:
  std::unique_ptr<net::HttpServer> server_;
  std::atomic<int> binds_{0};
};

// What one client got: whether its handshake completed on its side, and the /bind status (0: no
// HTTP response at all).
struct Attempt {
  bool handshake = false;
  int status = 0;
};

// A /bind from a client presenting `cert`/`key` (none when empty), verifying the server against
// `server_ca`. `tls12`: cap the client at TLS 1.2 (see Client::LimitToTls12).
Attempt Bind(std::uint16_t port, const std::string& server_ca, const std::string& cert = "",
             const std::string& key = "", bool tls12 = false) {
  Client client(port);
  EXPECT_TRUE(client.connected());
  if (!cert.empty()) client.PresentCertificate(cert, key);
  if (tls12) client.LimitToTls12();
  Attempt attempt;
  attempt.handshake = client.StartTls(server_ca);
  if (attempt.handshake) attempt.status = client.Post("/bind", kBindBody).status;
  return attempt;
}

// make-certs.sh's two PKIs and an extender listener serving ours.
class ClientAuthTest : public ::testing::Test {
 protected:
  // Starts the server, requiring client certificates of our CA unless `client_ca` is false.
  void Serve(bool client_ca = true) {
    reloader_ = MustCreate(ExtenderOptions(pki_.ours, client_ca), &registry_);
    ASSERT_NE(reloader_, nullptr);
    server_ = std::make_unique<BindServer>(*reloader_);
  }
  // A /bind from a client presenting the given certificate of `dir` ("client" or "tls"; none
  // when empty), verifying the server against our CA.
  Attempt BindAs(const TempDir* dir, const std::string& name = "client", bool tls12 = false) {
    if (dir == nullptr) return Bind(server_->port(), pki_.ours.File("ca.crt"), "", "", tls12);
    return Bind(server_->port(), pki_.ours.File("ca.crt"), dir->File(name + ".crt"),
                dir->File(name + ".key"), tls12);
  }

  Pki pki_;
  metrics::Registry registry_;
  std::unique_ptr<TlsReloader> reloader_;
  std::unique_ptr<BindServer> server_;
};

TEST_F(ClientAuthTest, ClientCertificateOfTheCaIsAnswered) {
  Serve();
  for (bool tls12 : {false, true}) {
    Attempt a = BindAs(&pki_.ours, "client", tls12);
    EXPECT_TRUE(a.handshake) << "tls12=" << tls12;
    EXPECT_EQ(a.status, 200) << "tls12=" << tls12;
  }
  EXPECT_EQ(server_->binds(), 2);
}

TEST_F(ClientAuthTest, ClientWithoutCertificateIsRefusedAtTheHandshake) {
  Serve();
  // TLS 1.2: the server's refusal fails the client's SSL_connect.
  EXPECT_FALSE(BindAs(nullptr, "", true).handshake);
  // TLS 1.3: the client finishes its side first; the server's alert ends the connection before
  // any request is read.
  EXPECT_EQ(BindAs(nullptr).status, 0);
  EXPECT_EQ(server_->binds(), 0);
}

TEST_F(ClientAuthTest, ClientCertificateOfAnotherCaIsRefusedAtTheHandshake) {
  Serve();
  EXPECT_FALSE(BindAs(&pki_.foreign, "client", true).handshake);
  EXPECT_EQ(BindAs(&pki_.foreign).status, 0);
  // A self-signed certificate is no better.
  TempDir self;
  ASSERT_TRUE(testing::WriteSelfSigned(self.File("c.crt"), self.File("c.key"),
                                       std::chrono::seconds(-60), std::chrono::hours(1)));
  EXPECT_FALSE(BindAs(&self, "c", true).handshake);
  EXPECT_EQ(server_->binds(), 0);
}

TEST_F(ClientAuthTest, ServingCertificateOfTheSameCaIsNotAClientCertificate) {
  // The extender's own serving certificate (extendedKeyUsage serverAuth only) is signed by the
  // client CA too when one make-certs.sh run makes both; it must not authenticate a caller.
  Serve();
  EXPECT_FALSE(BindAs(&pki_.ours, "tls", true).handshake);
  EXPECT_EQ(server_->binds(), 0);
}

TEST_F(ClientAuthTest, WithoutClientCaNoCertificateIsAskedFor) {
  // The counterpart of the refusals above: the same client is answered when no CA is configured,
  // so they come from the client CA and not from some other handshake problem.
  Serve(false);
  EXPECT_EQ(BindAs(nullptr, "", true).status, 200);
  EXPECT_EQ(BindAs(nullptr).status, 200);
  EXPECT_EQ(server_->binds(), 2);
}

TEST_F(ClientAuthTest, ChangedClientCaAppliesToNewConnections) {
  Serve();
  const std::string server_ca = pki_.ours.File("ca.crt");
  const std::string ours_cert = pki_.ours.File("client.crt");
  const std::string ours_key = pki_.ours.File("client.key");
  const std::string foreign_cert = pki_.foreign.File("client.crt");
  const std::string foreign_key = pki_.foreign.File("client.key");
  ASSERT_EQ(Bind(server_->port(), server_ca, ours_cert, ours_key, true).status, 200);

  // Trust the other CA only (the reloader's CA file is the ours/ca.crt path; the server keeps
  // its certificate, so keep a copy of the CA that verifies it).
  const std::string server_ca_copy = pki_.foreign.File("ours-ca.crt");
  ASSERT_TRUE(WriteFile(server_ca_copy, ReadFile(server_ca)));
  ASSERT_TRUE(WriteFile(server_ca, ReadFile(pki_.foreign.File("ca.crt"))));
  EXPECT_EQ(reloader_->Poll(), TlsReloader::PollResult::kReloaded);
  EXPECT_FALSE(Bind(server_->port(), server_ca_copy, ours_cert, ours_key, true).handshake);
  EXPECT_EQ(Bind(server_->port(), server_ca_copy, foreign_cert, foreign_key, true).status, 200);

  // Both CAs in one file: both clients.
  ASSERT_TRUE(
      WriteFile(server_ca, ReadFile(pki_.foreign.File("ca.crt")) + ReadFile(server_ca_copy)));
  EXPECT_EQ(reloader_->Poll(), TlsReloader::PollResult::kReloaded);
  EXPECT_EQ(Bind(server_->port(), server_ca_copy, ours_cert, ours_key, true).status, 200);
  EXPECT_EQ(Bind(server_->port(), server_ca_copy, foreign_cert, foreign_key, true).status, 200);

  // A broken CA file is refused and the previous context stays.
  ASSERT_TRUE(WriteFile(server_ca, "not a certificate"));
  EXPECT_EQ(reloader_->Poll(), TlsReloader::PollResult::kRejected);
  EXPECT_EQ(Bind(server_->port(), server_ca_copy, ours_cert, ours_key, true).status, 200);
  EXPECT_EQ(server_->binds(), 5);

  const std::string text = registry_.Render();
  EXPECT_NE(text.find("hyperplace_extender_certificate_reloads_total{result=\"success\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("hyperplace_extender_certificate_reloads_total{result=\"failure\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("hyperplace_extender_certificate_expiry_seconds "), std::string::npos);
  EXPECT_EQ(text.find("hyperplace_webhook_certificate"), std::string::npos);
}

TEST(ClientAuthReloaderTest, WebhookAndExtenderReloadersShareARegistry) {
  Pki pki;
  metrics::Registry registry;
  TlsReloaderOptions webhook = ExtenderOptions(pki.ours, false);
  webhook.name = "webhook";
  std::unique_ptr<TlsReloader> a = MustCreate(webhook, &registry);
  std::unique_ptr<TlsReloader> b = MustCreate(ExtenderOptions(pki.ours), &registry);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const std::string text = registry.Render();
  EXPECT_NE(text.find("hyperplace_webhook_certificate_expiry_seconds "), std::string::npos);
  EXPECT_NE(text.find("hyperplace_extender_certificate_expiry_seconds "), std::string::npos);
}

TEST(ClientAuthReloaderTest, BadClientCaFileIsAnErrorAtStart) {
  Pki pki;
  auto error = [&](const std::string& ca_file) {
    TlsReloaderOptions options = ExtenderOptions(pki.ours);
    options.client_ca_file = ca_file;
    StatusOr<std::unique_ptr<TlsReloader>> reloader = TlsReloader::Create(options);
    EXPECT_FALSE(reloader.ok()) << ca_file;
    return reloader.ok() ? std::string() : reloader.status().message();
  };
  const std::string missing = pki.ours.File("missing.crt");
  EXPECT_EQ(error(missing),
            "cannot read client CA file \"" + missing + "\": No such file or directory");
  const std::string garbage = pki.ours.File("garbage.crt");
  ASSERT_TRUE(WriteFile(garbage, "hello\n"));
  EXPECT_EQ(error(garbage), "no PEM certificate in \"" + garbage + "\"");
  // The serving certificate given as the CA by mistake.
  const std::string leaf = pki.ours.File("tls.crt");
  EXPECT_EQ(error(leaf),
            "the certificate \"CN=localhost\" in \"" + leaf + "\" is not a CA certificate");
  EXPECT_TRUE(std::filesystem::exists(pki.ours.File("ca.crt")));
}

}  // namespace
}  // namespace hyperplace::certs
