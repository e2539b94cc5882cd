#include "extender/codec.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstring>

#include "common/json.h"
#include "common/json_skip.h"
#include "common/quantity.h"
#include "scoring/resources.h"

namespace hyperplace::extender {

namespace od = simdjson::ondemand;
using scoring::Labels;
using scoring::ResourceList;
using simdjson::error_code;

static_assert(kInputPadding >= simdjson::SIMDJSON_PADDING);

namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// The parser kernel compiled in (haswell or icelake with AVX2; "fallback" is scalar and slow).
#define HP_STRINGIFY_(x) #x
#define HP_STRINGIFY(x) HP_STRINGIFY_(x)
constexpr std::string_view kKernel = HP_STRINGIFY(SIMDJSON_BUILTIN_IMPLEMENTATION);

using json::IsJsonSpace;

// Walks the JSON with a field path for error messages. Every method returns false on error after
// recording it; callers return at once.
class Reader {
 public:
  Reader(std::string& error, scoring::PodResourceSpec& pod_resources, od::document* doc = nullptr)
      : error_(error), pod_resources_(pod_resources), doc_(doc) {}

  bool Fail(error_code code, std::string_view path) {
    if (error_.empty()) {
      error_.append(path.empty() ? "request" : path).append(": ");
      switch (code) {
        case simdjson::INCORRECT_TYPE:
          error_.append("unexpected JSON type");
          break;
        case simdjson::DEPTH_ERROR:
          error_.append("nested too deeply");
          break;
        default:
          error_.append(simdjson::error_message(code));
      }
    }
    return false;
  }
  bool Fail(std::string_view message, std::string_view path) {
    if (error_.empty()) error_.append(path).append(": ").append(message);
    return false;
  }
  // An error about one entry of a map: `path["key"]: message`.
  bool Fail(std::string_view message, std::string_view path, std::string_view key) {
    if (error_.empty())
      error_.append(path).append("[\"").append(key).append("\"]: ").append(message);
    return false;
  }

  // True with `null_out` set when the value is JSON null (consumed).
  bool IsNull(od::value& v, bool& null_out, std::string_view path) {
    auto r = v.is_null();
    if (r.error()) return Fail(r.error(), path);
    null_out = r.value_unsafe();
    return true;
  }

  bool String(od::value& v, std::string_view& out, std::string_view path) {
    auto r = v.get_string();
    if (r.error() == simdjson::INCORRECT_TYPE) return Fail("expected a string", path);
    if (r.error()) return Fail(r.error(), path);
    out = r.value_unsafe();
    return true;
  }

  // Consumes a value the decoder has no use for, validating every byte of it.
  bool Skip(od::value& v, std::string_view path) {
    auto e = json::SkipValue(v, 0, static_cast<int>(kMaxDepth));
    return e == simdjson::SUCCESS || Fail(e, path);
  }

  // A JSON object of string values ({"k": "v"}); null is an empty map.
  bool StringMap(od::value& v, Labels& out, std::string_view path) {
    bool null = false;
    if (!IsNull(v, null, path)) return false;
    if (null) return true;
    od::object obj;
    if (auto e = v.get_object().get(obj)) {
      return e == simdjson::INCORRECT_TYPE ? Fail("expected an object", path) : Fail(e, path);
    }
    std::vector<Labels::Entry> entries;
    for (auto field : obj) {
      std::string_view key;
      if (auto e = field.unescaped_key().get(key)) return Fail(e, path);
      od::value value;
      if (auto e = field.value().get(value)) return Fail(e, path);
      std::string_view text;
      if (!String(value, text, path)) return false;
      entries.emplace_back(key, text);
    }
    out = Labels(std::move(entries));
    return true;
  }

  // Iterates an object's fields, calling fn(key, value) for each; null is an empty object.
  template <typename Fn>
  bool Object(od::value& v, std::string_view path, Fn&& fn) {
    bool null = false;
    if (!IsNull(v, null, path)) return false;
    if (null) return true;
    od::object obj;
    if (auto e = v.get_object().get(obj)) {
      return e == simdjson::INCORRECT_TYPE ? Fail("expected an object", path) : Fail(e, path);
    }
    for (auto field : obj) {
      std::string_view key;
      if (auto e = field.unescaped_key().get(key)) return Fail(e, path);
      od::value value;
      if (auto e = field.value().get(value)) return Fail(e, path);
      if (!fn(key, value)) return false;
    }
    return true;
  }

