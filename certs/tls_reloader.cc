#include "certs/tls_reloader.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "common/log.h"

namespace hyperplace::certs {
namespace {

using Clock = std::chrono::system_clock;

// PEM files of a certificate chain and a key are a few KiB; anything much larger is not one.
constexpr std::size_t kMaxPemBytes = std::size_t{1} << 20;

std::string Quote(const std::string& text) { return "\"" + text + "\""; }

// The oldest OpenSSL error's reason, without the library's file/line noise; clears the queue.
std::string OpenSslReason() {
  unsigned long code = ERR_peek_error();
  std::string reason;
  if (code != 0) {
    const char* text = ERR_reason_error_string(code);
    reason = text != nullptr ? text : "error " + std::to_string(ERR_GET_REASON(code));
  } else {
    reason = "unknown error";
  }
  ERR_clear_error();
  return reason;
}

// Reads a whole file of at most kMaxPemBytes. `what` names the file's role in messages.
StatusOr<std::string> ReadPemFile(const std::string& path, const char* what) {
  auto error = [&](int err) {
    StatusCode code = err == ENOENT ? StatusCode::kNotFound : StatusCode::kInvalidArgument;
    return Status(
        code, std::string("cannot read ") + what + " " + Quote(path) + ": " + std::strerror(err));
  };
  if (path.empty()) return InvalidArgument(std::string("no ") + what + " given");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return error(errno);
  std::string data;
  char buffer[16 * 1024];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return error(err);
    }
    if (n == 0) break;
    data.append(buffer, static_cast<std::size_t>(n));
    if (data.size() > kMaxPemBytes) {
      ::close(fd);
      return OutOfRange(std::string(what) + " " + Quote(path) + " is larger than 1MiB");
    }
  }
  ::close(fd);
  return data;
}

// Refuses to prompt for a passphrase (OpenSSL's default callback reads the terminal).
int NoPassphrase(char*, int, int, void*) { return -1; }

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

BioPtr MemoryBio(const std::string& data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

bool IsNoPemStartLine(unsigned long code) {
  return ERR_GET_LIB(code) == ERR_LIB_PEM && ERR_GET_REASON(code) == PEM_R_NO_START_LINE;
}

StatusOr<std::vector<X509Ptr>> ParseChain(const std::string& pem, const std::string& path) {
  BioPtr bio = MemoryBio(pem);
  if (!bio) return Internal("cannot allocate a memory BIO");
  std::vector<X509Ptr> chain;
  ERR_clear_error();
  while (true) {
    X509* cert = PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr);
    if (cert == nullptr) break;
    chain.emplace_back(cert);
  }
  // Reading stops with "no start line" at the end of the input; anything else is a bad block.
  const unsigned long code = ERR_peek_last_error();
  if (code != 0 && !IsNoPemStartLine(code)) {
    return InvalidArgument("cannot parse the certificate in " + Quote(path) + ": " +
                           OpenSslReason());
  }
  ERR_clear_error();
  if (chain.empty()) return InvalidArgument("no PEM certificate in " + Quote(path));
  return chain;
}

StatusOr<PkeyPtr> ParseKey(const std::string& pem, const std::string& path) {
  BioPtr bio = MemoryBio(pem);
  if (!bio) return Internal("cannot allocate a memory BIO");
  ERR_clear_error();
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (key) {
    ERR_clear_error();
    return key;
  }
  // OpenSSL 3's decoders report a missing key as "unsupported", so look at the text: a PEM key
  // block is "-----BEGIN [ENCRYPTED |RSA |EC ]PRIVATE KEY-----".
  const bool has_key_block = pem.find("PRIVATE KEY-----") != std::string::npos;
  const bool encrypted = pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string::npos ||
                         pem.find("Proc-Type: 4,ENCRYPTED") != std::string::npos;
  if (!has_key_block) {
    ERR_clear_error();
    return InvalidArgument("no PEM private key in " + Quote(path));
  }
  if (encrypted) {
    ERR_clear_error();
    return InvalidArgument("the private key in " + Quote(path) +
                           " is encrypted; encrypted keys are not supported");
  }
  return InvalidArgument("cannot parse the private key in " + Quote(path) +
                         ": damaged or unsupported key (" + OpenSslReason() + ")");
}

