// Leader election over a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it,
// as a pure state machine: the caller reads the Lease, asks observe() what to write, writes it
// (a PUT carrying the resourceVersion it read, so two candidates never both win), and reports
// the outcome with written(). No clock or I/O inside; times are the caller's steady clock.
//
// Expiry is judged by *when this candidate last saw the Lease change* (its resourceVersion), not
// by the renewTime written in it, so clock skew between machines cannot make two leaders.
//
// A leader that has not renewed within renew_deadline_ms has lost: it must stop acting (the
// operator exits and its Deployment restarts it as a candidate). renew_deadline_ms is shorter than
// the lease duration, so the old leader stops before anyone else may take over.
//
// Thread-safety: none; one loop owns it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace chorus::op {

struct LeaseTimings {
  uint64_t lease_duration_ms = 15'000;
  uint64_t renew_deadline_ms = 10'000;
  uint64_t retry_period_ms = 2'000;
};

// What the caller read. resource_version changes with every write, by anyone.
struct LeaseRecord {
  std::string holder;
  uint64_t duration_ms = 0;  // spec.leaseDurationSeconds, in ms; 0 when unset
  std::string resource_version;
};

enum class LeaseStep {
  kCreate,    // the Lease does not exist: create it, holding it
  kRenew,     // we hold it: write a new renewTime
  kTakeOver,  // free or expired: write ourselves as holder (leaseTransitions + 1)
  kWait,      // someone else holds it; read again after retry_period_ms
};

class LeaderElection {
 public:
  LeaderElection(std::string identity, LeaseTimings timings);

  LeaseStep observe(const std::optional<LeaseRecord>& lease, uint64_t now_ms);
  // The write asked for by the last observe() succeeded (or not); now_ms is when the read that
  // preceded it was sent (the lease is held from no later than that).
  void written(bool ok, uint64_t now_ms);

  bool leading() const { return leading_; }
  // We were leading and must stop: no renewal within the deadline, or someone else holds it (or
  // deleted it). Final: a deposed candidate does not lead again.
  bool lost(uint64_t now_ms) const;
  // The time until which a leader may act: its last renewal plus the renew deadline (0 when not
  // leading). Checked before every write, so a stalled leader stops before anyone may take over.
  uint64_t act_deadline_ms() const {
    return leading_ ? renewed_at_ms_ + timings_.renew_deadline_ms : 0;
  }
  const std::string& identity() const { return identity_; }
  const LeaseTimings& timings() const { return timings_; }

 private:
  const std::string identity_;
  const LeaseTimings timings_;
  std::string observed_version_;
  uint64_t observed_at_ms_ = 0;
  bool leading_ = false;
  bool deposed_ = false;
  uint64_t renewed_at_ms_ = 0;
};

// Exponential backoff with jitter for retries of failed API calls (409 conflicts, 5xx, no
// answer): each delay is uniform in [d/2, d], d doubling from initial_ms up to max_ms. Seeded, so
// a test replays it.
class Backoff {
 public:
  Backoff(uint64_t initial_ms, uint64_t max_ms, uint64_t seed);
  uint64_t next_ms();
  void reset() { current_ms_ = initial_ms_; }

 private:
  const uint64_t initial_ms_;
  const uint64_t max_ms_;
  uint64_t current_ms_;
  uint64_t state_;
};

}  // namespace chorus::op
