#include "membership/raft/raft.h"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <set>

#include "core/assert.h"

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

namespace {

bool contains(const std::vector<NodeId>& ids, NodeId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

void insert_sorted(std::vector<NodeId>* ids, NodeId id) {
  auto it = std::lower_bound(ids->begin(), ids->end(), id);
  if (it == ids->end() || *it != id) ids->insert(it, id);
}

void erase_id(std::vector<NodeId>* ids, NodeId id) {
  ids->erase(std::remove(ids->begin(), ids->end(), id), ids->end());
}

// The configuration after `cc`: set semantics, so applying a change twice changes nothing more.
ConfState apply_change(ConfState conf, const ConfChange& cc) {
  erase_id(&conf.voters, cc.node);
  erase_id(&conf.learners, cc.node);
  if (cc.type == ConfChangeType::kAddVoter) insert_sorted(&conf.voters, cc.node);
  if (cc.type == ConfChangeType::kAddLearner) insert_sorted(&conf.learners, cc.node);
  return conf;
}

// Sorted copies; false if an id is 0, repeated, or both voter and learner.
bool normalize(const std::vector<NodeId>& voters, const std::vector<NodeId>& learners,
               ConfState* out) {
  std::set<NodeId> v(voters.begin(), voters.end());
  std::set<NodeId> l(learners.begin(), learners.end());
  if (v.size() != voters.size() || l.size() != learners.size() || v.count(kNoNode) != 0 ||
      l.count(kNoNode) != 0) {
    return false;
  }
  for (NodeId id : l) {
    if (v.count(id) != 0) return false;
  }
  out->voters.assign(v.begin(), v.end());
  out->learners.assign(l.begin(), l.end());
  return true;
}

Status check_persisted(const MemoryStorage& persisted) {
  const SnapshotMetadata& snap = persisted.snapshot().metadata;
  ConfState conf;
  if (snap.index != 0 &&
      (!normalize(snap.conf.voters, snap.conf.learners, &conf) || !(conf == snap.conf) ||
       conf.voters.empty() || conf.voters.size() > kMaxVoters || snap.term == 0)) {
    return Status::Corruption("raft: persisted snapshot has a bad configuration or term");
  }
  const auto& entries = persisted.entries();
  uint64_t prev_term = snap.term;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].index != snap.index + 1 + i || entries[i].term < prev_term) {
      return Status::Corruption("raft: persisted log is not contiguous and term-ordered");
    }
    prev_term = entries[i].term;
  }
  const HardState& hs = persisted.hard_state();
  if (hs.commit > persisted.last_index() || (!entries.empty() && entries.back().term > hs.term)) {
    return Status::Corruption("raft: persisted hard state does not match the persisted log");
  }
  return Status::OK();
}

}  // namespace

Result<Raft> Raft::create(const Config& config, const MemoryStorage& persisted) {
  if (config.id == kNoNode) return Status::InvalidArgument("raft: node id 0 is reserved");
  ConfState initial;
  if (!normalize(config.voters, config.learners, &initial)) {
    return Status::InvalidArgument("raft: voters and learners must be distinct non-zero ids");
  }
  if (initial.voters.size() > kMaxVoters) return Status::InvalidArgument("raft: too many voters");
  if (config.heartbeat_interval_ticks < 1 ||
      config.election_timeout_ticks <= config.heartbeat_interval_ticks) {
    return Status::InvalidArgument("raft: need 1 <= heartbeat_interval < election_timeout");
  }
  CHORUS_RETURN_IF_ERROR(check_persisted(persisted));
  Raft r(config, persisted);
  if (!r.rescan_conf(r.log_.first_index())) {
    return Status::Corruption("raft: persisted log holds an undecodable conf change");
  }
  return r;
}

Raft::Raft(const Config& config, const MemoryStorage& persisted)
    : config_(config), rng_(config.random_seed), log_(persisted), snapshot_(persisted.snapshot()) {
  const HardState& hs = persisted.hard_state();
  log_.commit_to(std::max(hs.commit, log_.snapshot_index()));
  last_ready_hard_state_ = hs;
  // A bootstrap snapshot is written without a hard state; the term never runs behind the log.
  term_ = std::max(hs.term, log_.snapshot_term());
  vote_ = term_ == hs.term ? hs.vote : kNoNode;
  if (snapshot_.empty()) {
    const bool ok = normalize(config.voters, config.learners, &base_conf_);
    CHORUS_ASSERT(ok);
    conf_known_ = !base_conf_.voters.empty();
  } else {
    base_conf_ = snapshot_.metadata.conf;
    conf_known_ = true;
  }
  become_follower(term_, kNoNode);
}

