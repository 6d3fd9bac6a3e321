#include "net/backoff.h"

#include <algorithm>

namespace chorus {

uint64_t reconnect_delay_ms(uint64_t min_ms, uint64_t max_ms, uint32_t failures, uint64_t random) {
  max_ms = std::max(min_ms, max_ms);
  // Shift at most 32 so the ceiling cannot overflow for any sane min_ms; the cap applies anyway.
  const uint32_t shift = std::min<uint32_t>(failures == 0 ? 0 : failures - 1, 32);
  uint64_t ceiling = max_ms;
  if (min_ms <= (max_ms >> shift)) ceiling = min_ms << shift;
  const uint64_t half = ceiling / 2;
  const uint64_t delay = half + random % (ceiling - half + 1);
  return std::max(delay, min_ms);
}

}  // namespace chorus
