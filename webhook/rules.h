// The webhook's admission rules (DESIGN §3) as a pure function over the decoded request, the
// configuration and a snapshot of the Kueue catalog.
//
// They apply in a team namespace ("<prefix><team>") to requests without a subresource:
//   - CREATE of any kind but an Event: rule 1, and for the kinds Kueue reads (IsKueueKind) rules
//     1-4. Other kinds (a ReplicaSet, CronJob, DaemonSet, a custom resource) only get the scope
//     check: they make pods as surely as a Job does, but carry no labels Kueue reads, so they are
//     never patched and their shape is never looked at.
//   - UPDATE of a kind Kueue reads that adds, removes or changes the queue or priority-class
//     label (rule 6): rules 1-3, as for a CREATE. Any other UPDATE is allowed untouched, whoever
//     sends it (Kueue and the workload controllers update these objects all the time).
// Every other request is allowed untouched. In order, the first denial winning:
//
//   1. Team scope. Allowed: members of an admin group; trusted users; service accounts of the
//      namespace itself or of a trusted namespace; members of the team's group. A service account
//      of any other namespace (another team's included) is refused whatever its groups say, like
//      a user outside the team. The denial names the user, the team and the group required.
//   2. Queue. No queue label: add the team's LocalQueue. Another queue: deny, naming the right
//      one. With a catalog from the cluster, the LocalQueue must exist (else deny: Kueue would
//      never admit the workload).
//   3. Priority. No priority-class label: add the default class (webhook.defaultPriorityClass if
//      the catalog has it, else the lowest by value, ties by name), lowered to the team's maximum
//      if it is above it. An unknown class: deny, listing the classes. A class above the team's
//      maximum (by value): deny.
//   4. Instance type (CREATE only). For a Pod (spec) or a Job (spec.template.spec): a
//      nodeSelector value, or a value of a required node-affinity "In" requirement, on the
//      instance-type label that lacks the instance-type prefix is rewritten to the prefixed
//      value, with one warning each.
//   5. Scheduler name (CREATE of a Pod only, when webhook.schedulerName is set). A pod that names
//      no scheduler, or "default-scheduler" (which the API server writes into every pod that
//      names none, before any webhook sees it), gets spec.schedulerName set to hyperplace's
//      scheduler; a pod naming any other scheduler keeps it.
//
// The resulting patch is idempotent: applied, a second evaluation adds nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "webhook/catalog.h"
#include "webhook/model.h"
#include "webhook/patch.h"

namespace hyperplace::webhook {

// A name with {team} placeholders ("hyperpod-ns-{team}-localqueue"), expanded and matched
// without allocating.
class TeamTemplate {
 public:
  TeamTemplate() = default;
  explicit TeamTemplate(std::string_view pattern);

  // Replaces `out` with the expansion for `team`.
  void Expand(std::string_view team, std::string& out) const;
  std::string Expand(std::string_view team) const;
  // True when Expand(team) == text.
  bool Matches(std::string_view text, std::string_view team) const;
  // The team T with Expand(T) == text, for a template with exactly one placeholder.
  std::optional<std::string_view> ExtractTeam(std::string_view text) const;

 private:
  std::vector<std::string> literals_;  // the text around the placeholders: placeholders + 1
};

// The configuration the rules read, prepared once.
struct RulesConfig {
  std::string team_namespace_prefix;
  std::string queue_label;
  std::string priority_label;
  std::string instance_type_label;
  std::string instance_type_prefix;
  TeamTemplate local_queue;
  TeamTemplate team_group;
  std::vector<std::string> admin_groups;
  std::vector<std::string> trusted_service_account_namespaces;
  std::vector<std::string> trusted_users;
  std::string default_priority_class;
  std::map<std::string, std::string, std::less<>> team_max_priority_class;
  // Values of the configured classes, to rank a team maximum the cluster does not have.
  std::vector<PriorityClassConfig> configured_priority_classes;
  std::string scheduler_name;  // empty: rule 5 is off

  static RulesConfig FromConfig(const Config& config);
};

enum class Decision : std::uint8_t { kAllowed, kPatched, kDenied };

// Which rule decided, for logs and tests.
enum class Rule : std::uint8_t {
  kNotApplicable,  // outside the rules (see the top of this file): untouched
  kPassed,         // every rule passed (the mutation may still be non-empty)
  kTeamScope,
  kQueue,
  kPriority,
};

// The rules' verdict. Reuse one per thread: Clear() keeps the buffers.
struct Outcome {
  Decision decision = Decision::kAllowed;
  Rule rule = Rule::kNotApplicable;
  std::string message;  // why it was denied (one line, for status.message)
  Mutation mutation;
  std::vector<std::string> warnings;  // each at most 120 bytes
  std::string queue;                  // storage for the queue label value the mutation adds

  void Clear() {
    decision = Decision::kAllowed;
    rule = Rule::kNotApplicable;
    message.clear();
    mutation.Clear();
    warnings.clear();
    queue.clear();
  }
};

// Evaluates the rules. Views in `out.mutation` point into `input`, `objects` and `out`.
void Evaluate(const AdmissionInput& input, const RulesConfig& config, const KueueObjects& objects,
              Outcome& out);

// Admission warnings should stay within this many bytes (k8s.io/api admission/v1).
inline constexpr std::size_t kMaxWarningBytes = 120;

}  // namespace hyperplace::webhook
