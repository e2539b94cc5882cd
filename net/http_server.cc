#include "net/http_server.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <new>
#include <thread>

namespace hyperplace::net {
namespace {

using Clock = std::chrono::steady_clock;

// Every recv() offers at least this much room (the kernel hands over what it has, up to that).
constexpr std::size_t kMinRead = 64u << 10;
// A worker's buffer starts at this size and grows to the largest request it has seen.
constexpr std::size_t kInitialBufferBytes = 1u << 20;
// Bounds on the discard-read after an error response (see Worker::Linger).
constexpr std::size_t kMaxLingerBytes = 1u << 20;
constexpr std::chrono::milliseconds kMaxLinger{1000};
// Over TLS, bodies up to this size are copied behind the head so the response is one record.
constexpr std::size_t kTlsCoalesceBytes = 16u << 10;
constexpr int kListenBacklog = 1024;

// Recv() results besides a byte count.
constexpr ssize_t kWouldBlock = -1;
constexpr ssize_t kIoError = -2;

enum class Io { kOk, kEof, kTimeout, kStopped, kError };
enum class Wait { kReady, kTimeout, kStopped, kError };

// from + timeout, with absurd configured timeouts capped instead of overflowing the clock.
Clock::time_point DeadlineAfter(std::chrono::milliseconds timeout,
                                Clock::time_point from = Clock::now()) {
  constexpr std::chrono::milliseconds kLongest = std::chrono::hours(24 * 365);
  return from + std::clamp(timeout, std::chrono::milliseconds(0), kLongest);
}

std::string ErrnoText(int err) {
  char buf[128];
  // GNU strerror_r: returns the message, which may or may not live in `buf`.
  return strerror_r(err, buf, sizeof(buf));
}

void BlockSigpipe() {
  // SSL_write() writes with write(), which raises SIGPIPE on a closed peer. A thread-directed
  // SIGPIPE that is blocked stays pending on that thread and does nothing; write() still fails
  // with EPIPE. Plain sockets use MSG_NOSIGNAL. The process's signal disposition is not touched.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

constexpr std::array<bool, 256> MakeTcharTable() {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) table[static_cast<unsigned char>(c)] = true;
  return table;
}
constexpr std::array<bool, 256> kTchar = MakeTcharTable();

bool IsTchar(char c) { return kTchar[static_cast<unsigned char>(c)]; }
char ToLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ToLower(a[i]) != lower[i]) return false;
  }
  return true;
}

std::string_view TrimWhitespace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Control characters other than HTAB are never valid inside a field value or chunk extension.
bool IsForbiddenControl(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  return (c < 0x20 && c != '\t') || c == 0x7f;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "";
  }
}

void AppendNumber(std::string& out, std::size_t n) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof(digits), n);
  out.append(digits, result.ptr);
}

void AppendJsonEscaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        // Bytes >= 0x80 are escaped too: the message must stay valid UTF-8 whatever it quotes.
        if (c < 0x20 || c >= 0x7f) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        } else {
          out += ch;
        }
    }
  }
}

// `response` becomes {"error":"<message><detail>"} with the given status.
void SetError(Response& response, int status, std::string_view message,
              std::string_view detail = {}) {
  response.status = status;
  response.content_type.assign("application/json");
  response.headers.clear();
  response.body.assign("{\"error\":\"");
  AppendJsonEscaped(response.body, message);
  AppendJsonEscaped(response.body, detail);
  response.body.append("\"}");
}

bool IsValidHeaderName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), IsTchar);
}

bool IsValidHeaderValue(std::string_view value) {
  return std::none_of(value.begin(), value.end(), IsForbiddenControl);
}

// Waits until `fd` is ready for `events`, the deadline passes, or (when wake_fd >= 0) the server
// is stopping.
Wait WaitFd(int fd, short events, Clock::time_point deadline, int wake_fd) {
  pollfd fds[2] = {{fd, events, 0}, {wake_fd, POLLIN, 0}};
  const nfds_t count = wake_fd >= 0 ? 2 : 1;
  for (;;) {
    const auto now = Clock::now();
    if (now >= deadline) return Wait::kTimeout;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    const int timeout = static_cast<int>(std::min<std::int64_t>(left, INT_MAX));
    const int ready = ::poll(fds, count, timeout);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return Wait::kError;
    }
    if (ready == 0) continue;
    if (count == 2 && fds[1].revents != 0) return Wait::kStopped;
    if ((fds[0].revents & POLLNVAL) != 0) return Wait::kError;
    // POLLERR and POLLHUP count as ready: the next recv/send reports what happened.
    if (fds[0].revents != 0) return Wait::kReady;
  }
}

// One accepted socket and, for HTTPS, its TLS session. Plain connections never touch OpenSSL.
struct Connection {
  int fd = -1;
  SSL* ssl = nullptr;
  // Held for the connection's lifetime: a reloaded certificate must not affect this session.
  std::shared_ptr<SSL_CTX> tls_context;
  bool handshake_done = false;
  // After a fatal TLS error no further SSL call (not even SSL_shutdown) may be made.
  bool tls_failed = false;
};

// Returns the number of bytes read, 0 at the end of the stream, kWouldBlock (with the poll events
// to wait for in *want) or kIoError.
ssize_t Recv(Connection& c, char* data, std::size_t size, short* want) {
  if (c.ssl == nullptr) {
    for (;;) {
      const ssize_t n = ::recv(c.fd, data, size, 0);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        *want = POLLIN;
        return kWouldBlock;
      }
      return kIoError;
    }
  }
  ERR_clear_error();
  const int n = SSL_read(c.ssl, data, static_cast<int>(std::min<std::size_t>(size, INT_MAX)));
  if (n > 0) return n;
  switch (SSL_get_error(c.ssl, n)) {
    case SSL_ERROR_WANT_READ:
      *want = POLLIN;
      return kWouldBlock;
    case SSL_ERROR_WANT_WRITE:
      *want = POLLOUT;
      return kWouldBlock;
    case SSL_ERROR_ZERO_RETURN:
      return 0;
    default:
      c.tls_failed = true;
      ERR_clear_error();
      return kIoError;
  }
}

