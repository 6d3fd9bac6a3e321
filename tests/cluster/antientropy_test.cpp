// Anti-entropy in real chorusd processes: a replica that missed writes and deletes while it was
// down (hinted handoff off, no reads, so nothing but anti-entropy can repair it) converges after
// the epoch advances, deleted keys stay deleted, and the bytes moved stay close to what was
// missing. Also chorusctl-style admin routes: POST /v1/admin/repair and GET /v1/admin/repair.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/cluster/cluster_fixture.h"

using namespace chorus::testkit;

namespace {

constexpr int kNewKeys = 20'000;
constexpr int kDeletedKeys = 1'000;
constexpr size_t kValueBytes = 200;
constexpr int kWriters = 4;
constexpr int kConvergeDeadlineMs = 240'000;

std::string value_for(const std::string& key) {
  std::string v = key + ":";
  while (v.size() < kValueBytes) v += static_cast<char>('a' + v.size() % 26);
  return v;
}

// Runs fn(i, client) for i in [0, count) spread over kWriters threads, each with its own
// connection to the node `node_of(i)`; returns how many calls returned false.
int parallel(const LocalCluster& cluster, int count, const std::function<int(int)>& node_of,
             const std::function<bool(int, KvClient&)>& fn) {
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      std::vector<KvClient> clients;
      for (int n = 1; n <= cluster.size(); ++n) clients.push_back(client_for(cluster, n));
      for (int i = t; i < count; i += kWriters) {
        if (!fn(i, clients[node_of(i) - 1])) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  return failures.load();
}

nlohmann::json repair_status(const LocalCluster& cluster, int i) {
  KvClient c = client_for(cluster, i);
  JsonReply r = c.get_json("/v1/admin/repair");
  return r.http_status == 200 && r.json.is_object() ? r.json : nlohmann::json();
}

uint64_t epoch_on(const LocalCluster& cluster, int i) {
  KvClient c = client_for(cluster, i);
  JsonReply r = c.get_json("/v1/cluster");
  return r.http_status == 200 && r.json.is_object() ? r.json.value("epoch", uint64_t{0}) : 0;
}

// Every partition node i replicates is verified (trees equal on every replica) through `epoch`.
bool verified_through(const LocalCluster& cluster, int i, uint64_t epoch) {
  const nlohmann::json s = repair_status(cluster, i);
  if (!s.is_object() || !s["partitions"].is_array() || s["partitions"].empty()) return false;
  for (const auto& p : s["partitions"]) {
    if (!p["verified_through"].is_number() || p["verified_through"].get<uint64_t>() < epoch) {
      return false;
    }
  }
  return true;
}

}  // namespace

TEST_CASE("anti-entropy: a node that missed 20000 writes and 1000 deletes converges without reads",
          "[cluster][aae]") {
  ClusterOptions options;
  options.extra_args = {"--hints=false", "--epoch-interval-s=2"};
  LocalCluster cluster(options);
  start_or_fail(cluster);

  // Keys every replica holds, 1,000 of which are deleted while n3 is down.
  const int pre_failures = parallel(
      cluster, kDeletedKeys, [](int i) { return 1 + i % 3; },
      [](int i, KvClient& c) {
        const std::string key = "old-" + std::to_string(i);
        return c.put(key, value_for(key), "all").http_status == 200;
      });
  REQUIRE(pre_failures == 0);

  REQUIRE(cluster.kill(3, SIGKILL).ok());
  const int write_failures = parallel(
      cluster, kNewKeys, [](int i) { return 1 + i % 2; },
      [](int i, KvClient& c) {
        const std::string key = "new-" + std::to_string(i);
        return c.put(key, value_for(key), 2).http_status == 200;
      });
  REQUIRE(write_failures == 0);
  const int delete_failures = parallel(
      cluster, kDeletedKeys, [](int i) { return 1 + i % 2; },
      [](int i, KvClient& c) { return c.del("old-" + std::to_string(i), 2).http_status == 200; });
  REQUIRE(delete_failures == 0);
  // What n3 misses: every new record, and a tombstone per deleted key.
  uint64_t missing_bytes = 0;
  for (int i = 0; i < kNewKeys; ++i) {
    const std::string key = "new-" + std::to_string(i);
    missing_bytes += key.size() + value_for(key).size();
  }
  for (int i = 0; i < kDeletedKeys; ++i) missing_bytes += ("old-" + std::to_string(i)).size();
  // Every write above is stamped with an epoch <= this one.
  const uint64_t written_epoch = epoch_on(cluster, 1);
  REQUIRE(written_epoch > 0);
  double bytes_before = 0;
  for (int i = 1; i <= 2; ++i) bytes_before += metric(cluster, i, "chorus_aae_bytes_total");

  REQUIRE(cluster.restart(3).ok());
  REQUIRE(cluster.wait_ready(kReadyTimeoutMs).ok());
  const uint64_t restart_epoch = epoch_on(cluster, 3);
  const auto restarted_at = std::chrono::steady_clock::now();

  // Repaired: n3 stored every version it missed. Converged: besides, every node verified every
  // partition through the epoch of the last write (its trees equal every other replica's).
  uint64_t repaired_epoch = 0;
  int64_t repaired_ms = -1;
  const bool converged = poll_until(
      kConvergeDeadlineMs,
      [&] {
        if (repaired_ms < 0) {
          if (metric(cluster, 3, "chorus_aae_keys_repaired_total") < kNewKeys + kDeletedKeys) {
            return false;
          }
          repaired_epoch = epoch_on(cluster, 3);
          repaired_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - restarted_at)
                            .count();
        }
        for (int i = 1; i <= 3; ++i) {
          if (!verified_through(cluster, i, written_epoch)) return false;
        }
        return true;
      },
      200);
  if (!converged) {
    for (int i = 1; i <= 3; ++i) WARN("n" << i << ": " << repair_status(cluster, i).dump());
    cluster.dump_all_logs(40);
  }
  REQUIRE(converged);
  const auto converge_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now() - restarted_at)
                               .count();
  const uint64_t converged_epoch = epoch_on(cluster, 3);

  // Key by key, on every node's own replica.
  const int value_mismatches = parallel(
      cluster, kNewKeys * 3, [](int i) { return 1 + i % 3; },
      [](int i, KvClient& c) {
        const std::string key = "new-" + std::to_string(i / 3);
        JsonReply r = c.get_json("/v1/debug/local/" + key);
        return r.http_status == 200 && r.json.value("value", "") == value_for(key) &&
               !r.json.value("tombstone", true);
      });
  CHECK(value_mismatches == 0);
  const int resurrected = parallel(
      cluster, kDeletedKeys * 3, [](int i) { return 1 + i % 3; },
      [](int i, KvClient& c) {
        JsonReply r = c.get_json("/v1/debug/local/old-" + std::to_string(i / 3));
        return r.http_status == 200 && r.json.value("tombstone", false);
      });
  CHECK(resurrected == 0);

  double repaired_bytes = metric(cluster, 3, "chorus_aae_bytes_repaired_total");
  double record_bytes = 0;
  double all_bytes = -bytes_before;
  for (int i = 1; i <= 3; ++i) {
    record_bytes += metric(cluster, i, "chorus_aae_record_bytes_total");
    all_bytes += metric(cluster, i, "chorus_aae_bytes_total");
  }
  WARN("anti-entropy repaired n3 "
       << repaired_ms << " ms after the restart (epoch " << restart_epoch << " -> "
       << repaired_epoch << "), verified everything after " << converge_ms << " ms (epoch "
       << converged_epoch << "); missing " << missing_bytes << " bytes; n3 stored "
       << repaired_bytes << " bytes of records; records moved " << record_bytes
       << " bytes; tree traffic " << all_bytes - record_bytes << " bytes");
  // Records carry a small header on top of key + value: the records moved stay within twice what
  // was missing. The tree traffic (roots, hashes, key lists) comes on top; here, with nearly every
  // bucket of n3 differing, it is the largest it gets per record, and still less than the data.
  const double tree_bytes = all_bytes - record_bytes;
  CHECK(repaired_bytes >= static_cast<double>(missing_bytes));
  CHECK(record_bytes <= 2.0 * static_cast<double>(missing_bytes));
  CHECK(tree_bytes < static_cast<double>(missing_bytes));
}

