#include "webhook/patch.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace hyperplace::webhook {
namespace {

using nlohmann::json;

LabelsView Labels(Presence metadata, Presence labels) {
  LabelsView view;
  view.metadata = metadata;
  view.labels = labels;
  return view;
}

Mutation TwoLabels() {
  Mutation m;
  m.labels.push_back({"kueue.x-k8s.io/queue-name", "hyperpod-ns-team-a-localqueue"});
  m.labels.push_back({"kueue.x-k8s.io/priority-class", "training-priority"});
  return m;
}

std::string Patch(const LabelsView& labels, const Mutation& m) {
  std::string out;
  AppendPatch(labels, m, out);
  return out;
}

// Applies `patch` to `object` with nlohmann's independent RFC 6902 implementation.
json Apply(const json& object, const std::string& patch) {
  return object.patch(json::parse(patch));
}

TEST(PatchTest, LabelsGoIntoAnExistingLabelsObjectOneAddEach) {
  const std::string patch = Patch(Labels(Presence::kPresent, Presence::kPresent), TwoLabels());
  EXPECT_EQ(patch, R"([{"op":"add","path":"/metadata/labels/kueue.x-k8s.io~1queue-name",)"
                   R"("value":"hyperpod-ns-team-a-localqueue"},)"
                   R"({"op":"add","path":"/metadata/labels/kueue.x-k8s.io~1priority-class",)"
                   R"("value":"training-priority"}])");
  const json object = json::parse(R"({"metadata":{"name":"p","labels":{"app":"x"}}})");
  EXPECT_EQ(Apply(object, patch), json::parse(R"({"metadata":{"name":"p","labels":{"app":"x",
              "kueue.x-k8s.io/queue-name":"hyperpod-ns-team-a-localqueue",
              "kueue.x-k8s.io/priority-class":"training-priority"}}})"));
}

TEST(PatchTest, AbsentOrNullLabelsAreAddedAsOneObject) {
  const std::string expected =
      R"([{"op":"add","path":"/metadata/labels","value":{"kueue.x-k8s.io/queue-name":)"
      R"("hyperpod-ns-team-a-localqueue","kueue.x-k8s.io/priority-class":"training-priority"}}])";
  for (Presence labels : {Presence::kAbsent, Presence::kNull}) {
    const std::string patch = Patch(Labels(Presence::kPresent, labels), TwoLabels());
    EXPECT_EQ(patch, expected);
    const json object =
        json::parse(labels == Presence::kNull ? R"({"metadata":{"name":"p","labels":null}})"
                                              : R"({"metadata":{"name":"p"}})");
    EXPECT_EQ(Apply(object, patch)["metadata"]["labels"].size(), 2u);
    EXPECT_EQ(Apply(object, patch)["metadata"]["name"], "p");
  }
}

TEST(PatchTest, AbsentOrNullMetadataIsAddedWithTheLabels) {
  for (Presence metadata : {Presence::kAbsent, Presence::kNull}) {
    const std::string patch = Patch(Labels(metadata, Presence::kAbsent), TwoLabels());
    EXPECT_EQ(patch.rfind(R"([{"op":"add","path":"/metadata","value":{"labels":{)", 0), 0u)
        << patch;
    const json object = json::parse(metadata == Presence::kNull ? R"({"metadata":null,"spec":{}})"
                                                                : R"({"spec":{}})");
    const json patched = Apply(object, patch);
    EXPECT_EQ(patched["metadata"]["labels"]["kueue.x-k8s.io/priority-class"], "training-priority");
    EXPECT_EQ(patched["spec"], json::object());
  }
}

TEST(PatchTest, KeysAreEscapedPerRfc6901AndJson) {
  Mutation m;
  m.labels.push_back({"a~b/c\"d\\e\x01", "v\"\n"});
  const std::string patch = Patch(Labels(Presence::kPresent, Presence::kPresent), m);
  EXPECT_EQ(patch,
            R"([{"op":"add","path":"/metadata/labels/a~0b~1c\"d\\e\u0001","value":"v\"\n"}])");
  const json object = json::parse(R"({"metadata":{"labels":{}}})");
  EXPECT_EQ(Apply(object, patch)["metadata"]["labels"]["a~b/c\"d\\e\x01"], "v\"\n");
}

TEST(PatchTest, PointerTokensEscapeTildeBeforeSlash) {
  struct Case {
    const char* token;
    const char* escaped;
  };
  // "~1" must become "~01" (tilde first), not "~~1"; and a literal "/" becomes "~1".
  const Case kCases[] = {
      {"", ""},      {"plain", "plain"}, {"~", "~0"},          {"/", "~1"},
      {"~1", "~01"}, {"/0", "~10"},      {"a/b~c", "a~1b~0c"}, {"//~~", "~1~1~0~0"}};
  for (const Case& c : kCases) {
    std::string out;
    AppendPointerToken(out, c.token);
    EXPECT_EQ(out, c.escaped) << c.token;
  }
}

