#include "inspect/topology.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string_view>
#include <unordered_map>

#include "scoring/cycle.h"
#include "scoring/facts.h"
#include "scoring/filter.h"

namespace hyperplace::inspect {
namespace {

// a + b, held at the int64 limits: quantities come from the cluster and go up to 2^63 - 1 each.
std::int64_t SaturatingAdd(std::int64_t a, std::int64_t b) {
  std::int64_t sum;
  if (!__builtin_add_overflow(a, b, &sum)) return sum;
  return b > 0 ? INT64_MAX : INT64_MIN;
}

using scoring::NodeFacts;
using scoring::PodFacts;

bool Finished(const scoring::Pod& pod) { return pod.phase == "Succeeded" || pod.phase == "Failed"; }

std::string_view EffectName(scoring::TaintEffect e) {
  switch (e) {
    case scoring::TaintEffect::kNoSchedule:
      return "NoSchedule";
    case scoring::TaintEffect::kNoExecute:
      return "NoExecute";
    case scoring::TaintEffect::kPreferNoSchedule:
      return "PreferNoSchedule";
    case scoring::TaintEffect::kUnknown:
      break;
  }
  return "Unknown";
}

// A domain's identity is its whole path from the top, so a value repeated under two parents (a
// mislabelled node) still gives a tree. '\n' cannot occur in a label value.
std::string PathKey(const std::vector<std::string>& path, std::size_t levels) {
  std::string key;
  for (std::size_t l = 0; l < levels; ++l) key.append(path[l]).push_back('\n');
  return key;
}

// The nodes, their facts, and the pods on them, indexed densely (node i of `View::nodes`).
struct Table {
  std::vector<const scoring::Node*> nodes;  // sorted by name, unique names
  std::vector<NodeFacts> facts;
  std::vector<std::int32_t> pods_on;
  std::vector<std::map<std::string, std::int64_t, std::less<>>> used;  // requests by resource
  std::unordered_map<std::string_view, std::size_t> index;
};

Table MakeTable(const ClusterInput& input, const scoring::Policy& policy,
                scoring::DomainTable& domains) {
  Table t;
  for (const scoring::Node& n : input.nodes) t.nodes.push_back(&n);
  std::stable_sort(t.nodes.begin(), t.nodes.end(),
                   [](const auto* a, const auto* b) { return a->name < b->name; });
  t.nodes.erase(std::unique(t.nodes.begin(), t.nodes.end(),
                            [](const auto* a, const auto* b) { return a->name == b->name; }),
                t.nodes.end());
  for (std::size_t i = 0; i < t.nodes.size(); ++i) {
    t.facts.push_back(scoring::DeriveNodeFacts(*t.nodes[i], policy, domains));
    t.index.emplace(t.nodes[i]->name, i);
  }
  t.pods_on.assign(t.nodes.size(), 0);
  t.used.resize(t.nodes.size());
  for (const PodInput& p : input.pods) {
    if (p.pod.node_name.empty() || Finished(p.pod)) continue;
    auto it = t.index.find(p.pod.node_name);
    if (it == t.index.end()) continue;
    ++t.pods_on[it->second];
    for (const auto& r : p.pod.requests) {
      std::int64_t& used = t.used[it->second][std::string(r.name)];
      used = SaturatingAdd(used, r.amount);
    }
  }
  return t;
}

std::int64_t UsedOf(const std::map<std::string, std::int64_t, std::less<>>& used,
                    std::string_view resource) {
  auto it = used.find(resource);
  return it == used.end() ? 0 : it->second;
}

NodeView MakeNode(const Table& t, std::size_t i, const scoring::Cycle& slots,
                  const scoring::Policy& policy) {
  const scoring::Node& n = *t.nodes[i];
  const NodeFacts& f = t.facts[i];
  NodeView v;
  v.name = std::string(n.name);
  v.instance_type = std::string(f.instance_type);
  for (int l = 0; l < f.depth; ++l) {
    v.path.emplace_back(*n.labels.Get(policy.topology_levels[static_cast<std::size_t>(l)]));
  }
  v.healthy = f.healthy && !f.has_health_taint;
  if (!f.healthy) {
    v.problems.push_back("health " + std::string(*n.labels.Get(policy.health_label)));
  }
  for (const scoring::Taint& taint : n.taints) {
    if (taint.effect != scoring::TaintEffect::kNoSchedule &&
        taint.effect != scoring::TaintEffect::kNoExecute) {
      continue;
    }
    std::string p = "taint " + std::string(taint.key);
    if (!taint.value.empty()) p.append("=").append(taint.value);
    p.append(":").append(EffectName(taint.effect));
    v.problems.push_back(std::move(p));
  }
  Capacity& c = v.capacity;
  c.nodes = 1;
  c.healthy = v.healthy ? 1 : 0;
  c.pods = t.pods_on[i];
  for (const std::string& r : policy.accelerator_resources) {
    std::int64_t total = scoring::AmountOf(n.allocatable, r);
    if (total <= 0) continue;
    // used >= 0 and total > 0: the difference cannot overflow.
    c.accelerators.push_back({r, std::max<std::int64_t>(0, total - UsedOf(t.used[i], r)), total});
  }
  if (f.max_pods >= 0) {
    c.slots_total = f.max_pods;
    c.slots_free = scoring::FreeSlots(slots, i, 0);
  }
  return v;
}

void BuildTree(View& view) {
  view.domains.clear();
  view.domains.emplace_back();  // the root
  std::unordered_map<std::string, std::size_t> by_path;
  for (std::size_t i = 0; i < view.nodes.size(); ++i) {
    const NodeView& n = view.nodes[i];
    std::size_t at = 0;
    view.domains[0].capacity.Add(n.capacity);
    for (std::size_t l = 0; l < n.path.size(); ++l) {
      auto [it, added] = by_path.emplace(PathKey(n.path, l + 1), view.domains.size());
      if (added) {
        DomainView d;
        d.level = static_cast<int>(l);
        d.name = n.path[l];
        view.domains.push_back(std::move(d));
        view.domains[at].children.push_back(it->second);
      }
      at = it->second;
      view.domains[at].capacity.Add(n.capacity);
    }
    view.domains[at].nodes.push_back(i);  // nodes are visited by name
  }
  for (DomainView& d : view.domains) {
    std::sort(d.children.begin(), d.children.end(), [&](std::size_t a, std::size_t b) {
      return view.domains[a].name < view.domains[b].name;
    });
  }
}

// Whether every placed pod sits under one domain of label `key`.
bool ShareLabel(const std::vector<const scoring::Node*>& placed, std::string_view key) {
  if (placed.empty()) return false;
  auto first = placed[0]->labels.Get(key);
  if (!first || first->empty()) return false;
  return std::all_of(placed.begin(), placed.end(),
                     [&](const scoring::Node* n) { return n->labels.Get(key) == first; });
}

Want Judge(const JobView& job, const std::vector<const scoring::Node*>& placed,
           const std::string& key, const scoring::Policy& policy) {
  if (key.empty()) return Want::kNone;
  if (job.placed == 0) return Want::kWaiting;
  if (placed.empty()) return Want::kNotMet;
  const int level = policy.LevelIndex(key);
  if (level >= 0) return job.shared_levels > level ? Want::kMet : Want::kNotMet;
  return ShareLabel(placed, key) ? Want::kMet : Want::kNotMet;
}

// Whether the pod's nodeSelector and required node affinity admit the node, as kube-scheduler's
// NodeAffinity reads them (In, NotIn, Exists, DoesNotExist; Gt and Lt are not judged here and
// admit). hyperplace's rules check only the instance type among these labels; a job's pods may
// select their nodes by any label.
bool Selects(const scoring::Pod& pod, const scoring::Node& node) {
  for (const auto& [key, value] : pod.node_selector.entries()) {
    if (node.labels.Get(key) != value) return false;
  }
  if (pod.required_node_terms.empty()) return true;
  return std::any_of(
      pod.required_node_terms.begin(), pod.required_node_terms.end(), [&](const auto& term) {
        return std::all_of(
            term.begin(), term.end(), [&](const scoring::NodeSelectorRequirement& r) {
              auto value = node.labels.Get(r.key);
              const bool listed =
                  value && std::find(r.values.begin(), r.values.end(), *value) != r.values.end();
              if (r.op == "In") return listed;
              if (r.op == "NotIn") return !listed;
              if (r.op == "Exists") return value.has_value();
              if (r.op == "DoesNotExist") return !value.has_value();
              return true;
            });
      });
}

// One domain deeper than the job's shared levels that holds the whole job, if any (JobView).
void FindTighter(JobView& job, const std::vector<const scoring::Pod*>& pods,
                 const std::vector<std::size_t>& on, const Table& t, const View& view,
                 const scoring::Policy& policy) {
  const scoring::Pod& sample = *pods[0];  // pods of one group share a spec
  PodFacts facts = scoring::DerivePodFacts(sample, policy);
  const std::size_t n = t.nodes.size();
  const std::size_t r = sample.requests.size();
  // The cluster with the job's own pods taken off their nodes.
  std::vector<std::int32_t> pods_on = t.pods_on;
  std::vector<std::int64_t> allocatable(n * r), free(n * r);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t k = 0; k < r; ++k) {
      const auto& req = sample.requests[k];
      allocatable[i * r + k] = scoring::AmountOf(t.nodes[i]->allocatable, req.name);
      free[i * r + k] = allocatable[i * r + k] - UsedOf(t.used[i], req.name);
    }
  }
  for (std::size_t p = 0; p < pods.size(); ++p) {
    --pods_on[on[p]];
    for (std::size_t k = 0; k < r; ++k) {
      free[on[p] * r + k] += scoring::AmountOf(pods[p]->requests, sample.requests[k].name);
    }
  }
  std::vector<const NodeFacts*> candidates;
  for (const NodeFacts& f : t.facts) candidates.push_back(&f);
  scoring::Cycle cycle;
  cycle.pod = &facts;
  cycle.candidates = candidates;
  cycle.pods_on_node = pods_on;
  cycle.requests = sample.requests;
  cycle.allocatable = allocatable;
  cycle.free = free;
  const std::int64_t need = static_cast<std::int64_t>(pods.size());
  std::vector<std::int64_t> copies(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    if (Selects(sample, *t.nodes[i]) &&
        scoring::NodeRules(cycle, policy, i) == scoring::Reason::kFits) {
      copies[i] = scoring::CopiesThatFit(cycle, i, need);
    }
  }
  for (int l = static_cast<int>(view.levels.size()) - 1; l >= job.shared_levels; --l) {
    std::map<std::string, std::int64_t> cap;  // by path key: sorted, so ties go to the first name
    for (std::size_t i = 0; i < n; ++i) {
      const auto& path = view.nodes[i].path;
      if (static_cast<int>(path.size()) > l) cap[PathKey(path, l + 1)] += copies[i];
    }
    const std::string* best = nullptr;
    std::int64_t best_cap = std::numeric_limits<std::int64_t>::max();
    for (const auto& [key, c] : cap) {
      if (c >= need && c < best_cap) {
        best = &key;
        best_cap = c;
      }
    }
    if (best == nullptr) continue;
    job.wider_than_needed = true;
    job.tighter_level = l;
    std::string_view key = *best;
    key.remove_suffix(1);
    job.tighter_domain = std::string(key.substr(key.rfind('\n') + 1));
    return;
  }
}

