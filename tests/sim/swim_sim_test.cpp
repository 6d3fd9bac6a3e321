// SWIM under the deterministic simulator: named scenarios, then a sweep of random fault schedules.
// A failing seed prints itself; rerun just that one with CHORUS_SIM_SEED=<seed>.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <set>
#include <string>

#include "swim_sim.h"
#include "tests/sim/sim_env.h"

using chorus::swim::State;
using chorus::swim::sim::NetworkFaults;
using chorus::swim::sim::SwimSim;

using chorus::sim::env_u64;

namespace {

// Fair: no partition, small delays (a round trip well inside the 100 ms probe timeout, an indirect
// probe's four hops inside the 200 ms interval), optionally a little loss and duplication.
NetworkFaults fair(double drop = 0.0) {
  return NetworkFaults{drop, drop, 1, 20};
}

// Starts every node, converges, and lets broadcasts drain so no refutation is still in flight.
void form(SwimSim& sim, uint64_t max_ms = 10'000) {
  sim.start_all();
  REQUIRE(sim.run_until_converged(max_ms));
  sim.run_ms(3'000);
  REQUIRE(sim.violation() == "");
  REQUIRE(sim.converged());
}

}  // namespace

TEST_CASE("swim sim: three nodes started together join through one seed and see each other alive") {
  SwimSim sim(1, 3);
  sim.set_faults(fair());
  sim.start_all();
  REQUIRE(sim.run_until_converged(3'000));
  CHECK(sim.dead_declarations().empty());
  REQUIRE(sim.violation() == "");
}

TEST_CASE("swim sim: seeds that include the node itself still join - every node lists all three") {
  SwimSim sim(2, 3, {1, 2, 3});
  sim.set_faults(fair(0.01));
  sim.start_all();
  REQUIRE(sim.run_until_converged(3'000));
  REQUIRE(sim.violation() == "");
}

TEST_CASE("swim sim: twenty nodes join one by one through two seeds on a lossy network") {
  SwimSim sim(3, 20, {1, 2});
  sim.set_faults(fair(0.02));
  for (int n = 1; n <= 20; ++n) {
    sim.start(n);
    sim.run_ms(150);
  }
  // Each joiner gets the table from a seed at once; the others learn it from gossip and probes.
  REQUIRE(sim.run_until_converged(10'000));
  CHECK(sim.dead_declarations().empty());
  REQUIRE(sim.violation() == "");
}

TEST_CASE("swim sim: fifty nodes start together through three seeds and converge") {
  SwimSim sim(4, 50, {1, 2, 3});
  sim.set_faults(fair(0.01));
  sim.start_all();
  REQUIRE(sim.run_until_converged(15'000));
  CHECK(sim.dead_declarations().empty());
  REQUIRE(sim.violation() == "");
}

TEST_CASE("swim sim: a crashed member of five is declared dead by every live member in the bound") {
  SwimSim sim(5, 5);
  sim.set_faults(fair(0.01));
  form(sim);
  const uint64_t crashed_at = sim.now_ms();
  sim.crash(3);
  REQUIRE(sim.run_until_dead_everywhere(3, sim.detection_bound_ms()));
  const uint64_t took_ms = sim.now_ms() - crashed_at;
  std::cerr << "swim sim: crash of 1 in 5 detected everywhere in " << took_ms << " ms (bound "
            << sim.detection_bound_ms() << " ms)\n";
  CHECK(took_ms <= sim.detection_bound_ms());
  CHECK(sim.false_deaths_since(0).empty());
  REQUIRE(sim.violation() == "");
}

TEST_CASE("swim sim: no live member is declared dead over two minutes of a fair lossy network") {
  SwimSim sim(6, 10);
  // 2% loss and duplication: probes fail now and then, but indirect probes and refutation must
  // keep every member alive.
  sim.set_faults(fair(0.02));
  form(sim);
  sim.run_ms(120'000);
  CHECK(sim.dead_declarations().empty());
  CHECK(sim.converged());
  // The rare paths were reached: lost pings or acks sent probes indirect.
  uint64_t ping_reqs = 0, probes = 0;
  for (int n = 1; n <= 10; ++n) {
    ping_reqs += sim.swim(n).stats().ping_reqs_sent;
    probes += sim.swim(n).stats().probes;
  }
  std::cerr << "swim sim: 2% loss for 2 min: " << probes << " probes, " << ping_reqs
            << " ping-reqs, " << sim.refutations() << " refutations, 0 deaths\n";
  CHECK(ping_reqs > 0);
  REQUIRE(sim.violation() == "");
}

TEST_CASE(
    "swim sim: a member cut off for 800 ms is suspected and refutes with a higher incarnation") {
  SwimSim sim(7, 5);
  sim.set_faults(fair());
  form(sim);
  const uint64_t incarnation = sim.swim(2).self().incarnation;
  sim.isolate(2);
  sim.run_ms(800);  // long enough to fail probes, shorter than the 1 s suspicion timeout
  sim.heal();
  REQUIRE(sim.run_until_converged(5'000));
  CHECK(sim.swim(2).self().incarnation > incarnation);
  CHECK(sim.swim(2).stats().refutations >= 1);
  CHECK(sim.dead_declarations().empty());
  REQUIRE(sim.violation() == "");
}

TEST_CASE(
    "swim sim: a member partitioned for ten seconds is declared dead and comes back after heal") {
  SwimSim sim(8, 5);
  sim.set_faults(fair(0.01));
  form(sim);
  sim.isolate(4);
  REQUIRE(sim.run_until_dead_everywhere(4, sim.detection_bound_ms()));
  sim.run_ms(10'000);
  // The isolated node declared everyone else dead too; dead-member probes find each other again.
  for (int n : {1, 2, 3, 5}) CHECK(sim.view(4, n) == State::kDead);
  const uint64_t dead_incarnation = sim.swim(1).find("n4")->incarnation;
  sim.heal();
  REQUIRE(sim.run_until_converged(10'000));
  CHECK(sim.swim(1).find("n4")->incarnation > dead_incarnation);
  REQUIRE(sim.violation() == "");
}

TEST_CASE("swim sim: a crashed member restarted with fresh state rejoins and is alive everywhere") {
  SwimSim sim(9, 5, {1, 2});
  sim.set_faults(fair(0.01));
  form(sim);
  sim.crash(5);
  REQUIRE(sim.run_until_dead_everywhere(5, sim.detection_bound_ms()));
  const uint64_t dead_incarnation = sim.swim(1).find("n5")->incarnation;
  sim.start(5);  // incarnation 0: it must learn it was declared dead and refute above it
  REQUIRE(sim.run_until_converged(5'000));
  CHECK(sim.swim(5).self().incarnation > dead_incarnation);
  REQUIRE(sim.violation() == "");
}

TEST_CASE("swim sim: split five into two and three - each side declares the other dead - heal") {
  SwimSim sim(10, 5, {1, 4});
  sim.set_faults(fair(0.01));
  form(sim);
  sim.split({1, 2});
  sim.run_ms(sim.detection_bound_ms() + 1'000);
  for (int a : {1, 2}) {
    for (int b : {3, 4, 5}) {
      CHECK(sim.view(a, b) == State::kDead);
      CHECK(sim.view(b, a) == State::kDead);
    }
  }
  sim.heal();
  REQUIRE(sim.run_until_converged(10'000));
  REQUIRE(sim.violation() == "");
}

TEST_CASE("swim sim: the seed crashes and a restarted member still rejoins through live members") {
  SwimSim sim(11, 4, {1});
  sim.set_faults(fair());
  form(sim);
  sim.crash(1);
  sim.crash(3);
  REQUIRE(sim.run_until_dead_everywhere(3, sim.detection_bound_ms()));
  sim.start(3);  // its only seed is down: the others' dead-member probes find it
  REQUIRE(sim.run_until_converged(10'000));
  REQUIRE(sim.violation() == "");
}

namespace {

struct SweepStats {
  uint64_t seeds = 0;
  uint64_t detections = 0;
  uint64_t slowest_detection_ms = 0;
  uint64_t dead_declarations = 0;
  uint64_t refutations = 0;
  uint64_t delivered = 0;
};

// Mostly small clusters; big ones are rare and get fewer fault phases.
int pick_node_count(std::mt19937_64& rng) {
  const uint64_t r = rng() % 100;
  if (r < 70) return 3 + static_cast<int>(rng() % 6);
  if (r < 96) return 9 + static_cast<int>(rng() % 12);
  return 21 + static_cast<int>(rng() % 30);
}

// Random faults for one chaos phase: loss, duplication, long delays, partitions, crashes.
void random_faults(SwimSim& sim) {
  auto& rng = sim.rng();
  const int n = sim.node_count();
  auto pick = [&] { return 1 + static_cast<int>(rng() % n); };
  NetworkFaults f;
  f.drop_probability = static_cast<double>(rng() % 30) / 100.0;
  f.duplicate_probability = static_cast<double>(rng() % 10) / 100.0;
  f.min_delay_ms = 1;
  f.max_delay_ms = 1 + rng() % 300;
  sim.set_faults(f);
  switch (rng() % 6) {
    case 0:
      sim.isolate(pick());
      break;
    case 1: {
      std::set<int> side;
      for (int i = 0; i < n / 2; ++i) side.insert(pick());
      sim.split(side);
      break;
    }
    case 2:
      sim.heal();
      break;
    case 3:
      sim.crash(pick());
      break;
    case 4:
      sim.start(pick());
      break;
    default:
      break;
  }
}

// Heals everything, restarts about half of the crashed nodes (keeping at least two up).
void heal_and_restart_some(SwimSim& sim) {
  sim.heal();
  sim.set_faults(fair(static_cast<double>(sim.rng()() % 2) / 100.0));
  int up = 0;
  for (int n = 1; n <= sim.node_count(); ++n) {
    if (!sim.running(n) && sim.rng()() % 2 == 0) sim.start(n);
    up += sim.running(n) ? 1 : 0;
  }
  for (int n = 1; n <= sim.node_count() && up < 2; ++n) {
    if (!sim.running(n)) {
      sim.start(n);
      ++up;
    }
  }
}

// Crashes a member that has not refuted lately (so no alive claim of it is still spreading) and
// requires every live member to declare it dead within the detection bound.
std::string crash_and_detect(SwimSim& sim, SweepStats& stats) {
  std::vector<uint64_t> refutations(sim.node_count() + 1, 0);
  for (int n = 1; n <= sim.node_count(); ++n) {
    if (sim.running(n)) refutations[n] = sim.swim(n).stats().refutations;
  }
  sim.run_ms(3'000);
  std::vector<int> quiet;
  for (int n = 1; n <= sim.node_count(); ++n) {
    if (sim.running(n) && sim.swim(n).stats().refutations == refutations[n]) quiet.push_back(n);
  }
  if (quiet.empty()) return "";
  const int subject = quiet[sim.rng()() % quiet.size()];
  const uint64_t crashed_at = sim.now_ms();
  sim.crash(subject);
  if (!sim.run_until_dead_everywhere(subject, sim.detection_bound_ms())) {
    return "detection: " + sim.id_of(subject) + " not dead everywhere within " +
           std::to_string(sim.detection_bound_ms()) + " ms\n" + sim.describe();
  }
  ++stats.detections;
  stats.slowest_detection_ms = std::max(stats.slowest_detection_ms, sim.now_ms() - crashed_at);
  return sim.violation();
}

std::string check_no_false_deaths(const SwimSim& sim, uint64_t since_ms, const char* phase) {
  const auto deaths = sim.false_deaths_since(since_ms);
  if (deaths.empty()) return "";
  return std::string("accuracy (") + phase + "): " + sim.id_of(deaths[0].observer) +
         " declared live " + sim.id_of(deaths[0].subject) +
         " dead at t=" + std::to_string(deaths[0].time_ms) + "ms on a fair network\n" +
         sim.describe();
}

// One random schedule: staggered joins on a fair network, chaos, heal, then accuracy and
// detection on a fair network. Returns an empty string on success, else what went wrong.
std::string run_random_schedule(uint64_t seed, SweepStats& stats) {
  std::mt19937_64 shape(seed);
  const int n = pick_node_count(shape);
  std::vector<int> seeds;
  for (int s = 1; s <= std::min(n, 1 + static_cast<int>(shape() % 3)); ++s) seeds.push_back(s);
  SwimSim sim(seed, n, seeds);
  auto& rng = sim.rng();
  const uint64_t interval_ms = chorus::swim::Config().probe_interval_ms;
  const uint64_t settle_ms = 10'000 + 4 * static_cast<uint64_t>(n) * interval_ms;

  sim.set_faults(fair(static_cast<double>(rng() % 3) / 100.0));
  for (int node = 1; node <= n; ++node) {
    sim.start(node);
    sim.run_ms(rng() % 100);
  }
  if (!sim.run_until_converged(settle_ms)) return "join: no convergence\n" + sim.describe();
  if (auto e = check_no_false_deaths(sim, 0, "join"); !e.empty()) return e;

  const int phases = n > 20 ? 2 : 3 + static_cast<int>(rng() % 4);
  for (int p = 0; p < phases && sim.violation().empty(); ++p) {
    random_faults(sim);
    sim.run_ms(500 + rng() % 2'500);
  }
  heal_and_restart_some(sim);
  if (!sim.run_until_converged(3 * settle_ms)) {
    if (!sim.violation().empty()) return sim.violation();
    return "heal: no convergence within " + std::to_string(3 * settle_ms) + " ms\n" +
           sim.describe();
  }
  const uint64_t stable_since = sim.now_ms();
  sim.run_ms(n > 20 ? 2'000 : 5'000);
  if (auto e = check_no_false_deaths(sim, stable_since, "stable"); !e.empty()) return e;
  if (auto e = crash_and_detect(sim, stats); !e.empty()) return e;

  ++stats.seeds;
  stats.dead_declarations += sim.dead_declarations().size();
  stats.refutations += sim.refutations();
  stats.delivered += sim.delivered();
  return sim.violation();
}

}  // namespace

TEST_CASE("swim simulation: 500 seeds") {
  const uint64_t single = env_u64("CHORUS_SIM_SEED", 0);
  const uint64_t count = single ? 1 : env_u64("CHORUS_SIM_SEEDS", 500);
  const uint64_t first = single ? single : 1;
  const auto start = std::chrono::steady_clock::now();
  SweepStats stats;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    const std::string failure = run_random_schedule(seed, stats);
    if (!failure.empty()) {
      FAIL("seed " << seed << " failed (reproduce: ./dev.sh sim --seed " << seed
                   << ", or CHORUS_SIM_SEED=" << seed
                   << " sim_tests \"swim simulation: 500 seeds\")\n"
                   << failure);
    }
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  std::cerr << "swim simulation: " << count << " seeds passed in " << ms << " ms ("
            << stats.detections << " crashes detected, slowest " << stats.slowest_detection_ms
            << " ms; " << stats.dead_declarations << " dead declarations, " << stats.refutations
            << " refutations, " << stats.delivered << " datagrams delivered)\n";
  // Every seed ran to the end; the schedules must also have exercised failure detection and
  // refutation, or they proved nothing.
  REQUIRE(stats.seeds == count);
  REQUIRE(stats.detections * 10 >= count * 9);
  REQUIRE(stats.dead_declarations >= count);
  REQUIRE(stats.refutations >= count / 10);
}
