// A listener's serving certificate (the webhook's; the extender's when it serves TLS): loaded from
// PEM files into an OpenSSL server context, and reloaded when the files change on disk (a rotated
// Kubernetes Secret) without dropping connections.
//
// With a client CA file the context also demands a client certificate: a client that sends none,
// or one that does not chain to a certificate of that file (or whose extendedKeyUsage excludes
// clientAuth), fails the TLS handshake, so no HTTP request of it is ever read. The CA file is
// reloaded like the pair: a CA added or removed applies to connections accepted afterwards.
//
// Start is strict: a missing or unreadable file, a file without a PEM certificate or key, a key
// that does not match the certificate, or a certificate outside its validity period is an error
// naming the file and the problem (for the client CA file: no certificate in it, or one that is not
// a CA). After that, reloads are forgiving: a bad new pair is logged
// (once per distinct content) and counted, and the current context stays in use.
//
// Reloading is polled: the files are re-read by path every `reload_interval` (by the background
// thread StartWatching() starts, or by whoever calls Poll()). Re-opening the paths each time
// follows the `..data` symlink that the kubelet swaps atomically when a Secret volume is updated,
// so a rotation is seen however it is written; a change is detected by a SHA-256 digest of the
// files' bytes, not by mtime. A changed pair becomes a new SSL_CTX that is swapped in atomically:
// only connections accepted afterwards use it (net::TlsContextSource), established ones keep
// theirs.
//
// Metrics (when a registry is given; <name> is TlsReloaderOptions::name, "webhook" or "extender"):
//   hyperplace_<name>_certificate_reloads_total{result="success|failure"}  reloads after start
//   hyperplace_<name>_certificate_expiry_seconds  seconds until the current certificate's
//                                                 notAfter (negative once expired)
//
// Key material is never logged; messages name files, serial numbers and validity dates only.
//
// Thread-safety: Source(), Current(), CurrentInfo() and Poll() may be called from any thread;
// StartWatching() and StopWatching() by the owner.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/metrics.h"
#include "common/status.h"
#include "net/http_server.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace hyperplace::certs {

struct TlsReloaderOptions {
  // PEM: the serving certificate first, then any intermediate certificates.
  std::string cert_file;
  // PEM: the certificate's private key, unencrypted (PKCS#8, PKCS#1 or SEC1).
  std::string key_file;
  // PEM: the CA certificates client certificates must chain to. Empty: no client certificate is
  // asked for.
  std::string client_ca_file;
  // The listener these files serve, in metric names and log lines: "webhook", "extender".
  std::string name = "webhook";
  // How often StartWatching()'s thread polls the files. A pair that is not valid yet is tried
  // again at every poll until it is.
  std::chrono::milliseconds reload_interval{10000};
  // The time certificates are checked against; empty: the system clock. For tests.
  std::function<std::chrono::system_clock::time_point()> clock;
};

// What a loaded certificate is, for logs and tests.
struct CertificateInfo {
  std::string serial_hex;  // upper-case hex, as `openssl x509 -serial` prints it
  std::string subject;     // one line, RFC 2253
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
};

// Reads and checks one certificate/key pair and builds a TLS server context from it: TLS 1.2 or
// later, no renegotiation, ALPN "http/1.1" when the client offers it. `now` decides validity.
// With a client CA file, the context requires and verifies client certificates (see above).
StatusOr<std::shared_ptr<SSL_CTX>> LoadServerContext(const std::string& cert_file,
                                                     const std::string& key_file,
                                                     std::chrono::system_clock::time_point now,
                                                     CertificateInfo* info = nullptr,
                                                     const std::string& client_ca_file = "");

class TlsReloader {
 public:
  enum class PollResult {
    kUnchanged,  // same bytes as the last attempt (successful or not)
    kReloaded,   // a new pair was loaded and is now served
    kRejected,   // the files changed to a pair that does not load; the current one stays
  };

  // Loads the pair (strict, see above). With a registry, registers the two metrics; a registry
  // takes one reloader (registering the expiry gauge twice is a programming error).
  static StatusOr<std::unique_ptr<TlsReloader>> Create(TlsReloaderOptions options,
                                                       metrics::Registry* registry = nullptr);
  ~TlsReloader();  // stops watching
  TlsReloader(const TlsReloader&) = delete;
  TlsReloader& operator=(const TlsReloader&) = delete;

  // The context new connections should use. The source stays valid after the reloader is
  // destroyed (it then keeps returning the last context).
  net::TlsContextSource Source() const;
  std::shared_ptr<SSL_CTX> Current() const;
  CertificateInfo CurrentInfo() const;

  // Re-reads the files now and swaps in a new context if they changed.
  PollResult Poll();

  // Calls Poll() every reload_interval on a background thread until StopWatching() or
  // destruction. Calling it again while watching does nothing.
  void StartWatching();
  void StopWatching();

  const TlsReloaderOptions& options() const { return options_; }

 private:
  struct Shared;
  struct Watcher;
  TlsReloader(TlsReloaderOptions options, std::shared_ptr<Shared> shared);

  const TlsReloaderOptions options_;
  std::shared_ptr<Shared> shared_;
  std::unique_ptr<Watcher> watcher_;
};

}  // namespace hyperplace::certs
