// The nemesis suite (issue 15, DESIGN §9.3): real chorusd processes, each in its own network
// namespace, under concurrent clients, while a nemesis partitions the network, pauses processes,
// skews clocks or fills a disk. After each fault heals, every key is read at R=all and the history
// is checked: no acknowledged write lost, no stale quorum read, no later write lost, no value
// nobody wrote. Each test prints the operations, the anomalies, availability before, during and
// after the fault, and how long after the heal every node took a write with W=all again.
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <functional>
#include <random>

#include "tests/nemesis/harness.h"
#include "tests/testkit/client.h"

using namespace chorus;
using namespace chorus::nemesis;
using testkit::now_ns;
using testkit::poll_until;

namespace {

// The short schedule ctest runs; ./dev.sh nemesis --time S runs the long one.
constexpr size_t kWarmupOps = 300;
constexpr int kWarmupMinMs = 3000;
constexpr int kHoldMs =
    8000;  // longer than the transport's stall timeout (3 s) and SWIM's suspicion
constexpr size_t kHoldOpsMin = 50;
constexpr size_t kAfterOkOps = 300;
constexpr int kPhaseTimeoutMs = 120'000;
constexpr int kRecoveryTimeoutMs = 60'000;
constexpr int kVerifyTimeoutMs = 60'000;
// Issue 15's target is 2 s after gossip sees the peer; this bound catches a link that stays stuck
// until TCP gives up (tens of seconds) without failing on a noisy 2-core box. The figures are in
// the printed report.
constexpr int kRecoveryAfterGossipBoundMs = 10'000;

struct Fault {
  std::string name;
  std::function<Status()> inject;
  std::function<Status()> heal;
  bool bounded_recovery = true;  // false: the fault legitimately outlasts its heal
};

void require_ok(Harness& harness, const Status& st, const std::string& what) {
  if (!st.ok()) {
    harness.dump_logs();
    FAIL(what << ": " << st.to_string());
  }
}

// One fault on a running harness: warm up, inject, hold, heal, measure recovery, run on, verify,
// check, report.
// How long the ctest schedule holds each fault: kHoldMs, or CHORUS_NEMESIS_HOLD_MS (e.g. 40000 to
// hold a partition past TCP's retransmission backoff).
int hold_ms_from_environment() {
  const char* text = std::getenv("CHORUS_NEMESIS_HOLD_MS");
  return text != nullptr ? std::atoi(text) : kHoldMs;
}

void run_fault(Harness& harness, Workload& workload, const Fault& fault,
               int hold_ms = hold_ms_from_environment()) {
  const size_t warm = workload.ops_ok() + kWarmupOps;
  const uint64_t warm_from_ns = now_ns();
  REQUIRE(poll_until(kPhaseTimeoutMs, [&] {
    return workload.ops_ok() >= warm && now_ns() - warm_from_ns >= kWarmupMinMs * 1'000'000ull;
  }));
  workload.phase("during " + fault.name);
  require_ok(harness, fault.inject(), "injecting " + fault.name);
  const uint64_t fault_ns = now_ns();
  const size_t at_fault = workload.ops_done();
  // The fault is held for a time (it is the schedule) and until enough operations met it.
  REQUIRE(poll_until(kPhaseTimeoutMs, [&] {
    return now_ns() - fault_ns >= static_cast<uint64_t>(hold_ms) * 1'000'000ull &&
           workload.ops_done() >= at_fault + kHoldOpsMin;
  }));
  require_ok(harness, fault.heal(), "healing " + fault.name);
  const uint64_t heal_ns = now_ns();
  workload.phase("after " + fault.name);
  const Recovery recovery = measure_recovery(harness.cluster(), heal_ns, kRecoveryTimeoutMs);
  WARN(fault.name << ": recovery after the heal: " << recovery.to_string());
  if (fault.bounded_recovery) {
    const int worst = recovery.worst_after_gossip_ms();
    if (worst < 0 || worst > kRecoveryAfterGossipBoundMs) harness.dump_logs();
    CHECK(worst >= 0);
    CHECK(worst <= kRecoveryAfterGossipBoundMs);
  }
  const size_t after = workload.ops_ok() + kAfterOkOps;
  REQUIRE(poll_until(kPhaseTimeoutMs, [&] { return workload.ops_ok() >= after; }));
}

void finish(Harness& harness, Workload& workload, const std::string& name) {
  workload.stop();
  const Status verified = workload.verify(kVerifyTimeoutMs);
  if (!verified.ok()) harness.dump_logs();
  REQUIRE(verified.ok());
  const testkit::HistoryReport report = workload.report();
  std::string availability;
  for (const PhaseAvailability& a : workload.availability()) availability += "\n  " + a.to_string();
  WARN(name << ":\n" << report.to_string() << "availability:" << availability);
  if (!report.clean() || std::getenv("CHORUS_NEMESIS_TRACE") != nullptr) {
    if (!report.clean()) harness.dump_logs();
    harness.cluster().keep_data();
    const std::string trace = harness.cluster().data_root() + "/workload.trace";
    WARN("the operations are in " << trace << ": " << workload.write_trace(trace).to_string());
  }
  CHECK(report.writes_ok > 0);
  CHECK(report.keys_verified == report.keys);
  CHECK(report.lost_acknowledged_writes.count == 0);
  CHECK(report.stale_reads.count == 0);
  CHECK(report.later_write_lost.count == 0);
  CHECK(report.unknown_values.count == 0);
}

void start_or_fail(Harness& harness) {
  require_ok(harness, harness.start(), "starting the cluster");
}

// Starts the cluster and the workload; `*slot` owns the workload (declared after the harness, so
// the clients stop before the nodes do).
Workload& start_with_workload(Harness& harness, std::unique_ptr<Workload>* slot) {
  start_or_fail(harness);
  *slot = std::make_unique<Workload>(harness.cluster(), harness.lab().client_namespace(),
                                     WorkloadOptions{});
  (*slot)->start();
  return **slot;
}

std::function<Status()> signal_node(Harness& harness, const int* node, int signal) {
  return [&harness, node, signal] { return harness.cluster().kill(*node, signal); };
}

}  // namespace

