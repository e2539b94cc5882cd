// The kube-scheduler extender wire format (k8s.io/kube-scheduler/extender/v1), decoded with
// simdjson On-Demand and encoded by hand.
//
// The v1 types carry no JSON tags: keys are Go field names ("Pod", "NodeNames"). Go matches keys
// case-insensitively on decode, and old schedulers sent lower-case keys, so top-level keys are
// read case-insensitively; replies always use PascalCase. The embedded Pod and Node objects are
// ordinary Kubernetes JSON (camelCase, matched exactly).
//
// Decoding is pure and allocation-light: the decoded model holds views into the request body and
// into the decoder's string buffer, both alive until the next Decode* call on the same Decoder.
// A Decoder is not thread-safe; keep one per worker thread and reuse it (its buffers grow to the
// largest request seen instead of being allocated per request).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "scoring/model.h"

namespace hyperplace::extender {

// Readable bytes the decoder needs after the end of the input (simdjson's SIMDJSON_PADDING).
inline constexpr std::size_t kInputPadding = 64;
// Nesting deeper than this is refused (real Pod and Node objects stay far below it).
inline constexpr std::size_t kMaxDepth = 64;
// Nodes (items or names) in one request. Kubernetes is tested up to 5000 nodes and the largest
// clusters run a few tens of thousands; more is hostile, and would cost hundreds of MB of
// per-node scratch before any rule ran.
inline constexpr std::size_t kMaxNodesPerRequest = 100000;
// Distinct resources in one list (a node's allocatable, a container's requests, a pod's effective
// requests). Real objects name about ten; the rules keep one column per requested resource for
// every candidate node, so the bound also bounds that scratch.
inline constexpr std::size_t kMaxResourcesPerList = 1024;

// ExtenderArgs: the body of /filter and /prioritize.
struct ExtenderArgs {
  scoring::Pod pod;
  bool has_nodes = false;                   // "Nodes" was a NodeList (not null or absent)
  std::vector<scoring::Node> nodes;         // its items
  std::vector<std::string_view> node_json;  // the raw JSON of each item, to echo in a reply
  bool has_node_names = false;              // "NodeNames" was an array
  std::vector<std::string_view> node_names;
  // The NodeNames array as it came, '[' to ']', to recognise the same list in a later request.
  std::string_view node_names_json;
  // With known lists given to DecodeArgs: the index of the one NodeNames repeats byte for byte,
  // whose names the caller already has (node_names is left empty); -1 otherwise.
  int known_names = -1;
};

// ExtenderBindingArgs: the body of /bind.
struct BindingArgs {
  std::string_view pod_name;
  std::string_view pod_namespace;
  std::string_view pod_uid;
  std::string_view node;
};

class Decoder {
 public:
  Decoder();
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // `body` must be followed in memory by kInputPadding readable bytes. On error the status names
  // what was wrong and where ("Pod.metadata.labels: expected an object").
  //
  // `known_names` are NodeNames arrays of earlier requests (their node_names_json, which the
  // caller keeps): one this request repeats byte for byte is skipped, not decoded again, since
  // the same bytes make the same list. kube-scheduler sends the same candidates in the same order
  // until a node's fit changes.
  Status DecodeArgs(std::string_view body, ExtenderArgs& out,
                    std::span<const std::string_view> known_names = {});
  Status DecodeBinding(std::string_view body, BindingArgs& out);
  // A single Node or Pod object as the API server serializes it (list items, watch events).
  Status DecodeNode(std::string_view json, scoring::Node& out);
  Status DecodePod(std::string_view json, scoring::Pod& out);

  // Approximate bytes the parser holds for the largest document it has seen.
  std::size_t footprint() const;
  // Gives the parser's memory back; the next document allocates again.
  void Release();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The simdjson kernel the decoder was compiled for ("haswell", "icelake", "fallback", ...).
std::string_view DecoderKernel();

// Appends s as a JSON string literal (with quotes), escaping as RFC 8259 requires.
void AppendJsonString(std::string& out, std::string_view s);

// A filter verdict for the reply: the nodes that fit, and reasons for the others.
struct FilterReply {
  // Survivors as names (nodeCacheCapable) and/or as the raw JSON of the request's node objects.
  const std::vector<std::string_view>* names = nullptr;
  const std::vector<std::string_view>* nodes_json = nullptr;
  // name → reason (preemption may help / cannot help).
  std::vector<std::pair<std::string_view, std::string_view>> failed;
  std::vector<std::pair<std::string_view, std::string_view>> unresolvable;
  // True only when no name above (in `names`, `failed` or `unresolvable`) needs a JSON escape, as
  // checked once per list (NamesMemo::List::plain): each is then written with one copy, where
  // a reply of 5,000 names otherwise checks every name twice (its size, then its bytes).
  bool plain_names = false;
};

// ExtenderFilterResult. A null `names`/`nodes_json` is written as null.
void EncodeFilterResult(const FilterReply& reply, std::string& out);
// ExtenderFilterResult carrying only an error (every node list null).
void EncodeFilterError(std::string_view error, std::string& out);
// HostPriorityList: [{"Host":..,"Score":..},..]. `plain_hosts` as FilterReply::plain_names.
void EncodeHostPriorities(const std::vector<std::string_view>& hosts,
                          const std::vector<std::int32_t>& scores, std::string& out,
                          bool plain_hosts = false);
// ExtenderBindingResult.
void EncodeBindingResult(std::string_view error, std::string& out);

}  // namespace hyperplace::extender
