#include "bench/expect.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace hyperplace::bench {
namespace {

using Json = nlohmann::json;

constexpr std::int64_t kKi = 1024, kGi = 1024 * 1024 * 1024;

// A node with the facts the rules read, without JSON: index i sits in rack i / 16. Three layers,
// 8 GPUs and 4 EFA interfaces (a p4d).
GeneratedNode Node(int i, int max_pods = 49) {
  GeneratedNode n;
  n.name = "n" + std::to_string(i);
  n.instance_type = max_pods == 29 ? "ml.g5.8xlarge" : "ml.p4d.24xlarge";
  n.max_pods = max_pods;
  n.layer = {1000 + i / 512, 2000 + i / 64, 30000 + i / 16, 0};
  n.allocatable.Add("cpu", 95690);
  n.allocatable.Add("memory", 1154768000 * kKi);
  n.allocatable.Add("nvidia.com/gpu", 8);
  n.allocatable.Add("pods", max_pods);
  n.allocatable.Add("vpc.amazonaws.com/efa", 4);
  return n;
}

// An ml.p5.48xlarge node: four layers (layer 4 a group of 4 nodes, i / 4), 8 GPUs, 32 EFA.
GeneratedNode P5(int i) {
  GeneratedNode n;
  n.name = "p" + std::to_string(i);
  n.instance_type = "ml.p5.48xlarge";
  n.max_pods = 49;
  n.layers = 4;
  n.layer = {1000 + i / 512, 2000 + i / 64, 30000 + i / 16, 400000 + i / 4};
  n.allocatable.Add("cpu", 191450);
  n.allocatable.Add("memory", 2044000000 * kKi);
  n.allocatable.Add("nvidia.com/gpu", 8);
  n.allocatable.Add("pods", 49);
  n.allocatable.Add("vpc.amazonaws.com/efa", 32);
  return n;
}

std::vector<GeneratedNode> P5s(int count) {
  std::vector<GeneratedNode> nodes;
  for (int i = 0; i < count; ++i) nodes.push_back(P5(i));
  return nodes;
}

PendingPod Pod(int group_size, TopologyKind topology, Resources requests = {}) {
  PendingPod p;
  p.name = "p";
  p.namespace_name = "hyperpod-ns-team-a";
  p.group_size = group_size;
  p.topology = topology;
  p.requests = std::move(requests);
  return p;
}

Resources Requests(std::initializer_list<std::pair<const char*, std::int64_t>> list) {
  Resources r;
  for (const auto& [name, amount] : list) r.Add(name, amount);
  return r;
}

// What an 8-GPU trainer pod asks for (TrainerContainers): cpu 80500m, memory 900.5Gi, 8 GPUs,
// 32 EFA.
Resources Trainer() { return EffectiveRequests(TrainerContainers()); }

Occupancy Occupied(std::vector<int> pods) {
  Occupancy o;
  o.used.assign(pods.size(), Resources());
  o.pods_on_node = std::move(pods);
  return o;
}

// Nodes [from, to) each run one whole-node trainer pod (8 GPUs, 32 EFA, 80500m, 900.5Gi).
void Busy(Occupancy& o, int from, int to) {
  for (int i = from; i < to; ++i) {
    o.used[i].Add(Trainer());
    ++o.pods_on_node[i];
  }
}

std::vector<int> Range(int from, int to) {
  std::vector<int> out;
  for (int i = from; i < to; ++i) out.push_back(i);
  return out;
}

TEST(ExpectTest, NodeFactsAreWhatTheGeneratorWrote) {
  ClusterSpec spec;
  spec.nodes = 600;
  spec.unhealthy_fraction = 0.1;
  spec.tainted_fraction = 0.1;
  spec.non_ml_fraction = 0.1;
  int unhealthy = 0, tainted = 0, plain = 0, four = 0, unknown = 0;
  for (const GeneratedNode& n : GenerateNodes(spec)) {
    const Json j = Json::parse(n.json);
    const Json& labels = j["metadata"]["labels"];
    EXPECT_EQ(labels["sagemaker.amazonaws.com/node-health-status"] != "Schedulable", n.unhealthy);
    EXPECT_EQ(j["spec"].contains("taints"), n.health_taint) << n.name;
    if (n.deep_health_unknown) {
      EXPECT_FALSE(labels.contains("sagemaker.amazonaws.com/deep-health-check-status"));
    } else {
      EXPECT_EQ(labels["sagemaker.amazonaws.com/deep-health-check-status"],
                n.health_taint ? "InProgress" : "Passed");
    }
    EXPECT_EQ(n.instance_type.rfind("ml.", 0) == 0, n.ml_type);
    EXPECT_EQ(labels["node.kubernetes.io/instance-type"], n.instance_type);
    for (int l = 0; l < 4; ++l) {
      const std::string key = "topology.k8s.aws/network-node-layer-" + std::to_string(l + 1);
      if (l < n.layers) {
        EXPECT_EQ(labels[key], "nn-" + std::to_string(n.layer[l])) << n.name << " " << key;
      } else {
        EXPECT_FALSE(labels.contains(key)) << n.name;
      }
    }
    EXPECT_EQ(DesignMaxPods(n), n.max_pods) << n.instance_type;  // the table agrees
    unhealthy += n.unhealthy;
    tainted += n.health_taint;
    plain += !n.ml_type;
    four += n.layers == 4;
    unknown += n.deep_health_unknown;
    EXPECT_EQ(n.allocatable.Get("pods"), n.max_pods);
    EXPECT_EQ(n.layers == 4, n.instance_type == "ml.p5.48xlarge");
  }
  EXPECT_GT(unknown, 0);
  EXPECT_GT(unhealthy, 0);
  EXPECT_GT(tainted, 0);
  EXPECT_GT(plain, 0);
  EXPECT_GT(four, 0);
}

TEST(ExpectTest, OccupancyIsWhereForEachPlacedPodPutsThePods) {
  ClusterSpec spec;
  spec.nodes = 160;
  const auto nodes = GenerateNodes(spec);
  SchedulingSpec sched;
  sched.total_pods = 160 * 30;
  const Occupancy model = ModelOccupancy(sched, nodes);
  std::vector<int> counted(nodes.size(), 0);
  std::vector<Resources> used(nodes.size());
  std::map<std::string, std::multiset<int>> peers;  // "ns/pending-i" -> nodes
  const int placed = ForEachPlacedPod(sched, nodes, [&](const PlacedPod& p) {
    ++counted[p.node];
    used[p.node].Add(p.requests);
    if (p.name.rfind("pending-", 0) == 0) {
      peers[p.namespace_name + "/" + p.name.substr(0, p.name.find("-worker"))].insert(p.node);
    }
  });
  EXPECT_EQ(model.placed, placed);
  EXPECT_EQ(model.pods_on_node, counted);
  EXPECT_EQ(model.used, used);
  const auto pending = GeneratePendingPods(sched, nodes);
  ASSERT_EQ(model.peers.size(), pending.size());
  for (std::size_t i = 0; i < pending.size(); ++i) {
    const std::string gang = pending[i].namespace_name + "/pending-" + std::to_string(i);
    EXPECT_EQ(std::multiset<int>(model.peers[i].begin(), model.peers[i].end()), peers[gang]) << i;
    EXPECT_EQ(static_cast<int>(model.peers[i].size()), pending[i].placed_peers) << i;
  }
}

TEST(ExpectTest, PerNodeRulesInDesignOrder) {
  std::vector<GeneratedNode> nodes;
  for (int i = 0; i < 8; ++i) nodes.push_back(Node(i));
  nodes[1].unhealthy = true;
  nodes[2].health_taint = true;
  nodes[3].ml_type = false;
  nodes[4].unhealthy = true;  // unhealthy and plain: health comes first
  nodes[4].ml_type = false;
  Occupancy o = Occupied({10, 10, 10, 10, 10, 49, 49, 10});  // nodes 5 and 6 are full
  o.used[6].Add("nvidia.com/gpu", 8);  // and 6 has no GPU free: max pods comes first
  o.used[7].Add("nvidia.com/gpu", 8);  // 7 has room for pods but no GPU free
  std::vector<std::string> reasons;
  const auto v = ExpectedVerdicts(
      nodes, Pod(0, TopologyKind::kNone, Requests({{"nvidia.com/gpu", 1}})), o, {}, &reasons);
  EXPECT_EQ(v,
            (std::vector<NodeVerdict>{
                NodeVerdict::kFits, NodeVerdict::kNodeUnhealthy, NodeVerdict::kHealthTaint,
                NodeVerdict::kNotMlType, NodeVerdict::kNodeUnhealthy, NodeVerdict::kMaxPodsReached,
                NodeVerdict::kMaxPodsReached, NodeVerdict::kInsufficientResource}));
  EXPECT_EQ(reasons[0], "");
  EXPECT_EQ(reasons[5], "hyperplace: node reached the maximum pods for its instance type");
  EXPECT_EQ(reasons[7], "hyperplace: node has 0 of 8 nvidia.com/gpu free");
  EXPECT_FALSE(IsResolvable(NodeVerdict::kNodeUnhealthy));
  EXPECT_TRUE(IsResolvable(NodeVerdict::kMaxPodsReached));
  EXPECT_TRUE(IsResolvable(NodeVerdict::kInsufficientResource));
}

TEST(ExpectTest, TheResourceReasonNamesTheFirstShortResourceByNameWithItsFigures) {
  const GeneratedNode p5 = P5(0);
  Resources used;
  used.Add("nvidia.com/gpu", 4);
  // 4 of 8 GPUs free, the trainer wants 8; cpu (191450m − 0) and memory are enough.
  EXPECT_EQ(ResourceReason(p5, used, Trainer()), "hyperplace: node has 4 of 8 nvidia.com/gpu free");
  // cpu 191450 − 150000 = 41450m free < 80500m: cpu sorts before memory and nvidia.com/gpu, so it
  // is named although the GPUs are short too.
  used.Add("cpu", 150000);
  EXPECT_EQ(ResourceReason(p5, used, Trainer()), "hyperplace: node has 41450m of 191450m cpu free");
  // Memory: 2044000000Ki − 1500Gi (1572864000Ki) = 471136000Ki free < 900.5Gi; 471136000 / 1024
  // = 460093.75, so Ki is the largest exact suffix, as for the allocatable.
  Resources memory;
  memory.Add("memory", 1500 * kGi);
  EXPECT_EQ(ResourceReason(p5, memory, Trainer()),
            "hyperplace: node has 471136000Ki of 2044000000Ki memory free");
  // A node without the resource has 0 of 0.
  GeneratedNode trn = Node(0);
  trn.allocatable = Requests({{"aws.amazon.com/neurondevice", 16}, {"cpu", 127610}});
  EXPECT_EQ(ResourceReason(trn, Resources(), Requests({{"cpu", 8000}, {"nvidia.com/gpu", 1}})),
            "hyperplace: node has 0 of 0 nvidia.com/gpu free");
  // Everything fits: no reason.
  EXPECT_EQ(ResourceReason(p5, Resources(), Trainer()), "");

  EXPECT_EQ(FormatQuantity(96000, "cpu"), "96");
  EXPECT_EQ(FormatQuantity(1500, "cpu"), "1500m");
  EXPECT_EQ(FormatQuantity(0, "cpu"), "0");
  EXPECT_EQ(FormatQuantity(16 * kGi, "memory"), "16Gi");
  EXPECT_EQ(FormatQuantity(1536 * 1024 * 1024LL, "memory"), "1536Mi");
  EXPECT_EQ(FormatQuantity(1024 * kGi, "memory"), "1Ti");
  EXPECT_EQ(FormatQuantity(1024 * 1024 * kGi, "memory"), "1024Ti");  // no suffix above Ti
  EXPECT_EQ(FormatQuantity(1000, "memory"), "1000");
  EXPECT_EQ(FormatQuantity(0, "memory"), "0");
  EXPECT_EQ(FormatQuantity(8, "nvidia.com/gpu"), "8");
}

TEST(ExpectTest, CopiesThatFitTakeTheLeastOfPodSlotsAndEveryResource) {
  const GeneratedNode p5 = P5(0);
  const Resources four_gpus =
      Requests({{"cpu", 40000}, {"memory", 300 * kGi}, {"nvidia.com/gpu", 4}});
  // Free p5: slots 49; cpu ⌊191450 / 40000⌋ = 4; memory ⌊2044000000Ki / 314572800Ki⌋ = 6; GPUs
  // ⌊8 / 4⌋ = 2: 2 copies.
  EXPECT_EQ(CopiesThatFit(p5, 0, Resources(), four_gpus, 16), 2);
  EXPECT_EQ(CopiesThatFit(p5, 0, Resources(), four_gpus, 1), 1);    // at most the cap
  EXPECT_EQ(CopiesThatFit(p5, 48, Resources(), four_gpus, 16), 1);  // 1 slot left
  EXPECT_EQ(CopiesThatFit(p5, 49, Resources(), four_gpus, 16), 0);
  Resources used;
  used.Add("nvidia.com/gpu", 5);  // 3 free: ⌊3 / 4⌋ = 0
  EXPECT_EQ(CopiesThatFit(p5, 0, used, four_gpus, 16), 0);
  // The trainer: one per free p5 (8 GPUs, 32 EFA).
  EXPECT_EQ(CopiesThatFit(p5, 0, Resources(), Trainer(), 16), 1);
  // Nothing requested: the free slots, at most the cap: min(5, 49 − 10).
  EXPECT_EQ(CopiesThatFit(p5, 10, Resources(), Resources(), 5), 5);
  EXPECT_EQ(CopiesThatFit(p5, 10, Resources(), Resources(), 100), 39);
}

TEST(ExpectTest, RequiredTopologyKeepsThePeersRackOnly) {
  std::vector<GeneratedNode> nodes;
  for (int i = 0; i < 48; ++i) nodes.push_back(Node(i));  // racks 0, 1, 2
  nodes[20].unhealthy = true;
  const Occupancy o = Occupied(std::vector<int>(nodes.size(), 0));
  // Peers: two in rack 1, one in rack 2: rack 1 holds most of them.
  const auto v = ExpectedVerdicts(nodes, Pod(8, TopologyKind::kRequired), o, {16, 17, 40});
  for (int i = 0; i < 48; ++i) {
    const NodeVerdict want = i == 20       ? NodeVerdict::kNodeUnhealthy
                             : i / 16 == 1 ? NodeVerdict::kFits
                                           : NodeVerdict::kOutsideDomain;
    EXPECT_EQ(v[i], want) << i;
  }
  // Preferred topology never rejects.
  for (NodeVerdict x : ExpectedVerdicts(nodes, Pod(8, TopologyKind::kPreferred), o, {16})) {
    EXPECT_NE(x, NodeVerdict::kOutsideDomain);
  }
}

TEST(ExpectTest, FirstPodOfARequiredGroupCountsRacksInCopiesThatFit) {
  // Racks 0 and 1 of p5 nodes. Rack 0: nodes 0..11 run a trainer each, 12..15 free: 4 copies of
  // another trainer (by pod slots it would hold 16 × 48). Rack 1: free but node 20, which has 4
  // GPUs in use: 15 copies.
  auto nodes = P5s(32);
  Occupancy o = Occupied(std::vector<int>(32, 0));
  Busy(o, 0, 12);
  o.used[20].Add("nvidia.com/gpu", 4);
  const auto v = ExpectedVerdicts(nodes, Pod(8, TopologyKind::kRequired, Trainer()), o, {});
  for (int i = 0; i < 32; ++i) {
    const NodeVerdict want = i < 12 || i == 20 ? NodeVerdict::kInsufficientResource
                             : i < 16          ? NodeVerdict::kDomainTooSmall  // 4 < 8
                                               : NodeVerdict::kFits;                    // 15 >= 8
    EXPECT_EQ(v[i], want) << i;
  }
  // 16: no rack holds it (4 and 15 copies), so topology rejects nothing (Kueue holds the group).
  for (NodeVerdict x :
       ExpectedVerdicts(nodes, Pod(16, TopologyKind::kRequired, Trainer()), o, {})) {
    EXPECT_NE(x, NodeVerdict::kDomainTooSmall);
  }
}

TEST(ExpectTest, ScoresFollowTheDocumentedArithmetic) {
  // Three nodes: 0 and 1 share rack 0 with the peer on node 0; node 2 (cluster index 512) is in
  // another layer-1 domain, so it shares no level with the peer.
  std::vector<GeneratedNode> nodes = {Node(0), Node(1), Node(512)};
  nodes[1].health_taint = true;
  const Occupancy o = Occupied({9, 9, 9});  // packing by slots: 1000 · (9 + 1) / 49 = 204
  const PendingPod gang = Pod(8, TopologyKind::kRequired);  // requests nothing
  // Topology: affinity 1000 · 3 / 3 on nodes 0 and 1, 0 on node 2. The plan: R = 8 − 1 = 7;
  // copies min(7, 49 − 9) = 7 on nodes 0 and 2, 0 on the tainted node 1; the peer's rack holds
  // 7 >= 7, so it is D (λ = 2 = K − 1): p = 1000 in it, 0 on node 2. Mean: 1000, 1000, 0.
  // node 0: (4·1000 + 2·204 + 1000) / 7 = 772
  // node 1: health InProgress 200: (4000 + 408 + 200) / 7 = 658
  // node 2: (0 + 408 + 1000) / 7 = 201
  // Stretched, min 201, spread 571: (20 · (c − 201) + 571) / 1142: 10, 9711 / 1142 = 8, 0.
  const ScoreParts parts = ExpectedScoreParts(nodes, gang, o, {0}, {0, 1, 2});
  EXPECT_EQ(parts.affinity, (std::vector<std::int64_t>{1000, 1000, 0}));
  EXPECT_EQ(parts.plan, (std::vector<std::int64_t>{1000, 1000, 0}));
  EXPECT_EQ(parts.average, (std::vector<std::int64_t>{772, 658, 201}));
  EXPECT_EQ(ExpectedScores(nodes, gang, o, {0}, {0, 1, 2}), (std::vector<int>{10, 8, 0}));
  // Without a group, topology takes no weight: (2·204 + 1000) / 3 = 469; InProgress:
  // (408 + 200) / 3 = 202. Stretched: 10, 0, 10.
  EXPECT_EQ(ExpectedScores(nodes, Pod(0, TopologyKind::kNone), o, {}, {0, 1, 2}),
            (std::vector<int>{10, 0, 10}));
  // All averages equal (one candidate): rounded, (469 + 50) / 100 = 5.
  EXPECT_EQ(ExpectedScores(nodes, Pod(0, TopologyKind::kNone), o, {}, {0}), (std::vector<int>{5}));
  // Deep health: Passed 1000, unknown 500, InProgress 200.
  nodes[2].deep_health_unknown = true;
  EXPECT_EQ(ExpectedScoreParts(nodes, Pod(0, TopologyKind::kNone), o, {}, {0, 1, 2}).health,
            (std::vector<std::int64_t>{1000, 200, 500}));
}

TEST(ExpectTest, PackingCountsTheScarcestAcceleratorLeftFree) {
  // A 4-GPU pod on nodes with 4, 8 and 6 GPUs free, and on one without GPUs:
  // left = max(0, free − 4): 0, 4, 2 → 1000 − 1000 · left / 8 = 1000, 500, 750; no GPUs: 0.
  std::vector<GeneratedNode> nodes = {Node(0), Node(1), Node(2), Node(3)};
  nodes[3].allocatable = Requests({{"cpu", 95690}, {"pods", 49}});
  Occupancy o = Occupied({1, 0, 2, 0});
  o.used[0].Add("nvidia.com/gpu", 4);
  o.used[2].Add("nvidia.com/gpu", 2);
  const PendingPod server =
      Pod(0, TopologyKind::kNone,
          Requests({{"cpu", 40000}, {"memory", 300 * kGi}, {"nvidia.com/gpu", 4}}));
  const ScoreParts parts = ExpectedScoreParts(nodes, server, o, {}, {0, 1, 2, 3});
  EXPECT_EQ(parts.packing, (std::vector<std::int64_t>{1000, 500, 750, 0}));
  // (2 · pack + 1000) / 3: 1000, 666, 833, 333; stretched over spread 667:
  // (20 · (c − 333) + 667) / 1334: 10, 7327 / 1334 = 5, 10667 / 1334 = 7, 0.
  EXPECT_EQ(parts.average, (std::vector<std::int64_t>{1000, 666, 833, 333}));
  EXPECT_EQ(ExpectedScores(nodes, server, o, {}, {0, 1, 2, 3}), (std::vector<int>{10, 5, 7, 0}));

  // Two accelerators: the one with the fewest copies left counts, ties to the first by name.
  // Node 0: neuroncore free 10 → ⌊10 / 5⌋ = 2, neurondevice free 4 → ⌊4 / 2⌋ = 2: a tie, so
  // aws.amazon.com/neuroncore: left 5, 1000 − 5000 / 32 = 844. Node 1: neurondevice free 2 → 1
  // copy, the scarcer: left 0, 1000.
  std::vector<GeneratedNode> trn = {Node(0), Node(1)};
  for (GeneratedNode& n : trn) {
    n.allocatable = Requests(
        {{"aws.amazon.com/neuroncore", 32}, {"aws.amazon.com/neurondevice", 16}, {"pods", 49}});
  }
  Occupancy t = Occupied({1, 1});
  t.used[0] = Requests({{"aws.amazon.com/neuroncore", 22}, {"aws.amazon.com/neurondevice", 12}});
  t.used[1] = Requests({{"aws.amazon.com/neuroncore", 22}, {"aws.amazon.com/neurondevice", 14}});
  const PendingPod neuron =
      Pod(0, TopologyKind::kNone,
          Requests({{"aws.amazon.com/neuroncore", 5}, {"aws.amazon.com/neurondevice", 2}}));
  EXPECT_EQ(ExpectedScoreParts(trn, neuron, t, {}, {0, 1}).packing,
            (std::vector<std::int64_t>{844, 1000}));
}

TEST(ExpectTest, ThePlanTakesTheTightestRackAndTheTightestQuadInIt) {
  // Three p5 racks; a required gang of 4 trainers, no peer placed (R = 4). Copies: 1 per free node.
  // Rack 0: nodes 0..11 busy, 12..15 (quad 400003) free: 4. Rack 1: 24..31 busy: 8. Rack 2: 16.
  auto nodes = P5s(48);
  Occupancy o = Occupied(std::vector<int>(48, 0));
  Busy(o, 0, 12);
  Busy(o, 24, 32);
  const PendingPod gang = Pod(4, TopologyKind::kRequired, Trainer());
  // D = rack 0, the tightest with 4 >= 4 (λ = 2, K = 4). Below it, quads 400000..2 hold 0 and
  // 400003 holds 4 >= 4: C_3 = {400003}. p = 1000 · depth / 2: 1000 on 12..15, 500 on 0..11, 0
  // elsewhere. Packing: 1000 everywhere (8 GPUs wanted, none left: left = 0). Health 1000.
  // Averages (4p + 2000 + 1000) / 7: 1000, 714, 428; stretched over 572:
  // (20 · (714 − 428) + 572) / 1144 = 6292 / 1144 = 5.
  const auto all = Range(0, 48);
  const ScoreParts parts = ExpectedScoreParts(nodes, gang, o, {}, all);
  const auto scores = ExpectedScores(nodes, gang, o, {}, all);
  for (int i = 0; i < 48; ++i) {
    const std::int64_t p = i < 12 ? 500 : i < 16 ? 1000 : 0;
    EXPECT_EQ(parts.plan[i], p) << i;
    EXPECT_EQ(parts.packing[i], 1000) << i;
    EXPECT_EQ(scores[i], i < 12 ? 5 : i < 16 ? 10 : 0) << i;
  }
  // The filter keeps racks 0 (4 >= 4), 1 and 2 but the busy nodes; over those, 12..15 average
  // 1000, the rest 428: 10 and 0.
  const auto v = ExpectedVerdicts(nodes, gang, o, {});
  std::vector<int> kept;
  for (int i = 0; i < 48; ++i) {
    EXPECT_EQ(v[i], (i < 12 || (i >= 24 && i < 32)) ? NodeVerdict::kInsufficientResource
                                                    : NodeVerdict::kFits)
        << i;
    if (v[i] == NodeVerdict::kFits) kept.push_back(i);
  }
  const auto kept_scores = ExpectedScores(nodes, gang, o, {}, kept);
  for (std::size_t k = 0; k < kept.size(); ++k) {
    EXPECT_EQ(kept_scores[k], kept[k] < 16 ? 10 : 0) << kept[k];
  }
}

TEST(ExpectTest, PreferredClimbsToTheSpineAndSpreadsOverTheFewestRacksAndQuads) {
  // One spine of four p5 racks; the first pod of a preferred gang of 16 (R = 16).
  // Rack 0: 0..11 busy, free quad 400003: 4. Rack 1: 16..23 busy, free quads 400006..7: 8.
  // Rack 2: 32..35 busy, free quads 400009..11: 12. Rack 3: all busy: 0.
  auto nodes = P5s(64);
  Occupancy o = Occupied(std::vector<int>(64, 0));
  Busy(o, 0, 12);
  Busy(o, 16, 24);
  Busy(o, 32, 36);
  Busy(o, 48, 64);
  const PendingPod gang = Pod(16, TopologyKind::kPreferred, Trainer());
  // No rack holds 16: climb; the spine holds 24 >= 16: D = spine 2000, λ = 1, K − λ = 3.
  // Racks: none holds 16; the largest, rack 2 (12), leaves 4; the tightest holding 4 is rack 0
  // (4, before rack 1's 8): C_2 = {rack 0, rack 2}.
  // Quads of those racks: 400003, 400009, 400010, 400011 hold 4 each: the largest, ties to the
  // lexically first, 400003 (12 left), 400009 (8), 400010 (4), then the tightest holding 4,
  // 400011: C_3 = all four.
  // p = 1000 · depth / 3: free nodes of racks 0 and 2: 1000; their busy nodes 666; racks 1, 3:
  // 333. Averages (4p + 3000) / 7: 1000, 809, 618; stretched over 382:
  // (20 · 191 + 382) / 764 = 4202 / 764 = 5.
  const auto all = Range(0, 64);
  const ScoreParts parts = ExpectedScoreParts(nodes, gang, o, {}, all);
  const auto scores = ExpectedScores(nodes, gang, o, {}, all);
  for (int i = 0; i < 64; ++i) {
    const bool chosen_rack = i < 16 || (i >= 32 && i < 48);
    const bool free = o.pods_on_node[i] == 0;
    EXPECT_EQ(parts.plan[i], chosen_rack ? (free ? 1000 : 666) : 333) << i;
    EXPECT_EQ(scores[i], chosen_rack ? (free ? 10 : 5) : 0) << i;
  }
}

TEST(ExpectTest, APeersRackTooSmallForTheRestGetsTheTightestRackBesideIt) {
  // A required gang of 16 with 2 peers placed on nodes 0 and 1 (R = 14). Rack 0: 0..11 busy (the
  // peers among them), free 12..15: 4. Rack 1: 16..25 busy, free 26..31: 6 (quad 400006 holds 2,
  // 400007 4). Rack 2: 32..35 busy, free 36..47: 12.
  auto nodes = P5s(48);
  Occupancy o = Occupied(std::vector<int>(48, 0));
  Busy(o, 0, 12);
  Busy(o, 16, 26);
  Busy(o, 32, 36);
  const PendingPod gang = Pod(16, TopologyKind::kRequired, Trainer());
  const std::vector<int> peers = {0, 1};
  // The home rack holds 4 < 14 and the level is required: no D, λ = 2, C_2 = Distribute(racks):
  // the peers' rack 0 first (10 left), then the tightest holding 10: rack 2 (12).
  // Quads of racks 0 and 2: the peers' 400000 first (it holds 0: 14 left), then the largest,
  // 4 each, lexically first: 400003 (10), 400009 (6), 400010 (2), then the tightest holding 2:
  // 400011. p = 1000 · depth / 2: nodes 0..3, 12..15, 36..47: 1000; 4..11, 32..35: 500; rack 1:
  // 0.
  // Affinity, 1000 · Σ shared / (4 levels · 2 peers): quad 400000 (0..3) shares 4 levels with
  // each peer: 1000; the rest of rack 0: 3 each, 750; racks 1 and 2: 2 each, 500.
  // Topology (a + p) / 2: 0..3 1000; 4..11 625; 12..15 875; rack 1 250; 32..35 500; 36..47 750.
  // Averages (4t + 2000 + 1000) / 7: 1000, 785, 928, 571, 714, 857. Stretched over 429,
  // (20 · (c − 571) + 429) / 858: 10, 4709 / 858 = 5, 7569 / 858 = 8, 0, 3289 / 858 = 3,
  // 6149 / 858 = 7.
  const auto all = Range(0, 48);
  const ScoreParts parts = ExpectedScoreParts(nodes, gang, o, peers, all);
  const auto scores = ExpectedScores(nodes, gang, o, peers, all);
  for (int i = 0; i < 48; ++i) {
    std::int64_t t = 0;
    int score = 0;
    if (i < 4) {
      t = 1000, score = 10;
    } else if (i < 12) {
      t = 625, score = 5;
    } else if (i < 16) {
      t = 875, score = 8;
    } else if (i < 32) {
      t = 250, score = 0;
    } else if (i < 36) {
      t = 500, score = 3;
    } else {
      t = 750, score = 7;
    }
    EXPECT_EQ(parts.topology[i], t) << i;
    EXPECT_EQ(scores[i], score) << i;
  }
  // The filter keeps the home rack's free nodes 12..15. Over them alone the plan is: rack 0
  // (the peers', 10 left), quad 400003 (no candidate in the peers' quad): depth 2, p 1000; a 750;
  // all average (4 · 875 + 3000) / 7 = 928: equal, (928 + 50) / 100 = 9.
  const auto v = ExpectedVerdicts(nodes, gang, o, peers);
  std::vector<int> kept;
  for (int i = 0; i < 48; ++i) {
    if (v[i] == NodeVerdict::kFits) kept.push_back(i);
  }
  EXPECT_EQ(kept, Range(12, 16));
  EXPECT_EQ(ExpectedScores(nodes, gang, o, peers, kept), (std::vector<int>{9, 9, 9, 9}));
}

TEST(ExpectTest, ExpectationsForTheGeneratedCluster) {
  ClusterSpec spec;
  spec.nodes = 1000;
  const auto nodes = GenerateNodes(spec);
  SchedulingSpec sched;
  sched.total_pods = 1000 * 30;
  const auto pending = GeneratePendingPods(sched, nodes);
  const Occupancy occupancy = ModelOccupancy(sched, nodes);
  const auto e = ClusterExpectations::Make(nodes, pending, occupancy);
  ASSERT_EQ(e->pod_count(), pending.size());
  EXPECT_EQ(e->NodeIndex(nodes[17].name), 17);
  EXPECT_EQ(e->NodeIndex("no-such-node"), -1);
  int bad_nodes = 0;
  for (const GeneratedNode& n : nodes) bad_nodes += n.unhealthy || n.health_taint || !n.ml_type;
  std::array<int, kNodeVerdictCount> verdicts{};
  for (std::size_t p = 0; p < pending.size(); ++p) {
    const PodExpectation& x = e->pod(p);
    const FilterExpectation& f = x.filter;
    EXPECT_EQ(f.passed.size() + f.failed + f.unresolvable, nodes.size());
    EXPECT_GE(f.unresolvable, bad_nodes);
    ASSERT_FALSE(f.passed.empty()) << x.pod;
    ASSERT_FALSE(x.kept.top.empty());
    for (int v = 0; v < kNodeVerdictCount; ++v) verdicts[v] += f.by_verdict[v];
    if (pending[p].placed_peers > 0 && pending[p].topology == TopologyKind::kRequired) {
      // Only the peers' rack is kept.
      const int rack = nodes[occupancy.peers[p][0]].layer[2];
      for (int i : f.passed) EXPECT_EQ(nodes[i].layer[2], rack) << x.pod;
      EXPECT_LE(f.passed.size(), 16u);
      for (int i : x.kept.top) EXPECT_EQ(nodes[i].layer[2], rack) << x.pod;
    }
    // The names reply is valid JSON and says what the verdicts say, reasons and figures included.
    const Json j = Json::parse(f.names_reply);
    EXPECT_EQ(j["NodeNames"].size(), f.passed.size());
    EXPECT_EQ(j["FailedNodes"].size(), static_cast<std::size_t>(f.failed));
    EXPECT_EQ(j["FailedAndUnresolvableNodes"].size(), static_cast<std::size_t>(f.unresolvable));
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const NodeVerdict v = f.verdict[i];
      if (v == NodeVerdict::kFits) continue;
      const Json& map = j[IsResolvable(v) ? "FailedNodes" : "FailedAndUnresolvableNodes"];
      EXPECT_EQ(map[nodes[i].name], f.Reason(static_cast<int>(i)));
      if (v == NodeVerdict::kInsufficientResource) {
        EXPECT_EQ(f.Reason(static_cast<int>(i)).rfind("hyperplace: node has ", 0), 0u);
      } else {
        EXPECT_EQ(f.Reason(static_cast<int>(i)), VerdictReason(v));
      }
    }
    EXPECT_EQ(f.full_tail.substr(0, 3), "]},");
  }
  // The cluster exercises every rule the model knows.
  for (int v = 0; v < kNodeVerdictCount; ++v) {
    EXPECT_GT(verdicts[v], 0) << NodeVerdictName(static_cast<NodeVerdict>(v));
  }
}

