#include "kube/client.h"

#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>

namespace hyperplace::kube {
namespace {

struct Url {
  bool https = true;
  std::string host;
  int port = 443;
};

StatusOr<Url> ParseServer(const std::string& server) {
  Url u;
  std::string rest;
  if (server.rfind("https://", 0) == 0) {
    rest = server.substr(8);
  } else if (server.rfind("http://", 0) == 0) {
    u.https = false;
    u.port = 80;
    rest = server.substr(7);
  } else {
    return InvalidArgument("server must be an http(s):// URL: " + server);
  }
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    if (rest.substr(slash) != "/") {
      return InvalidArgument("server URLs with a path are not supported: " + server);
    }
    rest.resize(slash);
  }
  std::string port;
  if (!rest.empty() && rest[0] == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos) return InvalidArgument("bad IPv6 server address: " + server);
    u.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
  } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    u.host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  } else {
    u.host = rest;
  }
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) ||
        std::stoi(port) > 65535) {
      return InvalidArgument("bad port in server URL: " + server);
    }
    u.port = std::stoi(port);
  }
  if (u.host.empty()) return InvalidArgument("server URL without a host: " + server);
  return u;
}

// An X509_STORE holding every certificate of a PEM bundle; null with an error on failure.
X509_STORE* StoreFromPem(const std::string& pem, std::string& error) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509_STORE* store = X509_STORE_new();
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    if (X509_STORE_add_cert(store, cert) == 1) ++added;
    X509_free(cert);
  }
  BIO_free(bio);
  if (added == 0) {
    X509_STORE_free(store);
    error = "no certificate in the CA data";
    return nullptr;
  }
  return store;
}

std::string Describe(httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection:
      return "cannot connect";
    case httplib::Error::ConnectionTimeout:
      return "connection timed out";
    case httplib::Error::Read:
      return "read failed or timed out";
    case httplib::Error::Write:
      return "write failed or timed out";
    case httplib::Error::SSLConnection:
      return "TLS handshake failed";
    case httplib::Error::SSLServerVerification:
      return "server certificate not trusted (check the CA and the server name)";
    case httplib::Error::SSLLoadingCerts:
      return "cannot load certificates";
    case httplib::Error::Canceled:
      return "cancelled";
    default:
      return httplib::to_string(error);
  }
}

}  // namespace

