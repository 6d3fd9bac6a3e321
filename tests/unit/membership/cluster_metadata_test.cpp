// The metadata state machine: joins and departures run as transitions whose partitions are handed
// over one stream report at a time; every node applying the same commands ends in the same state.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "membership/cluster_metadata.h"

namespace chorus {
namespace {

constexpr uint32_t kPartitions = 32;

Member node(int i) {
  const std::string id = "node-" + std::to_string(i);
  return Member{id, "127.0.0.1:" + std::to_string(7000 + i),
                "127.0.0.1:" + std::to_string(8000 + i)};
}

ClusterMetadata three() {
  auto m = ClusterMetadata::create({node(1), node(2), node(3)}, kPartitions, 3);
  REQUIRE(m.ok());
  return std::move(*m);
}

// Reports every pending stream of the current transition; returns how many reports it made.
size_t stream_everything(ClusterMetadata* m) {
  size_t reports = 0;
  const uint64_t transition = m->transition_id();
  for (uint32_t p = 0; p < kPartitions; ++p) {
    const auto pending = m->pending_streams(p);  // copy: apply changes it
    for (const std::string& id : pending) {
      auto applied = m->apply(MetaCommand::stream_done(id, transition, p));
      REQUIRE(applied.changed);
      ++reports;
    }
  }
  return reports;
}

std::vector<std::string> owners_of(const Ring& ring, uint32_t p) {
  std::vector<std::string> out;
  for (uint32_t i : ring.owners(p)) out.push_back(ring.members()[i].id);
  std::sort(out.begin(), out.end());
  return out;
}

TEST_CASE("cluster metadata: a new cluster has every member active at epoch 1") {
  ClusterMetadata m = three();
  CHECK(m.epoch() == 1);
  CHECK_FALSE(m.in_transition());
  REQUIRE(m.members().size() == 3);
  for (const MemberInfo& info : m.members()) {
    CHECK(info.status == MemberStatus::kActive);
    CHECK(info.raft_id == raft_id_of(info.member.id));
  }
  auto ring = m.build_ring();
  REQUIRE(ring.ok());
  CHECK((*ring)->members().size() == 3);
  CHECK_FALSE((*ring)->in_transition());
}

TEST_CASE("cluster metadata: a join is a transition that finishes when every stream reports") {
  ClusterMetadata m = three();
  REQUIRE(m.apply(MetaCommand::add_node(node(4))).changed);
  CHECK(m.epoch() == 2);
  CHECK(m.find("node-4")->status == MemberStatus::kJoining);
  REQUIRE(m.in_transition());
  const size_t moving = m.partitions_pending();
  CHECK(moving > 0);
  auto during = m.build_ring();
  REQUIRE(during.ok());
  CHECK((*during)->in_transition());
  // Reads stay on the three old members until each partition's streams are done.
  for (uint32_t p = 0; p < kPartitions; ++p) {
    for (uint32_t i : (*during)->owners(p)) CHECK((*during)->members()[i].id != "node-4");
  }
  CHECK(stream_everything(&m) >= moving);
  CHECK_FALSE(m.in_transition());
  CHECK(m.find("node-4")->status == MemberStatus::kActive);
  CHECK(m.epoch() == 3);
  auto after = m.build_ring();
  auto expected = Ring::build({node(1), node(2), node(3), node(4)}, kPartitions, 3, 3);
  REQUIRE(after.ok());
  REQUIRE(expected.ok());
  for (uint32_t p = 0; p < kPartitions; ++p)
    CHECK(owners_of(**after, p) == owners_of(**expected, p));
}

TEST_CASE("cluster metadata: the ring epoch moves when the ring changes and not otherwise") {
  ClusterMetadata m = three();
  CHECK(m.ring_epoch() == 1);
  m.apply(MetaCommand::advance_epoch());
  CHECK(m.ring_epoch() == 1);  // an epoch tick moves no data
  m.apply(MetaCommand::add_node(node(4)));
  const uint64_t started = m.ring_epoch();
  CHECK(started == m.transition_id());
  CHECK(started > 1);
  stream_everything(&m);
  CHECK(m.ring_epoch() > started);
  CHECK(m.ring_epoch() == m.epoch());
  auto copy = ClusterMetadata::decode(m.encode());
  REQUIRE(copy.ok());
  CHECK(copy->ring_epoch() == m.ring_epoch());
}

TEST_CASE("cluster metadata: stale or duplicate stream reports are ignored") {
  ClusterMetadata m = three();
  m.apply(MetaCommand::add_node(node(4)));
  const uint64_t transition = m.transition_id();
  const uint64_t epoch = m.epoch();
  CHECK_FALSE(m.apply(MetaCommand::stream_done("node-4", transition + 1, 0)).changed);
  uint32_t p = 0;
  while (m.pending_streams(p).empty()) ++p;
  REQUIRE(m.apply(MetaCommand::stream_done("node-4", transition, p)).changed);
  CHECK_FALSE(m.apply(MetaCommand::stream_done("node-4", transition, p)).changed);
  CHECK_FALSE(m.apply(MetaCommand::stream_done("node-9", transition, p)).changed);
  CHECK(m.epoch() == epoch);
}

TEST_CASE("cluster metadata: a decommissioned member becomes removable after its handover") {
  ClusterMetadata m = three();
  m.apply(MetaCommand::add_node(node(4)));
  stream_everything(&m);
  REQUIRE(m.apply(MetaCommand::decommission("node-2")).changed);
  CHECK(m.find("node-2")->status == MemberStatus::kLeaving);
  REQUIRE(m.in_transition());
  CHECK(m.removable().empty());  // still owns data
  stream_everything(&m);
  CHECK_FALSE(m.in_transition());
  CHECK(m.removable() == std::vector<std::string>{"node-2"});
  REQUIRE(m.apply(MetaCommand::remove_node("node-2")).changed);
  CHECK(m.find("node-2") == nullptr);
  CHECK(m.members().size() == 3);
  CHECK_FALSE(m.apply(MetaCommand::decommission("node-2")).changed);
}

TEST_CASE("cluster metadata: a join during a transition waits for the next one") {
  ClusterMetadata m = three();
  m.apply(MetaCommand::add_node(node(4)));
  const uint64_t first = m.transition_id();
  m.apply(MetaCommand::add_node(node(5)));
  CHECK(m.transition_id() == first);
  for (uint32_t p = 0; p < kPartitions; ++p) CHECK(m.pending_streams(p).count("node-5") == 0);
  stream_everything(&m);
  REQUIRE(m.in_transition());  // the second transition started at once
  CHECK(m.transition_id() != first);
  CHECK(m.find("node-4")->status == MemberStatus::kActive);
  CHECK(m.find("node-5")->status == MemberStatus::kJoining);
  stream_everything(&m);
  CHECK_FALSE(m.in_transition());
  CHECK(m.ring_members().size() == 5);
}

TEST_CASE("cluster metadata: a forced removal of an owner moves its data before it goes") {
  ClusterMetadata m = three();
  m.apply(MetaCommand::add_node(node(4)));
  stream_everything(&m);
  REQUIRE(m.apply(MetaCommand::remove_node("node-3")).changed);
  const MemberInfo* gone = m.find("node-3");
  REQUIRE(gone != nullptr);
  CHECK(gone->forced);
  CHECK(gone->status == MemberStatus::kLeaving);
  REQUIRE(m.in_transition());
  stream_everything(&m);
  CHECK(m.removable() == std::vector<std::string>{"node-3"});
}

TEST_CASE("cluster metadata: removing a joiner that died mid-transition lets the transition end") {
  ClusterMetadata m = three();
  m.apply(MetaCommand::add_node(node(4)));
  REQUIRE(m.in_transition());
  const uint64_t first = m.transition_id();
  REQUIRE(m.apply(MetaCommand::remove_node("node-4")).changed);
  // Nothing waits for node-4 any more; the next transition moves what it was given away again.
  for (uint32_t p = 0; p < kPartitions; ++p) CHECK(m.pending_streams(p).count("node-4") == 0);
  REQUIRE(m.in_transition());
  CHECK(m.transition_id() != first);
  stream_everything(&m);
  CHECK_FALSE(m.in_transition());
  CHECK(m.removable() == std::vector<std::string>{"node-4"});
  CHECK(m.ring_members() == std::vector<std::string>{"node-1", "node-2", "node-3"});
}

TEST_CASE("cluster metadata: the last member can neither leave nor be removed") {
  auto one = ClusterMetadata::create({node(1)}, kPartitions, 3);
  REQUIRE(one.ok());
  CHECK_FALSE(one->apply(MetaCommand::decommission("node-1")).changed);
  CHECK_FALSE(one->apply(MetaCommand::remove_node("node-1")).changed);
  CHECK(one->epoch() == 1);
}

TEST_CASE("cluster metadata: snapshots round-trip mid-transition") {
  ClusterMetadata m = three();
  m.apply(MetaCommand::add_node(node(4)));
  m.apply(MetaCommand::decommission("node-1"));
  uint32_t p = 0;
  while (m.pending_streams(p).empty()) ++p;
  m.apply(MetaCommand::stream_done(*m.pending_streams(p).begin(), m.transition_id(), p));
  auto copy = ClusterMetadata::decode(m.encode());
  REQUIRE(copy.ok());
  CHECK(copy->encode() == m.encode());
  CHECK(copy->partitions_pending() == m.partitions_pending());
  CHECK(copy->find("node-1")->status == MemberStatus::kLeaving);
  CHECK(ClusterMetadata::decode("{").status().code() == Status::Code::kCorruption);
  CHECK(ClusterMetadata::decode(R"({"v":2})").status().code() == Status::Code::kCorruption);
}

TEST_CASE("cluster metadata: commands round-trip and malformed ones are corruption") {
  for (const MetaCommand& c : {MetaCommand::add_node(node(7)), MetaCommand::decommission("node-2"),
                               MetaCommand::remove_node("node-3"), MetaCommand::advance_epoch(),
                               MetaCommand::stream_done("node-4", 12, 31)}) {
    auto back = decode_command(encode_command(c));
    REQUIRE(back.ok());
    CHECK(encode_command(*back) == encode_command(c));
    CHECK(back->type == c.type);
    CHECK(back->id == c.id);
  }
  CHECK(decode_command("not json").status().code() == Status::Code::kCorruption);
  CHECK(decode_command(R"({"v":1,"type":"explode"})").status().code() == Status::Code::kCorruption);
  CHECK(decode_command(R"({"v":1,"type":"decommission"})").status().code() ==
        Status::Code::kCorruption);
}

TEST_CASE("cluster metadata: replicas applying the same commands agree exactly") {
  ClusterMetadata a = three();
  ClusterMetadata b = three();
  std::vector<MetaCommand> log = {MetaCommand::add_node(node(4)), MetaCommand::advance_epoch(),
                                  MetaCommand::add_node(node(4)),
                                  MetaCommand::decommission("node-1")};
  for (const MetaCommand& c : log) {
    a.apply(c);
    auto decoded = decode_command(encode_command(c));
    REQUIRE(decoded.ok());
    b.apply(*decoded);
  }
  CHECK(a.encode() == b.encode());
  CHECK(a.epoch() == 4);  // the duplicate join moved nothing
}

}  // namespace
}  // namespace chorus