  // Iterates an array, calling fn(value) for each element; null is an empty array.
  template <typename Fn>
  bool Array(od::value& v, std::string_view path, Fn&& fn) {
    bool null = false;
    if (!IsNull(v, null, path)) return false;
    if (null) return true;
    od::array arr;
    if (auto e = v.get_array().get(arr)) {
      return e == simdjson::INCORRECT_TYPE ? Fail("expected an array", path) : Fail(e, path);
    }
    for (auto element : arr) {
      od::value value;
      if (auto e = element.get(value)) return Fail(e, path);
      if (!fn(value)) return false;
    }
    return true;
  }

  // A quantity in `resource`'s scale, read as Go's Quantity.UnmarshalJSON reads it: the string's
  // bytes as they stand (an escape is no quantity) less surrounding spaces, a bare JSON number's
  // text, or null for 0.
  bool Quantity(od::value& v, std::string_view resource, std::string_view path, std::int64_t& out) {
    od::json_type type{};
    if (auto e = v.type().get(type)) return Fail(e, path);
    std::string_view text = v.raw_json_token();
    while (!text.empty() && IsJsonSpace(text.back())) text.remove_suffix(1);
    switch (type) {
      case od::json_type::string: {
        od::raw_json_string raw;
        if (auto e = v.get_raw_json_string().get(raw)) return Fail(e, path);
        text = text.substr(1, text.size() - 2);
        while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
        while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
        break;
      }
      case od::json_type::number:
        if (!json::IsJsonNumber(text)) return Fail(simdjson::NUMBER_ERROR, path);
        if (auto e = v.get_number().error()) return Fail(e, path);
        break;
      case od::json_type::null: {
        bool null = false;
        if (!IsNull(v, null, path)) return false;
        out = 0;
        return true;
      }
      default:
        return Fail("expected a quantity string", path, resource);
    }
    StatusOr<std::int64_t> amount = ParseQuantity(text, ScaleOf(resource));
    if (!amount.ok()) return Fail(amount.status().message(), path, resource);
    out = *amount;
    return true;
  }

  // A resource list ({"cpu": "500m", ...}) added to `out`, which is left sorted by name with the
  // last of repeated names winning (what decoding into a Go map, even twice, leaves).
  bool Resources(od::value& v, std::string_view path, ResourceList& out) {
    if (out.capacity() == 0) out.reserve(8);  // a node's usual allocatable, in one allocation
    bool ok = Object(v, path, [&](std::string_view name, od::value& value) {
      std::int64_t amount = 0;
      if (!Quantity(value, name, path, amount)) return false;
      out.push_back({name, amount});
      // Bound the list while reading, not only at the end: a hostile object repeating a few
      // names millions of times stays small, and sorting it costs O(n log 1024).
      if (out.size() >= 2 * kMaxResourcesPerList) return Normalize(out, path);
      return true;
    });
    return ok && Normalize(out, path);
  }

  bool Normalize(ResourceList& list, std::string_view path) {
    auto by_name = [](const scoring::ResourceAmount& a, const scoring::ResourceAmount& b) {
      return a.name < b.name;
    };
    // The API server writes map keys sorted: the common case is one comparison per entry.
    if (std::adjacent_find(list.begin(), list.end(), [&](const auto& a, const auto& b) {
          return !by_name(a, b);
        }) != list.end()) {
      std::stable_sort(list.begin(), list.end(), by_name);
      std::size_t kept = 0;
      for (std::size_t i = 0; i < list.size(); ++i) {
        if (kept > 0 && list[kept - 1].name == list[i].name) {
          list[kept - 1] = list[i];
        } else {
          list[kept++] = list[i];
        }
      }
      list.resize(kept);
    }
    if (list.size() > kMaxResourcesPerList) return Fail("more than 1024 resources", path);
    return true;
  }

  // The paths of one kind of container, for errors.
  struct ContainerPaths {
    std::string_view item, resources, requests, restart_policy;
  };

  // One container's resources.requests; `restartable` (init containers only) is set from
  // restartPolicy.
  bool Container(od::value& v, const ContainerPaths& paths, ResourceList& requests,
                 bool* restartable) {
    return Object(v, paths.item, [&](std::string_view key, od::value& value) {
      if (key == "resources") {
        return Object(value, paths.resources, [&](std::string_view key, od::value& value) {
          if (key == "requests") return Resources(value, paths.requests, requests);
          return Skip(value, paths.resources);
        });
      }
      if (key == "restartPolicy" && restartable != nullptr) {
        bool null = false;
        if (!IsNull(value, null, paths.restart_policy)) return false;
        std::string_view policy;
        if (!null && !String(value, policy, paths.restart_policy)) return false;
        *restartable = policy == "Always";
        return true;
      }
      return Skip(value, paths.item);
    });
  }

