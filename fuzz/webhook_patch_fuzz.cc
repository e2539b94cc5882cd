// Property fuzzer for the webhook's patches. The fuzzer's bytes drive a generator of well-formed
// AdmissionReviews (written by nlohmann::json, so every escape and key spelling is exercised):
// Pods, Jobs and PyTorchJobs in a team namespace with metadata and labels absent, null or present,
// label keys full of '~', '/', quotes and non-ASCII, and nodeSelectors and required node
// affinities with instance types with and without the prefix.
//
// For each review the webhook's patch is applied with an independent RFC 6902 implementation
// (nlohmann::json::patch) and the result must equal the object transformed by a straightforward
// re-implementation of the rules' effects here: every original label kept, the queue and priority
// labels added when missing, instance-type values prefixed where the rules say and nowhere else,
// and a Pod naming no scheduler (or "default-scheduler") sent to hyperplace's.
// Reviewing the patched object again must give no patch.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/config.h"
#include "webhook/admission.h"
#include "webhook/catalog.h"
#include "webhook/review.h"

namespace {

using hyperplace::webhook::AdmissionResult;
using nlohmann::json;

constexpr const char* kQueueLabel = "kueue.x-k8s.io/queue-name";
constexpr const char* kPriorityLabel = "kueue.x-k8s.io/priority-class";
constexpr const char* kTypeLabel = "node.kubernetes.io/instance-type";
constexpr const char* kPrefix = "ml.";
constexpr const char* kQueue = "hyperpod-ns-team-a-localqueue";
constexpr const char* kDefaultClass = "fine-tuning-priority";  // the lowest configured class

struct World {
  World() {
    hyperplace::Config config;
    admitter = std::make_unique<hyperplace::webhook::Admitter>(
        config, std::make_shared<hyperplace::webhook::StaticCatalog>(config));
  }
  std::unique_ptr<hyperplace::webhook::Admitter> admitter;
};

void Check(bool ok, const char* property, const std::string& detail) {
  if (ok) return;
  std::fprintf(stderr, "property violated: %s\n%.6000s\n", property, detail.c_str());
  std::abort();
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
    if (v == std::string::npos) return "";
    buffer = (buffer << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return out;
}

// Short strings from an alphabet rich in characters that need escaping somewhere.
std::string Text(FuzzedDataProvider& in, std::size_t max_length) {
  static const std::vector<std::string> kPieces = {"a",
                                                   "b",
                                                   "z",
                                                   "0",
                                                   "9",
                                                   "-",
                                                   ".",
                                                   "_",
                                                   "~",
                                                   "/",
                                                   "~1",
                                                   "~0",
                                                   "\"",
                                                   "\\",
                                                   "\n",
                                                   "\t",
                                                   "\x01",
                                                   "\xc3\xa9",
                                                   "\xe2\x82\xac",
                                                   "\xf0\x9f\x98\x80",
                                                   "ml.",
                                                   "p5.48xlarge",
                                                   " ",
                                                   "{team}"};
  std::string out;
  const std::size_t pieces = in.ConsumeIntegralInRange<std::size_t>(0, max_length);
  for (std::size_t i = 0; i < pieces && in.remaining_bytes() > 0; ++i) {
    out += kPieces[in.ConsumeIntegralInRange<std::size_t>(0, kPieces.size() - 1)];
  }
  return out;
}

std::string InstanceType(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 4)) {
    case 0:
      return "p5.48xlarge";
    case 1:
      return "ml.g5.xlarge";
    case 2:
      return "";
    case 3:
      return "ml";
    default:
      return Text(in, 4);
  }
}

std::string LabelKey(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 5)) {
    case 0:
      return "app.kubernetes.io/name";
    case 1:
      return "a~b/c";
    case 2:
      return kQueueLabel;
    case 3:
      return kPriorityLabel;
    default:
      return Text(in, 6);
  }
}

