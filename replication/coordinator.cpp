#include "replication/coordinator.h"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "core/rpc_methods.h"
#include "replication/quorum.h"
#include "ring/partitioner.h"

namespace chorus {
namespace {

namespace asio = boost::asio;
using Strand = asio::strand<asio::io_context::executor_type>;
using Context = Coordinator::Context;

// State shared by both request kinds: strand, deadline timer, ring snapshot, owners.
class RequestBase {
 protected:
  // Writes go to the partition's write owners (in a membership transition: the current owners plus
  // the pending ones, DESIGN.md §6); reads to its owners.
  RequestBase(const Context& ctx, std::shared_ptr<const ClusterView> view, std::string key,
              bool write)
      : ctx_(ctx),
        strand_(asio::make_strand(ctx.io)),
        timer_(strand_),
        view_(std::move(view)),
        key_(std::move(key)),
        partition_(partition_of(key_, view_->ring->partitions())),
        owners_(write ? view_->ring->write_owners(partition_) : view_->ring->owners(partition_)),
        deadline_ms_(ctx.clock->steady_ms() + ctx.options.request_timeout_ms) {}

  const Member& member(size_t index) const { return view_->ring->members()[index]; }
  bool is_self(size_t index) const { return member(index).id == ctx_.options.self_id; }
  uint64_t remaining_ms() const {
    const uint64_t now = ctx_.clock->steady_ms();
    return now >= deadline_ms_ ? 1 : deadline_ms_ - now;
  }

  // Sends a replica write to a member and delivers the decoded reply on this request's strand.
  template <typename Self>
  void send_write(Self self, size_t index, const ReplicaWrite& message,
                  std::function<void(Result<ReplicaWriteReply>)> on_reply) {
    if (is_self(index)) return on_reply(ctx_.local->apply(message));
    ctx_.transport->call(member(index).peer_address, method_id(RpcMethod::kReplicaWrite),
                         encode(message), remaining_ms(),
                         [self, on_reply = std::move(on_reply)](Result<std::string> raw) {
                           asio::post(self->strand_, [raw = std::move(raw), on_reply]() mutable {
                             if (!raw.ok()) return on_reply(raw.status());
                             ReplicaWriteReply reply;
                             Status st = decode(raw.value(), &reply);
                             if (!st.ok()) return on_reply(st);
                             on_reply(reply);
                           });
                         });
  }

  void observe(Timestamp ts) {
    Status st = ctx_.hlc->observe(ts);
    if (!st.ok()) spdlog::warn("replica reply: {}", st.to_string());
  }

  Context ctx_;
  Strand strand_;
  asio::steady_timer timer_;
  std::shared_ptr<const ClusterView> view_;
  const std::string key_;
  const uint32_t partition_;
  const std::vector<uint32_t>& owners_;  // lives in *view_->ring; write owners for writes
  const uint64_t deadline_ms_;
};

class WriteOp : public RequestBase, public std::enable_shared_from_this<WriteOp> {
 public:
  // `retry_allowed`: whether a write refused for a stale ring may start over once with the
  // current view.
  WriteOp(const Context& ctx, std::shared_ptr<const ClusterView> view, WriteRequest request,
          int required, std::function<void(WriteResponse)> done, bool retry_allowed = true)
      : RequestBase(ctx, std::move(view), std::move(request.key), true),
        request_(std::move(request)),
        base_required_(required),
        retry_allowed_(retry_allowed),
        // Pending owners raise W by their number (as Cassandra's pending endpoints): then W of the
        // acks fall on the current owners and W on the target owners, whichever way it goes.
        required_(required + static_cast<int>(view_->ring->pending_count(partition_))),
        done_(std::move(done)) {}

  void start() {
    asio::post(strand_, [self = shared_from_this()] {
      self->timer_.expires_after(std::chrono::milliseconds(self->ctx_.options.request_timeout_ms));
      self->timer_.async_wait([self](boost::system::error_code ec) {
        if (!ec) self->finish(Status::Timeout("write deadline passed"));
      });
      ++self->round_;
      self->send_round();
    });
  }

 private:
  ReplicaWrite message(const std::string& hint_for) const {
    ReplicaWrite m;
    m.sender_hlc = ctx_.hlc->now();
    m.key = key_;
    m.partition = partition_;
    m.record = record_;
    m.sync = request_.sync;
    m.hint_for = hint_for;
    m.view_epoch = hint_for.empty() ? view_->ring->epoch() : 0;
    return m;
  }

