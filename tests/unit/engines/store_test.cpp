// Store (LWW records + the (partition, epoch, key) index) on memory, rocksdb and leveldb.
#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/coding.h"
#include "core/limits.h"
#include "engines/store.h"
#include "tests/unit/engines/engine_test_util.h"

namespace chorus {
namespace {

using test::TestEngine;

// An engine of each kind in a temp dir, and a Store owning it. Declared in this order so the store
// (and its engine) close before the directory is removed.
struct StoreFixture {
  explicit StoreFixture(EngineKind kind) : engine(kind), store(engine.release(), &clock) {}
  ManualClock clock;
  TestEngine engine;
  Store store;
};

EngineKind any_kind() {
  return GENERATE(EngineKind::kMemory, EngineKind::kRocksDB, EngineKind::kLevelDB);
}

Record make_record(std::string value, uint64_t physical_ms, std::string origin, uint64_t epoch = 1,
                   bool tombstone = false) {
  Record record;
  record.value = std::move(value);
  record.ts = Timestamp::from_parts(physical_ms, 0);
  record.origin = std::move(origin);
  record.epoch = epoch;
  record.tombstone = tombstone;
  return record;
}

bool same_record(const Record& a, const Record& b) {
  return a.value == b.value && a.ts == b.ts && a.origin == b.origin && a.tombstone == b.tombstone &&
         a.epoch == b.epoch && a.expiry_ms == b.expiry_ms;
}

ApplyResult must_apply(Store& store, std::string_view key, uint32_t partition,
                       const Record& record) {
  auto result = store.apply(key, partition, record, false);
  INFO(result.status().to_string());
  REQUIRE(result.ok());
  return std::move(result).value();
}

Record must_get(Store& store, std::string_view key) {
  Record record;
  const Status s = store.get(key, &record);
  INFO(s.to_string());
  REQUIRE(s.ok());
  return record;
}

struct IndexEntry {
  std::string key;
  Timestamp ts;
  uint64_t digest;
};

std::vector<IndexEntry> index_of(Store& store, uint32_t partition, uint64_t epoch) {
  std::vector<IndexEntry> out;
  const Status s =
      store.scan_index(partition, epoch, [&](std::string_view key, Timestamp ts, uint64_t digest) {
        out.push_back(IndexEntry{std::string(key), ts, digest});
        return true;
      });
  INFO(s.to_string());
  REQUIRE(s.ok());
  return out;
}

std::vector<std::string> index_keys(Store& store, uint32_t partition, uint64_t epoch) {
  std::vector<std::string> out;
  for (const IndexEntry& entry : index_of(store, partition, epoch)) out.push_back(entry.key);
  return out;
}

// Every engine key of the index keyspace, whatever its partition and epoch.
size_t raw_index_entries(Engine& engine) {
  std::unique_ptr<EngineIterator> it =
      engine.scan(std::string(1, kIndexKeyspace), std::string(1, kIndexKeyspace + 1));
  size_t count = 0;
  for (; it->valid(); it->next()) ++count;
  REQUIRE(it->status().ok());
  return count;
}

using Keys = std::vector<std::string>;

TEST_CASE("store applies newer versions and refuses older ones") {
  StoreFixture f(any_kind());
  CAPTURE(engine_kind_name(f.store.engine()->kind()));
  Record missing;
  CHECK(f.store.get("k", &missing).is_not_found());

  const Record v1 = make_record("one", 100, "n1");
  ApplyResult first = must_apply(f.store, "k", 3, v1);
  CHECK(first.applied);
  CHECK(same_record(first.current, v1));
  CHECK(same_record(must_get(f.store, "k"), v1));

  const Record v2 = make_record("two", 200, "n1");
  CHECK(must_apply(f.store, "k", 3, v2).applied);
  CHECK(same_record(must_get(f.store, "k"), v2));

  SECTION("an older version is refused and the winner returned") {
    ApplyResult older = must_apply(f.store, "k", 3, make_record("old", 150, "n9"));
    CHECK_FALSE(older.applied);
    CHECK(same_record(older.current, v2));
    CHECK(same_record(must_get(f.store, "k"), v2));
  }
  SECTION("the same version again is not applied (idempotent)") {
    ApplyResult again = must_apply(f.store, "k", 3, v2);
    CHECK_FALSE(again.applied);
    CHECK(same_record(again.current, v2));
    CHECK(index_keys(f.store, 3, 1) == Keys{"k"});
  }
  SECTION("equal timestamps are decided by origin id") {
    const Record higher = make_record("from n2", 200, "n2");
    CHECK(must_apply(f.store, "k", 3, higher).applied);
    ApplyResult lower = must_apply(f.store, "k", 3, make_record("from n0", 200, "n0"));
    CHECK_FALSE(lower.applied);
    CHECK(same_record(lower.current, higher));
  }
  SECTION("the logical part of the timestamp counts") {
    Record next = make_record("logical", 200, "a");
    next.ts = Timestamp::from_parts(200, 1);
    CHECK(must_apply(f.store, "k", 3, next).applied);
    CHECK(same_record(must_get(f.store, "k"), next));
  }
}

TEST_CASE("store keeps tombstones and expired records as versions") {
  StoreFixture f(any_kind());
  CAPTURE(engine_kind_name(f.store.engine()->kind()));
  REQUIRE(must_apply(f.store, "k", 0, make_record("live", 100, "n1")).applied);
  const Record tombstone = make_record("", 200, "n1", 1, /*tombstone=*/true);
  REQUIRE(must_apply(f.store, "k", 0, tombstone).applied);
  CHECK(must_get(f.store, "k").tombstone);

  ApplyResult stale = must_apply(f.store, "k", 0, make_record("stale", 150, "n2"));
  CHECK_FALSE(stale.applied);
  CHECK(same_record(stale.current, tombstone));
  CHECK(index_of(f.store, 0, 1).at(0).digest == record_digest(tombstone));

  CHECK(must_apply(f.store, "k", 0, make_record("reborn", 300, "n1")).applied);
  CHECK_FALSE(must_get(f.store, "k").tombstone);

  Record expiring = make_record("short-lived", 400, "n1");
  expiring.expiry_ms = f.clock.wall_ms() - 1;  // already expired: still stored and returned
  CHECK(must_apply(f.store, "k", 0, expiring).applied);
  const Record read = must_get(f.store, "k");
  CHECK(same_record(read, expiring));
  CHECK(read.absent_at(f.store.clock()->wall_ms()));
}

TEST_CASE("store index entry moves with the key's epoch") {
  StoreFixture f(any_kind());
  CAPTURE(engine_kind_name(f.store.engine()->kind()));
  const Record e1 = make_record("a", 100, "n1", /*epoch=*/1);
  REQUIRE(must_apply(f.store, "k", 5, e1).applied);
  auto entries = index_of(f.store, 5, 1);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].key == "k");
  CHECK(entries[0].ts == e1.ts);
  CHECK(entries[0].digest == record_digest(e1));

