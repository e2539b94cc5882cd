#include "bench/expect.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace hyperplace::bench {
namespace {

using Json = nlohmann::json;

// A node with the facts the rules read, without JSON: index i sits in rack i / 16.
GeneratedNode Node(int i, int max_pods = 49) {
  GeneratedNode n;
  n.name = "n" + std::to_string(i);
  n.instance_type = max_pods == 29 ? "ml.g5.8xlarge" : "ml.p4d.24xlarge";
  n.max_pods = max_pods;
  n.layer = {1000 + i / 512, 2000 + i / 64, 30000 + i / 16, 0};
  return n;
}

PendingPod Pod(int group_size, TopologyKind topology) {
  PendingPod p;
  p.name = "p";
  p.namespace_name = "hyperpod-ns-team-a";
  p.group_size = group_size;
  p.topology = topology;
  return p;
}

TEST(ExpectTest, NodeFactsAreWhatTheGeneratorWrote) {
  ClusterSpec spec;
  spec.nodes = 600;
  spec.unhealthy_fraction = 0.1;
  spec.tainted_fraction = 0.1;
  spec.non_ml_fraction = 0.1;
  int unhealthy = 0, tainted = 0, plain = 0, four = 0;
  for (const GeneratedNode& n : GenerateNodes(spec)) {
    const Json j = Json::parse(n.json);
    const Json& labels = j["metadata"]["labels"];
    EXPECT_EQ(labels["sagemaker.amazonaws.com/node-health-status"] != "Schedulable", n.unhealthy);
    EXPECT_EQ(j["spec"].contains("taints"), n.health_taint) << n.name;
    EXPECT_EQ(labels["sagemaker.amazonaws.com/deep-health-check-status"],
              n.health_taint ? "InProgress" : "Passed");
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
  }
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
  std::map<std::string, std::multiset<int>> peers;  // "ns/pending-i" -> nodes
  const int placed = ForEachPlacedPod(sched, nodes, [&](const PlacedPod& p) {
    ++counted[p.node];
    if (p.name.rfind("pending-", 0) == 0) {
      peers[p.namespace_name + "/" + p.name.substr(0, p.name.find("-worker"))].insert(p.node);
    }
  });
  EXPECT_EQ(model.placed, placed);
  EXPECT_EQ(model.pods_on_node, counted);
  const auto pending = GeneratePendingPods(sched, nodes);
  ASSERT_EQ(model.peers.size(), pending.size());
  for (std::size_t i = 0; i < pending.size(); ++i) {
    const std::string gang = pending[i].namespace_name + "/pending-" + std::to_string(i);
    EXPECT_EQ(std::multiset<int>(model.peers[i].begin(), model.peers[i].end()), peers[gang]) << i;
    EXPECT_EQ(static_cast<int>(model.peers[i].size()), pending[i].placed_peers) << i;
  }
}

TEST(ExpectTest, PerNodeRulesInDesignOrder) {
  std::vector<GeneratedNode> nodes = {Node(0), Node(1), Node(2), Node(3), Node(4), Node(5)};
  nodes[1].unhealthy = true;
  nodes[2].health_taint = true;
  nodes[3].ml_type = false;
  nodes[4].unhealthy = true;  // unhealthy and plain: health comes first
  nodes[4].ml_type = false;
  const std::vector<int> used = {10, 10, 10, 10, 10, 49};  // node 5 is full
  const auto v = ExpectedVerdicts(nodes, Pod(0, TopologyKind::kNone), used, {});
  EXPECT_EQ(v,
            (std::vector<NodeVerdict>{NodeVerdict::kFits, NodeVerdict::kNodeUnhealthy,
                                      NodeVerdict::kHealthTaint, NodeVerdict::kNotMlType,
                                      NodeVerdict::kNodeUnhealthy, NodeVerdict::kMaxPodsReached}));
  EXPECT_FALSE(IsResolvable(NodeVerdict::kNodeUnhealthy));
  EXPECT_TRUE(IsResolvable(NodeVerdict::kMaxPodsReached));
}

TEST(ExpectTest, RequiredTopologyKeepsThePeersRackOnly) {
  std::vector<GeneratedNode> nodes;
  for (int i = 0; i < 48; ++i) nodes.push_back(Node(i));  // racks 0, 1, 2
  nodes[20].unhealthy = true;
  const std::vector<int> used(nodes.size(), 0);
  // Peers: two in rack 1, one in rack 2: rack 1 holds most of them.
  const auto v = ExpectedVerdicts(nodes, Pod(8, TopologyKind::kRequired), used, {16, 17, 40});
  for (int i = 0; i < 48; ++i) {
    const NodeVerdict want = i == 20       ? NodeVerdict::kNodeUnhealthy
                             : i / 16 == 1 ? NodeVerdict::kFits
                                           : NodeVerdict::kOutsideDomain;
    EXPECT_EQ(v[i], want) << i;
  }
  // Preferred topology never rejects.
  for (NodeVerdict x : ExpectedVerdicts(nodes, Pod(8, TopologyKind::kPreferred), used, {16})) {
    EXPECT_NE(x, NodeVerdict::kOutsideDomain);
  }
}

TEST(ExpectTest, FirstPodOfARequiredGroupRejectsRacksTooSmall) {
  std::vector<GeneratedNode> nodes;
  for (int i = 0; i < 32; ++i) nodes.push_back(Node(i));  // racks 0 and 1
  // Rack 0: 16 nodes with 1 free slot each = 16 free; rack 1: 16 × 49 free.
  std::vector<int> used(32, 0);
  for (int i = 0; i < 16; ++i) used[i] = 48;
  const auto v = ExpectedVerdicts(nodes, Pod(20, TopologyKind::kRequired), used, {});
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(v[i], i < 16 ? NodeVerdict::kDomainTooSmall : NodeVerdict::kFits) << i;
  }
  // No rack holds 1000: nothing is rejected (the group cannot fit anywhere yet).
  for (NodeVerdict x : ExpectedVerdicts(nodes, Pod(1000, TopologyKind::kRequired), used, {})) {
    EXPECT_EQ(x, NodeVerdict::kFits);
  }
}

