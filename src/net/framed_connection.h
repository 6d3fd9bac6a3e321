// FramedConnection: one TCP socket carrying RPC frames, the part inbound and outbound connections
// share: an optional TLS handshake, a read loop feeding a FrameDecoder, and a bounded write queue
// sent in batches.
//
// TLS (DESIGN.md §10): given a context, the connection runs the handshake first, as the server or
// the client side, within handshake_timeout_ms; frames queued meanwhile wait for it. The contexts a
// node builds require a certificate from both sides that chains to the cluster's CA, so once the
// handshake is done peer_id() is the Common Name of the other end's certificate: the node id the
// transport vouches for. Without TLS peer_id() is empty.
//
// Internal to src/net. Always owned by shared_ptr: every pending I/O handler holds one, so the
// socket and its buffers outlive any operation on them. Every method, and every virtual hook, runs
// on the connection's strand; other threads reach it with boost::asio::post(strand(), ...). Errors:
// a socket error, a malformed or oversized frame, a full write queue or a hook returning a non-OK
// Status closes the connection; on_closed() then runs exactly once with the reason.
//
// Liveness: with stall_timeout_ms > 0, a connection that has bytes to send and gets none of them
// into the socket for that long is closed (Unavailable), and the socket's TCP_USER_TIMEOUT is set
// to the same, with keepalive probes for idle connections. A partition or a stopped peer then costs
// one stall timeout, after which the owner reconnects, instead of a full queue until the kernel's
// retransmissions give up (minutes).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
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

  using TlsContextPtr = std::shared_ptr<boost::asio::ssl::context>;
  struct Tls {
    TlsContextPtr context;  // null: plain TCP
    boost::asio::ssl::stream_base::handshake_type side = boost::asio::ssl::stream_base::server;
    uint64_t handshake_timeout_ms = 0;
  };

  // `socket` must be open and connected. `write_queue_frames_max` is the bound the owner guarantees
  // (pending calls, or requests in flight); exceeding it is treated as a broken invariant and
  // closes the connection. `connections` is incremented here and decremented on close.
  FramedConnection(boost::asio::ip::tcp::socket socket, Strand strand, size_t frame_bytes_max,
                   size_t write_queue_frames_max, Gauge* connections, Tls tls,
                   uint64_t stall_timeout_ms = 0);
  virtual ~FramedConnection();
  FramedConnection(const FramedConnection&) = delete;
  FramedConnection& operator=(const FramedConnection&) = delete;

  // Sets TCP_NODELAY, runs the TLS handshake if any, then starts reading and writing.
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
  // The node id in the other end's certificate once the TLS handshake is done; empty without TLS.
  const std::string& peer_id() const { return peer_id_; }
  bool established() const { return established_; }
  // How long bytes have been waiting to enter the socket without any progress; zero when nothing
  // is being written.
  std::chrono::steady_clock::duration write_stalled_for() const;

 protected:
  // A decoded frame. A non-OK Status closes the connection with that reason.
  virtual Status on_frame(Frame frame) = 0;
  // Runs once, from close().
  virtual void on_closed(const Status& reason) = 0;
  // While true, no further frames are decoded or read (backpressure).
  virtual bool reading_paused() const { return false; }
  // `frames` queued frames reached the socket.
  virtual void on_frames_written(size_t frames) {}
  // The TLS handshake failed or timed out (before on_closed with the same reason).
  virtual void on_handshake_failed(const Status& reason) {}

 private:
  void handshake();
  void on_handshake(const boost::system::error_code& ec);
  // Logs, tells the subclass (on_handshake_failed) and closes with `reason`.
  void fail_handshake(const Status& reason);
  boost::asio::ip::tcp::socket& tcp();
  void pump();
  void on_read(const boost::system::error_code& ec, size_t bytes);
  void write_more();
  void on_write(const boost::system::error_code& ec);
  void set_liveness_options();
  void watch_progress();

  boost::asio::ip::tcp::socket socket_;  // moved into tls_ when there is one
  Strand strand_;
  Tls tls_options_;
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket>> tls_;
  boost::asio::steady_timer handshake_timer_;
  const uint64_t stall_timeout_ms_;
  boost::asio::steady_timer watchdog_timer_;
  std::chrono::steady_clock::time_point write_progress_;  // the last bytes the socket took
  std::string tls_write_buffer_;  // with TLS a batch is one buffer: one record, not one per frame
  std::string peer_id_;
  FrameDecoder decoder_;
  const size_t write_queue_frames_max_;
  Gauge* connections_;
  std::string remote_;
  std::deque<std::string> write_queue_;
  std::vector<std::string> write_batch_;  // frames owned by the write in progress
  bool reading_ = false;
  bool writing_ = false;
  bool established_ = false;  // handshake done (at once without TLS)
  bool closed_ = false;
};

}  // namespace chorus
