#include "extender/binder.h"

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "extender/extender.h"
#include "extender/watch_cache.h"
#include "kube/testing/fake_apiserver.h"
#include "scoring/testing/builders.h"

namespace hyperplace::extender {
namespace {

using kube::testing::FakeApiServer;
using nlohmann::json;

// A pending pod as the API server stores it.
std::string PodJson(const std::string& name, const std::string& uid,
                    const std::string& scheduler = "hyperplace", const std::string& node = "") {
  return R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":")" + name +
         R"(","namespace":"ns","uid":")" + uid +
         R"(","resourceVersion":"__RV__"},"spec":{"schedulerName":")" + scheduler +
         R"(","nodeName":")" + node + R"("},"status":{"phase":"Pending"}})";
}

class BinderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kube::Access access;
    access.server = server_.url();
    access.ca_pem = server_.pki().ca_pem;
    access.token = "sched";
    server_.RequireToken("sched");
    server_.Upsert("pods", "p1", PodJson("p1", "u1"));
    client_ = *kube::Client::Create(access, {});
    state_ = std::make_shared<MemoryState>(scoring::testing::DefaultPolicy());
    groups_ = std::make_shared<GroupMemo>();
  }
  json Bind(Binder& binder, std::string body, int want_status = 200) {
    net::Response response;
    std::string padded = body + std::string(net::kBodyPadding, '\0');
    binder.Bind(std::string_view(padded.data(), body.size()), response);
    EXPECT_EQ(response.status, want_status) << response.body;
    return json::parse(response.body);
  }
  // Binds p1 to n1 with kube.bindTimeout 1s while the API server misbehaves as `fault` says.
  json BindWithin(std::chrono::milliseconds deadline, kube::testing::BindFault fault,
                  std::chrono::nanoseconds& took) {
    config_.kube.bind_timeout = deadline;
    Binder binder(client_, state_, groups_, config_, registry_);
    server_.SetBindFault(fault);
    const auto start = std::chrono::steady_clock::now();
    json reply = Bind(binder, R"({"PodName":"p1","PodNamespace":"ns","PodUID":"u1","Node":"n1"})");
    took = std::chrono::steady_clock::now() - start;
    server_.SetBindFault(kube::testing::BindFault::kNone);
    return reply;
  }

  FakeApiServer server_;
  std::shared_ptr<kube::Client> client_;
  std::shared_ptr<MemoryState> state_;
  std::shared_ptr<GroupMemo> groups_;
  Config config_;
  metrics::Registry registry_;
};

TEST_F(BinderTest, BindsThroughTheApiServerAndIsSeenAtOnce) {
  groups_->Remember("u1", "ns/g=train");  // learned from the pod's /filter request
  Binder binder(client_, state_, groups_, config_, registry_);
  json reply = Bind(binder, R"({"PodName":"p1","PodNamespace":"ns","PodUID":"u1","Node":"n1"})");
  EXPECT_EQ(reply["Error"], "");
  ASSERT_EQ(server_.bindings().size(), 1u);
  json binding = json::parse(server_.bindings()[0]);
  EXPECT_EQ(binding["kind"], "Binding");
  EXPECT_EQ(binding["metadata"]["name"], "p1");
  EXPECT_EQ(binding["metadata"]["namespace"], "ns");
  EXPECT_EQ(binding["metadata"]["uid"], "u1");
  EXPECT_EQ(binding["target"]["name"], "n1");
  EXPECT_EQ(server_.last_binding_path(), "/api/v1/namespaces/ns/pods/p1/binding");
  // The very next snapshot counts the pod on n1 under its group.
  auto s = state_->Current();
  EXPECT_EQ(s->PodsOn("n1"), 1);
  ASSERT_NE(s->GroupPlacements("ns/g=train"), nullptr);
  EXPECT_EQ((*s->GroupPlacements("ns/g=train"))[0].node, "n1");
  EXPECT_EQ(state_->assumed_count(), 1u);
}

