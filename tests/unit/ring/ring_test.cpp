#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "core/limits.h"
#include "ring/ring.h"
#include "ring_test_util.h"

using namespace chorus;
using namespace chorus::testing;

namespace {

void require_invalid(std::vector<Member> members, uint32_t partitions, int replicas,
                     const std::string& what) {
  auto ring = Ring::build(std::move(members), partitions, replicas, 1);
  INFO(what);
  REQUIRE_FALSE(ring.ok());
  REQUIRE(ring.status().code() == Status::Code::kInvalidArgument);
}

// Every structural promise of ring.h, for one ring.
void require_well_formed(const Ring& ring) {
  const size_t member_count = ring.members().size();
  const size_t seats = std::min<size_t>(static_cast<size_t>(ring.replicas()), member_count);
  for (size_t m = 1; m < member_count; ++m) {
    REQUIRE(ring.members()[m - 1].id < ring.members()[m].id);
  }
  for (uint32_t p = 0; p < ring.partitions(); ++p) {
    INFO("partition " << p);
    const auto& owners = ring.owners(p);
    const auto& walk = ring.walk(p);
    REQUIRE(owners.size() == seats);
    std::vector<uint32_t> sorted_owners(owners.begin(), owners.end());
    std::sort(sorted_owners.begin(), sorted_owners.end());
    REQUIRE(std::adjacent_find(sorted_owners.begin(), sorted_owners.end()) == sorted_owners.end());
    REQUIRE(walk.size() == member_count);
    REQUIRE(std::equal(owners.begin(), owners.end(), walk.begin()));
    std::vector<uint32_t> sorted_walk(walk.begin(), walk.end());
    std::sort(sorted_walk.begin(), sorted_walk.end());
    for (size_t i = 0; i < member_count; ++i) REQUIRE(sorted_walk[i] == i);
  }
}

}  // namespace

TEST_CASE("Ring::build rejects bad member sets and parameters") {
  const auto three = numbered_members(3);
  require_invalid({}, 256, 3, "no members");
  require_invalid({member("a"), member("b"), member("a")}, 256, 3, "duplicate id");
  require_invalid({member("a"), member("")}, 256, 3, "empty id");
  require_invalid({member("a"), member(std::string(kNodeIdBytesMax + 1, 'x'))}, 256, 3,
                  "id too long");
  require_invalid(three, 0, 3, "zero partitions");
  require_invalid(three, 3, 3, "partitions not a power of two");
  require_invalid(three, kPartitionsMax * 2, 3, "too many partitions");
  require_invalid(three, 256, 0, "zero replicas");
  require_invalid(three, 256, -1, "negative replicas");
  require_invalid(three, 256, kReplicasMax + 1, "too many replicas");
  require_invalid(numbered_members(kRingMembersMax + 1), 1, 1, "too many members");
  require_invalid(numbered_members(kRingEntriesMax / kPartitionsMax + 1), kPartitionsMax, 3,
                  "partitions * members too large");
  // The limits themselves are accepted.
  REQUIRE(Ring::build({member(std::string(kNodeIdBytesMax, 'x'))}, 256, kReplicasMax, 1).ok());
  REQUIRE(Ring::build(three, 1, 1, 1).ok());
}

TEST_CASE("Ring exposes its parameters and finds members by id") {
  auto ring = build_ok({member("c"), member("a"), member("b")}, 64, 2, 42);
  REQUIRE(ring->partitions() == 64);
  REQUIRE(ring->replicas() == 2);
  REQUIRE(ring->epoch() == 42);
  REQUIRE(ring->members().size() == 3);
  REQUIRE(ring->members()[0].id == "a");
  REQUIRE(ring->members()[2].id == "c");
  REQUIRE(ring->members()[2].peer_address == "c.peer:7000");
  REQUIRE(ring->members()[2].http_address == "c.http:8080");
  REQUIRE(ring->index_of("a") == size_t{0});
  REQUIRE(ring->index_of("c") == size_t{2});
  REQUIRE_FALSE(ring->index_of("d").has_value());
  REQUIRE_FALSE(ring->index_of("").has_value());
  REQUIRE_FALSE(ring->index_of("b ").has_value());
  require_well_formed(*ring);
}

