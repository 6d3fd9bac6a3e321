#include "net/peer.h"

#include <spdlog/spdlog.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>

#include "net/backoff.h"
#include "net/connection_log.h"

namespace chorus {

namespace {
// A write pending this long when gossip sees the peer alive again is a casualty of the outage.
constexpr auto kStalledLinkOnRetry = std::chrono::milliseconds(250);
}  // namespace

OutboundLink::OutboundLink(boost::asio::ip::tcp::socket socket, FramedConnection::Strand strand,
                           const std::shared_ptr<TransportContext>& context,
                           std::weak_ptr<Peer> peer)
    : FramedConnection(std::move(socket), std::move(strand), context->options().frame_bytes_max,
                       context->options().pending_calls_per_peer_max, context->connections(),
                       context->tls_for(boost::asio::ssl::stream_base::client),
                       context->options().stall_timeout_ms),
      peer_(std::move(peer)) {}

Status OutboundLink::on_frame(Frame frame) {
  std::shared_ptr<Peer> peer = peer_.lock();
  if (!peer) return Status::Unavailable("transport destroyed");
  return peer->on_response(this, std::move(frame));
}

void OutboundLink::on_closed(const Status& reason) {
  if (std::shared_ptr<Peer> peer = peer_.lock()) peer->on_link_closed(this, reason);
}

Peer::Peer(std::shared_ptr<TransportContext> context, std::string address, std::string host,
           uint16_t port)
    : context_(std::move(context)),
      address_(std::move(address)),
      host_(std::move(host)),
      port_(port),
      strand_(boost::asio::make_strand(context_->io())),
      resolver_(strand_),
      connect_timer_(strand_),
      backoff_timer_(strand_),
      random_(std::random_device{}()),
      deadline_timer_(strand_) {}

void Peer::call(uint16_t method, std::string payload, uint64_t timeout_ms, RpcCallback cb) {
  const Clock::time_point started = Clock::now();
  const size_t pending_max = context_->options().pending_calls_per_peer_max;
  if (pending_.fetch_add(1, std::memory_order_acq_rel) >= pending_max) {
    pending_.fetch_sub(1, std::memory_order_acq_rel);
    context_->complete_later(
        std::move(cb),
        Status::Busy("already " + std::to_string(pending_max) + " calls pending to " + address_),
        CallOutcome::kBusy);
    return;
  }
  const uint64_t id = next_request_id_.fetch_add(1, std::memory_order_relaxed);
  // Encoded here, on the caller's thread, so large payloads are not copied on the strand.
  std::string frame = encode_request(id, method, payload);
  timeout_ms = std::min(timeout_ms, kCallTimeoutMsMax);
  boost::asio::post(strand_, [self = shared_from_this(), id, frame = std::move(frame), timeout_ms,
                              cb = std::move(cb), started]() mutable {
    self->start_call(id, std::move(frame), timeout_ms, std::move(cb), started);
  });
}

void Peer::start_call(uint64_t id, std::string frame, uint64_t timeout_ms, RpcCallback cb,
                      Clock::time_point started) {
  if (state_ == State::kClosed) {
    complete(cb, Status::Unavailable("transport closed"), CallOutcome::kUnavailable, started);
    return;
  }
  if (state_ == State::kBackoff) {
    // Fail fast: the coordinator asks another replica rather than wait for a peer that just failed.
    complete(cb,
             Status::Unavailable("peer " + address_ + " is in reconnect backoff: " + last_error_),
             CallOutcome::kUnavailable, started);
    return;
  }
  // Frames of calls that already timed out may still sit in a queue; they count against its bound.
  const size_t queued =
      state_ == State::kConnected ? link_->queued_frames() : connect_queue_.size();
  if (queued >= context_->options().pending_calls_per_peer_max) {
    complete(cb, Status::Busy("send queue to " + address_ + " is full"), CallOutcome::kBusy,
             started);
    return;
  }
  const auto deadline = started + std::chrono::milliseconds(timeout_ms);
  calls_.emplace(id,
                 PendingCall{std::move(cb), started, timeout_ms, deadlines_.emplace(deadline, id)});
  arm_deadline_timer();
  if (state_ == State::kConnected) {
    link_->send(std::move(frame));
    return;
  }
  connect_queue_.emplace_back(id, std::move(frame));
  if (state_ == State::kIdle) connect();
}

void Peer::complete(RpcCallback& cb, Result<std::string> result, CallOutcome outcome,
                    Clock::time_point started) {
  // Released before the callback runs, so a callback that calls again is not refused as Busy.
  pending_.fetch_sub(1, std::memory_order_acq_rel);
  context_->record_call(outcome, started);
  cb(std::move(result));
}

void Peer::finish(uint64_t id, Result<std::string> result, CallOutcome outcome) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;  // a late reply to a call that already timed out
  PendingCall call = std::move(it->second);
  calls_.erase(it);
  deadlines_.erase(call.deadline);
  complete(call.cb, std::move(result), outcome, call.started);
}

