// Raft under the deterministic simulator: named scenarios, then a sweep of random fault schedules.
// A failing seed prints itself; rerun just that one with CHORUS_SIM_SEED=<seed>.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include "raft_sim.h"
#include "tests/sim/sim_env.h"

using namespace chorus::raft;
using chorus::raft::sim::ClusterSpec;
using chorus::raft::sim::NetworkFaults;
using chorus::raft::sim::RaftSim;
using chorus::raft::sim::SimCounters;

using chorus::sim::env_u64;

namespace {

// Drives a sim until a leader exists (or fails the test).
NodeId await_leader(RaftSim& sim, int max_ticks = 200) {
  for (int t = 0; t < max_ticks && !sim.live_leader(); ++t) sim.run_ticks(1);
  REQUIRE(sim.violation() == "");
  REQUIRE(sim.live_leader().has_value());
  return *sim.live_leader();
}

// Phases per seed and their length: sized so 500 seeds stay well under the ~20 s budget on 2 cores.
constexpr int kPhases = 8;
constexpr int kPhaseTicks = 40;
// DESIGN.md §6: up to 5 voters, the other members are learners.
constexpr size_t kSimMaxVoters = 5;

struct SweepStats {
  uint64_t committed_entries = 0;
  uint64_t terms = 0;
  SimCounters counters;
};

bool has_id(const std::vector<NodeId>& ids, NodeId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

// The shape of a seed's cluster: 3..7 ids, 1..5 initial voters, some initial learners, the rest
// spare ids that may join; most seeds bootstrap from a snapshot (as the node driver does).
ClusterSpec spec_for_seed(uint64_t seed) {
  ClusterSpec spec;
  spec.max_nodes = 3 + static_cast<int>(seed % 5);
  const int max_voters = std::min<int>(kSimMaxVoters, spec.max_nodes);
  const int voters = std::max(1, max_voters - static_cast<int>((seed / 5) % 3));
  const int learners = static_cast<int>((seed / 15) % (spec.max_nodes - voters + 1));
  spec.voters.clear();
  for (int i = 1; i <= voters; ++i) spec.voters.push_back(static_cast<NodeId>(i));
  for (int i = voters + 1; i <= voters + learners; ++i) {
    spec.learners.push_back(static_cast<NodeId>(i));
  }
  spec.bootstrap_snapshot = (seed / 7) % 4 != 0;
  return spec;
}

// A conf change that makes sense for the leader's committed configuration: add a non-member (as
// learner, sometimes directly as voter), promote or remove a learner, demote or remove a voter;
// never more than kSimMaxVoters voters, never zero.
std::optional<ConfChange> random_conf_change(RaftSim& sim, const ConfState& conf, int serial) {
  auto& rng = sim.rng();
  const NodeId id = 1 + rng() % static_cast<uint64_t>(sim.node_count());
  const bool room = conf.voters.size() < kSimMaxVoters;
  ConfChange cc;
  cc.node = id;
  cc.context = "cc" + std::to_string(serial);
  if (has_id(conf.voters, id)) {
    if (conf.voters.size() == 1) return std::nullopt;
    cc.type = rng() % 2 ? ConfChangeType::kAddLearner : ConfChangeType::kRemoveNode;
  } else if (has_id(conf.learners, id)) {
    cc.type = room && rng() % 3 != 0 ? ConfChangeType::kAddVoter : ConfChangeType::kRemoveNode;
  } else {
    cc.type = room && rng() % 4 == 0 ? ConfChangeType::kAddVoter : ConfChangeType::kAddLearner;
  }
  return cc;
}

// Whether every live member of the leader's committed configuration applied `cc` (by context).
bool conf_change_applied_everywhere(RaftSim& sim, const ConfChange& cc) {
  const auto leader = sim.live_leader();
  if (!leader) return false;
  const ConfState& conf = sim.raft(*leader).conf_state();
  for (NodeId id = 1; id <= static_cast<NodeId>(sim.node_count()); ++id) {
    if (!sim.alive(id) || (!has_id(conf.voters, id) && !has_id(conf.learners, id))) continue;
    const auto& applied = sim.applied(id);
    const bool seen = std::any_of(applied.begin(), applied.end(), [&](const Entry& e) {
      ConfChange got;
      return e.type == EntryType::kConfChange && decode_conf_change(e.data, &got) && got == cc;
    });
    if (!seen) return false;
  }
  return true;
}

// Liveness for membership: proposes `cc` (starting the node if it joins) every election timeout
// until every live member applied it; Busy, lost proposals and leader changes only delay it.
bool run_until_conf_change_applied(RaftSim& sim, const ConfChange& cc, int max_ticks) {
  if (!sim.started(cc.node)) sim.start_joining(cc.node);
  for (int t = 0; t < max_ticks && sim.violation().empty(); ++t) {
    if (conf_change_applied_everywhere(sim, cc)) return true;
    if (t % RaftSim::kElectionTimeoutTicks == 0) {
      // InvalidArgument: already in the leader's log (pending); anything else: try again later.
      (void)sim.propose_conf_change(cc);
    }
    sim.run_ticks(1);
  }
  return conf_change_applied_everywhere(sim, cc);
}

// Proposes a random conf change on the leader, starting the node first if it joins. Returns a
// non-empty string if the core rejected a change that was valid for its configuration.
std::string try_conf_change(RaftSim& sim, int serial) {
  const auto leader = sim.live_leader();
  if (!leader) return "";
  const auto cc = random_conf_change(sim, sim.raft(*leader).conf_state(), serial);
  if (!cc) return "";
  if (!sim.started(cc->node)) sim.start_joining(cc->node);
  const chorus::Status st = sim.propose_conf_change(*cc);
  if (st.code() == chorus::Status::Code::kInvalidArgument) {
    return "conf change on node " + std::to_string(cc->node) + " rejected: " + st.to_string();
  }
  return "";
}

// A valid conf change for the final liveness check, or nullopt if the random picks found none.
std::optional<ConfChange> final_conf_change(RaftSim& sim, int serial) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    const auto leader = sim.live_leader();
    if (!leader) return std::nullopt;
    if (auto cc = random_conf_change(sim, sim.raft(*leader).conf_state(), serial)) return cc;
  }
  return std::nullopt;
}