TEST_CASE("anti-entropy: POST /v1/admin/repair runs a full sweep that repairs a silent divergence",
          "[cluster][aae]") {
  // n3 misses writes while down. The epoch interval is an hour, so the writes' epoch never
  // closes and the epoch-triggered path never looks at them; the full-sweep timer is a day away.
  // Only the sweep started by hand on n1 can repair n3.
  ClusterOptions options;
  options.extra_args = {"--hints=false", "--epoch-interval-s=3600"};
  LocalCluster cluster(options);
  start_or_fail(cluster);
  REQUIRE(cluster.kill(3, SIGKILL).ok());
  KvClient c1 = client_for(cluster, 1);
  for (int i = 0; i < 300; ++i) {
    const std::string key = "sweep-" + std::to_string(i);
    REQUIRE(c1.put(key, value_for(key), 2).http_status == 200);
  }
  REQUIRE(cluster.restart(3).ok());
  REQUIRE(cluster.wait_ready(kReadyTimeoutMs).ok());
  // A sweep compares with the peers alive at its start: wait until n1's gossip sees n3 back.
  REQUIRE(poll_until(kConvergeTimeoutMs, [&] {
    JsonReply view = c1.get_json("/v1/cluster");
    if (view.http_status != 200 || !view.json.is_object()) return false;
    for (const auto& m : view.json["members"]) {
      if (m.value("id", "") == "n3") return m.value("state", "") == "alive";
    }
    return false;
  }));
  JsonReply posted = c1.post_json("/v1/admin/repair", "");
  REQUIRE(posted.http_status == 202);
  const bool repaired = poll_until(60'000, [&] {
    for (int i = 0; i < 300; ++i) {
      if (!local_has(cluster, 3, "sweep-" + std::to_string(i),
                     value_for("sweep-" + std::to_string(i)))) {
        return false;
      }
    }
    return true;
  });
  if (!repaired) WARN(repair_status(cluster, 1).dump());
  REQUIRE(repaired);
  CHECK(metric(cluster, 1, "chorus_aae_full_sweeps_total") > 0);
  CHECK(metric(cluster, 3, "chorus_aae_keys_repaired_total") >= 300);
  // The status route answers with the per-partition view.
  const nlohmann::json status = repair_status(cluster, 1);
  REQUIRE(status.is_object());
  CHECK(status["partitions"].size() == 256);
  CHECK(status.value("enabled", false));
}