json PodSpec(FuzzedDataProvider& in) {
  json spec = json::object();
  spec["containers"] = json::array({{{"name", "c"}, {"image", "i"}}});
  switch (in.ConsumeIntegralInRange<int>(0, 5)) {
    case 1:
      spec["schedulerName"] = "default-scheduler";  // the API server's default
      break;
    case 2:
      spec["schedulerName"] = "";
      break;
    case 3:
      spec["schedulerName"] = nullptr;
      break;
    case 4:
      spec["schedulerName"] = "hyperplace";
      break;
    case 5:
      spec["schedulerName"] = Text(in, 8);
      break;
    default:
      break;  // absent
  }
  if (in.ConsumeBool()) {
    json selector = json::object();
    const int entries = in.ConsumeIntegralInRange<int>(0, 3);
    for (int i = 0; i < entries; ++i) {
      selector[in.ConsumeBool() ? std::string(kTypeLabel) : Text(in, 4)] = InstanceType(in);
    }
    spec["nodeSelector"] = selector;
  }
  if (in.ConsumeBool()) {
    json terms = json::array();
    const int term_count = in.ConsumeIntegralInRange<int>(0, 3);
    for (int t = 0; t < term_count; ++t) {
      json expressions = json::array();
      const int expression_count = in.ConsumeIntegralInRange<int>(0, 3);
      for (int e = 0; e < expression_count; ++e) {
        static const char* kOperators[] = {"In", "NotIn", "Exists", "in"};
        json expression = {{"key", in.ConsumeBool() ? std::string(kTypeLabel) : Text(in, 3)},
                           {"operator", kOperators[in.ConsumeIntegralInRange<int>(0, 3)]}};
        if (in.ConsumeBool()) {
          json values = json::array();
          const int value_count = in.ConsumeIntegralInRange<int>(0, 3);
          for (int v = 0; v < value_count; ++v) values.push_back(InstanceType(in));
          expression["values"] = values;
        }
        expressions.push_back(expression);
      }
      json term = json::object();
      if (in.ConsumeBool()) term["matchFields"] = json::array();
      term["matchExpressions"] = expressions;
      terms.push_back(term);
    }
    spec["affinity"] = {
        {"nodeAffinity",
         {{"requiredDuringSchedulingIgnoredDuringExecution", {{"nodeSelectorTerms", terms}}}}}};
  }
  return spec;
}

// The rules' effect on an instance type value, re-implemented.
void PrefixValue(json& value) {
  if (!value.is_string()) return;
  const std::string s = value.get<std::string>();
  if (!s.empty() && s.rfind(kPrefix, 0) != 0) value = kPrefix + s;
}

void ExpectedSelectors(json& spec) {
  if (!spec.is_object()) return;
  if (spec.contains("nodeSelector") && spec["nodeSelector"].contains(kTypeLabel)) {
    PrefixValue(spec["nodeSelector"][kTypeLabel]);
  }
  if (!spec.contains("affinity")) return;
  for (json& term : spec["affinity"]["nodeAffinity"]
                        ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]) {
    for (json& expression : term["matchExpressions"]) {
      if (expression["key"] != kTypeLabel || expression["operator"] != "In") continue;
      if (!expression.contains("values")) continue;
      for (json& value : expression["values"]) PrefixValue(value);
    }
  }
}

struct Reply {
  AdmissionResult result;
  json body;
  std::string text;
};

