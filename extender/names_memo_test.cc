#include "extender/names_memo.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "extender/extender.h"
#include "scoring/testing/builders.h"

namespace hyperplace::extender {
namespace {

using scoring::testing::DefaultPolicy;
using scoring::testing::NodeBuilder;

std::string NodeName(int i) {
  char name[32];
  std::snprintf(name, sizeof name, "hyperpod-i-%017x", 0x0a1b2c3d + i);
  return name;
}

// NodeName(from) .. NodeName(to - 1).
std::vector<std::string> NodeNames(int from, int to) {
  std::vector<std::string> names;
  for (int i = from; i < to; ++i) names.push_back(NodeName(i));
  return names;
}

// Nodes 0..n-1: most a p5.48xlarge with 8 GPUs free; every 7th has 4 GPUs, every 11th is
// unhealthy, every 13th a g5, so that filter replies mix survivors, resource reasons and others.
void AddNodes(MemoryState& state, int from, int to) {
  for (int i = from; i < to; ++i) {
    NodeBuilder b(NodeName(i));
    b.InstanceType(i % 13 == 0 ? "ml.g5.xlarge" : "ml.p5.48xlarge")
        .Layers({"nn-" + std::to_string(i / 512), "nn-r" + std::to_string(i / 64),
                 "nn-s" + std::to_string(i / 8)})
        .Gpus(i % 7 == 0 ? 4 : 8);
    if (i % 11 == 0) b.Health("Unschedulable");
    state.UpsertNode(b.Build());
  }
}

// A names-mode request: a pod asking for `gpus` GPUs, and `names` as given (raw JSON strings).
std::string Body(const std::vector<std::string>& names, int gpus) {
  std::string body =
      R"({"Pod":{"metadata":{"name":"p","namespace":"hyperpod-ns-a","uid":"u1"},)"
      R"("spec":{"nodeSelector":{"node.kubernetes.io/instance-type":"ml.p5.48xlarge"},)"
      R"("containers":[{"name":"c","resources":{"requests":{"nvidia.com/gpu":")" +
      std::to_string(gpus) + R"("}}}]}},"NodeNames":[)";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) body += ',';
    body += '"' + names[i] + '"';
  }
  return body + "]}";
}

std::string Padded(const std::string& body) { return body + std::string(kInputPadding, '\0'); }

class NamesMemoTest : public ::testing::Test {
 protected:
  NamesMemoTest() : state_(std::make_shared<MemoryState>(DefaultPolicy())) {}

  // Decodes `body` as the handlers do: recognising the memo's lists.
  std::shared_ptr<const NamesMemo::List> Resolve(NamesMemo& memo, const std::string& body) {
    const std::string padded = Padded(body);
    const NamesMemo::Held held = memo.Lists();
    ExtenderArgs args;
    EXPECT_TRUE(
        decoder_.DecodeArgs(std::string_view(padded.data(), body.size()), args, held.known()).ok());
    return memo.Resolve(held, args, *state_->Current());
  }

  std::shared_ptr<MemoryState> state_;
  Decoder decoder_;
};

TEST_F(NamesMemoTest, ResolveNamesMarksUnknownRepeatedAndPodOnlyNames) {
  AddNodes(*state_, 0, 3);
  state_->UpsertPod({"orphan", "no-node-object", ""});  // a slot with no Node
  state_->Publish();
  auto snapshot = state_->Current();
  const std::vector<std::string> owned = {NodeName(2), "ghost", NodeName(0),     "no-node-object",
                                          NodeName(2), "ghost", "no-node-object"};
  const std::vector<std::string_view> names(owned.begin(), owned.end());
  std::vector<std::int32_t> slots;
  snapshot->ResolveNames(names, slots);
  ASSERT_EQ(slots.size(), 7u);
  EXPECT_EQ(slots[0], snapshot->SlotOf(NodeName(2)));
  EXPECT_EQ(slots[1], Snapshot::kUnknownName);
  EXPECT_EQ(slots[2], snapshot->SlotOf(NodeName(0)));
  EXPECT_EQ(slots[3], Snapshot::kUnknownName);
  EXPECT_EQ(slots[4], Snapshot::kRepeatedName);
  EXPECT_EQ(slots[5],
            Snapshot::kUnknownName);  // not indexed: the handlers list it at most 100 times
  EXPECT_EQ(slots[6], Snapshot::kRepeatedName);  // indexed (a pod's node): answered once
}

