// Names mode and full-node mode must agree (DESIGN §5): for the same pod and the same nodes, the
// same verdicts (passed set, FailedNodes, FailedAndUnresolvableNodes, reasons) and the same scores.
// Checked at HyperPod scale — 1000 and 5000 generated nodes with `hyperpod-i-0…` names and
// placed pods — through the real HTTP server and handlers and a real watch cache synced from a
// fake API server, because a defect that shows only above 16 nodes passed every smaller test.
#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench/payload.h"
#include "common/config.h"
#include "extender/extender.h"
#include "extender/policy.h"
#include "extender/watch_cache.h"
#include "kube/testing/fake_apiserver.h"
#include "net/http_server.h"

namespace hyperplace::extender {
namespace {

using nlohmann::json;

// What one /filter reply said, whatever its mode.
struct Verdicts {
  std::set<std::string> passed;
  std::map<std::string, std::string> failed;        // FailedNodes
  std::map<std::string, std::string> unresolvable;  // FailedAndUnresolvableNodes
  std::string error;
};

std::map<std::string, std::string> ReasonMap(simdjson::dom::element e) {
  std::map<std::string, std::string> out;
  if (e.is_null()) return out;
  for (auto [key, value] : e.get_object())
    out.emplace(key, std::string(value.get_string().value()));
  return out;
}

// Replies are parsed with simdjson's DOM (an independent parser, and fast enough for the 37 MB
// full-node replies at 5000 nodes).
Verdicts ParseFilterReply(const std::string& body, bool names_mode) {
  simdjson::dom::parser parser;
  simdjson::dom::element reply = parser.parse(body);
  Verdicts v;
  if (names_mode) {
    EXPECT_TRUE(reply["Nodes"].is_null());
    for (auto n : reply["NodeNames"].get_array()) v.passed.emplace(n.get_string().value());
  } else {
    EXPECT_TRUE(reply["NodeNames"].is_null());
    for (auto n : reply["Nodes"]["items"].get_array()) {
      v.passed.emplace(n["metadata"]["name"].get_string().value());
    }
  }
  v.failed = ReasonMap(reply["FailedNodes"]);
  v.unresolvable = ReasonMap(reply["FailedAndUnresolvableNodes"]);
  v.error = std::string(reply["Error"].get_string().value());
  return v;
}

std::map<std::string, std::int64_t> ParseScores(const std::string& body) {
  simdjson::dom::parser parser;
  std::map<std::string, std::int64_t> scores;
  for (auto h : parser.parse(body).get_array()) {
    const std::string host(h["Host"].get_string().value());
    EXPECT_TRUE(scores.emplace(host, h["Score"].get_int64().value()).second) << "twice: " << host;
  }
  return scores;
}

// The pods checked: the generator's pending pods of every kind (gangs with placed peers, first
// pods of required and preferred gangs, team pods without a group), and variants of a team pod
// for the rules a generated pod does not exercise.
constexpr char kPinnedByKueue[] = "required gang with placed peers, pinned to a node by Kueue TAS";

std::vector<std::pair<std::string, std::string>> PodsToCheck(
    const std::vector<bench::PendingPod>& pending, std::string_view some_node) {
  std::vector<std::pair<std::string, std::string>> pods;
  // GeneratePendingPods' kinds by index % 20: 0..7 placed peers (required), 8..13 first of a
  // required gang, 14..16 first of a preferred gang, 17..19 no group.
  pods.emplace_back("required gang with placed peers", pending[0].json);
  pods.emplace_back("required gang with placed peers (2)", pending[5].json);
  pods.emplace_back("first pod of a required gang", pending[8].json);
  pods.emplace_back("first pod of a preferred gang", pending[14].json);
  pods.emplace_back("team pod without a group", pending[17].json);

  // The first of them as Kueue TAS lets it go: pinned to a node (any rack), no topology refusal.
  json pinned = json::parse(pending[0].json);
  pinned["spec"]["nodeSelector"]["kubernetes.io/hostname"] = some_node;
  pods.emplace_back(kPinnedByKueue, pinned.dump());

  const json team_pod = json::parse(pending[17].json);
  json non_team = team_pod;  // not in a team namespace, no Kueue labels
  non_team["metadata"]["namespace"] = "default";
  non_team["metadata"]["labels"] = json::object();
  pods.emplace_back("non-team pod", non_team.dump());

  json tolerating = team_pod;  // tolerates the health agent's taint
  tolerating["spec"]["tolerations"].push_back(
      {{"key", "sagemaker.amazonaws.com/node-health-status"},
       {"operator", "Equal"},
       {"value", "Unschedulable"},
       {"effect", "NoSchedule"}});
  pods.emplace_back("team pod tolerating the health taint", tolerating.dump());

  json selector = team_pod;  // selects an instance type without "ml."
  selector["spec"]["nodeSelector"] = {{"node.kubernetes.io/instance-type", "p5.48xlarge"}};
  pods.emplace_back("team pod selecting p5.48xlarge", selector.dump());

  // Resources: a half-node GPU pod (the resources filter and GPU packing) and one whose sidecar
  // and init container make its effective request larger than its container's.
  json half_node = team_pod;
  half_node["spec"]["containers"] = {
      {{"name", "train"},
       {"resources",
        {{"requests", {{"nvidia.com/gpu", "4"}, {"cpu", "48"}, {"memory", "500Gi"}}}}}}};
  pods.emplace_back("team pod requesting 4 GPUs", half_node.dump());
  json sidecars = half_node;
  sidecars["spec"]["initContainers"] = {
      {{"name", "proxy"},
       {"restartPolicy", "Always"},
       {"resources", {{"requests", {{"nvidia.com/gpu", "1"}}}}}},
      {{"name", "warmup"}, {"resources", {{"requests", {{"nvidia.com/gpu", "6"}}}}}}};
  pods.emplace_back("team pod with a GPU sidecar and a 6-GPU init container", sidecars.dump());
  return pods;
}

class ModesAgreeTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    bench::ClusterSpec spec;
    spec.nodes = GetParam();
    spec.seed = 7;
    nodes_ = bench::GenerateNodes(spec);
    bench::SchedulingSpec scheduling;
    scheduling.seed = 7;
    scheduling.pending_pods = 20;
    scheduling.total_pods = spec.nodes * 20;
    pending_ = bench::GeneratePendingPods(scheduling, nodes_);