  bool Containers(od::value& v, std::vector<ResourceList>& out) {
    static constexpr ContainerPaths kPaths = {"Pod.spec.containers[]",
                                              "Pod.spec.containers[].resources",
                                              "Pod.spec.containers[].resources.requests", ""};
    out.clear();  // a repeated key replaces the list, as in Go
    return Array(v, "Pod.spec.containers", [&](od::value& item) {
      return Container(item, kPaths, out.emplace_back(), nullptr);
    });
  }

  bool InitContainers(od::value& v, std::vector<scoring::ContainerRequests>& out) {
    static constexpr ContainerPaths kPaths = {
        "Pod.spec.initContainers[]", "Pod.spec.initContainers[].resources",
        "Pod.spec.initContainers[].resources.requests", "Pod.spec.initContainers[].restartPolicy"};
    out.clear();
    return Array(v, "Pod.spec.initContainers", [&](od::value& item) {
      scoring::ContainerRequests& c = out.emplace_back();
      return Container(item, kPaths, c.requests, &c.restartable);
    });
  }

  bool Pod(od::value& v, scoring::Pod& pod) {
    return Object(v, "Pod", [&](std::string_view key, od::value& value) {
      return PodField(key, value, pod);
    });
  }

  bool PodField(std::string_view key, od::value& value, scoring::Pod& pod) {
    if (key == "metadata") return PodMetadata(value, pod);
    if (key == "spec") return PodSpec(value, pod);
    if (key == "status") {
      return Object(value, "Pod.status", [&](std::string_view key, od::value& value) {
        if (key == "phase") return String(value, pod.phase, "Pod.status.phase");
        return Skip(value, "Pod.status");
      });
    }
    return Skip(value, "Pod");
  }

  // Iterates the fields of a document that must be an object.
  template <typename Fn>
  bool RootObject(od::document& doc, std::string_view path, Fn&& fn) {
    od::object obj;
    if (auto e = doc.get_object().get(obj)) {
      return e == simdjson::INCORRECT_TYPE ? Fail("expected an object", path) : Fail(e, path);
    }
    for (auto field : obj) {
      std::string_view key;
      if (auto e = field.unescaped_key().get(key)) return Fail(e, path);
      od::value value;
      if (auto e = field.value().get(value)) return Fail(e, path);
      if (!fn(key, value)) return false;
    }
    return true;
  }

  bool PodMetadata(od::value& v, scoring::Pod& pod) {
    return Object(v, "Pod.metadata", [&](std::string_view key, od::value& value) {
      if (key == "name") return String(value, pod.name, "Pod.metadata.name");
      if (key == "namespace") return String(value, pod.namespace_name, "Pod.metadata.namespace");
      if (key == "uid") return String(value, pod.uid, "Pod.metadata.uid");
      if (key == "labels") return StringMap(value, pod.labels, "Pod.metadata.labels");
      if (key == "annotations")
        return StringMap(value, pod.annotations, "Pod.metadata.annotations");
      if (key == "ownerReferences") return OwnerReferences(value, pod);
      return Skip(value, "Pod.metadata");
    });
  }

  bool OwnerReferences(od::value& v, scoring::Pod& pod) {
    constexpr std::string_view kPath = "Pod.metadata.ownerReferences";
    return Array(v, kPath, [&](od::value& ref) {
      std::string_view uid;
      bool controller = false;
      bool ok = Object(ref, kPath, [&](std::string_view key, od::value& value) {
        if (key == "uid") return String(value, uid, kPath);
        if (key == "controller") {
          bool null = false;
          if (!IsNull(value, null, kPath)) return false;
          if (null) return true;
          if (auto e = value.get_bool().get(controller)) return Fail(e, kPath);
          return true;
        }
        return Skip(value, kPath);
      });
      if (ok && controller) pod.controller_uid = uid;
      return ok;
    });
  }

  bool PodSpec(od::value& v, scoring::Pod& pod) {
    scoring::PodResourceSpec& resources = pod_resources_;
    resources.containers.clear();
    resources.init_containers.clear();
    resources.pod_level.clear();
    resources.overhead.clear();
    bool ok = Object(v, "Pod.spec", [&](std::string_view key, od::value& value) {
      if (key == "nodeSelector")
        return StringMap(value, pod.node_selector, "Pod.spec.nodeSelector");
      if (key == "nodeName") return String(value, pod.node_name, "Pod.spec.nodeName");
      if (key == "schedulerName") {
        return String(value, pod.scheduler_name, "Pod.spec.schedulerName");
      }
      if (key == "tolerations") return Tolerations(value, pod);
      if (key == "affinity") return Affinity(value, pod);
      if (key == "containers") return Containers(value, resources.containers);
      if (key == "initContainers") return InitContainers(value, resources.init_containers);
      if (key == "overhead") return Resources(value, "Pod.spec.overhead", resources.overhead);
      if (key == "resources") {
        return Object(value, "Pod.spec.resources", [&](std::string_view key, od::value& value) {
          if (key == "requests") {
            return Resources(value, "Pod.spec.resources.requests", resources.pod_level);
          }
          return Skip(value, "Pod.spec.resources");
        });
      }
      return Skip(value, "Pod.spec");
    });
    if (!ok) return false;
    // The names view the decoder's string buffer, not `resources`: they outlive the scratch.
    pod.requests = scoring::EffectiveRequests(resources);
    if (pod.requests.size() > kMaxResourcesPerList) {
      return Fail("requests more than 1024 resources", "Pod.spec");
    }
    return true;
  }

