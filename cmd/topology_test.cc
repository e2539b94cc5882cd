#include "cmd/topology.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cmd/serve.h"
#include "kube/access.h"
#include "kube/client.h"
#include "kube/testing/fake_apiserver.h"

namespace hyperplace::cli {
namespace {

const std::string kTestdata = std::string(HYPERPLACE_SOURCE_DIR) + "/inspect/testdata";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TopologyFlags FromFixture(std::string output, bool jobs) {
  TopologyFlags flags;
  flags.from = {kTestdata + "/cluster.json"};
  flags.output = std::move(output);
  flags.jobs = jobs;
  return flags;
}

// The command reads the saved lists with the configuration's defaults: what the renderers'
// goldens show (inspect/render_test.cc writes them).
TEST(TopologyCommandTest, FromFileGivesTheGoldens) {
  auto json = RunTopology(FromFixture("json", true));
  ASSERT_TRUE(json.ok()) << json.status().message();
  EXPECT_EQ(*json, ReadFile(kTestdata + "/golden/topology.json"));
  auto text = RunTopology(FromFixture("text", true));
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, ReadFile(kTestdata + "/golden/topology.txt"));
  auto mermaid = RunTopology(FromFixture("mermaid", false));
  ASSERT_TRUE(mermaid.ok());
  EXPECT_EQ(*mermaid, ReadFile(kTestdata + "/golden/topology.mmd"));
  auto html = RunTopology(FromFixture("html", true));
  ASSERT_TRUE(html.ok());
  EXPECT_EQ(html->rfind("<!DOCTYPE html>", 0), 0u);
}

// Nodes and pods split over several files (kubectl get nodes / get pods) give the same view.
TEST(TopologyCommandTest, SeveralFilesAddUp) {
  auto all = nlohmann::json::parse(ReadFile(kTestdata + "/cluster.json"));
  nlohmann::json nodes = {{"kind", "NodeList"}, {"items", nlohmann::json::array()}};
  nlohmann::json pods = {{"kind", "PodList"}, {"items", nlohmann::json::array()}};
  for (auto item : all["items"]) {
    std::string kind = item["kind"];
    item.erase("kind");  // as the API server lists them
    (kind == "Node" ? nodes : pods)["items"].push_back(item);
  }
  std::string dir = ::testing::TempDir();
  std::ofstream(dir + "/nodes.json") << nodes.dump();
  std::ofstream(dir + "/pods.json") << pods.dump();
  TopologyFlags flags = FromFixture("json", true);
  flags.from = {dir + "/pods.json", dir + "/nodes.json"};
  auto json = RunTopology(flags);
  ASSERT_TRUE(json.ok()) << json.status().message();
  EXPECT_EQ(*json, ReadFile(kTestdata + "/golden/topology.json"));
}

// A client of a fake API server that holds the fixture's items.
std::shared_ptr<kube::Client> FixtureClient(kube::testing::FakeApiServer& api) {
  auto all = nlohmann::json::parse(ReadFile(kTestdata + "/cluster.json"));
  for (const auto& item : all["items"]) {
    api.Upsert(item["kind"] == "Node" ? "nodes" : "pods", item["metadata"]["name"], item.dump());
  }
  kube::Access access;
  access.server = api.url();
  access.ca_pem = api.pki().ca_pem;
  auto client = kube::Client::Create(access, {});
  EXPECT_TRUE(client.ok()) << client.status().message();
  return client.ok() ? *client : nullptr;
}

// Against an API server: every node and pod listed, in pages, gives what the saved lists give.
TEST(TopologyCommandTest, LiveListMatchesTheSavedLists) {
  kube::testing::FakeApiServer api;
  std::shared_ptr<kube::Client> client = FixtureClient(api);
  ASSERT_NE(client, nullptr);
  Config config;
  config.kube.list_page_size = 4;  // 15 nodes and 12 pods: several pages each
  auto view = LiveView(*client, config);
  ASSERT_TRUE(view.ok()) << view.status().message();
  EXPECT_EQ(inspect::RenderJson(*view, {.tree = true, .jobs = true}),
            ReadFile(kTestdata + "/golden/topology.json"));
  EXPECT_GE(api.list_requests("nodes"), 4);
  client->CancelAll();
}

// GET /debug/topology and /debug/jobs answer the command's JSON, in two parts; a pending pod the
// extender rejected everywhere carries the extender's own verdict.
TEST(DebugEndpointsTest, ServeTheCommandsJson) {
  kube::testing::FakeApiServer api;
  std::shared_ptr<kube::Client> client = FixtureClient(api);
  ASSERT_NE(client, nullptr);
  auto verdicts = std::make_shared<extender::FilterVerdicts>();
  verdicts->Rejected("uid-eval-c-2", "0/15 nodes fit: 15 hyperplace: stand-in verdict");

  net::HttpServer server({});
  RegisterDebug(server, client, Config{}, verdicts);
  ASSERT_TRUE(server.Listen({"127.0.0.1", 0}).ok());
  ASSERT_TRUE(server.Start().ok());
  httplib::Client http("127.0.0.1", server.port());

  auto tree = http.Get("/debug/topology");
  ASSERT_TRUE(tree);
  EXPECT_EQ(tree->status, 200);
  auto golden = nlohmann::json::parse(ReadFile(kTestdata + "/golden/topology.json"));
  auto got = nlohmann::json::parse(tree->body);
  EXPECT_EQ(got["cluster"], golden["cluster"]);
  EXPECT_FALSE(got.contains("jobs"));

  // Each answer is listed for its request: nothing stale.
  const int lists = api.list_requests("nodes");
  auto jobs = http.Get("/debug/jobs");
  ASSERT_TRUE(jobs);
  EXPECT_EQ(jobs->status, 200);
  EXPECT_GT(api.list_requests("nodes"), lists);
  got = nlohmann::json::parse(jobs->body);
  EXPECT_FALSE(got.contains("cluster"));
  ASSERT_EQ(got["jobs"].size(), golden["jobs"].size());
  // eval-c-2: the extender's verdict instead of the scheduler's message; all else as the golden.
  EXPECT_EQ(got["jobs"][0]["pods"][2]["pendingReason"],
            "0/15 nodes fit: 15 hyperplace: stand-in verdict");
  got["jobs"][0]["pods"][2]["pendingReason"] = golden["jobs"][0]["pods"][2]["pendingReason"];
  EXPECT_EQ(got["jobs"], golden["jobs"]);
  server.Shutdown(std::chrono::milliseconds(100));
  client->CancelAll();
}

// One answer is built at a time: a request arriving while another lists the cluster is told to
// come back instead of taking a second handler thread and a second list.
TEST(DebugEndpointsTest, OneListAtATimeOthersComeBack) {
  kube::testing::FakeApiServer api;
  std::shared_ptr<kube::Client> client = FixtureClient(api);
  ASSERT_NE(client, nullptr);
  net::HttpServer server({});
  RegisterDebug(server, client, Config{}, nullptr);
  ASSERT_TRUE(server.Listen({"127.0.0.1", 0}).ok());
  ASSERT_TRUE(server.Start().ok());
  api.SetListDelayMs(1500);
  const int lists = api.list_requests("nodes");
  int first_status = 0;
  std::thread first([&] {
    httplib::Client http("127.0.0.1", server.port());
    http.set_read_timeout(30, 0);
    if (auto r = http.Get("/debug/topology")) first_status = r->status;
  });
  // The first request is listing once the API server has seen its list.
  while (api.list_requests("nodes") == lists) std::this_thread::yield();
  httplib::Client http("127.0.0.1", server.port());
  auto second = http.Get("/debug/jobs");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 503);
  EXPECT_EQ(second->get_header_value("Retry-After"), "1");
  EXPECT_NE(second->body.find("another /debug request"), std::string::npos);
  first.join();
  EXPECT_EQ(first_status, 200);
  api.SetListDelayMs(0);
  server.Shutdown(std::chrono::milliseconds(100));
  client->CancelAll();
}

TEST(DebugEndpointsTest, WithoutAnApiServerTheySayWhy) {
  net::HttpServer server({});
  RegisterDebug(server, nullptr, Config{}, nullptr);
  ASSERT_TRUE(server.Listen({"127.0.0.1", 0}).ok());
  ASSERT_TRUE(server.Start().ok());
  httplib::Client http("127.0.0.1", server.port());
  auto r = http.Get("/debug/jobs");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("no API server"), std::string::npos);
  server.Shutdown(std::chrono::milliseconds(100));
}

TEST(TopologyCommandTest, ProblemsAreNamed) {
  TopologyFlags missing = FromFixture("text", false);
  missing.from = {"/nonexistent/cluster.json"};
  auto r = RunTopology(missing);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/cluster.json"), std::string::npos);

  std::string bad = ::testing::TempDir() + "/configmap.json";
  std::ofstream(bad) << R"({"kind":"ConfigMap","data":{}})";
  TopologyFlags other = FromFixture("text", false);
  other.from = {bad};
  r = RunTopology(other);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a list of Nodes or Pods"), std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace hyperplace::cli
