#include "bench/workloads.h"

#include <array>

namespace hyperplace::bench {
namespace {

std::int64_t Since(Clock::time_point t) {
  return std::chrono::duration_cast<Nanos>(Clock::now() - t).count();
}

std::string Excerpt(std::string_view body) {
  std::string out(body.substr(0, 160));
  if (body.size() > 160) out += "...";
  return out;
}

// A failed request: an I/O error, an unexpected status, or (validating) an unexpected body.
bool Failed(ErrorKind k, const HttpReply& reply, std::string_view what, const std::string& error,
            const std::string& check, bool validate, OpResult& r) {
  if (k != ErrorKind::kOk) {
    r.error = k;
    r.detail = std::string(what) + ": " + error;
    return true;
  }
  if (reply.status != 200) {
    r.error = ErrorKind::kHttpStatus;
    r.detail =
        std::string(what) + ": HTTP " + std::to_string(reply.status) + ": " + Excerpt(reply.body);
    return true;
  }
  if (validate && !check.empty()) {
    r.error = ErrorKind::kBadBody;
    r.detail = std::string(what) + ": " + check;
    return true;
  }
  return false;
}

}  // namespace

std::string_view VerbName(ExtenderVerb verb) {
  switch (verb) {
    case ExtenderVerb::kFilter:
      return "filter";
    case ExtenderVerb::kPrioritize:
      return "prioritize";
    case ExtenderVerb::kFilterPrioritize:
      return "filter+prioritize";
  }
  return "?";
}

std::string_view ModeName(NodeMode mode) { return mode == NodeMode::kNames ? "names" : "full"; }

std::shared_ptr<const ExtenderRequests> ExtenderRequests::Make(
    NodeMode mode, const std::vector<GeneratedNode>& nodes, std::vector<std::string> pods) {
  auto r = std::make_shared<ExtenderRequests>();
  r->mode = mode;
  std::size_t bytes = 0;
  for (const GeneratedNode& n : nodes) {
    bytes += (mode == NodeMode::kNames ? n.name.size() + 2 : n.json.size()) + 1;
  }
  r->nodes_part.reserve(bytes);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (i > 0) r->nodes_part += ',';
    if (mode == NodeMode::kNames) {
      r->nodes_part += '"' + nodes[i].name + '"';
    } else {
      r->nodes_part += nodes[i].json;
    }
  }
  // Byte for byte what FullNodesArgs / NodeNamesArgs produce (Go's encoding/json field order).
  for (const std::string& pod : pods) {
    r->prefixes.push_back(mode == NodeMode::kNames
                              ? R"({"Pod":)" + pod + R"(,"Nodes":null,"NodeNames":[)"
                              : R"({"Pod":)" + pod + R"(,"Nodes":{"metadata":{},"items":[)");
  }
  r->suffix = mode == NodeMode::kNames ? "]}" : R"(]},"NodeNames":null})";
  r->pods = std::move(pods);
  return r;
}

std::size_t ExtenderRequests::BodySize(std::size_t pod) const {
  return prefixes[pod].size() + nodes_part.size() + suffix.size();
}

std::optional<std::string_view> KeptNodeNames(std::string_view reply) {
  constexpr std::string_view kKey = R"("NodeNames":[)";
  const std::size_t at = reply.find(kKey);
  if (at == std::string_view::npos) return std::nullopt;
  const std::size_t start = at + kKey.size();
  // Node names never contain ']' (DNS subdomains), so the first one closes the array.
  const std::size_t end = reply.find(']', start);
  if (end == std::string_view::npos) return std::nullopt;
  return reply.substr(start, end - start);
}

std::optional<std::string_view> KeptNodesObject(std::string_view reply) {
  constexpr std::string_view kKey = R"({"Nodes":{)";
  if (!reply.starts_with(kKey)) return std::nullopt;
  // Nodes is the first member and NodeNames the second: the object ends where NodeNames begins.
  const std::size_t end = reply.rfind(R"(,"NodeNames":)");
  if (end == std::string_view::npos || end < kKey.size()) return std::nullopt;
  return reply.substr(kKey.size() - 1, end - (kKey.size() - 1));
}

std::string CheckFilterReply(std::string_view body, NodeMode mode) {
  const std::string_view start =
      mode == NodeMode::kNames ? R"({"Nodes":null,"NodeNames":[)" : R"({"Nodes":{)";
  if (!body.starts_with(start))
    return "not a " + std::string(ModeName(mode)) + "-mode filter result: " + Excerpt(body);
  if (!body.ends_with(R"("Error":""})"))
    return "filter result with an error: " +
           Excerpt(body.substr(body.size() > 300 ? body.size() - 300 : 0));
  return "";
}

