#include "bench/workloads.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <atomic>
#include <memory>

#include "bench/http_client.h"
#include "kube/testing/fake_apiserver.h"
#include "net/http_server.h"

namespace hyperplace::bench {
namespace {

std::string Join(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out += p;
  return out;
}

TEST(ExtenderRequestsTest, PartsAreByteForByteTheSchedulersArgs) {
  ClusterSpec spec;
  spec.nodes = 40;
  const auto nodes = GenerateNodes(spec);
  const std::string pod = GeneratePodJson(1, 3, 8, true);
  auto names = ExtenderRequests::Make(NodeMode::kNames, nodes, {pod});
  EXPECT_EQ(Join({names->prefixes[0], names->nodes_part, names->suffix}),
            NodeNamesArgs(pod, nodes));
  EXPECT_EQ(names->BodySize(0), NodeNamesArgs(pod, nodes).size());
  auto full = ExtenderRequests::Make(NodeMode::kFull, nodes, {pod});
  EXPECT_EQ(Join({full->prefixes[0], full->nodes_part, full->suffix}), FullNodesArgs(pod, nodes));
}

TEST(ReplyChecksTest, FilterPrioritizeBindAndAdmission) {
  EXPECT_EQ(
      CheckFilterReply(
          R"({"Nodes":null,"NodeNames":["a"],"FailedNodes":{},"FailedAndUnresolvableNodes":{},"Error":""})",
          NodeMode::kNames),
      "");
  EXPECT_NE(CheckFilterReply(R"({"Nodes":null,"NodeNames":null,"Error":"boom"})", NodeMode::kNames),
            "");
  EXPECT_NE(CheckFilterReply(R"({"floor":true})", NodeMode::kNames), "");
  EXPECT_EQ(CheckFilterReply(R"({"Nodes":{"metadata":{},"items":[]},"NodeNames":null,"Error":""})",
                             NodeMode::kFull),
            "");
  EXPECT_EQ(CheckPrioritizeReply(R"([{"Host":"a","Score":10}])"), "");
  EXPECT_EQ(CheckPrioritizeReply("[]"), "");
  EXPECT_NE(CheckPrioritizeReply(R"({"Error":"x"})"), "");
  EXPECT_EQ(CheckBindReply(R"({"Error":""})"), "");
  EXPECT_NE(CheckBindReply(R"({"Error":"refused"})"), "");

  AdmissionCase c;
  c.uid = "u-1";
  c.expect_allowed = false;
  c.what = "deny: other team";
  const std::string denied =
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u-1","allowed":false,"status":{"code":403}}})";
  EXPECT_EQ(CheckAdmissionReply(denied, c), "");
  c.expect_allowed = true;
  EXPECT_NE(CheckAdmissionReply(denied, c).find("expected allowed"), std::string::npos);
  c.uid = "u-2";
  EXPECT_NE(CheckAdmissionReply(denied, c).find("uid"), std::string::npos);
}

TEST(ReplyChecksTest, KeptNodesAreTakenFromTheFilterReply) {
  auto names = KeptNodeNames(
      R"({"Nodes":null,"NodeNames":["n1","n2"],"FailedNodes":{"n3":"x"},"Error":""})");
  ASSERT_TRUE(names.has_value());
  EXPECT_EQ(*names, R"("n1","n2")");
  EXPECT_EQ(KeptNodeNames(R"({"Nodes":null,"NodeNames":[],"Error":""})").value(), "");
  EXPECT_FALSE(KeptNodeNames(R"({"floor":true})").has_value());

  auto object = KeptNodesObject(
      R"({"Nodes":{"metadata":{},"items":[{"metadata":{"name":"n1"}}]},"NodeNames":null,"FailedNodes":{},"Error":""})");
  ASSERT_TRUE(object.has_value());
  EXPECT_EQ(*object, R"({"metadata":{},"items":[{"metadata":{"name":"n1"}}]})");
  EXPECT_FALSE(KeptNodesObject(R"({"floor":true})").has_value());
}

// The client against hyperplace's own server, plain and TLS, on port 0.
class ClientServerTest : public ::testing::Test {
 protected:
  void Start(bool tls) {
    net::ServerOptions options;
    options.limits.threads = 2;
    if (tls) {
      pki_ = kube::testing::TestPki::Make();
      SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
      BIO* cert = BIO_new_mem_buf(pki_.cert_pem.data(), static_cast<int>(pki_.cert_pem.size()));
      BIO* key = BIO_new_mem_buf(pki_.key_pem.data(), static_cast<int>(pki_.key_pem.size()));
      X509* x = PEM_read_bio_X509(cert, nullptr, nullptr, nullptr);
      EVP_PKEY* k = PEM_read_bio_PrivateKey(key, nullptr, nullptr, nullptr);
      SSL_CTX_use_certificate(raw, x);
      SSL_CTX_use_PrivateKey(raw, k);
      X509_free(x);
      EVP_PKEY_free(k);
      BIO_free(cert);
      BIO_free(key);
      std::shared_ptr<SSL_CTX> ctx(raw, SSL_CTX_free);
      options.tls = [ctx] { return ctx; };
    }
    server_ = std::make_unique<net::HttpServer>(std::move(options));
    server_->Handle("POST", "/echo", [this](const net::Request& req, net::Response& res) {
      ++requests_;
      res.body.assign(req.body);
    });
    server_->Handle("POST", "/filter", [](const net::Request& req, net::Response& res) {
      res.body = R"({"Nodes":null,"NodeNames":["n1"],"FailedNodes":{},"Error":""})";
    });
    server_->Handle("POST", "/prioritize", [](const net::Request& req, net::Response& res) {
      // Only the node the filter kept comes back.
      res.body = req.body.find(R"("NodeNames":["n1"]})") != std::string_view::npos
                     ? R"([{"Host":"n1","Score":7}])"
                     : R"({"unexpected":true})";
    });
    server_->Handle("POST", "/teapot", [](const net::Request&, net::Response& res) {
      res.status = 418;
      res.body = "short and stout";
    });
    ASSERT_TRUE(server_->Listen({"127.0.0.1", 0}).ok());
    ASSERT_TRUE(server_->Start().ok());
    endpoint_.port = server_->port();
    if (tls) {
      endpoint_.tls = true;
      auto ctx = MakeClientTlsContext(pki_.ca_pem);
      ASSERT_TRUE(ctx.ok()) << ctx.status().message();
      endpoint_.tls_context = *ctx;
    }
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::milliseconds(100));
  }

