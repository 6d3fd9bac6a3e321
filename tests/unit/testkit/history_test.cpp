// History checker: each anomaly on a hand-built history, and histories that must pass.
// Times are plain numbers (ns); only their order matters to the checker.
#include "tests/testkit/history.h"

#include <catch2/catch.hpp>

#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace chorus::testkit {
namespace {

TEST_CASE("sequential writes and reads are clean", "[history]") {
  History h;
  h.write("k", "v1", 0, 10, WriteOutcome::ok(100));
  h.read("k", 20, 30, ReadOutcome::ok("v1", 100));
  h.write("k", "v2", 40, 50, WriteOutcome::ok(200));
  h.read("k", 60, 70, ReadOutcome::ok("v2", 200));
  h.read("other", 60, 70, ReadOutcome::not_found());
  h.record_final("k", "v2", 200, true);
  HistoryReport report = h.check();
  INFO(report.to_string());
  CHECK(report.clean());
  CHECK(report.writes_ok == 2);
  CHECK(report.reads_ok == 2);
  CHECK(report.reads_not_found == 1);
  CHECK(report.keys == 2);
  CHECK(report.keys_verified == 1);
}

TEST_CASE("a read after an acknowledged write returning an older version is stale", "[history]") {
  History h;
  h.write("k", "v1", 0, 10, WriteOutcome::ok(100));
  h.write("k", "v2", 20, 30, WriteOutcome::ok(200));
  h.read("k", 40, 50, ReadOutcome::ok("v1", 100));
  HistoryReport report = h.check();
  CHECK(report.stale_reads.count == 1);
  REQUIRE(report.stale_reads.examples.size() == 1);
  CHECK(report.stale_reads.examples[0].find("'v2'@200") != std::string::npos);
  CHECK_FALSE(report.clean());
}

TEST_CASE("not_found after an acknowledged put is stale", "[history]") {
  History h;
  h.write("k", "v1", 0, 10, WriteOutcome::ok(100));
  h.read("k", 11, 20, ReadOutcome::not_found());
  CHECK(h.check().stale_reads.count == 1);
}

TEST_CASE("a read concurrent with a write may return the older version", "[history]") {
  History h;
  h.write("k", "v1", 0, 10, WriteOutcome::ok(100));
  h.write("k", "v2", 20, 40, WriteOutcome::ok(200));
  h.read("k", 30, 50, ReadOutcome::ok("v1", 100));  // started before v2 was acknowledged
  h.read("k", 25, 35, ReadOutcome::ok("v2", 200));  // and may see the new one early
  h.read("k", 5, 8, ReadOutcome::not_found());      // before v1 was acknowledged
  CHECK(h.check().clean());
}

TEST_CASE("a re-stamped copy of the same write is not stale", "[history]") {
  History h;
  h.write("k", "v1", 0, 10, WriteOutcome::ok(150));
  h.read("k", 20, 30, ReadOutcome::ok("v1", 120));  // a replica kept the pre-restamp version
  CHECK(h.check().clean());
}

TEST_CASE("a final version older than the newest acknowledged write is a lost write", "[history]") {
  History h;
  h.write("a", "a1", 0, 10, WriteOutcome::ok(100));
  h.write("a", "a2", 20, 30, WriteOutcome::ok(200));
  h.record_final("a", "a1", 100, true);
  h.write("b", "b1", 0, 10, WriteOutcome::ok(100));
  h.record_final("b", "", 0, false);
  h.write("c", "c1", 0, 10, WriteOutcome::ok(100));
  h.write("c", "c2", 5, 15, WriteOutcome::indeterminate());
  h.record_final("c", "c2", 300, true);  // a newer indeterminate write won: fine
  HistoryReport report = h.check();
  INFO(report.to_string());
  CHECK(report.lost_acknowledged_writes.count == 2);
  CHECK(report.keys_verified == 3);
}

TEST_CASE("a later write with a timestamp not above an earlier acknowledged one is lost",
          "[history]") {
  History h;
  h.write("k", "v1", 0, 10, WriteOutcome::ok(200));
  h.write("k", "v2", 20, 30, WriteOutcome::ok(150));  // clock skew not corrected
  h.write("k", "v3", 40, 50, WriteOutcome::ok(200));  // a tie also loses to the earlier write
  h.write("j", "j1", 0, 30, WriteOutcome::ok(200));
  h.write("j", "j2", 10, 20, WriteOutcome::ok(150));  // concurrent: timestamp order decides
  HistoryReport report = h.check();
  INFO(report.to_string());
  CHECK(report.later_write_lost.count == 2);
  CHECK(report.stale_reads.count == 0);
}

TEST_CASE("values no write may have produced are unknown", "[history]") {
  History h;
  h.write("k", "v1", 0, 10, WriteOutcome::ok(100));
  h.write("k", "bad", 0, 10, WriteOutcome::failed());
  h.write("k", "future", 100, 110, WriteOutcome::indeterminate());
  h.read("k", 20, 30, ReadOutcome::ok("ghost", 500));
  h.read("k", 20, 30, ReadOutcome::ok("bad", 500));
  h.read("k", 20, 30, ReadOutcome::ok("future", 500));
  h.read("other", 20, 30, ReadOutcome::ok("v1", 100));  // a value of another key
  h.record_final("k", "ghost2", 900, true);
  HistoryReport report = h.check();
  INFO(report.to_string());
  CHECK(report.unknown_values.count == 5);
  CHECK(report.writes_failed == 1);
  CHECK(report.writes_indeterminate == 1);
}

TEST_CASE("indeterminate writes may or may not be visible", "[history]") {
  History h;
  h.write("k", "v1", 0, 10, WriteOutcome::ok(100));
  h.write("k", "maybe", 20, 30, WriteOutcome::indeterminate());
  h.read("k", 40, 50, ReadOutcome::ok("v1", 100));     // not applied (yet)
  h.read("k", 60, 70, ReadOutcome::ok("maybe", 180));  // applied after all
  h.write("j", "lost", 0, 10, WriteOutcome::indeterminate());
  h.read("j", 20, 30, ReadOutcome::not_found());
  h.record_final("j", "", 0, false);
  h.record_final("k", "maybe", 180, true);
  HistoryReport report = h.check();
  INFO(report.to_string());
  CHECK(report.clean());
  CHECK(report.writes_indeterminate == 2);
}

TEST_CASE("deletes are versioned writes", "[history]") {
  History h;
  h.write("k", "v1", 0, 10, WriteOutcome::ok(100));
  h.del("k", 20, 30, WriteOutcome::ok(200));
  h.read("k", 40, 50, ReadOutcome::not_found());
  h.record_final("k", "", 0, false);
  CHECK(h.check().clean());

  h.read("k", 60, 70, ReadOutcome::ok("v1", 100));  // the deleted value came back
  HistoryReport report = h.check();
  CHECK(report.stale_reads.count == 1);
  CHECK(report.deletes == 1);

  History indeterminate;
  indeterminate.write("k", "v1", 0, 10, WriteOutcome::ok(100));
  indeterminate.del("k", 5, 30, WriteOutcome::indeterminate());  // concurrent with v1: may win
  indeterminate.del("k", 40, 50, WriteOutcome::ok(0));  // no timestamp: treated as indeterminate
  indeterminate.read("k", 60, 70, ReadOutcome::not_found());
  indeterminate.record_final("k", "", 0, false);
  HistoryReport second = indeterminate.check();
  INFO(second.to_string());
  CHECK(second.clean());
  CHECK(second.writes_indeterminate == 2);

  // An unacknowledged delete that ended before the put started may still win: it may have
  // reached only a replica the put never did, so the put was not re-stamped past it.
  History before;
  before.del("k", 0, 10, WriteOutcome::indeterminate());
  before.write("k", "v1", 20, 30, WriteOutcome::ok(100));
  before.read("k", 40, 50, ReadOutcome::not_found());
  CHECK(before.check().stale_reads.count == 0);

  // An acknowledged delete with an older version cannot: the put beat it.
  History older;
  older.del("k", 0, 10, WriteOutcome::ok(50));
  older.write("k", "v1", 20, 30, WriteOutcome::ok(100));
  older.read("k", 40, 50, ReadOutcome::not_found());
  CHECK(older.check().stale_reads.count == 1);

  // Concurrent put and delete stamped with the same HLC value by two coordinators: the larger
  // node id wins the tie (found by the nemesis suite: n1's put and n5's delete, both at one
  // timestamp, then every read answered 404).
  History tie;
  tie.write("k", "v1", 0, 10, WriteOutcome::ok(100, "n1"));
  tie.del("k", 1, 11, WriteOutcome::ok(100, "n5"));
  tie.read("k", 20, 30, ReadOutcome::not_found());
  tie.record_final("k", "", 0, false);
  HistoryReport tied = tie.check();
  INFO(tied.to_string());
  CHECK(tied.clean());
  // The other way round the put wins, and a 404 after it is stale.
  History lost_tie;
  lost_tie.write("k", "v1", 0, 10, WriteOutcome::ok(100, "n5"));
  lost_tie.del("k", 1, 11, WriteOutcome::ok(100, "n1"));
  lost_tie.read("k", 20, 30, ReadOutcome::not_found());
  CHECK(lost_tie.check().stale_reads.count == 1);
}

TEST_CASE("reports keep the first examples and count the rest", "[history]") {
  History h;
  h.write("k", "v1", 0, 10, WriteOutcome::ok(100));
  for (uint64_t i = 0; i < kExamplesMax + 5; ++i) {
    h.read("k", 20 + i, 30 + i, ReadOutcome::not_found());
  }
  HistoryReport report = h.check();
  CHECK(report.stale_reads.count == kExamplesMax + 5);
  CHECK(report.stale_reads.examples.size() == kExamplesMax);
  CHECK(report.to_string().find("stale_reads: 15") != std::string::npos);
}

TEST_CASE("failed reads are counted and never anomalies", "[history]") {
  History h;
  h.write("k", "v1", 0, 10, WriteOutcome::ok(100));
  h.read("k", 20, 30, ReadOutcome::failed());
  HistoryReport report = h.check();
  CHECK(report.clean());
  CHECK(report.reads_failed == 1);
}

// A linearizable in-memory register per key: every operation takes effect inside its interval,
// so any history recorded against it, however interleaved, must be clean.
class AtomicStore {
 public:
  uint64_t put(const std::string& key, const std::string& value) {
    std::lock_guard<std::mutex> lock(mu_);
    data_[key] = {value, ++clock_};
    return clock_;
  }
  bool get(const std::string& key, std::string* value, uint64_t* timestamp) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = data_.find(key);
    if (it == data_.end()) return false;
    *value = it->second.first;
    *timestamp = it->second.second;
    return true;
  }

