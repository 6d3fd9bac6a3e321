#include "core/hlc.h"

#include <algorithm>

namespace chorus {

Timestamp HlcClock::now() {
  const uint64_t wall = Timestamp::from_parts(clock_->wall_ms(), 0).packed;
  uint64_t last = last_.load(std::memory_order_acquire);
  for (;;) {
    // When the wall clock is ahead, take it with logical 0; otherwise bump the logical counter.
    // A logical overflow carries into the physical part, which keeps the order strict.
    const uint64_t next = std::max(last + 1, wall);
    if (last_.compare_exchange_weak(last, next, std::memory_order_acq_rel)) return Timestamp{next};
  }
}

Status HlcClock::observe(Timestamp remote) {
  const uint64_t wall_ms = clock_->wall_ms();
  if (remote.physical_ms() > wall_ms + max_forward_drift_ms_) {
    return Status::InvalidArgument("peer timestamp " + std::to_string(remote.physical_ms()) +
                                   "ms is more than " + std::to_string(max_forward_drift_ms_) +
                                   "ms ahead of local wall clock " + std::to_string(wall_ms));
  }
  uint64_t last = last_.load(std::memory_order_acquire);
  while (remote.packed > last &&
         !last_.compare_exchange_weak(last, remote.packed, std::memory_order_acq_rel)) {
  }
  return Status::OK();
}

}  // namespace chorus