  bool Tolerations(od::value& v, scoring::Pod& pod) {
    constexpr std::string_view kPath = "Pod.spec.tolerations";
    return Array(v, kPath, [&](od::value& item) {
      scoring::Toleration t;
      bool ok = Object(item, kPath, [&](std::string_view key, od::value& value) {
        std::string_view text;
        if (key == "key") return String(value, t.key, kPath);
        if (key == "value") return String(value, t.value, kPath);
        if (key == "operator") {
          if (!String(value, text, kPath)) return false;
          t.op = text == "Exists" ? scoring::Toleration::Operator::kExists
                                  : scoring::Toleration::Operator::kEqual;
          return true;
        }
        if (key == "effect") {
          if (!String(value, text, kPath)) return false;
          if (!text.empty()) t.effect = scoring::ParseTaintEffect(text);
          return true;
        }
        return Skip(value, kPath);
      });
      if (ok) pod.tolerations.push_back(t);
      return ok;
    });
  }

  bool Affinity(od::value& v, scoring::Pod& pod) {
    constexpr std::string_view kPath = "Pod.spec.affinity.nodeAffinity";
    return Object(v, "Pod.spec.affinity", [&](std::string_view key, od::value& value) {
      if (key != "nodeAffinity") return Skip(value, "Pod.spec.affinity");
      return Object(value, kPath, [&](std::string_view key, od::value& value) {
        if (key != "requiredDuringSchedulingIgnoredDuringExecution")
          return Skip(value, "Pod.spec.affinity.nodeAffinity");
        return Object(value, kPath, [&](std::string_view key, od::value& value) {
          if (key != "nodeSelectorTerms") return Skip(value, "Pod.spec.affinity.nodeAffinity");
          return Array(value, kPath, [&](od::value& term) {
            std::vector<scoring::NodeSelectorRequirement> reqs;
            bool ok = Object(term, kPath, [&](std::string_view key, od::value& value) {
              if (key != "matchExpressions") return Skip(value, "Pod.spec.affinity.nodeAffinity");
              return Array(value, kPath, [&](od::value& expr) {
                scoring::NodeSelectorRequirement req;
                bool ok = Object(expr, kPath, [&](std::string_view key, od::value& value) {
                  if (key == "key") return String(value, req.key, kPath);
                  if (key == "operator") return String(value, req.op, kPath);
                  if (key == "values") {
                    return Array(value, kPath, [&](od::value& item) {
                      std::string_view s;
                      if (!String(item, s, kPath)) return false;
                      req.values.push_back(s);
                      return true;
                    });
                  }
                  return Skip(value, "Pod.spec.affinity.nodeAffinity");
                });
                if (ok) reqs.push_back(std::move(req));
                return ok;
              });
            });
            if (ok) pod.required_node_terms.push_back(std::move(reqs));
            return ok;
          });
        });
      });
    });
  }

  bool Taints(od::value& v, scoring::Node& node) {
    constexpr std::string_view kPath = "Nodes.items[].spec.taints";
    return Array(v, kPath, [&](od::value& item) {
      scoring::Taint t;
      bool ok = Object(item, kPath, [&](std::string_view key, od::value& value) {
        if (key == "key") return String(value, t.key, kPath);
        if (key == "value") return String(value, t.value, kPath);
        if (key == "effect") {
          std::string_view effect;
          if (!String(value, effect, kPath)) return false;
          t.effect = scoring::ParseTaintEffect(effect);
          return true;
        }
        return Skip(value, kPath);
      });
      if (ok) node.taints.push_back(t);
      return ok;
    });
  }

