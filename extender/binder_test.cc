#include "extender/binder.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "kube/testing/fake_apiserver.h"
#include "scoring/testing/builders.h"

namespace hyperplace::extender {
namespace {

using kube::testing::FakeApiServer;
using nlohmann::json;

class BinderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kube::Access access;
    access.server = server_.url();
    access.ca_pem = server_.pki().ca_pem;
    access.token = "sched";
    server_.RequireToken("sched");
    client_ = *kube::Client::Create(access, {});
    state_ = std::make_shared<MemoryState>(scoring::testing::DefaultPolicy());
    groups_ = std::make_shared<GroupMemo>();
  }
  json Bind(Binder& binder, std::string body, int want_status = 200) {
    net::Response response;
    std::string padded = body + std::string(net::kBodyPadding, '\0');
    binder.Bind(std::string_view(padded.data(), body.size()), response);
    EXPECT_EQ(response.status, want_status) << response.body;
    return json::parse(response.body);
  }

  FakeApiServer server_;
  std::shared_ptr<kube::Client> client_;
  std::shared_ptr<MemoryState> state_;
  std::shared_ptr<GroupMemo> groups_;
  KubeConfig config_;
  metrics::Registry registry_;
};

TEST_F(BinderTest, BindsThroughTheApiServerAndIsSeenAtOnce) {
  groups_->Remember("u1", "ns/g=train");  // learned from the pod's /filter request
  Binder binder(client_, state_, groups_, config_, registry_);
  json reply = Bind(binder, R"({"PodName":"p1","PodNamespace":"ns","PodUID":"u1","Node":"n1"})");
  EXPECT_EQ(reply["Error"], "");
  ASSERT_EQ(server_.bindings().size(), 1u);
  json binding = json::parse(server_.bindings()[0]);
  EXPECT_EQ(binding["kind"], "Binding");
  EXPECT_EQ(binding["metadata"]["name"], "p1");
  EXPECT_EQ(binding["metadata"]["namespace"], "ns");
  EXPECT_EQ(binding["metadata"]["uid"], "u1");
  EXPECT_EQ(binding["target"]["name"], "n1");
  EXPECT_EQ(server_.last_binding_path(), "/api/v1/namespaces/ns/pods/p1/binding");
  // The very next snapshot counts the pod on n1 under its group.
  auto s = state_->Current();
  EXPECT_EQ(s->PodsOn("n1"), 1);
  ASSERT_NE(s->GroupPlacements("ns/g=train"), nullptr);
  EXPECT_EQ((*s->GroupPlacements("ns/g=train"))[0].node, "n1");
  EXPECT_EQ(state_->assumed_count(), 1u);
}

TEST_F(BinderTest, RefusalIsReportedAndNothingIsAssumed) {
  server_.SetBindStatus(409);
  Binder binder(client_, state_, groups_, config_, registry_);
  json reply = Bind(binder, R"({"PodName":"p1","PodNamespace":"ns","PodUID":"u1","Node":"n1"})");
  EXPECT_NE(reply["Error"].get<std::string>().find("HTTP 409"), std::string::npos) << reply;
  EXPECT_EQ(state_->Current()->PodsOn("n1"), 0);
}

TEST_F(BinderTest, TheBindIsSeenBeforeTheApiServerAnswersAndWithdrawnOnRefusal) {
  server_.SetBindStatus(409);
  auto tracker = std::make_shared<BindTracker>();
  Binder binder(client_, state_, groups_, config_, registry_, tracker);
  tracker->BindArrived("warm-up");
  tracker->Filtered("u1");
  Bind(binder, R"({"PodName":"p1","PodNamespace":"ns","PodUID":"u1","Node":"n1"})");
  EXPECT_EQ(tracker->pending(), 0u);              // the waiting filter was released
  EXPECT_EQ(state_->Current()->PodsOn("n1"), 0);  // refused: the assumption is gone
  EXPECT_EQ(state_->assumed_count(), 0u);
}

TEST_F(BinderTest, BadRequestsNeverReachTheApiServer) {
  Binder binder(client_, state_, groups_, config_, registry_);
  Bind(binder, "{", 400);
  Bind(binder, R"({"PodName":"p1","PodNamespace":"ns"})", 400);
  Bind(binder, R"({"PodName":"../../secrets","PodNamespace":"ns","PodUID":"u","Node":"n"})", 400);
  Bind(binder, R"({"PodName":"p","PodNamespace":"NS","PodUID":"u","Node":"n"})", 400);
  EXPECT_TRUE(server_.bindings().empty());
}

TEST_F(BinderTest, WithoutAnApiServerEveryBindIsAnError) {
  Binder binder(nullptr, state_, groups_, config_, registry_);
  json reply = Bind(binder, R"({"PodName":"p1","PodNamespace":"ns","PodUID":"u1","Node":"n1"})");
  EXPECT_NE(reply["Error"].get<std::string>().find("no API server"), std::string::npos);
}

TEST(DnsSubdomainTest, ValidNamesOnly) {
  EXPECT_TRUE(IsDnsSubdomain("hyperpod-i-0a01"));
  EXPECT_TRUE(IsDnsSubdomain("ip-10-1-9-9.us-west-2.compute.internal"));
  for (const char* bad : {"", "-a", "a-", "A", "a/b", "a b", "..", "a_b"}) {
    EXPECT_FALSE(IsDnsSubdomain(bad)) << bad;
  }
  EXPECT_FALSE(IsDnsSubdomain(std::string(254, 'a')));
}

}  // namespace
}  // namespace hyperplace::extender
