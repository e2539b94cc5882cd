// The HTTP/1.1 server of hyperplace's two faces (extender: plain HTTP or TLS with client
// certificates; webhook: HTTPS), on Boost.Asio and Boost.Beast.
//
// Model: event loops (`event_loops` I/O threads, each its own io_context) own the connections,
// dealt to them in turn as they are accepted; a connection stays on its loop. An idle, slow or
// handshaking connection costs a socket, a timer and a small read buffer, never a thread.
// Beast's parser frames each request (keep-alive, pipelining, chunked, Expect: 100-continue); a
// body of known length is read straight into the connection's reused buffer, padded for simdjson,
// with as few large reads as the kernel allows. A complete request is handed to a bounded pool of
// handler threads; beyond `max_in_flight` requests it is answered 503 with Retry-After instead of
// queueing, beyond `max_connections` a new connection is refused at once. Every phase has its
// deadline: TLS handshake, idle wait, reading one request, writing one response.
//
// Memory: buffers grow to the largest request or reply a connection has seen and are released
// once it has been idle for a second, when they are above `keep_buffer_bytes`.
//
// Thread-safety: Handle() must be called before Start(). Handlers run concurrently on handler
// threads (and kEventLoop ones on the loops) and must be thread-safe. Shutdown() may be called from
// any thread but a handler, once.
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
  // Cleared before each handler call; its capacity is reused across requests on a connection.
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

// Live counts of one server, shared so that metrics can read them for as long as they render.
struct ServerStats {
  std::atomic<int> open_connections{0};
  std::atomic<int> in_flight{0};
  // Connections refused because max_connections were open; requests answered 503 because
  // max_in_flight were in flight.
  std::atomic<std::uint64_t> refused_connections{0};
  std::atomic<std::uint64_t> shed_requests{0};
};

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
  //
  // kHandlerThreads (the default) runs the handler on the pool of handler threads, so it may
  // block (an API call) without holding up other connections. kEventLoop runs it on the event
  // loop as soon as the request is read, with no hand-off to another thread and back: only for
  // handlers that never block and take microseconds (the webhook's admission, health checks).
  enum class RunOn { kHandlerThreads, kEventLoop };
  void Handle(std::string method, std::string path, Handler handler,
              RunOn run_on = RunOn::kHandlerThreads);

  // Runs `hook` on a handler thread that served requests and then had none for a second: the
  // place to release per-thread scratch that one huge request grew. Before Start() only.
  void OnHandlerIdle(std::function<void()> hook);

  const ServerLimits& limits() const;

  // Binds and listens (port 0 picks a free port). Errors name the address ("address in use").
  Status Listen(const HostPort& address);
  // The bound port (after Listen).
  std::uint16_t port() const;

  // Starts the event loops and the handler threads; returns at once.
  Status Start();

  // Stops accepting, lets requests in progress finish (up to `drain`), closes idle keep-alive
  // connections, and joins all threads. Requests still running after `drain` have their
  // connections shut down.
  void Shutdown(std::chrono::milliseconds drain = std::chrono::milliseconds(5000));

  // Requests being handled right now (from the whole request read until its response is sent).
  int in_flight() const;
  // Connections currently open (idle, reading, handled or writing).
  int open_connections() const;
  // Connections refused because max_connections were open, and requests answered 503 because
  // max_in_flight were in flight, since Start().
  std::uint64_t refused_connections() const;
  std::uint64_t shed_requests() const;
  std::shared_ptr<const ServerStats> stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hyperplace::net