  void EchoThreeTimesOnOneConnection() {
    HttpConnection conn(endpoint_);
    std::string big(200000, 'x');  // several TCP segments and TLS records
    for (int i = 0; i < 3; ++i) {
      const std::string body = i == 1 ? big : "hello " + std::to_string(i);
      HttpReply reply;
      std::string error;
      ASSERT_EQ(conn.RoundTrip(RequestHead("POST", "/echo", endpoint_, body.size()), body,
                               Clock::now() + std::chrono::seconds(5), reply, &error),
                ErrorKind::kOk)
          << error;
      EXPECT_EQ(reply.status, 200);
      EXPECT_EQ(reply.body, body);
    }
    EXPECT_EQ(conn.connects(), 1u);  // keep-alive
    EXPECT_EQ(requests_.load(), 3);
  }

  kube::testing::TestPki pki_;
  std::unique_ptr<net::HttpServer> server_;
  Endpoint endpoint_;
  std::atomic<int> requests_{0};
};

TEST_F(ClientServerTest, PlainKeepAliveRoundTrips) {
  Start(false);
  EchoThreeTimesOnOneConnection();
}

TEST_F(ClientServerTest, TlsKeepAliveRoundTripsWithVerifiedCertificate) {
  Start(true);
  EchoThreeTimesOnOneConnection();
}

TEST_F(ClientServerTest, TlsRefusesAServerItDoesNotTrust) {
  Start(true);
  auto other = MakeClientTlsContext(kube::testing::TestPki::Make().ca_pem);
  ASSERT_TRUE(other.ok());
  Endpoint e = endpoint_;
  e.tls_context = *other;
  HttpConnection conn(e);
  std::string error;
  EXPECT_EQ(conn.Connect(Clock::now() + std::chrono::seconds(5), &error), ErrorKind::kConnect);
  EXPECT_NE(error.find("certificate"), std::string::npos) << error;
}

TEST_F(ClientServerTest, ErrorKindsAreCounted) {
  Start(false);
  LoadOptions o;
  o.rate = 200;
  o.warmup = std::chrono::milliseconds(0);
  o.duration = std::chrono::milliseconds(100);

  // 418 from the server: HTTP status errors, one sample kept.
  class Teapot final : public Workload {
   public:
    explicit Teapot(Endpoint e) : e_(std::move(e)) {}
    std::unique_ptr<Session> NewSession(int) const override {
      class S final : public Session {
       public:
        explicit S(Endpoint e) : e_(std::move(e)) {}
        OpResult Run(std::uint64_t, HttpConnection& conn, Clock::time_point deadline) override {
          HttpReply reply;
          std::string error;
          OpResult r;
          ErrorKind k = conn.RoundTrip(RequestHead("POST", "/teapot", e_, 0), std::string_view(),
                                       deadline, reply, &error);
          if (k != ErrorKind::kOk) {
            r.error = k;
          } else if (reply.status != 200) {
            r.error = ErrorKind::kHttpStatus;
            r.detail = "HTTP " + std::to_string(reply.status);
          }
          return r;
        }
        Endpoint e_;
      };
      return std::make_unique<S>(e_);
    }
    Endpoint e_;
  };
  const LoadStats teapot = RunLoad(endpoint_, Teapot(endpoint_), o);
  EXPECT_EQ(teapot.ops, 0u);
  EXPECT_EQ(teapot.errors[static_cast<int>(ErrorKind::kHttpStatus)], 20u);  // 200/s × 0.1 s
  EXPECT_EQ(teapot.error_samples[static_cast<int>(ErrorKind::kHttpStatus)], "HTTP 418");

  // Nobody listening: connect errors.
  Endpoint closed = endpoint_;
  closed.port = 1;
  ClusterSpec tiny;
  tiny.nodes = 2;
  auto requests = ExtenderRequests::Make(NodeMode::kNames, GenerateNodes(tiny), {"{}"});
  const LoadStats refused =
      RunLoad(closed, ExtenderWorkload(requests, ExtenderVerb::kFilter, closed, true), o);
  EXPECT_EQ(refused.errors[static_cast<int>(ErrorKind::kConnect)], 20u);
}

TEST_F(ClientServerTest, FilterThenPrioritizeSendsTheNodesTheFilterKept) {
  Start(false);
  ClusterSpec spec;
  spec.nodes = 30;
  auto requests = ExtenderRequests::Make(NodeMode::kNames, GenerateNodes(spec),
                                         {GeneratePodJson(1, 0, 8, true)});
  ExtenderWorkload w(requests, ExtenderVerb::kFilterPrioritize, endpoint_, /*validate=*/true);
  LoadOptions o;
  o.warmup = std::chrono::milliseconds(0);
  o.duration = std::chrono::milliseconds(100);
  const LoadStats stats = RunLoad(endpoint_, w, o);
  EXPECT_GT(stats.ops, 0u);
  EXPECT_EQ(stats.total_errors(), 0u) << stats.error_samples[static_cast<int>(ErrorKind::kBadBody)];
  EXPECT_EQ(stats.requests, 2 * stats.ops);
}

}  // namespace
}  // namespace hyperplace::bench
