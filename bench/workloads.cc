#include "bench/workloads.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "common/json.h"

namespace hyperplace::bench {
namespace {

using Json = nlohmann::json;

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

namespace {

// A reader of the JSON an extender or webhook writes: enough to take its replies apart without a
// DOM (a 5000-node reply is read in tens of microseconds). Strings are decoded into `scratch`
// only when they hold escapes.
class Reader {
 public:
  explicit Reader(std::string_view s, std::size_t pos = 0) : s_(s), pos_(pos) {}

  std::size_t pos() const { return pos_; }
  bool AtEnd() {
    SkipSpace();
    return pos_ >= s_.size();
  }
  bool Peek(char c) {
    SkipSpace();
    return pos_ < s_.size() && s_[pos_] == c;
  }
  bool Eat(char c) {
    if (!Peek(c)) return false;
    ++pos_;
    return true;
  }
  bool EatLiteral(std::string_view word) {
    SkipSpace();
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  // A JSON string; `out` views the body or `scratch`.
  bool String(std::string_view& out, std::string& scratch) {
    if (!Eat('"')) return false;
    const std::size_t start = pos_;
    // A plain loop: find_first_of with a set calls memchr once per byte.
    std::size_t end = start;
    while (end < s_.size() && s_[end] != '"' && s_[end] != '\\') ++end;
    if (end == s_.size()) return false;
    if (s_[end] == '"') {
      out = s_.substr(start, end - start);
      pos_ = end + 1;
      return true;
    }
    scratch.assign(s_.substr(start, end - start));
    pos_ = end;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      char c = s_[pos_++];
      if (c != '\\') {
        scratch += c;
        continue;
      }
      if (pos_ >= s_.size()) return false;
      c = s_[pos_++];
      switch (c) {
        case 'n':
          scratch += '\n';
          break;
        case 't':
          scratch += '\t';
          break;
        case 'r':
          scratch += '\r';
          break;
        case 'b':
          scratch += '\b';
          break;
        case 'f':
          scratch += '\f';
          break;
        case 'u': {
          unsigned v = 0;
          if (pos_ + 4 > s_.size() ||
              std::from_chars(s_.data() + pos_, s_.data() + pos_ + 4, v, 16).ptr !=
                  s_.data() + pos_ + 4) {
            return false;
          }
          pos_ += 4;
          if (v < 0x80) {
            scratch += static_cast<char>(v);
          } else {
            scratch += '?';  // not in anything hyperplace names
          }
          break;
        }
        default:
          scratch += c;  // \" \\ \/
      }
    }
    if (pos_ >= s_.size()) return false;
    ++pos_;
    out = scratch;
    return true;
  }
  bool Integer(long long& out) {
    SkipSpace();
    const std::size_t start = pos_;
    if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    if (pos_ == start) return false;
    return std::from_chars(s_.data() + start, s_.data() + pos_, out).ec == std::errc();
  }
  // Skips one value of any kind (strings, nesting).
  bool SkipValue() {
    SkipSpace();
    if (pos_ >= s_.size()) return false;
    const char c = s_[pos_];
    if (c == '"') {
      std::string_view ignored;
      std::string scratch;
      return String(ignored, scratch);
    }
    if (c != '{' && c != '[') {
      while (pos_ < s_.size() && s_[pos_] != ',' && s_[pos_] != '}' && s_[pos_] != ']') ++pos_;
      return true;
    }
    int depth = 0;
    while (pos_ < s_.size()) {
      const char d = s_[pos_];
      if (d == '"') {
        std::string_view ignored;
        std::string scratch;
        if (!String(ignored, scratch)) return false;
        continue;
      }
      ++pos_;
      if (d == '{' || d == '[') ++depth;
      if ((d == '}' || d == ']') && --depth == 0) return true;
    }
    return false;
  }

 private:
  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t')) {
      ++pos_;
    }
  }