TEST(PatchTest, NodeSelectorValuesAreReplacedAtTheirExactPath) {
  Mutation m;
  ValueRewrite& r = m.rewrites.emplace_back();
  r.location = SpecLocation::kSpec;
  r.field = ValueRewrite::Field::kNodeSelector;
  r.selector_key = "node.kubernetes.io/instance-type";
  r.to = "ml.p5.48xlarge";
  ValueRewrite& t = m.rewrites.emplace_back();
  t.location = SpecLocation::kTemplateSpec;
  t.field = ValueRewrite::Field::kNodeSelector;
  t.selector_key = "node.kubernetes.io/instance-type";
  t.to = "ml.g5.xlarge";
  const std::string patch = Patch(Labels(Presence::kPresent, Presence::kPresent), m);
  EXPECT_EQ(patch,
            R"([{"op":"replace","path":"/spec/nodeSelector/node.kubernetes.io~1instance-type",)"
            R"("value":"ml.p5.48xlarge"},{"op":"replace","path":)"
            R"("/spec/template/spec/nodeSelector/node.kubernetes.io~1instance-type",)"
            R"("value":"ml.g5.xlarge"}])");
  const json object = json::parse(R"({"spec":{
      "nodeSelector":{"node.kubernetes.io/instance-type":"p5.48xlarge","zone":"a"},
      "template":{"spec":{"nodeSelector":{"node.kubernetes.io/instance-type":"g5.xlarge"}}}}})");
  const json patched = Apply(object, patch);
  EXPECT_EQ(patched["spec"]["nodeSelector"]["node.kubernetes.io/instance-type"], "ml.p5.48xlarge");
  EXPECT_EQ(patched["spec"]["nodeSelector"]["zone"], "a");
  EXPECT_EQ(patched["spec"]["template"]["spec"]["nodeSelector"]["node.kubernetes.io/instance-type"],
            "ml.g5.xlarge");
}

TEST(PatchTest, AffinityValuesAreReplacedByIndex) {
  Mutation m;
  ValueRewrite& r = m.rewrites.emplace_back();
  r.field = ValueRewrite::Field::kAffinity;
  r.term = 1;
  r.expression = 0;
  r.value = 2;
  r.to = "ml.c";
  const std::string patch = Patch(Labels(Presence::kPresent, Presence::kPresent), m);
  EXPECT_EQ(patch, R"([{"op":"replace","path":"/spec/affinity/nodeAffinity/)"
                   R"(requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/1/)"
                   R"(matchExpressions/0/values/2","value":"ml.c"}])");
  const json object = json::parse(R"({"spec":{"affinity":{"nodeAffinity":{
      "requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[
        {"matchExpressions":[{"key":"k","operator":"In","values":["x"]}]},
        {"matchExpressions":[{"key":"k","operator":"In","values":["a","b","c"]}]}]}}}}})");
  const json patched = Apply(object, patch);
  EXPECT_EQ(
      patched["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
             ["nodeSelectorTerms"][1]["matchExpressions"][0]["values"],
      json::parse(R"(["a","b","ml.c"])"));
}

TEST(PatchTest, LabelsComeBeforeRewritesInOneDocument) {
  Mutation m = TwoLabels();
  ValueRewrite& r = m.rewrites.emplace_back();
  r.selector_key = "t";
  r.to = "ml.x";
  const json patch = json::parse(Patch(Labels(Presence::kPresent, Presence::kAbsent), m));
  ASSERT_EQ(patch.size(), 2u);
  EXPECT_EQ(patch[0]["path"], "/metadata/labels");
  EXPECT_EQ(patch[1]["op"], "replace");
}

TEST(PatchTest, SchedulerNameIsSetWithOneAddWhetherOrNotTheSpecHasOne) {
  Mutation m;
  m.scheduler_name = "hyperplace";
  const std::string patch = Patch(Labels(Presence::kPresent, Presence::kPresent), m);
  EXPECT_EQ(patch, R"([{"op":"add","path":"/spec/schedulerName","value":"hyperplace"}])");
  for (const char* pod : {R"({"metadata":{"labels":{}},"spec":{"containers":[]}})",
                          R"({"metadata":{},"spec":{"schedulerName":"default-scheduler"}})"}) {
    SCOPED_TRACE(pod);
    EXPECT_EQ(Apply(json::parse(pod), patch)["spec"]["schedulerName"], "hyperplace");
  }
}

TEST(PatchTest, SchedulerNameComesAfterLabelsAndRewrites) {
  Mutation m = TwoLabels();
  ValueRewrite& r = m.rewrites.emplace_back();
  r.selector_key = "node.kubernetes.io/instance-type";
  r.from = "p5.48xlarge";
  r.to = "ml.p5.48xlarge";
  m.scheduler_name = "hyperplace";
  const json pod =
      json::parse(R"({"metadata":{"name":"p"},"spec":{"schedulerName":"default-scheduler",)"
                  R"("nodeSelector":{"node.kubernetes.io/instance-type":"p5.48xlarge"}}})");
  const json patch = json::parse(Patch(Labels(Presence::kPresent, Presence::kAbsent), m));
  ASSERT_EQ(patch.size(), 3u);
  EXPECT_EQ(patch[2]["path"], "/spec/schedulerName");
  const json patched = Apply(pod, patch.dump());
  EXPECT_EQ(patched["spec"]["schedulerName"], "hyperplace");
  EXPECT_EQ(patched["spec"]["nodeSelector"]["node.kubernetes.io/instance-type"], "ml.p5.48xlarge");
  EXPECT_EQ(patched["metadata"]["labels"].size(), 2u);
}

TEST(PatchTest, EmptyMutationWritesNothing) {
  EXPECT_EQ(Patch(Labels(Presence::kPresent, Presence::kPresent), Mutation{}), "");
}

}  // namespace
}  // namespace hyperplace::webhook
