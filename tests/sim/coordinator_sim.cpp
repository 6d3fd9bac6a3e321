#include "tests/sim/coordinator_sim.h"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <random>

#include "core/clock.h"
#include "core/hlc.h"
#include "core/metrics.h"
#include "engines/engine.h"
#include "engines/store.h"
#include "membership/membership.h"
#include "replication/hints.h"
#include "replication/messages.h"
#include "replication/read_request.h"
#include "replication/replica.h"
#include "replication/write_request.h"
#include "ring/partitioner.h"
#include "ring/ring.h"

namespace chorus::sim {
namespace {

constexpr uint32_t kPartitions = 64;
constexpr uint64_t kEpochWallMs = 1'700'000'000'000;

// A node's clock: virtual time plus its offset, drifting at its rate.
class SimClock final : public Clock {
 public:
  SimClock(const uint64_t* now_ms, int64_t offset_ms, double drift)
      : now_ms_(now_ms), offset_ms_(offset_ms), drift_(drift) {}
  uint64_t wall_ms() const override {
    const double t = static_cast<double>(*now_ms_) * (1.0 + drift_);
    return static_cast<uint64_t>(static_cast<int64_t>(kEpochWallMs) + offset_ms_ +
                                 static_cast<int64_t>(t));
  }
  uint64_t steady_ms() const override { return *now_ms_; }

 private:
  const uint64_t* now_ms_;
  const int64_t offset_ms_;
  const double drift_;
};

struct Node {
  std::string id;
  std::unique_ptr<SimClock> clock;
  MetricsRegistry metrics;
  std::unique_ptr<Store> store;
  std::unique_ptr<HintStore> hints;
  std::unique_ptr<HlcClock> hlc;
  std::unique_ptr<ReplicaService> replica;
  bool up = true;
  uint64_t incarnation = 0;
  std::vector<size_t> in_flight;  // ops it coordinates
};

struct Version {
  Timestamp ts;
  std::string origin;
};
bool older(const Version& a, const Version& b) {
  return newer_than(VersionRef{b.ts, b.origin}, VersionRef{a.ts, a.origin});
}
std::string text(const Version& v) {
  return std::to_string(v.ts.physical_ms()) + "." + std::to_string(v.ts.logical()) + "@" + v.origin;
}

struct Op {
  enum class Outcome { kPending, kOk, kFailed, kIndeterminate };
  int client = 0;
  bool write = false;
  std::string key;
  std::string value;  // written, or read
  int node = 0;
  uint64_t start_ms = 0;
  uint64_t end_ms = UINT64_MAX;
  Outcome outcome = Outcome::kPending;
  bool found = false;  // reads
  Version version;     // acked writes; reads that found the key
};

class Simulation {
 public:
  explicit Simulation(const CoordinatorSimOptions& o) : o_(o), rng_(o.seed) {}

  CoordinatorSimResult run() {
    build();
    for (int c = 0; c < o_.clients; ++c) at(uniform(0, 20), [this, c] { next_op(c); });
    if (o_.partitions || o_.crashes) at(uniform(50, 200), [this] { fault(); });
    drain();
    heal();
    check_history();
    // A replica refuses a version stamped further ahead of its clock than the HLC drift bound
    // until its clock catches up: with clocks that far apart, convergence waits that long.
    now_ms_ += 2 * static_cast<uint64_t>(o_.clock_offset_max_ms);
    converge();
    return result_;
  }

 private:
  struct Event {
    uint64_t at_ms;
    uint64_t seq;
    std::function<void()> fn;
    bool operator>(const Event& e) const {
      return at_ms != e.at_ms ? at_ms > e.at_ms : seq > e.seq;
    }
  };

  uint64_t uniform(uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng_);
  }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  void at(uint64_t delay_ms, std::function<void()> fn) {
    events_.push(Event{now_ms_ + delay_ms, seq_++, std::move(fn)});
  }
  void drain() {
    while (!events_.empty()) {
      Event e = events_.top();
      events_.pop();
      now_ms_ = e.at_ms;
      e.fn();
    }
  }

