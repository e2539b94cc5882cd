// Micro-benchmarks for the cluster state at the DESIGN §5 scale (5000 nodes, 150,000 pods):
// what one watch event costs to apply and publish, and what a bind's assume + publish costs.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "extender/state.h"
#include "scoring/testing/builders.h"

namespace hyperplace::bench {
namespace {

constexpr int kNodes = 5000;
constexpr int kPods = 150000;
constexpr int kGroupSize = 8;

std::string NodeName(int i) { return "hyperpod-i-" + std::to_string(100000 + i); }

// A pod as the watch records it, with the effective requests of a training or serving pod: cpu
// and memory always, GPUs and EFA for three pods in four.
extender::PodRecord Pod(std::string uid, std::string node, std::string group, int p) {
  extender::PodRecord pod{std::move(uid), std::move(node), std::move(group)};
  pod.requests = {{"cpu", 4000 + 500 * (p % 8)}, {"memory", std::int64_t{64 + p % 64} << 30}};
  if (p % 4 != 0) {
    pod.requests.emplace_back("nvidia.com/gpu", 1 + p % 2);
    pod.requests.emplace_back("vpc.amazonaws.com/efa", 4);
  }
  return pod;
}

std::shared_ptr<extender::MemoryState> Loaded() {
  auto state = std::make_shared<extender::MemoryState>(scoring::testing::DefaultPolicy());
  for (int i = 0; i < kNodes; ++i) {
    const int rack = i / 16;
    state->UpsertNode(
        scoring::testing::NodeBuilder(NodeName(i))
            .InstanceType("ml.p5.48xlarge")
            .Layers({"nn-t" + std::to_string(rack / 32), "nn-s" + std::to_string(rack / 4),
                     "nn-r" + std::to_string(rack)})
            .Gpus(8)
            .Build());
  }
  for (int p = 0; p < kPods; ++p) {
    state->UpsertPod(Pod("uid-" + std::to_string(p), NodeName(p % kNodes),
                         "ns/g=job-" + std::to_string(p / kGroupSize), p));
  }
  state->Publish();
  return state;
}

// A pod event (a pod moves: delete + add) followed by a publish, as one watch event is applied.
void BM_PodEventAndPublish(benchmark::State& st) {
  static auto state = Loaded();
  int i = 0;
  for (auto _ : st) {
    const std::string uid = "uid-" + std::to_string(i % kPods);
    state->UpsertPod(
        Pod(uid, NodeName((i * 7919) % kNodes), "ns/g=job-" + std::to_string(i / kGroupSize), i));
    state->Publish();
    ++i;
  }
}

// A bind: assume a new pod of an existing group, publish, and read the placement back.
void BM_AssumeAndPublish(benchmark::State& st) {
  static auto state = Loaded();
  int i = 0;
  for (auto _ : st) {
    const std::string group = "ns/g=new-job-" + std::to_string(i / kGroupSize);
    state->AssumePod(Pod("new-" + std::to_string(i), NodeName(i % kNodes), group, i),
                     extender::MemoryState::Clock::now() + std::chrono::seconds(30));
    state->Publish();
    benchmark::DoNotOptimize(state->Current()->GroupPlacements(group));
    ++i;
  }
}

// A node label change (health) rebuilds the node table: the rare, expensive event.
void BM_NodeChangeAndPublish(benchmark::State& st) {
  static auto state = Loaded();
  int i = 0;
  for (auto _ : st) {
    state->UpsertNode(scoring::testing::NodeBuilder(NodeName(i % kNodes))
                          .InstanceType("ml.p5.48xlarge")
                          .Health(i % 2 ? "Unschedulable" : "Schedulable")
                          .Gpus(8)
                          .Build());
    state->Publish();
    ++i;
  }
}

// Resident memory of the state at 5000 nodes and 150,000 pods, of which 50,000 are pending gang
// members the watch keeps for their group (DESIGN §2.4) with realistic uids and group keys.
// Reported as counters: the growth of RSS while loading, and per pod.
double RssMiB() {
  long pages = 0, resident = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

void BM_MemoryAt150kPods(benchmark::State& st) {
  for (auto _ : st) {
    const double before = RssMiB();
    auto state = std::make_shared<extender::MemoryState>(scoring::testing::DefaultPolicy());
    for (int i = 0; i < kNodes; ++i) {
      state->UpsertNode(
          scoring::testing::NodeBuilder(NodeName(i))
              .InstanceType("ml.p5.48xlarge")
              .Layers({"nn-t" + std::to_string(i / 512), "nn-s" + std::to_string(i / 64),
                       "nn-r" + std::to_string(i / 16)})
              .Gpus(8)
              .Build());
    }
    char uid[40];
    for (int p = 0; p < kPods; ++p) {
      std::snprintf(uid, sizeof uid, "%08x-9f3c-4b1e-8d2a-%012x", p * 2654435761u, p);
      const std::string group = "hyperpod-ns-team-" + std::to_string(p % 3) +
                                "/kueue.x-k8s.io/pod-group-name=train-" + std::to_string(p / 8);
      state->UpsertPod(Pod(uid, p < 100000 ? NodeName(p % kNodes) : "", group, p));
    }
    state->Publish();
    const double after = RssMiB();
    st.counters["rss_growth_mib"] = after - before;
    st.counters["bytes_per_pod"] = (after - before) * (1 << 20) / kPods;
    st.counters["pending_pods"] = static_cast<double>(state->Current()->pending_pod_count());
  }
}

BENCHMARK(BM_PodEventAndPublish)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AssumeAndPublish)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_NodeChangeAndPublish)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MemoryAt150kPods)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace
}  // namespace hyperplace::bench

BENCHMARK_MAIN();