TEST_F(BinderTest, RefusalIsReportedAndNothingIsAssumed) {
  server_.SetBindStatus(409);
  Binder binder(client_, state_, groups_, config_, registry_);
  json reply = Bind(binder, R"({"PodName":"p1","PodNamespace":"ns","PodUID":"u1","Node":"n1"})");
  EXPECT_NE(reply["Error"].get<std::string>().find("HTTP 409"), std::string::npos) << reply;
  EXPECT_EQ(state_->Current()->PodsOn("n1"), 0);
}

TEST_F(BinderTest, TheBindIsSeenBeforeTheApiServerAnswersAndWithdrawnOnRefusal) {
  server_.SetBindStatus(409);
  auto tracker = std::make_shared<BindTracker>();
  Binder binder(client_, state_, groups_, config_, registry_, tracker);
  tracker->BindArrived("warm-up");
  tracker->Filtered("u1");
  Bind(binder, R"({"PodName":"p1","PodNamespace":"ns","PodUID":"u1","Node":"n1"})");
  EXPECT_EQ(tracker->pending(), 0u);              // the waiting filter was released
  EXPECT_EQ(state_->Current()->PodsOn("n1"), 0);  // refused: the assumption is gone
  EXPECT_EQ(state_->assumed_count(), 0u);
}

TEST_F(BinderTest, BadRequestsNeverReachTheApiServer) {
  Binder binder(client_, state_, groups_, config_, registry_);
  Bind(binder, "{", 400);
  Bind(binder, R"({"PodName":"p1","PodNamespace":"ns"})", 400);
  Bind(binder, R"({"PodName":"../../secrets","PodNamespace":"ns","PodUID":"u","Node":"n"})", 400);
  Bind(binder, R"({"PodName":"p","PodNamespace":"NS","PodUID":"u","Node":"n"})", 400);
  EXPECT_TRUE(server_.bindings().empty());
}

TEST_F(BinderTest, WithoutAnApiServerEveryBindIsAnError) {
  Binder binder(nullptr, state_, groups_, config_, registry_);
  json reply = Bind(binder, R"({"PodName":"p1","PodNamespace":"ns","PodUID":"u1","Node":"n1"})");
  EXPECT_NE(reply["Error"].get<std::string>().find("no API server"), std::string::npos);
}

// The watch shows the pod: nothing is asked of the API server, nothing is written.
TEST_F(BinderTest, APodTheWatchShowsBoundIsRefusedWithoutWriting) {
  state_->UpsertPod({"u1", "n2", "", ""});
  Binder binder(client_, state_, groups_, config_, registry_);
  json reply = Bind(binder, R"({"PodName":"p1","PodNamespace":"ns","PodUID":"u1","Node":"n1"})");
  EXPECT_NE(reply["Error"].get<std::string>().find("already bound to node n2"), std::string::npos)
      << reply;
  EXPECT_TRUE(server_.bindings().empty());
  EXPECT_EQ(server_.pod_reads(), 0);
  EXPECT_EQ(state_->Current()->PodsOn("n1"), 0);
}

TEST_F(BinderTest, APodOfAnotherSchedulerIsRefusedWithoutWriting) {
  state_->UpsertPod({"u1", "", "", "volcano"});
  Binder binder(client_, state_, groups_, config_, registry_);
  json reply = Bind(binder, R"({"PodName":"p1","PodNamespace":"ns","PodUID":"u1","Node":"n1"})");
  EXPECT_NE(reply["Error"].get<std::string>().find(
                R"(spec.schedulerName "volcano" is not a scheduler hyperplace serves)"),
            std::string::npos)
      << reply;
  EXPECT_TRUE(server_.bindings().empty());
  EXPECT_EQ(server_.pod_reads(), 0);
  EXPECT_EQ(state_->assumed_count(), 0u);
}

