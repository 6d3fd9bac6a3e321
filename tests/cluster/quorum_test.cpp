// Quorum reads and writes across real chorusd processes, with a node killed and restarted.
#include <catch2/catch.hpp>

#include "tests/cluster/cluster_fixture.h"

using namespace chorus::testkit;

namespace {

std::string engine_under_test() {
  return GENERATE(as<std::string>{}, "rocksdb", "leveldb");
}

}  // namespace

TEST_CASE("Writes at W=2 are readable at R=2 from every node", "[cluster]") {
  const std::string engine = engine_under_test();
  ClusterOptions options;
  options.engine = engine;
  LocalCluster cluster(options);
  start_or_fail(cluster);
  INFO("engine " << engine);

  for (int i = 0; i < 60; ++i) {
    KvClient writer = client_for(cluster, 1 + i % 3);
    WriteReply w = writer.put("k" + std::to_string(i), "v" + std::to_string(i), 2);
    REQUIRE(w.http_status == 200);
    REQUIRE(w.acks >= 2);
  }
  for (int node = 1; node <= 3; ++node) {
    KvClient reader = client_for(cluster, node);
    for (int i = 0; i < 60; ++i) {
      ReadReply r = reader.get("k" + std::to_string(i), 2);
      REQUIRE(r.http_status == 200);
      REQUIRE(r.value == "v" + std::to_string(i));
    }
    REQUIRE(reader.get("never-written", 2).http_status == 404);
  }
  // Deletes are versioned tombstones: gone from every node.
  REQUIRE(client_for(cluster, 2).del("k7", 2).http_status == 200);
  for (int node = 1; node <= 3; ++node) {
    REQUIRE(client_for(cluster, node).get("k7", 2).http_status == 404);
  }
}

TEST_CASE(
    "With one node killed W=2 and R=2 still work - W=3 answers 503 naming 2 acks - the "
    "restarted node receives its hints",
    "[cluster]") {
  const std::string engine = engine_under_test();
  ClusterOptions options;
  options.engine = engine;
  LocalCluster cluster(options);
  start_or_fail(cluster);
  INFO("engine " << engine);

  REQUIRE(cluster.kill(3, SIGKILL).ok());
  KvClient c1 = client_for(cluster, 1);
  // The first writes may be coordinated before node 3 is seen dead; they fail over to hints too.
  for (int i = 0; i < 100; ++i) {
    WriteReply w = c1.put("down-" + std::to_string(i), "v" + std::to_string(i), 2);
    REQUIRE(w.http_status == 200);
  }
  for (int i = 0; i < 100; ++i) {
    ReadReply r = client_for(cluster, 2).get("down-" + std::to_string(i), 2);
    REQUIRE(r.value == "v" + std::to_string(i));
  }
  WriteReply all = c1.put("needs-all", "x", "all");
  REQUIRE(all.http_status == 503);
  REQUIRE(all.acks == 2);
  REQUIRE(all.required == 3);
  REQUIRE(all.error == "unavailable");

  REQUIRE(cluster.restart(3).ok());
  REQUIRE(cluster.wait_ready(kReadyTimeoutMs).ok());
  // Hints flow back without any read touching the keys.
  const bool delivered = poll_until(kConvergeTimeoutMs, [&] {
    for (int i = 0; i < 100; ++i) {
      if (!local_has(cluster, 3, "down-" + std::to_string(i), "v" + std::to_string(i))) {
        return false;
      }
    }
    return true;
  });
  if (!delivered) cluster.dump_all_logs();
  REQUIRE(delivered);
  double hints_delivered = 0;
  for (int node = 1; node <= 2; ++node) {
    hints_delivered += metric(cluster, node, "chorus_hints_delivered_total");
  }
  REQUIRE(hints_delivered >= 100);
  // needs-all reached two replicas; with node 3 back (once gossip on node 1 has seen it alive
  // again), W=3 succeeds again.
  REQUIRE(poll_until(kConvergeTimeoutMs,
                     [&] { return c1.put("needs-all", "y", "all").http_status == 200; }));
}

TEST_CASE("Read repair brings a restarted node up to date when hints are off", "[cluster]") {
  ClusterOptions options;
  options.extra_args = {"--hints=false"};
  LocalCluster cluster(options);
  start_or_fail(cluster);

  REQUIRE(cluster.kill(3, SIGKILL).ok());
  KvClient c1 = client_for(cluster, 1);
  for (int i = 0; i < 50; ++i) {
    REQUIRE(c1.put("rr-" + std::to_string(i), "v" + std::to_string(i), 2).http_status == 200);
  }
  REQUIRE(cluster.restart(3).ok());
  REQUIRE(cluster.wait_ready(kReadyTimeoutMs).ok());
  for (int i = 0; i < 50; ++i) {
    REQUIRE_FALSE(local_has(cluster, 3, "rr-" + std::to_string(i), "v" + std::to_string(i)));
  }
  // Wait until node 1 sees node 3 alive again, then read at R=all: the stale replica is among
  // the repliers, so the read repairs it before answering.
  REQUIRE(poll_until(kConvergeTimeoutMs, [&] { return c1.get("rr-0", "all").http_status == 200; }));
  for (int i = 0; i < 50; ++i) {
    ReadReply r = c1.get("rr-" + std::to_string(i), "all");
    REQUIRE(r.value == "v" + std::to_string(i));
  }
  for (int i = 0; i < 50; ++i) {
    REQUIRE(local_has(cluster, 3, "rr-" + std::to_string(i), "v" + std::to_string(i)));
  }
  REQUIRE(metric(cluster, 1, "chorus_read_repairs_total") >= 50);
}

