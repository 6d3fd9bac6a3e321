#include "net/framed_connection.h"

#include <spdlog/spdlog.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>

#include "net/connection_log.h"
#include "security/tls.h"

namespace chorus {

namespace {
std::string endpoint_string(const boost::asio::ip::tcp::socket& socket) {
  boost::system::error_code ec;
  const auto endpoint = socket.remote_endpoint(ec);
  if (ec) return "(unknown peer)";
  return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}
}  // namespace

FramedConnection::FramedConnection(boost::asio::ip::tcp::socket socket, Strand strand,
                                   size_t frame_bytes_max, size_t write_queue_frames_max,
                                   Gauge* connections, Tls tls, uint64_t stall_timeout_ms)
    : socket_(std::move(socket)),
      strand_(std::move(strand)),
      tls_options_(std::move(tls)),
      handshake_timer_(strand_),
      stall_timeout_ms_(stall_timeout_ms),
      watchdog_timer_(strand_),
      decoder_(frame_bytes_max),
      write_queue_frames_max_(write_queue_frames_max),
      connections_(connections),
      remote_(endpoint_string(socket_)) {
  if (tls_options_.context) {
    tls_ = std::make_unique<boost::asio::ssl::stream<boost::asio::ip::tcp::socket>>(
        std::move(socket_), *tls_options_.context);
  }
  connections_->add(1);
}

boost::asio::ip::tcp::socket& FramedConnection::tcp() {
  return tls_ ? tls_->next_layer() : socket_;
}

// The socket closes itself on destruction; the gauge was settled by close(). A connection destroyed
// without close() only happens when the io_context is torn down with handlers unrun, where metrics
// no longer matter and the registry may already be gone.
FramedConnection::~FramedConnection() = default;

void FramedConnection::start() {
  boost::system::error_code ec;
  tcp().set_option(boost::asio::ip::tcp::no_delay(true), ec);
  if (ec) {
    // Not fatal: the connection works, only with Nagle's delays on small frames.
    log_connection_error("cannot set TCP_NODELAY on connection with " + remote_ + ": " +
                         ec.message());
  }
  set_liveness_options();
  watch_progress();
  if (tls_) return handshake();
  established_ = true;
  pump();
  write_more();
}

// The kernel's half of liveness: unacknowledged data older than the stall timeout aborts the
// connection, and an idle connection to a vanished peer is found by keepalive probes.
void FramedConnection::set_liveness_options() {
  if (stall_timeout_ms_ == 0) return;
  const int fd = tcp().native_handle();
  const unsigned int user_timeout_ms = static_cast<unsigned int>(stall_timeout_ms_);
  const int on = 1;
  const int idle_s = std::max(1, static_cast<int>(stall_timeout_ms_ / 1000));
  const int interval_s = 1;
  const int probes = 3;
  if (::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms) !=
          0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) != 0 ||
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof idle_s) != 0 ||
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_s, sizeof interval_s) != 0 ||
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes) != 0) {
    // Not fatal: the watchdog below still closes a stalled connection.
    log_connection_error("cannot set TCP keepalive/user timeout on connection with " + remote_ +
                         ": " + std::strerror(errno));
  }
}

std::chrono::steady_clock::duration FramedConnection::write_stalled_for() const {
  if (!writing_) return std::chrono::steady_clock::duration::zero();
  return std::chrono::steady_clock::now() - write_progress_;
}

// Our half: checked four times per stall timeout, so a stall is found within 1.25 timeouts.
void FramedConnection::watch_progress() {
  if (stall_timeout_ms_ == 0 || closed_) return;
  watchdog_timer_.expires_after(
      std::chrono::milliseconds(std::max<uint64_t>(25, stall_timeout_ms_ / 4)));
  // A weak reference: the watchdog must not keep a connection alive, or tearing the io_context
  // down would destroy the connection (and this timer) from inside the timer's own handler.
  watchdog_timer_.async_wait(boost::asio::bind_executor(
      strand_, [weak = weak_from_this()](const boost::system::error_code& ec) {
        std::shared_ptr<FramedConnection> self = weak.lock();
        if (ec || !self || self->closed_) return;
        if (self->write_stalled_for() >= std::chrono::milliseconds(self->stall_timeout_ms_)) {
          const Status reason = Status::Unavailable(
              "no progress sending to " + self->remote_ + " for " +
              std::to_string(self->stall_timeout_ms_) + " ms (partitioned or stopped peer)");
          log_connection_error("closing connection with " + self->remote_ + ": " +
                               reason.message());
          self->close(reason);
          return;
        }
        self->watch_progress();
      }));
}

void FramedConnection::handshake() {
  handshake_timer_.expires_after(std::chrono::milliseconds(tls_options_.handshake_timeout_ms));
  handshake_timer_.async_wait(boost::asio::bind_executor(
      strand_, [self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec == boost::asio::error::operation_aborted || self->established_) return;
        // Closing the socket fails the handshake in progress; its handler then sees closed_.
        const Status reason =
            Status::Timeout("TLS handshake with " + self->remote_ + " took longer than " +
                            std::to_string(self->tls_options_.handshake_timeout_ms) + " ms");
        self->fail_handshake(reason);
      }));
  tls_->async_handshake(
      tls_options_.side,
      boost::asio::bind_executor(strand_,
                                 [self = shared_from_this()](const boost::system::error_code& ec) {
                                   self->on_handshake(ec);
                                 }));
}

