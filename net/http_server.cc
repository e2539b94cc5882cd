#include "net/http_server.h"

#include <malloc.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/span.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <thread>
#include <unordered_set>

namespace hyperplace::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using ErrorCode = boost::system::error_code;

// Header bytes are read this many at a time; a body of known length is read in one go.
constexpr std::size_t kReadSize = 64u << 10;
// An idle TLS connection waits for its next request with a buffer this small.
constexpr std::size_t kIdleTlsReadSize = 4u << 10;
// Buffers above keep_buffer_bytes are released after the connection was idle this long, so a
// connection streaming large requests back to back (full-node mode) keeps reusing them.
constexpr std::chrono::milliseconds kReleaseIdleBuffersAfter{1000};
// Bounds on the discard-read after an error response (see Session::Linger).
constexpr std::size_t kMaxLingerBytes = 1u << 20;
constexpr std::chrono::milliseconds kMaxLinger{1000};
// A handler thread idle this long after a request runs the idle hooks (releasing scratch).
constexpr std::chrono::milliseconds kHandlerIdle{1000};
// After an accept() failure that is not the peer's fault (out of descriptors), wait this long.
constexpr std::chrono::milliseconds kAcceptBackoff{10};
constexpr int kListenBacklog = 1024;

// from + timeout, with absurd configured timeouts capped instead of overflowing the clock.
Clock::duration Capped(std::chrono::milliseconds timeout) {
  constexpr std::chrono::milliseconds kLongest = std::chrono::hours(24 * 365);
  return std::clamp(timeout, std::chrono::milliseconds(0), kLongest);
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

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Control characters other than HTAB are never valid inside a field value.
bool IsForbiddenControl(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  return (c < 0x20 && c != '\t') || c == 0x7f;
}

bool IsValidHeaderName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), IsTchar);
}

bool IsValidHeaderValue(std::string_view value) {
  return std::none_of(value.begin(), value.end(), IsForbiddenControl);
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

// The lines of a raw header block (up to the first empty line or the end of `raw`) whose field
// name is `lower_name`, for telling Beast's framing errors apart.
template <class Visit>
void ForEachRawField(std::string_view raw, std::string_view lower_name, Visit visit) {
  std::size_t pos = raw.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < raw.size()) {
    pos += 2;
    const std::size_t eol = raw.find("\r\n", pos);
    const std::string_view line = raw.substr(pos, eol == std::string_view::npos ? eol : eol - pos);
    if (line.empty()) return;
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos && EqualsIgnoreCase(line.substr(0, colon), lower_name)) {
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
      }
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
        value.remove_suffix(1);
      visit(value);
    }
    pos = eol;
  }
}

bool HasRawField(std::string_view raw, std::string_view lower_name) {
  bool found = false;
  ForEachRawField(raw, lower_name, [&](std::string_view) { found = true; });
  return found;
}

struct Rejection {
  int status;
  const char* reason;
};

// The status and reason for a request Beast's parser refused. `raw` is the unconsumed input,
// which starts with the request (the parser consumes a header block only once it is complete).
Rejection Classify(const ErrorCode& ec, std::string_view raw, std::size_t max_header_bytes) {
  raw = raw.substr(0, max_header_bytes + 4);
  const auto both_framings = [raw] {
    return HasRawField(raw, "content-length") && HasRawField(raw, "transfer-encoding");
  };
  if (ec == http::error::header_limit) return {431, "request headers too large"};
  if (ec == http::error::body_limit) return {413, "request body too large"};
  if (ec == http::error::bad_content_length) {
    // Both framings at once is the request-smuggling shape: never guess which one was meant.
    if (both_framings()) return {400, "both Transfer-Encoding and Content-Length"};
    bool overflowing = false;
    ForEachRawField(raw, "content-length", [&](std::string_view v) {
      overflowing = overflowing || (IsDigits(v) && v.size() > 18);
    });
    if (overflowing) return {413, "request body too large"};
    return {400, "invalid Content-Length"};
  }
  if (ec == http::error::multiple_content_length)
    return {400, "conflicting Content-Length headers"};
  if (ec == http::error::bad_transfer_encoding) {
    if (both_framings()) return {400, "both Transfer-Encoding and Content-Length"};
    return {400, "repeated or invalid Transfer-Encoding header"};
  }
  if (ec == http::error::bad_version) {
    // "HTTP/d.d" of another major version is well-formed but unsupported.
    const std::string_view line = raw.substr(0, raw.find("\r\n"));
    const std::string_view version = line.substr(line.size() >= 8 ? line.size() - 8 : 0);
    if (version.size() == 8 && version.substr(0, 5) == "HTTP/" && version[5] >= '0' &&
        version[5] <= '9' && version[5] != '1' && version[6] == '.' && version[7] >= '0' &&
        version[7] <= '9' && line.size() > 8 && line[line.size() - 9] == ' ') {
      return {505, "unsupported HTTP version"};
    }
    return {400, "malformed request line"};
  }
  if (ec == http::error::bad_method) return {400, "malformed request line"};
  if (ec == http::error::bad_target) return {400, "malformed request target"};
  if (ec == http::error::bad_field) return {400, "malformed header line"};
  if (ec == http::error::bad_value) return {400, "invalid character in header value"};
  if (ec == http::error::bad_line_ending) return {400, "malformed line ending"};
  if (ec == http::error::bad_chunk || ec == http::error::bad_chunk_extension) {
    return {400, "malformed chunked body"};
  }
  return {400, "malformed request"};
}