bool SslWriteAll(Connection& c, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    const int chunk = static_cast<int>(std::min<std::size_t>(data.size(), INT_MAX));
    ERR_clear_error();
    // Without SSL_MODE_ENABLE_PARTIAL_WRITE, SSL_write writes everything or nothing; after
    // WANT_READ/WANT_WRITE it is retried with the same arguments.
    const int n = SSL_write(c.ssl, data.data(), chunk);
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    short want = 0;
    switch (SSL_get_error(c.ssl, n)) {
      case SSL_ERROR_WANT_WRITE:
        want = POLLOUT;
        break;
      case SSL_ERROR_WANT_READ:
        want = POLLIN;
        break;
      default:
        c.tls_failed = true;
        ERR_clear_error();
        return false;
    }
    if (WaitFd(c.fd, want, deadline, -1) != Wait::kReady) return false;
  }
  return true;
}

// Writes `head` then `body` (either may be empty) before the deadline: one sendmsg() (a writev()
// that takes MSG_NOSIGNAL) in the common case.
bool WriteAll(Connection& c, std::string_view head, std::string_view body,
              Clock::time_point deadline) {
  if (c.ssl != nullptr) {
    return SslWriteAll(c, head, deadline) && SslWriteAll(c, body, deadline);
  }
  iovec iov[2] = {{const_cast<char*>(head.data()), head.size()},
                  {const_cast<char*>(body.data()), body.size()}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = body.empty() ? 1 : 2;
  while (msg.msg_iovlen > 0) {
    ssize_t n = ::sendmsg(c.fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
      if (WaitFd(c.fd, POLLOUT, deadline, -1) != Wait::kReady) return false;
      continue;
    }
    auto written = static_cast<std::size_t>(n);
    while (msg.msg_iovlen > 0 && written >= msg.msg_iov->iov_len) {
      written -= msg.msg_iov->iov_len;
      ++msg.msg_iov;
      --msg.msg_iovlen;
    }
    if (msg.msg_iovlen > 0) {
      msg.msg_iov->iov_base = static_cast<char*>(msg.msg_iov->iov_base) + written;
      msg.msg_iov->iov_len -= written;
    }
  }
  return true;
}

std::string TlsErrorText(int ssl_error) {
  const unsigned long err = ERR_get_error();
  std::string text;
  if (err != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    text = buf;
  } else if (ssl_error == SSL_ERROR_SYSCALL && errno != 0) {
    text = ErrnoText(errno);
  } else {
    text = "connection closed by peer";
  }
  ERR_clear_error();
  return text;
}

// A region of the request, as an offset from the request's first byte: the buffer may move while
// the body is read, so string_views are made only once the whole request is in memory.
struct Span {
  std::size_t offset = 0;
  std::size_t size = 0;
};

struct HeaderSpan {
  Span name;
  Span value;
};

// What the request line and headers say.
struct Head {
  bool request_line_parsed = false;  // method, path and query are set
  Span method;
  Span path;
  Span query;
  bool http10 = false;
  bool connection_close = false;
  bool connection_keep_alive = false;
  bool has_content_length = false;
  std::size_t content_length = 0;
  bool chunked = false;
  bool expect_continue = false;
};

// Parses the header block [p, p + header_end), which ends with the empty line. Header names are
// lower-cased in place. Returns 0, or an error status with a static *reason.
int ParseHead(char* p, std::size_t header_end, const ServerLimits& limits, Head* head,
              std::vector<HeaderSpan>* headers, const char** reason) {
  const std::string_view block(p, header_end);
  const std::size_t line_end = block.find("\r\n");
  const std::string_view line = block.substr(0, line_end);

  // Request line: METHOD SP target SP HTTP/1.x
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0 ||
      !std::all_of(line.begin(), line.begin() + sp1, IsTchar)) {
    *reason = "malformed request line";
    return 400;
  }
  const std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) {
    *reason = "malformed request line";
    return 400;
  }
  const std::string_view version = line.substr(sp2 + 1);
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[5] < '0' ||
      version[5] > '9' || version[6] != '.' || version[7] < '0' || version[7] > '9') {
    *reason = "malformed request line";
    return 400;
  }
  if (version[5] != '1') {
    *reason = "unsupported HTTP version";
    return 505;
  }
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  for (char ch : target) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f) {
      *reason = "malformed request target";
      return 400;
    }
  }
  if (target.front() != '/') {
    *reason = "request target must start with '/'";
    return 400;
  }
  head->method = {0, sp1};
  const std::size_t question = target.find('?');
  if (question == std::string_view::npos) {
    head->path = {sp1 + 1, target.size()};
  } else {
    head->path = {sp1 + 1, question};
    head->query = {sp1 + 1 + question + 1, target.size() - question - 1};
  }
  head->http10 = version[7] == '0';
  head->request_line_parsed = true;

  // Header lines up to the empty line, which starts at header_end - 2.
  bool seen_transfer_encoding = false;
  bool unsupported_transfer_encoding = false;
  bool content_length_too_large = false;
  const std::size_t end = header_end - 2;
  std::size_t pos = line_end + 2;
  while (pos < end) {
    const std::size_t eol = block.find("\r\n", pos);
    if (p[pos] == ' ' || p[pos] == '\t') {
      *reason = "obsolete line folding in headers";
      return 400;
    }
    std::size_t i = pos;
    for (; i < eol && IsTchar(p[i]); ++i) p[i] = ToLower(p[i]);
    if (i == pos || i == eol || p[i] != ':') {
      *reason = i > pos && i < eol && (p[i] == ' ' || p[i] == '\t')
                    ? "whitespace before colon in header"
                    : "malformed header line";
      return 400;
    }
    const std::string_view name(p + pos, i - pos);
    const std::string_view raw_value(p + i + 1, eol - i - 1);
    if (!IsValidHeaderValue(raw_value)) {
      *reason = "invalid character in header value";
      return 400;
    }
    const std::string_view value = TrimWhitespace(raw_value);
    headers->push_back(
        {{pos, name.size()}, {static_cast<std::size_t>(value.data() - p), value.size()}});
    pos = eol + 2;

    if (name == "content-length") {
      if (value.empty() ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        *reason = "invalid Content-Length";
        return 400;
      }
      std::size_t length = 0;
      bool too_large = false;
      for (char c : value) {
        if (length > (SIZE_MAX - 9) / 10) {
          too_large = true;
          break;
        }
        length = length * 10 + static_cast<std::size_t>(c - '0');
        if (length > limits.max_body_bytes) {
          too_large = true;
          break;
        }
      }
      if (head->has_content_length && (too_large != content_length_too_large ||
                                       (!too_large && length != head->content_length))) {
        *reason = "conflicting Content-Length headers";
        return 400;
      }
      head->has_content_length = true;
      head->content_length = too_large ? 0 : length;
      content_length_too_large = too_large;
    } else if (name == "transfer-encoding") {
      if (seen_transfer_encoding) {
        *reason = "repeated Transfer-Encoding header";
        return 400;
      }
      seen_transfer_encoding = true;
      if (EqualsIgnoreCase(value, "chunked")) {
        head->chunked = true;
      } else {
        unsupported_transfer_encoding = true;
      }
    } else if (name == "connection") {
      std::string_view rest = value;
      while (!rest.empty()) {
        const std::size_t comma = rest.find(',');
        const std::string_view token = TrimWhitespace(rest.substr(0, comma));
        if (EqualsIgnoreCase(token, "close")) head->connection_close = true;
        if (EqualsIgnoreCase(token, "keep-alive")) head->connection_keep_alive = true;
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      }
    } else if (name == "expect") {
      // An HTTP/1.0 client does not wait for 100 Continue; other expectations are ignored.
      if (EqualsIgnoreCase(value, "100-continue") && !head->http10) head->expect_continue = true;
    }
  }
  // Both framings at once is the request-smuggling shape: never guess which one the sender meant.
  if (seen_transfer_encoding && head->has_content_length) {
    *reason = "both Transfer-Encoding and Content-Length";
    return 400;
  }
  if (unsupported_transfer_encoding) {
    *reason = "unsupported Transfer-Encoding (only chunked)";
    return 501;
  }
  if (content_length_too_large) {
    *reason = "request body too large";
    return 413;
  }
  return 0;
}

