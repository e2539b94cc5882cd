#include "net/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <latch>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/metrics.h"
#include "net/http_metrics.h"

namespace hyperplace::net {
namespace {

using namespace std::chrono_literals;

// Hang protection only: no test asserts how long anything takes.
constexpr auto kHangGuard = 10s;

// Small limits keep the timeout tests fast.
ServerLimits FastLimits() {
  ServerLimits limits;
  limits.read_timeout = 200ms;
  limits.write_timeout = 2s;
  limits.idle_timeout = 5s;
  limits.threads = 2;
  limits.max_connections = 64;
  return limits;
}

bool WaitUntil(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + kHangGuard;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Thread-safe record of on_event calls.
class Events {
 public:
  std::function<void(std::string_view, std::string_view)> Sink() {
    return [this](std::string_view event, std::string_view detail) {
      std::lock_guard lock(mu_);
      events_.emplace_back(event, detail);
    };
  }
  // The detail of the first event with this name, or "<none>".
  std::string Detail(std::string_view event) {
    std::lock_guard lock(mu_);
    for (const auto& [e, d] : events_) {
      if (e == event) return d;
    }
    return "<none>";
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> events_;
};

struct Observed {
  std::string method;
  std::string path;
  int status;
};

class Observations {
 public:
  RequestObserver Sink() {
    return [this](std::string_view method, std::string_view path, int status,
                  std::chrono::nanoseconds) {
      std::lock_guard lock(mu_);
      list_.push_back({std::string(method), std::string(path), status});
    };
  }
  std::vector<Observed> list() {
    std::lock_guard lock(mu_);
    return list_;
  }

 private:
  std::mutex mu_;
  std::vector<Observed> list_;
};

void AddRoutes(HttpServer& server) {
  server.Handle("GET", "/hello", [](const Request&, Response& res) { res.body = "{\"hi\":1}"; });
  server.Handle("POST", "/echo", [](const Request& req, Response& res) {
    res.content_type = "application/octet-stream";
    res.body.assign(req.body);
  });
  server.Handle("GET", "/query", [](const Request& req, Response& res) {
    res.body.assign(req.path).append("|").append(req.query);
  });
  server.Handle("GET", "/header", [](const Request& req, Response& res) {
    res.body.assign(req.Header("x-test-header"));
    for (const auto& [name, value] : req.headers) {
      if (name == "x-test-header") res.headers.emplace_back("X-Seen-Name", std::string(name));
    }
  });
  server.Handle("GET", "/throw",
                [](const Request&, Response&) { throw std::runtime_error("boom"); });
  // Reads the last padding byte: AddressSanitizer flags it if the padding is missing.
  auto padding = [](const Request& req, Response& res) {
    volatile char last = req.body.data()[req.body.size() + kBodyPadding - 1];
    (void)last;
    res.body = std::to_string(req.body.size());
  };
  server.Handle("POST", "/padding", padding);
  server.Handle("GET", "/padding", padding);
}

void ListenAndStart(HttpServer& server) {
  const Status listened = server.Listen(HostPort{"127.0.0.1", 0});
  ASSERT_TRUE(listened.ok()) << listened.message();
  ASSERT_NE(server.port(), 0);
  const Status started = server.Start();
  ASSERT_TRUE(started.ok()) << started.message();
}

ServerOptions Options(ServerLimits limits = FastLimits()) {
  ServerOptions options;
  options.limits = limits;
  return options;
}

struct RawResponse {
  int status = 0;  // 0: no complete response
  std::string head;
  std::string body;

  std::string Header(std::string_view name) const {
    std::string lower_head = head;
    for (char& c : lower_head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const std::string key = "\r\n" + std::string(name) + ":";
    const std::size_t at = lower_head.find(key);
    if (at == std::string::npos) return "";
    const std::size_t begin = head.find_first_not_of(' ', at + key.size());
    return head.substr(begin, head.find("\r\n", begin) - begin);
  }
};

// A blocking client socket, optionally speaking TLS, for requests httplib would not send.
class RawClient {
 public:
  explicit RawClient(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval guard{std::chrono::duration_cast<std::chrono::seconds>(kHangGuard).count(), 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof(guard));
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &guard, sizeof(guard));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawClient() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (tls_context_ != nullptr) SSL_CTX_free(tls_context_);
    ::close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }

  // Replaces the hang guard: a read or write that takes longer fails.
  void SetTimeout(std::chrono::milliseconds timeout) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
    timeval tv{static_cast<time_t>(us / 1000000), static_cast<suseconds_t>(us % 1000000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  }

  // Performs a TLS handshake without verifying the server (the test checks the certificate).
  bool StartTls() {
    tls_context_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(tls_context_, SSL_VERIFY_NONE, nullptr);
    ssl_ = SSL_new(tls_context_);
    SSL_set_fd(ssl_, fd_);
    return SSL_connect(ssl_) == 1;
  }

  // Serial number of the server's certificate, or -1.
  long PeerSerial() const {
    X509* cert = SSL_get1_peer_certificate(ssl_);
    if (cert == nullptr) return -1;
    const long serial = ASN1_INTEGER_get(X509_get_serialNumber(cert));
    X509_free(cert);
    return serial;
  }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ssl_ != nullptr
                            ? SSL_write(ssl_, data.data(), static_cast<int>(data.size()))
                            : ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Reads one response framed by Content-Length.
  RawResponse ReadResponse() {
    RawResponse response;
    std::size_t head_end;
    while ((head_end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadSome()) return response;
    }
    response.head = pending_.substr(0, head_end + 2);
    pending_.erase(0, head_end + 4);
    const std::string length = response.Header("content-length");
    const std::size_t body_size = length.empty() ? 0 : std::stoul(length);
    while (pending_.size() < body_size) {
      if (!ReadSome()) return response;
    }
    response.body = pending_.substr(0, body_size);
    pending_.erase(0, body_size);
    response.status = std::stoi(response.head.substr(9, 3));
    return response;
  }

  // Reads until the server closes the connection; false if it did not before the hang guard.
  bool WaitForClose(std::string* rest = nullptr) {
    while (ReadSome()) {
    }
    if (rest != nullptr) *rest = pending_;
    return closed_;
  }

  // Bytes received but not consumed by ReadResponse.
  const std::string& pending() const { return pending_; }

  bool ReadSome() {
    char buf[65536];
    const ssize_t n =
        ssl_ != nullptr ? SSL_read(ssl_, buf, sizeof(buf)) : ::recv(fd_, buf, sizeof(buf), 0);
    if (n > 0) {
      pending_.append(buf, static_cast<std::size_t>(n));
      return true;
    }
    // EOF or reset: closed. A receive timeout (EAGAIN) means the server never closed.
    const bool timed_out =
        (errno == EAGAIN || errno == EWOULDBLOCK) &&
        (ssl_ == nullptr || SSL_get_error(ssl_, static_cast<int>(n)) == SSL_ERROR_SYSCALL);
    closed_ = n == 0 || !timed_out;
    return false;
  }

  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  SSL_CTX* tls_context_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string pending_;
};

RawResponse Exchange(std::uint16_t port, std::string_view request) {
  RawClient client(port);
  EXPECT_TRUE(client.connected());
  EXPECT_TRUE(client.Send(request));
  return client.ReadResponse();
}

TEST(HttpServerTest, ServesGetAndPostOnOneKeepAliveConnection) {
  HttpServer server(Options());
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  httplib::Client client("127.0.0.1", server.port());
  client.set_tcp_nodelay(true);
  client.set_keep_alive(true);
  for (int i = 0; i < 50; ++i) {
    auto get = client.Get("/hello");
    ASSERT_TRUE(get) << httplib::to_string(get.error());
    EXPECT_EQ(get->status, 200);
    EXPECT_EQ(get->body, "{\"hi\":1}");
    EXPECT_EQ(get->get_header_value("Content-Type"), "application/json");

    const std::string body = "payload-" + std::to_string(i);
    auto post = client.Post("/echo", body, "text/plain");
    ASSERT_TRUE(post) << httplib::to_string(post.error());
    EXPECT_EQ(post->status, 200);
    EXPECT_EQ(post->body, body);
  }
  // The client still holds its one connection; nothing else was opened.
  EXPECT_EQ(server.open_connections(), 1);
}

TEST(HttpServerTest, EchoesTenMegabyteBodyExactly) {
  ServerLimits limits = FastLimits();
  limits.read_timeout = 10s;  // generous: sanitizer builds on a shared machine are slow
  limits.write_timeout = 10s;
  HttpServer server(Options(limits));
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  std::string body(10u << 20, '\0');
  std::mt19937 random(42);
  for (char& c : body) c = static_cast<char>(random());

  httplib::Client client("127.0.0.1", server.port());
  client.set_tcp_nodelay(true);
  client.set_keep_alive(true);
  client.set_read_timeout(kHangGuard);
  client.set_write_timeout(kHangGuard);
  for (int i = 0; i < 2; ++i) {  // the second request reuses the grown buffer
    auto res = client.Post("/echo", body, "application/octet-stream");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body.size(), body.size());
    EXPECT_TRUE(res->body == body) << "echoed body differs";
  }
}

TEST(HttpServerTest, DecodesChunkedBodyExactly) {
  HttpServer server(Options());
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  RawClient client(server.port());
  const std::string chunked =
      "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n"
      "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
      "1\r\n!\r\n"
      "0\r\nX-Trailer: ignored\r\n\r\n";
  // Sent in small pieces so chunk-size lines and data are split across reads.
  for (std::size_t i = 0; i < chunked.size(); i += 7) {
    ASSERT_TRUE(client.Send(std::string_view(chunked).substr(i, 7)));
  }
  RawResponse response = client.ReadResponse();
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "helloabcdefghijklmnopqrstuvwxyz!");

  // The stream is still in step: the next request on the connection works.
  ASSERT_TRUE(client.Send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(client.ReadResponse().body, "{\"hi\":1}");
}

TEST(HttpServerTest, SplitsQueryFromPath) {
  HttpServer server(Options());
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  httplib::Client client("127.0.0.1", server.port());
  auto with_query = client.Get("/query?a=1&b=two");
  ASSERT_TRUE(with_query);
  EXPECT_EQ(with_query->body, "/query|a=1&b=two");
  auto without_query = client.Get("/query");
  ASSERT_TRUE(without_query);
  EXPECT_EQ(without_query->body, "/query|");
}

TEST(HttpServerTest, HeaderLookupIsCaseInsensitiveAndValuesAreTrimmed) {
  HttpServer server(Options());
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  const RawResponse response =
      Exchange(server.port(),
               "GET /header HTTP/1.1\r\nHost: t\r\nX-TEST-Header: \t value  with space \t\r\n\r\n");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "value  with space");
  EXPECT_EQ(response.Header("x-seen-name"), "x-test-header");
}

TEST(HttpServerTest, UnknownPathIs404) {
  HttpServer server(Options());
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  httplib::Client client("127.0.0.1", server.port());
  auto res = client.Get("/nothing");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(res->body, "{\"error\":\"not found: /nothing\"}");
}

TEST(HttpServerTest, OtherMethodOnKnownPathIs405WithAllow) {
  HttpServer server(Options());
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  httplib::Client client("127.0.0.1", server.port());
  auto res = client.Post("/hello", "x", "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  EXPECT_EQ(res->get_header_value("Allow"), "GET, HEAD");
  auto echo = client.Get("/echo");
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->status, 405);
  EXPECT_EQ(echo->get_header_value("Allow"), "POST");
}

TEST(HttpServerTest, HeadIsAnsweredByGetHandlerWithoutBody) {
  HttpServer server(Options());
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  // Content-Length describes the GET body, but no body bytes follow: the next response starts
  // right after the HEAD response's headers.
  RawClient again(server.port());
  ASSERT_TRUE(
      again.Send("HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::string both;
  while (both.find("{\"hi\":1}") == std::string::npos && again.ReadSome()) both = again.pending();
  EXPECT_EQ(both.find("HTTP/1.1 200 OK"), 0u);
  EXPECT_NE(both.find("Content-Length: 8\r\n"), std::string::npos) << both;
  EXPECT_EQ(both.find("HTTP/1.1 200 OK", 1), both.find("\r\n\r\n") + 4);
}

TEST(HttpServerTest, MalformedRequestsAre400AndClosed) {
  HttpServer server(Options());
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  const std::vector<std::string> requests = {
      "GARBAGE\r\n\r\n",
      "GET  /hello HTTP/1.1\r\nHost: t\r\n\r\n",                    // empty target
      "GET hello HTTP/1.1\r\nHost: t\r\n\r\n",                      // target without '/'
      "GET /hello HTTP/1.1 extra\r\nHost: t\r\n\r\n",               // trailing junk
      "GET /hello http/1.1\r\nHost: t\r\n\r\n",                     // lower-case version
      "GET /hello HTTP/1.1\r\nNoColon\r\n\r\n",                     // header without colon
      "GET /hello HTTP/1.1\r\nX-A : b\r\n\r\n",                     // whitespace before colon
      "GET /hello HTTP/1.1\r\nX-A: b\r\n folded\r\n\r\n",           // obs-fold
      std::string("GET /hello HTTP/1.1\r\nX-A: b\0c\r\n\r\n", 33),  // NUL in a value
      "GET /hello HTTP/1.1\r\nX-A: b\nX-B: c\r\n\r\n",              // bare LF
      "POST /echo HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
      "POST /echo HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
      "POST /echo HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nhello",
      "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
      "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
  };
  for (const std::string& request : requests) {
    SCOPED_TRACE(request);
    RawClient client(server.port());
    ASSERT_TRUE(client.Send(request));
    const RawResponse response = client.ReadResponse();
    EXPECT_EQ(response.status, 400);
    EXPECT_EQ(response.Header("connection"), "close");
    EXPECT_EQ(response.body.rfind("{\"error\":\"", 0), 0u) << response.body;
    EXPECT_TRUE(client.WaitForClose());
  }
}

TEST(HttpServerTest, UnsupportedHttpVersionIs505) {
  HttpServer server(Options());
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  const RawResponse response = Exchange(server.port(), "GET /hello HTTP/2.0\r\nHost: t\r\n\r\n");
  EXPECT_EQ(response.status, 505);
  EXPECT_EQ(response.body, "{\"error\":\"unsupported HTTP version\"}");
}

TEST(HttpServerTest, OversizedHeadersAre431) {
  ServerLimits limits = FastLimits();
  limits.max_header_bytes = 1024;
  HttpServer server(Options(limits));
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  // Complete but too long, and incomplete but already too long.
  for (const std::string& end : {std::string("\r\n\r\n"), std::string()}) {
    RawClient client(server.port());
    ASSERT_TRUE(client.Send("GET /hello HTTP/1.1\r\nX-Big: " + std::string(2000, 'a') + end));
    const RawResponse response = client.ReadResponse();
    EXPECT_EQ(response.status, 431);
    EXPECT_TRUE(client.WaitForClose());
  }
}

TEST(HttpServerTest, ContentLengthAboveMaxIs413WithoutReadingBody) {
  ServerLimits limits = FastLimits();
  limits.max_body_bytes = 1000;
  limits.read_timeout = 5s;  // a 408 instead of the 413 would need this long
  HttpServer server(Options(limits));
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  {
    // The body is never sent: the answer cannot depend on reading it.
    RawClient client(server.port());
    ASSERT_TRUE(client.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n"));
    const RawResponse response = client.ReadResponse();
    EXPECT_EQ(response.status, 413);
    EXPECT_EQ(response.body, "{\"error\":\"request body too large\"}");
    EXPECT_EQ(response.Header("connection"), "close");
  }
  {
    // With Expect: 100-continue the client gets the 413 instead of a 100.
    RawClient client(server.port());
    ASSERT_TRUE(
        client.Send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: "
                    "99999999999999999999999\r\n\r\n"));
    EXPECT_EQ(client.ReadResponse().status, 413);
  }
  {
    // A chunked body is limited by its decoded size.
    RawClient client(server.port());
    ASSERT_TRUE(client.Send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
                            std::string("3e8\r\n") + std::string(1000, 'x') + "\r\n1\r\n"));
    EXPECT_EQ(client.ReadResponse().status, 413);
  }
  // Exactly the maximum is fine.
  const RawResponse ok =
      Exchange(server.port(),
               "POST /echo HTTP/1.1\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'y'));
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, std::string(1000, 'y'));
}

TEST(HttpServerTest, ContentLengthWithTransferEncodingIs400) {
  HttpServer server(Options());
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  const RawResponse response = Exchange(
      server.port(),
      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\n");
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.body, "{\"error\":\"both Transfer-Encoding and Content-Length\"}");
}

TEST(HttpServerTest, NonChunkedTransferEncodingIs501) {
  HttpServer server(Options());
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  for (const char* encoding : {"gzip", "gzip, chunked"}) {
    const RawResponse response = Exchange(
        server.port(), std::string("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: ") +
                           encoding + "\r\n\r\n");
    EXPECT_EQ(response.status, 501) << encoding;
  }
}

TEST(HttpServerTest, HandlerExceptionIs500AndServerKeepsServing) {
  Events events;
  ServerOptions options = Options();
  options.on_event = events.Sink();
  HttpServer server(std::move(options));
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  httplib::Client client("127.0.0.1", server.port());
  client.set_keep_alive(true);
  auto failed = client.Get("/throw");
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, 500);
  EXPECT_EQ(failed->body, "{\"error\":\"internal error\"}");
  EXPECT_EQ(events.Detail("handler_exception"), "boom");

  auto next = client.Get("/hello");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
}

TEST(HttpServerTest, AnswersPipelinedRequestsInOrder) {
  HttpServer server(Options());
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  RawClient client(server.port());
  ASSERT_TRUE(
      client.Send("GET /query?first HTTP/1.1\r\nHost: t\r\n\r\n"
                  "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nsecond"
                  "GET /query?third HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(client.ReadResponse().body, "/query|first");
  EXPECT_EQ(client.ReadResponse().body, "second");
  EXPECT_EQ(client.ReadResponse().body, "/query|third");
}

TEST(HttpServerTest, StalledClientGets408WhileAnotherClientIsServed) {
  Events events;
  ServerOptions options = Options();
  options.on_event = events.Sink();
  HttpServer server(std::move(options));
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  RawClient stalled(server.port());
  ASSERT_TRUE(stalled.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc"));

  httplib::Client other("127.0.0.1", server.port());
  auto res = other.Get("/hello");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);

  const RawResponse timed_out = stalled.ReadResponse();
  EXPECT_EQ(timed_out.status, 408);
  EXPECT_EQ(timed_out.Header("connection"), "close");
  EXPECT_TRUE(stalled.WaitForClose());
  EXPECT_NE(events.Detail("request_timeout"), "<none>");
}

TEST(HttpServerTest, SlowlorisTrickleIsCutOff) {
  ServerLimits limits = FastLimits();
  limits.read_timeout = 300ms;
  HttpServer server(Options(limits));
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  RawClient client(server.port());
  // Never-ending headers, one byte every 50 ms: each byte arrives well within any per-read
  // timeout, but the request as a whole never does.
  const std::string trickle = "GET /hello HTTP/1.1\r\nX-Slow: " + std::string(1000, 'a');
  bool answered = false;
  for (char c : trickle) {
    if (!client.Send(std::string_view(&c, 1))) break;
    pollfd readable{client.fd(), POLLIN, 0};
    if (::poll(&readable, 1, 50) > 0) {
      answered = true;
      break;
    }
  }
  ASSERT_TRUE(answered) << "the server never answered the trickling client";
  EXPECT_EQ(client.ReadResponse().status, 408);
  EXPECT_TRUE(client.WaitForClose());
}

TEST(HttpServerTest, ConnectionCloseIsHonoured) {
  HttpServer server(Options());
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  {
    RawClient client(server.port());
    ASSERT_TRUE(client.Send("GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    const RawResponse response = client.ReadResponse();
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.Header("connection"), "close");
    EXPECT_TRUE(client.WaitForClose());
  }
  {
    // HTTP/1.0 closes unless the client asks for keep-alive.
    RawClient client(server.port());
    ASSERT_TRUE(client.Send("GET /hello HTTP/1.0\r\n\r\n"));
    EXPECT_EQ(client.ReadResponse().Header("connection"), "close");
    EXPECT_TRUE(client.WaitForClose());
  }
  {
    RawClient client(server.port());
    ASSERT_TRUE(client.Send("GET /hello HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    EXPECT_EQ(client.ReadResponse().Header("connection"), "keep-alive");
    ASSERT_TRUE(client.Send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    EXPECT_EQ(client.ReadResponse().status, 200);
  }
}

TEST(HttpServerTest, MaxKeepaliveRequestsClosesAfterN) {
  ServerLimits limits = FastLimits();
  limits.max_keepalive_requests = 3;
  HttpServer server(Options(limits));
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  RawClient client(server.port());
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(client.Send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
    const RawResponse response = client.ReadResponse();
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.Header("connection"), i < 3 ? "keep-alive" : "close") << i;
  }
  EXPECT_TRUE(client.WaitForClose());
}

// A handler that blocks until released, and whatever happens in the test, is released.
class Gate {
 public:
  Gate() : released_(release_.get_future().share()) {}
  ~Gate() { Open(); }
  Handler Blocking(std::string body) {
    return [this, body](const Request&, Response& res) {
      entered_.fetch_add(1);
      released_.wait();
      res.body = body;
    };
  }
  int entered() const { return entered_.load(); }
  void Open() {
    if (open_) return;
    open_ = true;
    release_.set_value();
  }

 private:
  std::promise<void> release_;
  std::shared_future<void> released_;
  std::atomic<int> entered_{0};
  bool open_ = false;
};

TEST(HttpServerTest, ConnectionsAboveMaxAreAnswered503) {
  ServerLimits limits = FastLimits();
  limits.max_connections = 2;
  limits.read_timeout = 5s;
  Events events;
  ServerOptions options = Options(limits);
  options.on_event = events.Sink();
  HttpServer server(std::move(options));
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  RawClient first(server.port());
  RawClient second(server.port());
  ASSERT_TRUE(WaitUntil([&] { return server.open_connections() == 2; }));

  // Two connections open (idle): the third is refused. It sends nothing, so the 503 is not
  // raced by unread request bytes.
  RawClient refused(server.port());
  std::string answer;
  EXPECT_TRUE(refused.WaitForClose(&answer));
  EXPECT_EQ(answer.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u) << answer;
  EXPECT_NE(answer.find("Connection: close\r\n"), std::string::npos);
  EXPECT_NE(answer.find("Retry-After: 1\r\n"), std::string::npos);
  EXPECT_NE(answer.find("\r\n\r\n{\"error\":\"server overloaded\"}"), std::string::npos);
  EXPECT_NE(events.Detail("overloaded"), "<none>");
  EXPECT_EQ(server.refused_connections(), 1u);

  // The open ones are served, and once one closes a new connection is accepted again.
  ASSERT_TRUE(first.Send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(first.ReadResponse().status, 200);
  ASSERT_TRUE(second.Send("GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n"));
  EXPECT_EQ(second.ReadResponse().status, 200);
  ASSERT_TRUE(WaitUntil([&] { return server.open_connections() == 1; }));
  EXPECT_EQ(Exchange(server.port(), "GET /hello HTTP/1.1\r\n\r\n").status, 200);
}

TEST(HttpServerTest, RequestsAboveMaxInFlightAreShedWith503AndRetryAfter) {
  ServerLimits limits = FastLimits();
  limits.threads = 1;
  limits.max_in_flight = 2;
  limits.read_timeout = 5s;
  HttpServer server(Options(limits));
  AddRoutes(server);
  Gate gate;
  server.Handle("GET", "/block", gate.Blocking("released"));
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  // One request runs (the only handler thread), one waits for it: both are in flight.
  RawClient running(server.port());
  RawClient waiting(server.port());
  ASSERT_TRUE(running.Send("GET /block HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(WaitUntil([&] { return gate.entered() == 1; }));
  ASSERT_TRUE(waiting.Send("GET /block HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(WaitUntil([&] { return server.in_flight() == 2; }));

  // The third is answered at once, and its connection stays usable.
  RawClient shed(server.port());
  ASSERT_TRUE(shed.Send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  const RawResponse refused = shed.ReadResponse();
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(refused.Header("retry-after"), "1");
  EXPECT_EQ(refused.Header("connection"), "keep-alive");
  EXPECT_EQ(refused.body, "{\"error\":\"server overloaded\"}");
  EXPECT_EQ(server.shed_requests(), 1u);

  gate.Open();
  EXPECT_EQ(running.ReadResponse().body, "released");
  EXPECT_EQ(waiting.ReadResponse().body, "released");
  ASSERT_TRUE(WaitUntil([&] { return server.in_flight() == 0; }));
  ASSERT_TRUE(shed.Send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(shed.ReadResponse().status, 200);
}

TEST(HttpServerTest, ExpectContinueGets100ThenResponse) {
  HttpServer server(Options());
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  RawClient client(server.port());
  ASSERT_TRUE(client.Send(
      "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  while (client.pending().find("\r\n\r\n") == std::string::npos && client.ReadSome()) {
  }
  EXPECT_EQ(client.pending(), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(client.Send("hello"));
  RawResponse continued = client.ReadResponse();
  EXPECT_EQ(continued.status, 100);
  RawResponse response = client.ReadResponse();
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "hello");
}

TEST(HttpServerTest, BodyIsFollowedByPadding) {
  ServerLimits limits = FastLimits();
  limits.threads = 1;  // one worker, so the 2 MB body makes its buffer grow to the exact size
  limits.read_timeout = 10s;
  HttpServer server(Options(limits));
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  RawClient client(server.port());
  ASSERT_TRUE(client.Send("GET /padding HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(client.ReadResponse().body, "0");
  ASSERT_TRUE(client.Send("POST /padding HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"));
  EXPECT_EQ(client.ReadResponse().body, "3");
  ASSERT_TRUE(
      client.Send("POST /padding HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"));
  EXPECT_EQ(client.ReadResponse().body, "5");
  const std::size_t large = 2u << 20;
  ASSERT_TRUE(client.Send("POST /padding HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                          std::to_string(large) + "\r\n\r\n" + std::string(large, 'p')));
  EXPECT_EQ(client.ReadResponse().body, std::to_string(large));
}

TEST(HttpServerTest, ObserverSeesEveryResponseWithItsStatus) {
  Observations observations;
  ServerOptions options = Options();
  options.observer = observations.Sink();
  HttpServer server(std::move(options));
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  EXPECT_EQ(Exchange(server.port(), "GET /hello HTTP/1.1\r\n\r\n").status, 200);
  EXPECT_EQ(Exchange(server.port(), "GET /missing HTTP/1.1\r\n\r\n").status, 404);
  EXPECT_EQ(Exchange(server.port(), "BROKEN\r\n\r\n").status, 400);
  EXPECT_EQ(
      Exchange(server.port(), "POST /echo HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n").status,
      413);
  server.Shutdown();  // the observer runs after the write; afterwards every call has happened

  const std::vector<Observed> seen = observations.list();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].path, "/hello");
  EXPECT_EQ(seen[0].status, 200);
  EXPECT_EQ(seen[1].path, "/missing");
  EXPECT_EQ(seen[1].status, 404);
  EXPECT_EQ(seen[2].path, "");  // no request line to take it from
  EXPECT_EQ(seen[2].status, 400);
  EXPECT_EQ(seen[3].method, "POST");
  EXPECT_EQ(seen[3].path, "/echo");
  EXPECT_EQ(seen[3].status, 413);
}

TEST(HttpServerTest, ShutdownDrainsInFlightRequest) {
  Observations observations;
  ServerOptions options = Options();
  options.observer = observations.Sink();
  HttpServer server(std::move(options));
  server.Handle("GET", "/slow", [](const Request&, Response& res) {
    std::this_thread::sleep_for(200ms);
    res.body = "done";
  });
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  int status = 0;
  std::string body;
  std::thread client([&] {
    httplib::Client http("127.0.0.1", server.port());
    auto res = http.Get("/slow");
    if (res) {
      status = res->status;
      body = res->body;
    }
  });
  ASSERT_TRUE(WaitUntil([&] { return server.in_flight() == 1; }));
  server.Shutdown(std::chrono::milliseconds(kHangGuard));

  // Shutdown returned only after the response was written.
  const std::vector<Observed> seen = observations.list();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].status, 200);
  EXPECT_EQ(server.in_flight(), 0);
  client.join();
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body, "done");
}

TEST(HttpServerTest, ShutdownClosesIdleKeepAliveConnectionsPromptly) {
  ServerLimits limits = FastLimits();
  limits.idle_timeout = 600s;  // only Shutdown can close the idle connection in time
  HttpServer server(Options(limits));
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  RawClient idle(server.port());
  ASSERT_TRUE(idle.Send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(idle.ReadResponse().Header("connection"), "keep-alive");

  // The drain time is far longer than the hang guard: returning within the guard means the idle
  // connection did not wait for it.
  auto shutdown = std::async(std::launch::async, [&] { server.Shutdown(600s); });
  ASSERT_EQ(shutdown.wait_for(kHangGuard), std::future_status::ready);
  EXPECT_TRUE(idle.WaitForClose());
  EXPECT_EQ(server.open_connections(), 0);

  // No longer accepting.
  RawClient late(server.port());
  EXPECT_FALSE(late.connected());
}

TEST(HttpServerTest, ListenReportsAddressInUse) {
  HttpServer first(Options());
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(first));
  HttpServer second(Options());
  const Status status = second.Listen(HostPort{"127.0.0.1", first.port()});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message(),
            "listen 127.0.0.1:" + std::to_string(first.port()) + ": Address already in use");
}

TEST(HttpServerTest, ListenRejectsUnresolvableHost) {
  HttpServer server(Options());
  const Status status = server.Listen(HostPort{"no such host!", 80});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message().rfind("listen no such host!:80: ", 0), 0u) << status.message();
}

TEST(HttpServerTest, ServesOnIpv6Loopback) {
  HttpServer server(Options());
  AddRoutes(server);
  const Status listened = server.Listen(HostPort{"::1", 0});
  ASSERT_TRUE(listened.ok()) << listened.message();
  ASSERT_TRUE(server.Start().ok());
  httplib::Client client("::1", server.port());
  auto res = client.Get("/hello");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
}

TEST(HttpServerTest, SurvivesMutatedRequestsAndKeepsServing) {
  HttpServer server(Options());
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  const std::vector<std::string> seeds = {
      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
      "GET /query?x HTTP/1.1\r\n\r\n",
      "POST /padding HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;a=b\r\nhello\r\n3\r\nabc\r\n0\r\nT: x\r\n\r\nGET /hello HTTP/1.1\r\n\r\n",
      "GET /header HTTP/1.0\r\nConnection: keep-alive\r\nX-Test-Header: v\r\n\r\n",
  };
  std::mt19937 random(7);
  for (int i = 0; i < 300; ++i) {
    std::string request = seeds[i % seeds.size()];
    const int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = random() % request.size();
      switch (random() % 4) {
        case 0:
          request[at] = static_cast<char>(random());
          break;
        case 1:
          request.erase(at, 1 + random() % 8);
          break;
        case 2:
          request.insert(at, 1 + random() % 8, static_cast<char>(random()));
          break;
        case 3:
          request.resize(at + 1);
          break;
      }
      if (request.empty()) request = "x";
    }
    RawClient client(server.port());
    ASSERT_TRUE(client.Send(request));
    ::shutdown(client.fd(), SHUT_WR);  // no more bytes: the server must not wait for a timeout
    std::string answer;
    EXPECT_TRUE(client.WaitForClose(&answer)) << i;
    if (!answer.empty()) {
      EXPECT_EQ(answer.rfind("HTTP/1.1 ", 0), 0u) << answer;
    }
  }
  const RawResponse after = Exchange(server.port(), "GET /hello HTTP/1.1\r\n\r\n");
  EXPECT_EQ(after.status, 200);
}

// A self-signed certificate and key with this serial number, as a server context.
std::shared_ptr<SSL_CTX> MakeServerContext(long serial) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_sign(cert, key, EVP_sha256());
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  const bool ok = SSL_CTX_use_certificate(ctx, cert) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  if (!ok) {
    SSL_CTX_free(ctx);
    return nullptr;
  }
  return std::shared_ptr<SSL_CTX>(ctx, SSL_CTX_free);
}

// The context source a certificate reloader would provide.
class SwappableContext {
 public:
  explicit SwappableContext(std::shared_ptr<SSL_CTX> ctx) : ctx_(std::move(ctx)) {}
  TlsContextSource Source() {
    return [this] {
      std::lock_guard lock(mu_);
      return ctx_;
    };
  }
  void Swap(std::shared_ptr<SSL_CTX> ctx) {
    std::lock_guard lock(mu_);
    ctx_ = std::move(ctx);
  }

 private:
  std::mutex mu_;
  std::shared_ptr<SSL_CTX> ctx_;
};

TEST(HttpServerTest, ServesHttps) {
  SwappableContext tls(MakeServerContext(1));
  ServerOptions options = Options();
  options.tls = tls.Source();
  HttpServer server(std::move(options));
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  httplib::SSLClient client("127.0.0.1", server.port());
  client.enable_server_certificate_verification(false);
  client.set_keep_alive(true);
  for (int i = 0; i < 5; ++i) {
    auto get = client.Get("/hello");
    ASSERT_TRUE(get) << httplib::to_string(get.error());
    EXPECT_EQ(get->status, 200);
    EXPECT_EQ(get->body, "{\"hi\":1}");
    const std::string body(100000 + i, 'b');  // larger than one TLS record
    auto post = client.Post("/echo", body, "application/octet-stream");
    ASSERT_TRUE(post) << httplib::to_string(post.error());
    EXPECT_TRUE(post->body == body);
  }
}

TEST(HttpServerTest, ReloadedCertificateAppliesToNewConnectionsOnly) {
  SwappableContext tls(MakeServerContext(1));
  ServerOptions options = Options();
  options.tls = tls.Source();
  HttpServer server(std::move(options));
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  RawClient established(server.port());
  ASSERT_TRUE(established.StartTls());
  EXPECT_EQ(established.PeerSerial(), 1);
  ASSERT_TRUE(established.Send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(established.ReadResponse().status, 200);

  tls.Swap(MakeServerContext(2));

  RawClient fresh(server.port());
  ASSERT_TRUE(fresh.StartTls());
  EXPECT_EQ(fresh.PeerSerial(), 2);
  ASSERT_TRUE(fresh.Send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(fresh.ReadResponse().status, 200);

  // The connection opened before the reload keeps working with its certificate.
  ASSERT_TRUE(established.Send("GET /query?again HTTP/1.1\r\nHost: t\r\n\r\n"));
  const RawResponse again = established.ReadResponse();
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, "/query|again");
  EXPECT_EQ(established.PeerSerial(), 1);
}

TEST(HttpServerTest, PlainHttpOrStalledHandshakeOnTlsPortIsClosed) {
  SwappableContext tls(MakeServerContext(1));
  Events events;
  ServerOptions options = Options();
  options.tls = tls.Source();
  options.on_event = events.Sink();
  HttpServer server(std::move(options));
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  RawClient plain(server.port());
  ASSERT_TRUE(plain.Send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::string answer;
  EXPECT_TRUE(plain.WaitForClose(&answer));
  EXPECT_EQ(answer.find("HTTP/1.1"), std::string::npos);
  EXPECT_NE(events.Detail("tls_handshake_failed"), "<none>");

  RawClient silent(server.port());  // never sends a client hello: cut at read_timeout
  EXPECT_TRUE(silent.WaitForClose());

  httplib::SSLClient client("127.0.0.1", server.port());
  client.enable_server_certificate_verification(false);
  auto res = client.Get("/hello");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
}

// A face must keep answering new clients whatever the other connections do: idle before their
// first byte, idle between keep-alive requests, or stuck halfway through a request. Two handler
// threads serve 96 such connections here; a new client must get its answer within a second.
TEST(HttpServerTest, IdleAndStalledConnectionsDoNotDelayANewClient) {
  ServerLimits limits = FastLimits();  // 2 handler threads
  limits.max_connections = 256;
  limits.read_timeout = 60s;  // the stalled requests stay stalled for the whole test
  limits.idle_timeout = 60s;
  HttpServer patient(Options(limits));
  AddRoutes(patient);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(patient));

  std::vector<std::unique_ptr<RawClient>> others;
  for (int i = 0; i < 32; ++i) {  // connected, never a byte
    others.push_back(std::make_unique<RawClient>(patient.port()));
  }
  for (int i = 0; i < 32; ++i) {  // one request served, then idle on keep-alive
    others.push_back(std::make_unique<RawClient>(patient.port()));
    ASSERT_TRUE(others.back()->Send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
    ASSERT_EQ(others.back()->ReadResponse().status, 200);
  }
  for (int i = 0; i < 32; ++i) {  // half a header, or a body promised and not sent
    others.push_back(std::make_unique<RawClient>(patient.port()));
    ASSERT_TRUE(others.back()->Send(i % 2 == 0
                                        ? "GET /hello HTTP/1.1\r\nHost:"
                                        : "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nab"));
  }
  ASSERT_TRUE(WaitUntil([&] { return patient.open_connections() == 96; }));

  for (int i = 0; i < 3; ++i) {
    RawClient fresh(patient.port());
    fresh.SetTimeout(1s);
    ASSERT_TRUE(fresh.Send("POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nfresh"));
    const RawResponse response = fresh.ReadResponse();
    EXPECT_EQ(response.status, 200) << "a new client was not answered within 1 s";
    EXPECT_EQ(response.body, "fresh");
  }
  // The idle keep-alive connections still work too.
  ASSERT_TRUE(others[40]->Send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(others[40]->ReadResponse().body, "{\"hi\":1}");
}

TEST(HttpServerTest, IdleTlsConnectionsAndStalledHandshakesDoNotDelayANewClient) {
  SwappableContext tls(MakeServerContext(1));
  ServerLimits limits = FastLimits();
  limits.max_connections = 256;
  limits.handshake_timeout = 60s;  // the stalled handshakes stay stalled for the whole test
  limits.idle_timeout = 60s;
  ServerOptions options = Options(limits);
  options.tls = tls.Source();
  HttpServer server(std::move(options));
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  std::vector<std::unique_ptr<RawClient>> others;
  for (int i = 0; i < 32; ++i) {  // handshaken, then idle before any request
    others.push_back(std::make_unique<RawClient>(server.port()));
    ASSERT_TRUE(others.back()->StartTls());
  }
  for (int i = 0; i < 32; ++i) {  // TCP only: the client hello never comes, or comes in part
    others.push_back(std::make_unique<RawClient>(server.port()));
    if (i % 2 == 1) {
      ASSERT_TRUE(others.back()->Send(std::string("\x16\x03\x01\x02\x00\x01", 6)));
    }
  }
  ASSERT_TRUE(WaitUntil([&] { return server.open_connections() == 64; }));

  for (int i = 0; i < 3; ++i) {
    RawClient fresh(server.port());
    fresh.SetTimeout(1s);
    ASSERT_TRUE(fresh.StartTls()) << "the handshake of a new client did not finish within 1 s";
    ASSERT_TRUE(fresh.Send("GET /query?fresh HTTP/1.1\r\nHost: t\r\n\r\n"));
    const RawResponse response = fresh.ReadResponse();
    EXPECT_EQ(response.status, 200) << "a new client was not answered within 1 s";
    EXPECT_EQ(response.body, "/query|fresh");
  }
  ASSERT_TRUE(others[3]->Send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(others[3]->ReadResponse().body, "{\"hi\":1}");
}

// 128 clients at once, each with its own keep-alive connection and bodies: every answer is the
// client's own.
TEST(HttpServerTest, ServesOneHundredTwentyEightConcurrentClients) {
  ServerLimits limits = FastLimits();
  limits.max_connections = 256;
  limits.read_timeout = 5s;
  HttpServer server(Options(limits));
  AddRoutes(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  constexpr int kClients = 128;
  constexpr int kRequests = 10;
  std::atomic<int> correct{0};
  std::latch start(kClients);
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      RawClient client(server.port());
      start.arrive_and_wait();  // every connection is open before the first request
      for (int r = 0; r < kRequests; ++r) {
        const std::string body = "client " + std::to_string(c) + " request " + std::to_string(r) +
                                 std::string(static_cast<std::size_t>(c * 97 + r), 'x');
        if (!client.Send("POST /echo HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) +
                         "\r\n\r\n" + body)) {
          return;
        }
        const RawResponse response = client.ReadResponse();
        if (response.status == 200 && response.body == body) correct.fetch_add(1);
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(correct.load(), kClients * kRequests);
  EXPECT_EQ(server.shed_requests(), 0u);
}

TEST(HttpServerTest, IdleHookRunsOnTheHandlerThreadAfterItServed) {
  ServerLimits limits = FastLimits();
  limits.threads = 1;
  HttpServer server(Options(limits));
  std::mutex mu;
  std::thread::id handler_thread;
  std::vector<std::thread::id> hook_threads;
  server.Handle("GET", "/who", [&](const Request&, Response& res) {
    std::lock_guard lock(mu);
    handler_thread = std::this_thread::get_id();
    res.body = "me";
  });
  server.OnHandlerIdle([&] {
    std::lock_guard lock(mu);
    hook_threads.push_back(std::this_thread::get_id());
  });
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  EXPECT_EQ(Exchange(server.port(), "GET /who HTTP/1.1\r\n\r\n").body, "me");
  ASSERT_TRUE(WaitUntil([&] {
    std::lock_guard lock(mu);
    return !hook_threads.empty();
  }));
  std::this_thread::sleep_for(1500ms);  // idle on: the hook does not run again
  std::lock_guard lock(mu);
  EXPECT_EQ(hook_threads.size(), 1u);
  EXPECT_EQ(hook_threads.front(), handler_thread);
}

TEST(HttpServerTest, MetricsReportLimitsAndLoad) {
  ServerLimits limits = FastLimits();
  limits.max_connections = 1;
  metrics::Registry registry;
  HttpMetrics metrics(registry, "t", {"/hello"});
  ServerOptions options = Options(limits);
  options.observer = metrics.Observer();
  HttpServer server(std::move(options));
  AddRoutes(server);
  metrics.Watch(server);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  RawClient open(server.port());
  ASSERT_TRUE(open.Send("GET /hello HTTP/1.1\r\n\r\n"));
  ASSERT_EQ(open.ReadResponse().status, 200);
  RawClient refused(server.port());
  EXPECT_TRUE(refused.WaitForClose());
  ASSERT_TRUE(WaitUntil([&] { return server.refused_connections() == 1; }));
  // The request counts as in flight until the server has seen its write complete, which can be
  // after the client read the answer.
  ASSERT_TRUE(WaitUntil([&] { return server.in_flight() == 0; }));

  const std::string text = registry.Render();
  for (const char* line : {
           "hyperplace_http_limit{server=\"t\",limit=\"max_connections\"} 1\n",
           "hyperplace_http_limit{server=\"t\",limit=\"read_timeout_seconds\"} 0.2\n",
           "hyperplace_http_limit{server=\"t\",limit=\"max_in_flight\"} 256\n",
           "hyperplace_http_open_connections{server=\"t\"} 1\n",
           "hyperplace_http_in_flight_requests{server=\"t\"} 0\n",
           "hyperplace_http_refused_connections_total{server=\"t\"} 1\n",
           "hyperplace_http_shed_requests_total{server=\"t\"} 0\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << text;
  }
  // Counters keep their value across renders.
  EXPECT_NE(registry.Render().find("hyperplace_http_refused_connections_total{server=\"t\"} 1\n"),
            std::string::npos);
}

TEST(HttpServerTest, EventLogCountsEveryEvent) {
  metrics::Registry registry;
  HttpMetrics metrics(registry, "t", {"/hello"});
  auto sink = metrics.EventLog(/*per_second=*/2);
  for (int i = 0; i < 50; ++i) sink("bad_request", "400 malformed request line");
  sink("tls_handshake_failed", "wrong version number");
  const std::string text = registry.Render();
  EXPECT_NE(text.find("hyperplace_http_events_total{server=\"t\",event=\"bad_request\"} 50\n"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find("hyperplace_http_events_total{server=\"t\",event=\"tls_handshake_failed\"} 1\n"),
      std::string::npos)
      << text;
}

TEST(HttpServerTest, EventLoopHandlersAnswerWhileEveryHandlerThreadIsBusy) {
  ServerLimits limits = FastLimits();
  limits.threads = 1;
  limits.read_timeout = 5s;
  HttpServer server(Options(limits));
  Gate gate;
  server.Handle("GET", "/block", gate.Blocking("released"));
  server.Handle(
      "GET", "/probe", [](const Request&, Response& res) { res.body = "ok"; },
      HttpServer::RunOn::kEventLoop);
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  RawClient blocked(server.port());
  ASSERT_TRUE(blocked.Send("GET /block HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(WaitUntil([&] { return gate.entered() == 1; }));
  // The only handler thread is held; the probe is answered anyway.
  RawClient probe(server.port());
  probe.SetTimeout(1s);
  ASSERT_TRUE(probe.Send("GET /probe HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(probe.ReadResponse().body, "ok");
  gate.Open();
  EXPECT_EQ(blocked.ReadResponse().body, "released");
}

// Connections are dealt to the event loops in turn; each keeps its loop for all its requests, and
// each loop runs the idle hooks on its own thread (where its handlers left their scratch).
TEST(HttpServerTest, ConnectionsAreDealtToEveryEventLoopAndEachLoopRunsItsIdleHooks) {
  ServerLimits limits = FastLimits();
  limits.event_loops = 3;
  HttpServer server(Options(limits));
  std::mutex mu;
  std::map<std::string, std::thread::id> by_token;  // the thread that answered each request
  std::set<std::thread::id> hook_threads;
  server.Handle(
      "POST", "/who",
      [&](const Request& req, Response& res) {
        std::lock_guard lock(mu);
        by_token[std::string(req.body)] = std::this_thread::get_id();
        res.body = req.body;
      },
      HttpServer::RunOn::kEventLoop);
  server.OnHandlerIdle([&] {
    std::lock_guard lock(mu);
    hook_threads.insert(std::this_thread::get_id());
  });
  ASSERT_NO_FATAL_FAILURE(ListenAndStart(server));

  constexpr int kConnections = 6, kRequests = 3;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int c = 0; c < kConnections; ++c) {
    clients.push_back(std::make_unique<RawClient>(server.port()));
    ASSERT_TRUE(clients.back()->connected());
  }
  for (int r = 0; r < kRequests; ++r) {
    for (int c = 0; c < kConnections; ++c) {
      const std::string token = std::to_string(c) + "/" + std::to_string(r);
      ASSERT_TRUE(clients[static_cast<std::size_t>(c)]->Send(
          "POST /who HTTP/1.1\r\nContent-Length: " + std::to_string(token.size()) + "\r\n\r\n" +
          token));
      EXPECT_EQ(clients[static_cast<std::size_t>(c)]->ReadResponse().body, token);
    }
  }
  std::set<std::thread::id> loops;
  {
    std::lock_guard lock(mu);
    for (int c = 0; c < kConnections; ++c) {
      const std::thread::id first = by_token[std::to_string(c) + "/0"];
      loops.insert(first);
      for (int r = 1; r < kRequests; ++r) {
        EXPECT_EQ(by_token[std::to_string(c) + "/" + std::to_string(r)], first) << c;
      }
    }
  }
  EXPECT_EQ(loops.size(), 3u);
  ASSERT_TRUE(WaitUntil([&] {
    std::lock_guard lock(mu);
    return hook_threads.size() >= 3;
  }));
  std::lock_guard lock(mu);
  EXPECT_EQ(hook_threads, loops);
}

}  // namespace
}  // namespace hyperplace::net