// Checks Beast leaves to the application, on a complete header block `raw` (consumed by the
// parser, so it is exactly the request line, the fields and the empty line). 0 when acceptable.
template <class Header>
Rejection CheckHeader(const Header& header, std::string_view raw) {
  const std::string_view target(header.target().data(), header.target().size());
  if (target.empty() || target.front() != '/') return {400, "request target must start with '/'"};
  for (char ch : target) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f) return {400, "malformed request target"};
  }
  // Beast unfolds obs-fold into spaces; hyperplace's callers never fold, so it is refused.
  for (std::size_t at = raw.find("\r\n"); at != std::string_view::npos && at + 2 < raw.size();
       at = raw.find("\r\n", at + 2)) {
    if (raw[at + 2] == ' ' || raw[at + 2] == '\t') return {400, "obsolete line folding in headers"};
  }
  for (const auto& field : header) {
    const std::string_view name(field.name_string().data(), field.name_string().size());
    const std::string_view value(field.value().data(), field.value().size());
    if (EqualsIgnoreCase(name, "content-length") && !IsDigits(value)) {
      return {400, "invalid Content-Length"};
    }
    if (EqualsIgnoreCase(name, "transfer-encoding") && !EqualsIgnoreCase(value, "chunked")) {
      return {501, "unsupported Transfer-Encoding (only chunked)"};
    }
  }
  return {0, nullptr};
}

// A growable byte buffer that always leaves kBodyPadding readable bytes after its end. new char[]
// does not zero-initialize, so growing to a 45 MB body costs no memset.
class PaddedBuffer {
 public:
  char* data() { return data_.get(); }
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return capacity_; }
  void resize(std::size_t size) { size_ = size; }

  // Room for `size` bytes plus the padding. `exact`: allocate no more than that (a body of known
  // length, whose padding then ends the allocation, so AddressSanitizer checks the contract).
  bool Reserve(std::size_t size, bool exact) {
    if (size > SIZE_MAX - kBodyPadding) return false;
    const std::size_t needed = size + kBodyPadding;
    if (needed <= capacity_) return true;
    const std::size_t grown = exact ? needed : std::max(needed, capacity_ + capacity_ / 2);
    std::unique_ptr<char[]> fresh(new (std::nothrow) char[grown]);
    if (!fresh) return false;
    if (size_ > 0) std::memcpy(fresh.get(), data_.get(), size_);
    data_ = std::move(fresh);
    capacity_ = grown;
    return true;
  }

  void Release() {
    data_.reset();
    capacity_ = size_ = 0;
  }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_ = 0;
  std::size_t size_ = 0;
};

// A Beast Body that decodes a chunked request body into a connection's PaddedBuffer.
struct PaddedBody {
  struct value_type {
    PaddedBuffer* buffer = nullptr;
  };

  // Beast builds the reader with the parser, before the session points the body at its buffer:
  // the buffer is looked up when the body starts.
  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(http::header<isRequest, Fields>&, value_type& body) : body_(body) {}

    void init(const boost::optional<std::uint64_t>& length, ErrorCode& ec) {
      ec = {};
      if (body_.buffer == nullptr) {
        ec = make_error_code(std::errc::invalid_argument);
        return;
      }
      body_.buffer->resize(0);
      if (length && !body_.buffer->Reserve(static_cast<std::size_t>(*length), /*exact=*/true)) {
        ec = make_error_code(std::errc::not_enough_memory);
      }
    }

    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, ErrorCode& ec) {
      PaddedBuffer& buffer = *body_.buffer;
      const std::size_t n = asio::buffer_size(buffers);
      const std::size_t at = buffer.size();
      if (!buffer.Reserve(at + n, /*exact=*/false)) {
        ec = make_error_code(std::errc::not_enough_memory);
        return 0;
      }
      asio::buffer_copy(asio::buffer(buffer.data() + at, n), buffers);
      buffer.resize(at + n);
      ec = {};
      return n;
    }

    void finish(ErrorCode& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};

using Parser = http::request_parser<PaddedBody>;
using Reply = http::response<http::span_body<const char>>;
using PlainStream = tcp::socket;
using TlsStream = beast::ssl_stream<tcp::socket>;

// The handler threads. The queue needs no bound of its own: every task is a request counted
// against max_in_flight. A thread that served a request and then had nothing to do for
// kHandlerIdle runs the idle hooks once, so per-thread scratch grown by one huge request is
// released even if no request follows, and then trims the heap.
class HandlerPool {
 public:
  using Task = std::function<void()>;

  void Start(std::uint32_t threads, std::vector<Task> idle_hooks) {
    idle_hooks_ = std::move(idle_hooks);
    for (std::uint32_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }

  void Post(Task task) {
    {
      std::lock_guard lock(mu_);
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
  }

  // Runs every task already posted, then stops the threads.
  void Join() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
    threads_.clear();
  }

  ~HandlerPool() { Join(); }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    bool served = false;  // since the idle hooks last ran
    for (;;) {
      if (!tasks_.empty()) {
        Task task = std::move(tasks_.front());
        tasks_.pop_front();
        lock.unlock();
        task();
        task = nullptr;  // drop what it holds before waiting
        served = true;
        lock.lock();
        continue;
      }
      if (stopping_) return;
      const auto ready = [this] { return stopping_ || !tasks_.empty(); };
      if (!served) {
        cv_.wait(lock, ready);
      } else if (!cv_.wait_for(lock, kHandlerIdle, ready)) {
        lock.unlock();
        for (const Task& hook : idle_hooks_) hook();
        // What the hooks and the finished requests freed in small blocks sits in this thread's
        // malloc arena; hand the free pages back to the system.
        malloc_trim(0);
        served = false;
        lock.lock();
      }
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> tasks_;
  bool stopping_ = false;
  std::vector<Task> idle_hooks_;
  std::vector<std::thread> threads_;
};

}  // namespace

std::string_view Request::Header(std::string_view lower_case_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_case_name) return value;
  }
  return {};
}

// The part of a connection the server's registry sees: it can be asked to stop.
class SessionBase : public std::enable_shared_from_this<SessionBase> {
 public:
  virtual ~SessionBase() = default;
  // Closes the connection if it is idle; otherwise it closes after its current response.
  virtual void Stop() = 0;
  // Closes the connection now, whatever it is doing.
  virtual void Abort() = 0;
  virtual asio::any_io_executor executor() = 0;
};

