#include "k8s/operator/leader_election.h"

#include <algorithm>

#include "core/assert.h"

namespace chorus::op {

LeaderElection::LeaderElection(std::string identity, LeaseTimings timings)
    : identity_(std::move(identity)), timings_(timings) {
  CHORUS_ASSERT(!identity_.empty());
  // The old leader must give up before a candidate may consider the lease expired.
  CHORUS_ASSERT(timings_.renew_deadline_ms < timings_.lease_duration_ms);
  CHORUS_ASSERT(timings_.retry_period_ms < timings_.renew_deadline_ms);
}

LeaseStep LeaderElection::observe(const std::optional<LeaseRecord>& lease, uint64_t now_ms) {
  if (!lease) {
    // Deleted under us: other candidates may be creating it right now.
    if (leading_) {
      leading_ = false;
      deposed_ = true;
    }
    return LeaseStep::kCreate;
  }
  if (lease->holder == identity_) return LeaseStep::kRenew;
  if (leading_) {
    // Someone else wrote themselves in: we are no longer the leader, whatever our clock says.
    leading_ = false;
    deposed_ = true;
  }
  if (lease->holder.empty()) return LeaseStep::kTakeOver;  // released on a clean shutdown
  if (lease->resource_version != observed_version_) {
    observed_version_ = lease->resource_version;
    observed_at_ms_ = now_ms;
    return LeaseStep::kWait;
  }
  const uint64_t duration_ms =
      lease->duration_ms > 0 ? lease->duration_ms : timings_.lease_duration_ms;
  if (now_ms - observed_at_ms_ >= duration_ms) return LeaseStep::kTakeOver;
  return LeaseStep::kWait;
}

void LeaderElection::written(bool ok, uint64_t now_ms) {
  // A deposed leader stays deposed even if a later write succeeds: someone else may have acted
  // in between, so it must stop (lost()) rather than carry on.
  if (!ok || deposed_) return;
  leading_ = true;
  renewed_at_ms_ = now_ms;
}

bool LeaderElection::lost(uint64_t now_ms) const {
  if (deposed_) return true;
  return leading_ && now_ms - renewed_at_ms_ > timings_.renew_deadline_ms;
}

Backoff::Backoff(uint64_t initial_ms, uint64_t max_ms, uint64_t seed)
    : initial_ms_(initial_ms), max_ms_(max_ms), current_ms_(initial_ms), state_(seed | 1) {
  CHORUS_ASSERT(initial_ms_ > 0 && initial_ms_ <= max_ms_);
}

uint64_t Backoff::next_ms() {
  // xorshift64: enough for jitter, and reproducible.
  state_ ^= state_ << 13;
  state_ ^= state_ >> 7;
  state_ ^= state_ << 17;
  const uint64_t d = current_ms_;
  current_ms_ = std::min(max_ms_, current_ms_ * 2);
  return d / 2 + state_ % (d - d / 2 + 1);
}

}  // namespace chorus::op
