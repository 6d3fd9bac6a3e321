#include "net/transport_context.h"

#include <algorithm>
#include <boost/asio/post.hpp>

#include "core/limits.h"

namespace chorus {

namespace {
TransportOptions sanitized(TransportOptions options) {
  options.frame_bytes_max = std::clamp(options.frame_bytes_max, kFrameBytesMin, kFrameBytesMax);
  options.inbound_requests_in_flight_max =
      std::max<size_t>(options.inbound_requests_in_flight_max, 1);
  options.reconnect_backoff_max_ms =
      std::max(options.reconnect_backoff_max_ms, options.reconnect_backoff_min_ms);
  return options;
}
}  // namespace

TransportContext::TransportContext(boost::asio::io_context& io, TransportOptions options,
                                   MetricsRegistry* metrics)
    : io_(io), options_(sanitized(options)) {
  if (metrics == nullptr) {
    own_metrics_ = std::make_unique<MetricsRegistry>();
    metrics = own_metrics_.get();
  }
  const char* calls_help = "Internode RPC calls made, by outcome.";
  const char* labels[] = {"result=\"ok\"", "result=\"error\"", "result=\"timeout\"",
                          "result=\"unavailable\"", "result=\"busy\""};
  for (size_t i = 0; i < 5; ++i) {
    calls_[i] = metrics->counter("chorus_rpc_calls_total", calls_help, labels[i]);
  }
  call_seconds_ = metrics->histogram("chorus_rpc_call_seconds",
                                     "Internode RPC call latency, from call() to completion.");
  refused_handshakes_ = security_refusal_counter(metrics, "peer_handshake");
  connections_ = metrics->gauge("chorus_rpc_connections",
                                "Open internode RPC connections, outbound and inbound.");
}

FramedConnection::Tls TransportContext::tls_for(
    boost::asio::ssl::stream_base::handshake_type side) const {
  FramedConnection::Tls tls;
  const auto& provider = side == boost::asio::ssl::stream_base::server ? tls_.server : tls_.client;
  if (!provider) return tls;
  tls.context = provider();
  tls.side = side;
  tls.handshake_timeout_ms = options_.tls_handshake_timeout_ms;
  return tls;
}

void TransportContext::record_call(
    CallOutcome outcome, std::optional<std::chrono::steady_clock::time_point> started) const {
  calls_[static_cast<size_t>(outcome)]->inc();
  if (!started) return;
  const auto elapsed = std::chrono::steady_clock::now() - *started;
  call_seconds_->observe_us(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count()));
}

void TransportContext::complete_later(RpcCallback cb, Status status, CallOutcome outcome) const {
  record_call(outcome, std::nullopt);
  boost::asio::post(
      io_, [cb = std::move(cb), status = std::move(status)]() mutable { cb(std::move(status)); });
}

size_t TransportContext::inbound_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return inbound_.size();
}

bool TransportContext::register_inbound(const std::shared_ptr<InboundConnection>& connection) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed() || inbound_.size() >= options_.inbound_connections_max) return false;
  inbound_.emplace(connection.get(), connection);
  return true;
}

void TransportContext::unregister_inbound(const InboundConnection* connection) {
  std::lock_guard<std::mutex> lock(mu_);
  inbound_.erase(connection);
}

std::vector<std::weak_ptr<InboundConnection>> TransportContext::inbound_connections() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::weak_ptr<InboundConnection>> out;
  out.reserve(inbound_.size());
  for (const auto& [key, connection] : inbound_) out.push_back(connection);
  return out;
}

}  // namespace chorus
