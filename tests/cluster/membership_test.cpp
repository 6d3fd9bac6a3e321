// Membership with real processes (issue 3): gossip + Raft bootstrap, leader failover with the
// epoch advancing, joins and a decommission under continuous writes, and recovery of the
// metadata log after every node is killed.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "tests/cluster/cluster_fixture.h"
#include "tests/testkit/history.h"

using namespace chorus::testkit;

namespace {

constexpr int kTransitionTimeoutMs = 120'000;

nlohmann::json cluster_view(const LocalCluster& cluster, int i) {
  KvClient c = client_for(cluster, i);
  JsonReply r = c.get_json("/v1/cluster");
  return r.http_status == 200 && r.json.is_object() ? r.json : nlohmann::json();
}

std::string leader_of(const nlohmann::json& view) {
  if (!view.is_object() || !view["raft"]["leader"].is_string()) return {};
  return view["raft"]["leader"].get<std::string>();
}

uint64_t epoch_of(const nlohmann::json& view) {
  return view.is_object() ? view.value("epoch", uint64_t{0}) : 0;
}

// The member entry for `id` in a /v1/cluster answer (null when absent).
nlohmann::json member_of(const nlohmann::json& view, const std::string& id) {
  if (!view.is_object()) return nullptr;
  for (const auto& m : view["members"]) {
    if (m.value("id", "") == id) return m;
  }
  return nullptr;
}

int index_of(const std::string& id) {
  return std::stoi(id.substr(1));
}

size_t count_in_log(const LocalCluster& cluster, int i, const std::string& needle) {
  std::ifstream in(cluster.log_path(i));
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) n += line.find(needle) != std::string::npos;
  return n;
}

// Waits until node `via` reports no transition in progress and every id in `expected` as an
// active, alive member (and nobody else).
bool wait_members(const LocalCluster& cluster, int via, const std::set<std::string>& expected,
                  int timeout_ms) {
  return poll_until(timeout_ms, [&] {
    nlohmann::json view = cluster_view(cluster, via);
    if (!view.is_object() || !view["transition"].is_null()) return false;
    std::set<std::string> active;
    for (const auto& m : view["members"]) {
      if (m.value("status", "") == "active" && m.value("state", "") == "alive") {
        active.insert(m.value("id", ""));
      }
    }
    return active == expected && view["members"].size() == expected.size();
  });
}

}  // namespace

TEST_CASE("membership: three nodes started together bootstrap exactly one cluster",
          "[cluster][membership]") {
  LocalCluster cluster;
  start_or_fail(cluster);
  std::string leader;
  REQUIRE(poll_until(kReadyTimeoutMs, [&] {
    std::set<std::string> leaders;
    for (int i = 1; i <= 3; ++i) leaders.insert(leader_of(cluster_view(cluster, i)));
    leader = *leaders.begin();
    return leaders.size() == 1 && !leader.empty();
  }));
  size_t bootstraps = 0;
  for (int i = 1; i <= 3; ++i) {
    nlohmann::json view = cluster_view(cluster, i);
    CHECK(view["members"].size() == 3);
    CHECK(epoch_of(view) >= 1);
    bootstraps += count_in_log(cluster, i, "bootstrapped a new cluster");
  }
  CHECK(bootstraps == 1);
  // Every node agrees on the owners of a key.
  std::set<std::string> owner_lists;
  for (int i = 1; i <= 3; ++i) {
    KvClient c = client_for(cluster, i);
    owner_lists.insert(c.get_json("/v1/debug/owners/some-key").json["owners"].dump());
  }
  CHECK(owner_lists.size() == 1);
}

