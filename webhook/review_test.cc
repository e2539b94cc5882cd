#include "webhook/review.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace hyperplace::webhook {
namespace {

using nlohmann::json;

std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(HYPERPLACE_TESTDATA_DIR) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_FALSE(ss.str().empty()) << name;
  return ss.str();
}

// A body followed by the padding the decoder requires, as the HTTP server provides it.
class Padded {
 public:
  explicit Padded(std::string_view text) : storage_(text) { storage_.append(kInputPadding, '\0'); }
  std::string_view view() const { return {storage_.data(), storage_.size() - kInputPadding}; }

 private:
  std::string storage_;
};

// A minimal valid review around `request_fields` (a JSON fragment without braces).
std::string Review(const std::string& request_fields) {
  return R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{)" +
         request_fields + "}}";
}

const std::string kEnvelope =
    R"("uid":"u1","kind":{"group":"","version":"v1","kind":"Pod"},)"
    R"("resource":{"group":"","version":"v1","resource":"pods"},"namespace":"hyperpod-ns-a",)"
    R"("operation":"CREATE","userInfo":{"username":"alice","groups":["g1","g2"]})";

std::string PodReview(const std::string& object) {
  return Review(kEnvelope + R"(,"object":)" + object);
}

// An UPDATE of a Pod: `fields` carries object and oldObject (or not).
std::string UpdateReview(const std::string& fields) {
  std::string envelope = kEnvelope;
  envelope.replace(envelope.find("CREATE"), 6, "UPDATE");
  return Review(envelope + fields);
}

Status DecodeText(Decoder& decoder, const std::string& text, AdmissionRequest& out,
                  std::unique_ptr<Padded>& keep) {
  keep = std::make_unique<Padded>(text);
  return decoder.Decode(keep->view(), out);
}

TEST(ReviewDecodeTest, GoldenPodReviewKeepsWhatTheRulesRead) {
  Padded body(ReadTestdata("pod_create_alice.json"));
  Decoder decoder;
  AdmissionRequest r;
  ASSERT_TRUE(decoder.Decode(body.view(), r).ok());
  EXPECT_EQ(r.uid, "8a1c8f3e-5d43-4b8e-9a0f-3c2d1e4f5a60");
  EXPECT_EQ(r.kind_group, "");
  EXPECT_EQ(r.kind_version, "v1");
  EXPECT_EQ(r.input.kind_name, "Pod");
  EXPECT_EQ(r.input.kind, Kind::kPod);
  EXPECT_EQ(r.resource, "pods");
  EXPECT_EQ(r.name, "llama-debug");
  EXPECT_EQ(r.input.namespace_name, "hyperpod-ns-team-a");
  EXPECT_EQ(r.operation, "CREATE");
  EXPECT_EQ(r.input.operation, Operation::kCreate);
  EXPECT_EQ(r.input.username, "alice");
  EXPECT_EQ(r.input.groups,
            (std::vector<std::string_view>{"hyperpod-ns-team-a-namespace-level-group",
                                           "system:authenticated"}));
  EXPECT_FALSE(r.dry_run);
  EXPECT_TRUE(r.input.sub_resource.empty());

  const ObjectView& o = r.input.object;
  EXPECT_EQ(o.presence, Presence::kPresent);
  EXPECT_EQ(o.labels.metadata, Presence::kPresent);
  EXPECT_EQ(o.labels.labels, Presence::kAbsent);
  EXPECT_TRUE(o.labels.entries.empty());
  EXPECT_TRUE(o.spec.present);
  EXPECT_TRUE(o.spec.node_selector_usable);
  ASSERT_EQ(o.spec.node_selector.size(), 1u);
  EXPECT_EQ(o.spec.node_selector[0].key, "node.kubernetes.io/instance-type");
  EXPECT_EQ(o.spec.node_selector[0].value, "p5.48xlarge");
  // The API server's default, as every pod that names no scheduler arrives.
  EXPECT_EQ(o.spec.scheduler_name_presence, Presence::kPresent);
  EXPECT_EQ(o.spec.scheduler_name, "default-scheduler");
  EXPECT_FALSE(o.template_spec.present);

  // The object's raw bytes: a view into the body equal to request.object.
  const json review = json::parse(body.view());
  EXPECT_EQ(json::parse(r.object_json), review["request"]["object"]);
  EXPECT_GE(r.object_json.data(), body.view().data());
  EXPECT_LE(r.object_json.data() + r.object_json.size(), body.view().data() + body.view().size());
  EXPECT_EQ(r.object_json.front(), '{');
  EXPECT_EQ(r.object_json.back(), '}');
}

