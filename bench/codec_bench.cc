// Micro-benchmarks for the extender's request path, at 100, 1000 and 5000 nodes:
//   - the floor: simdjson On-Demand touching exactly the fields the rules read (name, labels,
//     taints, allocatable pods), parser reused — "the fastest JSON parse of the same bytes";
//   - hyperplace's decoder (which also validates every byte it skips);
//   - the whole /filter and /prioritize handlers in full-node and names mode (names mode with
//     the list recognised from the previous request, and with every list decoded anew).
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "bench/payload.h"
#include "extender/codec.h"
#include "extender/extender.h"
#include "extender/name_index.h"
#include "extender/state.h"
#include "net/http_server.h"
#include "scoring/testing/builders.h"

namespace hyperplace::bench {
namespace {

struct Payload {
  std::vector<GeneratedNode> nodes;
  std::string full;   // padded
  std::string names;  // padded
  std::size_t full_size = 0, names_size = 0;
};

const Payload& PayloadFor(int n) {
  static std::map<int, std::unique_ptr<Payload>> cache;
  auto& p = cache[n];
  if (!p) {
    p = std::make_unique<Payload>();
    ClusterSpec spec;
    spec.nodes = n;
    p->nodes = GenerateNodes(spec);
    std::string pod = GeneratePodJson(1, 0, 8, true);
    p->full = FullNodesArgs(pod, p->nodes);
    p->names = NodeNamesArgs(pod, p->nodes);
    p->full_size = p->full.size();
    p->names_size = p->names.size();
    p->full.append(net::kBodyPadding, '\0');
    p->names.append(net::kBodyPadding, '\0');
  }
  return *p;
}

namespace od = simdjson::ondemand;

// The floor: no validation of skipped values, no model built beyond a running checksum.
void BM_OnDemandTouch(benchmark::State& state) {
  const Payload& p = PayloadFor(static_cast<int>(state.range(0)));
  od::parser parser;
  for (auto _ : state) {
    std::size_t touched = 0;
    od::document doc = parser.iterate(p.full.data(), p.full_size, p.full.size()).value();
    for (auto field : doc.get_object()) {
      std::string_view key = field.unescaped_key().value();
      if (key != "Nodes") continue;
      for (auto item : field.value()["items"].get_array()) {
        for (auto f : item.get_object()) {
          std::string_view k = f.unescaped_key().value();
          if (k == "metadata") {
            for (auto m : f.value().get_object()) {
              std::string_view mk = m.unescaped_key().value();
              if (mk == "name") {
                touched += m.value().get_string().value().size();
              } else if (mk == "labels") {
                for (auto l : m.value().get_object()) {
                  touched += l.unescaped_key().value().size();
                  touched += l.value().get_string().value().size();
                }
              }
            }
          } else if (k == "spec") {
            for (auto s : f.value().get_object()) {
              if (s.unescaped_key().value() != "taints") continue;
              for (auto t : s.value().get_array()) touched += t["key"].get_string().value().size();
            }
          } else if (k == "status") {
            for (auto s : f.value().get_object()) {
              if (s.unescaped_key().value() != "allocatable") continue;
              touched += s.value()["pods"].get_string().value().size();
            }
          }
        }
      }
    }
    benchmark::DoNotOptimize(touched);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * p.full_size));
}

// The validating floor: simdjson's DOM parser checks every byte and builds its tape.
void BM_DomParse(benchmark::State& state) {
  const Payload& p = PayloadFor(static_cast<int>(state.range(0)));
  simdjson::dom::parser parser;
  for (auto _ : state) {
    simdjson::dom::element doc;
    auto e = parser.parse(p.full.data(), p.full_size, false).get(doc);
    if (e) state.SkipWithError(simdjson::error_message(e));
    benchmark::DoNotOptimize(doc);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * p.full_size));
}

void BM_DecodeArgsFull(benchmark::State& state) {
  const Payload& p = PayloadFor(static_cast<int>(state.range(0)));
  extender::Decoder decoder;
  extender::ExtenderArgs args;
  for (auto _ : state) {
    Status st = decoder.DecodeArgs(std::string_view(p.full.data(), p.full_size), args);
    if (!st.ok()) state.SkipWithError(st.message().c_str());
    benchmark::DoNotOptimize(args.nodes.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * p.full_size));
}

std::shared_ptr<extender::MemoryState> StateFor(int n) {
  static std::map<int, std::shared_ptr<extender::MemoryState>> cache;
  auto& s = cache[n];
  if (!s) {
    s = std::make_shared<extender::MemoryState>(scoring::testing::DefaultPolicy());
    extender::Decoder decoder;
    for (const auto& node : PayloadFor(n).nodes) {
      std::string padded = node.json + std::string(extender::kInputPadding, '\0');
      scoring::Node decoded;
      if (!decoder.DecodeNode(std::string_view(padded.data(), node.json.size()), decoded).ok()) {
        std::abort();
      }
      s->UpsertNode(scoring::OwnedCopy(decoded));
    }
    // Three pods of the benchmark pod's group are already placed in one rack.
    for (int i = 0; i < 3; ++i) {
      s->UpsertPod({"peer-" + std::to_string(i), PayloadFor(n).nodes[i].name,
                    "hyperpod-ns-team-a/kueue.x-k8s.io/pod-group-name=train-0"});
    }
    s->Publish();
  }
  return s;
}

