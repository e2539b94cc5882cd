#include "bench/http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace hyperplace::bench {
namespace {

constexpr std::size_t kTlsCoalesceBytes = 16u << 10;
constexpr std::size_t kMinRead = 64u << 10;

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

bool ContainsNoCase(std::string_view s, std::string_view needle) {
  for (std::size_t i = 0; i + needle.size() <= s.size(); ++i) {
    if (StartsWithNoCase(s.substr(i), needle)) return true;
  }
  return false;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string SslErrorText() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

int RemainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  // Round up so a sub-millisecond remainder still waits instead of spinning.
  return static_cast<int>(std::max<std::int64_t>(0, left.count() + 1));
}

void SetError(std::string* error, std::string text) {
  if (error != nullptr) *error = std::move(text);
}

}  // namespace

std::string_view ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kOk:
      return "ok";
    case ErrorKind::kConnect:
      return "connect";
    case ErrorKind::kTimeout:
      return "timeout";
    case ErrorKind::kIo:
      return "io";
    case ErrorKind::kHttpStatus:
      return "http_status";
    case ErrorKind::kBadBody:
      return "bad_body";
  }
  return "unknown";
}

std::string Endpoint::Url() const {
  return std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(port);
}

StatusOr<Endpoint> ParseUrl(const std::string& url) {
  Endpoint e;
  std::string_view rest = url;
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
    e.tls = true;
  } else {
    return InvalidArgument("URL " + url + ": must start with http:// or https://");
  }
  if (rest.ends_with('/')) rest.remove_suffix(1);
  const std::size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || rest.find('/') != std::string_view::npos) {
    return InvalidArgument("URL " + url + ": expected scheme://HOST:PORT");
  }
  e.host = std::string(rest.substr(0, colon));
  const std::string port(rest.substr(colon + 1));
  char* end = nullptr;
  const long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p <= 0 || p > 65535) {
    return InvalidArgument("URL " + url + ": bad port");
  }
  e.port = static_cast<std::uint16_t>(p);
  return e;
}

StatusOr<std::shared_ptr<SSL_CTX>> MakeClientTlsContext(const std::string& ca_pem) {
  SSL_CTX* raw = SSL_CTX_new(TLS_client_method());
  if (raw == nullptr) return Internal("SSL_CTX_new: " + SslErrorText());
  std::shared_ptr<SSL_CTX> ctx(raw, SSL_CTX_free);
  SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
  SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_mode(raw, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  BIO* bio = BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size()));
  X509_STORE* store = SSL_CTX_get_cert_store(raw);
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    if (X509_STORE_add_cert(store, cert) == 1) ++added;
    X509_free(cert);
  }
  BIO_free(bio);
  ERR_clear_error();
  if (added == 0) return InvalidArgument("CA bundle: no PEM certificate found");
  static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(raw, kAlpn, sizeof kAlpn);
  return ctx;
}

std::string RequestHead(std::string_view method, std::string_view target, const Endpoint& endpoint,
                        std::size_t body_size, std::string_view content_type) {
  std::string head;
  head.reserve(160);
  head.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ");
  head.append(endpoint.host).append(":").append(std::to_string(endpoint.port));
  head.append("\r\nUser-Agent: hpbench\r\n");
  if (body_size > 0 || method == "POST" || method == "PUT") {
    head.append("Content-Type: ").append(content_type).append("\r\nContent-Length: ");
    head.append(std::to_string(body_size)).append("\r\n");
  }
  head.append("\r\n");
  return head;
}

HttpConnection::HttpConnection(Endpoint endpoint) : endpoint_(std::move(endpoint)) {}

HttpConnection::~HttpConnection() { Close(); }

void HttpConnection::Close() {
  if (ssl_ != nullptr) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  in_len_ = in_start_ = 0;
  close_after_ = false;
}

ErrorKind HttpConnection::Wait(short events, Clock::time_point deadline, std::string* error) {
  for (;;) {
    pollfd p{fd_, events, 0};
    const int ms = RemainingMs(deadline);
    if (ms <= 0 && Clock::now() >= deadline) {
      SetError(error, "deadline exceeded");
      return ErrorKind::kTimeout;
    }
    const int n = ::poll(&p, 1, ms);
    if (n > 0) return ErrorKind::kOk;
    if (n == 0) {
      if (Clock::now() >= deadline) {
        SetError(error, "deadline exceeded");
        return ErrorKind::kTimeout;
      }
      continue;
    }
    if (errno == EINTR) continue;
    SetError(error, std::string("poll: ") + std::strerror(errno));
    return ErrorKind::kIo;
  }
}