TEST_F(NamesMemoTest, ARepeatedListIsRecognisedByItsBytesAndNotDecodedAgain) {
  AddNodes(*state_, 0, 5000);
  state_->Publish();
  std::vector<std::string> names = NodeNames(0, 5000);
  const std::string body = Body(names, 8);
  NamesMemo memo;

  auto first = Resolve(memo, body);
  EXPECT_EQ(memo.misses(), 1u);
  ASSERT_EQ(first->names.size(), 5000u);
  EXPECT_EQ(first->names[4999], NodeName(4999));
  EXPECT_EQ(first->json.front(), '[');
  EXPECT_EQ(first->json.back(), ']');

  // The same list in another request (another pod, other whitespace around it) is a hit.
  std::string again = Body(names, 4);
  again.replace(again.find("\"NodeNames\":"), 12, "\"NodeNames\" :  ");
  again.insert(again.size() - 1, "  ");
  const std::string padded = Padded(again);
  const NamesMemo::Held held = memo.Lists();
  ExtenderArgs args;
  ASSERT_TRUE(
      decoder_.DecodeArgs(std::string_view(padded.data(), again.size()), args, held.known()).ok());
  EXPECT_EQ(args.known_names, 0);
  EXPECT_TRUE(args.node_names.empty());
  EXPECT_EQ(args.node_names_json, first->json);
  EXPECT_EQ(memo.Resolve(held, args, *state_->Current()), first);
  EXPECT_EQ(memo.hits(), 1u);

  // A list that differs in one name, or only in its last one, or is a prefix: decoded anew.
  std::vector<std::string> changed = names;
  changed[2500] = NodeName(5001);
  auto other = Resolve(memo, Body(changed, 8));
  EXPECT_NE(other, first);
  EXPECT_EQ(other->names[2500], NodeName(5001));
  EXPECT_EQ(other->slots[2500], Snapshot::kUnknownName);
  changed = names;
  changed.pop_back();
  EXPECT_EQ(Resolve(memo, Body(changed, 8))->names.size(), 4999u);
  changed.push_back(NodeName(4999));
  changed.push_back(NodeName(5000));
  EXPECT_EQ(Resolve(memo, Body(changed, 8))->names.size(), 5001u);
  EXPECT_EQ(memo.hits(), 1u);
  EXPECT_EQ(memo.misses(), 4u);
  // The same names written with an escape are other bytes: a miss, with the same names.
  std::vector<std::string> escaped = names;
  escaped[0] = "\\u0068" + names[0].substr(1);
  auto decoded = Resolve(memo, Body(escaped, 8));
  EXPECT_EQ(decoded->names[0], names[0]);
  EXPECT_EQ(decoded->slots, first->slots);
}

TEST_F(NamesMemoTest, ANodeTableChangeResolvesTheHeldListAgain) {
  AddNodes(*state_, 0, 1000);
  state_->Publish();
  std::vector<std::string> names = NodeNames(0, 1001);
  const std::string body = Body(names, 8);
  NamesMemo memo;
  auto before = Resolve(memo, body);
  EXPECT_EQ(before->slots[1000], Snapshot::kUnknownName);

  // A heartbeat (nothing the rules read) keeps the table: still a hit.
  AddNodes(*state_, 5, 6);
  state_->Publish();
  EXPECT_EQ(Resolve(memo, body), before);

  AddNodes(*state_, 1000, 1001);  // the missing node arrives
  state_->Publish();
  auto after = Resolve(memo, body);
  EXPECT_NE(after, before);
  EXPECT_EQ(after->table_id, state_->Current()->table_id());
  EXPECT_EQ(after->slots[1000], state_->Current()->SlotOf(NodeName(1000)));
  std::vector<std::int32_t> fresh;
  state_->Current()->ResolveNames(after->names, fresh);
  EXPECT_EQ(after->slots, fresh);
  EXPECT_EQ(Resolve(memo, body), after);  // held in the old one's place
  EXPECT_EQ(memo.Lists().count, 1u);
}

// Requests that saw different node tables (their snapshots taken at different times) leave one
// entry for the list, resolved in the newest table: the decoder must not recognise a stale one.
TEST_F(NamesMemoTest, OneEntryPerListResolvedInTheNewestTable) {
  AddNodes(*state_, 0, 100);
  state_->Publish();
  std::vector<std::string> names = NodeNames(0, 103);
  const std::string body = Body(names, 8);
  const std::string padded = Padded(body);
  NamesMemo memo;
  Resolve(memo, body);
  const NamesMemo::Held first = memo.Lists();  // what requests that began now hold
  ExtenderArgs args;
  ASSERT_TRUE(
      decoder_.DecodeArgs(std::string_view(padded.data(), body.size()), args, first.known()).ok());
  ASSERT_EQ(args.known_names, 0);

  std::vector<std::shared_ptr<const Snapshot>> tables;
  for (int i = 100; i < 103; ++i) {
    AddNodes(*state_, i, i + 1);
    state_->Publish();
    tables.push_back(state_->Current());
  }
  // Out of order: the newest table first, then two older ones.
  for (std::size_t t : {2u, 0u, 1u}) {
    EXPECT_EQ(memo.Resolve(first, args, *tables[t])->table_id, tables[t]->table_id());
    const NamesMemo::Held held = memo.Lists();
    ASSERT_EQ(held.count, 1u);
    EXPECT_EQ(held.lists[0]->table_id, tables[2]->table_id());
    EXPECT_EQ(held.lists[0]->slots[102], tables[2]->SlotOf(NodeName(102)));
  }
}