TEST(ReviewDecodeTest, GoldenJobReviewReadsThePodTemplatesAffinity) {
  Padded body(ReadTestdata("job_create.json"));
  Decoder decoder;
  AdmissionRequest r;
  ASSERT_TRUE(decoder.Decode(body.view(), r).ok());
  EXPECT_EQ(r.input.kind, Kind::kJob);
  EXPECT_EQ(r.kind_group, "batch");
  const ObjectView& o = r.input.object;
  EXPECT_EQ(o.labels.labels, Presence::kPresent);
  ASSERT_NE(o.labels.Find("app.kubernetes.io/name"), nullptr);
  EXPECT_EQ(*o.labels.Find("app.kubernetes.io/name"), "llama");
  EXPECT_TRUE(o.spec.present);
  EXPECT_TRUE(o.spec.expressions.empty());
  const PodSpecView& t = o.template_spec;
  EXPECT_TRUE(t.present);
  EXPECT_TRUE(t.affinity_usable);
  ASSERT_EQ(t.expressions.size(), 2u);
  EXPECT_EQ(t.expressions[0].key, "topology.k8s.aws/network-node-layer-1");
  EXPECT_EQ(t.expressions[0].op, "Exists");
  EXPECT_EQ(t.expressions[0].values_count, 0u);
  EXPECT_EQ(t.expressions[1].term, 0u);
  EXPECT_EQ(t.expressions[1].expression, 1u);
  EXPECT_EQ(t.expressions[1].key, "node.kubernetes.io/instance-type");
  EXPECT_EQ(t.expressions[1].op, "In");
  ASSERT_EQ(t.expressions[1].values_count, 2u);
  EXPECT_EQ(t.values[t.expressions[1].values_begin], "p5.48xlarge");
  EXPECT_EQ(t.values[t.expressions[1].values_begin + 1], "ml.p5e.48xlarge");
}

TEST(ReviewDecodeTest, EveryGoldenDecodes) {
  Decoder decoder;  // one decoder for all: buffers are reused
  struct Case {
    const char* file;
    Kind kind;
    Operation operation;
    std::string_view username;
  };
  const Case kCases[] = {
      {"pod_create_alice.json", Kind::kPod, Operation::kCreate, "alice"},
      {"job_create.json", Kind::kJob, Operation::kCreate, "alice"},
      {"pytorchjob_create.json", Kind::kPyTorchJob, Operation::kCreate, "alice"},
      {"pod_create_bob_denied.json", Kind::kPod, Operation::kCreate, "bob"},
      {"pod_create_kube_system_sa.json", Kind::kPod, Operation::kCreate,
       "system:serviceaccount:kube-system:job-controller"},
      {"pod_update.json", Kind::kPod, Operation::kUpdate, "alice"},
      {"pod_create_default_namespace.json", Kind::kPod, Operation::kCreate, "kubernetes-admin"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.file);
    Padded body(ReadTestdata(c.file));
    AdmissionRequest r;
    Status st = decoder.Decode(body.view(), r);
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(r.input.kind, c.kind);
    EXPECT_EQ(r.input.operation, c.operation);
    EXPECT_EQ(r.input.username, c.username);
    EXPECT_EQ(json::parse(r.object_json), json::parse(body.view())["request"]["object"]);
  }
}

