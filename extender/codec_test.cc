#include "extender/codec.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace hyperplace::extender {
namespace {

using nlohmann::json;

std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(HYPERPLACE_TESTDATA_DIR) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_FALSE(ss.str().empty()) << name;
  return ss.str();
}

// Holds a body with the padding the decoder requires, as the HTTP server provides it.
class Padded {
 public:
  explicit Padded(std::string_view text) : storage_(text) { storage_.append(kInputPadding, '\0'); }
  std::string_view view() const { return {storage_.data(), storage_.size() - kInputPadding}; }

 private:
  std::string storage_;
};

TEST(DecodeArgsTest, GoldenFullNodeRequestKeepsEveryFieldTheRulesRead) {
  Padded body(ReadTestdata("filter_full_nodes.json"));
  Decoder decoder;
  ExtenderArgs args;
  ASSERT_TRUE(decoder.DecodeArgs(body.view(), args).ok());

  const scoring::Pod& pod = args.pod;
  EXPECT_EQ(pod.name, "llama-train-worker-3");
  EXPECT_EQ(pod.namespace_name, "hyperpod-ns-team-a");
  EXPECT_EQ(pod.uid, "6f1c2a9e-3b7d-4e8a-9c11-2f6d5e4b3a10");
  EXPECT_EQ(pod.labels.Get("kueue.x-k8s.io/pod-group-name"), "llama-train");
  EXPECT_EQ(pod.annotations.Get("kueue.x-k8s.io/pod-group-total-count"), "8");
  EXPECT_EQ(pod.controller_uid, "0a9b8c7d-1111-2222-3333-444455556666");
  EXPECT_EQ(pod.node_selector.Get("node.kubernetes.io/instance-type"), "p5.48xlarge");
  ASSERT_EQ(pod.required_node_terms.size(), 1u);
  ASSERT_EQ(pod.required_node_terms[0].size(), 1u);
  EXPECT_EQ(pod.required_node_terms[0][0].op, "In");
  EXPECT_EQ(pod.required_node_terms[0][0].values,
            (std::vector<std::string_view>{"ml.p5.48xlarge", "p5.48xlarge"}));
  ASSERT_EQ(pod.tolerations.size(), 3u);
  EXPECT_EQ(pod.tolerations[2].key, "nvidia.com/gpu");
  EXPECT_EQ(pod.tolerations[2].op, scoring::Toleration::Operator::kExists);
  EXPECT_EQ(pod.tolerations[2].effect, scoring::TaintEffect::kNoSchedule);

  EXPECT_TRUE(args.has_nodes);
  EXPECT_FALSE(args.has_node_names);
  ASSERT_EQ(args.nodes.size(), 7u);
  EXPECT_EQ(args.nodes[0].name, "hyperpod-i-0a01");
  EXPECT_EQ(args.nodes[0].labels.Get("topology.k8s.aws/network-node-layer-3"), "nn-rack1");
  EXPECT_EQ(args.nodes[0].allocatable_pods, 49);
  EXPECT_EQ(args.nodes[5].allocatable_pods, 14);
  EXPECT_EQ(args.nodes[0].allocatable,
            (scoring::ResourceList{{"cpu", 191450},
                                   {"ephemeral-storage", 965895780LL << 10},
                                   {"memory", 2044000000LL << 10},
                                   {"nvidia.com/gpu", 8},
                                   {"pods", 49},
                                   {"vpc.amazonaws.com/efa", 32}}));
  EXPECT_EQ(pod.requests, (scoring::ResourceList{{"cpu", 180000},
                                                 {"memory", 1800LL << 30},
                                                 {"nvidia.com/gpu", 8},
                                                 {"vpc.amazonaws.com/efa", 32}}));
  ASSERT_EQ(args.nodes[4].taints.size(), 1u);
  EXPECT_EQ(args.nodes[4].taints[0].key, "sagemaker.amazonaws.com/node-health-status");
  EXPECT_EQ(args.nodes[4].taints[0].effect, scoring::TaintEffect::kNoSchedule);

  // The raw JSON of each item is exactly the item's bytes in the request: a view into the body,
  // equal to the item, and the items joined by commas are the request's items array.
  json items = json::parse(ReadTestdata("nodes.json"));
  ASSERT_EQ(args.node_json.size(), items.size());
  std::string joined;
  for (std::size_t i = 0; i < items.size(); ++i) {
    EXPECT_TRUE(json::parse(args.node_json[i]) == items[i]) << i;
    EXPECT_GE(args.node_json[i].data(), body.view().data()) << i;
    EXPECT_LE(args.node_json[i].data() + args.node_json[i].size(),
              body.view().data() + body.view().size())
        << i;
    joined.append(i > 0 ? "," : "").append(args.node_json[i]);
  }
  EXPECT_NE(body.view().find("\"items\":[" + joined + "]"), std::string_view::npos);
}

