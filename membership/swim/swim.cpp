#include "membership/swim/swim.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/assert.h"

namespace chorus::swim {
namespace {

Status validate(const Config& c) {
  if (!valid_member(c.self)) {
    return Status::InvalidArgument("swim: self needs an id of 1.." + std::to_string(kMaxIdBytes) +
                                   " bytes and addresses of at most " +
                                   std::to_string(kMaxAddressBytes));
  }
  if (c.seeds.size() > kMaxSeeds) return Status::InvalidArgument("swim: too many seeds");
  for (const std::string& seed : c.seeds) {
    if (seed.empty() || seed.size() > kMaxAddressBytes) {
      return Status::InvalidArgument("swim: bad seed address '" + seed + "'");
    }
  }
  if (c.probe_interval_ms == 0 || c.probe_timeout_ms == 0 ||
      c.probe_timeout_ms >= c.probe_interval_ms) {
    return Status::InvalidArgument("swim: need 0 < probe_timeout_ms < probe_interval_ms");
  }
  if (c.indirect_probes < 0 || c.indirect_probes > kMaxIndirectProbes) {
    return Status::InvalidArgument("swim: indirect_probes out of range");
  }
  if (!(c.suspicion_mult > 0) || !std::isfinite(c.suspicion_mult) || c.retransmit_mult < 1) {
    return Status::InvalidArgument("swim: suspicion_mult and retransmit_mult must be positive");
  }
  if (c.join_interval_ms == 0 || c.dead_probe_interval_ms == 0 || c.sync_interval_ms == 0) {
    return Status::InvalidArgument("swim: join, dead-probe and sync intervals must be positive");
  }
  return Status::OK();
}

}  // namespace

Result<Swim> Swim::create(Config config) {
  CHORUS_RETURN_IF_ERROR(validate(config));
  return Swim(std::move(config));
}

Swim::Swim(Config config)
    : config_(std::move(config)), rng_(config_.random_seed), table_(config_.self, 0) {}

uint64_t Swim::advance(uint64_t now_ms) {
  now_ms_ = std::max(now_ms_, now_ms);
  return now_ms_;
}

bool Swim::joined() const {
  return live_members() > 1;
}

size_t Swim::live_members() const {
  if (live_count_version_ != table_.version()) {
    live_count_ = table_.size() - table_.count(State::kDead);
    live_count_version_ = table_.version();
  }
  return live_count_;
}

uint64_t Swim::suspicion_timeout_ms() const {
  return swim::suspicion_timeout_ms(live_members(), config_.probe_interval_ms,
                                    config_.suspicion_mult, config_.suspicion_min_timeout_ms);
}

int Swim::transmit_limit() const {
  const double scale = std::ceil(std::log10(static_cast<double>(live_members()) + 1.0));
  return config_.retransmit_mult * std::max(1, static_cast<int>(scale));
}

std::vector<Datagram> Swim::take_outgoing() {
  std::vector<Datagram> out;
  out.swap(outbox_);
  return out;
}

// ---- input ----

void Swim::step(const std::string& from_address, std::string_view datagram, uint64_t now_ms) {
  now_ms = advance(now_ms);
  ++stats_.datagrams_received;
  Result<Message> decoded = decode(datagram);
  if (!decoded.ok()) {
    ++stats_.datagrams_malformed;
    return;
  }
  const Message& m = decoded.value();
  // Our own id from elsewhere is a misconfiguration (two nodes, one id) or our own join looping
  // back through a seed alias; applying it would make us refute ourselves forever.
  if (m.sender.id == table_.self_id()) {
    ++stats_.datagrams_misaddressed;
    return;
  }
  // Absorb everything before answering, so a reply already carries our refutation.
  absorb(Update{State::kAlive, m.sender, m.sender_incarnation}, now_ms);
  for (const Update& u : m.updates) absorb(u, now_ms);
  switch (m.type) {
    case MessageType::kPing:
      return handle_ping(from_address, m);
    case MessageType::kPingReq:
      return handle_ping_req(from_address, m, now_ms);
    case MessageType::kAck:
      return handle_ack(m);
    case MessageType::kJoin:
      return send_sync(from_address);
    case MessageType::kSync:
      return;  // its updates were the whole point
  }
}

void Swim::absorb(const Update& claim, uint64_t now_ms) {
  const bool known = table_.find(claim.member.id) != nullptr;
  switch (table_.apply(claim, now_ms)) {
    case MemberTable::Outcome::kIgnored:
      return;
    case MemberTable::Outcome::kRejected:
      ++stats_.members_rejected;
      return;
    case MemberTable::Outcome::kRefuted: {
      ++stats_.refutations;
      const MemberInfo& me = table_.self();
      queue_.push(Update{State::kAlive, me.member, me.incarnation});
      return;
    }
    case MemberTable::Outcome::kApplied:
      break;
  }
  const MemberInfo& info = *table_.find(claim.member.id);
  // Re-gossip what the table now holds (it may differ from the claim, e.g. kept addresses).
  queue_.push(Update{info.state, info.member, info.incarnation});
  if (info.state == State::kSuspect) {
    suspicions_.start(info.member.id, now_ms + suspicion_timeout_ms());
  } else {
    suspicions_.cancel(info.member.id);
  }
  if (!known) {
    // A new member joins the current pass at a random place still ahead of us, so it is probed
    // within this pass and no member already ahead moves back by more than one slot.
    const size_t ahead = probe_order_.size() - probe_index_;
    probe_order_.insert(
        probe_order_.begin() + static_cast<std::ptrdiff_t>(probe_index_ + random_below(ahead + 1)),
        info.member.id);
  }
}

void Swim::handle_ping(const std::string& from, const Message& m) {
  if (!m.target_id.empty() && m.target_id != table_.self_id()) {
    // Meant for a node that used to live at this address; its prober must not count us as it.
    ++stats_.datagrams_misaddressed;
    return;
  }
  send(from, make(MessageType::kAck, m.seq), m.sender.id);
}

void Swim::handle_ping_req(const std::string& from, const Message& m, uint64_t now_ms) {
  if (m.target_id == table_.self_id()) {
    send(from, make(MessageType::kAck, m.seq), m.sender.id);
    return;
  }
  if (relays_.size() >= kMaxPendingRelays) {
    ++stats_.relays_dropped;
    return;
  }
  const uint64_t seq = next_seq_++;
  // The requester gives up at the end of its probe interval; our relay cannot be useful longer.
  relays_[seq] = Relay{from, m.sender.id, m.seq, now_ms + config_.probe_interval_ms};
  Message ping = make(MessageType::kPing, seq);
  ping.target_id = m.target_id;
  send(m.target_address, std::move(ping), m.target_id);
}

void Swim::handle_ack(const Message& m) {
  if (probe_ && probe_->seq == m.seq) {
    probe_.reset();  // direct or relayed: the target is up
    return;
  }
  auto relay = relays_.find(m.seq);
  if (relay == relays_.end()) return;  // late ack of a finished probe, or a dead-member ping
  const Relay r = relay->second;
  relays_.erase(relay);
  send(r.requester_address, make(MessageType::kAck, r.requester_seq), r.requester_id);
}

void Swim::send_sync(const std::string& to) {
  // The table includes the recipient's own entry, so a rejoining node learns how we saw it.
  Message chunk = make(MessageType::kSync, 0);
  const size_t header_bytes = encoded_header_size(chunk);
  size_t bytes = header_bytes;
  size_t sent = 0;
  for (const auto& [id, info] : table_.all()) {
    Update u{info.state, info.member, info.incarnation};
    const size_t u_bytes = encoded_size(u);
    if (bytes + u_bytes > kMaxDatagramBytes || chunk.updates.size() == kMaxUpdatesPerDatagram) {
      push_datagram(to, encode(chunk));
      chunk.updates.clear();
      bytes = header_bytes;
      if (++sent == kMaxSyncDatagrams) return;  // the rest comes through gossip and probes
    }
    chunk.updates.push_back(std::move(u));
    bytes += u_bytes;
  }
  if (!chunk.updates.empty()) push_datagram(to, encode(chunk));
}

// ---- time ----

void Swim::tick(uint64_t now_ms) {
  now_ms = advance(now_ms);
  if (!started_) {
    started_ = true;
    // A random phase keeps nodes started together from probing in lockstep.
    next_probe_ms_ = now_ms + random_below(config_.probe_interval_ms);
    next_join_ms_ = now_ms;
    next_dead_probe_ms_ = now_ms + config_.dead_probe_interval_ms;
    next_sync_ms_ = now_ms + config_.sync_interval_ms / 2 + random_below(config_.sync_interval_ms);
  }
  expire_suspicions(now_ms);
  expire_relays(now_ms);
  check_probe(now_ms);
  if (now_ms >= next_probe_ms_) {
    start_probe(now_ms);
    // Keep the schedule (no drift from tick granularity) but never burst to catch up.
    next_probe_ms_ += config_.probe_interval_ms;
    if (next_probe_ms_ <= now_ms) next_probe_ms_ = now_ms + config_.probe_interval_ms;
  }
  maybe_join(now_ms);
  maybe_probe_dead(now_ms);
  maybe_push_pull(now_ms);
}

void Swim::expire_suspicions(uint64_t now_ms) {
  for (const std::string& id : suspicions_.take_expired(now_ms)) {
    const MemberInfo* info = table_.find(id);
    if (info == nullptr || info->state != State::kSuspect) continue;
    ++stats_.deaths_declared;
    absorb(Update{State::kDead, info->member, info->incarnation}, now_ms);
  }
}

void Swim::expire_relays(uint64_t now_ms) {
  for (auto it = relays_.begin(); it != relays_.end();) {
    it = it->second.expires_ms <= now_ms ? relays_.erase(it) : std::next(it);
  }
}

void Swim::check_probe(uint64_t now_ms) {
  if (!probe_) return;
  if (now_ms >= probe_->sent_ms + config_.probe_interval_ms) return fail_probe(now_ms);
  if (!probe_->indirect_sent && now_ms >= probe_->sent_ms + config_.probe_timeout_ms) {
    send_ping_reqs();
  }
}

void Swim::start_probe(uint64_t now_ms) {
  if (probe_) fail_probe(now_ms);  // its interval is over
  const std::optional<std::string> target = next_probe_target();
  if (!target) return;
  const MemberInfo& info = *table_.find(*target);
  const uint64_t seq = next_seq_++;
  Message ping = make(MessageType::kPing, seq);
  ping.target_id = *target;
  send(info.member.peer_address, std::move(ping), *target);
  probe_ = Probe{*target, seq, now_ms, false};
  ++stats_.probes;
}

void Swim::fail_probe(uint64_t now_ms) {
  const std::string target = probe_->target_id;
  probe_.reset();
  ++stats_.probes_failed;
  const MemberInfo* info = table_.find(target);
  if (info == nullptr || info->state != State::kAlive) return;  // already suspected or dead
  ++stats_.suspicions;
  absorb(Update{State::kSuspect, info->member, info->incarnation}, now_ms);
}

void Swim::send_ping_reqs() {
  probe_->indirect_sent = true;
  const MemberInfo* target = table_.find(probe_->target_id);
  if (target == nullptr) return;
  std::vector<const MemberInfo*> helpers;
  for (const auto& [id, info] : table_.all()) {
    if (id != table_.self_id() && id != probe_->target_id && info.state == State::kAlive) {
      helpers.push_back(&info);
    }
  }
  const size_t count = std::min(helpers.size(), static_cast<size_t>(config_.indirect_probes));
  for (size_t i = 0; i < count; ++i) {
    // Partial Fisher-Yates: the first `count` slots end up a uniform random choice.
    std::swap(helpers[i], helpers[i + random_below(helpers.size() - i)]);
    Message req = make(MessageType::kPingReq, probe_->seq);
    req.target_id = target->member.id;
    req.target_address = target->member.peer_address;
    send(helpers[i]->member.peer_address, std::move(req), helpers[i]->member.id);
    ++stats_.ping_reqs_sent;
  }
}

std::optional<std::string> Swim::next_probe_target() {
  for (int pass = 0; pass < 2; ++pass) {
    while (probe_index_ < probe_order_.size()) {
      const std::string& id = probe_order_[probe_index_++];
      const MemberInfo* info = table_.find(id);
      if (info != nullptr && id != table_.self_id() && info->state != State::kDead) return id;
    }
    // End of a pass: start a new one over a fresh shuffle of everyone worth probing.
    probe_order_.clear();
    probe_index_ = 0;
    for (const auto& [id, info] : table_.all()) {
      if (id != table_.self_id() && info.state != State::kDead) probe_order_.push_back(id);
    }
    std::shuffle(probe_order_.begin(), probe_order_.end(), rng_);
  }
  return std::nullopt;
}

void Swim::maybe_join(uint64_t now_ms) {
  if (joined() || now_ms < next_join_ms_) return;
  next_join_ms_ = now_ms + config_.join_interval_ms;
  for (const std::string& seed : config_.seeds) {
    if (seed == config_.self.peer_address) continue;
    send(seed, make(MessageType::kJoin, 0), std::string());
    ++stats_.joins_sent;
  }
}

void Swim::maybe_probe_dead(uint64_t now_ms) {
  if (now_ms < next_dead_probe_ms_) return;
  next_dead_probe_ms_ = now_ms + config_.dead_probe_interval_ms;
  const size_t dead = table_.count(State::kDead);
  if (dead == 0) return;
  uint64_t pick = random_below(dead);
  for (const auto& [id, info] : table_.all()) {
    if (info.state != State::kDead || pick-- != 0) continue;
    // Untracked: the ack's sender record (after refuting our claim) is what revives it.
    Message ping = make(MessageType::kPing, next_seq_++);
    ping.target_id = id;
    send(info.member.peer_address, std::move(ping), id);
    return;
  }
}

void Swim::maybe_push_pull(uint64_t now_ms) {
  if (now_ms < next_sync_ms_) return;
  next_sync_ms_ = now_ms + config_.sync_interval_ms;
  std::vector<const MemberInfo*> live;
  for (const auto& [id, info] : table_.all()) {
    if (id != table_.self_id() && info.state == State::kAlive) live.push_back(&info);
  }
  if (live.empty()) return;
  const MemberInfo& peer = *live[random_below(live.size())];
  send_sync(peer.member.peer_address);
  send(peer.member.peer_address, make(MessageType::kJoin, 0), peer.member.id);
  ++stats_.push_pulls;
}

// ---- output ----

Message Swim::make(MessageType type, uint64_t seq) const {
  Message m;
  m.type = type;
  m.seq = seq;
  m.sender = table_.self().member;
  m.sender_incarnation = table_.self().incarnation;
  return m;
}

void Swim::send(const std::string& to, Message m, const std::string& recipient_id) {
  size_t budget = kMaxDatagramBytes - encoded_header_size(m);
  const MemberInfo* recipient = recipient_id.empty() ? nullptr : table_.find(recipient_id);
  if (recipient != nullptr && recipient->state != State::kAlive) {
    // Tell it what we believe, so it can refute (limits.h guarantees this fits).
    Update claim{recipient->state, recipient->member, recipient->incarnation};
    budget -= encoded_size(claim);
    m.updates.push_back(std::move(claim));
  }
  for (Update& u :
       queue_.take(budget, kMaxUpdatesPerDatagram - m.updates.size(), transmit_limit())) {
    m.updates.push_back(std::move(u));
  }
  push_datagram(to, encode(m));
}

void Swim::push_datagram(const std::string& to, std::string bytes) {
  CHORUS_ASSERT(bytes.size() <= kMaxDatagramBytes, "swim built an oversized datagram");
  if (outbox_.size() >= kMaxOutgoingDatagrams) {
    ++stats_.datagrams_dropped;
    return;
  }
  outbox_.push_back(Datagram{to, std::move(bytes)});
  ++stats_.datagrams_sent;
}

}  // namespace chorus::swim
