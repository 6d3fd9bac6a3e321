#include "raft_sim.h"

#include <cstdlib>

namespace chorus::raft::sim {

RaftSim::RaftSim(uint64_t seed, int node_count) : rng_(seed), nodes_(node_count) {
  for (int i = 1; i <= node_count; ++i) ids_.push_back(static_cast<NodeId>(i));
  for (NodeId id : ids_) restart(id);
}

Config RaftSim::config_for(NodeId id) {
  Config c;
  c.id = id;
  c.voters = ids_;
  c.election_timeout_ticks = kElectionTimeoutTicks;
  c.heartbeat_interval_ticks = kHeartbeatIntervalTicks;
  c.random_seed = rng_();  // every incarnation draws fresh randomness from the one seeded RNG
  return c;
}

void RaftSim::isolate(NodeId id) {
  for (NodeId other : ids_) {
    if (other == id) continue;
    cut_.insert({id, other});
    cut_.insert({other, id});
  }
}

void RaftSim::split(const std::set<NodeId>& side) {
  for (NodeId a : ids_) {
    for (NodeId b : ids_) {
      if (side.count(a) != side.count(b)) cut_.insert({a, b});
    }
  }
}

void RaftSim::crash(NodeId id) {
  Node& n = node(id);
  n.raft.reset();
  n.applied.clear();  // the state machine is rebuilt from the log after restart
  n.checked_commit = 0;
  n.checked_applied = 0;
}

void RaftSim::restart(NodeId id) {
  Node& n = node(id);
  if (n.raft) return;
  auto created = Raft::create(config_for(id), n.disk);
  if (!created.ok()) return fail("restart failed: " + created.status().to_string());
  n.raft.emplace(std::move(created).value());
  check_node(id);
}

bool RaftSim::link_up(NodeId from, NodeId to) const {
  return cut_.count({from, to}) == 0;
}

void RaftSim::enqueue(Message m) {
  if (!link_up(m.from, m.to) || chance(faults_.drop_probability)) return;
  const int copies = chance(faults_.duplicate_probability) ? 2 : 1;
  std::uniform_int_distribution<int> delay(1, std::max(1, faults_.max_delay_ticks));
  for (int i = 0; i < copies; ++i) {
    network_.push_back(InFlight{now_ticks_ + delay(rng_), sequence_++, m});
  }
}

// The Ready contract: persist, then send, then apply.
void RaftSim::drain_ready(NodeId id) {
  Node& n = node(id);
  while (n.raft && n.raft->has_ready()) {
    Ready rd = n.raft->take_ready();
    if (rd.hard_state) n.disk.set_hard_state(*rd.hard_state);
    n.disk.append(rd.entries);
    for (Message& m : rd.messages) enqueue(std::move(m));
    for (Entry& e : rd.committed_entries) {
      if (e.index != n.applied.size() + 1) {
        return fail("node " + std::to_string(id) + " applied index " + std::to_string(e.index) +
                    " out of order");
      }
      n.applied.push_back(std::move(e));
    }
  }
  check_node(id);
}

void RaftSim::deliver_due() {
  std::vector<InFlight> due;
  std::vector<InFlight> later;
  for (InFlight& f : network_) {
    (f.deliver_at_ticks <= now_ticks_ ? due : later).push_back(std::move(f));
  }
  network_ = std::move(later);
  // Messages due in the same tick arrive in a random order (reordering beyond the delay spread).
  std::sort(due.begin(), due.end(),
            [](const InFlight& a, const InFlight& b) { return a.sequence < b.sequence; });
  std::shuffle(due.begin(), due.end(), rng_);
  for (InFlight& f : due) {
    if (!violation_.empty()) return;
    const NodeId to = f.message.to;
    // A partition that formed while the message was in flight also drops it.
    if (!alive(to) || !link_up(f.message.from, to)) continue;
    node(to).raft->step(f.message);
    drain_ready(to);
  }
}

void RaftSim::run_ticks(int ticks) {
  for (int t = 0; t < ticks && violation_.empty(); ++t) {
    ++now_ticks_;
    deliver_due();
    for (NodeId id : ids_) {
      if (!alive(id) || !violation_.empty()) continue;
      node(id).raft->tick();
      drain_ready(id);
    }
    check_all();
  }
}

int RaftSim::propose_everywhere(const std::string& data) {
  int accepted = 0;
  for (NodeId id : ids_) {
    if (!alive(id) || node(id).raft->role() != Role::kLeader) continue;
    if (node(id).raft->propose(data).ok()) ++accepted;
    drain_ready(id);
  }
  return accepted;
}

bool RaftSim::run_until_applied_everywhere(const std::string& data, int max_ticks) {
  auto done = [&] {
    for (NodeId id : ids_) {
      if (!alive(id)) continue;
      const auto& applied = node(id).applied;
      if (std::none_of(applied.begin(), applied.end(),
                       [&](const Entry& e) { return e.data == data; })) {
        return false;
      }
    }
    return true;
  };
  for (int t = 0; t < max_ticks && violation_.empty(); ++t) {
    if (done()) return true;
    // Re-propose every election timeout: a leader may lose an accepted entry when it is deposed.
    if (t % kElectionTimeoutTicks == 0) propose_everywhere(data);
    run_ticks(1);
  }
  return done();
}

std::optional<NodeId> RaftSim::live_leader() const {
  std::optional<NodeId> best;
  for (NodeId id : ids_) {
    if (!alive(id) || raft(id).role() != Role::kLeader) continue;
    if (!best || raft(id).term() > raft(*best).term()) best = id;
  }
  return best;
}

uint64_t RaftSim::max_term() const {
  uint64_t t = 0;
  for (NodeId id : ids_) {
    if (alive(id)) t = std::max(t, raft(id).term());
  }
  return t;
}

}  // namespace chorus::raft::sim