  // Stamps the record and sends it to every owner. Replies of earlier rounds are ignored.
  void send_round() {
    record_.value = request_.value;
    record_.tombstone = request_.tombstone;
    record_.ts = ctx_.hlc->now();
    record_.origin = ctx_.options.self_id;
    record_.epoch = view_->ring->epoch();
    record_.expiry_ms = request_.ttl_s == 0 ? 0 : ctx_.clock->wall_ms() + request_.ttl_s * 1000;
    quorum_.emplace(owners_.size(), static_cast<size_t>(required_));
    stand_ins_.clear();
    const int round = round_;
    // Every owner gets the write even when the local apply already met W (w=1): the request
    // finishing only stops the waiting, never the fan-out (DESIGN.md §5).
    for (size_t i = 0; i < owners_.size(); ++i) {
      const size_t index = owners_[i];
      if (!is_self(index) && !view_->alive(index)) {
        quorum_->on_failure(i);
        hint_via_stand_in(index);
        continue;
      }
      send_write(shared_from_this(), index, message({}),
                 [self = shared_from_this(), round, i](Result<ReplicaWriteReply> reply) {
                   self->on_reply(round, i, std::move(reply));
                 });
    }
    if (round == round_) check_done();
  }

  void on_reply(int round, size_t target, Result<ReplicaWriteReply> reply) {
    const size_t index = owners_[target];
    if (reply.ok()) {
      observe(reply->sender_hlc);
    } else {
      ctx_.metrics.rpc_errors_write->inc();
      spdlog::debug("write {} to {}: {}", key_, member(index).id, reply.status().to_string());
      // Even after the client got its answer, the owner that missed this round's version must
      // get it later: keep a hint. An older round's version is superseded, so it needs none.
      if (round == round_) keep_hint(member(index).id);
    }
    if (finished_ || round != round_) {
      if (reply.ok()) ctx_.metrics.late_replies->inc();
      return;
    }
    if (!reply.ok()) {
      if (reply.status().is_unavailable() &&
          reply.status().message().rfind(kStaleRingPrefix, 0) == 0) {
        stale_ring_ = true;
      }
      quorum_->on_failure(target);
    } else if (reply->applied) {
      quorum_->on_ack(target);
    } else if (Status st = ctx_.hlc->observe(reply->current_ts); !st.ok()) {
      // The newer version is stamped beyond our clock's drift bound: re-stamping cannot pass it.
      spdlog::warn("write {}: replica {} holds a version from the future: {}", key_,
                   member(index).id, st.to_string());
      clock_refused_ = true;
      quorum_->on_failure(target);
    } else if (round_ <= ctx_.options.restamp_rounds_max) {
      // The replica holds a newer version. Re-stamp past it so this write, which may have started
      // after that version was acknowledged, still wins (DESIGN.md §1).
      // Posted, not called: this reply may come from the synchronous local apply inside
      // send_round's loop, which must finish with the quorum it started with. The clock has
      // already observed the newer version (the condition above), so the next stamp passes it.
      ctx_.metrics.restamps->inc();
      ++round_;
      asio::post(strand_, [self = shared_from_this()] { self->send_round(); });
      return;
    } else {
      ctx_.metrics.restamps_exhausted->inc();
      superseded_ = true;
      quorum_->on_failure(target);
    }
    check_done();
  }

  // A dead owner's copy goes to the next live node on the ring walk as a hint.
  void hint_via_stand_in(size_t owner) {
    const auto& walk = view_->ring->walk(partition_);
    for (size_t i = owners_.size(); i < walk.size(); ++i) {
      const size_t candidate = walk[i];
      if (!view_->alive(candidate) && !is_self(candidate)) continue;
      if (std::find(stand_ins_.begin(), stand_ins_.end(), candidate) != stand_ins_.end()) continue;
      stand_ins_.push_back(candidate);
      const std::string owner_id = member(owner).id;
      send_write(shared_from_this(), candidate, message(owner_id),
                 [self = shared_from_this(), owner_id](Result<ReplicaWriteReply> reply) {
                   if (!reply.ok()) self->keep_hint(owner_id);
                 });
      return;
    }
    keep_hint(member(owner).id);
  }