void Peer::fail_all(const Status& reason) {
  connect_queue_.clear();
  deadlines_.clear();
  std::unordered_map<uint64_t, PendingCall> calls = std::move(calls_);
  calls_.clear();
  for (auto& [id, call] : calls) {
    complete(call.cb, reason, CallOutcome::kUnavailable, call.started);
  }
}

Status Peer::on_response(const OutboundLink* link, Frame frame) {
  if (link != link_.get()) return Status::OK();
  if (frame.kind != FrameKind::kResponse) {
    return Status::Corruption("peer " + address_ + " sent a request on an outbound connection");
  }
  link_replied_ = true;
  failures_ = 0;
  Status status = response_status(frame);
  if (status.ok()) {
    finish(frame.request_id, std::move(frame.payload), CallOutcome::kOk);
  } else {
    finish(frame.request_id, std::move(status), CallOutcome::kError);
  }
  return Status::OK();
}

void Peer::on_link_closed(const OutboundLink* link, const Status& reason) {
  if (link != link_.get()) return;
  link_.reset();
  if (state_ == State::kClosed) return;
  fail_all(Status::Unavailable(reason.message()));
  if (link_replied_) {
    // A connection that worked and dropped: the next call reconnects at once.
    state_ = State::kIdle;
    return;
  }
  // Accepted and dropped before any reply (e.g. the peer is at its connection limit): back off as
  // for a failed connect, or every call would open and lose another connection.
  ++failures_;
  enter_backoff(reason);
}

void Peer::connect() {
  state_ = State::kConnecting;
  const uint64_t attempt = ++connect_attempt_;
  connect_timer_.expires_after(std::chrono::milliseconds(context_->options().connect_timeout_ms));
  connect_timer_.async_wait(boost::asio::bind_executor(
      strand_, [self = shared_from_this(), attempt](const boost::system::error_code& ec) {
        self->on_connect_timeout(attempt, ec);
      }));
  // Resolved on every attempt: peers named by DNS (a StatefulSet's pods) may move.
  resolver_.async_resolve(
      host_, std::to_string(port_),
      boost::asio::bind_executor(
          strand_, [self = shared_from_this(), attempt](
                       const boost::system::error_code& ec,
                       const boost::asio::ip::tcp::resolver::results_type& endpoints) {
            self->on_resolved(attempt, ec, endpoints);
          }));
}

void Peer::on_resolved(uint64_t attempt, const boost::system::error_code& ec,
                       const boost::asio::ip::tcp::resolver::results_type& endpoints) {
  if (attempt != connect_attempt_ || state_ != State::kConnecting) return;
  if (ec) {
    connect_failed(Status::Unavailable("cannot resolve " + address_ + ": " + ec.message()));
    return;
  }
  auto socket = std::make_shared<boost::asio::ip::tcp::socket>(context_->io());
  connecting_socket_ = socket;
  // The handler holds the socket: a timed-out attempt drops connecting_socket_ while the connect
  // operation still references it.
  boost::asio::async_connect(
      *socket, endpoints,
      boost::asio::bind_executor(strand_, [self = shared_from_this(), attempt, socket](
                                              const boost::system::error_code& connect_ec,
                                              const boost::asio::ip::tcp::endpoint&) {
        self->on_connected(attempt, connect_ec);
      }));
}

void Peer::on_connected(uint64_t attempt, const boost::system::error_code& ec) {
  if (attempt != connect_attempt_ || state_ != State::kConnecting) return;
  if (ec) {
    connect_failed(Status::Unavailable("cannot connect to " + address_ + ": " + ec.message()));
    return;
  }
  connect_timer_.cancel();
  std::shared_ptr<boost::asio::ip::tcp::socket> socket = std::move(connecting_socket_);
  link_ = std::make_shared<OutboundLink>(std::move(*socket), strand_, context_, weak_from_this());
  link_replied_ = false;
  state_ = State::kConnected;
  std::shared_ptr<OutboundLink> link = link_;
  link->start();
  std::vector<std::pair<uint64_t, std::string>> queued = std::move(connect_queue_);
  connect_queue_.clear();
  for (auto& [id, frame] : queued) {
    // Calls that timed out while connecting are not sent at all.
    if (calls_.count(id) != 0) link->send(std::move(frame));
  }
}