std::string QueryEscape(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

StatusOr<std::shared_ptr<Client>> Client::Create(const Access& access, ClientOptions options) {
  auto url = ParseServer(access.server);
  if (!url.ok()) return url.status();
  if (!access.ca_pem.empty()) {
    std::string error;
    X509_STORE* store = StoreFromPem(access.ca_pem, error);
    if (store == nullptr) return InvalidArgument(access.origin + ": " + error);
    X509_STORE_free(store);
  }
  if (!access.client_cert_pem.empty()) {
    BIO* bio = BIO_new_mem_buf(access.client_cert_pem.data(),
                               static_cast<int>(access.client_cert_pem.size()));
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (cert == nullptr) return InvalidArgument(access.origin + ": unreadable client certificate");
    X509_free(cert);
  }
  std::shared_ptr<Client> client(new Client(access, std::move(options)));
  client->host_ = url->host;
  client->port_ = url->port;
  client->https_ = url->https;
  return client;
}

Client::Client(Access access, ClientOptions options)
    : access_(std::move(access)), options_(std::move(options)), tokens_(access_) {}

Client::~Client() {
  CancelAll();
  {
    std::lock_guard lock(mu_);
    watchdog_exit_ = true;
  }
  watch_cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
}

StatusOr<std::unique_ptr<httplib::ClientImpl>> Client::NewConnection(
    std::chrono::milliseconds read_timeout) {
  std::unique_ptr<httplib::ClientImpl> c;
  // With tls-server-name the client connects to the server's address but verifies (and sends SNI
  // for) the configured name.
  const std::string& name = access_.tls_server_name.empty() ? host_ : access_.tls_server_name;
  if (https_) {
    std::unique_ptr<httplib::SSLClient> ssl;
    if (!access_.client_cert_pem.empty()) {
      BIO* cb = BIO_new_mem_buf(access_.client_cert_pem.data(),
                                static_cast<int>(access_.client_cert_pem.size()));
      X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
      BIO_free(cb);
      BIO* kb = BIO_new_mem_buf(access_.client_key_pem.data(),
                                static_cast<int>(access_.client_key_pem.size()));
      EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
      BIO_free(kb);
      if (cert == nullptr || key == nullptr) {
        X509_free(cert);
        EVP_PKEY_free(key);
        return InvalidArgument(access_.origin + ": unreadable client certificate or key");
      }
      ssl = std::make_unique<httplib::SSLClient>(name, port_, cert, key);
      X509_free(cert);
      EVP_PKEY_free(key);
    } else {
      ssl = std::make_unique<httplib::SSLClient>(name, port_);
    }
    if (!ssl->is_valid()) return Internal("cannot create a TLS client context");
    if (access_.insecure_skip_tls_verify) {
      ssl->enable_server_certificate_verification(false);
    } else if (!access_.ca_pem.empty()) {
      std::string error;
      ssl->set_ca_cert_store(StoreFromPem(access_.ca_pem, error));  // the context takes it
    } else {
      ssl->set_ca_cert_path("/etc/ssl/certs/ca-certificates.crt");
    }
    c = std::move(ssl);
  } else {
    c = std::make_unique<httplib::ClientImpl>(name, port_);
  }
  if (name != host_) c->set_hostname_addr_map({{name, host_}});
  c->set_tcp_nodelay(true);
  c->set_keep_alive(true);
  c->set_decompress(false);  // no gzip: the API server is near, the CPU is not free
  c->set_follow_location(false);
  const auto connect = options_.connect_timeout.count();
  c->set_connection_timeout(connect / 1000, (connect % 1000) * 1000);
  c->set_read_timeout(read_timeout.count() / 1000, (read_timeout.count() % 1000) * 1000);
  c->set_write_timeout(options_.request_timeout.count() / 1000,
                       (options_.request_timeout.count() % 1000) * 1000);
  return c;
}

StatusOr<std::string> Client::Authorization() {
  auto token = tokens_.Token();
  if (!token.ok()) return token.status();
  if (token->empty()) return std::string();
  return "Bearer " + *token;
}

namespace {

// Failures before any byte of the request was written: the server cannot have seen it.
bool NotSent(httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection:
    case httplib::Error::BindIPAddress:
    case httplib::Error::ConnectionTimeout:
    case httplib::Error::SSLConnection:
    case httplib::Error::SSLLoadingCerts:
    case httplib::Error::SSLServerVerification:
      return true;
    default:
      return false;
  }
}

void SetTimeout(std::chrono::milliseconds d, const std::function<void(time_t, time_t)>& set) {
  d = std::max(d, std::chrono::milliseconds(1));
  set(static_cast<time_t>(d.count() / 1000), static_cast<time_t>((d.count() % 1000) * 1000));
}

}  // namespace

struct Client::Attempt {
  httplib::Error error = httplib::Error::Unknown;
  bool ok = false;
  bool timed_out = false;
  bool too_large = false;
  Response response;
};

