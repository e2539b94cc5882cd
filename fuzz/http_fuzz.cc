// The HTTP request path end to end: each input is sent as the whole byte stream of one
// connection (then the client half-closes), to a real net::HttpServer on loopback. Beast's
// parser, hyperplace's header checks, the body readers (known length and chunked), pipelining,
// Expect: 100-continue and the error answers all run on it.
//
// Properties: whatever the bytes, the server answers with a sequence of well-formed HTTP/1.1
// responses framed by Content-Length (100 Continue interim responses allowed) and then closes;
// an echoed body is one the input contained; and the server keeps serving a new client.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "net/http_server.h"

namespace {

using hyperplace::net::HttpServer;
using hyperplace::net::Request;
using hyperplace::net::Response;

HttpServer& Server() {
  static HttpServer* server = [] {
    hyperplace::net::ServerOptions options;
    options.limits.max_body_bytes = 64u << 10;
    options.limits.max_header_bytes = 4u << 10;
    options.limits.read_timeout = std::chrono::milliseconds(500);
    options.limits.threads = 2;
    auto* s = new HttpServer(std::move(options));
    s->Handle("GET", "/hello", [](const Request&, Response& res) { res.body = "{\"hi\":1}"; });
    s->Handle("POST", "/echo", [](const Request& req, Response& res) {
      // Reading the padding: AddressSanitizer flags a body without it.
      volatile char last = req.body.data()[req.body.size() + hyperplace::net::kBodyPadding - 1];
      (void)last;
      res.content_type = "application/octet-stream";
      res.body.assign(req.body);
    });
    if (!s->Listen({"127.0.0.1", 0}).ok() || !s->Start().ok()) std::abort();
    return s;
  }();
  return *server;
}

int Connect() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval guard{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof(guard));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &guard, sizeof(guard));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(Server().port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) std::abort();
  return fd;
}

// Sends `input`, half-closes, and returns everything received until the server closed. Aborts
// if the server neither answers nor closes within the guard.
std::string Exchange(std::string_view input) {
  const int fd = Connect();
  while (!input.empty()) {
    const ssize_t n = ::send(fd, input.data(), input.size(), MSG_NOSIGNAL);
    if (n <= 0) break;  // the server answered an error and closed: fine
    input.remove_prefix(static_cast<std::size_t>(n));
  }
  ::shutdown(fd, SHUT_WR);
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      std::fprintf(stderr, "server neither answered nor closed\n");
      std::abort();
    }
    break;  // closed (or reset after an error answer)
  }
  ::close(fd);
  return out;
}

void Check(bool ok, const char* what, std::string_view out) {
  if (ok) return;
  std::fprintf(stderr, "%s; server sent %zu bytes:\n%.*s\n", what, out.size(),
               static_cast<int>(std::min<std::size_t>(out.size(), 2000)), out.data());
  std::abort();
}

// Walks the responses in `out` and aborts at the first malformed one. An incomplete last response
// is allowed: after an error answer the server may reset a connection that kept sending.
void CheckResponses(std::string_view out, std::string_view input) {
  std::string_view rest = out;
  while (!rest.empty()) {
    Check(rest.substr(0, 9) == "HTTP/1.1 " && rest.size() >= 12, "not an HTTP/1.1 status line",
          out);
    const int status = std::atoi(std::string(rest.substr(9, 3)).c_str());
    Check(status >= 100 && status <= 599, "status out of range", out);
    const std::size_t head_end = rest.find("\r\n\r\n");
    if (head_end == std::string_view::npos) return;  // cut short by a reset
    const std::string_view head = rest.substr(0, head_end + 2);
    rest.remove_prefix(head_end + 4);
    if (status == 100) continue;
    const std::size_t at = head.find("\r\nContent-Length: ");
    Check(at != std::string_view::npos, "response without Content-Length", out);
    const std::size_t length = std::strtoul(std::string(head.substr(at + 18)).c_str(), nullptr, 10);
    // The answer to a HEAD request has the length of the GET's body and no body.
    const bool maybe_head = input.find("HEAD") != std::string_view::npos;
    if (maybe_head && (rest.empty() || rest.substr(0, 9) == "HTTP/1.1 ")) continue;
    if (rest.size() < length) return;  // cut short by a reset
    const std::string_view body = rest.substr(0, length);
    if (status == 200 && head.find("application/octet-stream") != std::string_view::npos &&
        !body.empty() && body.size() <= 64) {
      // An echo of a small body: unless chunks split it, its bytes are in the input as sent.
      std::string lower(input);
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      Check(
          input.find(body) != std::string_view::npos || lower.find("chunked") != std::string::npos,
          "echoed a body the input did not contain", out);
    }
    rest.remove_prefix(length);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckResponses(Exchange(input), input);
  static std::uint64_t runs = 0;
  if (++runs % 256 == 0) {
    const std::string alive = Exchange("GET /hello HTTP/1.1\r\nHost: f\r\n\r\n");
    Check(alive.rfind("HTTP/1.1 200 OK\r\n", 0) == 0, "the server stopped answering", alive);
  }
  return 0;
}
