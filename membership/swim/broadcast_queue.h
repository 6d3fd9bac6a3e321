// BroadcastQueue: member updates waiting to be piggybacked on outgoing datagrams (SWIM §4.1's
// infection-style dissemination, memberlist's TransmitLimitedQueue).
//
// Each update is sent a limited number of times (transmit_limit, which the caller derives from the
// cluster size: retransmit_mult * ceil(log10(n + 1))) and then dropped. take() hands out the
// updates sent the fewest times first and, among equals, the most recently queued first, so fresh
// news overtakes old news. The queue holds at most one update per member: a newer claim about a
// member replaces the queued one (the member table only queues claims that won, so the newer one
// supersedes). The queue is bounded by max_entries; when full, the update sent the most times (the
// oldest among equals) is evicted, and counted in evicted().
//
// Thread-safety: none; owned by one Swim. Owns copies of its updates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "membership/swim/limits.h"
#include "membership/swim/messages.h"

namespace chorus::swim {

class BroadcastQueue {
 public:
  explicit BroadcastQueue(size_t max_entries = kMaxBroadcastQueue);

  // Queues `u` with zero transmissions, replacing any queued update about the same member id.
  void push(Update u);
  // Picks updates whose encoded sizes add up to at most budget_bytes (at most max_count of them),
  // in the order described above, skipping any that does not fit. Counts one transmission for
  // each picked update and drops those that reached transmit_limit (>= 1).
  std::vector<Update> take(size_t budget_bytes, size_t max_count, int transmit_limit);

  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  uint64_t evicted() const { return evicted_; }
  // The queued update about `id`, or nullptr; for tests and diagnostics.
  const Update* find(const std::string& id) const;

 private:
  // Sort key: fewest transmissions first, then newest first (sequence numbers count down).
  using Key = std::pair<int, uint64_t>;
  struct Item {
    Update update;
    size_t encoded_bytes = 0;
  };

  size_t max_entries_;
  uint64_t next_order_ = UINT64_MAX;
  uint64_t evicted_ = 0;
  std::map<Key, Item> items_;
  std::unordered_map<std::string, Key> key_of_;  // member id -> its item's key
};

}  // namespace chorus::swim
