// What the harness sends: kube-scheduler's extender calls and the kube-apiserver's admission
// reviews, each checked against what hyperplace must answer (unless the target is the floor,
// which answers everything with a fixed body).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench/expect.h"
#include "bench/load.h"
#include "bench/payload.h"

namespace hyperplace::bench {

enum class ExtenderVerb { kFilter, kPrioritize, kFilterPrioritize };
enum class NodeMode { kNames, kFull };

std::string_view VerbName(ExtenderVerb verb);  // "filter", "prioritize", "filter+prioritize"
std::string_view ModeName(NodeMode mode);      // "names", "full"

// ExtenderArgs bodies for a set of pending pods over one set of candidate nodes. The node part
// (all names, or all node objects, ≈43 MB for 5000 full nodes) is held once and sent by
// reference with each pod's own prefix.
struct ExtenderRequests {
  NodeMode mode = NodeMode::kNames;
  std::string nodes_part;             // `"n1","n2"` or `{node},{node}`
  std::vector<std::string> pods;      // Pod JSON per pending pod
  std::vector<std::string> prefixes;  // `{"Pod":<pod>,"Nodes":null,"NodeNames":[` (or full form)
  std::string suffix;                 // `]}` or `]},"NodeNames":null}`

  static std::shared_ptr<const ExtenderRequests> Make(NodeMode mode,
                                                      const std::vector<GeneratedNode>& nodes,
                                                      std::vector<std::string> pods);
  std::size_t BodySize(std::size_t pod) const;
};

// kube-scheduler's calls, one pod at a time, cycling through the pods. filter+prioritize is one
// operation: /filter with every candidate, then /prioritize with the candidates the filter kept
// (taken from its reply, as the scheduler does; skipped when none is kept). Its latency is the
// sum of the two round trips.
//
// With `validate`, replies must be the extender's: a filter result with an empty Error, a
// prioritize list; and with `expect` (the pods of `requests` are its pending pods, in order),
// the right answer for that pod and those nodes (CheckFilterReply, CheckPrioritizeReply).
// With `same_size_reply` (the transfer floor), each /filter asks the floor for a reply as large as
// hyperplace's expected one (`/filter?reply_bytes=N`); it needs `expect`.
class ExtenderWorkload final : public Workload {
 public:
  ExtenderWorkload(std::shared_ptr<const ExtenderRequests> requests, ExtenderVerb verb,
                   Endpoint endpoint, bool validate,
                   std::shared_ptr<const ClusterExpectations> expect = nullptr,
                   bool same_size_reply = false);
  std::unique_ptr<Session> NewSession(int connection) const override;

 private:
  class ExtenderSession;
  std::shared_ptr<const ExtenderRequests> requests_;
  ExtenderVerb verb_;
  Endpoint endpoint_;
  bool validate_;
  std::shared_ptr<const ClusterExpectations> expect_;
  bool same_size_reply_;
};

// POST /bind for the next of `targets` each time (pending pods the cache shows, of a scheduler
// hyperplace serves: a made-up pod is refused), onto the nodes in turn. hyperplace performs the
// Binding against its API server and must answer {"Error":""}. Each target is bound once: an
// operation past the last one fails (make the pool larger than a run's binds).
class BindWorkload final : public Workload {
 public:
  BindWorkload(std::shared_ptr<const std::vector<BindTarget>> targets,
               std::vector<std::string> node_names, Endpoint endpoint, bool validate);
  std::unique_ptr<Session> NewSession(int connection) const override;

 private:
  class BindSession;
  std::shared_ptr<const std::vector<BindTarget>> targets_;
  std::vector<std::string> node_names_;
  Endpoint endpoint_;
  bool validate_;
};

// POST /mutate?timeout=10s with the reviews in turn, checked as `check` says: kAnswer, HTTP 200 and
// the answer the case expects (CheckAdmissionReply); kShape, HTTP 200 with the uid echoed and a
// decision (CheckAdmissionShape: a peer that applies none of hyperplace's rules); kNone, nothing
// (the floor's fixed reply).
class WebhookWorkload final : public Workload {
 public:
  enum class Check { kNone, kShape, kAnswer };
  WebhookWorkload(std::shared_ptr<const std::vector<AdmissionCase>> cases, Endpoint endpoint,
                  Check check);
  std::unique_ptr<Session> NewSession(int connection) const override;

 private:
  class WebhookSession;
  std::shared_ptr<const std::vector<AdmissionCase>> cases_;
  Endpoint endpoint_;
  Check check_;
};

// Reply checks, exposed for tests. Each returns an empty string when the body is acceptable,
// else what is wrong: the pod or case, and the first difference found.
//
// Without `expect`, only the shape is checked. With it, the answer for pending pod `pod`:
//   filter: exactly the expected nodes kept (names, or the request's node objects unmodified),
//     every other node in FailedNodes (resolvable) or FailedAndUnresolvableNodes with the
//     expected reason, no node twice or unknown. A reply in exactly the expected bytes passes
//     with one comparison; any other order or form of the same answer passes the set comparison.
//   prioritize (over every node, or over the nodes the filter keeps): every host sent scored
//     exactly once, nothing else, scores 0..10, the hosts with the highest score exactly the
//     expected ones, and every score the expected one shifted by one amount (the same ranking).
enum class Candidates { kAll, kKept };
std::string CheckFilterReply(std::string_view body, NodeMode mode,
                             const ClusterExpectations* expect = nullptr, std::size_t pod = 0);
std::string CheckPrioritizeReply(std::string_view body, const ClusterExpectations* expect = nullptr,
                                 std::size_t pod = 0, Candidates candidates = Candidates::kAll);
std::string CheckBindReply(std::string_view body);
// The uid echoed; the decision; a denial's code 403 and the names its message must give; the
// patch (base64 JSON Patch, compared as a set of operations) and the number of warnings.
std::string CheckAdmissionReply(std::string_view body, const AdmissionCase& expected);
// The uid echoed and one decision, allowed or denied.
std::string CheckAdmissionShape(std::string_view body, const AdmissionCase& expected);

// The candidates a filter reply kept: the contents of its NodeNames array (names mode, `"a","b"`)
// or its Nodes object (full mode, `{"metadata":{},"items":[...]}`). nullopt when the reply has no
// such member (the floor's reply).
std::optional<std::string_view> KeptNodeNames(std::string_view filter_reply);
std::optional<std::string_view> KeptNodesObject(std::string_view filter_reply);

}  // namespace hyperplace::bench
