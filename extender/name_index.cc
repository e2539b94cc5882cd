#include "extender/name_index.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace hyperplace::extender {

namespace {

// Node names are short ASCII sharing long prefixes ("hyperpod-i-0a…"): fold them 8 bytes at a time
// (CRC32C where the CPU has it, one instruction per word), then avalanche (splitmix64).
inline std::uint64_t Fold(std::uint64_t h, std::uint64_t w) {
#if defined(__SSE4_2__)
  return __builtin_ia32_crc32di(h, w) ^ (w * 0x9e3779b97f4a7c15ull);
#else
  h = (h ^ w) * 0x100000001b3ull;
  return h ^ (h >> 29);
#endif
}

// Equality for short names without a library call.
inline bool SameBytes(const char* a, const char* b, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t x, y;
    std::memcpy(&x, a + i, 8);
    std::memcpy(&y, b + i, 8);
    if (x != y) return false;
  }
  for (; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

}  // namespace

std::uint64_t NameIndex::Hash(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ull ^ s.size();
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = Fold(h, w);
  }
  std::uint64_t tail = 0;
  std::memcpy(&tail, s.data() + i, s.size() - i);
  h = Fold(h, tail);
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

void NameIndex::Build(std::vector<std::string_view> names) {
  std::size_t total = 0;
  for (auto n : names) total += n.size();
  bytes_.clear();
  bytes_.reserve(total);
  for (auto n : names) bytes_.append(n);
  // Load factor at most 1/2: short probe sequences even for unlucky names.
  const std::size_t size = std::bit_ceil(std::max<std::size_t>(16, names.size() * 2));
  slots_.assign(size, Slot{});
  mask_ = size - 1;
  std::uint32_t offset = 0;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string_view name = names[i];
    const std::uint64_t h = Hash(name);
    const auto tag = static_cast<std::uint32_t>(h >> 32);
    for (std::uint64_t at = h & mask_;; at = (at + 1) & mask_) {
      Slot& slot = slots_[at];
      if (slot.index < 0) {
        slot = {tag, static_cast<std::int32_t>(i), offset, static_cast<std::uint32_t>(name.size())};
        break;
      }
      if (slot.hash == tag && slot.size == name.size() &&
          SameBytes(bytes_.data() + slot.offset, name.data(), name.size())) {
        break;  // duplicate: keep the first
      }
    }
    offset += static_cast<std::uint32_t>(name.size());
  }
}

std::int32_t NameIndex::Find(std::string_view name) const {
  if (slots_.empty()) return -1;
  return Probe(name, Hash(name));
}

void NameIndex::FindMany(const std::vector<std::string_view>& names,
                         std::vector<std::int32_t>& out) const {
  out.resize(names.size());
  if (slots_.empty()) {
    std::fill(out.begin(), out.end(), -1);
    return;
  }
  // A ring of the last kAhead hashes: names[i]'s hash goes into the slot names[i - kAhead] used,
  // so that one is probed first. (Storing first overwrote every hash before its probe: all but
  // the last kAhead names were looked up with another name's hash.)
  constexpr std::size_t kAhead = 16;
  std::uint64_t hashes[kAhead];
  const std::size_t n = names.size();
  for (std::size_t i = 0; i < n + kAhead; ++i) {
    if (i >= kAhead) {
      const std::size_t j = i - kAhead;
      out[j] = Probe(names[j], hashes[j % kAhead]);
    }
    if (i < n) {
      const std::uint64_t h = Hash(names[i]);
      hashes[i % kAhead] = h;
      __builtin_prefetch(&slots_[h & mask_]);
    }
  }
}

std::int32_t NameIndex::Probe(std::string_view name, std::uint64_t h) const {
  const auto tag = static_cast<std::uint32_t>(h >> 32);
  for (std::uint64_t at = h & mask_;; at = (at + 1) & mask_) {
    const Slot& slot = slots_[at];
    if (slot.index < 0) return -1;
    if (slot.hash == tag && slot.size == name.size() &&
        SameBytes(bytes_.data() + slot.offset, name.data(), name.size())) {
      return slot.index;
    }
  }
}

}  // namespace hyperplace::extender
