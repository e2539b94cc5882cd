#include "extender/state.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

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

TEST(MemoryStateTest, PublishedSnapshotsNeverChangeAfterwards) {
  MemoryState state(DefaultPolicy());
  state.UpsertNode(NodeBuilder("n1").Build());
  state.UpsertPod({"u1", "n1", "g"});
  state.Publish();
  auto first = state.Current();
  state.UpsertPod({"u2", "n1", "g"});
  state.DeletePod("u1");
  state.DeleteNode("n1");
  state.Publish();
  // The first snapshot still shows its own moment: one pod in g on n1, n1 cached.
  ASSERT_NE(first->GroupPlacements("g"), nullptr);
  ASSERT_EQ(first->GroupPlacements("g")->size(), 1u);
  EXPECT_EQ((*first->GroupPlacements("g"))[0].uid, "u1");
  EXPECT_EQ(first->PodsOn("n1"), 1);
  EXPECT_NE(first->FindNode("n1"), nullptr);
  auto second = state.Current();
  EXPECT_EQ((*second->GroupPlacements("g"))[0].uid, "u2");
  EXPECT_EQ(second->FindNode("n1"), nullptr);
  EXPECT_EQ(second->PodsOn("n1"), 1);  // the pod still names the node
}

TEST(MemoryStateTest, AssumedPodCountsAtOnceAndIsConfirmedByTheWatch) {
  MemoryState state(DefaultPolicy());
  const auto now = MemoryState::Clock::now();
  state.AssumePod({"u1", "n1", "g"}, now + std::chrono::seconds(30));
  state.Publish();
  EXPECT_EQ(state.Current()->PodsOn("n1"), 1);
  EXPECT_EQ(state.assumed_count(), 1u);
  state.UpsertPod({"u1", "n1", "g"});  // the watch shows the binding
  EXPECT_EQ(state.assumed_count(), 0u);
  EXPECT_EQ(state.ExpireAssumptions(now + std::chrono::hours(1)), 0u);
  state.Publish();
  EXPECT_EQ(state.Current()->PodsOn("n1"), 1);
}

TEST(MemoryStateTest, UnconfirmedAssumptionExpires) {
  MemoryState state(DefaultPolicy());
  const auto now = MemoryState::Clock::now();
  state.AssumePod({"u1", "n1", "g"}, now + std::chrono::seconds(30));
  EXPECT_EQ(state.ExpireAssumptions(now + std::chrono::seconds(29)), 0u);
  EXPECT_EQ(state.ExpireAssumptions(now + std::chrono::seconds(31)), 1u);
  state.Publish();
  EXPECT_EQ(state.Current()->PodsOn("n1"), 0);
  EXPECT_EQ(state.Current()->GroupPlacements("g"), nullptr);
}

TEST(MemoryStateTest, AssumeDoesNotOverrideWhatTheWatchAlreadyShows) {
  MemoryState state(DefaultPolicy());
  state.UpsertPod({"u1", "n1", "g"});
  state.AssumePod({"u1", "n2", "g"}, MemoryState::Clock::now() + std::chrono::seconds(30));
  state.Publish();
  EXPECT_EQ(state.Current()->PodsOn("n1"), 1);
  EXPECT_EQ(state.Current()->PodsOn("n2"), 0);
  EXPECT_EQ(state.assumed_count(), 0u);
}

TEST(MemoryStateTest, ReplaceRemovesWhatTheListDoesNotShowButKeepsAssumptions) {
  MemoryState state(DefaultPolicy());
  state.UpsertNode(NodeBuilder("old").Build());
  state.UpsertNode(NodeBuilder("kept").Build());
  state.UpsertPod({"gone", "kept", "g"});
  state.UpsertPod({"stays", "kept", "g"});
  state.AssumePod({"just-bound", "kept", "g"},
                  MemoryState::Clock::now() + std::chrono::seconds(30));
  std::vector<scoring::Node> nodes;
  nodes.push_back(NodeBuilder("kept").Build());
  nodes.push_back(NodeBuilder("new").Build());
  state.ReplaceNodes(std::move(nodes));
  state.ReplacePods({{"stays", "kept", "g"}});
  state.Publish();
  auto s = state.Current();
  EXPECT_EQ(s->FindNode("old"), nullptr);
  EXPECT_NE(s->FindNode("kept"), nullptr);
  EXPECT_NE(s->FindNode("new"), nullptr);
  EXPECT_EQ(s->node_count(), 2u);
  EXPECT_EQ(s->PodsOn("kept"), 2);  // "stays" and the assumed "just-bound"
  EXPECT_EQ(s->GroupPlacements("g")->size(), 2u);
}