struct HttpServer::Impl {
  struct Route {
    std::string method;
    Handler handler;
    RunOn run_on = RunOn::kHandlerThreads;
  };
  struct PathRoutes {
    std::vector<Route> routes;
    std::string allow;  // the Allow header of a 405 for this path
  };

  template <class Stream>
  class Session;

  // One event loop: an io_context run by one thread, owning the connections dealt to it. Its
  // handler-idle state is only touched on that thread.
  struct Loop {
    asio::io_context io{1};
    asio::steady_timer idle{io};
    Clock::time_point ran_handler_at;
    bool ran_handler = false;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::thread thread;
  };

  explicit Impl(ServerOptions o)
      : options(std::move(o)),
        loops(MakeLoops(options.limits.event_loops)),
        acceptor(loops.front()->io),
        accept_backoff(loops.front()->io) {}

  static std::vector<std::unique_ptr<Loop>> MakeLoops(std::uint32_t count) {
    std::vector<std::unique_ptr<Loop>> loops(std::max<std::uint32_t>(1, count));
    for (auto& loop : loops) loop = std::make_unique<Loop>();
    return loops;
  }

  void Event(std::string_view event, std::string_view detail) noexcept;
  void Observe(std::string_view method, std::string_view path, int status,
               Clock::duration elapsed) noexcept;
  // Accepts on the first loop and deals each connection to the next loop in turn.
  void Accept();
  void OnAccepted(tcp::socket socket, Loop& loop);
  void RejectOverloaded(tcp::socket& socket, bool tls);
  std::shared_ptr<asio::ssl::context> TlsContext();
  // Routes the request to its handler (on a handler thread, or the loop for kEventLoop routes).
  void Dispatch(const Request& request, Response& response) noexcept;
  // Whether the request's handler runs on the event loop (unknown routes are answered there).
  bool OnEventLoop(const Request& request) const;
  // Every second on each loop: the idle hooks (which free that thread's scratch), once the loop
  // has run no handler for a second.
  void TickLoopIdle(Loop& loop);
  void Register(SessionBase* session);
  void Unregister(SessionBase* session);
  // Calls `f` on every live session, on that session's strand.
  template <class F>
  void ForEachSession(F f);

  const ServerOptions options;
  std::map<std::string, PathRoutes, std::less<>> routes;

  std::atomic<std::uint16_t> port{0};
  std::atomic<bool> stopping{false};
  const std::shared_ptr<ServerStats> stats_owner = std::make_shared<ServerStats>();
  ServerStats& stats = *stats_owner;

  std::mutex sessions_mu;
  std::condition_variable sessions_cv;  // a session ended
  std::unordered_set<SessionBase*> sessions;

  // Declared after what sessions use, so destroying the context (which destroys any session
  // still owned by a pending operation) happens while those members exist.
  HandlerPool pool;
  std::vector<std::function<void()>> idle_hooks;
  std::vector<std::unique_ptr<Loop>> loops;  // at least one; the first also accepts
  tcp::acceptor acceptor;
  asio::steady_timer accept_backoff;
  std::size_t next_loop = 0;  // the loop the next connection goes to; only touched when accepting

  std::mutex tls_mu;  // guards the two below
  SSL_CTX* last_native_tls = nullptr;
  std::shared_ptr<asio::ssl::context> last_tls;

  std::mutex lifecycle_mu;  // serializes Listen, Start and Shutdown
  bool started = false;
  bool shut_down = false;
};

// One connection: its stream, timer, buffers, the request being read and the response being
// written. Runs on its own strand; the handler runs on the pool while the session waits.
template <class Stream>
class HttpServer::Impl::Session final : public SessionBase {
 public:
  Session(HttpServer::Impl& server, Loop& loop, Stream stream,
          std::shared_ptr<asio::ssl::context> tls)
      : server_(server),
        loop_(loop),
        limits_(server.options.limits),
        tls_(std::move(tls)),
        stream_(std::move(stream)),
        timer_(stream_.get_executor()),
        buffer_(limits_.max_header_bytes + 2 * kReadSize) {
    server_.stats.open_connections.fetch_add(1);
    server_.Register(this);
  }

  ~Session() override {
    server_.stats.open_connections.fetch_sub(1);
    server_.Unregister(this);
  }

