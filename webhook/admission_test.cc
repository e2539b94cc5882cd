#include "webhook/admission.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "webhook/review.h"

namespace hyperplace::webhook {
namespace {

using nlohmann::json;
using Verdict = AdmissionResult::Verdict;

std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(HYPERPLACE_TESTDATA_DIR) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_FALSE(ss.str().empty()) << name;
  return ss.str();
}

std::string Base64Decode(const std::string& text) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    const std::size_t v = kAlphabet.find(c);
    if (v == std::string::npos) return "<invalid base64>";
    buffer = (buffer << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return out;
}

// Runs one review (as bytes) through an Admitter with the default configuration.
struct Reply {
  AdmissionResult result;
  std::string body;
  json reply;
};

Reply Admit(const Admitter& admitter, const std::string& review) {
  std::string padded = review;
  padded.append(kInputPadding, '\0');
  Reply run;
  run.result = admitter.Admit(std::string_view(padded.data(), review.size()), run.body);
  run.reply = json::parse(run.body, nullptr, /*allow_exceptions=*/false);
  return run;
}

std::shared_ptr<const KueueCatalog> DefaultCatalog() {
  return std::make_shared<StaticCatalog>(Config{});
}

// The request.object after applying the reply's patch (nlohmann's RFC 6902 implementation).
json PatchedObject(const json& review, const json& reply) {
  json object = review["request"]["object"];
  if (!reply["response"].contains("patch")) return object;
  const json patch = json::parse(Base64Decode(reply["response"]["patch"].get<std::string>()));
  return object.patch(patch);
}

struct GoldenCase {
  const char* file;
  Verdict verdict;
  // Expected labels of the object after the patch (only these keys are checked).
  std::map<std::string, std::string> labels;
  // JSON Pointer -> value expected after the patch.
  std::map<std::string, std::string> values;
  std::size_t warnings;
  const char* message;  // a denial's status.message
};

const GoldenCase kGoldens[] = {
    {"pod_create_alice.json",
     Verdict::kPatched,
     {{"kueue.x-k8s.io/queue-name", "hyperpod-ns-team-a-localqueue"},
      {"kueue.x-k8s.io/priority-class", "fine-tuning-priority"}},
     {{"/spec/nodeSelector/node.kubernetes.io~1instance-type", "ml.p5.48xlarge"},
      // It arrived with the API server's "default-scheduler" (DESIGN §3 rule 5).
      {"/spec/schedulerName", "hyperplace"}},
     1,
     ""},
    {"job_create.json",
     Verdict::kPatched,
     {{"app.kubernetes.io/name", "llama"},
      {"kueue.x-k8s.io/queue-name", "hyperpod-ns-team-a-localqueue"},
      {"kueue.x-k8s.io/priority-class", "fine-tuning-priority"}},
     {{"/spec/template/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/"
       "nodeSelectorTerms/0/matchExpressions/1/values/0",
       "ml.p5.48xlarge"},
      {"/spec/template/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/"
       "nodeSelectorTerms/0/matchExpressions/1/values/1",
       "ml.p5e.48xlarge"},
      // The template is left alone: the webhook sets the pods the Job controller creates.
      {"/spec/template/spec/schedulerName", "default-scheduler"}},
     1,
     ""},
    {"pytorchjob_create.json",
     Verdict::kPatched,
     {{"kueue.x-k8s.io/queue-name", "hyperpod-ns-team-a-localqueue"},
      {"kueue.x-k8s.io/priority-class", "fine-tuning-priority"}},
     // Labels only: a PyTorchJob's selectors are left as they are.
     {{"/spec/pytorchReplicaSpecs/Worker/template/spec/nodeSelector/"
       "node.kubernetes.io~1instance-type",
       "g5.48xlarge"}},
     0,
     ""},
    {"pod_create_bob_denied.json",
     Verdict::kDenied,
     {},
     {},
     0,
     R"(user "bob" of team "team-b" may not create Pod objects in namespace )"
     R"("hyperpod-ns-team-a": team "team-a" requires membership in group )"
     R"("hyperpod-ns-team-a-namespace-level-group")"},
    {"pod_create_kube_system_sa.json",
     Verdict::kPatched,
     {{"batch.kubernetes.io/job-name", "llama-pretrain"},
      {"kueue.x-k8s.io/queue-name", "hyperpod-ns-team-a-localqueue"},
      {"kueue.x-k8s.io/priority-class", "fine-tuning-priority"}},
     // The Job controller's pod goes to hyperplace's scheduler too.
     {{"/spec/schedulerName", "hyperplace"}},
     0,
     ""},
    // alice relabels her pod onto a queue that is not her team's (DESIGN §3 rule 6).
    {"pod_update.json",
     Verdict::kDenied,
     {},
     {},
     0,
     R"(queue "somewhere-else" is not allowed in namespace "hyperpod-ns-team-a": team )"
     R"("team-a" must use LocalQueue "hyperpod-ns-team-a-localqueue" )"
     R"((label kueue.x-k8s.io/queue-name))"},
    {"pod_create_default_namespace.json",
     Verdict::kAllowed,
     {{"run", "nginx"}},
     {{"/spec/nodeSelector/node.kubernetes.io~1instance-type", "m5.large"},
      {"/spec/schedulerName", "default-scheduler"}},
     0,
     ""},
};

TEST(AdmissionTest, GoldenReviewsGetTheExpectedResponses) {
  Admitter admitter(Config{}, DefaultCatalog());
  for (const GoldenCase& c : kGoldens) {
    SCOPED_TRACE(c.file);
    const std::string text = ReadTestdata(c.file);
    const json review = json::parse(text);
    const Reply run = Admit(admitter, text);
    ASSERT_EQ(run.result.http_status, 200) << run.body;
    EXPECT_EQ(run.result.verdict, c.verdict) << run.body;
    ASSERT_FALSE(run.reply.is_discarded()) << run.body;

    const json& response = run.reply["response"];
    EXPECT_EQ(run.reply["apiVersion"], "admission.k8s.io/v1");
    EXPECT_EQ(run.reply["kind"], "AdmissionReview");
    EXPECT_EQ(response["uid"], review["request"]["uid"]);
    EXPECT_EQ(response["allowed"], c.verdict != Verdict::kDenied);
    EXPECT_EQ(response.contains("patch"), c.verdict == Verdict::kPatched);
    EXPECT_EQ(response.contains("patchType"), c.verdict == Verdict::kPatched);
    if (c.verdict == Verdict::kPatched) {
      EXPECT_EQ(response["patchType"], "JSONPatch");
    }
    if (c.verdict == Verdict::kDenied) {
      EXPECT_EQ(response["status"]["code"], 403);
      EXPECT_EQ(response["status"]["reason"], "Forbidden");
      EXPECT_EQ(response["status"]["message"], c.message);
    } else {
      EXPECT_FALSE(response.contains("status"));
    }
    const std::size_t warnings = response.contains("warnings") ? response["warnings"].size() : 0;
    EXPECT_EQ(warnings, c.warnings);
    if (warnings > 0) {
      for (const json& w : response["warnings"]) EXPECT_LE(w.get<std::string>().size(), 120u);
    }

    // Every patch is checked by applying it.
    const json patched = PatchedObject(review, run.reply);
    for (const auto& [key, value] : c.labels) {
      EXPECT_EQ(patched["metadata"]["labels"].value(key, "<absent>"), value) << key;
    }
    for (const auto& [pointer, value] : c.values) {
      EXPECT_EQ(patched.at(json::json_pointer(pointer)), value) << pointer;
    }
    // Nothing but labels and rewritten values changed.
    json expected = review["request"]["object"];
    if (patched.contains("metadata") && patched["metadata"].contains("labels")) {
      expected["metadata"]["labels"] = patched["metadata"]["labels"];
    }
    for (const auto& [pointer, value] : c.values) expected[json::json_pointer(pointer)] = value;
    EXPECT_EQ(patched, expected);

    // Idempotence: the patched object, reviewed again, needs no patch.
    json again = review;
    again["request"]["object"] = patched;
    const Reply second = Admit(admitter, again.dump());
    EXPECT_EQ(second.result.verdict,
              c.verdict == Verdict::kDenied ? Verdict::kDenied : Verdict::kAllowed)
        << second.body;
    EXPECT_FALSE(second.reply["response"].contains("patch")) << second.body;
  }
}

TEST(AdmissionTest, ThePodPatchIsMinimal) {
  Admitter admitter(Config{}, DefaultCatalog());
  const std::string text = ReadTestdata("pod_create_alice.json");
  const Reply run = Admit(admitter, text);
  const json patch = json::parse(Base64Decode(run.reply["response"]["patch"].get<std::string>()));
  // metadata.labels is absent: one add of the whole object, one replace, and one add over the
  // API server's "default-scheduler".
  EXPECT_EQ(patch, json::parse(R"([
    {"op":"add","path":"/metadata/labels","value":{
      "kueue.x-k8s.io/queue-name":"hyperpod-ns-team-a-localqueue",
      "kueue.x-k8s.io/priority-class":"fine-tuning-priority"}},
    {"op":"replace","path":"/spec/nodeSelector/node.kubernetes.io~1instance-type",
     "value":"ml.p5.48xlarge"},
    {"op":"add","path":"/spec/schedulerName","value":"hyperplace"}])"));
  EXPECT_EQ(run.reply["response"]["warnings"][0],
            "instance type \"p5.48xlarge\" rewritten to \"ml.p5.48xlarge\" in spec.nodeSelector");
}

TEST(AdmissionTest, MalformedReviewsAre400WithAJsonReason) {
  Admitter admitter(Config{}, DefaultCatalog());
  const std::string kValid = ReadTestdata("pod_create_alice.json");
  struct Case {
    const char* name;
    std::string body;
    const char* error;
  };
  json no_request = json::parse(kValid);
  no_request.erase("request");
  json no_uid = json::parse(kValid);
  no_uid["request"].erase("uid");
  json old_version = json::parse(kValid);
  old_version["apiVersion"] = "admission.k8s.io/v1beta1";
  json wrong_type = json::parse(kValid);
  wrong_type["request"]["userInfo"]["groups"] = 7;
  json no_old_object = json::parse(ReadTestdata("pod_update.json"));
  no_old_object["request"].erase("oldObject");
  const Case kCases[] = {
      {"malformed JSON", kValid.substr(0, kValid.size() / 2), "review: "},
      {"missing request", no_request.dump(), "request: missing"},
      {"missing uid", no_uid.dump(), "request.uid: missing"},
      {"wrong apiVersion", old_version.dump(), "apiVersion: expected \"admission.k8s.io/v1\""},
      {"wrong type", wrong_type.dump(), "request.userInfo.groups: expected an array of strings"},
      {"UPDATE without oldObject", no_old_object.dump(),
       "request.oldObject: missing (required for UPDATE)"},
      {"deep nesting",
       R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"x":)" +
           std::string(100000, '[') + std::string(100000, ']') + "}}",
       "request: nested too deeply"},
      {"not even JSON", "\x01\x02\x03", "review: "},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    const Reply run = Admit(admitter, c.body);
    EXPECT_EQ(run.result.http_status, 400);
    EXPECT_EQ(run.result.verdict, Verdict::kError);
    ASSERT_FALSE(run.reply.is_discarded()) << run.body;
    ASSERT_TRUE(run.reply.contains("error")) << run.body;
    EXPECT_EQ(run.reply["error"].get<std::string>().rfind(c.error, 0), 0u) << run.body;
  }
}

