// Names-mode candidate lists that repeat, each decoded and resolved once per node table.
//
// kube-scheduler sends /filter the same candidates in the same order, pod after pod, until a
// node's fit changes (with percentageOfNodesToScore 100 every cycle starts at the same node), and
// /prioritize the survivors of /filter, a second list that repeats as well. Each request carries
// the whole list, thousands of names: decoding them and looking each up in the node table was a
// third of a 5000-node request. A list held here is recognised by its bytes (DecodeArgs'
// known_names) and answered from its names and slots, resolved again only when the node table
// changes (a node added, removed or changed in what the rules read; heartbeats are not changes).
//
// Thread-safe: held lists are immutable and shared; the lock covers only swapping them.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "extender/codec.h"
#include "extender/state.h"

namespace hyperplace::extender {

class NamesMemo {
 public:
  struct List {
    std::string json;                     // the NodeNames array as it came, '[' to ']'
    std::string bytes;                    // the names with escapes, decoded, back to back
    std::vector<std::string_view> names;  // into json (or bytes), in request order
    // No name needs a JSON escape (every real one): replies write each with one copy, unchecked
    // (FilterReply::plain_names).
    bool plain = true;
    std::uint64_t table_id = 0;       // the node table `slots` were resolved in
    std::vector<std::int32_t> slots;  // Snapshot::ResolveNames(names)
  };
  // Lists held at once: /filter's, and /prioritize's for pods of a few shapes.
  static constexpr std::size_t kLists = 8;
  // A list larger than this (JSON and names) is used once and not held: the memo stays within
  // kLists × kMaxListBytes whatever callers send. 5000 HyperPod names count 0.4 MB.
  static constexpr std::size_t kMaxListBytes = 2 << 20;

  // What one request may recognise: the lists held when it began, and their JSON for
  // Decoder::DecodeArgs.
  struct Held {
    std::array<std::shared_ptr<const List>, kLists> lists;
    std::array<std::string_view, kLists> json;
    std::size_t count = 0;
    std::span<const std::string_view> known() const { return {json.data(), count}; }
  };
  Held Lists() const;

  // The list of a names-mode request decoded with `held.known()`, resolved in `snapshot`'s node
  // table: the held list it repeats, or a new one made from args.node_names (and held, unless too
  // large). Never null. `recognised`, when given, tells whether the list was held and current.
  std::shared_ptr<const List> Resolve(const Held& held, const ExtenderArgs& args,
                                      const Snapshot& snapshot, bool* recognised = nullptr);

  // Lists recognised, and lists decoded and resolved anew, since start (for tests and metrics).
  std::uint64_t hits() const;
  std::uint64_t misses() const;

 private:
  // Holds `list` in place of the same list resolved in an older table, or of the least recently
  // used; not when the same list is held resolved in its table or a newer one.
  void Hold(const std::shared_ptr<const List>& list);
  void Touch(const List* list);  // a hit: marks it most recently used

  mutable std::mutex mu_;
  std::array<std::shared_ptr<const List>, kLists> lists_;
  std::array<std::uint64_t, kLists> used_{};  // last use, by tick
  std::uint64_t tick_ = 0;
  std::uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace hyperplace::extender
