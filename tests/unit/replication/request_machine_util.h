// Helpers for the request machine tests: a formed view of n1..nK with chosen members dead, and a
// key's owners in it.
#pragma once

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "membership/membership.h"
#include "ring/partitioner.h"
#include "ring/ring.h"

namespace chorus::testing {

inline std::shared_ptr<const ClusterView> view_of(int members, int replicas,
                                                  const std::vector<std::string>& dead = {},
                                                  uint64_t epoch = 1) {
  std::vector<Member> list;
  for (int i = 1; i <= members; ++i) {
    const std::string id = "n" + std::to_string(i);
    list.push_back({id, id + ":7000", id + ":8080"});
  }
  auto ring = Ring::build(std::move(list), 64, replicas, epoch);
  REQUIRE(ring.ok());
  auto view = std::make_shared<ClusterView>();
  view->ring = *ring;
  for (const Member& m : view->ring->members()) {
    const bool is_dead = std::find(dead.begin(), dead.end(), m.id) != dead.end();
    view->states.push_back(is_dead ? MemberState::kDead : MemberState::kAlive);
  }
  return view;
}

// Member ids of the key's owners, primary first.
inline std::vector<std::string> owner_ids(const ClusterView& view, const std::string& key) {
  std::vector<std::string> out;
  for (uint32_t index : view.ring->owners(partition_of(key, view.ring->partitions()))) {
    out.push_back(view.ring->members()[index].id);
  }
  return out;
}

inline std::string id_of(const ClusterView& view, size_t member) {
  return view.ring->members()[member].id;
}

}  // namespace chorus::testing
