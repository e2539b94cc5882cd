// Micro-benchmarks for the admission webhook's request path, on realistic reviews (the golden
// AdmissionReviews in webhook/testdata, shaped like kube-apiserver's):
//   - decoding alone (simdjson On-Demand in place, every byte validated);
//   - decode + rules + patch + encode (webhook::Admitter) for a Pod that gets two labels and a
//     rewritten selector, a Job with a rewritten affinity value, a denial, and an untouched Pod
//     outside the team namespaces;
//   - the /mutate handler with its metrics (webhook::Service::Mutate);
//   - one keep-alive TLS connection doing request/response round trips against a started
//     Service on loopback (certificate from certs/make-certs.sh), reporting p50/p99 latency.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/log.h"
#include "common/metrics.h"
#include "net/http_server.h"
#include "webhook/admission.h"
#include "webhook/catalog.h"
#include "webhook/review.h"
#include "webhook/service.h"

namespace hyperplace::bench {
namespace {

std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(HYPERPLACE_WEBHOOK_TESTDATA_DIR) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().empty()) std::abort();
  return ss.str();
}

// A review with the padding the decoder needs behind it.
struct Body {
  explicit Body(const std::string& name) : text(ReadTestdata(name)), size(text.size()) {
    text.append(webhook::kInputPadding, '\0');
  }
  std::string_view view() const { return {text.data(), size}; }
  std::string text;
  std::size_t size;
};

void BM_DecodePodReview(benchmark::State& state) {
  const Body body("pod_create_alice.json");
  webhook::Decoder decoder;
  webhook::AdmissionRequest request;
  for (auto _ : state) {
    if (!decoder.Decode(body.view(), request).ok()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(request.input.object.labels.entries.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size));
}
BENCHMARK(BM_DecodePodReview);

// decode + rules + patch + encode.
void Admit(benchmark::State& state, const char* file, webhook::AdmissionResult::Verdict want) {
  const Body body(file);
  const Config config;
  const webhook::Admitter admitter(config, std::make_shared<webhook::StaticCatalog>(config));
  std::string out;
  for (auto _ : state) {
    out.clear();
    const webhook::AdmissionResult result = admitter.Admit(body.view(), out);
    if (result.verdict != want) state.SkipWithError("unexpected verdict");
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size));
}
void BM_AdmitPodPatched(benchmark::State& state) {
  Admit(state, "pod_create_alice.json", webhook::AdmissionResult::Verdict::kPatched);
}
void BM_AdmitJobPatched(benchmark::State& state) {
  Admit(state, "job_create.json", webhook::AdmissionResult::Verdict::kPatched);
}
void BM_AdmitPodDenied(benchmark::State& state) {
  Admit(state, "pod_create_bob_denied.json", webhook::AdmissionResult::Verdict::kDenied);
}
void BM_AdmitPodOtherNamespace(benchmark::State& state) {
  Admit(state, "pod_create_default_namespace.json", webhook::AdmissionResult::Verdict::kAllowed);
}
BENCHMARK(BM_AdmitPodPatched);
BENCHMARK(BM_AdmitJobPatched);
BENCHMARK(BM_AdmitPodDenied);
BENCHMARK(BM_AdmitPodOtherNamespace);

// The /mutate handler: the above plus the admission metrics.
void BM_ServiceMutatePod(benchmark::State& state) {
  const Body body("pod_create_alice.json");
  const Config config;
  metrics::Registry registry;
  webhook::Service service(config, std::make_shared<webhook::StaticCatalog>(config), registry);
  net::Response response;
  for (auto _ : state) {
    response.body.clear();
    service.Mutate(body.view(), response);
    benchmark::DoNotOptimize(response.body.data());
  }
}
BENCHMARK(BM_ServiceMutatePod);

// --- Over TLS ---------------------------------------------------------------------------------

// A blocking TLS client on one keep-alive connection (no verification: the server is ours).
class TlsClient {
 public:
  explicit TlsClient(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ctx_ = SSL_CTX_new(TLS_client_method());
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    ok_ = ok_ && SSL_connect(ssl_) == 1;
  }
  ~TlsClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    ::close(fd_);
  }
  bool ok() const { return ok_; }

  // Sends `request` and reads one Content-Length framed response; returns its status.
  int RoundTrip(const std::string& request) {
    if (SSL_write(ssl_, request.data(), static_cast<int>(request.size())) <= 0) return 0;
    buffer_.clear();
    std::size_t head_end = std::string::npos, total = 0;
    char chunk[16384];
    while (true) {
      const int n = SSL_read(ssl_, chunk, sizeof(chunk));
      if (n <= 0) return 0;
      buffer_.append(chunk, static_cast<std::size_t>(n));
      if (head_end == std::string::npos) {
        head_end = buffer_.find("\r\n\r\n");
        if (head_end == std::string::npos) continue;
        const std::size_t at = buffer_.find("Content-Length: ");
        if (at == std::string::npos || at > head_end) return 0;
        total = head_end + 4 + std::strtoul(buffer_.c_str() + at + 16, nullptr, 10);
      }
      if (buffer_.size() >= total) return std::atoi(buffer_.c_str() + 9);
    }
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string buffer_;
};

void BM_MutateOverTlsKeepAlive(benchmark::State& state) {
  namespace fs = std::filesystem;
  log::Configure(LogLevel::kWarn, LogFormat::kText);
  const fs::path dir =
      fs::temp_directory_path() / ("hyperplace-webhook-bench-" + std::to_string(::getpid()));
  const std::string command =
      std::string(HYPERPLACE_MAKE_CERTS_SCRIPT) + " '" + dir.string() + "' >/dev/null";
  if (std::system(command.c_str()) != 0) {
    state.SkipWithError("make-certs.sh failed");
    return;
  }
  Config config;
  config.webhook.listen = "127.0.0.1:0";
  config.webhook.tls_cert_file = (dir / "tls.crt").string();
  config.webhook.tls_private_key_file = (dir / "tls.key").string();
  config.webhook.server.threads = 2;
  metrics::Registry registry;
  webhook::Service service(config, std::make_shared<webhook::StaticCatalog>(config), registry);
  if (!service.Start().ok()) {
    state.SkipWithError("webhook did not start");
    return;
  }
  const std::string body =
      ReadTestdata(state.range(0) == 0 ? "pod_create_alice.json" : "job_create.json");
  const std::string request =
      "POST /mutate?timeout=3s HTTP/1.1\r\nHost: hyperplace.hyperplace-system.svc:443\r\n"
      "User-Agent: kube-apiserver-admission\r\nContent-Type: application/json\r\n"
      "Accept: application/json, */*\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  TlsClient client(service.port());
  if (!client.ok()) {
    state.SkipWithError("TLS connection failed");
    return;
  }
  std::vector<double> micros;
  micros.reserve(1 << 20);
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    if (client.RoundTrip(request) != 200) {
      state.SkipWithError("round trip failed");
      break;
    }
    micros.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
            .count());
  }
  if (!micros.empty()) {
    std::sort(micros.begin(), micros.end());
    state.counters["p50_us"] = micros[micros.size() / 2];
    state.counters["p99_us"] = micros[std::min(micros.size() - 1, micros.size() * 99 / 100)];
  }
  service.Shutdown(std::chrono::milliseconds(1000));
  std::error_code ignored;
  fs::remove_all(dir, ignored);
}
BENCHMARK(BM_MutateOverTlsKeepAlive)->Arg(0)->Arg(1)->UseRealTime();

}  // namespace
}  // namespace hyperplace::bench

BENCHMARK_MAIN();