// A request whose NodeNames is null after all (a repeated key: the last one counts, as in Go)
// has no list; it is refused and leaves nothing behind that would match every later list.
TEST_F(NamesMemoTest, ANullListAfterAListIsNoList) {
  AddNodes(*state_, 0, 8);
  state_->Publish();
  metrics::Registry registry;
  Extender extender(state_->policy(), state_, registry);
  auto filter = [&](const std::string& body) {
    const std::string padded = Padded(body);
    net::Response response;
    extender.Filter(std::string_view(padded.data(), body.size()), response);
    return response;
  };
  std::string body = Body({NodeName(0)}, 8);
  body.insert(body.size() - 1, R"(,"nodeNames":null)");
  const net::Response refused = filter(body);
  EXPECT_EQ(refused.status, 400);
  EXPECT_NE(refused.body.find("neither Nodes nor NodeNames"), std::string::npos) << refused.body;
  EXPECT_EQ(extender.names_memo().Lists().count, 0u);
  for (int k = 1; k < 4; ++k) {
    const net::Response ok = filter(Body({NodeName(k), NodeName(0)}, 8));
    EXPECT_EQ(ok.status, 200) << ok.body;
  }
}

TEST_F(NamesMemoTest, HoldsAFewListsAndNoHugeOnes) {
  AddNodes(*state_, 0, 64);
  state_->Publish();
  NamesMemo memo;
  std::vector<std::shared_ptr<const NamesMemo::List>> lists;
  for (std::size_t k = 0; k < NamesMemo::kLists + 2; ++k) {
    lists.push_back(Resolve(memo, Body(NodeNames(static_cast<int>(k), 64), 8)));
  }
  const NamesMemo::Held held = memo.Lists();
  ASSERT_EQ(held.count, NamesMemo::kLists);
  // The least recently used went first: lists 0 and 1.
  for (std::size_t i = 0; i < held.count; ++i) {
    EXPECT_NE(held.lists[i], lists[0]);
    EXPECT_NE(held.lists[i], lists[1]);
  }

  // 100,000 names of 56 bytes (what a request may carry) are answered but not held.
  std::vector<std::string> huge;
  for (int i = 0; i < 100000; ++i) huge.push_back(std::string(50, 'x') + std::to_string(i));
  auto list = Resolve(memo, Body(huge, 8));
  EXPECT_EQ(list->names.size(), 100000u);
  for (const auto& held_list : memo.Lists().lists) EXPECT_NE(held_list, list);
}

// Handler threads share the memo: lists recognised, decoded and re-resolved from several threads
// while the node table changes, each answer the same as a fresh resolution in the request's own
// snapshot. (Run under ThreadSanitizer in CI.)
TEST_F(NamesMemoTest, ThreadsShareItWhileTheTableChanges) {
  AddNodes(*state_, 0, 200);
  state_->Publish();
  std::vector<std::string> bodies;
  for (int k = 0; k < 3; ++k) {
    bodies.push_back(Body(NodeNames(k, 210), 8));  // the last 10 arrive later
  }
  NamesMemo memo;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Decoder decoder;
      for (int i = 0; i < 200; ++i) {
        const std::string& body = bodies[static_cast<std::size_t>(t + i) % bodies.size()];
        const std::string padded = Padded(body);
        const NamesMemo::Held held = memo.Lists();
        ExtenderArgs args;
        if (!decoder.DecodeArgs(std::string_view(padded.data(), body.size()), args, held.known())
                 .ok()) {
          ++wrong;
          continue;
        }
        const auto snapshot = state_->Current();
        const auto list = memo.Resolve(held, args, *snapshot);
        std::vector<std::int32_t> fresh;
        snapshot->ResolveNames(list->names, fresh);
        if (list->slots != fresh || list->names.size() != 210u - (t + i) % bodies.size()) ++wrong;
      }
    });
  }
  for (int i = 200; i < 210; ++i) {  // the table changes meanwhile
    AddNodes(*state_, i, i + 1);
    state_->Publish();
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(memo.hits(), 0u);
}