TEST(ReviewDecodeTest, ClassifiesKindsByGroupAndKind) {
  struct Case {
    const char* group;
    const char* kind;
    Kind expected;
  };
  const Case kCases[] = {
      {"", "Pod", Kind::kPod},
      {"batch", "Job", Kind::kJob},
      {"kubeflow.org", "PyTorchJob", Kind::kPyTorchJob},
      {"jobset.x-k8s.io", "JobSet", Kind::kJobSet},
      {"ray.io", "RayJob", Kind::kRayJob},
      {"ray.io", "RayCluster", Kind::kRayCluster},
      {"leaderworkerset.x-k8s.io", "LeaderWorkerSet", Kind::kLeaderWorkerSet},
      {"apps", "Deployment", Kind::kDeployment},
      {"apps", "StatefulSet", Kind::kStatefulSet},
      {"kubeflow.org", "MPIJob", Kind::kMPIJob},
      {"kubeflow.org", "TFJob", Kind::kTFJob},
      {"kubeflow.org", "XGBoostJob", Kind::kXGBoostJob},
      {"kubeflow.org", "PaddleJob", Kind::kPaddleJob},
      {"kubeflow.org", "JAXJob", Kind::kJAXJob},
      {"trainer.kubeflow.org", "TrainJob", Kind::kTrainJob},
      {"", "Event", Kind::kEvent},
      {"events.k8s.io", "Event", Kind::kEvent},
      {"example.com", "Event", Kind::kOther},
      {"apps", "ReplicaSet", Kind::kOther},
      {"batch", "CronJob", Kind::kOther},
      {"example.com", "Pod", Kind::kOther},
      {"", "Job", Kind::kOther},
      {"", "ConfigMap", Kind::kOther},
      {"", "pod", Kind::kOther},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(std::string(c.group) + "/" + c.kind);
    Decoder decoder;
    AdmissionRequest r;
    std::unique_ptr<Padded> keep;
    const std::string text =
        Review(R"("uid":"u","kind":{"group":")" + std::string(c.group) +
               R"(","version":"v1","kind":")" + c.kind +
               R"("},"resource":{"group":"","version":"v1","resource":"x"},"operation":"CREATE",)"
               R"("userInfo":{"username":"a"},"object":{})");
    ASSERT_TRUE(DecodeText(decoder, text, r, keep).ok());
    EXPECT_EQ(r.input.kind, c.expected);
  }
}

TEST(ReviewDecodeTest, LabelsAndSelectorsHandleNullAbsentEscapesAndRepeats) {
  struct Case {
    const char* name;
    std::string object;
    Presence metadata;
    Presence labels;
    std::vector<std::pair<std::string, std::string>> expected;  // Find() results
  };
  const Case kCases[] = {
      {"no metadata", "{}", Presence::kAbsent, Presence::kAbsent, {}},
      {"null metadata", R"({"metadata":null})", Presence::kNull, Presence::kAbsent, {}},
      {"null labels", R"({"metadata":{"labels":null}})", Presence::kPresent, Presence::kNull, {}},
      {"empty labels", R"({"metadata":{"labels":{}}})", Presence::kPresent, Presence::kPresent, {}},
      {"escaped key and value",
       R"({"metadata":{"labels":{"a\/b\u0041":"x\"y\\z\u00e9"}}})",
       Presence::kPresent,
       Presence::kPresent,
       {{"a/bA", "x\"y\\z\xc3\xa9"}}},
      {"repeated key: last wins",
       R"({"metadata":{"labels":{"k":"1","k":"2"}}})",
       Presence::kPresent,
       Presence::kPresent,
       {{"k", "2"}}},
      {"repeated labels: last object wins",
       R"({"metadata":{"labels":{"a":"1"},"name":"n","labels":{"b":"2"}}})",
       Presence::kPresent,
       Presence::kPresent,
       {{"b", "2"}, {"a", ""}}},
      {"repeated metadata: last wins",
       R"({"metadata":{"labels":{"a":"1"}},"metadata":{"name":"x"}})",
       Presence::kPresent,
       Presence::kAbsent,
       {{"a", ""}}},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Decoder decoder;
    AdmissionRequest r;
    std::unique_ptr<Padded> keep;
    Status st = DecodeText(decoder, PodReview(c.object), r, keep);
    ASSERT_TRUE(st.ok()) << st.message();
    const LabelsView& labels = r.input.object.labels;
    EXPECT_EQ(labels.metadata, c.metadata);
    EXPECT_EQ(labels.labels, c.labels);
    for (const auto& [key, value] : c.expected) {
      const std::string_view* found = labels.Find(key);
      if (value.empty()) {
        EXPECT_EQ(found, nullptr) << key;
      } else {
        ASSERT_NE(found, nullptr) << key;
        EXPECT_EQ(*found, value);
      }
    }
  }
}