void FramedConnection::on_handshake(const boost::system::error_code& ec) {
  handshake_timer_.cancel();
  if (closed_) return;
  if (ec) {
    return fail_handshake(
        Status::PermissionDenied("TLS handshake with " + remote_ + " failed: " + ec.message()));
  }
  // The contexts verify the peer's chain to the CA; its Common Name is the node id it may speak
  // for.
  peer_id_ = security::peer_common_name(tls_->native_handle());
  if (peer_id_.empty()) {
    return fail_handshake(
        Status::PermissionDenied("TLS peer " + remote_ + " presented no certificate"));
  }
  established_ = true;
  pump();
  write_more();
}

void FramedConnection::fail_handshake(const Status& reason) {
  if (closed_) return;
  log_connection_error("closing connection with " + remote_ + ": " + reason.message());
  on_handshake_failed(reason);
  close(reason);
}

void FramedConnection::pump() {
  while (!closed_ && !reading_paused()) {
    std::optional<Frame> frame;
    Status status = decoder_.next(&frame);
    if (!status.ok()) {
      log_connection_error("closing connection with " + remote_ + ": " + status.to_string());
      close(status);
      return;
    }
    if (!frame) break;
    status = on_frame(std::move(*frame));
    if (!status.ok()) {
      log_connection_error("closing connection with " + remote_ + ": " + status.to_string());
      close(status);
      return;
    }
  }
  if (closed_ || !established_ || reading_ || reading_paused()) return;
  reading_ = true;
  const size_t want = std::max(kReadChunkBytes, decoder_.bytes_needed());
  char* data = decoder_.prepare(want);
  auto on_read = boost::asio::bind_executor(
      strand_, [self = shared_from_this()](const boost::system::error_code& ec, size_t bytes) {
        self->on_read(ec, bytes);
      });
  if (tls_) {
    tls_->async_read_some(boost::asio::buffer(data, want), std::move(on_read));
  } else {
    socket_.async_read_some(boost::asio::buffer(data, want), std::move(on_read));
  }
}

void FramedConnection::on_read(const boost::system::error_code& ec, size_t bytes) {
  reading_ = false;
  if (closed_) return;
  if (ec) {
    if (ec == boost::asio::error::eof || ec == boost::asio::ssl::error::stream_truncated) {
      spdlog::debug("net: connection with {} closed by peer", remote_);
    } else {
      log_connection_error("read from " + remote_ + " failed: " + ec.message());
    }
    close(Status::Unavailable("connection with " + remote_ + " lost: " + ec.message()));
    return;
  }
  decoder_.commit(bytes);
  pump();
}

void FramedConnection::send(std::string frame) {
  if (closed_) return;
  if (write_queue_.size() >= write_queue_frames_max_) {
    // The owner bounds what it queues, so this is a bug; fail this connection, not the process.
    spdlog::error("net: write queue to {} exceeded {} frames", remote_, write_queue_frames_max_);
    close(Status::Busy("write queue to " + remote_ + " is full"));
    return;
  }
  write_queue_.push_back(std::move(frame));
  write_more();
}

void FramedConnection::write_more() {
  if (closed_ || !established_ || writing_ || write_queue_.empty()) return;
  while (!write_queue_.empty() && write_batch_.size() < kWriteBatchFramesMax) {
    write_batch_.push_back(std::move(write_queue_.front()));
    write_queue_.pop_front();
  }
  writing_ = true;
  write_progress_ = std::chrono::steady_clock::now();
  // Called before each write_some of the composed write, on the strand: each chunk the socket
  // takes is progress. Same chunking as transfer_all.
  auto progress = [self = this, seen = size_t{0}](const boost::system::error_code& ec,
                                                  size_t written) mutable -> size_t {
    if (ec) return 0;
    if (written != seen) {
      seen = written;
      self->write_progress_ = std::chrono::steady_clock::now();
    }
    return 65536;
  };
  auto on_write = boost::asio::bind_executor(
      strand_, [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
        self->on_write(ec);
      });
  if (tls_) {
    // An SSL stream writes one buffer of a sequence per record: gathered, the batch costs one
    // record per 16 KiB instead of a record and a syscall per frame.
    tls_write_buffer_.clear();
    for (const std::string& frame : write_batch_) tls_write_buffer_ += frame;
    boost::asio::async_write(*tls_, boost::asio::buffer(tls_write_buffer_), std::move(progress),
                             std::move(on_write));
    return;
  }
  std::vector<boost::asio::const_buffer> buffers;
  buffers.reserve(write_batch_.size());
  for (const std::string& frame : write_batch_) buffers.push_back(boost::asio::buffer(frame));
  boost::asio::async_write(socket_, buffers, std::move(progress), std::move(on_write));
}

void FramedConnection::on_write(const boost::system::error_code& ec) {
  writing_ = false;
  const size_t written = write_batch_.size();
  write_batch_.clear();
  if (closed_) return;
  if (ec) {
    log_connection_error("write to " + remote_ + " failed: " + ec.message());
    close(Status::Unavailable("connection with " + remote_ + " lost: " + ec.message()));
    return;
  }
  on_frames_written(written);
  write_more();
}

void FramedConnection::close(const Status& reason) {
  if (closed_) return;
  closed_ = true;
  // close() alone sends the FIN and cancels pending reads and writes (their handlers see closed_).
  // No TLS close_notify: the peer treats a truncated stream like EOF, and a close must not wait on
  // a peer that stopped reading.
  boost::system::error_code ec;
  handshake_timer_.cancel();
  watchdog_timer_.cancel();
  tcp().close(ec);
  if (ec) spdlog::debug("net: closing socket to {}: {}", remote_, ec.message());
  write_queue_.clear();
  connections_->add(-1);
  on_closed(reason);
}

}  // namespace chorus
