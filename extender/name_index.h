// A read-only open-addressing hash index from names to dense indexes, for the snapshot's per-name
// lookups on the names-mode hot path (5000 lookups per request). Compared with
// std::unordered_map<std::string, …> it keeps slots in one array (no pointer chase per lookup)
// and compares a stored hash before touching the name's bytes.
//
// Build once; lookups are thread-safe afterwards. The index keeps its own copy of the names, packed
// in one buffer: comparing against scattered node objects costs a cache miss per lookup.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hyperplace::extender {

class NameIndex {
 public:
  // Indexes names[i] as i. Duplicate names keep the first index.
  void Build(std::vector<std::string_view> names);
  // The index of `name`, or -1.
  std::int32_t Find(std::string_view name) const;
  // Find() for many names at once (out[i] for names[i]): hashes run ahead of the probes and
  // prefetch their slots, so the cache misses of a 5000-name request overlap.
  void FindMany(const std::vector<std::string_view>& names, std::vector<std::int32_t>& out) const;

  static std::uint64_t Hash(std::string_view s);

 private:
  std::int32_t Probe(std::string_view name, std::uint64_t hash) const;

  // The name's bytes are found from the slot itself (offset and length into bytes_), so a probe
  // touches the slot array and the name, nothing in between.
  struct Slot {
    std::uint32_t hash = 0;    // high bits of the 64-bit hash
    std::int32_t index = -1;   // -1: empty
    std::uint32_t offset = 0;  // into bytes_
    std::uint32_t size = 0;
  };
  std::vector<Slot> slots_;
  std::string bytes_;  // every name, back to back
  std::uint64_t mask_ = 0;
};

}  // namespace hyperplace::extender
