#include "bench/suite.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <utility>

#include "bench/fake_cluster.h"
#include "bench/payload.h"
#include "bench/proc_sampler.h"
#include "bench/process.h"
#include "bench/workloads.h"
#include "kube/testing/fake_apiserver.h"

namespace hyperplace::bench {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

Nanos Seconds(double s) { return Nanos(static_cast<std::int64_t>(s * 1e9)); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// The value of a gauge on the server's /metrics, or -1 when it cannot be read.
std::int64_t Gauge(const Endpoint& endpoint, std::string_view name) {
  HttpConnection conn(endpoint);
  HttpReply reply;
  std::string error;
  if (conn.RoundTrip(RequestHead("GET", "/metrics", endpoint, 0), std::string_view(),
                     Clock::now() + std::chrono::seconds(5), reply, &error) != ErrorKind::kOk ||
      reply.status != 200) {
    return -1;
  }
  const std::string prefix = std::string(name) + " ";
  std::istringstream lines{std::string(reply.body)};
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(prefix, 0) == 0) return std::atoll(line.substr(prefix.size()).c_str());
  }
  return -1;
}

// A server the suite loads: where it listens and, when known, its process for CPU and RSS.
struct Target {
  std::string name;  // "hyperplace" or "floor"
  Endpoint endpoint;
  ProcSampler* sampler = nullptr;
  bool validate = true;  // hyperplace's replies are checked; the floor's are fixed
};

class Suite {
 public:
  Suite(const SuiteOptions& o, const std::atomic<bool>* cancel) : o_(o), cancel_(cancel) {}

  StatusOr<Results> Run();

 private:
  bool Cancelled() const { return cancel_ != nullptr && cancel_->load(); }
  bool Wanted(const std::string& id) const {
    if (o_.only.empty()) return true;
    for (const std::string& s : o_.only) {
      if (id.find(s) != std::string::npos) return true;
    }
    return false;
  }
  // Every scenario id the options describe, in run order.
  std::vector<std::string> AllIds() const;
  // The webhook's (connections, rate) loads, in run order; rate 0 is the closed loop.
  std::vector<std::pair<int, double>> WebhookLoads() const;
  // Whether a wanted scenario's id contains `fragment` (to skip setting up unneeded servers).
  bool AnyWanted(const std::string& fragment) const {
    for (const std::string& id : AllIds()) {
      if (id.find(fragment) != std::string::npos && Wanted(id)) return true;
    }
    return false;
  }

  Status StartFloors();
  // Starts a server whose replies the suite does not check (the floor, a peer): `argv`, then
  // --listen on a free loopback port and, with `tls`, the suite's certificate; on the servers'
  // CPU; waits until it serves and samples it. On failure `child` may be running: Stop() it.
  Status StartUnchecked(std::vector<std::string> argv, const std::string& name, bool tls,
                        const std::string& log, ChildProcess& child,
                        std::unique_ptr<ProcSampler>& sampler, Target& target);
  Status PrepareCerts();
  void RunCluster(int nodes);
  void RunWebhook();
  void RunScenario(ScenarioResult meta, const Target& target, const Workload& workload,
                   LoadOptions load);
  void Skip(ScenarioResult meta, const std::string& why);
  LoadOptions Load(int connections, double rate, double duration_s) const;
  StatusOr<ChildProcess> StartHyperplace(const std::vector<std::string>& extra_args,
                                         const std::string& log_name, std::uint16_t* port);
  // Creates the pending pods the bind scenario binds in the fake API server and waits until
  // hyperplace's cache shows them, as kube-scheduler binds pods its own cache has seen.
  StatusOr<std::shared_ptr<const std::vector<BindTarget>>> MakeBindTargets(
      kube::testing::FakeApiServer& api, const Endpoint& hyperplace, int nodes);

  const SuiteOptions& o_;
  const std::atomic<bool>* cancel_;
  Results results_;
  std::string work_dir_;
  bool tty_ = false;

  ChildProcess floor_plain_, floor_tls_;
  std::unique_ptr<ProcSampler> floor_plain_sampler_, floor_tls_sampler_;
  Target floor_plain_target_, floor_tls_target_;
  bool have_floor_plain_ = false, have_floor_tls_ = false;

  std::string ca_pem_, cert_file_, key_file_;
  std::shared_ptr<SSL_CTX> client_tls_;
};