  void build() {
    std::vector<Member> members;
    for (int i = 0; i < o_.nodes; ++i) {
      auto node = std::make_unique<Node>();
      node->id = "n" + std::to_string(i + 1);
      const int64_t offset =
          static_cast<int64_t>(uniform(0, 2 * o_.clock_offset_max_ms)) - o_.clock_offset_max_ms;
      const double drift = std::uniform_real_distribution<double>(-0.01, 0.01)(rng_);
      node->clock = std::make_unique<SimClock>(&now_ms_, offset, drift);
      node->store = std::make_unique<Store>(std::move(open_engine(EngineKind::kMemory, "").value()),
                                            node->clock.get());
      node->hints =
          std::make_unique<HintStore>(std::move(open_engine(EngineKind::kMemory, "").value()),
                                      node->clock.get(), HintOptions{}, &node->metrics);
      members.push_back({node->id, node->id + ":7000", node->id + ":8080"});
      index_of_[node->id] = i;
      nodes_.push_back(std::move(node));
      start_node(i);
    }
    ring_ = Ring::build(members, kPartitions, o_.replicas, 1).value();
    group_.assign(o_.nodes, 0);
  }

  // A fresh process on the node's data: a new HLC (it starts from the wall clock) and replica.
  void start_node(int i) {
    Node& n = *nodes_[i];
    n.hlc = std::make_unique<HlcClock>(n.clock.get());
    n.replica =
        std::make_unique<ReplicaService>(n.store.get(), n.hints.get(), n.hlc.get(), &n.metrics);
    n.replica->set_partitions(kPartitions);
    n.up = true;
  }

  std::shared_ptr<const ClusterView> view() const {
    auto v = std::make_shared<ClusterView>();
    v->ring = ring_;
    for (const Member& m : ring_->members()) {
      v->states.push_back(nodes_[index_of_.at(m.id)]->up ? MemberState::kAlive
                                                         : MemberState::kDead);
    }
    return v;
  }

  bool linked(int a, int b) const { return group_[a] == group_[b]; }
  uint64_t latency() { return uniform(1, o_.latency_max_ms); }
  int copies() {
    if (chance(loss_)) {
      ++result_.messages_lost;
      return 0;
    }
    if (chance(duplicate_)) {
      ++result_.messages_duplicated;
      return 2;
    }
    return 1;
  }

  // One RPC as the transport makes it: `done` exactly once, with the reply or Timeout, unless
  // the caller crashed meanwhile. The request may be lost, duplicated or cut by a partition, and
  // so may the reply; each copy is handled by the receiver's state at arrival.
  template <typename Reply>
  void call(int from, int to, std::function<Result<Reply>(Node&)> handle,
            std::function<void(Result<Reply>)> done) {
    auto answered = std::make_shared<bool>(false);
    const uint64_t incarnation = nodes_[from]->incarnation;
    auto finish = [this, answered, from, incarnation, done](Result<Reply> reply) {
      if (*answered || !nodes_[from]->up || nodes_[from]->incarnation != incarnation) return;
      *answered = true;
      done(std::move(reply));
    };
    at(o_.rpc_timeout_ms, [finish] { finish(Status::Timeout("rpc timeout")); });
    for (int c = copies(); c > 0; --c) {
      at(latency(), [this, from, to, handle, finish] {
        if (!nodes_[to]->up || !linked(from, to)) return;
        Result<Reply> reply = handle(*nodes_[to]);
        for (int r = copies(); r > 0; --r) {
          at(latency(), [this, from, to, reply, finish] {
            if (linked(from, to)) finish(reply);
          });
        }
      });
    }
  }

  // The replica's side, through the wire codecs both ways.
  static Result<ReplicaWriteReply> serve_write(const std::string& wire, Node& n) {
    ReplicaWrite m;
    if (Status st = decode(wire, &m); !st.ok()) return st;
    auto r = n.replica->apply(m);
    if (!r.ok()) return r.status();
    ReplicaWriteReply reply;
    if (Status st = decode(encode(*r), &reply); !st.ok()) return st;
    return reply;
  }
  static Result<ReplicaReadReply> serve_read(const std::string& wire, Node& n) {
    ReplicaRead m;
    if (Status st = decode(wire, &m); !st.ok()) return st;
    auto r = n.replica->read(m);
    if (!r.ok()) return r.status();
    ReplicaReadReply reply;
    if (Status st = decode(encode(*r), &reply); !st.ok()) return st;
    return reply;
  }

  // ---- Clients ----

