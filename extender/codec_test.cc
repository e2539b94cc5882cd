#include "extender/codec.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

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

TEST(QuantityTest, WholeCountsParse) {
  struct {
    const char* text;
    std::int64_t want;
  } cases[] = {{"110", 110},
               {"0", 0},
               {"1k", 1000},
               {"2Ki", 2048},
               {"5000m", 5},
               {"500m", -1},
               {"", -1},
               {"-1", -1},
               {"1.5", -1},
               {"12x", -1},
               {"99999999999999999999", -1},
               {"9223372036854775807Gi", -1}};
  for (auto& c : cases) EXPECT_EQ(ParseCountQuantity(c.text), c.want) << c.text;
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