// One fault phase: a random partition, crash, restart or heal, and random network faults.
void start_phase(RaftSim& sim) {
  auto& rng = sim.rng();
  const int nodes = sim.node_count();
  auto pick_node = [&] { return static_cast<NodeId>(1 + rng() % nodes); };
  NetworkFaults f;
  f.drop_probability = static_cast<double>(rng() % 20) / 100.0;
  f.duplicate_probability = static_cast<double>(rng() % 10) / 100.0;
  f.max_delay_ticks = 1 + static_cast<int>(rng() % 6);
  sim.set_faults(f);
  switch (rng() % 6) {
    case 0:
      sim.isolate(pick_node());
      break;
    case 1: {
      std::set<NodeId> side;
      for (int i = 0; i < nodes / 2; ++i) side.insert(pick_node());
      sim.split(side);
      break;
    }
    case 2:
      sim.heal();
      break;
    case 3:
      sim.crash(pick_node());
      break;
    case 4:
      for (NodeId id = 1; id <= static_cast<NodeId>(nodes); ++id) sim.restart(id);
      break;
    default:
      break;
  }
}

// One random schedule: kPhases fault phases with proposals, conf changes and compactions
// throughout, then heal everything and require liveness (a proposal and a conf change are
// applied by every live member). Returns an empty string on success, else what went wrong.
std::string run_random_schedule(uint64_t seed, SweepStats& stats) {
  RaftSim sim(seed, spec_for_seed(seed));
  auto& rng = sim.rng();
  const int nodes = sim.node_count();
  int proposal = 0;
  int conf_serial = 0;
  for (int phase = 0; phase < kPhases && sim.violation().empty(); ++phase) {
    start_phase(sim);
    for (int t = 0; t < kPhaseTicks && sim.violation().empty(); ++t) {
      if (rng() % 3 == 0) sim.propose_everywhere("p" + std::to_string(proposal++));
      if (rng() % 30 == 0) {
        const std::string bad = try_conf_change(sim, conf_serial++);
        if (!bad.empty()) return bad + "\n" + sim.describe();
      }
      if (rng() % 20 == 0) sim.compact(static_cast<NodeId>(1 + rng() % nodes), rng() % 4);
      sim.run_ticks(1);
    }
  }
  if (!sim.violation().empty()) return sim.violation();
  // Fair network: no drops, no duplicates, short delays (still reordering), everyone up.
  sim.heal();
  for (NodeId id = 1; id <= static_cast<NodeId>(nodes); ++id) sim.restart(id);
  sim.set_faults(NetworkFaults{0.0, 0.0, 3});
  if (!sim.run_until_applied_everywhere("final", 400)) {
    if (!sim.violation().empty()) return sim.violation();
    return "liveness: no commit on all members within 400 fair ticks after healing\n" +
           sim.describe();
  }
  const auto cc = final_conf_change(sim, conf_serial++);
  if (cc && !run_until_conf_change_applied(sim, *cc, 400)) {
    if (!sim.violation().empty()) return sim.violation();
    return "liveness: no conf change applied by all members within 400 fair ticks\n" +
           sim.describe();
  }
  stats.committed_entries += sim.committed_count();
  stats.terms += sim.max_term();
  stats.counters.snapshots_installed += sim.counters().snapshots_installed;
  stats.counters.compactions += sim.counters().compactions;
  stats.counters.conf_changes_applied += sim.counters().conf_changes_applied;
  stats.counters.restarts += sim.counters().restarts;
  return sim.violation();
}

}  // namespace

