// Raft: the consensus core of the membership metadata log, as a pure (sans-I/O) state machine in
// the style of etcd's raft.
//
// The caller drives it with three inputs and one output:
//   step(message)   a message from a peer;
//   tick()          one unit of logical time (the caller decides how long a tick is);
//   propose(data)   a new command, accepted only on the leader;
//   take_ready()    everything the inputs produced: the hard state and log entries to persist, the
//                   messages to send and the committed entries to apply.
// The caller MUST, for each Ready and in this order: (1) durably persist `hard_state` (if set) and
// `entries` (truncating its stored log at entries.front().index first), (2) send `messages`,
// (3) apply `committed_entries`. Sending before persisting can lose a vote or an acknowledged entry
// on a crash and break Election Safety or durability of commits.
//
// Implemented: leader election with randomized timeouts (§5.2), pre-vote (§9.6 of Ongaro's thesis)
// plus leader lease / check-quorum so a rejoining partitioned node cannot depose a healthy leader,
// log replication with prev index/term checks, truncation of conflicting suffixes and fast backoff
// (§5.3), commitment of current-term entries only (§5.4.2), heartbeats.
// TODO(issue 3), not yet here:
//   - single-server membership changes (§4.1 of the thesis) and learners (non-voting members);
//   - snapshots and log compaction (RaftLog keeps every entry; no InstallSnapshot message);
//   - WAL-backed persistence (MemoryStorage only) and a wire encoding of Message/Entry;
//   - read-index / lease reads, leadership transfer, proposal forwarding from followers.
//
// Randomness comes only from Config::random_seed, so a run is a pure function of its inputs.
// Errors: caller mistakes (propose on a follower, oversized command) return a non-OK Status; broken
// protocol invariants (e.g. truncating a committed entry) assert and abort.
// Thread-safety: none. One Raft is driven by one thread (a strand in the node).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/status.h"
#include "membership/raft/messages.h"
#include "membership/raft/raft_log.h"

namespace chorus::raft {

// Entries per AppendEntries: bounds message size and the work one message causes.
constexpr size_t kMaxEntriesPerAppend = 64;
// AppendEntries in flight per follower before the leader waits for acknowledgements.
constexpr size_t kMaxInflightAppends = 8;
// Proposals accepted but not yet committed; beyond this propose() says Busy (backpressure).
constexpr size_t kMaxUncommittedEntries = 1024;
// Metadata commands are small (add/remove node, config, epoch); reject anything larger.
constexpr size_t kMaxProposalBytes = 64 * 1024;
constexpr size_t kMaxVoters = 7;
static_assert(kMaxInflightAppends * kMaxEntriesPerAppend >= 2 * kMaxEntriesPerAppend,
              "pipelining must allow more than one batch in flight");

enum class Role { kFollower, kPreCandidate, kCandidate, kLeader };
const char* role_name(Role role);

struct Config {
  NodeId id = kNoNode;
  std::vector<NodeId> voters;  // every voter, including id
  // Followers start an election after a random timeout in [election, 2*election) ticks without
  // hearing from a leader; heartbeats must come well inside that window.
  int election_timeout_ticks = 10;
  int heartbeat_interval_ticks = 1;
  bool pre_vote = true;
  uint64_t random_seed = 1;
};

struct Ready {
  // A snapshot received from the leader (never one taken locally by compact()): persist it first
  // (MemoryStorage::apply_snapshot semantics), and restore the application state from its data
  // before applying committed_entries, which then continue right after it.
  std::optional<Snapshot> snapshot;
  std::optional<HardState> hard_state;   // set when term, vote or commit changed
  std::vector<Entry> entries;            // persist: truncate at entries.front().index, then append
  std::vector<Message> messages;         // send only after the above is durable
  std::vector<Entry> committed_entries;  // apply in order

  bool empty() const {
    return !snapshot && !hard_state && entries.empty() && messages.empty() &&
           committed_entries.empty();
  }
};

class Raft {
 public:
  // Restores from `persisted` (hard state + log; empty for a brand-new node). Returns
  // InvalidArgument for a bad config (id not among the voters, too many voters, bad timeouts).
  static Result<Raft> create(const Config& config, const MemoryStorage& persisted);

