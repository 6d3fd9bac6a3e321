// MemberTable: the SWIM incarnation rules, refutation of claims about self, the size bound, and
// change events.
#include <catch2/catch.hpp>

#include <string>

#include "membership/swim/member_table.h"

using namespace chorus;
using namespace chorus::swim;
using Outcome = MemberTable::Outcome;

namespace {

Member member(const std::string& id) {
  return Member{id, id + ":7000", id + ":8080"};
}
Update claim(State state, const std::string& id, uint64_t incarnation) {
  return Update{state, member(id), incarnation};
}

}  // namespace

TEST_CASE("swim member table: alive adds an unknown member - suspect and dead of one are ignored") {
  MemberTable t(member("self"), 0);
  CHECK(t.apply(claim(State::kSuspect, "x", 5), 0) == Outcome::kIgnored);
  CHECK(t.apply(claim(State::kDead, "x", 5), 0) == Outcome::kIgnored);
  CHECK(t.find("x") == nullptr);
  CHECK(t.apply(claim(State::kAlive, "x", 3), 10) == Outcome::kApplied);
  REQUIRE(t.find("x") != nullptr);
  CHECK(t.find("x")->state == State::kAlive);
  CHECK(t.find("x")->incarnation == 3);
  const auto changes = t.take_changes();
  REQUIRE(changes.size() == 1);
  CHECK(!changes[0].old_state.has_value());
  CHECK(changes[0].new_state == State::kAlive);
}

TEST_CASE("swim member table: the incarnation rules decide which claim wins") {
  MemberTable t(member("self"), 0);
  REQUIRE(t.apply(claim(State::kAlive, "x", 2), 0) == Outcome::kApplied);
  auto state = [&] { return t.find("x")->state; };
  auto incarnation = [&] { return t.find("x")->incarnation; };

  // Alive needs a strictly higher incarnation; anything lower is stale.
  CHECK(t.apply(claim(State::kAlive, "x", 2), 1) == Outcome::kIgnored);
  CHECK(t.apply(claim(State::kSuspect, "x", 1), 1) == Outcome::kIgnored);
  // Suspect beats alive at the same incarnation...
  CHECK(t.apply(claim(State::kSuspect, "x", 2), 1) == Outcome::kApplied);
  CHECK(state() == State::kSuspect);
  // ...alive at the same incarnation does not undo it, a higher one (the refutation) does.
  CHECK(t.apply(claim(State::kAlive, "x", 2), 2) == Outcome::kIgnored);
  CHECK(t.apply(claim(State::kSuspect, "x", 2), 2) == Outcome::kIgnored);
  CHECK(t.apply(claim(State::kAlive, "x", 3), 3) == Outcome::kApplied);
  CHECK(state() == State::kAlive);
  // Dead beats alive and suspect at the same incarnation; suspect never undoes dead.
  CHECK(t.apply(claim(State::kSuspect, "x", 3), 4) == Outcome::kApplied);
  CHECK(t.apply(claim(State::kDead, "x", 3), 5) == Outcome::kApplied);
  CHECK(state() == State::kDead);
  CHECK(t.apply(claim(State::kSuspect, "x", 9), 6) == Outcome::kIgnored);
  CHECK(t.apply(claim(State::kDead, "x", 9), 6) == Outcome::kIgnored);
  CHECK(t.apply(claim(State::kAlive, "x", 3), 6) == Outcome::kIgnored);
  // A dead member comes back only with a higher incarnation.
  CHECK(t.apply(claim(State::kAlive, "x", 4), 7) == Outcome::kApplied);
  CHECK(state() == State::kAlive);
  CHECK(incarnation() == 4);
  CHECK(t.find("x")->state_since_ms == 7);

  const auto changes = t.take_changes();
  std::vector<std::pair<State, State>> transitions;
  for (const Change& c : changes) {
    if (c.old_state) transitions.emplace_back(*c.old_state, c.new_state);
  }
  CHECK(transitions == std::vector<std::pair<State, State>>{{State::kAlive, State::kSuspect},
                                                            {State::kSuspect, State::kAlive},
                                                            {State::kAlive, State::kSuspect},
                                                            {State::kSuspect, State::kDead},
                                                            {State::kDead, State::kAlive}});
}