void Peer::on_connect_timeout(uint64_t attempt, const boost::system::error_code& ec) {
  if (ec == boost::asio::error::operation_aborted) return;
  if (attempt != connect_attempt_ || state_ != State::kConnecting) return;
  connect_failed(Status::Unavailable("connecting to " + address_ + " timed out after " +
                                     std::to_string(context_->options().connect_timeout_ms) +
                                     " ms"));
}

void Peer::connect_failed(const Status& reason) {
  ++connect_attempt_;  // the other handlers of this attempt are now stale
  connect_timer_.cancel();
  resolver_.cancel();
  if (connecting_socket_) {
    boost::system::error_code ec;
    connecting_socket_->close(ec);
    if (ec) spdlog::debug("net: closing connecting socket to {}: {}", address_, ec.message());
    connecting_socket_.reset();
  }
  ++failures_;
  log_connection_error(reason.message());
  fail_all(reason);
  enter_backoff(reason);
}

void Peer::retry_now() {
  boost::asio::post(strand_, [self = shared_from_this()] {
    // The peer is back, but a connection opened before it went away may still be stuck behind
    // the partition's unacknowledged bytes: replace it now rather than wait out the stall timeout.
    if (self->state_ == State::kConnected && self->link_ &&
        self->link_->write_stalled_for() >= kStalledLinkOnRetry) {
      self->link_->close(Status::Unavailable("connection to " + self->address_ +
                                             " stalled while the peer was unreachable"));
      return;
    }
    if (self->state_ != State::kBackoff) return;
    self->backoff_timer_.cancel();
    self->failures_ = 0;
    self->state_ = State::kIdle;
  });
}

void Peer::enter_backoff(const Status& reason) {
  state_ = State::kBackoff;
  last_error_ = reason.message();
  const TransportOptions& options = context_->options();
  const uint64_t delay_ms = reconnect_delay_ms(
      options.reconnect_backoff_min_ms, options.reconnect_backoff_max_ms, failures_, random_());
  backoff_timer_.expires_after(std::chrono::milliseconds(delay_ms));
  backoff_timer_.async_wait(boost::asio::bind_executor(
      strand_, [self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec == boost::asio::error::operation_aborted) return;
        // Reconnect lazily, on the next call: a peer nobody calls is not worth a connection.
        if (self->state_ == State::kBackoff) self->state_ = State::kIdle;
      }));
}

void Peer::arm_deadline_timer() {
  if (deadlines_.empty()) return;
  const Clock::time_point earliest = deadlines_.begin()->first;
  if (deadline_timer_armed_ && deadline_timer_expiry_ <= earliest) return;
  deadline_timer_armed_ = true;
  deadline_timer_expiry_ = earliest;
  deadline_timer_.expires_at(earliest);
  deadline_timer_.async_wait(boost::asio::bind_executor(
      strand_,
      [self = shared_from_this(), generation = ++deadline_timer_generation_](
          const boost::system::error_code& ec) { self->on_deadline_timer(generation, ec); }));
}

void Peer::on_deadline_timer(uint64_t generation, const boost::system::error_code& ec) {
  if (generation != deadline_timer_generation_) return;  // re-armed since; a newer wait is pending
  deadline_timer_armed_ = false;
  if (state_ == State::kClosed) return;
  if (ec && ec != boost::asio::error::operation_aborted) {
    spdlog::debug("net: deadline timer for {}: {}", address_, ec.message());
  }
  expire_calls(Clock::now());
  arm_deadline_timer();
}

void Peer::expire_calls(Clock::time_point now) {
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const uint64_t id = deadlines_.begin()->second;
    auto it = calls_.find(id);
    if (it == calls_.end()) {
      deadlines_.erase(deadlines_.begin());  // cannot happen: both are erased together
      continue;
    }
    const uint64_t timeout_ms = it->second.timeout_ms;
    // The request may still be answered; the reply is then dropped as unknown.
    finish(id,
           Status::Timeout("call to " + address_ + " timed out after " +
                           std::to_string(timeout_ms) + " ms"),
           CallOutcome::kTimeout);
  }
}

void Peer::close() {
  boost::asio::post(strand_, [self = shared_from_this()] { self->close_on_strand(); });
}

void Peer::close_on_strand() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  ++connect_attempt_;
  connect_timer_.cancel();
  backoff_timer_.cancel();
  deadline_timer_.cancel();
  resolver_.cancel();
  if (connecting_socket_) {
    boost::system::error_code ec;
    connecting_socket_->close(ec);
    if (ec) spdlog::debug("net: closing connecting socket to {}: {}", address_, ec.message());
    connecting_socket_.reset();
  }
  if (std::shared_ptr<OutboundLink> link = link_)
    link->close(Status::Unavailable("transport closed"));
  link_.reset();
  fail_all(Status::Unavailable("transport closed with a call to " + address_ + " pending"));
}

}  // namespace chorus