std::string CheckPrioritizeReply(std::string_view body) {
  if (!body.starts_with("[") || !body.ends_with("]")) {
    return "not a HostPriorityList: " + Excerpt(body);
  }
  if (body.size() > 2 && body.find(R"("Host":)") == std::string_view::npos) {
    return "HostPriorityList without Host: " + Excerpt(body);
  }
  return "";
}

std::string CheckBindReply(std::string_view body) {
  if (body != R"({"Error":""})") return "bind failed: " + Excerpt(body);
  return "";
}

std::string CheckAdmissionReply(std::string_view body, const AdmissionCase& expected) {
  if (body.find(R"("uid":")" + expected.uid + "\"") == std::string_view::npos) {
    return "response does not echo uid " + expected.uid + ": " + Excerpt(body);
  }
  const bool allowed = body.find(R"("allowed":true)") != std::string_view::npos;
  const bool denied = body.find(R"("allowed":false)") != std::string_view::npos;
  if (allowed == denied) return "response without a decision: " + Excerpt(body);
  if (allowed != expected.expect_allowed) {
    return std::string(allowed ? "allowed" : "denied") + " but expected " +
           (expected.expect_allowed ? "allowed" : "denied") + " (" + expected.what +
           "): " + Excerpt(body);
  }
  return "";
}

// --- extender ---------------------------------------------------------------------------------

class ExtenderWorkload::ExtenderSession final : public Session {
 public:
  ExtenderSession(const ExtenderWorkload& w) : w_(w) {
    const ExtenderRequests& r = *w.requests_;
    for (std::size_t p = 0; p < r.pods.size(); ++p) {
      filter_heads_.push_back(RequestHead("POST", "/filter", w.endpoint_, r.BodySize(p)));
      prioritize_heads_.push_back(RequestHead("POST", "/prioritize", w.endpoint_, r.BodySize(p)));
    }
  }

  OpResult Run(std::uint64_t seq, HttpConnection& conn, Clock::time_point deadline) override {
    const ExtenderRequests& r = *w_.requests_;
    const std::size_t p = static_cast<std::size_t>(seq % r.pods.size());
    const std::array<std::string_view, 3> parts = {r.prefixes[p], r.nodes_part, r.suffix};
    OpResult result;
    result.requests = 0;
    HttpReply reply;
    std::string error;

    if (w_.verb_ == ExtenderVerb::kPrioritize) {
      const Clock::time_point t = Clock::now();
      const ErrorKind k = conn.RoundTrip(prioritize_heads_[p], parts, deadline, reply, &error);
      result.service_ns = Since(t);
      result.requests = 1;
      Failed(k, reply, "prioritize", error,
             w_.validate_ && k == ErrorKind::kOk ? CheckPrioritizeReply(reply.body) : "",
             w_.validate_, result);
      return result;
    }

    Clock::time_point t = Clock::now();
    ErrorKind k = conn.RoundTrip(filter_heads_[p], parts, deadline, reply, &error);
    result.service_ns = Since(t);
    result.requests = 1;
    if (Failed(k, reply, "filter", error,
               w_.validate_ && k == ErrorKind::kOk ? CheckFilterReply(reply.body, r.mode) : "",
               w_.validate_, result)) {
      return result;
    }
    if (w_.verb_ == ExtenderVerb::kFilter) return result;

    // The scheduler's next call: prioritize the nodes the filter kept. Building it is client time,
    // not counted. The floor's reply keeps nothing recognisable: it gets every candidate again.
    std::array<std::string_view, 3> next = parts;
    if (r.mode == NodeMode::kNames) {
      if (std::optional<std::string_view> kept = KeptNodeNames(reply.body)) {
        if (kept->empty()) return result;  // no feasible node: the scheduler stops here
        kept_.assign(*kept);
        next = {r.prefixes[p], kept_, r.suffix};
      }
    } else if (std::optional<std::string_view> kept = KeptNodesObject(reply.body)) {
      if (kept->find(R"("items":[])") != std::string_view::npos) return result;
      kept_.assign(*kept);
      full_prefix_.assign(R"({"Pod":)").append(r.pods[p]).append(R"(,"Nodes":)");
      next = {full_prefix_, kept_, R"(,"NodeNames":null})"};
    }
    std::size_t size = 0;
    for (std::string_view part : next) size += part.size();
    head_ = RequestHead("POST", "/prioritize", w_.endpoint_, size);
    t = Clock::now();
    k = conn.RoundTrip(head_, next, deadline, reply, &error);
    result.service_ns += Since(t);
    result.requests = 2;
    Failed(k, reply, "prioritize", error,
           w_.validate_ && k == ErrorKind::kOk ? CheckPrioritizeReply(reply.body) : "",
           w_.validate_, result);
    return result;
  }

