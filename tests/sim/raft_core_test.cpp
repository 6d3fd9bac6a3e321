// Unit tests of the Raft core, one rule per case, driven by hand-built messages (no network).
// Section numbers refer to the Raft paper (Ongaro & Ousterhout, 2014) and Ongaro's thesis.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "membership/raft/raft.h"

using namespace chorus::raft;

namespace {

std::vector<NodeId> voters(int n) {
  std::vector<NodeId> v;
  for (int i = 1; i <= n; ++i) v.push_back(static_cast<NodeId>(i));
  return v;
}

Raft make(NodeId id, int n, const MemoryStorage& disk = {}, bool pre_vote = true) {
  Config c;
  c.id = id;
  c.voters = voters(n);
  c.pre_vote = pre_vote;
  c.random_seed = 42;
  auto r = Raft::create(c, disk);
  REQUIRE(r.ok());
  return std::move(r).value();
}

MemoryStorage disk_with(uint64_t term, const std::vector<uint64_t>& entry_terms) {
  MemoryStorage d;
  std::vector<Entry> entries;
  for (size_t i = 0; i < entry_terms.size(); ++i) {
    entries.push_back(Entry{entry_terms[i], i + 1, "e" + std::to_string(i + 1)});
  }
  d.append(entries);
  d.set_hard_state(HardState{term, kNoNode, 0});
  return d;
}

std::vector<Message> sent(Raft& r) {
  return r.take_ready().messages;
}

Message msg(MessageType type, NodeId from, NodeId to, uint64_t term) {
  Message m;
  m.type = type;
  m.from = from;
  m.to = to;
  m.term = term;
  return m;
}

void tick_until_not_follower(Raft& r) {
  for (int i = 0; i < 100 && r.role() == Role::kFollower; ++i) r.tick();
  REQUIRE(r.role() != Role::kFollower);
}

// Makes node 1 of n the leader of term (persisted term + 1) with votes from 2 (pre-vote off).
Raft make_leader(int n, const MemoryStorage& disk) {
  Raft r = make(1, n, disk, false);
  tick_until_not_follower(r);
  sent(r);
  r.step(msg(MessageType::kVoteResp, 2, 1, r.term()));
  if (n > 3) r.step(msg(MessageType::kVoteResp, 3, 1, r.term()));
  REQUIRE(r.role() == Role::kLeader);
  return r;
}

}  // namespace

TEST_CASE("raft core: config with an id outside the voters or bad timeouts is rejected") {
  Config c;
  c.id = 4;
  c.voters = voters(3);
  CHECK(Raft::create(c, {}).status().code() == chorus::Status::Code::kInvalidArgument);
  c.id = 1;
  c.election_timeout_ticks = 1;
  CHECK(Raft::create(c, {}).status().code() == chorus::Status::Code::kInvalidArgument);
  c.election_timeout_ticks = 10;
  c.voters = {1, 1, 2};
  CHECK(!Raft::create(c, {}).ok());
}

TEST_CASE(
    "raft core: election timeout starts a pre-vote that does not bump the term (5.2 and 9.6)") {
  Raft r = make(1, 3);
  for (int i = 0; i < 9; ++i) r.tick();  // below the minimum randomized timeout of 10 ticks
  CHECK(r.role() == Role::kFollower);
  tick_until_not_follower(r);
  CHECK(r.role() == Role::kPreCandidate);
  CHECK(r.term() == 0);
  auto out = sent(r);
  REQUIRE(out.size() == 2);
  for (const auto& m : out) {
    CHECK(m.type == MessageType::kPreVote);
    CHECK(m.term == 1);
  }
  // A quorum of pre-votes (self + one) turns it into a real candidate at term 1.
  r.step(msg(MessageType::kPreVoteResp, 2, 1, 1));
  CHECK(r.role() == Role::kCandidate);
  CHECK(r.term() == 1);
  CHECK(r.vote() == 1);
  auto ready = r.take_ready();
  REQUIRE(ready.hard_state.has_value());
  CHECK(ready.hard_state->term == 1);
  CHECK(ready.hard_state->vote == 1);
  REQUIRE(ready.messages.size() == 2);
  CHECK(ready.messages[0].type == MessageType::kVote);
  r.step(msg(MessageType::kVoteResp, 3, 1, 1));
  CHECK(r.role() == Role::kLeader);
  // The new leader appends a no-op of its term and replicates it.
  ready = r.take_ready();
  REQUIRE(ready.entries.size() == 1);
  CHECK(ready.entries[0].term == 1);
  CHECK(ready.messages.size() == 2);
}