  std::string_view s_;
  std::size_t pos_;
};

std::string_view NodeName(const ClusterExpectations& e, int node) { return e.name(node); }

// The answer a filter reply gave, by node.
struct FilterAnswer {
  std::vector<int> kept;                                  // request order as replied
  std::vector<std::pair<int, std::string>> failed;        // FailedNodes
  std::vector<std::pair<int, std::string>> unresolvable;  // FailedAndUnresolvableNodes
};

// Reads {"name":"reason",...} (or null) into `out`; names must be nodes of the cluster.
std::string ReadReasonMap(Reader& r, const ClusterExpectations& e, std::string_view member,
                          std::vector<std::pair<int, std::string>>& out) {
  if (r.EatLiteral("null")) return "";
  if (!r.Eat('{')) return std::string(member) + " is not an object";
  std::string scratch, reason_scratch;
  if (r.Eat('}')) return "";
  do {
    std::string_view name, reason;
    if (!r.String(name, scratch) || !r.Eat(':') || !r.String(reason, reason_scratch)) {
      return std::string(member) + " is not a map of node names to reasons";
    }
    const int node = e.NodeIndex(name);
    if (node < 0)
      return std::string(member) + " names a node not in the request: " + std::string(name);
    out.emplace_back(node, std::string(reason));
  } while (r.Eat(','));
  if (!r.Eat('}')) return std::string(member) + " is not closed";
  return "";
}

// Full-node mode: the Nodes items array from `r`, each an object of the request byte for byte.
std::string ReadKeptNodeObjects(Reader& r, std::string_view body, const ClusterExpectations& e,
                                const PodExpectation& x, std::vector<int>& kept) {
  if (!r.Eat('{') || !r.EatLiteral(R"("metadata")") || !r.Eat(':') || !r.SkipValue() ||
      !r.Eat(',') || !r.EatLiteral(R"("items")") || !r.Eat(':') || !r.Eat('[')) {
    return R"(Nodes is not {"metadata":{},"items":[...]})";
  }
  if (r.Eat(']')) return r.Eat('}') ? "" : "Nodes is not closed";
  if (!r.Peek('{')) return "Nodes.items holds something other than node objects";
  std::size_t pos = r.pos();
  constexpr std::string_view kNamePrefix = R"({"metadata":{"name":")";
  while (true) {
    // The expected next node first: in order, the whole check is one memcmp per node.
    const std::size_t k = kept.size();
    int node = -1;
    if (k < x.filter.passed.size()) {
      const std::string& json = e.nodes()[x.filter.passed[k]].json;
      if (body.compare(pos, json.size(), json) == 0) node = x.filter.passed[k];
    }
    if (node < 0) {
      if (body.compare(pos, kNamePrefix.size(), kNamePrefix) != 0) {
        return "Nodes.items[" + std::to_string(k) + "] is not a node object of the request";
      }
      const std::size_t start = pos + kNamePrefix.size();
      const std::size_t end = body.find('"', start);
      const std::string_view name = body.substr(start, end - start);
      node = e.NodeIndex(name);
      if (node < 0) return "Nodes.items names a node not in the request: " + std::string(name);
      const std::string& json = e.nodes()[static_cast<std::size_t>(node)].json;
      if (body.compare(pos, json.size(), json) != 0) {
        return "Nodes.items: node " + std::string(name) + " differs from the request's object";
      }
    }
    kept.push_back(node);
    pos += e.nodes()[static_cast<std::size_t>(node)].json.size();
    Reader next(body, pos);
    if (next.Eat(',')) {
      if (!next.Peek('{')) return "Nodes.items holds something other than node objects";
      pos = next.pos();
      continue;
    }
    if (!next.Eat(']') || !next.Eat('}')) return "Nodes.items is not closed after a node";
    r = next;
    return "";
  }
}

