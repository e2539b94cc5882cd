#include "webhook/admission.h"

#include "webhook/patch.h"
#include "webhook/review.h"

namespace hyperplace::webhook {
namespace {

// Per-thread scratch, reused across requests.
struct Scratch {
  Decoder decoder;
  AdmissionRequest request;
  Outcome outcome;
  std::string patch;
  std::string error;
};

thread_local std::unique_ptr<Scratch> thread_scratch;

Scratch& ThreadScratch() {
  if (!thread_scratch) thread_scratch = std::make_unique<Scratch>();
  return *thread_scratch;
}

}  // namespace

void ReleaseThreadScratch(std::size_t keep_bytes) {
  if (!thread_scratch) return;
  const Scratch& s = *thread_scratch;
  if (s.decoder.footprint() + s.patch.capacity() + s.error.capacity() > keep_bytes) {
    thread_scratch.reset();
  }
}

std::string_view VerdictName(AdmissionResult::Verdict verdict) {
  switch (verdict) {
    case AdmissionResult::Verdict::kAllowed:
      return "allowed";
    case AdmissionResult::Verdict::kPatched:
      return "patched";
    case AdmissionResult::Verdict::kDenied:
      return "denied";
    case AdmissionResult::Verdict::kError:
      break;
  }
  return "error";
}

Admitter::Admitter(const Config& config, std::shared_ptr<const KueueCatalog> catalog)
    : rules_(RulesConfig::FromConfig(config)), catalog_(std::move(catalog)) {}

AdmissionResult Admitter::Admit(std::string_view body, std::string& out) const {
  Scratch& s = ThreadScratch();
  AdmissionResult result;
  if (Status st = s.decoder.Decode(body, s.request); !st.ok()) {
    result.http_status = 400;
    result.verdict = AdmissionResult::Verdict::kError;
    s.error = st.message();
    result.message = s.error;
    EncodeError(s.error, out);
    return result;
  }
  const AdmissionInput& in = s.request.input;
  result.kind = in.kind;
  result.operation = in.operation;
  result.dry_run = s.request.dry_run;
  result.uid = s.request.uid;
  result.kind_name = in.kind_name;
  result.namespace_name = in.namespace_name;
  result.username = in.username;

  // Held for the whole request: the mutation may point at class names in the snapshot.
  const std::shared_ptr<const KueueObjects> objects = catalog_->Current();
  if (objects == nullptr) {
    result.http_status = 503;
    result.verdict = AdmissionResult::Verdict::kError;
    result.message = "the Kueue catalog has not synced yet";
    EncodeError(result.message, out);
    return result;
  }
  Evaluate(in, rules_, *objects, s.outcome);
  result.rule = s.outcome.rule;

  ReviewResponse response;
  response.uid = s.request.uid;
  response.warnings = &s.outcome.warnings;
  s.patch.clear();
  switch (s.outcome.decision) {
    case Decision::kDenied:
      result.verdict = AdmissionResult::Verdict::kDenied;
      response.allowed = false;
      response.status_code = 403;
      response.message = s.outcome.message;
      result.message = s.outcome.message;
      break;
    case Decision::kPatched:
      result.verdict = AdmissionResult::Verdict::kPatched;
      AppendPatch(in.object.labels, s.outcome.mutation, s.patch);
      response.patch = s.patch;
      break;
    case Decision::kAllowed:
      result.verdict = AdmissionResult::Verdict::kAllowed;
      break;
  }
  EncodeReviewResponse(response, out);
  return result;
}

}  // namespace hyperplace::webhook