TEST(DecodeArgsTest, GoldenNodeNamesRequest) {
  Padded body(ReadTestdata("filter_node_names.json"));
  Decoder decoder;
  ExtenderArgs args;
  ASSERT_TRUE(decoder.DecodeArgs(body.view(), args).ok());
  EXPECT_FALSE(args.has_nodes);
  EXPECT_TRUE(args.has_node_names);
  ASSERT_EQ(args.node_names.size(), 7u);
  EXPECT_EQ(args.node_names[6], "ip-10-1-9-9.us-west-2.compute.internal");
  EXPECT_EQ(args.pod.name, "llama-train-worker-3");
}

TEST(DecodeArgsTest, TopLevelKeysAreCaseInsensitive) {
  for (const char* text : {
           R"({"pod":{"metadata":{"name":"p"}},"nodes":null,"nodenames":["a"]})",
           R"({"POD":{"metadata":{"name":"p"}},"NODENAMES":["a"]})",
           R"({"Pod":{"metadata":{"name":"p"}},"nodeNames":["a"]})",
       }) {
    Padded body(text);
    Decoder decoder;
    ExtenderArgs args;
    ASSERT_TRUE(decoder.DecodeArgs(body.view(), args).ok()) << text;
    EXPECT_EQ(args.pod.name, "p") << text;
    ASSERT_EQ(args.node_names.size(), 1u) << text;
    EXPECT_EQ(args.node_names[0], "a");
  }
}

TEST(DecodeArgsTest, EscapedStringsAreUnescaped) {
  Padded body(
      R"({"Pod":{"metadata":{"name":"p\u0031","labels":{"k\/x":"v\"q"}}},"NodeNames":["n\u00e9"]})");
  Decoder decoder;
  ExtenderArgs args;
  ASSERT_TRUE(decoder.DecodeArgs(body.view(), args).ok());
  EXPECT_EQ(args.pod.name, "p1");
  EXPECT_EQ(args.pod.labels.Get("k/x"), "v\"q");
  EXPECT_EQ(args.node_names[0], "n\xc3\xa9");
}

TEST(DecodeArgsTest, UnknownFieldsAndNullsAreIgnored) {
  Padded body(R"({"Pod":{"metadata":{"name":"p","labels":null,"extra":[1,{"a":[]}]},
                  "spec":{"tolerations":null,"affinity":null,"nodeSelector":null},"status":{}},
                  "Nodes":null,"NodeNames":["a"],"Future":{"x":1}})");
  Decoder decoder;
  ExtenderArgs args;
  ASSERT_TRUE(decoder.DecodeArgs(body.view(), args).ok());
  EXPECT_TRUE(args.pod.labels.empty());
}

TEST(DecodeArgsTest, DecoderIsReusableAcrossRequests) {
  Decoder decoder;
  ExtenderArgs args;
  Padded big(ReadTestdata("filter_full_nodes.json"));
  Padded small(R"({"Pod":{"metadata":{"name":"q"}},"NodeNames":["x"]})");
  ASSERT_TRUE(decoder.DecodeArgs(big.view(), args).ok());
  ASSERT_TRUE(decoder.DecodeArgs(small.view(), args).ok());
  EXPECT_FALSE(args.has_nodes);
  EXPECT_TRUE(args.nodes.empty());
  EXPECT_EQ(args.pod.name, "q");
  ASSERT_TRUE(decoder.DecodeArgs(big.view(), args).ok());
  EXPECT_EQ(args.nodes.size(), 7u);
}

struct BadCase {
  const char* name;
  std::string body;
  const char* message_part;
};