TEST_F(BinderTest, TheServedSchedulersAreConfigured) {
  state_->UpsertPod({"u1", "", "", "hyperplace"});
  config_.extender.scheduler_names = {"gpu"};
  Binder binder(client_, state_, groups_, config_, registry_);
  json reply = Bind(binder, R"({"PodName":"p1","PodNamespace":"ns","PodUID":"u1","Node":"n1"})");
  EXPECT_NE(reply["Error"].get<std::string>().find("(extender.schedulerNames: gpu)"),
            std::string::npos)
      << reply;
  EXPECT_TRUE(server_.bindings().empty());
}

// The watch has not shown the pod (a new replica still syncing, a pod created a moment ago): the
// API server's copy decides.
TEST_F(BinderTest, APodKnownOnlyToTheApiServerIsCheckedThere) {
  server_.Upsert("pods", "p2", PodJson("p2", "u2", "hyperplace", "n9"));
  server_.Upsert("pods", "p3", PodJson("p3", "u3", "volcano"));
  Binder binder(client_, state_, groups_, config_, registry_);
  json reply = Bind(binder, R"({"PodName":"p2","PodNamespace":"ns","PodUID":"u2","Node":"n1"})");
  EXPECT_NE(reply["Error"].get<std::string>().find("already bound to node n9"), std::string::npos)
      << reply;
  reply = Bind(binder, R"({"PodName":"p3","PodNamespace":"ns","PodUID":"u3","Node":"n1"})");
  EXPECT_NE(reply["Error"].get<std::string>().find(R"("volcano" is not a scheduler)"),
            std::string::npos)
      << reply;
  // A pod of that name but another uid (deleted and created again) is not the pod asked for.
  reply = Bind(binder, R"({"PodName":"p1","PodNamespace":"ns","PodUID":"old","Node":"n1"})");
  EXPECT_NE(reply["Error"].get<std::string>().find("another pod of that name"), std::string::npos)
      << reply;
  reply = Bind(binder, R"({"PodName":"gone","PodNamespace":"ns","PodUID":"u9","Node":"n1"})");
  EXPECT_NE(reply["Error"].get<std::string>().find("does not exist"), std::string::npos) << reply;
  EXPECT_TRUE(server_.bindings().empty());
  EXPECT_EQ(server_.pod_reads(), 4);
  reply = Bind(binder, R"({"PodName":"p1","PodNamespace":"ns","PodUID":"u1","Node":"n1"})");
  EXPECT_EQ(reply["Error"], "");
  EXPECT_EQ(server_.bindings().size(), 1u);
}

// The cache said pending, but someone bound the pod meanwhile: the API server's 409 is the answer.
TEST_F(BinderTest, APodBoundSinceTheWatchSawItGetsTheApiServersConflict) {
  state_->UpsertPod({"u1", "", "", "hyperplace"});
  server_.Upsert("pods", "p1", PodJson("p1", "u1", "hyperplace", "n2"));
  Binder binder(client_, state_, groups_, config_, registry_);
  json reply = Bind(binder, R"({"PodName":"p1","PodNamespace":"ns","PodUID":"u1","Node":"n1"})");
  const std::string error = reply["Error"];
  EXPECT_NE(error.find("HTTP 409"), std::string::npos) << error;
  EXPECT_NE(error.find(R"(already assigned to node \"n2\")"), std::string::npos) << error;
  EXPECT_EQ(state_->Current()->PodsOn("n1"), 0);
}

// The Binding was applied but its response was lost: reading the pod back shows the bind done.
// Sending it again would have been refused with 409 and a bind that succeeded reported failed.
TEST_F(BinderTest, ABindingAppliedWhoseResponseIsLostSucceedsWithoutASecondPost) {
  Binder binder(client_, state_, groups_, config_, registry_);
  server_.SetBindFault(kube::testing::BindFault::kLoseResponse);
  json reply = Bind(binder, R"({"PodName":"p1","PodNamespace":"ns","PodUID":"u1","Node":"n1"})");
  EXPECT_EQ(reply["Error"], "");
  EXPECT_EQ(server_.bindings().size(), 1u);
  EXPECT_EQ(state_->Current()->PodsOn("n1"), 1);  // still assumed until the watch shows it
}