  bool NodeList(od::value& v, ExtenderArgs& out) {
    bool null = false;
    if (!IsNull(v, null, "Nodes")) return false;
    if (null) return true;
    out.has_nodes = true;
    return Object(v, "Nodes", [&](std::string_view key, od::value& value) {
      if (key != "items") return Skip(value, "Nodes");
      return Array(value, "Nodes.items", [&](od::value& item) {
        // Keep the item's exact bytes for a full-node reply: from its '{' to the token after its
        // '}' (the ',' or ']' the iterator stands on once the object is read), less whitespace.
        const char* begin = nullptr;
        if (auto e = item.current_location().get(begin)) return Fail(e, "Nodes.items[]");
        od::object obj;
        if (auto e = item.get_object().get(obj)) {
          return e == simdjson::INCORRECT_TYPE ? Fail("expected an object", "Nodes.items[]")
                                               : Fail(e, "Nodes.items[]");
        }
        if (out.nodes.size() >= kMaxNodesPerRequest) {
          return Fail("more than 100000 nodes", "Nodes.items");
        }
        scoring::Node& node = out.nodes.emplace_back();
        for (auto field : obj) {
          std::string_view key;
          if (auto e = field.unescaped_key().get(key)) return Fail(e, "Nodes.items[]");
          od::value value;
          if (auto e = field.value().get(value)) return Fail(e, "Nodes.items[]");
          if (!NodeField(key, value, node)) return false;
        }
        if (node.name.empty()) return Fail("node without metadata.name", "Nodes.items[]");
        const char* end = nullptr;
        if (auto e = doc_->current_location().get(end)) return Fail(e, "Nodes.items[]");
        std::string_view raw(begin, static_cast<std::size_t>(end - begin));
        while (!raw.empty() && IsJsonSpace(raw.back())) raw.remove_suffix(1);
        out.node_json.push_back(raw);
        return true;
      });
    });
  }

  bool NodeField(std::string_view key, od::value& value, scoring::Node& node) {
    if (key == "metadata") {
      return Object(value, "Nodes.items[].metadata", [&](std::string_view key, od::value& value) {
        if (key == "name") return String(value, node.name, "Nodes.items[].metadata.name");
        if (key == "labels") return StringMap(value, node.labels, "Nodes.items[].metadata.labels");
        return Skip(value, "Nodes.items[].metadata");
      });
    }
    if (key == "spec") {
      return Object(value, "Nodes.items[].spec", [&](std::string_view key, od::value& value) {
        if (key == "taints") return Taints(value, node);
        return Skip(value, "Nodes.items[].spec");
      });
    }
    if (key == "status") {
      return Object(value, "Nodes.items[].status", [&](std::string_view key, od::value& value) {
        if (key != "allocatable") return Skip(value, "Nodes.items[].status");
        if (!Resources(value, "Nodes.items[].status.allocatable", node.allocatable)) return false;
        auto pods = std::lower_bound(
            node.allocatable.begin(), node.allocatable.end(), std::string_view("pods"),
            [](const scoring::ResourceAmount& r, std::string_view name) { return r.name < name; });
        node.allocatable_pods =
            pods != node.allocatable.end() && pods->name == "pods" ? pods->amount : -1;
        return true;
      });
    }
    return Skip(value, "Nodes.items[]");
  }

  bool NodeNames(od::value& v, ExtenderArgs& out, std::string_view input,
                 std::span<const std::string_view> known) {
    bool null = false;
    if (!IsNull(v, null, "NodeNames")) return false;
    if (null) return true;
    out.has_node_names = true;
    const char* begin = v.raw_json_token().data();  // the '[' (a non-array fails below)
    const auto left = static_cast<std::size_t>(input.data() + input.size() - begin);
    od::array arr;
    if (auto e = v.get_array().get(arr)) return Fail(e, "NodeNames");
    for (std::size_t k = 0; k < known.size(); ++k) {
      if (known[k].size() < 2 || known[k].size() > left ||
          std::memcmp(begin, known[k].data(), known[k].size()) != 0) {
        continue;  // an array has two brackets at least
      }
      // The bytes of a list that decoded before: skip them (their names are the caller's).
      std::string_view raw;
      if (auto e = arr.raw_json().get(raw)) return Fail(e, "NodeNames");
      while (!raw.empty() && IsJsonSpace(raw.back())) raw.remove_suffix(1);
      if (raw.size() != known[k].size()) return Fail("unexpected end of the array", "NodeNames");
      out.node_names_json = raw;
      out.known_names = static_cast<int>(k);
      return true;
    }
    for (auto element : arr) {
      std::string_view name;
      od::value value;
      if (auto e = element.get(value)) return Fail(e, "NodeNames[]");
      // A name without escapes (every real one) is viewed in the body, not copied out.
      const std::string_view token = value.raw_json_token();
      if (!token.empty() && token.front() == '"' && !json::HasBackslash(token)) {
        od::raw_json_string raw;
        if (auto e = value.get_raw_json_string().get(raw)) return Fail(e, "NodeNames[]");
        name = std::string_view(token.data() + 1, token.find('"', 1) - 1);
      } else if (auto e = value.get_string().get(name)) {
        return Fail(e, "NodeNames[]");
      }
      if (out.node_names.size() >= kMaxNodesPerRequest) {
        return Fail("more than 100000 names", "NodeNames");
      }
      out.node_names.push_back(name);
    }
    const char* end = nullptr;
    if (auto e = doc_->current_location().get(end)) {
      // The array ended the input (no closing brace follows): the error is the object's.
      if (e != simdjson::OUT_OF_BOUNDS) return Fail(e, "NodeNames");
      end = input.data() + input.size();
    }
    std::string_view raw(begin, static_cast<std::size_t>(end - begin));
    while (!raw.empty() && IsJsonSpace(raw.back())) raw.remove_suffix(1);
    out.node_names_json = raw;
    return true;
  }