  const Record e2 = make_record("b", 200, "n1", /*epoch=*/2);
  REQUIRE(must_apply(f.store, "k", 5, e2).applied);
  CHECK(index_of(f.store, 5, 1).empty());
  std::string raw;
  CHECK(f.store.engine()->get(store_index_key(5, 1, "k"), &raw).is_not_found());
  entries = index_of(f.store, 5, 2);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].ts == e2.ts);
  CHECK(entries[0].digest == record_digest(e2));

  // A newer version in the same epoch rewrites the entry in place.
  const Record e2b = make_record("c", 300, "n1", /*epoch=*/2);
  REQUIRE(must_apply(f.store, "k", 5, e2b).applied);
  entries = index_of(f.store, 5, 2);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].digest == record_digest(e2b));

  // A refused older version leaves the index alone.
  CHECK_FALSE(must_apply(f.store, "k", 5, make_record("old", 50, "n1", 9)).applied);
  CHECK(index_of(f.store, 5, 9).empty());
  CHECK(raw_index_entries(*f.store.engine()) == 1);
}

TEST_CASE("store scan_index returns exactly one partition-epoch") {
  StoreFixture f(any_kind());
  CAPTURE(engine_kind_name(f.store.engine()->kind()));
  constexpr uint64_t kEpochMax = ~uint64_t{0};  // the prefix end must carry into the partition
  struct Placement {
    std::string key;
    uint32_t partition;
    uint64_t epoch;
  };
  const std::vector<Placement> placements = {
      {"b", 7, 3}, {"a", 7, 3},         {"c", 7, 4}, {"d", 6, 3},  {"e", 8, 3},
      {"f", 7, 2}, {"g", 7, kEpochMax}, {"h", 8, 0}, {"zz", 7, 3}, {"x", 0xffffffff, kEpochMax},
  };
  uint64_t ms = 100;
  for (const Placement& p : placements) {
    REQUIRE(must_apply(f.store, p.key, p.partition, make_record("v", ms++, "n1", p.epoch)).applied);
  }
  CHECK(index_keys(f.store, 7, 3) == Keys{"a", "b", "zz"});
  CHECK(index_keys(f.store, 7, 4) == Keys{"c"});
  CHECK(index_keys(f.store, 7, kEpochMax) == Keys{"g"});
  CHECK(index_keys(f.store, 8, 0) == Keys{"h"});
  CHECK(index_keys(f.store, 0xffffffff, kEpochMax) == Keys{"x"});
  CHECK(index_keys(f.store, 7, 5).empty());
  CHECK(raw_index_entries(*f.store.engine()) == placements.size());

  std::vector<std::string> first_two;
  REQUIRE(f.store
              .scan_index(7, 3,
                          [&](std::string_view key, Timestamp, uint64_t) {
                            first_two.emplace_back(key);
                            return first_two.size() < 2;
                          })
              .ok());
  CHECK(first_two == Keys{"a", "b"});
}

