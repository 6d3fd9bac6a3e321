// TransportContext: the state one Transport shares with its listener and connections.
//
// Internal to src/net. Held by shared_ptr by the Transport and by every connection, so a handler
// still queued on the io_context after the Transport was destroyed never touches freed memory.
// Thread-safety: options and metric pointers are immutable after construction; `handler` is written
// once before listen() and only read afterwards; the inbound registry is guarded by a mutex that is
// never held across I/O or a callback.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "core/metrics.h"
#include "net/framed_connection.h"
#include "net/transport.h"

namespace chorus {

class InboundConnection;

// The result label of chorus_rpc_calls_total.
enum class CallOutcome { kOk, kError, kTimeout, kUnavailable, kBusy };

class TransportContext {
 public:
  TransportContext(boost::asio::io_context& io, TransportOptions options, MetricsRegistry* metrics);

  boost::asio::io_context& io() const { return io_; }
  const TransportOptions& options() const { return options_; }
  Gauge* connections() const { return connections_; }

  void set_handler(RpcHandler handler) { handler_ = std::move(handler); }
  const RpcHandler& handler() const { return handler_; }
  // Like the handler: written once before listen() and the first call.
  void set_tls(TransportTls tls) { tls_ = std::move(tls); }
  // The TLS settings for a new connection on `side` (no context: plain TCP).
  FramedConnection::Tls tls_for(boost::asio::ssl::stream_base::handshake_type side) const;
  // An inbound TLS handshake failed or timed out.
  void count_refused_handshake() const { refused_handshakes_->inc(); }

  bool closed() const { return closed_.load(std::memory_order_acquire); }
  // Returns true for the first caller only.
  bool mark_closed() { return !closed_.exchange(true, std::memory_order_acq_rel); }

  // Counts a finished call; `started` is set for calls that got as far as a connection.
  void record_call(CallOutcome outcome,
                   std::optional<std::chrono::steady_clock::time_point> started) const;
  // Completes `cb` with `status` from a fresh io_context handler: callers may be inside call() or
  // hold a lock, and callbacks must never run inline there.
  void complete_later(RpcCallback cb, Status status, CallOutcome outcome) const;

  // Inbound connections open now.
  size_t inbound_count() const;
  // Admits an accepted connection unless the transport is closed (or, as a backstop, at
  // inbound_connections_max). Returns false, keeping nothing, when it is refused.
  [[nodiscard]] bool register_inbound(const std::shared_ptr<InboundConnection>& connection);
  void unregister_inbound(const InboundConnection* connection);
  std::vector<std::weak_ptr<InboundConnection>> inbound_connections() const;

 private:
  boost::asio::io_context& io_;
  const TransportOptions options_;
  RpcHandler handler_;
  TransportTls tls_;
  std::atomic<bool> closed_{false};

  std::unique_ptr<MetricsRegistry> own_metrics_;  // when the caller passed none
  Counter* calls_[5] = {};                        // indexed by CallOutcome
  Histogram* call_seconds_ = nullptr;
  Gauge* connections_ = nullptr;
  Counter* refused_handshakes_ = nullptr;

  mutable std::mutex mu_;  // guards inbound_
  std::unordered_map<const InboundConnection*, std::weak_ptr<InboundConnection>> inbound_;
};

}  // namespace chorus
