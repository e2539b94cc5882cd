// Accelerator-aware capacity (DESIGN §2.2, §2.3): the resources filter, copies that fit, group
// capacity in copies, the placement plan and packing by the scarcest requested accelerator.
// Amounts are in the scheduler's scale: millicores for cpu, bytes, whole devices.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "scoring/filter.h"
#include "scoring/score.h"
#include "scoring/testing/harness.h"

namespace hyperplace::scoring {
namespace {

using testing::Harness;
using testing::LayerKey;
using testing::NodeBuilder;
using testing::PodBuilder;

constexpr char kGpu[] = "nvidia.com/gpu";
constexpr char kNeuron[] = "aws.amazon.com/neuron";
constexpr std::int64_t kGi = std::int64_t{1} << 30;

// An ml.p5.48xlarge: 8 GPUs, 32 EFA, 191450m cpu, 2002Gi memory, 49 pods (HyperPod's table).
Node P5(const std::string& name, std::initializer_list<std::string_view> layers) {
  return NodeBuilder(name).InstanceType("ml.p5.48xlarge").Layers(layers).Gpus(8).Build();
}

// A training pod taking a whole p5: 8 GPUs, 32 EFA, most of its cpu and memory.
PodBuilder WholeNodePod(const std::string& name) {
  return PodBuilder("hyperpod-ns-a", name)
      .Request(kGpu, 8)
      .Request("vpc.amazonaws.com/efa", 32)
      .Request("cpu", 180000)
      .Request("memory", 1800 * kGi);
}

TEST(ResourcesFilterTest, ANodeWithTooLittleFreeOfARequestedResourceIsResolvable) {
  Harness h;
  h.AddNode(P5("empty", {"t", "s", "r"}));
  h.AddNode(P5("half", {"t", "s", "r"}), 1, {{kGpu, 4}});
  h.AddNode(P5("five-used", {"t", "s", "r"}), 1, {{kGpu, 5}});  // 3 of 8 free
  h.AddNode(P5("cpu-busy", {"t", "s", "r"}), 1, {{"cpu", 190000}});
  h.AddNode(NodeBuilder("no-gpus").InstanceType("ml.c5.18xlarge").Build());
  auto got =
      h.Filter(PodBuilder("hyperpod-ns-a", "p").Request(kGpu, 4).Request("cpu", 4000).Build());
  EXPECT_EQ(got["empty"], Reason::kFits);
  EXPECT_EQ(got["half"], Reason::kFits);  // exactly 4 free
  EXPECT_EQ(got["five-used"], Reason::kInsufficientResource);
  EXPECT_EQ(got["cpu-busy"], Reason::kInsufficientResource);  // 1450m free < 4000m
  EXPECT_EQ(got["no-gpus"], Reason::kInsufficientResource);   // allocatable 0
  EXPECT_TRUE(IsResolvable(Reason::kInsufficientResource));
}

TEST(ResourcesFilterTest, ThePodSlotLimitIsCheckedFirstAndAPodRequestingNothingFitsAnywhere) {
  Harness h;
  h.AddNode(P5("full", {"t"}), 49, {{kGpu, 8}});
  h.AddNode(P5("gpus-taken", {"t"}), 1, {{kGpu, 8}});
  EXPECT_EQ(h.Filter(PodBuilder("hyperpod-ns-a", "p").Request(kGpu, 1).Build())["full"],
            Reason::kMaxPodsReached);
  auto none = h.Filter(PodBuilder("hyperpod-ns-a", "p").Build());
  EXPECT_EQ(none["gpus-taken"], Reason::kFits);
}

TEST(ResourcesFilterTest, FirstShortResourceNamesTheResourceInRequestOrder) {
  Harness h;
  h.AddNode(P5("n", {"t"}), 1, {{"cpu", 191000}, {kGpu, 6}});
  Pod pod = PodBuilder("hyperpod-ns-a", "p").Request(kGpu, 4).Request("cpu", 1000).Build();
  // Requests are sorted by name: cpu (1000m, 450m free) comes before nvidia.com/gpu (2 free).
  EXPECT_EQ(h.Filter(pod)["n"], Reason::kInsufficientResource);
  ASSERT_EQ(pod.requests.size(), 2u);
  EXPECT_EQ(pod.requests[0].name, "cpu");
}

TEST(CopiesThatFitTest, TheScarcestOfSlotsAndEveryRequestedResource) {
  struct Case {
    const char* what;
    std::int64_t gpu_used, cpu_used;
    int pods;
    std::int64_t gpu_request, cpu_request;
    std::int64_t want;
  };
  const Case cases[] = {
      // ⌊8 / 8⌋ = 1
      {"whole node on an empty p5", 0, 0, 0, 8, 0, 1},
      // ⌊8 / 1⌋ = 8, slots 49
      {"1-GPU pods on an empty p5", 0, 0, 0, 1, 0, 8},
      // ⌊6 / 4⌋ = 1
      {"4-GPU pod, 6 free", 2, 0, 1, 4, 0, 1},
      // ⌊3 / 4⌋ = 0
      {"4-GPU pod, 3 free", 5, 0, 1, 4, 0, 0},
      // gpu ⌊8 / 1⌋ = 8, cpu ⌊(191450 − 171450) / 5000⌋ = 4
      {"cpu is the bound", 0, 171450, 3, 1, 5000, 4},
      // slots: 49 − 47 = 2, gpu 8
      {"slots are the bound", 0, 0, 47, 1, 0, 2},
      // no request: the slots, 49 − 9 = 40
      {"a pod requesting nothing", 0, 0, 9, 0, 0, 40},
  };
  for (const Case& c : cases) {
    Harness h;
    h.AddNode(P5("n", {"t"}), c.pods, {{kGpu, c.gpu_used}, {"cpu", c.cpu_used}});
    PodBuilder pod("hyperpod-ns-a", "p");
    if (c.gpu_request > 0) pod.Request(kGpu, c.gpu_request);
    if (c.cpu_request > 0) pod.Request("cpu", c.cpu_request);
    h.Filter(pod.Build());
    EXPECT_EQ(CopiesThatFit(h.LastCycle(), 0, 1000), c.want) << c.what;
  }
}

// The headline case of the issue: a required gang of 8 whole-node pods on racks of 3, 8 and 5
// free p5 nodes. In pod slots every rack "holds" 8 (3 × 49 = 147); in copies only rack b does.
TEST(GroupCapacityTest, AWholeNodeGangFitsOnlyTheRackWithEightFreeNodes) {
  Harness h;
  auto rack = [&](const std::string& r, int nodes) {
    for (int i = 0; i < nodes; ++i) h.AddNode(P5(r + "-" + std::to_string(i), {"t", "s", r}));
  };
  rack("a", 3);
  rack("b", 8);
  rack("c", 5);
  Pod pod = WholeNodePod("p").Group("g", 8).RequiredTopology(LayerKey(3)).Build();
  auto got = h.Filter(pod);
  for (auto& [name, reason] : got) {
    EXPECT_EQ(reason, name[0] == 'b' ? Reason::kFits : Reason::kDomainTooSmall) << name;
  }
  // And scoring agrees: the plan's group domain is rack b (copies 8, the only one holding 8).
  auto m = h.Topology(pod);
  for (auto& [name, milli] : m) EXPECT_EQ(milli, name[0] == 'b' ? 1000 : 0) << name;
}

TEST(GroupCapacityTest, PartlyUsedAndUnhealthyNodesShrinkADomain) {
  Harness h;
  // Rack a: 6 nodes, 3 carry a 1-GPU pod (7 free: 0 copies of an 8-GPU pod) → 3 copies.
  for (int i = 0; i < 6; ++i) {
    h.AddNode(P5("a-" + std::to_string(i), {"t", "s", "a"}), i < 3 ? 1 : 0,
              {{kGpu, i < 3 ? 1 : 0}});
  }
  // Rack b: 4 free nodes → 4 copies.
  for (int i = 0; i < 4; ++i) h.AddNode(P5("b-" + std::to_string(i), {"t", "s", "b"}));
  // Rack c: 5 nodes, 2 unhealthy → 3 copies.
  for (int i = 0; i < 5; ++i) {
    NodeBuilder n("c-" + std::to_string(i));
    n.InstanceType("ml.p5.48xlarge").Layers({"t", "s", "c"}).Gpus(8);
    if (i < 2) n.Health("Unschedulable");
    h.AddNode(n.Build());
  }
  auto got = h.Filter(WholeNodePod("p").Group("g", 4).RequiredTopology(LayerKey(3)).Build());
  EXPECT_EQ(got["a-0"], Reason::kInsufficientResource);
  EXPECT_EQ(got["a-3"], Reason::kDomainTooSmall);
  EXPECT_EQ(got["b-0"], Reason::kFits);
  EXPECT_EQ(got["c-0"], Reason::kNodeUnhealthy);
  EXPECT_EQ(got["c-4"], Reason::kDomainTooSmall);
}

// A preferred gang of 10 × 8 GPUs over racks of 3 + 8 nodes (spine s1) and 5 + 6 (spine s2).
class PreferredGangTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rack("s1", "r3", 3);
    rack("s1", "r8", 8);
    rack("s2", "r5", 5);
    rack("s2", "r6", 6);
  }
  void rack(const std::string& spine, const std::string& r, int nodes) {
    for (int i = 0; i < nodes; ++i) {
      names.push_back(r + "-" + std::to_string(i));
      h.AddNode(P5(names.back(), {"t", spine, r}), 0);
    }
  }
  Pod pod = WholeNodePod("p").Group("g", 10).PreferredTopology(LayerKey(3)).Build();
  Harness h;
  std::vector<std::string> names;
};