// The connection was cut before the Binding was applied: the pod reads back unbound, so the
// Binding is sent once more.
TEST_F(BinderTest, ABindingLostBeforeItWasAppliedIsSentOnceMore) {
  Binder binder(client_, state_, groups_, config_, registry_);
  server_.SetBindFault(kube::testing::BindFault::kLoseRequest);
  json reply = Bind(binder, R"({"PodName":"p1","PodNamespace":"ns","PodUID":"u1","Node":"n1"})");
  EXPECT_EQ(reply["Error"], "");
  EXPECT_EQ(server_.bindings().size(), 2u);
  // Lost twice: the pod is still unbound, and the scheduler hears so.
  server_.Upsert("pods", "p4", PodJson("p4", "u4"));
  server_.SetBindFault(kube::testing::BindFault::kLoseRequest, 2);
  reply = Bind(binder, R"({"PodName":"p4","PodNamespace":"ns","PodUID":"u4","Node":"n1"})");
  EXPECT_NE(reply["Error"].get<std::string>().find("still unbound"), std::string::npos) << reply;
  EXPECT_EQ(server_.bindings().size(), 4u);
  EXPECT_EQ(state_->Current()->PodsOn("n1"), 1);  // p1's only
}

// kube-scheduler waits 5 s for an extender. A Binding the API server never answers ends in an
// Error within kube.bindTimeout, and the assumption is withdrawn.
TEST_F(BinderTest, ABindPastItsDeadlineIsAnErrorWithinTheDeadline) {
  std::chrono::nanoseconds took;
  // 2 s, so the read-back of the pod (a quarter of it, on a new TLS connection) completes even
  // under ThreadSanitizer; with 1 s it did not, once in CI.
  json reply = BindWithin(std::chrono::milliseconds(2000), kube::testing::BindFault::kStall, took);
  const std::string error = reply["Error"];
  EXPECT_NE(error.find("deadline exceeded"), std::string::npos) << error;
  EXPECT_NE(error.find("still unbound"), std::string::npos) << error;
  // 2 s, with slack for a loaded machine; without the deadline it took 10 s (20 s with retry).
  EXPECT_LT(took, std::chrono::milliseconds(3500));
  EXPECT_EQ(state_->Current()->PodsOn("n1"), 0);
  EXPECT_EQ(server_.bindings().size(), 1u);
}

// Applied, but answered too slowly: the Binding is cut at three quarters of the deadline and the
// pod read back in the last quarter shows it bound.
TEST_F(BinderTest, ABindAnsweredTooSlowlyIsConfirmedByReadingThePod) {
  std::chrono::nanoseconds took;
  // 2 s for the same reason as above: the read-back gets a quarter of the deadline on a new TLS
  // connection, and under ThreadSanitizer 250 ms was not enough, once in CI.
  json reply =
      BindWithin(std::chrono::milliseconds(2000), kube::testing::BindFault::kTrickle, took);
  EXPECT_EQ(reply["Error"], "");
  EXPECT_LT(took, std::chrono::milliseconds(3500));
  EXPECT_EQ(server_.bindings().size(), 1u);
}

TEST(DnsSubdomainTest, ValidNamesOnly) {
  EXPECT_TRUE(IsDnsSubdomain("hyperpod-i-0a01"));
  EXPECT_TRUE(IsDnsSubdomain("ip-10-1-9-9.us-west-2.compute.internal"));
  for (const char* bad : {"", "-a", "a-", "A", "a/b", "a b", "..", "a_b"}) {
    EXPECT_FALSE(IsDnsSubdomain(bad)) << bad;
  }
  EXPECT_FALSE(IsDnsSubdomain(std::string(254, 'a')));
}

