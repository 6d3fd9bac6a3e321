// Raft: the consensus core of the membership metadata log, as a pure (sans-I/O) state machine in
// the style of etcd's raft.
//
// The caller drives it with these inputs and one output:
//   step(message)   a message from a peer;
//   tick()          one unit of logical time (the caller decides how long a tick is);
//   propose(data)   a new command, accepted only on the leader (propose_conf_change likewise);
//   compact(...)    the application snapshotted its state: drop the log prefix it covers;
//   take_ready()    everything the inputs produced: a received snapshot, the hard state and log
//                   entries to persist, the messages to send and the committed entries to apply.
// The caller MUST, for each Ready and in this order: (1) durably persist `snapshot` (if set),
// `hard_state` (if set) and `entries` (truncating its stored log at entries.front().index first),
// (2) send `messages`, (3) restore the application from `snapshot` (if set) and apply
// `committed_entries`. Sending before persisting can lose a vote or an acknowledged entry on a
// crash and break Election Safety or durability of commits.
//
// Implemented: leader election with randomized timeouts (§5.2), pre-vote (§9.6 of Ongaro's thesis)
// plus leader lease / check-quorum so a rejoining partitioned node cannot depose a healthy leader,
// log replication with prev index/term checks, truncation of conflicting suffixes and fast backoff
// (§5.3), commitment of current-term entries only (§5.4.2), heartbeats, single-server membership
// changes with learners (thesis §4.1, §4.2.1) and snapshots with log compaction (§7).
//
// Membership. The configuration (ConfState: voters and non-voting learners) starts from the
// persisted snapshot's, or from Config::voters/learners when storage holds no snapshot, and
// changes one server at a time through kConfChange entries. Two views of it:
//   - conf_state(), the COMMITTED configuration: what the application sees take effect when the
//     entry commits, and what a snapshot records;
//   - the LATEST configuration in the log (committed or not), which Raft itself uses for votes,
//     quorums and replication, as the thesis prescribes (§4.1). Using the committed one instead
//     (etcd's apply-time changes) is unsound: a node that has not yet learned that two changes
//     committed campaigns under a configuration two servers away from the newest, and the two
//     majorities need not overlap, so two leaders could win the same term. Append-time use plus
//     "at most one uncommitted change, proposed only after the leader committed an entry of its
//     term" keeps every pair of configurations in use one server apart. When an uncommitted
//     change is truncated away, the latest configuration reverts with it.
// Learners and nodes outside the configuration never campaign, and votes count only from the
// latest configuration's voters; but every node answers vote requests and accepts appends and
// snapshots from any leader, so a joining node (started with an empty configuration and empty
// storage) can be caught up and then added. One exception (thesis §4.2.2): a voter removed or
// demoted by a change it does not know to be committed still campaigns, without counting its own
// vote, since it may hold the only log that can commit that change. A leader whose removal (or
// demotion to learner) commits steps down; the rest elect a new leader after an election timeout.
// A joining node must first receive a snapshot (clusters are bootstrapped with one at index 1):
// until it has one, the voters it derives from the log would miss the initial ones, so it stays
// passive even if the log makes it a voter.
//
// Snapshots. compact(index, data) replaces the applied log prefix with an application snapshot.
// The leader sends the latest snapshot (kSnapshot) to a follower whose next entry was compacted
// away, one at a time per follower, resending after an election timeout without an answer. A
// follower installs a snapshot newer than its commit index and surfaces it in Ready::snapshot.
//
// Not here: read-index / lease reads, leadership transfer, proposal forwarding from followers.
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
// A hard cap on voters (DESIGN.md §6 keeps 5; the rest of the members are learners).
constexpr size_t kMaxVoters = 7;
// Snapshot data is the cluster metadata (members, config, epoch): kilobytes. The cap keeps a
// runaway state machine from producing messages the transport cannot frame.
constexpr size_t kMaxSnapshotBytes = 64 * 1024 * 1024;
static_assert(kMaxInflightAppends * kMaxEntriesPerAppend >= 2 * kMaxEntriesPerAppend,
              "pipelining must allow more than one batch in flight");

enum class Role { kFollower, kPreCandidate, kCandidate, kLeader };
const char* role_name(Role role);

struct Config {
  NodeId id = kNoNode;
  // The initial configuration, used only when storage holds no snapshot (a snapshot carries its
  // own). id need not be in it: a joining node starts with both empty and is added by the leader.
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;  // disjoint from voters
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
  // before applying committed_entries, which then continue right after it. `entries` may then
  // re-send entries after the snapshot that the log kept: persist them like any others.
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
  // Restores from `persisted` (hard state, snapshot, log; empty for a brand-new node). The
  // application state is the persisted snapshot's (the caller restores it) and committed entries
  // after it are delivered again. A term below the snapshot's is raised to it (a bootstrap
  // snapshot is persisted with no hard state). Returns InvalidArgument for a bad config (id 0,
  // repeated, zero or overlapping ids, too many voters, bad timeouts), Corruption when the
  // persisted state is inconsistent (gaps, terms out of order, commit past the log, a bad
  // configuration or conf change).
  static Result<Raft> create(const Config& config, const MemoryStorage& persisted);

