#include "bench/workloads.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>

#include "bench/fake_cluster.h"
#include "bench/http_client.h"
#include "bench/report.h"
#include "kube/testing/fake_apiserver.h"
#include "net/http_server.h"

namespace hyperplace::bench {
namespace {

std::string Join(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out += p;
  return out;
}

TEST(ExtenderRequestsTest, PartsAreByteForByteTheSchedulersArgs) {
  ClusterSpec spec;
  spec.nodes = 40;
  const auto nodes = GenerateNodes(spec);
  const std::string pod = GeneratePodJson(1, 3, 8, true);
  auto names = ExtenderRequests::Make(NodeMode::kNames, nodes, {pod});
  EXPECT_EQ(Join({names->prefixes[0], names->nodes_part, names->suffix}),
            NodeNamesArgs(pod, nodes));
  EXPECT_EQ(names->BodySize(0), NodeNamesArgs(pod, nodes).size());
  auto full = ExtenderRequests::Make(NodeMode::kFull, nodes, {pod});
  EXPECT_EQ(Join({full->prefixes[0], full->nodes_part, full->suffix}), FullNodesArgs(pod, nodes));
}

TEST(ReplyChecksTest, FilterPrioritizeBindAndAdmission) {
  EXPECT_EQ(
      CheckFilterReply(
          R"({"Nodes":null,"NodeNames":["a"],"FailedNodes":{},"FailedAndUnresolvableNodes":{},"Error":""})",
          NodeMode::kNames),
      "");
  EXPECT_NE(CheckFilterReply(R"({"Nodes":null,"NodeNames":null,"Error":"boom"})", NodeMode::kNames),
            "");
  EXPECT_NE(CheckFilterReply(R"({"floor":true})", NodeMode::kNames), "");
  EXPECT_EQ(CheckFilterReply(R"({"Nodes":{"metadata":{},"items":[]},"NodeNames":null,"Error":""})",
                             NodeMode::kFull),
            "");
  EXPECT_EQ(CheckPrioritizeReply(R"([{"Host":"a","Score":10}])"), "");
  EXPECT_EQ(CheckPrioritizeReply("[]"), "");
  EXPECT_NE(CheckPrioritizeReply(R"({"Error":"x"})"), "");
  EXPECT_EQ(CheckBindReply(R"({"Error":""})"), "");
  EXPECT_NE(CheckBindReply(R"({"Error":"refused"})"), "");

  AdmissionCase c;
  c.uid = "u-1";
  c.expect_allowed = false;
  c.what = "deny: other team";
  const std::string denied =
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u-1","allowed":false,"status":{"code":403}}})";
  EXPECT_EQ(CheckAdmissionReply(denied, c), "");
  c.expect_allowed = true;
  EXPECT_NE(CheckAdmissionReply(denied, c).find("expected allowed"), std::string::npos);
  // A peer that applies none of hyperplace's rules is checked for its uid and a decision only.
  EXPECT_EQ(CheckAdmissionShape(denied, c), "");
  EXPECT_NE(CheckAdmissionShape(R"({"response":{"uid":"u-1"}})", c).find("decision"),
            std::string::npos);
  c.uid = "u-2";
  EXPECT_NE(CheckAdmissionReply(denied, c).find("uid"), std::string::npos);
  EXPECT_NE(CheckAdmissionShape(denied, c).find("uid"), std::string::npos);
}

TEST(ReplyChecksTest, KeptNodesAreTakenFromTheFilterReply) {
  auto names = KeptNodeNames(
      R"({"Nodes":null,"NodeNames":["n1","n2"],"FailedNodes":{"n3":"x"},"Error":""})");
  ASSERT_TRUE(names.has_value());
  EXPECT_EQ(*names, R"("n1","n2")");
  EXPECT_EQ(KeptNodeNames(R"({"Nodes":null,"NodeNames":[],"Error":""})").value(), "");
  EXPECT_FALSE(KeptNodeNames(R"({"floor":true})").has_value());

  auto object = KeptNodesObject(
      R"({"Nodes":{"metadata":{},"items":[{"metadata":{"name":"n1"}}]},"NodeNames":null,"FailedNodes":{},"Error":""})");
  ASSERT_TRUE(object.has_value());
  EXPECT_EQ(*object, R"({"metadata":{},"items":[{"metadata":{"name":"n1"}}]})");
  EXPECT_FALSE(KeptNodesObject(R"({"floor":true})").has_value());
}

// --- answer checks ---------------------------------------------------------------------------

// A generated cluster of 64 nodes (4 racks) and its expected answers, with node 5 filled to its
// maximum so one node is rejected as resolvable.
class AnswerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterSpec spec;
    spec.nodes = 64;
    spec.unhealthy_fraction = 0.05;
    spec.tainted_fraction = 0.05;
    spec.non_ml_fraction = 0.05;
    nodes_ = GenerateNodes(spec);
    SchedulingSpec sched;
    sched.total_pods = 64 * 30;
    pending_ = GeneratePendingPods(sched, nodes_);
    occupancy_ = ModelOccupancy(sched, nodes_);
    occupancy_.pods_on_node[5] = nodes_[5].max_pods;
    nodes_[5].unhealthy = nodes_[5].health_taint = false;
    nodes_[5].ml_type = true;
    expect_ = ClusterExpectations::Make(nodes_, pending_, occupancy_);
    for (std::size_t p = 0; p < pending_.size(); ++p) {
      if (pending_[p].placed_peers > 0 && pending_[p].topology == TopologyKind::kRequired) {
        gang_ = p;
      }
      // The CPU pod: it fits most nodes.
      if (pending_[p].group_size == 0 && pending_[p].requests.Get("nvidia.com/gpu") == 0) {
        bare_ = p;
      }
    }
  }

