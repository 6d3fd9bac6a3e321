#include "net/listener.h"

#include <spdlog/spdlog.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>

#include "core/address.h"
#include "net/connection_log.h"
#include "net/inbound_connection.h"

namespace chorus {

namespace {
std::string format_endpoint(const boost::asio::ip::tcp::endpoint& endpoint) {
  const std::string host = endpoint.address().to_string();
  const std::string port = std::to_string(endpoint.port());
  return endpoint.address().is_v6() ? "[" + host + "]:" + port : host + ":" + port;
}

Result<boost::asio::ip::tcp::endpoint> resolve_listen_address(boost::asio::io_context& io,
                                                              const std::string& host_port) {
  std::string host;
  uint16_t port = 0;
  CHORUS_RETURN_IF_ERROR(parse_host_port(host_port, &host, &port));
  if (host.empty()) host = "0.0.0.0";
  boost::system::error_code ec;
  const boost::asio::ip::address address = boost::asio::ip::make_address(host, ec);
  if (!ec) return boost::asio::ip::tcp::endpoint(address, port);
  // Not a literal address: a name such as "localhost" or the pod's DNS name. Resolving blocks,
  // which is fine here: listen() runs once at startup.
  boost::asio::ip::tcp::resolver resolver(io);
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty()) {
    return Status::InvalidArgument("cannot resolve listen address '" + host_port +
                                   "': " + (ec ? ec.message() : "no addresses"));
  }
  return results.begin()->endpoint();
}
}  // namespace

Listener::Listener(std::shared_ptr<TransportContext> context)
    : context_(std::move(context)),
      strand_(boost::asio::make_strand(context_->io())),
      acceptor_(context_->io()),
      retry_timer_(strand_) {}

Status Listener::open(const std::string& host_port) {
  Result<boost::asio::ip::tcp::endpoint> endpoint =
      resolve_listen_address(context_->io(), host_port);
  if (!endpoint.ok()) return endpoint.status();
  boost::system::error_code ec;
  const char* step = "open";
  acceptor_.open(endpoint->protocol(), ec);
  if (!ec) {
    step = "set SO_REUSEADDR on";
    acceptor_.set_option(boost::asio::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    step = "bind";
    acceptor_.bind(*endpoint, ec);
  }
  if (!ec) {
    step = "listen on";
    acceptor_.listen(boost::asio::socket_base::max_listen_connections, ec);
  }
  boost::asio::ip::tcp::endpoint bound;
  if (!ec) {
    step = "read the address of";
    bound = acceptor_.local_endpoint(ec);
  }
  if (ec) {
    boost::system::error_code close_ec;
    acceptor_.close(close_ec);  // best effort; the bind error is what the caller needs
    if (close_ec) spdlog::debug("net: closing acceptor: {}", close_ec.message());
    return Status::IOError(std::string("cannot ") + step + " " + host_port + ": " + ec.message());
  }
  local_address_ = format_endpoint(bound);
  return Status::OK();
}

void Listener::start() {
  boost::asio::post(strand_, [self = shared_from_this()] { self->accept_next(); });
}

void Listener::accept_next() {
  if (closed_) return;
  acceptor_.async_accept(boost::asio::bind_executor(
      strand_, [self = shared_from_this()](const boost::system::error_code& ec,
                                           boost::asio::ip::tcp::socket socket) {
        self->on_accept(ec, std::move(socket));
      }));
}

void Listener::on_accept(const boost::system::error_code& ec, boost::asio::ip::tcp::socket socket) {
  if (closed_ || ec == boost::asio::error::operation_aborted) return;
  if (ec) {
    log_connection_error("accept on " + local_address_ + " failed: " + ec.message());
    retry_timer_.expires_after(std::chrono::milliseconds(kAcceptRetryDelayMs));
    retry_timer_.async_wait(boost::asio::bind_executor(
        strand_, [self = shared_from_this()](const boost::system::error_code& timer_ec) {
          if (timer_ec != boost::asio::error::operation_aborted) self->accept_next();
        }));
    return;
  }
  admit(std::move(socket));
  accept_next();
}

void Listener::admit(boost::asio::ip::tcp::socket socket) {
  // Only this strand adds connections, so the count cannot grow between this check and the
  // registration below.
  if (context_->inbound_count() >= context_->options().inbound_connections_max) {
    boost::system::error_code ec;
    const auto remote = socket.remote_endpoint(ec);
    log_connection_error("refusing connection from " +
                         (ec ? std::string("(unknown)") : format_endpoint(remote)) + ": " +
                         std::to_string(context_->options().inbound_connections_max) +
                         " inbound connections open");
    socket.close(ec);
    if (ec) spdlog::debug("net: closing refused socket: {}", ec.message());
    return;
  }
  auto connection = std::make_shared<InboundConnection>(
      std::move(socket), boost::asio::make_strand(context_->io()), context_);
  const bool admitted = context_->register_inbound(connection);
  boost::asio::post(connection->strand(), [connection, admitted] {
    if (admitted) {
      connection->start();
    } else {
      connection->close(Status::Unavailable("transport closed"));
    }
  });
}

void Listener::close() {
  boost::asio::post(strand_, [self = shared_from_this()] {
    if (self->closed_) return;
    self->closed_ = true;
    self->retry_timer_.cancel();
    boost::system::error_code ec;
    self->acceptor_.close(ec);
    if (ec) spdlog::warn("net: closing listener on {}: {}", self->local_address_, ec.message());
  });
}

}  // namespace chorus