// Reads a whole filter reply: {"Nodes":...,"NodeNames":...,"FailedNodes":...,
// "FailedAndUnresolvableNodes":...,"Error":""}, members in any order.
std::string ReadFilterAnswer(std::string_view body, NodeMode mode, const ClusterExpectations& e,
                             const PodExpectation& x, FilterAnswer& a) {
  Reader r(body);
  if (!r.Eat('{')) return "not a JSON object";
  std::string scratch;
  bool have_kept = false;
  if (r.Eat('}')) return "an empty object";
  do {
    std::string_view key;
    if (!r.String(key, scratch) || !r.Eat(':')) return "malformed member";
    const std::string member(key);
    if (member == "Nodes") {
      if (r.EatLiteral("null")) continue;
      if (mode == NodeMode::kNames) return "Nodes is not null in names mode";
      if (std::string why = ReadKeptNodeObjects(r, body, e, x, a.kept); !why.empty()) return why;
      have_kept = true;
    } else if (member == "NodeNames") {
      if (r.EatLiteral("null")) continue;
      if (mode == NodeMode::kFull) return "NodeNames is not null in full-node mode";
      if (!r.Eat('[')) return "NodeNames is not an array";
      have_kept = true;
      if (r.Eat(']')) continue;
      do {
        std::string_view name;
        if (!r.String(name, scratch)) return "NodeNames holds a non-string";
        const int node = e.NodeIndex(name);
        if (node < 0) return "NodeNames names a node not in the request: " + std::string(name);
        a.kept.push_back(node);
      } while (r.Eat(','));
      if (!r.Eat(']')) return "NodeNames is not closed";
    } else if (member == "FailedNodes") {
      if (std::string why = ReadReasonMap(r, e, member, a.failed); !why.empty()) return why;
    } else if (member == "FailedAndUnresolvableNodes") {
      if (std::string why = ReadReasonMap(r, e, member, a.unresolvable); !why.empty()) return why;
    } else if (member == "Error") {
      std::string_view error;
      if (!r.String(error, scratch)) return "Error is not a string";
      if (!error.empty()) return "Error: " + Excerpt(error);
    } else if (!r.SkipValue()) {
      return "malformed member " + member;
    }
  } while (r.Eat(','));
  if (!r.Eat('}') || !r.AtEnd()) return "trailing bytes after the result";
  if (!have_kept) return "neither Nodes nor NodeNames: every node rejected";
  return "";
}

// The first difference between an answer and the expectation, or "".
std::string CompareFilterAnswer(const ClusterExpectations& e, const PodExpectation& x,
                                const FilterAnswer& a) {
  const std::size_t n = e.nodes().size();
  // What the reply said of each node: 0 nothing, 1 kept, 2 FailedNodes, 3 unresolvable.
  std::vector<std::uint8_t> said(n, 0);
  std::vector<const std::string*> reason(n, nullptr);
  auto note = [&](int node, std::uint8_t what, const std::string* why) -> std::string {
    if (said[node] != 0) return "node " + std::string(NodeName(e, node)) + " is answered twice";
    said[node] = what;
    reason[node] = why;
    return "";
  };
  for (int node : a.kept) {
    if (std::string why = note(node, 1, nullptr); !why.empty()) return why;
  }
  for (const auto& [node, text] : a.failed) {
    if (std::string why = note(node, 2, &text); !why.empty()) return why;
  }
  for (const auto& [node, text] : a.unresolvable) {
    if (std::string why = note(node, 3, &text); !why.empty()) return why;
  }
  const std::string counts = " (kept " + std::to_string(a.kept.size()) + ", expected " +
                             std::to_string(x.filter.passed.size()) + "; FailedNodes " +
                             std::to_string(a.failed.size()) + ", expected " +
                             std::to_string(x.filter.failed) + "; FailedAndUnresolvableNodes " +
                             std::to_string(a.unresolvable.size()) + ", expected " +
                             std::to_string(x.filter.unresolvable) + ")";
  static constexpr const char* kWhere[] = {"nowhere", "kept", "in FailedNodes",
                                           "in FailedAndUnresolvableNodes"};
  for (std::size_t i = 0; i < n; ++i) {
    const NodeVerdict v = x.filter.verdict[i];
    const std::uint8_t want = v == NodeVerdict::kFits ? 1 : IsResolvable(v) ? 2 : 3;
    const std::string node(NodeName(e, static_cast<int>(i)));
    if (said[i] != want) {
      return "node " + node + " is " + kWhere[said[i]] + ", expected " + kWhere[want] + " (" +
             std::string(NodeVerdictName(v)) + ")" + counts;
    }
    if (want != 1 && *reason[i] != x.filter.Reason(static_cast<int>(i))) {
      return "node " + node + ": reason \"" + *reason[i] + "\", expected \"" +
             std::string(x.filter.Reason(static_cast<int>(i))) + "\"" + counts;
    }
  }
  return "";
}

// One {"Host":...,"Score":...} entry in any form; false when it is not one.
bool ReadPriority(Reader& r, std::string_view& host, long long& score, std::string& scratch) {
  if (!r.Eat('{')) return false;
  bool have_host = false, have_score = false;
  do {
    std::string_view key;
    if (!r.String(key, scratch) || !r.Eat(':')) return false;
    if (key == "Host") {
      // Node names hold no escapes; a host that needs them is no node of the request.
      std::string host_scratch;
      if (!r.String(host, host_scratch) || !host_scratch.empty()) return false;
      have_host = true;
    } else if (key == "Score") {
      if (!r.Integer(score)) return false;
      have_score = true;
    } else if (!r.SkipValue()) {
      return false;
    }
  } while (r.Eat(','));
  return r.Eat('}') && have_host && have_score;
}

}  // namespace

