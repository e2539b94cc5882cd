#include "kube/client.h"

#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>

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

Client::~Client() { CancelAll(); }

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

StatusOr<Response> Client::Request(std::string_view method, const std::string& path,
                                   std::string_view body) {
  auto auth = Authorization();
  if (!auth.ok()) return auth.status();
  httplib::Headers headers = {{"Accept", "application/json"}, {"User-Agent", options_.user_agent}};
  if (!auth->empty()) headers.emplace("Authorization", *auth);
  const std::string b(body);
  // A pooled connection may have been closed by the server since it was last used; a request
  // that fails on one is sent once more on a fresh connection. (It failed before a response, and
  // the API server rejects a repeated Binding with 409, so a retry cannot bind twice.)
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<httplib::ClientImpl> c;
    bool reused = false;
    {
      std::lock_guard lock(mu_);
      if (cancelled_) return Unavailable("client shut down");
      const auto now = std::chrono::steady_clock::now();
      while (attempt == 0 && !idle_.empty()) {
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
      if (!made.ok()) return made.status();
      c = std::move(made).value();
    }
    {
      std::lock_guard lock(mu_);
      active_.push_back(c.get());
    }
    httplib::Result result{nullptr, httplib::Error::Unknown};
    if (method == "GET") {
      result = c->Get(path.c_str(), headers);
    } else if (method == "POST") {
      result = c->Post(path.c_str(), headers, b, "application/json");
    } else if (method == "PUT") {
      result = c->Put(path.c_str(), headers, b, "application/json");
    } else if (method == "PATCH") {
      result = c->Patch(path.c_str(), headers, b, "application/merge-patch+json");
    } else if (method == "DELETE") {
      result = c->Delete(path.c_str(), headers, b, "application/json");
    } else {
      std::lock_guard lock(mu_);
      active_.erase(std::find(active_.begin(), active_.end(), c.get()));
      return InvalidArgument("unsupported method " + std::string(method));
    }
    bool keep = false, cancelled = false;
    {
      std::lock_guard lock(mu_);
      active_.erase(std::find(active_.begin(), active_.end(), c.get()));
      cancelled = cancelled_;
      keep = result && !cancelled && idle_.size() < options_.max_idle_connections;
    }
    if (!result) {
      if (reused && attempt == 0 && !cancelled) {
        // The server probably restarted or timed the connection out; the other pooled
        // connections are as stale as this one.
        std::lock_guard lock(mu_);
        idle_.clear();
        continue;
      }
      return Unavailable(std::string(method) + " " + access_.server + path + ": " +
                         Describe(result.error()));
    }
    Response r{result->status, std::move(result->body)};
    if (keep) {
      std::lock_guard lock(mu_);
      idle_.push_back({std::move(c), std::chrono::steady_clock::now()});
    }
    return r;
  }
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
  {
    std::lock_guard lock(mu_);
    if (cancelled_) return Unavailable("client shut down");
    active_.push_back(c.get());
  }
  if (cancel != nullptr) {
    std::lock_guard lock(cancel->mu_);
    if (cancel->cancelled_) {
      std::lock_guard client_lock(mu_);
      active_.erase(std::find(active_.begin(), active_.end(), c.get()));
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
    active_.erase(std::find(active_.begin(), active_.end(), c.get()));
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
  for (httplib::ClientImpl* c : active_) c->stop();
  idle_.clear();
}

}  // namespace hyperplace::kube
