#include "extender/state.h"

#include <gtest/gtest.h>

#include "scoring/testing/builders.h"

namespace hyperplace::extender {
namespace {

using scoring::testing::DefaultPolicy;
using scoring::testing::NodeBuilder;

TEST(MemoryStateTest, ChangesAreInvisibleUntilPublished) {
  MemoryState state(DefaultPolicy());
  auto before = state.Current();
  state.UpsertNode(NodeBuilder("n1").InstanceType("ml.g5.xlarge").Build());
  state.UpsertPod({"u1", "n1", "ns/g=a"});
  EXPECT_EQ(state.Current()->FindNode("n1"), nullptr);
  EXPECT_EQ(state.Current()->PodsOn("n1"), 0);
  state.Publish();
  auto after = state.Current();
  ASSERT_NE(after->FindNode("n1"), nullptr);
  EXPECT_EQ(after->FindNode("n1")->facts.max_pods, 14);
  EXPECT_EQ(after->PodsOn("n1"), 1);
  EXPECT_EQ(after->node_count(), 1u);
  EXPECT_EQ(after->pod_count(), 1u);
  EXPECT_GT(after->generation(), before->generation());
  // The earlier snapshot is immutable.
  EXPECT_EQ(before->FindNode("n1"), nullptr);
}

TEST(MemoryStateTest, PodsCountOnTheirNodeAndGroupsTrackPlacements) {
  MemoryState state(DefaultPolicy());
  state.UpsertPod({"u1", "n1", "ns/g=a"});
  state.UpsertPod({"u2", "n1", "ns/g=a"});
  state.UpsertPod({"u3", "n2", "ns/g=a"});
  state.UpsertPod({"u4", "", "ns/g=a"});  // not placed yet
  state.UpsertPod({"u5", "n2", ""});
  state.Publish();
  auto s = state.Current();
  EXPECT_EQ(s->PodsOn("n1"), 2);
  EXPECT_EQ(s->PodsOn("n2"), 2);
  EXPECT_EQ(s->PodsOn("n3"), 0);
  ASSERT_NE(s->GroupPlacements("ns/g=a"), nullptr);
  EXPECT_EQ(s->GroupPlacements("ns/g=a")->size(), 3u);
  EXPECT_EQ(s->GroupPlacements("ns/g=b"), nullptr);
}

TEST(MemoryStateTest, UpsertReplacesByUidAndDeleteRemoves) {
  MemoryState state(DefaultPolicy());
  state.UpsertNode(NodeBuilder("n1").Build());
  state.UpsertPod({"u1", "n1", "g"});
  state.Publish();
  state.UpsertPod({"u1", "n2", "g"});  // moved (a re-created pod with the same uid)
  state.Publish();
  EXPECT_EQ(state.Current()->PodsOn("n1"), 0);
  EXPECT_EQ(state.Current()->PodsOn("n2"), 1);
  state.DeletePod("u1");
  state.DeleteNode("n1");
  state.DeletePod("never-existed");
  state.Publish();
  EXPECT_EQ(state.Current()->PodsOn("n2"), 0);
  EXPECT_EQ(state.Current()->FindNode("n1"), nullptr);
  EXPECT_EQ(state.Current()->GroupPlacements("g"), nullptr);
}

TEST(MemoryStateTest, NodeFactsSurviveTheBuilderThatMadeTheNode) {
  MemoryState state(DefaultPolicy());
  {
    scoring::Node node =
        NodeBuilder("n1").InstanceType("ml.p5.48xlarge").Layers({"a", "b"}).Build();
    state.UpsertNode(std::move(node));
  }
  state.Publish();
  const auto* entry = state.Current()->FindNode("n1");
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->facts.node, &entry->node);
  EXPECT_EQ(entry->node.labels.Get("topology.k8s.aws/network-node-layer-2"), "b");
  EXPECT_EQ(entry->facts.depth, 2);
}

}  // namespace
}  // namespace hyperplace::extender