std::string CheckFilterReply(std::string_view body, NodeMode mode,
                             const ClusterExpectations* expect, std::size_t pod) {
  const std::string_view start =
      mode == NodeMode::kNames ? R"({"Nodes":null,"NodeNames":[)" : R"({"Nodes":{)";
  if (!body.starts_with(start))
    return "not a " + std::string(ModeName(mode)) + "-mode filter result: " + Excerpt(body);
  if (!body.ends_with(R"("Error":""})"))
    return "filter result with an error: " +
           Excerpt(body.substr(body.size() > 300 ? body.size() - 300 : 0));
  if (expect == nullptr) return "";
  const PodExpectation& x = expect->pod(pod);
  if (mode == NodeMode::kNames && body == x.filter.names_reply) return "";
  if (mode == NodeMode::kFull) {
    // In order and in hyperplace's form: the node objects one memcmp each, then the maps as one.
    Reader r(body, std::string_view(R"({"Nodes":)").size());
    std::vector<int> kept;
    kept.reserve(x.filter.passed.size());
    if (ReadKeptNodeObjects(r, body, *expect, x, kept).empty() && kept == x.filter.passed &&
        body.substr(r.pos() - 2) == x.filter.full_tail) {
      return "";
    }
  }
  FilterAnswer a;
  std::string why = ReadFilterAnswer(body, mode, *expect, x, a);
  if (why.empty()) why = CompareFilterAnswer(*expect, x, a);
  return why.empty() ? "" : "pod " + x.pod + ": " + why;
}

