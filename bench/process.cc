#include "bench/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <thread>

extern char** environ;

namespace hyperplace::bench {

ChildProcess::~ChildProcess() {
  if (pid_ > 0) Stop();
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(other.pid_), log_file_(std::move(other.log_file_)), exit_(std::move(other.exit_)) {
  other.pid_ = -1;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0) Stop();
    pid_ = other.pid_;
    log_file_ = std::move(other.log_file_);
    exit_ = std::move(other.exit_);
    other.pid_ = -1;
  }
  return *this;
}

StatusOr<ChildProcess> ChildProcess::Spawn(const std::vector<std::string>& argv,
                                           const std::string& log_file, int cpu) {
  if (argv.empty()) return InvalidArgument("spawn: empty command");
  // posix_spawn has no affinity attribute: the child inherits this thread's mask at fork, so set
  // it around the spawn and put it back.
  cpu_set_t saved;
  CPU_ZERO(&saved);
  const bool pin = cpu >= 0 && sched_getaffinity(0, sizeof saved, &saved) == 0;
  if (pin) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) {
      return InvalidArgument("cannot pin to CPU " + std::to_string(cpu) + ": " +
                             std::strerror(errno));
    }
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  // The harness blocks no signals, but make sure the child starts with an empty mask.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0].c_str(), &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (pin) sched_setaffinity(0, sizeof saved, &saved);
  if (rc != 0) return Unavailable("cannot start " + argv[0] + ": " + std::strerror(rc));
  ChildProcess child;
  child.pid_ = pid;
  child.log_file_ = log_file;
  return child;
}

void ChildProcess::Reaped(int status) {
  if (WIFEXITED(status)) {
    exit_ = "exit " + std::to_string(WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    exit_ = "signal " + std::to_string(WTERMSIG(status));
  } else {
    exit_ = "ended";
  }
  pid_ = -1;
}

bool ChildProcess::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    Reaped(status);
    return false;
  }
  return true;
}

std::string ChildProcess::Stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return exit_;
  kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      Reaped(status);
      return exit_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  Reaped(status);
  exit_ += " (killed after " + std::to_string(grace.count()) + " ms)";
  return exit_;
}

std::string ChildProcess::LogTail(int lines) const {
  std::ifstream in(log_file_);
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(line);
    if (static_cast<int>(tail.size()) > lines) tail.pop_front();
  }
  std::string out;
  for (const std::string& l : tail) out += (out.empty() ? "" : "\n") + l;
  return out;
}

StatusOr<std::uint16_t> FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Unavailable(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string err = std::strerror(errno);
    ::close(fd);
    return Unavailable("cannot find a free port: " + err);
  }
  ::close(fd);
  return static_cast<std::uint16_t>(ntohs(addr.sin_port));
}

Status WaitForHttp200(const Endpoint& endpoint, const std::string& path,
                      std::chrono::milliseconds timeout, ChildProcess* child) {
  const auto deadline = Clock::now() + timeout;
  const std::string head = RequestHead("GET", path, endpoint, 0);
  std::string last = "no answer";
  HttpConnection conn(endpoint);
  while (Clock::now() < deadline) {
    if (child != nullptr && !child->Running()) {
      return Unavailable(child->log_file() + ": the process ended (" + child->exit_description() +
                         ") before " + endpoint.Url() + path + " answered 200:\n" +
                         child->LogTail());
    }
    HttpReply reply;
    std::string error;
    const ErrorKind k =
        conn.RoundTrip(head, std::string_view(),
                       std::min(deadline, Clock::now() + std::chrono::seconds(2)), reply, &error);
    if (k == ErrorKind::kOk && reply.status == 200) return Status::Ok();
    last = k == ErrorKind::kOk ? "HTTP " + std::to_string(reply.status) + " " +
                                     std::string(reply.body.substr(0, 200))
                               : error;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Unavailable(endpoint.Url() + path + " did not answer 200 within " +
                     std::to_string(timeout.count()) + " ms; last: " + last);
}

Status WaitForConnect(const Endpoint& endpoint, std::chrono::milliseconds timeout,
                      ChildProcess* child) {
  const auto deadline = Clock::now() + timeout;
  std::string last = "no answer";
  while (Clock::now() < deadline) {
    if (child != nullptr && !child->Running()) {
      return Unavailable(child->log_file() + ": the process ended (" + child->exit_description() +
                         ") before " + endpoint.Url() + " accepted connections:\n" +
                         child->LogTail());
    }
    HttpConnection conn(endpoint);
    if (conn.Connect(std::min(deadline, Clock::now() + std::chrono::seconds(2)), &last) ==
        ErrorKind::kOk) {
      return Status::Ok();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Unavailable(endpoint.Url() + " did not accept connections within " +
                     std::to_string(timeout.count()) + " ms; last: " + last);
}

bool PinSelfToCpu(int cpu) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  return sched_setaffinity(0, sizeof one, &one) == 0;
}

std::string SelfExecutable() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "hpbench";
  return std::string(buf, static_cast<std::size_t>(n));
}

}  // namespace hyperplace::bench