void Client::RunAttempt(httplib::ClientImpl& c, std::string_view method, const std::string& path,
                        std::string_view body, const std::string& authorization, Deadline deadline,
                        Attempt& attempt) {
  // httplib's timeouts bound each wait for the socket, not the whole exchange: a server that
  // trickles its answer would outlast any of them. The watchdog stops the connection at the
  // deadline; the read and write timeouts are a backstop just behind it. stop() cannot cut a
  // connect or TLS handshake short, so the connect timeout is the deadline itself.
  const auto now = std::chrono::steady_clock::now();
  const auto left = deadline == kNoDeadline
                        ? options_.request_timeout
                        : std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
  const auto backstop = left + std::chrono::milliseconds(deadline == kNoDeadline ? 0 : 200);
  SetTimeout(std::min(options_.connect_timeout, left),
             [&](time_t s, time_t us) { c.set_connection_timeout(s, us); });
  SetTimeout(std::min(options_.request_timeout, backstop),
             [&](time_t s, time_t us) { c.set_read_timeout(s, us); });
  SetTimeout(std::min(options_.request_timeout, backstop),
             [&](time_t s, time_t us) { c.set_write_timeout(s, us); });

  httplib::Request req;
  req.method = std::string(method);
  req.path = path;
  req.headers = {{"Accept", "application/json"}, {"User-Agent", options_.user_agent}};
  if (!body.empty() || method != "GET") {
    req.body = std::string(body);
    req.headers.emplace("Content-Type",
                        method == "PATCH" ? "application/merge-patch+json" : "application/json");
  }
  const std::size_t limit = options_.max_response_bytes;
  req.response_handler = [&](const httplib::Response& r) {
    attempt.response.status = r.status;
    // Refuse a declared length over the limit before reading any of it.
    if (r.has_header("Content-Length") &&
        std::strtoull(r.get_header_value("Content-Length").c_str(), nullptr, 10) > limit) {
      attempt.too_large = true;
      return false;
    }
    return true;
  };
  req.content_receiver = [&](const char* data, std::size_t size, std::uint64_t, std::uint64_t) {
    if (attempt.response.body.size() + size > limit) {
      attempt.too_large = true;
      return false;
    }
    attempt.response.body.append(data, size);
    return true;
  };
  if (!authorization.empty()) req.headers.emplace("Authorization", authorization);

  Active active{&c, deadline};
  {
    std::lock_guard lock(mu_);
    active_.push_back(&active);
    if (deadline != kNoDeadline && !watchdog_.joinable()) {
      watchdog_ = std::thread([this] { Watchdog(); });
    }
  }
  watch_cv_.notify_all();
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  attempt.ok = c.send(req, res, error);
  attempt.error = error;
  {
    std::unique_lock lock(mu_);
    watch_cv_.wait(lock, [&] { return !active.stopping; });
    active_.erase(std::find(active_.begin(), active_.end(), &active));
    attempt.timed_out = active.timed_out;
  }
  if (attempt.ok) attempt.response.status = res.status;
}

void Client::Watchdog() {
  std::unique_lock lock(mu_);
  while (!watchdog_exit_) {
    Deadline next = kNoDeadline;
    Active* due = nullptr;
    for (Active* a : active_) {
      if (!a->timed_out && a->deadline < next) {
        next = a->deadline;
        due = a;
      }
    }
    if (due == nullptr) {
      watch_cv_.wait(lock);
      continue;
    }
    if (std::chrono::steady_clock::now() < next) {
      watch_cv_.wait_until(lock, next);
      continue;  // the set may have changed
    }
    // stop() waits for a connect or handshake in progress (each bounded by the deadline's
    // timeouts), so it runs outside mu_; `stopping` keeps the connection alive meanwhile.
    due->timed_out = true;
    due->stopping = true;
    lock.unlock();
    due->connection->stop();
    lock.lock();
    due->stopping = false;
    watch_cv_.notify_all();
  }
}