ErrorKind HttpConnection::Connect(Clock::time_point deadline, std::string* error) {
  if (fd_ >= 0) return ErrorKind::kOk;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(endpoint_.port);
  const std::string host = endpoint_.host == "localhost" ? "127.0.0.1" : endpoint_.host;
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    SetError(error, "not an IPv4 address: " + endpoint_.host);
    return ErrorKind::kConnect;
  }
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    SetError(error, std::string("socket: ") + std::strerror(errno));
    return ErrorKind::kConnect;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS) {
      SetError(error, "connect " + endpoint_.Url() + ": " + std::strerror(errno));
      Close();
      return ErrorKind::kConnect;
    }
    if (ErrorKind k = Wait(POLLOUT, deadline, error); k != ErrorKind::kOk) {
      Close();
      return k == ErrorKind::kTimeout ? ErrorKind::kTimeout : ErrorKind::kConnect;
    }
    int so_error = 0;
    socklen_t len = sizeof so_error;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (so_error != 0) {
      SetError(error, "connect " + endpoint_.Url() + ": " + std::strerror(so_error));
      Close();
      return ErrorKind::kConnect;
    }
  }
  ++connects_;
  if (!endpoint_.tls) return ErrorKind::kOk;

  ssl_ = SSL_new(endpoint_.tls_context.get());
  if (ssl_ == nullptr) {
    SetError(error, "SSL_new: " + SslErrorText());
    Close();
    return ErrorKind::kConnect;
  }
  SSL_set_fd(ssl_, fd_);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
  in_addr probe{};
  if (::inet_pton(AF_INET, endpoint_.host.c_str(), &probe) == 1) {
    X509_VERIFY_PARAM_set1_ip_asc(param, endpoint_.host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl_, endpoint_.host.c_str());
    X509_VERIFY_PARAM_set1_host(param, endpoint_.host.c_str(), 0);
  }
  for (;;) {
    const int r = SSL_connect(ssl_);
    if (r == 1) return ErrorKind::kOk;
    const int e = SSL_get_error(ssl_, r);
    ErrorKind k = ErrorKind::kOk;
    if (e == SSL_ERROR_WANT_READ) {
      k = Wait(POLLIN, deadline, error);
    } else if (e == SSL_ERROR_WANT_WRITE) {
      k = Wait(POLLOUT, deadline, error);
    } else {
      std::string text = SslErrorText();
      const long verify = SSL_get_verify_result(ssl_);
      if (verify != X509_V_OK)
        text += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
      SetError(error, "TLS handshake with " + endpoint_.Url() + ": " + text);
      Close();
      return ErrorKind::kConnect;
    }
    if (k != ErrorKind::kOk) {
      Close();
      return k == ErrorKind::kTimeout ? ErrorKind::kTimeout : ErrorKind::kConnect;
    }
  }
}

ErrorKind HttpConnection::WriteAll(std::string_view head, std::span<const std::string_view> body,
                                   Clock::time_point deadline, std::string* error) {
  constexpr std::size_t kMaxParts = 8;
  if (body.size() + 1 > kMaxParts) {
    SetError(error, "too many body parts");
    return ErrorKind::kIo;
  }
  std::size_t body_size = 0;
  for (std::string_view part : body) body_size += part.size();
  if (ssl_ != nullptr) {
    // Coalesce small requests so head and body leave in one TLS record (as Go's client does).
    std::string_view parts[kMaxParts];
    std::size_t count = 0;
    if (body_size <= kTlsCoalesceBytes) {
      tls_out_.assign(head);
      for (std::string_view part : body) tls_out_.append(part);
      parts[count++] = tls_out_;
    } else {
      parts[count++] = head;
      for (std::string_view part : body) parts[count++] = part;
    }
    for (std::size_t i = 0; i < count; ++i) {
      std::string_view rest = parts[i];
      while (!rest.empty()) {
        const int n = SSL_write(ssl_, rest.data(),
                                static_cast<int>(std::min<std::size_t>(rest.size(), 1u << 30)));
        if (n > 0) {
          rest.remove_prefix(static_cast<std::size_t>(n));
          bytes_sent_ += static_cast<std::uint64_t>(n);
          continue;
        }
        const int e = SSL_get_error(ssl_, n);
        ErrorKind k;
        if (e == SSL_ERROR_WANT_WRITE) {
          k = Wait(POLLOUT, deadline, error);
        } else if (e == SSL_ERROR_WANT_READ) {
          k = Wait(POLLIN, deadline, error);
        } else {
          SetError(error, "TLS write: " + SslErrorText());
          return ErrorKind::kIo;
        }
        if (k != ErrorKind::kOk) return k;
      }
    }
    return ErrorKind::kOk;
  }
  iovec iov[kMaxParts];
  std::size_t count = 0;
  iov[count++] = {const_cast<char*>(head.data()), head.size()};
  for (std::string_view part : body) {
    if (!part.empty()) iov[count++] = {const_cast<char*>(part.data()), part.size()};
  }
  std::size_t first = 0;
  while (first < count) {
    msghdr msg{};
    msg.msg_iov = iov + first;
    msg.msg_iovlen = count - first;
    const ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (ErrorKind k = Wait(POLLOUT, deadline, error); k != ErrorKind::kOk) return k;
        continue;
      }
      SetError(error, std::string("send: ") + std::strerror(errno));
      return ErrorKind::kIo;
    }
    bytes_sent_ += static_cast<std::uint64_t>(n);
    std::size_t left = static_cast<std::size_t>(n);
    while (first < count && left >= iov[first].iov_len) {
      left -= iov[first].iov_len;
      ++first;
    }
    if (first < count) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return ErrorKind::kOk;
}

