// RaftSim: a deterministic simulator that drives several chorus::raft::Raft cores through a faulty
// network in virtual time, checking Raft's safety properties after every event.
//
// Everything random comes from one std::mt19937_64 seeded by the caller, and nothing reads a clock,
// so a seed replays the same run exactly. The network drops, duplicates, delays (each copy gets its
// own random delivery tick, which also reorders) and partitions (per-link cuts). A crashed node
// loses the messages in flight to it, keeps only what its Ready told it to persist
// (MemoryStorage: hard state, snapshot, log) and
// loses its in-memory state and its state machine; after a restart it restores the state machine
// from the persisted snapshot and re-applies the committed entries after it.
//
// Membership: node ids are 1..max_nodes. The initial members are bootstrapped either through
// Config::voters/learners (no snapshot) or, as the node driver does, through a snapshot at index 1
// that carries the configuration. Other ids can be started as joining nodes (empty configuration,
// empty storage) and added by conf changes proposed on the leader; removed nodes keep running.
//
// The state machine of each node is the list of entries it applied (a bootstrap snapshot counts
// as one pseudo-entry at index 1) plus the configuration it derived from the conf changes among
// them. Snapshot data is that state machine, encoded; installing one replaces it.
//
// Checked after every delivered message and every tick (first violation is kept in violation()):
//   - Election Safety: at most one leader per term;
//   - Leader/commit stability: a committed index never changes its entry (global committed map),
//     and a snapshot's (index, term) is the committed one;
//   - State Machine Safety: each node applies a prefix of one common sequence, including the
//     prefix it restored from a snapshot;
//   - Configuration: Raft's conf_state() equals what the application derived from the entries it
//     applied, and a snapshot's configuration equals the application's at its index;
//   - Log Matching: logs that agree on (index, term) agree on the entry and all earlier ones.
//
// Thread-safety: none; test code only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "membership/raft/raft.h"

namespace chorus::raft::sim {

struct NetworkFaults {
  double drop_probability = 0.0;
  double duplicate_probability = 0.0;
  int max_delay_ticks = 1;  // each message arrives 1..max_delay_ticks ticks after it was sent
};

struct ClusterSpec {
  int max_nodes = 3;                    // ids 1..max_nodes may ever run
  std::vector<NodeId> voters{1, 2, 3};  // initial configuration, all started at once
  std::vector<NodeId> learners;
  bool bootstrap_snapshot = false;  // true: a snapshot at index 1; false: Config::voters/learners
};

// Counters that prove the rare paths ran.
struct SimCounters {
  uint64_t snapshots_installed = 0;  // Ready::snapshot received from a leader
  uint64_t compactions = 0;
  uint64_t conf_changes_applied = 0;
  uint64_t restarts = 0;
};

class RaftSim {
 public:
  static constexpr int kElectionTimeoutTicks = 10;
  static constexpr int kHeartbeatIntervalTicks = 1;
  static constexpr int kMaxNodes = 7;

  RaftSim(uint64_t seed, int node_count);  // node_count voters bootstrapped through Config
  RaftSim(uint64_t seed, const ClusterSpec& spec);

  // ---- faults ----
  void set_faults(const NetworkFaults& faults) { faults_ = faults; }
  void isolate(NodeId id);                   // cut every link to and from id
  void split(const std::set<NodeId>& side);  // cut every link between side and the rest
  void heal() { cut_.clear(); }
  void crash(NodeId id);
  void restart(NodeId id);  // no-op for a node that runs or never started

  // ---- membership and compaction ----
  // Starts a never-started id as a joining node: empty storage, empty configuration.
  void start_joining(NodeId id);
  // Proposes on the highest-term live leader; Unavailable when there is none.
  Status propose_conf_change(const ConfChange& cc);
  // Snapshots node id's state machine `lag` entries behind what it applied and compacts its log
  // (and storage) there. Returns false when there is nothing to compact.
  bool compact(NodeId id, uint64_t lag = 0);

  // ---- driving ----
  void run_ticks(int ticks);
  // Proposes on every live node that believes it is leader (stale leaders included, so their
  // uncommitted entries must later be truncated). Returns how many accepted.
  int propose_everywhere(const std::string& data);
  // Runs until every live member (of the leader's committed configuration) applied an entry with
  // `data` (re-proposing as leaders change) or `max_ticks` pass. Returns whether it happened.
  bool run_until_applied_everywhere(const std::string& data, int max_ticks);

  // ---- observation ----
  std::mt19937_64& rng() { return rng_; }
  const std::string& violation() const { return violation_; }
  int node_count() const { return static_cast<int>(nodes_.size()); }
  bool started(NodeId id) const { return node(id).started; }
  bool alive(NodeId id) const { return node(id).raft.has_value(); }
  const Raft& raft(NodeId id) const { return *node(id).raft; }
  const MemoryStorage& disk(NodeId id) const { return node(id).disk; }
  // The node's state machine: applied entries from index 1, and its configuration.
  const std::vector<Entry>& applied(NodeId id) const { return node(id).applied; }
  const ConfState& app_conf(NodeId id) const { return node(id).conf; }
  std::optional<NodeId> live_leader() const;  // highest-term live leader, if any
  uint64_t now_ticks() const { return now_ticks_; }
  size_t committed_count() const { return committed_.size(); }
  uint64_t max_term() const;
  const SimCounters& counters() const { return counters_; }
  std::string describe() const;  // one line per node, for failure messages

 private:
  struct Node {
    bool started = false;
    bool joining = false;      // started with an empty configuration
    std::optional<Raft> raft;  // empty while crashed or never started
    MemoryStorage disk;
    std::vector<Entry> applied;
    ConfState conf;
    std::map<uint64_t, ConfState> conf_history;  // applied index -> configuration from there on
    uint64_t checked_commit = 0;  // incremental checks: what check_node already verified
    size_t checked_applied = 0;
  };
  struct InFlight {
    uint64_t deliver_at_ticks;
    uint64_t sequence;  // tie-break so ordering depends only on the RNG
    Message message;
  };

  Node& node(NodeId id) { return nodes_[id - 1]; }
  const Node& node(NodeId id) const { return nodes_[id - 1]; }
  Config config_for(NodeId id);
  bool link_up(NodeId from, NodeId to) const;
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  void enqueue(Message m);
  void drain_ready(NodeId id);
  void apply_entry(NodeId id, Entry e);
  void restore_state_machine(NodeId id, const Snapshot& snap);
  void reset_state_machine(NodeId id);
  void deliver_due();
  void fail(const std::string& what);
  void check_node(NodeId id);
  void check_snapshot_term(NodeId id);
  void check_all();
  void check_log_matching();

  std::mt19937_64 rng_;
  ClusterSpec spec_;
  std::vector<NodeId> ids_;  // every id that may run: 1..max_nodes
  std::vector<Node> nodes_;
  NetworkFaults faults_;
  std::set<std::pair<NodeId, NodeId>> cut_;  // directed links that drop everything
  std::vector<InFlight> network_;
  uint64_t now_ticks_ = 0;
  uint64_t sequence_ = 0;
  std::map<uint64_t, NodeId> leader_of_term_;
  std::map<uint64_t, Entry> committed_;  // index -> the one entry ever committed there
  SimCounters counters_;
  std::string violation_;
};

}  // namespace chorus::raft::sim
