// Memory of the real binary under hostile requests (DESIGN §5: "no request, however large or
// hostile, leaves more than a few MiB behind once answered"). Runs `hyperplace serve` as a child
// process, with no API server, and reads its RSS from /proc. Built without sanitizers only: their
// shadow memory and quarantine are not the product's memory.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace hyperplace {
namespace {

using namespace std::chrono_literals;

std::uint16_t FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t length = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A /proc/<pid>/status field in KiB ("VmRSS", "VmHWM"), or -1.
long StatusKiB(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0)
      return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
  }
  return -1;
}

class Server {
 public:
  Server() : port_(FreePort()) {
    const char* bin = std::getenv("HYPERPLACE_BIN");
    if (bin == nullptr) bin = HYPERPLACE_BIN;  // the build's binary
    const std::string listen = "127.0.0.1:" + std::to_string(port_);
    std::vector<std::string> args = {bin,    "serve",       "--extender-listen",
                                     listen, "--log-level", "error"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid_, bin, &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Server() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }

  pid_t pid() const { return pid_; }
  std::uint16_t port() const { return port_; }

 private:
  std::uint16_t port_;
  pid_t pid_ = -1;
};

std::string Pod() { return R"("Pod":{"metadata":{"name":"p","namespace":"hyperpod-ns-a"}})"; }

// 99,000 long names no cache knows: 8.3 MB.
std::string UnknownNames() {
  std::string body = "{" + Pod() + ",\"NodeNames\":[";
  for (int i = 0; i < 99000; ++i) {
    if (i > 0) body += ',';
    body += "\"ghost-" + std::string(70, 'g') + "-" + std::to_string(100000 + i) + "\"";
  }
  return body + "]}";
}

// One 8 MB string in a field the extender ignores.
std::string IgnoredField() {
  return "{" + Pod() + ",\"NodeNames\":[],\"Junk\":\"" + std::string(8u << 20, 'j') + "\"}";
}

// 99,000 node objects: 8 MB in full-node mode.
std::string FullNodes() {
  std::string body = "{" + Pod() + ",\"Nodes\":{\"metadata\":{},\"items\":[";
  for (int i = 0; i < 99000; ++i) {
    if (i > 0) body += ',';
    body += R"({"metadata":{"name":"n)" + std::to_string(i) + R"(","labels":{"a":")" +
            std::string(40, 'v') + "\"}}}";
  }
  return body + "]}}";
}

TEST(MemoryTest, HostileBodiesLeaveNoMemoryBehind) {
  Server server;
  ASSERT_GT(server.pid(), 0) << "cannot start " << HYPERPLACE_BIN;
  httplib::Client probe("127.0.0.1", server.port());
  bool up = false;
  for (int i = 0; i < 500 && !up; ++i) {
    auto res = probe.Get("/healthz");
    up = res && res->status == 200;
    if (!up) std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(up) << "hyperplace did not start";

  // Baseline: started, and a normal request served on each handler thread's path.
  const std::string small = "{" + Pod() + ",\"NodeNames\":[\"a\",\"b\"]}";
  for (int i = 0; i < 20; ++i) {
    auto res = probe.Post("/filter", small, "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
  }
  std::this_thread::sleep_for(2500ms);
  const long baseline = StatusKiB(server.pid(), "VmRSS");
  ASSERT_GT(baseline, 0);

  const std::vector<std::pair<std::string, std::string>> hostile = {
      {"/filter", UnknownNames()},
      {"/prioritize", UnknownNames()},
      {"/filter", IgnoredField()},
      {"/filter", FullNodes()},
  };
  std::vector<int> statuses(hostile.size(), 0);
  std::vector<std::size_t> reply_bytes(hostile.size(), 0);
  std::vector<std::thread> clients;
  for (std::size_t i = 0; i < hostile.size(); ++i) {
    clients.emplace_back([&, i] {
      httplib::Client client("127.0.0.1", server.port());
      client.set_read_timeout(30, 0);
      client.set_write_timeout(30, 0);
      auto res = client.Post(hostile[i].first, hostile[i].second, "application/json");
      if (res) {
        statuses[i] = res->status;
        reply_bytes[i] = res->body.size();
      }
    });
  }
  for (std::thread& t : clients) t.join();
  for (std::size_t i = 0; i < hostile.size(); ++i) {
    EXPECT_EQ(statuses[i], 200) << i;
    // Never larger than the request; in names mode bounded by the cluster (here: empty).
    EXPECT_LT(reply_bytes[i], hostile[i].second.size()) << i;
    if (hostile[i].second.find("\"NodeNames\":[\"ghost") != std::string::npos) {
      EXPECT_LT(reply_bytes[i], 64u << 10) << i;
    }
  }
  const long peak = StatusKiB(server.pid(), "VmHWM");

  // Buffers are released after a second idle, handler scratch after a second without requests.
  std::this_thread::sleep_for(3s);
  const long after = StatusKiB(server.pid(), "VmRSS");
  std::printf("baseline %ld KiB, peak %ld KiB, after %ld KiB\n", baseline, peak, after);
  EXPECT_LT(peak - baseline, 160 * 1024) << "peak " << peak << " KiB over baseline " << baseline;
  EXPECT_LT(after - baseline, 4 * 1024) << "after " << after << " KiB, baseline " << baseline;

  // Still serving.
  auto res = probe.Post("/filter", small, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

}  // namespace
}  // namespace hyperplace
