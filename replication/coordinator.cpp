#include "replication/coordinator.h"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "core/rpc_methods.h"

namespace chorus {
namespace {

namespace asio = boost::asio;
using Strand = asio::strand<asio::io_context::executor_type>;
using Context = Coordinator::Context;

// What both drivers share: the strand every step of the machine runs on, the deadline timer, and
// sending one replica RPC with its reply decoded and delivered back on the strand.
class DriverBase {
 protected:
  explicit DriverBase(const Context& ctx)
      : ctx_(ctx),
        strand_(asio::make_strand(ctx.io)),
        timer_(strand_),
        deadline_ms_(ctx.clock->steady_ms() + ctx.options.request_timeout_ms) {}

  uint64_t remaining_ms() const {
    const uint64_t now = ctx_.clock->steady_ms();
    return now >= deadline_ms_ ? 1 : deadline_ms_ - now;
  }

  template <typename Reply, typename Message, typename OnReply>
  void call(const Member& to, RpcMethod method, const Message& message, OnReply on_reply) {
    ctx_.rpc->call(to.peer_address, method_id(method), encode(message), remaining_ms(),
                   [strand = strand_, on_reply = std::move(on_reply)](Result<std::string> raw) {
                     asio::post(strand, [raw = std::move(raw), on_reply]() mutable {
                       if (!raw.ok()) return on_reply(Result<Reply>(raw.status()));
                       Reply reply;
                       Status st = decode(raw.value(), &reply);
                       if (!st.ok()) return on_reply(Result<Reply>(st));
                       on_reply(Result<Reply>(std::move(reply)));
                     });
                   });
  }

  void finished() {
    ctx_.metrics.in_flight->set(static_cast<int64_t>(ctx_.in_flight.fetch_sub(1) - 1));
  }

  Context ctx_;
  Strand strand_;
  asio::steady_timer timer_;
  const uint64_t deadline_ms_;
};

class WriteDriver : public DriverBase, public std::enable_shared_from_this<WriteDriver> {
 public:
  WriteDriver(const Context& ctx, std::shared_ptr<const ClusterView> view, WriteRequest request,
              int required, std::function<void(WriteResponse)> done, bool retry_allowed = true)
      : DriverBase(ctx),
        machine_(WriteMachineOptions{ctx.options.self_id, ctx.options.restamp_rounds_max,
                                     retry_allowed, ctx.options.restamp_disabled_for_test},
                 std::move(view), std::move(request), required, ctx.hlc),
        done_(std::move(done)) {}

  void start() {
    asio::post(strand_, [self = shared_from_this()] {
      self->timer_.expires_after(std::chrono::milliseconds(self->ctx_.options.request_timeout_ms));
      self->timer_.async_wait([self](boost::system::error_code ec) {
        if (ec) return;
        self->machine_.on_deadline();
        self->pump();
      });
      self->machine_.start(self->ctx_.clock->wall_ms());
      self->pump();
    });
  }

 private:
  // Carries out what the machine asked for until it asks for nothing more. The local replica
  // answers at once, so its reply is fed back in this loop; remote replies arrive on the strand.
  void pump() {
    for (;;) {
      WriteEffects e = machine_.take_effects();
      if (e.sends.empty() && e.hints.empty() && !e.response && !e.retry_with_newer_ring) return;
      count(e.events);
      for (const HintToKeep& h : e.hints) keep_hint(h);
      for (WriteSend& send : e.sends) {
        const Member& to = machine_.view().ring->members()[send.member];
        if (to.id == ctx_.options.self_id) {
          machine_.on_reply(send.tag, ctx_.local->apply(send.message));
          continue;
        }
        call<ReplicaWriteReply>(to, RpcMethod::kReplicaWrite, send.message,
                                [self = shared_from_this(), tag = send.tag,
                                 to = to.id](Result<ReplicaWriteReply> reply) {
                                  if (!reply.ok()) {
                                    spdlog::debug("write {} to {}: {}",
                                                  self->machine_.request().key, to,
                                                  reply.status().to_string());
                                  }
                                  self->machine_.on_reply(tag, std::move(reply));
                                  self->pump();
                                });
      }
      if (e.retry_with_newer_ring && !retry_with_current_ring()) machine_.no_newer_ring();
      if (e.response) answer(std::move(*e.response));
    }
  }

  // A replica that knows a newer ring refused the write: if this node has caught up meanwhile,
  // start over once with the current view (a new stamp, the current owners) instead of failing.
  // The new driver takes over the request's in-flight slot and its callback.
  bool retry_with_current_ring() {
    auto current = ctx_.membership->view();
    if (!current->formed() || current->ring->epoch() <= machine_.view().ring->epoch()) {
      return false;
    }
    handed_over_ = true;
    timer_.cancel();
    ctx_.metrics.stale_ring_retries->inc();
    std::make_shared<WriteDriver>(ctx_, std::move(current), machine_.request(),
                                  machine_.base_required(), std::move(done_), false)
        ->start();
    return true;
  }

