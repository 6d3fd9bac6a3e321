// Rings in transition (pending ranges): reads stay on the current owners until a partition is
// handed over, writes reach current and target owners, and the walk never offers an owner as a
// stand-in.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "ring/ring.h"
#include "ring_test_util.h"

namespace chorus {
namespace {

using testing::numbered_members;

std::set<std::string> ids_of(const Ring& ring, const std::vector<uint32_t>& indices) {
  std::set<std::string> out;
  for (uint32_t m : indices) out.insert(ring.members()[m].id);
  return out;
}

std::set<std::string> owner_ids(const Ring& ring, uint32_t p) {
  return ids_of(ring, ring.owners(p));
}

void check_transition(const std::vector<Member>& current, const std::vector<Member>& target) {
  constexpr uint32_t kPartitions = 64;
  auto before = Ring::build(current, kPartitions, 3, 1);
  auto after = Ring::build(target, kPartitions, 3, 1);
  REQUIRE(before.ok());
  REQUIRE(after.ok());
  std::vector<bool> handed_over(kPartitions, false);
  for (uint32_t p = 0; p < kPartitions; p += 2) handed_over[p] = true;  // half handed over
  auto moving = Ring::build_transition(current, target, handed_over, kPartitions, 3, 7);
  REQUIRE(moving.ok());
  const Ring& ring = **moving;
  REQUIRE(ring.in_transition());
  CHECK(ring.epoch() == 7);

  size_t pending_total = 0;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    const auto old_ids = owner_ids(**before, p);
    const auto new_ids = owner_ids(**after, p);
    CHECK(ids_of(ring, ring.previous_owners(p)) == old_ids);
    CHECK(ids_of(ring, ring.target_owners(p)) == new_ids);
    CHECK(owner_ids(ring, p) == (handed_over[p] ? new_ids : old_ids));
    // Write owners: the read owners first, then exactly the target owners missing from them.
    const auto& writes = ring.write_owners(p);
    const auto& reads = ring.owners(p);
    REQUIRE(writes.size() >= reads.size());
    CHECK(std::equal(reads.begin(), reads.end(), writes.begin()));
    std::set<std::string> expected = owner_ids(ring, p);
    if (!handed_over[p]) expected.insert(new_ids.begin(), new_ids.end());
    CHECK(ids_of(ring, writes) == expected);
    pending_total += ring.pending_count(p);
    // The walk lists every member once, write owners first.
    const auto& walk = ring.walk(p);
    CHECK(walk.size() == ring.members().size());
    CHECK(std::set<uint32_t>(walk.begin(), walk.end()).size() == walk.size());
    CHECK(std::equal(writes.begin(), writes.end(), walk.begin()));
  }
  // Something moves in every transition tested here, and only where not handed over.
  CHECK(pending_total > 0);
}

TEST_CASE("ring transition: a joining member is a pending write owner until handover") {
  auto current = numbered_members(3);
  auto target = numbered_members(4);
  check_transition(current, target);
}

TEST_CASE("ring transition: a leaving member keeps serving reads until handover") {
  auto current = numbered_members(5);
  auto target = current;
  target.erase(target.begin() + 2);
  check_transition(current, target);
}

TEST_CASE("ring transition: replace one member by another") {
  auto current = numbered_members(4);
  auto target = numbered_members(3);
  target.push_back(testing::member("node-9"));
  check_transition(current, target);
}

TEST_CASE("ring transition: fully handed over equals the target ring") {
  constexpr uint32_t kPartitions = 32;
  auto moving = Ring::build_transition(numbered_members(3), numbered_members(5),
                                       std::vector<bool>(kPartitions, true), kPartitions, 3, 2);
  auto after = Ring::build(numbered_members(5), kPartitions, 3, 2);
  REQUIRE(moving.ok());
  REQUIRE(after.ok());
  for (uint32_t p = 0; p < kPartitions; ++p) {
    CHECK(owner_ids(**moving, p) == owner_ids(**after, p));
    CHECK((*moving)->pending_count(p) == 0);
  }
}

TEST_CASE("ring transition: rejects a flag vector of the wrong size") {
  auto moving = Ring::build_transition(numbered_members(3), numbered_members(4),
                                       std::vector<bool>(3, false), 16, 3, 1);
  CHECK(moving.status().code() == Status::Code::kInvalidArgument);
}

TEST_CASE("ring transition: a plain ring is not in transition") {
  auto ring = Ring::build(numbered_members(3), 16, 3, 1);
  REQUIRE(ring.ok());
  CHECK_FALSE((*ring)->in_transition());
  for (uint32_t p = 0; p < 16; ++p) {
    CHECK((*ring)->write_owners(p) == (*ring)->owners(p));
    CHECK((*ring)->previous_owners(p) == (*ring)->owners(p));
  }
}

}  // namespace
}  // namespace chorus