TEST(DecodeArgsTest, BadInputIsRejectedWithAReason) {
  std::string deep = R"({"Pod":{"metadata":{"name":"p","labels":)";
  std::string nested_arrays(5000, '[');
  const BadCase cases[] = {
      {"empty", "", "request"},
      {"whitespace", "   ", "request"},
      {"not json", "hello", "request"},
      {"truncated", R"({"Pod":{"metadata":{"name":"p"}},"NodeNames":["a")", "request"},
      {"array document", "[1,2]", "expected a JSON object"},
      {"missing pod", R"({"NodeNames":["a"]})", "missing Pod"},
      {"no nodes", R"({"Pod":{}})", "neither Nodes nor NodeNames"},
      {"pod is an array", R"({"Pod":[],"NodeNames":[]})", "Pod: expected an object"},
      {"names is a string", R"({"Pod":{},"NodeNames":"a"})", "NodeNames"},
      {"name is a number", R"({"Pod":{},"NodeNames":[1]})", "NodeNames[]"},
      {"label value is a number", R"({"Pod":{"metadata":{"labels":{"a":1}}},"NodeNames":[]})",
       "Pod.metadata.labels: expected a string"},
      {"node without a name", R"({"Pod":{},"Nodes":{"items":[{"metadata":{}}]}})",
       "node without metadata.name"},
      {"items not objects", R"({"Pod":{},"Nodes":{"items":[1]}})", "Nodes.items[]"},
      {"trailing garbage", R"({"Pod":{},"NodeNames":[]} x)", "request"},
      {"deeply nested", R"({"Pod":{"metadata":)" + nested_arrays, "request"},
      {"deep inside a skipped field", R"({"Pod":{"spec":{"x":)" + nested_arrays, ""},
      // Malformed JSON inside fields the decoder does not use is still refused.
      {"garbage in an unused field",
       R"({"Pod":{"spec":{"volumes":[{"a":"b"c:{}}]}},"NodeNames":[]})", "Pod.spec"},
      {"bad literal in an unused field", R"({"Pod":{"status":{"x":tru}},"NodeNames":[]})", "Pod"},
      {"bad number in an unused node field",
       R"({"Pod":{},"Nodes":{"items":[{"metadata":{"name":"n"},"status":{"images":[1.2.3]}}]}})",
       "Nodes.items[].status"},
      // Found by fuzzing: a ':' after an unused string value once slipped through.
      {"colon after an unused value", R"({"pod":{"mete":"x":{"a":"b"}}},"nodenames":["a"]})",
       "Pod"},
      {"colon after an unused number", R"({"pod":{"n":1:{"a":"b"}}},"nodenames":["a"]})", "Pod"},
      {"garbage in an unknown top-level key", R"({"Pod":{},"NodeNames":[],"X":[nul]})", "X"},
      {"invalid utf8", "{\"Pod\":{\"metadata\":{\"name\":\"\xff\"}},\"NodeNames\":[]}", ""},
      {"unescaped control char", "{\"Pod\":{\"metadata\":{\"name\":\"a\x01\"}},\"NodeNames\":[]}",
       ""},
  };
  for (const BadCase& c : cases) {
    Padded body(c.body);
    Decoder decoder;
    ExtenderArgs args;
    Status st = decoder.DecodeArgs(body.view(), args);
    EXPECT_FALSE(st.ok()) << c.name;
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(st.message().find(c.message_part), std::string::npos)
        << c.name << ": " << st.message();
  }
}

TEST(DecodeBindingTest, ReadsGoFieldNamesInAnyCase) {
  Padded body(R"({"PodName":"p","podnamespace":"ns","PodUID":"u","Node":"n1"})");
  Decoder decoder;
  BindingArgs args;
  ASSERT_TRUE(decoder.DecodeBinding(body.view(), args).ok());
  EXPECT_EQ(args.pod_name, "p");
  EXPECT_EQ(args.pod_namespace, "ns");
  EXPECT_EQ(args.pod_uid, "u");
  EXPECT_EQ(args.node, "n1");
}

TEST(DecodeBindingTest, MissingFieldsAreRejected) {
  for (const char* text : {R"({"PodName":"p","Node":"n"})", R"({"PodName":1})", "{}", "[]"}) {
    Padded body(text);
    Decoder decoder;
    BindingArgs args;
    EXPECT_FALSE(decoder.DecodeBinding(body.view(), args).ok()) << text;
  }
}

TEST(EncodeTest, FilterResultInNamesMode) {
  std::vector<std::string_view> names = {"a", "b"};
  FilterReply reply;
  reply.names = &names;
  reply.failed = {{"c", "full"}};
  reply.unresolvable = {{"d", "sick"}, {"e", "far"}};
  std::string out;
  EncodeFilterResult(reply, out);
  EXPECT_EQ(out, R"({"Nodes":null,"NodeNames":["a","b"],"FailedNodes":{"c":"full"},)"
                 R"("FailedAndUnresolvableNodes":{"d":"sick","e":"far"},"Error":""})");
}

