// RateLimiter: the one pacer of background work (hint delivery, partition streaming, anti-entropy
// traffic), so that each bounds its share of the disks and the network the same way.
//
// A token bucket over explicit time: it refills at `rate_per_s` units a second up to `burst`
// units. Work spends what it used after the fact, and may overdraw (a page of records is as big
// as it is); the debt is then paid off before the next work may start. So a limiter with no burst
// is a pacer: spending n units makes the next start wait n / rate seconds, less the time the work
// itself took.
//
// Pure (time is an argument) and not thread-safe: each owner uses it from its own strand.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/assert.h"

namespace chorus {

class RateLimiter {
 public:
  // Starts full (`burst` units available). rate_per_s >= 1.
  RateLimiter(uint64_t rate_per_s, uint64_t burst, uint64_t now_ms)
      : rate_per_s_(static_cast<double>(std::max<uint64_t>(1, rate_per_s))),
        burst_(static_cast<double>(burst)),
        tokens_(static_cast<double>(burst)),
        refilled_ms_(now_ms) {}

  // Whole units that may be spent now without overdrawing; 0 while in debt.
  uint64_t available(uint64_t now_ms) {
    refill(now_ms);
    return tokens_ <= 0 ? 0 : static_cast<uint64_t>(tokens_);
  }
  // Milliseconds until at least `units` are available (0 if they are now).
  uint64_t wait_ms(uint64_t now_ms, uint64_t units = 0) {
    refill(now_ms);
    const double missing = static_cast<double>(units) - tokens_;
    if (missing <= 0) return 0;
    return static_cast<uint64_t>(missing * 1000.0 / rate_per_s_ + 0.999);
  }
  // Records `units` used; the balance may go negative (debt).
  void spend(uint64_t units, uint64_t now_ms) {
    refill(now_ms);
    tokens_ -= static_cast<double>(units);
  }

 private:
  void refill(uint64_t now_ms) {
    if (now_ms > refilled_ms_) {
      tokens_ = std::min(
          burst_, tokens_ + rate_per_s_ * static_cast<double>(now_ms - refilled_ms_) / 1000.0);
      refilled_ms_ = now_ms;
    }
  }

  const double rate_per_s_;
  const double burst_;
  double tokens_;
  uint64_t refilled_ms_;
};

}  // namespace chorus