TEST_F(PreferredGangTest, TheFirstPodGoesToOneSpineAndItsFewestRacks) {
  // No rack holds 10. Layer 2: s1 holds 11 copies, s2 11: tie, lexically s1 (λ = layer 2, so
  // K − λ = 2). Inside s1: the largest rack r8 (rest 2), then the tightest holding 2: r3.
  auto m = h.Topology(pod);
  for (auto& [name, milli] : m) {
    EXPECT_EQ(milli, name.rfind("r3", 0) == 0 || name.rfind("r8", 0) == 0 ? 1000 : 0) << name;
  }
}

TEST_F(PreferredGangTest, PodsAfterTheFullRackOpenTheTightestRackThatHoldsTheRest) {
  // Eight placed in r8, whose nodes are now full (8 GPUs used each, so not candidates that fit).
  Harness busy;
  for (const std::string& name : names) {
    const bool in_r8 = name.rfind("r8", 0) == 0;
    const std::string spine = name[1] == '3' || name[1] == '8' ? "s1" : "s2";
    busy.AddNode(P5(name, {"t", spine, name.substr(0, 2)}), in_r8 ? 1 : 0, {{kGpu, in_r8 ? 8 : 0}});
    if (in_r8) busy.AddPeer(name);
  }
  auto m = busy.Topology(pod);
  // R = 10 − 8 = 2. The home rack r8 holds 0 → climb: the home spine s1 holds 3 (r3) >= 2, so
  // λ = layer 2; inside s1: r8 (opened), then r3 (tightest holding 2).
  //   r3 nodes: affinity 1000 · 2 · 8 / (3 · 8) = 666, plan 1000 (depth 2 of 2) → 833
  //   s2 nodes: affinity 1000 · 1 · 8 / 24 = 333, plan 0 → 166
  EXPECT_EQ(m["r3-0"], 833);
  EXPECT_EQ(m["r5-0"], 166);
  EXPECT_EQ(m["r6-0"], 166);
}