class UnsyncedCatalog : public KueueCatalog {
 public:
  std::shared_ptr<const KueueObjects> Current() const override { return nullptr; }
};

TEST(AdmissionTest, UnsyncedCatalogIs503) {
  Admitter admitter(Config{}, std::make_shared<UnsyncedCatalog>());
  const Reply run = Admit(admitter, ReadTestdata("pod_create_alice.json"));
  EXPECT_EQ(run.result.http_status, 503);
  EXPECT_EQ(run.result.verdict, Verdict::kError);
  EXPECT_EQ(run.reply["error"], "the Kueue catalog has not synced yet");
}

TEST(AdmissionTest, ClusterCatalogNamesOnlyWhatExists) {
  auto objects = std::make_shared<KueueObjects>();
  objects->from_cluster = true;
  objects->local_queues = {{"hyperpod-ns-team-a", "hyperpod-ns-team-a-localqueue"}};
  objects->priority_classes = {{"low", 1}, {"high", 100}};
  class Fixed : public KueueCatalog {
   public:
    explicit Fixed(std::shared_ptr<const KueueObjects> o) : o_(std::move(o)) {}
    std::shared_ptr<const KueueObjects> Current() const override { return o_; }

   private:
    std::shared_ptr<const KueueObjects> o_;
  };
  Admitter admitter(Config{}, std::make_shared<Fixed>(objects));
  const std::string text = ReadTestdata("pod_create_alice.json");
  const Reply run = Admit(admitter, text);
  ASSERT_EQ(run.result.verdict, Verdict::kPatched) << run.body;
  const json patched = PatchedObject(json::parse(text), run.reply);
  EXPECT_EQ(patched["metadata"]["labels"]["kueue.x-k8s.io/priority-class"], "low");

  // The PyTorchJob asks for nothing but gets a class; training-priority is not in this cluster.
  json review = json::parse(ReadTestdata("pytorchjob_create.json"));
  review["request"]["object"]["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] =
      "training-priority";
  const Reply denied = Admit(admitter, review.dump());
  EXPECT_EQ(denied.result.verdict, Verdict::kDenied);
  EXPECT_EQ(denied.reply["response"]["status"]["message"],
            "priority class \"training-priority\" does not exist; use one of high (100), low (1) "
            "(label kueue.x-k8s.io/priority-class)");
}

TEST(AdmissionTest, DryRunIsDecidedTheSameWay) {
  Admitter admitter(Config{}, DefaultCatalog());
  json review = json::parse(ReadTestdata("pod_create_alice.json"));
  review["request"]["dryRun"] = true;
  const Reply run = Admit(admitter, review.dump());
  EXPECT_TRUE(run.result.dry_run);
  EXPECT_EQ(run.result.verdict, Verdict::kPatched);
}

TEST(AdmissionTest, ResultCarriesKindOperationAndWhoAsked) {
  Admitter admitter(Config{}, DefaultCatalog());
  const Reply run = Admit(admitter, ReadTestdata("pod_create_bob_denied.json"));
  EXPECT_EQ(run.result.kind, Kind::kPod);
  EXPECT_EQ(run.result.kind_name, "Pod");
  EXPECT_EQ(run.result.operation, Operation::kCreate);
  EXPECT_EQ(run.result.rule, Rule::kTeamScope);
  EXPECT_EQ(run.result.username, "bob");
  EXPECT_EQ(run.result.namespace_name, "hyperpod-ns-team-a");
  EXPECT_EQ(VerdictName(run.result.verdict), "denied");
}

// A CREATE review of `object` (group/version/kind, resource) by `user`, in team-a's namespace,
// from the golden pod review's envelope.
json CreateReview(const std::string& group, const std::string& kind, const std::string& resource,
                  const json& object, const std::string& user, const std::string& group_name) {
  json review = json::parse(ReadTestdata("pod_create_alice.json"));
  json& request = review["request"];
  request["kind"] = {{"group", group}, {"version", "v1"}, {"kind", kind}};
  request["requestKind"] = request["kind"];
  request["resource"] = {{"group", group}, {"version", "v1"}, {"resource", resource}};
  request["requestResource"] = request["resource"];
  request["userInfo"] = {{"username", user}, {"groups", {group_name, "system:authenticated"}}};
  request["object"] = object;
  return review;
}

TEST(AdmissionTest, ReplicaSetOfAnotherTeamIsDeniedAndTheTeamsOwnPassesUnpatched) {
  Admitter admitter(Config{}, DefaultCatalog());
  const json replica_set = json::parse(R"({
    "apiVersion":"apps/v1","kind":"ReplicaSet",
    "metadata":{"name":"trainer","namespace":"hyperpod-ns-team-a","labels":{"app":"trainer"}},
    "spec":{"replicas":8,"selector":{"matchLabels":{"app":"trainer"}},
      "template":{"metadata":{"labels":{"app":"trainer"}},
        "spec":{"nodeSelector":{"node.kubernetes.io/instance-type":"p5.48xlarge"},
          "containers":[{"name":"t","image":"train:1"}]}}}})");

  const Reply bob = Admit(admitter, CreateReview("apps", "ReplicaSet", "replicasets", replica_set,
                                                 "bob", "hyperpod-ns-team-b-namespace-level-group")
                                        .dump());
  ASSERT_EQ(bob.result.http_status, 200) << bob.body;
  EXPECT_EQ(bob.result.verdict, Verdict::kDenied);
  EXPECT_EQ(bob.result.kind, Kind::kOther);
  EXPECT_EQ(bob.result.kind_name, "ReplicaSet");
  EXPECT_EQ(bob.reply["response"]["status"]["code"], 403);
  EXPECT_EQ(bob.reply["response"]["status"]["message"],
            R"(user "bob" of team "team-b" may not create ReplicaSet objects in namespace )"
            R"("hyperpod-ns-team-a": team "team-a" requires membership in group )"
            R"("hyperpod-ns-team-a-namespace-level-group")");

  const Reply alice =
      Admit(admitter, CreateReview("apps", "ReplicaSet", "replicasets", replica_set, "alice",
                                   "hyperpod-ns-team-a-namespace-level-group")
                          .dump());
  EXPECT_EQ(alice.result.verdict, Verdict::kAllowed) << alice.body;
  EXPECT_EQ(alice.reply["response"]["allowed"], true);
  EXPECT_FALSE(alice.reply["response"].contains("patch")) << alice.body;
  EXPECT_FALSE(alice.reply["response"].contains("warnings")) << alice.body;
}