TEST_CASE("store scan_index_range walks an epoch range of one partition in epoch order") {
  StoreFixture f(any_kind());
  CAPTURE(engine_kind_name(f.store.engine()->kind()));
  constexpr uint64_t kEpochMax = ~uint64_t{0};
  uint64_t ms = 100;
  const std::vector<std::tuple<std::string, uint32_t, uint64_t>> placements = {
      {"b", 7, 3}, {"a", 7, 5}, {"c", 7, 4},         {"d", 6, 4},
      {"e", 8, 4}, {"f", 7, 2}, {"g", 7, kEpochMax}, {"h", 7, 4}};
  for (const auto& [key, partition, epoch] : placements) {
    REQUIRE(must_apply(f.store, key, partition, make_record("v", ms++, "n1", epoch)).applied);
  }
  auto range = [&](uint64_t first, uint64_t last) {
    std::vector<std::pair<uint64_t, std::string>> out;
    REQUIRE(f.store
                .scan_index_range(7, first, last,
                                  [&](uint64_t epoch, std::string_view key, Timestamp, uint64_t) {
                                    out.emplace_back(epoch, std::string(key));
                                    return true;
                                  })
                .ok());
    return out;
  };
  using Entries = std::vector<std::pair<uint64_t, std::string>>;
  CHECK(range(3, 4) == Entries{{3, "b"}, {4, "c"}, {4, "h"}});
  CHECK(range(0, kEpochMax) ==
        Entries{{2, "f"}, {3, "b"}, {4, "c"}, {4, "h"}, {5, "a"}, {kEpochMax, "g"}});
  CHECK(range(6, 100).empty());
  CHECK(range(5, 3).empty());
}