std::string CheckPrioritizeReply(std::string_view body, const ClusterExpectations* expect,
                                 std::size_t pod, Candidates candidates) {
  if (!body.starts_with("[") || !body.ends_with("]")) {
    return "not a HostPriorityList: " + Excerpt(body);
  }
  if (body.size() > 2 && body.find(R"("Host":)") == std::string_view::npos) {
    return "HostPriorityList without Host: " + Excerpt(body);
  }
  if (expect == nullptr) return "";
  const PodExpectation& x = expect->pod(pod);
  const std::size_t n = expect->nodes().size();
  const std::size_t sent = candidates == Candidates::kAll ? n : x.filter.passed.size();
  const TopExpectation& want = candidates == Candidates::kAll ? x.all : x.kept;
  auto sent_at = [&](std::size_t k) {
    return candidates == Candidates::kAll ? static_cast<int>(k) : x.filter.passed[k];
  };
  auto was_sent = [&](int node) {
    return candidates == Candidates::kAll || x.kept_mask[node] != 0;
  };
  auto fail = [&](const std::string& why) { return "pod " + x.pod + ": prioritize: " + why; };

  thread_local std::vector<std::uint8_t> seen;
  seen.assign(n, 0);
  std::vector<int> top;
  long long top_score = -1;
  long long first_shift = 0;
  bool have_shift = false;
  int reordered = -1;  // the first host whose score breaks the expected ranking
  // A host's score as kube-scheduler counts it: top set, and the same ranking (every score off
  // the expected one by the same amount).
  auto account = [&](int node, long long score) {
    if (score > top_score) {
      top_score = score;
      top.clear();
    }
    if (score == top_score) top.push_back(node);
    const long long shift = score - want.score[node];
    if (!have_shift) {
      first_shift = shift;
      have_shift = true;
    }
    if (shift != first_shift && reordered < 0) reordered = node;
  };
  std::size_t count = 0;
  // hyperplace lists hosts in the request's order: the next listed host is at or after this one.
  std::size_t cursor = 0;
  Reader r(body);
  std::string scratch;
  r.Eat('[');
  if (!r.Eat(']')) {
    do {
      std::string_view host;
      long long score = -1;
      int node = -1;
      // The form hyperplace writes, with a host sent at or after the cursor (the ones skipped
      // were left out): a few compares per host (the generic read below costs ~100 ns per entry,
      // as much as the server's scoring). No match ends the fast path for this reply.
      for (std::size_t j = cursor; j < sent && node < 0 && r.Peek('{'); ++j) {
        const std::string_view prefix = expect->priority_prefix(sent_at(j));
        const std::size_t at = r.pos();
        if (at + prefix.size() < body.size() && body.compare(at, prefix.size(), prefix) == 0) {
          const char* digits = body.data() + at + prefix.size();
          const auto [end, ec] = std::from_chars(digits, body.data() + body.size(), score);
          if (ec == std::errc() && end < body.data() + body.size() && *end == '}') {
            host = NodeName(*expect, sent_at(j));
            node = sent_at(j);
            r = Reader(body, static_cast<std::size_t>(end - body.data()) + 1);
            cursor = j + 1;
          }
        }
        if (node < 0 && j + 1 == sent) cursor = sent;
      }
      if (node < 0 && !ReadPriority(r, host, score, scratch)) return fail("malformed entry");
      if (node < 0) node = expect->NodeIndex(host);
      if (node < 0 || !was_sent(node)) return fail("host " + std::string(host) + " was not sent");
      if (seen[node]) return fail("host " + std::string(host) + " is scored twice");
      seen[node] = 1;
      if (score < 0 || score > 10) {
        return fail("host " + std::string(host) + " has score " + std::to_string(score) +
                    ", outside 0..10");
      }
      account(node, score);
      ++count;
    } while (r.Eat(','));
    if (!r.Eat(']') || !r.AtEnd()) return fail("trailing bytes after the list");
  }
  // Prioritize may omit hosts (DESIGN §2.1): kube-scheduler adds nothing for a host left out, so
  // it counts as a score of 0, which must fit the ranking like any other.
  for (std::size_t k = 0; k < sent && count < sent; ++k) {
    if (!seen[sent_at(k)]) account(sent_at(k), 0);
  }
  std::sort(top.begin(), top.end());
  if (top != want.top) {
    std::vector<int> missing, extra;
    std::set_difference(want.top.begin(), want.top.end(), top.begin(), top.end(),
                        std::back_inserter(missing));
    std::set_difference(top.begin(), top.end(), want.top.begin(), want.top.end(),
                        std::back_inserter(extra));
    std::string why = std::to_string(top.size()) + " hosts share the top score " +
                      std::to_string(top_score) + ", expected " + std::to_string(want.top.size()) +
                      " (expected score " + std::to_string(want.top_score) + ")";
    if (!missing.empty()) why += "; missing e.g. " + std::string(NodeName(*expect, missing[0]));
    if (!extra.empty()) why += "; not expected e.g. " + std::string(NodeName(*expect, extra[0]));
    return fail(why);
  }
  if (reordered >= 0) {
    return fail("host " + std::string(NodeName(*expect, reordered)) + " breaks the ranking: " +
                "expected score " + std::to_string(want.score[reordered]) + " shifted by " +
                std::to_string(first_shift) + " like the first host");
  }
  return "";
}

std::string CheckBindReply(std::string_view body) {
  if (body != R"({"Error":""})") return "bind failed: " + Excerpt(body);
  return "";
}

namespace {

// The JSON string value of `"key":` in `body` (the first one), or nullopt.
std::optional<std::string> StringMember(std::string_view body, std::string_view key) {
  const std::string needle = "\"" + std::string(key) + "\":";
  const std::size_t at = body.find(needle);
  if (at == std::string_view::npos) return std::nullopt;
  Reader r(body, at + needle.size());
  std::string_view value;
  std::string scratch;
  if (!r.String(value, scratch)) return std::nullopt;
  return std::string(value);
}

}  // namespace

std::string CheckAdmissionShape(std::string_view body, const AdmissionCase& expected) {
  if (body.find(R"("uid":")" + expected.uid + "\"") == std::string_view::npos) {
    return "response does not echo uid " + expected.uid + ": " + Excerpt(body);
  }
  const bool allowed = body.find(R"("allowed":true)") != std::string_view::npos;
  const bool denied = body.find(R"("allowed":false)") != std::string_view::npos;
  if (allowed == denied) return "response without a decision: " + Excerpt(body);
  return "";
}

