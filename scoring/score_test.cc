#include "scoring/score.h"

#include <gtest/gtest.h>

#include "scoring/testing/harness.h"

namespace hyperplace::scoring {
namespace {

using testing::Harness;
using testing::LayerKey;
using testing::NodeBuilder;
using testing::PodBuilder;

Node P5(std::string_view name, std::initializer_list<std::string_view> layers) {
  return NodeBuilder(name).InstanceType("ml.p5.48xlarge").Layers(layers).Build();
}

TEST(TopologyScoreTest, PeersOnSameLayer3ScoreHighest) {
  Harness h;
  h.AddNode(P5("peer-node", {"t1", "s1", "r1"}));
  h.AddNode(P5("same-r", {"t1", "s1", "r1"}));
  h.AddNode(P5("same-s", {"t1", "s1", "r2"}));
  h.AddNode(P5("same-t", {"t1", "s2", "r3"}));
  h.AddNode(P5("far", {"t2", "s3", "r4"}));
  h.AddNode(P5("no-layers", {}));
  h.AddPeer("peer-node");
  auto m = h.Topology(PodBuilder("hyperpod-ns-a", "p").Group("g").Build());
  // One peer (P = 1), candidates with D = 3 layers: m = 1000 · shared / 3.
  EXPECT_EQ(m["peer-node"], 1000);  // 3 shared levels
  EXPECT_EQ(m["same-r"], 1000);     // 3
  EXPECT_EQ(m["same-s"], 666);      // 2 → 2000/3
  EXPECT_EQ(m["same-t"], 333);      // 1
  EXPECT_EQ(m["far"], 0);
  EXPECT_EQ(m["no-layers"], 0);
}

TEST(TopologyScoreTest, SharedLevelsAreWeightedByHowManyPeersShareThem) {
  Harness h;
  h.AddNode(P5("a", {"t", "s", "ra"}));
  h.AddNode(P5("b", {"t", "s", "rb"}));
  h.AddPeer("a").AddPeer("a").AddPeer("b");
  auto m = h.Topology(PodBuilder("hyperpod-ns-a", "p").Group("g").Build());
  // P = 3, D = 3. Node a: peers on a share 3 levels each, the peer on b shares 2:
  //   (3 + 3 + 2) · 1000 / 9 = 888. Node b: (2 + 2 + 3) · 1000 / 9 = 777.
  EXPECT_EQ(m["a"], 888);
  EXPECT_EQ(m["b"], 777);
}

TEST(TopologyScoreTest, FourLayerNodesUseTheirOwnDepth) {
  Harness h;
  h.AddNode(P5("four", {"t", "s", "r", "x"}));
  h.AddNode(P5("four-other-x", {"t", "s", "r", "y"}));
  h.AddPeer("four");
  auto m = h.Topology(PodBuilder("hyperpod-ns-a", "p").Group("g").Build());
  EXPECT_EQ(m["four"], 1000);         // 4 of 4
  EXPECT_EQ(m["four-other-x"], 750);  // 3 of 4
}

TEST(TopologyScoreTest, DoesNotApplyWithoutAGroup) {
  Harness h;
  h.AddNode(P5("a", {"t"}));
  EXPECT_TRUE(h.Topology(PodBuilder("hyperpod-ns-a", "p").Build()).empty());
  // A group without peers, size or topology annotation: nothing to score against.
  EXPECT_TRUE(h.Topology(PodBuilder("hyperpod-ns-a", "p").Group("g").Build()).empty());
}

TEST(TopologyScoreTest, FirstPodPrefersTheTightestDomainThatFitsTheGroup) {
  Harness h;
  // Group of 4. Free slots per rack (ml.p5.48xlarge max 49):
  //   r-big:   2 nodes × 49 free = 98
  //   r-tight: 1 node, 45 used → 4 free (fits exactly)
  //   r-mid:   1 node, 40 used → 9 free
  //   r-small: 1 node, 47 used → 2 free (does not fit)
  h.AddNode(P5("big-1", {"t", "s", "r-big"}));
  h.AddNode(P5("big-2", {"t", "s", "r-big"}));
  h.AddNode(P5("tight", {"t", "s", "r-tight"}), 45);
  h.AddNode(P5("mid", {"t", "s", "r-mid"}), 40);
  h.AddNode(P5("small", {"t", "s", "r-small"}), 47);
  auto m = h.Topology(
      PodBuilder("hyperpod-ns-a", "p").Group("g", 4).RequiredTopology(LayerKey(3)).Build());
  // The plan's group domain is r-tight (λ = layer 3, the deepest level: K − λ = 1).
  EXPECT_EQ(m["tight"], 1000);
  EXPECT_EQ(m["mid"], 0);  // holds the group too, looser: not the plan
  EXPECT_EQ(m["big-1"], 0);
  EXPECT_EQ(m["big-2"], 0);
  EXPECT_EQ(m["small"], 0);  // cannot hold the group
}

TEST(TopologyScoreTest, BestFitTiesGoToTheLexicallyFirstDomain) {
  Harness h;
  h.AddNode(P5("n-b", {"t", "s", "rack-b"}), 45);
  h.AddNode(P5("n-a", {"t", "s", "rack-a"}), 45);
  auto m = h.Topology(
      PodBuilder("hyperpod-ns-a", "p").Group("g", 4).RequiredTopology(LayerKey(3)).Build());
  EXPECT_EQ(m["n-a"], 1000);
  EXPECT_EQ(m["n-b"], 0);
}

TEST(TopologyScoreTest, PreferredClimbsUntilADomainFits) {
  Harness h;
  // Group of 6; no rack has 6 free, but spine s1 has 4 + 4 = 8 and s2 has 5. The plan climbs to
  // layer 2 (λ = 1, K − λ = 2): s1, then inside it racks r1 (largest, ties lexical; rest 2) and
  // r2 (the tightest holding 2): depth 2 → 1000 for both.
  h.AddNode(P5("s1-r1", {"t", "s1", "r1"}), 45);
  h.AddNode(P5("s1-r2", {"t", "s1", "r2"}), 45);
  h.AddNode(P5("s2-r3", {"t", "s2", "r3"}), 44);
  auto m = h.Topology(
      PodBuilder("hyperpod-ns-a", "p").Group("g", 6).PreferredTopology(LayerKey(3)).Build());
  EXPECT_EQ(m["s1-r1"], 1000);
  EXPECT_EQ(m["s1-r2"], 1000);
  EXPECT_EQ(m["s2-r3"], 0);
}

TEST(TopologyScoreTest, WhenNothingFitsTheFewestDomainsLargestFirstLastTheTightest) {
  Harness h;
  // Group of 55 at layer 1, where no domain holds it: t1 has 49 free, t2 10, t3 7.
  // Distribute: t1 (largest; rest 6), then the tightest holding 6: t3, not t2.
  h.AddNode(P5("t1", {"t1"}));
  h.AddNode(P5("t2", {"t2"}), 39);
  h.AddNode(P5("t3", {"t3"}), 42);
  auto m = h.Topology(
      PodBuilder("hyperpod-ns-a", "p").Group("g", 55).PreferredTopology(LayerKey(1)).Build());
  EXPECT_EQ(m["t1"], 1000);
  EXPECT_EQ(m["t3"], 1000);
  EXPECT_EQ(m["t2"], 0);
}

TEST(DensityScoreTest, PackPrefersFullerNodesSpreadEmptierOnes) {
  Harness h;
  h.AddNode(NodeBuilder("empty").InstanceType("ml.g5.xlarge").Build(), 0);  // max 14
  h.AddNode(NodeBuilder("half").InstanceType("ml.g5.xlarge").Build(), 6);
  h.AddNode(NodeBuilder("last").InstanceType("ml.g5.xlarge").Build(), 13);
  h.AddNode(NodeBuilder("nomax").InstanceType("ml.unknown").Build(), 3);
  Pod pod = PodBuilder("hyperpod-ns-a", "p").Build();
  // Only density (weight 2) and health (unknown → 500, weight 1) apply; a pod requesting no
  // accelerator packs by pod slots:
  //   pack: empty 1000·1/14 = 71, half 1000·7/14 = 500, last 1000, nomax 500.
  //   averages: empty (2·71 + 500)/3 = 214, half 500, last (2000 + 500)/3 = 833, nomax 500.
  //   stretched over 214..833 (range 619): empty 0, last 10,
  //   half (20·286 + 619) / 1238 = 5.
  auto pack = h.Score(pod);
  EXPECT_EQ(pack["empty"], 0);
  EXPECT_EQ(pack["half"], 5);
  EXPECT_EQ(pack["last"], 10);
  EXPECT_EQ(pack["nomax"], 5);

  h.policy().strategy = Strategy::kSpread;
  //   spread: empty 929, half 500, last 0 → averages 786, 500, 166 (range 620):
  //   empty 10, half (20·334 + 620) / 1240 = 5, last 0.
  auto spread = h.Score(pod);
  EXPECT_EQ(spread["empty"], 10);
  EXPECT_EQ(spread["half"], 5);
  EXPECT_EQ(spread["last"], 0);
}

TEST(HealthScoreTest, PassedAboveUnknownAboveInProgress) {
  Harness h;
  h.policy().density_weight = 0;
  h.AddNode(NodeBuilder("passed").DeepHealth("Passed").Build());
  h.AddNode(NodeBuilder("unknown").Build());
  h.AddNode(NodeBuilder("checking").DeepHealth("InProgress").Build());
  h.AddNode(NodeBuilder("failed").DeepHealth("Failed").Build());
  auto s = h.Score(PodBuilder("default", "p").Build());
  EXPECT_EQ(s["passed"], 10);
  EXPECT_EQ(s["unknown"], 5);
  EXPECT_EQ(s["checking"], 2);
  EXPECT_EQ(s["failed"], 0);
}

TEST(ScoreTest, ComponentsCombineWithWeights) {
  Harness h;  // weights: topology 4, density 2, health 1
  h.AddNode(NodeBuilder("near")
                .InstanceType("ml.p5.48xlarge")
                .Layers({"t", "s", "r1"})
                .DeepHealth("Passed")
                .Build(),
            9);
  h.AddNode(NodeBuilder("far")
                .InstanceType("ml.p5.48xlarge")
                .Layers({"t", "s2", "r2"})
                .DeepHealth("InProgress")
                .Build(),
            48);
  h.AddPeer("near");
  auto s = h.Score(PodBuilder("hyperpod-ns-a", "p").Group("g").Build());
  // near: topology 1000, density pack 1000·10/49 = 204, health 1000
  //   (4·1000 + 2·204 + 1000) / 7 = 772
  // far: topology 333 (layer 1 of 3), density 1000·49/49 = 1000, health 200
  //   (4·333 + 2·1000 + 200) / 7 = 504
  // Stretched over the two: the best 10, the worst 0.
  EXPECT_EQ(s["near"], 10);
  EXPECT_EQ(s["far"], 0);
}

TEST(ScoreTest, AveragesAreStretchedOverTheCandidatesInProportion) {
  Harness h;
  h.policy().density_weight = 0;  // health alone: Passed 1000, unknown 500, InProgress 200
  h.AddNode(NodeBuilder("passed").DeepHealth("Passed").Build());
  h.AddNode(NodeBuilder("unknown").Build());
  h.AddNode(NodeBuilder("checking").DeepHealth("InProgress").Build());
  auto s = h.Score(PodBuilder("default", "p").Build());
  // Range 200..1000 (800): unknown (20·300 + 800) / 1600 = 4 (4.25 rounded half up).
  EXPECT_EQ(s["passed"], 10);
  EXPECT_EQ(s["unknown"], 4);
  EXPECT_EQ(s["checking"], 0);

  Harness same;
  same.policy().density_weight = 0;
  same.AddNode(NodeBuilder("a").Build()).AddNode(NodeBuilder("b").Build());
  // All equal: no spread to stretch, (500 + 50) / 100 = 5 for every node.
  auto t = same.Score(PodBuilder("default", "p").Build());
  EXPECT_EQ(t["a"], 5);
  EXPECT_EQ(t["b"], 5);
}

TEST(ScoreTest, ScoresAreWithinRangeAndIndependentOfCandidateOrder) {
  Harness forward, backward;
  std::vector<Node> nodes;
  for (int i = 0; i < 30; ++i) {
    std::string name = "n" + std::to_string(i);
    std::string rack = "r" + std::to_string(i % 4);
    std::string spine = "s" + std::to_string(i % 2);
    nodes.push_back(NodeBuilder(name)
                        .InstanceType("ml.p5.48xlarge")
                        .Layers({"t", spine, rack})
                        .DeepHealth(i % 3 == 0 ? "Passed" : "InProgress")
                        .Build());
  }
  for (int i = 0; i < 30; ++i) forward.AddNode(nodes[i], i % 7);
  for (int i = 29; i >= 0; --i) backward.AddNode(nodes[i], i % 7);
  forward.AddPeer("n5").AddPeer("n9");
  backward.AddPeer("n5").AddPeer("n9");
  Pod pod = PodBuilder("hyperpod-ns-a", "p").Group("g", 8).Build();
  auto a = forward.Score(pod);
  auto b = backward.Score(pod);
  EXPECT_EQ(a, b);
  for (auto& [name, score] : a) {
    EXPECT_GE(score, 0) << name;
    EXPECT_LE(score, kMaxScore) << name;
  }
}

TEST(ScoreTest, AllWeightsZeroScoresZero) {
  Harness h;
  h.policy().topology_weight = h.policy().density_weight = h.policy().health_weight = 0;
  h.AddNode(NodeBuilder("a").DeepHealth("Passed").Build());
  EXPECT_EQ(h.Score(PodBuilder("default", "p").Build())["a"], 0);
}

}  // namespace
}  // namespace hyperplace::scoring