  void next_op(int client) {
    if (ops_started_[client] >= o_.ops_per_client) return;
    std::vector<int> up;
    for (int i = 0; i < o_.nodes; ++i) {
      if (nodes_[i]->up) up.push_back(i);
    }
    if (up.empty()) return at(50, [this, client] { next_op(client); });
    ++ops_started_[client];
    Op op;
    op.client = client;
    op.write = chance(0.5);
    op.key = "key" + std::to_string(uniform(0, o_.keys - 1));
    op.node = up[uniform(0, up.size() - 1)];
    op.start_ms = now_ms_;
    if (op.write) op.value = "c" + std::to_string(client) + "-" + std::to_string(ops_.size());
    const size_t index = ops_.size();
    ops_.push_back(op);
    nodes_[op.node]->in_flight.push_back(index);
    if (op.write) {
      start_write(index);
    } else {
      start_read(index);
    }
  }

  void complete(size_t index, Op::Outcome outcome) {
    Op& op = ops_[index];
    if (op.outcome != Op::Outcome::kPending) return;
    op.outcome = outcome;
    op.end_ms = outcome == Op::Outcome::kIndeterminate ? UINT64_MAX : now_ms_;
    auto& in_flight = nodes_[op.node]->in_flight;
    in_flight.erase(std::remove(in_flight.begin(), in_flight.end(), index), in_flight.end());
    const int client = op.client;
    at(uniform(0, 20), [this, client] { next_op(client); });
  }

  struct WriteRun {
    WriteRequestMachine machine;
    int node;
    uint64_t incarnation;
    size_t op;
  };
  struct ReadRun {
    ReadRequestMachine machine;
    int node;
    uint64_t incarnation;
    size_t op;  // SIZE_MAX: the convergence pass
  };

  bool alive(int node, uint64_t incarnation) const {
    return nodes_[node]->up && nodes_[node]->incarnation == incarnation;
  }

  void start_write(size_t index) {
    const Op& op = ops_[index];
    Node& n = *nodes_[op.node];
    WriteRequest request;
    request.key = op.key;
    request.value = op.value;
    WriteMachineOptions options{n.id, 8, true, o_.restamp_disabled};
    auto run = std::make_shared<WriteRun>(
        WriteRun{WriteRequestMachine(options, view(), request, o_.write_quorum, n.hlc.get()),
                 op.node, n.incarnation, index});
    run->machine.start(n.clock->wall_ms());
    at(o_.request_timeout_ms, [this, run] {
      if (!alive(run->node, run->incarnation)) return;
      run->machine.on_deadline();
      pump(run);
    });
    pump(run);
  }

  void pump(const std::shared_ptr<WriteRun>& run) {
    if (!alive(run->node, run->incarnation)) return;
    Node& n = *nodes_[run->node];
    for (;;) {
      WriteEffects e = run->machine.take_effects();
      if (e.sends.empty() && e.hints.empty() && !e.response && !e.retry_with_newer_ring) return;
      result_.restamps += e.events.restamps;
      for (const HintToKeep& h : e.hints) {
        (void)n.hints->add(h.owner_id, h.key, h.partition, h.record, h.sync);
      }
      for (const WriteSend& send : e.sends) {
        const int to = index_of_.at(ring_->members()[send.member].id);
        if (to == run->node) {
          run->machine.on_reply(send.tag, n.replica->apply(send.message));
          continue;
        }
        const std::string wire = encode(send.message);
        call<ReplicaWriteReply>(
            run->node, to, [wire](Node& target) { return serve_write(wire, target); },
            [this, run, tag = send.tag](Result<ReplicaWriteReply> reply) {
              run->machine.on_reply(tag, std::move(reply));
              pump(run);
            });
      }
      if (e.retry_with_newer_ring) run->machine.no_newer_ring();  // the ring never changes here
      if (e.response) {
        Op& op = ops_[run->op];
        if (e.response->status.ok()) {
          op.version = Version{e.response->ts, n.id};
          ++result_.writes_acked;
          complete(run->op, Op::Outcome::kOk);
        } else {
          ++result_.writes_failed;
          complete(run->op, Op::Outcome::kFailed);
        }
      }
    }
  }

  void start_read(size_t index, int r = 0) {
    const int node = index == SIZE_MAX ? 0 : ops_[index].node;
    const std::string key = index == SIZE_MAX ? repair_key_ : ops_[index].key;
    const int required = r == 0 ? o_.read_quorum : r;
    Node& n = *nodes_[node];
    auto run = std::make_shared<ReadRun>(
        ReadRun{ReadRequestMachine(n.id, view(), ReadRequest{key, required}, required, n.hlc.get()),
                node, n.incarnation, index});
    run->machine.start();
    at(o_.request_timeout_ms, [this, run] {
      if (!alive(run->node, run->incarnation)) return;
      run->machine.on_deadline();
      pump(run);
    });
    pump(run);
  }

