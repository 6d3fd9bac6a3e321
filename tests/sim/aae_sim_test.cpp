// The anti-entropy exchange under the deterministic simulator: random divergences between
// replicas (missing keys, older versions, tombstones, equal timestamps with different origins)
// repaired over a network that loses, duplicates and reorders messages.
// A failing seed prints itself; rerun just that one with CHORUS_SIM_SEED=<seed>.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

#include "tests/sim/aae_sim.h"
#include "tests/sim/sim_env.h"

using chorus::sim::AaeSimOptions;
using chorus::sim::AaeSimResult;
using chorus::sim::run_aae_sim;

using chorus::sim::env_u64;

namespace {}  // namespace

TEST_CASE("aae sim: a perfect network converges three replicas without a redundant transfer") {
  AaeSimOptions o;
  o.seed = 7;
  o.loss = 0;
  o.duplicate = 0;
  const AaeSimResult r = run_aae_sim(o);
  INFO(r.first_mismatch);
  CHECK(r.divergent_keys > 0);
  CHECK(r.converged);
  CHECK(r.exchanges_failed == 0);
  CHECK(r.redundant_transfers == 0);
  CHECK(r.messages_lost == 0);
}

TEST_CASE("aae sim: identical replicas move no record") {
  AaeSimOptions o;
  o.seed = 3;
  o.identical = true;
  const AaeSimResult r = run_aae_sim(o);
  CHECK(r.converged);
  CHECK(r.divergent_keys == 0);
  CHECK(r.exchanges > 0);
  CHECK(r.exchanges_failed == 0);
  CHECK(r.records_moved == 0);
}

TEST_CASE("aae simulation: 500 seeds") {
  const uint64_t single = env_u64("CHORUS_SIM_SEED", 0);
  const uint64_t count = single ? 1 : env_u64("CHORUS_SIM_SEEDS", 500);
  const uint64_t first = single ? single : 1;
  uint64_t divergent = 0;
  uint64_t moved = 0;
  uint64_t lost = 0;
  uint64_t duplicated = 0;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    AaeSimOptions o;
    o.seed = seed;
    o.replicas = 2 + seed % 3;
    o.keys = 50 + seed * 37 % 700;
    o.epochs = 1 + seed % 4;
    o.leaves = size_t{1} << (seed % 7);
    o.loss = (seed % 5) * 0.05;
    o.duplicate = (seed % 4) * 0.05;
    const AaeSimResult r = run_aae_sim(o);
    if (!r.converged || r.exchanges_failed != 0 || r.redundant_transfers != 0) {
      FAIL("seed " << seed << " failed (reproduce: CHORUS_SIM_SEED=" << seed
                   << " sim_tests \"aae simulation: 500 seeds\"): converged=" << r.converged << " "
                   << r.first_mismatch << ", failed exchanges " << r.exchanges_failed
                   << ", redundant transfers " << r.redundant_transfers);
    }
    divergent += r.divergent_keys;
    moved += r.records_moved;
    lost += r.messages_lost;
    duplicated += r.messages_duplicated;
  }
  std::cerr << "aae simulation: " << count << " seeds converged; " << divergent
            << " divergent keys, " << moved << " records moved, " << lost << " messages lost, "
            << duplicated << " duplicated\n";
  // The schedules must have had something to repair and a faulty network, or they proved nothing.
  REQUIRE(divergent >= count);
  if (count >= 20) {
    REQUIRE(lost > 0);
    REQUIRE(duplicated > 0);
  }
}
