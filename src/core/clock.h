// Clock: the only way Chorus code reads time, so tests can substitute a virtual clock.
//
// wall_ms() is Unix time in milliseconds (HLC physical part, TTL expiry). steady_ms() is monotonic
// (deadlines, rate limits). Implementations must be thread-safe.
#pragma once

#include <atomic>
#include <cstdint>

namespace chorus {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual uint64_t wall_ms() const = 0;
  virtual uint64_t steady_ms() const = 0;
};

// std::chrono-backed clock for production.
class SystemClock final : public Clock {
 public:
  uint64_t wall_ms() const override;
  uint64_t steady_ms() const override;
};

// A clock that moves only when told to; for tests and simulation.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(uint64_t wall_ms = 1'700'000'000'000, uint64_t steady_ms = 0)
      : wall_ms_(wall_ms), steady_ms_(steady_ms) {}
  uint64_t wall_ms() const override { return wall_ms_.load(); }
  uint64_t steady_ms() const override { return steady_ms_.load(); }
  void advance_ms(uint64_t ms) {
    wall_ms_ += ms;
    steady_ms_ += ms;
  }
  // Moves only the wall clock, possibly backwards (clock skew and NTP steps in tests).
  void set_wall_ms(uint64_t ms) { wall_ms_ = ms; }

 private:
  std::atomic<uint64_t> wall_ms_;
  std::atomic<uint64_t> steady_ms_;
};

}  // namespace chorus
