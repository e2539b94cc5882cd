#include "extender/names_memo.h"

#include <algorithm>
#include <functional>

#include "common/json.h"

namespace hyperplace::extender {

namespace {

// A list that owns its names, resolved in `snapshot`. Names the decoder viewed in the array's
// JSON (no escapes: all real ones) are viewed in the list's copy of it; the others are copied.
std::shared_ptr<const NamesMemo::List> MakeList(std::string_view json,
                                                const std::vector<std::string_view>& names,
                                                const Snapshot& snapshot) {
  auto list = std::make_shared<NamesMemo::List>();
  list->json.assign(json);
  auto in_json = [&](std::string_view name) {
    return std::less_equal<>()(json.data(), name.data()) &&
           std::less_equal<>()(name.data() + name.size(), json.data() + json.size());
  };
  std::size_t copied = 0;
  for (std::string_view name : names) copied += in_json(name) ? 0 : name.size();
  list->bytes.reserve(copied);
  list->names.reserve(names.size());
  for (std::string_view name : names) {
    list->plain = list->plain && !json::NeedsEscape(name);
    if (in_json(name)) {
      list->names.emplace_back(list->json.data() + (name.data() - json.data()), name.size());
    } else {
      list->names.emplace_back(list->bytes.data() + list->bytes.size(), name.size());
      list->bytes.append(name);
    }
  }
  list->table_id = snapshot.table_id();
  snapshot.ResolveNames(list->names, list->slots);
  return list;
}

std::size_t Footprint(std::string_view json, const std::vector<std::string_view>& names) {
  std::size_t bytes = json.size();
  for (std::string_view name : names) bytes += name.size() + sizeof name + sizeof(std::int32_t);
  return bytes;
}

}  // namespace

NamesMemo::Held NamesMemo::Lists() const {
  Held held;
  std::lock_guard lock(mu_);
  for (const auto& list : lists_) {
    if (!list) continue;
    held.json[held.count] = list->json;
    held.lists[held.count++] = list;
  }
  return held;
}

std::shared_ptr<const NamesMemo::List> NamesMemo::Resolve(const Held& held,
                                                          const ExtenderArgs& args,
                                                          const Snapshot& snapshot,
                                                          bool* recognised) {
  if (recognised != nullptr) *recognised = false;
  if (args.known_names >= 0 && static_cast<std::size_t>(args.known_names) < held.count) {
    const std::shared_ptr<const List>& known = held.lists[args.known_names];
    if (known->table_id == snapshot.table_id()) {
      Touch(known.get());
      if (recognised != nullptr) *recognised = true;
      return known;
    }
    // The node table changed since: same names, resolved again.
    auto list = MakeList(known->json, known->names, snapshot);
    Hold(list);
    return list;
  }
  auto list = MakeList(args.node_names_json, args.node_names, snapshot);
  if (list->json.size() >= 2 && Footprint(args.node_names_json, args.node_names) <= kMaxListBytes) {
    Hold(list);
  } else {
    std::lock_guard lock(mu_);
    ++misses_;
  }
  return list;
}

void NamesMemo::Hold(const std::shared_ptr<const List>& list) {
  std::lock_guard lock(mu_);
  ++misses_;
  // One entry per list, resolved in the newest table any request has seen (table ids grow): the
  // decoder recognises the first that matches, which must not be a stale one.
  std::size_t at = kLists;
  for (std::size_t i = 0; i < kLists; ++i) {
    if (!lists_[i]) continue;
    if (lists_[i]->json == list->json) {
      if (lists_[i]->table_id >= list->table_id) return;  // as new already (another request's)
      at = i;
    }
  }
  if (at == kLists) {
    at = 0;
    for (std::size_t i = 0; i < kLists; ++i) {
      if (!lists_[i]) {
        at = i;
        break;
      }
      if (used_[i] < used_[at]) at = i;
    }
  }
  lists_[at] = list;
  used_[at] = ++tick_;
}

void NamesMemo::Touch(const List* list) {
  std::lock_guard lock(mu_);
  ++hits_;
  for (std::size_t i = 0; i < kLists; ++i) {
    if (lists_[i].get() == list) used_[i] = ++tick_;
  }
}

std::uint64_t NamesMemo::hits() const {
  std::lock_guard lock(mu_);
  return hits_;
}

std::uint64_t NamesMemo::misses() const {
  std::lock_guard lock(mu_);
  return misses_;
}

}  // namespace hyperplace::extender