TEST(EncodeTest, FilterResultInFullNodeModeEchoesTheNodes) {
  std::vector<std::string_view> nodes = {R"({"metadata":{"name":"a"}})",
                                         R"({"metadata":{"name":"b"},"x":[1]})"};
  FilterReply reply;
  reply.nodes_json = &nodes;
  std::string out;
  EncodeFilterResult(reply, out);
  json parsed = json::parse(out);
  EXPECT_TRUE(parsed["NodeNames"].is_null());
  EXPECT_EQ(parsed["Nodes"]["items"].size(), 2u);
  EXPECT_EQ(parsed["Nodes"]["items"][1]["x"][0], 1);
  EXPECT_TRUE(parsed["FailedNodes"].empty());
  EXPECT_EQ(parsed["Error"], "");
}

TEST(EncodeTest, EmptySurvivorListIsAnArrayNotNull) {
  std::vector<std::string_view> none;
  FilterReply reply;
  reply.names = &none;
  std::string out;
  EncodeFilterResult(reply, out);
  EXPECT_TRUE(json::parse(out)["NodeNames"].is_array());
}

TEST(EncodeTest, HostPrioritiesAndErrors) {
  std::string out;
  EncodeHostPriorities({"n1", "n2"}, {10, 0}, out);
  EXPECT_EQ(out, R"([{"Host":"n1","Score":10},{"Host":"n2","Score":0}])");
  out.clear();
  EncodeHostPriorities({}, {}, out);
  EXPECT_EQ(out, "[]");
  out.clear();
  EncodeFilterError("boom \"x\"", out);
  json e = json::parse(out);
  EXPECT_EQ(e["Error"], "boom \"x\"");
  EXPECT_TRUE(e["NodeNames"].is_null());
  EXPECT_TRUE(e["Nodes"].is_null());
  out.clear();
  EncodeBindingResult("", out);
  EXPECT_EQ(out, R"({"Error":""})");
}

TEST(EncodeTest, EscapesAnywhereInLongStringsAreFound) {
  // The fast path checks 8 bytes at a time: put each special byte at every offset of a long
  // string and compare with an independent encoder.
  for (char special : {'"', '\\', '\n', '\x01', '\x1f'}) {
    for (std::size_t at = 0; at < 40; ++at) {
      std::string s(40, 'a');
      s[at] = special;
      std::string out;
      AppendJsonString(out, s);
      EXPECT_EQ(out, json(s).dump()) << at;
    }
  }
  std::string utf8 = "n\xc3\xa9\xe2\x82\xac-node-\xf0\x9f\x98\x80-0123456789";
  std::string out;
  AppendJsonString(out, utf8);
  EXPECT_EQ(out, "\"" + utf8 + "\"");
}

// Names known to need no escape (FilterReply::plain_names) are written unchecked, byte for byte
// as the checking path writes them: 5000 HyperPod names, UTF-8 ones and empty ones among them.
TEST(EncodeTest, PlainNamesAreWrittenAsTheCheckingPathWritesThem) {
  std::vector<std::string> storage;
  for (int i = 0; i < 5000; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "hyperpod-i-%017x", 0x0a1b2c3d + i);
    storage.push_back(i % 97 == 0 ? "n\xc3\xa9-" + std::string(name) : i % 499 == 0 ? "" : name);
  }
  std::vector<std::string_view> names(storage.begin(), storage.end());
  std::vector<std::string_view> kept;
  FilterReply plain, checked;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i % 3 == 0) kept.push_back(names[i]);
    if (i % 3 == 1) plain.failed.emplace_back(names[i], i % 2 ? "full" : "node has 0 of 8 \"gpu\"");
    if (i % 3 == 2) plain.unresolvable.emplace_back(names[i], "unhealthy");
  }
  checked.failed = plain.failed;
  checked.unresolvable = plain.unresolvable;
  plain.names = checked.names = &kept;
  plain.plain_names = true;
  std::string a, b;
  EncodeFilterResult(plain, a);
  EncodeFilterResult(checked, b);
  EXPECT_EQ(a, b);
  EXPECT_EQ(json::parse(a)["NodeNames"].size(), kept.size());

  std::vector<std::int32_t> scores(names.size());
  for (std::size_t i = 0; i < scores.size(); ++i) scores[i] = static_cast<std::int32_t>(i % 11);
  a.clear();
  b.clear();
  EncodeHostPriorities(names, scores, a, /*plain_hosts=*/true);
  EncodeHostPriorities(names, scores, b);
  EXPECT_EQ(a, b);
  EXPECT_EQ(json::parse(a)[4999]["Host"], storage[4999]);
}

