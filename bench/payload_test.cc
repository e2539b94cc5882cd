#include "bench/payload.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
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

// A quantity's amount in kube-scheduler's unit (millicores for cpu), for the forms the generator
// writes: a decimal number with an optional fraction and a suffix m, Ki..Ei or k..E.
std::int64_t Amount(const std::string& text, const std::string& resource) {
  std::size_t end = 0;
  while (end < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[end])) || text[end] == '.'))
    ++end;
  const long double number = std::stold(text.substr(0, end));
  const std::string suffix = text.substr(end);
  static const std::map<std::string, long double> kScale = {{"", 1},
                                                            {"m", 1e-3},
                                                            {"k", 1e3},
                                                            {"M", 1e6},
                                                            {"G", 1e9},
                                                            {"T", 1e12},
                                                            {"Ki", 1024.0L},
                                                            {"Mi", 1048576.0L},
                                                            {"Gi", 1073741824.0L},
                                                            {"Ti", 1099511627776.0L}};
  const long double value = number * kScale.at(suffix) * (resource == "cpu" ? 1000 : 1);
  return static_cast<std::int64_t>(std::ceil(value - 1e-9L));
}

// The pod's containers as its JSON states them, read back into plans.
std::vector<ContainerPlan> ContainersOf(const Json& pod) {
  std::vector<ContainerPlan> out;
  auto read = [&](const Json& list, bool init) {
    for (const Json& c : list) {
      ContainerPlan p;
      p.name = c["name"];
      p.kind = !init                                      ? ContainerPlan::Kind::kContainer
               : c.value("restartPolicy", "") == "Always" ? ContainerPlan::Kind::kSidecar
                                                          : ContainerPlan::Kind::kInit;
      if (c["resources"].contains("requests")) {
        for (const auto& [name, q] : c["resources"]["requests"].items()) {
          p.requests.push_back({name, q, Amount(q, name)});
        }
      }
      out.push_back(p);
    }
  };
  if (pod["spec"].contains("initContainers")) read(pod["spec"]["initContainers"], true);
  read(pod["spec"]["containers"], false);
  return out;
}

TEST(PayloadTest, ResourcesAddUpByName) {
  Resources r;
  r.Add("memory", 10);
  r.Add("cpu", 5);
  r.Add("memory", 1);
  EXPECT_EQ(r.items,
            (std::vector<std::pair<std::string, std::int64_t>>{{"cpu", 5}, {"memory", 11}}));
  EXPECT_EQ(r.Get("nvidia.com/gpu"), 0);
  Resources s;
  s.Add("nvidia.com/gpu", 8);
  s.Add("cpu", 1);
  r.Add(s);
  EXPECT_EQ(r.Get("cpu"), 6);
  EXPECT_EQ(r.Get("nvidia.com/gpu"), 8);
}