  // What the reply says, node by node, in the order to write it.
  struct Answer {
    std::vector<int> kept;
    std::vector<std::pair<int, std::string>> failed, unresolvable;
  };
  Answer Expected(std::size_t pod) const {
    Answer a;
    const FilterExpectation& f = expect_->pod(pod).filter;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      const NodeVerdict v = f.verdict[i];
      const int n = static_cast<int>(i);
      if (v == NodeVerdict::kFits) {
        a.kept.push_back(n);
      } else {
        (IsResolvable(v) ? a.failed : a.unresolvable).emplace_back(n, f.Reason(n));
      }
    }
    return a;
  }
  static void Reverse(Answer& a) {
    std::reverse(a.kept.begin(), a.kept.end());
    std::reverse(a.failed.begin(), a.failed.end());
    std::reverse(a.unresolvable.begin(), a.unresolvable.end());
  }
  std::string Maps(const Answer& a) const {
    auto map = [&](const std::vector<std::pair<int, std::string>>& entries) {
      std::string out = "{";
      for (const auto& [node, reason] : entries) {
        if (out.size() > 1) out += ',';
        out += "\"" + nodes_[node].name + "\":\"" + reason + "\"";
      }
      return out + "}";
    };
    return R"("FailedNodes":)" + map(a.failed) + R"(,"FailedAndUnresolvableNodes":)" +
           map(a.unresolvable) + R"(,"Error":""})";
  }
  std::string NamesReply(const Answer& a) const {
    std::string out = R"({"Nodes":null,"NodeNames":[)";
    for (std::size_t k = 0; k < a.kept.size(); ++k) {
      out += (k ? "," : "") + std::string("\"") + nodes_[a.kept[k]].name + "\"";
    }
    return out + "]," + Maps(a);
  }
  std::string FullReply(const Answer& a) const {
    std::string out = R"({"Nodes":{"metadata":{},"items":[)";
    for (std::size_t k = 0; k < a.kept.size(); ++k) out += (k ? "," : "") + nodes_[a.kept[k]].json;
    return out + R"(]},"NodeNames":null,)" + Maps(a);
  }
  std::string Filter(const Answer& a, std::size_t pod, NodeMode mode = NodeMode::kNames) const {
    return CheckFilterReply(mode == NodeMode::kNames ? NamesReply(a) : FullReply(a), mode,
                            expect_.get(), pod);
  }

  // A HostPriorityList with the model's scores for `candidates`, changed by `edit`.
  std::string Priorities(
      std::size_t pod, const std::vector<int>& candidates,
      const std::function<void(std::vector<std::pair<int, int>>&)>& edit = nullptr) const {
    const std::vector<int> scores =
        ExpectedScores(nodes_, pending_[pod], occupancy_, occupancy_.peers[pod], candidates);
    std::vector<std::pair<int, int>> entries;
    for (std::size_t k = 0; k < candidates.size(); ++k)
      entries.emplace_back(candidates[k], scores[k]);
    if (edit) edit(entries);
    std::string out = "[";
    for (const auto& [node, score] : entries) {
      if (out.size() > 1) out += ',';
      out += R"({"Host":")" + nodes_[node].name + R"(","Score":)" + std::to_string(score) + "}";
    }
    return out + "]";
  }
  std::vector<int> All() const {
    std::vector<int> all(nodes_.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
    return all;
  }

  std::vector<GeneratedNode> nodes_;
  std::vector<PendingPod> pending_;
  Occupancy occupancy_;
  std::shared_ptr<const ClusterExpectations> expect_;
  std::size_t gang_ = 0, bare_ = 0;
};