TEST(PlanTest, InsideTheGroupsDomainTheFewestRacksTheTightestThatHoldsTheRest) {
  Harness h;
  // Required layer 2, a gang of 4 whole-node pods. Spine s1: racks x (2 free), y (4), z (5);
  // spine s2: 3 free nodes, too small.
  auto add = [&](const std::string& spine, const std::string& r, int nodes) {
    for (int i = 0; i < nodes; ++i) {
      h.AddNode(P5(spine + r + std::to_string(i), {"t", spine, r}));
    }
  };
  add("s1", "x", 2);
  add("s1", "y", 4);
  add("s1", "z", 5);
  add("s2", "w", 3);
  auto m = h.Topology(WholeNodePod("p").Group("g", 4).RequiredTopology(LayerKey(2)).Build());
  // Group domain s1 (λ = layer 2, K − λ = 2); its racks: y is the tightest holding 4.
  EXPECT_EQ(m["s1y0"], 1000);  // depth 2
  EXPECT_EQ(m["s1z0"], 500);   // depth 1: in s1, not the chosen rack
  EXPECT_EQ(m["s1x0"], 500);
  EXPECT_EQ(m["s2w0"], 0);
}

TEST(PackingTest, AHalfUsedNodeBeatsAnEmptyOneForAHalfNodePod) {
  Harness h;
  h.policy().topology_weight = 0;
  h.AddNode(P5("half-used", {"t"}), 1, {{kGpu, 4}});
  h.AddNode(P5("empty", {"t"}));
  h.AddNode(P5("two-used", {"t"}), 1, {{kGpu, 2}});
  auto s = h.Score(PodBuilder("hyperpod-ns-a", "p").Request(kGpu, 4).Build());
  // Packing by GPUs left: half-used 0 of 8 → 1000, two-used 2 → 750, empty 4 → 500. With health
  // (500, weight 1): averages 833, 666, 500; stretched over 500..833 (333): 10, 5, 0.
  EXPECT_EQ(s["half-used"], 10);
  EXPECT_EQ(s["two-used"], 5);
  EXPECT_EQ(s["empty"], 0);
}

