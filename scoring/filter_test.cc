#include "scoring/filter.h"

#include <gtest/gtest.h>

#include <set>

#include "scoring/testing/harness.h"

namespace hyperplace::scoring {
namespace {

using testing::Harness;
using testing::LayerKey;
using testing::NodeBuilder;
using testing::PodBuilder;

constexpr char kHealthKey[] = "sagemaker.amazonaws.com/node-health-status";

TEST(FilterTest, UnhealthyNodeIsUnresolvable) {
  Harness h;
  h.AddNode(NodeBuilder("ok").InstanceType("ml.p5.48xlarge").Health("Schedulable").Build());
  h.AddNode(NodeBuilder("nolabel").InstanceType("ml.p5.48xlarge").Build());
  for (const char* bad : {"Unschedulable", "UnschedulablePendingReplacement",
                          "UnschedulablePendingReboot", "SomethingNew"}) {
    h.AddNode(NodeBuilder(bad).InstanceType("ml.p5.48xlarge").Health(bad).Build());
  }
  auto got = h.Filter(PodBuilder("hyperpod-ns-a", "p").Build());
  EXPECT_EQ(got["ok"], Reason::kFits);
  EXPECT_EQ(got["nolabel"], Reason::kFits);
  for (const char* bad : {"Unschedulable", "UnschedulablePendingReplacement",
                          "UnschedulablePendingReboot", "SomethingNew"}) {
    EXPECT_EQ(got[bad], Reason::kNodeUnhealthy) << bad;
  }
  EXPECT_FALSE(IsResolvable(Reason::kNodeUnhealthy));
}

TEST(FilterTest, HealthTaintRejectsUnlessTolerated) {
  Harness h;
  h.AddNode(NodeBuilder("noschedule")
                .InstanceType("ml.p5.48xlarge")
                .Taint(kHealthKey, "Unschedulable", "NoSchedule")
                .Build());
  h.AddNode(NodeBuilder("noexecute")
                .InstanceType("ml.p5.48xlarge")
                .Taint(kHealthKey, "Unschedulable", "NoExecute")
                .Build());
  h.AddNode(NodeBuilder("prefer")
                .InstanceType("ml.p5.48xlarge")
                .Taint(kHealthKey, "Unschedulable", "PreferNoSchedule")
                .Build());
  auto plain = h.Filter(PodBuilder("hyperpod-ns-a", "p").Build());
  EXPECT_EQ(plain["noschedule"], Reason::kUntoleratedHealthTaint);
  EXPECT_EQ(plain["noexecute"], Reason::kUntoleratedHealthTaint);
  EXPECT_EQ(plain["prefer"], Reason::kFits);

  auto tolerant = h.Filter(
      PodBuilder("hyperpod-ns-a", "p").Tolerate(kHealthKey, "Exists", "", "NoSchedule").Build());
  EXPECT_EQ(tolerant["noschedule"], Reason::kFits);
  EXPECT_EQ(tolerant["noexecute"], Reason::kUntoleratedHealthTaint);  // effect not tolerated
}

TEST(FilterTest, AcceleratedPodsAvoidNonMlInstanceTypes) {
  Harness h;
  h.AddNode(NodeBuilder("ml").InstanceType("ml.g5.xlarge").Build());
  h.AddNode(NodeBuilder("ec2").InstanceType("m5.large").Build());
  h.AddNode(NodeBuilder("untyped").Build());
  struct Case {
    const char* what;
    Pod pod;
    bool accelerated;
  } cases[] = {
      {"team namespace", PodBuilder("hyperpod-ns-a", "p").Build(), true},
      {"queue label", PodBuilder("default", "p").Label("kueue.x-k8s.io/queue-name", "q").Build(),
       true},
      {"plain pod", PodBuilder("default", "p").Build(), false},
  };
  for (auto& c : cases) {
    auto got = h.Filter(c.pod);
    EXPECT_EQ(got["ml"], Reason::kFits) << c.what;
    Reason want = c.accelerated ? Reason::kNotAcceleratedType : Reason::kFits;
    EXPECT_EQ(got["ec2"], want) << c.what;
    EXPECT_EQ(got["untyped"], want) << c.what;
  }
}

TEST(FilterTest, SelectorWithoutPrefixMatchesMlType) {
  Harness h;
  h.AddNode(NodeBuilder("p5").InstanceType("ml.p5.48xlarge").Build());
  h.AddNode(NodeBuilder("g5").InstanceType("ml.g5.xlarge").Build());
  h.AddNode(NodeBuilder("raw-p5").InstanceType("p5.48xlarge").Build());
  auto got = h.Filter(PodBuilder("default", "p")
                          .NodeSelector("node.kubernetes.io/instance-type", "p5.48xlarge")
                          .Build());
  EXPECT_EQ(got["p5"], Reason::kFits);
  EXPECT_EQ(got["g5"], Reason::kInstanceTypeMismatch);
  // Selecting a type makes the pod accelerated: the non-ml node fails that rule first.
  EXPECT_EQ(got["raw-p5"], Reason::kNotAcceleratedType);
}

TEST(FilterTest, MaxPodsReachedIsResolvable) {
  Harness h;
  h.AddNode(NodeBuilder("full").InstanceType("ml.g5.xlarge").Build(), 14);  // table: 14
  h.AddNode(NodeBuilder("room").InstanceType("ml.g5.xlarge").Build(), 13);
  h.AddNode(NodeBuilder("alloc").InstanceType("ml.new.type").AllocatablePods(3).Build(), 3);
  h.AddNode(NodeBuilder("nolimit").InstanceType("ml.new.type").Build(), 500);
  auto got = h.Filter(PodBuilder("hyperpod-ns-a", "p").Build());
  EXPECT_EQ(got["full"], Reason::kMaxPodsReached);
  EXPECT_EQ(got["room"], Reason::kFits);
  EXPECT_EQ(got["alloc"], Reason::kMaxPodsReached);
  EXPECT_EQ(got["nolimit"], Reason::kFits);
  EXPECT_TRUE(IsResolvable(Reason::kMaxPodsReached));
}

TEST(FilterTest, RequiredTopologyNeedsTheLevelLabel) {
  Harness h;
  h.AddNode(NodeBuilder("deep").InstanceType("ml.p5.48xlarge").Layers({"a", "b", "c"}).Build());
  h.AddNode(NodeBuilder("shallow").InstanceType("ml.p5.48xlarge").Layers({"a", "b"}).Build());
  auto got =
      h.Filter(PodBuilder("hyperpod-ns-a", "p").Group("g").RequiredTopology(LayerKey(3)).Build());
  EXPECT_EQ(got["deep"], Reason::kFits);
  EXPECT_EQ(got["shallow"], Reason::kMissingTopologyLabel);
}

TEST(FilterTest, RequiredTopologyKeepsPodsInThePeersDomain) {
  Harness h;
  h.AddNode(NodeBuilder("a1").InstanceType("ml.p5.48xlarge").Layers({"t", "s1", "r1"}).Build());
  h.AddNode(NodeBuilder("a2").InstanceType("ml.p5.48xlarge").Layers({"t", "s1", "r1"}).Build());
  h.AddNode(NodeBuilder("b1").InstanceType("ml.p5.48xlarge").Layers({"t", "s1", "r2"}).Build());
  h.AddPeer("a1");
  auto got = h.Filter(
      PodBuilder("hyperpod-ns-a", "p").Group("g", 4).RequiredTopology(LayerKey(3)).Build());
  EXPECT_EQ(got["a1"], Reason::kFits);
  EXPECT_EQ(got["a2"], Reason::kFits);
  EXPECT_EQ(got["b1"], Reason::kOutsideGroupDomain);
}

// Kueue TAS chose the node at admission (its ungater pinned kubernetes.io/hostname): hyperplace
// refuses it for health and capacity only, never for topology, even where its own rules disagree.
TEST(FilterTest, DomainAssignedByKueueIsNeverRejectedForTopology) {
  static constexpr char kHost[] = "kubernetes.io/hostname";
  Harness h;
  h.AddNode(NodeBuilder("a1").InstanceType("ml.p5.48xlarge").Layers({"t", "s", "r1"}).Build());
  h.AddNode(NodeBuilder("b1").InstanceType("ml.p5.48xlarge").Layers({"t", "s", "r2"}).Build());
  h.AddNode(NodeBuilder("b2")
                .InstanceType("ml.p5.48xlarge")
                .Layers({"t", "s", "r2"})
                .Health("Unschedulable")
                .Build());
  h.AddNode(NodeBuilder("c1").InstanceType("ml.p5.48xlarge").Layers({"t", "s"}).Build());
  // An evicted admission's pod still terminates in r1; Kueue re-admitted the Job into r2.
  h.AddPeer("a1");
  auto pinned = [](std::string_view node) {
    return PodBuilder("hyperpod-ns-a", "p")
        .Group("g", 4)
        .RequiredTopology(LayerKey(3))
        .NodeSelector(kHost, node)
        .Build();
  };
  EXPECT_EQ(h.Filter(pinned("b1"))["b1"], Reason::kFits);  // not kOutsideGroupDomain
  EXPECT_EQ(h.Filter(pinned("b2"))["b2"], Reason::kNodeUnhealthy);
  EXPECT_EQ(h.Filter(pinned("c1"))["c1"], Reason::kFits);  // not kMissingTopologyLabel
  // The same pod without Kueue's assignment, or with only its spine pinned: hyperplace's own rules
  // decide.
  auto own = h.Filter(
      PodBuilder("hyperpod-ns-a", "p").Group("g", 4).RequiredTopology(LayerKey(3)).Build());
  EXPECT_EQ(own["b1"], Reason::kOutsideGroupDomain);
  EXPECT_EQ(own["c1"], Reason::kMissingTopologyLabel);
  auto spine = h.Filter(PodBuilder("hyperpod-ns-a", "p")
                            .Group("g", 4)
                            .RequiredTopology(LayerKey(3))
                            .NodeSelector(LayerKey(1), "t")
                            .Build());
  EXPECT_EQ(spine["b1"], Reason::kOutsideGroupDomain);
}

TEST(FilterTest, SplitPeersFollowTheDomainHoldingMost) {
  Harness h;
  h.AddNode(NodeBuilder("a").InstanceType("ml.p5.48xlarge").Layers({"t", "s", "r-a"}).Build());
  h.AddNode(NodeBuilder("b").InstanceType("ml.p5.48xlarge").Layers({"t", "s", "r-b"}).Build());
  h.AddPeer("a").AddPeer("b").AddPeer("b");
  auto got =
      h.Filter(PodBuilder("hyperpod-ns-a", "p").Group("g").RequiredTopology(LayerKey(3)).Build());
  EXPECT_EQ(got["a"], Reason::kOutsideGroupDomain);
  EXPECT_EQ(got["b"], Reason::kFits);
}

TEST(FilterTest, FirstPodAvoidsDomainsTooSmallForTheGroup) {
  Harness h;
  // Rack r1: 2 nodes × (49 − 45) = 8 free slots. Rack r2: one node with 49 − 47 = 2 free.
  h.AddNode(NodeBuilder("r1-a").InstanceType("ml.p5.48xlarge").Layers({"t", "s", "r1"}).Build(),
            45);
  h.AddNode(NodeBuilder("r1-b").InstanceType("ml.p5.48xlarge").Layers({"t", "s", "r1"}).Build(),
            45);
  h.AddNode(NodeBuilder("r2-a").InstanceType("ml.p5.48xlarge").Layers({"t", "s", "r2"}).Build(),
            47);
  auto group_of_8 =
      PodBuilder("hyperpod-ns-a", "p").Group("g", 8).RequiredTopology(LayerKey(3)).Build();
  auto got = h.Filter(group_of_8);
  EXPECT_EQ(got["r1-a"], Reason::kFits);
  EXPECT_EQ(got["r1-b"], Reason::kFits);
  EXPECT_EQ(got["r2-a"], Reason::kDomainTooSmall);
  EXPECT_TRUE(IsResolvable(Reason::kDomainTooSmall));

  // A group of 9 fits nowhere: nothing is rejected for capacity (Kueue decides admission).
  auto group_of_9 =
      PodBuilder("hyperpod-ns-a", "p").Group("g", 9).RequiredTopology(LayerKey(3)).Build();
  auto none_fit = h.Filter(group_of_9);
  EXPECT_EQ(none_fit["r1-a"], Reason::kFits);
  EXPECT_EQ(none_fit["r2-a"], Reason::kFits);
}

TEST(FilterTest, DomainCapacityCountsOnlyNodesThatPassOtherRules) {
  Harness h;
  // r1 would hold 4 with both nodes, but one is unhealthy: only 2 usable slots remain.
  h.AddNode(NodeBuilder("r1-ok").InstanceType("ml.p5.48xlarge").Layers({"t", "s", "r1"}).Build(),
            47);
  h.AddNode(NodeBuilder("r1-bad")
                .InstanceType("ml.p5.48xlarge")
                .Layers({"t", "s", "r1"})
                .Health("Unschedulable")
                .Build(),
            47);
  h.AddNode(NodeBuilder("r2").InstanceType("ml.p5.48xlarge").Layers({"t", "s", "r2"}).Build(), 40);
  auto got = h.Filter(
      PodBuilder("hyperpod-ns-a", "p").Group("g", 4).RequiredTopology(LayerKey(3)).Build());
  EXPECT_EQ(got["r1-ok"], Reason::kDomainTooSmall);
  EXPECT_EQ(got["r1-bad"], Reason::kNodeUnhealthy);
  EXPECT_EQ(got["r2"], Reason::kFits);
}

TEST(FilterTest, RequiredTopologyOnAnyLabelKey) {
  Harness h;
  h.AddNode(NodeBuilder("a").InstanceType("ml.p5.48xlarge").Label("example.com/rack", "x").Build());
  h.AddNode(NodeBuilder("b").InstanceType("ml.p5.48xlarge").Label("example.com/rack", "y").Build());
  h.AddNode(NodeBuilder("c").InstanceType("ml.p5.48xlarge").Build());
  h.AddPeer("b");
  auto got = h.Filter(
      PodBuilder("hyperpod-ns-a", "p").Group("g").RequiredTopology("example.com/rack").Build());
  EXPECT_EQ(got["a"], Reason::kOutsideGroupDomain);
  EXPECT_EQ(got["b"], Reason::kFits);
  EXPECT_EQ(got["c"], Reason::kMissingTopologyLabel);
}

TEST(FilterTest, FirstFailingRuleIsReported) {
  Harness h;
  // Unhealthy, non-ml and full at once: health is checked first.
  h.AddNode(
      NodeBuilder("n").InstanceType("m5.large").Health("Unschedulable").AllocatablePods(1).Build(),
      1);
  EXPECT_EQ(h.Filter(PodBuilder("hyperpod-ns-a", "p").Build())["n"], Reason::kNodeUnhealthy);
}

TEST(ReasonTest, TextsAreDistinctAndNamed) {
  std::set<std::string_view> texts, names;
  for (int r = 1; r < kReasonCount; ++r) {
    auto reason = static_cast<Reason>(r);
    EXPECT_TRUE(texts.insert(ReasonText(reason)).second) << r;
    EXPECT_TRUE(names.insert(ReasonMetricName(reason)).second) << r;
    EXPECT_EQ(ReasonText(reason).rfind("hyperplace: ", 0), 0u) << r;
  }
}

}  // namespace
}  // namespace hyperplace::scoring