StatusOr<Clock::time_point> ToTimePoint(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) {
    return InvalidArgument("unreadable validity date");
  }
  return Clock::from_time_t(timegm(&tm));
}

std::string FormatTime(Clock::time_point t) {
  std::time_t seconds = Clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string SerialHex(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  if (bn == nullptr) return "";
  char* hex = BN_bn2hex(bn);
  std::string out = hex != nullptr ? hex : "";
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

std::string SubjectLine(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return "";
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : "";
}

// Chooses HTTP/1.1 when the client offers it (Go's clients offer h2 and http/1.1); otherwise no
// protocol is negotiated and the client falls back to HTTP/1.1 by itself.
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
               unsigned int in_len, void*) {
  static constexpr unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_len, kHttp11, sizeof(kHttp11), in, in_len) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

// The PEM bytes one context is built from. `client_ca` is empty when no client CA is configured.
struct PemFiles {
  std::string cert;
  std::string key;
  std::string client_ca;
};

std::array<unsigned char, 32> Digest(const PemFiles& files) {
  std::array<unsigned char, 32> digest{};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned int size = 0;
  // Lengths first, so no split of the same bytes between the files digests alike.
  const std::uint64_t lengths[3] = {files.cert.size(), files.key.size(), files.client_ca.size()};
  if (ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
      EVP_DigestUpdate(ctx, lengths, sizeof(lengths)) == 1 &&
      EVP_DigestUpdate(ctx, files.cert.data(), files.cert.size()) == 1 &&
      EVP_DigestUpdate(ctx, files.key.data(), files.key.size()) == 1 &&
      EVP_DigestUpdate(ctx, files.client_ca.data(), files.client_ca.size()) == 1) {
    EVP_DigestFinal_ex(ctx, digest.data(), &size);
  }
  EVP_MD_CTX_free(ctx);
  return digest;
}

// Reads the files of `options` (the client CA file only when one is configured).
StatusOr<PemFiles> ReadPemFiles(const TlsReloaderOptions& options) {
  PemFiles files;
  StatusOr<std::string> cert = ReadPemFile(options.cert_file, "TLS certificate file");
  if (!cert.ok()) return cert.status();
  files.cert = std::move(*cert);
  StatusOr<std::string> key = ReadPemFile(options.key_file, "TLS private key file");
  if (!key.ok()) return key.status();
  files.key = std::move(*key);
  if (!options.client_ca_file.empty()) {
    StatusOr<std::string> ca = ReadPemFile(options.client_ca_file, "client CA file");
    if (!ca.ok()) return ca.status();
    files.client_ca = std::move(*ca);
  }
  return files;
}

// Makes `ctx` demand a client certificate that chains to one of the CA certificates in `ca_pem`.
// Only those CAs are trusted (the context's store starts empty: no system roots).
Status RequireClientCertificates(SSL_CTX* ctx, const std::string& ca_pem,
                                 const std::string& ca_file) {
  StatusOr<std::vector<X509Ptr>> cas = ParseChain(ca_pem, ca_file);
  if (!cas.ok()) return cas.status();
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
  if (store == nullptr || names == nullptr) {
    sk_X509_NAME_free(names);
    return Internal("cannot allocate the client CA store");
  }
  for (const X509Ptr& ca : *cas) {
    // A leaf here (the serving certificate given by mistake) would trust nothing the operator
    // meant; say so at start rather than refuse every client.
    if (X509_check_ca(ca.get()) == 0) {
      sk_X509_NAME_pop_free(names, X509_NAME_free);
      return InvalidArgument("the certificate \"" + SubjectLine(ca.get()) + "\" in " +
                             Quote(ca_file) + " is not a CA certificate");
    }
    if (X509_STORE_add_cert(store, ca.get()) != 1) {
      sk_X509_NAME_pop_free(names, X509_NAME_free);
      return InvalidArgument("cannot use the client CA in " + Quote(ca_file) + ": " +
                             OpenSslReason());
    }
    X509_NAME* name = X509_NAME_dup(X509_get_subject_name(ca.get()));
    if (name == nullptr || sk_X509_NAME_push(names, name) == 0) {
      X509_NAME_free(name);
      sk_X509_NAME_pop_free(names, X509_NAME_free);
      return Internal("cannot allocate the client CA list");
    }
  }
  // Like Go's x509.CertPool (kube-apiserver's --client-ca-file): every certificate of the file is
  // a trust anchor, an intermediate CA included, without its root having to be there too.
  X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
  // The CA names the server sends in its CertificateRequest, so a client with several
  // certificates picks the right one. The context takes ownership.
  SSL_CTX_set_client_CA_list(ctx, names);
  // Verification of a client by a server uses the "sslclient" purpose: a certificate whose
  // extendedKeyUsage lacks clientAuth (a serving certificate) is refused too.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  // Resuming a session of a verified client needs a session id context; without one OpenSSL fails
  // the resumed handshake.
  static constexpr unsigned char kSessionContext[] = "hyperplace-client-auth";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
  return Status();
}

// Builds the context from already-read PEM bytes.
StatusOr<std::shared_ptr<SSL_CTX>> BuildContext(const PemFiles& files,
                                                const TlsReloaderOptions& options,
                                                Clock::time_point now, CertificateInfo* info) {
  const std::string& cert_file = options.cert_file;
  const std::string& key_file = options.key_file;
  StatusOr<std::vector<X509Ptr>> chain = ParseChain(files.cert, cert_file);
  if (!chain.ok()) return chain.status();
  StatusOr<PkeyPtr> key = ParseKey(files.key, key_file);
  if (!key.ok()) return key.status();
  X509* leaf = chain->front().get();

  if (X509_check_private_key(leaf, key->get()) != 1) {
    ERR_clear_error();
    return InvalidArgument("the private key in " + Quote(key_file) +
                           " does not match the certificate in " + Quote(cert_file));
  }
  StatusOr<Clock::time_point> not_before = ToTimePoint(X509_get0_notBefore(leaf));
  StatusOr<Clock::time_point> not_after = ToTimePoint(X509_get0_notAfter(leaf));
  if (!not_before.ok() || !not_after.ok()) {
    return InvalidArgument("the certificate in " + Quote(cert_file) +
                           " has an unreadable validity period");
  }
  if (now < *not_before) {
    // Unavailable, not InvalidArgument: time fixes it (a pair issued for the near future, or a
    // clock a little behind the issuer's), so a reload tries the same bytes again later.
    return Unavailable("the certificate in " + Quote(cert_file) + " is not valid before " +
                       FormatTime(*not_before));
  }
  if (now > *not_after) {
    return InvalidArgument("the certificate in " + Quote(cert_file) + " expired at " +
                           FormatTime(*not_after));
  }

  SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
  if (raw == nullptr) return Internal("cannot create a TLS context: " + OpenSslReason());
  std::shared_ptr<SSL_CTX> ctx(raw, SSL_CTX_free);
  SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
  SSL_CTX_set_options(
      raw, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_alpn_select_cb(raw, SelectAlpn, nullptr);
  bool ok = SSL_CTX_use_certificate(raw, leaf) == 1 && SSL_CTX_use_PrivateKey(raw, key->get()) == 1;
  for (std::size_t i = 1; ok && i < chain->size(); ++i) {
    ok = SSL_CTX_add1_chain_cert(raw, (*chain)[i].get()) == 1;
  }
  ok = ok && SSL_CTX_check_private_key(raw) == 1;
  if (!ok) {
    // For example a key too weak for OpenSSL's security level.
    return InvalidArgument("cannot use the certificate in " + Quote(cert_file) + " and key in " +
                           Quote(key_file) + ": " + OpenSslReason());
  }
  if (!options.client_ca_file.empty()) {
    if (Status st = RequireClientCertificates(raw, files.client_ca, options.client_ca_file);
        !st.ok()) {
      return st;
    }
  }
  if (info != nullptr) {
    info->serial_hex = SerialHex(leaf);
    info->subject = SubjectLine(leaf);
    info->not_before = *not_before;
    info->not_after = *not_after;
  }
  return ctx;
}

}  // namespace

StatusOr<std::shared_ptr<SSL_CTX>> LoadServerContext(const std::string& cert_file,
                                                     const std::string& key_file,
                                                     Clock::time_point now, CertificateInfo* info,
                                                     const std::string& client_ca_file) {
  TlsReloaderOptions options;
  options.cert_file = cert_file;
  options.key_file = key_file;
  options.client_ca_file = client_ca_file;
  StatusOr<PemFiles> files = ReadPemFiles(options);
  if (!files.ok()) return files.status();
  return BuildContext(*files, options, now, info);
}

// State shared with Source() closures and the expiry gauge, which may outlive the reloader.
struct TlsReloader::Shared {
  mutable std::mutex mu;
  std::shared_ptr<SSL_CTX> context;
  CertificateInfo info;
  std::atomic<std::int64_t> not_after_unix{0};

  // Serializes Poll(); guards the fields below.
  std::mutex poll_mu;
  // What the last poll saw: the digest of the files' bytes, or the text of the read error.
  std::array<unsigned char, 32> last_digest{};
  // A pair refused only because it is not valid yet: retried at every check, reported once.
  std::array<unsigned char, 32> waiting_digest{};
  std::string last_read_error;

  metrics::Counter* reloads_success = nullptr;
  metrics::Counter* reloads_failure = nullptr;

  void Install(std::shared_ptr<SSL_CTX> ctx, const CertificateInfo& new_info) {
    not_after_unix.store(Clock::to_time_t(new_info.not_after));
    std::lock_guard lock(mu);
    context = std::move(ctx);
    info = new_info;
  }
};

struct TlsReloader::Watcher {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::thread thread;
};

TlsReloader::TlsReloader(TlsReloaderOptions options, std::shared_ptr<Shared> shared)
    : options_(std::move(options)), shared_(std::move(shared)) {}

TlsReloader::~TlsReloader() { StopWatching(); }

StatusOr<std::unique_ptr<TlsReloader>> TlsReloader::Create(TlsReloaderOptions options,
                                                           metrics::Registry* registry) {
  StatusOr<PemFiles> files = ReadPemFiles(options);
  if (!files.ok()) return files.status();
  CertificateInfo info;
  StatusOr<std::shared_ptr<SSL_CTX>> ctx =
      BuildContext(*files, options, options.clock ? options.clock() : Clock::now(), &info);
  if (!ctx.ok()) return ctx.status();

  auto shared = std::make_shared<Shared>();
  shared->Install(std::move(*ctx), info);
  shared->last_digest = Digest(*files);
  if (registry != nullptr) {
    const std::string prefix = "hyperplace_" + options.name + "_certificate_";
    auto& reloads = registry->AddCounter(
        prefix + "reloads_total",
        "Reloads of the " + options.name +
            "'s serving certificate (and client CA, if any) after a change on disk, by result.",
        {"result"});
    shared->reloads_success = &reloads.With({"success"});
    shared->reloads_failure = &reloads.With({"failure"});
    std::weak_ptr<Shared> weak = shared;
    registry->AddCallbackGauge(
        prefix + "expiry_seconds",
        "Seconds until the " + options.name + "'s serving certificate expires (notAfter - now).",
        [weak] {
          std::shared_ptr<Shared> s = weak.lock();
          if (!s) return 0.0;
          return static_cast<double>(s->not_after_unix.load() - Clock::to_time_t(Clock::now()));
        });
  }
  return std::unique_ptr<TlsReloader>(new TlsReloader(std::move(options), std::move(shared)));
}

net::TlsContextSource TlsReloader::Source() const {
  return [shared = shared_] {
    std::lock_guard lock(shared->mu);
    return shared->context;
  };
}

std::shared_ptr<SSL_CTX> TlsReloader::Current() const {
  std::lock_guard lock(shared_->mu);
  return shared_->context;
}

CertificateInfo TlsReloader::CurrentInfo() const {
  std::lock_guard lock(shared_->mu);
  return shared_->info;
}

TlsReloader::PollResult TlsReloader::Poll() {
  Shared& s = *shared_;
  std::lock_guard poll_lock(s.poll_mu);
  auto reject = [&](const std::string& error) {
    if (s.reloads_failure != nullptr) s.reloads_failure->Increment();
    HP_LOG(kWarn, options_.name + " certificate reload failed; still serving the previous one",
           {{"error", error}, {"cert_file", options_.cert_file}});
    return PollResult::kRejected;
  };

  StatusOr<PemFiles> files = ReadPemFiles(options_);
  if (!files.ok()) {
    // A file that stays missing is reported once, not every interval.
    const std::string& error = files.status().message();
    if (error == s.last_read_error) return PollResult::kUnchanged;
    s.last_read_error = error;
    return reject(error);
  }
  const std::array<unsigned char, 32> digest = Digest(*files);
  const bool same = digest == s.last_digest;
  const bool recovered_from_read_error = !s.last_read_error.empty();
  s.last_read_error.clear();
  if (same && !recovered_from_read_error) return PollResult::kUnchanged;
  s.last_digest = digest;
  if (same) return PollResult::kUnchanged;  // the files came back with the bytes already served

  CertificateInfo info;
  const Clock::time_point now = options_.clock ? options_.clock() : Clock::now();
  StatusOr<std::shared_ptr<SSL_CTX>> ctx = BuildContext(*files, options_, now, &info);
  if (!ctx.ok()) {
    if (ctx.status().code() == StatusCode::kUnavailable) {
      // Not valid yet: forget the digest so the next check builds the same bytes again, and
      // report them once, not at every check until they become valid.
      s.last_digest = {};
      if (digest == s.waiting_digest) return PollResult::kUnchanged;
      s.waiting_digest = digest;
    }
    return reject(ctx.status().message());
  }
  s.waiting_digest = {};
  s.Install(std::move(*ctx), info);
  if (s.reloads_success != nullptr) s.reloads_success->Increment();
  HP_LOG(kInfo, options_.name + " certificate reloaded",
         {{"cert_file", options_.cert_file},
          {"client_ca_file", options_.client_ca_file},
          {"serial", info.serial_hex},
          {"subject", info.subject},
          {"not_after", FormatTime(info.not_after)}});
  return PollResult::kReloaded;
}

void TlsReloader::StartWatching() {
  if (watcher_) return;
  watcher_ = std::make_unique<Watcher>();
  Watcher* w = watcher_.get();
  w->thread = std::thread([this, w] {
    std::unique_lock lock(w->mu);
    while (!w->cv.wait_for(lock, options_.reload_interval, [w] { return w->stop; })) {
      lock.unlock();
      Poll();
      lock.lock();
    }
  });
}

void TlsReloader::StopWatching() {
  if (!watcher_) return;
  {
    std::lock_guard lock(watcher_->mu);
    watcher_->stop = true;
  }
  watcher_->cv.notify_all();
  if (watcher_->thread.joinable()) watcher_->thread.join();
  watcher_.reset();
}

}  // namespace hyperplace::certs
