// hpbench: load tests for hyperplace's extender and webhook, with reports. See bench/README.md.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/compare.h"
#include "bench/floor_server.h"
#include "bench/html_report.h"
#include "bench/report.h"
#include "bench/suite.h"

namespace hyperplace::bench {
namespace {

std::atomic<bool> g_cancel{false};

void OnInterrupt(int) {
  if (g_cancel.exchange(true)) _exit(130);  // a second ^C: stop now
}

constexpr const char* kUsage = R"(usage:
  hpbench [run] [options]          run the standard suite (see below) and report
  hpbench floor-server --listen HOST:PORT [--tls-cert FILE --tls-key FILE] [--threads N]
                                   the HTTP floor: hyperplace's HTTP server, trivial handlers
  hpbench fake-cluster --dir DIR [--nodes N] [--pods-per-node N] [--seed N]
                                   serve a generated cluster; writes DIR/kubeconfig
  hpbench compare BASELINE.json CURRENT.json [--threshold PCT] [--all]
  hpbench report RESULTS.json [--html FILE] [--micro FILE]...
                 [--markdown FILE [--command TEXT] [--html-link URL]]
                                   the targets as a Markdown table (bench/run.sh --readme)

what to load (one of):
  --hyperplace PATH          start this binary on free loopback ports for each cluster size
                             (with a fake API server) and for the webhook (with a certificate)
  --extender-url URL         a running extender (names mode needs `hpbench fake-cluster` data)
  --webhook-url URL --webhook-ca FILE   a running webhook
  --server-pid PID           sample this running server's CPU and RSS
options:
  --hyperplace-arg ARG       extra argument for `hyperplace serve` (repeatable)
  --certs-dir DIR            ca.crt, tls.crt, tls.key from certs/make-certs.sh (default: generated)
  --nodes LIST               cluster sizes (default 100,1000,5000)
  --pods-per-node N          placed pods in the cache per node (default 30: 150,000 at 5000)
  --only LIST                run only scenarios whose id contains one of these (comma-separated)
  --warmup S --duration S    per scenario, seconds (default 1 and 4)
  --full-duration S          full-node scenarios (default: --duration)
  --quick                    warm-up 0.5 s, duration 2 s
  --webhook-rate R           open-loop admissions/s (default 5000)
  --webhook-connections N    (default 4)     --bind-connections N (default 4)
  --bind-pods N              pending pods created for the bind scenario, each bound once
                             (default 6000 per second of warm-up and duration)
  --webhook-pool-connections N   the open-loop rate again over N connections, then a closed
                             loop over them (default 64; 0: off)
  --go-webhook PATH          also load the Go standard-library peer webhook (e2e/peers/gowebhook,
                             built by bench/run.sh) with the webhook scenarios, as go/...
  --timeout S                per operation (default 5, kube-scheduler's)
  --seed N                   payload seed (default 1)
  --no-floor                 do not run the floor server
  --micro FILE               Google Benchmark JSON (--benchmark_out) to include (repeatable)
  --label TEXT               stored in the results (e.g. git describe)
  --json FILE --html FILE    write the results
  --compare BASELINE.json    print the differences to a previous run
  --threshold PCT            what counts as a change for --compare (default 10)
  --pin                      servers on CPU 0, hpbench on CPU 1 (default: no pinning)
  --no-progress --keep       no progress bar; keep the logs and certificates

Every reply is checked (extender answers against the generator's model of the cluster, admissions
against each case's decision and patch). `run` exits 1 when any request failed or any answer was
wrong, after writing the results.
)";

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// argv walker: "--flag value" and "--flag=value".
class Args {
 public:
  Args(int argc, char** argv, int first) {
    for (int i = first; i < argc; ++i) {
      std::string a = argv[i];
      if (a.starts_with("--") && a.find('=') != std::string::npos) {
        items_.push_back(a.substr(0, a.find('=')));
        items_.push_back(a.substr(a.find('=') + 1));
      } else {
        items_.push_back(a);
      }
    }
  }
  bool Done() const { return i_ >= items_.size(); }
  std::string Next() { return items_[i_++]; }
  bool Value(const std::string& flag, std::string& out) {
    if (i_ >= items_.size()) {
      std::fprintf(stderr, "hpbench: %s needs a value\n", flag.c_str());
      return false;
    }
    out = items_[i_++];
    return true;
  }

 private:
  std::vector<std::string> items_;
  std::size_t i_ = 0;
};

bool ToDouble(const std::string& flag, const std::string& v, double& out) {
  char* end = nullptr;
  out = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || out < 0) {
    std::fprintf(stderr, "hpbench: %s: not a number: %s\n", flag.c_str(), v.c_str());
    return false;
  }
  return true;
}

bool ToInt(const std::string& flag, const std::string& v, long long& out) {
  char* end = nullptr;
  out = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || out < 0) {
    std::fprintf(stderr, "hpbench: %s: not a whole number: %s\n", flag.c_str(), v.c_str());
    return false;
  }
  return true;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

bool AddMicro(const std::string& file, Results& r) {
  auto micro = ParseGoogleBenchmarkJson(ReadFile(file));
  if (!micro.ok()) {
    std::fprintf(stderr, "hpbench: %s: %s\n", file.c_str(), micro.status().message().c_str());
    return false;
  }
  for (MicroResult& m : *micro) r.micro.push_back(std::move(m));
  return true;
}

int FloorServerMain(Args& args) {
  FloorOptions o;
  while (!args.Done()) {
    const std::string a = args.Next();
    std::string v;
    if (a == "--listen") {
      if (!args.Value(a, o.listen)) return 2;
    } else if (a == "--tls-cert") {
      if (!args.Value(a, o.tls_cert_file)) return 2;
    } else if (a == "--tls-key") {
      if (!args.Value(a, o.tls_key_file)) return 2;
    } else if (a == "--threads") {
      long long n;
      if (!args.Value(a, v) || !ToInt(a, v, n) || n < 1 || n > 256) return 2;
      o.threads = static_cast<std::uint32_t>(n);
    } else {
      std::fprintf(stderr, "hpbench floor-server: unknown argument %s\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
    std::fprintf(stderr, "hpbench floor-server: --tls-cert and --tls-key go together\n");
    return 2;
  }
  return RunFloorServer(o);
}

int FakeClusterMain(Args& args) {
  long long nodes = 5000, per_node = 30, seed = 1;
  std::string dir;
  while (!args.Done()) {
    const std::string a = args.Next();
    std::string v;
    if (a == "--nodes") {
      if (!args.Value(a, v) || !ToInt(a, v, nodes)) return 2;
    } else if (a == "--pods-per-node") {
      if (!args.Value(a, v) || !ToInt(a, v, per_node)) return 2;
    } else if (a == "--seed") {
      if (!args.Value(a, v) || !ToInt(a, v, seed)) return 2;
    } else if (a == "--dir") {
      if (!args.Value(a, dir)) return 2;
    } else {
      std::fprintf(stderr, "hpbench fake-cluster: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (dir.empty()) {
    std::fprintf(stderr, "hpbench fake-cluster: --dir DIR is required\n");
    return 2;
  }
  return RunFakeClusterCommand(static_cast<int>(nodes), static_cast<int>(per_node),
                               static_cast<std::uint64_t>(seed), dir);
}

int CompareMain(Args& args) {
  std::vector<std::string> files;
  double threshold = 10;
  bool all = false;
  while (!args.Done()) {
    const std::string a = args.Next();
    std::string v;
    if (a == "--threshold") {
      if (!args.Value(a, v) || !ToDouble(a, v, threshold)) return 2;
    } else if (a == "--all") {
      all = true;
    } else {
      files.push_back(a);
    }
  }
  if (files.size() != 2) {
    std::fprintf(stderr, "usage: hpbench compare BASELINE.json CURRENT.json\n");
    return 2;
  }
  auto base = LoadResultsFile(files[0]);
  auto cur = LoadResultsFile(files[1]);
  for (const auto* r : {&base, &cur}) {
    if (!r->ok()) {
      std::fprintf(stderr, "hpbench: %s\n", r->status().message().c_str());
      return 1;
    }
  }
  std::fputs(FormatComparison(Compare(*base, *cur, threshold), all).c_str(), stdout);
  return 0;
}

int ReportMain(Args& args) {
  std::string file, html, markdown, command, html_link;
  std::vector<std::string> micro;
  while (!args.Done()) {
    const std::string a = args.Next();
    std::string v;
    if (a == "--html") {
      if (!args.Value(a, html)) return 2;
    } else if (a == "--markdown") {
      if (!args.Value(a, markdown)) return 2;
    } else if (a == "--command") {
      if (!args.Value(a, command)) return 2;
    } else if (a == "--html-link") {
      if (!args.Value(a, html_link)) return 2;
    } else if (a == "--micro") {
      if (!args.Value(a, v)) return 2;
      micro.push_back(v);
    } else {
      file = a;
    }
  }
  auto r = LoadResultsFile(file);
  if (!r.ok()) {
    std::fprintf(stderr, "hpbench: %s\n", r.status().message().c_str());
    return 1;
  }
  for (const std::string& m : micro) {
    if (!AddMicro(m, *r)) return 1;
  }
  r->targets = EvaluateTargets(*r);
  std::fputs(FormatSummary(*r).c_str(), stdout);
  if (!html.empty()) {
    if (Status st = SaveTextFile(html, RenderHtml(*r)); !st.ok()) {
      std::fprintf(stderr, "hpbench: %s\n", st.message().c_str());
      return 1;
    }
  }
  if (!markdown.empty()) {
    if (command.empty()) command = "hpbench report " + file;
    if (Status st = SaveTextFile(markdown, FormatMarkdown(*r, command, html_link)); !st.ok()) {
      std::fprintf(stderr, "hpbench: %s\n", st.message().c_str());
      return 1;
    }
  }
  return 0;
}

int RunMain(Args& args) {
  SuiteOptions o;
  std::string json_file, html_file, compare_file, label;
  std::vector<std::string> micro;
  double threshold = 10;
  while (!args.Done()) {
    const std::string a = args.Next();
    std::string v;
    long long n = 0;
    double d = 0;
    if (a == "--hyperplace") {
      if (!args.Value(a, o.hyperplace)) return 2;
    } else if (a == "--hyperplace-arg") {
      if (!args.Value(a, v)) return 2;
      o.hyperplace_args.push_back(v);
    } else if (a == "--extender-url") {
      if (!args.Value(a, o.extender_url)) return 2;
    } else if (a == "--webhook-url") {
      if (!args.Value(a, o.webhook_url)) return 2;
    } else if (a == "--webhook-ca") {
      if (!args.Value(a, o.webhook_ca_file)) return 2;
    } else if (a == "--server-pid") {
      if (!args.Value(a, v) || !ToInt(a, v, n)) return 2;
      o.server_pid = static_cast<int>(n);
    } else if (a == "--certs-dir") {
      if (!args.Value(a, o.certs_dir)) return 2;
    } else if (a == "--nodes") {
      if (!args.Value(a, v)) return 2;
      o.nodes.clear();
      for (const std::string& x : SplitList(v)) {
        if (!ToInt(a, x, n) || n < 1) return 2;
        o.nodes.push_back(static_cast<int>(n));
      }
    } else if (a == "--pods-per-node") {
      if (!args.Value(a, v) || !ToInt(a, v, n)) return 2;
      o.pods_per_node = static_cast<int>(n);
    } else if (a == "--only") {
      if (!args.Value(a, v)) return 2;
      o.only = SplitList(v);
    } else if (a == "--warmup") {
      if (!args.Value(a, v) || !ToDouble(a, v, o.warmup_s)) return 2;
    } else if (a == "--duration") {
      if (!args.Value(a, v) || !ToDouble(a, v, d) || d <= 0) return 2;
      o.duration_s = d;
    } else if (a == "--full-duration") {
      if (!args.Value(a, v) || !ToDouble(a, v, o.full_duration_s)) return 2;
    } else if (a == "--quick") {
      o.warmup_s = 0.5;
      o.duration_s = 2;
    } else if (a == "--webhook-rate") {
      if (!args.Value(a, v) || !ToDouble(a, v, d) || d <= 0) return 2;
      o.webhook_rate = d;
    } else if (a == "--webhook-connections") {
      if (!args.Value(a, v) || !ToInt(a, v, n) || n < 1) return 2;
      o.webhook_connections = static_cast<int>(n);
    } else if (a == "--go-webhook") {
      if (!args.Value(a, o.go_webhook)) return 2;
    } else if (a == "--webhook-pool-connections") {
      if (!args.Value(a, v) || !ToInt(a, v, n) || n < 0) return 2;
      o.webhook_pool_connections = static_cast<int>(n);
    } else if (a == "--bind-connections") {
      if (!args.Value(a, v) || !ToInt(a, v, n) || n < 1) return 2;
      o.bind_connections = static_cast<int>(n);
    } else if (a == "--bind-pods") {
      if (!args.Value(a, v) || !ToInt(a, v, n) || n < 1) return 2;
      o.bind_pods = static_cast<int>(n);
    } else if (a == "--timeout") {
      if (!args.Value(a, v) || !ToDouble(a, v, d) || d <= 0) return 2;
      o.timeout_s = d;
    } else if (a == "--seed") {
      if (!args.Value(a, v) || !ToInt(a, v, n)) return 2;
      o.seed = static_cast<std::uint64_t>(n);
    } else if (a == "--no-floor") {
      o.floor = false;
    } else if (a == "--no-progress") {
      o.progress = false;
    } else if (a == "--pin") {
      o.pin = true;
    } else if (a == "--keep") {
      o.keep_work_dir = true;
    } else if (a == "--micro") {
      if (!args.Value(a, v)) return 2;
      micro.push_back(v);
    } else if (a == "--label") {
      if (!args.Value(a, label)) return 2;
    } else if (a == "--json") {
      if (!args.Value(a, json_file)) return 2;
    } else if (a == "--html") {
      if (!args.Value(a, html_file)) return 2;
    } else if (a == "--compare") {
      if (!args.Value(a, compare_file)) return 2;
    } else if (a == "--threshold") {
      if (!args.Value(a, v) || !ToDouble(a, v, threshold)) return 2;
    } else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "hpbench: unknown argument %s\n\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (o.hyperplace.empty() && o.extender_url.empty() && o.webhook_url.empty()) {
    std::fprintf(stderr, "hpbench: give --hyperplace PATH, or --extender-url / --webhook-url\n");
    return 2;
  }
  // Read the baseline first: a typo should not cost a whole run.
  StatusOr<Results> baseline = Unavailable("");
  if (!compare_file.empty()) {
    baseline = LoadResultsFile(compare_file);
    if (!baseline.ok()) {
      std::fprintf(stderr, "hpbench: %s\n", baseline.status().message().c_str());
      return 1;
    }
  }

  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto results = RunSuite(o, &g_cancel);
  if (!results.ok()) {
    std::fprintf(stderr, "hpbench: %s\n", results.status().message().c_str());
    return 1;
  }
  results->label = label;
  for (const std::string& m : micro) {
    if (!AddMicro(m, *results)) return 1;
  }
  results->targets = EvaluateTargets(*results);

  std::printf("\n%s", FormatSummary(*results).c_str());
  double loads[3] = {0, 0, 0};
  getloadavg(loads, 3);
  std::printf("\nload average at start %.2f / %.2f / %.2f, at end %.2f\n",
              results->host.load1_start, results->host.load5_start, results->host.load15_start,
              results->host.load1_end);
  if (!json_file.empty()) {
    if (Status st = SaveTextFile(json_file, ToJson(*results)); !st.ok()) {
      std::fprintf(stderr, "hpbench: %s\n", st.message().c_str());
      return 1;
    }
    std::printf("results: %s\n", json_file.c_str());
  }
  if (!html_file.empty()) {
    if (Status st = SaveTextFile(html_file, RenderHtml(*results)); !st.ok()) {
      std::fprintf(stderr, "hpbench: %s\n", st.message().c_str());
      return 1;
    }
    std::printf("report:  %s\n", html_file.c_str());
  }
  if (baseline.ok()) {
    std::printf("\ncompared with %s (threshold %.0f%%):\n", compare_file.c_str(), threshold);
    std::fputs(FormatComparison(Compare(*baseline, *results, threshold), false).c_str(), stdout);
  }
  if (g_cancel.load()) return 130;
  // A figure measured on failed requests or wrong answers measures nothing: the run fails.
  if (const std::string failures = FailureSummary(*results); !failures.empty()) {
    std::fflush(stdout);
    std::fprintf(stderr, "\nhpbench: FAILED: %s", failures.c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace hyperplace::bench

int main(int argc, char** argv) {
  using namespace hyperplace::bench;
  const std::string command = argc > 1 ? argv[1] : "";
  if (command == "floor-server") {
    Args args(argc, argv, 2);
    return FloorServerMain(args);
  }
  if (command == "fake-cluster") {
    Args args(argc, argv, 2);
    return FakeClusterMain(args);
  }
  if (command == "compare") {
    Args args(argc, argv, 2);
    return CompareMain(args);
  }
  if (command == "report") {
    Args args(argc, argv, 2);
    return ReportMain(args);
  }
  if (command == "help" || command == "-h" || command == "--help" || argc == 1) {
    std::fputs(kUsage, argc == 1 ? stderr : stdout);
    return argc == 1 ? 2 : 0;
  }
  Args args(argc, argv, command == "run" ? 2 : 1);
  return RunMain(args);
}
