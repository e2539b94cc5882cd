// A small Kubernetes API client: JSON requests and streamed GETs (watches) over HTTPS, verifying
// the server against the configured CA, authenticating with a bearer token (re-read when its file
// rotates) or a client certificate. Transport is cpp-httplib's client over OpenSSL, with
// TCP_NODELAY and keep-alive.
//
// Thread-safe: requests run concurrently on pooled connections (binds arrive concurrently from
// kube-scheduler's binding goroutines); each stream holds its own connection.
//
// Retries (the rules of Go's net/http transport): a request is sent again, on a fresh connection,
// only when it provably never reached the server (the connection could not be made), or when it
// is a GET that failed on a pooled connection the server may have closed meanwhile. A POST (or
// any other write) whose bytes went out is never sent twice: its failure is reported with
// `maybe_applied`, and the caller finds out what the server did (extender/binder.cc reads the
// pod back).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"
#include "kube/access.h"

namespace httplib {
class ClientImpl;
}

namespace hyperplace::kube {

using Deadline = std::chrono::steady_clock::time_point;
inline constexpr Deadline kNoDeadline = Deadline::max();

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{5000};
  // Each attempt of a request without a deadline of its own ends after this long.
  std::chrono::milliseconds request_timeout{10000};
  std::string user_agent = "hyperplace";
  std::size_t max_idle_connections = 8;
  // Idle connections older than this are closed rather than reused: servers close idle
  // connections on their own schedule, and a request written into a closed one fails.
  std::chrono::milliseconds max_idle_age{30000};
  // A longer response body fails the request (OutOfRange); a list page or object, never more.
  std::size_t max_response_bytes = 256u << 20;
};

struct Response {
  int status = 0;
  std::string body;
};

// The outcome of one request: a Response for any HTTP status, or a transport failure.
struct Outcome {
  // A transport failure is Unavailable naming the method and path ("deadline exceeded" when the
  // deadline cut it); a body over max_response_bytes is OutOfRange.
  StatusOr<Response> response = Unavailable("not sent");
  // For a failure: whether the server may have received the whole request and acted on it.
  // False only when it provably did not (no connection was made; nothing was written).
  bool maybe_applied = false;
};

// Lets another thread abort one stream (an informer stopping) without touching the others.
class CancelToken {
 public:
  void Cancel();
  bool cancelled() const;

 private:
  friend class Client;
  mutable std::mutex mu_;
  bool cancelled_ = false;
  httplib::ClientImpl* active_ = nullptr;
};

class Client {
 public:
  // Validates the access (URL, PEM blocks) up front; no connection is made yet.
  static StatusOr<std::shared_ptr<Client>> Create(const Access& access, ClientOptions options);
  ~Client();

  // One request with a JSON body (may be empty), finished or abandoned by `deadline` (connect,
  // write and read together, retries included; without one, each attempt gets request_timeout).
  // Any HTTP status is a Response. See the retry rules above.
  Outcome Send(std::string_view method, const std::string& path, std::string_view body = {},
               Deadline deadline = kNoDeadline);
  // Send() for callers that do not need to know whether a failed request may have been applied
  // (reads).
  StatusOr<Response> Request(std::string_view method, const std::string& path,
                             std::string_view body = {}, Deadline deadline = kNoDeadline) {
    return Send(method, path, body, deadline).response;
  }

  // GET with the body streamed to `on_data` as it arrives (returning false stops the stream).
  // `idle_timeout` bounds silence between bytes. Returns the HTTP status; for a status other than
  // 200 the body (up to 64 KiB) goes to `error_body` instead of `on_data`.
  StatusOr<int> Stream(const std::string& path, std::chrono::milliseconds idle_timeout,
                       const std::function<bool(std::string_view)>& on_data,
                       std::string* error_body, CancelToken* cancel = nullptr);

  // Aborts every request and stream in progress; later calls fail at once. For shutdown.
  void CancelAll();

  const std::string& server() const { return access_.server; }

 private:
  Client(Access access, ClientOptions options);
  StatusOr<std::unique_ptr<httplib::ClientImpl>> NewConnection(
      std::chrono::milliseconds read_timeout);
  StatusOr<std::string> Authorization();
  // One attempt on `c`, cut at `deadline` by the watchdog.
  struct Attempt;
  void RunAttempt(httplib::ClientImpl& c, std::string_view method, const std::string& path,
                  std::string_view body, const std::string& authorization, Deadline deadline,
                  Attempt& attempt);
  // Stops connections whose request outlived its deadline. Started with the first deadline.
  void Watchdog();

  const Access access_;
  const ClientOptions options_;
  std::string host_;
  int port_ = 0;
  bool https_ = true;
  TokenSource tokens_;

  struct Idle {
    std::unique_ptr<httplib::ClientImpl> connection;
    std::chrono::steady_clock::time_point since;
  };
  // A request in progress: CancelAll and the watchdog stop its connection.
  struct Active {
    httplib::ClientImpl* connection;
    Deadline deadline;
    bool timed_out = false;
    bool stopping = false;  // the watchdog is stopping it outside mu_: do not free the connection
  };
  std::mutex mu_;
  std::condition_variable watch_cv_;  // the earliest deadline changed, a stop finished, or exit
  std::vector<Idle> idle_;
  std::vector<Active*> active_;
  bool cancelled_ = false;
  bool watchdog_exit_ = false;
  std::thread watchdog_;
};

// Percent-encodes a query parameter value.
std::string QueryEscape(std::string_view value);

}  // namespace hyperplace::kube