TEST_F(AnswerTest, TheRightFilterAnswerPassesInAnyOrderAndBothModes) {
  for (std::size_t pod : {gang_, bare_}) {
    EXPECT_EQ(CheckFilterReply(expect_->pod(pod).filter.names_reply, NodeMode::kNames,
                               expect_.get(), pod),
              "");
    Answer a = Expected(pod);
    EXPECT_EQ(Filter(a, pod), "");
    EXPECT_EQ(Filter(a, pod, NodeMode::kFull), "");
    Reverse(a);
    EXPECT_EQ(Filter(a, pod), "");
    EXPECT_EQ(Filter(a, pod, NodeMode::kFull), "");
  }
  // The gang keeps only its peers' rack; node 5 is full (resolvable).
  EXPECT_LE(expect_->pod(gang_).filter.passed.size(), 16u);
  EXPECT_EQ(expect_->pod(bare_).filter.verdict[5], NodeVerdict::kMaxPodsReached);
  EXPECT_GE(expect_->pod(bare_).filter.failed, 1);
  // Some pod is rejected for resources somewhere, with the node's figures.
  bool resource_reason = false;
  for (std::size_t p = 0; p < pending_.size(); ++p) {
    const FilterExpectation& f = expect_->pod(p).filter;
    for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) {
      if (f.verdict[i] == NodeVerdict::kInsufficientResource) {
        resource_reason = true;
        EXPECT_EQ(f.Reason(i).rfind("hyperplace: node has ", 0), 0u) << f.Reason(i);
      }
    }
  }
  EXPECT_TRUE(resource_reason);
}

TEST_F(AnswerTest, AMissingNodeFails) {
  Answer a = Expected(bare_);
  const int dropped = a.kept[3];
  a.kept.erase(a.kept.begin() + 3);
  const std::string why = Filter(a, bare_);
  EXPECT_NE(why.find("node " + nodes_[dropped].name + " is nowhere, expected kept"),
            std::string::npos)
      << why;
  EXPECT_NE(why.find(expect_->pod(bare_).pod), std::string::npos) << why;  // names the pod
  EXPECT_NE(Filter(a, bare_, NodeMode::kFull), "");
}

TEST_F(AnswerTest, AnExtraNodeFails) {
  Answer a = Expected(gang_);
  ASSERT_FALSE(a.unresolvable.empty());
  const int extra = a.unresolvable.back().first;
  a.unresolvable.pop_back();
  a.kept.push_back(extra);
  std::string why = Filter(a, gang_);
  EXPECT_NE(why.find("node " + nodes_[extra].name +
                     " is kept, expected in "
                     "FailedAndUnresolvableNodes"),
            std::string::npos)
      << why;
  EXPECT_NE(Filter(a, gang_, NodeMode::kFull), "");
}

TEST_F(AnswerTest, AWrongCountOrReasonFails) {
  // The resolvable rejections (node 5 is full) reported as unresolvable: FailedNodes 0 of N.
  Answer a = Expected(bare_);
  ASSERT_FALSE(a.failed.empty());
  const std::size_t failed = a.failed.size();
  a.unresolvable.insert(a.unresolvable.end(), a.failed.begin(), a.failed.end());
  a.failed.clear();
  std::string why = Filter(a, bare_);
  EXPECT_NE(why.find("FailedNodes 0, expected " + std::to_string(failed)), std::string::npos)
      << why;
  // A resource rejection with other figures than the node's.
  a = Expected(gang_);
  bool changed = false;
  for (auto& [node, reason] : a.failed) {
    if (expect_->pod(gang_).filter.verdict[node] == NodeVerdict::kInsufficientResource) {
      reason = "hyperplace: node has 1 of 8 nvidia.com/gpu free";
      changed = reason != expect_->pod(gang_).filter.Reason(node);
      if (changed) break;
    }
  }
  ASSERT_TRUE(changed);
  why = Filter(a, gang_);
  EXPECT_NE(why.find("reason \"hyperplace: node has 1 of 8 nvidia.com/gpu free\", expected "
                     "\"hyperplace: node has "),
            std::string::npos)
      << why;

  // The right maps with another reason text.
  a = Expected(bare_);
  ASSERT_FALSE(a.unresolvable.empty());
  a.unresolvable[0].second = "hyperplace: something else";
  why = Filter(a, bare_);
  EXPECT_NE(why.find("reason \"hyperplace: something else\""), std::string::npos) << why;

  // One node in two maps, or named twice.
  a = Expected(bare_);
  a.failed.push_back(a.unresolvable[0]);
  EXPECT_NE(Filter(a, bare_).find("answered twice"), std::string::npos);
  a = Expected(bare_);
  a.kept.push_back(a.kept[0]);
  EXPECT_NE(Filter(a, bare_).find("answered twice"), std::string::npos);
}