TEST(ReviewDecodeTest, RepeatedAffinityKeysKeepOnlyTheLastOccurrence) {
  Decoder decoder;
  AdmissionRequest r;
  std::unique_ptr<Padded> keep;
  const std::string object = R"({"spec":{"affinity":{"nodeAffinity":{
      "requiredDuringSchedulingIgnoredDuringExecution":{
        "nodeSelectorTerms":[{"matchExpressions":[{"key":"gone","operator":"In","values":["x"]}]}],
        "nodeSelectorTerms":[
          {"matchExpressions":[{"key":"a","operator":"In","values":["1"]}],
           "matchExpressions":[{"key":"b","operator":"In","values":["2"],"values":["3","4"]}]},
          {"matchFields":[],"matchExpressions":[{"operator":"In","key":"c","values":null}]}]}}}}})";
  ASSERT_TRUE(DecodeText(decoder, PodReview(object), r, keep).ok());
  const PodSpecView& s = r.input.object.spec;
  EXPECT_TRUE(s.affinity_usable);
  ASSERT_EQ(s.expressions.size(), 2u);
  EXPECT_EQ(s.expressions[0].key, "b");
  EXPECT_EQ(s.expressions[0].term, 0u);
  EXPECT_EQ(s.expressions[0].expression, 0u);
  ASSERT_EQ(s.expressions[0].values_count, 2u);
  EXPECT_EQ(s.values[s.expressions[0].values_begin], "3");
  EXPECT_EQ(s.values[s.expressions[0].values_begin + 1], "4");
  EXPECT_EQ(s.expressions[1].key, "c");
  EXPECT_EQ(s.expressions[1].term, 1u);
  EXPECT_EQ(s.expressions[1].values_count, 0u);
}

TEST(ReviewDecodeTest, UnexpectedShapesInASpecAreUnusableNotErrors) {
  struct Case {
    const char* name;
    std::string object;
    bool spec_present;
    bool node_selector_usable;
    bool affinity_usable;
  };
  const Case kCases[] = {
      {"spec is a string", R"({"spec":"x"})", false, true, true},
      {"nodeSelector is an array", R"({"spec":{"nodeSelector":["a"]}})", true, false, true},
      {"nodeSelector value is a number", R"({"spec":{"nodeSelector":{"a":1}}})", true, false, true},
      {"affinity is a number", R"({"spec":{"affinity":5}})", true, true, false},
      {"terms are an object",
       R"({"spec":{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":)"
       R"({"nodeSelectorTerms":{}}}}}})",
       true, true, false},
      {"value is an object",
       R"({"spec":{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":)"
       R"({"nodeSelectorTerms":[{"matchExpressions":[{"key":"k","values":[{}]}]}]}}}}})",
       true, true, false},
      {"null parts are empty", R"({"spec":{"nodeSelector":null,"affinity":{"nodeAffinity":null}}})",
       true, true, true},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Decoder decoder;
    AdmissionRequest r;
    std::unique_ptr<Padded> keep;
    Status st = DecodeText(decoder, PodReview(c.object), r, keep);
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(r.input.object.spec.present, c.spec_present);
    EXPECT_EQ(r.input.object.spec.node_selector_usable, c.node_selector_usable);
    EXPECT_EQ(r.input.object.spec.affinity_usable, c.affinity_usable);
  }
}

TEST(ReviewDecodeTest, SchedulerNameIsAbsentNullAStringOrUnusable) {
  struct Case {
    const char* name;
    std::string object;
    Presence presence;
    bool usable;
    std::string_view value;
  };
  const Case kCases[] = {
      {"absent", R"({"spec":{}})", Presence::kAbsent, true, ""},
      {"null", R"({"spec":{"schedulerName":null}})", Presence::kNull, true, ""},
      {"string", R"({"spec":{"schedulerName":"volcano"}})", Presence::kPresent, true, "volcano"},
      {"escaped", R"({"spec":{"schedulerName":"hyper\u0070lace"}})", Presence::kPresent, true,
       "hyperplace"},
      {"repeated: the last counts",
       R"({"spec":{"schedulerName":"volcano","schedulerName":"default-scheduler"}})",
       Presence::kPresent, true, "default-scheduler"},
      {"a number", R"({"spec":{"schedulerName":7}})", Presence::kPresent, false, ""},
      {"an object", R"({"spec":{"schedulerName":{"a":"b"}}})", Presence::kPresent, false, ""},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Decoder decoder;
    AdmissionRequest r;
    std::unique_ptr<Padded> keep;
    Status st = DecodeText(decoder, PodReview(c.object), r, keep);
    ASSERT_TRUE(st.ok()) << st.message();
    const PodSpecView& spec = r.input.object.spec;
    EXPECT_EQ(spec.scheduler_name_presence, c.presence);
    EXPECT_EQ(spec.scheduler_name_usable, c.usable);
    EXPECT_EQ(spec.scheduler_name, c.value);
  }
}