std::vector<JobView> BuildJobs(const ClusterInput& input, const Table& t, const View& view,
                               const scoring::Policy& policy) {
  std::map<std::string, std::vector<const PodInput*>> groups;  // by id: sorted
  for (const PodInput& p : input.pods) {
    if (Finished(p.pod)) continue;
    PodFacts facts = scoring::DerivePodFacts(p.pod, policy);
    if (facts.group.empty()) continue;
    groups[facts.group].push_back(&p);
  }
  std::vector<JobView> jobs;
  for (auto& [id, members] : groups) {
    std::sort(members.begin(), members.end(), [](const auto* a, const auto* b) {
      return a->pod.name != b->pod.name ? a->pod.name < b->pod.name : a->pod.uid < b->pod.uid;
    });
    const scoring::Pod& first = members[0]->pod;
    PodFacts facts = scoring::DerivePodFacts(first, policy);
    JobView job;
    job.id = id;
    job.namespace_name = std::string(first.namespace_name);
    job.total = facts.group_total;
    job.required_level = std::string(facts.required_level);
    job.preferred_level = std::string(facts.preferred_level);
    std::vector<const scoring::Node*> placed;
    std::vector<const scoring::Pod*> placed_pods;
    std::vector<std::size_t> on;
    bool all_known = true;
    for (const PodInput* p : members) {
      JobPod jp{std::string(p->pod.name), std::string(p->pod.node_name), {}};
      if (jp.node.empty()) {
        ++job.pending;
        jp.pending_reason = p->pending_reason;
      } else {
        ++job.placed;
        auto it = t.index.find(p->pod.node_name);
        if (it == t.index.end()) {
          all_known = false;
        } else {
          placed.push_back(t.nodes[it->second]);
          placed_pods.push_back(&p->pod);
          on.push_back(it->second);
        }
      }
      job.pods.push_back(std::move(jp));
    }
    const std::size_t levels = view.levels.size();
    job.spans.assign(levels, 0);
    for (std::size_t l = 0; l < levels; ++l) {
      std::set<std::string> seen;
      for (std::size_t i : on) {
        if (view.nodes[i].path.size() > l) seen.insert(PathKey(view.nodes[i].path, l + 1));
      }
      job.spans[l] = static_cast<int>(seen.size());
    }
    if (!on.empty() && all_known) {
      for (std::size_t l = 0; l < levels; ++l) {
        bool shared = std::all_of(on.begin(), on.end(), [&](std::size_t i) {
          return view.nodes[i].path.size() > l &&
                 view.nodes[i].path[l] == view.nodes[on[0]].path[l];
        });
        if (!shared) break;
        job.shared_levels = static_cast<int>(l + 1);
        job.shared_path.push_back(view.nodes[on[0]].path[l]);
      }
    }
    // A pod on a node the lists lack (deleted since) leaves the job's placement unknown: not met.
    if (!all_known) placed.clear();
    job.required = Judge(job, placed, job.required_level, policy);
    job.preferred = Judge(job, placed, job.preferred_level, policy);
    if (job.pending == 0 && job.placed >= 2 && all_known &&
        (!job.required_level.empty() || !job.preferred_level.empty())) {
      FindTighter(job, placed_pods, on, t, view, policy);
    }
    jobs.push_back(std::move(job));
  }
  return jobs;
}

}  // namespace

