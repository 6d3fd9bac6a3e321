#include <catch2/catch.hpp>

#include "engines/engine.h"
#include "engines/store.h"
#include "replication/hints.h"
#include "replication/replica.h"
#include "ring/partitioner.h"

using namespace chorus;

namespace {

struct Fixture {
  ManualClock clock{1'700'000'000'000};
  HlcClock hlc{&clock};
  MetricsRegistry metrics;
  Store store{std::move(open_engine(EngineKind::kMemory, "").value()), &clock};
  HintStore hints{std::move(open_engine(EngineKind::kMemory, "").value()), &clock, HintOptions{},
                  &metrics};
  ReplicaService replica{&store, &hints, &hlc, &metrics};

  ReplicaWrite write(const std::string& value, uint64_t physical_ms, const char* origin) {
    ReplicaWrite w;
    w.sender_hlc = hlc.peek();
    w.key = "k";
    w.partition = partition_of("k", 256);
    w.record.value = value;
    w.record.ts = Timestamp::from_parts(physical_ms, 0);
    w.record.origin = origin;
    return w;
  }
};

}  // namespace

TEST_CASE("A replica applies newer versions and reports the newer one it holds") {
  Fixture f;
  f.replica.set_partitions(256);
  const uint64_t now = f.clock.wall_ms();
  auto first = f.replica.apply(f.write("v2", now, "n1"));
  REQUIRE(first.ok());
  REQUIRE(first->applied);
  auto older = f.replica.apply(f.write("v1", now - 10, "n2"));
  REQUIRE(older.ok());
  REQUIRE_FALSE(older->applied);
  REQUIRE(older->current_ts == Timestamp::from_parts(now, 0));
  REQUIRE(older->current_origin == "n1");
  auto again = f.replica.apply(f.write("v2", now, "n1"));  // duplicate delivery: idempotent
  REQUIRE(again->applied);
  // The reply's HLC is past everything the replica has seen.
  REQUIRE(again->sender_hlc > Timestamp::from_parts(now, 0));
}

TEST_CASE("A replica refuses a version stamped beyond the clock drift bound and stores nothing") {
  Fixture f;
  const uint64_t ahead_ms = f.clock.wall_ms() + HlcClock::kMaxForwardDriftMsDefault + 1000;
  auto refused = f.replica.apply(f.write("from-the-future", ahead_ms, "n9"));
  REQUIRE(refused.status().code() == Status::Code::kInvalidArgument);
  Record stored;
  REQUIRE(f.store.get("k", &stored).is_not_found());
  // A normal write to the key still goes through afterwards.
  auto ok = f.replica.apply(f.write("now", f.clock.wall_ms(), "n1"));
  REQUIRE(ok.ok());
  REQUIRE(ok->applied);
}

TEST_CASE("A replica rejects a write whose partition does not match its key") {
  Fixture f;
  f.replica.set_partitions(256);
  ReplicaWrite w = f.write("v", f.clock.wall_ms(), "n1");
  w.partition = (w.partition + 1) % 256;
  REQUIRE(f.replica.apply(w).status().code() == Status::Code::kInvalidArgument);
}

TEST_CASE("A stand-in keeps a hinted write as a hint and not in its store") {
  Fixture f;
  ReplicaWrite w = f.write("hinted", f.clock.wall_ms(), "n1");
  w.hint_for = "n3";
  auto reply = f.replica.apply(w);
  REQUIRE(reply.ok());
  Record stored;
  REQUIRE(f.store.get("k", &stored).is_not_found());
  REQUIRE(f.hints.pending_count("n3") == 1);
  std::vector<Hint> pending;
  REQUIRE(f.hints.peek("n3", 10, &pending).ok());
  REQUIRE(pending.at(0).record.value == "hinted");
}

TEST_CASE("A replica refuses client writes coordinated with a ring older than its own") {
  Fixture f;
  uint64_t ring_epoch = 7;
  f.replica.set_ring_epoch_source([&] { return ring_epoch; });
  const uint64_t now = f.clock.wall_ms();
  ReplicaWrite stale = f.write("stale", now, "n1");
  stale.view_epoch = 6;
  auto refused = f.replica.apply(stale);
  REQUIRE(refused.status().code() == Status::Code::kUnavailable);
  Record stored;
  REQUIRE(f.store.get("k", &stored).is_not_found());  // nothing written

  ReplicaWrite current = f.write("current", now, "n1");
  current.view_epoch = 7;
  REQUIRE(f.replica.apply(current).ok());
  // Hints and repairs (view_epoch 0) carry versions placed earlier: never fenced.
  ReplicaWrite repair = f.write("repair", now + 1, "n2");
  REQUIRE(f.replica.apply(repair).ok());
  REQUIRE(f.store.get("k", &stored).ok());
  REQUIRE(stored.value == "repair");
  ring_epoch = 9;
  ReplicaWrite later = f.write("later", now + 2, "n1");
  later.view_epoch = 8;
  REQUIRE(f.replica.apply(later).status().code() == Status::Code::kUnavailable);
}