std::string CheckAdmissionReply(std::string_view body, const AdmissionCase& expected) {
  if (std::string shape = CheckAdmissionShape(body, expected); !shape.empty()) return shape;
  const bool allowed = body.find(R"("allowed":true)") != std::string_view::npos;
  const bool denied = !allowed;
  const std::string what = " (" + expected.what + ", uid " + expected.uid + ")";
  if (allowed != expected.expect_allowed) {
    return std::string(allowed ? "allowed" : "denied") + " but expected " +
           (expected.expect_allowed ? "allowed" : "denied") + what + ": " + Excerpt(body);
  }
  const std::optional<std::string> patch = StringMember(body, "patch");
  if (denied) {
    if (body.find(R"("code":403)") == std::string_view::npos) {
      return "denial without code 403" + what + ": " + Excerpt(body);
    }
    if (patch) return "denial with a patch" + what;
    const std::string message = StringMember(body, "message").value_or("");
    for (const std::string& part : expected.expect_message_has) {
      if (message.find(part) == std::string::npos) {
        return "denial message does not name \"" + part + "\"" + what + ": " + Excerpt(message);
      }
    }
    return "";
  }

  if (expected.expect_patch.empty()) {
    if (patch) return "unexpected patch" + what + ": " + Excerpt(*patch);
  } else if (!patch) {
    return "no patch, expected " + expected.expect_patch_json + what;
  } else if (*patch != expected.expect_patch_base64) {
    // Not the expected bytes: compare as a set of operations.
    if (StringMember(body, "patchType").value_or("") != "JSONPatch") {
      return "patchType is not JSONPatch" + what;
    }
    const std::optional<std::string> decoded = json::DecodeBase64(*patch);
    if (!decoded) return "patch is not base64" + what;
    const std::string& document = *decoded;
    std::vector<PatchOp> ops;
    try {
      const Json j = Json::parse(document);
      if (!j.is_array()) return "patch is not a JSON array" + what + ": " + Excerpt(document);
      for (const Json& op : j) {
        if (!op.is_object() || !op.contains("op") || !op.contains("path") ||
            !op["op"].is_string() || !op["path"].is_string()) {
          return "patch operation without op or path" + what + ": " + Excerpt(document);
        }
        ops.push_back({op["op"].get<std::string>(), op["path"].get<std::string>(),
                       op.contains("value") ? op["value"].dump() : ""});
      }
    } catch (const Json::exception&) {
      return "patch is not JSON" + what + ": " + Excerpt(document);
    }
    std::sort(ops.begin(), ops.end());
    if (ops != expected.expect_patch) {
      for (const PatchOp& op : expected.expect_patch) {
        if (!std::binary_search(ops.begin(), ops.end(), op)) {
          return "patch lacks {" + op.op + " " + op.path + " " + op.value + "}" + what + ": " +
                 Excerpt(document);
        }
      }
      for (const PatchOp& op : ops) {
        if (!std::binary_search(expected.expect_patch.begin(), expected.expect_patch.end(), op)) {
          return "patch has an unexpected {" + op.op + " " + op.path + " " + op.value + "}" + what;
        }
      }
      return "patch repeats an operation" + what + ": " + Excerpt(document);
    }
  }

  int warnings = 0;
  constexpr std::string_view kWarnings = R"("warnings":[)";
  if (const std::size_t at = body.find(kWarnings); at != std::string_view::npos) {
    Reader r(body, at + kWarnings.size());
    std::string scratch;
    if (!r.Eat(']')) {
      do {
        std::string_view text;
        if (!r.String(text, scratch)) return "warnings is not a list of strings" + what;
        ++warnings;
      } while (r.Eat(','));
    }
  }
  if (warnings != expected.expect_warnings) {
    return std::to_string(warnings) + " warnings, expected " +
           std::to_string(expected.expect_warnings) + what;
  }
  return "";
}

// --- extender ---------------------------------------------------------------------------------

class ExtenderWorkload::ExtenderSession final : public Session {
 public:
  explicit ExtenderSession(const ExtenderWorkload& w) : w_(w) {
    const ExtenderRequests& r = *w.requests_;
    for (std::size_t p = 0; p < r.pods.size(); ++p) {
      std::string filter = "/filter";
      if (w.same_size_reply_ && w.expect_ && p < w.expect_->pod_count()) {
        const auto& expected = w.expect_->pod(p).filter;
        filter += "?reply_bytes=" + std::to_string(r.mode == NodeMode::kNames
                                                       ? expected.names_reply.size()
                                                       : expected.full_reply_bytes);
      }
      filter_heads_.push_back(RequestHead("POST", filter, w.endpoint_, r.BodySize(p)));
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
             w_.validate_ && k == ErrorKind::kOk
                 ? CheckPrioritizeReply(reply.body, w_.expect_.get(), p, Candidates::kAll)
                 : "",
             w_.validate_, result);
      return result;
    }