std::vector<std::string> Suite::AllIds() const {
  std::vector<std::string> ids;
  for (int n : o_.nodes) {
    for (const char* mode : {"names", "full"}) {
      for (const char* verb : {"filter", "prioritize", "filter+prioritize"}) {
        const std::string id = ScenarioId("hyperplace", "extender", verb, mode, n, 1, 0);
        ids.push_back(id);
        if ((std::string(mode) == "names" && std::string(verb) == "filter+prioritize") ||
            (std::string(mode) == "full" && std::string(verb) == "filter")) {
          ids.push_back("floor/" + id);
        }
      }
    }
    ids.push_back(ScenarioId("hyperplace", "extender", "bind", "", n, o_.bind_connections, 0));
  }
  for (const auto& [conns, rate] : WebhookLoads()) {
    const std::string id = ScenarioId("hyperplace", "webhook", "mutate", "", 0, conns, rate);
    ids.push_back(id);
    ids.push_back("floor/" + id);
    if (!o_.go_webhook.empty()) ids.push_back("go/" + id);
  }
  return ids;
}

std::vector<std::pair<int, double>> Suite::WebhookLoads() const {
  std::vector<std::pair<int, double>> loads = {{o_.webhook_connections, o_.webhook_rate},
                                               {o_.webhook_connections, 0.0}};
  if (o_.webhook_pool_connections > 0 && o_.webhook_pool_connections != o_.webhook_connections) {
    // The pool at the open-loop rate (the p99 target), then as fast as it goes (the throughput
    // compared with the Go peer).
    loads.emplace_back(o_.webhook_pool_connections, o_.webhook_rate);
    loads.emplace_back(o_.webhook_pool_connections, 0.0);
  }
  return loads;
}

LoadOptions Suite::Load(int connections, double rate, double duration_s) const {
  LoadOptions l;
  l.connections = connections;
  l.rate = rate;
  l.warmup = Seconds(o_.warmup_s);
  l.duration = Seconds(duration_s);
  l.timeout = Seconds(o_.timeout_s);
  l.window = std::max<Nanos>(std::chrono::milliseconds(100), Seconds(duration_s / 60));
  l.cancel = cancel_;
  return l;
}

void Suite::Skip(ScenarioResult meta, const std::string& why) {
  meta.skipped = true;
  // Results files name no paths of this machine: the work directory becomes "<work>".
  meta.note = why;
  for (std::size_t at;
       !work_dir_.empty() && (at = meta.note.find(work_dir_)) != std::string::npos;) {
    meta.note.replace(at, work_dir_.size(), "<work>");
  }
  std::printf("  %-56s skipped: %s\n", meta.id.c_str(), why.c_str());
  std::fflush(stdout);
  results_.scenarios.push_back(std::move(meta));
}

