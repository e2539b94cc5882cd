#include "scoring/facts.h"

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "scoring/cycle.h"
#include "scoring/testing/builders.h"

namespace hyperplace::scoring {
namespace {

using testing::DefaultPolicy;
using testing::LayerKey;
using testing::NodeBuilder;
using testing::PodBuilder;

TEST(NodeFactsTest, MaxPodsComesFromTheTableBeforeAllocatable) {
  Policy policy = DefaultPolicy();
  DomainTable domains;
  Node listed = NodeBuilder("a").InstanceType("ml.g5.xlarge").AllocatablePods(110).Build();
  Node unlisted = NodeBuilder("b").InstanceType("ml.x9.huge").AllocatablePods(31).Build();
  Node unknown = NodeBuilder("c").InstanceType("ml.x9.huge").Build();
  EXPECT_EQ(DeriveNodeFacts(listed, policy, domains).max_pods, 14);
  EXPECT_EQ(DeriveNodeFacts(unlisted, policy, domains).max_pods, 31);
  EXPECT_EQ(DeriveNodeFacts(unknown, policy, domains).max_pods, -1);
}

TEST(NodeFactsTest, DepthStopsAtTheFirstMissingLayer) {
  Policy policy = DefaultPolicy();
  DomainTable domains;
  Node three = NodeBuilder("a").Layers({"x", "y", "z"}).Build();
  Node gap = NodeBuilder("b").Label(LayerKey(1), "x").Label(LayerKey(3), "z").Build();
  NodeFacts f3 = DeriveNodeFacts(three, policy, domains);
  NodeFacts fg = DeriveNodeFacts(gap, policy, domains);
  EXPECT_EQ(f3.depth, 3);
  EXPECT_EQ(fg.depth, 1);
  EXPECT_EQ(f3.domain[0], fg.domain[0]);  // same layer-1 value, same id
  EXPECT_NE(f3.domain[0], 0u);
  EXPECT_EQ(f3.domain[3], 0u);
}

// DomainsAt ranks domains by their label values; a names-mode cycle hands it the table's ranks
// instead. Both must order every domain the same, at scale (2000 nodes in racks of 8, values
// interned in an order unrelated to their lexical one, some nodes lacking the deeper layers).
TEST(DomainRanksTest, TableRanksOrderDomainsAsTheirValues) {
  Policy policy = DefaultPolicy();
  DomainTable domains;
  std::deque<Node> nodes;
  std::vector<NodeFacts> facts;
  for (int i = 0; i < 2000; ++i) {
    const int rack = (i * 7919) % 2000 / 8;  // racks interned out of order
    NodeBuilder b("hyperpod-i-" + std::to_string(i));
    if (i % 97 == 0) {
      b.Layers({"nn-top-" + std::to_string(rack % 3)});
    } else {
      b.Layers({"nn-top-" + std::to_string(rack % 3), "nn-spine-" + std::to_string(rack / 9),
                "nn-rack-" + std::to_string(rack)});
    }
    nodes.push_back(b.Build());
    facts.push_back(DeriveNodeFacts(nodes.back(), policy, domains));
  }
  std::vector<const NodeFacts*> candidates, peers;
  for (const NodeFacts& f : facts) candidates.push_back(&f);
  for (int i = 0; i < 40; i += 3) peers.push_back(&facts[i]);
  std::vector<std::vector<std::uint32_t>> ranks;
  for (int l = 0; l < static_cast<int>(policy.topology_levels.size()); ++l) {
    ranks.push_back(domains.Ranks(l));
  }
  PodFacts pod;
  Cycle by_values{&pod, candidates, {}, peers, {}, {}, {}};
  Cycle by_table = by_values;
  by_table.domain_ranks = ranks;
  for (int l = 0; l < 3; ++l) {
    const std::string& key = policy.topology_levels[l];
    LevelDomains a = DomainsAt(by_values, policy, key);
    LevelDomains b = DomainsAt(by_table, policy, key);
    ASSERT_EQ(a.candidate, b.candidate) << key;
    ASSERT_EQ(a.peer, b.peer) << key;
    std::vector<std::uint32_t> ids(a.candidate.begin(), a.candidate.end());
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    EXPECT_GT(ids.size(), l == 0 ? 2u : 20u) << key;
    for (std::uint32_t x : ids) {
      for (std::uint32_t y : ids) {
        ASSERT_EQ(a.rank[x] < a.rank[y], b.rank[x] < b.rank[y]) << key << " ids " << x << " " << y;
      }
    }
  }
}

TEST(NodeFactsTest, DomainIdsAreSeparatePerLevel) {
  Policy policy = DefaultPolicy();
  DomainTable domains;
  Node a = NodeBuilder("a").Layers({"same", "same"}).Build();
  NodeFacts f = DeriveNodeFacts(a, policy, domains);
  EXPECT_EQ(domains.Find(0, "same"), f.domain[0]);
  EXPECT_EQ(domains.Find(1, "same"), f.domain[1]);
  EXPECT_EQ(domains.Find(2, "same"), 0u);
}

TEST(NodeFactsTest, HealthAndAcceleration) {
  Policy policy = DefaultPolicy();
  DomainTable domains;
  struct Case {
    Node node;
    bool healthy, accelerated, tainted;
    DeepHealth deep;
  } cases[] = {
      {NodeBuilder("plain").Build(), true, false, false, DeepHealth::kUnknown},
      {NodeBuilder("ok")
           .InstanceType("ml.p5.48xlarge")
           .Health("Schedulable")
           .DeepHealth("Passed")
           .Build(),
       true, true, false, DeepHealth::kPassed},
      {NodeBuilder("bad")
           .InstanceType("p5.48xlarge")
           .Health("UnschedulablePendingReboot")
           .DeepHealth("Failed")
           .Build(),
       false, false, false, DeepHealth::kFailed},
      {NodeBuilder("checking")
           .Health("Schedulable")
           .DeepHealth("InProgress")
           .Taint("sagemaker.amazonaws.com/node-health-status", "Unschedulable", "NoSchedule")
           .Build(),
       true, false, true, DeepHealth::kInProgress},
      {NodeBuilder("prefer")
           .Taint("sagemaker.amazonaws.com/node-health-status", "Unschedulable", "PreferNoSchedule")
           .Build(),
       true, false, false, DeepHealth::kUnknown},
  };
  for (auto& c : cases) {
    NodeFacts f = DeriveNodeFacts(c.node, policy, domains);
    EXPECT_EQ(f.healthy, c.healthy) << c.node.name;
    EXPECT_EQ(f.accelerated, c.accelerated) << c.node.name;
    EXPECT_EQ(f.has_health_taint, c.tainted) << c.node.name;
    EXPECT_EQ(f.deep_health, c.deep) << c.node.name;
  }
}

TEST(PodFactsTest, GroupIdentityFallsBackInOrder) {
  Policy policy = DefaultPolicy();
  struct Case {
    Pod pod;
    std::string group;
  } cases[] = {
      {PodBuilder("ns", "p").Group("g1").Label("batch.kubernetes.io/job-name", "job").Build(),
       "ns/kueue.x-k8s.io/pod-group-name=g1"},
      {PodBuilder("ns", "p")
           .Label("training.kubeflow.org/job-name", "tj")
           .Label("jobset.sigs.k8s.io/jobset-name", "js")
           .Build(),
       "ns/training.kubeflow.org/job-name=tj"},
      {PodBuilder("ns", "p").Label("leaderworkerset.sigs.k8s.io/name", "lws").Owner("u1").Build(),
       "ns/leaderworkerset.sigs.k8s.io/name=lws"},
      {PodBuilder("ns", "p").Owner("u1").Build(), "ns/owner=u1"},
      {PodBuilder("ns", "p").Build(), ""},
  };
  for (auto& c : cases) EXPECT_EQ(DerivePodFacts(c.pod, policy).group, c.group) << c.pod.name;
}

TEST(PodFactsTest, SameGroupNameInAnotherNamespaceIsAnotherGroup) {
  Policy policy = DefaultPolicy();
  Pod a = PodBuilder("team-a", "p").Group("train").Build();
  Pod b = PodBuilder("team-b", "p").Group("train").Build();
  EXPECT_NE(DerivePodFacts(a, policy).group, DerivePodFacts(b, policy).group);
}

TEST(PodFactsTest, GroupTotalMustBeAPositiveInteger) {
  Policy policy = DefaultPolicy();
  const char* key = "kueue.x-k8s.io/pod-group-total-count";
  EXPECT_EQ(DerivePodFacts(PodBuilder("n", "p").Annotation(key, "8").Build(), policy).group_total,
            8);
  for (const char* bad : {"", "-3", "0", "8x", "9999999999999", " 8"}) {
    EXPECT_EQ(DerivePodFacts(PodBuilder("n", "p").Annotation(key, bad).Build(), policy).group_total,
              0)
        << bad;
  }
}

TEST(PodFactsTest, SelectedInstanceTypesAreNormalisedWithThePrefix) {
  Policy policy = DefaultPolicy();
  const char* key = "node.kubernetes.io/instance-type";
  PodFacts selector =
      DerivePodFacts(PodBuilder("n", "p").NodeSelector(key, "p5.48xlarge").Build(), policy);
  EXPECT_EQ(selector.instance_types, std::vector<std::string>{"ml.p5.48xlarge"});
  EXPECT_TRUE(selector.accelerated);

  PodFacts affinity = DerivePodFacts(
      PodBuilder("n", "p").AffinityIn(key, {"ml.g5.xlarge", "p5.48xlarge"}).Build(), policy);
  EXPECT_EQ(affinity.instance_types, (std::vector<std::string>{"ml.g5.xlarge", "ml.p5.48xlarge"}));
}

TEST(PodFactsTest, AnAffinityTermWithoutTheTypeAllowsAnyType) {
  Policy policy = DefaultPolicy();
  Pod pod = PodBuilder("n", "p")
                .AffinityIn("node.kubernetes.io/instance-type", {"ml.g5.xlarge"})
                .AffinityIn("kubernetes.io/arch", {"amd64"})  // ORed: this term allows any type
                .Build();
  EXPECT_TRUE(DerivePodFacts(pod, policy).instance_types.empty());
}

TEST(PodFactsTest, AcceleratedByNamespaceOrQueue) {
  Policy policy = DefaultPolicy();
  EXPECT_TRUE(DerivePodFacts(PodBuilder("hyperpod-ns-team-a", "p").Build(), policy).accelerated);
  EXPECT_FALSE(DerivePodFacts(PodBuilder("hyperpod-ns-", "p").Build(), policy).accelerated);
  EXPECT_FALSE(DerivePodFacts(PodBuilder("default", "p").Build(), policy).accelerated);
  EXPECT_TRUE(
      DerivePodFacts(PodBuilder("default", "p").Label("kueue.x-k8s.io/queue-name", "q").Build(),
                     policy)
          .accelerated);
}

TEST(PodFactsTest, DomainAssignedWhenTheSelectorPinsTheRequiredDomain) {
  Policy policy = DefaultPolicy();
  auto assigned = [&](PodBuilder b) { return DerivePodFacts(b.Build(), policy).domain_assigned; };
  auto rack_gang = [] { return PodBuilder("hyperpod-ns-a", "p").RequiredTopology(LayerKey(3)); };
  // Kueue TAS's ungater writes its Topology's levels down to the lowest: the hostname alone when
  // that is the lowest, else every layer down to the deepest.
  EXPECT_TRUE(assigned(rack_gang().NodeSelector("kubernetes.io/hostname", "hyperpod-i-0a")));
  EXPECT_TRUE(assigned(rack_gang().NodeSelector(LayerKey(3), "nn-r1")));
  EXPECT_TRUE(assigned(rack_gang().NodeSelector(LayerKey(4), "nn-n1")));
  // A spine or a block pinned by hand leaves the rack to choose.
  EXPECT_FALSE(assigned(rack_gang().NodeSelector(LayerKey(1), "nn-t")));
  EXPECT_FALSE(assigned(rack_gang().NodeSelector(LayerKey(2), "nn-s")));
  EXPECT_FALSE(assigned(rack_gang()));
  EXPECT_FALSE(
      assigned(rack_gang().NodeSelector("node.kubernetes.io/instance-type", "ml.p5.48xlarge")));
  // Without a required level only a node counts.
  EXPECT_TRUE(assigned(
      PodBuilder("hyperpod-ns-a", "p").NodeSelector("kubernetes.io/hostname", "hyperpod-i-0a")));
  EXPECT_FALSE(assigned(PodBuilder("hyperpod-ns-a", "p").NodeSelector(LayerKey(3), "nn-r1")));
  // The node-name label is configurable.
  policy.hostname_label = "example.com/node";
  EXPECT_TRUE(assigned(rack_gang().NodeSelector("example.com/node", "n1")));
  EXPECT_FALSE(assigned(rack_gang().NodeSelector("kubernetes.io/hostname", "n1")));
}

TEST(NormalizeInstanceTypeTest, AddsThePrefixOnlyWhenMissing) {
  EXPECT_EQ(NormalizeInstanceType("p5.48xlarge", "ml."), "ml.p5.48xlarge");
  EXPECT_EQ(NormalizeInstanceType("ml.p5.48xlarge", "ml."), "ml.p5.48xlarge");
  EXPECT_EQ(NormalizeInstanceType("", "ml."), "ml.");
}

}  // namespace
}  // namespace hyperplace::scoring