TEST(PayloadTest, EffectiveRequestsFollowKubernetes) {
  using Kind = ContainerPlan::Kind;
  auto c = [](Kind kind, std::int64_t cpu, std::int64_t memory) {
    ContainerPlan p;
    p.kind = kind;
    p.requests = {{"cpu", "", cpu}, {"memory", "", memory}};
    return p;
  };
  // Containers 1000 + 500 cpu, 10 + 20 memory: 1500, 30.
  EXPECT_EQ(EffectiveRequests({c(Kind::kContainer, 1000, 10), c(Kind::kContainer, 500, 20)}).items,
            (std::vector<std::pair<std::string, std::int64_t>>{{"cpu", 1500}, {"memory", 30}}));
  // A plain init container larger than the containers in memory: max(30, 80) = 80; cpu stays
  // max(1500, 200) = 1500.
  EXPECT_EQ(
      EffectiveRequests(
          {c(Kind::kInit, 200, 80), c(Kind::kContainer, 1000, 10), c(Kind::kContainer, 500, 20)})
          .items,
      (std::vector<std::pair<std::string, std::int64_t>>{{"cpu", 1500}, {"memory", 30 + 50}}));
  // A sidecar (100, 5) runs beside the containers: containers 1000 + 100 = 1100 cpu, 10 + 5 = 15
  // memory. The init container after it runs with it: 200 + 100 = 300 cpu, 40 + 5 = 45 memory.
  // The one before it runs alone: 2000 cpu, 1 memory. Per resource: cpu max(1100, 300, 2000, 100)
  // = 2000, memory max(15, 45, 1, 5) = 45.
  EXPECT_EQ(EffectiveRequests({c(Kind::kInit, 2000, 1), c(Kind::kSidecar, 100, 5),
                               c(Kind::kInit, 200, 40), c(Kind::kContainer, 1000, 10)})
                .items,
            (std::vector<std::pair<std::string, std::int64_t>>{{"cpu", 2000}, {"memory", 45}}));
  // Zero amounts are dropped; nothing requested: nothing.
  EXPECT_TRUE(EffectiveRequests({c(Kind::kContainer, 0, 0)}).items.empty());
  // The generator's shapes: the trainer with its log router: cpu 80 + 0.5, memory 900Gi + 512Mi.
  const Resources t = EffectiveRequests(TrainerContainers());
  EXPECT_EQ(t.Get("cpu"), 80500);
  EXPECT_EQ(t.Get("memory"), 900LL * 1024 * 1024 * 1024 + 512LL * 1024 * 1024);
  EXPECT_EQ(t.Get("nvidia.com/gpu"), 8);
  EXPECT_EQ(t.Get("vpc.amazonaws.com/efa"), 32);
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
    // The allocatable the model counts is the one the node object states.
    Resources allocatable;
    for (const auto& [name, q] : j["status"]["allocatable"].items()) {
      allocatable.Add(name, Amount(q, name));
    }
    EXPECT_EQ(allocatable, n.allocatable) << n.name;
  }
  SchedulingSpec sched;
  sched.total_pods = 640;
  for (const PendingPod& p : GeneratePendingPods(sched, nodes)) {
    Json j = Json::parse(p.json);
    EXPECT_EQ(j["metadata"]["uid"], p.uid);
    EXPECT_EQ(j["metadata"]["namespace"], p.namespace_name);
    EXPECT_EQ(j["status"]["phase"], "Pending");
    EXPECT_EQ(EffectiveRequests(ContainersOf(j)), p.requests) << p.name;
  }
  // Every pod has its own uid and its own name in its namespace (the API server's key).
  std::set<std::string> uids, names;
  for (const PendingPod& p : GeneratePendingPods(sched, nodes)) {
    EXPECT_TRUE(uids.insert(p.uid).second) << p.name;
    EXPECT_TRUE(names.insert(p.namespace_name + "/" + p.name).second) << p.name;
  }
  for (const PlacedPod& p : AllPlaced(sched, nodes)) {
    EXPECT_TRUE(names.insert(p.namespace_name + "/" + p.name).second) << p.name;
    Json j = Json::parse(p.json);
    EXPECT_EQ(j["spec"]["nodeName"], nodes[static_cast<std::size_t>(p.node)].name);
    EXPECT_EQ(j["metadata"]["resourceVersion"], "__RV__");
    EXPECT_EQ(j["status"]["phase"], "Running");
    EXPECT_EQ(j["metadata"]["namespace"], p.namespace_name);
    // The requests the model counts are the ones the pod's containers state.
    EXPECT_EQ(EffectiveRequests(ContainersOf(j)), p.requests) << p.name;
    EXPECT_TRUE(uids.insert(j["metadata"]["uid"]).second) << p.name;
  }
  for (const BindTarget& t : GenerateBindTargets(1, "x", 20)) {
    Json j = Json::parse(t.json);
    EXPECT_EQ(j["metadata"]["uid"], t.uid);
    EXPECT_EQ(j["metadata"]["name"], t.name);
    EXPECT_EQ(j["metadata"]["namespace"], t.namespace_name);
    EXPECT_EQ(j["metadata"]["resourceVersion"], "__RV__");
    EXPECT_FALSE(j["spec"].contains("nodeName"));
    EXPECT_EQ(j["spec"]["schedulerName"], "default-scheduler");  // one hyperplace serves
    EXPECT_FALSE(j["metadata"].contains("ownerReferences"));     // no group
    EXPECT_TRUE(uids.insert(j["metadata"]["uid"]).second) << t.name;
    EXPECT_TRUE(names.insert(t.namespace_name + "/" + t.name).second) << t.name;
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

TEST(PayloadTest, PlacedPodsFitTheirNodesAndPeersShareARack) {
  ClusterSpec spec;
  spec.nodes = 640;
  const auto nodes = GenerateNodes(spec);
  SchedulingSpec sched;
  sched.total_pods = 640 * 30;
  const auto placed = AllPlaced(sched, nodes);
  EXPECT_EQ(placed.size(), 640u * 30);
  std::map<int, int> per_node;
  std::vector<Resources> used(nodes.size());
  std::map<std::string, std::set<int>> racks_of_pending_gang;
  for (const PlacedPod& p : placed) {
    ++per_node[p.node];
    used[static_cast<std::size_t>(p.node)].Add(p.requests);
    if (p.name.rfind("pending-", 0) == 0) {
      racks_of_pending_gang[p.namespace_name + "/" + p.name.substr(0, p.name.find("-worker"))]
          .insert(p.node / 16);
    }
  }
  int at_max = 0;
  for (const auto& [node, count] : per_node) {
    const GeneratedNode& n = nodes[static_cast<std::size_t>(node)];
    EXPECT_LE(count, n.max_pods) << node;
    // Only the nodes filled to their maximum pods go beyond the maximum minus 4.
    if (count > n.max_pods - 4) {
      EXPECT_EQ(node % 37, 11) << node;
    }
    at_max += count == n.max_pods;
    // No node is overcommitted.
    for (const auto& [name, amount] : used[static_cast<std::size_t>(node)].items) {
      EXPECT_LE(amount, n.allocatable.Get(name)) << node << " " << name;
    }
  }
  EXPECT_GT(at_max, 0);
  // Kinds 0..7 of every 20 pending pods have placed peers, in a single p5 rack.
  EXPECT_EQ(racks_of_pending_gang.size(), 24u);  // 60 pending pods: 3 × 8
  for (const auto& [gang, racks] : racks_of_pending_gang) {
    ASSERT_EQ(racks.size(), 1u) << gang;
    EXPECT_EQ(nodes[static_cast<std::size_t>(*racks.begin() * 16)].instance_type, "ml.p5.48xlarge");
  }
  // The GPU occupancy is varied: whole nodes busy, half, single GPUs, many free (counted at 2000
  // nodes, where the pending gangs' peers take a few racks of 60).
  spec.nodes = 2000;
  const auto big = GenerateNodes(spec);
  sched.total_pods = 2000 * 30;
  const Occupancy occupancy = ModelOccupancy(sched, big);
  std::map<std::int64_t, int> p5_by_gpus_used;
  for (std::size_t i = 0; i < big.size(); ++i) {
    if (big[i].instance_type == "ml.p5.48xlarge") {
      ++p5_by_gpus_used[occupancy.used[i].Get("nvidia.com/gpu")];
    }
  }
  for (std::int64_t g : {0, 1, 2, 3, 4, 8}) EXPECT_GT(p5_by_gpus_used[g], 20) << g << " GPUs used";
  EXPECT_GT(p5_by_gpus_used[0], p5_by_gpus_used[8] / 2);

  // More pods than fit: stops when no node holds another.
  sched.total_pods = 640 * 100;
  const int emitted = ForEachPlacedPod(sched, nodes, [](const PlacedPod&) {});
  EXPECT_LT(emitted, sched.total_pods);
  EXPECT_EQ(ModelOccupancy(sched, nodes).placed, emitted);
}

TEST(PayloadTest, PendingPodsCoverTheKinds) {
  ClusterSpec spec;
  spec.nodes = 1000;
  const auto nodes = GenerateNodes(spec);
  SchedulingSpec sched;
  sched.total_pods = 1000 * 30;
  const auto pending = GeneratePendingPods(sched, nodes);
  ASSERT_EQ(pending.size(), 60u);
  std::map<TopologyKind, int> kinds;
  int with_peers = 0, bare = 0, cpu_only = 0, four = 0, one = 0, eight = 0;
  for (const PendingPod& p : pending) {
    ++kinds[p.topology];
    with_peers += p.placed_peers > 0;
    bare += p.json.find("ownerReferences") == std::string::npos;
    const std::int64_t gpus = p.requests.Get("nvidia.com/gpu");
    cpu_only += gpus == 0;
    four += gpus == 4;
    one += gpus == 1;
    eight += gpus == 8 && p.group_size > 0;
  }
  EXPECT_EQ(kinds[TopologyKind::kRequired], 36);   // 12 of 20
  EXPECT_EQ(kinds[TopologyKind::kPreferred], 15);  // 5 of 20
  EXPECT_EQ(kinds[TopologyKind::kNone], 9);
  EXPECT_EQ(with_peers, 24);  // 8 of 20: the p5 racks have room at 1000 nodes
  EXPECT_EQ(bare, 9);         // no owner: no group at all
  EXPECT_EQ(eight, 51);
  EXPECT_EQ(cpu_only, 3);
  EXPECT_EQ(four, 3);
  EXPECT_EQ(one, 3);
  // Without placed pods no peer is placed.
  sched.total_pods = 0;
  for (const PendingPod& p : GeneratePendingPods(sched, nodes)) EXPECT_EQ(p.placed_peers, 0);
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