    // The cluster as the API server holds it: the nodes, the placed pods, the pending pods.
    for (const auto& n : nodes_) api_.Upsert("nodes", n.name, Placeholder(n.json));
    placed_ = bench::ForEachPlacedPod(scheduling, nodes_, [&](const bench::PlacedPod& p) {
      api_.Upsert("pods", p.namespace_name + "/" + p.name, p.json);
    });
    for (const auto& p : pending_) {
      api_.Upsert("pods", p.namespace_name + "/" + p.name, Placeholder(p.json));
    }

    kube::Access access;
    access.server = api_.url();
    access.ca_pem = api_.pki().ca_pem;
    client_ = *kube::Client::Create(access, {});
    Config config;
    state_ = std::make_shared<MemoryState>(MakePolicy(config));
    cache_ = std::make_unique<WatchCache>(client_, state_, config.kube, registry_);
    cache_->Start();
    for (int i = 0; i < 3000 && !state_->Ready(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(state_->Ready());

    net::ServerOptions options;
    options.limits = config.extender.server;
    server_ = std::make_unique<net::HttpServer>(std::move(options));
    extender_ = std::make_unique<Extender>(state_->policy(), state_, registry_);
    extender_->Register(*server_);
    ASSERT_TRUE(server_->Listen({"127.0.0.1", 0}).ok());
    ASSERT_TRUE(server_->Start().ok());
    http_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    http_->set_read_timeout(60, 0);
    http_->set_keep_alive(true);
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::milliseconds(0));
    if (cache_) cache_->Stop();
  }

  // Objects carry the fake API server's resourceVersion placeholder.
  static std::string Placeholder(std::string json) {
    const auto at = json.find(R"("resourceVersion":")");
    if (at == std::string::npos) return json;
    const auto start = at + 19, end = json.find('"', start);
    return json.replace(start, end - start, "__RV__");
  }

  std::string Post(const std::string& path, const std::string& body) {
    auto res = http_->Post(path, body, "application/json");
    EXPECT_TRUE(res) << path;
    if (!res) return "";
    EXPECT_EQ(res->status, 200) << res->body.substr(0, 300);
    return res->body;
  }

