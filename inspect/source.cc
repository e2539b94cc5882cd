#include "inspect/source.h"

#include <simdjson.h>

#include <string>

#include "extender/codec.h"
#include "kube/informer.h"

namespace hyperplace::inspect {
namespace {

namespace od = simdjson::ondemand;

enum class Kind { kUnknown, kNode, kPod, kOther };

Kind KindOf(std::string_view kind) {
  if (kind == "Node" || kind == "NodeList") return Kind::kNode;
  if (kind == "Pod" || kind == "PodList") return Kind::kPod;
  if (kind.empty() || kind == "List") return Kind::kUnknown;
  return Kind::kOther;
}

std::string Padded(std::string_view s) {
  std::string out(s);
  out.append(extender::kInputPadding, '\0');
  return out;
}

// The object's "kind" and, for a pod, the message of its PodScheduled=False condition. `json`
// must be followed by padding.
struct Envelope {
  std::string kind;
  std::string unscheduled_message;
};

Status ReadEnvelope(std::string_view json, Envelope& out) {
  thread_local od::parser parser;
  od::document doc;
  od::object obj;
  if (auto e = parser.iterate(json.data(), json.size(), json.size() + simdjson::SIMDJSON_PADDING)
                   .get(doc);
      e || (e = doc.get_object().get(obj))) {
    return InvalidArgument(std::string("object: ") + simdjson::error_message(e));
  }
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return InvalidArgument("object: bad key");
    if (key == "kind") {
      std::string_view kind;
      if (field.value().get_string().get(kind)) return InvalidArgument("kind: not a string");
      out.kind = std::string(kind);
    } else if (key == "status") {
      od::object status;
      if (field.value().get_object().get(status)) continue;
      od::array conditions;
      if (status.find_field_unordered("conditions").get_array().get(conditions)) continue;
      for (auto c : conditions) {
        od::object cond;
        if (c.get_object().get(cond)) continue;
        std::string_view type, value, message;
        for (auto f : cond) {
          std::string_view k, v;
          if (f.unescaped_key().get(k) || f.value().get_string().get(v)) continue;
          if (k == "type") type = v;
          if (k == "status") value = v;
          if (k == "message") message = v;
        }
        if (type == "PodScheduled" && value == "False") out.unscheduled_message = message;
      }
    }
  }
  return Status::Ok();
}

Status AddObject(std::string_view raw, Kind list_kind, ClusterInput& out) {
  thread_local extender::Decoder decoder;
  std::string buffer = Padded(raw);
  std::string_view json(buffer.data(), raw.size());
  Envelope envelope;
  if (Status st = ReadEnvelope(json, envelope); !st.ok()) return st;
  Kind kind = envelope.kind.empty() ? list_kind : KindOf(envelope.kind);
  if (kind == Kind::kNode) {
    scoring::Node node;
    if (Status st = decoder.DecodeNode(json, node); !st.ok()) return st;
    out.nodes.push_back(scoring::OwnedCopy(node));
  } else if (kind == Kind::kPod) {
    scoring::Pod pod;
    if (Status st = decoder.DecodePod(json, pod); !st.ok()) return st;
    PodInput p{scoring::OwnedCopy(pod), {}};
    if (p.pod.node_name.empty()) p.pending_reason = std::move(envelope.unscheduled_message);
    out.pods.push_back(std::move(p));
  }
  return Status::Ok();
}

Status AddPage(std::string_view json, Kind kind, ClusterInput& out,
               std::string* continue_token = nullptr) {
  std::string buffer = Padded(json);
  kube::Informer::Page page;
  if (Status st = kube::Informer::ParsePage(std::string_view(buffer.data(), json.size()), page);
      !st.ok()) {
    return st;
  }
  for (std::size_t i = 0; i < page.items.size(); ++i) {
    if (Status st = AddObject(page.items[i], kind, out); !st.ok()) {
      return InvalidArgument("items[" + std::to_string(i) + "]: " + st.message());
    }
  }
  if (continue_token != nullptr) *continue_token = page.continue_token;
  return Status::Ok();
}

Status ListAll(kube::Client& client, const std::string& path, const std::string& query,
               int page_size, Kind kind, ClusterInput& out) {
  std::string token;
  do {
    std::string url = path + "?limit=" + std::to_string(page_size) + query;
    if (!token.empty()) url += "&continue=" + kube::QueryEscape(token);
    StatusOr<kube::Response> r = client.Request("GET", url);
    if (!r.ok()) return r.status();
    if (r->status != 200) {
      return Unavailable("GET " + path + ": HTTP " + std::to_string(r->status) + ": " +
                         r->body.substr(0, 200));
    }
    if (Status st = AddPage(r->body, kind, out, &token); !st.ok()) {
      return InvalidArgument(path + ": " + st.message());
    }
  } while (!token.empty());
  return Status::Ok();
}

}  // namespace

Status AddList(std::string_view json, ClusterInput& out) {
  std::string buffer = Padded(json);
  Envelope envelope;
  if (Status st = ReadEnvelope(std::string_view(buffer.data(), json.size()), envelope); !st.ok()) {
    return st;
  }
  Kind kind = KindOf(envelope.kind);
  if (envelope.kind == "Node" || envelope.kind == "Pod") return AddObject(json, kind, out);
  if (kind == Kind::kOther) return InvalidArgument("not a list of Nodes or Pods: " + envelope.kind);
  return AddPage(json, kind, out);
}

Status ListCluster(kube::Client& client, int page_size, ClusterInput& out) {
  if (Status st = ListAll(client, "/api/v1/nodes", "", page_size, Kind::kNode, out); !st.ok()) {
    return st;
  }
  return ListAll(
      client, "/api/v1/pods",
      "&fieldSelector=" + kube::QueryEscape("status.phase!=Succeeded,status.phase!=Failed"),
      page_size, Kind::kPod, out);
}

}  // namespace hyperplace::inspect
