// InboundConnection: the server side of one accepted TCP connection. It decodes requests, hands
// each to the transport's RpcHandler with a Responder, and writes the responses back in whatever
// order they come.
//
// Internal to src/net. Owned by shared_ptr (pending handlers); the transport's inbound registry and
// every Responder hold only weak_ptrs, so an answer for a connection that died is dropped. Runs on
// its own strand. Backpressure: once inbound_requests_in_flight_max requests are handed out and
// their responses not yet written, the connection stops reading until responses drain, so a slow
// handler slows its callers instead of growing a queue.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <memory>

#include "net/framed_connection.h"
#include "net/transport.h"
#include "net/transport_context.h"

namespace chorus {

class InboundConnection final : public FramedConnection {
 public:
  // With TLS on the transport, the handshake runs first (as the server) and requests then carry
  // the caller's certificate name.
  InboundConnection(boost::asio::ip::tcp::socket socket, FramedConnection::Strand strand,
                    std::shared_ptr<TransportContext> context);

 protected:
  Status on_frame(Frame frame) override;
  void on_closed(const Status& reason) override;
  bool reading_paused() const override;
  void on_frames_written(size_t frames) override;
  void on_handshake_failed(const Status& reason) override;

 private:
  Responder make_responder(uint64_t request_id, uint16_t method);
  void invoke_handler(uint16_t method, std::string payload, const Responder& respond);

  const std::shared_ptr<TransportContext> context_;
  size_t in_flight_ = 0;  // requests handed out whose response is not yet written
};

}  // namespace chorus