TEST_F(AnswerTest, TheNameIndexBugFails) {
  // What names mode answered before the FindMany fix: every name but the last 16 "not in the
  // extender's cache".
  Answer a;
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) {
    if (i < static_cast<int>(nodes_.size()) - 16) {
      a.unresolvable.emplace_back(i, "hyperplace: node is not in the extender's cache");
    } else if (expect_->pod(bare_).filter.verdict[i] == NodeVerdict::kFits) {
      a.kept.push_back(i);
    } else {
      const NodeVerdict v = expect_->pod(bare_).filter.verdict[i];
      (IsResolvable(v) ? a.failed : a.unresolvable)
          .emplace_back(i, expect_->pod(bare_).filter.Reason(i));
    }
  }
  EXPECT_NE(Filter(a, bare_), "");
  // And the shape-only check (the bench before) accepted it.
  EXPECT_EQ(CheckFilterReply(NamesReply(a), NodeMode::kNames), "");
}

TEST_F(AnswerTest, FullModeNeedsTheRequestsNodeObjectsUnmodified) {
  Answer a = Expected(bare_);
  std::string reply = FullReply(a);
  const std::string& first = nodes_[a.kept[0]].json;
  const std::size_t at = reply.find(first) + first.size() / 2;
  reply[at] = reply[at] == 'x' ? 'y' : 'x';
  const std::string why = CheckFilterReply(reply, NodeMode::kFull, expect_.get(), bare_);
  EXPECT_NE(why.find("differs from the request's object"), std::string::npos) << why;
  // An unknown node name.
  EXPECT_NE(
      CheckFilterReply(
          R"({"Nodes":{"metadata":{},"items":[{"metadata":{"name":"ghost"}}]},"NodeNames":null,"FailedNodes":{},"FailedAndUnresolvableNodes":{},"Error":""})",
          NodeMode::kFull, expect_.get(), bare_)
          .find("ghost"),
      std::string::npos);
}

TEST_F(AnswerTest, TheRightPrioritizeAnswerPasses) {
  for (std::size_t pod : {gang_, bare_}) {
    EXPECT_EQ(CheckPrioritizeReply(Priorities(pod, All()), expect_.get(), pod, Candidates::kAll),
              "");
    const std::vector<int>& kept = expect_->pod(pod).filter.passed;
    EXPECT_EQ(CheckPrioritizeReply(Priorities(pod, kept), expect_.get(), pod, Candidates::kKept),
              "");
    // Only the ranking matters: every score shifted by one amount, in any order, is the same
    // answer.
    EXPECT_EQ(CheckPrioritizeReply(Priorities(pod, All(),
                                              [&](auto& entries) {
                                                int low = 10, high = 0;
                                                for (auto& e : entries) {
                                                  low = std::min(low, e.second);
                                                  high = std::max(high, e.second);
                                                }
                                                const int shift = high < 10 ? 1 : low > 0 ? -1 : 0;
                                                for (auto& e : entries) e.second += shift;
                                                std::reverse(entries.begin(), entries.end());
                                              }),
                                   expect_.get(), pod, Candidates::kAll),
              "");
  }
}

// What hyperplace sends: the hosts scored 0 (the lowest, once stretched) left out.
TEST_F(AnswerTest, HostsLeftOutCountAsZero) {
  for (std::size_t pod : {gang_, bare_}) {
    const PodExpectation& x = expect_->pod(pod);
    const int lowest = *std::min_element(x.all.score.begin(), x.all.score.end());
    ASSERT_EQ(lowest, 0);
    std::size_t left_out = 0;
    EXPECT_EQ(CheckPrioritizeReply(Priorities(pod, All(),
                                              [&](auto& entries) {
                                                std::erase_if(entries, [&](auto& e) {
                                                  return e.second == 0 && ++left_out;
                                                });
                                              }),
                                   expect_.get(), pod, Candidates::kAll),
              "");
    EXPECT_GT(left_out, 0u);
    // Everything left out is right only when every host is expected equal.
    EXPECT_NE(CheckPrioritizeReply("[]", expect_.get(), pod, Candidates::kAll), "");
  }
}

TEST_F(AnswerTest, AnotherRankingBelowTheTopFails) {
  // Two hosts below the top with different scores swap them: the top set is unchanged, the
  // ranking is not.
  const PodExpectation& x = expect_->pod(bare_);
  int a = -1, b = -1;
  for (int i : All()) {
    if (x.all.score[i] == x.all.top_score) continue;
    if (a < 0) {
      a = i;
    } else if (b < 0 && x.all.score[i] != x.all.score[a]) {
      b = i;
    }
  }
  ASSERT_GE(b, 0);
  const std::string why = CheckPrioritizeReply(
      Priorities(bare_, All(), [&](auto& e) { std::swap(e[a].second, e[b].second); }),
      expect_.get(), bare_, Candidates::kAll);
  EXPECT_NE(why.find("breaks the ranking"), std::string::npos) << why;
}

