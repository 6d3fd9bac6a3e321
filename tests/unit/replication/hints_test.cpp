#include <catch2/catch.hpp>

#include "engines/engine.h"
#include "replication/hints.h"

using namespace chorus;

namespace {
Record record(const std::string& value) {
  Record r;
  r.value = value;
  r.ts = Timestamp::from_parts(1000, 0);
  r.origin = "n1";
  return r;
}
}  // namespace

TEST_CASE("Hints come back oldest first per target and are deleted once delivered") {
  ManualClock clock;
  MetricsRegistry metrics;
  HintStore hints(std::move(open_engine(EngineKind::kMemory, "").value()), &clock, HintOptions{},
                  &metrics);
  REQUIRE(hints.open().ok());
  for (int i = 0; i < 5; ++i) {
    REQUIRE(
        hints.add("n3", "k" + std::to_string(i), 7, record("v" + std::to_string(i)), false).ok());
  }
  REQUIRE(hints.add("n2", "other", 1, record("x"), false).ok());
  std::vector<Hint> batch;
  REQUIRE(hints.peek("n3", 3, &batch).ok());
  REQUIRE(batch.size() == 3);
  REQUIRE(batch[0].key == "k0");
  REQUIRE(batch[2].record.value == "v2");
  REQUIRE(hints.remove("n3", batch).ok());
  REQUIRE(hints.pending_count("n3") == 2);
  REQUIRE(hints.pending_count("n2") == 1);
}

TEST_CASE("A corrupt hint is dropped and counted instead of blocking the queue") {
  ManualClock clock;
  MetricsRegistry metrics;
  auto engine = open_engine(EngineKind::kMemory, "").value();
  Engine* raw = engine.get();
  HintStore hints(std::move(engine), &clock, HintOptions{}, &metrics);
  REQUIRE(hints.open().ok());
  for (int i = 0; i < 3; ++i) {
    REQUIRE(
        hints.add("n3", "k" + std::to_string(i), 7, record("v" + std::to_string(i)), false).ok());
  }
  std::vector<Hint> all;
  REQUIRE(hints.peek("n3", 10, &all).ok());
  WriteBatch damage;
  damage.put(all[1].engine_key, "not a hint at all");
  REQUIRE(raw->write(damage, false).ok());

  std::vector<Hint> after;
  REQUIRE(hints.peek("n3", 10, &after).ok());
  REQUIRE(after.size() == 2);
  REQUIRE(after[0].key == "k0");
  REQUIRE(after[1].key == "k2");
  REQUIRE(metrics.counter("chorus_hints_corrupt_total", "")->value() == 1);
  std::string gone;
  REQUIRE(raw->get(all[1].engine_key, &gone).is_not_found());
}

TEST_CASE("Hints past the per-target byte bound are refused with Busy") {
  ManualClock clock;
  MetricsRegistry metrics;
  HintOptions options;
  options.bytes_per_target_max = 300;
  HintStore hints(std::move(open_engine(EngineKind::kMemory, "").value()), &clock, options,
                  &metrics);
  REQUIRE(hints.open().ok());
  Status st;
  int stored = 0;
  while ((st = hints.add("n3", "key", 1, record(std::string(50, 'x')), false)).ok()) ++stored;
  REQUIRE(st.code() == Status::Code::kBusy);
  REQUIRE(stored >= 1);
  REQUIRE(hints.pending_bytes("n3") <= 300);
  REQUIRE(hints.add("n2", "key", 1, record("small"), false).ok());  // other targets unaffected
}