ErrorKind HttpConnection::ReadSome(Clock::time_point deadline, bool* eof, std::string* error) {
  *eof = false;
  if (in_.size() - in_len_ < kMinRead) in_.resize(std::max(in_.size() * 2, in_len_ + kMinRead));
  char* dst = in_.data() + in_len_;
  const std::size_t room = in_.size() - in_len_;
  for (;;) {
    if (ssl_ != nullptr) {
      const int n = SSL_read(ssl_, dst, static_cast<int>(std::min<std::size_t>(room, 1u << 30)));
      if (n > 0) {
        in_len_ += static_cast<std::size_t>(n);
        bytes_received_ += static_cast<std::uint64_t>(n);
        return ErrorKind::kOk;
      }
      const int e = SSL_get_error(ssl_, n);
      ErrorKind k;
      if (e == SSL_ERROR_WANT_READ) {
        k = Wait(POLLIN, deadline, error);
      } else if (e == SSL_ERROR_WANT_WRITE) {
        k = Wait(POLLOUT, deadline, error);
      } else if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && n == 0)) {
        *eof = true;
        SetError(error, "connection closed by the server");
        return ErrorKind::kIo;
      } else {
        SetError(error, "TLS read: " + SslErrorText());
        return ErrorKind::kIo;
      }
      if (k != ErrorKind::kOk) return k;
      continue;
    }
    const ssize_t n = ::recv(fd_, dst, room, 0);
    if (n > 0) {
      in_len_ += static_cast<std::size_t>(n);
      bytes_received_ += static_cast<std::uint64_t>(n);
      return ErrorKind::kOk;
    }
    if (n == 0) {
      *eof = true;
      SetError(error, "connection closed by the server");
      return ErrorKind::kIo;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (ErrorKind k = Wait(POLLIN, deadline, error); k != ErrorKind::kOk) return k;
      continue;
    }
    SetError(error, std::string("recv: ") + std::strerror(errno));
    return ErrorKind::kIo;
  }
}

