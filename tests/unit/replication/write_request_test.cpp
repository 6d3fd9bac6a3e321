// WriteRequestMachine, driven by hand: every rule of write_request.h, one reply at a time.
#include "replication/write_request.h"

#include <catch2/catch.hpp>

#include <map>

#include "core/clock.h"
#include "request_machine_util.h"

namespace chorus {
namespace {

using testing::id_of;
using testing::owner_ids;
using testing::view_of;

struct Harness {
  ManualClock clock;
  HlcClock hlc{&clock};
  WriteMachineOptions options;
  std::shared_ptr<const ClusterView> view;
  std::unique_ptr<WriteRequestMachine> machine;
  std::vector<WriteSend> sends;  // everything sent so far
  std::vector<HintToKeep> hints;
  std::vector<WriteResponse> responses;
  bool asked_for_ring = false;
  WriteEvents events;

  explicit Harness(std::shared_ptr<const ClusterView> v, int w = 2,
                   WriteMachineOptions o = WriteMachineOptions{"n9", 8, true, false})
      : options(std::move(o)), view(std::move(v)) {
    WriteRequest request;
    request.key = "k";
    request.value = "v";
    machine = std::make_unique<WriteRequestMachine>(options, view, request, w, &hlc);
  }
  void collect() {
    WriteEffects e = machine->take_effects();
    sends.insert(sends.end(), e.sends.begin(), e.sends.end());
    hints.insert(hints.end(), e.hints.begin(), e.hints.end());
    if (e.response) responses.push_back(*e.response);
    asked_for_ring = asked_for_ring || e.retry_with_newer_ring;
    events.restamps += e.events.restamps;
    events.late_replies += e.events.late_replies;
    events.rpc_errors += e.events.rpc_errors;
    events.future_versions += e.events.future_versions;
  }
  void start() {
    machine->start(clock.wall_ms());
    collect();
  }
  // The send of round-robin order `i` to member `id`, among the last `count` sends.
  const WriteSend& sent_to(const std::string& id, size_t from = 0) {
    for (size_t i = from; i < sends.size(); ++i) {
      if (id_of(*view, sends[i].member) == id) return sends[i];
    }
    FAIL("nothing sent to " << id);
    return sends.front();
  }
  void ack(const WriteSend& s) {
    ReplicaWriteReply r;
    r.sender_hlc = hlc.peek();
    r.applied = true;
    machine->on_reply(s.tag, r);
    collect();
  }
  void fail(const WriteSend& s, Status st = Status::Unavailable("connection refused")) {
    machine->on_reply(s.tag, st);
    collect();
  }
  void newer(const WriteSend& s, Timestamp current) {
    ReplicaWriteReply r;
    r.applied = false;
    r.current_ts = current;
    r.current_origin = "other";
    machine->on_reply(s.tag, r);
    collect();
  }
};

TEST_CASE("write machine: sends to every owner and answers after W acks") {
  Harness h(view_of(4, 3));
  h.start();
  const auto owners = owner_ids(*h.view, "k");
  REQUIRE(h.sends.size() == 3);
  for (const std::string& id : owners) {
    const WriteSend& s = h.sent_to(id);
    CHECK(s.message.key == "k");
    CHECK(s.message.record.value == "v");
    CHECK(s.message.record.origin == "n9");
    CHECK(s.message.record.epoch == 1);
    CHECK(s.message.view_epoch == 1);
    CHECK(s.message.hint_for.empty());
  }
  h.ack(h.sent_to(owners[0]));
  CHECK(h.responses.empty());
  h.ack(h.sent_to(owners[1]));
  REQUIRE(h.responses.size() == 1);
  CHECK(h.responses[0].status.ok());
  CHECK(h.responses[0].acks == 2);
  CHECK(h.responses[0].required == 2);
  CHECK(h.responses[0].ts == h.sends[0].message.record.ts);
  // The third owner's ack comes after the answer: counted late, nothing else happens.
  h.ack(h.sent_to(owners[2]));
  CHECK(h.responses.size() == 1);
  CHECK(h.events.late_replies == 1);
  CHECK(h.hints.empty());
}

TEST_CASE("write machine: a dead owner's copy goes to a stand-in, and W counts owners only") {
  auto probe = view_of(5, 3);
  const std::string dead = owner_ids(*probe, "k")[1];
  Harness h(view_of(5, 3, {dead}));
  h.start();
  REQUIRE(h.sends.size() == 3);  // two live owners and one stand-in
  const auto owners = owner_ids(*h.view, "k");
  size_t stand_ins = 0;
  for (const WriteSend& s : h.sends) {
    if (!s.message.hint_for.empty()) {
      ++stand_ins;
      CHECK(s.message.hint_for == dead);
      CHECK(s.message.view_epoch == 0);
      CHECK(std::find(owners.begin(), owners.end(), id_of(*h.view, s.member)) == owners.end());
      h.ack(s);  // the stand-in's ack does not count toward W
    }
  }
  CHECK(stand_ins == 1);
  CHECK(h.responses.empty());
  h.ack(h.sent_to(owners[0]));
  CHECK(h.responses.empty());
  h.ack(h.sent_to(owners[2]));
  REQUIRE(h.responses.size() == 1);
  CHECK(h.responses[0].status.ok());
  CHECK(h.hints.empty());
}

TEST_CASE("write machine: a failed stand-in or owner leaves a hint here and W out of reach fails") {
  auto probe = view_of(4, 3);
  const auto owners = owner_ids(*probe, "k");
  Harness h(view_of(4, 3, {owners[0]}));
  h.start();
  for (const WriteSend& s : std::vector<WriteSend>(h.sends)) {
    if (!s.message.hint_for.empty()) h.fail(s);
  }
  REQUIRE(h.hints.size() == 1);
  CHECK(h.hints[0].owner_id == owners[0]);
  h.fail(h.sent_to(owners[1]));
  REQUIRE(h.hints.size() == 2);
  CHECK(h.hints[1].owner_id == owners[1]);
  CHECK(h.hints[1].record.ts == h.sends[0].message.record.ts);
  // W is out of reach, but the answer waits for every owner: one may yet say the ring is stale.
  CHECK(h.responses.empty());
  h.fail(h.sent_to(owners[2]));
  CHECK(h.hints.size() == 3);
  REQUIRE(h.responses.size() == 1);
  CHECK(h.responses[0].status.is_unavailable());
  CHECK(h.responses[0].acks == 0);
  CHECK(h.responses[0].status.message().find("0 of 2") != std::string::npos);
}

TEST_CASE("write machine: a replica holding a newer version makes it re-stamp past it and win") {
  Harness h(view_of(3, 3));
  h.start();
  const auto owners = owner_ids(*h.view, "k");
  const Timestamp first = h.sends[0].message.record.ts;
  // A version written through a coordinator whose clock is 5 s ahead (within the drift bound).
  const Timestamp ahead = Timestamp::from_parts(h.clock.wall_ms() + 5'000, 3);
  h.newer(h.sent_to(owners[0]), ahead);
  CHECK(h.events.restamps == 1);
  REQUIRE(h.sends.size() == 6);  // a second round to every owner
  const size_t round2 = 3;
  for (size_t i = round2; i < 6; ++i) CHECK(h.sends[i].message.record.ts > ahead);
  // First-round acks are superseded: they decide nothing.
  h.ack(h.sends[1]);
  h.ack(h.sends[2]);
  CHECK(h.responses.empty());
  CHECK(h.events.late_replies == 2);
  h.ack(h.sent_to(owners[0], round2));
  h.ack(h.sent_to(owners[1], round2));
  REQUIRE(h.responses.size() == 1);
  CHECK(h.responses[0].status.ok());
  CHECK(h.responses[0].ts > ahead);
  CHECK(h.responses[0].ts > first);
}

TEST_CASE("write machine: re-stamping is bounded, and so is what it can pass") {
  SECTION("rounds exhausted") {
    Harness h(view_of(3, 3), 3, WriteMachineOptions{"n9", 2, true, false});
    h.start();
    for (int round = 0; round < 3; ++round) {
      const WriteSend& last = h.sends.back();
      h.newer(last, Timestamp::from_parts(h.clock.wall_ms() + 1'000 * (round + 1), 0));
    }
    CHECK(h.events.restamps == 2);
    // The third newer-version reply fails that replica; the others are still out.
    for (size_t i = h.sends.size() - 3; i + 1 < h.sends.size(); ++i) h.ack(h.sends[i]);
    REQUIRE(h.responses.size() == 1);
    CHECK(h.responses[0].status.is_unavailable());
    CHECK(h.responses[0].status.message().find("newer concurrent writes") != std::string::npos);
  }
  SECTION("a version from beyond the drift bound cannot be passed") {
    Harness h(view_of(3, 3), 3);
    h.start();
    h.newer(h.sends[0], Timestamp::from_parts(h.clock.wall_ms() + 3'600'000, 0));
    CHECK(h.events.restamps == 0);
    CHECK(h.events.future_versions == 1);
    h.ack(h.sends[1]);
    h.ack(h.sends[2]);
    REQUIRE(h.responses.size() == 1);
    CHECK(h.responses[0].status.message().find("check node clocks") != std::string::npos);
  }
  SECTION("the test-only switch acknowledges a superseded write instead of re-stamping") {
    Harness h(view_of(3, 3), 3, WriteMachineOptions{"n9", 8, true, true});
    h.start();
    const Timestamp ahead = Timestamp::from_parts(h.clock.wall_ms() + 1'000, 0);
    h.newer(h.sends[0], ahead);
    CHECK(h.events.restamps == 0);
    h.ack(h.sends[1]);
    h.ack(h.sends[2]);
    REQUIRE(h.responses.size() == 1);
    CHECK(h.responses[0].status.ok());
    CHECK(h.responses[0].ts < ahead);  // acknowledged, yet older than what the replica holds
  }
}

TEST_CASE("write machine: refused for a stale ring, it asks for a newer one before failing") {
  Harness h(view_of(3, 3));
  h.start();
  for (const WriteSend& s : std::vector<WriteSend>(h.sends)) {
    h.fail(s, Status::Unavailable(std::string(kStaleRingPrefix) + ": epoch 2 > 1"));
  }
  CHECK(h.asked_for_ring);
  CHECK(h.responses.empty());
  CHECK(h.machine->request().key == "k");
  CHECK(h.machine->base_required() == 2);
  h.machine->no_newer_ring();
  h.collect();
  REQUIRE(h.responses.size() == 1);
  CHECK(h.responses[0].status.is_unavailable());

  SECTION("a retry on the newer ring does not ask again") {
    Harness retry(view_of(3, 3, {}, 2), 2, WriteMachineOptions{"n9", 8, false, false});
    retry.start();
    for (const WriteSend& s : std::vector<WriteSend>(retry.sends)) {
      retry.fail(s, Status::Unavailable(std::string(kStaleRingPrefix) + ": epoch 3 > 2"));
    }
    CHECK_FALSE(retry.asked_for_ring);
    REQUIRE(retry.responses.size() == 1);
  }
}

TEST_CASE("write machine: the deadline answers Timeout once") {
  Harness h(view_of(3, 3));
  h.start();
  h.ack(h.sends[0]);
  h.machine->on_deadline();
  h.collect();
  REQUIRE(h.responses.size() == 1);
  CHECK(h.responses[0].status.is_timeout());
  CHECK(h.responses[0].acks == 1);
  h.machine->on_deadline();
  h.ack(h.sends[1]);
  h.collect();
  CHECK(h.responses.size() == 1);
}

TEST_CASE("write machine: a TTL is anchored at the start") {
  ManualClock clock;
  HlcClock hlc(&clock);
  WriteRequest request{"k", "v", false, 60, false, 0};
  WriteRequestMachine m(WriteMachineOptions{"n9"}, view_of(3, 3), request, 2, &hlc);
  m.start(1'000'000);
  WriteEffects e = m.take_effects();
  REQUIRE(!e.sends.empty());
  CHECK(e.sends[0].message.record.expiry_ms == 1'060'000);
}

TEST_CASE("write machine: in a transition the pending owners get the write and raise W") {
  std::vector<Member> current, target;
  for (int i = 1; i <= 4; ++i) {
    const std::string id = "n" + std::to_string(i);
    (i <= 3 ? current : target).push_back({id, id + ":7000", id + ":8080"});
  }
  target.insert(target.begin(), current.begin(), current.end());
  auto ring = Ring::build_transition(current, target, std::vector<bool>(64, false), 64, 3, 2);
  REQUIRE(ring.ok());
  auto view = std::make_shared<ClusterView>();
  view->ring = *ring;
  view->states.assign(4, MemberState::kAlive);
  // A key whose partition gains n4 as a pending owner.
  std::string key;
  for (int i = 0; key.empty() && i < 1000; ++i) {
    const std::string k = "key" + std::to_string(i);
    if ((*ring)->pending_count(partition_of(k, 64)) > 0) key = k;
  }
  REQUIRE(!key.empty());
  ManualClock clock;
  HlcClock hlc(&clock);
  WriteRequestMachine m(WriteMachineOptions{"n9"}, view, WriteRequest{key, "v"}, 2, &hlc);
  m.start(clock.wall_ms());
  WriteEffects e = m.take_effects();
  REQUIRE(e.sends.size() == 4);
  ReplicaWriteReply ok;
  ok.applied = true;
  for (size_t i = 0; i < 2; ++i) m.on_reply(e.sends[i].tag, ok);
  CHECK_FALSE(m.take_effects().response);  // W = 2 + 1 pending
  m.on_reply(e.sends[2].tag, ok);
  auto after = m.take_effects();
  REQUIRE(after.response);
  CHECK(after.response->required == 3);
  CHECK(after.response->status.ok());
}

}  // namespace
}  // namespace chorus