  // Messages addressed to another node are ignored. Messages from nodes outside the
  // configuration are processed (they may know a newer one); only their votes do not count.
  void step(const Message& m);
  void tick();
  // Leader only. Unavailable("not leader; leader hint: <id or 0>") elsewhere, TooLarge for data
  // over kMaxProposalBytes, Busy with kMaxUncommittedEntries pending. OK means appended to the
  // leader's log, not committed: it may still be lost if leadership changes.
  Status propose(std::string data);
  // Leader only, like propose(); proposes a kConfChange entry. Unavailable off the leader,
  // TooLarge for a context over kMaxProposalBytes, Busy while another conf change is uncommitted,
  // before the leader has committed an entry of its own term (the single-server change errata)
  // or with kMaxUncommittedEntries pending; InvalidArgument for node 0, a no-op (adding a voter
  // as voter, a learner as learner, removing a non-member) or a change leaving no voter or more
  // than kMaxVoters. For the application the change takes effect when its entry commits: it
  // sees the entry among committed_entries (type kConfChange) and conf_state() moves with it.
  Status propose_conf_change(const ConfChange& cc);
  // The committed configuration: the persisted snapshot's (or Config's initial voters/learners
  // without one) plus every committed conf change after it. Sorted, like ConfState says.
  const ConfState& conf_state() const;
  // Log compaction (§7): the application has captured its state after applying `index` as
  // `data`. Drops the entries up to `index` and returns the snapshot (its conf is the committed
  // configuration as of `index`), which the caller persists (MemoryStorage::apply_snapshot drops
  // the covered entries). Followers whose next entry was compacted away are sent it.
  // InvalidArgument unless snapshot index < index <= log().applied(); TooLarge for data over
  // kMaxSnapshotBytes. On error nothing changes.
  Result<Snapshot> compact(uint64_t index, std::string data);

  bool has_ready() const;
  Ready take_ready();

  NodeId id() const { return config_.id; }
  Role role() const { return role_; }
  uint64_t term() const { return term_; }
  NodeId leader() const { return leader_; }
  NodeId vote() const { return vote_; }
  const RaftLog& log() const { return log_; }
  // The latest snapshot, persisted or received (empty() before the first).
  const Snapshot& snapshot() const { return snapshot_; }
  // Whether this node may campaign: it knows its configuration (from a snapshot or Config, see
  // "joining node" above) and is a voter of the latest one, or of the one before while the
  // change that removes it is not known committed (thesis §4.2.2).
  bool promotable() const;

 private:
  struct Progress {
    uint64_t match = 0;
    uint64_t next = 1;
    bool replicating = false;         // false: probe one Append at a time until a match is found
    std::deque<uint64_t> inflight;    // last index of each unacknowledged Append (replicating only)
    bool probe_sent = false;          // probe state: an Append is out since the last heartbeat
    bool recent_active = false;       // heard from since the last check-quorum round
    uint64_t match_at_heartbeat = 0;  // match when the previous heartbeat went out
    // Index of the snapshot sent and not yet acknowledged (0: none). Appends to this follower
    // pause meanwhile: a snapshot is large, so one at a time and a slow resend.
    uint64_t pending_snapshot = 0;
    int snapshot_elapsed_ticks = 0;  // since pending_snapshot was sent
  };
  // The configuration after the kConfChange entry at `index` (for each one in the log).
  struct ConfAt {
    uint64_t index;
    ConfState conf;
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
  size_t votes_granted() const;
  void handle_append(const Message& m);
  void handle_append_response(const Message& m);
  void handle_append_reject(const Message& m, Progress& pr);
  void handle_snapshot(const Message& m);

  void tick_election();
  void tick_heartbeat();
  bool check_quorum_active();
  void send(Message m);
  bool send_append(NodeId to, bool heartbeat);
  void send_heartbeat(NodeId to, const Progress& pr);
  void send_snapshot(NodeId to, Progress& pr);
  void broadcast_append(bool heartbeat);
  bool maybe_commit();
  void commit_and_broadcast();
  void append_and_replicate(std::string data, EntryType type);
  void install_snapshot(const Snapshot& snapshot);

  // ---- configuration ----
  const ConfState& latest_conf() const;
  // The configuration once every entry up to `index` is in force (committed, for the caller's
  // indexes: conf_state() and compaction points).
  const ConfState& conf_as_of(uint64_t index) const;
  bool is_voter(NodeId id) const;
  bool is_member(NodeId id) const;
  size_t quorum() const { return latest_conf().voters.size() / 2 + 1; }
  // Keeps conf_changes_ in step with the log: forget changes from `index` on, then record those
  // in the log from `index` to the end. Returns false if one does not decode.
  [[nodiscard]] bool rescan_conf(uint64_t index);
  void rescan_conf_or_die(uint64_t index);  // for entries that came from a leader
  void sync_progress();  // leader: one Progress per member of the latest configuration
  void maybe_step_down_after_removal();

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
  std::map<NodeId, Progress> progress_;  // leader only: every member but itself
  uint64_t term_start_index_ = 0;        // leader only: index of its no-op
  std::vector<Message> outbox_;
  HardState last_ready_hard_state_;

  Snapshot snapshot_;                       // latest snapshot: what lagging followers are sent
  std::optional<Snapshot> ready_snapshot_;  // received and installed, not yet in a Ready
  ConfState base_conf_;                     // configuration as of log_.snapshot_index()
  std::vector<ConfAt> conf_changes_;        // one per kConfChange entry in the log, in order
  bool conf_known_ = false;                 // base_conf_ came from a snapshot or Config
};

}  // namespace chorus::raft