TEST_CASE(
    "raft core: rejected pre-votes send the pre-candidate back to follower at the same term") {
  Raft r = make(1, 3);
  tick_until_not_follower(r);
  sent(r);
  r.step([] {
    auto m = msg(MessageType::kPreVoteResp, 2, 1, 0);
    m.reject = true;
    return m;
  }());
  r.step([] {
    auto m = msg(MessageType::kPreVoteResp, 3, 1, 0);
    m.reject = true;
    return m;
  }());
  CHECK(r.role() == Role::kFollower);
  CHECK(r.term() == 0);
}

TEST_CASE(
    "raft core: one vote per term and only for a log at least as up to date (5.2 and 5.4.1)") {
  Raft r = make(1, 3, disk_with(1, {1, 1}));
  auto vote = [](NodeId from, uint64_t term, uint64_t last_index, uint64_t last_term) {
    auto m = msg(MessageType::kVote, from, 1, term);
    m.index = last_index;
    m.log_term = last_term;
    return m;
  };
  r.step(vote(2, 2, 1, 1));  // shorter log, same last term: refused
  auto out = sent(r);
  REQUIRE(out.size() == 1);
  CHECK(out[0].reject);
  CHECK(r.term() == 2);      // but the higher term is adopted
  r.step(vote(3, 2, 1, 2));  // higher last term wins even with a shorter log
  out = sent(r);
  REQUIRE(out.size() == 1);
  CHECK_FALSE(out[0].reject);
  CHECK(r.vote() == 3);
  r.step(vote(2, 2, 5, 2));  // already voted this term
  out = sent(r);
  REQUIRE(out.size() == 1);
  CHECK(out[0].reject);
  r.step(vote(3, 2, 1, 2));  // a duplicate request gets the same answer
  out = sent(r);
  REQUIRE(out.size() == 1);
  CHECK_FALSE(out[0].reject);
}

TEST_CASE("raft core: granting a pre-vote changes neither term nor vote") {
  Raft r = make(1, 3, disk_with(1, {1}));
  auto m = msg(MessageType::kPreVote, 2, 1, 5);
  m.index = 1;
  m.log_term = 1;
  r.step(m);
  auto out = sent(r);
  REQUIRE(out.size() == 1);
  CHECK(out[0].type == MessageType::kPreVoteResp);
  CHECK_FALSE(out[0].reject);
  CHECK(out[0].term == 5);
  CHECK(r.term() == 1);
  CHECK(r.vote() == kNoNode);
}

TEST_CASE("raft core: a follower hearing from its leader ignores pre-votes and votes (lease)") {
  Raft r = make(1, 3, disk_with(1, {1}));
  auto append = msg(MessageType::kAppend, 2, 1, 1);
  append.index = 1;
  append.log_term = 1;
  r.step(append);
  sent(r);
  CHECK(r.leader() == 2);
  auto pre = msg(MessageType::kPreVote, 3, 1, 2);
  pre.index = 9;
  pre.log_term = 9;
  r.step(pre);
  CHECK(sent(r).empty());
  auto vote = pre;
  vote.type = MessageType::kVote;
  r.step(vote);
  CHECK(sent(r).empty());
  CHECK(r.term() == 1);
  CHECK(r.leader() == 2);
}

TEST_CASE("raft core: a leader steps down on any message with a higher term") {
  Raft r = make_leader(3, {});
  const uint64_t term = r.term();
  r.step(msg(MessageType::kAppendResp, 2, 1, term + 3));
  CHECK(r.role() == Role::kFollower);
  CHECK(r.term() == term + 3);
  CHECK(r.vote() == kNoNode);
  CHECK(r.propose("x").is_unavailable());
}

TEST_CASE("raft core: a leader without a quorum for an election timeout steps down") {
  Raft r = make_leader(3, {});
  for (int i = 0; i < 2 * 10 && r.role() == Role::kLeader; ++i) r.tick();
  CHECK(r.role() == Role::kFollower);
}

TEST_CASE("raft core: propose is rejected on a follower with a leader hint and when too large") {
  Raft r = make(1, 3, disk_with(1, {1}));
  auto append = msg(MessageType::kAppend, 3, 1, 1);
  append.index = 1;
  append.log_term = 1;
  r.step(append);
  const chorus::Status st = r.propose("x");
  CHECK(st.is_unavailable());
  CHECK(st.message().find("leader hint: 3") != std::string::npos);
  Raft leader = make_leader(3, {});
  CHECK(leader.propose(std::string(kMaxProposalBytes + 1, 'x')).code() ==
        chorus::Status::Code::kTooLarge);
  CHECK(leader.propose("ok").ok());
}