TEST(MemoryStateTest, UpdateThatChangesNothingTheRulesReadKeepsTheNodeTable) {
  MemoryState state(DefaultPolicy());
  state.UpsertNode(NodeBuilder("n1").InstanceType("ml.g5.xlarge").Build());
  state.Publish();
  const auto* before = state.Current()->FindNode("n1");
  state.UpsertNode(NodeBuilder("n1").InstanceType("ml.g5.xlarge").Build());  // a heartbeat
  state.Publish();
  EXPECT_EQ(state.Current()->FindNode("n1"), before);  // same entry object
  state.UpsertNode(NodeBuilder("n1").InstanceType("ml.g5.xlarge").Health("Unschedulable").Build());
  state.Publish();
  EXPECT_NE(state.Current()->FindNode("n1"), before);
  EXPECT_FALSE(state.Current()->FindNode("n1")->facts.healthy);
}

TEST(MemoryStateTest, ManyGroupsAndPodsStayConsistent) {
  MemoryState state(DefaultPolicy());
  // 3000 pods in 300 groups over 100 nodes, then half deleted: counts and placements agree.
  for (int i = 0; i < 3000; ++i) {
    state.UpsertPod(
        {"u" + std::to_string(i), "n" + std::to_string(i % 100), "g" + std::to_string(i % 300)});
  }
  state.Publish();
  for (int i = 0; i < 3000; i += 2) state.DeletePod("u" + std::to_string(i));
  state.Publish();
  auto s = state.Current();
  EXPECT_EQ(s->pod_count(), 1500u);
  int total = 0;
  for (int n = 0; n < 100; ++n) total += s->PodsOn("n" + std::to_string(n));
  EXPECT_EQ(total, 1500);
  std::size_t placed = 0;
  for (int g = 0; g < 300; ++g) {
    if (const auto* p = s->GroupPlacements("g" + std::to_string(g))) placed += p->size();
  }
  EXPECT_EQ(placed, 1500u);
}

// DESIGN §2.4: the group of every pod, placed or not, is known from the watch, so a bind whose
// /filter another replica served (or none: a restart) still lands in its gang.
TEST(MemoryStateTest, BindOfAPendingPodTheWatchShowedJoinsItsGroup) {
  MemoryState state(DefaultPolicy());
  state.UpsertPod({"u1", "", "g"});  // pending: known, occupies nothing
  state.Publish();
  EXPECT_EQ(state.Current()->pod_count(), 0u);
  EXPECT_EQ(state.Current()->pending_pod_count(), 1u);
  EXPECT_EQ(state.Current()->GroupPlacements("g"), nullptr);
  EXPECT_EQ(state.GroupOf("u1"), "g");

  state.AssumePod({"u1", "n1", ""}, MemoryState::Clock::now() + std::chrono::seconds(30));
  state.Publish();
  auto s = state.Current();
  ASSERT_NE(s->GroupPlacements("g"), nullptr);
  EXPECT_EQ((*s->GroupPlacements("g"))[0].node, "n1");
  EXPECT_EQ(s->pod_count(), 1u);
  EXPECT_EQ(s->pending_pod_count(), 0u);
}

TEST(MemoryStateTest, TheWatchsGroupWinsOverTheCallersGuess) {
  MemoryState state(DefaultPolicy());
  state.UpsertPod({"u1", "", "g"});
  state.UpsertPod({"u2", "", ""});  // a pod of no group
  const auto until = MemoryState::Clock::now() + std::chrono::seconds(30);
  state.AssumePod({"u1", "n1", "forged"}, until);
  state.AssumePod({"u2", "n1", "forged"}, until);
  state.Publish();
  EXPECT_EQ(state.Current()->GroupPlacements("forged"), nullptr);
  EXPECT_EQ(state.Current()->GroupPlacements("g")->size(), 1u);
  EXPECT_EQ(state.Current()->PodsOn("n1"), 2);
  // A pod the watch has not shown yet takes the caller's group.
  state.AssumePod({"u3", "n1", "h"}, until);
  state.Publish();
  EXPECT_EQ(state.Current()->GroupPlacements("h")->size(), 1u);
}