void Suite::RunScenario(ScenarioResult meta, const Target& target, const Workload& workload,
                        LoadOptions load) {
  if (Cancelled()) return;
  meta.target = target.name;
  meta.connections = load.connections;
  meta.rate = load.rate;
  meta.load = load.rate > 0 ? "open" : "closed";
  meta.warmup_s = std::chrono::duration<double>(load.warmup).count();
  meta.duration_s = std::chrono::duration<double>(load.duration).count();

  LiveCounters live;
  std::atomic<bool> done{false};
  std::thread progress;
  const double total_s = meta.warmup_s + meta.duration_s;
  if (tty_) {
    progress = std::thread([&] {
      const auto t0 = Clock::now();
      while (!done.load()) {
        const double t = std::chrono::duration<double>(Clock::now() - t0).count();
        const int width = 24;
        const int filled = std::clamp(static_cast<int>(t / total_s * width), 0, width);
        std::printf("\r\033[K  %-56s [%s%s] %4.1f/%.1fs %8llu ok %5llu err%s", meta.id.c_str(),
                    std::string(static_cast<std::size_t>(filled), '#').c_str(),
                    std::string(static_cast<std::size_t>(width - filled), '.').c_str(),
                    std::min(t, total_s), total_s, static_cast<unsigned long long>(live.ops.load()),
                    static_cast<unsigned long long>(live.errors.load()),
                    live.measuring.load() ? "" : " (warm-up)");
        std::fflush(stdout);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      std::printf("\r\033[K");
      std::fflush(stdout);
    });
  }
  LoadStats stats = RunLoad(target.endpoint, workload, load, &live);
  done = true;
  if (progress.joinable()) progress.join();

  FillFromLoad(stats, meta);
  if (target.sampler != nullptr) {
    const auto end = stats.measure_start + Seconds(stats.measured_s);
    const ProcUsage u = target.sampler->Between(stats.measure_start, end);
    meta.server_cpu_percent = u.cpu_percent;
    const std::uint64_t ops = stats.ops + stats.total_errors();
    meta.server_cpu_us_per_op = ops > 0 ? u.cpu_s * 1e6 / static_cast<double>(ops) : 0;
    meta.server_rss_mean_mib = static_cast<double>(u.rss_mean_bytes) / kMiB;
    meta.server_rss_max_mib = static_cast<double>(u.rss_max_bytes) / kMiB;
  }
  std::printf("  %-56s %8.0f ops/s  p50 %7s  p99 %7s  max %7s  errors %llu  server CPU %.0f%%\n",
              meta.id.c_str(), meta.throughput, FormatMicros(meta.latency.p50_us).c_str(),
              FormatMicros(meta.latency.p99_us).c_str(), FormatMicros(meta.latency.max_us).c_str(),
              static_cast<unsigned long long>(meta.total_errors()), meta.server_cpu_percent);
  for (const auto& [kind, text] : meta.error_samples) {
    std::printf("      %s: %s\n", kind.c_str(), text.substr(0, 240).c_str());
  }
  if (meta.warmup_errors > 0) {
    std::printf("      %llu errors during the warm-up, e.g. %s\n",
                static_cast<unsigned long long>(meta.warmup_errors),
                meta.warmup_error_sample.substr(0, 240).c_str());
  }
  std::fflush(stdout);
  results_.scenarios.push_back(std::move(meta));
}

StatusOr<ChildProcess> Suite::StartHyperplace(const std::vector<std::string>& extra_args,
                                              const std::string& log_name, std::uint16_t* port) {
  // A free port can be taken between the probe and the bind: try a few.
  std::string last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto p = FreeLoopbackPort();
    if (!p.ok()) return p.status();
    std::vector<std::string> argv = {o_.hyperplace, "serve", "--extender-listen",
                                     "127.0.0.1:" + std::to_string(*p)};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    argv.insert(argv.end(), o_.hyperplace_args.begin(), o_.hyperplace_args.end());
    auto child = ChildProcess::Spawn(argv, work_dir_ + "/" + log_name, o_.pin ? 0 : -1);
    if (!child.ok()) return child.status();
    Endpoint e;
    e.port = *p;
    Status st = WaitForHttp200(e, "/healthz", std::chrono::seconds(20), &*child);
    if (st.ok()) {
      *port = *p;
      return std::move(*child);
    }
    last = st.message();
    child->Stop();
    if (last.find("in use") == std::string::npos) break;
  }
  return Unavailable(last);
}

