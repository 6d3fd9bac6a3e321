// Peer: the client side of the transport for one remote address. It owns the persistent outbound
// connection (OutboundLink), the calls queued or in flight to that peer, their deadlines and the
// reconnect backoff.
//
// Internal to src/net; see net/transport.h for the behaviour callers see. Always owned by
// shared_ptr (the Transport's peer map and pending handlers). call() and close() are safe from any
// thread: they only touch atomics and post to the peer's strand. Everything else runs on that
// strand, which the OutboundLink shares, so link events and call bookkeeping never race. The link
// points back with a weak_ptr, so there is no ownership cycle.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "net/framed_connection.h"
#include "net/transport.h"
#include "net/transport_context.h"

namespace chorus {

class Peer;

// The TCP connection of a Peer; forwards frames and its closing to the Peer on the shared strand.
class OutboundLink final : public FramedConnection {
 public:
  OutboundLink(boost::asio::ip::tcp::socket socket, FramedConnection::Strand strand,
               const std::shared_ptr<TransportContext>& context, std::weak_ptr<Peer> peer);

 protected:
  Status on_frame(Frame frame) override;
  void on_closed(const Status& reason) override;

 private:
  std::weak_ptr<Peer> peer_;
};

class Peer : public std::enable_shared_from_this<Peer> {
 public:
  Peer(std::shared_ptr<TransportContext> context, std::string address, std::string host,
       uint16_t port);

  // Any thread. See Transport::call; the payload size was already checked.
  void call(uint16_t method, std::string payload, uint64_t timeout_ms, RpcCallback cb);
  // Any thread. Fails every pending call with Unavailable and closes the connection for good.
  void close();
  // The caller has evidence the peer is up again: ends a reconnect backoff early, and replaces a
  // connection whose writes are stuck (left over from the outage).
  void retry_now();

  // From the OutboundLink, on the strand.
  Status on_response(const OutboundLink* link, Frame frame);
  void on_link_closed(const OutboundLink* link, const Status& reason);

 private:
  enum class State { kIdle, kConnecting, kConnected, kBackoff, kClosed };
  using Clock = std::chrono::steady_clock;
  using Deadlines = std::multimap<Clock::time_point, uint64_t>;
  struct PendingCall {
    RpcCallback cb;
    Clock::time_point started;
    uint64_t timeout_ms = 0;
    Deadlines::iterator deadline;
  };

  void start_call(uint64_t id, std::string frame, uint64_t timeout_ms, RpcCallback cb,
                  Clock::time_point started);
  void complete(RpcCallback& cb, Result<std::string> result, CallOutcome outcome,
                Clock::time_point started);
  void finish(uint64_t id, Result<std::string> result, CallOutcome outcome);
  void expire_calls(Clock::time_point now);
  void fail_all(const Status& reason);

  void connect();
  void on_resolved(uint64_t attempt, const boost::system::error_code& ec,
                   const boost::asio::ip::tcp::resolver::results_type& endpoints);
  void on_connected(uint64_t attempt, const boost::system::error_code& ec);
  void on_connect_timeout(uint64_t attempt, const boost::system::error_code& ec);
  void connect_failed(const Status& reason);
  void enter_backoff(const Status& reason);

  void arm_deadline_timer();
  void on_deadline_timer(uint64_t generation, const boost::system::error_code& ec);
  void close_on_strand();

  const std::shared_ptr<TransportContext> context_;
  const std::string address_;
  const std::string host_;
  const uint16_t port_;
  FramedConnection::Strand strand_;

  // Any thread: calls admitted and not yet completed (bounded by pending_calls_per_peer_max).
  std::atomic<size_t> pending_{0};
  std::atomic<uint64_t> next_request_id_{1};

  // Strand only, from here on.
  State state_ = State::kIdle;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer connect_timer_;
  boost::asio::steady_timer backoff_timer_;
  uint64_t connect_attempt_ = 0;  // handlers of older attempts are ignored
  std::shared_ptr<boost::asio::ip::tcp::socket> connecting_socket_;
  std::shared_ptr<OutboundLink> link_;
  bool link_replied_ = false;  // the current link delivered a reply: the peer really works
  uint32_t failures_ = 0;      // consecutive failed connects (or links that never replied)
  std::string last_error_;     // why the peer is in backoff, for the fail-fast message
  std::minstd_rand random_;

  // Requests waiting for the connection, with their call ids; at most pending_calls_per_peer_max.
  std::vector<std::pair<uint64_t, std::string>> connect_queue_;
  std::unordered_map<uint64_t, PendingCall> calls_;

  // Deadlines: one timer per peer, armed at the earliest deadline of an ordered multimap. A timer
  // per call would make every reply cancel its timer, which runs one more handler through the
  // strand per call (doubling strand traffic with thousands of calls in flight) and allocates timer
  // state per call; the multimap costs O(log n) per call and still fires exactly at each deadline.
  Deadlines deadlines_;
  boost::asio::steady_timer deadline_timer_;
  bool deadline_timer_armed_ = false;
  Clock::time_point deadline_timer_expiry_;
  uint64_t deadline_timer_generation_ = 0;  // a re-armed timer makes older waits stale
};

}  // namespace chorus