TEST_CASE("raft sim: three nodes elect one leader and commit a proposal on all of them") {
  RaftSim sim(7, 3);
  await_leader(sim);
  REQUIRE(sim.run_until_applied_everywhere("x", 100));
  REQUIRE(sim.violation() == "");
}

TEST_CASE(
    "raft sim: isolate the leader of five - the rest elect a new one and the old steps down") {
  RaftSim sim(11, 5);
  const NodeId old_leader = await_leader(sim);
  const uint64_t old_term = sim.raft(old_leader).term();
  sim.isolate(old_leader);
  sim.run_ticks(3 * RaftSim::kElectionTimeoutTicks);
  REQUIRE(sim.violation() == "");
  const auto new_leader = sim.live_leader();
  REQUIRE(new_leader.has_value());
  CHECK(*new_leader != old_leader);
  CHECK(sim.raft(*new_leader).term() > old_term);
  // Check quorum: cut off from the majority, the old leader no longer claims leadership.
  CHECK(sim.raft(old_leader).role() != Role::kLeader);
  sim.heal();
  REQUIRE(sim.run_until_applied_everywhere("after heal", 200));
  CHECK(sim.raft(old_leader).log().committed() == sim.raft(*new_leader).log().committed());
}

TEST_CASE("raft sim: a follower partitioned for a long time rejoins without deposing the leader") {
  RaftSim sim(23, 3);
  const NodeId leader = await_leader(sim);
  const uint64_t term = sim.raft(leader).term();
  const NodeId follower = leader == 1 ? 2 : 1;
  sim.isolate(follower);
  sim.run_ticks(20 * RaftSim::kElectionTimeoutTicks);
  // Pre-vote: its failed campaigns never raised its own term.
  CHECK(sim.raft(follower).term() == term);
  sim.heal();
  REQUIRE(sim.run_until_applied_everywhere("rejoined", 100));
  CHECK(sim.live_leader() == leader);
  CHECK(sim.max_term() == term);
}