TEST(ExpectTest, AdmissionExpectationsFollowThePlan) {
  for (const AdmissionCase& c : GenerateAdmissionReviews(1, 200)) {
    // The rules' decision matches what the generator meant the case to be.
    EXPECT_EQ(c.what.rfind("deny:", 0) == 0, !c.expect_allowed) << c.what;
    if (!c.expect_allowed) {
      EXPECT_TRUE(c.expect_patch.empty());
      EXPECT_FALSE(c.expect_message_has.empty()) << c.what;
    }
    const Json object = Json::parse(c.body)["request"]["object"];
    const Json& labels = object["metadata"]["labels"];
    std::set<std::string> added;
    for (const PatchOp& op : c.expect_patch) {
      added.insert(op.path);
      if (op.op == "add" && op.path.starts_with("/metadata/labels/")) {
        const std::string key = op.path.substr(std::string("/metadata/labels/").size());
        EXPECT_FALSE(
            labels.contains(key.substr(0, key.find('~')) + "/" + key.substr(key.find('~') + 2)))
            << c.what;
      }
    }
    if (c.what == "team member's job, labels added") {
      EXPECT_EQ(c.expect_patch,
                (std::vector<PatchOp>{
                    {"add", "/metadata/labels/kueue.x-k8s.io~1priority-class",
                     R"("fine-tuning-priority")"},
                    {"add", "/metadata/labels/kueue.x-k8s.io~1queue-name",
                     "\"" + object["metadata"]["namespace"].get<std::string>() + "-localqueue\""},
                }));
    }
    if (c.what == "team member's pod, instance type without ml.") {
      EXPECT_EQ(object["spec"]["nodeSelector"]["node.kubernetes.io/instance-type"], "p5.48xlarge");
      EXPECT_TRUE(added.count("/spec/nodeSelector/node.kubernetes.io~1instance-type"));
      EXPECT_EQ(c.expect_warnings, 1);
    }
    // Rule 5: every admitted Pod in a team namespace goes to hyperplace's scheduler (the
    // generated ones all name default-scheduler); Jobs and other namespaces never.
    const bool team =
        object["metadata"]["namespace"].get<std::string>().starts_with("hyperpod-ns-");
    const PatchOp scheduler{"add", "/spec/schedulerName", R"("hyperplace")"};
    const bool to_hyperplace =
        std::find(c.expect_patch.begin(), c.expect_patch.end(), scheduler) != c.expect_patch.end();
    EXPECT_EQ(to_hyperplace, c.expect_allowed && team && c.kind == "Pod") << c.what;
    if (c.what.find("untouched") != std::string::npos ||
        c.what.find("fully labelled") != std::string::npos ||
        c.what.find("job-controller") != std::string::npos) {
      // Nothing else to change: the scheduler name at most.
      EXPECT_EQ(c.expect_patch,
                to_hyperplace ? std::vector<PatchOp>{scheduler} : std::vector<PatchOp>{})
          << c.what;
      EXPECT_TRUE(c.expect_allowed) << c.what;
    }
    if (!c.expect_patch.empty()) {
      // The canonical document is valid JSON holding exactly the expected operations.
      const Json doc = Json::parse(c.expect_patch_json);
      EXPECT_EQ(doc.size(), c.expect_patch.size());
      EXPECT_FALSE(c.expect_patch_base64.empty());
    }
  }
}

}  // namespace
}  // namespace hyperplace::bench
