#include "kube/client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "kube/testing/fake_apiserver.h"

namespace hyperplace::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using testing::BindFault;
using testing::FakeApiServer;

constexpr const char* kBindingPath = "/api/v1/namespaces/ns/pods/p1/binding";
constexpr const char* kBinding =
    R"({"apiVersion":"v1","kind":"Binding","metadata":{"name":"p1","namespace":"ns"},)"
    R"("target":{"apiVersion":"v1","kind":"Node","name":"n1"}})";

std::string PodJson(const std::string& name) {
  return R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":")" + name +
         R"(","namespace":"ns","uid":"uid-)" + name +
         R"(","resourceVersion":"__RV__"},"spec":{"schedulerName":"hyperplace"},"status":{"phase":"Pending"}})";
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Upsert("pods", "p1", PodJson("p1"));
    client_ = Make({});
  }
  std::shared_ptr<Client> Make(ClientOptions options) {
    Access access;
    access.server = server_.url();
    access.ca_pem = server_.pki().ca_pem;
    return *Client::Create(access, options);
  }
  // Sends one GET first, so the POST goes out on a pooled keep-alive connection: the case where
  // a failure used to be retried blindly.
  void WarmPool() { ASSERT_TRUE(client_->Request("GET", "/api/v1/namespaces/ns/pods/p1").ok()); }

  FakeApiServer server_;
  std::shared_ptr<Client> client_;
};

TEST_F(ClientTest, APostWhoseResponseIsLostIsNotSentAgain) {
  WarmPool();
  server_.SetBindFault(BindFault::kLoseResponse);
  Outcome out = client_->Send("POST", kBindingPath, kBinding);
  ASSERT_FALSE(out.response.ok());
  EXPECT_TRUE(out.maybe_applied) << out.response.status().message();
  // Once, and applied: a second POST would have been refused with 409 and reported as a failure
  // of a bind that in fact succeeded.
  EXPECT_EQ(server_.bindings().size(), 1u);
  auto pod = client_->Request("GET", "/api/v1/namespaces/ns/pods/p1");
  ASSERT_TRUE(pod.ok());
  EXPECT_NE(pod->body.find(R"("nodeName":"n1")"), std::string::npos) << pod->body;
}

TEST_F(ClientTest, ARequestThatNeverLeftIsNotMaybeApplied) {
  Access access;
  access.server = "http://127.0.0.1:1";  // nothing listens there
  auto client = *Client::Create(access, {});
  Outcome out = client->Send("POST", kBindingPath, kBinding);
  ASSERT_FALSE(out.response.ok());
  EXPECT_FALSE(out.maybe_applied) << out.response.status().message();
}

TEST_F(ClientTest, AStalledRequestEndsAtItsDeadline) {
  WarmPool();
  server_.SetBindFault(BindFault::kStall);
  const auto start = steady_clock::now();
  Outcome out = client_->Send("POST", kBindingPath, kBinding, start + milliseconds(300));
  const auto took = steady_clock::now() - start;
  server_.SetBindFault(BindFault::kNone);
  ASSERT_FALSE(out.response.ok());
  EXPECT_NE(out.response.status().message().find("deadline exceeded"), std::string::npos)
      << out.response.status().message();
  EXPECT_TRUE(out.maybe_applied);
  // Generous: without the deadline the request would wait request_timeout (10 s).
  EXPECT_LT(took, milliseconds(3000));
  EXPECT_EQ(server_.bindings().size(), 1u);
}

TEST_F(ClientTest, ATrickledResponseEndsAtItsDeadline) {
  // One byte every 100 ms never trips a read timeout; only the deadline's watchdog ends it.
  server_.SetBindFault(BindFault::kTrickle);
  const auto start = steady_clock::now();
  Outcome out = client_->Send("POST", kBindingPath, kBinding, start + milliseconds(500));
  const auto took = steady_clock::now() - start;
  ASSERT_FALSE(out.response.ok());
  EXPECT_NE(out.response.status().message().find("deadline exceeded"), std::string::npos)
      << out.response.status().message();
  EXPECT_TRUE(out.maybe_applied);
  EXPECT_LT(took, milliseconds(3000));
  // The client still works afterwards.
  EXPECT_TRUE(client_->Request("GET", "/api/v1/namespaces/ns/pods/p1").ok());
}

TEST_F(ClientTest, AResponseOverTheLimitFails) {
  for (int i = 0; i < 50; ++i) server_.Upsert("pods", "p" + std::to_string(i), PodJson("x"));
  ClientOptions options;
  options.max_response_bytes = 1024;
  auto client = Make(options);
  auto small = client->Request("GET", "/api/v1/namespaces/ns/pods/p1");
  ASSERT_TRUE(small.ok()) << small.status().message();
  auto list = client->Request("GET", "/api/v1/pods");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(list.status().message().find("larger than 1024 bytes"), std::string::npos)
      << list.status().message();
}

}  // namespace
}  // namespace hyperplace::kube