TEST_CASE("raft sim: split two from three - only the majority side commits") {
  RaftSim sim(5, 5);
  const NodeId leader = await_leader(sim);
  std::set<NodeId> minority = {leader, leader % 5 + 1};
  sim.split(minority);
  sim.run_ticks(4 * RaftSim::kElectionTimeoutTicks);
  REQUIRE(sim.violation() == "");
  const auto majority_leader = sim.live_leader();
  REQUIRE(majority_leader.has_value());
  CHECK(minority.count(*majority_leader) == 0);
  const size_t committed_before = sim.committed_count();
  for (NodeId id : minority) CHECK(sim.raft(id).role() != Role::kLeader);
  sim.propose_everywhere("majority write");
  sim.run_ticks(20);
  CHECK(sim.committed_count() > committed_before);
  for (NodeId id : minority) CHECK(sim.raft(id).log().committed() < committed_before + 1);
  sim.heal();
  REQUIRE(sim.run_until_applied_everywhere("healed", 200));
  REQUIRE(sim.violation() == "");
}

TEST_CASE("raft sim: a stale leader's uncommitted entries are truncated after heal") {
  RaftSim sim(3, 3);
  const NodeId old_leader = await_leader(sim);
  REQUIRE(sim.run_until_applied_everywhere("base", 100));
  sim.isolate(old_leader);
  // The isolated leader accepts proposals it can never commit.
  for (int i = 0; i < 5; ++i) REQUIRE(sim.propose_everywhere("doomed") >= 1);
  sim.run_ticks(4 * RaftSim::kElectionTimeoutTicks);
  sim.heal();
  REQUIRE(sim.run_until_applied_everywhere("winner", 200));
  REQUIRE(sim.violation() == "");
  // "doomed" entries were never committed, and the old leader's log now matches the others.
  const NodeId leader = *sim.live_leader();
  CHECK(sim.raft(old_leader).log().last_index() == sim.raft(leader).log().last_index());
}

TEST_CASE("raft sim: crash every node then restart - committed entries survive") {
  RaftSim sim(99, 5);
  await_leader(sim);
  REQUIRE(sim.run_until_applied_everywhere("durable", 100));
  const size_t committed = sim.committed_count();
  for (NodeId id = 1; id <= 5; ++id) sim.crash(id);
  sim.run_ticks(5);
  for (NodeId id = 1; id <= 5; ++id) sim.restart(id);
  REQUIRE(sim.run_until_applied_everywhere("after restart", 200));
  CHECK(sim.committed_count() > committed);
  REQUIRE(sim.violation() == "");
}

TEST_CASE(
    "raft sim: a joining node is caught up by snapshot then promoted and the leader removes "
    "itself") {
  ClusterSpec spec;
  spec.max_nodes = 4;
  spec.voters = {1, 2, 3};
  spec.bootstrap_snapshot = true;
  RaftSim sim(31, spec);
  sim.set_faults(NetworkFaults{0.05, 0.02, 3});
  const NodeId old_leader = await_leader(sim);
  REQUIRE(sim.run_until_applied_everywhere("before", 200));
  for (NodeId id = 1; id <= 3; ++id) sim.compact(id);
  REQUIRE(run_until_conf_change_applied(sim, {ConfChangeType::kAddLearner, 4, "learner 4"}, 300));
  CHECK(sim.counters().snapshots_installed >= 1);
  CHECK(sim.raft(4).log().first_index() > 1);
  REQUIRE(run_until_conf_change_applied(sim, {ConfChangeType::kAddVoter, 4, "voter 4"}, 300));
  REQUIRE(
      run_until_conf_change_applied(sim, {ConfChangeType::kRemoveNode, old_leader, "bye"}, 300));
  REQUIRE(sim.run_until_applied_everywhere("after", 300));
  REQUIRE(sim.violation() == "");
  const NodeId leader = *sim.live_leader();
  CHECK(leader != old_leader);
  CHECK(sim.raft(leader).conf_state().voters.size() == 3);
  // Out of the configuration and aware of it: it neither gets new entries nor campaigns.
  const auto& old_applied = sim.applied(old_leader);
  CHECK(std::none_of(old_applied.begin(), old_applied.end(),
                     [](const Entry& e) { return e.data == "after"; }));
  const uint64_t old_term = sim.raft(old_leader).term();
  sim.run_ticks(20 * RaftSim::kElectionTimeoutTicks);
  CHECK(sim.raft(old_leader).role() == Role::kFollower);
  CHECK(sim.raft(old_leader).term() == old_term);
  CHECK(sim.live_leader() == leader);
  REQUIRE(sim.violation() == "");
}