TEST_CASE("Isolating one node loses nothing and it serves again right after the heal",
          "[nemesis][isolate]") {
  Harness harness({});
  std::unique_ptr<Workload> running;
  Workload& workload = start_with_workload(harness, &running);
  run_fault(harness, workload,
            {"isolate n3", [&] { return harness.lab().isolate(3); },
             [&] { return harness.lab().heal(); }});
  finish(harness, workload, "isolate one node");
}

TEST_CASE("A majority/minority split with the Raft leader in the minority loses nothing",
          "[nemesis][split]") {
  HarnessOptions options;
  options.nodes = 5;
  Harness harness(options);
  std::unique_ptr<Workload> running;
  Workload& workload = start_with_workload(harness, &running);
  int leader = 0;
  REQUIRE(poll_until(30'000, [&] { return (leader = harness.raft_leader(1)) != 0; }));
  const int other = leader == 1 ? 2 : 1;
  int majority_node = 1;
  while (majority_node == leader || majority_node == other) ++majority_node;
  run_fault(harness, workload,
            {"split {leader n" + std::to_string(leader) + ", n" + std::to_string(other) +
                 "} from the rest",
             [&]() -> Status {
               CHORUS_RETURN_IF_ERROR(harness.lab().split({leader, other}));
               // The majority elects a leader of its own while the minority's still thinks it
               // leads: metadata stays available on the majority side.
               const bool elected = poll_until(kPhaseTimeoutMs, [&] {
                 const int now = harness.raft_leader(majority_node);
                 return now != 0 && now != leader && now != other;
               });
               return elected ? Status::OK()
                              : Status::Timeout("the majority elected no Raft leader");
             },
             [&] { return harness.lab().heal(); }});
  finish(harness, workload, "majority/minority split");
}

TEST_CASE("A bridge partition (n1 sees n2 and n3, they cannot see each other) loses nothing",
          "[nemesis][bridge]") {
  Harness harness({});
  std::unique_ptr<Workload> running;
  Workload& workload = start_with_workload(harness, &running);
  run_fault(harness, workload,
            {"bridge through n1", [&] { return harness.lab().cut(2, 3); },
             [&] { return harness.lab().heal(); }});
  finish(harness, workload, "bridge partition");
}

TEST_CASE("Pausing a replica with SIGSTOP loses nothing and it serves again after SIGCONT",
          "[nemesis][pause]") {
  Harness harness({});
  std::unique_ptr<Workload> running;
  Workload& workload = start_with_workload(harness, &running);
  const int node = 3;
  run_fault(
      harness, workload,
      {"SIGSTOP n3", signal_node(harness, &node, SIGSTOP), signal_node(harness, &node, SIGCONT)});
  finish(harness, workload, "pause a replica");
}

TEST_CASE("Pausing the Raft leader with SIGSTOP loses nothing and a new leader takes over",
          "[nemesis][pause-leader]") {
  Harness harness({});
  std::unique_ptr<Workload> running;
  Workload& workload = start_with_workload(harness, &running);
  int leader = 0;
  REQUIRE(poll_until(30'000, [&] { return (leader = harness.raft_leader(1)) != 0; }));
  const int witness = leader == 1 ? 2 : 1;
  run_fault(harness, workload,
            {"SIGSTOP the Raft leader",
             [&]() -> Status {
               CHORUS_RETURN_IF_ERROR(harness.cluster().kill(leader, SIGSTOP));
               const bool elected = poll_until(kPhaseTimeoutMs, [&] {
                 const int now = harness.raft_leader(witness);
                 return now != 0 && now != leader;
               });
               return elected ? Status::OK() : Status::Timeout("no new Raft leader");
             },
             [&] { return harness.cluster().kill(leader, SIGCONT); }});
  finish(harness, workload, "pause the Raft leader");
}

TEST_CASE("Clocks skewed within the drift bound (n2 +30 s, n3 -20 s) lose no write, later ones win",
          "[nemesis][skew]") {
  HarnessOptions options;
  options.fake_clocks = true;
  Harness harness(options);
  std::unique_ptr<Workload> running;
  Workload& workload = start_with_workload(harness, &running);
  run_fault(harness, workload,
            {"skew n2 +30 s and n3 -20 s",
             [&]() -> Status {
               CHORUS_RETURN_IF_ERROR(harness.set_clock_offset(2, 30));
               return harness.set_clock_offset(3, -20);
             },
             [&]() -> Status {
               CHORUS_RETURN_IF_ERROR(harness.set_clock_offset(2, 0));
               return harness.set_clock_offset(3, 0);
             },
             // n2's hybrid clock stays 30 s ahead until its wall clock catches up; that is fine
             // within the bound, so recovery is immediate.
             true});
  finish(harness, workload, "clock skew within the bound");
}

TEST_CASE("A clock past the drift bound (n3 +90 s) makes writes fail, never lose",
          "[nemesis][skew-far]") {
  HarnessOptions options;
  options.fake_clocks = true;
  Harness harness(options);
  std::unique_ptr<Workload> running;
  Workload& workload = start_with_workload(harness, &running);
  run_fault(harness, workload,
            {"skew n3 +90 s", [&] { return harness.set_clock_offset(3, 90); },
             [&] { return harness.set_clock_offset(3, 0); },
             // Timestamps n3 stamped run ahead of every wall clock until they catch up (about
             // 90 s - the 60 s bound): its writes may fail for that long after the heal.
             false});
  finish(harness, workload, "clock skew beyond the bound");
}

TEST_CASE("A node whose disk fills up fails its writes cleanly and recovers when space returns",
          "[nemesis][disk]") {
  HarnessOptions options;
  options.small_disk_node = 3;
  Harness harness(options);
  std::unique_ptr<Workload> running;
  Workload& workload = start_with_workload(harness, &running);
  run_fault(
      harness, workload,
      {"fill n3's disk",
       [&]() -> Status {
         CHORUS_RETURN_IF_ERROR(harness.fill_disk());
         // The fault must bite: a write needing every replica fails once n3 cannot store.
         testkit::KvClient n1(harness.cluster().node(1).host, harness.cluster().node(1).http_port,
                              harness.cluster().client_options());
         int attempt = 0;
         const bool failing = poll_until(kPhaseTimeoutMs, [&] {
           return !n1.put("nemesis-disk-probe", std::to_string(++attempt), "all").ok();
         });
         return failing ? Status::OK() : Status::Timeout("n3 kept taking writes on a full disk");
       },
       [&] { return harness.free_disk(); }});
  REQUIRE(harness.cluster().running(3));
  finish(harness, workload, "disk full");
}

// Not in ctest: the first moments of a fresh cluster under the workload, many times over
// (CHORUS_NEMESIS_REPEAT, default 20), to catch anomalies right after every node is ready.
TEST_CASE("A fresh cluster under load from its first moment keeps every guarantee", "[.startup]") {
  const char* repeat_text = std::getenv("CHORUS_NEMESIS_REPEAT");
  const int repeat = repeat_text != nullptr ? std::atoi(repeat_text) : 20;
  for (int attempt = 1; attempt <= repeat; ++attempt) {
    Harness harness({});
    start_or_fail(harness);
    Workload workload(harness.cluster(), harness.lab().client_namespace(), {});
    workload.start();
    REQUIRE(poll_until(kPhaseTimeoutMs, [&] { return workload.ops_ok() >= 500; }));
    INFO("attempt " << attempt << ", data in " << harness.cluster().data_root());
    const testkit::HistoryReport report = [&] {
      workload.stop();
      REQUIRE(workload.verify(kVerifyTimeoutMs).ok());
      return workload.report();
    }();
    if (!report.clean()) {
      harness.cluster().keep_data();
      FAIL(report.to_string());
    }
  }
}

// Not in ctest: ./dev.sh nemesis --time S. One cluster (fake clocks, a small disk on n3) under the
// workload for S seconds (CHORUS_NEMESIS_TIME_S, default 600) while a seeded random schedule
// (CHORUS_NEMESIS_SEED, printed) injects one fault after another, each held 3-15 s; then the
// history of the whole run is checked.
TEST_CASE("A long random schedule of every nemesis keeps every guarantee", "[.long]") {
  const char* time_text = std::getenv("CHORUS_NEMESIS_TIME_S");
  const char* seed_text = std::getenv("CHORUS_NEMESIS_SEED");
  const int run_s = time_text != nullptr ? std::atoi(time_text) : 600;
  const uint32_t seed = seed_text != nullptr
                            ? static_cast<uint32_t>(std::strtoul(seed_text, nullptr, 10))
                            : static_cast<uint32_t>(now_ns() % 1'000'000);
  WARN("nemesis schedule seed " << seed << " (replay: CHORUS_NEMESIS_SEED=" << seed << ")");
  std::mt19937 rng(seed);
  HarnessOptions options;
  options.fake_clocks = true;
  options.small_disk_node = 3;
  Harness harness(options);
  start_or_fail(harness);
  WorkloadOptions workload_options;
  workload_options.seed = seed;
  Workload workload(harness.cluster(), harness.lab().client_namespace(), workload_options);
  workload.start();
  const uint64_t end_ns = now_ns() + static_cast<uint64_t>(run_s) * 1'000'000'000ull;
  int faults = 0;
  while (now_ns() < end_ns) {
    const int node = 1 + static_cast<int>(rng() % 3);
    const int other = 1 + (node % 3);
    const int hold_ms = 3000 + static_cast<int>(rng() % 12'000);
    const int offset_s = (rng() % 2 == 0 ? 1 : -1) * (5 + static_cast<int>(rng() % 21));
    int leader = harness.raft_leader(node);
    if (leader == 0) leader = node;
    Fault fault;
    switch (rng() % 6) {
      case 0:
        fault = {"isolate n" + std::to_string(node),
                 [&, node] { return harness.lab().isolate(node); },
                 [&] { return harness.lab().heal(); }};
        break;
      case 1:
        fault = {"isolate the Raft leader n" + std::to_string(leader),
                 [&, leader] { return harness.lab().isolate(leader); },
                 [&] { return harness.lab().heal(); }};
        break;
      case 2:
        fault = {"cut n" + std::to_string(node) + "-n" + std::to_string(other),
                 [&, node, other] { return harness.lab().cut(node, other); },
                 [&] { return harness.lab().heal(); }};
        break;
      case 3:
        fault = {"SIGSTOP n" + std::to_string(node),
                 [&, node] { return harness.cluster().kill(node, SIGSTOP); },
                 [&, node] { return harness.cluster().kill(node, SIGCONT); }};
        break;
      case 4:
        fault = {"skew n" + std::to_string(node) + " by " + std::to_string(offset_s) + " s",
                 [&, node, offset_s] { return harness.set_clock_offset(node, offset_s); },
                 [&, node] { return harness.set_clock_offset(node, 0); }};
        break;
      default:
        fault = {"fill n3's disk", [&] { return harness.fill_disk(); },
                 [&] { return harness.free_disk(); }};
        break;
    }
    ++faults;
    run_fault(harness, workload, fault, hold_ms);
  }
  WARN(faults << " faults in " << run_s << " s");
  finish(harness, workload, "long random schedule (seed " + std::to_string(seed) + ")");
}