TEST(ReviewDecodeTest, UpdateKeepsTheOldObjectsLabels) {
  Decoder decoder;
  AdmissionRequest r;
  Padded body(ReadTestdata("pod_update.json"));
  Status st = decoder.Decode(body.view(), r);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(r.input.old_object, Presence::kPresent);
  ASSERT_NE(r.input.old_labels.Find("kueue.x-k8s.io/queue-name"), nullptr);
  EXPECT_EQ(*r.input.old_labels.Find("kueue.x-k8s.io/queue-name"), "hyperpod-ns-team-a-localqueue");
  EXPECT_EQ(r.input.old_labels.Find("debug"), nullptr);
  ASSERT_NE(r.input.object.labels.Find("kueue.x-k8s.io/queue-name"), nullptr);
  EXPECT_EQ(*r.input.object.labels.Find("kueue.x-k8s.io/queue-name"), "somewhere-else");

  // Labels of the old object are read wherever metadata stands, and a later decode forgets them.
  std::unique_ptr<Padded> keep;
  const std::string text = UpdateReview(
      R"(,"oldObject":{"spec":{},"metadata":{"labels":{"q":"old"}}},"object":{"metadata":{}})");
  ASSERT_TRUE(DecodeText(decoder, text, r, keep).ok());
  ASSERT_NE(r.input.old_labels.Find("q"), nullptr);
  EXPECT_EQ(*r.input.old_labels.Find("q"), "old");
  EXPECT_EQ(r.input.object.labels.Find("q"), nullptr);
  ASSERT_TRUE(DecodeText(decoder, PodReview("{}"), r, keep).ok());
  EXPECT_EQ(r.input.old_object, Presence::kAbsent);
  EXPECT_TRUE(r.input.old_labels.entries.empty());
}

TEST(ReviewDecodeTest, OptionalFieldsMayBeNullOrAbsent) {
  Decoder decoder;
  AdmissionRequest r;
  std::unique_ptr<Padded> keep;
  const std::string text =
      Review(R"("uid":"u","kind":{"group":"","version":"v1","kind":"Pod"},)"
             R"("resource":{"group":"","version":"v1","resource":"pods"},"subResource":null,)"
             R"("name":null,"namespace":null,"operation":"DELETE",)"
             R"("userInfo":{"username":null,"groups":null,"extra":{"a":["b"]}},"object":null,)"
             R"("oldObject":{"metadata":{}},"dryRun":null,"options":{"kind":"DeleteOptions"})");
  Status st = DecodeText(decoder, text, r, keep);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(r.input.operation, Operation::kDelete);
  EXPECT_EQ(r.input.object.presence, Presence::kNull);
  EXPECT_TRUE(r.object_json.empty());
  EXPECT_TRUE(r.input.groups.empty());
  EXPECT_FALSE(r.dry_run);

  const std::string dry =
      Review(kEnvelope + R"(,"object":{},"dryRun":true,"subResource":"status")");
  ASSERT_TRUE(DecodeText(decoder, dry, r, keep).ok());
  EXPECT_TRUE(r.dry_run);
  EXPECT_EQ(r.input.sub_resource, "status");
}

