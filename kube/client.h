// A small Kubernetes API client: JSON requests and streamed GETs (watches) over HTTPS, verifying
// the server against the configured CA, authenticating with a bearer token (re-read when its file
// rotates) or a client certificate. Transport is cpp-httplib's client over OpenSSL, with
// TCP_NODELAY and keep-alive.
//
// Thread-safe: requests run concurrently on pooled connections (binds arrive concurrently from
// kube-scheduler's binding goroutines); each stream holds its own connection.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "kube/access.h"

namespace httplib {
class ClientImpl;
}

namespace hyperplace::kube {

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{10000};
  std::string user_agent = "hyperplace";
  std::size_t max_idle_connections = 8;
  // Idle connections older than this are closed rather than reused: servers close idle
  // connections on their own schedule, and a request written into a closed one fails.
  std::chrono::milliseconds max_idle_age{30000};
  std::size_t max_response_bytes = 256u << 20;  // a list page or object, never more
};

struct Response {
  int status = 0;
  std::string body;
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

  // One request with a JSON body (may be empty). A transport failure is an Unavailable status
  // naming the method and path; any HTTP status is a Response.
  StatusOr<Response> Request(std::string_view method, const std::string& path,
                             std::string_view body = {});

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
  std::mutex mu_;
  std::vector<Idle> idle_;
  std::vector<httplib::ClientImpl*> active_;
  bool cancelled_ = false;
};

// Percent-encodes a query parameter value.
std::string QueryEscape(std::string_view value);

}  // namespace hyperplace::kube
