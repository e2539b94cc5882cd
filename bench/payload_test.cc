#include "bench/payload.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace hyperplace::bench {
namespace {

using Json = nlohmann::json;

std::vector<PlacedPod> AllPlaced(const SchedulingSpec& spec,
                                 const std::vector<GeneratedNode>& nodes) {
  std::vector<PlacedPod> out;
  ForEachPlacedPod(spec, nodes, [&](const PlacedPod& p) { out.push_back(p); });
  return out;
}

std::string Concat(const std::vector<GeneratedNode>& nodes) {
  std::string out;
  for (const GeneratedNode& n : nodes) out += n.json;
  return out;
}

TEST(PayloadTest, SameSeedGivesIdenticalBytes) {
  ClusterSpec spec;
  spec.nodes = 200;
  spec.seed = 9;
  const auto a = GenerateNodes(spec), b = GenerateNodes(spec);
  EXPECT_EQ(Concat(a), Concat(b));

  SchedulingSpec sched;
  sched.seed = 9;
  sched.total_pods = 2000;
  const auto pa = GeneratePendingPods(sched, a), pb = GeneratePendingPods(sched, b);
  ASSERT_EQ(pa.size(), pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i) EXPECT_EQ(pa[i].json, pb[i].json);
  const auto placed_a = AllPlaced(sched, a), placed_b = AllPlaced(sched, b);
  ASSERT_EQ(placed_a.size(), placed_b.size());
  for (std::size_t i = 0; i < placed_a.size(); ++i) {
    EXPECT_EQ(placed_a[i].json, placed_b[i].json);
    EXPECT_EQ(placed_a[i].node, placed_b[i].node);
  }
  const auto ra = GenerateAdmissionReviews(9, 60), rb = GenerateAdmissionReviews(9, 60);
  for (std::size_t i = 0; i < ra.size(); ++i) EXPECT_EQ(ra[i].body, rb[i].body);
  EXPECT_EQ(NodeNamesArgs(pa[0].json, a), NodeNamesArgs(pb[0].json, b));
  EXPECT_EQ(FullNodesArgs(pa[0].json, a), FullNodesArgs(pb[0].json, b));
}

TEST(PayloadTest, DifferentSeedGivesDifferentBytes) {
  ClusterSpec one, two;
  one.nodes = two.nodes = 50;
  one.seed = 1;
  two.seed = 2;
  const auto a = GenerateNodes(one), b = GenerateNodes(two);
  EXPECT_NE(Concat(a), Concat(b));
  SchedulingSpec s1, s2;
  s1.seed = 1;
  s2.seed = 2;
  s1.total_pods = s2.total_pods = 500;
  EXPECT_NE(GeneratePendingPods(s1, a)[0].json, GeneratePendingPods(s2, a)[0].json);
  EXPECT_NE(AllPlaced(s1, a).back().json, AllPlaced(s2, a).back().json);
  EXPECT_NE(GenerateAdmissionReviews(1, 1)[0].body, GenerateAdmissionReviews(2, 1)[0].body);
  EXPECT_NE(GeneratePodJson(1, 0, 8, true), GeneratePodJson(2, 0, 8, true));
}

TEST(PayloadTest, EveryGeneratedObjectIsValidJson) {
  ClusterSpec spec;
  spec.nodes = 64;
  const auto nodes = GenerateNodes(spec);
  for (const GeneratedNode& n : nodes) {
    Json j = Json::parse(n.json);
    EXPECT_EQ(j["metadata"]["name"], n.name);
    EXPECT_EQ(j["status"]["allocatable"]["pods"], std::to_string(n.max_pods));
  }
  SchedulingSpec sched;
  sched.total_pods = 640;
  for (const PendingPod& p : GeneratePendingPods(sched, nodes)) {
    Json j = Json::parse(p.json);
    EXPECT_EQ(j["metadata"]["uid"], p.uid);
    EXPECT_EQ(j["metadata"]["namespace"], p.namespace_name);
    EXPECT_EQ(j["status"]["phase"], "Pending");
  }
  for (const PlacedPod& p : AllPlaced(sched, nodes)) {
    Json j = Json::parse(p.json);
    EXPECT_EQ(j["spec"]["nodeName"], nodes[static_cast<std::size_t>(p.node)].name);
    EXPECT_EQ(j["metadata"]["resourceVersion"], "__RV__");
    EXPECT_EQ(j["status"]["phase"], "Running");
  }
  for (const AdmissionCase& c : GenerateAdmissionReviews(1, 40)) {
    Json j = Json::parse(c.body);
    EXPECT_EQ(j["apiVersion"], "admission.k8s.io/v1");
    EXPECT_EQ(j["request"]["uid"], c.uid);
    EXPECT_EQ(j["request"]["kind"]["kind"], c.kind);
    EXPECT_EQ(j["request"]["object"]["kind"], c.kind);
  }
  EXPECT_EQ(
      Json::parse(FullNodesArgs(GeneratePodJson(1, 0, 8, true), nodes))["Nodes"]["items"].size(),
      nodes.size());
  EXPECT_EQ(Json::parse(NodeNamesArgs(GeneratePodJson(1, 0, 8, true), nodes))["NodeNames"].size(),
            nodes.size());
  EXPECT_EQ(Json::parse(BindingArgs("p", "ns", "uid", "n"))["PodUID"], "uid");
}

TEST(PayloadTest, PlacedPodsFillNodesUpToTheirLimitAndPeersShareARack) {
  ClusterSpec spec;
  spec.nodes = 160;
  const auto nodes = GenerateNodes(spec);
  SchedulingSpec sched;
  sched.total_pods = 160 * 30;
  const auto placed = AllPlaced(sched, nodes);
  EXPECT_EQ(placed.size(), 160u * 30);
  std::map<int, int> per_node;
  std::map<std::string, std::set<int>> racks_of_pending_gang;
  for (const PlacedPod& p : placed) {
    ++per_node[p.node];
    if (p.name.rfind("pending-", 0) == 0) {
      racks_of_pending_gang[p.namespace_name + "/" + p.name.substr(0, p.name.find("-worker"))]
          .insert(p.node / 16);
    }
  }
  for (const auto& [node, count] : per_node) {
    EXPECT_LE(count, nodes[static_cast<std::size_t>(node)].max_pods - 4) << node;
  }
  // Kinds 0..7 of every 20 pending pods have placed peers, in a single rack.
  EXPECT_EQ(racks_of_pending_gang.size(), 24u);  // 60 pending pods: 3 × 8
  for (const auto& [gang, racks] : racks_of_pending_gang) EXPECT_EQ(racks.size(), 1u) << gang;

  // More pods than fit: stops when every node is full.
  sched.total_pods = 160 * 100;
  int capacity = 0;
  for (const GeneratedNode& n : nodes) capacity += n.max_pods - 4;
  EXPECT_EQ(ForEachPlacedPod(sched, nodes, [](const PlacedPod&) {}), capacity);
}

TEST(PayloadTest, PendingPodsCoverTheFourKinds) {
  ClusterSpec spec;
  spec.nodes = 100;
  const auto nodes = GenerateNodes(spec);
  SchedulingSpec sched;
  const auto pending = GeneratePendingPods(sched, nodes);
  ASSERT_EQ(pending.size(), 60u);
  std::map<TopologyKind, int> kinds;
  int with_peers = 0, bare = 0;
  for (const PendingPod& p : pending) {
    ++kinds[p.topology];
    with_peers += p.placed_peers > 0;
    bare += p.json.find("ownerReferences") == std::string::npos;
  }
  EXPECT_EQ(kinds[TopologyKind::kRequired], 42);  // 14 of 20
  EXPECT_EQ(kinds[TopologyKind::kPreferred], 9);  // 3 of 20
  EXPECT_EQ(kinds[TopologyKind::kNone], 9);
  EXPECT_EQ(with_peers, 24);
  EXPECT_EQ(bare, 9);  // no owner: no group at all
}

TEST(PayloadTest, AdmissionReviewsMixTeamsKindsAndDenials) {
  const auto reviews = GenerateAdmissionReviews(1, 200);
  int denied = 0, jobs = 0;
  std::set<std::string> namespaces, uids;
  for (const AdmissionCase& c : reviews) {
    denied += !c.expect_allowed;
    jobs += c.kind == "Job";
    uids.insert(c.uid);
    namespaces.insert(Json::parse(c.body)["request"]["namespace"].get<std::string>());
    EXPECT_GT(c.body.size(), 2500u) << c.what;
    EXPECT_LT(c.body.size(), 8000u) << c.what;
  }
  EXPECT_EQ(denied, 30);  // 15%
  EXPECT_EQ(jobs, 90);    // 9 of 20
  EXPECT_EQ(uids.size(), 200u);
  EXPECT_EQ(namespaces, (std::set<std::string>{"default", "hyperpod-ns-team-a",
                                               "hyperpod-ns-team-b", "hyperpod-ns-team-c"}));
}

TEST(PayloadTest, LegacyPodKeepsTheCodecBenchmarkBytesShape) {
  // codec_bench's pod: index 0 of a group of 8 with required topology, team a, job train-0.
  Json j = Json::parse(GeneratePodJson(1, 0, 8, true));
  EXPECT_EQ(j["metadata"]["namespace"], "hyperpod-ns-team-a");
  EXPECT_EQ(j["metadata"]["labels"]["kueue.x-k8s.io/pod-group-name"], "train-0");
  EXPECT_EQ(j["metadata"]["annotations"]["kueue.x-k8s.io/podset-required-topology"],
            "topology.k8s.aws/network-node-layer-3");
  // Pods of one group share the namespace.
  EXPECT_EQ(Json::parse(GeneratePodJson(1, 7, 8, true))["metadata"]["namespace"],
            "hyperpod-ns-team-a");
  EXPECT_EQ(Json::parse(GeneratePodJson(1, 8, 8, true))["metadata"]["namespace"],
            "hyperpod-ns-team-b");
}

}  // namespace
}  // namespace hyperplace::bench
