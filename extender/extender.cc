#include "extender/extender.h"

#include <algorithm>
#include <deque>
#include <span>
#include <unordered_map>
#include <vector>

#include "common/log.h"
#include "common/quantity.h"
#include "extender/codec.h"
#include "scoring/filter.h"
#include "scoring/reasons.h"
#include "scoring/score.h"

namespace hyperplace::extender {

static_assert(net::kBodyPadding >= kInputPadding);

using scoring::NodeFacts;
using scoring::Reason;

struct Extender::Metrics {
  explicit Metrics(metrics::Registry& r)
      : rejected(r.AddCounter("hyperplace_extender_nodes_rejected_total",
                              "Nodes rejected by /filter, by reason.", {"reason"})),
        candidates(r.AddHistogram("hyperplace_extender_candidate_nodes",
                                  "Candidate nodes per filter or prioritize request.", {"verb"},
                                  metrics::ExponentialBuckets(1, 4, 8))) {
    for (int i = 1; i < scoring::kReasonCount; ++i) {
      auto reason = static_cast<Reason>(i);
      by_reason[i] = &rejected.With({scoring::ReasonMetricName(reason)});
    }
    filter_candidates = &candidates.With({"filter"});
    bind_wait = &r.AddHistogram("hyperplace_extender_bind_wait_seconds",
                                "Time /filter waited for binds of earlier pods to arrive.", {},
                                metrics::LatencyBuckets())
                     .Get();
    prioritize_candidates = &candidates.With({"prioritize"});
    auto& lists = r.AddCounter("hyperplace_extender_name_lists_total",
                               "Names-mode candidate lists: recognised (the same bytes as a list "
                               "held, in the same node table) or decoded and looked up anew.",
                               {"result"});
    lists_recognised = &lists.With({"recognised"});
    lists_decoded = &lists.With({"decoded"});
  }
  metrics::Family<metrics::Counter>& rejected;
  metrics::Family<metrics::Histogram>& candidates;
  metrics::Counter* by_reason[scoring::kReasonCount] = {};
  metrics::Histogram* filter_candidates;
  metrics::Histogram* prioritize_candidates;
  metrics::Histogram* bind_wait;
  metrics::Counter* lists_recognised;
  metrics::Counter* lists_decoded;
};

namespace {

// Per-worker scratch, reused across requests.
struct Scratch {
  Decoder decoder;
  ExtenderArgs args;
  scoring::DomainTable domains;  // full-node mode: ids for this request's nodes
  std::vector<NodeFacts> request_facts;
  std::deque<scoring::Node> peer_nodes;  // full-node mode: peers' nodes copied from the cache
  std::deque<NodeFacts> peer_facts;
  std::vector<const NodeFacts*> candidates;
  std::vector<std::int32_t> pods;
  std::vector<const NodeFacts*> peers;
  // Candidate names in request order (incl. unknown): the request's nodes', or the names-mode
  // list's (held by `list`).
  std::span<const std::string_view> names;
  std::vector<std::string_view> node_names;     // full-node mode: the names of args.nodes
  std::shared_ptr<const NamesMemo::List> list;  // names mode
  std::vector<std::int32_t> slots;              // per candidate: its slot in the snapshot, or -1
  std::vector<int> resource_ids;                // per requested resource
  std::vector<std::int64_t> alloc_amounts;      // candidates × requests
  std::vector<std::int64_t> free_amounts;
  std::string reason_text;  // the resource reasons of one filter reply, back to back
  struct ReasonRef {
    std::vector<std::pair<std::string_view, std::string_view>>* list;
    std::size_t index, offset, size;
  };
  std::vector<ReasonRef> resource_reasons;
  // Resource reasons already written into reason_text, by their figures.
  struct ReasonMemo {
    int resource;
    std::int64_t free, allocatable;
    std::size_t at, size;
  };
  static constexpr std::size_t kMaxReasonMemo = 64;
  std::vector<ReasonMemo> reason_memo;
  std::vector<int> candidate_of;  // request index -> candidate index, -1 if unknown
  std::vector<Reason> reasons;
  std::vector<std::int32_t> scores;
  std::vector<std::string_view> survivors;
  std::vector<std::string_view> survivor_json;
  std::vector<std::int32_t> reply_scores;