TEST(ExpectTest, ScoresFollowTheDocumentedArithmetic) {
  // Three nodes: 0 and 1 share rack 0 with the peer on node 0; node 2 (cluster index 512) is in
  // another layer-1 domain, so it shares no level with the peer.
  std::vector<GeneratedNode> nodes = {Node(0), Node(1), Node(512)};
  nodes[1].health_taint = true;
  const std::vector<int> used(3, 9);  // density: (9 + 1) / 49 -> 1000 · 10 / 49 = 204
  const PendingPod gang = Pod(8, TopologyKind::kRequired);
  // node 0: topology 1000 (3 of 3 levels shared), health 1000:
  //   (4·1000 + 2·204 + 1000) / 7 = 772 -> (772 + 50) / 100 = 8
  // node 1: topology 1000, health InProgress 200: (4000 + 408 + 200) / 7 = 658 -> 7
  // node 2: topology 1000 · 0 / 3 = 0, health 1000: (408 + 1000) / 7 = 201 -> 2
  EXPECT_EQ(ExpectedScores(nodes, gang, used, {0}, {0, 1, 2}), (std::vector<int>{8, 7, 2}));
  // Without a group, topology takes no weight: (2·204 + 1000) / 3 = 469 -> 5; InProgress:
  // (408 + 200) / 3 = 202 -> 2.
  EXPECT_EQ(ExpectedScores(nodes, Pod(0, TopologyKind::kNone), used, {}, {0, 1, 2}),
            (std::vector<int>{5, 2, 5}));
}

TEST(ExpectTest, FirstPodPrefersTheTightestRackThatHoldsTheGroup) {
  std::vector<GeneratedNode> nodes;
  for (int i = 0; i < 48; ++i) nodes.push_back(Node(i));
  std::vector<int> used(48, 0);
  for (int i = 0; i < 16; ++i) used[i] = 48;   // rack 0: 16 free, too small for 20
  for (int i = 16; i < 32; ++i) used[i] = 47;  // rack 1: 32 free, the tightest that fits
  std::vector<int> all(48);
  for (int i = 0; i < 48; ++i) all[i] = i;
  const auto scores = ExpectedScores(nodes, Pod(20, TopologyKind::kRequired), used, {}, all);
  // rack 1: topology 1000, density 1000 · 48 / 49 = 979: (4000 + 1958 + 1000) / 7 = 994 -> 10.
  // rack 2 (784 free): topology 900 · 32 / 784 = 36, density 20: (144 + 40 + 1000) / 7 = 169 -> 2.
  // rack 0 (too small): topology 0, density 1000: (2000 + 1000) / 7 = 428 -> 4.
  EXPECT_EQ(scores[16], 10);
  EXPECT_EQ(scores[40], 2);
  EXPECT_EQ(scores[0], 4);
}

TEST(ExpectTest, ExpectationsForTheGeneratedCluster) {
  ClusterSpec spec;
  spec.nodes = 320;
  const auto nodes = GenerateNodes(spec);
  SchedulingSpec sched;
  sched.total_pods = 320 * 30;
  const auto pending = GeneratePendingPods(sched, nodes);
  const Occupancy occupancy = ModelOccupancy(sched, nodes);
  const auto e = ClusterExpectations::Make(nodes, pending, occupancy);
  ASSERT_EQ(e->pod_count(), pending.size());
  EXPECT_EQ(e->NodeIndex(nodes[17].name), 17);
  EXPECT_EQ(e->NodeIndex("no-such-node"), -1);
  int bad_nodes = 0;
  for (const GeneratedNode& n : nodes) bad_nodes += n.unhealthy || n.health_taint || !n.ml_type;
  for (std::size_t p = 0; p < pending.size(); ++p) {
    const PodExpectation& x = e->pod(p);
    const FilterExpectation& f = x.filter;
    EXPECT_EQ(f.passed.size() + f.failed + f.unresolvable, nodes.size());
    EXPECT_GE(f.unresolvable, bad_nodes);
    ASSERT_FALSE(f.passed.empty()) << x.pod;
    ASSERT_FALSE(x.kept.top.empty());
    if (pending[p].placed_peers > 0 && pending[p].topology == TopologyKind::kRequired) {
      // Only the peers' rack is kept.
      const int rack = nodes[occupancy.peers[p][0]].layer[2];
      for (int i : f.passed) EXPECT_EQ(nodes[i].layer[2], rack) << x.pod;
      EXPECT_LE(f.passed.size(), 16u);
      for (int i : x.kept.top) EXPECT_EQ(nodes[i].layer[2], rack) << x.pod;
    }
    // The names reply is valid JSON and says what the verdicts say.
    const Json j = Json::parse(f.names_reply);
    EXPECT_EQ(j["NodeNames"].size(), f.passed.size());
    EXPECT_EQ(j["FailedNodes"].size(), static_cast<std::size_t>(f.failed));
    EXPECT_EQ(j["FailedAndUnresolvableNodes"].size(), static_cast<std::size_t>(f.unresolvable));
    EXPECT_EQ(f.full_tail.substr(0, 3), "]},");
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
      if (op.op == "add") {
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
    if (c.what.find("untouched") != std::string::npos ||
        c.what.find("fully labelled") != std::string::npos ||
        c.what.find("job-controller") != std::string::npos) {
      EXPECT_TRUE(c.expect_patch.empty()) << c.what;
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