void Capacity::Add(const Capacity& other) {
  nodes += other.nodes;
  healthy += other.healthy;
  slots_free = SaturatingAdd(slots_free, other.slots_free);
  slots_total = SaturatingAdd(slots_total, other.slots_total);
  pods += other.pods;
  for (const Accelerator& a : other.accelerators) {
    auto it = std::lower_bound(
        accelerators.begin(), accelerators.end(), a.resource,
        [](const Accelerator& x, const std::string& name) { return x.resource < name; });
    if (it == accelerators.end() || it->resource != a.resource) {
      accelerators.insert(it, a);
    } else {
      it->free = SaturatingAdd(it->free, a.free);
      it->total = SaturatingAdd(it->total, a.total);
    }
  }
}

std::int64_t Capacity::AcceleratorsFree() const {
  std::int64_t sum = 0;
  for (const Accelerator& a : accelerators) sum = SaturatingAdd(sum, a.free);
  return sum;
}

std::int64_t Capacity::AcceleratorsTotal() const {
  std::int64_t sum = 0;
  for (const Accelerator& a : accelerators) sum = SaturatingAdd(sum, a.total);
  return sum;
}

std::string LevelName(const std::string& key) {
  std::size_t dash = key.rfind('-');
  if (dash == std::string::npos || dash + 1 == key.size()) return key;
  for (std::size_t i = dash + 1; i < key.size(); ++i) {
    if (key[i] < '0' || key[i] > '9') return key;
  }
  return "layer " + key.substr(dash + 1);
}

View BuildView(const ClusterInput& input, const scoring::Policy& policy) {
  View view;
  view.levels = policy.topology_levels;
  scoring::DomainTable domains;
  Table t = MakeTable(input, policy, domains);
  // Pod slots through the scoring core's own rule, over every node at once.
  std::vector<const NodeFacts*> candidates;
  for (const NodeFacts& f : t.facts) candidates.push_back(&f);
  scoring::Cycle slots;
  slots.candidates = candidates;
  slots.pods_on_node = t.pods_on;
  for (std::size_t i = 0; i < t.nodes.size(); ++i) {
    view.nodes.push_back(MakeNode(t, i, slots, policy));
  }
  BuildTree(view);
  view.jobs = BuildJobs(input, t, view, policy);
  return view;
}

}  // namespace hyperplace::inspect