TEST(AdmissionTest, CustomResourcesOfAnyShapeGetTheScopeCheckOnly) {
  Admitter admitter(Config{}, DefaultCatalog());
  // Specs no pod spec looks like, where the decoder reads pod-spec parts.
  const char* kObjects[] = {
      R"({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},"spec":"big"})",
      R"({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},
          "spec":{"template":7,"nodeSelector":["p5"],"affinity":{"nodeAffinity":"x"}}})",
      R"({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},
          "spec":{"template":{"spec":{"nodeSelector":{"node.kubernetes.io/instance-type":1}}}},
          "status":{"nested":[[[{"a":[null,true,1.5e300]}]]]}})",
      R"({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w","labels":null}})",
  };
  for (const char* text : kObjects) {
    SCOPED_TRACE(text);
    const json object = json::parse(text);
    auto by = [&](const std::string& user, const std::string& group) {
      return Admit(admitter,
                   CreateReview("example.com", "Widget", "widgets", object, user, group).dump());
    };
    const Reply alice = by("alice", "hyperpod-ns-team-a-namespace-level-group");
    ASSERT_EQ(alice.result.http_status, 200) << alice.body;
    EXPECT_EQ(alice.result.verdict, Verdict::kAllowed) << alice.body;
    EXPECT_FALSE(alice.reply["response"].contains("patch")) << alice.body;

    const Reply bob = by("bob", "hyperpod-ns-team-b-namespace-level-group");
    ASSERT_EQ(bob.result.http_status, 200) << bob.body;
    EXPECT_EQ(bob.result.verdict, Verdict::kDenied) << bob.body;
  }
}