// A bind from a process that never saw the pod's /filter (hyperplace restarted between the two,
// or the other replica behind the Service served the filter): the pod watch, which keeps pending
// pods, supplies the group, so the next pod of the gang is placed next to it.
class FailoverBindTest : public ::testing::Test {
 protected:
  static constexpr const char* kGroup = "hyperpod-ns-team-a/kueue.x-k8s.io/pod-group-name=train-7";

  // One hyperplace process: its own state, watch cache, memo, extender and binder. The registry
  // comes first so that it is destroyed last: the informers count events until the cache stops.
  struct Process {
    metrics::Registry registry;
    std::shared_ptr<MemoryState> state;
    std::shared_ptr<GroupMemo> memo = std::make_shared<GroupMemo>();
    std::unique_ptr<WatchCache> cache;
    std::unique_ptr<Extender> extender;
    std::unique_ptr<Binder> binder;
  };

  void SetUp() override {
    kube::Access access;
    access.server = server_.url();
    access.ca_pem = server_.pki().ca_pem;
    client_ = *kube::Client::Create(access, {});
    // Two racks of two p5 nodes: either holds the gang of 2, so only the placed peer decides.
    for (const auto& [name, rack] : {std::pair{"hyperpod-i-0a1", "nn-r1"},
                                     {"hyperpod-i-0a2", "nn-r1"},
                                     {"hyperpod-i-0b1", "nn-r2"},
                                     {"hyperpod-i-0b2", "nn-r2"}}) {
      server_.Upsert("nodes", name, NodeJson(name, rack));
    }
    server_.Upsert("pods", "train-7-0", PodObject("train-7-0"));
    server_.Upsert("pods", "train-7-1", PodObject("train-7-1"));
  }

  static std::string NodeJson(const std::string& name, const std::string& rack) {
    return R"({"kind":"Node","apiVersion":"v1","metadata":{"name":")" + name +
           R"(","resourceVersion":"__RV__","labels":{"node.kubernetes.io/instance-type":"ml.p5.48xlarge","topology.k8s.aws/network-node-layer-1":"nn-t","topology.k8s.aws/network-node-layer-2":"nn-s","topology.k8s.aws/network-node-layer-3":")" +
           rack +
           R"(","sagemaker.amazonaws.com/node-health-status":"Schedulable"}},"spec":{},"status":{"allocatable":{"pods":"49"}}})";
  }
  static std::string PodObject(const std::string& name) {
    return R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":")" + name +
           R"(","namespace":"hyperpod-ns-team-a","uid":"uid-)" + name +
           R"(","resourceVersion":"__RV__","labels":{"kueue.x-k8s.io/pod-group-name":"train-7","kueue.x-k8s.io/queue-name":"hyperpod-ns-team-a-localqueue"},"annotations":{"kueue.x-k8s.io/pod-group-total-count":"2","kueue.x-k8s.io/podset-required-topology":"topology.k8s.aws/network-node-layer-3"}},"spec":{"schedulerName":"hyperplace","containers":[{"name":"c"}]},"status":{"phase":"Pending"}})";
  }

  std::unique_ptr<Process> StartProcess() {
    auto p = std::make_unique<Process>();
    p->state = std::make_shared<MemoryState>(scoring::testing::DefaultPolicy());
    Config config;
    p->cache = std::make_unique<WatchCache>(client_, p->state, config.kube, p->registry);
    p->cache->Start();
    for (int i = 0; i < 1000 && !p->state->Ready(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(p->state->Ready());
    p->extender = std::make_unique<Extender>(p->state->policy(), p->state, p->registry, p->memo);
    p->binder = std::make_unique<Binder>(client_, p->state, p->memo, config, p->registry);
    return p;
  }

  static std::string Padded(const std::string& body) {
    return body + std::string(net::kBodyPadding, '\0');
  }
  // The nodes /filter kept for `pod` out of all four.
  static std::set<std::string> Filter(Process& p, const std::string& pod) {
    std::string object = PodObject(pod);
    object.replace(object.find("__RV__"), 6, "1");
    const std::string body =
        R"({"Pod":)" + object +
        R"(,"Nodes":null,"NodeNames":["hyperpod-i-0a1","hyperpod-i-0a2","hyperpod-i-0b1","hyperpod-i-0b2"]})";
    const std::string padded = Padded(body);
    net::Response response;
    p.extender->Filter(std::string_view(padded.data(), body.size()), response);
    EXPECT_EQ(response.status, 200) << response.body;
    std::set<std::string> kept;
    const json reply = json::parse(response.body);
    for (const json& n : reply["NodeNames"]) kept.insert(n.get<std::string>());
    return kept;
  }
  static void Bind(Process& p, const std::string& pod, const std::string& node) {
    const std::string body = R"({"PodName":")" + pod +
                             R"(","PodNamespace":"hyperpod-ns-team-a","PodUID":"uid-)" + pod +
                             R"(","Node":")" + node + R"("})";
    const std::string padded = Padded(body);
    net::Response response;
    p.binder->Bind(std::string_view(padded.data(), body.size()), response);
    EXPECT_EQ(json::parse(response.body)["Error"], "") << response.body;
  }

  FakeApiServer server_;
  std::shared_ptr<kube::Client> client_;
};