TEST_CASE("store tells its observer of every stored version and of nothing else") {
  StoreFixture f(EngineKind::kMemory);
  std::vector<std::pair<uint32_t, uint64_t>> seen;
  f.store.set_apply_observer(
      [&](uint32_t partition, uint64_t epoch) { seen.emplace_back(partition, epoch); });
  REQUIRE(must_apply(f.store, "k", 3, make_record("v1", 100, "n1", 2)).applied);
  REQUIRE_FALSE(must_apply(f.store, "k", 3, make_record("old", 50, "n1", 1)).applied);
  REQUIRE(must_apply(f.store, "k", 3, make_record("v2", 200, "n1", 5)).applied);
  CHECK(seen == std::vector<std::pair<uint32_t, uint64_t>>{{3, 2}, {3, 5}});
}

TEST_CASE("store scan_partition lists every epoch of one partition and resumes after a position") {
  StoreFixture f(any_kind());
  CAPTURE(engine_kind_name(f.store.engine()->kind()));
  uint64_t ms = 100;
  // Partition 7 across epochs 2..4, neighbours 6 and 8 must not show up.
  for (const auto& [key, partition, epoch] :
       std::vector<std::tuple<std::string, uint32_t, uint64_t>>{
           {"b", 7, 3}, {"a", 7, 3}, {"c", 7, 4}, {"d", 6, 3}, {"e", 8, 3}, {"f", 7, 2}}) {
    REQUIRE(must_apply(f.store, key, partition, make_record("v", ms++, "n1", epoch)).applied);
  }
  Keys all;
  std::vector<std::string> positions;
  REQUIRE(f.store
              .scan_partition(7, {},
                              [&](std::string_view position, std::string_view key) {
                                all.emplace_back(key);
                                positions.emplace_back(position);
                                return true;
                              })
              .ok());
  CHECK(all == Keys{"f", "a", "b", "c"});  // epoch order, then key order
  // Resuming after each position yields exactly the rest.
  for (size_t i = 0; i < positions.size(); ++i) {
    Keys rest;
    REQUIRE(f.store
                .scan_partition(7, positions[i],
                                [&](std::string_view, std::string_view key) {
                                  rest.emplace_back(key);
                                  return true;
                                })
                .ok());
    CHECK(rest == Keys(all.begin() + static_cast<long>(i) + 1, all.end()));
  }
  // A key rewritten at a later epoch moves behind the position: seen again, never lost.
  REQUIRE(must_apply(f.store, "f", 7, make_record("v2", ms++, "n1", 9)).applied);
  Keys after_rewrite;
  REQUIRE(f.store
              .scan_partition(7, positions[1],
                              [&](std::string_view, std::string_view key) {
                                after_rewrite.emplace_back(key);
                                return true;
                              })
              .ok());
  CHECK(after_rewrite == Keys{"b", "c", "f"});
}

TEST_CASE("store scan_records walks a key prefix in order") {
  StoreFixture f(any_kind());
  CAPTURE(engine_kind_name(f.store.engine()->kind()));
  uint64_t ms = 100;
  for (const char* key : {"user/2", "user/1", "users", "use", "video/1", "user/3"}) {
    REQUIRE(must_apply(f.store, key, 1, make_record(std::string("v-") + key, ms++, "n1")).applied);
  }
  REQUIRE(must_apply(f.store, "user/3", 1, make_record("", ms++, "n1", 1, true)).applied);
  auto keys_with = [&](std::string_view prefix, size_t limit) {
    Keys keys;
    const Status s = f.store.scan_records(prefix, [&](std::string_view key, const Record& record) {
      CHECK(record.value == (record.tombstone ? "" : "v-" + std::string(key)));
      keys.emplace_back(key);
      return keys.size() < limit;
    });
    REQUIRE(s.ok());
    return keys;
  };
  CHECK(keys_with("user/", 100) == Keys{"user/1", "user/2", "user/3"});
  CHECK(keys_with("user", 100) == Keys{"user/1", "user/2", "user/3", "users"});
  CHECK(keys_with("", 100) == Keys{"use", "user/1", "user/2", "user/3", "users", "video/1"});
  CHECK(keys_with("", 2) == Keys{"use", "user/1"});
  CHECK(keys_with("zebra", 100).empty());
}

