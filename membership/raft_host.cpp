#include "membership/raft_host.h"

#include <spdlog/spdlog.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>

#include "core/coding.h"
#include "core/rpc_methods.h"
#include "membership/raft/codec.h"
#include "membership/raft/wal.h"

namespace chorus {

namespace asio = boost::asio;

namespace {
constexpr size_t kAddressBytesMax = 512;

// Envelope: the sender's peer address, then the encoded message. The address lets a node that has
// no metadata yet (a joiner being caught up) answer its leader.
std::string envelope(const std::string& from_address, const std::string& message) {
  std::string out;
  put_length_prefixed(&out, from_address);
  out.append(message);
  return out;
}
}  // namespace

RaftHost::RaftHost(asio::io_context& io, Strand strand, Transport* transport,
                   RaftHostOptions options, Callbacks callbacks, MetricsRegistry* metrics)
    : io_(io),
      strand_(std::move(strand)),
      timer_(io),
      transport_(transport),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      term_gauge_(metrics->gauge("chorus_raft_term", "Current Raft term of this node")),
      commit_gauge_(metrics->gauge("chorus_raft_commit_index", "Highest committed log index")),
      leader_gauge_(metrics->gauge("chorus_raft_is_leader", "1 when this node is the Raft leader")),
      messages_sent_(metrics->counter("chorus_raft_messages_sent_total", "Raft messages sent")),
      messages_received_(
          metrics->counter("chorus_raft_messages_received_total", "Raft messages received")),
      messages_dropped_(metrics->counter("chorus_raft_messages_dropped_total",
                                         "Raft messages not sent (no address) or undecodable")),
      snapshots_taken_(
          metrics->counter("chorus_raft_snapshots_total", "Log compactions into a snapshot")),
      impersonations_refused_(security_refusal_counter(metrics, "peer_identity")) {}

RaftHost::~RaftHost() = default;

Status RaftHost::create_raft(const raft::MemoryStorage& state) {
  raft::Config config;
  config.id = options_.raft_id;
  config.election_timeout_ticks = options_.election_timeout_ticks;
  config.heartbeat_interval_ticks = options_.heartbeat_interval_ticks;
  config.random_seed =
      options_.raft_id ^
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  auto created = raft::Raft::create(config, state);
  if (!created.ok()) return created.status();
  raft_.emplace(std::move(created).value());
  return Status::OK();
}

Status RaftHost::open() {
  auto opened = raft::Wal::open(options_.dir);
  if (!opened.ok()) return opened.status();
  wal_ = std::move(opened).value();
  const raft::WalRecovery& recovery = wal_->recovery();
  if (recovery.torn_tail) {
    spdlog::warn("raft WAL: cut a torn tail of {} bytes at offset {} of {} (never acknowledged)",
                 recovery.torn_tail_bytes, recovery.torn_tail_offset, recovery.torn_tail_file);
  }
  const raft::MemoryStorage state = wal_->storage();
  fresh_ = state.snapshot().empty() && state.entries().empty() && state.hard_state().term == 0;
  if (!state.snapshot().empty()) {
    callbacks_.restore(state.snapshot());
    applied_index_ = snapshot_index_ = state.snapshot().metadata.index;
  }
  CHORUS_RETURN_IF_ERROR(create_raft(state));
  process_ready();  // re-applies what was committed before the restart
  return Status::OK();
}

Status RaftHost::bootstrap(const raft::Snapshot& initial) {
  if (!fresh_) return Status::InvalidArgument("raft: this node already has a log");
  CHORUS_RETURN_IF_ERROR(wal_->save_snapshot(initial));
  raft::HardState hs;
  hs.term = initial.metadata.term;
  hs.commit = initial.metadata.index;
  CHORUS_RETURN_IF_ERROR(wal_->save(hs, {}));
  raft::MemoryStorage state;
  state.apply_snapshot(initial);
  state.set_hard_state(hs);
  callbacks_.restore(initial);
  applied_index_ = snapshot_index_ = initial.metadata.index;
  fresh_ = false;
  return create_raft(state);
}

void RaftHost::start() {
  schedule_tick();
}

void RaftHost::stop() {
  stopped_ = true;
  timer_.cancel();
}

void RaftHost::schedule_tick() {
  if (stopped_) return;
  timer_.expires_after(std::chrono::milliseconds(options_.tick_ms));
  timer_.async_wait(asio::bind_executor(strand_, [this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    on_tick();
    schedule_tick();
  }));
}

void RaftHost::on_tick() {
  if (!raft_ || fatal_) return;
  raft_->tick();
  process_ready();
  term_gauge_->set(static_cast<int64_t>(raft_->term()));
  leader_gauge_->set(raft_->role() == raft::Role::kLeader ? 1 : 0);
}

void RaftHost::handle_message(std::string payload, Responder respond,
                              std::optional<uint64_t> caller_raft_id) {
  Reader in(payload);
  std::string_view from;
  if (!in.get_length_prefixed(&from, kAddressBytesMax)) {
    messages_dropped_->inc();
    respond(Status::InvalidArgument("raft message: bad envelope"), {});
    return;
  }
  auto message = raft::decode_message(in.rest());
  if (!message.ok()) {
    messages_dropped_->inc();
    respond(message.status(), {});
    return;
  }
  if (caller_raft_id && message->from != *caller_raft_id) {
    impersonations_refused_->inc();
    spdlog::warn("raft: refused a message claiming to be from raft id {} sent by raft id {}",
                 message->from, *caller_raft_id);
    respond(Status::PermissionDenied("raft message from another node's id"), {});
    return;
  }
  respond(Status::OK(), {});  // one-way: Raft tolerates loss, so nothing waits for the step
  asio::post(strand_,
             [this, m = std::move(message).value(), address = std::string(from)]() mutable {
               step(std::move(m), std::move(address));
             });
}

void RaftHost::step(raft::Message m, std::string from_address) {
  if (stopped_ || !raft_ || fatal_) return;
  messages_received_->inc();
  if (!from_address.empty()) heard_from_[m.from] = std::move(from_address);
  raft_->step(m);
  process_ready();
}

Status RaftHost::propose(std::string data) {
  if (!raft_) return Status::Unavailable("raft: not started");
  Status st = raft_->propose(std::move(data));
  process_ready();
  return st;
}

Status RaftHost::propose_conf_change(const raft::ConfChange& cc) {
  if (!raft_) return Status::Unavailable("raft: not started");
  Status st = raft_->propose_conf_change(cc);
  process_ready();
  return st;
}

void RaftHost::process_ready() {
  while (raft_ && !fatal_ && raft_->has_ready()) {
    raft::Ready ready = raft_->take_ready();
    // Durable before anything leaves: a vote or an acknowledged entry must survive a crash.
    Status st = Status::OK();
    if (ready.snapshot) st = wal_->save_snapshot(*ready.snapshot);
    if (st.ok() && (ready.hard_state || !ready.entries.empty())) {
      st = wal_->save(ready.hard_state, ready.entries);
    }
    if (!st.ok()) {
      // Carrying on without durability would break Raft's safety; stepping out keeps the others
      // safe and the operator sees the error.
      spdlog::critical("raft WAL write failed, leaving the metadata log: {}", st.to_string());
      fatal_ = true;
      return;
    }
    if (ready.snapshot) {
      callbacks_.restore(*ready.snapshot);
      applied_index_ = snapshot_index_ = ready.snapshot->metadata.index;
    }
    for (const raft::Message& m : ready.messages) send(m);
    for (const raft::Entry& e : ready.committed_entries) {
      if (e.index <= applied_index_) continue;  // covered by a snapshot restored above
      callbacks_.apply(e);
      applied_index_ = e.index;
    }
    commit_gauge_->set(static_cast<int64_t>(raft_->log().committed()));
  }
  maybe_compact();
}

void RaftHost::send(const raft::Message& m) {
  std::string address = callbacks_.address_of(m.to);
  if (address.empty()) {
    auto it = heard_from_.find(m.to);
    if (it != heard_from_.end()) address = it->second;
  }
  auto encoded = raft::encode_message(m);
  if (address.empty() || !encoded.ok()) {
    messages_dropped_->inc();
    return;
  }
  messages_sent_->inc();
  transport_->call(address, method_id(RpcMethod::kRaftMessage),
                   envelope(options_.self_peer_address, *encoded), options_.message_timeout_ms,
                   [](Result<std::string>) {});
}

void RaftHost::maybe_compact() {
  if (!raft_ || fatal_ || applied_index_ < snapshot_index_ + options_.compact_every_entries) return;
  auto snapshot = raft_->compact(applied_index_, callbacks_.capture());
  if (!snapshot.ok()) {
    spdlog::warn("raft compaction at {}: {}", applied_index_, snapshot.status().to_string());
    return;
  }
  if (Status st = wal_->save_snapshot(*snapshot); !st.ok()) {
    spdlog::error("saving raft snapshot at {}: {}", applied_index_, st.to_string());
    return;
  }
  snapshot_index_ = applied_index_;
  snapshots_taken_->inc();
}

raft::Role RaftHost::role() const {
  return raft_ ? raft_->role() : raft::Role::kFollower;
}
uint64_t RaftHost::term() const {
  return raft_ ? raft_->term() : 0;
}
uint64_t RaftHost::leader() const {
  return raft_ ? raft_->leader() : 0;
}
uint64_t RaftHost::commit_index() const {
  return raft_ ? raft_->log().committed() : 0;
}
const raft::ConfState* RaftHost::conf_state() const {
  return raft_ ? &raft_->conf_state() : nullptr;
}

}  // namespace chorus
