// Unit tests of the Raft core, one rule per case, driven by hand-built messages (no network).
// Section numbers refer to the Raft paper (Ongaro & Ousterhout, 2014) and Ongaro's thesis.
#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <set>
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

TEST_CASE("raft core: config with bad ids or bad timeouts is rejected") {
  Config c;
  c.id = 1;
  c.voters = voters(3);
  c.election_timeout_ticks = 1;
  CHECK(Raft::create(c, {}).status().code() == chorus::Status::Code::kInvalidArgument);
  c.election_timeout_ticks = 10;
  c.voters = {1, 1, 2};
  CHECK(!Raft::create(c, {}).ok());
  c.voters = {0, 1};
  CHECK(!Raft::create(c, {}).ok());
  c.voters = {1, 2};
  c.learners = {2};  // both voter and learner
  CHECK(Raft::create(c, {}).status().code() == chorus::Status::Code::kInvalidArgument);
  c.learners = {};
  c.voters = voters(static_cast<int>(kMaxVoters) + 1);
  CHECK(Raft::create(c, {}).status().code() == chorus::Status::Code::kInvalidArgument);
  c.voters = voters(3);
  c.id = kNoNode;
  CHECK(!Raft::create(c, {}).ok());
  // An id outside the voters is a node waiting to be added, not a mistake.
  c.id = 4;
  CHECK(Raft::create(c, {}).ok());
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

// ---- membership changes and learners (thesis §4.1, §4.2) ------------------------------------

namespace {

Config config_of(NodeId id, std::vector<NodeId> voter_ids, std::vector<NodeId> learner_ids = {}) {
  Config c;
  c.id = id;
  c.voters = std::move(voter_ids);
  c.learners = std::move(learner_ids);
  c.pre_vote = false;
  c.random_seed = 42;
  return c;
}

Raft create_or_fail(const Config& c, const MemoryStorage& disk = {}) {
  auto r = Raft::create(c, disk);
  REQUIRE(r.ok());
  return std::move(r).value();
}

// Node c.id campaigns (pre-vote off) and every other voter named in `grants` votes for it.
Raft lead(const Config& c, const std::vector<NodeId>& grants, const MemoryStorage& disk = {}) {
  Raft r = create_or_fail(c, disk);
  tick_until_not_follower(r);
  sent(r);
  for (NodeId v : grants) r.step(msg(MessageType::kVoteResp, v, c.id, r.term()));
  REQUIRE(r.role() == Role::kLeader);
  return r;
}

Message ack(NodeId from, const Raft& leader, uint64_t index) {
  auto m = msg(MessageType::kAppendResp, from, leader.id(), leader.term());
  m.index = index;
  return m;
}

Entry conf_entry(uint64_t term, uint64_t index, ConfChangeType type, NodeId node) {
  return Entry{term, index, encode_conf_change(ConfChange{type, node, {}}), EntryType::kConfChange};
}

MemoryStorage disk_of(const HardState& hs, const std::vector<Entry>& entries,
                      const Snapshot& snap = {}) {
  MemoryStorage d;
  if (!snap.empty()) d.apply_snapshot(snap);
  d.append(entries);
  d.set_hard_state(hs);
  return d;
}

bool sends_to(const std::vector<Message>& out, NodeId to, MessageType type) {
  return std::any_of(out.begin(), out.end(),
                     [&](const Message& m) { return m.to == to && m.type == type; });
}

std::vector<NodeId> recipients(const std::vector<Message>& out, MessageType type) {
  std::vector<NodeId> ids;
  for (const auto& m : out) {
    if (m.type == type) ids.push_back(m.to);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

const ConfChange kAddLearner4{ConfChangeType::kAddLearner, 4, "join 4"};

}  // namespace

TEST_CASE(
    "raft core: a node outside the configuration never campaigns but votes and accepts appends") {
  Raft r = create_or_fail(config_of(4, {}));  // a joining node: empty storage and configuration
  CHECK_FALSE(r.promotable());
  for (int i = 0; i < 100; ++i) r.tick();
  CHECK(r.role() == Role::kFollower);
  CHECK(sent(r).empty());
  auto vote = msg(MessageType::kVote, 1, 4, 1);  // a candidate whose configuration has us
  r.step(vote);
  auto out = sent(r);
  REQUIRE(out.size() == 1);
  CHECK_FALSE(out[0].reject);
  CHECK(r.vote() == 1);
  auto append = msg(MessageType::kAppend, 1, 4, 1);
  append.entries = {Entry{1, 1, "a"}, conf_entry(1, 2, ConfChangeType::kAddVoter, 4)};
  append.commit = 2;
  r.step(append);
  out = sent(r);
  REQUIRE(out.size() == 1);
  CHECK_FALSE(out[0].reject);
  CHECK(out[0].index == 2);
  // The log alone names it a voter, but without a snapshot it cannot know the initial voters:
  // campaigning on {4} alone could elect a second leader, so it stays passive.
  CHECK(r.conf_state().voters == std::vector<NodeId>{4});
  CHECK_FALSE(r.promotable());
  for (int i = 0; i < 100; ++i) r.tick();
  CHECK(r.role() == Role::kFollower);
}

TEST_CASE(
    "raft core: conf changes wait for a commit in the leader's term and for the previous change") {
  Raft follower = create_or_fail(config_of(2, voters(3)));
  CHECK(follower.propose_conf_change(kAddLearner4).is_unavailable());
  Raft r = lead(config_of(1, voters(3)), {2});
  // The no-op of its term is not committed yet: an older uncommitted change might still commit.
  CHECK(r.propose_conf_change(kAddLearner4).code() == chorus::Status::Code::kBusy);
  r.step(ack(2, r, r.log().last_index()));
  REQUIRE(r.log().committed() == r.log().last_index());
  REQUIRE(r.propose_conf_change(kAddLearner4).ok());
  const ConfChange add5{ConfChangeType::kAddLearner, 5, {}};
  CHECK(r.propose_conf_change(add5).code() == chorus::Status::Code::kBusy);  // one at a time
  r.step(ack(2, r, r.log().last_index()));
  CHECK(r.propose_conf_change(add5).ok());
}

TEST_CASE(
    "raft core: conf changes that change nothing or leave no voter or too many are rejected") {
  Raft big = lead(config_of(1, voters(static_cast<int>(kMaxVoters))), {2, 3, 4});
  big.step(ack(2, big, 1));
  big.step(ack(3, big, 1));
  big.step(ack(4, big, 1));
  REQUIRE(big.log().committed() == 1);
  const auto invalid = chorus::Status::Code::kInvalidArgument;
  CHECK(big.propose_conf_change({ConfChangeType::kAddVoter, kMaxVoters + 1, {}}).code() == invalid);
  CHECK(big.propose_conf_change({ConfChangeType::kAddVoter, 2, {}}).code() == invalid);
  CHECK(big.propose_conf_change({ConfChangeType::kRemoveNode, 99, {}}).code() == invalid);
  CHECK(big.propose_conf_change({ConfChangeType::kAddLearner, kNoNode, {}}).code() == invalid);
  CHECK(big.propose_conf_change(
               {ConfChangeType::kAddLearner, 99, std::string(kMaxProposalBytes + 1, 'x')})
            .code() == chorus::Status::Code::kTooLarge);
  CHECK(big.propose_conf_change({ConfChangeType::kAddLearner, 99, {}}).ok());

  Config solo_config = config_of(1, {1});
  Raft solo = create_or_fail(solo_config);
  tick_until_not_follower(solo);
  REQUIRE(solo.role() == Role::kLeader);
  CHECK(solo.propose_conf_change({ConfChangeType::kRemoveNode, 1, {}}).code() == invalid);
  CHECK(solo.propose_conf_change({ConfChangeType::kAddLearner, 1, {}}).code() == invalid);
}

TEST_CASE("raft core: the configuration takes effect for the application when the change commits") {
  Raft r = lead(config_of(1, voters(3)), {2});
  r.step(ack(2, r, 1));
  r.take_ready();
  REQUIRE(r.propose_conf_change(kAddLearner4).ok());
  CHECK(r.conf_state().learners.empty());  // appended, not committed
  // The leader replicates to the new member at once (its quorum does not change: a learner).
  CHECK(sends_to(r.take_ready().messages, 4, MessageType::kAppend));
  r.step(ack(2, r, 2));
  CHECK(r.conf_state().voters == voters(3));
  CHECK(r.conf_state().learners == std::vector<NodeId>{4});
  auto ready = r.take_ready();
  REQUIRE(ready.committed_entries.size() == 1);
  const Entry& e = ready.committed_entries[0];
  CHECK(e.type == EntryType::kConfChange);
  ConfChange cc;
  REQUIRE(decode_conf_change(e.data, &cc));
  CHECK(cc == kAddLearner4);  // the context rides along for the application
}

TEST_CASE("raft core: a learner gets the log but never campaigns and its vote does not count") {
  Raft learner = create_or_fail(config_of(4, voters(3), {4}));
  for (int i = 0; i < 100; ++i) learner.tick();
  CHECK(learner.role() == Role::kFollower);
  CHECK(sent(learner).empty());
  auto append = msg(MessageType::kAppend, 1, 4, 1);
  append.entries = {Entry{1, 1, "a"}};
  append.commit = 1;
  learner.step(append);
  CHECK(learner.log().committed() == 1);

  Raft candidate = create_or_fail(config_of(1, voters(3), {4}));
  tick_until_not_follower(candidate);
  CHECK(recipients(sent(candidate), MessageType::kVote) == std::vector<NodeId>{2, 3});
  candidate.step(msg(MessageType::kVoteResp, 4, 1, candidate.term()));
  CHECK(candidate.role() == Role::kCandidate);  // self + learner is no majority of {1,2,3}
  candidate.step(msg(MessageType::kVoteResp, 2, 1, candidate.term()));
  CHECK(candidate.role() == Role::kLeader);
}

TEST_CASE("raft core: a promoted learner counts toward commits and may campaign") {
  Raft r = lead(config_of(1, voters(3), {4}), {2});
  r.step(ack(2, r, 1));
  REQUIRE(r.propose_conf_change({ConfChangeType::kAddVoter, 4, {}}).ok());
  // From its append on, the leader counts {1,2,3,4}: index 2 needs three of them.
  r.step(ack(2, r, 2));
  CHECK(r.log().committed() == 1);
  r.step(ack(4, r, 2));
  CHECK(r.log().committed() == 2);
  CHECK(r.conf_state().voters == voters(4));
  CHECK(r.conf_state().learners.empty());

  Raft promoted = create_or_fail(config_of(4, voters(3), {4}));
  auto append = msg(MessageType::kAppend, 1, 4, 1);
  append.entries = {Entry{1, 1, {}}, conf_entry(1, 2, ConfChangeType::kAddVoter, 4)};
  append.commit = 2;
  promoted.step(append);
  sent(promoted);
  CHECK(promoted.promotable());
  tick_until_not_follower(promoted);
  CHECK(recipients(sent(promoted), MessageType::kVote) == std::vector<NodeId>{1, 2, 3});
}

TEST_CASE(
    "raft core: a leader that removes itself leads until the removal commits then steps down") {
  Raft r = lead(config_of(1, voters(3)), {2});
  r.step(ack(2, r, 1));
  REQUIRE(r.propose_conf_change({ConfChangeType::kRemoveNode, 1, {}}).ok());
  sent(r);
  // {2,3} needs both: the leader's own copy no longer counts.
  r.step(ack(2, r, 2));
  CHECK(r.log().committed() == 1);
  CHECK(r.role() == Role::kLeader);
  r.step(ack(3, r, 2));
  CHECK(r.log().committed() == 2);
  CHECK(r.role() == Role::kFollower);
  CHECK(r.conf_state().voters == std::vector<NodeId>{2, 3});
  // Its last words tell the others the removal committed.
  auto out = sent(r);
  CHECK(sends_to(out, 2, MessageType::kAppend));
  CHECK(std::all_of(out.begin(), out.end(), [](const Message& m) { return m.commit == 2; }));
  CHECK_FALSE(r.promotable());
  for (int i = 0; i < 100; ++i) r.tick();
  CHECK(r.role() == Role::kFollower);
  CHECK(sent(r).empty());
}

TEST_CASE(
    "raft core: a voter removed by an uncommitted change still campaigns without its own vote "
    "(4.2.2)") {
  // Node 1 led term 1 and appended its own removal, which never reached the others' commit.
  const std::vector<Entry> log = {Entry{1, 1, {}},
                                  conf_entry(1, 2, ConfChangeType::kRemoveNode, 1)};
  Raft r = create_or_fail(config_of(1, voters(3)), disk_of(HardState{1, 1, 1}, log));
  REQUIRE(r.promotable());
  tick_until_not_follower(r);
  CHECK(recipients(sent(r), MessageType::kVote) == std::vector<NodeId>{2, 3});
  r.step(msg(MessageType::kVoteResp, 2, 1, r.term()));
  CHECK(r.role() == Role::kCandidate);  // needs both of {2,3}
  r.step(msg(MessageType::kVoteResp, 3, 1, r.term()));
  REQUIRE(r.role() == Role::kLeader);
  sent(r);
  r.step(ack(2, r, 3));
  r.step(ack(3, r, 3));
  CHECK(r.log().committed() == 3);
  CHECK(r.role() == Role::kFollower);  // its removal committed with the no-op

  // Once it knows the removal committed, it never campaigns again.
  Raft removed = create_or_fail(config_of(1, voters(3)), disk_of(HardState{1, 1, 2}, log));
  CHECK_FALSE(removed.promotable());
  for (int i = 0; i < 100; ++i) removed.tick();
  CHECK(removed.role() == Role::kFollower);
  CHECK(sent(removed).empty());
}

TEST_CASE(
    "raft core: a node campaigns under the latest configuration in its log even uncommitted") {
  // Node 2 holds two changes it does not know committed. Campaigning under the committed
  // {1,2,3} would win with node 1's vote alone, while {3,4,5} could elect another leader in the
  // same term under {1..5}: the latest configuration must decide.
  const std::vector<Entry> log = {Entry{1, 1, {}}, conf_entry(1, 2, ConfChangeType::kAddVoter, 4),
                                  conf_entry(1, 3, ConfChangeType::kAddVoter, 5)};
  Raft r = create_or_fail(config_of(2, voters(3)), disk_of(HardState{1, kNoNode, 1}, log));
  CHECK(r.conf_state().voters == voters(3));
  tick_until_not_follower(r);
  CHECK(recipients(sent(r), MessageType::kVote) == std::vector<NodeId>{1, 3, 4, 5});
  r.step(msg(MessageType::kVoteResp, 1, 2, r.term()));
  CHECK(r.role() == Role::kCandidate);
  r.step(msg(MessageType::kVoteResp, 4, 2, r.term()));
  CHECK(r.role() == Role::kLeader);
}

TEST_CASE("raft core: an uncommitted conf change overwritten by a new leader is undone") {
  const std::vector<Entry> log = {Entry{1, 1, {}}, conf_entry(1, 2, ConfChangeType::kAddVoter, 4)};
  const MemoryStorage disk = disk_of(HardState{1, kNoNode, 1}, log);
  Raft before = create_or_fail(config_of(3, voters(3)), disk);
  tick_until_not_follower(before);
  CHECK(recipients(sent(before), MessageType::kVote) == std::vector<NodeId>{1, 2, 4});

  Raft r = create_or_fail(config_of(3, voters(3)), disk);
  auto append = msg(MessageType::kAppend, 1, 3, 2);
  append.index = 1;
  append.log_term = 1;
  append.entries = {Entry{2, 2, {}}};
  r.step(append);
  sent(r);
  REQUIRE(r.log().term(2) == 2);
  tick_until_not_follower(r);
  CHECK(recipients(sent(r), MessageType::kVote) == std::vector<NodeId>{1, 2});
}

// ---- snapshots and log compaction (§7) -------------------------------------------------------

namespace {

// A few nodes wired together by hand: settle() drains every Ready (persisting it like the node
// driver must) and delivers the messages until the cluster is quiet. Nodes in `cut` neither send
// nor receive; `drop` can discard chosen messages.
struct Cluster {
  std::map<NodeId, Raft> nodes;
  std::map<NodeId, MemoryStorage> disks;
  std::map<NodeId, std::vector<Snapshot>> snapshots_received;
  std::set<NodeId> cut;
  std::function<bool(const Message&)> drop = [](const Message&) { return false; };
  std::vector<Message> delivered;

  void add(const Config& c) { nodes.emplace(c.id, create_or_fail(c, disks[c.id])); }
  Raft& at(NodeId id) { return nodes.at(id); }

  void settle(int max_rounds = 100) {
    for (int round = 0; round < max_rounds; ++round) {
      std::vector<Message> out;
      for (auto& [id, r] : nodes) {
        while (r.has_ready()) {
          Ready rd = r.take_ready();
          MemoryStorage& disk = disks[id];
          if (rd.snapshot) {
            disk.apply_snapshot(*rd.snapshot);
            snapshots_received[id].push_back(*rd.snapshot);
          }
          if (rd.hard_state) disk.set_hard_state(*rd.hard_state);
          disk.append(rd.entries);
          out.insert(out.end(), rd.messages.begin(), rd.messages.end());
        }
      }
      if (out.empty()) return;
      for (const Message& m : out) {
        if (cut.count(m.from) || cut.count(m.to) || !nodes.count(m.to) || drop(m)) continue;
        delivered.push_back(m);
        nodes.at(m.to).step(m);
      }
    }
  }
  void elect(NodeId id) {
    tick_until_not_follower(at(id));
    settle();
    REQUIRE(at(id).role() == Role::kLeader);
  }
  void tick(NodeId id, int ticks) {
    for (int i = 0; i < ticks; ++i) {
      at(id).tick();
      settle();
    }
  }
  size_t count_delivered(MessageType type, NodeId to) const {
    return std::count_if(delivered.begin(), delivered.end(),
                         [&](const Message& m) { return m.type == type && m.to == to; });
  }
};

}  // namespace

TEST_CASE(
    "raft core: compact drops applied entries and records the configuration as of its index") {
  Raft r = create_or_fail(config_of(1, {1}));
  tick_until_not_follower(r);
  REQUIRE(r.role() == Role::kLeader);
  REQUIRE(r.propose_conf_change({ConfChangeType::kAddLearner, 2, {}}).ok());  // index 2
  REQUIRE(r.propose("a").ok());                                               // index 3
  REQUIRE(r.propose_conf_change({ConfChangeType::kAddLearner, 3, {}}).ok());  // index 4
  r.take_ready();
  REQUIRE(r.log().applied() == 4);
  auto snap = r.compact(3, "state after 3");
  REQUIRE(snap.ok());
  CHECK(snap->metadata.index == 3);
  CHECK(snap->metadata.term == r.term());
  // As of index 3 only learner 2 had joined; 3 joins at index 4, still in the log.
  CHECK(snap->metadata.conf == ConfState{{1}, {2}});
  CHECK(snap->data == "state after 3");
  CHECK(r.log().first_index() == 4);
  CHECK(r.log().term(3) == r.term());
  CHECK(r.conf_state() == ConfState{{1}, {2, 3}});
  CHECK(r.snapshot() == *snap);
  const auto invalid = chorus::Status::Code::kInvalidArgument;
  CHECK(r.compact(3, "again").status().code() == invalid);  // already compacted
  REQUIRE(r.propose("b").ok());                             // index 5, not applied yet
  CHECK(r.compact(5, "ahead").status().code() == invalid);
  CHECK(r.compact(4, std::string(kMaxSnapshotBytes + 1, 'x')).status().code() ==
        chorus::Status::Code::kTooLarge);
  CHECK(r.log().first_index() == 4);  // failures changed nothing
  r.take_ready();
  REQUIRE(r.compact(5, "all").ok());
  CHECK(r.log().first_index() == 6);
  CHECK(r.conf_state() == ConfState{{1}, {2, 3}});
}

TEST_CASE("raft core: a follower behind the compacted log gets a snapshot then appends again") {
  Cluster c;
  for (NodeId id = 1; id <= 3; ++id) c.add(config_of(id, voters(3)));
  c.elect(1);
  c.cut.insert(3);
  for (int i = 0; i < 5; ++i) REQUIRE(c.at(1).propose("e" + std::to_string(i)).ok());
  c.settle();
  REQUIRE(c.at(1).log().committed() == 6);
  REQUIRE(c.at(1).compact(6, "image@6").ok());
  c.cut.clear();
  // Heartbeats find node 3's pipeline stalled; the probe that follows needs entries that are gone.
  c.tick(1, 2);
  REQUIRE(c.count_delivered(MessageType::kSnapshot, 3) == 1);
  REQUIRE(c.snapshots_received[3].size() == 1);
  CHECK(c.snapshots_received[3][0].data == "image@6");
  CHECK(c.snapshots_received[3][0].metadata.conf == ConfState{voters(3), {}});
  CHECK(c.at(3).log().first_index() == 7);
  CHECK(c.at(3).log().committed() == 6);
  CHECK(c.disks[3].snapshot().metadata.index == 6);
  REQUIRE(c.at(1).propose("after").ok());
  c.settle();
  c.tick(1, 1);
  CHECK(c.at(3).log().committed() == 7);
  CHECK(c.at(3).log().entry(7).data == "after");
  CHECK(c.disks[3].last_index() == 7);
  CHECK(c.count_delivered(MessageType::kSnapshot, 3) == 1);
}

TEST_CASE(
    "raft core: a lost snapshot is sent again after an election timeout not every heartbeat") {
  Cluster c;
  for (NodeId id = 1; id <= 3; ++id) c.add(config_of(id, voters(3)));
  c.elect(1);
  c.cut.insert(3);
  REQUIRE(c.at(1).propose("x").ok());
  c.settle();
  REQUIRE(c.at(1).compact(2, "image@2").ok());
  c.cut.clear();
  int snapshots_sent = 0;
  c.drop = [&](const Message& m) {
    // Drop the first snapshot and every answer node 3 gives meanwhile.
    if (m.type == MessageType::kSnapshot) return ++snapshots_sent == 1;
    return m.from == 3 && snapshots_sent < 2;
  };
  c.tick(1, 5);
  CHECK(snapshots_sent == 1);
  c.tick(1, 10);
  CHECK(snapshots_sent == 2);
  CHECK(c.at(3).log().committed() == 2);
}

TEST_CASE("raft core: a follower installs a newer snapshot keeping a log suffix that matches it") {
  const std::vector<Entry> log = {Entry{1, 1, "a"}, Entry{1, 2, "b"}, Entry{1, 3, "c"},
                                  Entry{1, 4, "d"}, Entry{1, 5, "e"}};
  MemoryStorage disk = disk_of(HardState{1, kNoNode, 1}, log);
  auto snapshot_msg = [](uint64_t term, uint64_t index, uint64_t snap_term) {
    auto m = msg(MessageType::kSnapshot, 1, 2, term);
    m.snapshot.metadata = SnapshotMetadata{index, snap_term, ConfState{voters(3), {}}};
    m.snapshot.data = "image";
    return m;
  };
  SECTION("matching: entries after it stay and are handed out again for storage") {
    Raft r = create_or_fail(config_of(2, voters(3)), disk);
    r.step(snapshot_msg(1, 3, 1));
    CHECK(r.log().first_index() == 4);
    CHECK(r.log().last_index() == 5);
    CHECK(r.log().committed() == 3);
    Ready rd = r.take_ready();
    REQUIRE(rd.snapshot.has_value());
    CHECK(rd.snapshot->metadata.index == 3);
    REQUIRE(rd.hard_state.has_value());
    CHECK(rd.hard_state->commit == 3);
    REQUIRE(rd.entries.size() == 2);
    CHECK(rd.entries[0].index == 4);
    CHECK(rd.committed_entries.empty());  // the snapshot itself brings the state up to 3
    REQUIRE(rd.messages.size() == 1);
    CHECK(rd.messages[0].type == MessageType::kAppendResp);
    CHECK(rd.messages[0].index == 3);  // only the snapshot is known to match the leader
    disk.apply_snapshot(*rd.snapshot);
    disk.append(rd.entries);
    CHECK(disk.first_index() == 4);
    CHECK(disk.last_index() == 5);
  }
  SECTION("conflicting: the whole log is replaced") {
    Raft r = create_or_fail(config_of(2, voters(3)), disk);
    r.step(snapshot_msg(2, 3, 2));
    CHECK(r.log().first_index() == 4);
    CHECK(r.log().last_index() == 3);
    CHECK(r.log().last_term() == 2);
    CHECK(r.take_ready().entries.empty());
  }
  SECTION("not newer than the commit index: answered with the commit index and ignored") {
    Raft r = create_or_fail(config_of(2, voters(3)), disk_of(HardState{1, kNoNode, 4}, log));
    r.take_ready();
    r.step(snapshot_msg(1, 3, 1));
    Ready rd = r.take_ready();
    CHECK_FALSE(rd.snapshot.has_value());
    REQUIRE(rd.messages.size() == 1);
    CHECK_FALSE(rd.messages[0].reject);
    CHECK(rd.messages[0].index == 4);
    CHECK(r.log().first_index() == 1);
  }
}

TEST_CASE("raft core: a restart from a snapshot plus log restores configuration and commit") {
  Snapshot snap;
  snap.metadata = SnapshotMetadata{5, 2, ConfState{voters(3), {4}}};
  snap.data = "image@5";
  const std::vector<Entry> log = {Entry{2, 6, "x"}, conf_entry(2, 7, ConfChangeType::kAddVoter, 4),
                                  Entry{3, 8, "y"}};
  // Config's voters only matter without a snapshot: the snapshot's configuration wins.
  Raft r = create_or_fail(config_of(1, {9}), disk_of(HardState{3, 2, 7}, log, snap));
  CHECK(r.term() == 3);
  CHECK(r.vote() == 2);
  CHECK(r.log().first_index() == 6);
  CHECK(r.log().last_index() == 8);
  CHECK(r.log().committed() == 7);
  CHECK(r.log().applied() == 5);  // the application restores the snapshot itself
  CHECK(r.conf_state() == ConfState{voters(4), {}});
  CHECK(r.snapshot() == snap);
  CHECK(r.promotable());
  Ready rd = r.take_ready();
  CHECK_FALSE(rd.snapshot.has_value());
  CHECK_FALSE(rd.hard_state.has_value());
  REQUIRE(rd.committed_entries.size() == 2);
  CHECK(rd.committed_entries[0].index == 6);
  // A commit index persisted before the snapshot is lifted to it.
  Raft lagging = create_or_fail(config_of(1, {}), disk_of(HardState{3, 2, 2}, log, snap));
  CHECK(lagging.log().committed() == 5);
}

TEST_CASE("raft core: a new cluster bootstraps from a snapshot at index 1 without a hard state") {
  Snapshot boot;
  boot.metadata = SnapshotMetadata{1, 1, ConfState{voters(3), {}}};
  boot.data = "initial metadata";
  Cluster c;
  for (NodeId id = 1; id <= 3; ++id) {
    c.disks[id].apply_snapshot(boot);
    c.add(config_of(id, {}));  // the node driver passes no voters: the snapshot has them
  }
  CHECK(c.at(1).term() == 1);
  CHECK(c.at(1).log().committed() == 1);
  CHECK(c.at(1).conf_state() == boot.metadata.conf);
  c.elect(1);
  CHECK(c.at(1).term() == 2);
  REQUIRE(c.at(1).propose("first").ok());
  c.settle();
  c.tick(1, 1);  // the heartbeat carries the commit index
  for (NodeId id = 1; id <= 3; ++id) CHECK(c.at(id).log().committed() == 3);
  // Adding a node that starts with nothing: it is sent the snapshot, then the log.
  c.add(config_of(4, {}));
  REQUIRE(c.at(1).propose_conf_change(kAddLearner4).ok());
  c.settle();
  c.tick(1, 2);
  CHECK(c.snapshots_received[4].size() == 1);
  CHECK(c.at(4).log().committed() == c.at(1).log().committed());
  CHECK(c.at(4).conf_state() == ConfState{voters(3), {4}});
}

TEST_CASE("raft core: inconsistent persisted state is Corruption") {
  Snapshot bad;
  bad.metadata = SnapshotMetadata{3, 1, ConfState{{}, {2}}};  // no voter
  MemoryStorage no_voters;
  no_voters.apply_snapshot(bad);
  CHECK(Raft::create(config_of(1, {}), no_voters).status().is_corruption());
  MemoryStorage junk =
      disk_of(HardState{1, kNoNode, 0}, {Entry{1, 1, "not a conf change", EntryType::kConfChange}});
  CHECK(Raft::create(config_of(1, voters(3)), junk).status().is_corruption());
  Snapshot snap;
  snap.metadata = SnapshotMetadata{3, 2, ConfState{voters(3), {}}};
  MemoryStorage older_entries = disk_of(HardState{2, kNoNode, 0}, {Entry{1, 4, "x"}}, snap);
  CHECK(Raft::create(config_of(1, {}), older_entries).status().is_corruption());
}
