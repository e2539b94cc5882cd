#include "certs/testing/test_certs.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#ifndef HYPERPLACE_MAKE_CERTS_SCRIPT
#error "HYPERPLACE_MAKE_CERTS_SCRIPT must name certs/make-certs.sh"
#endif

namespace hyperplace::certs::testing {
namespace {

// Long enough for a loaded CI machine; only a hung server ever waits this long.
constexpr int kHangGuardSeconds = 20;

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace

TempDir::TempDir() {
  std::string pattern = ::testing::TempDir() + "/hyperplace-certs-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (::mkdtemp(buffer.data()) != nullptr) path_ = buffer.data();
  EXPECT_FALSE(path_.empty()) << "mkdtemp failed: " << std::strerror(errno);
}

TempDir::~TempDir() {
  std::error_code ignored;
  if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
}

int MakeCerts(const std::string& out_dir, const std::vector<std::string>& args) {
  std::string command = ShellQuote(HYPERPLACE_MAKE_CERTS_SCRIPT) + " " + ShellQuote(out_dir);
  for (const std::string& arg : args) command += " " + ShellQuote(arg);
  command += " >&2";
  const int status = std::system(command.c_str());
  if (status == -1 || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

std::string FileSerialHex(const std::string& pem_file) {
  FILE* f = std::fopen(pem_file.c_str(), "r");
  if (f == nullptr) return "";
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (cert == nullptr) return "";
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  char* hex = bn != nullptr ? BN_bn2hex(bn) : nullptr;
  std::string out = hex != nullptr ? hex : "";
  OPENSSL_free(hex);
  BN_free(bn);
  X509_free(cert);
  return out;
}

bool WriteSelfSigned(const std::string& cert_file, const std::string& key_file,
                     std::chrono::seconds not_before, std::chrono::seconds not_after, long serial) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  bool ok = key != nullptr && cert != nullptr;
  if (ok) {
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
    X509_gmtime_adj(X509_getm_notBefore(cert), static_cast<long>(not_before.count()));
    X509_gmtime_adj(X509_getm_notAfter(cert), static_cast<long>(not_after.count()));
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, cert, cert, nullptr, nullptr, 0);
    X509_EXTENSION* san =
        X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    ok = san != nullptr && X509_add_ext(cert, san, -1) == 1;
    X509_EXTENSION_free(san);
    ok = ok && X509_sign(cert, key, EVP_sha256()) > 0;
  }
  if (ok) {
    FILE* c = std::fopen(cert_file.c_str(), "w");
    FILE* k = std::fopen(key_file.c_str(), "w");
    ok = c != nullptr && k != nullptr && PEM_write_X509(c, cert) == 1 &&
         PEM_write_PrivateKey(k, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    if (c != nullptr) std::fclose(c);
    if (k != nullptr) std::fclose(k);
  }
  X509_free(cert);
  EVP_PKEY_free(key);
  return ok;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WriteFile(const std::string& path, std::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  return static_cast<bool>(out);
}

Client::Client(std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  timeval guard{kHangGuardSeconds, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof(guard));
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &guard, sizeof(guard));
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

Client::~Client() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
}

bool Client::StartTls(const std::string& ca_file, const std::string& host) {
  if (fd_ < 0) return false;
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (ctx_ == nullptr) return false;
  if (!ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr) != 1) return false;
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
  }
  if (!client_cert_file_.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx_, client_cert_file_.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx_, client_key_file_.c_str(), SSL_FILETYPE_PEM) != 1) {
      ERR_clear_error();
      return false;
    }
  }
  if (tls12_only_) SSL_CTX_set_max_proto_version(ctx_, TLS1_2_VERSION);
  if (!alpn_.empty()) {
    std::string wire;
    for (const std::string& p : alpn_) wire += static_cast<char>(p.size()) + p;
    SSL_CTX_set_alpn_protos(ctx_, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned int>(wire.size()));
  }
  ssl_ = SSL_new(ctx_);
  if (ssl_ == nullptr) return false;
  SSL_set_fd(ssl_, fd_);
  if (!ca_file.empty()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    in6_addr ignored6;
    in_addr ignored4;
    const bool is_ip = ::inet_pton(AF_INET, host.c_str(), &ignored4) == 1 ||
                       ::inet_pton(AF_INET6, host.c_str(), &ignored6) == 1;
    if (is_ip) {
      X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
      SSL_set_tlsext_host_name(ssl_, host.c_str());
    }
  }
  const bool ok = SSL_connect(ssl_) == 1;
  ERR_clear_error();
  return ok;
}

std::string Client::PeerSerialHex() const {
  if (ssl_ == nullptr) return "";
  X509* cert = SSL_get1_peer_certificate(ssl_);
  if (cert == nullptr) return "";
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  char* hex = bn != nullptr ? BN_bn2hex(bn) : nullptr;
  std::string out = hex != nullptr ? hex : "";
  OPENSSL_free(hex);
  BN_free(bn);
  X509_free(cert);
  return out;
}

std::string Client::AlpnProtocol() const {
  if (ssl_ == nullptr) return "";
  const unsigned char* data = nullptr;
  unsigned int size = 0;
  SSL_get0_alpn_selected(ssl_, &data, &size);
  return data != nullptr ? std::string(reinterpret_cast<const char*>(data), size) : "";
}

bool Client::Send(std::string_view data) {
  while (!data.empty()) {
    const int chunk = static_cast<int>(std::min<std::size_t>(data.size(), 1 << 20));
    const ssize_t n = ssl_ != nullptr ? SSL_write(ssl_, data.data(), chunk)
                                      : ::send(fd_, data.data(), chunk, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool Client::ReadSome() {
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
  ERR_clear_error();
  return false;
}

std::string Client::Response::Header(std::string_view lower_case_name) const {
  std::string lower = head;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::string key = "\r\n" + std::string(lower_case_name) + ":";
  const std::size_t at = lower.find(key);
  if (at == std::string::npos) return "";
  const std::size_t begin = head.find_first_not_of(' ', at + key.size());
  return head.substr(begin, head.find("\r\n", begin) - begin);
}

Client::Response Client::ReadResponse() {
  Response response;
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
  response.status = std::atoi(response.head.substr(9, 3).c_str());
  return response;
}

Client::Response Client::Post(std::string_view target, std::string_view body) {
  std::string request = "POST " + std::string(target) +
                        " HTTP/1.1\r\nHost: hyperplace\r\nContent-Type: application/json\r\n"
                        "Accept: application/json\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n";
  request.append(body);
  if (!Send(request)) return Response{};
  return ReadResponse();
}

Client::Response Client::Get(std::string_view target) {
  if (!Send("GET " + std::string(target) + " HTTP/1.1\r\nHost: hyperplace\r\n\r\n")) {
    return Response{};
  }
  return ReadResponse();
}

bool Client::WaitForClose(std::string* received) {
  while (ReadSome()) {
  }
  if (received != nullptr) *received = pending_;
  return closed_;
}

}  // namespace hyperplace::certs::testing
