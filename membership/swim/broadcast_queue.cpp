#include "membership/swim/broadcast_queue.h"

#include "core/assert.h"

namespace chorus::swim {

BroadcastQueue::BroadcastQueue(size_t max_entries) : max_entries_(max_entries) {
  CHORUS_ASSERT(max_entries_ >= 1);
}

void BroadcastQueue::push(Update u) {
  auto existing = key_of_.find(u.member.id);
  if (existing != key_of_.end()) {
    items_.erase(existing->second);
    key_of_.erase(existing);
  }
  if (items_.size() >= max_entries_) {
    // The last key is the most transmitted (then oldest) update: it has done the most of its work.
    auto victim = std::prev(items_.end());
    key_of_.erase(victim->second.update.member.id);
    items_.erase(victim);
    ++evicted_;
  }
  const Key key{0, next_order_--};
  const size_t bytes = encoded_size(u);
  key_of_[u.member.id] = key;
  items_.emplace(key, Item{std::move(u), bytes});
}

std::vector<Update> BroadcastQueue::take(size_t budget_bytes, size_t max_count,
                                         int transmit_limit) {
  CHORUS_ASSERT(transmit_limit >= 1);
  std::vector<Update> picked;
  std::vector<Key> sent;
  for (auto it = items_.begin(); it != items_.end() && picked.size() < max_count; ++it) {
    if (budget_bytes < kMinUpdateBytes) break;
    if (it->second.encoded_bytes > budget_bytes) continue;
    budget_bytes -= it->second.encoded_bytes;
    picked.push_back(it->second.update);
    sent.push_back(it->first);
  }
  // Re-key after the scan so the iteration above never sees an item twice.
  for (const Key& key : sent) {
    auto node = items_.extract(key);
    const int transmits = key.first + 1;
    if (transmits >= transmit_limit) {
      key_of_.erase(node.mapped().update.member.id);
      continue;
    }
    node.key() = Key{transmits, key.second};
    key_of_[node.mapped().update.member.id] = node.key();
    items_.insert(std::move(node));
  }
  return picked;
}

const Update* BroadcastQueue::find(const std::string& id) const {
  auto it = key_of_.find(id);
  return it == key_of_.end() ? nullptr : &items_.at(it->second).update;
}

}  // namespace chorus::swim