TEST_CASE("anti-entropy: tombstones are collected only once every replica has them",
          "[cluster][aae]") {
  ClusterOptions options;
  // A one-second grace: collection follows verification closely, so the test sees both orders.
  options.extra_args = {"--hints=false", "--epoch-interval-s=2", "--tombstone-grace-s=1"};
  LocalCluster cluster(options);
  start_or_fail(cluster);
  constexpr int kKeys = 200;
  KvClient c1 = client_for(cluster, 1);
  for (int i = 0; i < kKeys; ++i) {
    const std::string key = "gc-" + std::to_string(i);
    REQUIRE(c1.put(key, value_for(key), "all").http_status == 200);
  }
  // n3 keeps the values of the keys deleted while it is down.
  REQUIRE(cluster.kill(3, SIGKILL).ok());
  for (int i = 0; i < kKeys; i += 2)
    REQUIRE(c1.del("gc-" + std::to_string(i), 2).http_status == 200);
  // Their epoch cannot be verified without n3: n1 and n2 keep the tombstones, however old.
  const uint64_t deleted_epoch = epoch_on(cluster, 1);
  REQUIRE(poll_until(30'000, [&] { return epoch_on(cluster, 1) >= deleted_epoch + 3; }));
  for (int i = 0; i < kKeys; i += 2) {
    KvClient c2 = client_for(cluster, 2);
    JsonReply r = c2.get_json("/v1/debug/local/gc-" + std::to_string(i));
    REQUIRE(r.http_status == 200);
    REQUIRE(r.json.value("tombstone", false));
  }
  CHECK(metric(cluster, 1, "chorus_aae_tombstones_collected_total") == 0);

  REQUIRE(cluster.restart(3).ok());
  REQUIRE(cluster.wait_ready(kReadyTimeoutMs).ok());
  // Anti-entropy gives n3 the tombstones, the epoch is verified, and every node collects them.
  auto gone_everywhere = [&] {
    for (int n = 1; n <= 3; ++n) {
      KvClient c = client_for(cluster, n);
      for (int i = 0; i < kKeys; i += 2) {
        if (c.get_json("/v1/debug/local/gc-" + std::to_string(i)).http_status != 404) return false;
      }
    }
    return true;
  };
  const bool collected = poll_until(120'000, gone_everywhere, 500);
  if (!collected) {
    for (int i = 1; i <= 3; ++i) WARN("n" << i << ": " << repair_status(cluster, i).dump());
  }
  REQUIRE(collected);
  for (int n = 1; n <= 3; ++n) {
    CHECK(metric(cluster, n, "chorus_aae_tombstones_collected_total") >= kKeys / 2);
  }
  // A full sweep everywhere afterwards brings nothing back, and the kept keys are untouched.
  for (int n = 1; n <= 3; ++n) {
    REQUIRE(client_for(cluster, n).post_json("/v1/admin/repair", "").http_status == 202);
  }
  REQUIRE(poll_until(60'000, [&] {
    for (int n = 1; n <= 3; ++n) {
      const nlohmann::json s = repair_status(cluster, n);
      if (!s.is_object() || s.value("queued", 1) != 0 || !s["in_flight"].empty()) return false;
    }
    return true;
  }));
  CHECK(gone_everywhere());
  for (int i = 0; i < kKeys; ++i) {
    const std::string key = "gc-" + std::to_string(i);
    const ReadReply r = c1.get(key, "all");
    if (i % 2 == 0) {
      CHECK(r.http_status == 404);
    } else {
      CHECK(r.http_status == 200);
      for (int n = 1; n <= 3; ++n) CHECK(local_has(cluster, n, key, value_for(key)));
    }
  }
}