TEST_CASE("store validates its input") {
  StoreFixture f(EngineKind::kMemory);
  const Record ok = make_record("v", 100, "n1");
  CHECK(f.store.apply("", 0, ok, false).status().code() == Status::Code::kInvalidArgument);
  const std::string too_long(kKeyBytesMax + 1, 'k');
  CHECK(f.store.apply(too_long, 0, ok, false).status().code() == Status::Code::kInvalidArgument);
  CHECK(f.store.apply(std::string(kKeyBytesMax, 'k'), 0, ok, false).ok());
  Record no_origin = ok;
  no_origin.origin.clear();
  CHECK(f.store.apply("k", 0, no_origin, false).status().code() == Status::Code::kInvalidArgument);
  Record long_origin = ok;
  long_origin.origin.assign(kNodeIdBytesMax + 1, 'n');
  CHECK(f.store.apply("k", 0, long_origin, false).status().code() ==
        Status::Code::kInvalidArgument);
  Record huge = ok;
  huge.value.assign(kValueBytesMaxLimit + 1, 'v');
  CHECK(f.store.apply("k", 0, huge, false).status().code() == Status::Code::kTooLarge);
  Record record;
  CHECK(f.store.get("", &record).code() == Status::Code::kInvalidArgument);
  CHECK(f.store.get("k", &record).is_not_found());
  CHECK(raw_index_entries(*f.store.engine()) == 1);
}

Status write_raw(Engine& engine, const std::string& key, const std::string& value) {
  WriteBatch batch;
  batch.put(key, value);
  return engine.write(batch, false);
}

TEST_CASE("store reports damaged records as Corruption and writes nothing") {
  StoreFixture f(any_kind());
  CAPTURE(engine_kind_name(f.store.engine()->kind()));
  const Record good = make_record("good", 100, "n1", 4);
  REQUIRE(must_apply(f.store, "k", 2, good).applied);
  std::string damaged = encode_record(good);
  SECTION("a flipped value byte") {
    damaged[damaged.size() - 12] ^= 0x01;
  }
  SECTION("garbage") {
    damaged = "not a record";
  }
  SECTION("truncated") {
    damaged.resize(damaged.size() - 1);
  }
  REQUIRE(write_raw(*f.store.engine(), store_record_key("k"), damaged).ok());

  Record record = make_record("sentinel", 1, "x");
  CHECK(f.store.get("k", &record).is_corruption());
  CHECK(record.value == "sentinel");  // left unchanged on error

  const auto applied = f.store.apply("k", 2, make_record("newer", 200, "n1", 5), false);
  CHECK(applied.status().is_corruption());
  std::string raw;
  REQUIRE(f.store.engine()->get(store_record_key("k"), &raw).ok());
  CHECK(raw == damaged);
  CHECK(index_keys(f.store, 2, 4) == Keys{"k"});
  CHECK(index_keys(f.store, 2, 5).empty());

  CHECK(f.store.scan_records("", [](std::string_view, const Record&) { return true; })
            .is_corruption());
}

TEST_CASE("store reports a malformed index entry as Corruption") {
  StoreFixture f(any_kind());
  CAPTURE(engine_kind_name(f.store.engine()->kind()));
  REQUIRE(write_raw(*f.store.engine(), store_index_key(1, 1, "k"), "short").ok());
  CHECK(f.store.scan_index(1, 1, [](std::string_view, Timestamp, uint64_t) { return true; })
            .is_corruption());
}