// A growable byte buffer: [begin, end) holds received bytes not consumed yet, and the capacity
// always leaves kBodyPadding bytes after `end`. new char[] does not zero-initialize, so growing
// to a 45 MB body costs no memset.
struct Buffer {
  std::unique_ptr<char[]> data;
  std::size_t capacity = 0;
  std::size_t begin = 0;
  std::size_t end = 0;
};

}  // namespace

std::string_view Request::Header(std::string_view lower_case_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_case_name) return value;
  }
  return {};
}

struct HttpServer::Impl {
  struct Route {
    std::string method;
    Handler handler;
  };
  struct PathRoutes {
    std::vector<Route> routes;
    std::string allow;  // the Allow header of a 405 for this path
  };
  struct Accepted {
    int fd = -1;
    std::shared_ptr<SSL_CTX> tls_context;
  };
  class Worker;

  explicit Impl(ServerOptions o) : options(std::move(o)) {}
  ~Impl();

  void Event(std::string_view event, std::string_view detail) noexcept;
  void Observe(std::string_view method, std::string_view path, int status,
               Clock::duration elapsed) noexcept;
  void AcceptLoop();
  void Enqueue(int fd);
  void RejectOverloaded(int fd, bool tls);
  // Stops and joins every thread; lifecycle_mu must be held.
  void StopThreads(Clock::time_point drain_deadline);

  const ServerOptions options;
  std::map<std::string, PathRoutes, std::less<>> routes;

  int listen_fd = -1;
  int wake_fd = -1;  // eventfd; readable once the server is stopping (never read)
  std::atomic<std::uint16_t> port{0};

  std::atomic<bool> stopping{false};
  std::atomic<int> in_flight{0};
  std::atomic<int> open_connections{0};

  std::mutex mu;                    // guards queue and busy
  std::condition_variable work_cv;  // a connection was queued, or the server is stopping
  std::condition_variable idle_cv;  // busy decreased
  std::deque<Accepted> queue;
  int busy = 0;  // workers holding a connection

  std::thread acceptor;
  std::vector<std::unique_ptr<Worker>> workers;

  std::mutex lifecycle_mu;  // serializes Listen, Start and Shutdown
  bool started = false;
  bool shut_down = false;
};

// Serves one connection at a time with its own reusable buffer, request and response.
class HttpServer::Impl::Worker {
 public:
  explicit Worker(Impl& server) : server_(server), limits_(server.options.limits) {}

  void Run();
  // Called by Shutdown once the drain time is over: breaks any read or write in progress.
  void AbortConnection();

  std::thread thread;

 private:
  enum class Outcome { kKeepAlive, kClose, kCloseLinger, kAbort };

  void Serve(Accepted accepted);
  bool Handshake(Connection& c);
  Outcome ServeRequests(Connection& c);
  Outcome ServeRequest(Connection& c, Clock::time_point start, std::uint32_t served_before);
  // Returns 0 when the body is decoded, -1 when the connection is lost, or an error status.
  int ReadChunkedBody(Connection& c, std::size_t start, Clock::time_point deadline,
                      std::size_t* body_size, std::size_t* consumed, const char** reason);
  void Dispatch(bool head_only);
  Outcome RespondError(Connection& c, Clock::time_point start, int status, std::string_view reason);
  bool WriteResponse(Connection& c, bool head_only, bool keep_alive);
  void Close(Connection& c, Outcome outcome);
  void Linger(int fd);
  void DrainPending(int fd);

  Io WaitForRequest(Connection& c);
  Io Fill(Connection& c, std::size_t expected, Clock::time_point deadline);
  bool Reserve(std::size_t free_bytes);
  char* Base() { return buffer_.data.get() + buffer_.begin; }
  std::size_t Available() const { return buffer_.end - buffer_.begin; }
  std::string_view View(Span span) { return {Base() + span.offset, span.size}; }

  Impl& server_;
  const ServerLimits& limits_;

  std::mutex fd_mu_;  // guards active_fd_ against close() racing AbortConnection()
  int active_fd_ = -1;

  // Reused across requests and connections.
  Buffer buffer_;
  Head head_;
  std::vector<HeaderSpan> header_spans_;
  Request request_;
  Response response_;
  std::string head_text_;
};