TEST_CASE("raft sim: a node down while the others compact rejoins through a snapshot") {
  RaftSim sim(41, 3);
  await_leader(sim);
  REQUIRE(sim.run_until_applied_everywhere("a", 100));
  const NodeId down = *sim.live_leader() % 3 + 1;
  sim.crash(down);
  for (int i = 0; i < 20; ++i)
    REQUIRE(sim.run_until_applied_everywhere("w" + std::to_string(i), 100));
  for (NodeId id = 1; id <= 3; ++id) sim.compact(id);
  sim.restart(down);
  REQUIRE(sim.run_until_applied_everywhere("b", 200));
  CHECK(sim.counters().snapshots_installed >= 1);
  CHECK(sim.raft(down).log().first_index() > 20);
  CHECK(sim.applied(down).size() == sim.applied(*sim.live_leader()).size());
  REQUIRE(sim.violation() == "");
}

TEST_CASE("raft sim: grow from one voter to five through learners and shrink back to one") {
  ClusterSpec spec;
  spec.max_nodes = 5;
  spec.voters = {1};
  spec.bootstrap_snapshot = true;
  RaftSim sim(53, spec);
  sim.set_faults(NetworkFaults{0.05, 0.02, 3});
  await_leader(sim);
  for (NodeId id = 2; id <= 5; ++id) {
    REQUIRE(run_until_conf_change_applied(sim, {ConfChangeType::kAddLearner, id, "l"}, 300));
    REQUIRE(run_until_conf_change_applied(sim, {ConfChangeType::kAddVoter, id, "v"}, 300));
    sim.compact(*sim.live_leader());
  }
  CHECK(sim.raft(*sim.live_leader()).conf_state().voters == std::vector<NodeId>{1, 2, 3, 4, 5});
  for (NodeId id = 1; id <= 4; ++id) {
    REQUIRE(run_until_conf_change_applied(sim, {ConfChangeType::kRemoveNode, id, "r"}, 300));
  }
  REQUIRE(sim.run_until_applied_everywhere("alone", 200));
  CHECK(sim.live_leader() == NodeId{5});
  CHECK(sim.raft(5).conf_state() == ConfState{{5}, {}});
  REQUIRE(sim.violation() == "");
}

TEST_CASE("raft simulation: 500 seeds") {
  const uint64_t single = env_u64("CHORUS_SIM_SEED", 0);
  const uint64_t count = single ? 1 : env_u64("CHORUS_SIM_SEEDS", 500);
  const uint64_t first = single ? single : 1;
  const auto start = std::chrono::steady_clock::now();
  SweepStats stats;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    const std::string failure = run_random_schedule(seed, stats);
    if (!failure.empty()) {
      FAIL("seed " << seed << " failed (reproduce: ./dev.sh sim --seed " << seed << ")\n"
                   << failure);
    }
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  std::cerr << "raft simulation: " << count << " seeds passed in " << ms << " ms ("
            << stats.committed_entries << " entries committed over " << stats.terms << " terms, "
            << stats.counters.conf_changes_applied << " conf changes applied, "
            << stats.counters.compactions << " compactions, " << stats.counters.snapshots_installed
            << " snapshots installed, " << stats.counters.restarts << " restarts)\n";
  // Safety held on every seed; the schedules must also have made progress and reached the rare
  // paths (membership, compaction, snapshot transfer), or they proved nothing.
  REQUIRE(stats.committed_entries >= count);
  REQUIRE(stats.terms >= count);
  if (count >= 100) {
    REQUIRE(stats.counters.conf_changes_applied >= count);
    REQUIRE(stats.counters.compactions >= count);
    REQUIRE(stats.counters.snapshots_installed >= count / 10);
  }
}
