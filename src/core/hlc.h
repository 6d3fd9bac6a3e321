// Hybrid logical clock (HLC) timestamps and the version order used for last-writer-wins.
//
// A Timestamp packs 48 bits of physical Unix milliseconds and a 16-bit logical counter into one
// uint64, so comparing timestamps is comparing integers. A Version adds the id of the node that
// stamped it as the tie-break, so every replica picks the same winner between two versions.
//
// HlcClock hands out strictly increasing timestamps that never fall behind the wall clock nor
// behind any timestamp observed from a peer. It is thread-safe and lock-free (one atomic word).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/status.h"

namespace chorus {

struct Timestamp {
  static constexpr int kLogicalBits = 16;
  static constexpr uint64_t kLogicalMask = (uint64_t{1} << kLogicalBits) - 1;

  uint64_t packed = 0;

  static Timestamp from_parts(uint64_t physical_ms, uint16_t logical) {
    return Timestamp{(physical_ms << kLogicalBits) | logical};
  }
  uint64_t physical_ms() const { return packed >> kLogicalBits; }
  uint16_t logical() const { return static_cast<uint16_t>(packed & kLogicalMask); }
  bool is_zero() const { return packed == 0; }

  friend bool operator<(Timestamp a, Timestamp b) { return a.packed < b.packed; }
  friend bool operator>(Timestamp a, Timestamp b) { return a.packed > b.packed; }
  friend bool operator<=(Timestamp a, Timestamp b) { return a.packed <= b.packed; }
  friend bool operator>=(Timestamp a, Timestamp b) { return a.packed >= b.packed; }
  friend bool operator==(Timestamp a, Timestamp b) { return a.packed == b.packed; }
  friend bool operator!=(Timestamp a, Timestamp b) { return a.packed != b.packed; }
};

// Total order on versions: timestamp first, then the stamping node's id.
struct VersionRef {
  Timestamp ts;
  std::string_view node;
};
inline bool newer_than(VersionRef a, VersionRef b) {
  if (a.ts != b.ts) return a.ts > b.ts;
  return a.node > b.node;
}

class HlcClock {
 public:
  // A peer's timestamp more than this far ahead of our wall clock is refused rather than adopted:
  // one node with a broken clock must not drag every HLC in the cluster into the future.
  static constexpr uint64_t kMaxForwardDriftMsDefault = 60'000;

  explicit HlcClock(const Clock* clock, uint64_t max_forward_drift_ms = kMaxForwardDriftMsDefault)
      : clock_(clock), max_forward_drift_ms_(max_forward_drift_ms) {}

  // A timestamp greater than every one returned or observed before.
  Timestamp now();

  // Folds in a timestamp seen from a peer so later now() values exceed it. Returns InvalidArgument
  // (and ignores it) when it is further ahead of the local wall clock than the drift bound.
  Status observe(Timestamp remote);

  // The latest timestamp handed out or observed, without advancing.
  Timestamp peek() const { return Timestamp{last_.load(std::memory_order_acquire)}; }

 private:
  const Clock* clock_;
  const uint64_t max_forward_drift_ms_;
  std::atomic<uint64_t> last_{0};
};

}  // namespace chorus
