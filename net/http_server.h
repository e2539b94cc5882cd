// A small HTTP/1.1 server for hyperplace's two faces (extender: plain HTTP; webhook: HTTPS).
//
// Why not cpp-httplib's server: kube-scheduler posts bodies of up to ~45 MB (5000 full nodes) on
// the serial scheduling path. cpp-httplib 0.11 reads bodies 4 KiB at a time with a poll() before
// each read into a fresh std::string per request (~63 ms for 43 MB on loopback); this server reads
// with large recv() calls straight into a per-worker buffer that is reused across requests and
// padded for simdjson, writes each response with one writev(), and enforces a deadline for a
// whole request rather than per read (so a client trickling bytes cannot hold a worker forever).
//
// Model: one acceptor thread, a fixed pool of worker threads, a bounded queue of accepted
// connections. A worker owns one connection at a time and serves its keep-alive requests in order
// (the extender's callers send one request at a time per connection).
//
// Thread-safety: Handle() must be called before Start(). Handlers run concurrently on worker
// threads and must be thread-safe. Shutdown() may be called from any thread, once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/config.h"
#include "common/status.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace hyperplace::net {

// Readable bytes guaranteed after the end of Request::body (simdjson needs 64).
inline constexpr std::size_t kBodyPadding = 64;

struct Request {
  std::string_view method;  // "GET", "POST", ...
  std::string_view path;    // the target without its query string, e.g. "/filter"
  std::string_view query;   // the part after '?', without it; empty when absent
  // Header names are stored lower-cased; values with surrounding whitespace trimmed.
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  // The whole decoded body (chunked transfer encoding is undone). Valid only during the handler
  // call. At least kBodyPadding readable (unspecified) bytes follow body.data() + body.size().
  std::string_view body;

  // First header with this lower-case name, or empty.
  std::string_view Header(std::string_view lower_case_name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  // Cleared before each handler call; its capacity is reused across requests on a worker.
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

using Handler = std::function<void(const Request&, Response&)>;

// Supplies the TLS context for each new connection. Returning a different context later (a
// reloaded certificate) affects only connections accepted afterwards; established connections
// keep the context they started with, so a reload drops nothing.
using TlsContextSource = std::function<std::shared_ptr<SSL_CTX>()>;

// Called once per completed request (including those the server itself answered with an error,
// for which `path` may be empty), after the response was written or the write failed.
using RequestObserver = std::function<void(std::string_view method, std::string_view path,
                                           int status, std::chrono::nanoseconds elapsed)>;

struct ServerOptions {
  ServerLimits limits;
  TlsContextSource tls;  // empty: plain HTTP
  RequestObserver observer;
  // Invoked for server-side events worth a log line (bad requests, overload, TLS failures).
  std::function<void(std::string_view event, std::string_view detail)> on_event;
};

class HttpServer {
 public:
  explicit HttpServer(ServerOptions options);
  ~HttpServer();  // Shutdown() with no drain time if still running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Exact-path routing. A path with no handler for the method answers 405 (with Allow) if another
  // method is registered for it, 404 otherwise.
  void Handle(std::string method, std::string path, Handler handler);

  // Binds and listens (port 0 picks a free port). Errors name the address ("address in use").
  Status Listen(const HostPort& address);
  // The bound port (after Listen).
  std::uint16_t port() const;

  // Starts the acceptor and worker threads; returns at once.
  Status Start();

  // Stops accepting, lets requests in progress finish (up to `drain`), closes idle keep-alive
  // connections, and joins all threads. Requests still running after `drain` have their
  // connections shut down.
  void Shutdown(std::chrono::milliseconds drain = std::chrono::milliseconds(5000));

  // Requests being handled right now (after the headers were read, until the response is sent).
  int in_flight() const;
  // Connections currently open (served or queued).
  int open_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hyperplace::net
