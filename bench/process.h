// Child processes for the harness: the hyperplace under test and the floor server. Started with
// their output in a log file, stopped with SIGTERM (then SIGKILL after a grace period), and
// waited for over HTTP.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/http_client.h"
#include "common/status.h"

namespace hyperplace::bench {

class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();  // Stop()s a running child
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;

  // Starts argv[0] (a path) with `argv`; stdout and stderr go to `log_file` (truncated). With
  // `cpu` >= 0 the child (and every thread it starts) runs on that CPU only.
  static StatusOr<ChildProcess> Spawn(const std::vector<std::string>& argv,
                                      const std::string& log_file, int cpu = -1);

  // False once the child exited (it is then reaped; exit_description() says how).
  bool Running();
  // SIGTERM, wait up to `grace`, then SIGKILL. Returns how it ended ("exit 0", "signal 9").
  std::string Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(15000));

  pid_t pid() const { return pid_; }
  const std::string& log_file() const { return log_file_; }
  const std::string& exit_description() const { return exit_; }
  // The last `lines` lines of the log, for error messages.
  std::string LogTail(int lines = 5) const;

 private:
  void Reaped(int status);

  pid_t pid_ = -1;
  std::string log_file_;
  std::string exit_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
StatusOr<std::uint16_t> FreeLoopbackPort();

// Polls `GET path` every 50 ms until it answers 200. Fails at the deadline, or at once when
// `child` (optional) exits, naming the last answer or error.
Status WaitForHttp200(const Endpoint& endpoint, const std::string& path,
                      std::chrono::milliseconds timeout, ChildProcess* child = nullptr);

// Connects (TCP, and for HTTPS the verified TLS handshake) every 50 ms until that works.
Status WaitForConnect(const Endpoint& endpoint, std::chrono::milliseconds timeout,
                      ChildProcess* child = nullptr);

// Restricts the calling process's future threads (and this one) to `cpu`. False if impossible.
bool PinSelfToCpu(int cpu);

// The path of this executable (/proc/self/exe).
std::string SelfExecutable();

}  // namespace hyperplace::bench