void HttpServer::Impl::Worker::Run() {
  BlockSigpipe();
  for (;;) {
    Accepted next;
    {
      std::unique_lock lock(server_.mu);
      server_.work_cv.wait(lock, [&] { return server_.stopping.load() || !server_.queue.empty(); });
      // Shutdown closes whatever is still queued.
      if (server_.stopping.load()) return;
      next = std::move(server_.queue.front());
      server_.queue.pop_front();
      ++server_.busy;
    }
    Serve(std::move(next));
    {
      std::lock_guard lock(server_.mu);
      --server_.busy;
    }
    server_.idle_cv.notify_all();
  }
}

void HttpServer::Impl::Worker::AbortConnection() {
  std::lock_guard lock(fd_mu_);
  if (active_fd_ >= 0) ::shutdown(active_fd_, SHUT_RDWR);
}

void HttpServer::Impl::Worker::Serve(Accepted accepted) {
  Connection c;
  c.fd = accepted.fd;
  c.tls_context = std::move(accepted.tls_context);
  {
    std::lock_guard lock(fd_mu_);
    active_fd_ = c.fd;
  }
  Outcome outcome = Outcome::kAbort;
  try {
    if (!c.tls_context || Handshake(c)) outcome = ServeRequests(c);
  } catch (const std::exception& e) {
    // Only allocation failures can get here (handlers are called inside their own try).
    server_.Event("connection_failed", e.what());
  }
  Close(c, outcome);
}

bool HttpServer::Impl::Worker::Handshake(Connection& c) {
  c.ssl = SSL_new(c.tls_context.get());
  if (c.ssl == nullptr || SSL_set_fd(c.ssl, c.fd) != 1) {
    c.tls_failed = true;
    server_.Event("tls_handshake_failed", TlsErrorText(SSL_ERROR_SSL));
    return false;
  }
  SSL_set_accept_state(c.ssl);
  const Clock::time_point deadline = DeadlineAfter(limits_.read_timeout);
  for (;;) {
    ERR_clear_error();
    const int result = SSL_do_handshake(c.ssl);
    if (result == 1) {
      c.handshake_done = true;
      return true;
    }
    const int error = SSL_get_error(c.ssl, result);
    short want = 0;
    if (error == SSL_ERROR_WANT_READ) {
      want = POLLIN;
    } else if (error == SSL_ERROR_WANT_WRITE) {
      want = POLLOUT;
    } else {
      // Garbage, a plain-HTTP request, an unacceptable client hello, or a closed peer.
      c.tls_failed = true;
      server_.Event("tls_handshake_failed", TlsErrorText(error));
      return false;
    }
    switch (WaitFd(c.fd, want, deadline, server_.wake_fd)) {
      case Wait::kReady:
        break;
      case Wait::kTimeout:
        c.tls_failed = true;
        server_.Event("tls_handshake_failed", "handshake not completed within the read timeout");
        return false;
      case Wait::kStopped:
        return false;
      case Wait::kError:
        c.tls_failed = true;
        server_.Event("tls_handshake_failed", ErrnoText(errno));
        return false;
    }
  }
}

HttpServer::Impl::Worker::Outcome HttpServer::Impl::Worker::ServeRequests(Connection& c) {
  // Bytes left over from the previous connection belong to nobody.
  buffer_.begin = buffer_.end = 0;
  if (!Reserve(kInitialBufferBytes)) return Outcome::kAbort;
  for (std::uint32_t served = 0;; ++served) {
    if (server_.stopping.load()) return Outcome::kClose;
    switch (WaitForRequest(c)) {
      case Io::kOk:
        break;
      case Io::kError:
        return Outcome::kAbort;
      default:  // closed by the client, idle too long, or shutting down
        return Outcome::kClose;
    }
    const Outcome outcome = ServeRequest(c, Clock::now(), served);
    if (outcome != Outcome::kKeepAlive) return outcome;
  }
}

// Returns kOk once at least one byte of the next request is in the buffer.
Io HttpServer::Impl::Worker::WaitForRequest(Connection& c) {
  if (Available() > 0) return Io::kOk;  // pipelined
  buffer_.begin = buffer_.end = 0;
  const Clock::time_point deadline = DeadlineAfter(limits_.idle_timeout);
  short want = POLLIN;
  for (;;) {
    // Decrypted bytes held inside OpenSSL do not make the socket readable.
    if (c.ssl == nullptr || SSL_has_pending(c.ssl) == 0) {
      switch (WaitFd(c.fd, want, deadline, server_.wake_fd)) {
        case Wait::kReady:
          break;
        case Wait::kTimeout:
          return Io::kTimeout;
        case Wait::kStopped:
          return Io::kStopped;
        case Wait::kError:
          return Io::kError;
      }
    }
    const ssize_t n = Recv(c, buffer_.data.get() + buffer_.end,
                           buffer_.capacity - buffer_.end - kBodyPadding, &want);
    if (n > 0) {
      buffer_.end += static_cast<std::size_t>(n);
      return Io::kOk;
    }
    if (n == 0) return Io::kEof;
    if (n != kWouldBlock) return Io::kError;
    // TLS records that carried no application data (or a partial record): wait again.
  }
}

// Reads once more into the buffer. `expected` is how many more bytes the request is known to
// need (0: unknown); the buffer grows to hold them all, so a large body is read with a few large
// recv() calls straight into its final place.
Io HttpServer::Impl::Worker::Fill(Connection& c, std::size_t expected, Clock::time_point deadline) {
  if (!Reserve(expected > 0 ? expected : kMinRead)) return Io::kError;
  short want = POLLIN;
  for (;;) {
    const ssize_t n = Recv(c, buffer_.data.get() + buffer_.end,
                           buffer_.capacity - buffer_.end - kBodyPadding, &want);
    if (n > 0) {
      buffer_.end += static_cast<std::size_t>(n);
      return Io::kOk;
    }
    if (n == 0) return Io::kEof;
    if (n != kWouldBlock) return Io::kError;
    switch (WaitFd(c.fd, want, deadline, -1)) {
      case Wait::kReady:
        break;
      case Wait::kTimeout:
        return Io::kTimeout;
      default:
        return Io::kError;
    }
  }
}

