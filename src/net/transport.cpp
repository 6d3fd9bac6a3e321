#include "net/transport.h"

#include <boost/asio/post.hpp>

#include "core/address.h"
#include "net/frame.h"
#include "net/inbound_connection.h"
#include "net/listener.h"
#include "net/peer.h"
#include "net/transport_context.h"

namespace chorus {

Transport::Transport(boost::asio::io_context& io, TransportOptions options,
                     MetricsRegistry* metrics)
    : context_(std::make_shared<TransportContext>(io, options, metrics)) {}

Transport::~Transport() {
  close();
}

void Transport::set_handler(RpcHandler handler) {
  context_->set_handler(std::move(handler));
}

void Transport::set_tls(TransportTls tls) {
  context_->set_tls(std::move(tls));
}

Status Transport::listen(const std::string& host_port) {
  if (context_->closed()) return Status::Unavailable("transport closed");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (listener_) return Status::InvalidArgument("transport already listens");
  }
  // Bound outside the lock: bind and name resolution are system calls.
  auto listener = std::make_shared<Listener>(context_);
  CHORUS_RETURN_IF_ERROR(listener->open(host_port));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (listener_ || context_->closed()) {
      listener->close();
      return listener_ ? Status::InvalidArgument("transport already listens")
                       : Status::Unavailable("transport closed");
    }
    listener_ = listener;
  }
  listener->start();
  return Status::OK();
}

std::string Transport::local_address() const {
  std::lock_guard<std::mutex> lock(mu_);
  return listener_ ? listener_->local_address() : std::string();
}

void Transport::call(const std::string& peer, uint16_t method, std::string payload,
                     uint64_t timeout_ms, RpcCallback cb) {
  const size_t payload_bytes_max = request_payload_bytes_max(context_->options().frame_bytes_max);
  if (payload.size() > payload_bytes_max) {
    context_->complete_later(
        std::move(cb),
        Status::TooLarge("request of " + std::to_string(payload.size()) +
                         " bytes exceeds the frame limit of " + std::to_string(payload_bytes_max)),
        CallOutcome::kError);
    return;
  }
  std::shared_ptr<Peer> target;
  Status refused;
  CallOutcome refused_outcome = CallOutcome::kUnavailable;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = peers_.find(peer);
    if (context_->closed()) {
      refused = Status::Unavailable("transport closed");
    } else if (it != peers_.end()) {
      target = it->second;
    } else if (peers_.size() >= kOutboundPeersMax) {
      refused = Status::Unavailable("already connected to " + std::to_string(kOutboundPeersMax) +
                                    " peers; not opening one to " + peer);
    } else {
      std::string host;
      uint16_t port = 0;
      refused = parse_host_port(peer, &host, &port);
      if (refused.ok() && host.empty()) refused = Status::InvalidArgument("peer has no host");
      if (refused.ok()) {
        target = std::make_shared<Peer>(context_, peer, std::move(host), port);
        peers_.emplace(peer, target);
      } else {
        refused_outcome = CallOutcome::kError;
      }
    }
  }
  if (!target) {
    context_->complete_later(std::move(cb), std::move(refused), refused_outcome);
    return;
  }
  target->call(method, std::move(payload), timeout_ms, std::move(cb));
}

void Transport::retry_now(const std::string& peer) {
  std::shared_ptr<Peer> target;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = peers_.find(peer);
    if (it != peers_.end()) target = it->second;
  }
  if (target) target->retry_now();
}

void Transport::close() {
  if (!context_->mark_closed()) return;
  std::shared_ptr<Listener> listener;
  std::unordered_map<std::string, std::shared_ptr<Peer>> peers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    listener = listener_;  // kept: local_address() still answers after close
    peers.swap(peers_);
  }
  if (listener) listener->close();
  for (auto& [address, peer] : peers) peer->close();
  for (const std::weak_ptr<InboundConnection>& weak : context_->inbound_connections()) {
    if (std::shared_ptr<InboundConnection> connection = weak.lock()) {
      boost::asio::post(connection->strand(), [connection] {
        connection->close(Status::Unavailable("transport closed"));
      });
    }
  }
}

}  // namespace chorus