TEST(ReviewDecodeTest, MalformedReviewsAreErrorsNamingThePlace) {
  struct Case {
    const char* name;
    std::string body;
    std::string error;  // expected message prefix
  };
  const Case kCases[] = {
      {"empty body", "", "review: "},
      {"not JSON", "hello", "review: "},
      {"truncated", R"({"apiVersion":"admission.k8s.io/v1","kind":"Admission)", "review: "},
      {"array", "[1]", "review: expected a JSON object"},
      {"trailing content", PodReview("{}") + " {}", "review: "},
      {"missing apiVersion", R"({"kind":"AdmissionReview","request":{}})", "apiVersion: missing"},
      {"wrong apiVersion",
       R"({"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{}})",
       R"(apiVersion: expected "admission.k8s.io/v1", got "admission.k8s.io/v1beta1")"},
      {"apiVersion not a string", R"({"apiVersion":1})", "apiVersion: expected a string"},
      {"wrong kind", R"({"apiVersion":"admission.k8s.io/v1","kind":"Review","request":{}})",
       R"(kind: expected "AdmissionReview", got "Review")"},
      {"missing request", R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})",
       "request: missing"},
      {"null request",
       R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null})",
       "request: missing"},
      {"request not an object",
       R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":[]})",
       "request: expected an object"},
      {"missing uid", Review(R"("kind":{"kind":"Pod"})"), "request.uid: missing"},
      {"empty uid", Review(R"("uid":"")"), "request.uid: missing"},
      {"uid not a string", Review(R"("uid":42)"), "request.uid: expected a string"},
      {"missing kind", Review(R"("uid":"u")"), "request.kind: missing"},
      {"kind not an object", Review(R"("uid":"u","kind":"Pod")"),
       "request.kind: expected an object"},
      {"missing resource", Review(R"("uid":"u","kind":{"kind":"Pod"})"),
       "request.resource: missing"},
      {"missing operation",
       Review(R"("uid":"u","kind":{"kind":"Pod"},"resource":{"resource":"pods"})"),
       "request.operation: missing"},
      {"missing userInfo",
       Review(R"("uid":"u","kind":{"kind":"Pod"},"resource":{"resource":"pods"},)"
              R"("operation":"DELETE")"),
       "request.userInfo: missing"},
      {"groups not an array", Review(kEnvelope + R"(,"userInfo":{"groups":"g"})"),
       "request.userInfo.groups: expected an array of strings"},
      {"group not a string", Review(kEnvelope + R"(,"userInfo":{"groups":["g",1]})"),
       "request.userInfo.groups: expected a string"},
      {"CREATE without object", Review(kEnvelope), "request.object: missing (required for CREATE)"},
      {"CREATE with null object", PodReview("null"),
       "request.object: missing (required for CREATE)"},
      {"object not an object", PodReview("[1]"), "request.object: expected an object"},
      {"metadata not an object", PodReview(R"({"metadata":"m"})"),
       "request.object.metadata: expected an object"},
      {"labels not an object", PodReview(R"({"metadata":{"labels":["a"]}})"),
       "request.object.metadata.labels: expected an object"},
      {"label value not a string", PodReview(R"({"metadata":{"labels":{"a":1}}})"),
       "request.object.metadata.labels: expected a string"},
      {"UPDATE without object", UpdateReview(R"(,"oldObject":{})"),
       "request.object: missing (required for UPDATE)"},
      {"UPDATE without oldObject", UpdateReview(R"(,"object":{})"),
       "request.oldObject: missing (required for UPDATE)"},
      {"UPDATE with null oldObject", UpdateReview(R"(,"object":{},"oldObject":null)"),
       "request.oldObject: missing (required for UPDATE)"},
      {"oldObject not an object", UpdateReview(R"(,"object":{},"oldObject":"o")"),
       "request.oldObject: expected an object"},
      {"old labels not an object",
       UpdateReview(R"(,"object":{},"oldObject":{"metadata":{"labels":7}})"),
       "request.oldObject.metadata.labels: expected an object"},
      {"old label value not a string",
       UpdateReview(R"(,"object":{},"oldObject":{"metadata":{"labels":{"a":null}}})"),
       "request.oldObject.metadata.labels: expected a string"},
      {"bad JSON in a skipped part of oldObject",
       UpdateReview(R"(,"object":{},"oldObject":{"spec":{"n":01}})"), "request.oldObject: "},
      {"dryRun not a boolean", Review(kEnvelope + R"(,"object":{},"dryRun":"yes")"),
       "request.dryRun: expected a boolean"},
      {"bad escape in a skipped string", PodReview(R"({"status":{"m":"\q"}})"), "request.object: "},
      {"bad number in a skipped value", PodReview(R"({"status":{"n":01}})"), "request.object: "},
      {"bad literal in a skipped value", PodReview(R"({"status":{"n":nul}})"), "request.object: "},
      {"bad escape in a skipped key", PodReview(R"({"status":{"\x":1}})"), "request.object: "},
      {"invalid UTF-8", PodReview("{\"status\":\"\xff\"}"), "review: "},
      {"bad escape in a read string", Review(R"("uid":"\u12")"), "request.uid: "},
      {"deep nesting",
       PodReview(R"({"status":)" + std::string(200, '[') + std::string(200, ']') + "}"),
       "request.object: nested too deeply"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Decoder decoder;
    AdmissionRequest r;
    std::unique_ptr<Padded> keep;
    Status st = DecodeText(decoder, c.body, r, keep);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(st.message().rfind(c.error, 0), 0u) << st.message();
  }
}

