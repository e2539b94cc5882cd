// Fluent builders for the webhook's rule inputs, for tests:
//
//   InputBuilder in;
//   in.Create(Kind::kPod).In("hyperpod-ns-team-a").By("alice", {"hyperpod-ns-team-a-..."})
//     .Label("app", "x").NodeSelector("node.kubernetes.io/instance-type", "p5.48xlarge");
//   Evaluate(in.input(), rules, objects, outcome);
//
//   in.Update(Kind::kJob).OldLabel("kueue.x-k8s.io/queue-name", "q").Label(...);  // an UPDATE
//
// The builder owns every string the input's views point at; keep it alive while the input is
// used. Header-only.
#pragma once

#include <cstdint>
#include <deque>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "webhook/model.h"

namespace hyperplace::webhook::testing {

class InputBuilder {
 public:
  InputBuilder() { in_.object.presence = Presence::kPresent; }
  InputBuilder(const InputBuilder&) = delete;
  InputBuilder& operator=(const InputBuilder&) = delete;

  InputBuilder& Create(Kind kind, std::string_view kind_name = {}) {
    return Request(Operation::kCreate, kind, kind_name);
  }
  // An UPDATE: request.oldObject present (labels from OldLabel()).
  InputBuilder& Update(Kind kind, std::string_view kind_name = {}) {
    in_.old_object = Presence::kPresent;
    return Request(Operation::kUpdate, kind, kind_name);
  }
  InputBuilder& Request(Operation operation, Kind kind, std::string_view kind_name = {}) {
    in_.operation = operation;
    in_.kind = kind;
    in_.kind_name = Keep(kind_name.empty() ? KindName(kind) : kind_name);
    return *this;
  }
  InputBuilder& In(std::string_view namespace_name) {
    in_.namespace_name = Keep(namespace_name);
    return *this;
  }
  InputBuilder& By(std::string_view username, std::initializer_list<std::string_view> groups = {}) {
    in_.username = Keep(username);
    in_.groups.clear();
    for (std::string_view g : groups) in_.groups.push_back(Keep(g));
    return *this;
  }
  InputBuilder& Groups(const std::vector<std::string>& groups) {
    in_.groups.clear();
    for (const std::string& g : groups) in_.groups.push_back(Keep(g));
    return *this;
  }
  InputBuilder& SubResource(std::string_view sub_resource) {
    in_.sub_resource = Keep(sub_resource);
    return *this;
  }
  // metadata and metadata.labels present (empty).
  InputBuilder& EmptyLabels() {
    in_.object.labels.metadata = Presence::kPresent;
    in_.object.labels.labels = Presence::kPresent;
    return *this;
  }
  InputBuilder& Label(std::string_view key, std::string_view value) {
    EmptyLabels();
    in_.object.labels.entries.push_back({Keep(key), Keep(value)});
    return *this;
  }
  // A label of request.oldObject.
  InputBuilder& OldLabel(std::string_view key, std::string_view value) {
    in_.old_object = Presence::kPresent;
    in_.old_labels.metadata = in_.old_labels.labels = Presence::kPresent;
    in_.old_labels.entries.push_back({Keep(key), Keep(value)});
    return *this;
  }
  InputBuilder& Metadata(Presence metadata, Presence labels) {
    in_.object.labels.metadata = metadata;
    in_.object.labels.labels = labels;
    return *this;
  }
  InputBuilder& NoObject() {
    in_.object.presence = Presence::kNull;
    return *this;
  }

  // The pod spec at spec (Pod) or spec.template.spec (Job).
  InputBuilder& NodeSelector(std::string_view key, std::string_view value,
                             bool template_spec = false) {
    PodSpecView& spec = Spec(template_spec);
    spec.node_selector.push_back({Keep(key), Keep(value)});
    return *this;
  }
  // Appends matchExpressions[next] to nodeSelectorTerms[term].
  InputBuilder& Requirement(std::uint32_t term, std::string_view key, std::string_view op,
                            std::initializer_list<std::string_view> values,
                            bool template_spec = false) {
    PodSpecView& spec = Spec(template_spec);
    MatchExpression e;
    e.term = term;
    for (const MatchExpression& existing : spec.expressions) {
      if (existing.term == term) e.expression = existing.expression + 1;
    }
    e.key = Keep(key);
    e.op = Keep(op);
    e.values_begin = static_cast<std::uint32_t>(spec.values.size());
    for (std::string_view v : values) spec.values.push_back(Keep(v));
    e.values_count = static_cast<std::uint32_t>(values.size());
    spec.expressions.push_back(e);
    return *this;
  }
  // spec.schedulerName as a string.
  InputBuilder& SchedulerName(std::string_view name, bool template_spec = false) {
    PodSpecView& spec = Spec(template_spec);
    spec.scheduler_name_presence = Presence::kPresent;
    spec.scheduler_name = Keep(name);
    return *this;
  }
  // A spec with no member the rules read (no nodeSelector, affinity or schedulerName).
  InputBuilder& EmptySpec(bool template_spec = false) {
    Spec(template_spec);
    return *this;
  }
  InputBuilder& UnusableSpec(bool template_spec = false) {
    PodSpecView& spec = Spec(template_spec);
    spec.node_selector_usable = false;
    spec.affinity_usable = false;
    spec.scheduler_name_usable = false;
    return *this;
  }

  const AdmissionInput& input() const { return in_; }

 private:
  PodSpecView& Spec(bool template_spec) {
    PodSpecView& spec = template_spec ? in_.object.template_spec : in_.object.spec;
    spec.present = true;
    return spec;
  }
  std::string_view Keep(std::string_view text) { return storage_.emplace_back(text); }

  std::deque<std::string> storage_;  // stable addresses
  AdmissionInput in_;
};

}  // namespace hyperplace::webhook::testing
