#include "membership/raft/raft.h"

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <functional>
#include <set>

namespace chorus::raft {

const char* role_name(Role role) {
  switch (role) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "?";
}

Result<Raft> Raft::create(const Config& config, const MemoryStorage& persisted) {
  if (config.id == kNoNode) return Status::InvalidArgument("raft: node id 0 is reserved");
  const std::set<NodeId> voters(config.voters.begin(), config.voters.end());
  if (voters.size() != config.voters.size() || voters.count(kNoNode) != 0) {
    return Status::InvalidArgument("raft: voters must be distinct non-zero ids");
  }
  if (voters.count(config.id) == 0) return Status::InvalidArgument("raft: id is not a voter");
  if (voters.size() > kMaxVoters) return Status::InvalidArgument("raft: too many voters");
  if (config.heartbeat_interval_ticks < 1 ||
      config.election_timeout_ticks <= config.heartbeat_interval_ticks) {
    return Status::InvalidArgument("raft: need 1 <= heartbeat_interval < election_timeout");
  }
  const auto& entries = persisted.entries();
  const HardState& hs = persisted.hard_state();
  if (hs.commit > entries.size() || (!entries.empty() && entries.back().term > hs.term)) {
    return Status::Corruption("raft: persisted hard state does not match the persisted log");
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].index != i + 1 || (i > 0 && entries[i].term < entries[i - 1].term)) {
      return Status::Corruption("raft: persisted log is not contiguous and term-ordered");
    }
  }
  return Raft(config, persisted);
}

Raft::Raft(const Config& config, const MemoryStorage& persisted)
    : config_(config), rng_(config.random_seed), log_(persisted.entries()) {
  const HardState& hs = persisted.hard_state();
  log_.commit_to(hs.commit);
  last_ready_hard_state_ = hs;
  term_ = hs.term;
  vote_ = hs.vote;
  become_follower(term_, kNoNode);
}

// ---- role transitions ----------------------------------------------------------------------

void Raft::reset(uint64_t term) {
  if (term != term_) {
    assert(term > term_);
    term_ = term;
    vote_ = kNoNode;  // a vote is only ever for one term
  }
  leader_ = kNoNode;
  election_elapsed_ticks_ = 0;
  heartbeat_elapsed_ticks_ = 0;
  reset_randomized_election_timeout();
  votes_.clear();
  progress_.clear();
}

void Raft::reset_randomized_election_timeout() {
  // Uniform in [T, 2T): spreads candidates so one usually wins before the others time out (§5.2).
  std::uniform_int_distribution<int> dist(config_.election_timeout_ticks,
                                          2 * config_.election_timeout_ticks - 1);
  randomized_election_timeout_ticks_ = dist(rng_);
}

void Raft::become_follower(uint64_t term, NodeId leader) {
  reset(term);
  role_ = Role::kFollower;
  leader_ = leader;
}

void Raft::become_pre_candidate() {
  assert(role_ != Role::kLeader);
  // Pre-vote changes neither term nor vote: a node that cannot win leaves no trace (thesis §9.6).
  role_ = Role::kPreCandidate;
  votes_.clear();
  leader_ = kNoNode;
}

void Raft::become_candidate() {
  assert(role_ != Role::kLeader);
  reset(term_ + 1);
  vote_ = config_.id;
  role_ = Role::kCandidate;
}

void Raft::become_leader() {
  assert(role_ == Role::kCandidate);
  reset(term_);
  role_ = Role::kLeader;
  leader_ = config_.id;
  for (NodeId v : config_.voters) {
    Progress& pr = progress_[v];
    pr.next = log_.last_index() + 1;
    pr.recent_active = v == config_.id;
  }
  // A no-op of the new term lets the leader commit entries of earlier terms (§5.4.2, §8).
  log_.append({Entry{term_, log_.last_index() + 1, {}}});
  progress_[config_.id].match = log_.last_index();
  maybe_commit();
  broadcast_append(false);
}

