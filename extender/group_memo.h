// Remembers the group and the effective requests of pods recently seen in /filter, by uid, so
// that /bind — whose request carries only the pod's name, namespace and uid — can record the
// placement under the right group, taking the right resources, at once. Bounded: the oldest
// entries are forgotten first. Thread-safe.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "extender/state.h"

namespace hyperplace::extender {

class GroupMemo {
 public:
  explicit GroupMemo(std::size_t capacity = 65536) : capacity_(capacity) {}

  struct Entry {
    std::string group;  // "" for a pod without a group
    OwnedRequests requests;
  };

  void Remember(std::string_view uid, std::string_view group, OwnedRequests requests = {});
  // The group of `uid`, or nullopt when not remembered.
  std::optional<std::string> Find(std::string_view uid) const;
  std::optional<Entry> Recall(std::string_view uid) const;

 private:
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> groups_;
  std::deque<std::string> order_;  // insertion order, for eviction
};

}  // namespace hyperplace::extender