TEST_CASE("raft core: a follower truncates a conflicting suffix and keeps a matching one (5.3)") {
  Raft r = make(1, 3, disk_with(2, {1, 1, 2, 2}));
  auto append = msg(MessageType::kAppend, 2, 1, 3);
  append.index = 2;
  append.log_term = 1;
  append.entries = {Entry{3, 3, "new"}};
  append.commit = 3;
  r.step(append);
  auto ready = r.take_ready();
  CHECK(r.log().last_index() == 3);
  CHECK(r.log().term(3) == 3);
  REQUIRE(ready.entries.size() == 1);
  CHECK(ready.entries[0].index == 3);  // the caller truncates its stored log at index 3
  CHECK(ready.committed_entries.size() == 3);
  REQUIRE(ready.messages.size() == 1);
  CHECK_FALSE(ready.messages[0].reject);
  CHECK(ready.messages[0].index == 3);
  // A duplicated older Append that agrees with the log must not truncate it.
  append.index = 1;
  append.entries = {Entry{1, 2, "e2"}};
  r.step(append);
  CHECK(r.log().last_index() == 3);
  CHECK(r.log().term(3) == 3);
}

TEST_CASE("raft core: a follower commits only up to the last entry the leader proved matches") {
  Raft r = make(1, 3, disk_with(2, {1, 2, 2}));
  auto append = msg(MessageType::kAppend, 2, 1, 3);
  append.index = 1;
  append.log_term = 1;
  append.commit = 3;  // leader committed 3, but entries 2..3 here may be from a deposed leader
  r.step(append);
  CHECK(r.log().committed() == 1);
}

TEST_CASE("raft core: fast backoff repairs a whole conflicting term in two round trips") {
  // The follower holds five term-2 entries the leader (term 4) never had; its own run is term 3.
  Raft leader = make_leader(3, disk_with(3, {1, 3, 3, 3, 3, 3}));
  Raft follower = make(2, 3, disk_with(3, {1, 2, 2, 2, 2, 2}));
  int round_trips = 0;
  std::vector<Message> to_follower;
  for (const auto& m : sent(leader)) {
    if (m.to == 2) to_follower.push_back(m);
  }
  while (!to_follower.empty() && round_trips < 10) {
    ++round_trips;
    for (const auto& m : to_follower) follower.step(m);
    to_follower.clear();
    for (const auto& reply : sent(follower)) leader.step(reply);
    for (const auto& m : sent(leader)) {
      if (m.to == 2) to_follower.push_back(m);
    }
  }
  CHECK(follower.log().last_index() == 7);
  CHECK(follower.log().term(2) == 3);
  CHECK(follower.log().term(7) == 4);
  CHECK(round_trips <= 3);  // reject+hint, then one Append carrying the whole repaired suffix
  CHECK(leader.log().committed() == 7);
}

TEST_CASE("raft core: Figure 8 - a leader never commits an older-term entry by counting replicas") {
  // Node 1 led term 2 and wrote index 2; now it leads term 3 and appended its no-op at index 3.
  Raft r = make_leader(3, disk_with(2, {1, 2}));
  REQUIRE(r.term() == 3);
  REQUIRE(r.log().last_index() == 3);
  sent(r);
  auto ack = msg(MessageType::kAppendResp, 2, 1, 3);
  ack.index = 2;
  r.step(ack);
  // Index 2 is on a majority (1 and 2) but is from term 2: not committed (5.4.2).
  CHECK(r.log().committed() == 0);
  ack.index = 3;
  r.step(ack);
  // Once the term-3 no-op is on a majority, it and everything before it commit.
  CHECK(r.log().committed() == 3);
  auto ready = r.take_ready();
  CHECK(ready.committed_entries.size() == 3);
}

TEST_CASE("raft core: a restarted node restores term and vote and log from storage") {
  MemoryStorage disk = disk_with(4, {1, 2, 4});
  disk.set_hard_state(HardState{4, 3, 2});
  Raft r = make(1, 3, disk);
  CHECK(r.term() == 4);
  CHECK(r.vote() == 3);
  CHECK(r.log().last_index() == 3);
  CHECK(r.log().committed() == 2);
  auto ready = r.take_ready();
  CHECK_FALSE(ready.hard_state.has_value());  // nothing new to persist
  CHECK(ready.entries.empty());
  CHECK(ready.committed_entries.size() == 2);  // the state machine is rebuilt from the log
  disk.set_hard_state(HardState{1, 0, 9});
  Config c;
  c.id = 1;
  c.voters = voters(3);
  CHECK(Raft::create(c, disk).status().is_corruption());
}

TEST_CASE("raft core: a single voter elects itself and commits alone") {
  Config c;
  c.id = 1;
  c.voters = {1};
  auto created = Raft::create(c, {});
  REQUIRE(created.ok());
  Raft r = std::move(created).value();
  tick_until_not_follower(r);
  CHECK(r.role() == Role::kLeader);
  REQUIRE(r.propose("solo").ok());
  auto ready = r.take_ready();
  REQUIRE(ready.committed_entries.size() == 2);
  CHECK(ready.committed_entries[1].data == "solo");
}