TEST_F(FailoverBindTest, ABindWithNoFilterAtAllKeepsTheGangTogether) {
  auto p = StartProcess();
  EXPECT_EQ(p->state->Current()->pending_pod_count(), 2u);
  EXPECT_EQ(p->state->GroupOf("uid-train-7-0"), kGroup);
  // Nothing placed: both racks hold the gang.
  EXPECT_EQ(Filter(*p, "train-7-1").size(), 4u);
  Bind(*p, "train-7-0", "hyperpod-i-0b1");  // no /filter for train-7-0 in this process
  // The assumption places it at once, before the watch shows the Binding: the next pod of the
  // gang is confined to rack r2.
  auto placements = p->state->Current()->GroupPlacements(kGroup);
  ASSERT_NE(placements, nullptr);
  EXPECT_EQ((*placements)[0].node, "hyperpod-i-0b1");
  EXPECT_EQ(Filter(*p, "train-7-1"), (std::set<std::string>{"hyperpod-i-0b1", "hyperpod-i-0b2"}));
}

TEST_F(FailoverBindTest, ARestartBetweenFilterAndBindKeepsTheGangTogether) {
  {
    auto first = StartProcess();
    EXPECT_EQ(Filter(*first, "train-7-0").size(), 4u);  // filtered here, then the process goes
    first->cache->Stop();
  }
  auto second = StartProcess();
  EXPECT_EQ(second->memo->Find("uid-train-7-0"), std::nullopt);  // it never saw the filter
  Bind(*second, "train-7-0", "hyperpod-i-0a2");
  EXPECT_EQ(Filter(*second, "train-7-1"),
            (std::set<std::string>{"hyperpod-i-0a1", "hyperpod-i-0a2"}));
  // And once the watch shows the Binding, the placement is the watch's.
  std::string bound = PodObject("train-7-0");
  bound.replace(bound.find(R"("schedulerName")"), 0, R"("nodeName":"hyperpod-i-0a2",)");
  bound.replace(bound.find(R"("phase":"Pending")"), 17, R"("phase":"Running")");
  server_.Upsert("pods", "train-7-0", bound);
  for (int i = 0; i < 1000 && second->state->assumed_count() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(second->state->assumed_count(), 0u);
  EXPECT_EQ(Filter(*second, "train-7-1"),
            (std::set<std::string>{"hyperpod-i-0a1", "hyperpod-i-0a2"}));
}

}  // namespace
}  // namespace hyperplace::extender