TEST_CASE("Every acknowledged write survives kill -9 of the whole cluster", "[cluster]") {
  const std::string engine = engine_under_test();
  ClusterOptions options;
  options.engine = engine;
  LocalCluster cluster(options);
  start_or_fail(cluster);
  INFO("engine " << engine);

  for (int i = 0; i < 300; ++i) {
    KvClient c = client_for(cluster, 1 + i % 3);
    REQUIRE(c.put("durable-" + std::to_string(i), "v" + std::to_string(i), 2).http_status == 200);
  }
  REQUIRE(client_for(cluster, 1).del("durable-5", 2).http_status == 200);
  for (int node = 1; node <= 3; ++node) REQUIRE(cluster.kill(node, SIGKILL).ok());
  for (int node = 1; node <= 3; ++node) REQUIRE(cluster.restart(node).ok());
  REQUIRE(cluster.wait_ready(kReadyTimeoutMs).ok());
  for (int i = 0; i < 300; ++i) {
    ReadReply r = client_for(cluster, 1 + i % 3).get("durable-" + std::to_string(i), 2);
    if (i == 5) {
      REQUIRE(r.http_status == 404);
    } else {
      REQUIRE(r.value == "v" + std::to_string(i));
    }
  }
}

TEST_CASE("Cluster status - owners and health are served by every node", "[cluster]") {
  LocalCluster cluster;
  start_or_fail(cluster);
  for (int node = 1; node <= 3; ++node) {
    KvClient c = client_for(cluster, node);
    JsonReply status = c.get_json("/v1/cluster");
    REQUIRE(status.http_status == 200);
    REQUIRE(status.json["node"] == "n" + std::to_string(node));
    REQUIRE(status.json["partitions"] == 256);
    REQUIRE(status.json["replicas"] == 3);
    REQUIRE(status.json["members"].size() == 3);
    REQUIRE(poll_until(kConvergeTimeoutMs, [&] {
      JsonReply s = c.get_json("/v1/cluster");
      for (const auto& m : s.json["members"]) {
        if (m["state"] != "alive") return false;
      }
      return true;
    }));
    JsonReply owners = c.get_json("/v1/debug/owners/some-key");
    REQUIRE(owners.json["owners"].size() == 3);
    REQUIRE(c.get_json("/v1/health").http_status == 200);
  }
  // Every node computes the same owners for a key.
  const auto expected = client_for(cluster, 1).get_json("/v1/debug/owners/abc").json["owners"];
  for (int node = 2; node <= 3; ++node) {
    REQUIRE(client_for(cluster, node).get_json("/v1/debug/owners/abc").json["owners"] == expected);
  }
}

TEST_CASE("A paused node (SIGSTOP) does not stall quorum requests - it catches up when resumed",
          "[cluster]") {
  LocalCluster cluster;
  start_or_fail(cluster);
  REQUIRE(cluster.kill(3, SIGSTOP).ok());
  // Node 3 accepts connections (the kernel does) but never answers: its RPCs can only time out.
  // W=2 and R=2 are met by nodes 1 and 2 without waiting for it.
  for (int i = 0; i < 60; ++i) {
    KvClient c = client_for(cluster, 1 + i % 2);
    REQUIRE(c.put("paused-" + std::to_string(i), "v" + std::to_string(i), 2).http_status == 200);
    REQUIRE(c.get("paused-" + std::to_string(i), 2).value == "v" + std::to_string(i));
  }
  REQUIRE(cluster.kill(3, SIGCONT).ok());
  // Requests that were queued to it while paused, and hints kept for it, bring it up to date.
  const bool caught_up = poll_until(kConvergeTimeoutMs, [&] {
    for (int i = 0; i < 60; ++i) {
      if (!local_has(cluster, 3, "paused-" + std::to_string(i), "v" + std::to_string(i))) {
        return false;
      }
    }
    return true;
  });
  if (!caught_up) cluster.dump_all_logs();
  REQUIRE(caught_up);
  REQUIRE(client_for(cluster, 3).put("after-resume", "ok", "all").http_status == 200);
}

TEST_CASE("A write at W=1 still reaches every owner", "[cluster]") {
  LocalCluster cluster;
  start_or_fail(cluster);
  // Through each coordinator, so that the coordinator is sometimes the first owner (its local
  // apply alone meets W=1) and sometimes not.
  for (int i = 0; i < 30; ++i) {
    KvClient c = client_for(cluster, 1 + i % 3);
    REQUIRE(c.put("w1-" + std::to_string(i), "v" + std::to_string(i), 1).http_status == 200);
  }
  // No reads: only the write fan-out can have put the value on every node.
  const bool everywhere = poll_until(kConvergeTimeoutMs, [&] {
    for (int node = 1; node <= 3; ++node) {
      for (int i = 0; i < 30; ++i) {
        if (!local_has(cluster, node, "w1-" + std::to_string(i), "v" + std::to_string(i))) {
          return false;
        }
      }
    }
    return true;
  });
  REQUIRE(everywhere);
}