  void Start() {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      phase_ = Phase::kHandshake;
      // OpenSSL frees its per-connection read and write buffers while they are empty, so idle
      // TLS connections cost a few KiB.
      SSL_set_mode(stream_.native_handle(), SSL_MODE_RELEASE_BUFFERS);
      Arm(limits_.handshake_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = Self()](const ErrorCode& ec) { self->OnHandshake(ec); });
    } else {
      WaitForRequest();
    }
  }

  void Stop() override {
    stopping_ = true;
    if (phase_ == Phase::kIdle || phase_ == Phase::kHandshake) Close();
  }

  void Abort() override { Close(); }

  asio::any_io_executor executor() override { return stream_.get_executor(); }

 private:
  enum class Phase { kHandshake, kIdle, kReading, kHandling, kWriting, kLinger, kClosed };

  std::shared_ptr<Session> Self() { return std::static_pointer_cast<Session>(shared_from_this()); }
  tcp::socket& Socket() { return beast::get_lowest_layer(stream_); }

  void Arm(std::chrono::milliseconds timeout) { ArmFor(Capped(timeout)); }
  void ArmFor(Clock::duration timeout) {
    const std::uint64_t generation = ++timer_generation_;
    timer_.expires_after(timeout);
    timer_.async_wait([self = Self(), generation](const ErrorCode& ec) {
      if (!ec && generation == self->timer_generation_) self->OnTimeout();
    });
  }
  void Disarm() {
    ++timer_generation_;
    timer_.cancel();
  }

  void OnTimeout() {
    switch (phase_) {
      case Phase::kHandshake:
        server_.Event("tls_handshake_failed", "handshake not completed within the timeout");
        Close();
        return;
      case Phase::kIdle: {
        const Clock::duration idle = Clock::now() - idle_since_;
        const Clock::duration limit = Capped(limits_.idle_timeout);
        if (holds_large_buffers_ && idle < limit) {
          ReleaseBuffers();
          ArmFor(limit - idle);
          return;
        }
        Close();
        return;
      }
      case Phase::kReading:
        // Cancel the read in progress; its completion answers 408.
        timed_out_ = true;
        Socket().cancel();
        return;
      case Phase::kWriting:
      case Phase::kLinger:
        Close();
        return;
      case Phase::kHandling:
      case Phase::kClosed:
        return;
    }
  }

  void OnHandshake(const ErrorCode& ec) {
    if (phase_ == Phase::kClosed) return;
    if (ec) {
      server_.Event("tls_handshake_failed", ec.message());
      Close();
      return;
    }
    WaitForRequest();
  }

  // Waits, up to the idle timeout, for the first byte of the next request.
  void WaitForRequest() {
    if (stopping_ || server_.stopping.load()) {
      Close();
      return;
    }
    phase_ = Phase::kIdle;
    if (buffer_.size() > 0) {  // pipelined
      BeginRequest();
      return;
    }
    buffer_.shrink_to_fit();  // an idle connection holds no read buffer
    idle_since_ = Clock::now();
    ArmFor(holds_large_buffers_
               ? std::min<Clock::duration>(kReleaseIdleBuffersAfter, Capped(limits_.idle_timeout))
               : Capped(limits_.idle_timeout));
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      // Bytes may wait decrypted or encrypted inside the TLS stream: read, with a small buffer.
      stream_.async_read_some(
          buffer_.prepare(kIdleTlsReadSize),
          [self = Self()](const ErrorCode& ec, std::size_t n) { self->OnFirstBytes(ec, n); });
    } else {
      Socket().async_wait(tcp::socket::wait_read,
                          [self = Self()](const ErrorCode& ec) { self->OnFirstBytes(ec, 0); });
    }
  }

  void OnFirstBytes(const ErrorCode& ec, std::size_t n) {
    if (phase_ == Phase::kClosed) return;
    if (ec) {  // closed by the client, idle too long, or shutting down
      Close();
      return;
    }
    buffer_.commit(n);
    BeginRequest();
  }

  void BeginRequest() {
    phase_ = Phase::kReading;
    start_ = Clock::now();
    timed_out_ = false;
    header_checked_ = false;
    Arm(limits_.read_timeout);
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(
        limits_.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    parser_->body_limit(limits_.max_body_bytes);
    parser_->get().body().buffer = &body_;
    body_.resize(0);
    Parse();
  }

  // Feeds what was received to the parser until the request is complete, more bytes are needed,
  // or it is refused.
  void Parse() {
    for (;;) {
      ErrorCode ec;
      std::size_t used = 0;
      if (buffer_.size() > 0) {
        used = parser_->put(buffer_.data(), ec);
      } else {
        ec = http::error::need_more;
      }
      if (ec && ec != http::error::need_more) {
        const Rejection r = Classify(
            ec, std::string_view(static_cast<const char*>(buffer_.data().data()), buffer_.size()),
            limits_.max_header_bytes);
        RespondError(r.status, r.reason);
        return;
      }
      if (!header_checked_ && parser_->is_header_done()) {
        header_checked_ = true;
        const std::string_view raw(static_cast<const char*>(buffer_.data().data()), used);
        if (const Rejection r = CheckHeader(parser_->get().base(), raw); r.status != 0) {
          buffer_.consume(used);
          RespondError(r.status, r.reason);
          return;
        }
        buffer_.consume(used);
        used = 0;
        if (!parser_->is_done()) {
          StartBody();
          return;
        }
      }
      buffer_.consume(used);
      if (parser_->is_done()) {
        OnRequest();
        return;
      }
      if (ec == http::error::need_more || buffer_.size() == 0 || used == 0) {
        ReadMore();
        return;
      }
    }
  }

  void ReadMore() {
    const std::size_t room = std::min(kReadSize, buffer_.max_size() - buffer_.size());
    if (room == 0) {  // the parser keeps refusing to consume: it is waiting on a header
      RespondError(431, "request headers too large");
      return;
    }
    stream_.async_read_some(
        buffer_.prepare(room),
        [self = Self()](const ErrorCode& ec, std::size_t n) { self->OnReadMore(ec, n); });
  }

  void OnReadMore(const ErrorCode& ec, std::size_t n) {
    if (phase_ == Phase::kClosed) return;
    if (timed_out_) {
      RespondError(408, "request not received in time");
      return;
    }
    if (ec) {
      Close();
      return;
    }
    buffer_.commit(n);
    Parse();
  }

  bool ExpectsContinue() const {
    const auto& header = parser_->get();
    if (header.version() < 11) return false;  // an HTTP/1.0 client does not wait for it
    const auto expect = header[http::field::expect];
    return EqualsIgnoreCase(std::string_view(expect.data(), expect.size()), "100-continue");
  }

  // The header is in; the body is not (entirely).
  void StartBody() {
    const bool chunked = parser_->chunked();
    const std::size_t length =
        chunked ? 0 : static_cast<std::size_t>(parser_->content_length().value_or(0));
    if (!chunked) {
      // A body of known length goes straight into the padded buffer, not through the parser.
      if (!body_.Reserve(length, /*exact=*/true)) {
        RespondError(413, "request body too large");
        return;
      }
      const std::size_t have = std::min(length, buffer_.size());
      asio::buffer_copy(asio::buffer(body_.data(), have), buffer_.data());
      buffer_.consume(have);
      body_.resize(have);
    }
    if (ExpectsContinue() && (chunked || body_.size() < length)) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = Self(), chunked](const ErrorCode& ec, std::size_t) {
                          if (self->phase_ == Phase::kClosed) return;
                          if (ec) {
                            self->Close();
                          } else if (chunked) {
                            self->parser_->eager(true);
                            self->Parse();
                          } else {
                            self->ReadBody();
                          }
                        });
      return;
    }
    if (chunked) {
      parser_->eager(true);
      Parse();
    } else {
      ReadBody();
    }
  }

  void ReadBody() {
    const std::size_t length = static_cast<std::size_t>(*parser_->content_length());
    if (body_.size() == length) {
      OnRequest();
      return;
    }
    // One read asks for everything still missing: the kernel hands over what it has.
    asio::async_read(
        stream_, asio::buffer(body_.data() + body_.size(), length - body_.size()),
        [](const ErrorCode& ec, std::size_t) -> std::size_t { return ec ? 0 : SIZE_MAX; },
        [self = Self(), length](const ErrorCode& ec, std::size_t n) {
          if (self->phase_ == Phase::kClosed) return;
          self->body_.resize(self->body_.size() + n);
          if (self->timed_out_) {
            self->RespondError(408, "request not received in time");
          } else if (ec) {
            self->Close();
          } else if (self->body_.size() == length) {
            self->OnRequest();
          }
        });
  }

  // The whole request is in memory: hand it to a handler thread, or shed it.
  void OnRequest() {
    Disarm();
    const auto& header = parser_->get();
    const std::string_view target(header.target().data(), header.target().size());
    const std::size_t question = target.find('?');
    request_.method =
        std::string_view(header.method_string().data(), header.method_string().size());
    request_.path = target.substr(0, question);
    request_.query =
        question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
    // Header names are lower-cased into one arena, sized first so the views stay valid.
    std::size_t names = 0;
    for (const auto& field : header) names += field.name_string().size();
    header_names_.clear();
    header_names_.reserve(names);
    request_.headers.clear();
    for (const auto& field : header) {
      const std::size_t at = header_names_.size();
      for (char c : field.name_string()) header_names_.push_back(ToLower(c));
      request_.headers.emplace_back(
          std::string_view(header_names_).substr(at, field.name_string().size()),
          std::string_view(field.value().data(), field.value().size()));
    }
    request_.body =
        std::string_view(body_.data() != nullptr ? body_.data() : kEmptyPadded, body_.size());
    head_only_ = request_.method == "HEAD";
    keep_alive_ =
        header.keep_alive() && !stopping_ && !server_.stopping.load() &&
        (limits_.max_keepalive_requests == 0 || served_ + 1 < limits_.max_keepalive_requests);

    if (server_.stats.in_flight.fetch_add(1) >= static_cast<int>(limits_.max_in_flight)) {
      server_.stats.in_flight.fetch_sub(1);
      server_.stats.shed_requests.fetch_add(1);
      server_.Event("overloaded", "max_in_flight requests in progress; request answered 503");
      SetError(response_, 503, "server overloaded");
      response_.headers.emplace_back("Retry-After", "1");
      counted_ = false;
      Write();
      return;
    }
    counted_ = true;
    phase_ = Phase::kHandling;
    if (server_.OnEventLoop(request_)) {
      server_.Dispatch(request_, response_);
      loop_.ran_handler = true;
      loop_.ran_handler_at = Clock::now();
      Write();
      return;
    }
    server_.pool.Post([self = Self()] {
      self->server_.Dispatch(self->request_, self->response_);
      asio::post(self->stream_.get_executor(), [self] {
        if (self->phase_ == Phase::kClosed) {
          self->Done();
          return;
        }
        self->Write();
      });
    });
  }

  void Write() {
    phase_ = Phase::kWriting;
    Response& r = response_;
    if (r.status < 200 || r.status > 599) {
      server_.Event("invalid_response", "handler set status " + std::to_string(r.status));
      SetError(r, 500, "internal error");
    }
    if (r.body.size() > limits_.max_reply_bytes) {
      server_.Event("invalid_response", "reply of " + std::to_string(r.body.size()) +
                                            " bytes is above max_reply_bytes");
      SetError(r, 500, "reply too large");
    }
    // 204 and 304 responses end with their headers whatever the handler put in the body.
    const bool bodiless = r.status == 204 || r.status == 304;
    reply_.emplace();
    reply_->version(11);
    reply_->result(static_cast<unsigned>(r.status));
    const std::string_view reason = ReasonPhrase(r.status);
    reply_->reason(beast::string_view(reason.data(), reason.size()));
    if (!r.content_type.empty() && IsValidHeaderValue(r.content_type)) {
      reply_->set(http::field::content_type, r.content_type);
    }
    if (!bodiless) reply_->content_length(r.body.size());
    reply_->set(http::field::connection, keep_alive_ ? "keep-alive" : "close");
    for (const auto& [name, value] : r.headers) {
      // A CR or LF here would let a value smuggle a header or a whole response.
      if (!IsValidHeaderName(name) || !IsValidHeaderValue(value)) {
        server_.Event("invalid_response", "dropped invalid response header " + name);
        continue;
      }
      reply_->insert(name, value);
    }
    if (!head_only_ && !bodiless)
      reply_->body() = beast::span<const char>(r.body.data(), r.body.size());
    Arm(limits_.write_timeout);
    http::async_write(stream_, *reply_,
                      [self = Self()](const ErrorCode& ec, std::size_t) { self->OnWritten(ec); });
  }

  void OnWritten(const ErrorCode& ec) {
    const bool line = parser_->is_header_done() || header_checked_;
    server_.Observe(line ? request_.method : std::string_view(),
                    line ? request_.path : std::string_view(), response_.status,
                    Clock::now() - start_);
    Done();
    reply_.reset();
    parser_.reset();
    ++served_;
    const std::size_t keep = limits_.keep_buffer_bytes;
    holds_large_buffers_ = body_.capacity() > keep || response_.body.capacity() > keep;
    if (phase_ == Phase::kClosed) return;
    if (ec) {
      Close();
    } else if (error_close_) {
      // A client that let the deadline pass gets no more time: close without lingering.
      if (response_.status == 408) {
        Close();
      } else {
        Linger();
      }
    } else if (keep_alive_) {
      WaitForRequest();
    } else {
      Close();
    }
  }

  // The request is answered (or abandoned): it no longer counts as in flight.
  void Done() {
    if (counted_) server_.stats.in_flight.fetch_sub(1);
    counted_ = false;
  }

  // Answers a request the server refuses itself; then the connection is closed.
  void RespondError(int status, std::string_view reason) {
    Disarm();
    std::string detail = std::to_string(status);
    detail += ' ';
    detail += reason;
    server_.Event(status == 408 ? "request_timeout" : "bad_request", detail);
    const bool line = parser_ && parser_->is_header_done();
    if (line) {
      const auto& header = parser_->get();
      const std::string_view target(header.target().data(), header.target().size());
      request_.method =
          std::string_view(header.method_string().data(), header.method_string().size());
      request_.path = target.substr(0, target.find('?'));
    } else {
      request_.method = request_.path = {};
      // Beast refused the request line or a field before the header was complete; the method
      // and target are still worth reporting when the request line itself was fine.
      const std::string_view raw(static_cast<const char*>(buffer_.data().data()), buffer_.size());
      const std::string_view first = raw.substr(0, raw.find("\r\n"));
      const std::size_t sp1 = first.find(' ');
      const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : first.find(' ', sp1 + 1);
      if (sp2 != std::string_view::npos && sp1 > 0 &&
          std::all_of(first.begin(), first.begin() + sp1, IsTchar) && first.size() > sp2 + 1 &&
          raw.size() > first.size()) {
        line_copy_.assign(first);
        request_.method = std::string_view(line_copy_).substr(0, sp1);
        const std::string_view target = std::string_view(line_copy_).substr(sp1 + 1, sp2 - sp1 - 1);
        request_.path = target.substr(0, target.find('?'));
      }
    }
    header_checked_ = !request_.path.empty();
    head_only_ = request_.method == "HEAD";
    keep_alive_ = false;
    error_close_ = true;
    SetError(response_, status, reason);
    Write();
  }

  // After an error answer the client may still be sending the request (a 413 is sent without
  // reading the body). Closing with unread bytes makes the kernel send RST, which can destroy the
  // answer before the client reads it; so half-close and discard input for a bounded time first.
  void Linger() {
    phase_ = Phase::kLinger;
    ErrorCode ignored;
    Socket().shutdown(tcp::socket::shutdown_send, ignored);
    Arm(std::min(limits_.read_timeout, kMaxLinger));
    linger_buffer_ = std::make_unique<char[]>(kReadSize);
    DiscardSome();
  }

  void DiscardSome() {
    Socket().async_read_some(asio::buffer(linger_buffer_.get(), kReadSize),
                             [self = Self()](const ErrorCode& ec, std::size_t n) {
                               if (self->phase_ == Phase::kClosed) return;
                               self->lingered_ += n;
                               if (ec || self->lingered_ >= kMaxLingerBytes) {
                                 self->Close();
                               } else {
                                 self->DiscardSome();
                               }
                             });
  }

  void Close() {
    if (phase_ == Phase::kClosed) return;
    const Phase was = phase_;
    phase_ = Phase::kClosed;
    Disarm();
    ErrorCode ignored;
    Socket().shutdown(tcp::socket::shutdown_both, ignored);
    Socket().close(ignored);
    // A request still in a handler keeps the session alive until it returns (see OnRequest).
    if (was != Phase::kHandling) Done();
  }

  void ReleaseBuffers() {
    const std::size_t keep = limits_.keep_buffer_bytes;
    if (body_.capacity() > keep) body_.Release();
    if (response_.body.capacity() > keep) std::string().swap(response_.body);
    holds_large_buffers_ = false;
  }

  static inline const char kEmptyPadded[kBodyPadding] = {};

  HttpServer::Impl& server_;
  Loop& loop_;  // the event loop this connection was dealt to
  const ServerLimits& limits_;
  std::shared_ptr<asio::ssl::context> tls_;  // held for the session: a reload must not affect it
  Stream stream_;
  asio::steady_timer timer_;
  std::uint64_t timer_generation_ = 0;
  beast::flat_buffer buffer_;  // received, not yet parsed; bounded by the header limit
  PaddedBuffer body_;
  std::optional<Parser> parser_;
  std::string header_names_;
  std::string line_copy_;
  Request request_;
  Response response_;
  std::optional<Reply> reply_;
  std::unique_ptr<char[]> linger_buffer_;

  Phase phase_ = Phase::kIdle;
  Clock::time_point start_;
  Clock::time_point idle_since_;
  std::uint32_t served_ = 0;
  std::size_t lingered_ = 0;
  bool stopping_ = false;
  bool timed_out_ = false;
  bool header_checked_ = false;
  bool head_only_ = false;
  bool keep_alive_ = false;
  bool error_close_ = false;
  bool counted_ = false;
  bool holds_large_buffers_ = false;
};

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