TEST_F(AnswerTest, AWrongTopHostFails) {
  const PodExpectation& x = expect_->pod(gang_);
  int outsider = -1;  // a host sent but not expected at the top
  for (int i : All()) {
    if (!std::binary_search(x.all.top.begin(), x.all.top.end(), i)) outsider = i;
  }
  ASSERT_GE(outsider, 0);
  std::string why = CheckPrioritizeReply(
      Priorities(gang_, All(), [&](auto& entries) { entries[outsider].second = x.all.top_score; }),
      expect_.get(), gang_, Candidates::kAll);
  EXPECT_NE(why.find("not expected e.g. " + nodes_[outsider].name), std::string::npos) << why;
  // A top host scored lower.
  why = CheckPrioritizeReply(Priorities(gang_, All(),
                                        [&](auto& entries) {
                                          entries[x.all.top[0]].second = 0;
                                          if (x.all.top.size() == 1) {
                                            entries[outsider].second = x.all.top_score;
                                          }
                                        }),
                             expect_.get(), gang_, Candidates::kAll);
  EXPECT_NE(why.find("missing e.g. " + nodes_[x.all.top[0]].name), std::string::npos) << why;
  // Everything scored 0 (what the name-index bug gave every node it did not find).
  why = CheckPrioritizeReply(Priorities(gang_, All(),
                                        [&](auto& entries) {
                                          for (auto& e : entries) e.second = 0;
                                        }),
                             expect_.get(), gang_, Candidates::kAll);
  EXPECT_NE(why.find("64 hosts share the top score 0"), std::string::npos) << why;
}

TEST_F(AnswerTest, EveryHostSentScoredOnceWithinRange) {
  auto check = [&](const std::function<void(std::vector<std::pair<int, int>>&)>& edit) {
    return CheckPrioritizeReply(Priorities(bare_, All(), edit), expect_.get(), bare_,
                                Candidates::kAll);
  };
  // A host left out counts as 0: leaving out one the ranking puts above the lowest breaks it.
  const PodExpectation& bare = expect_->pod(bare_);
  int above = -1;  // a host scored above the lowest expected score
  const int lowest = *std::min_element(bare.all.score.begin(), bare.all.score.end());
  for (int i : All()) {
    if (bare.all.score[i] > lowest && bare.all.score[i] < bare.all.top_score) above = i;
  }
  ASSERT_GE(above, 0);
  EXPECT_NE(check([&](auto& e) {
              e.erase(std::find_if(e.begin(), e.end(), [&](auto& p) { return p.first == above; }));
            }).find("breaks the ranking"),
            std::string::npos);
  EXPECT_NE(check([](auto& e) { e.push_back(e[0]); }).find("scored twice"), std::string::npos);
  EXPECT_NE(check([](auto& e) { e[7].second = 11; }).find("outside 0..10"), std::string::npos);
  // A host the filter did not keep, in the kept list.
  const PodExpectation& x = expect_->pod(gang_);
  std::vector<int> sent = x.filter.passed;
  int rejected = 0;
  while (x.kept_mask[rejected]) ++rejected;
  sent.push_back(rejected);
  EXPECT_NE(CheckPrioritizeReply(Priorities(gang_, sent), expect_.get(), gang_, Candidates::kKept)
                .find("was not sent"),
            std::string::npos);
}

// --- admission answers --------------------------------------------------------------------------

std::string Review(const AdmissionCase& c, const std::string& patch_json, int warnings = -1) {
  std::string out =
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":")" +
      c.uid + "\"";
  if (!c.expect_allowed) {
    out += R"(,"allowed":false,"status":{"code":403,"status":"Failure","message":")";
    for (const std::string& part : c.expect_message_has) out += part + " ";
    return out + R"(","reason":"Forbidden"}}})";
  }
  out += R"(,"allowed":true)";
  if (!patch_json.empty()) {
    out += R"(,"patchType":"JSONPatch","patch":")" + Base64(patch_json) + "\"";
  }
  if (warnings < 0) warnings = c.expect_warnings;
  if (warnings > 0) {
    out += R"(,"warnings":[)";
    for (int i = 0; i < warnings; ++i)
      out += std::string(i ? "," : "") + R"("instance type, rewritten")";
    out += "]";
  }
  return out + "}}";
}

const AdmissionCase& CaseLike(const std::vector<AdmissionCase>& cases, const std::string& what) {
  for (const AdmissionCase& c : cases) {
    if (c.what == what) return c;
  }
  ADD_FAILURE() << "no case " << what;
  return cases[0];
}

TEST(AdmissionAnswerTest, TheExpectedPatchPassesInAnyOrder) {
  const auto cases = GenerateAdmissionReviews(1, 40);
  for (const AdmissionCase& c : cases) {
    EXPECT_EQ(CheckAdmissionReply(Review(c, c.expect_patch_json), c), "") << c.what;
    // The same operations in another order (and another value spelling) are the same patch.
    std::string reversed = "[";
    for (auto it = c.expect_patch.rbegin(); it != c.expect_patch.rend(); ++it) {
      if (reversed.size() > 1) reversed += ", ";
      reversed += R"({"value": )" + it->value + R"(, "path": ")" + it->path + R"(", "op": ")" +
                  it->op + "\"}";
    }
    reversed += "]";
    if (!c.expect_patch.empty()) {
      EXPECT_EQ(CheckAdmissionReply(Review(c, reversed), c), "") << c.what;
    }
  }
}