TEST(EncodeTest, RepeatedReasonsAreWrittenEachTime) {
  std::vector<std::string_view> names;
  FilterReply reply;
  reply.names = &names;
  std::string reason_a = "full \"a\"", reason_b = "full \"a\"";  // equal text, other storage
  reply.failed = {{"n1", reason_a}, {"n2", reason_a}, {"n3", reason_b}, {"n4", "x"}};
  std::string out;
  EncodeFilterResult(reply, out);
  json failed = json::parse(out)["FailedNodes"];
  EXPECT_EQ(failed["n1"], "full \"a\"");
  EXPECT_EQ(failed["n2"], "full \"a\"");
  EXPECT_EQ(failed["n3"], "full \"a\"");
  EXPECT_EQ(failed["n4"], "x");
}

TEST(EncodeTest, StringsAreEscaped) {
  std::string out;
  AppendJsonString(out, std::string("a\"b\\c\n\x01\x1f/\xc3\xa9", 11));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\u0001\\u001f/\xc3\xa9\"");
  EXPECT_EQ(json::parse(out).get<std::string>(), std::string("a\"b\\c\n\x01\x1f/\xc3\xa9", 11));
}

}  // namespace
}  // namespace hyperplace::extender

namespace hyperplace::extender {
namespace {

TEST(DecodeObjectTest, NodeAndPodObjectsAsTheApiServerSendsThem) {
  json nodes = json::parse(ReadTestdata("nodes.json"));
  Padded node_body(nodes[4].dump());
  Decoder decoder;
  scoring::Node node;
  Status node_status = decoder.DecodeNode(node_body.view(), node);
  ASSERT_TRUE(node_status.ok()) << node_status.message();
  EXPECT_EQ(node.name, "hyperpod-i-0a05");
  EXPECT_EQ(node.allocatable_pods, 49);
  ASSERT_EQ(node.taints.size(), 1u);
  EXPECT_EQ(node.labels.Get("sagemaker.amazonaws.com/deep-health-check-status"), "InProgress");

  Padded pod_body(ReadTestdata("pod.json"));
  scoring::Pod pod;
  ASSERT_TRUE(decoder.DecodePod(pod_body.view(), pod).ok());
  EXPECT_EQ(pod.name, "llama-train-worker-3");
  EXPECT_EQ(pod.tolerations.size(), 3u);
  EXPECT_EQ(pod.phase, "Pending");
}

TEST(DecodeObjectTest, BadObjectsAreRejected) {
  Decoder decoder;
  scoring::Node node;
  scoring::Pod pod;
  for (const char* text : {"", "[]", "1", R"({"metadata":{}})", R"({"metadata":{"name":"a"}} 1)",
                           R"({"metadata":{"name":"a","labels":[]}})"}) {
    Padded body(text);
    EXPECT_FALSE(decoder.DecodeNode(body.view(), node).ok()) << text;
  }
  for (const char* text : {"", "null", R"({"spec":{"tolerations":{}}})", R"({"a":tru})"}) {
    Padded body(text);
    EXPECT_FALSE(decoder.DecodePod(body.view(), pod).ok()) << text;
  }
}

}  // namespace
}  // namespace hyperplace::extender

namespace hyperplace::extender {
namespace {

// An ml.p5.48xlarge as the kubelet reports it (hugepages reserved by none).
constexpr std::string_view kP5Node = R"({"metadata":{"name":"p5-a"},"status":{
  "capacity":{"cpu":"192","memory":"2097152000Ki","nvidia.com/gpu":"8"},
  "allocatable":{"cpu":"191450m","ephemeral-storage":"965895780Ki","hugepages-1Gi":"0",
    "hugepages-2Mi":"0","memory":"2097152Ki","nvidia.com/gpu":"8","pods":"110",
    "vpc.amazonaws.com/efa":"32"}}})";

const scoring::ResourceList kP5Allocatable = {
    {"cpu", 191450},  // millicores
    {"ephemeral-storage", 965895780LL * 1024},
    {"hugepages-1Gi", 0},
    {"hugepages-2Mi", 0},
    {"memory", 2097152LL * 1024},  // 2Gi
    {"nvidia.com/gpu", 8},
    {"pods", 110},
    {"vpc.amazonaws.com/efa", 32},
};

