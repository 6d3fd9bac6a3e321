// Transport: internode RPC over TCP (DESIGN.md §3).
//
// A Transport both serves requests (listen() + set_handler()) and makes calls to peers
// ("host:port"). Each peer gets one persistent outbound connection, created on first use and shared
// by every call to that peer: requests are length-prefixed binary frames tagged with a request id,
// so many calls are in flight at once and replies may come back in any order. Every call has a
// deadline. Frames, per-peer queues, inbound connections and requests in flight per inbound
// connection are all bounded (TransportOptions); exceeding a bound fails fast (Busy, TooLarge) or
// applies backpressure, never grows a queue.
//
// Reconnects: a call to a peer with no connection starts one. When a connect attempt fails
// (refused, unreachable, connect_timeout_ms), or a fresh connection dies before delivering any
// reply, the peer enters a backoff (exponential from reconnect_backoff_min_ms to
// reconnect_backoff_max_ms, jittered). While in backoff, new calls to that peer fail at once with
// Unavailable instead of waiting: the coordinator would rather ask another replica than queue
// behind a dead one. The next call after the backoff tries to connect again. A working connection
// that drops fails its in-flight calls and is re-established by the next call. Calls are never
// retried by the transport.
//
// Threads: the io_context may be run by any number of threads. Every connection's state lives on
// its own strand; call(), close() and Responders may be used from any thread. Callbacks
// (RpcCallback) run on an io_context thread (once a call reached its peer's queue, on that peer's
// strand), so they must be short and must not block or throw. The RpcHandler runs on the inbound
// connection's strand and should hand real work elsewhere, then answer through the Responder from
// any thread; a handler that throws a std::exception is logged and answered with IOError.
//
// Ownership and lifetime: the caller owns the io_context and the MetricsRegistry, which must
// outlive every handler of this transport that the io_context will still run. Connections are
// shared objects kept alive by their pending handlers, so close() followed by io_context::stop()
// and joining the threads is clean, and destroying the Transport after close() is safe even while
// the io_context keeps running other work.
//
// Mutual TLS (set_tls, DESIGN.md §10): every connection, inbound and outbound, first runs a TLS
// handshake in which both sides present a certificate chaining to the cluster's CA. The handler
// then learns who is calling: the Common Name of the caller's certificate, its node id. The
// transport only authenticates; what a caller may do is the handler's decision. A failed or slow
// (tls_handshake_timeout_ms) inbound handshake closes the connection unanswered and is counted in
// chorus_security_refusals_total{reason="peer_handshake"}; outbound, it fails the calls as
// Unavailable and backs off like a failed connect.
//
// Errors: listen() returns a Status. A call's outcome is always delivered to its callback, exactly
// once, as long as the io_context keeps running (see call()).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/limits.h"
#include "core/metrics.h"
#include "core/status.h"
#include "net/rpc_client.h"