TEST(AdmissionAnswerTest, AWrongPatchFails) {
  const auto cases = GenerateAdmissionReviews(1, 40);
  const AdmissionCase& job = CaseLike(cases, "team member's job, labels added");
  ASSERT_EQ(job.expect_patch.size(), 2u);
  const std::string queue_op =
      R"({"op":"add","path":"/metadata/labels/kueue.x-k8s.io~1queue-name","value":")" +
      job.expect_patch[1].value.substr(1, job.expect_patch[1].value.size() - 2) + "\"}";
  const std::string priority_op =
      R"({"op":"add","path":"/metadata/labels/kueue.x-k8s.io~1priority-class","value":"fine-tuning-priority"})";
  EXPECT_EQ(CheckAdmissionReply(Review(job, "[" + queue_op + "," + priority_op + "]"), job), "");
  // One operation missing.
  std::string why = CheckAdmissionReply(Review(job, "[" + queue_op + "]"), job);
  EXPECT_NE(why.find("patch lacks {add /metadata/labels/kueue.x-k8s.io~1priority-class"),
            std::string::npos)
      << why;
  // One too many.
  why = CheckAdmissionReply(
      Review(job, "[" + queue_op + "," + priority_op +
                      R"(,{"op":"replace","path":"/spec/schedulerName","value":"x"}])"),
      job);
  EXPECT_NE(why.find("unexpected {replace /spec/schedulerName"), std::string::npos) << why;
  // A wrong value.
  why = CheckAdmissionReply(
      Review(
          job,
          "[" + queue_op +
              R"(,{"op":"add","path":"/metadata/labels/kueue.x-k8s.io~1priority-class","value":"training-priority"}])"),
      job);
  EXPECT_NE(why.find("patch lacks"), std::string::npos) << why;
  // No patch at all, or not JSON.
  EXPECT_NE(CheckAdmissionReply(Review(job, ""), job).find("no patch"), std::string::npos);
  EXPECT_NE(CheckAdmissionReply(Review(job, "[{"), job).find("not JSON"), std::string::npos);

  // A patch where none is due.
  const AdmissionCase& labelled = CaseLike(cases, "team member's job, fully labelled");
  ASSERT_TRUE(labelled.expect_patch.empty());
  EXPECT_NE(CheckAdmissionReply(Review(labelled, "[" + queue_op + "]"), labelled)
                .find("unexpected patch"),
            std::string::npos);

  // The instance-type rewrite needs its warning.
  const AdmissionCase& pod = CaseLike(cases, "team member's pod, instance type without ml.");
  EXPECT_EQ(CheckAdmissionReply(Review(pod, pod.expect_patch_json), pod), "");
  EXPECT_NE(CheckAdmissionReply(Review(pod, pod.expect_patch_json, 0), pod).find("0 warnings"),
            std::string::npos);
}

TEST(AdmissionAnswerTest, ADenialMustNameWhatDesignSays) {
  const auto cases = GenerateAdmissionReviews(1, 40);
  const AdmissionCase& queue = CaseLike(cases, "deny: another team's queue");
  EXPECT_EQ(CheckAdmissionReply(Review(queue, ""), queue), "");
  std::string vague = Review(queue, "");
  const std::string right = queue.expect_message_has.back();  // the namespace's own LocalQueue
  vague.replace(vague.find(right), right.size(), "another queue");
  EXPECT_NE(CheckAdmissionReply(vague, queue).find("does not name"), std::string::npos);
  std::string no_code = Review(queue, "");
  no_code.replace(no_code.find("403"), 3, "400");
  EXPECT_NE(CheckAdmissionReply(no_code, queue).find("403"), std::string::npos);
}

