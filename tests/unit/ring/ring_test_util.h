// Helpers for the ring tests: building rings from generated member ids, and measuring balance and
// movement between two rings.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ring/ring.h"

namespace chorus::testing {

inline Member member(const std::string& id) {
  return Member{id, id + ".peer:7000", id + ".http:8080"};
}

// node-1 .. node-count.
inline std::vector<Member> numbered_members(size_t count) {
  std::vector<Member> out;
  for (size_t i = 1; i <= count; ++i) out.push_back(member("node-" + std::to_string(i)));
  return out;
}

// `count` distinct ids of 1..24 random printable characters. Uses the raw engine output only, so
// the ids are the same with every standard library.
inline std::vector<Member> random_members(std::mt19937_64* rng, size_t count) {
  std::set<std::string> ids;
  while (ids.size() < count) {
    std::string id(1 + (*rng)() % 24, ' ');
    for (char& c : id) c = static_cast<char>('!' + (*rng)() % 94);
    ids.insert(id);
  }
  std::vector<Member> out;
  for (const std::string& id : ids) out.push_back(member(id));
  std::shuffle(out.begin(), out.end(), *rng);
  return out;
}

inline std::shared_ptr<const Ring> build_ok(std::vector<Member> members, uint32_t partitions,
                                            int replicas, uint64_t epoch = 1) {
  auto ring = Ring::build(std::move(members), partitions, replicas, epoch);
  INFO(ring.status().to_string());
  REQUIRE(ring.ok());
  return ring.value();
}

struct Loads {
  uint32_t replica_min = UINT32_MAX, replica_max = 0;
  uint32_t primary_min = UINT32_MAX, primary_max = 0;
  double replica_ratio() const { return double(replica_max) / std::max(1u, replica_min); }
  double primary_ratio() const { return double(primary_max) / std::max(1u, primary_min); }
};

// Per-member owned-replica and primary counts.
inline Loads loads_of(const Ring& ring) {
  std::vector<uint32_t> replica(ring.members().size(), 0), primary(ring.members().size(), 0);
  for (uint32_t p = 0; p < ring.partitions(); ++p) {
    for (uint32_t m : ring.owners(p)) ++replica[m];
    ++primary[ring.owners(p).front()];
  }
  Loads loads;
  for (size_t m = 0; m < replica.size(); ++m) {
    loads.replica_min = std::min(loads.replica_min, replica[m]);
    loads.replica_max = std::max(loads.replica_max, replica[m]);
    loads.primary_min = std::min(loads.primary_min, primary[m]);
    loads.primary_max = std::max(loads.primary_max, primary[m]);
  }
  return loads;
}

// Replica assignments as (partition, member id).
inline std::set<std::pair<uint32_t, std::string>> assignments_of(const Ring& ring) {
  std::set<std::pair<uint32_t, std::string>> out;
  for (uint32_t p = 0; p < ring.partitions(); ++p) {
    for (uint32_t m : ring.owners(p)) out.insert({p, ring.members()[m].id});
  }
  return out;
}

struct Movement {
  size_t moved = 0;            // assignments in `after` that `before` did not have
  size_t to_existing = 0;      // ...of which went to a member that was already in `before`
  size_t lost_by_staying = 0;  // assignments of members in both rings that `after` dropped
  size_t partitions_with_existing_gain = 0;  // partitions that gained an already-present member
  size_t max_existing_gain_per_partition = 0;
};

inline Movement movement(const Ring& before, const Ring& after) {
  const auto old_set = assignments_of(before);
  const auto new_set = assignments_of(after);
  Movement out;
  std::map<uint32_t, size_t> gains;
  for (const auto& a : new_set) {
    if (old_set.count(a) != 0) continue;
    ++out.moved;
    if (before.index_of(a.second)) {
      ++out.to_existing;
      ++gains[a.first];
    }
  }
  for (const auto& a : old_set) {
    if (after.index_of(a.second) && new_set.count(a) == 0) ++out.lost_by_staying;
  }
  out.partitions_with_existing_gain = gains.size();
  for (const auto& g : gains) {
    out.max_existing_gain_per_partition = std::max(out.max_existing_gain_per_partition, g.second);
  }
  return out;
}

}  // namespace chorus::testing