  void keep_hint(const HintToKeep& h) {
    Status st = ctx_.hints->add(h.owner_id, h.key, h.partition, h.record, h.sync);
    if (st.ok()) {
      ctx_.metrics.hints_local->inc();
    } else {
      spdlog::warn("no hint kept for {} (key {}): {}", h.owner_id, h.key, st.to_string());
    }
  }

  void count(const WriteEvents& e) {
    ctx_.metrics.rpc_errors_write->inc(e.rpc_errors);
    ctx_.metrics.restamps->inc(e.restamps);
    ctx_.metrics.restamps_exhausted->inc(e.restamps_exhausted);
    ctx_.metrics.late_replies->inc(e.late_replies);
    if (e.future_versions > 0) {
      spdlog::warn("write {}: a replica holds a version stamped beyond the clock drift bound",
                   machine_.request().key);
    }
  }

  void answer(WriteResponse response) {
    if (handed_over_) return;
    timer_.cancel();
    finished();
    (response.status.ok() ? ctx_.metrics.writes_ok : ctx_.metrics.writes_failed)->inc();
    done_(std::move(response));
  }

  WriteRequestMachine machine_;
  std::function<void(WriteResponse)> done_;
  bool handed_over_ = false;  // a newer-ring retry answers instead
};

class ReadDriver : public DriverBase, public std::enable_shared_from_this<ReadDriver> {
 public:
  ReadDriver(const Context& ctx, std::shared_ptr<const ClusterView> view, ReadRequest request,
             int required, std::function<void(ReadResponse)> done)
      : DriverBase(ctx),
        key_(request.key),
        machine_(ctx.options.self_id, std::move(view), std::move(request), required, ctx.hlc),
        done_(std::move(done)) {}

  void start() {
    asio::post(strand_, [self = shared_from_this()] {
      self->timer_.expires_after(std::chrono::milliseconds(self->ctx_.options.request_timeout_ms));
      self->timer_.async_wait([self](boost::system::error_code ec) {
        if (ec) return;
        self->machine_.on_deadline();
        self->pump();
      });
      self->machine_.start();
      self->pump();
    });
  }

 private:
  bool is_self(const Member& m) const { return m.id == ctx_.options.self_id; }

  void pump() {
    for (;;) {
      ReadEffects e = machine_.take_effects();
      if (e.reads.empty() && e.repairs.empty() && !e.response && !e.done) return;
      ctx_.metrics.rpc_errors_read->inc(e.events.rpc_errors);
      ctx_.metrics.late_replies->inc(e.events.late_replies);
      ctx_.metrics.repairs_blocking->inc(e.events.repairs_blocking);
      ctx_.metrics.repairs_background->inc(e.events.repairs_background);
      for (ReadSend& read : e.reads) {
        const Member& to = machine_.view().ring->members()[read.member];
        if (is_self(to)) {
          machine_.on_read_reply(read.tag, ctx_.local->read(read.message));
          continue;
        }
        call<ReplicaReadReply>(to, RpcMethod::kReplicaRead, read.message,
                               [self = shared_from_this(), tag = read.tag,
                                to = to.id](Result<ReplicaReadReply> reply) {
                                 if (!reply.ok()) {
                                   spdlog::debug("read {} from {}: {}", self->key_, to,
                                                 reply.status().to_string());
                                 }
                                 self->machine_.on_read_reply(tag, std::move(reply));
                                 self->pump();
                               });
      }
      for (RepairSend& repair : e.repairs) {
        const Member& to = machine_.view().ring->members()[repair.member];
        if (is_self(to)) {
          machine_.on_repair_reply(repair.tag, ctx_.local->apply(repair.message));
          continue;
        }
        call<ReplicaWriteReply>(
            to, RpcMethod::kReplicaWrite, repair.message,
            [self = shared_from_this(), tag = repair.tag](Result<ReplicaWriteReply> reply) {
              self->machine_.on_repair_reply(tag, std::move(reply));
              self->pump();
            });
      }
      if (e.response) answer(std::move(*e.response));
      if (e.done) all_replied_ = true;
      if (all_replied_ && machine_.answered()) timer_.cancel();
    }
  }

  void answer(ReadResponse response) {
    finished();
    (response.status.ok() || response.status.is_not_found() ? ctx_.metrics.reads_ok
                                                            : ctx_.metrics.reads_failed)
        ->inc();
    done_(std::move(response));
  }

  const std::string key_;
  ReadRequestMachine machine_;
  std::function<void(ReadResponse)> done_;
  bool all_replied_ = false;
};

}  // namespace

Coordinator::Coordinator(asio::io_context& io, Membership* membership, RpcClient* rpc,
                         ReplicaService* local, HintStore* hints, HlcClock* hlc, const Clock* clock,
                         CoordinatorOptions options, MetricsRegistry* m)
    : io_(io),
      membership_(membership),
      rpc_(rpc),
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
      context_{io_,  membership_, rpc_,     local_,   hints_,
               hlc_, clock_,      options_, metrics_, in_flight_} {}

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
  std::make_shared<WriteDriver>(context_, std::move(view), std::move(request), *required,
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
  std::make_shared<ReadDriver>(context_, std::move(view), std::move(request), *required,
                               std::move(done))
      ->start();
}

}  // namespace chorus