  void keep_hint(const std::string& owner_id) {
    Status st = ctx_.hints->add(owner_id, key_, partition_, record_, request_.sync);
    if (st.ok()) {
      ctx_.metrics.hints_local->inc();
    } else {
      spdlog::warn("no hint kept for {} (key {}): {}", owner_id, key_, st.to_string());
    }
  }

  void check_done() {
    if (finished_) return;
    if (quorum_->decision() == QuorumDecision::kSucceeded) {
      finish(Status::OK());
    } else if (quorum_->decision() == QuorumDecision::kFailed && quorum_->outstanding() == 0) {
      if (maybe_retry_with_current_ring()) return;
      std::string message = std::to_string(quorum_->acks()) + " of " + std::to_string(required_) +
                            " required replicas acknowledged the write";
      if (superseded_) message += " (the key kept receiving newer concurrent writes; retry)";
      if (clock_refused_) {
        message += " (a replica holds a version stamped too far in the future: check node clocks)";
      }
      finish(Status::Unavailable(std::move(message)));
    }
  }

  // A replica that knows a newer ring refused the write: if this node has caught up meanwhile,
  // start over once with the current view (a new stamp, the current owners) instead of failing.
  // The new operation takes over the request's in-flight slot and its callback.
  bool maybe_retry_with_current_ring() {
    if (!stale_ring_ || !retry_allowed_) return false;
    auto current = ctx_.membership->view();
    if (!current->formed() || current->ring->epoch() <= view_->ring->epoch()) return false;
    finished_ = true;
    timer_.cancel();
    ctx_.metrics.stale_ring_retries->inc();
    request_.key = key_;
    std::make_shared<WriteOp>(ctx_, std::move(current), std::move(request_), base_required_,
                              std::move(done_), false)
        ->start();
    return true;
  }

  void finish(Status status) {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    ctx_.metrics.in_flight->set(static_cast<int64_t>(ctx_.in_flight.fetch_sub(1) - 1));
    (status.ok() ? ctx_.metrics.writes_ok : ctx_.metrics.writes_failed)->inc();
    WriteResponse response;
    response.acks = static_cast<int>(quorum_ ? quorum_->acks() : 0);
    response.required = required_;
    response.ts = record_.ts;
    response.node = ctx_.options.self_id;
    response.status = std::move(status);
    done_(std::move(response));
  }

  WriteRequest request_;
  const int base_required_;  // W as requested, before pending owners raise it
  const bool retry_allowed_;
  bool stale_ring_ = false;  // a replica refused this write for a stale ring
  const int required_;
  std::function<void(WriteResponse)> done_;
  Record record_;
  int round_ = 0;
  std::optional<WriteQuorum> quorum_;
  std::vector<size_t> stand_ins_;
  bool superseded_ = false;     // a replica still held a newer version after the last re-stamp
  bool clock_refused_ = false;  // a replica's newer version was beyond the HLC drift bound
  bool finished_ = false;
};

class ReadOp : public RequestBase, public std::enable_shared_from_this<ReadOp> {
 public:
  ReadOp(const Context& ctx, std::shared_ptr<const ClusterView> view, ReadRequest request,
         int required, std::function<void(ReadResponse)> done)
      : RequestBase(ctx, std::move(view), std::move(request.key), false),
        required_(required),
        quorum_(owners_.size(), static_cast<size_t>(required)),
        done_(std::move(done)) {}

  void start() {
    asio::post(strand_, [self = shared_from_this()] {
      self->timer_.expires_after(std::chrono::milliseconds(self->ctx_.options.request_timeout_ms));
      self->timer_.async_wait([self](boost::system::error_code ec) {
        if (ec) return;
        self->respond(Status::Timeout("read deadline passed"));
        self->repair_in_background();
      });
      for (size_t i = 0; i < self->owners_.size(); ++i) self->ask(i);
    });
  }

 private:
  void ask(size_t target) {
    const size_t index = owners_[target];
    ReplicaRead message{ctx_.hlc->now(), key_};
    if (is_self(index)) return on_reply(target, ctx_.local->read(message));
    ctx_.transport->call(
        member(index).peer_address, method_id(RpcMethod::kReplicaRead), encode(message),
        remaining_ms(), [self = shared_from_this(), target](Result<std::string> raw) {
          asio::post(self->strand_, [self, target, raw = std::move(raw)]() mutable {
            if (!raw.ok()) return self->on_reply(target, raw.status());
            ReplicaReadReply reply;
            Status st = decode(raw.value(), &reply);
            if (!st.ok()) return self->on_reply(target, st);
            self->on_reply(target, reply);
          });
        });
  }

