// JSON Patch (RFC 6902) documents for the webhook's mutations: label additions, in-place
// rewrites of instance-type selector values, and a pod's scheduler name. Pure text building; no
// JSON parsing.
//
// Patches are minimal: one "add" per missing label into an existing metadata.labels object, or a
// single "add" of the whole labels object when metadata.labels is absent or null (or of
// {"labels": {...}} when metadata itself is), and one "replace" per rewritten value at its exact
// path. Keys in paths are escaped per RFC 6901 ('~' -> "~0", '/' -> "~1") and the path strings
// per RFC 8259.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "webhook/model.h"

namespace hyperplace::webhook {

// Where a pod spec sits in the object.
enum class SpecLocation : std::uint8_t {
  kSpec,          // /spec (Pod)
  kTemplateSpec,  // /spec/template/spec (Job)
};

struct LabelAddition {
  std::string_view key;
  std::string_view value;
};

// Replaces one instance-type value: nodeSelector[selector_key], or
// affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[term]
// .matchExpressions[expression].values[value].
struct ValueRewrite {
  enum class Field : std::uint8_t { kNodeSelector, kAffinity };
  SpecLocation location = SpecLocation::kSpec;
  Field field = Field::kNodeSelector;
  std::string_view selector_key;
  std::uint32_t term = 0;
  std::uint32_t expression = 0;
  std::uint32_t value = 0;
  std::string_view from;
  std::string to;
};

struct Mutation {
  std::vector<LabelAddition> labels;
  std::vector<ValueRewrite> rewrites;
  // Non-empty: set /spec/schedulerName (a Pod's) to this, with one "add" (which replaces a
  // member that is there, RFC 6902 4.1).
  std::string_view scheduler_name;

  bool empty() const { return labels.empty() && rewrites.empty() && scheduler_name.empty(); }
  void Clear() {
    labels.clear();
    rewrites.clear();
    scheduler_name = {};
  }
};

// Appends the patch applying `mutation` to an object whose metadata and labels stand as `labels`
// describes. Appends nothing for an empty mutation.
void AppendPatch(const LabelsView& labels, const Mutation& mutation, std::string& out);

// Appends one RFC 6901 reference token: '~' -> "~0", '/' -> "~1".
void AppendPointerToken(std::string& out, std::string_view token);

}  // namespace hyperplace::webhook