TEST(ReviewDecodeTest, RepeatedRequestMembersReplaceTheEarlierOnesWhole) {
  Decoder decoder;
  AdmissionRequest r;
  std::unique_ptr<Padded> keep;
  // The last "kind" counts, group included.
  const std::string two_kinds = Review(kEnvelope + R"(,"kind":{"kind":"Job","group":"batch"},)"
                                                   R"("object":{})");
  ASSERT_TRUE(DecodeText(decoder, two_kinds, r, keep).ok());
  EXPECT_EQ(r.input.kind, Kind::kJob);
  const std::string one_group = Review(kEnvelope + R"(,"kind":{"kind":"Job"},"object":{})");
  ASSERT_TRUE(DecodeText(decoder, one_group, r, keep).ok());
  EXPECT_EQ(r.kind_group, "");
  EXPECT_EQ(r.input.kind, Kind::kOther);  // core group has no Job
  // A later "resource" without its "resource" member leaves none (found by webhook_fuzz).
  const std::string two_resources =
      Review(kEnvelope + R"(,"resource":{"group":"","version":"v1"},"object":{})");
  Status st = DecodeText(decoder, two_resources, r, keep);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "request.resource: missing");
  // The last userInfo counts whole.
  const std::string two_users = Review(kEnvelope + R"(,"userInfo":{"username":"bob"},"object":{})");
  ASSERT_TRUE(DecodeText(decoder, two_users, r, keep).ok());
  EXPECT_EQ(r.input.username, "bob");
  EXPECT_TRUE(r.input.groups.empty());
}

TEST(ReviewDecodeTest, DecoderIsReusableAfterAnError) {
  Decoder decoder;
  AdmissionRequest r;
  std::unique_ptr<Padded> keep;
  EXPECT_FALSE(DecodeText(decoder, "{", r, keep).ok());
  Padded body(ReadTestdata("pod_create_alice.json"));
  ASSERT_TRUE(decoder.Decode(body.view(), r).ok());
  EXPECT_EQ(r.input.username, "alice");
}

// --- Encoding ---------------------------------------------------------------------------------

TEST(ReviewEncodeTest, AllowedWithoutPatchHasNoPatchFields) {
  ReviewResponse response;
  response.uid = "u-1";
  std::string out;
  EncodeReviewResponse(response, out);
  EXPECT_EQ(out, R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",)"
                 R"("response":{"uid":"u-1","allowed":true}})");
}

TEST(ReviewEncodeTest, DenialCarriesA403Status) {
  ReviewResponse response;
  response.uid = "u\"2";
  response.allowed = false;
  response.message = "user \"bob\" may not";
  std::string out;
  EncodeReviewResponse(response, out);
  EXPECT_EQ(out, R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":)"
                 R"({"uid":"u\"2","allowed":false,"status":{"code":403,"status":"Failure",)"
                 R"("message":"user \"bob\" may not","reason":"Forbidden"}}})");
}

TEST(ReviewEncodeTest, PatchIsBase64WithTypeAndWarnings) {
  const std::vector<std::string> warnings = {"w1", "w\"2"};
  ReviewResponse response;
  response.uid = "u";
  response.patch = R"([{"op":"add","path":"/a","value":"b"}])";
  response.warnings = &warnings;
  std::string out;
  EncodeReviewResponse(response, out);
  const json parsed = json::parse(out);
  EXPECT_EQ(parsed["response"]["allowed"], true);
  EXPECT_EQ(parsed["response"]["patchType"], "JSONPatch");
  // base64 of the patch above, as `printf %s PATCH | base64 -w0` prints it.
  EXPECT_EQ(parsed["response"]["patch"], "W3sib3AiOiJhZGQiLCJwYXRoIjoiL2EiLCJ2YWx1ZSI6ImIifV0=");
  EXPECT_EQ(parsed["response"]["warnings"], json::parse(R"(["w1","w\"2"])"));
}

TEST(ReviewEncodeTest, ErrorBodyIsJson) {
  std::string out;
  EncodeError("request.uid: \"missing\"\n", out);
  EXPECT_EQ(json::parse(out)["error"], "request.uid: \"missing\"\n");
}

}  // namespace
}  // namespace hyperplace::webhook
