#include "bench/floor_server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>

#include "common/config.h"
#include "net/http_server.h"

namespace hyperplace::bench {
namespace {

int SelectHttp11(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                 unsigned int inlen, void*) {
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kHttp11, sizeof kHttp11, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// The same settings as the webhook's context (certs::LoadServerContext): TLS 1.2 or later, no
// renegotiation, server cipher preference, ALPN http/1.1. Built here rather than linked so the
// floor does not depend on the webhook's code.
std::shared_ptr<SSL_CTX> ServerContext(const std::string& cert, const std::string& key,
                                       std::string* error) {
  SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
  if (raw == nullptr) {
    *error = "SSL_CTX_new failed";
    return nullptr;
  }
  std::shared_ptr<SSL_CTX> ctx(raw, SSL_CTX_free);
  SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
  SSL_CTX_set_options(
      raw, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_alpn_select_cb(raw, SelectHttp11, nullptr);
  if (SSL_CTX_use_certificate_chain_file(raw, cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(raw, key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(raw) != 1) {
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    *error = "cannot load " + cert + " / " + key + ": " + buf;
    return nullptr;
  }
  return ctx;
}

}  // namespace

int RunFloorServer(const FloorOptions& options) {
  auto address = ParseHostPort(options.listen);
  if (!address.ok()) {
    std::fprintf(stderr, "floor-server: --listen: %s\n", address.status().message().c_str());
    return 2;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  net::ServerOptions server_options;
  server_options.limits.threads = options.threads;
  if (!options.tls_cert_file.empty() || !options.tls_key_file.empty()) {
    std::string error;
    std::shared_ptr<SSL_CTX> ctx =
        ServerContext(options.tls_cert_file, options.tls_key_file, &error);
    if (!ctx) {
      std::fprintf(stderr, "floor-server: %s\n", error.c_str());
      return 1;
    }
    server_options.tls = [ctx] { return ctx; };
  }
  net::HttpServer server(std::move(server_options));
  auto fixed = [](const net::Request& req, net::Response& res) {
    // `?reply_bytes=N`: a reply as large as the server's would be (the transfer floor of a
    // full-node /filter, whose reply echoes the kept nodes), capped at the request's own size
    // plus 1 MiB so a request cannot make the floor allocate without bound.
    constexpr std::string_view kReplyBytes = "reply_bytes=";
    if (req.query.starts_with(kReplyBytes)) {
      std::size_t n = 0;
      const std::string_view v = req.query.substr(kReplyBytes.size());
      if (std::from_chars(v.data(), v.data() + v.size(), n).ec == std::errc()) {
        res.body.resize(std::min(n, req.body.size() + (std::size_t{1} << 20)), ' ');
        return;
      }
    }
    res.body = kFloorBody;
  };
  // Each path runs where hyperplace runs it: the extender's on the handler threads, the
  // webhook's admission on the event loop.
  for (const char* path : {"/filter", "/prioritize", "/bind", "/preempt"}) {
    server.Handle("POST", path, fixed);
  }
  server.Handle("POST", "/mutate", fixed, net::HttpServer::RunOn::kEventLoop);
  auto ok = [](const net::Request&, net::Response& res) {
    res.content_type = "text/plain; charset=utf-8";
    res.body = "ok\n";
  };
  server.Handle("GET", "/healthz", ok);
  server.Handle("GET", "/readyz", ok);
  if (Status st = server.Listen(*address); !st.ok()) {
    std::fprintf(stderr, "floor-server: %s\n", st.message().c_str());
    return 1;
  }
  if (Status st = server.Start(); !st.ok()) {
    std::fprintf(stderr, "floor-server: %s\n", st.message().c_str());
    return 1;
  }
  std::printf("floor-server listening on %s:%u (%s, %u threads)\n", address->host.c_str(),
              server.port(), options.tls_cert_file.empty() ? "HTTP" : "HTTPS", options.threads);
  std::fflush(stdout);
  int received = 0;
  sigwait(&signals, &received);
  server.Shutdown(std::chrono::milliseconds(5000));
  return 0;
}

}  // namespace hyperplace::bench