  void on_reply(size_t target, Result<ReplicaReadReply> reply) {
    if (reply.ok()) {
      observe(reply->sender_hlc);
      quorum_.on_reply(target, reply->found ? std::optional<Record>(reply->record) : std::nullopt);
    } else {
      ctx_.metrics.rpc_errors_read->inc();
      spdlog::debug("read {} from {}: {}", key_, member(owners_[target]).id,
                    reply.status().to_string());
      quorum_.on_failure(target);
    }
    if (responded_ || repairing_) {
      if (reply.ok()) ctx_.metrics.late_replies->inc();
    } else if (quorum_.decision() == QuorumDecision::kSucceeded) {
      repair_then_respond();
    } else if (quorum_.decision() == QuorumDecision::kFailed) {
      respond(Status::Unavailable(std::to_string(quorum_.replies()) + " of " +
                                  std::to_string(required_) + " required replicas answered"));
    }
    if (quorum_.outstanding() == 0) repair_in_background();
  }

  // Monotonic quorum reads (DESIGN.md §1): before answering, the newest version is written to the
  // repliers that lack it, so a value once returned is on enough replicas for every later quorum.
  void repair_then_respond() {
    const std::vector<size_t> stale = quorum_.stale_targets();
    if (stale.empty() || !quorum_.newest()) return respond(Status::OK());
    repairing_ = true;
    // The answer is this version: a newer one arriving during the repair is on too few replicas
    // to be returned yet (it is repaired in the background instead).
    repair_record_ = *quorum_.newest();
    pending_repairs_ = stale.size();
    ctx_.metrics.repairs_blocking->inc(stale.size());
    const ReplicaWrite message = repair_message();
    for (size_t target : stale) {
      send_write(
          shared_from_this(), owners_[target], message,
          [self = shared_from_this(), target](Result<ReplicaWriteReply> reply) {
            if (reply.ok()) {
              self->repaired_.push_back(target);  // background repair skips only these
            } else {
              self->repair_failed_ = true;
            }
            if (--self->pending_repairs_ == 0 && !self->responded_) {
              self->respond(self->repair_failed_
                                ? Status::Unavailable("read repair of a stale replica failed")
                                : Status::OK());
            }
          });
    }
  }

  ReplicaWrite repair_message() const {
    ReplicaWrite m;
    m.sender_hlc = ctx_.hlc->now();
    m.key = key_;
    m.partition = partition_;
    m.record = *quorum_.newest();
    return m;
  }

  // Replicas that answered late with an older version (or nothing) are repaired off the response
  // path, once, when every owner has answered or the deadline passed.
  void repair_in_background() {
    if (background_done_ || !quorum_.newest()) return;
    background_done_ = true;
    const bool same_version = repair_record_ && quorum_.newest()->ts == repair_record_->ts &&
                              quorum_.newest()->origin == repair_record_->origin;
    for (size_t target : quorum_.stale_targets()) {
      if (same_version &&
          std::find(repaired_.begin(), repaired_.end(), target) != repaired_.end()) {
        continue;
      }
      ctx_.metrics.repairs_background->inc();
      send_write(shared_from_this(), owners_[target], repair_message(),
                 [](Result<ReplicaWriteReply>) {});
    }
  }

  void respond(Status status) {
    if (responded_) return;
    responded_ = true;
    ctx_.metrics.in_flight->set(static_cast<int64_t>(ctx_.in_flight.fetch_sub(1) - 1));
    ReadResponse response;
    response.replies = static_cast<int>(quorum_.replies());
    response.required = required_;
    if (status.ok()) {
      if (repair_record_) {
        response.record = repair_record_;
      } else if (quorum_.newest()) {
        response.record = quorum_.newest();
      } else {
        status = Status::NotFound();
      }
    }
    (status.ok() || status.is_not_found() ? ctx_.metrics.reads_ok : ctx_.metrics.reads_failed)
        ->inc();
    if (quorum_.outstanding() == 0) timer_.cancel();
    response.status = std::move(status);
    done_(std::move(response));
  }

