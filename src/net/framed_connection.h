// FramedConnection: one TCP socket carrying RPC frames, the part inbound and outbound connections
// share: a read loop feeding a FrameDecoder, and a bounded write queue sent in batches.
//
// Internal to src/net. Always owned by shared_ptr: every pending I/O handler holds one, so the
// socket and its buffers outlive any operation on them. Every method, and every virtual hook, runs
// on the connection's strand; other threads reach it with boost::asio::post(strand(), ...). Errors:
// a socket error, a malformed or oversized frame, a full write queue or a hook returning a non-OK
// Status closes the connection; on_closed() then runs exactly once with the reason.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "core/metrics.h"
#include "core/status.h"
#include "net/frame.h"

namespace chorus {

class FramedConnection : public std::enable_shared_from_this<FramedConnection> {
 public:
  using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;

  // Bytes asked of each read; larger frames are read in steps of at least this.
  static constexpr size_t kReadChunkBytes = 64 * 1024;
  // Frames gathered into one write (one syscall under load).
  static constexpr size_t kWriteBatchFramesMax = 64;

  // `socket` must be open and connected. `write_queue_frames_max` is the bound the owner guarantees
  // (pending calls, or requests in flight); exceeding it is treated as a broken invariant and
  // closes the connection. `connections` is incremented here and decremented on close.
  FramedConnection(boost::asio::ip::tcp::socket socket, Strand strand, size_t frame_bytes_max,
                   size_t write_queue_frames_max, Gauge* connections);
  virtual ~FramedConnection();
  FramedConnection(const FramedConnection&) = delete;
  FramedConnection& operator=(const FramedConnection&) = delete;

  // Sets TCP_NODELAY and starts reading.
  void start();
  // Queues a frame to write. Dropped if the connection is closed.
  void send(std::string frame);
  // Closes the socket (cancelling pending I/O) and calls on_closed(reason). Idempotent.
  void close(const Status& reason);
  // Resumes reading after reading_paused() turned false.
  void resume_reading() { pump(); }

  bool is_closed() const { return closed_; }
  // Frames queued and not yet handed to the socket.
  size_t queued_frames() const { return write_queue_.size(); }
  const Strand& strand() const { return strand_; }
  // "ip:port" of the other end, for logs.
  const std::string& remote() const { return remote_; }

 protected:
  // A decoded frame. A non-OK Status closes the connection with that reason.
  virtual Status on_frame(Frame frame) = 0;
  // Runs once, from close().
  virtual void on_closed(const Status& reason) = 0;
  // While true, no further frames are decoded or read (backpressure).
  virtual bool reading_paused() const { return false; }
  // `frames` queued frames reached the socket.
  virtual void on_frames_written(size_t frames) {}

 private:
  void pump();
  void on_read(const boost::system::error_code& ec, size_t bytes);
  void write_more();
  void on_write(const boost::system::error_code& ec);

  boost::asio::ip::tcp::socket socket_;
  Strand strand_;
  FrameDecoder decoder_;
  const size_t write_queue_frames_max_;
  Gauge* connections_;
  std::string remote_;
  std::deque<std::string> write_queue_;
  std::vector<std::string> write_batch_;  // frames owned by the write in progress
  bool reading_ = false;
  bool writing_ = false;
  bool closed_ = false;
};

}  // namespace chorus
