#include "extender/extender.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "extender/codec.h"
#include "scoring/reasons.h"
#include "scoring/testing/builders.h"

namespace hyperplace::extender {
namespace {

using nlohmann::json;
using scoring::Reason;
using scoring::ReasonText;
using scoring::testing::DefaultPolicy;
using scoring::testing::NodeBuilder;

std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(HYPERPLACE_TESTDATA_DIR) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Loads the golden nodes into a MemoryState, as the watch cache would hold them.
// The golden nodes, decoded as the watch cache decodes them (allocatable included).
void LoadGoldenNodes(MemoryState& state) {
  Decoder decoder;
  for (const json& n : json::parse(ReadTestdata("nodes.json"))) {
    std::string padded = n.dump();
    const std::size_t size = padded.size();
    padded.append(kInputPadding, '\0');
    scoring::Node node;
    ASSERT_TRUE(decoder.DecodeNode(std::string_view(padded.data(), size), node).ok());
    state.UpsertNode(scoring::OwnedCopy(node));
  }
}

class ExtenderTest : public ::testing::Test {
 protected:
  ExtenderTest() : state_(std::make_shared<MemoryState>(DefaultPolicy())) {}

  json Call(void (Extender::*handler)(std::string_view, net::Response&), std::string body,
            int want_status = 200) {
    Extender extender(state_->policy(), state_, registry_);
    net::Response response;
    std::string padded = body + std::string(net::kBodyPadding, '\0');
    (extender.*handler)(std::string_view(padded.data(), body.size()), response);
    EXPECT_EQ(response.status, want_status) << response.body;
    return json::parse(response.body);
  }
  json Filter(std::string body, int want_status = 200) {
    return Call(&Extender::Filter, std::move(body), want_status);
  }
  json Prioritize(std::string body) { return Call(&Extender::Prioritize, std::move(body)); }