void Raft::campaign(bool pre_vote) {
  uint64_t vote_term;
  if (pre_vote) {
    become_pre_candidate();
    vote_term = term_ + 1;
  } else {
    become_candidate();
    vote_term = term_;
  }
  votes_[config_.id] = true;
  if (votes_.size() >= quorum()) {  // a single voter wins alone
    if (pre_vote) return campaign(false);
    return become_leader();
  }
  for (NodeId v : config_.voters) {
    if (v == config_.id) continue;
    Message m;
    m.type = pre_vote ? MessageType::kPreVote : MessageType::kVote;
    m.to = v;
    m.term = vote_term;
    m.index = log_.last_index();
    m.log_term = log_.last_term();
    send(std::move(m));
  }
}

bool Raft::in_lease() const {
  return leader_ != kNoNode && election_elapsed_ticks_ < config_.election_timeout_ticks;
}

// ---- inputs ---------------------------------------------------------------------------------

void Raft::tick() {
  if (role_ == Role::kLeader) {
    tick_heartbeat();
  } else {
    tick_election();
  }
}

void Raft::tick_election() {
  ++election_elapsed_ticks_;
  if (election_elapsed_ticks_ >= randomized_election_timeout_ticks_) {
    election_elapsed_ticks_ = 0;
    campaign(config_.pre_vote);
  }
}

void Raft::tick_heartbeat() {
  ++heartbeat_elapsed_ticks_;
  ++election_elapsed_ticks_;
  if (election_elapsed_ticks_ >= config_.election_timeout_ticks) {
    election_elapsed_ticks_ = 0;
    // Check quorum: a leader cut off from a majority steps down, so its followers' leases expire
    // on the majority side only and clients stop being told it is the leader.
    size_t active = 0;
    for (auto& [id, pr] : progress_) {
      if (pr.recent_active || id == config_.id) ++active;
      pr.recent_active = false;
    }
    if (active < quorum()) return become_follower(term_, kNoNode);
  }
  if (heartbeat_elapsed_ticks_ >= config_.heartbeat_interval_ticks) {
    heartbeat_elapsed_ticks_ = 0;
    broadcast_append(true);
  }
}

void Raft::step(const Message& m) {
  if (m.to != config_.id || m.from == config_.id) return;
  if (std::find(config_.voters.begin(), config_.voters.end(), m.from) == config_.voters.end()) {
    return;
  }
  if (!step_term(m)) return;
  if (m.type == MessageType::kPreVote || m.type == MessageType::kVote) {
    return handle_vote_request(m);
  }
  switch (role_) {
    case Role::kLeader:
      return step_leader(m);
    case Role::kPreCandidate:
    case Role::kCandidate:
      return step_candidate(m);
    case Role::kFollower:
      return step_follower(m);
  }
}

bool Raft::step_term(const Message& m) {
  const bool vote_request = m.type == MessageType::kPreVote || m.type == MessageType::kVote;
  if (m.term > term_) {
    // Leader lease: while we hear from a leader, a higher-term candidate is a node that was cut
    // off and is not allowed to depose it (etcd's check-quorum + pre-vote).
    if (vote_request && in_lease()) return false;
    if (m.type == MessageType::kPreVote) return true;  // never changes our term
    // A granted pre-vote carries the term we asked for; only a rejection reveals a newer term.
    if (m.type == MessageType::kPreVoteResp && !m.reject) return true;
    become_follower(m.term, m.type == MessageType::kAppend ? m.from : kNoNode);
    return true;
  }
  if (m.term < term_) {
    Message r;
    r.to = m.from;
    r.term = term_;
    if (m.type == MessageType::kAppend) {
      // Tell a stale leader about the newer term; with pre-vote and leases it might otherwise
      // keep a node whose term ran ahead out of the cluster forever.
      r.type = MessageType::kAppendResp;
      send(std::move(r));
    } else if (m.type == MessageType::kPreVote) {
      r.type = MessageType::kPreVoteResp;
      r.reject = true;
      send(std::move(r));
    }
    return false;
  }
  return true;
}

void Raft::handle_vote_request(const Message& m) {
  const bool pre = m.type == MessageType::kPreVote;
  const bool can_vote =
      vote_ == m.from || (vote_ == kNoNode && leader_ == kNoNode) || (pre && m.term > term_);
  Message r;
  r.type = pre ? MessageType::kPreVoteResp : MessageType::kVoteResp;
  r.to = m.from;
  if (can_vote && log_.is_up_to_date(m.index, m.log_term)) {
    // A grant answers with the asked-for term: for a pre-vote that is our term + 1.
    r.term = m.term;
    if (!pre) {
      vote_ = m.from;
      election_elapsed_ticks_ = 0;
    }
  } else {
    r.term = term_;
    r.reject = true;
  }
  send(std::move(r));
}