 private:
  std::string& error_;
  scoring::PodResourceSpec& pod_resources_;  // scratch for a pod's containers, reused
  od::document* doc_;  // for positions in the input (full-node items); may be null otherwise
};

}  // namespace

struct Decoder::Impl {
  Impl() {
    // Fix the depth limit now; later iterate() calls grow the capacity but keep the depth.
    // On failure iterate() allocates again and reports the error per request.
    [[maybe_unused]] simdjson::error_code e = parser.allocate(4096, kMaxDepth);
  }
  od::parser parser{/*max_capacity=*/simdjson::SIMDJSON_MAXSIZE_BYTES};
  std::string error;
  scoring::PodResourceSpec pod_resources;
};

Decoder::Decoder() : impl_(std::make_unique<Impl>()) {}
Decoder::~Decoder() = default;

std::size_t Decoder::footprint() const {
  // The string buffer and the structural indexes (4 bytes each) scale with the capacity.
  return impl_->parser.capacity() * 5;
}

void Decoder::Release() { impl_ = std::make_unique<Impl>(); }

Status Decoder::DecodeArgs(std::string_view body, ExtenderArgs& out,
                           std::span<const std::string_view> known_names) {
  out.pod = scoring::Pod();
  out.has_nodes = out.has_node_names = false;
  out.nodes.clear();
  out.node_json.clear();
  out.node_names.clear();
  out.node_names_json = {};
  out.known_names = -1;
  impl_->error.clear();
  od::document doc;
  Reader r(impl_->error, impl_->pod_resources, &doc);
  auto e = impl_->parser
               .iterate(simdjson::padded_string_view(body.data(), body.size(),
                                                     body.size() + kInputPadding))
               .get(doc);
  if (e) {
    r.Fail(e, "request");
    return InvalidArgument(impl_->error);
  }
  od::object obj;
  if (auto e = doc.get_object().get(obj)) {
    if (e == simdjson::INCORRECT_TYPE) {
      r.Fail("expected a JSON object", "request");
    } else {
      r.Fail(e, "request");
    }
    return InvalidArgument(impl_->error);
  }
  bool has_pod = false;
  for (auto field : obj) {
    std::string_view key;
    od::value value;
    if (auto e = field.unescaped_key().get(key)) {
      r.Fail(e, "request");
      break;
    }
    if (auto e = field.value().get(value)) {
      r.Fail(e, key);
      break;
    }
    bool ok = true;
    if (EqualsIgnoreCase(key, "Pod")) {
      bool null = false;
      ok = r.IsNull(value, null, "Pod");
      if (ok && !null) {
        out.pod = scoring::Pod();
        ok = r.Pod(value, out.pod);
        has_pod = true;
      }
    } else if (EqualsIgnoreCase(key, "Nodes")) {
      // A repeated key replaces the earlier value, null included (as Go decodes it).
      out.has_nodes = false;
      out.nodes.clear();
      out.node_json.clear();
      ok = r.NodeList(value, out);
    } else if (EqualsIgnoreCase(key, "NodeNames")) {
      out.has_node_names = false;
      out.node_names.clear();
      out.node_names_json = {};
      out.known_names = -1;
      ok = r.NodeNames(value, out, body, known_names);
    } else {
      ok = r.Skip(value, key);
    }
    if (!ok) break;
  }
  if (impl_->error.empty() && doc.current_location().error() != simdjson::OUT_OF_BOUNDS) {
    r.Fail(simdjson::TRAILING_CONTENT, "request");
  }
  if (!impl_->error.empty()) return InvalidArgument(impl_->error);
  if (!has_pod) return InvalidArgument("request: missing Pod");
  if (!out.has_nodes && !out.has_node_names) {
    return InvalidArgument("request: neither Nodes nor NodeNames given");
  }
  return Status::Ok();
}