Outcome Client::Send(std::string_view method, const std::string& path, std::string_view body,
                     Deadline deadline) {
  Outcome out;
  if (method != "GET" && method != "POST" && method != "PUT" && method != "PATCH" &&
      method != "DELETE") {
    out.response = InvalidArgument("unsupported method " + std::string(method));
    return out;
  }
  auto auth = Authorization();
  if (!auth.ok()) {
    out.response = auth.status();
    return out;
  }
  const std::string what = std::string(method) + " " + access_.server + path;
  // Only a GET may be replayed after its bytes went out: a POST may have been applied.
  const bool replayable = method == "GET";
  for (int attempt_no = 0; attempt_no < 2; ++attempt_no) {
    if (deadline != kNoDeadline && std::chrono::steady_clock::now() >= deadline) {
      out.response = Unavailable(what + ": deadline exceeded");
      return out;
    }
    std::unique_ptr<httplib::ClientImpl> c;
    bool reused = false;
    {
      std::lock_guard lock(mu_);
      if (cancelled_) {
        out.response = Unavailable("client shut down");
        return out;
      }
      const auto now = std::chrono::steady_clock::now();
      while (attempt_no == 0 && !idle_.empty()) {
        Idle idle = std::move(idle_.back());
        idle_.pop_back();
        if (now - idle.since < options_.max_idle_age) {
          c = std::move(idle.connection);
          reused = true;
          break;
        }
      }
    }
    if (!c) {
      auto made = NewConnection(options_.request_timeout);
      if (!made.ok()) {
        out.response = made.status();
        return out;
      }
      c = std::move(made).value();
    }
    Attempt attempt;
    RunAttempt(*c, method, path, body, *auth, deadline, attempt);
    bool cancelled;
    {
      std::lock_guard lock(mu_);
      cancelled = cancelled_;
    }
    if (attempt.too_large) {
      out.maybe_applied = true;
      out.response = OutOfRange(what + ": response larger than " +
                                std::to_string(options_.max_response_bytes) + " bytes");
      return out;
    }
    if (!attempt.ok) {
      const bool not_sent = NotSent(attempt.error);
      out.maybe_applied = out.maybe_applied || !not_sent;
      const bool late = attempt.timed_out ||
                        (deadline != kNoDeadline && std::chrono::steady_clock::now() >= deadline);
      out.response =
          Unavailable(what + ": " + (late ? "deadline exceeded" : Describe(attempt.error)));
      if (cancelled || late) return out;
      // Again on a fresh connection: a request that never left, or a read that failed on a
      // pooled connection (the server may have closed it meanwhile; the others are as stale).
      if (not_sent || (replayable && reused)) {
        if (reused) {
          std::lock_guard lock(mu_);
          idle_.clear();
        }
        continue;
      }
      return out;
    }
    out.response = std::move(attempt.response);
    std::lock_guard lock(mu_);
    if (!cancelled_ && idle_.size() < options_.max_idle_connections) {
      idle_.push_back({std::move(c), std::chrono::steady_clock::now()});
    }
    return out;
  }
  return out;
}

void CancelToken::Cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  if (active_ != nullptr) active_->stop();
}

bool CancelToken::cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

StatusOr<int> Client::Stream(const std::string& path, std::chrono::milliseconds idle_timeout,
                             const std::function<bool(std::string_view)>& on_data,
                             std::string* error_body, CancelToken* cancel) {
  auto auth = Authorization();
  if (!auth.ok()) return auth.status();
  auto made = NewConnection(idle_timeout);
  if (!made.ok()) return made.status();
  std::unique_ptr<httplib::ClientImpl> c = std::move(made).value();
  Active active{c.get(), kNoDeadline};
  {
    std::lock_guard lock(mu_);
    if (cancelled_) return Unavailable("client shut down");
    active_.push_back(&active);
  }
  if (cancel != nullptr) {
    std::lock_guard lock(cancel->mu_);
    if (cancel->cancelled_) {
      std::lock_guard client_lock(mu_);
      active_.erase(std::find(active_.begin(), active_.end(), &active));
      return Unavailable("stream cancelled");
    }
    cancel->active_ = c.get();
  }
  httplib::Headers headers = {{"Accept", "application/json"}, {"User-Agent", options_.user_agent}};
  if (!auth->empty()) headers.emplace("Authorization", *auth);
  int status = 0;
  std::size_t error_bytes = 0;
  auto result = c->Get(
      path.c_str(), headers,
      [&](const httplib::Response& response) {
        status = response.status;
        return true;
      },
      [&](const char* data, std::size_t size) {
        if (status != 200) {
          if (error_body != nullptr && error_bytes < (64u << 10)) {
            error_body->append(data, std::min(size, (64u << 10) - error_bytes));
          }
          error_bytes += size;
          return true;
        }
        return on_data(std::string_view(data, size));
      });
  bool cancelled;
  {
    std::lock_guard lock(mu_);
    active_.erase(std::find(active_.begin(), active_.end(), &active));
    cancelled = cancelled_;
  }
  if (cancel != nullptr) {
    std::lock_guard lock(cancel->mu_);
    cancel->active_ = nullptr;
    cancelled = cancelled || cancel->cancelled_;
  }
  if (cancelled) return Unavailable("stream cancelled");
  // A receiver that returned false ends the request with Error::Canceled: that is our own stop.
  if (!result && result.error() != httplib::Error::Canceled) {
    return Unavailable("GET " + access_.server + path + ": " + Describe(result.error()));
  }
  return status;
}

void Client::CancelAll() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  for (Active* a : active_) a->connection->stop();
  idle_.clear();
}

}  // namespace hyperplace::kube