  // Approximate bytes held, for deciding whether to give them back.
  std::size_t footprint() const {
    return decoder.footprint() + args.nodes.capacity() * sizeof(scoring::Node) +
           (args.node_json.capacity() + args.node_names.capacity() + node_names.capacity() +
            survivors.capacity() + survivor_json.capacity()) *
               sizeof(std::string_view) +
           request_facts.capacity() * sizeof(NodeFacts) +
           (candidates.capacity() + peers.capacity()) * sizeof(void*) +
           (alloc_amounts.capacity() + free_amounts.capacity()) * sizeof(std::int64_t) +
           reason_text.capacity() +
           (pods.capacity() + slots.capacity() + candidate_of.capacity() + reasons.capacity() +
            scores.capacity() + reply_scores.capacity()) *
               sizeof(std::int32_t);
  }

  void Reset() {
    domains = scoring::DomainTable();
    request_facts.clear();
    peer_nodes.clear();
    peer_facts.clear();
    candidates.clear();
    pods.clear();
    peers.clear();
    names = {};
    node_names.clear();
    list.reset();
    candidate_of.clear();
    slots.clear();
    resource_ids.clear();
    alloc_amounts.clear();
    free_amounts.clear();
    reason_text.clear();
    resource_reasons.clear();
    reason_memo.clear();
    reasons.clear();
    scores.clear();
    survivors.clear();
    survivor_json.clear();
    reply_scores.clear();
  }
};

thread_local std::unique_ptr<Scratch> thread_scratch;

Scratch& ThreadScratch() {
  if (!thread_scratch) thread_scratch = std::make_unique<Scratch>();
  return *thread_scratch;
}

// candidate_of for a name that is not a candidate.
constexpr int kUnknown = -1;    // not in the cache
constexpr int kDuplicate = -2;  // repeats an earlier name of the request
// Unknown names listed with their reason in a filter reply; the others are left out of the reply
// (the scheduler drops a node the reply does not pass), so the reply stays bounded by the
// cluster, not by what a caller sends.
constexpr std::size_t kMaxListedUnknown = 100;

void BadRequest(const Status& status, net::Response& response) {
  response.status = 400;
  EncodeFilterError(status.message(), response.body);
}

// The pod's requests against every candidate: allocatable, and free once the pods on the node
// (assumed ones included) have taken theirs; candidate-major, one row of the requests each.
void FillResourceRows(Scratch& s, const scoring::ResourceList& requests, const Snapshot& snapshot) {
  const std::size_t r = requests.size();
  if (r == 0) return;
  for (const scoring::ResourceAmount& req : requests) {
    s.resource_ids.push_back(snapshot.ResourceId(req.name));
  }
  s.alloc_amounts.resize(s.candidates.size() * r);
  s.free_amounts.resize(s.candidates.size() * r);
  if (s.args.has_nodes) {
    // Full-node mode: allocatable from the request's node, by name; usage from the cache.
    for (std::size_t c = 0; c < s.candidates.size(); ++c) {
      for (std::size_t k = 0; k < r; ++k) {
        const std::int64_t alloc =
            scoring::AmountOf(s.candidates[c]->node->allocatable, requests[k].name);
        s.alloc_amounts[c * r + k] = alloc;
        s.free_amounts[c * r + k] = alloc - snapshot.UsedAt(s.slots[c], s.resource_ids[k]);
      }
    }
    return;
  }
  // Names mode: the cached node's allocatable and usage rows, read once per candidate for all
  // its requests (cpu, memory, pods, accelerators are inline ids); a rarer resource by lookup.
  for (std::size_t c = 0; c < s.candidates.size(); ++c) {
    const std::int32_t slot = s.slots[c];
    const InlineAmounts& alloc = snapshot.AllocatableRow(slot);
    const InlineAmounts& used = snapshot.UsedRow(slot);
    for (std::size_t k = 0; k < r; ++k) {
      const int id = s.resource_ids[k];
      std::int64_t amount = 0, taken = 0;  // id < 0: no node has any of it
      if (id >= 0 && id < kInlineResources) {
        amount = alloc[static_cast<std::size_t>(id)];
        taken = used[static_cast<std::size_t>(id)];
      } else if (id >= kInlineResources) {
        amount = snapshot.AllocatableAt(slot, id);
        taken = snapshot.UsedAt(slot, id);
      }
      s.alloc_amounts[c * r + k] = amount;
      s.free_amounts[c * r + k] = amount - taken;
    }
  }
}

// Fills the scratch's candidates, pods and peers from the decoded args and the snapshot.
void Assemble(Scratch& s, const scoring::PodFacts& pod, const Snapshot& snapshot,
              const scoring::Policy& policy) {
  const ExtenderArgs& args = s.args;
  if (args.has_nodes) {
    // Full-node mode: the request carries the nodes; the cache adds occupancy and peers.
    s.request_facts.reserve(args.nodes.size());
    for (const scoring::Node& node : args.nodes) {
      s.request_facts.push_back(scoring::DeriveNodeFacts(node, policy, s.domains));
    }
    for (std::size_t i = 0; i < args.nodes.size(); ++i) {
      s.node_names.push_back(args.nodes[i].name);
      s.candidate_of.push_back(static_cast<int>(i));
      s.candidates.push_back(&s.request_facts[i]);
      // One lookup of the name for both.
      const std::int32_t slot = snapshot.SlotOf(args.nodes[i].name);
      s.pods.push_back(snapshot.PodsAt(slot));
      s.slots.push_back(slot);
    }
    s.names = s.node_names;
  } else {
    // Names mode: every node comes from the cache, each name's slot from the list's resolution.
    const NamesMemo::List& list = *s.list;
    s.names = list.names;
    s.candidate_of.reserve(s.names.size());
    s.candidates.reserve(s.names.size());
    s.pods.reserve(s.names.size());
    s.slots.reserve(s.names.size());
    for (const std::int32_t slot : list.slots) {
      if (slot < 0) {
        s.candidate_of.push_back(slot == Snapshot::kRepeatedName ? kDuplicate : kUnknown);
        continue;
      }
      s.candidate_of.push_back(static_cast<int>(s.candidates.size()));
      s.candidates.push_back(&snapshot.FactsAt(slot));
      s.pods.push_back(snapshot.PodsAt(slot));
      s.slots.push_back(slot);
    }
  }

  FillResourceRows(s, pod.pod->requests, snapshot);

  if (pod.group.empty()) return;
  const auto* placements = snapshot.GroupPlacements(pod.group);
  if (placements == nullptr) return;
  std::unordered_map<std::string_view, const NodeFacts*> in_request;
  if (args.has_nodes) {
    for (std::size_t i = 0; i < args.nodes.size(); ++i) {
      in_request.emplace(args.nodes[i].name, &s.request_facts[i]);
    }
  }
  for (const Snapshot::Placement& p : *placements) {
    if (p.uid == pod.pod->uid) continue;  // the pod itself, when it is being rescheduled
    if (!args.has_nodes) {
      if (const auto* entry = snapshot.FindNode(p.node)) s.peers.push_back(&entry->facts);
      continue;
    }
    if (auto it = in_request.find(p.node); it != in_request.end()) {
      s.peers.push_back(it->second);
    } else if (const auto* entry = snapshot.FindNode(p.node)) {
      // The peer's node is not a candidate (full, filtered by the scheduler): re-derive its facts
      // so its domain ids live in this request's id space.
      const scoring::Node& node = s.peer_nodes.emplace_back(entry->node);
      s.peers.push_back(
          &s.peer_facts.emplace_back(scoring::DeriveNodeFacts(node, policy, s.domains)));
    }
  }
}

scoring::Cycle MakeCycle(const Scratch& s, const scoring::PodFacts& pod, const Snapshot& snapshot) {
  return scoring::Cycle{
      &pod,
      s.candidates,
      s.pods,
      s.peers,
      pod.pod->requests,
      s.alloc_amounts,
      s.free_amounts,
      s.args.has_nodes ? std::span<const std::vector<std::uint32_t>>() : snapshot.DomainRanks()};
}

// "hyperplace: node has 3 of 8 nvidia.com/gpu free" for candidate c: its place in `out`, where
// it is appended unless an earlier node of the request had the same figures (a few distinct
// texts repeat over thousands of nodes).
std::pair<std::size_t, std::size_t> ResourceReason(const scoring::Cycle& cycle, std::size_t c,
                                                   std::vector<Scratch::ReasonMemo>& memo,
                                                   std::string& out) {
  const int k = scoring::FirstShortResource(cycle, c);
  if (k < 0) return {out.size(), 0};  // not reached: the filter found a short resource
  const std::size_t r = cycle.requests.size();
  const std::int64_t free = std::max<std::int64_t>(0, cycle.free[c * r + k]);
  const std::int64_t allocatable = cycle.allocatable[c * r + k];
  for (const Scratch::ReasonMemo& m : memo) {
    if (m.resource == k && m.free == free && m.allocatable == allocatable) return {m.at, m.size};
  }
  const std::string_view name = cycle.requests[k].name;
  const std::size_t at = out.size();
  out += "hyperplace: node has ";
  AppendQuantity(out, free, name);
  out += " of ";
  AppendQuantity(out, allocatable, name);
  out += ' ';
  out += name;
  out += " free";
  // Bounded: beyond it, every node with other figures gets its own text, as before.
  if (memo.size() < Scratch::kMaxReasonMemo)
    memo.push_back({k, free, allocatable, at, out.size() - at});
  return {at, out.size() - at};
}

}  // namespace

Extender::Extender(scoring::Policy policy, std::shared_ptr<const ClusterState> state,
                   metrics::Registry& registry, std::shared_ptr<GroupMemo> groups,
                   std::shared_ptr<BindTracker> binds, std::chrono::milliseconds bind_wait)
    : policy_(std::move(policy)),
      state_(std::move(state)),
      groups_(std::move(groups)),
      binds_(std::move(binds)),
      bind_wait_(bind_wait),
      metrics_(std::make_unique<Metrics>(registry)) {}

Extender::~Extender() = default;

void ReleaseThreadScratch(std::size_t keep_bytes) {
  if (thread_scratch && thread_scratch->footprint() > keep_bytes) thread_scratch.reset();
  Snapshot::ReleaseThreadScratch();
}

void Extender::Register(net::HttpServer& server) {
  server.OnHandlerIdle([keep = server.limits().keep_buffer_bytes] { ReleaseThreadScratch(keep); });
  server.Handle("POST", "/filter",
                [this](const net::Request& req, net::Response& res) { Filter(req.body, res); });
  server.Handle("POST", "/prioritize",
                [this](const net::Request& req, net::Response& res) { Prioritize(req.body, res); });
}

std::shared_ptr<const NamesMemo::List> Extender::ResolveList(const NamesMemo::Held& held,
                                                             const ExtenderArgs& args,
                                                             const Snapshot& snapshot) {
  bool recognised = false;
  auto list = names_memo_.Resolve(held, args, snapshot, &recognised);
  (recognised ? metrics_->lists_recognised : metrics_->lists_decoded)->Increment();
  return list;
}

void Extender::Filter(std::string_view body, net::Response& response) {
  Scratch& s = ThreadScratch();
  s.Reset();
  const NamesMemo::Held held = names_memo_.Lists();
  if (Status st = s.decoder.DecodeArgs(body, s.args, held.known()); !st.ok()) {
    return BadRequest(st, response);
  }
  if (binds_) {
    // Pods placed by earlier cycles whose binds are still on their way must be counted first.
    auto waited = binds_->WaitForPending(s.args.pod.uid, bind_wait_);
    metrics_->bind_wait->Observe(std::chrono::duration<double>(waited).count());
  }
  std::shared_ptr<const Snapshot> snapshot = state_->Current();
  if (!s.args.has_nodes) s.list = ResolveList(held, s.args, *snapshot);
  scoring::PodFacts pod = scoring::DerivePodFacts(s.args.pod, policy_);
  if (groups_) groups_->Remember(s.args.pod.uid, pod.group, OwnRequests(s.args.pod.requests));
  Assemble(s, pod, *snapshot, policy_);

  s.reasons.resize(s.candidates.size());
  const scoring::Cycle cycle = MakeCycle(s, pod, *snapshot);
  scoring::Filter(cycle, policy_, s.reasons);
  metrics_->filter_candidates->Observe(static_cast<double>(s.names.size()));

  FilterReply reply;
  std::size_t resolvable = 0;
  for (Reason r : s.reasons) resolvable += scoring::IsResolvable(r);
  reply.failed.reserve(resolvable);
  reply.unresolvable.reserve(s.reasons.size() - resolvable);
  int rejected[scoring::kReasonCount] = {};
  std::size_t unknown = 0;
  for (std::size_t i = 0; i < s.names.size(); ++i) {
    const int c = s.candidate_of[i];
    if (c == kDuplicate) continue;
    if (c == kUnknown && ++unknown > kMaxListedUnknown) {
      ++rejected[static_cast<int>(Reason::kUnknownNode)];
      continue;
    }
    const Reason reason = c < 0 ? Reason::kUnknownNode : s.reasons[c];
    if (reason == Reason::kFits) {
      if (s.args.has_node_names) s.survivors.push_back(s.names[i]);
      if (s.args.has_nodes) s.survivor_json.push_back(s.args.node_json[i]);
      continue;
    }
    ++rejected[static_cast<int>(reason)];
    auto& into = scoring::IsResolvable(reason) ? reply.failed : reply.unresolvable;
    if (reason == Reason::kInsufficientResource) {
      // Its text is per node: written into one buffer, viewed once the buffer stops growing.
      const auto [at, size] =
          ResourceReason(cycle, static_cast<std::size_t>(c), s.reason_memo, s.reason_text);
      into.emplace_back(s.names[i], std::string_view(nullptr, 0));
      s.resource_reasons.push_back({&into, into.size() - 1, at, size});
      continue;
    }
    into.emplace_back(s.names[i], scoring::ReasonText(reason));
  }
  for (const auto& ref : s.resource_reasons) {
    (*ref.list)[ref.index].second = std::string_view(s.reason_text).substr(ref.offset, ref.size);
  }
  for (int r = 1; r < scoring::kReasonCount; ++r) {
    if (rejected[r] > 0) metrics_->by_reason[r]->Increment(rejected[r]);
  }
  const bool any_fits = !s.survivors.empty() || !s.survivor_json.empty();
  if (binds_ && any_fits) binds_->Filtered(s.args.pod.uid);
  if (verdicts_) {
    if (any_fits) {
      verdicts_->Fits(s.args.pod.uid);
    } else {
      verdicts_->Rejected(s.args.pod.uid, RejectionSummary(rejected, s.names.size()));
    }
  }
  // Answer in the form the request came in: NodeNames for a node-cache-capable scheduler, the
  // request's own node objects otherwise.
  if (s.args.has_node_names) reply.names = &s.survivors;
  if (s.args.has_nodes) reply.nodes_json = &s.survivor_json;
  reply.plain_names = s.list != nullptr && s.list->plain;  // names mode: every name is the list's
  EncodeFilterResult(reply, response.body);
  s.list.reset();  // a list the memo drops is freed now, not at this thread's next request
}

void Extender::Prioritize(std::string_view body, net::Response& response) {
  Scratch& s = ThreadScratch();
  s.Reset();
  const NamesMemo::Held held = names_memo_.Lists();
  if (Status st = s.decoder.DecodeArgs(body, s.args, held.known()); !st.ok()) {
    return BadRequest(st, response);
  }
  std::shared_ptr<const Snapshot> snapshot = state_->Current();
  if (!s.args.has_nodes) s.list = ResolveList(held, s.args, *snapshot);
  scoring::PodFacts pod = scoring::DerivePodFacts(s.args.pod, policy_);
  Assemble(s, pod, *snapshot, policy_);

  s.scores.resize(s.candidates.size());
  const scoring::Cycle cycle = MakeCycle(s, pod, *snapshot);
  scoring::Score(cycle, policy_, s.scores);
  metrics_->prioritize_candidates->Observe(static_cast<double>(s.names.size()));

  // Prioritize may omit hosts (DESIGN §2.1): kube-scheduler adds nothing for a host left out,
  // exactly what a score of 0 adds. So unknown and repeated names are left out (no preference,
  // and the reply stays bounded by the cluster), and so are the candidates scored 0, the worst
  // (score.h stretches the worst to 0 whenever the candidates differ): beside a placed gang or
  // after a few pods, most of the cluster. kube-scheduler then decodes tens of hosts, not
  // thousands, for the same totals. (It draws a random tie-breaker only for the hosts listed:
  // among top-scoring hosts that all scored 0 here, its pick is its heap's order, not a draw.)
  s.survivors.reserve(s.names.size());
  s.reply_scores.reserve(s.names.size());
  for (std::size_t i = 0; i < s.names.size(); ++i) {
    const int c = s.candidate_of[i];
    if (c < 0 || s.scores[c] == 0) continue;
    s.survivors.push_back(s.names[i]);
    s.reply_scores.push_back(s.scores[c]);
  }
  EncodeHostPriorities(s.survivors, s.reply_scores, response.body,
                       s.list != nullptr && s.list->plain);
  s.list.reset();
}

}  // namespace hyperplace::extender
