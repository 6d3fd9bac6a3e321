// ReadRequestMachine, driven by hand: every rule of read_request.h, one reply at a time.
#include "replication/read_request.h"

#include <catch2/catch.hpp>

#include "core/clock.h"
#include "request_machine_util.h"

namespace chorus {
namespace {

using testing::view_of;

Record version(uint64_t physical_ms, const std::string& value) {
  Record r;
  r.value = value;
  r.ts = Timestamp::from_parts(physical_ms, 0);
  r.origin = "n1";
  return r;
}

struct Harness {
  ManualClock clock;
  HlcClock hlc{&clock};
  std::shared_ptr<const ClusterView> view = view_of(3, 3);
  ReadRequestMachine machine;
  std::vector<ReadSend> reads;
  std::vector<RepairSend> repairs;
  std::vector<ReadResponse> responses;
  bool done = false;
  ReadEvents events;

  explicit Harness(int r = 2) : machine("n9", view, ReadRequest{"k", r}, r, &hlc) {
    machine.start();
    collect();
  }
  void collect() {
    ReadEffects e = machine.take_effects();
    reads.insert(reads.end(), e.reads.begin(), e.reads.end());
    repairs.insert(repairs.end(), e.repairs.begin(), e.repairs.end());
    if (e.response) responses.push_back(*e.response);
    done = done || e.done;
    events.repairs_blocking += e.events.repairs_blocking;
    events.repairs_background += e.events.repairs_background;
    events.late_replies += e.events.late_replies;
  }
  void reply(size_t i, std::optional<Record> record) {
    ReplicaReadReply r;
    r.found = record.has_value();
    if (record) r.record = *record;
    machine.on_read_reply(reads[i].tag, r);
    collect();
  }
  void fail(size_t i) {
    machine.on_read_reply(reads[i].tag, Status::Unavailable("down"));
    collect();
  }
  void repaired(size_t i, bool ok = true) {
    ReplicaWriteReply r;
    r.applied = true;
    if (ok) {
      machine.on_repair_reply(repairs[i].tag, r);
    } else {
      machine.on_repair_reply(repairs[i].tag, Status::Timeout("slow"));
    }
    collect();
  }
};

TEST_CASE("read machine: asks every owner and answers once R agree") {
  Harness h;
  REQUIRE(h.reads.size() == 3);
  for (const ReadSend& s : h.reads) CHECK(s.message.key == "k");
  h.reply(0, version(100, "a"));
  CHECK(h.responses.empty());
  h.reply(1, version(100, "a"));
  REQUIRE(h.responses.size() == 1);
  CHECK(h.responses[0].status.ok());
  CHECK(h.responses[0].record->value == "a");
  CHECK(h.repairs.empty());
  CHECK_FALSE(h.done);
  h.reply(2, version(100, "a"));
  CHECK(h.done);
  CHECK(h.repairs.empty());
  CHECK(h.events.late_replies == 1);
}

TEST_CASE("read machine: disagreeing repliers are repaired before the answer") {
  Harness h;
  h.reply(0, version(200, "new"));
  h.reply(1, version(100, "old"));
  CHECK(h.responses.empty());  // blocking repair first
  REQUIRE(h.repairs.size() == 1);
  CHECK(h.repairs[0].member == h.reads[1].member);
  CHECK(h.repairs[0].message.record.value == "new");
  CHECK(h.events.repairs_blocking == 1);
  // An even newer version arriving meanwhile is not the answer (it is on one replica only).
  h.reply(2, version(300, "newest"));
  CHECK(h.responses.empty());
  h.repaired(0);
  REQUIRE(h.responses.size() == 1);
  CHECK(h.responses[0].record->value == "new");
  // ... but every owner answered, so both others get "newest" in the background.
  CHECK(h.done);
  CHECK(h.events.repairs_background == 2);
  REQUIRE(h.repairs.size() == 3);
  CHECK(h.repairs[1].message.record.value == "newest");
}

TEST_CASE("read machine: a failed blocking repair answers Unavailable unless N - R + 1 hold it") {
  Harness h;
  h.reply(0, version(200, "new"));
  h.reply(1, std::nullopt);
  REQUIRE(h.repairs.size() == 1);
  h.repaired(0, false);
  // One holder of the newest version; the third owner may still hold it too.
  CHECK(h.responses.empty());
  SECTION("the third owner holds the newest version: on 2 of 3, every later quorum meets it") {
    h.reply(2, version(200, "new"));
    REQUIRE(h.responses.size() == 1);
    CHECK(h.responses[0].status.ok());
    CHECK(h.responses[0].record->value == "new");
  }
  SECTION("the third owner holds an older one") {
    h.reply(2, version(100, "old"));
    REQUIRE(h.responses.size() == 1);
    CHECK(h.responses[0].status.is_unavailable());
  }
  SECTION("the third owner fails") {
    h.fail(2);
    REQUIRE(h.responses.size() == 1);
    CHECK(h.responses[0].status.is_unavailable());
  }
}

TEST_CASE("read machine: with R above a majority every replier must hold the answer") {
  Harness h(3);  // N = R = 3: N - R + 1 is 1, but the answer stood on all three repliers
  h.reply(0, version(200, "new"));
  h.reply(1, std::nullopt);
  h.reply(2, std::nullopt);
  REQUIRE(h.repairs.size() == 2);
  h.repaired(0);
  CHECK(h.responses.empty());
  h.repaired(1, false);
  REQUIRE(h.responses.size() == 1);
  CHECK(h.responses[0].status.is_unavailable());
}

TEST_CASE("read machine: a failed repair of a full replica still answers when the others agree") {
  Harness h;
  h.reply(0, std::nullopt);  // the replica that cannot write
  h.reply(1, version(200, "new"));
  h.reply(2, version(200, "new"));  // arrives while the repair of owner 0 is pending
  // 2 of 3 hold the version: the answer need not wait for the repair.
  REQUIRE(h.responses.size() == 1);
  CHECK(h.responses[0].status.ok());
  CHECK(h.responses[0].record->value == "new");
}

TEST_CASE("read machine: background repair skips what the blocking one fixed") {
  Harness h;
  h.reply(0, version(200, "new"));
  h.reply(1, version(100, "old"));
  h.repaired(0);
  REQUIRE(h.responses.size() == 1);
  h.reply(2, version(100, "old"));
  CHECK(h.done);
  REQUIRE(h.repairs.size() == 2);  // the blocking one and replica 2, not replica 1 again
  CHECK(h.repairs[1].member == h.reads[2].member);
}

TEST_CASE("read machine: not found, unavailable and the deadline") {
  SECTION("nobody holds the key") {
    Harness h;
    h.reply(0, std::nullopt);
    h.reply(1, std::nullopt);
    REQUIRE(h.responses.size() == 1);
    CHECK(h.responses[0].status.is_not_found());
  }
  SECTION("R out of reach") {
    Harness h;
    h.fail(0);
    h.reply(1, version(1, "a"));
    h.fail(2);
    REQUIRE(h.responses.size() == 1);
    CHECK(h.responses[0].status.is_unavailable());
    CHECK(h.responses[0].replies == 1);
  }
  SECTION("deadline: Timeout, and what is known is repaired") {
    Harness h(3);
    h.reply(0, version(200, "new"));
    h.reply(1, version(100, "old"));
    h.machine.on_deadline();
    h.collect();
    REQUIRE(h.responses.size() == 1);
    CHECK(h.responses[0].status.is_timeout());
    CHECK(h.done);
    REQUIRE(h.repairs.size() == 1);
    CHECK(h.repairs[0].member == h.reads[1].member);
    h.reply(2, version(100, "old"));  // late: answered already
    CHECK(h.responses.size() == 1);
  }
}

}  // namespace
}  // namespace chorus