TEST(MemoryStateTest, AStaleUnscheduledEventDoesNotUndoAnAssumption) {
  MemoryState state(DefaultPolicy());
  state.UpsertPod({"u1", "", "g"});
  state.AssumePod({"u1", "n1", ""}, MemoryState::Clock::now() + std::chrono::seconds(30));
  state.UpsertPod({"u1", "", "g"});  // an update from before the Binding, delivered after it
  state.Publish();
  EXPECT_EQ(state.Current()->PodsOn("n1"), 1);
  EXPECT_EQ(state.assumed_count(), 1u);
  EXPECT_EQ(state.Current()->GroupPlacements("g")->size(), 1u);
  state.UpsertPod({"u1", "n1", "g"});  // the Binding itself
  state.Publish();
  EXPECT_EQ(state.assumed_count(), 0u);
  EXPECT_EQ(state.Current()->PodsOn("n1"), 1);
}

TEST(MemoryStateTest, ARefusedOrExpiredBindOfAWatchedPodKeepsItPending) {
  MemoryState state(DefaultPolicy());
  const auto now = MemoryState::Clock::now();
  state.UpsertPod({"u1", "", "g"});
  state.AssumePod({"u1", "n1", ""}, now + std::chrono::seconds(30));
  state.ForgetAssumed("u1", "n1");  // the API server refused the Binding
  state.Publish();
  EXPECT_EQ(state.Current()->PodsOn("n1"), 0);
  EXPECT_EQ(state.Current()->pending_pod_count(), 1u);
  EXPECT_EQ(state.GroupOf("u1"), "g");
  EXPECT_EQ(state.assumed_count(), 0u);

  state.AssumePod({"u1", "n2", ""}, now + std::chrono::seconds(30));  // the scheduler retries
  EXPECT_EQ(state.ExpireAssumptions(now + std::chrono::seconds(31)), 1u);
  state.Publish();
  EXPECT_EQ(state.Current()->PodsOn("n2"), 0);
  EXPECT_EQ(state.GroupOf("u1"), "g");
  // A pod only our bind knew is forgotten altogether.
  state.AssumePod({"u9", "n1", "g"}, now + std::chrono::seconds(30));
  state.ForgetAssumed("u9", "n1");
  EXPECT_EQ(state.GroupOf("u9"), std::nullopt);
}

TEST(MemoryStateTest, AnOlderBindsRefusalLeavesANewerBindsAssumption) {
  MemoryState state(DefaultPolicy());
  const auto until = MemoryState::Clock::now() + std::chrono::seconds(30);
  state.UpsertPod({"u1", "", "g"});
  state.AssumePod({"u1", "n1", ""}, until);  // first bind, still in flight
  state.AssumePod({"u1", "n2", ""}, until);  // the scheduler retried elsewhere
  state.ForgetAssumed("u1", "n1");           // the first bind's refusal arrives last
  state.Publish();
  EXPECT_EQ(state.Current()->PodsOn("n1"), 0);
  EXPECT_EQ(state.Current()->PodsOn("n2"), 1);
  EXPECT_EQ(state.assumed_count(), 1u);
  EXPECT_EQ((*state.Current()->GroupPlacements("g"))[0].node, "n2");
}

TEST(MemoryStateTest, AnAssumedPodARelistNoLongerShowsExpiresForGood) {
  MemoryState state(DefaultPolicy());
  const auto now = MemoryState::Clock::now();
  state.UpsertPod({"u1", "", "g"});
  state.AssumePod({"u1", "n1", ""}, now + std::chrono::seconds(30));
  state.ReplacePods({});  // deleted while the watch was down
  state.Publish();
  EXPECT_EQ(state.Current()->PodsOn("n1"), 1);  // the bind may be newer than the list
  EXPECT_EQ(state.ExpireAssumptions(now + std::chrono::seconds(31)), 1u);
  state.Publish();
  EXPECT_EQ(state.GroupOf("u1"), std::nullopt);
  EXPECT_EQ(state.Current()->pending_pod_count(), 0u);
}

