// One admission, bytes in and bytes out: decode the AdmissionReview, evaluate the rules against
// the catalog's current snapshot, build the patch and encode the response review. Pure (no
// sockets, clocks or metrics), so tests, benchmarks and fuzzers drive it directly; the HTTP
// service wraps it.
//
// Thread-safe: Admit() runs concurrently on any number of threads. Each thread keeps its own
// decoder, rule outcome and patch buffer, reused across requests (the steady state allocates
// next to nothing).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/config.h"
#include "webhook/catalog.h"
#include "webhook/model.h"
#include "webhook/rules.h"

namespace hyperplace::webhook {

struct AdmissionResult {
  // 200 with a response review; 400 for a review that could not be decoded; 503 while the catalog
  // has not synced. Non-200 bodies are {"error":"..."}.
  int http_status = 200;
  enum class Verdict : std::uint8_t {
    kAllowed,
    kPatched,
    kDenied,
    kError
  } verdict = Verdict::kAllowed;
  Rule rule = Rule::kNotApplicable;
  Kind kind = Kind::kOther;
  Operation operation = Operation::kOther;
  bool dry_run = false;
  // For logs; views valid until the next Admit() on the same thread.
  std::string_view uid;
  std::string_view kind_name;  // request.kind.kind as sent ("ReplicaSet" where kind is kOther)
  std::string_view namespace_name;
  std::string_view username;
  std::string_view message;  // the denial or decoding error
};

std::string_view VerdictName(AdmissionResult::Verdict verdict);  // "allowed", ..., "error"

class Admitter {
 public:
  Admitter(const Config& config, std::shared_ptr<const KueueCatalog> catalog);

  // `body` must be followed by kInputPadding readable bytes (net::Request bodies are). Appends
  // the response body to `out`.
  AdmissionResult Admit(std::string_view body, std::string& out) const;

  const RulesConfig& rules() const { return rules_; }
  const KueueCatalog& catalog() const { return *catalog_; }

 private:
  const RulesConfig rules_;
  const std::shared_ptr<const KueueCatalog> catalog_;
};

// Frees the calling thread's admission scratch if it holds more than `keep_bytes` (grown by a
// huge review); the next review allocates again.
void ReleaseThreadScratch(std::size_t keep_bytes);

}  // namespace hyperplace::webhook