StatusOr<std::shared_ptr<const std::vector<BindTarget>>> Suite::MakeBindTargets(
    kube::testing::FakeApiServer& api, const Endpoint& hyperplace, int nodes) {
  const std::int64_t before = Gauge(hyperplace, "hyperplace_cache_pending_pods");
  if (before < 0) return Unavailable("cannot read hyperplace_cache_pending_pods from /metrics");
  const int count = o_.bind_pods > 0
                        ? o_.bind_pods
                        : static_cast<int>(6000 * (o_.warmup_s + o_.duration_s)) + 1000;
  auto targets = std::make_shared<const std::vector<BindTarget>>(
      GenerateBindTargets(o_.seed, std::to_string(getpid()) + "-n" + std::to_string(nodes), count));
  // Keyed by name alone: the fake API server finds a Binding's pod by its name (and checks the
  // namespace), and the names are unique.
  for (const BindTarget& t : *targets) api.Upsert("pods", t.name, t.json);
  const std::int64_t want = before + static_cast<std::int64_t>(targets->size());
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  std::int64_t seen = before;
  while ((seen = Gauge(hyperplace, "hyperplace_cache_pending_pods")) < want) {
    if (Clock::now() > deadline || Cancelled()) {
      return Unavailable("hyperplace's cache shows " + std::to_string(seen) + " pending pods, " +
                         std::to_string(want) + " expected, 60 s after creating " +
                         std::to_string(targets->size()) + " to bind");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  api.Compact("pods");
  return targets;
}

Status Suite::StartUnchecked(std::vector<std::string> argv, const std::string& name, bool tls,
                             const std::string& log, ChildProcess& child,
                             std::unique_ptr<ProcSampler>& sampler, Target& target) {
  auto p = FreeLoopbackPort();
  if (!p.ok()) return p.status();
  argv.insert(argv.end(), {"--listen", "127.0.0.1:" + std::to_string(*p)});
  if (tls) argv.insert(argv.end(), {"--tls-cert", cert_file_, "--tls-key", key_file_});
  auto spawned = ChildProcess::Spawn(argv, work_dir_ + "/" + log, o_.pin ? 0 : -1);
  if (!spawned.ok()) return spawned.status();
  child = std::move(*spawned);
  target.name = name;
  target.validate = false;
  target.endpoint.port = *p;
  if (tls) {
    target.endpoint.tls = true;
    target.endpoint.tls_context = client_tls_;
  }
  Status st = tls ? WaitForConnect(target.endpoint, std::chrono::seconds(10), &child)
                  : WaitForHttp200(target.endpoint, "/healthz", std::chrono::seconds(10), &child);
  if (!st.ok()) return st;
  sampler = std::make_unique<ProcSampler>(child.pid());
  sampler->Start();
  target.sampler = sampler.get();
  return Status::Ok();
}

Status Suite::StartFloors() {
  if (!o_.floor) return Status::Ok();
  const bool plain = AnyWanted("floor/extender/");
  const bool tls = AnyWanted("floor/webhook/");
  auto start = [&](bool with_tls, ChildProcess& child, std::unique_ptr<ProcSampler>& sampler,
                   Target& target) {
    return StartUnchecked({SelfExecutable(), "floor-server"}, "floor", with_tls,
                          with_tls ? "floor-tls.log" : "floor.log", child, sampler, target);
  };
  if (plain) {
    if (Status st = start(false, floor_plain_, floor_plain_sampler_, floor_plain_target_);
        !st.ok()) {
      return Unavailable("floor server: " + st.message());
    }
    have_floor_plain_ = true;
  }
  if (tls && client_tls_) {
    if (Status st = start(true, floor_tls_, floor_tls_sampler_, floor_tls_target_); !st.ok()) {
      return Unavailable("TLS floor server: " + st.message());
    }
    have_floor_tls_ = true;
  }
  return Status::Ok();
}

Status Suite::PrepareCerts() {
  if (!AnyWanted("webhook/")) return Status::Ok();
  if (!o_.webhook_url.empty()) {
    // A running webhook: its CA; the floor then needs a pair of its own.
    if (o_.webhook_ca_file.empty()) return InvalidArgument("--webhook-url needs --webhook-ca FILE");
    ca_pem_ = ReadFile(o_.webhook_ca_file);
  }
  std::string dir = o_.certs_dir;
  if (dir.empty()) {
    dir = work_dir_ + "/certs";
    std::filesystem::create_directories(dir);
    const kube::testing::TestPki pki = kube::testing::TestPki::Make();
    if (Status st = SaveTextFile(dir + "/ca.crt", pki.ca_pem); !st.ok()) return st;
    if (Status st = SaveTextFile(dir + "/tls.crt", pki.cert_pem); !st.ok()) return st;
    if (Status st = SaveTextFile(dir + "/tls.key", pki.key_pem); !st.ok()) return st;
  }
  cert_file_ = dir + "/tls.crt";
  key_file_ = dir + "/tls.key";
  const std::string ca = ReadFile(dir + "/ca.crt");
  if (ca.empty()) return InvalidArgument(dir + "/ca.crt: missing or empty");
  // One client context trusting both (the floor's pair and a running webhook's CA).
  auto ctx = MakeClientTlsContext(ca_pem_ + "\n" + ca);
  if (!ctx.ok()) return ctx.status();
  client_tls_ = *ctx;
  return Status::Ok();
}

void Suite::RunCluster(int n) {
  auto id = [](const std::string& target, const std::string& verb, const std::string& mode,
               int nodes, int conns, double rate) {
    return ScenarioId(target, "extender", verb, mode, nodes, conns, rate);
  };
  const ExtenderVerb kVerbs[] = {ExtenderVerb::kFilter, ExtenderVerb::kPrioritize,
                                 ExtenderVerb::kFilterPrioritize};
  const std::string bind_id = id("hyperplace", "bind", "", n, o_.bind_connections, 0);
  if (!AnyWanted("/n" + std::to_string(n) + "/") || Cancelled()) return;
  // hyperplace itself is needed unless only the floor's twins are wanted.
  bool need_server = false;
  for (const std::string& sid : AllIds()) {
    if (sid.find("/n" + std::to_string(n) + "/") != std::string::npos &&
        sid.rfind("floor/", 0) != 0 && Wanted(sid)) {
      need_server = true;
    }
  }

  std::printf("\n%d nodes, %d placed pods\n", n, n * o_.pods_per_node);
  std::fflush(stdout);
  ClusterSpec spec;
  spec.nodes = n;
  spec.seed = o_.seed;
  const std::vector<GeneratedNode> nodes = GenerateNodes(spec);
  SchedulingSpec sched;
  sched.seed = o_.seed;
  sched.total_pods = n * o_.pods_per_node;
  const std::vector<PendingPod> pending = GeneratePendingPods(sched, nodes);
  std::vector<std::string> pod_json;
  for (const PendingPod& p : pending) pod_json.push_back(p.json);
  // What hyperplace must answer for each pending pod, from the generator's own model of the
  // cluster, computed once before any load so checking a reply is a comparison.
  const auto expect_start = Clock::now();
  const std::shared_ptr<const ClusterExpectations> expect =
      ClusterExpectations::Make(nodes, pending, ModelOccupancy(sched, nodes));
  std::printf("  expected answers for %zu pending pods computed in %.2f s\n", pending.size(),
              std::chrono::duration<double>(Clock::now() - expect_start).count());

  // The server: started here against a fake API server, or the running one.
  std::unique_ptr<FakeCluster> cluster;
  ChildProcess server;
  std::unique_ptr<ProcSampler> sampler;
  Target target;
  target.name = "hyperplace";
  std::string unavailable;
  MemoryResult memory;
  memory.id = "n" + std::to_string(n);
  memory.nodes = n;
  Clock::time_point ready_at{};
  if (!need_server) {
    unavailable = "not wanted";
  } else if (!o_.hyperplace.empty()) {
    const std::string dir = work_dir_ + "/n" + std::to_string(n);
    std::filesystem::create_directories(dir);
    auto c = StartFakeCluster(nodes, sched, dir);
    if (!c.ok()) {
      unavailable = c.status().message();
    } else {
      cluster = std::move(*c);
      memory.pods_served = cluster->pods;
      std::printf("  fake API server: %d nodes, %d pods loaded in %.1f s\n", cluster->nodes,
                  cluster->pods, cluster->fill_seconds);
      std::fflush(stdout);
      const Clock::time_point t0 = Clock::now();
      std::uint16_t port = 0;
      auto child = StartHyperplace({"--kubeconfig", cluster->kubeconfig},
                                   "hyperplace-n" + std::to_string(n) + ".log", &port);
      if (!child.ok()) {
        unavailable = child.status().message();
      } else {
        server = std::move(*child);
        sampler = std::make_unique<ProcSampler>(server.pid());
        sampler->Start();
        target.endpoint.port = port;
        target.sampler = sampler.get();
        Status st = WaitForHttp200(target.endpoint, "/readyz", std::chrono::seconds(600), &server);
        if (!st.ok()) {
          unavailable = st.message();
        } else {
          ready_at = Clock::now();
          memory.sync_s = std::chrono::duration<double>(ready_at - t0).count();
          // Let the allocator settle after the initial list before reading "settled" RSS.
          std::this_thread::sleep_for(std::chrono::seconds(1));
          if (auto s = ReadProcSample(server.pid())) {
            memory.rss_after_sync_mib = static_cast<double>(s->rss_bytes) / kMiB;
          }
        }
      }
    }
  } else if (!o_.extender_url.empty()) {
    auto e = ParseUrl(o_.extender_url);
    if (!e.ok()) {
      unavailable = e.status().message();
    } else {
      target.endpoint = *e;
      if (o_.server_pid > 0) {
        sampler = std::make_unique<ProcSampler>(o_.server_pid);
        sampler->Start();
        target.sampler = sampler.get();
      }
      // A server started by hand may still be listing 150,000 pods.
      Status st = WaitForHttp200(target.endpoint, "/readyz", std::chrono::seconds(120));
      if (!st.ok()) unavailable = st.message();
      ready_at = Clock::now();
    }
  } else {
    unavailable = "no --hyperplace binary or --extender-url given";
  }
  if (unavailable.empty() && need_server) {
    // The cache as hyperplace reports it: proof the pods really went through list+watch.
    memory.nodes_cached =
        std::max<std::int64_t>(0, Gauge(target.endpoint, "hyperplace_cache_nodes"));
    memory.pods_cached = std::max<std::int64_t>(0, Gauge(target.endpoint, "hyperplace_cache_pods"));
    std::printf("  hyperplace ready: %lld nodes, %lld pods cached, sync %.1f s, RSS %.1f MiB\n",
                static_cast<long long>(memory.nodes_cached),
                static_cast<long long>(memory.pods_cached), memory.sync_s,
                memory.rss_after_sync_mib);
    std::fflush(stdout);
  }

  // Names mode first, then memory is read: what the cache costs in the recommended mode.
  // Full-node requests come next because their 43 MB buffers stay with the server's workers
  // afterwards (by design, for speed) and would hide the cache's own footprint. Binds come last:
  // each one adds an assumed pod to the cache (for a minute: the fake API server never confirms
  // it) and makes every later /filter wait for the binds of the pods filtered before it, so after
  // them neither the expected answers nor the filter latencies would hold.
  auto run_mode = [&](NodeMode mode) {
    auto requests = ExtenderRequests::Make(mode, nodes, pod_json);
    const double duration =
        mode == NodeMode::kFull && o_.full_duration_s > 0 ? o_.full_duration_s : o_.duration_s;
    for (ExtenderVerb verb : kVerbs) {
      const std::string verb_name(VerbName(verb));
      const std::string mode_name(ModeName(mode));
      ScenarioResult meta;
      meta.face = "extender";
      meta.verb = verb_name;
      meta.mode = mode_name;
      meta.nodes = n;
      meta.pods_cached = memory.pods_cached;
      meta.id = id("hyperplace", verb_name, mode_name, n, 1, 0);
      if (Wanted(meta.id)) {
        if (!unavailable.empty()) {
          Skip(meta, unavailable);
        } else {
          ExtenderWorkload w(requests, verb, target.endpoint, true, expect);
          RunScenario(meta, target, w, Load(1, 0, duration));
        }
      }
      // The floor gets the calls whose transport dominates: names filter+prioritize, full filter.
      const bool floor_twin =
          (mode == NodeMode::kNames && verb == ExtenderVerb::kFilterPrioritize) ||
          (mode == NodeMode::kFull && verb == ExtenderVerb::kFilter);
      meta.id = "floor/" + meta.id;
      meta.pods_cached = 0;
      if (floor_twin && o_.floor && Wanted(meta.id)) {
        if (!have_floor_plain_) {
          Skip(meta, "floor server not running");
        } else {
          // The transfer floor (DESIGN §5) also writes a /filter reply of hyperplace's size:
          // the kept nodes' objects in full-node mode, the kept names and every other node's
          // reason in names mode.
          ExtenderWorkload w(requests, verb, floor_plain_target_.endpoint, false, expect,
                             /*same_size_reply=*/true);
          RunScenario(meta, floor_plain_target_, w, Load(1, 0, duration));
        }
      }
      if (Cancelled()) break;
    }
  };

  run_mode(NodeMode::kNames);
  if (sampler && unavailable.empty() && !o_.hyperplace.empty()) {
    memory.rss_max_mib =
        static_cast<double>(sampler->Between(ready_at, Clock::now()).rss_max_bytes) / kMiB;
    memory.peak_rss_mib = static_cast<double>(ReadPeakRss(server.pid())) / kMiB;
  }
  const Clock::time_point full_start = Clock::now();
  if (!Cancelled()) run_mode(NodeMode::kFull);
  if (sampler && unavailable.empty() && !o_.hyperplace.empty()) {
    memory.rss_max_full_mib =
        static_cast<double>(sampler->Between(full_start, Clock::now()).rss_max_bytes) / kMiB;
    results_.memory.push_back(memory);
  }
  {
    ScenarioResult meta;
    meta.face = "extender";
    meta.verb = "bind";
    meta.nodes = n;
    meta.pods_cached = memory.pods_cached;
    meta.id = bind_id;
    meta.note = "binds go through hyperplace to the fake API server (HTTPS)";
    if (Wanted(meta.id) && !Cancelled()) {
      std::string why = unavailable;
      if (why.empty() && !cluster) {
        why = "binds need pending pods in hpbench's own fake API server (run with --hyperplace)";
      }
      std::shared_ptr<const std::vector<BindTarget>> targets;
      if (why.empty()) {
        auto made = MakeBindTargets(*cluster->api, target.endpoint, n);
        if (made.ok()) {
          targets = std::move(*made);
        } else {
          why = made.status().message();
        }
      }
      if (!why.empty()) {
        Skip(meta, why);
      } else {
        std::vector<std::string> names;
        for (const GeneratedNode& node : nodes) names.push_back(node.name);
        BindWorkload w(targets, names, target.endpoint, true);
        RunScenario(meta, target, w, Load(o_.bind_connections, 0, o_.duration_s));
      }
    }
  }

  if (sampler) sampler->Stop();
  if (server.pid() > 0) {
    const std::string how = server.Stop();
    if (how != "exit 0") {
      std::printf("  note: hyperplace ended with %s (log: %s)\n", how.c_str(),
                  server.log_file().c_str());
    }
  }
}

void Suite::RunWebhook() {
  const std::vector<std::pair<int, double>> loads = WebhookLoads();
  if (!AnyWanted("webhook/") || Cancelled()) return;
  bool need_server = false;
  for (const auto& [conns, rate] : loads) {
    need_server =
        need_server || Wanted(ScenarioId("hyperplace", "webhook", "mutate", "", 0, conns, rate));
  }
  std::printf("\nwebhook over TLS\n");
  std::fflush(stdout);
  auto cases =
      std::make_shared<const std::vector<AdmissionCase>>(GenerateAdmissionReviews(o_.seed, 200));

  ChildProcess server;
  std::unique_ptr<ProcSampler> sampler;
  Target target;
  target.name = "hyperplace";
  std::string unavailable;
  if (!need_server) {
    unavailable = "not wanted";
  } else if (!client_tls_) {
    unavailable = "no TLS client context";
  } else if (!o_.hyperplace.empty()) {
    auto p = FreeLoopbackPort();
    if (!p.ok()) {
      unavailable = p.status().message();
    } else {
      std::uint16_t extender_port = 0;
      auto child =
          StartHyperplace({"--webhook-listen", "127.0.0.1:" + std::to_string(*p), "--tls-cert-file",
                           cert_file_, "--tls-private-key-file", key_file_},
                          "hyperplace-webhook.log", &extender_port);
      if (!child.ok()) {
        // The webhook may not be part of this build yet: say what hyperplace said.
        std::string why = child.status().message();
        const std::size_t cut = why.rfind('\n');
        unavailable = "hyperplace did not start with a serving certificate: " +
                      (cut == std::string::npos ? why : why.substr(cut + 1));
      } else {
        server = std::move(*child);
        target.endpoint.port = *p;
        target.endpoint.tls = true;
        target.endpoint.tls_context = client_tls_;
        Status st = WaitForConnect(target.endpoint, std::chrono::seconds(20), &server);
        if (!st.ok()) {
          unavailable = st.message();
        } else {
          sampler = std::make_unique<ProcSampler>(server.pid());
          sampler->Start();
          target.sampler = sampler.get();
        }
      }
    }
  } else if (!o_.webhook_url.empty()) {
    auto e = ParseUrl(o_.webhook_url);
    if (!e.ok()) {
      unavailable = e.status().message();
    } else {
      target.endpoint = *e;
      target.endpoint.tls_context = client_tls_;
      if (o_.server_pid > 0) {
        sampler = std::make_unique<ProcSampler>(o_.server_pid);
        sampler->Start();
        target.sampler = sampler.get();
      }
    }
  } else {
    unavailable = "no --hyperplace binary or --webhook-url given";
  }

  // The Go peer, on the servers' CPU like hyperplace, with the floor's certificate.
  ChildProcess go;
  std::unique_ptr<ProcSampler> go_sampler;
  Target go_target;
  std::string go_unavailable;
  if (!o_.go_webhook.empty() && AnyWanted("go/webhook/") && client_tls_) {
    if (Status st =
            StartUnchecked({o_.go_webhook}, "go", true, "gowebhook.log", go, go_sampler, go_target);
        !st.ok()) {
      go_unavailable = "Go peer webhook: " + st.message();
      if (go.pid() > 0) go.Stop();
    }
  }

  for (const auto& [conns, r] : loads) {
    ScenarioResult meta;
    meta.face = "webhook";
    meta.verb = "mutate";
    meta.id = ScenarioId("hyperplace", "webhook", "mutate", "", 0, conns, r);
    meta.note = "AdmissionReviews of Pods and Jobs across 3 teams, 15% denied";
    if (Wanted(meta.id)) {
      if (!unavailable.empty()) {
        Skip(meta, unavailable);
      } else {
        WebhookWorkload w(cases, target.endpoint, WebhookWorkload::Check::kAnswer);
        RunScenario(meta, target, w, Load(conns, r, o_.duration_s));
      }
    }
    meta.id = "floor/" + meta.id;
    meta.note.clear();
    if (o_.floor && Wanted(meta.id) && !Cancelled()) {
      if (!have_floor_tls_) {
        Skip(meta, "TLS floor server not running");
      } else {
        WebhookWorkload w(cases, floor_tls_target_.endpoint, WebhookWorkload::Check::kNone);
        RunScenario(meta, floor_tls_target_, w, Load(conns, r, o_.duration_s));
      }
    }
    meta.id = "go/" + meta.id.substr(std::string_view("floor/").size());
    meta.note = "Go standard-library peer (JSON work only; answers checked for uid and decision)";
    if (!o_.go_webhook.empty() && Wanted(meta.id) && !Cancelled()) {
      if (!go_unavailable.empty() || go.pid() <= 0) {
        Skip(meta, go_unavailable.empty() ? "Go peer not started" : go_unavailable);
      } else {
        WebhookWorkload w(cases, go_target.endpoint, WebhookWorkload::Check::kShape);
        RunScenario(meta, go_target, w, Load(conns, r, o_.duration_s));
      }
    }
  }
  if (sampler) sampler->Stop();
  if (server.pid() > 0) server.Stop();
  if (go_sampler) go_sampler->Stop();
  if (go.pid() > 0) go.Stop();
}

StatusOr<Results> Suite::Run() {
  tty_ = o_.progress && isatty(STDOUT_FILENO);
  results_.created = UtcNow();
  results_.host = ReadHostInfo();
  auto& s = results_.settings;
  s["mode"] = o_.hyperplace.empty() ? "running servers" : "spawned hyperplace";
  s["nodes"] = "";
  for (int n : o_.nodes) s["nodes"] += (s["nodes"].empty() ? "" : ",") + std::to_string(n);
  s["pods_per_node"] = std::to_string(o_.pods_per_node);
  s["warmup_s"] = std::to_string(o_.warmup_s).substr(0, 4);
  s["duration_s"] = std::to_string(o_.duration_s).substr(0, 4);
  s["seed"] = std::to_string(o_.seed);
  s["webhook"] = std::to_string(o_.webhook_connections) + " connections, " +
                 std::to_string(static_cast<int>(o_.webhook_rate)) + "/s open loop";
  if (o_.webhook_pool_connections > 0) {
    s["webhook"] += "; and " + std::to_string(o_.webhook_pool_connections) + " connections";
  }
  if (!o_.only.empty()) {
    std::string only;
    for (const std::string& x : o_.only) only += (only.empty() ? "" : ",") + x;
    s["only"] = only;
  }

  if (o_.pin) {
    if (results_.host.cpus < 2 || !PinSelfToCpu(1)) {
      return InvalidArgument("--pin needs two CPUs (servers on CPU 0, the harness on CPU 1)");
    }
    s["pin"] = "servers on CPU 0, harness on CPU 1";
  }
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/hpbench-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return Unavailable("cannot create a temporary directory");
  work_dir_ = tmpl;

  if (Status st = PrepareCerts(); !st.ok()) return st;
  if (Status st = StartFloors(); !st.ok()) return st;
  for (int n : o_.nodes) {
    if (Cancelled()) break;
    RunCluster(n);
  }
  RunWebhook();
  for (auto* sampler : {floor_plain_sampler_.get(), floor_tls_sampler_.get()}) {
    if (sampler != nullptr) sampler->Stop();
  }
  if (floor_plain_.pid() > 0) floor_plain_.Stop();
  if (floor_tls_.pid() > 0) floor_tls_.Stop();

  double loads[3] = {0, 0, 0};
  if (getloadavg(loads, 3) == 3) results_.host.load1_end = loads[0];
  if (o_.keep_work_dir) {
    std::printf("\nlogs and certificates kept in %s\n", work_dir_.c_str());
  } else {
    std::error_code ignored;
    std::filesystem::remove_all(work_dir_, ignored);
  }
  return std::move(results_);
}

}  // namespace

StatusOr<Results> RunSuite(const SuiteOptions& options, const std::atomic<bool>* cancel) {
  Suite suite(options, cancel);
  return suite.Run();
}

int RunFakeClusterCommand(int nodes, int pods_per_node, std::uint64_t seed,
                          const std::string& dir) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ClusterSpec spec;
  spec.nodes = nodes;
  spec.seed = seed;
  const std::vector<GeneratedNode> generated = GenerateNodes(spec);
  SchedulingSpec sched;
  sched.seed = seed;
  sched.total_pods = nodes * pods_per_node;
  std::filesystem::create_directories(dir);
  auto cluster = StartFakeCluster(generated, sched, dir);
  if (!cluster.ok()) {
    std::fprintf(stderr, "fake-cluster: %s\n", cluster.status().message().c_str());
    return 1;
  }
  std::printf("fake API server %s: %d nodes, %d pods (seed %llu)\nkubeconfig: %s\n",
              (*cluster)->api->url().c_str(), (*cluster)->nodes, (*cluster)->pods,
              static_cast<unsigned long long>(seed), (*cluster)->kubeconfig.c_str());
  std::fflush(stdout);
  int received = 0;
  sigwait(&signals, &received);
  return 0;
}

}  // namespace hyperplace::bench