  const int required_;
  ReadQuorum quorum_;
  std::function<void(ReadResponse)> done_;
  bool responded_ = false;
  bool repairing_ = false;
  bool repair_failed_ = false;
  bool background_done_ = false;
  size_t pending_repairs_ = 0;
  std::optional<Record> repair_record_;  // what a blocking repair wrote: the answer
  std::vector<size_t> repaired_;
};

}  // namespace

Coordinator::Coordinator(asio::io_context& io, Membership* membership, Transport* transport,
                         ReplicaService* local, HintStore* hints, HlcClock* hlc, const Clock* clock,
                         CoordinatorOptions options, MetricsRegistry* m)
    : io_(io),
      membership_(membership),
      transport_(transport),
      local_(local),
      hints_(hints),
      hlc_(hlc),
      clock_(clock),
      options_(std::move(options)),
      metrics_{
          m->counter("chorus_coordinator_requests_total", "Coordinated requests by outcome",
                     "op=\"write\",result=\"ok\""),
          m->counter("chorus_coordinator_requests_total", "Coordinated requests by outcome",
                     "op=\"write\",result=\"failed\""),
          m->counter("chorus_coordinator_requests_total", "Coordinated requests by outcome",
                     "op=\"read\",result=\"ok\""),
          m->counter("chorus_coordinator_requests_total", "Coordinated requests by outcome",
                     "op=\"read\",result=\"failed\""),
          m->counter("chorus_replica_rpc_errors_total", "Failed replica RPCs", "op=\"write\""),
          m->counter("chorus_replica_rpc_errors_total", "Failed replica RPCs", "op=\"read\""),
          m->counter("chorus_write_restamps_total",
                     "Writes re-stamped because a replica held a newer version"),
          m->counter("chorus_write_restamps_exhausted_total",
                     "Writes refused after the last re-stamp round still lost to a newer version"),
          m->counter("chorus_read_repairs_total", "Replicas repaired by reads",
                     "mode=\"blocking\""),
          m->counter("chorus_read_repairs_total", "Replicas repaired by reads",
                     "mode=\"background\""),
          m->counter("chorus_late_replies_total", "Replica replies after the request was answered"),
          m->counter("chorus_hints_kept_by_coordinator_total",
                     "Hints kept by the coordinator for owners that could not be reached"),
          m->counter("chorus_write_stale_ring_retries_total",
                     "Writes started over with a newer ring after a replica refused a stale one"),
          m->gauge("chorus_coordinator_in_flight", "Requests being coordinated")},
      context_{io_,  membership_, transport_, local_,   hints_,
               hlc_, clock_,      options_,   metrics_, in_flight_} {}

// Admits a request: the ring must be formed, the requested count must fit N, and the in-flight
// bound must have room. Returns the replica count required, or why the request is refused.
Result<int> Coordinator::admit(int requested, int default_count, const ClusterView& view) {
  if (!view.formed()) return Status::Unavailable("the ring is not formed yet");
  const int count = requested == 0 ? default_count : requested;
  const int replicas = static_cast<int>(view.ring->owners(0).size());
  if (count < 1 || count > replicas) {
    return Status::InvalidArgument("consistency level " + std::to_string(count) +
                                   " is outside 1.." + std::to_string(replicas));
  }
  if (in_flight_.fetch_add(1) >= options_.requests_in_flight_max) {
    in_flight_.fetch_sub(1);
    return Status::Busy("too many requests in flight");
  }
  metrics_.in_flight->set(static_cast<int64_t>(in_flight_.load()));
  return count;
}

void Coordinator::write(WriteRequest request, std::function<void(WriteResponse)> done) {
  auto view = membership_->view();
  auto required = admit(request.w, options_.write_quorum_default, *view);
  if (!required.ok()) {
    WriteResponse refused;
    refused.status = required.status();
    return done(std::move(refused));
  }
  std::make_shared<WriteOp>(context_, std::move(view), std::move(request), *required,
                            std::move(done))
      ->start();
}

void Coordinator::read(ReadRequest request, std::function<void(ReadResponse)> done) {
  auto view = membership_->view();
  auto required = admit(request.r, options_.read_quorum_default, *view);
  if (!required.ok()) {
    ReadResponse refused;
    refused.status = required.status();
    return done(std::move(refused));
  }
  std::make_shared<ReadOp>(context_, std::move(view), std::move(request), *required,
                           std::move(done))
      ->start();
}

}  // namespace chorus