void HttpServer::Impl::Register(SessionBase* session) {
  std::lock_guard lock(sessions_mu);
  sessions.insert(session);
}

void HttpServer::Impl::Unregister(SessionBase* session) {
  {
    std::lock_guard lock(sessions_mu);
    sessions.erase(session);
  }
  sessions_cv.notify_all();
}

template <class F>
void HttpServer::Impl::ForEachSession(F f) {
  std::vector<std::shared_ptr<SessionBase>> live;
  {
    std::lock_guard lock(sessions_mu);
    live.reserve(sessions.size());
    for (SessionBase* s : sessions) {
      // A session being destroyed is waiting for the lock to unregister: skip it.
      if (auto strong = s->weak_from_this().lock()) live.push_back(std::move(strong));
    }
  }
  for (auto& s : live) {
    asio::dispatch(s->executor(), [s, f] { f(*s); });
  }
}

bool HttpServer::Impl::OnEventLoop(const Request& request) const {
  const auto found = routes.find(request.path);
  if (found == routes.end()) return true;  // a 404, answered at once
  const Route* get = nullptr;
  for (const Route& route : found->second.routes) {
    if (route.method == request.method) return route.run_on == RunOn::kEventLoop;
    if (route.method == "GET") get = &route;
  }
  if (request.method == "HEAD" && get != nullptr) return get->run_on == RunOn::kEventLoop;
  return true;  // a 405, answered at once
}