// ---- role transitions ----------------------------------------------------------------------

void Raft::reset(uint64_t term) {
  if (term != term_) {
    CHORUS_ASSERT(term > term_);
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
  CHORUS_ASSERT(role_ != Role::kLeader);
  // Pre-vote changes neither term nor vote: a node that cannot win leaves no trace (thesis §9.6).
  role_ = Role::kPreCandidate;
  votes_.clear();
  leader_ = kNoNode;
}

void Raft::become_candidate() {
  CHORUS_ASSERT(role_ != Role::kLeader);
  reset(term_ + 1);
  vote_ = config_.id;
  role_ = Role::kCandidate;
}

void Raft::become_leader() {
  CHORUS_ASSERT(role_ == Role::kCandidate);
  reset(term_);
  role_ = Role::kLeader;
  leader_ = config_.id;
  sync_progress();
  // A no-op of the new term lets the leader commit entries of earlier terms (§5.4.2, §8); until
  // it commits, the leader may not know the latest committed configuration (no conf changes).
  append_and_replicate({}, EntryType::kNormal);
  term_start_index_ = log_.last_index();
}

void Raft::campaign(bool pre_vote) {
  CHORUS_ASSERT(promotable());
  uint64_t vote_term;
  if (pre_vote) {
    become_pre_candidate();
    vote_term = term_ + 1;
  } else {
    become_candidate();
    vote_term = term_;
  }
  votes_[config_.id] = true;          // counted only if we are a voter of the latest configuration
  if (votes_granted() >= quorum()) {  // a single voter wins alone
    if (pre_vote) return campaign(false);
    return become_leader();
  }
  for (NodeId v : latest_conf().voters) {
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
  if (!promotable()) {
    // Learners and outsiders never campaign; the lease still expires so they answer votes.
    election_elapsed_ticks_ = std::min(election_elapsed_ticks_, 2 * config_.election_timeout_ticks);
    return;
  }
  if (election_elapsed_ticks_ >= randomized_election_timeout_ticks_) {
    election_elapsed_ticks_ = 0;
    campaign(config_.pre_vote);
  }
}

void Raft::tick_heartbeat() {
  ++heartbeat_elapsed_ticks_;
  ++election_elapsed_ticks_;
  for (auto& [id, pr] : progress_) {
    if (pr.pending_snapshot != 0) ++pr.snapshot_elapsed_ticks;
  }
  if (election_elapsed_ticks_ >= config_.election_timeout_ticks) {
    election_elapsed_ticks_ = 0;
    // Check quorum: a leader cut off from a majority steps down, so its followers' leases expire
    // on the majority side only and clients stop being told it is the leader.
    if (!check_quorum_active()) return become_follower(term_, kNoNode);
  }
  if (heartbeat_elapsed_ticks_ >= config_.heartbeat_interval_ticks) {
    heartbeat_elapsed_ticks_ = 0;
    broadcast_append(true);
  }
}

bool Raft::check_quorum_active() {
  size_t active = is_voter(config_.id) ? 1 : 0;
  for (auto& [id, pr] : progress_) {
    if (pr.recent_active && is_voter(id)) ++active;
    pr.recent_active = false;
  }
  return active >= quorum();
}

void Raft::step(const Message& m) {
  // No membership filter: a sender outside our configuration may be a leader that already
  // added us, or a candidate whose configuration counts our vote (thesis §4.1).
  if (m.to != config_.id || m.from == config_.id || m.from == kNoNode) return;
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
  const bool from_leader = m.type == MessageType::kAppend || m.type == MessageType::kSnapshot;
  if (m.term > term_) {
    // Leader lease: while we hear from a leader, a higher-term candidate is a node that was cut
    // off (or removed) and is not allowed to depose it (etcd's check-quorum + pre-vote).
    if (vote_request && in_lease()) return false;
    if (m.type == MessageType::kPreVote) return true;  // never changes our term
    // A granted pre-vote carries the term we asked for; only a rejection reveals a newer term.
    if (m.type == MessageType::kPreVoteResp && !m.reject) return true;
    become_follower(m.term, from_leader ? m.from : kNoNode);
    return true;
  }
  if (m.term < term_) {
    Message r;
    r.to = m.from;
    r.term = term_;
    if (from_leader) {
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
    case MessageType::kSnapshot:
      // Someone won this term (or, for a pre-candidate, a leader is alive): follow it.
      become_follower(m.term, m.from);
      return step_follower(m);
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
  const size_t granted = votes_granted();
  if (granted >= quorum()) {
    if (pre) return campaign(false);
    return become_leader();
  }
  const size_t voters = latest_conf().voters.size();
  const size_t rejected = std::count_if(
      votes_.begin(), votes_.end(), [&](const auto& v) { return !v.second && is_voter(v.first); });
  if (rejected > voters - quorum()) become_follower(term_, kNoNode);
}

size_t Raft::votes_granted() const {
  // Only voters of our latest configuration count: a learner's or an outsider's grant (or our
  // own, while a pending change removes us) elects nobody.
  return std::count_if(votes_.begin(), votes_.end(),
                       [&](const auto& v) { return v.second && is_voter(v.first); });
}

void Raft::step_follower(const Message& m) {
  if (m.type != MessageType::kAppend && m.type != MessageType::kSnapshot) return;
  leader_ = m.from;
  election_elapsed_ticks_ = 0;
  if (m.type == MessageType::kSnapshot) return handle_snapshot(m);
  handle_append(m);
}

void Raft::step_leader(const Message& m) {
  if (m.type == MessageType::kAppendResp) return handle_append_response(m);
  // Election Safety: two leaders in one term would be a protocol bug, not a network fault.
  const bool from_leader = m.type == MessageType::kAppend || m.type == MessageType::kSnapshot;
  CHORUS_ASSERT(!from_leader, "two leaders in one term");
}

}  // namespace chorus::raft

// ---- replication ----------------------------------------------------------------------------

namespace chorus::raft {

void Raft::handle_append(const Message& m) {
  Message r;
  r.type = MessageType::kAppendResp;
  r.to = m.from;
  r.term = term_;
  uint64_t first_written = 0;
  if (m.index < log_.committed()) {
    // Everything up to our commit already matches any leader (Leader Completeness); say how far.
    r.index = log_.committed();
  } else if (auto last_new =
                 log_.maybe_append(m.index, m.log_term, m.commit, m.entries, &first_written)) {
    if (first_written != 0) rescan_conf_or_die(first_written);
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

void Raft::handle_snapshot(const Message& m) {
  const Snapshot& snap = m.snapshot;
  ConfState conf;
  if (snap.data.size() > kMaxSnapshotBytes ||
      !normalize(snap.metadata.conf.voters, snap.metadata.conf.learners, &conf) ||
      !(conf == snap.metadata.conf) || conf.voters.empty() || snap.metadata.term > m.term) {
    return;  // malformed: the codec let through something no leader produces; never install it
  }
  Message r;
  r.type = MessageType::kAppendResp;
  r.to = m.from;
  r.term = term_;
  if (snap.metadata.index <= log_.committed()) {
    // Nothing new (a duplicate, or we caught up by Appends meanwhile): report our match.
    r.index = log_.committed();
  } else {
    install_snapshot(snap);
    // Only the snapshot itself is known to match the leader, not entries kept after it.
    r.index = snap.metadata.index;
  }
  send(std::move(r));
}

void Raft::install_snapshot(const Snapshot& snap) {
  const bool kept = log_.restore(snap.metadata);
  base_conf_ = snap.metadata.conf;
  conf_changes_.clear();
  conf_known_ = true;
  if (kept) rescan_conf_or_die(log_.first_index());
  snapshot_ = snap;
  ready_snapshot_ = snap;
}

void Raft::handle_append_response(const Message& m) {
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;  // not a member (any more)
  Progress& pr = it->second;
  pr.recent_active = true;
  if (m.reject) return handle_append_reject(m, pr);
  if (m.index > pr.match) {
    CHORUS_ASSERT(m.index <= log_.last_index());
    pr.match = m.index;
    pr.next = std::max(pr.next, m.index + 1);
    while (!pr.inflight.empty() && pr.inflight.front() <= m.index) pr.inflight.pop_front();
    if (pr.pending_snapshot != 0 && pr.match >= pr.pending_snapshot) pr.pending_snapshot = 0;
    if (!pr.replicating && pr.pending_snapshot == 0) {
      pr.replicating = true;
      pr.inflight.clear();
      pr.next = pr.match + 1;
    }
    commit_and_broadcast();
    if (role_ != Role::kLeader) return;  // stepped down after its removal: progress_ is gone
  }
  if (pr.pending_snapshot != 0) return;
  pr.probe_sent = false;
  while (send_append(m.from, false)) {
  }
}

void Raft::handle_append_reject(const Message& m, Progress& pr) {
  // While a snapshot is out, rejections answer Appends sent before it: the snapshot decides.
  if (pr.pending_snapshot != 0) return;
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
}

bool Raft::send_append(NodeId to, bool heartbeat) {
  Progress& pr = progress_.at(to);
  if (heartbeat && (pr.replicating || pr.pending_snapshot != 0)) {
    send_heartbeat(to, pr);
    return true;
  }
  if (pr.pending_snapshot != 0) return false;
  if (!heartbeat) {
    const bool paused = pr.replicating ? pr.inflight.size() >= kMaxInflightAppends : pr.probe_sent;
    if (paused) return false;
    if (pr.replicating && pr.next > log_.last_index()) return false;  // nothing new
  }
  CHORUS_ASSERT(pr.next >= 1 && pr.next <= log_.last_index() + 1);
  if (!log_.has_term(pr.next - 1)) {
    // The entries this follower needs were compacted away (§7).
    send_snapshot(to, pr);
    return true;
  }
  Message m;
  m.type = MessageType::kAppend;
  m.to = to;
  m.term = term_;
  m.commit = log_.committed();
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

void Raft::send_heartbeat(NodeId to, const Progress& pr) {
  Message m;
  m.type = MessageType::kAppend;
  m.to = to;
  m.term = term_;
  m.commit = log_.committed();
  // Anchored at a known match: safe to send at any time, never makes a follower reject entries
  // that are merely still in flight. A match compacted away has no term left: index 0 matches
  // every log, and the follower answers with its commit index.
  if (log_.has_term(pr.match)) {
    m.index = pr.match;
    m.log_term = log_.term(pr.match);
  }
  send(std::move(m));
}

void Raft::send_snapshot(NodeId to, Progress& pr) {
  // snapshot_ always describes the compaction point, so it covers every missing entry.
  CHORUS_ASSERT(snapshot_.metadata.index == log_.snapshot_index() && !snapshot_.empty());
  Message m;
  m.type = MessageType::kSnapshot;
  m.to = to;
  m.term = term_;
  m.snapshot = snapshot_;
  pr.pending_snapshot = snapshot_.metadata.index;
  pr.snapshot_elapsed_ticks = 0;
  pr.replicating = false;
  pr.inflight.clear();
  pr.probe_sent = false;
  send(std::move(m));
}

void Raft::broadcast_append(bool heartbeat) {
  for (auto& [id, pr] : progress_) {
    if (heartbeat) {
      if (pr.pending_snapshot != 0 && pr.snapshot_elapsed_ticks >= config_.election_timeout_ticks) {
        // No answer for an election timeout: the snapshot or its answer was lost; probe again
        // (which resends the snapshot if the follower still needs it).
        pr.pending_snapshot = 0;
        pr.next = pr.match + 1;
      }
      // No acknowledged progress for a whole heartbeat while entries are outstanding: assume the
      // pipeline lost a message and probe again from the last known match.
      if (pr.replicating && pr.match < log_.last_index() && pr.match == pr.match_at_heartbeat) {
        pr.replicating = false;
        pr.inflight.clear();
        pr.next = pr.match + 1;
      }
      pr.match_at_heartbeat = pr.match;
      pr.probe_sent = false;
      send_append(id, true);
    } else {
      while (send_append(id, false)) {
        if (!pr.replicating) break;
      }
    }
  }
}

bool Raft::maybe_commit() {
  CHORUS_ASSERT(role_ == Role::kLeader);
  std::vector<uint64_t> matches;
  for (NodeId v : latest_conf().voters) {
    matches.push_back(v == config_.id ? log_.last_index() : progress_.at(v).match);
  }
  if (matches.empty()) return false;  // unreachable: no change may leave zero voters
  std::sort(matches.begin(), matches.end(), std::greater<uint64_t>());
  const uint64_t q = matches[quorum() - 1];
  // §5.4.2: counting replicas only commits an entry of the current term; older entries commit
  // indirectly with it (Figure 8).
  if (q <= log_.committed() || log_.term(q) != term_) return false;
  log_.commit_to(q);
  return true;
}

void Raft::commit_and_broadcast() {
  if (!maybe_commit()) return;
  broadcast_append(false);
  maybe_step_down_after_removal();
}

void Raft::append_and_replicate(std::string data, EntryType type) {
  log_.append({Entry{term_, log_.last_index() + 1, std::move(data), type}});
  if (type == EntryType::kConfChange) rescan_conf_or_die(log_.last_index());
  maybe_commit();  // a single voter commits alone
  broadcast_append(false);
  maybe_step_down_after_removal();
}

Status Raft::propose(std::string data) {
  if (role_ != Role::kLeader) {
    return Status::Unavailable("not leader; leader hint: " + std::to_string(leader_));
  }
  if (data.size() > kMaxProposalBytes) return Status::TooLarge("raft: proposal too large");
  if (log_.last_index() - log_.committed() >= kMaxUncommittedEntries) {
    return Status::Busy("raft: too many uncommitted proposals");
  }
  append_and_replicate(std::move(data), EntryType::kNormal);
  return Status::OK();
}

void Raft::send(Message m) {
  m.from = config_.id;
  outbox_.push_back(std::move(m));
}

}  // namespace chorus::raft

// ---- membership -----------------------------------------------------------------------------

namespace chorus::raft {

const ConfState& Raft::latest_conf() const {
  return conf_changes_.empty() ? base_conf_ : conf_changes_.back().conf;
}

const ConfState& Raft::conf_as_of(uint64_t index) const {
  for (auto it = conf_changes_.rbegin(); it != conf_changes_.rend(); ++it) {
    if (it->index <= index) return it->conf;
  }
  return base_conf_;
}

const ConfState& Raft::conf_state() const {
  return conf_as_of(log_.committed());
}

bool Raft::is_voter(NodeId id) const {
  return contains(latest_conf().voters, id);
}

bool Raft::is_member(NodeId id) const {
  return is_voter(id) || contains(latest_conf().learners, id);
}

bool Raft::promotable() const {
  if (!conf_known_) return false;
  if (is_voter(config_.id)) return true;
  // Thesis §4.2.2: a voter that an uncommitted change removes (or demotes) may still be needed to
  // commit that change: say the old leader appended it, lost leadership and holds the only
  // up-to-date log the remaining voters would elect. It campaigns without counting its own vote;
  // once it knows the change committed it stops for good.
  if (conf_changes_.empty() || conf_changes_.back().index <= log_.committed()) return false;
  const ConfState& before =
      conf_changes_.size() >= 2 ? conf_changes_[conf_changes_.size() - 2].conf : base_conf_;
  return contains(before.voters, config_.id);
}

bool Raft::rescan_conf(uint64_t index) {
  while (!conf_changes_.empty() && conf_changes_.back().index >= index) conf_changes_.pop_back();
  for (uint64_t i = std::max(index, log_.first_index()); i <= log_.last_index(); ++i) {
    const Entry& e = log_.entry(i);
    if (e.type != EntryType::kConfChange) continue;
    ConfChange cc;
    if (!decode_conf_change(e.data, &cc)) return false;
    ConfState next = apply_change(latest_conf(), cc);
    conf_changes_.push_back(ConfAt{i, std::move(next)});
  }
  if (role_ == Role::kLeader) sync_progress();
  return true;
}

void Raft::rescan_conf_or_die(uint64_t index) {
  // Leaders only replicate conf changes they encoded themselves; one that does not decode means
  // memory or codec corruption, and guessing would let nodes disagree on the voters.
  const bool ok = rescan_conf(index);
  CHORUS_ASSERT(ok, "undecodable conf change entry");
}

void Raft::sync_progress() {
  for (auto it = progress_.begin(); it != progress_.end();) {
    it = is_member(it->first) ? std::next(it) : progress_.erase(it);
  }
  const ConfState& conf = latest_conf();
  for (const auto* ids : {&conf.voters, &conf.learners}) {
    for (NodeId id : *ids) {
      if (id == config_.id || progress_.count(id) != 0) continue;
      // A new member starts as a probe from our end (it backs off, or gets a snapshot) and
      // counts as active so check-quorum does not depose us before it could answer.
      Progress pr;
      pr.next = log_.last_index() + 1;
      pr.recent_active = true;
      progress_.emplace(id, std::move(pr));
    }
  }
}

void Raft::maybe_step_down_after_removal() {
  if (role_ != Role::kLeader || is_voter(config_.id)) return;
  // The configuration without us applies as soon as it is in our log (we stopped counting our
  // own vote then); once it commits, the remaining voters no longer need us and elect a leader
  // among themselves. A last heartbeat tells them the commit index first.
  if (!conf_changes_.empty() && conf_changes_.back().index > log_.committed()) return;
  broadcast_append(true);
  become_follower(term_, kNoNode);
}

Status Raft::propose_conf_change(const ConfChange& cc) {
  if (role_ != Role::kLeader) {
    return Status::Unavailable("not leader; leader hint: " + std::to_string(leader_));
  }
  if (cc.node == kNoNode) return Status::InvalidArgument("raft: node id 0 is reserved");
  if (cc.context.size() > kMaxProposalBytes) {
    return Status::TooLarge("raft: conf change context too large");
  }
  // Thesis §4.1 plus its errata: one change at a time, and only once this leader knows the
  // latest committed configuration (an entry of its own term has committed).
  if (log_.committed() < term_start_index_) {
    return Status::Busy("raft: leader has not committed an entry of its term yet");
  }
  if (!conf_changes_.empty() && conf_changes_.back().index > log_.committed()) {
    return Status::Busy("raft: another conf change is not committed yet");
  }
  if (log_.last_index() - log_.committed() >= kMaxUncommittedEntries) {
    return Status::Busy("raft: too many uncommitted proposals");
  }
  const ConfState& conf = latest_conf();
  const bool voter = contains(conf.voters, cc.node);
  const bool learner = contains(conf.learners, cc.node);
  if ((cc.type == ConfChangeType::kAddVoter && voter) ||
      (cc.type == ConfChangeType::kAddLearner && learner) ||
      (cc.type == ConfChangeType::kRemoveNode && !voter && !learner)) {
    return Status::InvalidArgument("raft: conf change would change nothing");
  }
  const ConfState next = apply_change(conf, cc);
  if (next.voters.empty()) return Status::InvalidArgument("raft: conf change leaves no voter");
  if (next.voters.size() > kMaxVoters) {
    return Status::InvalidArgument("raft: conf change exceeds kMaxVoters");
  }
  append_and_replicate(encode_conf_change(cc), EntryType::kConfChange);
  return Status::OK();
}

}  // namespace chorus::raft

// ---- snapshots and output -------------------------------------------------------------------

namespace chorus::raft {

Result<Snapshot> Raft::compact(uint64_t index, std::string data) {
  if (index <= log_.snapshot_index()) {
    return Status::InvalidArgument("raft: compact index " + std::to_string(index) +
                                   " is not past the snapshot at " +
                                   std::to_string(log_.snapshot_index()));
  }
  if (index > log_.applied()) {
    return Status::InvalidArgument("raft: compact index " + std::to_string(index) +
                                   " is past the applied index " + std::to_string(log_.applied()));
  }
  if (data.size() > kMaxSnapshotBytes) return Status::TooLarge("raft: snapshot data too large");
  Snapshot snap;
  // The configuration as of `index`, not the latest: entries after it may still change it, and
  // a follower installing this snapshot replays them.
  snap.metadata = SnapshotMetadata{index, log_.term(index), conf_as_of(index)};
  snap.data = std::move(data);
  log_.compact(index);
  base_conf_ = snap.metadata.conf;
  conf_changes_.erase(std::remove_if(conf_changes_.begin(), conf_changes_.end(),
                                     [&](const ConfAt& c) { return c.index <= index; }),
                      conf_changes_.end());
  snapshot_ = snap;
  return snap;
}

bool Raft::has_ready() const {
  return ready_snapshot_.has_value() || hard_state() != last_ready_hard_state_ ||
         log_.stabled() < log_.last_index() || !outbox_.empty() ||
         log_.applied() < log_.committed();
}

Ready Raft::take_ready() {
  Ready rd;
  if (ready_snapshot_) {
    rd.snapshot = std::move(ready_snapshot_);
    ready_snapshot_.reset();
  }
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
