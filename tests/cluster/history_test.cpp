// Concurrent clients against a cluster while a node is killed and restarted; a history checker
// looks for lost acknowledged writes, stale quorum reads and later writes that lost.
#include <catch2/catch.hpp>

#include <atomic>
#include <random>
#include <thread>

#include "tests/cluster/cluster_fixture.h"
#include "tests/testkit/history.h"

using namespace chorus::testkit;

namespace {

constexpr int kClients = 4;
constexpr int kSharedKeys = 8;
constexpr int kOwnKeysPerClient = 16;

// One client: random reads, writes and deletes over its own keys and the shared ones, rotating
// coordinators, until told to stop.
void client_loop(const LocalCluster& cluster, int client, History* history,
                 const std::atomic<bool>* stop) {
  std::mt19937 rng(1000 + client);
  std::vector<KvClient> nodes;
  ClientOptions fast = cluster.client_options();
  fast.read_timeout_ms = 4000;
  for (int i = 1; i <= 3; ++i)
    nodes.emplace_back(cluster.node(i).host, cluster.node(i).http_port, fast);
  for (int op = 0; !stop->load(); ++op) {
    const bool shared = rng() % 2 == 0;
    const std::string key =
        shared ? "shared-" + std::to_string(rng() % kSharedKeys)
               : "c" + std::to_string(client) + "-" + std::to_string(rng() % kOwnKeysPerClient);
    KvClient& node = nodes[rng() % nodes.size()];
    const uint64_t start = now_ns();
    const uint32_t dice = rng() % 20;
    if (dice < 9) {
      const std::string value = "c" + std::to_string(client) + "-op" + std::to_string(op);
      WriteReply w = node.put(key, value, "quorum");
      history->write(key, value, start, now_ns(), to_write_outcome(w));
    } else if (dice < 11) {
      WriteReply d = node.del(key, "quorum");
      history->del(key, start, now_ns(), to_write_outcome(d));
    } else {
      ReadReply r = node.get(key, "quorum");
      history->read(key, start, now_ns(), to_read_outcome(r));
    }
  }
}

}  // namespace

TEST_CASE(
    "Concurrent clients lose no acknowledged write and see no stale quorum read while a "
    "node is killed and restarted",
    "[cluster]") {
  LocalCluster cluster;
  start_or_fail(cluster);
  History history;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back(client_loop, std::cref(cluster), c, &history, &stop);
  }
  auto ops_done = [&] {
    HistoryReport r = history.check();
    return r.writes_ok + r.reads_ok + r.reads_not_found;
  };
  // Phases are measured in completed operations, not time, so a slow machine changes nothing.
  REQUIRE(poll_until(60'000, [&] { return ops_done() >= 400; }));
  REQUIRE(cluster.kill(2, SIGKILL).ok());
  const size_t at_kill = ops_done();
  // Long enough for the failure detector to declare node 2 dead mid-phase, so both paths run:
  // RPCs failing to a presumed-alive owner, then stand-ins taking hints for a known-dead one.
  REQUIRE(poll_until(90'000, [&] { return ops_done() >= at_kill + 4000; }));
  REQUIRE(cluster.restart(2).ok());
  REQUIRE(cluster.wait_ready(kReadyTimeoutMs).ok());
  const size_t at_restart = ops_done();
  REQUIRE(poll_until(60'000, [&] { return ops_done() >= at_restart + 600; }));
  stop = true;
  for (auto& t : clients) t.join();

  // Final verification at R=all through node 1: every replica answers.
  KvClient verifier = client_for(cluster, 1);
  auto verify = [&](const std::string& key) {
    ReadReply r;
    REQUIRE(poll_until(kConvergeTimeoutMs, [&] {
      r = verifier.get(key, "all");
      return r.ok() || r.not_found();
    }));
    history.record_final(key, r.value.value_or(""), r.timestamp, r.ok());
  };
  for (int k = 0; k < kSharedKeys; ++k) verify("shared-" + std::to_string(k));
  for (int c = 0; c < kClients; ++c) {
    for (int k = 0; k < kOwnKeysPerClient; ++k)
      verify("c" + std::to_string(c) + "-" + std::to_string(k));
  }

  HistoryReport report = history.check();
  INFO(report.to_string());
  WARN(report.to_string());
  CHECK(report.writes_ok > 500);
  CHECK(report.lost_acknowledged_writes.count == 0);
  CHECK(report.stale_reads.count == 0);
  CHECK(report.later_write_lost.count == 0);
  CHECK(report.unknown_values.count == 0);
}

TEST_CASE(
    "Sequential writes to one key through rotating coordinators leave the last one "
    "readable everywhere",
    "[cluster]") {
  LocalCluster cluster;
  start_or_fail(cluster);
  std::vector<KvClient> nodes;
  for (int i = 1; i <= 3; ++i) nodes.push_back(client_for(cluster, i));
  WriteOutcome last = WriteOutcome::ok(0, "");
  for (int i = 0; i < 150; ++i) {
    WriteReply w = nodes[i % 3].put("rotating", "v" + std::to_string(i), "quorum");
    REQUIRE(w.http_status == 200);
    // A later write always carries a later version (timestamp, then stamping node), whichever
    // node stamped it: two coordinators may pick the same HLC value, and the node id orders them.
    const WriteOutcome current = WriteOutcome::ok(w.timestamp, w.node);
    INFO("write " << i << " at " << w.timestamp << "/" << w.node << " after " << last.timestamp
                  << "/" << last.node);
    REQUIRE(newer_version(current, last));
    last = current;
  }
  const uint64_t last_ts = last.timestamp;
  for (auto& node : nodes) {
    ReadReply r = node.get("rotating", "quorum");
    REQUIRE(r.value == "v149");
    REQUIRE(r.timestamp == last_ts);
  }
}
