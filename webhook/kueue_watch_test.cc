#include "webhook/kueue_watch.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "kube/testing/fake_apiserver.h"

namespace hyperplace::webhook {
namespace {

using kube::testing::FakeApiServer;

std::string Queue(const std::string& ns, const std::string& name) {
  return R"({"apiVersion":"kueue.x-k8s.io/v1beta2","kind":"LocalQueue","metadata":{"name":")" +
         name + R"(","namespace":")" + ns +
         R"(","resourceVersion":"__RV__"},"spec":{"clusterQueue":"cq"}})";
}

std::string Class(const std::string& name, int value) {
  return R"({"apiVersion":"kueue.x-k8s.io/v1beta2","kind":"WorkloadPriorityClass","metadata":{"name":")" +
         name + R"(","resourceVersion":"__RV__"},"value":)" + std::to_string(value) +
         R"(,"description":"x"})";
}

template <typename Pred>
bool Eventually(Pred pred) {
  for (int i = 0; i < 1000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

class KueueWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kube::Access access;
    access.server = server_.url();
    access.ca_pem = server_.pki().ca_pem;
    client_ = *kube::Client::Create(access, {});
    config_.kube.backoff_initial = std::chrono::milliseconds(20);
  }
  FakeApiServer server_;
  std::shared_ptr<kube::Client> client_;
  Config config_;
  metrics::Registry registry_;
};

TEST_F(KueueWatchTest, FollowsTheClustersQueuesAndClasses) {
  server_.Upsert("localqueues", "a", Queue("hyperpod-ns-team-a", "hyperpod-ns-team-a-localqueue"));
  server_.Upsert("workloadpriorityclasses", "training", Class("training-priority", 10));
  WatchedKueueCatalog catalog(client_, config_, registry_);
  EXPECT_EQ(catalog.Current(), nullptr);  // not synced: the webhook is not ready
  catalog.Start();
  ASSERT_TRUE(Eventually([&] { return catalog.Current() != nullptr; }));
  auto objects = catalog.Current();
  EXPECT_TRUE(objects->from_cluster);
  EXPECT_EQ(objects->local_queues.count({"hyperpod-ns-team-a", "hyperpod-ns-team-a-localqueue"}),
            1u);
  ASSERT_EQ(objects->priority_classes.size(), 1u);
  EXPECT_EQ(objects->priority_classes[0].name, "training-priority");
  EXPECT_EQ(objects->priority_classes[0].value, 10);
  EXPECT_EQ(catalog.api_version(), "v1beta2");

  server_.Upsert("workloadpriorityclasses", "urgent", Class("urgent-priority", 100));
  server_.Delete("localqueues", "a");
  ASSERT_TRUE(Eventually([&] {
    auto now = catalog.Current();
    return now->priority_classes.size() == 2 && now->local_queues.empty();
  }));
  catalog.Stop();
}

TEST_F(KueueWatchTest, WithoutKueueTheConfigurationIsUsed) {
  server_.SetKueueInstalled(false);
  WatchedKueueCatalog catalog(client_, config_, registry_);
  catalog.Start();
  ASSERT_TRUE(Eventually([&] { return catalog.Current() != nullptr; }));
  auto objects = catalog.Current();
  EXPECT_FALSE(objects->from_cluster);
  EXPECT_EQ(objects->priority_classes.size(), config_.webhook.priority_classes.size());
  EXPECT_EQ(catalog.api_version(), "");
}

TEST(KueueDecodeTest, ObjectsAndBadObjects) {
  std::string ns, name;
  ASSERT_TRUE(WatchedKueueCatalog::DecodeLocalQueue(
                  R"({"metadata":{"namespace":"n","name":"q"},"spec":{}})", ns, name)
                  .ok());
  EXPECT_EQ(ns, "n");
  EXPECT_EQ(name, "q");
  EXPECT_FALSE(
      WatchedKueueCatalog::DecodeLocalQueue(R"({"metadata":{"name":"q"}})", ns, name).ok());
  PriorityClassConfig pc;
  ASSERT_TRUE(
      WatchedKueueCatalog::DecodePriorityClass(R"({"metadata":{"name":"p"},"value":-3})", pc).ok());
  EXPECT_EQ(pc.value, -3);
  EXPECT_FALSE(
      WatchedKueueCatalog::DecodePriorityClass(R"({"metadata":{"name":"p"},"value":"x"})", pc)
          .ok());
  EXPECT_FALSE(WatchedKueueCatalog::DecodePriorityClass(
                   R"({"metadata":{"name":"p"},"value":99999999999})", pc)
                   .ok());
}

}  // namespace
}  // namespace hyperplace::webhook