void HttpServer::Impl::TickLoopIdle(Loop& loop) {
  loop.idle.expires_after(kHandlerIdle);
  loop.idle.async_wait([this, &loop](const ErrorCode& ec) {
    if (ec || stopping.load()) return;
    if (loop.ran_handler && Clock::now() - loop.ran_handler_at >= kHandlerIdle) {
      loop.ran_handler = false;
      for (const auto& hook : idle_hooks) hook();
      malloc_trim(0);
    }
    TickLoopIdle(loop);
  });
}

void HttpServer::Impl::Dispatch(const Request& request, Response& response) noexcept {
  try {
    response.status = 200;
    response.content_type.assign("application/json");
    response.body.clear();
    response.headers.clear();

    const auto found = routes.find(request.path);
    if (found == routes.end()) {
      SetError(response, 404, "not found: ", request.path);
      return;
    }
    const Handler* handler = nullptr;
    const Handler* get_handler = nullptr;
    for (const Route& route : found->second.routes) {
      if (route.method == request.method) handler = &route.handler;
      if (route.method == "GET") get_handler = &route.handler;
    }
    // HEAD is answered by the GET handler unless it has its own; the body is not sent.
    if (handler == nullptr && request.method == "HEAD") handler = get_handler;
    if (handler == nullptr) {
      SetError(response, 405, "method not allowed: ", request.method);
      response.headers.emplace_back("Allow", found->second.allow);
      return;
    }
    (*handler)(request, response);
  } catch (const std::exception& e) {
    Event("handler_exception", e.what());
    SetError(response, 500, "internal error");
  } catch (...) {
    Event("handler_exception", "unknown exception");
    SetError(response, 500, "internal error");
  }
}

