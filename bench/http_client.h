// A minimal HTTP/1.1 client for load generation, so the harness measures the server and not a
// client library: one keep-alive connection, one request in flight, TCP_NODELAY, each request
// written with one writev() (or, over TLS, one SSL_write of head and body for bodies up to 16 KiB,
// i.e. one record), the reply read into a buffer that is reused across requests. Replies with
// Content-Length, chunked bodies and close-delimited bodies are understood.
//
// Every wait is bounded by the caller's deadline (non-blocking sockets and poll()), so a stalled
// server shows up as a timeout, never as a hung harness.
//
// Not thread-safe: one connection per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace hyperplace::bench {

using Clock = std::chrono::steady_clock;

// Why an operation failed. kOk is success; the rest are the error kinds the reports count.
enum class ErrorKind : int {
  kOk = 0,
  kConnect,     // TCP connect or TLS handshake failed
  kTimeout,     // no complete reply before the deadline
  kIo,          // the connection broke (reset, closed mid-request, malformed HTTP)
  kHttpStatus,  // a complete reply with an unexpected status code
  kBadBody,     // a 200 reply whose body is not what the request must produce
};
inline constexpr int kErrorKindCount = 6;
// "ok", "connect", "timeout", "io", "http_status", "bad_body".
std::string_view ErrorKindName(ErrorKind kind);

struct Endpoint {
  std::string host = "127.0.0.1";  // an IPv4 address or "localhost"
  std::uint16_t port = 0;
  bool tls = false;
  // For TLS: a client context that verifies the server (MakeClientTlsContext).
  std::shared_ptr<SSL_CTX> tls_context;

  std::string Url() const;  // "http://127.0.0.1:8888"
};

// "http://HOST:PORT" or "https://HOST:PORT" (a trailing "/" is allowed; no path).
StatusOr<Endpoint> ParseUrl(const std::string& url);

// A TLS client context trusting only the PEM CA bundle `ca_pem`, verifying the server's name or
// IP against the host it connects to, offering ALPN "http/1.1".
StatusOr<std::shared_ptr<SSL_CTX>> MakeClientTlsContext(const std::string& ca_pem);

// The request line and headers for one request with a body of `body_size` bytes (keep-alive).
std::string RequestHead(std::string_view method, std::string_view target, const Endpoint& endpoint,
                        std::size_t body_size, std::string_view content_type = "application/json");

struct HttpReply {
  int status = 0;
  std::string_view body;  // valid until the next request on the connection
};

class HttpConnection {
 public:
  explicit HttpConnection(Endpoint endpoint);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Connects (TCP, then the TLS handshake) unless already connected.
  ErrorKind Connect(Clock::time_point deadline, std::string* error);

  // Sends `head` (request line and headers, ending in an empty line) and `body`, and reads the
  // whole reply. Connects first when needed. Any error closes the connection; so does a reply
  // that says "Connection: close". HTTP statuses are not judged here (the reply carries it).
  ErrorKind RoundTrip(std::string_view head, std::string_view body, Clock::time_point deadline,
                      HttpReply& reply, std::string* error) {
    return RoundTrip(head, std::span<const std::string_view>(&body, 1), deadline, reply, error);
  }
  // The same with the body in parts (sent back to back with one writev(), at most 7 parts), so a
  // large shared body (5000 node objects) need not be copied per request.
  ErrorKind RoundTrip(std::string_view head, std::span<const std::string_view> body,
                      Clock::time_point deadline, HttpReply& reply, std::string* error);

  void Close();
  bool connected() const { return fd_ >= 0; }
  const Endpoint& endpoint() const { return endpoint_; }

  std::uint64_t bytes_sent() const { return bytes_sent_; }
  std::uint64_t bytes_received() const { return bytes_received_; }
  std::uint64_t connects() const { return connects_; }

 private:
  ErrorKind WriteAll(std::string_view head, std::span<const std::string_view> body,
                     Clock::time_point deadline, std::string* error);
  // Appends at least one byte to in_ (growing it), or fails; kIo with "eof" set at a clean EOF.
  ErrorKind ReadSome(Clock::time_point deadline, bool* eof, std::string* error);
  ErrorKind ReadReply(Clock::time_point deadline, HttpReply& reply, std::string* error);
  // Waits for the socket: events POLLIN or POLLOUT.
  ErrorKind Wait(short events, Clock::time_point deadline, std::string* error);

  Endpoint endpoint_;
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  std::string in_;            // reply bytes; its size is the capacity in use
  std::size_t in_len_ = 0;    // valid bytes in in_
  std::size_t in_start_ = 0;  // first byte of the next reply (leftovers of a previous read)
  std::string tls_out_;       // head and body coalesced into one TLS record
  bool close_after_ = false;
  std::uint64_t bytes_sent_ = 0;
  std::uint64_t bytes_received_ = 0;
  std::uint64_t connects_ = 0;
};

}  // namespace hyperplace::bench
