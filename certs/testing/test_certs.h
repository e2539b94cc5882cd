// Test fixtures for TLS: temporary directories, certificates made by certs/make-certs.sh (the
// script under test, run for real), hand-made certificates for the cases the script refuses to
// make (expired, not yet valid), and a small blocking TLS client that verifies the server against
// a CA file and can tell which certificate it was served.
//
// For tests only: failures are reported as empty results, never as exceptions.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace hyperplace::certs::testing {

// A fresh directory under the test temp dir, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// Runs certs/make-certs.sh OUT_DIR ARGS...; returns its exit status (0 on success). The script's
// output goes to the test log.
int MakeCerts(const std::string& out_dir, const std::vector<std::string>& args = {});

// The serial number of the first certificate in a PEM file, upper-case hex ("" if unreadable).
std::string FileSerialHex(const std::string& pem_file);

// Writes a self-signed ECDSA P-256 certificate and its key (PEM) valid from now + not_before to
// now + not_after, with subject CN=localhost and SANs DNS:localhost, IP:127.0.0.1. Returns false
// on failure.
bool WriteSelfSigned(const std::string& cert_file, const std::string& key_file,
                     std::chrono::seconds not_before, std::chrono::seconds not_after,
                     long serial = 1);

std::string ReadFile(const std::string& path);
bool WriteFile(const std::string& path, std::string_view contents);

// A blocking client connection to 127.0.0.1:port with a receive/send timeout (a guard against
// hangs, not a timing assertion).
class Client {
 public:
  explicit Client(std::uint16_t port);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return fd_ >= 0; }

  // TLS handshake. With a CA file, the server's chain and its name (`host`: a DNS name or an IP
  // address) are verified; without, anything is accepted. Returns false if the handshake fails.
  bool StartTls(const std::string& ca_file = "", const std::string& host = "localhost");
  // Serial of the certificate the server presented (upper-case hex), or "".
  std::string PeerSerialHex() const;
  // The ALPN protocol the server selected, or "".
  std::string AlpnProtocol() const;
  // Offers these ALPN protocols in the next StartTls().
  void OfferAlpn(std::vector<std::string> protocols) { alpn_ = std::move(protocols); }
  // Presents this certificate (PEM, leaf first) and key in the next StartTls() when the server
  // asks for one.
  void PresentCertificate(std::string cert_file, std::string key_file) {
    client_cert_file_ = std::move(cert_file);
    client_key_file_ = std::move(key_file);
  }
  // Caps the next StartTls() at TLS 1.2, where a server refusing the client's certificate fails
  // SSL_connect itself (in TLS 1.3 the client's handshake completes first and the refusal
  // arrives as an alert on the first read).
  void LimitToTls12() { tls12_only_ = true; }

  bool Send(std::string_view data);

  struct Response {
    int status = 0;  // 0: no complete response
    std::string head;
    std::string body;
    std::string Header(std::string_view lower_case_name) const;
  };
  // Reads one response framed by Content-Length.
  Response ReadResponse();
  // A POST with a JSON body on this connection, then its response.
  Response Post(std::string_view target, std::string_view body);
  Response Get(std::string_view target);

  // Reads until the server closes the connection; false if it did not before the hang guard.
  bool WaitForClose(std::string* received = nullptr);

 private:
  bool ReadSome();

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  bool closed_ = false;
  std::vector<std::string> alpn_;
  std::string client_cert_file_;
  std::string client_key_file_;
  bool tls12_only_ = false;
  std::string pending_;
};

}  // namespace hyperplace::certs::testing
