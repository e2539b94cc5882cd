// Micro-benchmarks for the cluster state at the DESIGN §5 scale (5000 nodes, 150,000 pods):
// what one watch event costs to apply and publish, and what a bind's assume + publish costs.
#include <benchmark/benchmark.h>

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

std::shared_ptr<extender::MemoryState> Loaded() {
  auto state = std::make_shared<extender::MemoryState>(scoring::testing::DefaultPolicy());
  for (int i = 0; i < kNodes; ++i) {
    const int rack = i / 16;
    state->UpsertNode(
        scoring::testing::NodeBuilder(NodeName(i))
            .InstanceType("ml.p5.48xlarge")
            .Layers({"nn-t" + std::to_string(rack / 32), "nn-s" + std::to_string(rack / 4),
                     "nn-r" + std::to_string(rack)})
            .Build());
  }
  for (int p = 0; p < kPods; ++p) {
    state->UpsertPod({"uid-" + std::to_string(p), NodeName(p % kNodes),
                      "ns/g=job-" + std::to_string(p / kGroupSize)});
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
        {uid, NodeName((i * 7919) % kNodes), "ns/g=job-" + std::to_string(i / kGroupSize)});
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
    state->AssumePod({"new-" + std::to_string(i), NodeName(i % kNodes), group},
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
                          .Build());
    state->Publish();
    ++i;
  }
}

BENCHMARK(BM_PodEventAndPublish)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AssumeAndPublish)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_NodeChangeAndPublish)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace hyperplace::bench

BENCHMARK_MAIN();