  std::shared_ptr<MemoryState> state_;
  metrics::Registry registry_;
};

// Every input node appears exactly once: in the survivors, FailedNodes or
// FailedAndUnresolvableNodes.
void ExpectEveryNodeOnce(const json& reply, const std::vector<std::string>& input,
                         bool names_mode) {
  std::multiset<std::string> seen;
  if (names_mode) {
    for (const json& n : reply["NodeNames"]) seen.insert(n.get<std::string>());
  } else {
    for (const json& n : reply["Nodes"]["items"]) seen.insert(n["metadata"]["name"]);
  }
  for (auto& [name, reason] : reply["FailedNodes"].items()) seen.insert(name);
  for (auto& [name, reason] : reply["FailedAndUnresolvableNodes"].items()) seen.insert(name);
  EXPECT_EQ(seen, std::multiset<std::string>(input.begin(), input.end()));
}

std::vector<std::string> GoldenNames() {
  std::vector<std::string> names;
  for (const json& n : json::parse(ReadTestdata("nodes.json"))) {
    names.push_back(n["metadata"]["name"]);
  }
  return names;
}

TEST_F(ExtenderTest, NamesModeFilterAppliesEveryNodeRule) {
  LoadGoldenNodes(*state_);
  state_->Publish();
  json reply = Filter(ReadTestdata("filter_node_names.json"));
  // The golden pod: team namespace, selects p5.48xlarge, a whole node's 8 GPUs, group of 8 with
  // required layer 3. Racks: rack1 = 0a01 + 0a02 (2 copies), rack2 = 0a03 (1), rack3 = 0a04 +
  // 0a05 (unhealthy / tainted), rack4 = 0a06 (g5). No rack holds 8 copies, so none is rejected
  // for its size (Kueue holds such a gang back; hyperplace does not strand it).
  EXPECT_EQ(reply["NodeNames"], json({"hyperpod-i-0a01", "hyperpod-i-0a02", "hyperpod-i-0a03"}));
  json unresolvable = reply["FailedAndUnresolvableNodes"];
  EXPECT_EQ(unresolvable["hyperpod-i-0a04"], ReasonText(Reason::kNodeUnhealthy));
  EXPECT_EQ(unresolvable["hyperpod-i-0a05"], ReasonText(Reason::kUntoleratedHealthTaint));
  EXPECT_EQ(unresolvable["hyperpod-i-0a06"], ReasonText(Reason::kInstanceTypeMismatch));
  EXPECT_EQ(unresolvable["ip-10-1-9-9.us-west-2.compute.internal"],
            ReasonText(Reason::kNotAcceleratedType));
  EXPECT_TRUE(reply["FailedNodes"].empty());
  EXPECT_TRUE(reply["Nodes"].is_null());
  EXPECT_EQ(reply["Error"], "");
  ExpectEveryNodeOnce(reply, GoldenNames(), /*names_mode=*/true);
}

TEST_F(ExtenderTest, FullNodeModeAnswersWithTheSameNodeObjects) {
  json reply = Filter(ReadTestdata("filter_full_nodes.json"));
  EXPECT_TRUE(reply["NodeNames"].is_null());
  json golden = json::parse(ReadTestdata("nodes.json"));
  ASSERT_EQ(reply["Nodes"]["items"].size(), 3u);
  EXPECT_EQ(reply["Nodes"]["items"][0], golden[0]);  // unmodified
  EXPECT_EQ(reply["Nodes"]["items"][2], golden[2]);
  EXPECT_EQ(reply["Nodes"]["metadata"], json::object());
  ExpectEveryNodeOnce(reply, GoldenNames(), /*names_mode=*/false);
}

TEST_F(ExtenderTest, CachedPodsCountTowardsMaxPodsInBothModes) {
  LoadGoldenNodes(*state_);
  for (int i = 0; i < 49; ++i) state_->UpsertPod({"u" + std::to_string(i), "hyperpod-i-0a01", ""});
  state_->Publish();
  for (const char* golden : {"filter_node_names.json", "filter_full_nodes.json"}) {
    json reply = Filter(ReadTestdata(golden));
    EXPECT_EQ(reply["FailedNodes"]["hyperpod-i-0a01"], ReasonText(Reason::kMaxPodsReached))
        << golden;
  }
}

TEST_F(ExtenderTest, UnknownNodeNameRejectsThatNodeNotTheRequest) {
  LoadGoldenNodes(*state_);
  state_->Publish();
  json reply = Filter(R"({"Pod":{"metadata":{"name":"p","namespace":"hyperpod-ns-a"}},
                          "NodeNames":["hyperpod-i-0a01","ghost"]})");
  EXPECT_EQ(reply["NodeNames"], json({"hyperpod-i-0a01"}));
  EXPECT_EQ(reply["FailedAndUnresolvableNodes"]["ghost"], ReasonText(Reason::kUnknownNode));
}

// A reply is bounded by the cluster, not by what the caller sends: at most 100 unknown names are
// listed, a repeated name is answered once, and prioritize leaves both out.
TEST_F(ExtenderTest, UnknownAndRepeatedNamesDoNotInflateTheReply) {
  LoadGoldenNodes(*state_);
  state_->Publish();
  std::string names = R"("hyperpod-i-0a01","hyperpod-i-0a01")";
  for (int i = 0; i < 5000; ++i) names += ",\"ghost-" + std::to_string(i) + "\"";
  names += R"(,"hyperpod-i-0a01")";
  const std::string body = R"({"Pod":{"metadata":{"name":"p","namespace":"hyperpod-ns-a"}},)"
                           R"("NodeNames":[)" +
                           names + "]}";

  json filtered = Filter(body);
  EXPECT_EQ(filtered["NodeNames"], json({"hyperpod-i-0a01"}));
  const json& unresolvable = filtered["FailedAndUnresolvableNodes"];
  EXPECT_EQ(unresolvable.size(), 100u);
  EXPECT_EQ(unresolvable["ghost-0"], ReasonText(Reason::kUnknownNode));
  EXPECT_EQ(unresolvable["ghost-99"], ReasonText(Reason::kUnknownNode));
  EXPECT_FALSE(unresolvable.contains("ghost-100"));

  json scored = Prioritize(body);
  ASSERT_EQ(scored.size(), 1u) << scored.dump();
  EXPECT_EQ(scored[0]["Host"], "hyperpod-i-0a01");
}

TEST_F(ExtenderTest, MoreNamesThanAnyClusterHasIsABadRequest) {
  std::string names = "\"a\"";
  names.reserve(kMaxNodesPerRequest * 4 + 8);
  for (std::size_t i = 0; i < kMaxNodesPerRequest; ++i) names += ",\"a\"";
  json reply = Filter(R"({"Pod":{"metadata":{"name":"p"}},"NodeNames":[)" + names + "]}", 400);
  EXPECT_NE(reply["Error"].get<std::string>().find("more than 100000 names"), std::string::npos)
      << reply.dump();
}

TEST_F(ExtenderTest, ANodeWithoutTheGpusFreeIsRejectedNamingThemInBothModes) {
  LoadGoldenNodes(*state_);
  // 0a01 runs a 5-GPU pod (watch); 0a02 has a 1-GPU pod hyperplace just bound (assumed).
  PodRecord running{"running-uid", "hyperpod-i-0a01", ""};
  running.requests = {{"cpu", 8000}, {"nvidia.com/gpu", 5}};
  state_->UpsertPod(running);
  PodRecord bound{"bound-uid", "hyperpod-i-0a02", ""};
  bound.requests = {{"nvidia.com/gpu", 1}};
  state_->AssumePod(bound, MemoryState::Clock::now() + std::chrono::seconds(30));
  state_->Publish();
  for (const char* file : {"filter_node_names.json", "filter_full_nodes.json"}) {
    json reply = Filter(ReadTestdata(file));
    // The golden pod asks for 8 GPUs, 180 cpus, 1800Gi memory and 32 EFA.
    EXPECT_EQ(reply["FailedNodes"]["hyperpod-i-0a01"],
              "hyperplace: node has 3 of 8 nvidia.com/gpu free")
        << file;
    EXPECT_EQ(reply["FailedNodes"]["hyperpod-i-0a02"],
              "hyperplace: node has 7 of 8 nvidia.com/gpu free")
        << file;
    EXPECT_FALSE(reply["FailedNodes"].contains("hyperpod-i-0a03")) << file;
  }
}

TEST_F(ExtenderTest, PlacedPeersFromTheStateConstrainRequiredTopology) {
  LoadGoldenNodes(*state_);
  state_->UpsertPod({"peer-uid", "hyperpod-i-0a03",
                     "hyperpod-ns-team-a/kueue.x-k8s.io/pod-group-name=llama-train"});
  state_->Publish();
  json reply = Filter(ReadTestdata("filter_node_names.json"));
  EXPECT_EQ(reply["NodeNames"], json({"hyperpod-i-0a03"}));
  EXPECT_EQ(reply["FailedAndUnresolvableNodes"]["hyperpod-i-0a01"],
            ReasonText(Reason::kOutsideGroupDomain));

  // Full-node mode resolves the same peer through the request's nodes.
  json full = Filter(ReadTestdata("filter_full_nodes.json"));
  ASSERT_EQ(full["Nodes"]["items"].size(), 1u);
  EXPECT_EQ(full["Nodes"]["items"][0]["metadata"]["name"], "hyperpod-i-0a03");
}

TEST_F(ExtenderTest, PrioritizeListsTheNodesItPrefersInBothModes) {
  LoadGoldenNodes(*state_);
  state_->UpsertPod({"peer-uid", "hyperpod-i-0a01",
                     "hyperpod-ns-team-a/kueue.x-k8s.io/pod-group-name=llama-train"});
  state_->Publish();
  for (const char* golden : {"filter_node_names.json", "filter_full_nodes.json"}) {
    json reply = Prioritize(ReadTestdata(golden));
    ASSERT_TRUE(reply.is_array()) << golden;
    // Of the 7 nodes, those scored 0 (the worst) are left out: kube-scheduler adds the same
    // nothing for them. The peer's rack is not among them.
    ASSERT_GE(reply.size(), 1u) << golden;
    ASSERT_LT(reply.size(), 7u) << golden;
    std::map<std::string, int> score;  // 0 when left out
    for (const json& hp : reply) {
      ASSERT_TRUE(hp["Score"].is_number_integer());
      EXPECT_TRUE(score.emplace(hp["Host"], hp["Score"]).second) << "twice: " << hp["Host"];
      EXPECT_GE(hp["Score"].get<int>(), 1);
      EXPECT_LE(hp["Score"].get<int>(), 10);
    }
    // Same rack as the peer beats another rack of the same spine.
    EXPECT_GT(score["hyperpod-i-0a02"], score["hyperpod-i-0a03"]) << golden;
  }
}

TEST_F(ExtenderTest, MalformedRequestIsA400WithTheReason) {
  json reply = Filter(R"({"Pod":{"metadata":{"labels":{"a":1}}},"NodeNames":[]})", 400);
  EXPECT_NE(reply["Error"].get<std::string>().find("Pod.metadata.labels"), std::string::npos);
  Filter("{", 400);
  Filter("", 400);
}

TEST_F(ExtenderTest, RejectionsAreCountedByReason) {
  LoadGoldenNodes(*state_);
  state_->Publish();
  Filter(ReadTestdata("filter_node_names.json"));
  std::string text = registry_.Render();
  EXPECT_NE(text.find(R"(hyperplace_extender_nodes_rejected_total{reason="node_unhealthy"} 1)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(hyperplace_extender_nodes_rejected_total{reason="health_taint"} 1)"),
            std::string::npos);
}

// Names mode reads a candidate's inline resource ids from dense rows and a rarer resource (an id
// past kInlineResources) through the node's own tables; full-node mode reads the request's
// allocatable by name. Both must give the same verdicts and scores, at 1000 nodes with HyperPod
// names, for a pod asking for a resource past the inline rows that pods already use on some nodes.
TEST_F(ExtenderTest, AResourcePastTheInlineRowsIsCheckedAlikeInBothModes) {
  constexpr int kNodes = 1000, kExtra = 2 * kInlineResources;
  const std::string rare = "example.com/r" + std::to_string(kExtra - 1);
  json items = json::array();
  std::vector<std::string> names;
  Decoder decoder;
  for (int i = 0; i < kNodes; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "hyperpod-i-%017x", 0x0a1b2c3d + i);
    names.push_back(name);
    json allocatable = {
        {"cpu", "191450m"}, {"memory", "2000Gi"}, {"pods", "49"}, {"nvidia.com/gpu", "8"}};
    for (int r = 0; r < kExtra; ++r) allocatable["example.com/r" + std::to_string(r)] = "4";
    allocatable[rare] = std::to_string(i % 4);
    json node = {
        {"metadata",
         {{"name", name}, {"labels", {{"node.kubernetes.io/instance-type", "ml.p5.48xlarge"}}}}},
        {"status", {{"allocatable", allocatable}}}};
    std::string padded = node.dump();
    const std::size_t size = padded.size();
    padded.append(kInputPadding, '\0');
    scoring::Node decoded;
    ASSERT_TRUE(decoder.DecodeNode(std::string_view(padded.data(), size), decoded).ok());
    state_->UpsertNode(scoring::OwnedCopy(decoded));
    items.push_back(std::move(node));
    if (i % 5 == 0) {  // a pod already holds one of the rare resource here
      PodRecord pod{"u" + std::to_string(i), name, ""};
      pod.requests = {{rare, 1}, {"nvidia.com/gpu", 1}};
      state_->UpsertPod(pod);
    }
  }
  state_->Publish();
  ASSERT_GE(state_->Current()->ResourceId(rare), kInlineResources);

