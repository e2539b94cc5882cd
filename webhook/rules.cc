#include "webhook/rules.h"

#include <algorithm>

namespace hyperplace::webhook {
namespace {

constexpr std::string_view kPlaceholder = "{team}";
constexpr std::string_view kServiceAccountPrefix = "system:serviceaccount:";
// A LocalQueue name is written as a label value.
constexpr std::size_t kMaxLabelValue = 63;
// User-controlled text quoted in a message is cut to this many bytes.
constexpr std::size_t kMaxQuotedBytes = 256;

// The longest prefix of `text` of at most `limit` bytes that does not split a UTF-8 sequence.
std::string_view Utf8Prefix(std::string_view text, std::size_t limit) {
  if (text.size() <= limit) return text;
  std::size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

// Appends "text" with quotes; control characters become '?' so a message stays one line, and
// long user input is cut to `limit` bytes (marked with "...").
void AppendQuoted(std::string& out, std::string_view text, std::size_t limit = kMaxQuotedBytes) {
  std::string_view shown = Utf8Prefix(text, limit);
  out += '"';
  for (char c : shown) {
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  }
  if (shown.size() < text.size()) out += "...";
  out += '"';
}

std::string Quoted(std::string_view text) {
  std::string out;
  AppendQuoted(out, text);
  return out;
}

bool Contains(const std::vector<std::string>& list, std::string_view item) {
  for (const std::string& s : list) {
    if (s == item) return true;
  }
  return false;
}

// "system:serviceaccount:<namespace>:<name>" -> namespace; nullopt for other user names.
std::optional<std::string_view> ServiceAccountNamespace(std::string_view username) {
  if (!username.starts_with(kServiceAccountPrefix)) return std::nullopt;
  std::string_view rest = username.substr(kServiceAccountPrefix.size());
  const std::size_t colon = rest.find(':');
  if (colon == 0 || colon == std::string_view::npos || colon + 1 == rest.size()) {
    return std::nullopt;
  }
  if (rest.find(':', colon + 1) != std::string_view::npos) return std::nullopt;
  return rest.substr(0, colon);
}

// The team of a team namespace, or nullopt.
std::optional<std::string_view> TeamOf(std::string_view namespace_name, const RulesConfig& config) {
  const std::string& prefix = config.team_namespace_prefix;
  if (prefix.empty() || namespace_name.size() <= prefix.size() ||
      !namespace_name.starts_with(prefix)) {
    return std::nullopt;
  }
  return namespace_name.substr(prefix.size());
}

const PriorityClassConfig* FindClass(const std::vector<PriorityClassConfig>& classes,
                                     std::string_view name) {
  for (const PriorityClassConfig& c : classes) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

// Lowest value first, ties by name: a total order, so choices are deterministic.
bool Lower(const PriorityClassConfig& a, const PriorityClassConfig& b) {
  return a.value != b.value ? a.value < b.value : a.name < b.name;
}

const PriorityClassConfig* LowestClass(const std::vector<PriorityClassConfig>& classes) {
  const PriorityClassConfig* lowest = nullptr;
  for (const PriorityClassConfig& c : classes) {
    if (lowest == nullptr || Lower(c, *lowest)) lowest = &c;
  }
  return lowest;
}

// "inference-priority (15), training-priority (10)": highest first.
std::string ClassList(const std::vector<PriorityClassConfig>& classes) {
  std::vector<const PriorityClassConfig*> sorted;
  for (const PriorityClassConfig& c : classes) sorted.push_back(&c);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return Lower(*b, *a); });
  std::string out;
  for (const PriorityClassConfig* c : sorted) {
    if (!out.empty()) out += ", ";
    out += c->name + " (" + std::to_string(c->value) + ")";
  }
  return out;
}

struct TeamMaximum {
  std::string_view name;
  std::int32_t value;
};

// The team's configured maximum class and its value (the cluster's value when the catalog has
// the class, else the configured one); nullopt when the team has none.
std::optional<TeamMaximum> MaximumFor(std::string_view team, const RulesConfig& config,
                                      const KueueObjects& objects) {
  auto it = config.team_max_priority_class.find(team);
  if (it == config.team_max_priority_class.end()) return std::nullopt;
  const PriorityClassConfig* c = FindClass(objects.priority_classes, it->second);
  if (c == nullptr) c = FindClass(config.configured_priority_classes, it->second);
  if (c == nullptr) return std::nullopt;
  return TeamMaximum{it->second, c->value};
}

void Deny(Outcome& out, Rule rule, std::string message) {
  out.decision = Decision::kDenied;
  out.rule = rule;
  out.message = std::move(message);
  out.mutation.Clear();
  out.warnings.clear();
}

// Rule 1. Returns false after denying.
bool CheckTeamScope(const AdmissionInput& in, std::string_view team, const RulesConfig& config,
                    Outcome& out) {
  for (std::string_view group : in.groups) {
    if (Contains(config.admin_groups, group)) return true;
  }
  if (Contains(config.trusted_users, in.username)) return true;
  const std::optional<std::string_view> sa_namespace = ServiceAccountNamespace(in.username);
  if (sa_namespace) {
    if (*sa_namespace == in.namespace_name) return true;
    if (Contains(config.trusted_service_account_namespaces, *sa_namespace)) return true;
  } else {
    for (std::string_view group : in.groups) {
      if (config.team_group.Matches(group, team)) return true;
    }
  }

  std::string message;
  std::optional<std::string_view> own_team;
  if (sa_namespace) {
    own_team = TeamOf(*sa_namespace, config);
    message = "service account ";
  } else {
    for (std::string_view group : in.groups) {
      if ((own_team = config.team_group.ExtractTeam(group))) break;
    }
    message = "user ";
  }
  AppendQuoted(message, in.username);
  if (own_team) {
    message += " of team ";
    AppendQuoted(message, *own_team);
  }
  message += in.operation == Operation::kUpdate ? " may not change the queue or priority of "
                                                : " may not create ";
  message += in.kind_name;
  message += " objects in namespace ";
  AppendQuoted(message, in.namespace_name);
  message += ": team ";
  AppendQuoted(message, team);
  message += " requires membership in group ";
  AppendQuoted(message, config.team_group.Expand(team));
  if (sa_namespace) message += " (service accounts may only create in their own namespace)";
  Deny(out, Rule::kTeamScope, std::move(message));
  return false;
}

// Rule 2. Returns false after denying.
bool CheckQueue(const AdmissionInput& in, std::string_view team, const RulesConfig& config,
                const KueueObjects& objects, Outcome& out) {
  config.local_queue.Expand(team, out.queue);
  if (out.queue.size() > kMaxLabelValue) {
    Deny(out, Rule::kQueue,
         "cannot name a LocalQueue for team " + Quoted(team) + ": " + Quoted(out.queue) +
             " is longer than 63 characters, the limit of a label value");
    return false;
  }
  auto queue_exists = [&] {
    return !objects.from_cluster ||
           objects.local_queues.count({std::string(in.namespace_name), out.queue}) != 0;
  };
  auto missing_queue = [&] {
    Deny(out, Rule::kQueue,
         "LocalQueue " + Quoted(out.queue) + " does not exist in namespace " +
             Quoted(in.namespace_name) +
             ", so Kueue would never admit this workload; ask the cluster administrator to "
             "create it");
  };
  const std::string_view* queue = in.object.labels.Find(config.queue_label);
  if (queue == nullptr) {
    if (!queue_exists()) {
      missing_queue();
      return false;
    }
    // out.queue stays as it is from here on, so the view into it is stable.
    out.mutation.labels.push_back(LabelAddition{config.queue_label, out.queue});
    return true;
  }
  if (*queue != out.queue) {
    Deny(out, Rule::kQueue,
         "queue " + Quoted(*queue) + " is not allowed in namespace " + Quoted(in.namespace_name) +
             ": team " + Quoted(team) + " must use LocalQueue " + Quoted(out.queue) + " (label " +
             config.queue_label + ")");
    return false;
  }
  if (!queue_exists()) {
    missing_queue();
    return false;
  }
  return true;
}

// Rule 3. Returns false after denying.
bool CheckPriority(const AdmissionInput& in, std::string_view team, const RulesConfig& config,
                   const KueueObjects& objects, Outcome& out) {
  const std::vector<PriorityClassConfig>& classes = objects.priority_classes;
  const std::optional<TeamMaximum> maximum = MaximumFor(team, config, objects);
  const std::string_view* requested = in.object.labels.Find(config.priority_label);
  if (requested == nullptr) {
    // Nothing to write when no class exists: Kueue then uses priority 0.
    const PriorityClassConfig* chosen = nullptr;
    if (!config.default_priority_class.empty()) {
      chosen = FindClass(classes, config.default_priority_class);
    }
    if (chosen == nullptr) chosen = LowestClass(classes);
    if (chosen == nullptr) return true;
    if (maximum && chosen->value > maximum->value) {
      // The default is above what the team may request: the team's maximum if it exists, else
      // the lowest class.
      const PriorityClassConfig* capped = FindClass(classes, maximum->name);
      chosen = capped != nullptr ? capped : LowestClass(classes);
      if (chosen->value > maximum->value) {
        Deny(out, Rule::kPriority,
             "no priority class is within team " + Quoted(team) + "'s maximum " +
                 Quoted(maximum->name) + " (" + std::to_string(maximum->value) + "); set label " +
                 config.priority_label + " to one of " + ClassList(classes));
        return false;
      }
    }
    out.mutation.labels.push_back(LabelAddition{config.priority_label, chosen->name});
    return true;
  }
  const PriorityClassConfig* c = FindClass(classes, *requested);
  if (c == nullptr) {
    if (classes.empty()) {
      Deny(out, Rule::kPriority,
           "priority class " + Quoted(*requested) +
               " does not exist: the cluster has no WorkloadPriorityClass; remove label " +
               config.priority_label);
    } else {
      Deny(out, Rule::kPriority,
           "priority class " + Quoted(*requested) + " does not exist; use one of " +
               ClassList(classes) + " (label " + config.priority_label + ")");
    }
    return false;
  }
  if (maximum && c->value > maximum->value) {
    Deny(out, Rule::kPriority,
         "priority class " + Quoted(c->name) + " (" + std::to_string(c->value) +
             ") is above team " + Quoted(team) + "'s maximum " + Quoted(maximum->name) + " (" +
             std::to_string(maximum->value) + ")");
    return false;
  }
  return true;
}

// One warning of at most kMaxWarningBytes.
std::string RewriteWarning(std::string_view from, std::string_view to, std::string_view where) {
  std::string warning = "instance type ";
  AppendQuoted(warning, from, 40);
  warning += " rewritten to ";
  AppendQuoted(warning, to, 40);
  warning += " in ";
  warning += where;
  return std::string(Utf8Prefix(warning, kMaxWarningBytes));
}

// Rule 4.
void RewriteInstanceTypes(const PodSpecView& spec, SpecLocation location, const RulesConfig& config,
                          Outcome& out) {
  if (!spec.present) return;
  const std::string& label = config.instance_type_label;
  const std::string& prefix = config.instance_type_prefix;
  auto needs_prefix = [&](std::string_view value) {
    return !value.empty() && !value.starts_with(prefix);
  };
  const bool job = location == SpecLocation::kTemplateSpec;

  if (spec.node_selector_usable) {
    // A key repeated in the JSON: the last occurrence is the member the patch addresses.
    for (auto it = spec.node_selector.rbegin(); it != spec.node_selector.rend(); ++it) {
      if (it->key != label) continue;
      if (needs_prefix(it->value)) {
        ValueRewrite& r = out.mutation.rewrites.emplace_back();
        r.location = location;
        r.field = ValueRewrite::Field::kNodeSelector;
        r.selector_key = it->key;
        r.from = it->value;
        r.to.assign(prefix).append(it->value);
        out.warnings.push_back(RewriteWarning(
            r.from, r.to, job ? "spec.template.spec.nodeSelector" : "spec.nodeSelector"));
      }
      break;
    }
  }
  if (spec.affinity_usable) {
    for (const MatchExpression& e : spec.expressions) {
      if (e.key != label || e.op != "In") continue;
      for (std::uint32_t i = 0; i < e.values_count; ++i) {
        std::string_view value = spec.values[e.values_begin + i];
        if (!needs_prefix(value)) continue;
        ValueRewrite& r = out.mutation.rewrites.emplace_back();
        r.location = location;
        r.field = ValueRewrite::Field::kAffinity;
        r.term = e.term;
        r.expression = e.expression;
        r.value = i;
        r.from = value;
        r.to.assign(prefix).append(value);
        out.warnings.push_back(RewriteWarning(
            r.from, r.to,
            job ? "the pod template's required node affinity" : "the required node affinity"));
      }
    }
  }
}

// Rule 5. The scheduler the API server names when a pod names none (its defaulting runs before
// admission, so an AdmissionReview never shows the name missing).
constexpr std::string_view kDefaultScheduler = "default-scheduler";

void SetSchedulerName(const PodSpecView& spec, const RulesConfig& config, Outcome& out) {
  if (config.scheduler_name.empty() || !spec.present || !spec.scheduler_name_usable) return;
  const std::string_view named =
      spec.scheduler_name_presence == Presence::kPresent ? spec.scheduler_name : std::string_view();
  if (named.empty() || named == kDefaultScheduler)
    out.mutation.scheduler_name = config.scheduler_name;
}

// Whether an UPDATE changes `label`: added, removed or given another value.
bool LabelChanged(const AdmissionInput& in, std::string_view label) {
  const std::string_view* now = in.object.labels.Find(label);
  const std::string_view* before = in.old_labels.Find(label);
  if (now == nullptr || before == nullptr) return now != before;
  return *now != *before;
}

}  // namespace

TeamTemplate::TeamTemplate(std::string_view pattern) {
  std::size_t start = 0;
  while (true) {
    const std::size_t at = pattern.find(kPlaceholder, start);
    if (at == std::string_view::npos) {
      literals_.emplace_back(pattern.substr(start));
      return;
    }
    literals_.emplace_back(pattern.substr(start, at - start));
    start = at + kPlaceholder.size();
  }
}

void TeamTemplate::Expand(std::string_view team, std::string& out) const {
  out.clear();
  for (std::size_t i = 0; i < literals_.size(); ++i) {
    if (i > 0) out.append(team);
    out.append(literals_[i]);
  }
}

std::string TeamTemplate::Expand(std::string_view team) const {
  std::string out;
  Expand(team, out);
  return out;
}

bool TeamTemplate::Matches(std::string_view text, std::string_view team) const {
  if (literals_.empty()) return text.empty();
  for (std::size_t i = 0; i < literals_.size(); ++i) {
    if (i > 0) {
      if (!text.starts_with(team)) return false;
      text.remove_prefix(team.size());
    }
    if (!text.starts_with(literals_[i])) return false;
    text.remove_prefix(literals_[i].size());
  }
  return text.empty();
}

std::optional<std::string_view> TeamTemplate::ExtractTeam(std::string_view text) const {
  if (literals_.size() != 2) return std::nullopt;
  const std::string& head = literals_[0];
  const std::string& tail = literals_[1];
  if (text.size() <= head.size() + tail.size() || !text.starts_with(head) ||
      !text.ends_with(tail)) {
    return std::nullopt;
  }
  return text.substr(head.size(), text.size() - head.size() - tail.size());
}

RulesConfig RulesConfig::FromConfig(const Config& config) {
  RulesConfig r;
  r.team_namespace_prefix = config.cluster.team_namespace_prefix;
  r.queue_label = config.cluster.queue_name_label;
  r.priority_label = config.cluster.priority_class_label;
  r.instance_type_label = config.cluster.instance_type_label;
  r.instance_type_prefix = config.cluster.instance_type_prefix;
  r.local_queue = TeamTemplate(config.webhook.local_queue_template);
  r.team_group = TeamTemplate(config.webhook.team_group_template);
  r.admin_groups = config.webhook.admin_groups;
  r.trusted_service_account_namespaces = config.webhook.trusted_service_account_namespaces;
  r.trusted_users = config.webhook.trusted_users;
  r.default_priority_class = config.webhook.default_priority_class;
  r.team_max_priority_class.insert(config.webhook.team_max_priority_class.begin(),
                                   config.webhook.team_max_priority_class.end());
  r.configured_priority_classes = config.webhook.priority_classes;
  r.scheduler_name = config.webhook.scheduler_name;
  return r;
}

void Evaluate(const AdmissionInput& in, const RulesConfig& config, const KueueObjects& objects,
              Outcome& out) {
  out.Clear();
  // Subresources (pods/binding, pods/eviction, */status) act on an object that exists; Events
  // record what happened. Neither makes a workload.
  if (!in.sub_resource.empty() || in.object.presence != Presence::kPresent ||
      in.kind == Kind::kEvent) {
    return;
  }
  const bool kueue_kind = IsKueueKind(in.kind);
  const bool create = in.operation == Operation::kCreate;
  const bool update = in.operation == Operation::kUpdate && kueue_kind;
  if (!create && !update) return;
  const std::optional<std::string_view> team = TeamOf(in.namespace_name, config);
  if (!team) return;
  // Rule 6: Kueue reads the queue and priority labels of a workload that exists, so changing
  // either is held to rules 1-3; any other UPDATE (a controller's, a scale, an annotation) passes
  // untouched.
  if (update && !LabelChanged(in, config.queue_label) && !LabelChanged(in, config.priority_label)) {
    return;
  }

  if (!CheckTeamScope(in, *team, config, out)) return;
  // Other kinds get the scope check only: Kueue does not read their labels, and their shape is
  // unknown.
  if (kueue_kind) {
    if (!CheckQueue(in, *team, config, objects, out)) return;
    if (!CheckPriority(in, *team, config, objects, out)) return;
  }
  // Rule 4 on CREATE only: rule 6 holds an UPDATE to rules 1-3 (and Kueue itself rewrites the
  // selectors of a suspended Job it admits).
  if (create && in.kind == Kind::kPod) {
    RewriteInstanceTypes(in.object.spec, SpecLocation::kSpec, config, out);
    SetSchedulerName(in.object.spec, config, out);
  }
  if (create && in.kind == Kind::kJob) {
    RewriteInstanceTypes(in.object.template_spec, SpecLocation::kTemplateSpec, config, out);
  }
  out.rule = Rule::kPassed;
  out.decision = out.mutation.empty() ? Decision::kAllowed : Decision::kPatched;
}

}  // namespace hyperplace::webhook