// Makes room for `free_bytes` more bytes plus the padding, moving the unconsumed bytes to the
// front or growing the buffer. Offsets relative to `begin` stay valid; pointers do not.
bool HttpServer::Impl::Worker::Reserve(std::size_t free_bytes) {
  if (buffer_.capacity - buffer_.end >= free_bytes + kBodyPadding) return true;
  const std::size_t used = Available();
  const std::size_t needed = used + free_bytes + kBodyPadding;
  if (needed <= buffer_.capacity) {
    std::memmove(buffer_.data.get(), Base(), used);
  } else {
    // A body of known size gets exactly its size, so its padding ends the allocation (which lets
    // AddressSanitizer check the padding contract); small growth steps are amortized.
    const std::size_t grown = std::max(needed, buffer_.capacity + buffer_.capacity / 2);
    std::unique_ptr<char[]> fresh(new (std::nothrow) char[grown]);
    if (!fresh) return false;
    if (used > 0) std::memcpy(fresh.get(), Base(), used);
    buffer_.data = std::move(fresh);
    buffer_.capacity = grown;
  }
  buffer_.begin = 0;
  buffer_.end = used;
  return true;
}

HttpServer::Impl::Worker::Outcome HttpServer::Impl::Worker::ServeRequest(
    Connection& c, Clock::time_point start, std::uint32_t served_before) {
  const Clock::time_point deadline = DeadlineAfter(limits_.read_timeout, start);
  head_ = Head{};
  header_spans_.clear();

  // The header block, up to and including the empty line, within the first max_header_bytes.
  // The search resumes where the last one stopped, so a client trickling bytes cannot make it
  // quadratic, and never looks further than the limit (the buffer may hold megabytes of junk).
  std::size_t header_end = 0;
  std::size_t searched = 0;
  for (;;) {
    const std::string_view received =
        std::string_view(Base(), Available()).substr(0, limits_.max_header_bytes);
    const std::size_t found = received.find("\r\n\r\n", searched >= 3 ? searched - 3 : 0);
    if (found != std::string_view::npos) {
      header_end = found + 4;
      break;
    }
    searched = received.size();
    if (received.size() >= limits_.max_header_bytes) {
      return RespondError(c, start, 431, "request headers too large");
    }
    const Io io = Fill(c, 0, deadline);
    if (io == Io::kTimeout) return RespondError(c, start, 408, "request not received in time");
    if (io != Io::kOk) return Outcome::kAbort;
  }
  const char* reason = nullptr;
  if (const int status = ParseHead(Base(), header_end, limits_, &head_, &header_spans_, &reason);
      status != 0) {
    return RespondError(c, start, status, reason);
  }

  struct InFlight {
    explicit InFlight(std::atomic<int>& n) : count(n) { count.fetch_add(1); }
    ~InFlight() { count.fetch_sub(1); }
    std::atomic<int>& count;
  } in_flight(server_.in_flight);

  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  std::size_t body_size = 0;
  std::size_t consumed = header_end;
  if (head_.chunked) {
    if (head_.expect_continue &&
        !WriteAll(c, kContinue, {}, DeadlineAfter(limits_.write_timeout))) {
      return Outcome::kAbort;
    }
    const int status = ReadChunkedBody(c, header_end, deadline, &body_size, &consumed, &reason);
    if (status < 0) return Outcome::kAbort;
    if (status > 0) return RespondError(c, start, status, reason);
  } else if (head_.content_length > 0) {
    const std::size_t total = header_end + head_.content_length;
    if (head_.expect_continue && Available() < total &&
        !WriteAll(c, kContinue, {}, DeadlineAfter(limits_.write_timeout))) {
      return Outcome::kAbort;
    }
    while (Available() < total) {
      const Io io = Fill(c, total - Available(), deadline);
      if (io == Io::kTimeout) return RespondError(c, start, 408, "request not received in time");
      if (io != Io::kOk) return Outcome::kAbort;
    }
    body_size = head_.content_length;
    consumed = total;
  }

  // The whole request is in memory and the buffer will not move until it is consumed.
  char* base = Base();
  request_.method = View(head_.method);
  request_.path = View(head_.path);
  request_.query = View(head_.query);
  request_.headers.clear();
  for (const HeaderSpan& h : header_spans_) {
    request_.headers.emplace_back(std::string_view(base + h.name.offset, h.name.size),
                                  std::string_view(base + h.value.offset, h.value.size));
  }
  request_.body = std::string_view(base + header_end, body_size);
  const bool head_only = request_.method == "HEAD";
  Dispatch(head_only);

  const bool keep_alive =
      !head_.connection_close && (!head_.http10 || head_.connection_keep_alive) &&
      !server_.stopping.load() &&
      (limits_.max_keepalive_requests == 0 || served_before + 1 < limits_.max_keepalive_requests);
  const bool written = WriteResponse(c, head_only, keep_alive);
  server_.Observe(request_.method, request_.path, response_.status, Clock::now() - start);
  if (!written) return Outcome::kAbort;
  buffer_.begin += consumed;
  return keep_alive ? Outcome::kKeepAlive : Outcome::kClose;
}