Reply Admit(const World& world, const json& review) {
  std::string padded = review.dump();
  const std::size_t size = padded.size();
  padded.append(hyperplace::webhook::kInputPadding, '\0');
  Reply reply;
  reply.result = world.admitter->Admit(std::string_view(padded.data(), size), reply.text);
  reply.body = json::parse(reply.text, nullptr, false);
  return reply;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World world;
  FuzzedDataProvider in(data, size);

  static const char* kKinds[][3] = {
      {"", "v1", "Pod"}, {"batch", "v1", "Job"}, {"kubeflow.org", "v1", "PyTorchJob"}};
  const int kind = in.ConsumeIntegralInRange<int>(0, 2);

  // The object.
  json object = {{"apiVersion", kind == 0 ? "v1" : "batch/v1"}, {"kind", kKinds[kind][2]}};
  const int metadata_shape = in.ConsumeIntegralInRange<int>(0, 4);  // absent, null, object...
  bool wrong_label = false;
  if (metadata_shape == 1) {
    object["metadata"] = nullptr;
  } else if (metadata_shape >= 2) {
    json metadata = {{"name", "x"}, {"namespace", "hyperpod-ns-team-a"}};
    const int labels_shape = in.ConsumeIntegralInRange<int>(0, 3);  // absent, null, object...
    if (labels_shape == 1) metadata["labels"] = nullptr;
    if (labels_shape >= 2) {
      json labels = json::object();
      const int count = in.ConsumeIntegralInRange<int>(0, 6);
      for (int i = 0; i < count; ++i) {
        const std::string key = LabelKey(in);
        std::string value = Text(in, 3);
        if (key == kQueueLabel && in.ConsumeBool()) value = kQueue;
        if (key == kPriorityLabel && in.ConsumeBool()) value = "training-priority";
        labels[key] = value;
      }
      if (labels.contains(kQueueLabel) && labels[kQueueLabel] != kQueue) wrong_label = true;
      if (labels.contains(kPriorityLabel) && labels[kPriorityLabel] != "training-priority" &&
          labels[kPriorityLabel] != "inference-priority" &&
          labels[kPriorityLabel] != "fine-tuning-priority") {
        wrong_label = true;
      }
      metadata["labels"] = labels;
    }
    object["metadata"] = metadata;
  }
  if (kind == 0) {
    object["spec"] = PodSpec(in);
  } else if (kind == 1) {
    object["spec"] = {{"parallelism", 2}, {"template", {{"spec", PodSpec(in)}}}};
    if (in.ConsumeBool()) object["spec"]["nodeSelector"] = {{kTypeLabel, "g5.xlarge"}};
  } else {
    object["spec"] = {
        {"pytorchReplicaSpecs", {{"Worker", {{"template", {{"spec", PodSpec(in)}}}}}}}};
  }

  const json review = {
      {"kind", "AdmissionReview"},
      {"apiVersion", "admission.k8s.io/v1"},
      {"request",
       {{"uid", Text(in, 4) + "-uid"},
        {"kind",
         {{"group", kKinds[kind][0]}, {"version", kKinds[kind][1]}, {"kind", kKinds[kind][2]}}},
        {"resource", {{"group", kKinds[kind][0]}, {"version", "v1"}, {"resource", "x"}}},
        {"namespace", "hyperpod-ns-team-a"},
        {"operation", "CREATE"},
        {"userInfo",
         {{"username", "alice"}, {"groups", {"hyperpod-ns-team-a-namespace-level-group"}}}},
        {"object", object},
        {"oldObject", nullptr},
        {"dryRun", in.ConsumeBool()}}}};

  const Reply first = Admit(world, review);
  Check(first.result.http_status == 200, "a generated review decodes", first.text);
  Check(!first.body.is_discarded(), "the reply is JSON", first.text);
  if (wrong_label) {
    Check(first.result.verdict == AdmissionResult::Verdict::kDenied,
          "a foreign queue or unknown class is denied", review.dump() + "\n" + first.text);
    return 0;
  }
  Check(first.result.verdict == AdmissionResult::Verdict::kPatched ||
            first.result.verdict == AdmissionResult::Verdict::kAllowed,
        "a team member's review is allowed", first.text);

  // The object as the rules should leave it.
  json expected = object;
  if (!expected.contains("metadata") || expected["metadata"].is_null()) {
    expected["metadata"] = json::object();
  }
  if (!expected["metadata"].contains("labels") || expected["metadata"]["labels"].is_null()) {
    expected["metadata"]["labels"] = json::object();
  }
  json& labels = expected["metadata"]["labels"];
  if (!labels.contains(kQueueLabel)) labels[kQueueLabel] = kQueue;
  if (!labels.contains(kPriorityLabel)) labels[kPriorityLabel] = kDefaultClass;
  if (kind == 0) {
    ExpectedSelectors(expected["spec"]);
    // Rule 5: a Pod naming no scheduler, or the API server's default, goes to hyperplace's.
    json& spec = expected["spec"];
    const json named = spec.contains("schedulerName") ? spec["schedulerName"] : json();
    if (named.is_null() || named == "" || named == "default-scheduler") {
      spec["schedulerName"] = "hyperplace";
    }
  }
  if (kind == 1) ExpectedSelectors(expected["spec"]["template"]["spec"]);

  json patched = object;
  const json& response = first.body["response"];
  if (response.contains("patch")) {
    const std::string patch_text = Base64Decode(response["patch"].get<std::string>());
    const json patch = json::parse(patch_text, nullptr, false);
    Check(!patch.is_discarded(), "the patch is JSON", patch_text);
    try {
      patched = object.patch(patch);
    } catch (const json::exception& e) {
      Check(false, "the patch applies", patch_text + "\n" + e.what() + "\n" + object.dump());
    }
  }
  Check(patched == expected, "the patched object is the expected one",
        "got:      " + patched.dump() + "\nexpected: " + expected.dump());

  json again = review;
  again["request"]["object"] = patched;
  const Reply second = Admit(world, again);
  Check(second.result.verdict == AdmissionResult::Verdict::kAllowed &&
            !second.body["response"].contains("patch"),
        "a second pass needs no patch", second.text);
  return 0;
}