 private:
  std::mutex mu_;
  uint64_t clock_ = 0;
  std::map<std::string, std::pair<std::string, uint64_t>> data_;
};

TEST_CASE("concurrent clients of a linearizable store produce a clean history", "[history]") {
  constexpr int kThreads = 4;
  constexpr int kOpsPerThread = 2000;
  constexpr int kKeys = 5;
  AtomicStore store;
  History h;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kOpsPerThread; ++i) {
        std::string key = "k" + std::to_string((i * 7 + t) % kKeys);
        uint64_t start = now_ns();
        if (i % 3 == 0) {
          std::string value = "t" + std::to_string(t) + "-" + std::to_string(i);
          uint64_t timestamp = store.put(key, value);
          h.write(key, value, start, now_ns(), WriteOutcome::ok(timestamp));
        } else {
          std::string value;
          uint64_t timestamp = 0;
          bool found = store.get(key, &value, &timestamp);
          h.read(key, start, now_ns(),
                 found ? ReadOutcome::ok(value, timestamp) : ReadOutcome::not_found());
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int k = 0; k < kKeys; ++k) {
    std::string key = "k" + std::to_string(k), value;
    uint64_t timestamp = 0;
    bool found = store.get(key, &value, &timestamp);
    h.record_final(key, value, timestamp, found);
  }
  HistoryReport report = h.check();
  INFO(report.to_string());
  CHECK(report.clean());
  CHECK(report.writes_ok + report.reads_ok + report.reads_not_found ==
        size_t{kThreads} * kOpsPerThread);
  CHECK(report.keys_verified == size_t{kKeys});
}

TEST_CASE("equal timestamps are ordered by the stamping node for later-write-wins", "[history]") {
  // Two coordinators stamped the same HLC value; the node id decides which version is newer.
  History ordered;
  ordered.write("k", "a", 10, 20, WriteOutcome::ok(500, "n1"));
  ordered.write("k", "b", 30, 40, WriteOutcome::ok(500, "n2"));
  CHECK(ordered.check().later_write_lost.count == 0);

  History reversed;
  reversed.write("k", "a", 10, 20, WriteOutcome::ok(500, "n2"));
  reversed.write("k", "b", 30, 40, WriteOutcome::ok(500, "n1"));
  CHECK(reversed.check().later_write_lost.count == 1);

  History unknown_node;  // without node ids, equal timestamps cannot be ordered: reported
  unknown_node.write("k", "a", 10, 20, WriteOutcome::ok(500));
  unknown_node.write("k", "b", 30, 40, WriteOutcome::ok(500));
  CHECK(unknown_node.check().later_write_lost.count == 1);
}

}  // namespace
}  // namespace chorus::testkit