// Undoes the chunked encoding in place: chunk data is moved down over the chunk-size lines, so
// the body ends up contiguous at `start`. Worked example (offsets from `start`):
//   raw  "5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n" (23 bytes)
//   "hello" moves from 3 to 0, "abc" from 13 to 5; body = "helloabc" (8 bytes) at 0, and the
//   next request starts at raw offset 23 (consumed = start + 23).
int HttpServer::Impl::Worker::ReadChunkedBody(Connection& c, std::size_t start,
                                              Clock::time_point deadline, std::size_t* body_size,
                                              std::size_t* consumed, const char** reason) {
  enum class State { kSize, kData, kDataEnd, kTrailer };
  State state = State::kSize;
  std::size_t out = start;  // where the next decoded byte goes
  std::size_t in = start;   // the next raw byte to parse
  std::size_t chunk_left = 0;
  std::size_t trailer_bytes = 0;
  for (;;) {
    char* base = Base();
    const std::string_view raw(base, Available());
    // The line starting at `in`, or npos when its CRLF is not within max_header_bytes yet.
    const auto line_end = [&] {
      return raw.substr(0, in + limits_.max_header_bytes + 2).find("\r\n", in);
    };
    bool progress = true;
    while (progress) {
      progress = false;
      switch (state) {
        case State::kSize: {
          const std::size_t eol = line_end();
          if (eol == std::string_view::npos) {
            if (raw.size() - in > limits_.max_header_bytes) {
              *reason = "chunk size line too long";
              return 400;
            }
            break;
          }
          const std::size_t allowed = limits_.max_body_bytes - (out - start);
          std::size_t size = 0;
          std::size_t i = in;
          for (; i < eol && HexValue(raw[i]) >= 0; ++i) {
            if (size > (SIZE_MAX >> 4)) {
              *reason = "request body too large";
              return 413;
            }
            size = size * 16 + static_cast<std::size_t>(HexValue(raw[i]));
            if (size > allowed) {
              *reason = "request body too large";
              return 413;
            }
          }
          if (i == in) {
            *reason = "malformed chunk size";
            return 400;
          }
          while (i < eol && (raw[i] == ' ' || raw[i] == '\t')) ++i;
          // Chunk extensions (";name=value") are allowed and ignored.
          if ((i < eol && raw[i] != ';') ||
              std::any_of(raw.begin() + i, raw.begin() + eol, IsForbiddenControl)) {
            *reason = "malformed chunk size";
            return 400;
          }
          in = eol + 2;
          chunk_left = size;
          state = size == 0 ? State::kTrailer : State::kData;
          progress = true;
          break;
        }
        case State::kData: {
          const std::size_t n = std::min(chunk_left, raw.size() - in);
          if (n > 0 && out != in) std::memmove(base + out, base + in, n);
          out += n;
          in += n;
          chunk_left -= n;
          if (chunk_left == 0) {
            state = State::kDataEnd;
            progress = true;
          }
          break;
        }
        case State::kDataEnd:
          if (raw.size() - in < 2) break;
          if (raw[in] != '\r' || raw[in + 1] != '\n') {
            *reason = "chunk data not followed by CRLF";
            return 400;
          }
          in += 2;
          state = State::kSize;
          progress = true;
          break;
        case State::kTrailer: {
          const std::size_t eol = line_end();
          if (eol == std::string_view::npos) {
            if (trailer_bytes + (raw.size() - in) > limits_.max_header_bytes) {
              *reason = "request trailers too large";
              return 431;
            }
            break;
          }
          if (eol == in) {  // the empty line: done
            *body_size = out - start;
            *consumed = eol + 2;
            return 0;
          }
          trailer_bytes += eol - in + 2;  // trailers are read and ignored
          if (trailer_bytes > limits_.max_header_bytes) {
            *reason = "request trailers too large";
            return 431;
          }
          in = eol + 2;
          progress = true;
          break;
        }
      }
    }
    // Close the gap between decoded and raw bytes, so the buffer holds at most the decoded body
    // plus one read (1-byte chunks would otherwise need six times the body size).
    if (in > out) {
      std::memmove(base + out, base + in, raw.size() - in);
      buffer_.end -= in - out;
      in = out;
    }
    const Io io = Fill(c, state == State::kData ? chunk_left : 0, deadline);
    if (io == Io::kTimeout) {
      *reason = "request not received in time";
      return 408;
    }
    if (io != Io::kOk) return -1;
  }
}

// Routes request_ to its handler and leaves the answer in response_.
void HttpServer::Impl::Worker::Dispatch(bool head_only) {
  response_.status = 200;
  response_.content_type.assign("application/json");
  response_.body.clear();
  response_.headers.clear();

  const auto found = server_.routes.find(request_.path);
  if (found == server_.routes.end()) {
    SetError(response_, 404, "not found: ", request_.path);
    return;
  }
  const Handler* handler = nullptr;
  const Handler* get_handler = nullptr;
  for (const Route& route : found->second.routes) {
    if (route.method == request_.method) handler = &route.handler;
    if (route.method == "GET") get_handler = &route.handler;
  }
  // HEAD is answered by the GET handler unless it has its own; the body is not sent.
  if (handler == nullptr && head_only) handler = get_handler;
  if (handler == nullptr) {
    SetError(response_, 405, "method not allowed: ", request_.method);
    response_.headers.emplace_back("Allow", found->second.allow);
    return;
  }
  try {
    (*handler)(request_, response_);
  } catch (const std::exception& e) {
    server_.Event("handler_exception", e.what());
    SetError(response_, 500, "internal error");
  } catch (...) {
    server_.Event("handler_exception", "unknown exception");
    SetError(response_, 500, "internal error");
  }
}

// Answers a request the server rejects itself, then the connection is closed.
HttpServer::Impl::Worker::Outcome HttpServer::Impl::Worker::RespondError(Connection& c,
                                                                         Clock::time_point start,
                                                                         int status,
                                                                         std::string_view reason) {
  std::string detail = std::to_string(status);
  detail += ' ';
  detail += reason;
  server_.Event(status == 408 ? "request_timeout" : "bad_request", detail);
  SetError(response_, status, reason);
  const std::string_view method =
      head_.request_line_parsed ? View(head_.method) : std::string_view();
  const std::string_view path = head_.request_line_parsed ? View(head_.path) : std::string_view();
  const bool written = WriteResponse(c, method == "HEAD", /*keep_alive=*/false);
  server_.Observe(method, path, status, Clock::now() - start);
  if (!written) return Outcome::kAbort;
  // A client that let the deadline pass gets no more time: close without lingering.
  return status == 408 ? Outcome::kClose : Outcome::kCloseLinger;
}