void Raft::step_candidate(const Message& m) {
  switch (m.type) {
    case MessageType::kAppend:
      // Someone won this term (or, for a pre-candidate, a leader is alive): follow it.
      become_follower(m.term, m.from);
      return handle_append(m);
    case MessageType::kPreVoteResp:
    case MessageType::kVoteResp:
      return handle_vote_response(m);
    default:
      return;
  }
}

void Raft::handle_vote_response(const Message& m) {
  const bool pre = role_ == Role::kPreCandidate;
  if (m.type != (pre ? MessageType::kPreVoteResp : MessageType::kVoteResp)) return;
  if (pre && !m.reject && m.term != term_ + 1) return;  // a grant from an older campaign
  votes_.emplace(m.from, !m.reject);                    // first answer counts (duplicates)
  size_t granted = 0;
  for (const auto& [id, yes] : votes_) granted += yes ? 1 : 0;
  const size_t rejected = votes_.size() - granted;
  if (granted >= quorum()) {
    if (pre) return campaign(false);
    return become_leader();
  }
  if (rejected > config_.voters.size() - quorum()) become_follower(term_, kNoNode);
}

void Raft::step_follower(const Message& m) {
  if (m.type != MessageType::kAppend) return;
  leader_ = m.from;
  election_elapsed_ticks_ = 0;
  handle_append(m);
}

void Raft::step_leader(const Message& m) {
  if (m.type == MessageType::kAppendResp) return handle_append_response(m);
  // Election Safety: two leaders in one term would be a protocol bug, not a network fault.
  assert(m.type != MessageType::kAppend && "two leaders in one term");
  if (m.type == MessageType::kAppend) std::abort();
}

}  // namespace chorus::raft

// ---- replication ----------------------------------------------------------------------------

