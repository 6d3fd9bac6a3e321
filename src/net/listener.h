// Listener: the transport's TCP acceptor. It admits up to inbound_connections_max connections and
// starts an InboundConnection, on its own strand, for each.
//
// Internal to src/net. Owned by shared_ptr (the Transport and the pending accept); all acceptor
// work runs on the listener's strand, and close() may be called from any thread. A connection
// beyond the limit is closed right after accept (logged, rate-limited). A failed accept (e.g. out
// of file descriptors) is logged and retried after kAcceptRetryDelayMs rather than in a busy loop.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <string>

#include "core/status.h"
#include "net/framed_connection.h"
#include "net/transport_context.h"

namespace chorus {

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  static constexpr uint64_t kAcceptRetryDelayMs = 100;

  explicit Listener(std::shared_ptr<TransportContext> context);

  // Binds "host:port" (SO_REUSEADDR, so a restarted node gets its port back despite TIME_WAIT).
  // InvalidArgument for a malformed or unresolvable address, IOError when bind/listen fails.
  [[nodiscard]] Status open(const std::string& host_port);
  // Starts the accept loop (after open() succeeded).
  void start();
  // Any thread: closes the acceptor, releasing the port once the posted handler has run.
  void close();
  // "host:port" actually bound.
  const std::string& local_address() const { return local_address_; }

 private:
  void accept_next();
  void on_accept(const boost::system::error_code& ec, boost::asio::ip::tcp::socket socket);
  void admit(boost::asio::ip::tcp::socket socket);

  const std::shared_ptr<TransportContext> context_;
  FramedConnection::Strand strand_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;
  std::string local_address_;
  bool closed_ = false;  // strand only
};

}  // namespace chorus