Status Decoder::DecodeBinding(std::string_view body, BindingArgs& out) {
  out = BindingArgs();
  impl_->error.clear();
  Reader r(impl_->error, impl_->pod_resources);
  od::document doc;
  auto e = impl_->parser
               .iterate(simdjson::padded_string_view(body.data(), body.size(),
                                                     body.size() + kInputPadding))
               .get(doc);
  od::object obj;
  if (e || (e = doc.get_object().get(obj))) {
    r.Fail(e, "request");
    return InvalidArgument(impl_->error);
  }
  for (auto field : obj) {
    std::string_view key;
    od::value value;
    if (auto e = field.unescaped_key().get(key)) {
      r.Fail(e, "request");
      break;
    }
    if (auto e = field.value().get(value)) {
      r.Fail(e, key);
      break;
    }
    std::string_view* target = EqualsIgnoreCase(key, "PodName")        ? &out.pod_name
                               : EqualsIgnoreCase(key, "PodNamespace") ? &out.pod_namespace
                               : EqualsIgnoreCase(key, "PodUID")       ? &out.pod_uid
                               : EqualsIgnoreCase(key, "Node")         ? &out.node
                                                                       : nullptr;
    if (target == nullptr) {
      if (!r.Skip(value, key)) break;
      continue;
    }
    bool null = false;
    if (!r.IsNull(value, null, key)) break;
    if (!null && !r.String(value, *target, key)) break;
  }
  if (impl_->error.empty() && doc.current_location().error() != simdjson::OUT_OF_BOUNDS) {
    r.Fail(simdjson::TRAILING_CONTENT, "request");
  }
  if (!impl_->error.empty()) return InvalidArgument(impl_->error);
  if (out.pod_name.empty() || out.pod_namespace.empty() || out.node.empty()) {
    return InvalidArgument("request: PodName, PodNamespace and Node are required");
  }
  return Status::Ok();
}

namespace {

// Parses `json` as one object and hands each field to `field`; shared by the single-object
// decoders.
template <typename Field>
Status DecodeObject(od::parser& parser, std::string& error, scoring::PodResourceSpec& pod_resources,
                    std::string_view json, std::string_view what, Field&& field) {
  error.clear();
  Reader r(error, pod_resources);
  od::document doc;
  auto e = parser
               .iterate(simdjson::padded_string_view(json.data(), json.size(),
                                                     json.size() + kInputPadding))
               .get(doc);
  if (e) {
    r.Fail(e, what);
    return InvalidArgument(error);
  }
  bool ok = r.RootObject(
      doc, what, [&](std::string_view key, od::value& value) { return field(r, key, value); });
  if (ok && doc.current_location().error() != simdjson::OUT_OF_BOUNDS) {
    r.Fail(simdjson::TRAILING_CONTENT, what);
  }
  if (!error.empty()) return InvalidArgument(error);
  return Status::Ok();
}

}  // namespace

Status Decoder::DecodeNode(std::string_view json, scoring::Node& out) {
  out = scoring::Node();
  Status st = DecodeObject(impl_->parser, impl_->error, impl_->pod_resources, json, "Node",
                           [&](Reader& r, std::string_view key, od::value& value) {
                             return r.NodeField(key, value, out);
                           });
  if (st.ok() && out.name.empty()) return InvalidArgument("Node: missing metadata.name");
  return st;
}

Status Decoder::DecodePod(std::string_view json, scoring::Pod& out) {
  out = scoring::Pod();
  return DecodeObject(impl_->parser, impl_->error, impl_->pod_resources, json, "Pod",
                      [&](Reader& r, std::string_view key, od::value& value) {
                        return r.PodField(key, value, out);
                      });
}

std::string_view DecoderKernel() { return kKernel; }

void AppendJsonString(std::string& out, std::string_view s) { json::AppendJsonString(out, s); }

namespace {

// Appends `size` bytes (an upper bound) to `out` for `write` to fill; keeps what it wrote. One
// resize where thousands of small appends would check the capacity each time.
template <typename Write>
void AppendInPlace(std::string& out, std::size_t size, Write write) {
  const std::size_t at = out.size();
  out.resize(at + size);
  char* end = write(out.data() + at);
  out.resize(static_cast<std::size_t>(end - out.data()));
}

// A name's JSON string: sized and written as it is, with no check, when the caller knows it needs
// no escape (kPlain); otherwise escaped as needed.
template <bool kPlain>
std::size_t NameSize(std::string_view name) {
  if constexpr (kPlain) {
    return name.size() + 2;
  } else {
    return json::JsonStringSize(name);
  }
}

template <bool kPlain>
char* WriteName(char* p, std::string_view name) {
  if constexpr (kPlain) {
    *p++ = '"';
    std::memcpy(p, name.data(), name.size());
    p += name.size();
    *p++ = '"';
    return p;
  } else {
    return json::WriteJsonString(p, name);
  }
}

template <bool kPlain>
void AppendNameList(std::string& out, const std::vector<std::string_view>& names) {
  std::size_t size = 2;
  for (std::string_view name : names) size += NameSize<kPlain>(name) + 1;
  AppendInPlace(out, size, [&](char* p) {
    *p++ = '[';
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (i > 0) *p++ = ',';
      p = WriteName<kPlain>(p, names[i]);
    }
    *p++ = ']';
    return p;
  });
}

