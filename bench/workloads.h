// What the harness sends: kube-scheduler's extender calls and the kube-apiserver's admission
// reviews, each checked against what hyperplace must answer (unless the target is the floor,
// which answers everything with a fixed body).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

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
// sum of the two round trips. With `validate`, replies must be the extender's: a filter result
// with an empty Error, a prioritize list.
class ExtenderWorkload final : public Workload {
 public:
  ExtenderWorkload(std::shared_ptr<const ExtenderRequests> requests, ExtenderVerb verb,
                   Endpoint endpoint, bool validate);
  std::unique_ptr<Session> NewSession(int connection) const override;

 private:
  class ExtenderSession;
  std::shared_ptr<const ExtenderRequests> requests_;
  ExtenderVerb verb_;
  Endpoint endpoint_;
  bool validate_;
};

// POST /bind for a new pod each time (names unique per run), onto the nodes in turn. hyperplace
// performs the Binding against its API server and must answer {"Error":""}.
class BindWorkload final : public Workload {
 public:
  BindWorkload(std::vector<std::string> node_names, std::string run_tag, Endpoint endpoint,
               bool validate);
  std::unique_ptr<Session> NewSession(int connection) const override;

 private:
  class BindSession;
  std::vector<std::string> node_names_;
  std::string run_tag_;
  Endpoint endpoint_;
  bool validate_;
};

// POST /mutate?timeout=10s with the reviews in turn. With `validate`: HTTP 200, the request's uid
// echoed, and the decision (allowed true/false) the case expects.
class WebhookWorkload final : public Workload {
 public:
  WebhookWorkload(std::shared_ptr<const std::vector<AdmissionCase>> cases, Endpoint endpoint,
                  bool validate);
  std::unique_ptr<Session> NewSession(int connection) const override;

 private:
  class WebhookSession;
  std::shared_ptr<const std::vector<AdmissionCase>> cases_;
  Endpoint endpoint_;
  bool validate_;
};

// Reply checks, exposed for tests. Each returns an empty string when the body is acceptable,
// else what is wrong.
std::string CheckFilterReply(std::string_view body, NodeMode mode);
std::string CheckPrioritizeReply(std::string_view body);
std::string CheckBindReply(std::string_view body);
std::string CheckAdmissionReply(std::string_view body, const AdmissionCase& expected);

// The candidates a filter reply kept: the contents of its NodeNames array (names mode, `"a","b"`)
// or its Nodes object (full mode, `{"metadata":{},"items":[...]}`). nullopt when the reply has no
// such member (the floor's reply).
std::optional<std::string_view> KeptNodeNames(std::string_view filter_reply);
std::optional<std::string_view> KeptNodesObject(std::string_view filter_reply);

}  // namespace hyperplace::bench