bool HttpServer::Impl::Worker::WriteResponse(Connection& c, bool head_only, bool keep_alive) {
  Response& r = response_;
  if (r.status < 200 || r.status > 599) {
    server_.Event("invalid_response", "handler set status " + std::to_string(r.status));
    SetError(r, 500, "internal error");
  }
  // 204 and 304 responses end with their headers whatever the handler put in the body.
  const bool bodiless = r.status == 204 || r.status == 304;
  std::string& h = head_text_;
  h.clear();
  h.append("HTTP/1.1 ");
  AppendNumber(h, static_cast<std::size_t>(r.status));
  h += ' ';
  h.append(ReasonPhrase(r.status));
  h.append("\r\n");
  if (!r.content_type.empty() && IsValidHeaderValue(r.content_type)) {
    h.append("Content-Type: ").append(r.content_type).append("\r\n");
  }
  if (!bodiless) {
    h.append("Content-Length: ");
    AppendNumber(h, r.body.size());
    h.append("\r\n");
  }
  h.append(keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
  for (const auto& [name, value] : r.headers) {
    // A CR or LF here would let a value smuggle a header or a whole response.
    if (!IsValidHeaderName(name) || !IsValidHeaderValue(value)) {
      server_.Event("invalid_response", "dropped invalid response header " + name);
      continue;
    }
    h.append(name).append(": ").append(value).append("\r\n");
  }
  h.append("\r\n");
  std::string_view body = head_only || bodiless ? std::string_view() : std::string_view(r.body);
  if (c.ssl != nullptr && !body.empty() && body.size() <= kTlsCoalesceBytes) {
    h.append(body);
    body = {};
  }
  return WriteAll(c, h, body, DeadlineAfter(limits_.write_timeout));
}

void HttpServer::Impl::Worker::Close(Connection& c, Outcome outcome) {
  if (c.ssl != nullptr && c.handshake_done && !c.tls_failed && outcome != Outcome::kAbort) {
    ERR_clear_error();
    SSL_shutdown(c.ssl);  // one non-blocking attempt to send close_notify
    ERR_clear_error();
  }
  if (outcome == Outcome::kCloseLinger) {
    Linger(c.fd);
  } else if (outcome != Outcome::kAbort) {
    DrainPending(c.fd);
  }
  {
    std::lock_guard lock(fd_mu_);
    ::close(c.fd);
    active_fd_ = -1;
  }
  if (c.ssl != nullptr) SSL_free(c.ssl);
  c.ssl = nullptr;
  server_.open_connections.fetch_sub(1);
}

// After an error answer the client may still be sending the request (a 413 is sent without
// reading the body). Closing with unread bytes makes the kernel send RST, which can destroy the
// answer before the client reads it; so half-close and discard input for a bounded time first.
void HttpServer::Impl::Worker::Linger(int fd) {
  ::shutdown(fd, SHUT_WR);
  const Clock::time_point deadline = DeadlineAfter(std::min(limits_.read_timeout, kMaxLinger));
  std::size_t discarded = 0;
  while (discarded < kMaxLingerBytes && buffer_.data) {
    const ssize_t n = ::recv(fd, buffer_.data.get(), buffer_.capacity, MSG_DONTWAIT);
    if (n > 0) {
      discarded += static_cast<std::size_t>(n);
      continue;
    }
    if (n == 0) return;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return;
    if (WaitFd(fd, POLLIN, deadline, -1) != Wait::kReady) return;
  }
}

// Discards input that already arrived, without waiting, for the same reason as Linger.
void HttpServer::Impl::Worker::DrainPending(int fd) {
  std::size_t discarded = 0;
  while (discarded < kMaxLingerBytes && buffer_.data) {
    const ssize_t n = ::recv(fd, buffer_.data.get(), buffer_.capacity, MSG_DONTWAIT);
    if (n <= 0 && !(n < 0 && errno == EINTR)) return;
    if (n > 0) discarded += static_cast<std::size_t>(n);
  }
}

HttpServer::Impl::~Impl() {
  if (listen_fd >= 0) ::close(listen_fd);
  if (wake_fd >= 0) ::close(wake_fd);
}

void HttpServer::Impl::Event(std::string_view event, std::string_view detail) noexcept {
  if (!options.on_event) return;
  try {
    options.on_event(event, detail);
  } catch (...) {
  }
}

void HttpServer::Impl::Observe(std::string_view method, std::string_view path, int status,
                               Clock::duration elapsed) noexcept {
  if (!options.observer) return;
  try {
    options.observer(method, path, status,
                     std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed));
  } catch (...) {
  }
}

void HttpServer::Impl::AcceptLoop() {
  BlockSigpipe();
  pollfd fds[2] = {{listen_fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
  while (!stopping.load()) {
    if (::poll(fds, 2, -1) < 0) continue;  // EINTR
    if (fds[1].revents != 0) return;
    if (fds[0].revents == 0) continue;
    for (;;) {
      const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) {
        const int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK) break;
        // The peer gave up before it was accepted, or a transient network error.
        if (err == EINTR || err == ECONNABORTED || err == EPROTO || err == ENETDOWN ||
            err == ENOPROTOOPT || err == EHOSTDOWN || err == ENONET || err == EHOSTUNREACH ||
            err == EOPNOTSUPP || err == ENETUNREACH) {
          continue;
        }
        // Out of descriptors or memory: the connection stays in the backlog and the listener
        // stays readable, so back off briefly instead of spinning.
        Event("accept_failed", ErrnoText(err));
        pollfd wake{wake_fd, POLLIN, 0};
        ::poll(&wake, 1, 10);
        break;
      }
      // Without TCP_NODELAY, Nagle plus the client's delayed ACK add ~40 ms to every response
      // written after the first on a keep-alive connection.
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      Enqueue(fd);
    }
  }
}

void HttpServer::Impl::Enqueue(int fd) {
  std::shared_ptr<SSL_CTX> tls_context;
  if (options.tls) {
    try {
      tls_context = options.tls();
    } catch (...) {
    }
    if (!tls_context) {
      Event("tls_handshake_failed", "no TLS context available");
      ::close(fd);
      return;
    }
  }
  const std::size_t limit = std::max<std::uint32_t>(1, options.limits.max_queued_connections);
  const bool tls = tls_context != nullptr;
  try {
    std::lock_guard lock(mu);
    if (queue.size() < limit) {
      queue.push_back(Accepted{fd, std::move(tls_context)});
      open_connections.fetch_add(1);
      work_cv.notify_one();
      return;
    }
  } catch (const std::exception&) {
    // No memory for the queue entry: refuse like a full queue.
  }
  RejectOverloaded(fd, tls);
}

