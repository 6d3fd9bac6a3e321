// RaftSim: a deterministic simulator that drives several chorus::raft::Raft cores through a faulty
// network in virtual time, checking Raft's safety properties after every event.
//
// Everything random comes from one std::mt19937_64 seeded by the caller, and nothing reads a clock,
// so a seed replays the same run exactly. The network drops, duplicates, delays (each copy gets its
// own random delivery tick, which also reorders) and partitions (per-link cuts). A crashed node
// keeps only what its Ready told it to persist (MemoryStorage) and loses its in-memory state and
// its applied state machine; it re-applies from index 1 after a restart.
//
// Checked after every delivered message and every tick (first violation is kept in violation()):
//   - Election Safety: at most one leader per term;
//   - Leader/commit stability: a committed index never changes its entry (global committed map);
//   - State Machine Safety: each node applies a prefix of one common sequence;
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

class RaftSim {
 public:
  static constexpr int kElectionTimeoutTicks = 10;
  static constexpr int kHeartbeatIntervalTicks = 1;

  RaftSim(uint64_t seed, int node_count);

  // ---- faults ----
  void set_faults(const NetworkFaults& faults) { faults_ = faults; }
  void isolate(NodeId id);                   // cut every link to and from id
  void split(const std::set<NodeId>& side);  // cut every link between side and the rest
  void heal() { cut_.clear(); }
  void crash(NodeId id);
  void restart(NodeId id);

  // ---- driving ----
  void run_ticks(int ticks);
  // Proposes on every live node that believes it is leader (stale leaders included, so their
  // uncommitted entries must later be truncated). Returns how many accepted.
  int propose_everywhere(const std::string& data);
  // Runs until every live node applied an entry with `data` (re-proposing as leaders change) or
  // `max_ticks` pass. Returns whether it happened.
  bool run_until_applied_everywhere(const std::string& data, int max_ticks);

  // ---- observation ----
  std::mt19937_64& rng() { return rng_; }
  const std::string& violation() const { return violation_; }
  int node_count() const { return static_cast<int>(nodes_.size()); }
  bool alive(NodeId id) const { return node(id).raft.has_value(); }
  const Raft& raft(NodeId id) const { return *node(id).raft; }
  std::optional<NodeId> live_leader() const;  // highest-term live leader, if any
  uint64_t now_ticks() const { return now_ticks_; }
  size_t committed_count() const { return committed_.size(); }
  uint64_t max_term() const;
  std::string describe() const;  // one line per node, for failure messages

 private:
  struct Node {
    std::optional<Raft> raft;  // empty while crashed
    MemoryStorage disk;
    std::vector<Entry> applied;
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
  void deliver_due();
  void fail(const std::string& what);
  void check_node(NodeId id);
  void check_all();
  void check_log_matching();

  std::mt19937_64 rng_;
  std::vector<NodeId> ids_;
  std::vector<Node> nodes_;
  NetworkFaults faults_;
  std::set<std::pair<NodeId, NodeId>> cut_;  // directed links that drop everything
  std::vector<InFlight> network_;
  uint64_t now_ticks_ = 0;
  uint64_t sequence_ = 0;
  std::map<uint64_t, NodeId> leader_of_term_;
  std::map<uint64_t, Entry> committed_;  // index -> the one entry ever committed there
  std::string violation_;
};

}  // namespace chorus::raft::sim
