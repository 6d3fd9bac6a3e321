#include "net/inbound_connection.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <exception>

namespace chorus {

InboundConnection::InboundConnection(boost::asio::ip::tcp::socket socket,
                                     FramedConnection::Strand strand,
                                     std::shared_ptr<TransportContext> context)
    : FramedConnection(std::move(socket), std::move(strand), context->options().frame_bytes_max,
                       context->options().inbound_requests_in_flight_max, context->connections(),
                       context->tls_for(boost::asio::ssl::stream_base::server),
                       context->options().stall_timeout_ms),
      context_(std::move(context)) {}

Status InboundConnection::on_frame(Frame frame) {
  if (frame.kind != FrameKind::kRequest) {
    return Status::Corruption("peer " + remote() + " sent a response on an inbound connection");
  }
  ++in_flight_;
  Responder respond = make_responder(frame.request_id, frame.method);
  invoke_handler(frame.method, std::move(frame.payload), respond);
  return Status::OK();
}

void InboundConnection::invoke_handler(uint16_t method, std::string payload,
                                       const Responder& respond) {
  const RpcHandler& handler = context_->handler();
  if (!handler) {
    respond(Status::Unavailable("no RPC handler installed"), {});
    return;
  }
  // The handler is the replication layer's code, but an exception escaping here would unwind
  // through io_context::run() and take the node down: answer the caller and keep serving.
  try {
    handler(peer_id(), method, std::move(payload), respond);
  } catch (const std::exception& e) {
    spdlog::error("net: RPC handler threw for method {}: {}", method, e.what());
    respond(Status::IOError(std::string("handler failed: ") + e.what()), {});
  }
}

Responder InboundConnection::make_responder(uint64_t request_id, uint16_t method) {
  auto answered = std::make_shared<std::atomic<bool>>(false);
  std::weak_ptr<InboundConnection> weak =
      std::static_pointer_cast<InboundConnection>(shared_from_this());
  const size_t payload_bytes_max = response_payload_bytes_max(context_->options().frame_bytes_max);
  return [weak = std::move(weak), strand = strand(), answered, request_id, method,
          payload_bytes_max](Status status, std::string payload) {
    if (answered->exchange(true, std::memory_order_acq_rel)) {
      spdlog::error("net: request {} (method {}) answered twice; the second answer is dropped",
                    request_id, method);
      return;
    }
    if (status.ok() && payload.size() > payload_bytes_max) {
      status = Status::TooLarge("response of " + std::to_string(payload.size()) +
                                " bytes exceeds the frame limit");
    }
    if (!status.ok() && status.message().size() > payload_bytes_max) {
      // Under a small frame limit even an error message could overflow the caller's frame limit,
      // which would cost the whole connection instead of this one call.
      status = make_status(status.code(), status.message().substr(0, payload_bytes_max));
    }
    // Encoded on the answering thread; the strand only queues the bytes.
    std::string frame = encode_response(request_id, method, status, payload);
    boost::asio::post(strand, [weak, frame = std::move(frame)]() mutable {
      if (std::shared_ptr<InboundConnection> connection = weak.lock()) {
        connection->send(std::move(frame));  // dropped if the connection closed meanwhile
      }
    });
  };
}

bool InboundConnection::reading_paused() const {
  return in_flight_ >= context_->options().inbound_requests_in_flight_max;
}

void InboundConnection::on_frames_written(size_t frames) {
  in_flight_ -= std::min(frames, in_flight_);
  resume_reading();
}

void InboundConnection::on_handshake_failed(const Status&) {
  context_->count_refused_handshake();
}

void InboundConnection::on_closed(const Status& reason) {
  spdlog::debug("net: inbound connection from {} closed: {}", remote(), reason.to_string());
  context_->unregister_inbound(this);
}

}  // namespace chorus