// A server answering /filter for the generated pods, right or as the name-index bug did: the
// bench's run then has bad_body errors and FailureSummary names them.
TEST_F(AnswerTest, ARunWithWrongAnswersHasErrors) {
  std::map<std::string, std::string> right, wrong;  // by pod uid
  for (std::size_t p = 0; p < pending_.size(); ++p) {
    right[pending_[p].uid] = expect_->pod(p).filter.names_reply;
    Answer a = Expected(p);
    if (!a.kept.empty()) {
      a.unresolvable.emplace_back(a.kept[0], "hyperplace: node is not in the extender's cache");
      a.kept.erase(a.kept.begin());
    }
    wrong[pending_[p].uid] = NamesReply(a);
  }
  std::atomic<bool> answer_wrong{false};
  net::ServerOptions options;
  options.limits.threads = 1;
  net::HttpServer server(std::move(options));
  server.Handle("POST", "/filter", [&](const net::Request& req, net::Response& res) {
    for (const auto& [uid, reply] : answer_wrong ? wrong : right) {
      if (req.body.find(uid) != std::string_view::npos) {
        res.body = reply;
        return;
      }
    }
    res.body = "{}";
  });
  ASSERT_TRUE(server.Listen({"127.0.0.1", 0}).ok());
  ASSERT_TRUE(server.Start().ok());
  Endpoint endpoint;
  endpoint.port = server.port();
  std::vector<std::string> pods;
  for (const PendingPod& p : pending_) pods.push_back(p.json);
  auto requests = ExtenderRequests::Make(NodeMode::kNames, nodes_, pods);
  LoadOptions o;
  o.warmup = std::chrono::milliseconds(0);
  o.duration = std::chrono::milliseconds(200);
  ExtenderWorkload w(requests, ExtenderVerb::kFilter, endpoint, true, expect_);
  LoadStats good = RunLoad(endpoint, w, o);
  EXPECT_GT(good.ops, 0u);
  EXPECT_EQ(good.total_errors(), 0u) << good.error_samples[static_cast<int>(ErrorKind::kBadBody)];

  answer_wrong = true;
  LoadStats bad = RunLoad(endpoint, w, o);
  EXPECT_EQ(bad.ops, 0u);
  EXPECT_GT(bad.errors[static_cast<int>(ErrorKind::kBadBody)], 0u);
  EXPECT_NE(bad.error_samples[static_cast<int>(ErrorKind::kBadBody)].find("expected kept"),
            std::string::npos)
      << bad.error_samples[static_cast<int>(ErrorKind::kBadBody)];
  server.Shutdown(std::chrono::milliseconds(100));

  Results results;
  ScenarioResult s;
  s.id = "extender/names/filter/n64/c1/closed";
  FillFromLoad(bad, s);
  results.scenarios.push_back(s);
  EXPECT_NE(FailureSummary(results).find(s.id), std::string::npos);
}

// The client against hyperplace's own server, plain and TLS, on port 0.
class ClientServerTest : public ::testing::Test {
 protected:
  void Start(bool tls) {
    net::ServerOptions options;
    options.limits.threads = 2;
    if (tls) {
      pki_ = kube::testing::TestPki::Make();
      SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
      BIO* cert = BIO_new_mem_buf(pki_.cert_pem.data(), static_cast<int>(pki_.cert_pem.size()));
      BIO* key = BIO_new_mem_buf(pki_.key_pem.data(), static_cast<int>(pki_.key_pem.size()));
      X509* x = PEM_read_bio_X509(cert, nullptr, nullptr, nullptr);
      EVP_PKEY* k = PEM_read_bio_PrivateKey(key, nullptr, nullptr, nullptr);
      SSL_CTX_use_certificate(raw, x);
      SSL_CTX_use_PrivateKey(raw, k);
      X509_free(x);
      EVP_PKEY_free(k);
      BIO_free(cert);
      BIO_free(key);
      std::shared_ptr<SSL_CTX> ctx(raw, SSL_CTX_free);
      options.tls = [ctx] { return ctx; };
    }
    server_ = std::make_unique<net::HttpServer>(std::move(options));
    server_->Handle("POST", "/echo", [this](const net::Request& req, net::Response& res) {
      ++requests_;
      res.body.assign(req.body);
    });
    server_->Handle("POST", "/filter", [](const net::Request& req, net::Response& res) {
      res.body = R"({"Nodes":null,"NodeNames":["n1"],"FailedNodes":{},"Error":""})";
    });
    server_->Handle("POST", "/prioritize", [](const net::Request& req, net::Response& res) {
      // Only the node the filter kept comes back.
      res.body = req.body.find(R"("NodeNames":["n1"]})") != std::string_view::npos
                     ? R"([{"Host":"n1","Score":7}])"
                     : R"({"unexpected":true})";
    });
    server_->Handle("POST", "/teapot", [](const net::Request&, net::Response& res) {
      res.status = 418;
      res.body = "short and stout";
    });
    ASSERT_TRUE(server_->Listen({"127.0.0.1", 0}).ok());
    ASSERT_TRUE(server_->Start().ok());
    endpoint_.port = server_->port();
    if (tls) {
      endpoint_.tls = true;
      auto ctx = MakeClientTlsContext(pki_.ca_pem);
      ASSERT_TRUE(ctx.ok()) << ctx.status().message();
      endpoint_.tls_context = *ctx;
    }
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::milliseconds(100));
  }

  void EchoThreeTimesOnOneConnection() {
    HttpConnection conn(endpoint_);
    std::string big(200000, 'x');  // several TCP segments and TLS records
    for (int i = 0; i < 3; ++i) {
      const std::string body = i == 1 ? big : "hello " + std::to_string(i);
      HttpReply reply;
      std::string error;
      ASSERT_EQ(conn.RoundTrip(RequestHead("POST", "/echo", endpoint_, body.size()), body,
                               Clock::now() + std::chrono::seconds(5), reply, &error),
                ErrorKind::kOk)
          << error;
      EXPECT_EQ(reply.status, 200);
      EXPECT_EQ(reply.body, body);
    }
    EXPECT_EQ(conn.connects(), 1u);  // keep-alive
    EXPECT_EQ(requests_.load(), 3);
  }

  kube::testing::TestPki pki_;
  std::unique_ptr<net::HttpServer> server_;
  Endpoint endpoint_;
  std::atomic<int> requests_{0};
};