TEST(MemoryStateTest, DeletingAPendingPodForgetsIt) {
  MemoryState state(DefaultPolicy());
  state.UpsertPod({"u1", "", "g"});
  state.UpsertPod({"u1", "", "g"});
  state.DeletePod("u1");
  state.Publish();
  EXPECT_EQ(state.Current()->pending_pod_count(), 0u);
  EXPECT_EQ(state.GroupOf("u1"), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// Resources: what the pods on each node request in all (DESIGN §2.2).

PodRecord GpuPod(std::string uid, std::string node, std::int64_t gpus, std::string group = "") {
  PodRecord pod{std::move(uid), std::move(node), std::move(group)};
  pod.requests = {{"cpu", 4000}, {"nvidia.com/gpu", gpus}};
  return pod;
}

std::int64_t Used(const Snapshot& s, std::string_view node, std::string_view resource) {
  return s.UsedOn(node, s.ResourceId(resource));
}

TEST(MemoryStateResourcesTest, PodsTakeTheirRequestsFromTheirNodeUntilTheyGo) {
  MemoryState state(DefaultPolicy());
  state.UpsertNode(NodeBuilder("n1").InstanceType("ml.p5.48xlarge").Gpus(8).Build());
  state.UpsertPod(GpuPod("u1", "n1", 4));
  state.UpsertPod(GpuPod("u2", "n1", 2));
  state.UpsertPod(GpuPod("u3", "", 8));  // pending: takes nothing
  state.Publish();
  auto s = state.Current();
  EXPECT_EQ(Used(*s, "n1", "nvidia.com/gpu"), 6);
  EXPECT_EQ(Used(*s, "n1", "cpu"), 8000);
  ASSERT_NE(s->FindNode("n1"), nullptr);
  EXPECT_EQ(s->FindNode("n1")->Allocatable(s->ResourceId("nvidia.com/gpu")), 8);

  state.DeletePod("u1");
  state.UpsertPod(GpuPod("u2", "n1", 3));  // resized in place: 2 → 3
  state.Publish();
  EXPECT_EQ(Used(*state.Current(), "n1", "nvidia.com/gpu"), 3);
  state.DeletePod("u2");
  state.Publish();
  for (const char* r : {"cpu", "nvidia.com/gpu"}) EXPECT_EQ(Used(*state.Current(), "n1", r), 0);
  // The earlier snapshot still shows what it showed.
  EXPECT_EQ(Used(*s, "n1", "nvidia.com/gpu"), 6);
}

TEST(MemoryStateResourcesTest, ABindTakesTheWatchedPodsRequestsAtOnce) {
  MemoryState state(DefaultPolicy());
  state.UpsertNode(NodeBuilder("n1").InstanceType("ml.p5.48xlarge").Gpus(8).Build());
  state.UpsertPod(GpuPod("u1", "", 8, "ns/g=a"));  // pending, as the watch shows it
  // The binder knows only uid and node; the watch's requests count.
  state.AssumePod({"u1", "n1", ""}, MemoryState::Clock::now() + std::chrono::seconds(30));
  state.Publish();
  EXPECT_EQ(Used(*state.Current(), "n1", "nvidia.com/gpu"), 8);
  // A pod the watch has not shown yet: the requests the bind brings (from the pod's /filter).
  state.AssumePod(GpuPod("u2", "n2", 1), MemoryState::Clock::now() + std::chrono::seconds(30));
  state.Publish();
  EXPECT_EQ(Used(*state.Current(), "n2", "nvidia.com/gpu"), 1);
  // The watch confirms u1 on n1: still 8, not 16.
  state.UpsertPod(GpuPod("u1", "n1", 8, "ns/g=a"));
  // An expired or refused bind gives the node back.
  state.ForgetAssumed("u2", "n2");
  state.Publish();
  EXPECT_EQ(Used(*state.Current(), "n1", "nvidia.com/gpu"), 8);
  EXPECT_EQ(Used(*state.Current(), "n2", "nvidia.com/gpu"), 0);
}

TEST(MemoryStateResourcesTest, PodsListedBeforeTheirNodesResourceCountOnceTheNodeShowsIt) {
  MemoryState state(DefaultPolicy());
  PodRecord pod{"u1", "n1", ""};
  pod.requests = {{"example.com/fpga", 2}};
  state.UpsertPod(pod);  // no node has example.com/fpga yet
  state.Publish();
  EXPECT_EQ(state.Current()->ResourceId("example.com/fpga"), -1);
  state.UpsertNode(NodeBuilder("n1").Allocatable("example.com/fpga", 4).Build());
  state.Publish();
  EXPECT_EQ(Used(*state.Current(), "n1", "example.com/fpga"), 2);
  state.DeletePod("u1");
  state.Publish();
  EXPECT_EQ(Used(*state.Current(), "n1", "example.com/fpga"), 0);
}

// Resource ids past the inline rows (kInlineResources) are read through the node's full usage:
// a node with more extended resources than the rows hold is counted the same for every one, on
// slots across several usage chunks.
TEST(MemoryStateResourcesTest, ResourcesPastTheInlineRowsCountTheSame) {
  MemoryState state(DefaultPolicy());
  constexpr int kExtra = 2 * kInlineResources;
  constexpr int kNodes = 600;  // slots in three usage chunks
  auto resource = [](int r) { return "example.com/r" + std::to_string(100 + r); };
  for (int n = 0; n < kNodes; ++n) {
    NodeBuilder node("hyperpod-i-" + std::to_string(n));
    for (int r = 0; r < kExtra; ++r) node.Allocatable(resource(r), 100 + r);
    state.UpsertNode(node.Build());
  }
  for (int n = 0; n < kNodes; n += 7) {
    PodRecord pod{"u" + std::to_string(n), "hyperpod-i-" + std::to_string(n), ""};
    for (int r = 0; r < kExtra; r += 3) pod.requests.emplace_back(resource(r), 1 + (n + r) % 5);
    state.UpsertPod(pod);
  }
  state.Publish();
  auto s = state.Current();
  int past_inline = 0;
  for (int n = 0; n < kNodes; ++n) {
    const std::string name = "hyperpod-i-" + std::to_string(n);
    const auto* entry = s->FindNode(name);
    ASSERT_NE(entry, nullptr);
    EXPECT_EQ(s->FactsAt(s->SlotOf(name)).node, &entry->node) << name;
    for (int r = 0; r < kExtra; ++r) {
      const int id = s->ResourceId(resource(r));
      ASSERT_GE(id, 0);
      past_inline += id >= kInlineResources;
      EXPECT_EQ(entry->Allocatable(id), 100 + r) << name << " " << resource(r);
      EXPECT_EQ(s->AllocatableAt(s->SlotOf(name), id), 100 + r) << name << " " << resource(r);
      const std::int64_t want = n % 7 == 0 && r % 3 == 0 ? 1 + (n + r) % 5 : 0;
      EXPECT_EQ(Used(*s, name, resource(r)), want) << name << " " << resource(r);
    }
  }
  EXPECT_GT(past_inline, 0);
  // Deleting the pods gives every amount back, inline or not.
  for (int n = 0; n < kNodes; n += 7) state.DeletePod("u" + std::to_string(n));
  state.Publish();
  for (int r = 0; r < kExtra; ++r) {
    EXPECT_EQ(Used(*state.Current(), "hyperpod-i-7", resource(r)), 0) << resource(r);
  }
  // The snapshot taken before still shows what it showed.
  EXPECT_EQ(Used(*s, "hyperpod-i-7", resource(kExtra - 2)), 1 + (7 + kExtra - 2) % 5);
}

TEST(MemoryStateResourcesTest, PodsCannotAddResourceNames) {
  MemoryState state(DefaultPolicy());
  for (int i = 0; i < 2000; ++i) {
    PodRecord pod{"u" + std::to_string(i), "", ""};
    pod.requests = {{"fake.example/r" + std::to_string(i), 1}};
    state.UpsertPod(pod);
  }
  state.Publish();
  EXPECT_EQ(state.Current()->ResourceId("fake.example/r7"), -1);
  // Nodes still can: the table was not used up by pods.
  state.UpsertNode(NodeBuilder("n1").Allocatable("example.com/fpga", 4).Build());
  state.Publish();
  EXPECT_GE(state.Current()->ResourceId("example.com/fpga"), 0);
}

TEST(MemoryStateResourcesTest, AnAllocatableChangeIsANewNodeEntry) {
  MemoryState state(DefaultPolicy());
  state.UpsertNode(NodeBuilder("n1").InstanceType("ml.p5.48xlarge").Gpus(8).Build());
  state.Publish();
  const auto* before = state.Current()->FindNode("n1");
  // The device plugin restarted and reports 7 GPUs: the rules must see it.
  state.UpsertNode(NodeBuilder("n1").InstanceType("ml.p5.48xlarge").Gpus(7).Build());
  state.Publish();
  auto s = state.Current();
  EXPECT_NE(s->FindNode("n1"), before);
  EXPECT_EQ(s->FindNode("n1")->Allocatable(s->ResourceId("nvidia.com/gpu")), 7);
  EXPECT_EQ(s->AllocatableAt(s->SlotOf("n1"), s->ResourceId("nvidia.com/gpu")), 7);
  EXPECT_EQ(s->FactsAt(s->SlotOf("n1")).node, &s->FindNode("n1")->node);
}

// The cache built from events and one built from a fresh list of the same pods agree on every
// node's usage, at HyperPod scale (1024 nodes, 30 pods each, pods arriving in another order).
TEST(MemoryStateResourcesTest, EventsAndAFreshListAgreeAtScale) {
  constexpr int kNodes = 1024, kPodsPerNode = 30;
  auto node_name = [](int i) {
    char name[32];
    std::snprintf(name, sizeof name, "hyperpod-i-%017lx", 0x0a1b2c3d0000L + i);
    return std::string(name);
  };
  std::vector<PodRecord> pods;
  for (int n = 0; n < kNodes; ++n) {
    for (int k = 0; k < kPodsPerNode; ++k) {
      PodRecord pod{"u-" + std::to_string(n) + "-" + std::to_string(k), node_name(n), ""};
      pod.requests = {{"cpu", 100 + k}, {"memory", std::int64_t{1} << (20 + k % 10)}};
      if (k < n % 9) pod.requests.emplace_back("nvidia.com/gpu", 1);
      pods.push_back(std::move(pod));
    }
  }
  MemoryState events(DefaultPolicy()), listed(DefaultPolicy());
  for (int n = 0; n < kNodes; ++n) {
    events.UpsertNode(NodeBuilder(node_name(n)).InstanceType("ml.p5.48xlarge").Gpus(8).Build());
    listed.UpsertNode(NodeBuilder(node_name(n)).InstanceType("ml.p5.48xlarge").Gpus(8).Build());
  }
  // Events: every pod created pending, then bound, in reverse order, with a few deleted and
  // re-created on the way.
  for (auto it = pods.rbegin(); it != pods.rend(); ++it) {
    PodRecord pending = *it;
    pending.node.clear();
    events.UpsertPod(pending);
  }
  for (std::size_t i = 0; i < pods.size(); ++i) {
    events.UpsertPod(pods[i]);
    if (i % 97 == 0) {
      events.DeletePod(pods[i].uid);
      events.UpsertPod(pods[i]);
    }
  }
  events.Publish();
  listed.ReplacePods(pods);
  listed.Publish();
  auto a = events.Current(), b = listed.Current();
  for (int n = 0; n < kNodes; ++n) {
    const std::string name = node_name(n);
    ASSERT_GE(a->SlotOf(name), 0) << name;
    ASSERT_GE(b->SlotOf(name), 0) << name;
    EXPECT_EQ(Used(*a, name, "nvidia.com/gpu"), n % 9) << name;
    for (const char* r : {"cpu", "memory", "nvidia.com/gpu"}) {
      EXPECT_EQ(Used(*a, name, r), Used(*b, name, r)) << name << " " << r;
    }
  }
}

}  // namespace
}  // namespace hyperplace::extender