  // The nodes of `names`, in the scheduler's order, for a full-node /prioritize.
  std::vector<bench::GeneratedNode> Subset(const std::set<std::string>& names) const {
    std::vector<bench::GeneratedNode> out;
    for (const auto& n : nodes_) {
      if (names.count(n.name)) out.push_back(n);
    }
    return out;
  }

  std::vector<bench::GeneratedNode> nodes_;
  std::vector<bench::PendingPod> pending_;
  int placed_ = 0;
  kube::testing::FakeApiServer api_;
  std::shared_ptr<kube::Client> client_;
  metrics::Registry registry_;
  std::shared_ptr<MemoryState> state_;
  std::unique_ptr<WatchCache> cache_;
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<Extender> extender_;
  std::unique_ptr<httplib::Client> http_;
};

TEST_P(ModesAgreeTest, NamesAndFullNodesGiveTheSameVerdictsAndScores) {
  const std::size_t n = nodes_.size();
  ASSERT_EQ(state_->Current()->node_count(), n);
  ASSERT_EQ(state_->Current()->pod_count(), static_cast<std::size_t>(placed_));
  std::size_t passed_any = 0;
  const auto pods = PodsToCheck(pending_, nodes_[n / 2].name);
  for (const auto& [what, pod] : pods) {
    SCOPED_TRACE(what);
    const Verdicts names =
        ParseFilterReply(Post("/filter", bench::NodeNamesArgs(pod, nodes_)), true);
    const Verdicts full =
        ParseFilterReply(Post("/filter", bench::FullNodesArgs(pod, nodes_)), false);
    EXPECT_EQ(names.error, "");
    EXPECT_EQ(full.error, "");
    EXPECT_EQ(names.passed, full.passed);
    EXPECT_EQ(names.failed, full.failed);
    EXPECT_EQ(names.unresolvable, full.unresolvable);
    // Every node answered exactly once, and none is unknown to a synced cache.
    EXPECT_EQ(names.passed.size() + names.failed.size() + names.unresolvable.size(), n);
    for (const auto& [node, reason] : names.failed) {
      ASSERT_EQ(reason.find("not in the extender's cache"), std::string::npos) << node;
    }
    passed_any += !names.passed.empty();
    // hyperplace's required-topology rule refuses nodes outside the placed peers' rack, unless
    // Kueue already pinned the pod.
    std::size_t topology_refusals = 0;
    for (const auto& [node, reason] : names.unresolvable) {
      topology_refusals += reason.find("topology") != std::string::npos;
    }
    if (what == "required gang with placed peers") {
      EXPECT_GT(topology_refusals, 0u);
    }
    if (what == kPinnedByKueue) {
      EXPECT_EQ(topology_refusals, 0u);
    }
    if (what == "team pod without a group") {
      // 2% unhealthy, 1% tainted, 2% without "ml.", density never reached: ~95% pass.
      EXPECT_GT(names.passed.size(), n * 9 / 10);
    }

    // The scheduler then sends the survivors to /prioritize.
    if (names.passed.empty()) continue;
    const auto survivors = Subset(names.passed);
    const auto names_scores =
        ParseScores(Post("/prioritize", bench::NodeNamesArgs(pod, survivors)));
    const auto full_scores = ParseScores(Post("/prioritize", bench::FullNodesArgs(pod, survivors)));
    // Hosts scored 0 are left out; the rest were sent, once, with 1..10.
    EXPECT_EQ(names_scores, full_scores);
    EXPECT_LE(names_scores.size(), survivors.size());
    for (const auto& [host, score] : names_scores) {
      ASSERT_TRUE(names.passed.count(host)) << host;
      ASSERT_GE(score, 1) << host;
      ASSERT_LE(score, 10) << host;
    }
  }
  // The generated cluster has room for every pod checked (the p5.48xlarge selector matches the
  // ml.p5.48xlarge nodes).
  EXPECT_EQ(passed_any, pods.size());
}

// Realistic cluster sizes; 1000 in a few seconds, 5000 (43 MB requests) in under a minute.
INSTANTIATE_TEST_SUITE_P(HyperPodScale, ModesAgreeTest, ::testing::Values(1000, 5000),
                         [](const auto& info) { return std::to_string(info.param) + "Nodes"; });

}  // namespace
}  // namespace hyperplace::extender