// A training pod with a log-shipping sidecar, a plain init container that needs more cpu than
// the trainer, pod overhead, and pod-level memory.
constexpr std::string_view kSidecarPod = R"({"metadata":{"name":"w-0","namespace":"ns","uid":"u0"},
  "spec":{
    "initContainers":[
      {"name":"shipper","restartPolicy":"Always",
       "resources":{"requests":{"cpu":"500m","memory":"1Gi"}}},
      {"name":"fetch-weights","resources":{"requests":{"cpu":"200","memory":"64Gi"}}}],
    "containers":[
      {"name":"trainer","resources":{"limits":{"nvidia.com/gpu":"8"},
        "requests":{"cpu":"180","memory":"1800Gi","nvidia.com/gpu":"8","vpc.amazonaws.com/efa":"32"}}},
      {"name":"exporter","resources":{"requests":{"cpu":"100m"}}},
      {"name":"idle"}],
    "overhead":{"cpu":"250m","memory":"120Mi"},
    "resources":{"requests":{"memory":"1900Gi"}}}})";

// cpu:    containers 180000 + 100 + sidecar 500 = 180600; init 200000 + sidecar 500 = 200500;
//         max 200500, plus overhead 250 = 200750 millicores
// memory: pod-level 1900Gi replaces max(1800Gi + 1Gi, 64Gi + 1Gi), plus overhead 120Mi
const scoring::ResourceList kSidecarPodRequests = {
    {"cpu", 200750},
    {"memory", (1900LL << 30) + (120LL << 20)},
    {"nvidia.com/gpu", 8},
    {"vpc.amazonaws.com/efa", 32},
};

std::string Args(std::string_view pod, std::string_view node) {
  return R"({"Pod":)" + std::string(pod) + R"(,"Nodes":{"items":[)" + std::string(node) + "]}}";
}

TEST(DecodeResourcesTest, NodeAllocatableKeepsEveryResource) {
  Padded body(kP5Node);
  Decoder decoder;
  scoring::Node node;
  Status st = decoder.DecodeNode(body.view(), node);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(node.allocatable, kP5Allocatable);
  EXPECT_EQ(node.allocatable_pods, 110);
}

TEST(DecodeResourcesTest, PodRequestsCountSidecarsInitContainersPodLevelAndOverhead) {
  Padded body(kSidecarPod);
  Decoder decoder;
  scoring::Pod pod;
  Status st = decoder.DecodePod(body.view(), pod);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(pod.requests, kSidecarPodRequests);
}

TEST(DecodeResourcesTest, WatchPathAndRequestPathAgree) {
  json golden_nodes = json::parse(ReadTestdata("nodes.json"));
  std::vector<std::string> nodes = {std::string(kP5Node)};
  for (const json& n : golden_nodes) nodes.push_back(n.dump());
  std::vector<std::string> pods = {std::string(kSidecarPod), ReadTestdata("pod.json")};
  Decoder watch;
  Decoder request;
  for (const std::string& pod_json : pods) {
    for (const std::string& node_json : nodes) {
      Padded pod_body(pod_json), node_body(node_json), args_body(Args(pod_json, node_json));
      scoring::Pod pod;
      ASSERT_TRUE(watch.DecodePod(pod_body.view(), pod).ok());
      ExtenderArgs args;
      ASSERT_TRUE(request.DecodeArgs(args_body.view(), args).ok());
      EXPECT_EQ(args.pod.requests, pod.requests);
      scoring::Node node;
      ASSERT_TRUE(watch.DecodeNode(node_body.view(), node).ok());
      ASSERT_EQ(args.nodes.size(), 1u);
      EXPECT_EQ(args.nodes[0].allocatable, node.allocatable) << node.name;
      EXPECT_EQ(args.nodes[0].allocatable_pods, node.allocatable_pods) << node.name;
      EXPECT_FALSE(node.allocatable.empty());
    }
  }
}

TEST(DecodeResourcesTest, ListsAreSortedAndTheLastRepeatedNameWins) {
  // Go decodes into a map: a later key overwrites, and a repeated "requests" merges into it.
  Padded body(R"({"spec":{"containers":[{"resources":{
      "requests":{"memory":"1Gi","cpu":"1","memory":"2Gi","a.io/x":"1"},
      "requests":{"cpu":"3","b.io/y":"2"}}}]}})");
  Decoder decoder;
  scoring::Pod pod;
  ASSERT_TRUE(decoder.DecodePod(body.view(), pod).ok());
  EXPECT_EQ(pod.requests, (scoring::ResourceList{
                              {"a.io/x", 1}, {"b.io/y", 2}, {"cpu", 3000}, {"memory", 2LL << 30}}));

  Padded node_body(R"({"metadata":{"name":"n"},"status":{"allocatable":{"pods":"10",
      "memory":"1Ki","pods":"20","cpu":"2"}}})");
  scoring::Node node;
  ASSERT_TRUE(decoder.DecodeNode(node_body.view(), node).ok());
  EXPECT_EQ(node.allocatable,
            (scoring::ResourceList{{"cpu", 2000}, {"memory", 1024}, {"pods", 20}}));
  EXPECT_EQ(node.allocatable_pods, 20);
}

