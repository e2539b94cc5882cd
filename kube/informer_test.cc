#include "kube/informer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <set>
#include <thread>

#include "common/log.h"
#include "kube/testing/fake_apiserver.h"

namespace hyperplace::kube {
namespace {

using testing::FakeApiServer;

std::string NodeJson(const std::string& name, const std::string& label = "x") {
  return R"({"kind":"Node","apiVersion":"v1","metadata":{"name":")" + name +
         R"(","resourceVersion":"__RV__","labels":{"l":")" + label + R"("}}})";
}

// Records what the informer delivers, as a map name -> label value, plus counts.
class Recorder : public InformerHandler {
 public:
  void BeginList() override {
    std::lock_guard lock(mu_);
    staged_.clear();
  }
  void ListItems(const std::vector<std::string_view>& objects) override {
    std::lock_guard lock(mu_);
    ++pages_;
    for (auto o : objects) staged_[NameOf(o)] = LabelOf(o);
  }
  void EndList() override {
    std::lock_guard lock(mu_);
    objects_ = staged_;
    ++lists_;
    cv_.notify_all();
  }
  void OnEvent(EventType type, std::string_view object) override {
    std::lock_guard lock(mu_);
    ++events_;
    if (type == EventType::kDeleted) {
      objects_.erase(NameOf(object));
    } else {
      objects_[NameOf(object)] = LabelOf(object);
    }
    cv_.notify_all();
  }

  // Waits (bounded) until `pred` holds over the recorded objects.
  template <typename Pred>
  bool WaitFor(Pred pred) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return pred(objects_); });
  }
  int lists() {
    std::lock_guard lock(mu_);
    return lists_;
  }
  int pages() {
    std::lock_guard lock(mu_);
    return pages_;
  }
  int events() {
    std::lock_guard lock(mu_);
    return events_;
  }

 private:
  static std::string Field(std::string_view o, std::string_view key) {
    auto at = o.find(key);
    auto start = o.find('"', at + key.size()) + 1;
    return std::string(o.substr(start, o.find('"', start) - start));
  }
  static std::string NameOf(std::string_view o) { return Field(o, "\"name\":"); }
  static std::string LabelOf(std::string_view o) { return Field(o, "\"l\":"); }

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> staged_, objects_;
  int lists_ = 0, pages_ = 0, events_ = 0;
};

class InformerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.RequireToken("secret");
    Access access;
    access.server = server_.url();
    access.ca_pem = server_.pki().ca_pem;
    access.token = "secret";
    client_ = *Client::Create(access, {});
  }
  std::unique_ptr<Informer> Make(Recorder& recorder, std::uint32_t page_size = 3) {
    InformerOptions options;
    options.resource = "nodes";
    options.path = "/api/v1/nodes";
    options.timing.list_page_size = page_size;
    options.timing.backoff_initial = std::chrono::milliseconds(20);
    options.timing.backoff_max = std::chrono::milliseconds(200);
    return std::make_unique<Informer>(client_, options, &recorder, registry_);
  }

  FakeApiServer server_;
  std::shared_ptr<Client> client_;
  metrics::Registry registry_;
};

