#include "membership/cluster_membership.h"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "core/rpc_methods.h"

namespace chorus {

namespace asio = boost::asio;

namespace {
// kMetaRequest payload: one flag byte (1 = already relayed by a follower), then the command.
std::string request_payload(const MetaCommand& command, bool relayed) {
  return std::string(1, relayed ? '\1' : '\0') + encode_command(command);
}

MemberState to_member_state(swim::State state) {
  switch (state) {
    case swim::State::kAlive:
      return MemberState::kAlive;
    case swim::State::kSuspect:
      return MemberState::kSuspect;
    case swim::State::kDead:
      return MemberState::kDead;
  }
  return MemberState::kDead;
}
}  // namespace

const char* member_state_name(MemberState state) {
  switch (state) {
    case MemberState::kAlive:
      return "alive";
    case MemberState::kSuspect:
      return "suspect";
    case MemberState::kDead:
      return "dead";
  }
  return "?";
}

ClusterMembership::ClusterMembership(asio::io_context& io, Transport* transport, const Clock* clock,
                                     ClusterMembershipOptions options, MetricsRegistry* metrics)
    : io_(io),
      strand_(asio::make_strand(io)),
      timer_(io),
      transport_(transport),
      clock_(clock),
      options_(std::move(options)),
      metrics_(metrics),
      view_(std::make_shared<const ClusterView>()),
      epoch_gauge_(metrics->gauge("chorus_epoch", "Cluster epoch this node has applied")),
      members_gauge_(metrics->gauge("chorus_cluster_members", "Members in the cluster metadata")),
      partitions_moving_gauge_(metrics->gauge(
          "chorus_transition_partitions_pending",
          "Partitions not yet handed over in the membership transition in progress")),
      epochs_advanced_(metrics->counter("chorus_epochs_advanced_total",
                                        "AdvanceEpoch commands this node proposed as leader")),
      impersonations_refused_(security_refusal_counter(metrics, "peer_identity")),
      strangers_refused_(security_refusal_counter(metrics, "peer_not_member")) {}

ClusterMembership::~ClusterMembership() = default;

Status ClusterMembership::start() {
  RaftHostOptions raft_options = options_.raft;
  raft_options.raft_id = raft_id_of(options_.self.id);
  raft_options.self_peer_address = options_.self.peer_address;
  raft_options.dir = options_.data_dir + "/raft";
  RaftHost::Callbacks callbacks;
  callbacks.address_of = [this](uint64_t id) { return address_of_raft_id(id); };
  callbacks.apply = [this](const raft::Entry& e) { apply(e); };
  callbacks.restore = [this](const raft::Snapshot& s) { restore(s); };
  callbacks.capture = [this] { return metadata_.encode(); };
  raft_ = std::make_unique<RaftHost>(io_, strand_, transport_, raft_options, std::move(callbacks),
                                     metrics_);
  // Recovery runs before any handler can reach the strand, so no other work interleaves.
  CHORUS_RETURN_IF_ERROR(raft_->open());
  if (!raft_->fresh()) {
    spdlog::info("metadata log recovered: epoch {}, {} members", metadata_.epoch(),
                 metadata_.members().size());
  }

  GossipOptions gossip_options = options_.gossip;
  gossip_options.config.self = options_.self;
  gossip_options.config.seeds = options_.seeds;
  gossip_options.config.random_seed = raft_id_of(options_.self.id) ^ clock_->steady_ms();
  gossip_ = std::make_unique<Gossip>(io_, gossip_options, clock_, metrics_);
  gossip_->on_change([this](const swim::Change& change) {
    const MemberState before =
        change.old_state ? to_member_state(*change.old_state) : MemberState::kDead;
    const MemberState after = to_member_state(change.new_state);
    // Gossip just heard from it: end any reconnect backoff so requests reach it at once instead
    // of failing fast for up to the backoff maximum.
    if (after == MemberState::kAlive && before != MemberState::kAlive) {
      transport_->retry_now(change.member.peer_address);
    }
    asio::post(strand_, [this, id = change.member.id, before, after] {
      on_gossip_change(id, before, after);
    });
  });
  CHORUS_RETURN_IF_ERROR(gossip_->start());
  asio::post(strand_, [this] {
    publish();
    raft_->start();
    schedule_control();
  });
  return Status::OK();
}

void ClusterMembership::stop() {
  if (stopped_.exchange(true)) return;
  asio::post(strand_, [this] {
    timer_.cancel();
    if (raft_) raft_->stop();
    if (gossip_) gossip_->stop();
  });
}

std::shared_ptr<const ClusterView> ClusterMembership::view() const {
  return std::atomic_load(&view_);
}

void ClusterMembership::on_member_alive(std::function<void(const std::string&)> listener) {
  alive_listeners_.push_back(std::move(listener));
}

void ClusterMembership::on_departed(std::function<void()> listener) {
  departed_listener_ = std::move(listener);
}

void ClusterMembership::handle_rpc(const std::string& caller, uint16_t method, std::string payload,
                                   Responder respond) {
  switch (static_cast<RpcMethod>(method)) {
    case RpcMethod::kRaftMessage:
      return raft_->handle_message(
          std::move(payload), std::move(respond),
          caller.empty() ? std::nullopt : std::optional<uint64_t>(raft_id_of(caller)));
    case RpcMethod::kMetaRequest:
      return handle_request(caller, std::move(payload), std::move(respond));
    case RpcMethod::kClusterProbe:
      return asio::post(strand_, [this, respond = std::move(respond)] { handle_probe(respond); });
    default:
      respond(Status::InvalidArgument("not a membership method"), {});
  }
}

// ---- control loop -------------------------------------------------------------------------------

void ClusterMembership::schedule_control() {
  if (stopped_) return;
  timer_.expires_after(std::chrono::milliseconds(options_.control_interval_ms));
  timer_.async_wait(asio::bind_executor(strand_, [this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    control();
    schedule_control();
  }));
}

void ClusterMembership::control() {
  check_departure();
  const bool member = metadata_.find(options_.self.id) != nullptr;
  if (raft_->fresh() && metadata_.empty()) try_bootstrap();
  // A node that was a member and is no longer one has left: it must not ask to come back.
  if (!member && !departed_ && !was_member_) try_join();
  if (raft_->role() == raft::Role::kLeader) leader_duties();
  publish();  // Raft role, term and leader change without an applied entry
}

std::vector<Member> ClusterMembership::live_members() const {
  std::vector<Member> out;
  for (const swim::MemberInfo& m : *gossip_->members()) {
    if (m.state == swim::State::kAlive) out.push_back(m.member);
  }
  std::sort(out.begin(), out.end(), [](const Member& a, const Member& b) { return a.id < b.id; });
  return out;
}

void ClusterMembership::try_bootstrap() {
  if (probing_) return;
  std::vector<Member> live = live_members();
  if (live.size() < options_.bootstrap_expect || live.front().id != options_.self.id) return;
  const bool other_seeds =
      std::any_of(options_.seeds.begin(), options_.seeds.end(),
                  [this](const std::string& seed) { return seed != options_.self.peer_address; });
  if (live.size() == 1 && other_seeds) {
    // Seeds name other nodes: this node is meant to join them (or to meet them first), never to
    // start a cluster of its own before gossip found anyone.
    if (!warned_alone_) {
      spdlog::warn("no other node is reachable through --seeds yet; waiting to join or bootstrap");
      warned_alone_ = true;
    }
    return;
  }
  if (live.size() == 1) return bootstrap_with(std::move(live));
  // Ask every other live node whether it already belongs to a cluster or knows a smaller live id:
  // either means this node must not start a second cluster. The first bootstrap_expect ids found
  // alive form the new cluster; the others join it afterwards.
  std::vector<Member> founders(live.begin(),
                               live.begin() + static_cast<ptrdiff_t>(options_.bootstrap_expect));
  probing_ = true;
  auto answers = std::make_shared<size_t>(0);
  auto refused = std::make_shared<bool>(false);
  const size_t expected = live.size() - 1;
  for (size_t i = 1; i < live.size(); ++i) {
    transport_->call(
        live[i].peer_address, method_id(RpcMethod::kClusterProbe), {}, options_.request_timeout_ms,
        // The transport calls back on its own threads: hop onto this strand before touching
        // any state.
        [this, founders, answers, refused, expected](Result<std::string> reply) {
          asio::post(strand_,
                     [this, founders, answers, refused, expected, reply = std::move(reply)] {
                       bool ok = reply.ok();
                       if (ok) {
                         auto j = nlohmann::json::parse(*reply, nullptr, false);
                         ok = !j.is_discarded() && !j.value("member", true) &&
                              j.value("smallest_live", std::string()) >= options_.self.id;
                       }
                       if (!ok) *refused = true;
                       if (++*answers < expected) return;
                       probing_ = false;
                       if (!*refused && raft_->fresh() && metadata_.empty() && !stopped_) {
                         bootstrap_with(founders);
                       }
                     });
        });
  }
}

void ClusterMembership::handle_probe(Responder respond) {
  std::vector<Member> live = live_members();
  std::vector<std::string> members;
  for (const MemberInfo& m : metadata_.members()) members.push_back(m.member.id);
  nlohmann::json j = {{"member", !raft_->fresh() || !metadata_.empty()},
                      {"smallest_live", live.empty() ? options_.self.id : live.front().id},
                      {"epoch", metadata_.epoch()},
                      {"members", members}};
  respond(Status::OK(), j.dump());
}

void ClusterMembership::bootstrap_with(std::vector<Member> members) {
  auto initial = ClusterMetadata::create(members, options_.partitions, options_.replicas);
  if (!initial.ok()) {
    spdlog::error("cannot bootstrap the cluster: {}", initial.status().to_string());
    return;
  }
  raft::Snapshot snapshot;
  snapshot.metadata.index = 1;
  snapshot.metadata.term = 1;
  for (const MemberInfo& m : initial->members()) {
    auto& side = snapshot.metadata.conf.voters.size() < kVotersMax
                     ? snapshot.metadata.conf.voters
                     : snapshot.metadata.conf.learners;
    side.push_back(m.raft_id);
  }
  std::sort(snapshot.metadata.conf.voters.begin(), snapshot.metadata.conf.voters.end());
  std::sort(snapshot.metadata.conf.learners.begin(), snapshot.metadata.conf.learners.end());
  snapshot.data = initial->encode();
  if (Status st = raft_->bootstrap(snapshot); !st.ok()) {
    spdlog::error("cannot bootstrap the cluster: {}", st.to_string());
    return;
  }
  std::string ids;
  for (const Member& m : members) ids += (ids.empty() ? "" : ", ") + m.id;
  spdlog::info("bootstrapped a new cluster of {} members: {}", members.size(), ids);
  publish();
}

void ClusterMembership::try_join() {
  const uint64_t now = clock_->steady_ms();
  if (now < next_join_ms_) return;
  next_join_ms_ = now + options_.join_retry_ms;
  std::vector<std::string> targets;
  for (const Member& m : live_members()) {
    if (m.id != options_.self.id) targets.push_back(m.peer_address);
  }
  if (targets.empty()) return;
  const std::string& target = targets[now / options_.join_retry_ms % targets.size()];
  transport_->call(target, method_id(RpcMethod::kMetaRequest),
                   request_payload(MetaCommand::add_node(options_.self), false),
                   options_.request_timeout_ms, [target](Result<std::string> reply) {
                     if (!reply.ok()) {
                       spdlog::debug("join through {}: {}", target, reply.status().to_string());
                     }
                   });
}

void ClusterMembership::leader_duties() {
  const uint64_t now = clock_->steady_ms();
  if (next_epoch_ms_ == 0) next_epoch_ms_ = now + options_.epoch_interval_s * 1000;
  if (now >= next_epoch_ms_) {
    next_epoch_ms_ = now + options_.epoch_interval_s * 1000;
    if (propose_here(MetaCommand::advance_epoch()).ok()) epochs_advanced_->inc();
  }
  // A member whose handover is done is removed only after kRemovalDelayMs: once it is out of the
  // Raft configuration the leader stops sending it the commit index, so it must have had the time
  // to learn that its handover finished (it then leaves by itself).
  for (const std::string& id : metadata_.removable()) {
    auto [it, fresh] = removable_since_ms_by_id_.emplace(id, now);
    if (fresh || now - it->second < kRemovalDelayMs) continue;
    Status st = propose_here(MetaCommand::remove_node(id));
    if (!st.ok()) spdlog::debug("removing {}: {}", id, st.to_string());
    break;  // one conf change at a time
  }
  for (auto it = removable_since_ms_by_id_.begin(); it != removable_since_ms_by_id_.end();) {
    it = metadata_.find(it->first) == nullptr ? removable_since_ms_by_id_.erase(it) : std::next(it);
  }
  // Promote a live learner while there are fewer voters than we want.
  const raft::ConfState* conf = raft_->conf_state();
  if (conf == nullptr || conf->voters.size() >= kVotersMax) return;
  for (uint64_t learner : conf->learners) {
    const MemberInfo* m = metadata_.find_by_raft_id(learner);
    if (m == nullptr || m->status == MemberStatus::kLeaving) continue;
    auto it = gossip_states_.find(m->member.id);
    if (it == gossip_states_.end() || it->second != MemberState::kAlive) continue;
    raft::ConfChange cc{raft::ConfChangeType::kAddVoter, learner, {}};
    if (raft_->propose_conf_change(cc).ok()) {
      spdlog::info("promoting {} to a metadata log voter", m->member.id);
    }
    break;
  }
}

// ---- requests -----------------------------------------------------------------------------------

void ClusterMembership::submit(MetaCommand command, std::function<void(Status)> done) {
  asio::post(strand_, [this, command = std::move(command), done = std::move(done)]() mutable {
    route(std::move(command), false, std::move(done));
  });
}

void ClusterMembership::handle_request(const std::string& caller, std::string payload,
                                       Responder respond) {
  if (payload.empty()) return respond(Status::InvalidArgument("empty metadata request"), {});
  const bool relayed = payload[0] == '\1';
  auto command = decode_command(std::string_view(payload).substr(1));
  if (!command.ok()) return respond(Status::InvalidArgument(command.status().message()), {});
  asio::post(strand_, [this, c = std::move(command).value(), relayed, respond, caller]() mutable {
    if (Status st = check_request(caller, c, relayed); !st.ok()) return respond(st, {});
    route(std::move(c), relayed, [respond](Status st) { respond(st, {}); });
  });
}

Status ClusterMembership::check_request(const std::string& caller, const MetaCommand& c,
                                        bool relayed) const {
  if (caller.empty()) return Status::OK();  // no TLS: nobody is authenticated
  if (!relayed) {
    // Straight from a node, a request is that node asking to join, as itself.
    if (c.type == MetaCommand::Type::kAddNode && c.member.id == caller) return Status::OK();
    impersonations_refused_->inc();
    spdlog::warn("refused a metadata request from {}: {}", caller,
                 c.type == MetaCommand::Type::kAddNode ? "a join in the name of " + c.member.id
                                                       : std::string("not a join of its own"));
    return Status::PermissionDenied("a node may only ask to join as itself");
  }
  // Relayed: a member passes on a join, or an admin's change it authorised over HTTP.
  if (metadata_.find(caller) == nullptr) {
    strangers_refused_->inc();
    spdlog::warn("refused a relayed metadata request from {}, which is not a member", caller);
    return Status::PermissionDenied(caller + " is not a member and cannot relay requests");
  }
  if (c.type == MetaCommand::Type::kStreamDone && c.id != caller) {
    impersonations_refused_->inc();
    spdlog::warn("refused a stream-done for {} sent by {}", c.id, caller);
    return Status::PermissionDenied("a node may only report its own streams done");
  }
  return Status::OK();
}

Status ClusterMembership::admit_peer(const std::string& caller) const {
  if (caller.empty()) return Status::OK();
  const std::shared_ptr<const ClusterView> current = view();
  const ClusterMetadata* metadata = current ? current->metadata.get() : nullptr;
  if (metadata == nullptr || metadata->empty() || metadata->find(caller) != nullptr) {
    return Status::OK();
  }
  strangers_refused_->inc();
  return Status::PermissionDenied(caller + " is not a member of this cluster");
}

void ClusterMembership::route(MetaCommand command, bool relayed, std::function<void(Status)> done) {
  if (raft_->role() == raft::Role::kLeader) return done(propose_here(command));
  const std::string leader = leader_address();
  if (relayed || leader.empty()) {
    return done(Status::Unavailable("no metadata leader is known here; retry"));
  }
  transport_->call(leader, method_id(RpcMethod::kMetaRequest), request_payload(command, true),
                   options_.request_timeout_ms,
                   [done = std::move(done)](Result<std::string> r) { done(r.status()); });
}

Status ClusterMembership::propose_here(const MetaCommand& c) {
  const MemberInfo* m = metadata_.find(c.id);
  switch (c.type) {
    case MetaCommand::Type::kAddNode: {
      if (m != nullptr) return Status::OK();  // already in: the joiner just has not heard yet
      // The same checks apply() makes, before Raft commits a learner that the metadata would
      // then ignore.
      if (c.member.id.empty() || c.member.peer_address.empty()) {
        return Status::InvalidArgument("a joining member needs an id and a peer address");
      }
      if (metadata_.members().size() >= kRingMembersMax) {
        return Status::InvalidArgument("the cluster has the most members a ring can hold");
      }
      if (metadata_.find_by_raft_id(raft_id_of(c.member.id)) != nullptr) {
        return Status::InvalidArgument(c.member.id + " collides with a member's raft id");
      }
      // A learner first: it catches up without weakening the quorum, then leader_duties promotes.
      raft::ConfChange cc{raft::ConfChangeType::kAddLearner, raft_id_of(c.member.id),
                          encode_command(c)};
      return raft_->propose_conf_change(cc);
    }
    case MetaCommand::Type::kDecommission:
      if (m == nullptr) return Status::NotFound(c.id + " is not a member");
      if (m->status == MemberStatus::kLeaving) return Status::OK();
      return raft_->propose(encode_command(c));
    case MetaCommand::Type::kRemoveNode: {
      if (m == nullptr) return Status::NotFound(c.id + " is not a member");
      const raft::ConfState* conf = raft_->conf_state();
      const bool in_raft =
          conf != nullptr &&
          (std::count(conf->voters.begin(), conf->voters.end(), m->raft_id) != 0 ||
           std::count(conf->learners.begin(), conf->learners.end(), m->raft_id) != 0);
      if (!in_raft) return raft_->propose(encode_command(c));
      raft::ConfChange cc{raft::ConfChangeType::kRemoveNode, m->raft_id, encode_command(c)};
      return raft_->propose_conf_change(cc);
    }
    case MetaCommand::Type::kStreamDone:
    case MetaCommand::Type::kAdvanceEpoch:
      return raft_->propose(encode_command(c));
  }
  return Status::InvalidArgument("unknown metadata command");
}

// ---- applying the log ---------------------------------------------------------------------------

void ClusterMembership::apply(const raft::Entry& entry) {
  if (entry.data.empty()) return;  // a new leader's no-op
  std::string_view command_bytes = entry.data;
  raft::ConfChange cc;
  if (entry.type == raft::EntryType::kConfChange) {
    if (!raft::decode_conf_change(entry.data, &cc)) {
      spdlog::critical("metadata log entry {}: undecodable conf change", entry.index);
      return;
    }
    if (cc.context.empty()) return;  // a promotion: Raft-only
    command_bytes = cc.context;
  }
  auto command = decode_command(command_bytes);
  if (!command.ok()) {
    spdlog::critical("metadata log entry {}: {}", entry.index, command.status().to_string());
    return;
  }
  apply_command(*command);
}

void ClusterMembership::apply_command(const MetaCommand& command) {
  const auto applied = metadata_.apply(command);
  // Stream reports come by the hundred per transition; only the transitions' ends are news.
  const bool routine = command.type == MetaCommand::Type::kAdvanceEpoch ||
                       (command.type == MetaCommand::Type::kStreamDone &&
                        applied.what.find("finished") == std::string::npos);
  if (applied.changed && !routine) {
    spdlog::info("metadata epoch {}: {}", metadata_.epoch(), applied.what);
  } else if (applied.changed) {
    spdlog::debug("metadata epoch {}: {}", metadata_.epoch(), applied.what);
  } else {
    spdlog::debug("metadata command ignored: {}", applied.what);
  }
  if (applied.changed) {
    ++metadata_version_;
    publish();
  }
}

void ClusterMembership::restore(const raft::Snapshot& snapshot) {
  auto restored = ClusterMetadata::decode(snapshot.data);
  if (!restored.ok()) {
    spdlog::critical("metadata snapshot at {}: {}", snapshot.metadata.index,
                     restored.status().to_string());
    return;
  }
  metadata_ = std::move(restored).value();
  ++metadata_version_;
  publish();
}

// ---- views --------------------------------------------------------------------------------------

void ClusterMembership::on_gossip_change(const std::string& id, MemberState before,
                                         MemberState after) {
  gossip_states_[id] = after;
  if (after == MemberState::kAlive && before != MemberState::kAlive) {
    for (auto& listener : alive_listeners_) listener(id);
  }
  publish();
}

void ClusterMembership::publish() {
  if (published_version_ != metadata_version_ || published_metadata_ == nullptr) {
    published_version_ = metadata_version_;
    published_metadata_ = std::make_shared<const ClusterMetadata>(metadata_);
    auto ring = metadata_.build_ring();
    if (ring.ok()) {
      ring_ = *ring;
    } else {
      spdlog::error("cannot build the ring for epoch {}: {}", metadata_.epoch(),
                    ring.status().to_string());
    }
  }
  auto view = std::make_shared<ClusterView>();
  view->ring = ring_;
  view->metadata = published_metadata_;
  if (ring_) {
    for (const Member& m : ring_->members()) {
      auto it = gossip_states_.find(m.id);
      // Not heard of by gossip yet (just restarted): presumed up, so requests still reach it and
      // a failed one leaves a hint.
      view->states.push_back(m.id == options_.self.id || it == gossip_states_.end()
                                 ? MemberState::kAlive
                                 : it->second);
    }
  }
  view->raft.role = raft_->fresh() && metadata_.empty() ? "none" : raft::role_name(raft_->role());
  view->raft.term = raft_->term();
  const MemberInfo* leader = metadata_.find_by_raft_id(raft_->leader());
  view->raft.leader = leader ? leader->member.id : std::string();
  view->raft.commit_index = raft_->commit_index();
  view->raft.applied_index = raft_->applied_index();
  std::atomic_store(&view_, std::shared_ptr<const ClusterView>(std::move(view)));
  epoch_gauge_->set(static_cast<int64_t>(metadata_.epoch()));
  members_gauge_->set(static_cast<int64_t>(metadata_.members().size()));
  partitions_moving_gauge_->set(static_cast<int64_t>(metadata_.partitions_pending()));
}

void ClusterMembership::check_departure() {
  const MemberInfo* self = metadata_.find(options_.self.id);
  if (self != nullptr) was_member_ = true;
  if (departed_ || !was_member_) return;
  if (self == nullptr) return depart();
  const auto removable = metadata_.removable();
  if (std::find(removable.begin(), removable.end(), options_.self.id) == removable.end()) return;
  // Handover done. Leaving before the removal commits could take a voter away while the
  // configuration still counts it; and once removed, the leader no longer tells us so. Ask the
  // others: one whose metadata is at least as new as ours and no longer lists us has applied it.
  const uint64_t epoch = metadata_.epoch();
  for (const Member& m : live_members()) {
    if (m.id == options_.self.id) continue;
    transport_->call(
        m.peer_address, method_id(RpcMethod::kClusterProbe), {}, options_.request_timeout_ms,
        [this, epoch](Result<std::string> reply) {
          if (!reply.ok()) return;
          auto j = nlohmann::json::parse(*reply, nullptr, false);
          if (j.is_discarded() || j.value("epoch", uint64_t{0}) < epoch) return;
          const auto members = j.value("members", std::vector<std::string>());
          if (std::find(members.begin(), members.end(), options_.self.id) != members.end()) {
            return;
          }
          asio::post(strand_, [this] { depart(); });
        });
  }
}

void ClusterMembership::depart() {
  if (departed_) return;
  departed_ = true;
  spdlog::info("{} has left the cluster", options_.self.id);
  if (departed_listener_) departed_listener_();
}

std::string ClusterMembership::address_of_raft_id(uint64_t raft_id) const {
  const MemberInfo* m = metadata_.find_by_raft_id(raft_id);
  return m ? m->member.peer_address : std::string();
}

std::string ClusterMembership::leader_address() const {
  return address_of_raft_id(raft_->leader());
}

}  // namespace chorus
