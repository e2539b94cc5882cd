#include "extender/extender.h"

#include <deque>
#include <unordered_map>
#include <vector>

#include "common/log.h"
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
  }
  metrics::Family<metrics::Counter>& rejected;
  metrics::Family<metrics::Histogram>& candidates;
  metrics::Counter* by_reason[scoring::kReasonCount] = {};
  metrics::Histogram* filter_candidates;
  metrics::Histogram* prioritize_candidates;
  metrics::Histogram* bind_wait;
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
  std::vector<std::string_view> names;  // candidate names in request order (incl. unknown)
  std::vector<const Snapshot::NodeEntry*> entries;  // names mode: the cache entry per name
  std::vector<std::int32_t> entry_pods;
  std::vector<int> candidate_of;  // request index -> candidate index, -1 if unknown
  std::vector<Reason> reasons;
  std::vector<std::int32_t> scores;
  std::vector<std::string_view> survivors;
  std::vector<std::string_view> survivor_json;
  std::vector<std::int32_t> reply_scores;

  // Approximate bytes held, for deciding whether to give them back.
  std::size_t footprint() const {
    return decoder.footprint() + args.nodes.capacity() * sizeof(scoring::Node) +
           (args.node_json.capacity() + args.node_names.capacity() + names.capacity() +
            survivors.capacity() + survivor_json.capacity()) *
               sizeof(std::string_view) +
           request_facts.capacity() * sizeof(NodeFacts) +
           (candidates.capacity() + entries.capacity() + peers.capacity()) * sizeof(void*) +
           (pods.capacity() + entry_pods.capacity() + candidate_of.capacity() + reasons.capacity() +
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
    names.clear();
    candidate_of.clear();
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
      s.names.push_back(args.nodes[i].name);
      s.candidate_of.push_back(static_cast<int>(i));
      s.candidates.push_back(&s.request_facts[i]);
      s.pods.push_back(snapshot.PodsOn(args.nodes[i].name));
    }
  } else {
    // Names mode: every node comes from the cache.
    s.names.assign(args.node_names.begin(), args.node_names.end());
    snapshot.FindNodes(s.names, s.entries, s.entry_pods);
    s.candidate_of.reserve(s.names.size());
    s.candidates.reserve(s.names.size());
    s.pods.reserve(s.names.size());
    for (std::size_t i = 0; i < s.names.size(); ++i) {
      if (s.entries[i] == nullptr) {
        s.candidate_of.push_back(s.entry_pods[i] == Snapshot::kDuplicate ? kDuplicate : kUnknown);
        continue;
      }
      s.candidate_of.push_back(static_cast<int>(s.candidates.size()));
      s.candidates.push_back(&s.entries[i]->facts);
      s.pods.push_back(s.entry_pods[i]);
    }
  }

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

void Extender::Filter(std::string_view body, net::Response& response) {
  Scratch& s = ThreadScratch();
  s.Reset();
  if (Status st = s.decoder.DecodeArgs(body, s.args); !st.ok()) return BadRequest(st, response);
  if (binds_) {
    // Pods placed by earlier cycles whose binds are still on their way must be counted first.
    auto waited = binds_->WaitForPending(s.args.pod.uid, bind_wait_);
    metrics_->bind_wait->Observe(std::chrono::duration<double>(waited).count());
  }
  std::shared_ptr<const Snapshot> snapshot = state_->Current();
  scoring::PodFacts pod = scoring::DerivePodFacts(s.args.pod, policy_);
  if (groups_) groups_->Remember(s.args.pod.uid, pod.group);
  Assemble(s, pod, *snapshot, policy_);

  s.reasons.resize(s.candidates.size());
  scoring::Cycle cycle{&pod, s.candidates, s.pods, s.peers};
  scoring::Filter(cycle, policy_, s.reasons);
  metrics_->filter_candidates->Observe(static_cast<double>(s.names.size()));

  FilterReply reply;
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
    into.emplace_back(s.names[i], scoring::ReasonText(reason));
  }
  for (int r = 1; r < scoring::kReasonCount; ++r) {
    if (rejected[r] > 0) metrics_->by_reason[r]->Inc(rejected[r]);
  }
  const bool any_fits = !s.survivors.empty() || !s.survivor_json.empty();
  if (binds_ && any_fits) binds_->Filtered(s.args.pod.uid);
  // Answer in the form the request came in: NodeNames for a node-cache-capable scheduler, the
  // request's own node objects otherwise.
  if (s.args.has_node_names) reply.names = &s.survivors;
  if (s.args.has_nodes) reply.nodes_json = &s.survivor_json;
  EncodeFilterResult(reply, response.body);
}

void Extender::Prioritize(std::string_view body, net::Response& response) {
  Scratch& s = ThreadScratch();
  s.Reset();
  if (Status st = s.decoder.DecodeArgs(body, s.args); !st.ok()) return BadRequest(st, response);
  std::shared_ptr<const Snapshot> snapshot = state_->Current();
  scoring::PodFacts pod = scoring::DerivePodFacts(s.args.pod, policy_);
  Assemble(s, pod, *snapshot, policy_);

  s.scores.resize(s.candidates.size());
  scoring::Cycle cycle{&pod, s.candidates, s.pods, s.peers};
  scoring::Score(cycle, policy_, s.scores);
  metrics_->prioritize_candidates->Observe(static_cast<double>(s.names.size()));

  // Unknown and repeated names are left out (prioritize may omit hosts): they get no preference,
  // and the reply stays bounded by the cluster.
  s.survivors.reserve(s.names.size());
  s.reply_scores.reserve(s.names.size());
  for (std::size_t i = 0; i < s.names.size(); ++i) {
    const int c = s.candidate_of[i];
    if (c < 0) continue;
    s.survivors.push_back(s.names[i]);
    s.reply_scores.push_back(s.scores[c]);
  }
  EncodeHostPriorities(s.survivors, s.reply_scores, response.body);
}

}  // namespace hyperplace::extender