    Clock::time_point t = Clock::now();
    ErrorKind k = conn.RoundTrip(filter_heads_[p], parts, deadline, reply, &error);
    result.service_ns = Since(t);
    result.requests = 1;
    if (Failed(k, reply, "filter", error,
               w_.validate_ && k == ErrorKind::kOk
                   ? CheckFilterReply(reply.body, r.mode, w_.expect_.get(), p)
                   : "",
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
           w_.validate_ && k == ErrorKind::kOk
               ? CheckPrioritizeReply(reply.body, w_.expect_.get(), p, Candidates::kKept)
               : "",
           w_.validate_, result);
    return result;
  }

 private:
  const ExtenderWorkload& w_;
  std::vector<std::string> filter_heads_, prioritize_heads_;
  std::string kept_, full_prefix_, head_;
};

ExtenderWorkload::ExtenderWorkload(std::shared_ptr<const ExtenderRequests> requests,
                                   ExtenderVerb verb, Endpoint endpoint, bool validate,
                                   std::shared_ptr<const ClusterExpectations> expect,
                                   bool same_size_reply)
    : requests_(std::move(requests)),
      verb_(verb),
      endpoint_(std::move(endpoint)),
      validate_(validate),
      expect_(std::move(expect)),
      same_size_reply_(same_size_reply) {}

std::unique_ptr<Session> ExtenderWorkload::NewSession(int) const {
  return std::make_unique<ExtenderSession>(*this);
}

// --- bind ---------------------------------------------------------------------------------------

class BindWorkload::BindSession final : public Session {
 public:
  explicit BindSession(const BindWorkload& w) : w_(w) {}

  OpResult Run(std::uint64_t seq, HttpConnection& conn, Clock::time_point deadline) override {
    OpResult result;
    if (seq >= w_.targets_->size()) {
      // The harness's own shortfall, not the server's: no request is sent. The connection waits
      // out the operation's deadline, so the failure shows as a few errors, not millions.
      std::this_thread::sleep_until(deadline);
      result.error = ErrorKind::kBadBody;
      result.requests = 0;
      result.detail = "bind: every one of the " + std::to_string(w_.targets_->size()) +
                      " pending pods created for the run is bound already (raise --bind-pods)";
      return result;
    }
    const BindTarget& pod = (*w_.targets_)[seq];
    body_ = BindingArgs(pod.name, pod.namespace_name, pod.uid,
                        w_.node_names_[seq % w_.node_names_.size()]);
    head_ = RequestHead("POST", "/bind", w_.endpoint_, body_.size());
    HttpReply reply;
    std::string error;
    const Clock::time_point t = Clock::now();
    const ErrorKind k = conn.RoundTrip(head_, body_, deadline, reply, &error);
    result.service_ns = Since(t);
    Failed(k, reply, "bind " + pod.namespace_name + "/" + pod.name, error,
           w_.validate_ && k == ErrorKind::kOk ? CheckBindReply(reply.body) : "", w_.validate_,
           result);
    return result;
  }

 private:
  const BindWorkload& w_;
  std::string body_, head_;
};

BindWorkload::BindWorkload(std::shared_ptr<const std::vector<BindTarget>> targets,
                           std::vector<std::string> node_names, Endpoint endpoint, bool validate)
    : targets_(std::move(targets)),
      node_names_(std::move(node_names)),
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
    std::string wrong;
    if (k == ErrorKind::kOk && w_.check_ == Check::kAnswer)
      wrong = CheckAdmissionReply(reply.body, c);
    if (k == ErrorKind::kOk && w_.check_ == Check::kShape)
      wrong = CheckAdmissionShape(reply.body, c);
    Failed(k, reply, "mutate", error, wrong, w_.check_ != Check::kNone, result);
    return result;
  }

 private:
  const WebhookWorkload& w_;
  std::vector<std::string> heads_;
};

WebhookWorkload::WebhookWorkload(std::shared_ptr<const std::vector<AdmissionCase>> cases,
                                 Endpoint endpoint, Check check)
    : cases_(std::move(cases)), endpoint_(std::move(endpoint)), check_(check) {}

std::unique_ptr<Session> WebhookWorkload::NewSession(int) const {
  return std::make_unique<WebhookSession>(*this);
}

}  // namespace hyperplace::bench