TEST_CASE("swim member table: a higher suspicion updates the incarnation without a change event") {
  MemberTable t(member("self"), 0);
  REQUIRE(t.apply(claim(State::kAlive, "x", 1), 0) == Outcome::kApplied);
  REQUIRE(t.apply(claim(State::kSuspect, "x", 1), 0) == Outcome::kApplied);
  t.take_changes();
  const uint64_t version = t.version();
  CHECK(t.apply(claim(State::kSuspect, "x", 4), 0) == Outcome::kApplied);
  CHECK(t.find("x")->incarnation == 4);
  CHECK(t.take_changes().empty());
  CHECK(t.version() > version);
}

TEST_CASE("swim member table: claims about self are refuted by raising the incarnation") {
  MemberTable t(member("self"), 3);
  CHECK(t.apply(claim(State::kSuspect, "self", 2), 0) == Outcome::kIgnored);  // already refuted
  CHECK(t.apply(claim(State::kAlive, "self", 3), 0) == Outcome::kIgnored);
  CHECK(t.apply(claim(State::kSuspect, "self", 3), 0) == Outcome::kRefuted);
  CHECK(t.self().incarnation == 4);
  CHECK(t.apply(claim(State::kDead, "self", 9), 0) == Outcome::kRefuted);
  CHECK(t.self().incarnation == 10);
  // An alive record above ours is from an earlier life of this node: go past it.
  CHECK(t.apply(claim(State::kAlive, "self", 12), 0) == Outcome::kRefuted);
  CHECK(t.self().incarnation == 13);
  CHECK(t.self().state == State::kAlive);
  CHECK(t.take_changes().empty());  // self never changes state
}

TEST_CASE("swim member table: a restarted member's new addresses are taken from its alive claim") {
  MemberTable t(member("self"), 0);
  REQUIRE(t.apply(claim(State::kAlive, "x", 1), 0) == Outcome::kApplied);
  t.take_changes();
  Update moved{State::kAlive, Member{"x", "x:7000", "elsewhere:9090"}, 2};
  // A dead claim carrying other addresses does not move it (only the member raises incarnations).
  CHECK(t.apply(Update{State::kSuspect, moved.member, 1}, 0) == Outcome::kApplied);
  CHECK(t.find("x")->member.http_address == "x:8080");
  CHECK(t.apply(moved, 0) == Outcome::kApplied);
  CHECK(t.find("x")->member.http_address == "elsewhere:9090");
  const auto changes = t.take_changes();
  REQUIRE(changes.size() == 2);
  CHECK(changes[1].member.http_address == "elsewhere:9090");
}

TEST_CASE("swim member table: a full table evicts the longest dead member or rejects") {
  MemberTable t(member("self"), 0, 3);
  REQUIRE(t.apply(claim(State::kAlive, "a", 0), 0) == Outcome::kApplied);
  REQUIRE(t.apply(claim(State::kAlive, "b", 0), 0) == Outcome::kApplied);
  CHECK(t.apply(claim(State::kAlive, "c", 0), 0) == Outcome::kRejected);
  CHECK(t.size() == 3);
  REQUIRE(t.apply(claim(State::kDead, "b", 0), 10) == Outcome::kApplied);
  REQUIRE(t.apply(claim(State::kDead, "a", 0), 20) == Outcome::kApplied);
  CHECK(t.apply(claim(State::kAlive, "c", 0), 30) == Outcome::kApplied);
  CHECK(t.find("b") == nullptr);  // dead since 10, before "a"
  CHECK(t.find("a") != nullptr);
  CHECK(t.size() == 3);
  CHECK(t.count(State::kDead) == 1);
  CHECK(t.count(State::kAlive) == 2);
}