TEST_F(ClientServerTest, PlainKeepAliveRoundTrips) {
  Start(false);
  EchoThreeTimesOnOneConnection();
}

TEST_F(ClientServerTest, TlsKeepAliveRoundTripsWithVerifiedCertificate) {
  Start(true);
  EchoThreeTimesOnOneConnection();
}

TEST_F(ClientServerTest, TlsRefusesAServerItDoesNotTrust) {
  Start(true);
  auto other = MakeClientTlsContext(kube::testing::TestPki::Make().ca_pem);
  ASSERT_TRUE(other.ok());
  Endpoint e = endpoint_;
  e.tls_context = *other;
  HttpConnection conn(e);
  std::string error;
  EXPECT_EQ(conn.Connect(Clock::now() + std::chrono::seconds(5), &error), ErrorKind::kConnect);
  EXPECT_NE(error.find("certificate"), std::string::npos) << error;
}

TEST_F(ClientServerTest, ErrorKindsAreCounted) {
  Start(false);
  LoadOptions o;
  o.rate = 200;
  o.warmup = std::chrono::milliseconds(0);
  o.duration = std::chrono::milliseconds(100);

  // 418 from the server: HTTP status errors, one sample kept.
  class Teapot final : public Workload {
   public:
    explicit Teapot(Endpoint e) : e_(std::move(e)) {}
    std::unique_ptr<Session> NewSession(int) const override {
      class S final : public Session {
       public:
        explicit S(Endpoint e) : e_(std::move(e)) {}
        OpResult Run(std::uint64_t, HttpConnection& conn, Clock::time_point deadline) override {
          HttpReply reply;
          std::string error;
          OpResult r;
          ErrorKind k = conn.RoundTrip(RequestHead("POST", "/teapot", e_, 0), std::string_view(),
                                       deadline, reply, &error);
          if (k != ErrorKind::kOk) {
            r.error = k;
          } else if (reply.status != 200) {
            r.error = ErrorKind::kHttpStatus;
            r.detail = "HTTP " + std::to_string(reply.status);
          }
          return r;
        }
        Endpoint e_;
      };
      return std::make_unique<S>(e_);
    }
    Endpoint e_;
  };
  const LoadStats teapot = RunLoad(endpoint_, Teapot(endpoint_), o);
  EXPECT_EQ(teapot.ops, 0u);
  EXPECT_EQ(teapot.errors[static_cast<int>(ErrorKind::kHttpStatus)], 20u);  // 200/s × 0.1 s
  EXPECT_EQ(teapot.error_samples[static_cast<int>(ErrorKind::kHttpStatus)], "HTTP 418");

  // Nobody listening: connect errors.
  Endpoint closed = endpoint_;
  closed.port = 1;
  ClusterSpec tiny;
  tiny.nodes = 2;
  auto requests = ExtenderRequests::Make(NodeMode::kNames, GenerateNodes(tiny), {"{}"});
  const LoadStats refused =
      RunLoad(closed, ExtenderWorkload(requests, ExtenderVerb::kFilter, closed, true), o);
  EXPECT_EQ(refused.errors[static_cast<int>(ErrorKind::kConnect)], 20u);
}

TEST_F(ClientServerTest, FilterThenPrioritizeSendsTheNodesTheFilterKept) {
  Start(false);
  ClusterSpec spec;
  spec.nodes = 30;
  auto requests = ExtenderRequests::Make(NodeMode::kNames, GenerateNodes(spec),
                                         {GeneratePodJson(1, 0, 8, true)});
  ExtenderWorkload w(requests, ExtenderVerb::kFilterPrioritize, endpoint_, /*validate=*/true);
  LoadOptions o;
  o.warmup = std::chrono::milliseconds(0);
  o.duration = std::chrono::milliseconds(100);
  const LoadStats stats = RunLoad(endpoint_, w, o);
  EXPECT_GT(stats.ops, 0u);
  EXPECT_EQ(stats.total_errors(), 0u) << stats.error_samples[static_cast<int>(ErrorKind::kBadBody)];
  EXPECT_EQ(stats.requests, 2 * stats.ops);
}

}  // namespace
}  // namespace hyperplace::bench
