// Leader election over a Lease (client-go's rules) and the retry backoff, as pure state
// machines driven with explicit times.
#include <catch2/catch.hpp>

#include "k8s/operator/leader_election.h"

namespace chorus::op {
namespace {

LeaseRecord held_by(const std::string& holder, const std::string& rv) {
  return {holder, 15'000, rv};
}

TEST_CASE("leader election: a missing Lease is created and then renewed") {
  LeaderElection e("a", {});
  CHECK(e.observe(std::nullopt, 0) == LeaseStep::kCreate);
  CHECK_FALSE(e.leading());
  e.written(true, 0);
  CHECK(e.leading());
  CHECK(e.observe(held_by("a", "2"), 2'000) == LeaseStep::kRenew);
  e.written(true, 2'000);
  CHECK_FALSE(e.lost(11'000));
}

TEST_CASE("leader election: a held Lease is taken over only after it stopped changing") {
  LeaderElection e("b", {});
  CHECK(e.observe(held_by("a", "5"), 0) == LeaseStep::kWait);
  // Renewed by its holder: a new version restarts the wait.
  CHECK(e.observe(held_by("a", "6"), 10'000) == LeaseStep::kWait);
  CHECK(e.observe(held_by("a", "6"), 24'999) == LeaseStep::kWait);
  CHECK(e.observe(held_by("a", "6"), 25'000) == LeaseStep::kTakeOver);
  // A failed write (someone else won the compare-and-swap) does not make us leader.
  e.written(false, 25'000);
  CHECK_FALSE(e.leading());
}

TEST_CASE("leader election: a released Lease is taken at once") {
  LeaderElection e("b", {});
  CHECK(e.observe(held_by("", "9"), 0) == LeaseStep::kTakeOver);
}

TEST_CASE("leader election: the leader stops after the renew deadline without a renewal") {
  LeaseTimings t;
  LeaderElection e("a", t);
  e.observe(std::nullopt, 0);
  e.written(true, 1'000);
  CHECK_FALSE(e.lost(1'000 + t.renew_deadline_ms));
  CHECK(e.lost(1'000 + t.renew_deadline_ms + 1));
  // The renew deadline is shorter than the lease: it has stopped before anyone may take over.
  CHECK(t.renew_deadline_ms < t.lease_duration_ms);
}

TEST_CASE("leader election: a leader that sees another holder is deposed at once") {
  LeaderElection e("a", {});
  e.observe(std::nullopt, 0);
  e.written(true, 0);
  CHECK(e.observe(held_by("b", "20"), 1'000) == LeaseStep::kWait);
  CHECK_FALSE(e.leading());
  CHECK(e.lost(1'000));
}

TEST_CASE("backoff: doubles up to the maximum with jitter in the upper half and resets") {
  Backoff b(100, 1'000, 42);
  const uint64_t expected_max[] = {100, 200, 400, 800, 1'000, 1'000};
  for (uint64_t max_ms : expected_max) {
    const uint64_t d = b.next_ms();
    CHECK(d >= max_ms / 2);
    CHECK(d <= max_ms);
  }
  b.reset();
  CHECK(b.next_ms() <= 100);
  // Seeded: the same seed gives the same delays.
  Backoff x(100, 1'000, 7), y(100, 1'000, 7);
  for (int i = 0; i < 5; ++i) CHECK(x.next_ms() == y.next_ms());
}

}  // namespace
}  // namespace chorus::op

namespace chorus::op {
namespace {

TEST_CASE("leader election: a deleted Lease or a take-over while stalled deposes for good") {
  LeaderElection e("a", {});
  e.observe(std::nullopt, 0);
  e.written(true, 0);
  CHECK(e.act_deadline_ms() == 10'000);
  // Deleted under us: others may be creating it now.
  CHECK(e.observe(std::nullopt, 1'000) == LeaseStep::kCreate);
  CHECK(e.lost(1'000));
  // Even if our create then succeeds, we do not lead again: someone may have acted meanwhile.
  e.written(true, 1'000);
  CHECK_FALSE(e.leading());
  CHECK(e.act_deadline_ms() == 0);
  CHECK(e.lost(1'000));
}

}  // namespace
}  // namespace chorus::op