TEST(DecodeResourcesTest, QuantitiesAreReadAsGoUnmarshalsThem) {
  // Quantity.UnmarshalJSON trims spaces, takes a bare number's text, reads null as 0, and
  // does not unescape (a backslash is no quantity).
  Padded body(R"({"metadata":{"name":"n"},"status":{"allocatable":{
      "cpu":" 2 ","memory":1.5e3,"pods":null,"nvidia.com/gpu":8}}})");
  Decoder decoder;
  scoring::Node node;
  Status st = decoder.DecodeNode(body.view(), node);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(
      node.allocatable,
      (scoring::ResourceList{{"cpu", 2000}, {"memory", 1500}, {"nvidia.com/gpu", 8}, {"pods", 0}}));
  EXPECT_EQ(node.allocatable_pods, 0);
  Padded escaped(R"({"metadata":{"name":"n"},"status":{"allocatable":{"cpu":"\u0032"}}})");
  EXPECT_EQ(decoder.DecodeNode(escaped.view(), node).message(),
            R"(Nodes.items[].status.allocatable["cpu"]: not a quantity)");
}

TEST(DecodeResourcesTest, NoAllocatableMeansNoPodLimit) {
  Padded body(R"({"metadata":{"name":"n"},"status":{"allocatable":null}})");
  Decoder decoder;
  scoring::Node node;
  ASSERT_TRUE(decoder.DecodeNode(body.view(), node).ok());
  EXPECT_TRUE(node.allocatable.empty());
  EXPECT_EQ(node.allocatable_pods, -1);
}

// `count` distinct resources "r0".."r<count-1>", each "1", as the body of a JSON object.
std::string ManyResources(int count, int first = 0) {
  std::string out;
  for (int i = first; i < first + count; ++i) {
    out += (i > first ? ",\"example.com/r" : "\"example.com/r") + std::to_string(i) + "\":\"1\"";
  }
  return out;
}

TEST(DecodeResourcesTest, EveryBadQuantityOrShapeNamesItsField) {
  constexpr std::string_view kNode = R"({"metadata":{"name":"n"},"status":{"allocatable":)";
  const struct {
    std::string node;  // a node object, or empty
    std::string pod;   // a pod object, or empty
    std::string message;
  } cases[] = {
      {std::string(kNode) + R"({"nvidia.com/gpu":"eight"}}})", "",
       R"(Nodes.items[].status.allocatable["nvidia.com/gpu"]: not a quantity)"},
      {std::string(kNode) + R"({"cpu":"-1"}}})", "",
       R"(Nodes.items[].status.allocatable["cpu"]: negative)"},
      {std::string(kNode) + R"({"memory":"9223372036854775808"}}})", "",
       R"(Nodes.items[].status.allocatable["memory"]: out of range)"},
      {std::string(kNode) + R"({"cpu":"9223372036854775807"}}})", "",  // in millicores
       R"(Nodes.items[].status.allocatable["cpu"]: out of range)"},
      {std::string(kNode) + R"({"pods":true}}})", "",
       R"(Nodes.items[].status.allocatable["pods"]: expected a quantity string)"},
      {std::string(kNode) + R"({"pods":["1"]}}})", "",
       R"(Nodes.items[].status.allocatable["pods"]: expected a quantity string)"},
      {std::string(kNode) + R"(["1"]}})", "",
       "Nodes.items[].status.allocatable: expected an object"},
      {std::string(kNode) + "{" + ManyResources(1025) + "}}}", "",
       "Nodes.items[].status.allocatable: more than 1024 resources"},
      {"", R"({"spec":{"containers":[{"resources":{"requests":{"cpu":"1.2.3"}}}]}})",
       R"(Pod.spec.containers[].resources.requests["cpu"]: not a quantity)"},
      {"", R"({"spec":{"containers":{}}})", "Pod.spec.containers: expected an array"},
      {"", R"({"spec":{"containers":[1]}})", "Pod.spec.containers[]: expected an object"},
      {"", R"({"spec":{"containers":[{"resources":[]}]}})",
       "Pod.spec.containers[].resources: expected an object"},
      {"", R"({"spec":{"containers":[{"resources":{"requests":"1"}}]}})",
       "Pod.spec.containers[].resources.requests: expected an object"},
      {"", R"({"spec":{"initContainers":[{"resources":{"requests":{"memory":"-1Gi"}}}]}})",
       R"(Pod.spec.initContainers[].resources.requests["memory"]: negative)"},
      {"", R"({"spec":{"initContainers":[{"restartPolicy":1}]}})",
       "Pod.spec.initContainers[].restartPolicy: expected a string"},
      {"", R"({"spec":{"initContainers":[{"resources":{"requests":{"cpu":"1e"}}}]}})",
       R"(Pod.spec.initContainers[].resources.requests["cpu"]: not a quantity)"},
      {"", R"({"spec":{"overhead":{"cpu":"1 m"}}})", R"(Pod.spec.overhead["cpu"]: not a quantity)"},
      {"", R"({"spec":{"resources":{"requests":{"memory":"1K"}}}})",
       R"(Pod.spec.resources.requests["memory"]: not a quantity)"},
      {"", R"({"spec":{"resources":1}})", "Pod.spec.resources: expected an object"},
      {"", R"({"spec":{"containers":[{"resources":{"requests":{)" + ManyResources(1025) + "}}}]}}",
       "Pod.spec.containers[].resources.requests: more than 1024 resources"},
      // Each container within the bound, together beyond it.
      {"",
       R"({"spec":{"containers":[{"resources":{"requests":{)" + ManyResources(600) +
           R"(}}},{"resources":{"requests":{)" + ManyResources(600, 600) + "}}}]}}",
       "Pod.spec: requests more than 1024 resources"},
  };
  Decoder decoder;
  for (const auto& c : cases) {
    if (!c.node.empty()) {
      Padded node_body(c.node);
      scoring::Node node;
      EXPECT_EQ(decoder.DecodeNode(node_body.view(), node).message(), c.message);
      Padded args_body(Args(R"({"metadata":{"name":"p"}})", c.node));
      ExtenderArgs args;
      EXPECT_EQ(decoder.DecodeArgs(args_body.view(), args).message(), c.message);
    } else {
      Padded pod_body(c.pod);
      scoring::Pod pod;
      EXPECT_EQ(decoder.DecodePod(pod_body.view(), pod).message(), c.message);
      Padded args_body(R"({"NodeNames":[],"Pod":)" + c.pod + "}");
      ExtenderArgs args;
      EXPECT_EQ(decoder.DecodeArgs(args_body.view(), args).message(), c.message);
    }
  }
}

