// libFuzzer target for the extender's untrusted input: the ExtenderArgs and binding decoders, and
// the filter and prioritize handlers behind them.
//
// The same bytes also go to the watch cache's single-object decoders (a Node, a Pod).
//
// Properties checked beyond "no crash, no sanitizer report":
//   - every reply is valid JSON (parsed by an independent parser);
//   - a 200 filter reply accounts for every input node exactly once;
//   - a NodeNames array given back as known is recognised, with the same bytes;
//   - decoded resource lists are sorted by name, one entry per name, within the list bound; a
//     pod's effective requests are all positive, and a node's allocatable pods is its "pods".
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "extender/codec.h"
#include "extender/extender.h"
#include "extender/state.h"
#include "net/http_server.h"
#include "scoring/testing/builders.h"

namespace {

using hyperplace::extender::Extender;
using hyperplace::extender::MemoryState;
using hyperplace::scoring::testing::NodeBuilder;

struct World {
  World() : state(std::make_shared<MemoryState>(hyperplace::scoring::testing::DefaultPolicy())) {
    state->UpsertNode(
        NodeBuilder("a").InstanceType("ml.p5.48xlarge").Layers({"t", "s", "r1"}).Build());
    state->UpsertNode(
        NodeBuilder("b").InstanceType("ml.g5.xlarge").Health("Unschedulable").Build());
    state->UpsertPod({"u1", "a", "ns/kueue.x-k8s.io/pod-group-name=g"});
    state->Publish();
    extender = std::make_unique<Extender>(state->policy(), state, registry);
  }
  std::shared_ptr<MemoryState> state;
  hyperplace::metrics::Registry registry;
  std::unique_ptr<Extender> extender;
};

void Check(bool ok, const char* property, const std::string& reply) {
  if (ok) return;
  std::fprintf(stderr, "property violated: %s\nreply: %.2000s\n", property, reply.c_str());
  std::abort();
}

void CheckResourceList(const hyperplace::scoring::ResourceList& list, bool positive) {
  Check(list.size() <= hyperplace::extender::kMaxResourcesPerList, "resource lists are bounded",
        "");
  for (std::size_t i = 0; i < list.size(); ++i) {
    Check(i == 0 || list[i - 1].name < list[i].name, "resource lists are sorted and unique",
          std::string(list[i].name));
    Check(list[i].amount >= (positive ? 1 : 0), "resource amounts are in range",
          std::string(list[i].name));
  }
}

void CheckNode(const hyperplace::scoring::Node& node) {
  CheckResourceList(node.allocatable, /*positive=*/false);
  std::int64_t pods = -1;
  for (const auto& r : node.allocatable) {
    if (r.name == "pods") pods = r.amount;
  }
  Check(node.allocatable_pods == pods, "allocatable pods is the \"pods\" entry", "");
}

// Whether `s` contains a \uD800..\uDFFF escape.
bool HasSurrogateEscape(std::string_view s) {
  for (std::size_t i = 0; i + 3 < s.size(); ++i) {
    if (s[i] == '\\' && s[i + 1] == 'u' && (s[i + 2] == 'd' || s[i + 2] == 'D') &&
        std::string_view("89abAB").find(s[i + 3]) != std::string_view::npos) {
      return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World world;
  std::string body(reinterpret_cast<const char*>(data), size);
  body.append(hyperplace::net::kBodyPadding, '\0');
  std::string_view view(body.data(), size);

  hyperplace::net::Response filter;
  world.extender->Filter(view, filter);
  auto reply = nlohmann::json::parse(filter.body, nullptr, /*allow_exceptions=*/false);
  Check(!reply.is_discarded(), "filter reply is JSON", filter.body);
  if (filter.status == 200) {
    auto args = nlohmann::json::parse(view, nullptr, false);
    // A request the decoder accepted is valid JSON, except that, like Go, the decoder does not
    // insist on paired UTF-16 surrogate escapes (\uD800..\uDFFF) where nlohmann does.
    if (args.is_discarded() && HasSurrogateEscape(view)) return 0;
    Check(!args.is_discarded(), "accepted requests are valid JSON", filter.body);
    // Count what came in (names or node items) against what went out.
    std::multiset<std::string> in, out;
    int name_lists = 0;  // "NodeNames" in any case; with several, which one wins is order-bound
    for (auto& [key, value] : args.items()) {
      std::string k = key;
      for (char& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (k != "nodenames") continue;
      ++name_lists;
      if (!value.is_array()) continue;
      for (auto& n : value) in.insert(n.get<std::string>());
    }
    if (name_lists == 1 && reply["NodeNames"].is_array()) {
      for (auto& n : reply["NodeNames"]) out.insert(n.get<std::string>());
      for (auto& [n, r] : reply["FailedNodes"].items()) out.insert(n);
      for (auto& [n, r] : reply["FailedAndUnresolvableNodes"].items()) out.insert(n);
      // Maps deduplicate names; compare as sets.
      Check(std::set<std::string>(in.begin(), in.end()) ==
                std::set<std::string>(out.begin(), out.end()),
            "every input node is accounted for", filter.body);
    }
  }

  hyperplace::net::Response prioritize;
  world.extender->Prioritize(view, prioritize);
  Check(!nlohmann::json::parse(prioritize.body, nullptr, false).is_discarded(),
        "prioritize reply is JSON", prioritize.body);

  hyperplace::extender::Decoder decoder;
  hyperplace::extender::ExtenderArgs args;
  if (decoder.DecodeArgs(view, args).ok()) {
    CheckResourceList(args.pod.requests, /*positive=*/true);
    for (const auto& node : args.nodes) CheckNode(node);
    if (args.has_node_names) {
      // The same request again, its own NodeNames array known: recognised, not decoded, and
      // the same array; a known array of other bytes is not recognised.
      const std::string names_json(args.node_names_json);
      Check(names_json.size() >= 2 && names_json.front() == '[' && names_json.back() == ']',
            "NodeNames' JSON is the array", names_json);
      const std::string other = names_json.size() > 2 ? "[]" : "[\"x\"]";
      const std::string_view known[] = {other, names_json};
      hyperplace::extender::ExtenderArgs again;
      Check(decoder.DecodeArgs(view, again, known).ok(), "a known list decodes", names_json);
      Check(again.known_names == 1 && again.node_names.empty(), "a known list is recognised",
            names_json);
      Check(again.node_names_json == names_json, "a recognised list is the same bytes", names_json);
    }
  }
  hyperplace::extender::BindingArgs binding;
  (void)decoder.DecodeBinding(view, binding);
  hyperplace::scoring::Node node;
  if (decoder.DecodeNode(view, node).ok()) CheckNode(node);
  hyperplace::scoring::Pod pod;
  if (decoder.DecodePod(view, pod).ok()) CheckResourceList(pod.requests, /*positive=*/true);
  return 0;
}
