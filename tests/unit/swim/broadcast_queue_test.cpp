// BroadcastQueue: ordering (fewest transmissions, then newest), transmit limits, one update per
// member, and the size bound.
#include <catch2/catch.hpp>

#include <string>

#include "membership/swim/broadcast_queue.h"

using namespace chorus;
using namespace chorus::swim;

namespace {

Update alive(const std::string& id, uint64_t incarnation = 0) {
  return Update{State::kAlive, Member{id, id + ":7000", id + ":8080"}, incarnation};
}

std::vector<std::string> ids(const std::vector<Update>& updates) {
  std::vector<std::string> out;
  for (const Update& u : updates) out.push_back(u.member.id);
  return out;
}

constexpr size_t kAll = kMaxDatagramBytes;

}  // namespace

TEST_CASE("swim broadcast queue: newest first then fewest transmissions first") {
  BroadcastQueue q;
  q.push(alive("a"));
  q.push(alive("b"));
  q.push(alive("c"));
  CHECK(ids(q.take(kAll, 2, 10)) == std::vector<std::string>{"c", "b"});
  // "a" has never been sent, so it now leads; then the others, newest first.
  CHECK(ids(q.take(kAll, 3, 10)) == std::vector<std::string>{"a", "c", "b"});
  q.push(alive("d"));
  CHECK(ids(q.take(kAll, 1, 10)) == std::vector<std::string>{"d"});
}

TEST_CASE("swim broadcast queue: an update is dropped after transmit_limit transmissions") {
  BroadcastQueue q;
  q.push(alive("a"));
  for (int i = 0; i < 3; ++i) REQUIRE(q.take(kAll, 10, 3).size() == 1);
  CHECK(q.empty());
  CHECK(q.take(kAll, 10, 3).empty());
}

TEST_CASE("swim broadcast queue: a newer update about a member replaces the queued one") {
  BroadcastQueue q;
  q.push(alive("a", 1));
  REQUIRE(q.take(kAll, 10, 5).size() == 1);
  q.push(Update{State::kSuspect, alive("a").member, 1});
  REQUIRE(q.size() == 1);
  REQUIRE(q.find("a") != nullptr);
  CHECK(q.find("a")->state == State::kSuspect);
  // The replacement starts over with zero transmissions.
  for (int i = 0; i < 5; ++i) REQUIRE(q.take(kAll, 10, 5).size() == 1);
  CHECK(q.empty());
}

TEST_CASE("swim broadcast queue: the bound evicts the most transmitted update") {
  BroadcastQueue q(3);
  q.push(alive("old"));
  REQUIRE(q.take(kAll, 1, 10).size() == 1);  // "old" sent once
  q.push(alive("b"));
  q.push(alive("c"));
  q.push(alive("d"));
  CHECK(q.size() == 3);
  CHECK(q.evicted() == 1);
  CHECK(q.find("old") == nullptr);
  q.push(alive("e"));  // all unsent now: the oldest goes
  CHECK(q.find("b") == nullptr);
  CHECK(q.size() == 3);
  CHECK(q.evicted() == 2);
}

TEST_CASE("swim broadcast queue: take respects the byte budget and skips what does not fit") {
  BroadcastQueue q;
  const Update small = alive("s");
  const Update big{State::kAlive, Member{std::string(kMaxIdBytes, 'b'), std::string(100, 'p'), ""},
                   0};
  q.push(small);
  q.push(big);  // newest, so considered first
  const size_t budget = encoded_size(small) + encoded_size(big) - 1;
  const auto picked = q.take(budget, 10, 10);
  CHECK(ids(picked) == std::vector<std::string>{big.member.id});
  CHECK(ids(q.take(encoded_size(small), 10, 10)) == std::vector<std::string>{"s"});
  CHECK(q.take(kMinUpdateBytes - 1, 10, 10).empty());
}

TEST_CASE("swim broadcast queue: a full queue of members never exceeds kMaxBroadcastQueue") {
  BroadcastQueue q;
  for (size_t i = 0; i < kMaxBroadcastQueue + 100; ++i) q.push(alive("m" + std::to_string(i)));
  CHECK(q.size() == kMaxBroadcastQueue);
  CHECK(q.evicted() == 100);
  size_t bytes = 0;
  for (const Update& u : q.take(kMaxDatagramBytes, kMaxUpdatesPerDatagram, 4)) {
    bytes += encoded_size(u);
  }
  CHECK(bytes <= kMaxDatagramBytes);
}