TEST(DecodeResourcesTest, HostilePodsCostTheirSize) {
  // 100000 containers of 1m cpu; and one resource list repeating a name 100000 times.
  std::string containers = R"({"spec":{"containers":[)";
  for (int i = 0; i < 100000; ++i) {
    containers += i > 0 ? "," : "";
    containers += R"({"resources":{"requests":{"cpu":"1m"}}})";
  }
  containers += "]}}";
  std::string repeated = R"({"spec":{"overhead":{)";
  for (int i = 0; i < 100000; ++i)
    repeated += (i > 0 ? ",\"cpu\":\"" : "\"cpu\":\"") + std::to_string(i) + "m\"";
  repeated += "}}}";
  Decoder decoder;
  scoring::Pod pod;
  Padded many(containers);
  ASSERT_TRUE(decoder.DecodePod(many.view(), pod).ok());
  EXPECT_EQ(pod.requests, (scoring::ResourceList{{"cpu", 100000}}));
  Padded last_wins(repeated);
  ASSERT_TRUE(decoder.DecodePod(last_wins.view(), pod).ok());
  EXPECT_EQ(pod.requests, (scoring::ResourceList{{"cpu", 99999}}));
}

TEST(DecodeResourcesTest, ReusedDecoderLeavesNothingOfThePreviousPod) {
  Decoder decoder;
  ExtenderArgs args;
  Padded first(Args(kSidecarPod, kP5Node));
  ASSERT_TRUE(decoder.DecodeArgs(first.view(), args).ok());
  EXPECT_EQ(args.pod.requests, kSidecarPodRequests);
  Padded second(Args(R"({"spec":{"containers":[{"resources":{"requests":{"cpu":"2"}}}]}})",
                     R"({"metadata":{"name":"n"}})"));
  ASSERT_TRUE(decoder.DecodeArgs(second.view(), args).ok());
  EXPECT_EQ(args.pod.requests, (scoring::ResourceList{{"cpu", 2000}}));
  ASSERT_EQ(args.nodes.size(), 1u);
  EXPECT_TRUE(args.nodes[0].allocatable.empty());
  EXPECT_EQ(args.nodes[0].allocatable_pods, -1);
}

}  // namespace
}  // namespace hyperplace::extender
