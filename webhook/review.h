// The admission.k8s.io/v1 AdmissionReview wire format, decoded with simdjson On-Demand in place
// and encoded by hand.
//
// Decoding validates every byte of the review, including the parts it does not use (as the
// extender's decoder does): malformed JSON anywhere is an error, never a silent skip. Of
// request.object it keeps the raw JSON span and decodes only what the rules read:
// metadata.labels, and the nodeSelector and required node affinity of spec and of
// spec.template.spec. Views in the result point into the body and into the decoder's string
// buffer and stay valid until the next Decode on the same Decoder.
//
// A Decoder is not thread-safe; keep one per thread and reuse it (its buffers grow to the largest
// review seen instead of being allocated per request).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "webhook/model.h"

namespace hyperplace::webhook {

// Readable bytes the decoder needs after the end of the input (simdjson's SIMDJSON_PADDING).
inline constexpr std::size_t kInputPadding = 64;
// Nesting deeper than this is refused. Real objects stay far below it (a JobSet's container
// fields are ~16 levels deep inside the review).
inline constexpr std::size_t kMaxDepth = 128;

inline constexpr std::string_view kAdmissionApiVersion = "admission.k8s.io/v1";

// request of an AdmissionReview. `input` holds what the rules read.
struct AdmissionRequest {
  std::string_view uid;
  std::string_view kind_group, kind_version;  // request.kind (kind itself: input.kind_name)
  std::string_view resource_group, resource_version, resource;
  std::string_view name;
  std::string_view operation;  // as sent
  bool dry_run = false;
  std::string_view object_json;  // raw bytes of request.object (empty when absent or null)
  AdmissionInput input;
};

class Decoder {
 public:
  Decoder();
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // `body` must be followed in memory by kInputPadding readable bytes. On error the status names
  // what was wrong and where ("request.userInfo.groups: expected an array of strings").
  // Required: apiVersion admission.k8s.io/v1, kind AdmissionReview, request with uid, kind,
  // resource, operation and userInfo; for CREATE also object.
  Status Decode(std::string_view body, AdmissionRequest& out);

  // Approximate bytes the parser holds for the largest review it has seen.
  std::size_t footprint() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The response half of an AdmissionReview.
struct ReviewResponse {
  std::string_view uid;
  bool allowed = true;
  // Denials: status.code (403) and status.message.
  int status_code = 403;
  std::string_view message;
  // A JSON Patch (RFC 6902) document; empty: no patch fields are written.
  std::string_view patch;
  const std::vector<std::string>* warnings = nullptr;
};

// Appends {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{...}}: uid,
// allowed, then for a denial status {"code","status":"Failure","message","reason":"Forbidden"},
// for a patch patchType "JSONPatch" and the patch in base64, then warnings when there are any.
void EncodeReviewResponse(const ReviewResponse& response, std::string& out);

// Appends {"error":"..."}: the body of a 400 for a review that could not be decoded.
void EncodeError(std::string_view message, std::string& out);

}  // namespace hyperplace::webhook
