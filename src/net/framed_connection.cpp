#include "net/framed_connection.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>

#include "net/connection_log.h"

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
                                   Gauge* connections)
    : socket_(std::move(socket)),
      strand_(std::move(strand)),
      decoder_(frame_bytes_max),
      write_queue_frames_max_(write_queue_frames_max),
      connections_(connections),
      remote_(endpoint_string(socket_)) {
  connections_->add(1);
}

// The socket closes itself on destruction; the gauge was settled by close(). A connection destroyed
// without close() only happens when the io_context is torn down with handlers unrun, where metrics
// no longer matter and the registry may already be gone.
FramedConnection::~FramedConnection() = default;

void FramedConnection::start() {
  boost::system::error_code ec;
  socket_.set_option(boost::asio::ip::tcp::no_delay(true), ec);
  if (ec) {
    // Not fatal: the connection works, only with Nagle's delays on small frames.
    log_connection_error("cannot set TCP_NODELAY on connection with " + remote_ + ": " +
                         ec.message());
  }
  pump();
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
  if (closed_ || reading_ || reading_paused()) return;
  reading_ = true;
  const size_t want = std::max(kReadChunkBytes, decoder_.bytes_needed());
  char* data = decoder_.prepare(want);
  socket_.async_read_some(
      boost::asio::buffer(data, want),
      boost::asio::bind_executor(
          strand_, [self = shared_from_this()](const boost::system::error_code& ec, size_t bytes) {
            self->on_read(ec, bytes);
          }));
}

void FramedConnection::on_read(const boost::system::error_code& ec, size_t bytes) {
  reading_ = false;
  if (closed_) return;
  if (ec) {
    if (ec == boost::asio::error::eof) {
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
  if (!writing_) write_more();
}

void FramedConnection::write_more() {
  if (closed_ || write_queue_.empty()) return;
  std::vector<boost::asio::const_buffer> buffers;
  while (!write_queue_.empty() && write_batch_.size() < kWriteBatchFramesMax) {
    write_batch_.push_back(std::move(write_queue_.front()));
    write_queue_.pop_front();
  }
  buffers.reserve(write_batch_.size());
  for (const std::string& frame : write_batch_) buffers.push_back(boost::asio::buffer(frame));
  writing_ = true;
  boost::asio::async_write(
      socket_, buffers,
      boost::asio::bind_executor(
          strand_, [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
            self->on_write(ec);
          }));
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
  boost::system::error_code ec;
  socket_.close(ec);
  if (ec) spdlog::debug("net: closing socket to {}: {}", remote_, ec.message());
  write_queue_.clear();
  connections_->add(-1);
  on_closed(reason);
}

}  // namespace chorus