TEST_F(InformerTest, ListsInPagesThenWatchesChanges) {
  for (int i = 0; i < 7; ++i)
    server_.Upsert("nodes", "n" + std::to_string(i), NodeJson("n" + std::to_string(i)));
  Recorder recorder;
  auto informer = Make(recorder);
  informer->Start();
  ASSERT_TRUE(recorder.WaitFor([](auto& o) { return o.size() == 7; }));
  EXPECT_EQ(recorder.pages(), 3);  // 3 + 3 + 1
  for (int i = 0; i < 500 && !informer->Synced(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(informer->Synced());

  server_.Upsert("nodes", "n1", NodeJson("n1", "changed"));
  server_.Upsert("nodes", "n9", NodeJson("n9"));
  server_.Delete("nodes", "n0");
  ASSERT_TRUE(recorder.WaitFor([](auto& o) {
    return o.size() == 7 && o.count("n9") && !o.count("n0") && o.at("n1") == "changed";
  }));
  EXPECT_EQ(server_.list_requests("nodes"), 3);
}

TEST_F(InformerTest, BookmarksAdvanceTheResourceVersion) {
  server_.Upsert("nodes", "n0", NodeJson("n0"));
  Recorder recorder;
  auto informer = Make(recorder);
  informer->Start();
  ASSERT_TRUE(recorder.WaitFor([](auto& o) { return o.size() == 1; }));
  const std::string before = informer->resource_version();
  server_.Bookmark("nodes");
  for (int i = 0; i < 500 && informer->resource_version() == before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GT(std::stoll(informer->resource_version()), std::stoll(before));
  EXPECT_EQ(recorder.events(), 0);  // a bookmark is not an object change
}

TEST_F(InformerTest, CutConnectionResumesFromTheLastVersionWithoutRelisting) {
  server_.Upsert("nodes", "n0", NodeJson("n0"));
  Recorder recorder;
  auto informer = Make(recorder);
  informer->Start();
  ASSERT_TRUE(recorder.WaitFor([](auto& o) { return o.size() == 1; }));
  for (int i = 0; i < 500 && server_.watch_requests("nodes") < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  server_.CutWatches("nodes");
  server_.Upsert("nodes", "n1", NodeJson("n1"));  // happens while disconnected
  ASSERT_TRUE(recorder.WaitFor([](auto& o) { return o.size() == 2; }));
  server_.Upsert("nodes", "n2", NodeJson("n2"));
  ASSERT_TRUE(recorder.WaitFor([](auto& o) { return o.size() == 3; }));
  EXPECT_EQ(recorder.lists(), 1);
  EXPECT_EQ(server_.list_requests("nodes"), 1);
  EXPECT_GE(server_.watch_requests("nodes"), 2);
}

TEST_F(InformerTest, GoneRelistsAndDropsWhatDisappeared) {
  server_.Upsert("nodes", "n0", NodeJson("n0"));
  server_.Upsert("nodes", "n1", NodeJson("n1"));
  Recorder recorder;
  auto informer = Make(recorder);
  informer->Start();
  ASSERT_TRUE(recorder.WaitFor([](auto& o) { return o.size() == 2; }));
  // While the history is compacted, n0 goes away and n2 arrives: only a relist can tell.
  server_.Compact("nodes");
  server_.Delete("nodes", "n0");
  server_.Upsert("nodes", "n2", NodeJson("n2"));
  server_.Compact("nodes");
  ASSERT_TRUE(recorder.WaitFor(
      [](auto& o) { return o.size() == 2 && o.count("n1") && o.count("n2") && !o.count("n0"); }));
  EXPECT_GE(recorder.lists(), 2);
}

TEST_F(InformerTest, WrongTokenNeverSyncsAndKeepsRetrying) {
  Access access;
  access.server = server_.url();
  access.ca_pem = server_.pki().ca_pem;
  access.token = "wrong";
  client_ = *Client::Create(access, {});
  log::Configure(LogLevel::kError, LogFormat::kText);  // the retries log a warning each
  Recorder recorder;
  auto informer = Make(recorder);
  informer->Start();
  for (int i = 0; i < 300 && server_.unauthorized_requests() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(server_.unauthorized_requests(), 3);
  EXPECT_EQ(server_.list_requests("nodes"), 0);
  EXPECT_FALSE(informer->Synced());
  informer->Stop();
  log::Configure(LogLevel::kInfo, LogFormat::kText);
}

TEST_F(InformerTest, UntrustedServerCertificateIsRefused) {
  Access access;
  access.server = server_.url();
  access.ca_pem = testing::TestPki::Make().ca_pem;  // another CA
  access.token = "secret";
  auto client = *Client::Create(access, {});
  auto response = client->Request("GET", "/api/v1/nodes");
  ASSERT_FALSE(response.ok());
  EXPECT_NE(response.status().message().find("GET https://127.0.0.1"), std::string::npos)
      << response.status().message();
  EXPECT_NE(response.status().message().find("not trusted"), std::string::npos)
      << response.status().message();
  EXPECT_EQ(server_.list_requests("nodes"), 0);
}

TEST_F(InformerTest, RequestsSurviveTheServerClosingIdleConnections) {
  server_.Upsert("nodes", "n0", NodeJson("n0"));
  ASSERT_TRUE(client_->Request("GET", "/api/v1/nodes").ok());
  // The fake closes idle connections after 1 s; the pooled one is dead now.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  for (int i = 0; i < 3; ++i) {
    auto response = client_->Request("GET", "/api/v1/nodes");
    ASSERT_TRUE(response.ok()) << response.status().message();
    EXPECT_EQ(response->status, 200);
  }
}

TEST_F(InformerTest, StopAbortsAWatchPromptly) {
  Recorder recorder;
  auto informer = Make(recorder);
  informer->Start();
  ASSERT_TRUE(recorder.WaitFor([](auto&) { return true; }));
  for (int i = 0; i < 300 && server_.watch_requests("nodes") < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  informer->Stop();  // must return although the watch would idle for minutes
  EXPECT_GE(server_.watch_requests("nodes"), 1);
}

TEST(ParseTest, PagesAndEvents) {
  std::string page =
      R"({"kind":"NodeList","metadata":{"resourceVersion":"42","continue":"abc"},"items":[{"a":1},{"b":[2]}]})";
  page.append(64, '\0');
  Informer::Page p;
  ASSERT_TRUE(Informer::ParsePage(std::string_view(page.data(), page.size() - 64), p).ok());
  EXPECT_EQ(p.resource_version, "42");
  EXPECT_EQ(p.continue_token, "abc");
  ASSERT_EQ(p.items.size(), 2u);
  EXPECT_EQ(p.items[1], R"({"b":[2]})");

  WatchEvent e;
  ASSERT_TRUE(
      ParseWatchEvent(
          R"({"type":"MODIFIED","object":{"metadata":{"name":"n","resourceVersion":"7"}}})", e)
          .ok());
  EXPECT_EQ(e.type, "MODIFIED");
  EXPECT_EQ(e.resource_version, "7");
  EXPECT_EQ(e.object, R"({"metadata":{"name":"n","resourceVersion":"7"}})");
  ASSERT_TRUE(ParseWatchEvent(R"({"type":"ERROR","object":{"kind":"Status","code":410}})", e).ok());
  EXPECT_EQ(e.error_code, 410);
  for (const char* bad : {"", "{", "[]", R"({"type":"ADDED"})", R"({"object":{}})"}) {
    EXPECT_FALSE(ParseWatchEvent(bad, e).ok()) << bad;
  }
}

}  // namespace
}  // namespace hyperplace::kube