// Replies write a plain list's names unchecked: a list is plain only when no name needs a JSON
// escape, however the request spelled it, and a list that is not still gets a valid reply.
TEST_F(NamesMemoTest, AListIsPlainUnlessANameNeedsAnEscape) {
  AddNodes(*state_, 0, 1000);
  state_->Publish();
  std::vector<std::string> names = NodeNames(0, 1000);
  NamesMemo memo;
  EXPECT_TRUE(Resolve(memo, Body(names, 8))->plain);
  names[3] = "\u0068" + names[3].substr(1);  // an escape that decodes to a plain name
  EXPECT_TRUE(Resolve(memo, Body(names, 8))->plain);

  // Unknown names that need escapes, listed in the reply with their reason.
  names.push_back(R"(we\"ird)");
  names.push_back(R"(tab\tnode\\x)");
  auto list = Resolve(memo, Body(names, 8));
  EXPECT_FALSE(list->plain);
  metrics::Registry registry;
  Extender extender(state_->policy(), state_, registry);
  const std::string body = Body(names, 8);
  const std::string padded = body + std::string(net::kBodyPadding, '\0');
  net::Response response;
  extender.Filter(std::string_view(padded.data(), body.size()), response);
  ASSERT_EQ(response.status, 200) << response.body.substr(0, 200);
  const nlohmann::json reply = nlohmann::json::parse(response.body);
  const nlohmann::json& unknown = reply["FailedAndUnresolvableNodes"];
  EXPECT_TRUE(unknown.contains("we\"ird")) << response.body.substr(0, 200);
  EXPECT_TRUE(unknown.contains("tab\tnode\\x"));
  EXPECT_TRUE(reply["FailedNodes"].contains(NodeName(7)));  // 4 GPUs of 8 asked
  EXPECT_EQ(reply["NodeNames"][0], NodeName(1));
}

// The handlers answer a list they recognise exactly as one they decode: one long-lived Extender
// against a fresh one per request, at 5000 nodes, with /filter and /prioritize interleaved and
// the node table changing in between.
TEST_F(NamesMemoTest, RecognisedListsGetTheAnswersOfDecodedOnes) {
  AddNodes(*state_, 0, 5000);
  state_->UpsertPod({"peer", NodeName(40), "hyperpod-ns-a/kueue.x-k8s.io/pod-group-name=g"});
  state_->Publish();
  metrics::Registry registry;
  Extender warm(state_->policy(), state_, registry);
  auto call = [](Extender& e, bool filter, const std::string& body) {
    const std::string padded = body + std::string(net::kBodyPadding, '\0');
    net::Response response;
    const std::string_view request(padded.data(), body.size());
    if (filter) {
      e.Filter(request, response);
    } else {
      e.Prioritize(request, response);
    }
    EXPECT_EQ(response.status, 200) << response.body.substr(0, 200);
    return response.body;
  };
  std::vector<std::string> all = NodeNames(0, 5003), survivors;  // the last 3 unknown for now
  all.push_back(NodeName(17));                                   // repeated
  for (int round = 0; round < 3; ++round) {
    for (int gpus : {8, 4, 1}) {
      const std::string filter_body = Body(all, gpus);
      metrics::Registry fresh_registry;
      Extender fresh(state_->policy(), state_, fresh_registry);
      const std::string want = call(fresh, true, filter_body);
      EXPECT_EQ(call(warm, true, filter_body), want) << "round " << round << ", " << gpus;
      survivors.clear();
      const nlohmann::json reply = nlohmann::json::parse(want);
      for (const auto& n : reply["NodeNames"]) survivors.push_back(n.get<std::string>());
      ASSERT_FALSE(survivors.empty()) << want.substr(0, 600);
      const std::string prioritize_body = Body(survivors, gpus);
      EXPECT_EQ(call(warm, false, prioritize_body), call(fresh, false, prioritize_body))
          << "round " << round << ", " << gpus;
    }
    // Between rounds the table changes: a node turns unhealthy, an unknown name's node arrives.
    AddNodes(*state_, 5000 + round, 5001 + round);
    NodeBuilder sick(NodeName(100 + round));
    sick.InstanceType("ml.p5.48xlarge").Gpus(8).Health("Unschedulable");
    state_->UpsertNode(sick.Build());
    state_->Publish();
  }
  // 3 rounds of 3 pods, a /filter and a /prioritize each: every round decodes its first /filter
  // list (the table changed) and the /prioritize lists it has not seen; the rest are recognised.
  const std::uint64_t hits = warm.names_memo().hits(), misses = warm.names_memo().misses();
  EXPECT_GT(hits, 0u);
  EXPECT_EQ(hits + misses, 18u);
  const std::string text = registry.Render();
  EXPECT_NE(text.find("hyperplace_extender_name_lists_total{result=\"recognised\"} " +
                      std::to_string(hits)),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("hyperplace_extender_name_lists_total{result=\"decoded\"} " +
                      std::to_string(misses)),
            std::string::npos);
}

}  // namespace
}  // namespace hyperplace::extender