 private:
  const ExtenderWorkload& w_;
  std::vector<std::string> filter_heads_, prioritize_heads_;
  std::string kept_, full_prefix_, head_;
};

ExtenderWorkload::ExtenderWorkload(std::shared_ptr<const ExtenderRequests> requests,
                                   ExtenderVerb verb, Endpoint endpoint, bool validate)
    : requests_(std::move(requests)),
      verb_(verb),
      endpoint_(std::move(endpoint)),
      validate_(validate) {}

std::unique_ptr<Session> ExtenderWorkload::NewSession(int) const {
  return std::make_unique<ExtenderSession>(*this);
}

// --- bind ---------------------------------------------------------------------------------------

class BindWorkload::BindSession final : public Session {
 public:
  explicit BindSession(const BindWorkload& w) : w_(w) {}

  OpResult Run(std::uint64_t seq, HttpConnection& conn, Clock::time_point deadline) override {
    const std::string name = "hpbench-" + w_.run_tag_ + "-" + std::to_string(seq);
    body_ = BindingArgs(name, "hyperpod-ns-team-a", "uid-" + name,
                        w_.node_names_[seq % w_.node_names_.size()]);
    head_ = RequestHead("POST", "/bind", w_.endpoint_, body_.size());
    OpResult result;
    HttpReply reply;
    std::string error;
    const Clock::time_point t = Clock::now();
    const ErrorKind k = conn.RoundTrip(head_, body_, deadline, reply, &error);
    result.service_ns = Since(t);
    Failed(k, reply, "bind", error,
           w_.validate_ && k == ErrorKind::kOk ? CheckBindReply(reply.body) : "", w_.validate_,
           result);
    return result;
  }

 private:
  const BindWorkload& w_;
  std::string body_, head_;
};

BindWorkload::BindWorkload(std::vector<std::string> node_names, std::string run_tag,
                           Endpoint endpoint, bool validate)
    : node_names_(std::move(node_names)),
      run_tag_(std::move(run_tag)),
      endpoint_(std::move(endpoint)),
      validate_(validate) {}

std::unique_ptr<Session> BindWorkload::NewSession(int) const {
  return std::make_unique<BindSession>(*this);
}

// --- webhook ------------------------------------------------------------------------------------

class WebhookWorkload::WebhookSession final : public Session {
 public:
  explicit WebhookSession(const WebhookWorkload& w) : w_(w) {
    for (const AdmissionCase& c : *w.cases_) {
      heads_.push_back(RequestHead("POST", "/mutate?timeout=10s", w.endpoint_, c.body.size()));
    }
  }

  OpResult Run(std::uint64_t seq, HttpConnection& conn, Clock::time_point deadline) override {
    const std::size_t i = static_cast<std::size_t>(seq % w_.cases_->size());
    const AdmissionCase& c = (*w_.cases_)[i];
    OpResult result;
    HttpReply reply;
    std::string error;
    const Clock::time_point t = Clock::now();
    const ErrorKind k = conn.RoundTrip(heads_[i], c.body, deadline, reply, &error);
    result.service_ns = Since(t);
    Failed(k, reply, "mutate", error,
           w_.validate_ && k == ErrorKind::kOk ? CheckAdmissionReply(reply.body, c) : "",
           w_.validate_, result);
    return result;
  }

 private:
  const WebhookWorkload& w_;
  std::vector<std::string> heads_;
};

WebhookWorkload::WebhookWorkload(std::shared_ptr<const std::vector<AdmissionCase>> cases,
                                 Endpoint endpoint, bool validate)
    : cases_(std::move(cases)), endpoint_(std::move(endpoint)), validate_(validate) {}

std::unique_ptr<Session> WebhookWorkload::NewSession(int) const {
  return std::make_unique<WebhookSession>(*this);
}

}  // namespace hyperplace::bench