TEST_CASE("store records survive reopen including sync applies") {
  const EngineKind kind = GENERATE(EngineKind::kRocksDB, EngineKind::kLevelDB);
  CAPTURE(engine_kind_name(kind));
  test::TempDir dir;
  ManualClock clock;
  const Record flushed = make_record("flushed", 100, "n1", 1);
  const Record synced = make_record("synced", 200, "n1", 2);
  auto open_store = [&] {
    auto engine = open_engine(kind, dir.path() + "/db", test::small_test_options());
    REQUIRE(engine.ok());
    return std::make_unique<Store>(std::move(engine).value(), &clock);
  };
  {
    auto store = open_store();
    REQUIRE(must_apply(*store, "a", 1, flushed).applied);
    REQUIRE(store->flush().ok());
    auto result = store->apply("b", 1, synced, /*sync=*/true);
    REQUIRE(result.ok());
    REQUIRE(result->applied);
  }
  auto store = open_store();
  CHECK(same_record(must_get(*store, "a"), flushed));
  CHECK(same_record(must_get(*store, "b"), synced));
  CHECK(index_keys(*store, 1, 1) == Keys{"a"});
  CHECK(index_keys(*store, 1, 2) == Keys{"b"});
}

// Versions are a function of (physical ms, origin) so two threads applying the same version apply
// identical records; epoch and value derive from it, so the index moves between epochs.
Record version_record(uint64_t physical_ms, const std::string& origin) {
  return make_record(origin + "@" + std::to_string(physical_ms), physical_ms, origin,
                     /*epoch=*/1 + physical_ms % 5);
}

TEST_CASE("store apply is atomic per key under concurrent writers") {
  StoreFixture f(any_kind());
  CAPTURE(engine_kind_name(f.store.engine()->kind()));
  constexpr int kThreads = 8;
  constexpr int kAppliesPerThread = 1000;
  constexpr int kKeys = 20;
  const std::vector<std::string> origins = {"n1", "n2", "n3"};
  auto key_of = [](int k) { return "key" + std::to_string(k); };
  auto partition_of = [](int k) { return static_cast<uint32_t>(k % 4); };

  // Per thread and key, the newest version it applied (whether or not it won).
  std::vector<std::map<int, Record>> newest(kThreads);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(1000 + t);
      for (int i = 0; i < kAppliesPerThread; ++i) {
        const int k = static_cast<int>(rng() % kKeys);
        // Timestamps advance with i, as clocks do, so every thread keeps racing the others at the
        // newest versions (a lost update is rarely papered over by a later one); the narrow jitter
        // makes equal timestamps (origin tie-breaks) and equal versions common.
        const uint64_t physical_ms = 1000 + static_cast<uint64_t>(i) + rng() % 16;
        const Record record = version_record(physical_ms, origins[rng() % origins.size()]);
        if (!f.store.apply(key_of(k), partition_of(k), record, false).ok()) errors++;
        auto [it, inserted] = newest[t].emplace(k, record);
        if (!inserted && newer_than(record, it->second)) it->second = record;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  REQUIRE(errors == 0);

  std::map<int, Record> expected;
  for (const auto& per_thread : newest) {
    for (const auto& [k, record] : per_thread) {
      auto [it, inserted] = expected.emplace(k, record);
      if (!inserted && newer_than(record, it->second)) it->second = record;
    }
  }
  for (const auto& [k, want] : expected) {
    const Record stored = must_get(f.store, key_of(k));
    INFO(key_of(k) << " stored " << stored.value << " want " << want.value);
    CHECK(same_record(stored, want));
    size_t entries = 0;
    for (uint64_t epoch = 1; epoch <= 5; ++epoch) {
      for (const IndexEntry& entry : index_of(f.store, partition_of(k), epoch)) {
        if (entry.key != key_of(k)) continue;
        ++entries;
        CHECK(epoch == stored.epoch);
        CHECK(entry.ts == stored.ts);
        CHECK(entry.digest == record_digest(stored));
      }
    }
    CHECK(entries == 1);
  }
  CHECK(raw_index_entries(*f.store.engine()) == expected.size());
}

}  // namespace
}  // namespace chorus
