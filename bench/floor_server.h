// The HTTP floor: hyperplace's own net::HttpServer with trivial handlers that answer every
// extender and webhook path with a small fixed body. Run as its own process
// (`hpbench floor-server`) and loaded exactly like hyperplace, it shows what the transport alone
// costs (TCP or TLS, HTTP parsing, reading the request body), so a report can state hyperplace's
// own cost above it.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace hyperplace::bench {

struct FloorOptions {
  std::string listen = "127.0.0.1:0";  // HOST:PORT
  std::string tls_cert_file;           // both set: HTTPS
  std::string tls_key_file;
  std::uint32_t threads = 8;  // hyperplace's default for both listeners
};

// The fixed reply body of every POST, unless its query is `reply_bytes=N`: then N spaces (at most
// the request's size plus 1 MiB), so a large reply's transfer is part of the floor too.
inline constexpr const char* kFloorBody = R"({"floor":true})";

// Serves until SIGTERM or SIGINT, then drains and returns the exit code. Prints one line
// "floor-server listening on HOST:PORT" once it accepts connections.
int RunFloorServer(const FloorOptions& options);

}  // namespace hyperplace::bench