TEST_CASE("Placement depends only on the member ids - P and N") {
  const auto members = numbered_members(7);
  auto reference = build_ok(members, 256, 3, 1);
  std::mt19937_64 rng(7);
  for (int round = 0; round < 5; ++round) {
    auto shuffled = members;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    for (Member& m : shuffled) m.peer_address = "elsewhere:" + std::to_string(round);
    auto other = build_ok(shuffled, 256, 3, 1000 + round);  // another epoch, other addresses
    for (uint32_t p = 0; p < 256; ++p) {
      REQUIRE(other->owners(p) == reference->owners(p));
      REQUIRE(other->walk(p) == reference->walk(p));
    }
  }
  // A different member set does change it.
  auto renamed = numbered_members(7);
  renamed[3].id = "node-x";
  REQUIRE(assignments_of(*build_ok(renamed, 256, 3)) != assignments_of(*reference));
}

TEST_CASE("Every partition has min(N - M) distinct owners and a walk listing every member") {
  for (int replicas = 1; replicas <= kReplicasMax; ++replicas) {
    for (size_t members : {1, 2, 3, 5, 8}) {
      INFO("N=" << replicas << " M=" << members);
      auto ring = build_ok(numbered_members(members), 128, replicas);
      REQUIRE(ring->replicas() == replicas);  // the configured N, even when M < N
      require_well_formed(*ring);
    }
  }
}

TEST_CASE("The walk after the owners is a rendezvous order - stable across membership changes") {
  // A stand-in is the first non-owner in the walk. Removing a non-owner member must not reorder
  // the rest of the walk for partitions whose owners did not change.
  auto ring = build_ok(numbered_members(8), 256, 3);
  auto smaller = build_ok(numbered_members(7), 256, 3);  // node-8 left
  size_t compared = 0;
  for (uint32_t p = 0; p < 256; ++p) {
    auto ids = [](const Ring& r, uint32_t partition) {
      std::vector<std::string> out;
      for (uint32_t m : r.walk(partition)) {
        if (r.members()[m].id != "node-8") out.push_back(r.members()[m].id);
      }
      return out;
    };
    std::vector<std::string> owners_before, owners_after;
    for (uint32_t m : ring->owners(p)) owners_before.push_back(ring->members()[m].id);
    for (uint32_t m : smaller->owners(p)) owners_after.push_back(smaller->members()[m].id);
    if (owners_before != owners_after) continue;
    ++compared;
    REQUIRE(ids(*ring, p) == ids(*smaller, p));
  }
  REQUIRE(compared > 128);  // most partitions keep their owners
}

TEST_CASE("partitions_replicated_by and partitions_led_by agree with owners") {
  auto ring = build_ok(numbered_members(5), 256, 3);
  size_t replicated_total = 0, led_total = 0;
  for (size_t m = 0; m < ring->members().size(); ++m) {
    const auto replicated = ring->partitions_replicated_by(m);
    const auto led = ring->partitions_led_by(m);
    REQUIRE(std::is_sorted(replicated.begin(), replicated.end()));
    REQUIRE(std::is_sorted(led.begin(), led.end()));
    replicated_total += replicated.size();
    led_total += led.size();
    for (uint32_t p : led) {
      REQUIRE(ring->owners(p).front() == m);
      REQUIRE(std::binary_search(replicated.begin(), replicated.end(), p));
    }
    for (uint32_t p = 0; p < 256; ++p) {
      const auto& o = ring->owners(p);
      const bool owns = std::find(o.begin(), o.end(), m) != o.end();
      REQUIRE(owns == std::binary_search(replicated.begin(), replicated.end(), p));
    }
  }
  REQUIRE(replicated_total == 256 * 3);
  REQUIRE(led_total == 256);
}

TEST_CASE("Degenerate rings: one member - one partition - N larger than M") {
  auto single = build_ok({member("solo")}, 256, 3);
  for (uint32_t p = 0; p < 256; ++p) {
    REQUIRE(single->owners(p) == std::vector<uint32_t>{0});
    REQUIRE(single->walk(p) == std::vector<uint32_t>{0});
  }
  REQUIRE(single->partitions_led_by(0).size() == 256);

  auto one_partition = build_ok(numbered_members(4), 1, 3);
  require_well_formed(*one_partition);
  REQUIRE(one_partition->owners(0).size() == 3);

  auto everyone = build_ok(numbered_members(3), 256, 5);
  require_well_formed(*everyone);
  const Loads loads = loads_of(*everyone);
  REQUIRE(loads.replica_min == 256);  // every member owns every partition
  REQUIRE(loads.primary_max - loads.primary_min <= 1);
}
