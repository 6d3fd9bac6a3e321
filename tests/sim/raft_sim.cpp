#include "raft_sim.h"

#include <cstdlib>

#include "core/coding.h"

namespace chorus::raft::sim {

namespace {

// What a bootstrap snapshot stands for: the cluster's creation, as if it were entry 1.
const Entry kBootstrapEntry{1, 1, "bootstrap", EntryType::kNormal};

bool has_id(const std::vector<NodeId>& ids, NodeId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

// The application's own reading of a conf change, written independently of the Raft core's so the
// two can check each other.
void apply_to(ConfState* conf, const ConfChange& cc) {
  for (auto* ids : {&conf->voters, &conf->learners}) {
    ids->erase(std::remove(ids->begin(), ids->end(), cc.node), ids->end());
  }
  std::vector<NodeId>* target = nullptr;
  if (cc.type == ConfChangeType::kAddVoter) target = &conf->voters;
  if (cc.type == ConfChangeType::kAddLearner) target = &conf->learners;
  if (target) {
    target->push_back(cc.node);
    std::sort(target->begin(), target->end());
  }
}

void put_ids(std::string* out, const std::vector<NodeId>& ids) {
  put_fixed64(out, ids.size());
  for (NodeId id : ids) put_fixed64(out, id);
}

bool get_ids(Reader* in, std::vector<NodeId>* ids) {
  uint64_t n = 0;
  if (!in->get_fixed64(&n) || n > RaftSim::kMaxNodes) return false;
  ids->resize(n);
  for (NodeId& id : *ids) {
    if (!in->get_fixed64(&id)) return false;
  }
  return true;
}

// Snapshot data: the configuration, then the first `count` applied entries.
std::string encode_image(const std::vector<Entry>& applied, size_t count, const ConfState& conf) {
  std::string out;
  put_ids(&out, conf.voters);
  put_ids(&out, conf.learners);
  put_fixed64(&out, count);
  for (size_t i = 0; i < count; ++i) {
    const Entry& e = applied[i];
    put_fixed64(&out, e.term);
    put_fixed64(&out, e.index);
    out.push_back(static_cast<char>(e.type));
    put_length_prefixed(&out, e.data);
  }
  return out;
}

bool decode_image(std::string_view data, std::vector<Entry>* applied, ConfState* conf) {
  Reader in(data);
  uint64_t count = 0;
  if (!get_ids(&in, &conf->voters) || !get_ids(&in, &conf->learners) || !in.get_fixed64(&count)) {
    return false;
  }
  applied->clear();
  for (uint64_t i = 0; i < count; ++i) {
    Entry e;
    uint8_t type = 0;
    std::string_view bytes;
    if (!in.get_fixed64(&e.term) || !in.get_fixed64(&e.index) || !in.get_u8(&type) ||
        !in.get_length_prefixed(&bytes, kMaxProposalBytes * 2)) {
      return false;
    }
    e.type = static_cast<EntryType>(type);
    e.data = std::string(bytes);
    applied->push_back(std::move(e));
  }
  return in.remaining() == 0;
}

}  // namespace

RaftSim::RaftSim(uint64_t seed, int node_count)
    : RaftSim(seed, [node_count] {
        ClusterSpec spec;
        spec.max_nodes = node_count;
        spec.voters.clear();
        for (int i = 1; i <= node_count; ++i) spec.voters.push_back(static_cast<NodeId>(i));
        return spec;
      }()) {}

RaftSim::RaftSim(uint64_t seed, const ClusterSpec& spec)
    : rng_(seed), spec_(spec), nodes_(static_cast<size_t>(spec.max_nodes)) {
  for (int i = 1; i <= spec.max_nodes; ++i) ids_.push_back(static_cast<NodeId>(i));
  std::sort(spec_.voters.begin(), spec_.voters.end());
  std::sort(spec_.learners.begin(), spec_.learners.end());
  std::vector<NodeId> members = spec_.voters;
  members.insert(members.end(), spec_.learners.begin(), spec_.learners.end());
  if (spec_.bootstrap_snapshot) {
    // What the node driver does for a new cluster: every initial member persists the same
    // snapshot at index 1 holding the configuration, before Raft::create.
    committed_.emplace(1, kBootstrapEntry);
    const ConfState conf{spec_.voters, spec_.learners};
    Snapshot boot;
    boot.metadata = SnapshotMetadata{1, 1, conf};
    boot.data = encode_image({kBootstrapEntry}, 1, conf);
    for (NodeId id : members) node(id).disk.apply_snapshot(boot);
  }
  for (NodeId id : members) {
    node(id).started = true;
    restart(id);
  }
}

Config RaftSim::config_for(NodeId id) {
  Config c;
  c.id = id;
  if (!node(id).joining) {
    c.voters = spec_.voters;
    c.learners = spec_.learners;
  }
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
  // What was in flight to it dies with its connections; what it already sent may still arrive.
  network_.erase(std::remove_if(network_.begin(), network_.end(),
                                [id](const InFlight& f) { return f.message.to == id; }),
                 network_.end());
  n.applied.clear();  // the state machine is rebuilt from the snapshot and log after restart
  n.checked_commit = 0;
  n.checked_applied = 0;
}

void RaftSim::restart(NodeId id) {
  Node& n = node(id);
  if (n.raft || !n.started) return;
  auto created = Raft::create(config_for(id), n.disk);
  if (!created.ok()) return fail("restart failed: " + created.status().to_string());
  n.raft.emplace(std::move(created).value());
  ++counters_.restarts;
  reset_state_machine(id);
  if (!n.disk.snapshot().empty()) restore_state_machine(id, n.disk.snapshot());
  check_node(id);
}

void RaftSim::start_joining(NodeId id) {
  Node& n = node(id);
  if (n.started) return;
  n.started = true;
  // A cluster bootstrapped from a snapshot admits nodes that know nothing; one bootstrapped from
  // Config must tell newcomers the initial configuration too (see raft.h, "joining node").
  n.joining = spec_.bootstrap_snapshot;
  restart(id);
}

void RaftSim::reset_state_machine(NodeId id) {
  Node& n = node(id);
  n.applied.clear();
  n.conf = n.joining ? ConfState{} : ConfState{spec_.voters, spec_.learners};
  n.conf_history = {{0, n.conf}};
  n.checked_applied = 0;
}

void RaftSim::restore_state_machine(NodeId id, const Snapshot& snap) {
  Node& n = node(id);
  std::vector<Entry> image;
  ConfState conf;
  if (!decode_image(snap.data, &image, &conf)) return fail("undecodable snapshot data");
  if (image.size() != snap.metadata.index) {
    return fail("snapshot at index " + std::to_string(snap.metadata.index) + " holds " +
                std::to_string(image.size()) + " entries");
  }
  if (!(conf == snap.metadata.conf)) {
    return fail("snapshot metadata conf differs from the application's conf at its index");
  }
  n.applied = std::move(image);
  n.conf = conf;
  n.conf_history = {{snap.metadata.index, conf}};
  n.checked_applied = 0;  // check_node re-verifies the restored prefix against the committed one
}

void RaftSim::apply_entry(NodeId id, Entry e) {
  Node& n = node(id);
  if (e.index != n.applied.size() + 1) {
    return fail("node " + std::to_string(id) + " applied index " + std::to_string(e.index) +
                " out of order");
  }
  if (e.type == EntryType::kConfChange) {
    ConfChange cc;
    if (!decode_conf_change(e.data, &cc)) return fail("applied an undecodable conf change");
    apply_to(&n.conf, cc);
    n.conf_history[e.index] = n.conf;
    ++counters_.conf_changes_applied;
  }
  n.applied.push_back(std::move(e));
}

Status RaftSim::propose_conf_change(const ConfChange& cc) {
  const auto leader = live_leader();
  if (!leader) return Status::Unavailable("no leader");
  Status st = node(*leader).raft->propose_conf_change(cc);
  drain_ready(*leader);
  return st;
}

bool RaftSim::compact(NodeId id, uint64_t lag) {
  Node& n = node(id);
  if (!n.raft || n.applied.size() < lag) return false;
  const uint64_t index = n.applied.size() - lag;
  if (index <= n.raft->log().snapshot_index()) return false;
  const ConfState conf = std::prev(n.conf_history.upper_bound(index))->second;
  auto snap = n.raft->compact(index, encode_image(n.applied, index, conf));
  if (!snap.ok()) {
    fail("compact(" + std::to_string(index) + ") failed: " + snap.status().to_string());
    return false;
  }
  if (!(snap->metadata.conf == conf)) fail("compact: snapshot conf is not the conf at its index");
  n.disk.apply_snapshot(*snap);
  ++counters_.compactions;
  check_node(id);
  return true;
}

bool RaftSim::link_up(NodeId from, NodeId to) const {
  return cut_.count({from, to}) == 0;
}

void RaftSim::enqueue(Message m) {
  // Nothing listens at a crashed or never-started node: the send fails.
  if (m.to < 1 || m.to > ids_.size() || !alive(m.to)) return;
  if (!link_up(m.from, m.to) || chance(faults_.drop_probability)) return;
  const int copies = chance(faults_.duplicate_probability) ? 2 : 1;
  std::uniform_int_distribution<int> delay(1, std::max(1, faults_.max_delay_ticks));
  for (int i = 0; i < copies; ++i) {
    network_.push_back(InFlight{now_ticks_ + delay(rng_), sequence_++, m});
  }
}

// The Ready contract: persist (snapshot, hard state, entries), then send, then apply.
void RaftSim::drain_ready(NodeId id) {
  Node& n = node(id);
  while (n.raft && n.raft->has_ready() && violation_.empty()) {
    Ready rd = n.raft->take_ready();
    if (rd.snapshot) n.disk.apply_snapshot(*rd.snapshot);
    if (rd.hard_state) n.disk.set_hard_state(*rd.hard_state);
    if (!rd.entries.empty() && (rd.entries.front().index < n.disk.first_index() ||
                                rd.entries.front().index > n.disk.last_index() + 1)) {
      return fail("Ready entries from " + std::to_string(rd.entries.front().index) +
                  " do not continue storage " + std::to_string(n.disk.first_index()) + ".." +
                  std::to_string(n.disk.last_index()));
    }
    n.disk.append(rd.entries);
    for (Message& m : rd.messages) enqueue(std::move(m));
    if (rd.snapshot) {
      restore_state_machine(id, *rd.snapshot);
      ++counters_.snapshots_installed;
    }
    for (Entry& e : rd.committed_entries) apply_entry(id, std::move(e));
  }
  if (n.raft && violation_.empty() && !(n.raft->conf_state() == n.conf)) {
    return fail("node " + std::to_string(id) +
                ": Raft's committed conf differs from the one its application derived");
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
    if (to < 1 || to > ids_.size() || !alive(to) || !link_up(f.message.from, to)) continue;
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
    const auto leader = live_leader();
    if (!leader) return false;
    const ConfState& conf = raft(*leader).conf_state();
    for (NodeId id : ids_) {
      if (!alive(id) || (!has_id(conf.voters, id) && !has_id(conf.learners, id))) continue;
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

// A compaction point is a committed entry: its term must be the one committed there.
void RaftSim::check_snapshot_term(NodeId id) {
  const RaftLog& log = raft(id).log();
  if (log.snapshot_index() == 0) return;
  auto it = committed_.find(log.snapshot_index());
  if (it == committed_.end() || it->second.term != log.snapshot_term()) {
    fail("node " + std::to_string(id) + " holds a snapshot at index " +
         std::to_string(log.snapshot_index()) + " term " + std::to_string(log.snapshot_term()) +
         " that is not the committed entry there");
  }
}

// Cheap, incremental checks after every event on the node that handled it.
void RaftSim::check_node(NodeId id) {
  Node& n = node(id);
  if (!n.raft || !violation_.empty()) return;
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
  check_snapshot_term(id);
  // Entries a snapshot skipped over are not in this log; other nodes committed them first.
  for (uint64_t i = std::max(n.checked_commit, log.first_index()); i <= log.committed(); ++i) {
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
    if (e.index != n.checked_applied + 1 || it == committed_.end() || !(it->second == e)) {
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
    check_snapshot_term(id);
    const RaftLog& log = raft(id).log();
    for (uint64_t i = log.first_index(); i <= log.committed(); ++i) {
      auto it = committed_.find(i);
      if (it == committed_.end() || !(it->second == log.entry(i))) {
        return fail("committed prefix of node " + std::to_string(id) + " differs at index " +
                    std::to_string(i));
      }
    }
    for (const Entry& e : node(id).applied) {
      auto it = committed_.find(e.index);
      if (it == committed_.end() || !(it->second == e)) {
        return fail("applied entry differs from committed");
      }
    }
  }
  check_log_matching();
}

// Log Matching (§5.3), checked inductively: if every pair of logs holding the same (index, term)
// holds the same entry and the same term at index-1, any two logs that agree at (index, term)
// agree on the whole prefix. Compacted prefixes are committed, so checked above.
void RaftSim::check_log_matching() {
  uint64_t max_last = 0;
  uint64_t min_first = UINT64_MAX;
  for (NodeId id : ids_) {
    if (!alive(id)) continue;
    max_last = std::max(max_last, raft(id).log().last_index());
    min_first = std::min(min_first, raft(id).log().first_index());
  }
  for (uint64_t i = min_first; i <= max_last; ++i) {
    std::map<uint64_t, std::pair<const Entry*, uint64_t>> by_term;  // term -> (entry, prev term)
    for (NodeId id : ids_) {
      if (!alive(id)) continue;
      const RaftLog& log = raft(id).log();
      if (i < log.first_index() || i > log.last_index()) continue;
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
  auto ids_text = [](const std::vector<NodeId>& ids) {
    std::string s;
    for (NodeId id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
    return "{" + s + "}";
  };
  std::ostringstream out;
  for (NodeId id : ids_) {
    const Node& n = node(id);
    out << "  n" << id << ": ";
    if (!n.started) {
      out << "never started\n";
      continue;
    }
    if (!alive(id)) {
      out << "crashed (persisted term " << n.disk.hard_state().term << ", snapshot "
          << n.disk.snapshot().metadata.index << ", " << n.disk.entries().size() << " entries)\n";
      continue;
    }
    const Raft& r = raft(id);
    out << role_name(r.role()) << " term " << r.term() << " leader " << r.leader() << " log "
        << r.log().first_index() << ".." << r.log().last_index() << "/" << r.log().last_term()
        << " commit " << r.log().committed() << " applied " << n.applied.size() << " conf v"
        << ids_text(r.conf_state().voters) << " l" << ids_text(r.conf_state().learners) << "\n";
  }
  return out.str();
}

}  // namespace chorus::raft::sim