namespace chorus {

// Smallest frame limit a transport accepts: a header plus a useful error message.
constexpr size_t kFrameBytesMin = 256;
static_assert(kFrameBytesMin < kFrameBytesMax);

struct TransportOptions {
  // Largest frame (everything after its 4-byte length) sent or accepted. Values outside
  // [kFrameBytesMin, kFrameBytesMax] are clamped into it.
  size_t frame_bytes_max = kFrameBytesMax;
  // Calls queued or in flight to one peer; beyond it call() fails at once with Busy. 4096 covers a
  // coordinator fanning out to one replica at high load; the queue it bounds is the write queue.
  size_t pending_calls_per_peer_max = 4096;
  // Accepted connections at once; extra connections are closed right after accept.
  size_t inbound_connections_max = 256;
  // Per inbound connection: requests handed to the handler whose response is not yet written. At
  // the bound the connection stops reading (TCP backpressure to the caller) until responses drain.
  // 0 is raised to 1 (a connection that may never read would hang its peer).
  size_t inbound_requests_in_flight_max = 4096;
  // Resolving and connecting to a peer together, before queued calls fail with Unavailable.
  uint64_t connect_timeout_ms = 1000;
  // TLS only: from TCP connect (or accept) to a finished handshake.
  uint64_t tls_handshake_timeout_ms = 2000;
  uint64_t reconnect_backoff_min_ms = 50;
  // At most a second between attempts: a link healing while gossip kept the peer alive throughout
  // (a bridge partition: a third node vouched for it, so no alive event triggers retry_now) is
  // back within about a second, under issue 15's 2 s. An attempt a second per unreachable peer
  // costs nothing worth saving.
  uint64_t reconnect_backoff_max_ms = 1000;
  // A connection with bytes to send that gets none into the socket for this long is closed, and
  // so is one whose sent data stays unacknowledged this long (TCP_USER_TIMEOUT): its calls fail
  // and the next call reconnects. A partition or a stopped peer then blocks a link for this long,
  // not until the kernel gives up. 0 turns both off.
  uint64_t stall_timeout_ms = 3000;
};

// Distinct peers one transport keeps connections to. Far above any cluster Chorus targets; it only
// stops a bug (or a hostile address list) from opening sockets without end. Beyond it: Unavailable.
constexpr size_t kOutboundPeersMax = 4096;
// Deadlines longer than this are cut to it (and keep steady_clock arithmetic far from overflow).
constexpr uint64_t kCallTimeoutMsMax = 3'600'000;

static_assert(TransportOptions{}.frame_bytes_max <= kFrameBytesMax);
static_assert(TransportOptions{}.reconnect_backoff_min_ms <=
              TransportOptions{}.reconnect_backoff_max_ms);

// Answers a request exactly once, from any thread (while the io_context exists). A non-OK status
// reaches the caller as that Status (code and message; the message is cut to 4 KiB, or to what the
// frame limit allows). A payload above the frame limit is answered with TooLarge instead. Answers
// after the connection died are dropped; a second answer is ignored (logged as an error).
using Responder = std::function<void(Status status, std::string payload)>;
// `caller` is the node id the caller's TLS certificate names, or empty on a transport without TLS
// (where nobody is authenticated and a message's claims are all there is).
using RpcHandler = std::function<void(const std::string& caller, uint16_t method,
                                      std::string payload, Responder respond)>;

// The TLS contexts for new connections, asked once per connection so that a rotation (a provider
// returning a new context) reaches new connections while open ones keep theirs. Both are set or
// neither; each must return a context that verifies the peer's certificate.
struct TransportTls {
  std::function<std::shared_ptr<boost::asio::ssl::context>()> server;  // accepted connections
  std::function<std::shared_ptr<boost::asio::ssl::context>()> client;  // connections to peers
};

class TransportContext;
class Listener;
class Peer;

class Transport : public RpcClient {
 public:
  // `metrics` may be nullptr (the transport then counts into a private registry).
  Transport(boost::asio::io_context& io, TransportOptions options, MetricsRegistry* metrics);
  // Calls close() if it was not called (that posts to the io_context, which must then still
  // exist). Safe once close() was called (see Ownership above).
  ~Transport() override;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Handles incoming requests. Set it before listen(); without one, requests are answered with
  // Unavailable.
  void set_handler(RpcHandler handler);
  // Turns on mutual TLS. Set it before listen() and the first call(), or not at all.
  void set_tls(TransportTls tls);

  // Binds and starts accepting on "host:port" ("127.0.0.1:7001"; port 0 picks a free port; an empty
  // host means all interfaces). InvalidArgument for a malformed address or a second listen();
  // IOError when the address cannot be bound (e.g. in use); Unavailable after close().
  Status listen(const std::string& host_port);

  // The bound "host:port" with the port resolved; empty before a successful listen().
  std::string local_address() const;

  // Sends a request to peer "host:port" over the persistent connection to that peer (created on
  // first use). `cb` is called exactly once on an io_context thread with:
  //   - the reply payload;
  //   - the remote handler's error Status (its code and message);
  //   - Timeout when no reply came within timeout_ms (a late reply is dropped);
  //   - Unavailable when the peer cannot be reached, is in reconnect backoff, the connection drops
  //     with the call in flight, or the transport is closed (the transport never retries a call);
  //   - Busy when pending_calls_per_peer_max calls to this peer are already queued or in flight;
  //   - TooLarge when the payload does not fit frame_bytes_max;
  //   - InvalidArgument when `peer` is not "host:port".
  // `cb` is never called inline from call(). If the io_context is stopped for good before delivery,
  // pending callbacks are destroyed without being called.
  void call(const std::string& peer, uint16_t method, std::string payload, uint64_t timeout_ms,
            RpcCallback cb) override;

  // Stops accepting, closes every connection and completes pending calls with Unavailable. Returns
  // at once; the work happens in handlers on the io_context (the listening port is released when
  // the acceptor's handler ran). Idempotent; later call()s fail with Unavailable.
  // Ends the reconnect backoff of `peer`, if any, so the next call connects at once, and replaces
  // a connection to it whose writes are stuck (left over from a partition). For callers with
  // evidence the peer is up (gossip just heard from it): without this, a node whose first connects
  // raced its peers' start would fail calls fast for up to reconnect_backoff_max_ms.
  void retry_now(const std::string& peer);

  void close();

 private:
  std::shared_ptr<TransportContext> context_;
  std::shared_ptr<Listener> listener_;  // guarded by mu_
  mutable std::mutex mu_;               // guards listener_ and peers_; never held across I/O
  std::unordered_map<std::string, std::shared_ptr<Peer>> peers_;
};

}  // namespace chorus
