// Replays requests captured from a real kube-scheduler v1.36.3 (extender/testdata/captured/,
// recorded by the e2e suite) through the codec and the handlers: they pin the wire format.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "extender/codec.h"
#include "extender/extender.h"
#include "extender/state.h"
#include "scoring/testing/builders.h"

namespace hyperplace::extender {
namespace {

using nlohmann::json;

std::string Captured(const std::string& name) {
  std::ifstream in(std::string(HYPERPLACE_TESTDATA_DIR) + "/captured/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_FALSE(ss.str().empty()) << name;
  return ss.str();
}

// A body followed by the padding the server guarantees.
struct Padded {
  explicit Padded(std::string text) : size(text.size()), bytes(std::move(text)) {
    bytes.append(net::kBodyPadding, '\0');
  }
  std::string_view view() const { return {bytes.data(), size}; }
  std::size_t size;
  std::string bytes;
};

TEST(CapturedTest, NamesModeRequestDecodes) {
  Padded body(Captured("filter_names.json"));
  Decoder decoder;
  ExtenderArgs args;
  ASSERT_TRUE(decoder.DecodeArgs(body.view(), args).ok());
  EXPECT_TRUE(args.has_node_names);
  EXPECT_FALSE(args.has_nodes);  // "Nodes":null
  EXPECT_EQ(args.node_names.size(), 3u);
  EXPECT_EQ(args.pod.namespace_name, "hyperpod-ns-golden");
  EXPECT_EQ(args.pod.labels.Get("kueue.x-k8s.io/pod-group-name"), "golden-names");
  EXPECT_EQ(args.pod.annotations.Get("kueue.x-k8s.io/podset-preferred-topology"),
            "topology.k8s.aws/network-node-layer-3");
  EXPECT_EQ(args.pod.tolerations.size(), 2u);
}

TEST(CapturedTest, FullNodeRequestDecodesWithManagedFields) {
  const std::string text = Captured("filter_full_nodes.json");
  Padded body(text);
  Decoder decoder;
  ExtenderArgs args;
  ASSERT_TRUE(decoder.DecodeArgs(body.view(), args).ok());
  EXPECT_TRUE(args.has_nodes);
  EXPECT_FALSE(args.has_node_names);
  json items = json::parse(text)["Nodes"]["items"];
  ASSERT_EQ(args.nodes.size(), items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    EXPECT_EQ(args.nodes[i].name, items[i]["metadata"]["name"].get<std::string>());
    EXPECT_EQ(args.nodes[i].allocatable_pods,
              std::stoll(items[i]["status"]["allocatable"]["pods"].get<std::string>()));
    EXPECT_TRUE(json::parse(args.node_json[i]) == items[i]) << i;
  }
}

TEST(CapturedTest, BindRequestDecodes) {
  Padded body(Captured("bind.json"));
  Decoder decoder;
  BindingArgs args;
  ASSERT_TRUE(decoder.DecodeBinding(body.view(), args).ok());
  EXPECT_EQ(args.pod_name, "golden-names-0");
  EXPECT_EQ(args.pod_namespace, "hyperpod-ns-golden");
  EXPECT_FALSE(args.pod_uid.empty());
  EXPECT_EQ(args.node, "hyperpod-i-0a19794809d433276");
}

class CapturedHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_ = std::make_shared<MemoryState>(scoring::testing::DefaultPolicy());
    // The cache holds the same three nodes the full-node capture carries.
    Padded body(Captured("filter_full_nodes.json"));
    Decoder decoder;
    ExtenderArgs args;
    ASSERT_TRUE(decoder.DecodeArgs(body.view(), args).ok());
    for (const auto& node : args.nodes) state_->UpsertNode(scoring::OwnedCopy(node));
    state_->Publish();
  }
  json Call(bool filter, const std::string& file) {
    Extender extender(state_->policy(), state_, registry_);
    Padded body(Captured(file));
    net::Response response;
    if (filter) {
      extender.Filter(body.view(), response);
    } else {
      extender.Prioritize(body.view(), response);
    }
    EXPECT_EQ(response.status, 200) << response.body;
    return json::parse(response.body);
  }

  std::shared_ptr<MemoryState> state_;
  metrics::Registry registry_;
};

TEST_F(CapturedHandlersTest, EveryCandidateFitsAndIsAnsweredInTheRequestsForm) {
  json names = Call(true, "filter_names.json");
  EXPECT_EQ(names["NodeNames"].size(), 3u);
  EXPECT_TRUE(names["Nodes"].is_null());
  EXPECT_EQ(names["Error"], "");

  json full = Call(true, "filter_full_nodes.json");
  EXPECT_TRUE(full["NodeNames"].is_null());
  json items = json::parse(Captured("filter_full_nodes.json"))["Nodes"]["items"];
  EXPECT_TRUE(full["Nodes"]["items"] == items);  // the same node objects, unmodified
}

TEST_F(CapturedHandlersTest, FirstPodOfTheGroupPrefersTheTightestLayer3Domain) {
  // A group of 2 with preferred layer 3: domain l3-a has two ml.p5.48xlarge nodes (98 free
  // slots), l3-b one (49). l3-b fits the group most tightly: topology 1000 for its node against
  // 900 · 49 / 98 = 450 for the others; density and health are equal, so its score is highest.
  json scores = Call(false, "prioritize_names.json");
  ASSERT_GE(scores.size(), 1u);
  ASSERT_LE(scores.size(), 3u);
  // The three hosts asked about; one left out of the reply scored 0.
  std::map<std::string, int> by_host;
  const json asked = json::parse(Captured("prioritize_names.json"));
  for (const json& host : asked["NodeNames"]) by_host[host.get<std::string>()] = 0;
  for (const json& hp : scores) by_host[hp["Host"]] = hp["Score"];
  ASSERT_EQ(by_host.size(), 3u);
  const int tight = by_host.at("hyperpod-i-0a19794809d433276");
  for (const auto& [host, score] : by_host) {
    if (host != "hyperpod-i-0a19794809d433276") {
      EXPECT_LT(score, tight) << host;
    }
  }
}

}  // namespace
}  // namespace hyperplace::extender