TEST_CASE(
    "membership: five nodes started together with bootstrap-expect 3 form one cluster of five",
    "[cluster][membership]") {
  ClusterOptions options;
  options.nodes = 5;
  options.bootstrap_expect = 3;
  LocalCluster cluster(options);
  REQUIRE(cluster.start().ok());
  const std::set<std::string> all = {"n1", "n2", "n3", "n4", "n5"};
  bool formed = true;
  for (int i = 1; i <= 5 && formed; ++i) formed = wait_members(cluster, i, all, 120'000);
  if (!formed) cluster.dump_all_logs();
  REQUIRE(formed);
  size_t bootstraps = 0;
  for (int i = 1; i <= 5; ++i) bootstraps += count_in_log(cluster, i, "bootstrapped a new cluster");
  CHECK(bootstraps == 1);
  std::set<std::string> leaders;
  for (int i = 1; i <= 5; ++i) leaders.insert(leader_of(cluster_view(cluster, i)));
  CHECK(leaders.size() == 1);
  KvClient c = client_for(cluster, 5);
  REQUIRE(c.put("five", "v", 2).ok());
  CHECK(client_for(cluster, 1).get("five", 2).value == "v");
}

TEST_CASE("membership: killing the raft leader elects another and the epoch keeps advancing",
          "[cluster][membership]") {
  ClusterOptions options;
  options.extra_args = {"--epoch-interval-s", "1"};
  LocalCluster cluster(options);
  start_or_fail(cluster);
  std::string leader;
  REQUIRE(poll_until(kReadyTimeoutMs, [&] {
    leader = leader_of(cluster_view(cluster, 1));
    return !leader.empty();
  }));
  const int dead = index_of(leader);
  const int survivor = dead == 1 ? 2 : 1;
  const uint64_t epoch_before = epoch_of(cluster_view(cluster, survivor));

  const auto killed_at = std::chrono::steady_clock::now();
  REQUIRE(cluster.kill(dead, SIGKILL).ok());
  std::string new_leader;
  REQUIRE(poll_until(
      30'000,
      [&] {
        new_leader = leader_of(cluster_view(cluster, survivor));
        return !new_leader.empty() && new_leader != leader;
      },
      20));
  const auto elected_at = std::chrono::steady_clock::now();
  REQUIRE(poll_until(
      30'000,
      [&] {
        nlohmann::json m = member_of(cluster_view(cluster, survivor), leader);
        return m.is_object() && m.value("gossip", "") == "dead";
      },
      20));
  const auto detected_at = std::chrono::steady_clock::now();
  auto ms = [&](auto t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t - killed_at).count();
  };
  WARN("killed raft leader " << leader << ": new leader " << new_leader << " after "
                             << ms(elected_at) << " ms; gossip declared it dead after "
                             << ms(detected_at) << " ms");

  // The new leader keeps advancing the epoch (1 s interval).
  REQUIRE(poll_until(
      30'000, [&] { return epoch_of(cluster_view(cluster, survivor)) >= epoch_before + 3; }));
  // Reads and writes at R=W=2 work on the two survivors.
  for (int i = 1; i <= 3; ++i) {
    if (i == dead) continue;
    KvClient c = client_for(cluster, i);
    for (int k = 0; k < 20; ++k) {
      const std::string key = "after-" + std::to_string(i) + "-" + std::to_string(k);
      REQUIRE(c.put(key, "v" + std::to_string(k), "2").ok());
      ReadReply r = c.get(key, "2");
      REQUIRE(r.ok());
      CHECK(r.value == "v" + std::to_string(k));
    }
  }
}

namespace {

// One writer/reader over its own keys and shared ones, through the given coordinators.
void client_loop(const LocalCluster& cluster, std::vector<int> coordinators, int client,
                 History* history, const std::atomic<bool>* stop) {
  std::mt19937 rng(2000 + client);
  std::vector<KvClient> nodes;
  ClientOptions fast = cluster.client_options();
  fast.read_timeout_ms = 4000;
  for (int i : coordinators) {
    nodes.emplace_back(cluster.node(i).host, cluster.node(i).http_port, fast);
  }
  for (int op = 0; !stop->load(); ++op) {
    const std::string key = rng() % 2 == 0
                                ? "shared-" + std::to_string(rng() % 8)
                                : "c" + std::to_string(client) + "-" + std::to_string(rng() % 64);
    KvClient& node = nodes[rng() % nodes.size()];
    const uint64_t start = now_ns();
    if (rng() % 3 != 0) {
      const std::string value = "c" + std::to_string(client) + "-op" + std::to_string(op);
      history->write(key, value, start, now_ns(), to_write_outcome(node.put(key, value, "2")));
    } else {
      history->read(key, start, now_ns(), to_read_outcome(node.get(key, "2")));
    }
  }
}

}  // namespace

TEST_CASE("membership: join a 4th and 5th node under writes then decommission one loses nothing",
          "[cluster][membership]") {
  ClusterOptions options;
  options.extra_args = {"--epoch-interval-s", "2"};
  LocalCluster cluster(options);
  start_or_fail(cluster);
  History history;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  // Coordinators 1 and 3 stay for the whole test; node 2 is the one decommissioned.
  for (int c = 0; c < 3; ++c) {
    clients.emplace_back(client_loop, std::cref(cluster), std::vector<int>{1, 3}, c, &history,
                         &stop);
  }
  auto ops = [&] { return history.check().writes_ok; };
  REQUIRE(poll_until(60'000, [&] { return ops() >= 200; }));

  auto fail_with_logs = [&](const std::string& what) {
    stop = true;
    for (auto& t : clients) t.join();
    cluster.dump_all_logs();
    FAIL(what);
  };
  auto n4 = cluster.add_node();
  REQUIRE(n4.ok());
  if (!wait_members(cluster, 1, {"n1", "n2", "n3", "n4"}, kTransitionTimeoutMs)) {
    fail_with_logs("n4 did not finish joining");
  }
  const size_t after_n4 = ops();
  REQUIRE(poll_until(60'000, [&] { return ops() >= after_n4 + 100; }));
  auto n5 = cluster.add_node();
  REQUIRE(n5.ok());
  if (!wait_members(cluster, 1, {"n1", "n2", "n3", "n4", "n5"}, kTransitionTimeoutMs)) {
    fail_with_logs("n5 did not finish joining");
  }
  CHECK(metric(cluster, 5, "chorus_stream_partitions_total") > 0);
  const size_t after_n5 = ops();
  REQUIRE(poll_until(60'000, [&] { return ops() >= after_n5 + 100; }));

  KvClient admin = client_for(cluster, 3);
  JsonReply accepted = admin.post_json("/v1/cluster/nodes/n2/decommission", "");
  REQUIRE(accepted.http_status == 202);
  auto exit_status = cluster.wait_exit(2, kTransitionTimeoutMs);
  if (!exit_status.ok()) fail_with_logs("n2 did not leave: " + exit_status.status().to_string());
  CHECK(*exit_status == 0);
  if (!wait_members(cluster, 1, {"n1", "n3", "n4", "n5"}, kTransitionTimeoutMs)) {
    fail_with_logs("n2's departure did not complete");
  }
  // Restarted on its old data (a container restarted by Kubernetes), n2 refuses to run instead
  // of joining again.
  REQUIRE(cluster.restart(2).ok());
  auto refused = cluster.wait_exit(2, kTransitionTimeoutMs);
  REQUIRE(refused.ok());
  CHECK(*refused != 0);
  CHECK(cluster.dump_logs(2, 5).find("does not join again") != std::string::npos);
  const size_t after_leave = ops();
  REQUIRE(poll_until(60'000, [&] { return ops() >= after_leave + 100; }));
  stop = true;
  for (auto& t : clients) t.join();

  // Every key: the newest version at R=all, and the same answer at R=2 from every remaining node.
  std::vector<std::string> keys;
  for (int k = 0; k < 8; ++k) keys.push_back("shared-" + std::to_string(k));
  for (int c = 0; c < 3; ++c) {
    for (int k = 0; k < 64; ++k) keys.push_back("c" + std::to_string(c) + "-" + std::to_string(k));
  }
  KvClient verifier = client_for(cluster, 1);
  size_t unreadable_at_r2 = 0;
  for (const std::string& key : keys) {
    ReadReply all;
    REQUIRE(poll_until(kConvergeTimeoutMs, [&] {
      all = verifier.get(key, "all");
      return all.ok() || all.not_found();
    }));
    history.record_final(key, all.value.value_or(""), all.timestamp, all.ok());
    for (int i : {1, 3, 4, 5}) {
      ReadReply r2 = client_for(cluster, i).get(key, "2");
      if (!(r2.ok() || r2.not_found()) || r2.value != all.value) ++unreadable_at_r2;
    }
  }
  HistoryReport report = history.check();
  INFO(report.to_string());
  double refusals = 0;
  double retries = 0;
  for (int i : {1, 3, 4, 5}) {
    refusals += metric(cluster, i, "chorus_replica_stale_ring_refusals_total");
    retries += metric(cluster, i, "chorus_write_stale_ring_retries_total");
  }
  WARN(report.to_string() << "stale-ring refusals " << refusals << ", writes retried " << retries);
  CHECK(report.writes_ok > 300);
  CHECK(report.lost_acknowledged_writes.count == 0);
  CHECK(report.stale_reads.count == 0);
  CHECK(report.later_write_lost.count == 0);
  CHECK(report.unknown_values.count == 0);
  CHECK(unreadable_at_r2 == 0);
}

TEST_CASE("membership: kill -9 of every node recovers the metadata log and the same ring",
          "[cluster][membership]") {
  LocalCluster cluster;
  start_or_fail(cluster);
  REQUIRE(
      poll_until(kReadyTimeoutMs, [&] { return !leader_of(cluster_view(cluster, 1)).empty(); }));
  KvClient c1 = client_for(cluster, 1);
  for (int k = 0; k < 50; ++k) REQUIRE(c1.put("durable-" + std::to_string(k), "v", "2").ok());
  const uint64_t epoch_before = epoch_of(cluster_view(cluster, 1));
  std::vector<std::string> owners_before;
  for (int k = 0; k < 20; ++k) {
    owners_before.push_back(
        c1.get_json("/v1/debug/owners/key-" + std::to_string(k)).json["owners"].dump());
  }

  for (int i = 1; i <= 3; ++i) REQUIRE(cluster.kill(i, SIGKILL).ok());
  for (int i = 1; i <= 3; ++i) REQUIRE(cluster.restart(i).ok());
  REQUIRE(cluster.wait_ready(kReadyTimeoutMs).ok());
  REQUIRE(
      poll_until(kReadyTimeoutMs, [&] { return !leader_of(cluster_view(cluster, 2)).empty(); }));
  for (int i = 1; i <= 3; ++i) {
    nlohmann::json view = cluster_view(cluster, i);
    CHECK(epoch_of(view) >= epoch_before);
    CHECK(view["members"].size() == 3);
    CHECK(count_in_log(cluster, i, "metadata log recovered") == 1);
    CHECK(count_in_log(cluster, i, "bootstrapped a new cluster") <= 1);  // only the first start
  }
  KvClient c3 = client_for(cluster, 3);
  for (int k = 0; k < 20; ++k) {
    CHECK(c3.get_json("/v1/debug/owners/key-" + std::to_string(k)).json["owners"].dump() ==
          owners_before[static_cast<size_t>(k)]);
  }
  for (int k = 0; k < 50; ++k) {
    ReadReply r = c3.get("durable-" + std::to_string(k), "2");
    REQUIRE(r.ok());
    CHECK(r.value == "v");
  }
}
