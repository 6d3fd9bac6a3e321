#include "swim_sim.h"

#include <algorithm>
#include <sstream>

namespace chorus::swim::sim {

SwimSim::SwimSim(uint64_t seed, int node_count, std::vector<int> seeds)
    : rng_(seed), nodes_(node_count) {
  for (int n = 1; n <= node_count; ++n) {
    const std::string host = "10.0." + std::to_string(n / 256) + "." + std::to_string(n % 256);
    node(n).member = Member{id_of(n), host + ":7000", host + ":8080"};
    by_address_[node(n).member.peer_address] = n;
    by_id_[id_of(n)] = n;
  }
  for (int s : seeds) seeds_.push_back(node(s).member.peer_address);
}

void SwimSim::isolate(int n) {
  for (int other = 1; other <= node_count(); ++other) {
    if (other == n) continue;
    cut_.insert({n, other});
    cut_.insert({other, n});
  }
}

void SwimSim::split(const std::set<int>& side) {
  for (int a = 1; a <= node_count(); ++a) {
    for (int b = 1; b <= node_count(); ++b) {
      if (side.count(a) != side.count(b)) cut_.insert({a, b});
    }
  }
}

void SwimSim::start(int n) {
  Node& nd = node(n);
  if (nd.swim) return;
  Config config;
  config.self = nd.member;
  config.seeds = seeds_;
  config.random_seed = rng_();  // every life draws fresh randomness from the one seeded RNG
  auto created = Swim::create(config);
  if (!created.ok()) return fail("start " + id_of(n) + ": " + created.status().to_string());
  nd.swim.emplace(std::move(created).value());
  nd.started_ms = now_ms_;
  nd.incarnation_seen.clear();
  nd.checked_version = UINT64_MAX;
}

void SwimSim::crash(int n) {
  node(n).swim.reset();
}

void SwimSim::start_all() {
  for (int n = 1; n <= node_count(); ++n) start(n);
}

void SwimSim::fail(const std::string& what) {
  if (violation_.empty()) {
    violation_ = "t=" + std::to_string(now_ms_) + "ms: " + what + "\n" + describe();
  }
}

// ---- network ----

void SwimSim::enqueue(int from, const Datagram& d) {
  if (d.bytes.size() > kMaxDatagramBytes) return fail(id_of(from) + " sent an oversized datagram");
  auto to = by_address_.find(d.to_address);
  if (to == by_address_.end()) return;  // nobody listens there
  if (!link_up(from, to->second) || chance(faults_.drop_probability)) return;
  const int copies = chance(faults_.duplicate_probability) ? 2 : 1;
  const uint64_t spread =
      faults_.max_delay_ms - std::min(faults_.max_delay_ms, faults_.min_delay_ms);
  for (int i = 0; i < copies; ++i) {
    const uint64_t delay = faults_.min_delay_ms + (spread ? rng_() % (spread + 1) : 0);
    network_.push(
        InFlight{now_ms_ + std::max<uint64_t>(1, delay), sequence_++, from, to->second, d.bytes});
  }
}

void SwimSim::drain(int n) {
  Node& nd = node(n);
  if (!nd.swim) return;
  for (const Datagram& d : nd.swim->take_outgoing()) enqueue(n, d);
  for (const Change& c : nd.swim->take_changes()) {
    auto subject = by_id_.find(c.member.id);
    if (subject == by_id_.end()) return fail(id_of(n) + " reports unknown member " + c.member.id);
    if (subject->second == n) return fail(id_of(n) + " reports a change about itself");
    if (c.new_state == State::kDead) {
      dead_declarations_.push_back(DeadDeclaration{now_ms_, n, subject->second});
    }
  }
  check_views(n);
}

void SwimSim::check_views(int n) {
  Node& nd = node(n);
  if (nd.swim->stats().datagrams_malformed != 0)
    return fail(id_of(n) + " got a malformed datagram");
  // The table changes only when version() moves; checking only then keeps big runs cheap.
  if (nd.swim->version() == nd.checked_version) return;
  nd.checked_version = nd.swim->version();
  for (const auto& [id, info] : nd.swim->members()) {
    uint64_t& seen = nd.incarnation_seen[id];
    if (info.incarnation < seen) {
      return fail(id_of(n) + "'s view of " + id + " went back from incarnation " +
                  std::to_string(seen) + " to " + std::to_string(info.incarnation));
    }
    seen = info.incarnation;
  }
}

void SwimSim::deliver_due() {
  while (!network_.empty() && network_.top().deliver_at_ms <= now_ms_ && violation_.empty()) {
    InFlight f = network_.top();
    network_.pop();
    // A partition that formed while the datagram was in flight also drops it.
    if (!running(f.to) || !link_up(f.from, f.to)) continue;
    node(f.to).swim->step(node(f.from).member.peer_address, f.bytes, now_ms_);
    ++delivered_;
    drain(f.to);
  }
}

void SwimSim::tick_all() {
  std::vector<int> order;
  for (int n = 1; n <= node_count(); ++n) {
    if (running(n)) order.push_back(n);
  }
  std::shuffle(order.begin(), order.end(), rng_);
  for (int n : order) {
    if (!violation_.empty()) return;
    node(n).swim->tick(now_ms_);
    drain(n);
  }
}

void SwimSim::run_ms(uint64_t ms) {
  const uint64_t end_ms = now_ms_ + ms;
  while (violation_.empty()) {
    const uint64_t next_delivery = network_.empty() ? UINT64_MAX : network_.top().deliver_at_ms;
    const uint64_t next = std::min(next_tick_ms_, next_delivery);
    if (next > end_ms) break;
    now_ms_ = std::max(now_ms_, next);
    deliver_due();
    if (now_ms_ >= next_tick_ms_) {
      tick_all();
      next_tick_ms_ = now_ms_ + kTickMs;
    }
  }
  if (violation_.empty()) now_ms_ = end_ms;
}

bool SwimSim::run_until_converged(uint64_t max_ms) {
  for (uint64_t waited = 0; waited <= max_ms && violation_.empty(); waited += kTickMs) {
    if (converged()) return true;
    run_ms(kTickMs);
  }
  return false;
}

bool SwimSim::run_until_dead_everywhere(int subject, uint64_t max_ms) {
  for (uint64_t waited = 0; waited <= max_ms && violation_.empty(); waited += kTickMs) {
    if (dead_everywhere(subject)) return true;
    run_ms(kTickMs);
  }
  return false;
}

// ---- observation ----

std::optional<State> SwimSim::view(int observer, int subject) const {
  if (!running(observer)) return std::nullopt;
  const MemberInfo* info = swim(observer).find(id_of(subject));
  if (info == nullptr) return std::nullopt;
  return info->state;
}

bool SwimSim::converged() const {
  for (int o = 1; o <= node_count(); ++o) {
    if (!running(o)) continue;
    for (int s = 1; s <= node_count(); ++s) {
      const std::optional<State> v = view(o, s);
      if (running(s) ? v != State::kAlive : (v && *v != State::kDead)) return false;
    }
  }
  return true;
}

bool SwimSim::dead_everywhere(int subject) const {
  for (int o = 1; o <= node_count(); ++o) {
    if (o != subject && running(o) && view(o, subject) != State::kDead) return false;
  }
  return true;
}

std::vector<DeadDeclaration> SwimSim::false_deaths_since(uint64_t since_ms) const {
  std::vector<DeadDeclaration> out;
  for (const DeadDeclaration& d : dead_declarations_) {
    if (d.time_ms >= since_ms && running(d.subject) && started_at_ms(d.subject) < since_ms) {
      out.push_back(d);
    }
  }
  return out;
}

uint64_t SwimSim::refutations() const {
  uint64_t total = 0;
  for (int n = 1; n <= node_count(); ++n) {
    if (running(n)) total += swim(n).stats().refutations;
  }
  return total;
}

uint64_t SwimSim::detection_bound_ms() const {
  const Config defaults;
  const uint64_t n = static_cast<uint64_t>(node_count());
  const uint64_t suspicion = suspicion_timeout_ms(
      n, defaults.probe_interval_ms, defaults.suspicion_mult, defaults.suspicion_min_timeout_ms);
  return (2 * n - 2) * defaults.probe_interval_ms + suspicion + 3 * kTickMs;
}

std::string SwimSim::describe() const {
  std::ostringstream out;
  for (int o = 1; o <= node_count(); ++o) {
    out << "  " << id_of(o);
    if (!running(o)) {
      out << " down\n";
      continue;
    }
    out << " inc=" << swim(o).self().incarnation << " sees";
    for (const auto& [id, info] : swim(o).members()) {
      if (id == id_of(o)) continue;
      out << " " << id << "=" << state_name(info.state)[0] << info.incarnation;
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace chorus::swim::sim