  // Messages addressed to another node, or from a non-voter, are ignored.
  void step(const Message& m);
  void tick();
  // Leader only. Unavailable("not leader; leader hint: <id or 0>") elsewhere, TooLarge for data
  // over kMaxProposalBytes, Busy with kMaxUncommittedEntries pending. OK means appended to the
  // leader's log, not committed: it may still be lost if leadership changes.
  Status propose(std::string data);
  // Leader only, like propose(); proposes a kConfChange entry. Busy while another conf change is
  // uncommitted or before the leader has committed an entry of its own term (the single-server
  // change errata), InvalidArgument for a change that is a no-op or would leave no voter or more
  // than kMaxVoters voters. The change takes effect, on every node, when its entry commits; the
  // application sees the entry among committed_entries (type kConfChange) like any other.
  Status propose_conf_change(const ConfChange& cc);
  // The configuration in force: the persisted snapshot's (or Config's initial voters/learners for
  // a log without one) plus every committed conf change after it.
  const ConfState& conf_state() const;
  // Log compaction (§7): the application has captured its state after applying `index` (which
  // must be applied) as `data`. Drops the entries up to `index` and returns the snapshot, which the
  // caller persists (MemoryStorage::apply_snapshot) before the entries it replaces are dropped
  // from storage. Followers whose next entry was compacted away are sent this snapshot.
  Result<Snapshot> compact(uint64_t index, std::string data);

  bool has_ready() const;
  Ready take_ready();

  NodeId id() const { return config_.id; }
  Role role() const { return role_; }
  uint64_t term() const { return term_; }
  NodeId leader() const { return leader_; }
  NodeId vote() const { return vote_; }
  const RaftLog& log() const { return log_; }

 private:
  struct Progress {
    uint64_t match = 0;
    uint64_t next = 1;
    bool replicating = false;         // false: probe one Append at a time until a match is found
    std::deque<uint64_t> inflight;    // last index of each unacknowledged Append (replicating only)
    bool probe_sent = false;          // probe state: an Append is out since the last heartbeat
    bool recent_active = false;       // heard from since the last check-quorum round
    uint64_t match_at_heartbeat = 0;  // match when the previous heartbeat went out
  };

  Raft(const Config& config, const MemoryStorage& persisted);

  void become_follower(uint64_t term, NodeId leader);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void campaign(bool pre_vote);
  void reset(uint64_t term);
  void reset_randomized_election_timeout();

  bool step_term(const Message& m);  // false: message dropped
  void step_leader(const Message& m);
  void step_candidate(const Message& m);
  void step_follower(const Message& m);
  void handle_vote_request(const Message& m);
  void handle_vote_response(const Message& m);
  void handle_append(const Message& m);
  void handle_append_response(const Message& m);

  void tick_election();
  void tick_heartbeat();
  void send(Message m);
  bool send_append(NodeId to, bool heartbeat);
  void broadcast_append(bool heartbeat);
  bool maybe_commit();
  size_t quorum() const { return config_.voters.size() / 2 + 1; }
  bool in_lease() const;
  HardState hard_state() const { return HardState{term_, vote_, log_.committed()}; }

  Config config_;
  std::mt19937_64 rng_;
  RaftLog log_;
  Role role_ = Role::kFollower;
  uint64_t term_ = 0;
  NodeId vote_ = kNoNode;
  NodeId leader_ = kNoNode;
  int election_elapsed_ticks_ = 0;
  int heartbeat_elapsed_ticks_ = 0;
  int randomized_election_timeout_ticks_ = 0;
  std::map<NodeId, bool> votes_;         // candidate / pre-candidate: who answered, and how
  std::map<NodeId, Progress> progress_;  // leader only
  std::vector<Message> outbox_;
  HardState last_ready_hard_state_;
};

}  // namespace chorus::raft
