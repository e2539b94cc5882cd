// libFuzzer target for the webhook's untrusted input: the AdmissionReview decoder and the rules,
// patch builder and encoder behind it (webhook::Admitter), fed raw bytes.
//
// Properties checked beyond "no crash, no sanitizer report":
//   - every reply is valid JSON: a review (200) or {"error": ...} (400);
//   - a 200 reply echoes the request's uid, carries a patch exactly when it allows with changes,
//     and keeps every warning within 120 bytes;
//   - when an independent parser (nlohmann) reads the same request: a patch applies cleanly to
//     request.object (nlohmann's RFC 6902 implementation), and reviewing the patched object
//     again yields no patch (idempotence).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/config.h"
#include "webhook/admission.h"
#include "webhook/catalog.h"
#include "webhook/review.h"

namespace {

using hyperplace::webhook::AdmissionResult;
using nlohmann::json;

struct World {
  World() {
    hyperplace::Config config;
    config.webhook.team_max_priority_class = {{"team-b", "training-priority"}};
    admitter = std::make_unique<hyperplace::webhook::Admitter>(
        config, std::make_shared<hyperplace::webhook::StaticCatalog>(config));
  }
  std::unique_ptr<hyperplace::webhook::Admitter> admitter;
};

void Check(bool ok, const char* property, const std::string& detail) {
  if (ok) return;
  std::fprintf(stderr, "property violated: %s\n%.4000s\n", property, detail.c_str());
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

struct Reply {
  AdmissionResult result;
  std::string body;
};

Reply Admit(const World& world, const std::string& review) {
  std::string padded = review;
  padded.append(hyperplace::webhook::kInputPadding, '\0');
  Reply reply;
  reply.result = world.admitter->Admit(std::string_view(padded.data(), review.size()), reply.body);
  return reply;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World world;
  const std::string input(reinterpret_cast<const char*>(data), size);
  const Reply first = Admit(world, input);

  const json reply = json::parse(first.body, nullptr, /*allow_exceptions=*/false);
  Check(!reply.is_discarded(), "the reply is JSON", first.body);
  if (first.result.http_status != 200) {
    Check(first.result.http_status == 400, "a failure is a 400", first.body);
    Check(reply.contains("error") && reply["error"].is_string(), "a 400 carries an error",
          first.body);
    return 0;
  }
  const json& response = reply["response"];
  Check(reply["apiVersion"] == "admission.k8s.io/v1" && reply["kind"] == "AdmissionReview",
        "the reply is an AdmissionReview", first.body);
  const bool patched = first.result.verdict == AdmissionResult::Verdict::kPatched;
  Check(response.contains("patch") == patched, "a patch exactly when patched", first.body);
  Check(response["allowed"] == (first.result.verdict != AdmissionResult::Verdict::kDenied),
        "allowed matches the verdict", first.body);
  if (response.contains("warnings")) {
    for (const json& w : response["warnings"]) {
      Check(w.is_string() && w.get<std::string>().size() <= 120, "warnings within 120 bytes",
            first.body);
    }
  }

  // Accepted reviews are at most kMaxDepth deep, so the recursive parser below is safe. A review
  // nlohmann refuses (it is stricter about lone surrogate escapes, as Go is not) is not compared.
  const json review = json::parse(input, nullptr, /*allow_exceptions=*/false);
  if (review.is_discarded() || !review.is_object() || !review["request"].is_object()) return 0;
  Check(response["uid"] == review["request"]["uid"], "the uid is echoed", first.body);
  if (!patched) return 0;

  const std::string patch_text = Base64Decode(response["patch"].get<std::string>());
  const json patch = json::parse(patch_text, nullptr, false);
  Check(!patch.is_discarded() && patch.is_array() && !patch.empty(), "the patch is a JSON array",
        patch_text);
  json object;
  try {
    object = review["request"]["object"].patch(patch);
  } catch (const json::exception& e) {
    Check(false, "the patch applies", patch_text + "\n" + e.what());
  }
  json again = review;
  again["request"]["object"] = object;
  const std::string second_input = again.dump();
  const Reply second = Admit(world, second_input);
  Check(second.result.http_status == 200, "the patched review decodes", second.body);
  Check(second.result.verdict == AdmissionResult::Verdict::kAllowed, "a second pass needs no patch",
        patch_text + "\n" + second.body);
  return 0;
}