// Names-mode requests whose lists all differ (the same nodes, each list rotated by another
// offset): more distinct lists than the extender holds, so every request decodes its list anew,
// as when every bind changes which nodes kube-scheduler finds feasible.
const std::vector<std::string>& DistinctNamesBodies(int n) {
  static std::map<int, std::vector<std::string>> cache;
  auto& bodies = cache[n];
  if (bodies.empty()) {
    const Payload& p = PayloadFor(n);
    std::string pod = GeneratePodJson(1, 0, 8, true);
    for (std::size_t k = 0; k < 2 * extender::NamesMemo::kLists; ++k) {
      std::vector<GeneratedNode> rotated = p.nodes;
      std::rotate(rotated.begin(), rotated.begin() + static_cast<std::ptrdiff_t>(k), rotated.end());
      bodies.push_back(NodeNamesArgs(pod, rotated) + std::string(net::kBodyPadding, '\0'));
    }
  }
  return bodies;
}

enum class Lists { kRepeated, kDistinct };

void RunHandler(benchmark::State& state, bool full, bool filter, Lists lists = Lists::kRepeated) {
  const int n = static_cast<int>(state.range(0));
  const Payload& p = PayloadFor(n);
  auto cluster = StateFor(n);
  metrics::Registry registry;
  extender::Extender extender(cluster->policy(), cluster, registry);
  std::vector<std::string_view> bodies = {full ? std::string_view(p.full.data(), p.full_size)
                                               : std::string_view(p.names.data(), p.names_size)};
  if (lists == Lists::kDistinct) {
    bodies.clear();
    for (const std::string& b : DistinctNamesBodies(n)) {
      bodies.emplace_back(b.data(), b.size() - net::kBodyPadding);
    }
  }
  net::Response response;
  std::size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const std::string_view body = bodies[i++ % bodies.size()];
    bytes += body.size();
    response.body.clear();
    if (filter) {
      extender.Filter(body, response);
    } else {
      extender.Prioritize(body, response);
    }
    if (response.status != 200) state.SkipWithError(response.body.c_str());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  if (!full) {
    state.counters["recognised"] = static_cast<double>(extender.names_memo().hits());
    state.counters["decoded"] = static_cast<double>(extender.names_memo().misses());
  }
}

void BM_FilterFull(benchmark::State& s) { RunHandler(s, true, true); }
void BM_PrioritizeFull(benchmark::State& s) { RunHandler(s, true, false); }
void BM_FilterNames(benchmark::State& s) { RunHandler(s, false, true); }
void BM_PrioritizeNames(benchmark::State& s) { RunHandler(s, false, false); }
void BM_FilterNamesDistinct(benchmark::State& s) { RunHandler(s, false, true, Lists::kDistinct); }
void BM_PrioritizeNamesDistinct(benchmark::State& s) {
  RunHandler(s, false, false, Lists::kDistinct);
}

// The names-mode hot spot on its own: resolving every requested name in the snapshot's index
// (what Snapshot::ResolveNames does for a 5000-name list not seen before), and, for comparison,
// what recognising a names array identical to the previous request's would cost (one memcmp), since
// kube-scheduler sends the same candidates in the same order for consecutive pods.
void BM_NameIndexFindMany(benchmark::State& state) {
  const Payload& p = PayloadFor(static_cast<int>(state.range(0)));
  std::vector<std::string_view> names;
  for (const auto& n : p.nodes) names.push_back(n.name);
  extender::NameIndex index;
  index.Build(names);
  std::vector<std::int32_t> out;
  for (auto _ : state) {
    index.FindMany(names, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * names.size()));
}

void BM_NamesArrayCompare(benchmark::State& state) {
  const Payload& p = PayloadFor(static_cast<int>(state.range(0)));
  const std::string previous(p.names.data(), p.names_size);
  const std::string current(p.names.data(), p.names_size);
  for (auto _ : state) {
    benchmark::DoNotOptimize(std::memcmp(previous.data(), current.data(), current.size()));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * current.size()));
}

BENCHMARK(BM_OnDemandTouch)->Arg(100)->Arg(1000)->Arg(5000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_DomParse)->Arg(100)->Arg(1000)->Arg(5000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_DecodeArgsFull)->Arg(100)->Arg(1000)->Arg(5000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_FilterFull)->Arg(100)->Arg(1000)->Arg(5000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PrioritizeFull)->Arg(100)->Arg(1000)->Arg(5000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_FilterNames)->Arg(100)->Arg(1000)->Arg(5000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PrioritizeNames)->Arg(100)->Arg(1000)->Arg(5000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_FilterNamesDistinct)->Arg(1000)->Arg(5000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PrioritizeNamesDistinct)->Arg(1000)->Arg(5000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_NameIndexFindMany)->Arg(100)->Arg(1000)->Arg(5000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_NamesArrayCompare)->Arg(5000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace hyperplace::bench

BENCHMARK_MAIN();