std::shared_ptr<asio::ssl::context> HttpServer::Impl::TlsContext() {
  std::shared_ptr<SSL_CTX> native;
  try {
    native = options.tls();
  } catch (...) {
  }
  if (!native) return nullptr;
  std::lock_guard lock(tls_mu);
  if (native.get() != last_native_tls) {
    // asio's context takes ownership of one reference; the source keeps its own.
    SSL_CTX_up_ref(native.get());
    last_tls = std::make_shared<asio::ssl::context>(native.get());
    last_native_tls = native.get();
  }
  return last_tls;
}

void HttpServer::Impl::Accept() {
  Loop& loop = *loops[next_loop];
  acceptor.async_accept(
      asio::make_strand(loop.io), [this, &loop](const ErrorCode& ec, tcp::socket socket) {
        if (stopping.load() || ec == asio::error::operation_aborted) return;
        if (ec) {
          // The peer gave up before it was accepted: accept the next one at once. Out of
          // descriptors or memory: the connection stays in the backlog, so back off briefly instead
          // of spinning.
          if (ec == asio::error::connection_aborted || ec == asio::error::interrupted ||
              ec == asio::error::try_again || ec == asio::error::would_block) {
            Accept();
            return;
          }
          Event("accept_failed", ec.message());
          accept_backoff.expires_after(kAcceptBackoff);
          accept_backoff.async_wait([this](const ErrorCode& wait_ec) {
            if (!wait_ec && !stopping.load()) Accept();
          });
          return;
        }
        next_loop = (next_loop + 1) % loops.size();
        OnAccepted(std::move(socket), loop);
        Accept();
      });
}

void HttpServer::Impl::OnAccepted(tcp::socket socket, Loop& loop) {
  // Without TCP_NODELAY, Nagle plus the client's delayed ACK add ~40 ms to every response
  // written after the first on a keep-alive connection.
  ErrorCode ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  const bool tls = static_cast<bool>(options.tls);
  if (stats.open_connections.load() >=
      static_cast<int>(std::max<std::uint32_t>(1, options.limits.max_connections))) {
    RejectOverloaded(socket, tls);
    return;
  }
  try {
    if (!tls) {
      std::make_shared<Session<PlainStream>>(*this, loop, std::move(socket), nullptr)->Start();
      return;
    }
    std::shared_ptr<asio::ssl::context> context = TlsContext();
    if (!context) {
      Event("tls_handshake_failed", "no TLS context available");
      return;
    }
    auto session = std::make_shared<Session<TlsStream>>(
        *this, loop, TlsStream(std::move(socket), *context), context);
    session->Start();
  } catch (const std::exception& e) {
    // No memory for the session, or OpenSSL refused a new connection: drop this one only.
    Event("connection_failed", e.what());
  }
}

void HttpServer::Impl::RejectOverloaded(tcp::socket& socket, bool tls) {
  static constexpr std::string_view kResponse =
      "HTTP/1.1 503 Service Unavailable\r\n"
      "Content-Type: application/json\r\n"
      "Content-Length: 29\r\n"
      "Retry-After: 1\r\n"
      "Connection: close\r\n"
      "\r\n"
      "{\"error\":\"server overloaded\"}";
  stats.refused_connections.fetch_add(1);
  Event("overloaded", "max_connections open; connection refused");
  // A plain-text 503 would be garbage to a TLS client, which instead sees the connection closed.
  if (!tls) {
    // Consume what the client already sent so that close() sends FIN rather than RST (which
    // could destroy the 503 before it is read). Best effort: nothing here may block.
    ErrorCode ec;
    socket.non_blocking(true, ec);
    char scratch[4096];
    for (int i = 0; i < 16 && socket.read_some(asio::buffer(scratch), ec) > 0 && !ec; ++i) {
    }
    socket.write_some(asio::buffer(kResponse.data(), kResponse.size()), ec);
  }
  ErrorCode ignored;
  socket.close(ignored);
  Observe({}, {}, 503, Clock::duration::zero());
}

