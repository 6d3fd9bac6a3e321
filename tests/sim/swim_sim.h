// SwimSim: a deterministic simulator that runs several chorus::swim::Swim cores over a faulty
// datagram network in virtual milliseconds, recording every state change each node reports.
//
// Everything random comes from one std::mt19937_64 seeded by the caller (each node's Swim gets its
// random_seed from it too) and nothing reads a clock, so a seed replays the same run exactly. The
// network drops, duplicates, delays (each copy gets its own delay in [min, max] ms, which also
// reorders) and partitions (directed link cuts); a partition that forms while a datagram is in
// flight drops it. Nodes tick together every kTickMs, in a random order. A crashed node loses all
// state; a restart is a fresh Swim (incarnation 0) that must join again through the seeds.
//
// Checked all the time (first violation is kept in violation()):
//   - a node's view of any member never goes back to a lower incarnation;
//   - no node ever reports a change about itself or about an id that is not a simulated node;
//   - no datagram exceeds kMaxDatagramBytes, and no node ever drops one as malformed.
// The tests check liveness and accuracy with converged(), dead_declarations() and the bounds below.
//
// Thread-safety: none; test code only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "membership/swim/swim.h"

namespace chorus::swim::sim {

struct NetworkFaults {
  double drop_probability = 0.0;
  double duplicate_probability = 0.0;
  uint64_t min_delay_ms = 1;
  uint64_t max_delay_ms = 10;
};

// A node declared another dead (a Change to kDead reported at time_ms).
struct DeadDeclaration {
  uint64_t time_ms = 0;
  int observer = 0;
  int subject = 0;
};

class SwimSim {
 public:
  // The driver's tick (gossip.h); every deadline may wait up to one tick.
  static constexpr uint64_t kTickMs = 50;

  // Nodes 1..node_count, all down until started. Node i is "n<i>" at "10.0.<i/256>.<i%256>:7000".
  // Every node's seeds are the peer addresses of `seeds` (node numbers).
  SwimSim(uint64_t seed, int node_count, std::vector<int> seeds = {1});

  // ---- faults ----
  void set_faults(const NetworkFaults& faults) { faults_ = faults; }
  void isolate(int node);                 // cut every link to and from node
  void split(const std::set<int>& side);  // cut every link between side and the rest
  void heal() { cut_.clear(); }
  bool partitioned() const { return !cut_.empty(); }
  void start(int node);  // fresh Swim; no-op when running
  void crash(int node);
  void start_all();

  // ---- driving ----
  void run_ms(uint64_t ms);
  // Runs until converged() or max_ms pass, checking every kTickMs. Returns whether it converged.
  bool run_until_converged(uint64_t max_ms);
  // Runs until every running node other than `subject` holds it dead (or max_ms pass).
  bool run_until_dead_everywhere(int subject, uint64_t max_ms);

  // ---- observation ----
  std::mt19937_64& rng() { return rng_; }
  uint64_t now_ms() const { return now_ms_; }
  int node_count() const { return static_cast<int>(nodes_.size()); }
  bool running(int node) const { return nodes_[node - 1].swim.has_value(); }
  const Swim& swim(int node) const { return *nodes_[node - 1].swim; }
  std::string id_of(int node) const { return "n" + std::to_string(node); }
  // observer's view of subject; nullopt when observer does not know it (or is down).
  std::optional<State> view(int observer, int subject) const;
  // Every running node holds every running node alive, and every down node dead or unknown.
  bool converged() const;
  bool dead_everywhere(int subject) const;
  const std::vector<DeadDeclaration>& dead_declarations() const { return dead_declarations_; }
  // Dead declarations at or after since_ms about a node running continuously since before since_ms.
  std::vector<DeadDeclaration> false_deaths_since(uint64_t since_ms) const;
  uint64_t started_at_ms(int node) const { return nodes_[node - 1].started_ms; }
  const std::string& violation() const { return violation_; }
  uint64_t delivered() const { return delivered_; }
  uint64_t refutations() const;  // summed over running nodes
  std::string describe() const;  // one line per node, for failure messages

  // The time within which every live member declares a crashed member dead, if the network loses
  // nothing that matters (no partition; drops only delay gossip) and no refutation by the crashed
  // member is still in flight: each observer probes it within 2n-3 probe starts (its current pass,
  // then a full new one), the probe fails one interval later, then the suspicion timeout runs;
  // each of those three steps may wait one tick. Independent of gossip, so of drop rates.
  uint64_t detection_bound_ms() const;

 private:
  struct Node {
    std::optional<Swim> swim;
    Member member;
    uint64_t started_ms = 0;
    std::map<std::string, uint64_t> incarnation_seen;  // reset on restart
    uint64_t checked_version = UINT64_MAX;             // table version check_views last saw
  };
  struct InFlight {
    uint64_t deliver_at_ms;
    uint64_t sequence;  // tie-break so ordering depends only on the RNG
    int from;
    int to;
    std::string bytes;
    bool operator>(const InFlight& o) const {
      return deliver_at_ms != o.deliver_at_ms ? deliver_at_ms > o.deliver_at_ms
                                              : sequence > o.sequence;
    }
  };

  Node& node(int n) { return nodes_[n - 1]; }
  const Node& node(int n) const { return nodes_[n - 1]; }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  bool link_up(int from, int to) const { return cut_.count({from, to}) == 0; }
  void drain(int n);
  void enqueue(int from, const Datagram& d);
  void deliver_due();
  void tick_all();
  void check_views(int n);
  void fail(const std::string& what);

  std::mt19937_64 rng_;
  std::vector<Node> nodes_;
  std::vector<std::string> seeds_;
  std::map<std::string, int> by_address_;
  std::map<std::string, int> by_id_;
  NetworkFaults faults_;
  std::set<std::pair<int, int>> cut_;  // directed links that drop everything
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<InFlight>> network_;
  uint64_t now_ms_ = 0;
  uint64_t next_tick_ms_ = 0;
  uint64_t sequence_ = 0;
  uint64_t delivered_ = 0;
  std::vector<DeadDeclaration> dead_declarations_;
  std::string violation_;
};

}  // namespace chorus::swim::sim
