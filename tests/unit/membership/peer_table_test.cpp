#include <catch2/catch.hpp>

#include "membership/peer_table.h"

using namespace chorus;

namespace {
Member m(const char* id) {
  return Member{id, std::string(id) + ":7000", std::string(id) + ":8080"};
}
}  // namespace

TEST_CASE("The ring forms once bootstrap-expect members are known - exactly once") {
  PeerTable t(m("n1"), 3, 2000);
  REQUIRE_FALSE(t.try_form(0));
  REQUIRE(t.learn(m("n3")));
  REQUIRE_FALSE(t.learn(m("n3")));  // nothing new
  REQUIRE_FALSE(t.try_form(0));
  REQUIRE(t.learn(m("n2")));
  auto formed = t.try_form(0);
  REQUIRE(formed);
  REQUIRE(formed->size() == 3);
  REQUIRE((*formed)[0].id == "n1");
  REQUIRE((*formed)[2].id == "n3");
  REQUIRE_FALSE(t.try_form(0));
  // Static membership: a member learned after formation is not added to the ring.
  t.learn(m("n4"));
  REQUIRE(t.ring_members().size() == 3);
}

TEST_CASE("A member is alive while heard from within the failure timeout") {
  PeerTable t(m("n1"), 2, 2000);
  t.learn(m("n2"));
  REQUIRE(t.try_form(0));
  REQUIRE(t.alive("n2"));  // presumed up at formation
  REQUIRE(t.tick(1000).empty());
  t.heard_from("n2", 1000);
  REQUIRE(t.tick(3000).empty());  // exactly at the bound: still alive
  auto changes = t.tick(3001);
  REQUIRE(changes.size() == 1);
  REQUIRE_FALSE(changes[0].alive);
  REQUIRE_FALSE(t.alive("n2"));
  t.heard_from("n2", 3500);
  REQUIRE(t.tick(3500).at(0).alive);
  REQUIRE(t.alive("n1"));  // self is always alive
}

TEST_CASE("A restored member set is formed and presumed alive until the timeout") {
  PeerTable t(m("n2"), 3, 2000);
  t.restore({m("n3"), m("n1"), m("n2")}, 500);
  REQUIRE(t.formed());
  REQUIRE(t.ring_members()[0].id == "n1");
  REQUIRE(t.tick(600).empty());
  REQUIRE(t.alive("n1"));
  REQUIRE(t.tick(2501).size() == 2);
}