  void pump(const std::shared_ptr<ReadRun>& run) {
    if (!alive(run->node, run->incarnation)) return;
    Node& n = *nodes_[run->node];
    for (;;) {
      ReadEffects e = run->machine.take_effects();
      if (e.reads.empty() && e.repairs.empty() && !e.response && !e.done) return;
      for (const ReadSend& read : e.reads) {
        const int to = index_of_.at(ring_->members()[read.member].id);
        if (to == run->node) {
          run->machine.on_read_reply(read.tag, n.replica->read(read.message));
          continue;
        }
        const std::string wire = encode(read.message);
        call<ReplicaReadReply>(
            run->node, to, [wire](Node& target) { return serve_read(wire, target); },
            [this, run, tag = read.tag](Result<ReplicaReadReply> reply) {
              run->machine.on_read_reply(tag, std::move(reply));
              pump(run);
            });
      }
      for (const RepairSend& repair : e.repairs) {
        const int to = index_of_.at(ring_->members()[repair.member].id);
        if (to == run->node) {
          run->machine.on_repair_reply(repair.tag, n.replica->apply(repair.message));
          continue;
        }
        const std::string wire = encode(repair.message);
        call<ReplicaWriteReply>(
            run->node, to, [wire](Node& target) { return serve_write(wire, target); },
            [this, run, tag = repair.tag](Result<ReplicaWriteReply> reply) {
              run->machine.on_repair_reply(tag, std::move(reply));
              pump(run);
            });
      }
      if (e.response && run->op != SIZE_MAX) {
        Op& op = ops_[run->op];
        if (e.response->status.ok() || e.response->status.is_not_found()) {
          op.found = e.response->record.has_value();
          if (op.found) {
            op.version = Version{e.response->record->ts, e.response->record->origin};
            op.value = e.response->record->value;
          }
          ++result_.reads_ok;
          complete(run->op, Op::Outcome::kOk);
        } else {
          ++result_.reads_failed;
          complete(run->op, Op::Outcome::kFailed);
        }
      }
    }
  }

  // ---- Faults ----

  bool clients_done() const {
    for (int c = 0; c < o_.clients; ++c) {
      if (ops_started_[c] < o_.ops_per_client) return false;
    }
    return true;
  }

  void fault() {
    if (clients_done()) return;
    const uint64_t hold_ms = uniform(100, 800);
    if (o_.partitions && (!o_.crashes || chance(0.5))) {
      ++result_.partitions;
      if (chance(0.5)) {
        group_.assign(o_.nodes, 0);
        group_[uniform(0, o_.nodes - 1)] = 1;  // one node isolated
      } else {
        for (int i = 0; i < o_.nodes; ++i) group_[i] = chance(0.5) ? 1 : 0;  // a random split
      }
      at(hold_ms, [this] { group_.assign(o_.nodes, 0); });
    } else {
      const int victim = static_cast<int>(uniform(0, o_.nodes - 1));
      if (nodes_[victim]->up) {
        ++result_.crashes;
        crash(victim);
        at(hold_ms, [this, victim] { start_node(victim); });
      }
    }
    at(hold_ms + uniform(50, 300), [this] { fault(); });
  }

  void crash(int i) {
    Node& n = *nodes_[i];
    n.up = false;
    ++n.incarnation;
    n.replica.reset();
    n.hlc.reset();
    const std::vector<size_t> orphans = n.in_flight;
    for (size_t index : orphans) {
      if (ops_[index].write) ++result_.writes_indeterminate;
      complete(index, Op::Outcome::kIndeterminate);
    }
  }

  void heal() {
    group_.assign(o_.nodes, 0);
    for (int i = 0; i < o_.nodes; ++i) {
      if (!nodes_[i]->up) start_node(i);
    }
    loss_ = 0;
    duplicate_ = 0;
  }

  // ---- Checks ----

  void violation(std::string what) { result_.violations.push_back(std::move(what)); }