// ---- invariants -------------------------------------------------------------------------------

namespace chorus::raft::sim {

void RaftSim::fail(const std::string& what) {
  if (!violation_.empty()) return;  // keep the first: later ones are usually consequences
  violation_ = "tick " + std::to_string(now_ticks_) + ": " + what + "\n" + describe();
}

// Cheap, incremental checks after every event on the node that handled it.
void RaftSim::check_node(NodeId id) {
  Node& n = node(id);
  if (!n.raft) return;
  const Raft& r = *n.raft;
  if (r.role() == Role::kLeader) {
    auto [it, inserted] = leader_of_term_.emplace(r.term(), id);
    if (!inserted && it->second != id) {
      return fail("Election Safety: nodes " + std::to_string(it->second) + " and " +
                  std::to_string(id) + " both leader in term " + std::to_string(r.term()));
    }
  }
  const RaftLog& log = r.log();
  if (log.committed() < n.checked_commit) return fail("commit index went backwards");
  for (uint64_t i = std::max<uint64_t>(n.checked_commit, 1); i <= log.committed(); ++i) {
    auto [it, inserted] = committed_.emplace(i, log.entry(i));
    if (!inserted && !(it->second == log.entry(i))) {
      return fail("committed index " + std::to_string(i) + " changed its entry on node " +
                  std::to_string(id));
    }
  }
  n.checked_commit = log.committed();
  for (; n.checked_applied < n.applied.size(); ++n.checked_applied) {
    const Entry& e = n.applied[n.checked_applied];
    auto it = committed_.find(e.index);
    if (it == committed_.end() || !(it->second == e)) {
      return fail("State Machine Safety: node " + std::to_string(id) + " applied index " +
                  std::to_string(e.index) + " which differs from the committed entry");
    }
  }
}

// Full sweep once per tick: nothing verified earlier may have changed since.
void RaftSim::check_all() {
  if (!violation_.empty()) return;
  for (NodeId id : ids_) {
    if (!alive(id)) continue;
    const RaftLog& log = raft(id).log();
    for (uint64_t i = 1; i <= log.committed(); ++i) {
      auto it = committed_.find(i);
      if (it == committed_.end() || !(it->second == log.entry(i))) {
        return fail("committed prefix of node " + std::to_string(id) + " differs at index " +
                    std::to_string(i));
      }
    }
    for (const Entry& e : node(id).applied) {
      if (!(committed_.at(e.index) == e)) return fail("applied entry differs from committed");
    }
  }
  check_log_matching();
}

// Log Matching (§5.3), checked inductively: if every pair of logs holding the same (index, term)
// holds the same entry and the same term at index-1, any two logs that agree at (index, term)
// agree on the whole prefix.
void RaftSim::check_log_matching() {
  uint64_t max_last = 0;
  for (NodeId id : ids_) {
    if (alive(id)) max_last = std::max(max_last, raft(id).log().last_index());
  }
  for (uint64_t i = 1; i <= max_last; ++i) {
    std::map<uint64_t, std::pair<const Entry*, uint64_t>> by_term;  // term -> (entry, prev term)
    for (NodeId id : ids_) {
      if (!alive(id) || raft(id).log().last_index() < i) continue;
      const RaftLog& log = raft(id).log();
      const Entry& e = log.entry(i);
      auto [it, inserted] = by_term.emplace(e.term, std::make_pair(&e, log.term(i - 1)));
      if (!inserted && (!(*it->second.first == e) || it->second.second != log.term(i - 1))) {
        return fail("Log Matching: logs agree on term " + std::to_string(e.term) + " at index " +
                    std::to_string(i) + " but not on the entry or its predecessor");
      }
    }
  }
}

std::string RaftSim::describe() const {
  std::ostringstream out;
  for (NodeId id : ids_) {
    out << "  n" << id << ": ";
    if (!alive(id)) {
      out << "crashed (persisted term " << node(id).disk.hard_state().term << ", "
          << node(id).disk.entries().size() << " entries)\n";
      continue;
    }
    const Raft& r = raft(id);
    out << role_name(r.role()) << " term " << r.term() << " leader " << r.leader() << " last "
        << r.log().last_index() << "/" << r.log().last_term() << " commit " << r.log().committed()
        << " applied " << node(id).applied.size() << "\n";
  }
  return out.str();
}

}  // namespace chorus::raft::sim