void HttpServer::Impl::RejectOverloaded(int fd, bool tls) {
  static constexpr std::string_view kBody = "{\"error\":\"server overloaded\"}";
  static_assert(kBody.size() == 29);
  static constexpr std::string_view kResponse =
      "HTTP/1.1 503 Service Unavailable\r\n"
      "Content-Type: application/json\r\n"
      "Content-Length: 29\r\n"
      "Connection: close\r\n"
      "\r\n"
      "{\"error\":\"server overloaded\"}";
  Event("overloaded", "connection queue full; connection refused with 503");
  // A plain-text 503 would be garbage to a TLS client, which instead sees the connection closed.
  if (!tls) {
    // Consume what the client already sent so that close() sends FIN rather than RST (which
    // could destroy the 503 before it is read). Best effort: nothing here may block.
    char scratch[4096];
    for (int i = 0; i < 16 && ::recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT) > 0; ++i) {
    }
    [[maybe_unused]] const ssize_t sent =
        ::send(fd, kResponse.data(), kResponse.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  ::close(fd);
  Observe({}, {}, 503, Clock::duration::zero());
}

void HttpServer::Impl::StopThreads(Clock::time_point drain_deadline) {
  stopping.store(true);
  if (wake_fd >= 0) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_fd, &one, sizeof(one));
  }
  if (acceptor.joinable()) acceptor.join();
  if (listen_fd >= 0) {
    ::close(listen_fd);
    listen_fd = -1;
  }
  std::deque<Accepted> unserved;
  {
    // Taking the lock after setting `stopping` makes the notify below reach every waiting worker.
    std::lock_guard lock(mu);
    unserved.swap(queue);
  }
  work_cv.notify_all();
  for (Accepted& a : unserved) {
    ::close(a.fd);
    open_connections.fetch_sub(1);
  }
  {
    // Idle keep-alive connections close at once (their workers poll wake_fd); requests in
    // progress get until the drain deadline.
    std::unique_lock lock(mu);
    idle_cv.wait_until(lock, drain_deadline, [&] { return busy == 0; });
  }
  for (auto& worker : workers) worker->AbortConnection();
  for (auto& worker : workers) {
    if (!worker->thread.joinable()) continue;
    if (worker->thread.get_id() == std::this_thread::get_id()) {
      // Shutdown() called from a handler (a misuse: the server must then outlive that handler).
      // The worker exits by itself when the handler returns.
      worker->thread.detach();
    } else {
      worker->thread.join();
    }
  }
}

HttpServer::HttpServer(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpServer::~HttpServer() { Shutdown(std::chrono::milliseconds(0)); }

void HttpServer::Handle(std::string method, std::string path, Handler handler) {
  try {
    std::lock_guard lock(impl_->lifecycle_mu);
    if (impl_->started) {
      impl_->Event("route_ignored", "Handle() called after Start(): " + method + " " + path);
      return;
    }
    Impl::PathRoutes& entry = impl_->routes[path];
    auto same = std::find_if(entry.routes.begin(), entry.routes.end(),
                             [&](const Impl::Route& r) { return r.method == method; });
    if (same != entry.routes.end()) {
      same->handler = std::move(handler);
    } else {
      entry.routes.push_back({std::move(method), std::move(handler)});
    }
    entry.allow.clear();
    bool has_get = false;
    bool has_head = false;
    for (const Impl::Route& r : entry.routes) {
      if (!entry.allow.empty()) entry.allow += ", ";
      entry.allow += r.method;
      has_get = has_get || r.method == "GET";
      has_head = has_head || r.method == "HEAD";
    }
    if (has_get && !has_head) entry.allow += ", HEAD";
  } catch (const std::exception& e) {
    impl_->Event("route_ignored", e.what());
  }
}

Status HttpServer::Listen(const HostPort& address) {
  try {
    std::lock_guard lock(impl_->lifecycle_mu);
    std::string host = address.host;
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    if (host.empty()) host = "0.0.0.0";
    const std::string port_text = std::to_string(address.port);
    const std::string where =
        (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port_text;
    if (impl_->listen_fd >= 0 || impl_->started || impl_->shut_down) {
      return InvalidArgument("listen " + where + ": server already listening or shut down");
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* results = nullptr;
    if (const int rc = ::getaddrinfo(host.c_str(), port_text.c_str(), &hints, &results); rc != 0) {
      return InvalidArgument("listen " + where + ": cannot resolve host: " + gai_strerror(rc));
    }
    int last_error = EADDRNOTAVAIL;
    int fd = -1;
    for (const addrinfo* ai = results; ai != nullptr; ai = ai->ai_next) {
      fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd < 0) {
        last_error = errno;
        continue;
      }
      const int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, kListenBacklog) == 0) {
        break;
      }
      last_error = errno;
      ::close(fd);
      fd = -1;
    }
    ::freeaddrinfo(results);
    if (fd < 0) return Unavailable("listen " + where + ": " + ErrnoText(last_error));

    sockaddr_storage bound{};
    socklen_t length = sizeof(bound);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) != 0) {
      const int err = errno;
      ::close(fd);
      return Internal("listen " + where + ": getsockname: " + ErrnoText(err));
    }
    const std::uint16_t port = bound.ss_family == AF_INET6
                                   ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                   : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    impl_->listen_fd = fd;
    impl_->port.store(port);
    return Status::Ok();
  } catch (const std::exception& e) {
    return Internal(std::string("listen: ") + e.what());
  }
}

std::uint16_t HttpServer::port() const { return impl_->port.load(); }

Status HttpServer::Start() {
  std::lock_guard lock(impl_->lifecycle_mu);
  if (impl_->started || impl_->shut_down) {
    return InvalidArgument("server already started or shut down");
  }
  if (impl_->listen_fd < 0) return InvalidArgument("Start() needs a successful Listen() first");
  if (impl_->options.limits.threads == 0) return InvalidArgument("threads must be at least 1");
  impl_->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (impl_->wake_fd < 0) return Internal("eventfd: " + ErrnoText(errno));
  impl_->started = true;
  try {
    for (std::uint32_t i = 0; i < impl_->options.limits.threads; ++i) {
      impl_->workers.push_back(std::make_unique<Impl::Worker>(*impl_));
      Impl::Worker* worker = impl_->workers.back().get();
      worker->thread = std::thread([worker] { worker->Run(); });
    }
    impl_->acceptor = std::thread([impl = impl_.get()] { impl->AcceptLoop(); });
  } catch (const std::exception& e) {
    impl_->StopThreads(Clock::now());
    impl_->shut_down = true;
    return Internal(std::string("starting server threads: ") + e.what());
  }
  return Status::Ok();
}

void HttpServer::Shutdown(std::chrono::milliseconds drain) {
  try {
    std::lock_guard lock(impl_->lifecycle_mu);
    if (impl_->shut_down) return;
    impl_->shut_down = true;
    impl_->StopThreads(DeadlineAfter(drain));
  } catch (const std::exception& e) {
    impl_->Event("shutdown_failed", e.what());
  }
}

int HttpServer::in_flight() const { return impl_->in_flight.load(); }

int HttpServer::open_connections() const { return impl_->open_connections.load(); }

}  // namespace hyperplace::net