template <bool kPlain>
void AppendReasonMap(std::string& out,
                     const std::vector<std::pair<std::string_view, std::string_view>>& entries) {
  // Thousands of nodes share a few reasons, in runs: a reason the same as the entry before (the
  // same text object) is sized once and copied from where it was last written.
  auto same = [](std::string_view a, std::string_view b) {
    return a.data() == b.data() && a.size() == b.size();
  };
  std::size_t size = 2, reason_size = 0;
  std::string_view last;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& [name, reason] = entries[i];
    if (i == 0 || !same(reason, last)) reason_size = json::JsonStringSize(reason);
    last = reason;
    size += NameSize<kPlain>(name) + reason_size + 2;
  }
  AppendInPlace(out, size, [&](char* p) {
    *p++ = '{';
    const char* written = nullptr;  // the last reason's JSON, in `out`
    std::size_t written_size = 0;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const auto& [name, reason] = entries[i];
      if (i > 0) *p++ = ',';
      p = WriteName<kPlain>(p, name);
      *p++ = ':';
      if (i > 0 && same(reason, entries[i - 1].second)) {
        std::memcpy(p, written, written_size);
        p += written_size;
        continue;
      }
      written = p;
      p = json::WriteJsonString(p, reason);
      written_size = static_cast<std::size_t>(p - written);
    }
    *p++ = '}';
    return p;
  });
}

template <bool kPlain>
void AppendHostPriorities(const std::vector<std::string_view>& hosts,
                          const std::vector<std::int32_t>& scores, std::string& out) {
  constexpr std::string_view kHost = "{\"Host\":", kScore = ",\"Score\":";
  std::size_t size = 2;
  for (auto host : hosts) {
    size += kHost.size() + NameSize<kPlain>(host) + kScore.size() + 11 + 2;  // "}," + digits
  }
  AppendInPlace(out, size, [&](char* p) {
    *p++ = '[';
    for (std::size_t i = 0; i < hosts.size(); ++i) {
      if (i > 0) *p++ = ',';
      p = json::WriteBytes(p, kHost);
      p = WriteName<kPlain>(p, hosts[i]);
      p = json::WriteBytes(p, kScore);
      p = std::to_chars(p, p + 11, scores[i]).ptr;
      *p++ = '}';
    }
    *p++ = ']';
    return p;
  });
}

}  // namespace

void EncodeFilterResult(const FilterReply& reply, std::string& out) {
  out += "{\"Nodes\":";
  if (reply.nodes_json != nullptr) {
    std::size_t bytes = 0;
    for (auto raw : *reply.nodes_json) bytes += raw.size() + 1;
    out.reserve(out.size() + bytes + 64);
    out += "{\"metadata\":{},\"items\":[";
    for (std::size_t i = 0; i < reply.nodes_json->size(); ++i) {
      if (i > 0) out += ',';
      out += (*reply.nodes_json)[i];
    }
    out += "]}";
  } else {
    out += "null";
  }
  out += ",\"NodeNames\":";
  if (reply.names != nullptr) {
    (reply.plain_names ? AppendNameList<true> : AppendNameList<false>)(out, *reply.names);
  } else {
    out += "null";
  }
  auto reasons = reply.plain_names ? AppendReasonMap<true> : AppendReasonMap<false>;
  out += ",\"FailedNodes\":";
  reasons(out, reply.failed);
  out += ",\"FailedAndUnresolvableNodes\":";
  reasons(out, reply.unresolvable);
  out += ",\"Error\":\"\"}";
}

void EncodeFilterError(std::string_view error, std::string& out) {
  out +=
      "{\"Nodes\":null,\"NodeNames\":null,\"FailedNodes\":null,"
      "\"FailedAndUnresolvableNodes\":null,\"Error\":";
  AppendJsonString(out, error);
  out += '}';
}

void EncodeHostPriorities(const std::vector<std::string_view>& hosts,
                          const std::vector<std::int32_t>& scores, std::string& out,
                          bool plain_hosts) {
  (plain_hosts ? AppendHostPriorities<true> : AppendHostPriorities<false>)(hosts, scores, out);
}

void EncodeBindingResult(std::string_view error, std::string& out) {
  out += "{\"Error\":";
  AppendJsonString(out, error);
  out += '}';
}

}  // namespace hyperplace::extender