TEST(AdmissionTest, UpdateRemovingTheQueueLabelIsPatchedBackIdempotently) {
  Admitter admitter(Config{}, DefaultCatalog());
  json review = json::parse(ReadTestdata("pod_update.json"));
  json& labels = review["request"]["object"]["metadata"]["labels"];
  labels.erase("kueue.x-k8s.io/queue-name");
  const Reply run = Admit(admitter, review.dump());
  ASSERT_EQ(run.result.verdict, Verdict::kPatched) << run.body;
  EXPECT_EQ(run.result.operation, Operation::kUpdate);
  const json patched = PatchedObject(review, run.reply);
  // Only the removed label comes back; the other labels stay as the update left them.
  json expected_labels = labels;
  expected_labels["kueue.x-k8s.io/queue-name"] = "hyperpod-ns-team-a-localqueue";
  EXPECT_EQ(patched["metadata"]["labels"], expected_labels);

  review["request"]["object"] = patched;
  const Reply again = Admit(admitter, review.dump());
  EXPECT_EQ(again.result.verdict, Verdict::kAllowed) << again.body;
  EXPECT_FALSE(again.reply["response"].contains("patch"));
}

TEST(AdmissionTest, UpdateKeepingTheLabelsIsAllowedUntouched) {
  Admitter admitter(Config{}, DefaultCatalog());
  json review = json::parse(ReadTestdata("pod_update.json"));
  json& request = review["request"];
  request["object"]["metadata"]["labels"] = request["oldObject"]["metadata"]["labels"];
  request["object"]["metadata"]["labels"]["debug"] = "true";
  request["userInfo"] = {{"username", "bob"},
                         {"groups", {"hyperpod-ns-team-b-namespace-level-group"}}};
  const Reply run = Admit(admitter, review.dump());
  EXPECT_EQ(run.result.verdict, Verdict::kAllowed) << run.body;
  EXPECT_EQ(run.result.rule, Rule::kNotApplicable);
  EXPECT_FALSE(run.reply["response"].contains("patch"));
}

}  // namespace
}  // namespace hyperplace::webhook
