#include "extender/watch_cache.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "kube/testing/fake_apiserver.h"
#include "scoring/testing/builders.h"

namespace hyperplace::extender {
namespace {

using kube::testing::FakeApiServer;

std::string Node(const std::string& name, const std::string& type, const std::string& rack,
                 const std::string& health = "Schedulable") {
  return R"({"kind":"Node","apiVersion":"v1","metadata":{"name":")" + name +
         R"(","resourceVersion":"__RV__","labels":{"node.kubernetes.io/instance-type":")" + type +
         R"(","topology.k8s.aws/network-node-layer-1":"t","topology.k8s.aws/network-node-layer-2":"s","topology.k8s.aws/network-node-layer-3":")" +
         rack + R"(","sagemaker.amazonaws.com/node-health-status":")" + health +
         R"("}},"spec":{},"status":{"allocatable":{"pods":"49"},"images":[{"names":["x"],"sizeBytes":1}]}})";
}

std::string Pod(const std::string& name, const std::string& node, const std::string& group,
                const std::string& phase = "Running") {
  return R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":")" + name +
         R"(","namespace":"hyperpod-ns-a","uid":"uid-)" + name +
         R"(","resourceVersion":"__RV__","labels":{"kueue.x-k8s.io/pod-group-name":")" + group +
         R"("}},"spec":{"nodeName":")" + node +
         R"(","containers":[{"name":"c"}]},"status":{"phase":")" + phase + R"("}})";
}

template <typename Pred>
bool Eventually(Pred pred) {
  for (int i = 0; i < 1000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

class WatchCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kube::Access access;
    access.server = server_.url();
    access.ca_pem = server_.pki().ca_pem;
    client_ = *kube::Client::Create(access, {});
    state_ = std::make_shared<MemoryState>(scoring::testing::DefaultPolicy());
    config_.backoff_initial = std::chrono::milliseconds(20);
    config_.backoff_max = std::chrono::milliseconds(100);
  }

  FakeApiServer server_;
  std::shared_ptr<kube::Client> client_;
  std::shared_ptr<MemoryState> state_;
  KubeConfig config_;
  metrics::Registry registry_;
};

TEST_F(WatchCacheTest, NotReadyUntilBothListsSyncedThenFollowsTheWatch) {
  server_.SetListDelayMs(300);
  server_.Upsert("nodes", "n1", Node("n1", "ml.p5.48xlarge", "r1"));
  server_.Upsert("pods", "p1", Pod("p1", "n1", "g"));
  WatchCache cache(client_, state_, config_, registry_);
  cache.Start();
  EXPECT_FALSE(state_->Ready());
  ASSERT_TRUE(Eventually([&] { return state_->Ready(); }));
  auto s = state_->Current();
  ASSERT_NE(s->FindNode("n1"), nullptr);
  EXPECT_EQ(s->FindNode("n1")->facts.max_pods, 49);
  EXPECT_EQ(s->PodsOn("n1"), 1);
  ASSERT_NE(s->GroupPlacements("hyperpod-ns-a/kueue.x-k8s.io/pod-group-name=g"), nullptr);

  // Health changes, pods come and finish: the cache follows.
  server_.Upsert("nodes", "n1", Node("n1", "ml.p5.48xlarge", "r1", "Unschedulable"));
  server_.Upsert("pods", "p2", Pod("p2", "n1", "g"));
  ASSERT_TRUE(Eventually([&] {
    auto now = state_->Current();
    return now->PodsOn("n1") == 2 && !now->FindNode("n1")->facts.healthy;
  }));
  server_.Upsert("pods", "p1", Pod("p1", "n1", "g", "Succeeded"));  // finished: frees its slot
  server_.Delete("pods", "p2");
  ASSERT_TRUE(Eventually([&] { return state_->Current()->PodsOn("n1") == 0; }));
  cache.Stop();
}

TEST_F(WatchCacheTest, RecoversFromCutsAndExpiredVersions) {
  server_.Upsert("nodes", "n1", Node("n1", "ml.p5.48xlarge", "r1"));
  WatchCache cache(client_, state_, config_, registry_);
  cache.Start();
  ASSERT_TRUE(Eventually([&] { return state_->Ready(); }));
  server_.CutWatches("nodes");
  server_.Upsert("nodes", "n2", Node("n2", "ml.p5.48xlarge", "r2"));
  ASSERT_TRUE(Eventually([&] { return state_->Current()->FindNode("n2") != nullptr; }));
  server_.Compact("nodes");
  server_.Delete("nodes", "n1");
  server_.Compact("nodes");
  ASSERT_TRUE(Eventually([&] {
    auto s = state_->Current();
    return s->FindNode("n1") == nullptr && s->FindNode("n2") != nullptr && s->node_count() == 1;
  }));
  cache.Stop();
}

TEST(WatchCacheDecodeTest, PodRecordsCarryNodeGroupAndPhase) {
  auto policy = scoring::testing::DefaultPolicy();
  PodRecord pod;
  bool finished = true;
  std::string json = Pod("p", "n7", "train");
  json.replace(json.find("__RV__"), 6, "1");
  ASSERT_TRUE(WatchCache::DecodePod(json, policy, pod, finished).ok());
  EXPECT_EQ(pod.uid, "uid-p");
  EXPECT_EQ(pod.node, "n7");
  EXPECT_EQ(pod.group, "hyperpod-ns-a/kueue.x-k8s.io/pod-group-name=train");
  EXPECT_FALSE(finished);
  // The scheduler name is kept for a pending pod only: a bound one is never bound again.
  EXPECT_EQ(pod.scheduler_name, "");
  json = Pod("q", "", "train", "Pending");
  json.replace(json.find("__RV__"), 6, "1");
  json.replace(json.find(R"("nodeName")"), 0, R"("schedulerName":"volcano",)");
  ASSERT_TRUE(WatchCache::DecodePod(json, policy, pod, finished).ok());
  EXPECT_EQ(pod.node, "");
  EXPECT_EQ(pod.scheduler_name, "volcano");
  EXPECT_FALSE(WatchCache::DecodePod(R"({"metadata":{"name":"x"}})", policy, pod, finished).ok());
  scoring::Node node;
  EXPECT_FALSE(WatchCache::DecodeNode(R"({"metadata":{"labels":{}}})", node).ok());
}

}  // namespace
}  // namespace hyperplace::extender