TEST(PackingTest, EveryFreeGpuCountGetsItsOwnScore) {
  Harness h;
  h.policy().topology_weight = 0;
  for (int free = 1; free <= 8; ++free) {
    h.AddNode(P5("free-" + std::to_string(free), {"t"}), 1, {{kGpu, 8 - free}});
  }
  auto s = h.Score(PodBuilder("hyperpod-ns-a", "p").Request(kGpu, 1).Build());
  // Packing 1000 − 1000 · (free − 1) / 8: 1000, 875, .. 125; averages with health
  // (2m + 500) / 3: 833, 750, 666, 583, 500, 416, 333, 250. Rounded to 0..10 unstretched,
  // 833 and 750 would both be 8; stretched over 583 they are 10, 9, 7, 6, 4, 3, 1, 0.
  for (int free = 1; free < 8; ++free) {
    EXPECT_GT(s["free-" + std::to_string(free)], s["free-" + std::to_string(free + 1)]) << free;
  }
  EXPECT_EQ(s["free-1"], 10);
  EXPECT_EQ(s["free-8"], 0);

  h.policy().strategy = Strategy::kSpread;
  auto spread = h.Score(PodBuilder("hyperpod-ns-a", "p").Request(kGpu, 1).Build());
  EXPECT_EQ(spread["free-8"], 10);
  EXPECT_EQ(spread["free-1"], 0);
}

TEST(PackingTest, TheScarcestRequestedAcceleratorDecides) {
  Harness h;
  h.policy().topology_weight = h.policy().health_weight = 0;
  // Both nodes have 16 Neuron devices and 8 GPUs (a made-up type, to have two accelerators).
  auto node = [](const char* name) {
    return NodeBuilder(name)
        .InstanceType("ml.trn1.32xlarge")
        .Allocatable(kNeuron, 16)
        .Allocatable(kGpu, 8)
        .Build();
  };
  h.AddNode(node("neuron-scarce"), 1, {{kNeuron, 12}});  // neuron 4 free: 1 copy; gpu 4 copies
  h.AddNode(node("gpu-scarce"), 1, {{kGpu, 6}});         // gpu 2 free: 1 copy; neuron 4 copies
  h.AddNode(node("roomy"), 0);                           // neuron 16: 4 copies; gpu 8: 4 copies
  Pod pod = PodBuilder("hyperpod-ns-a", "p").Request(kNeuron, 4).Request(kGpu, 2).Build();
  std::vector<std::int32_t> milli(3);
  h.Filter(pod);
  DensityScores(h.LastCycle(), h.policy(), milli);
  // neuron-scarce: neuron left 0 of 16 → 1000. gpu-scarce: gpu left 0 of 8 → 1000.
  // roomy: a tie at 4 copies goes to the first by name (aws.amazon.com/neuron): 12 of 16 left
  //   → 1000 − 750 = 250.
  EXPECT_EQ(milli[0], 1000);
  EXPECT_EQ(milli[1], 1000);
  EXPECT_EQ(milli[2], 250);
}

TEST(PackingTest, APodRequestingNoAcceleratorPacksByPodSlots) {
  Harness h;
  h.policy().topology_weight = h.policy().health_weight = 0;
  h.AddNode(P5("busy", {"t"}), 48, {{kGpu, 8}});
  h.AddNode(P5("idle", {"t"}));
  auto s = h.Score(PodBuilder("hyperpod-ns-a", "p").Request("cpu", 500).Build());
  EXPECT_EQ(s["busy"], 10);  // 49 of 49 slots after it
  EXPECT_EQ(s["idle"], 0);
}

}  // namespace
}  // namespace hyperplace::scoring