HttpServer::HttpServer(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpServer::~HttpServer() { Shutdown(std::chrono::milliseconds(0)); }

void HttpServer::OnHandlerIdle(std::function<void()> hook) {
  std::lock_guard lock(impl_->lifecycle_mu);
  if (!impl_->started) impl_->idle_hooks.push_back(std::move(hook));
}

void HttpServer::Handle(std::string method, std::string path, Handler handler, RunOn run_on) {
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
      same->run_on = run_on;
    } else {
      entry.routes.push_back({std::move(method), std::move(handler), run_on});
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
    if (impl_->acceptor.is_open() || impl_->started || impl_->shut_down) {
      return InvalidArgument("listen " + where + ": server already listening or shut down");
    }
    ErrorCode ec;
    tcp::resolver resolver(impl_->loops.front()->io);
    const auto endpoints = resolver.resolve(
        host, port_text, tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec) return InvalidArgument("listen " + where + ": cannot resolve host: " + ec.message());
    ErrorCode last = make_error_code(boost::system::errc::address_not_available);
    for (const auto& entry : endpoints) {
      tcp::acceptor& acceptor = impl_->acceptor;
      ErrorCode step;
      acceptor.open(entry.endpoint().protocol(), step);
      if (!step) acceptor.set_option(tcp::acceptor::reuse_address(true), step);
      if (!step) acceptor.bind(entry.endpoint(), step);
      if (!step) acceptor.listen(kListenBacklog, step);
      if (!step) {
        impl_->port.store(acceptor.local_endpoint().port());
        return Status::Ok();
      }
      last = step;
      ErrorCode ignored;
      acceptor.close(ignored);
    }
    // "Address already in use", not asio's "bind: Address already in use".
    return Unavailable("listen " + where + ": " + std::strerror(last.value()));
  } catch (const std::exception& e) {
    return Internal(std::string("listen: ") + e.what());
  }
}

std::uint16_t HttpServer::port() const { return impl_->port.load(); }

const ServerLimits& HttpServer::limits() const { return impl_->options.limits; }

Status HttpServer::Start() {
  std::lock_guard lock(impl_->lifecycle_mu);
  if (impl_->started || impl_->shut_down) {
    return InvalidArgument("server already started or shut down");
  }
  if (!impl_->acceptor.is_open())
    return InvalidArgument("Start() needs a successful Listen() first");
  if (impl_->options.limits.threads == 0) return InvalidArgument("threads must be at least 1");
  impl_->started = true;
  try {
    impl_->pool.Start(impl_->options.limits.threads, impl_->idle_hooks);
    for (auto& loop : impl_->loops) {
      loop->work.emplace(loop->io.get_executor());
      asio::post(loop->io, [impl = impl_.get(), &loop = *loop] { impl->TickLoopIdle(loop); });
    }
    asio::post(impl_->acceptor.get_executor(), [impl = impl_.get()] { impl->Accept(); });
    for (auto& loop : impl_->loops) {
      loop->thread = std::thread([impl = impl_.get(), &loop = *loop] {
        for (;;) {
          try {
            loop.io.run();
            return;
          } catch (const std::exception& e) {
            // Only allocation failures can get here; the loop goes on serving everyone else.
            impl->Event("connection_failed", e.what());
          }
        }
      });
    }
  } catch (const std::exception& e) {
    for (auto& loop : impl_->loops) {
      loop->work.reset();
      loop->io.stop();
      if (loop->thread.joinable()) loop->thread.join();
    }
    impl_->pool.Join();
    impl_->shut_down = true;
    return Internal(std::string("starting the event loop: ") + e.what());
  }
  return Status::Ok();
}

void HttpServer::Shutdown(std::chrono::milliseconds drain) {
  try {
    std::lock_guard lock(impl_->lifecycle_mu);
    if (impl_->shut_down) return;
    impl_->shut_down = true;
    Impl& s = *impl_;
    s.stopping.store(true);
    if (!s.started) return;
    const Clock::time_point deadline = Clock::now() + Capped(drain);
    asio::post(s.acceptor.get_executor(), [&s] {
      ErrorCode ignored;
      s.acceptor.close(ignored);
      s.accept_backoff.cancel();
    });
    for (auto& loop : s.loops) asio::post(loop->io, [&loop = *loop] { loop.idle.cancel(); });
    // Idle connections close at once; requests in progress get until the drain deadline, and
    // their connections close once answered.
    s.ForEachSession([](SessionBase& session) { session.Stop(); });
    {
      std::unique_lock sessions_lock(s.sessions_mu);
      s.sessions_cv.wait_until(sessions_lock, deadline, [&] { return s.sessions.empty(); });
    }
    s.ForEachSession([](SessionBase& session) { session.Abort(); });
    s.pool.Join();  // handlers still running finish; their sessions see a closed connection
    for (auto& loop : s.loops) loop->work.reset();
    {
      // Aborted sessions complete their cancelled operations and go away.
      std::unique_lock sessions_lock(s.sessions_mu);
      s.sessions_cv.wait_for(sessions_lock, kMaxLinger, [&] { return s.sessions.empty(); });
    }
    for (auto& loop : s.loops) loop->io.stop();
    for (auto& loop : s.loops) {
      if (loop->thread.joinable()) loop->thread.join();
    }
  } catch (const std::exception& e) {
    impl_->Event("shutdown_failed", e.what());
  }
}

int HttpServer::in_flight() const { return impl_->stats.in_flight.load(); }

int HttpServer::open_connections() const { return impl_->stats.open_connections.load(); }

std::uint64_t HttpServer::refused_connections() const {
  return impl_->stats.refused_connections.load();
}

std::shared_ptr<const ServerStats> HttpServer::stats() const { return impl_->stats_owner; }

std::uint64_t HttpServer::shed_requests() const { return impl_->stats.shed_requests.load(); }

}  // namespace hyperplace::net
