#include "extender/group_memo.h"

namespace hyperplace::extender {

void GroupMemo::Remember(std::string_view uid, std::string_view group, OwnedRequests requests) {
  if (uid.empty()) return;
  std::lock_guard lock(mu_);
  auto [it, inserted] = groups_.try_emplace(std::string(uid));
  it->second.group.assign(group);
  it->second.requests = std::move(requests);
  if (!inserted) return;
  order_.emplace_back(uid);
  while (order_.size() > capacity_) {
    groups_.erase(order_.front());
    order_.pop_front();
  }
}

std::optional<std::string> GroupMemo::Find(std::string_view uid) const {
  std::lock_guard lock(mu_);
  auto it = groups_.find(std::string(uid));
  if (it == groups_.end()) return std::nullopt;
  return it->second.group;
}

std::optional<GroupMemo::Entry> GroupMemo::Recall(std::string_view uid) const {
  std::lock_guard lock(mu_);
  auto it = groups_.find(std::string(uid));
  if (it == groups_.end()) return std::nullopt;
  return it->second;
}

}  // namespace hyperplace::extender