namespace chorus::raft {

void Raft::handle_append(const Message& m) {
  Message r;
  r.type = MessageType::kAppendResp;
  r.to = m.from;
  r.term = term_;
  if (m.index < log_.committed()) {
    // Everything up to our commit already matches any leader (Leader Completeness); say how far.
    r.index = log_.committed();
  } else if (auto last_new = log_.maybe_append(m.index, m.log_term, m.commit, m.entries)) {
    r.index = *last_new;
  } else {
    // Fast backoff: name the highest index that could still match so the leader skips a whole
    // conflicting term per round trip instead of one entry.
    r.reject = true;
    r.index = m.index;
    r.reject_hint = log_.find_conflict_by_term(m.index, m.log_term);
    r.log_term = log_.term(r.reject_hint);
  }
  send(std::move(r));
}

void Raft::handle_append_response(const Message& m) {
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  if (m.reject) {
    if (pr.replicating) {
      if (m.index <= pr.match) return;  // stale: we already know a later match
      pr.replicating = false;
      pr.inflight.clear();
      pr.next = pr.match + 1;
    } else {
      if (m.index + 1 != pr.next) return;  // answer to an older probe
      uint64_t probe = m.reject_hint;
      if (m.log_term > 0) probe = log_.find_conflict_by_term(m.reject_hint, m.log_term);
      pr.next = std::max(std::min(m.index, probe + 1), pr.match + 1);
    }
    pr.probe_sent = false;
    send_append(m.from, false);
    return;
  }
  if (m.index > pr.match) {
    assert(m.index <= log_.last_index());
    pr.match = m.index;
    pr.next = std::max(pr.next, m.index + 1);
    while (!pr.inflight.empty() && pr.inflight.front() <= m.index) pr.inflight.pop_front();
    if (!pr.replicating) {
      pr.replicating = true;
      pr.inflight.clear();
      pr.next = pr.match + 1;
    }
    if (maybe_commit()) broadcast_append(false);
  }
  pr.probe_sent = false;
  while (send_append(m.from, false)) {
  }
}

bool Raft::send_append(NodeId to, bool heartbeat) {
  Progress& pr = progress_[to];
  Message m;
  m.type = MessageType::kAppend;
  m.to = to;
  m.term = term_;
  m.commit = log_.committed();
  if (heartbeat && pr.replicating) {
    // Heartbeat anchored at a known match: safe to send at any time, never makes a follower
    // reject entries that are merely still in flight.
    m.index = pr.match;
    m.log_term = log_.term(pr.match);
    send(std::move(m));
    return true;
  }
  if (!heartbeat) {
    const bool paused = pr.replicating ? pr.inflight.size() >= kMaxInflightAppends : pr.probe_sent;
    if (paused) return false;
    if (pr.replicating && pr.next > log_.last_index()) return false;  // nothing new
  }
  assert(pr.next >= 1 && pr.next <= log_.last_index() + 1);
  m.index = pr.next - 1;
  m.log_term = log_.term(m.index);
  m.entries = log_.slice(pr.next, kMaxEntriesPerAppend);
  if (pr.replicating) {
    pr.next = m.entries.back().index + 1;  // optimistic: pipeline the next batch
    pr.inflight.push_back(pr.next - 1);
  } else {
    pr.probe_sent = true;
  }
  send(std::move(m));
  return true;
}

void Raft::broadcast_append(bool heartbeat) {
  for (auto& [id, pr] : progress_) {
    if (id == config_.id) continue;
    if (heartbeat) {
      // No acknowledged progress for a whole heartbeat while entries are outstanding: assume the
      // pipeline lost a message and probe again from the last known match.
      if (pr.replicating && pr.match < log_.last_index() && pr.match == pr.match_at_heartbeat) {
        pr.replicating = false;
        pr.inflight.clear();
        pr.next = pr.match + 1;
      }
      pr.match_at_heartbeat = pr.match;
      pr.probe_sent = false;
    }
    if (heartbeat) {
      send_append(id, true);
    } else {
      while (send_append(id, false)) {
        if (!pr.replicating) break;
      }
    }
  }
}

bool Raft::maybe_commit() {
  assert(role_ == Role::kLeader);
  std::vector<uint64_t> matches;
  for (NodeId v : config_.voters) {
    matches.push_back(v == config_.id ? log_.last_index() : progress_[v].match);
  }
  std::sort(matches.begin(), matches.end(), std::greater<uint64_t>());
  const uint64_t q = matches[quorum() - 1];
  // §5.4.2: counting replicas only commits an entry of the current term; older entries commit
  // indirectly with it (Figure 8).
  if (q <= log_.committed() || log_.term(q) != term_) return false;
  log_.commit_to(q);
  return true;
}

Status Raft::propose(std::string data) {
  if (role_ != Role::kLeader) {
    return Status::Unavailable("not leader; leader hint: " + std::to_string(leader_));
  }
  if (data.size() > kMaxProposalBytes) return Status::TooLarge("raft: proposal too large");
  if (log_.last_index() - log_.committed() >= kMaxUncommittedEntries) {
    return Status::Busy("raft: too many uncommitted proposals");
  }
  log_.append({Entry{term_, log_.last_index() + 1, std::move(data)}});
  progress_[config_.id].match = log_.last_index();
  maybe_commit();  // a single voter commits alone
  broadcast_append(false);
  return Status::OK();
}

void Raft::send(Message m) {
  m.from = config_.id;
  outbox_.push_back(std::move(m));
}

// ---- output ---------------------------------------------------------------------------------

bool Raft::has_ready() const {
  return hard_state() != last_ready_hard_state_ || log_.stabled() < log_.last_index() ||
         !outbox_.empty() || log_.applied() < log_.committed();
}

Ready Raft::take_ready() {
  Ready rd;
  const HardState hs = hard_state();
  if (hs != last_ready_hard_state_) {
    rd.hard_state = hs;
    last_ready_hard_state_ = hs;
  }
  rd.entries = log_.unstable_entries();
  log_.stable_to(log_.last_index());
  rd.messages.swap(outbox_);
  rd.committed_entries = log_.next_committed_entries();
  log_.applied_to(log_.committed());
  return rd;
}

}  // namespace chorus::raft
