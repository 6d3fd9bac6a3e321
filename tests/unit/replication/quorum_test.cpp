#include <catch2/catch.hpp>
#include <random>

#include "replication/quorum.h"

using namespace chorus;

namespace {
Record version(uint64_t physical_ms, const char* origin) {
  Record r;
  r.ts = Timestamp::from_parts(physical_ms, 0);
  r.origin = origin;
  r.value = std::to_string(physical_ms);
  return r;
}
}  // namespace

TEST_CASE("Write quorum succeeds at W acks and ignores later replies") {
  WriteQuorum q(3, 2);
  q.on_ack(0);
  REQUIRE(q.decision() == QuorumDecision::kPending);
  q.on_failure(1);
  REQUIRE(q.decision() == QuorumDecision::kPending);
  q.on_ack(2);
  REQUIRE(q.decision() == QuorumDecision::kSucceeded);
  REQUIRE(q.acks() == 2);
}

TEST_CASE("Write quorum fails as soon as W is out of reach") {
  WriteQuorum q(3, 3);
  q.on_ack(0);
  q.on_failure(2);
  REQUIRE(q.decision() == QuorumDecision::kFailed);
  REQUIRE(q.outstanding() == 1);
  q.on_ack(1);  // a late ack does not flip a decision
  REQUIRE(q.decision() == QuorumDecision::kFailed);
  REQUIRE(q.acks() == 2);
}

TEST_CASE("Write quorum with fewer targets than W fails immediately") {
  WriteQuorum q(2, 3);
  REQUIRE(q.decision() == QuorumDecision::kFailed);
}

TEST_CASE("Quorum decisions match a brute-force count over every reply order") {
  // Exhaustive over N <= 5, every required count and every ack/fail pattern and order prefix.
  for (size_t n = 1; n <= 5; ++n) {
    for (size_t required = 1; required <= n; ++required) {
      for (uint32_t pattern = 0; pattern < (1u << n); ++pattern) {
        WriteQuorum q(n, required);
        size_t acks = 0, fails = 0;
        for (size_t i = 0; i < n; ++i) {
          const bool ack = (pattern >> i) & 1;
          ack ? q.on_ack(i) : q.on_failure(i);
          ack ? ++acks : ++fails;
          // Brute force: decided the first time either bound is crossed; never changes after.
          QuorumDecision expected = QuorumDecision::kPending;
          size_t a = 0, f = 0;
          for (size_t j = 0; j <= i && expected == QuorumDecision::kPending; ++j) {
            ((pattern >> j) & 1) ? ++a : ++f;
            if (a >= required)
              expected = QuorumDecision::kSucceeded;
            else if (a + (n - a - f) < required)
              expected = QuorumDecision::kFailed;
          }
          REQUIRE(q.decision() == expected);
        }
      }
    }
  }
}

TEST_CASE("Read quorum picks the newest version and names the stale repliers") {
  ReadQuorum q(3, 2);
  q.on_reply(0, version(100, "n1"));
  REQUIRE(q.decision() == QuorumDecision::kPending);
  q.on_reply(2, version(200, "n3"));
  REQUIRE(q.decision() == QuorumDecision::kSucceeded);
  REQUIRE(q.newest()->ts == Timestamp::from_parts(200, 0));
  REQUIRE(q.stale_targets() == std::vector<size_t>{0});
  q.on_reply(1, std::nullopt);  // late, holds nothing
  REQUIRE(q.stale_targets() == std::vector<size_t>{0, 1});
}

TEST_CASE("Read quorum: a replica without the key counts as a reply - failures do not") {
  ReadQuorum q(3, 2);
  q.on_reply(0, std::nullopt);
  q.on_failure(1);
  REQUIRE(q.decision() == QuorumDecision::kPending);
  q.on_reply(2, std::nullopt);
  REQUIRE(q.decision() == QuorumDecision::kSucceeded);
  REQUIRE_FALSE(q.newest().has_value());
  REQUIRE(q.stale_targets().empty());
}

TEST_CASE("Read quorum fails when R replies are out of reach") {
  ReadQuorum q(3, 2);
  q.on_failure(0);
  q.on_failure(1);
  REQUIRE(q.decision() == QuorumDecision::kFailed);
}

TEST_CASE("Read quorum resolves equal timestamps by origin id - the same on every order") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<size_t> order{0, 1, 2};
    std::shuffle(order.begin(), order.end(), rng);
    const Record versions[3] = {version(100, "n1"), version(100, "n3"), version(100, "n2")};
    ReadQuorum q(3, 3);
    for (size_t i : order) q.on_reply(i, versions[i]);
    REQUIRE(q.newest()->origin == "n3");
    REQUIRE(q.stale_targets() == std::vector<size_t>{0, 2});
  }
}