ErrorKind HttpConnection::ReadReply(Clock::time_point deadline, HttpReply& reply,
                                    std::string* error) {
  bool eof = false;
  // Headers.
  std::size_t header_end = std::string::npos;
  std::size_t scanned = in_start_;
  for (;;) {
    std::string_view have(in_.data() + in_start_, in_len_ - in_start_);
    const std::size_t from = scanned > in_start_ + 3 ? scanned - in_start_ - 3 : 0;
    const std::size_t at = have.find("\r\n\r\n", from);
    if (at != std::string_view::npos) {
      header_end = in_start_ + at + 4;
      break;
    }
    scanned = in_len_;
    if (in_len_ - in_start_ > (1u << 20)) {
      SetError(error, "reply headers larger than 1 MiB");
      return ErrorKind::kIo;
    }
    if (ErrorKind k = ReadSome(deadline, &eof, error); k != ErrorKind::kOk) return k;
  }
  std::string_view headers(in_.data() + in_start_, header_end - in_start_);
  if (headers.size() < 12 || !headers.starts_with("HTTP/1.")) {
    SetError(error, "malformed status line");
    return ErrorKind::kIo;
  }
  int status = 0;
  for (int i = 9; i < 12; ++i) {
    const char c = headers[static_cast<std::size_t>(i)];
    if (c < '0' || c > '9') {
      SetError(error, "malformed status line");
      return ErrorKind::kIo;
    }
    status = status * 10 + (c - '0');
  }
  std::int64_t content_length = -1;
  bool chunked = false;
  close_after_ = headers.starts_with("HTTP/1.0");
  std::size_t line_start = headers.find("\r\n") + 2;
  while (line_start < headers.size()) {
    const std::size_t line_end = headers.find("\r\n", line_start);
    if (line_end == std::string_view::npos || line_end == line_start) break;
    std::string_view line = headers.substr(line_start, line_end - line_start);
    line_start = line_end + 2;
    if (StartsWithNoCase(line, "content-length:")) {
      std::string_view v = Trim(line.substr(15));
      content_length = 0;
      for (char c : v) {
        if (c < '0' || c > '9') {
          SetError(error, "malformed Content-Length");
          return ErrorKind::kIo;
        }
        content_length = content_length * 10 + (c - '0');
      }
    } else if (StartsWithNoCase(line, "transfer-encoding:")) {
      chunked = ContainsNoCase(line.substr(18), "chunked");
    } else if (StartsWithNoCase(line, "connection:")) {
      if (ContainsNoCase(line.substr(11), "close")) close_after_ = true;
    }
  }
  reply.status = status;

  std::size_t body_start = header_end;
  std::size_t body_end = header_end;
  std::size_t next_start = header_end;
  if (chunked) {
    // Undo the chunking in place: `out` trails `pos`, so moved bytes never overtake unread ones.
    std::size_t pos = header_end, out = header_end;
    for (;;) {
      std::size_t line_end;
      while ((line_end = std::string_view(in_.data(), in_len_).find("\r\n", pos)) ==
             std::string_view::npos) {
        if (ErrorKind k = ReadSome(deadline, &eof, error); k != ErrorKind::kOk) return k;
      }
      std::size_t size = 0;
      std::size_t i = pos;
      for (; i < line_end; ++i) {
        const char c = in_[i];
        int digit;
        if (c >= '0' && c <= '9') {
          digit = c - '0';
        } else if (c >= 'a' && c <= 'f') {
          digit = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
          digit = c - 'A' + 10;
        } else {
          break;  // chunk extensions
        }
        size = size * 16 + static_cast<std::size_t>(digit);
        if (size > (std::size_t{1} << 34)) {
          SetError(error, "chunk too large");
          return ErrorKind::kIo;
        }
      }
      if (i == pos) {
        SetError(error, "malformed chunk size");
        return ErrorKind::kIo;
      }
      pos = line_end + 2;
      if (size == 0) {
        // Trailers (none expected) end with an empty line.
        for (;;) {
          std::size_t end;
          while ((end = std::string_view(in_.data(), in_len_).find("\r\n", pos)) ==
                 std::string_view::npos) {
            if (ErrorKind k = ReadSome(deadline, &eof, error); k != ErrorKind::kOk) return k;
          }
          const bool empty = end == pos;
          pos = end + 2;
          if (empty) break;
        }
        break;
      }
      while (in_len_ < pos + size + 2) {
        if (ErrorKind k = ReadSome(deadline, &eof, error); k != ErrorKind::kOk) return k;
      }
      std::memmove(in_.data() + out, in_.data() + pos, size);
      out += size;
      pos += size + 2;
    }
    body_end = out;
    next_start = pos;
  } else if (content_length >= 0) {
    const std::size_t need = header_end + static_cast<std::size_t>(content_length);
    if (need > in_.size()) in_.resize(need + kMinRead);
    while (in_len_ < need) {
      if (ErrorKind k = ReadSome(deadline, &eof, error); k != ErrorKind::kOk) return k;
    }
    body_end = need;
    next_start = need;
  } else if (status == 204 || status == 304 || (status >= 100 && status < 200)) {
    body_end = next_start = header_end;
  } else {
    // Delimited by the server closing the connection.
    for (;;) {
      ErrorKind k = ReadSome(deadline, &eof, error);
      if (eof) break;
      if (k != ErrorKind::kOk) return k;
    }
    close_after_ = true;
    body_end = next_start = in_len_;
  }
  reply.body = std::string_view(in_.data() + body_start, body_end - body_start);
  in_start_ = next_start;
  return ErrorKind::kOk;
}

ErrorKind HttpConnection::RoundTrip(std::string_view head, std::span<const std::string_view> body,
                                    Clock::time_point deadline, HttpReply& reply,
                                    std::string* error) {
  reply = HttpReply{};
  if (fd_ >= 0 && close_after_) Close();
  if (ErrorKind k = Connect(deadline, error); k != ErrorKind::kOk) return k;
  // Drop what the previous reply left behind (nothing, with one request in flight).
  if (in_start_ >= in_len_) {
    in_start_ = in_len_ = 0;
  } else if (in_start_ > 0) {
    std::memmove(in_.data(), in_.data() + in_start_, in_len_ - in_start_);
    in_len_ -= in_start_;
    in_start_ = 0;
  }
  if (ErrorKind k = WriteAll(head, body, deadline, error); k != ErrorKind::kOk) {
    Close();
    return k;
  }
  if (ErrorKind k = ReadReply(deadline, reply, error); k != ErrorKind::kOk) {
    Close();
    reply = HttpReply{};
    return k;
  }
  return ErrorKind::kOk;
}

}  // namespace hyperplace::bench