  const json pod = {
      {"metadata", {{"name", "p"}, {"namespace", "hyperpod-ns-a"}, {"uid", "p-uid"}}},
      {"spec",
       {{"containers",
         {{{"name", "c"},
           {"resources", {{"requests", {{rare, "2"}, {"nvidia.com/gpu", "1"}}}}}}}}}}};
  const json names_reply = Filter(json{{"Pod", pod}, {"NodeNames", names}}.dump());
  const json full_reply = Filter(
      json{{"Pod", pod}, {"Nodes", {{"metadata", json::object()}, {"items", items}}}}.dump());
  std::set<std::string> kept;
  for (const json& n : names_reply["NodeNames"]) kept.insert(n.get<std::string>());
  std::set<std::string> full_kept;
  for (const json& n : full_reply["Nodes"]["items"]) full_kept.insert(n["metadata"]["name"]);
  EXPECT_EQ(kept, full_kept);
  EXPECT_EQ(names_reply["FailedNodes"], full_reply["FailedNodes"]);
  EXPECT_EQ(names_reply["FailedAndUnresolvableNodes"], full_reply["FailedAndUnresolvableNodes"]);
  // 2 of the rare resource free: i % 4, less the one a pod holds on every fifth node.
  for (int i = 0; i < kNodes; ++i) {
    EXPECT_EQ(kept.count(names[i]) == 1, i % 4 - (i % 5 == 0 ? 1 : 0) >= 2) << names[i];
  }
  EXPECT_EQ(names_reply["FailedNodes"][names[1]], "hyperplace: node has 1 of 1 " + rare + " free");

  std::vector<std::string> survivors(kept.begin(), kept.end());
  json survivor_items = json::array();
  for (const json& item : items) {
    if (kept.count(item["metadata"]["name"].get<std::string>()) > 0) survivor_items.push_back(item);
  }
  EXPECT_EQ(Prioritize(json{{"Pod", pod}, {"NodeNames", survivors}}.dump()),
            Prioritize(json{{"Pod", pod},
                            {"Nodes", {{"metadata", json::object()}, {"items", survivor_items}}}}
                           .dump()));
}

}  // namespace
}  // namespace hyperplace::extender