  void check_history() {
    const bool later_write_wins = 2 * o_.write_quorum > o_.replicas;
    std::map<std::string, std::vector<const Op*>> by_key;
    std::map<std::string, std::map<std::string, std::string>> written;  // key -> version -> value
    for (const Op& op : ops_) {
      if (op.outcome == Op::Outcome::kPending) violation("op never answered: " + op.key);
      by_key[op.key].push_back(&op);
    }
    for (const auto& [key, ops] : by_key) {
      for (const Op* a : ops) {
        if (!a->write || a->outcome != Op::Outcome::kOk) continue;
        for (const Op* b : ops) {
          if (b->outcome != Op::Outcome::kOk || b->start_ms <= a->end_ms) continue;
          if (later_write_wins && b->write && !older(a->version, b->version)) {
            violation("later write lost on " + key + ": " + b->value + " (" + text(b->version) +
                      ") started after " + a->value + " (" + text(a->version) +
                      ") was acknowledged, yet is not newer");
          }
          if (!b->write && (!b->found || older(b->version, a->version))) {
            violation("stale quorum read on " + key + ": read at " + std::to_string(b->start_ms) +
                      " returned " +
                      (b->found ? b->value + " (" + text(b->version) + ")" : "nothing") +
                      ", older than " + a->value + " (" + text(a->version) + ") acknowledged at " +
                      std::to_string(a->end_ms));
          }
        }
      }
      for (const Op* r1 : ops) {
        if (r1->write || r1->outcome != Op::Outcome::kOk || !r1->found) continue;
        for (const Op* r2 : ops) {
          if (r2->write || r2->outcome != Op::Outcome::kOk || r2->start_ms <= r1->end_ms) continue;
          if (!r2->found || older(r2->version, r1->version)) {
            violation("non-monotonic read on " + key + ": a read at " +
                      std::to_string(r2->start_ms) + " returned older than " + r1->value +
                      " returned at " + std::to_string(r1->end_ms));
          }
        }
        // What a read returns was written by some write, with that value.
        bool written_by_someone = false;
        for (const Op* w : ops) written_by_someone |= w->write && w->value == r1->value;
        if (!written_by_someone) violation("read on " + key + " returned a value nobody wrote");
      }
    }
  }

  // Hints delivered, then a read at R=N of every key with its repairs, over a healed lossless
  // network; then every owner must hold the same version, no older than any acknowledged write.
  void converge() {
    for (int i = 0; i < o_.nodes; ++i) {
      Node& n = *nodes_[i];
      for (const std::string& target : n.hints->targets()) {
        std::vector<Hint> hints;
        if (!n.hints->peek(target, 1'000'000, &hints).ok()) continue;
        Node& owner = *nodes_[index_of_.at(target)];
        for (const Hint& h : hints) {
          ReplicaWrite m;
          m.sender_hlc = n.hlc->now();
          m.key = h.key;
          m.partition = h.partition;
          m.record = h.record;
          (void)owner.replica->apply(m);
        }
        (void)n.hints->remove(target, hints);
      }
    }
    for (int k = 0; k < o_.keys; ++k) {
      repair_key_ = "key" + std::to_string(k);
      start_read(SIZE_MAX, o_.replicas);
      drain();
    }
    result_.converged = true;
    for (int k = 0; k < o_.keys; ++k) {
      const std::string key = "key" + std::to_string(k);
      std::optional<Version> first;
      for (uint32_t owner : ring_->owners(partition_of(key, kPartitions))) {
        Record record;
        const Status st =
            nodes_[index_of_.at(ring_->members()[owner].id)]->store->get(key, &record);
        const std::optional<Version> held =
            st.ok() ? std::optional<Version>(Version{record.ts, record.origin}) : std::nullopt;
        if (owner == ring_->owners(partition_of(key, kPartitions)).front()) {
          first = held;
        } else if (first.has_value() != held.has_value() ||
                   (first && (older(*first, *held) || older(*held, *first)))) {
          result_.converged = false;
          violation("replicas of " + key + " differ after the heal");
        }
      }
      for (const Op& op : ops_) {
        if (op.key != key || !op.write || op.outcome != Op::Outcome::kOk) continue;
        if (!first || older(*first, op.version)) {
          violation("acknowledged write lost on " + key + ": " + op.value + " (" +
                    text(op.version) + ")");
        }
      }
    }
  }

  const CoordinatorSimOptions o_;
  std::mt19937_64 rng_;
  uint64_t now_ms_ = 0;
  uint64_t seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::map<std::string, int> index_of_;
  std::shared_ptr<const Ring> ring_;
  std::vector<int> group_;  // partition side of each node; equal sides talk
  double loss_ = o_.loss;
  double duplicate_ = o_.duplicate;
  std::vector<int> ops_started_ = std::vector<int>(static_cast<size_t>(o_.clients), 0);
  std::vector<Op> ops_;
  std::string repair_key_;
  CoordinatorSimResult result_;
};

}  // namespace

CoordinatorSimResult run_coordinator_sim(const CoordinatorSimOptions& options) {
  return Simulation(options).run();
}

}  // namespace chorus::sim
