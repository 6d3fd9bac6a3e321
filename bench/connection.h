// Connection: one closed-loop HTTP/1.1 client connection of the load generator. It keeps one
// keep-alive TCP connection (TCP_NODELAY) to one target and has at most one request in flight:
// connect (and with RunShared::tls, a TLS handshake verifying the target's certificate), then send
// a request, read its response, record it, send the next one.
//
// What it sends depends on the run's phase (RunShared::phase): during preload it claims the next
// unwritten key and PUTs it, and parks once every key is claimed until resume(); afterwards it
// draws GET or PUT and a key from the workload. A failed connect or request is counted, the socket
// closed, and the connection reconnects after a bounded exponential backoff; it never gives up
// until stop().
//
// Thread-safety: all of a connection's work runs on its own strand, so the run's io_context may be
// driven by any number of threads. start(), resume() and stop() may be called from any thread.
// stats() may be read only after the io_context stopped running.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <variant>

#include "bench/config.h"
#include "bench/report.h"
#include "bench/workload.h"

namespace chorus::bench {

enum class Phase : int { kPreload, kWarmup, kMeasure, kDone };

// Largest response body accepted: a GET of the largest value, base64-inflated, plus its JSON.
constexpr size_t kResponseBytesMax = kValueBytesMaxLimit / 3 * 4 + 64 * 1024;
// Reconnect backoff: fast enough to recover from one dropped connection at once, slow enough not
// to spin on a target that is down.
constexpr std::chrono::milliseconds kReconnectBackoffMin{10};
constexpr std::chrono::milliseconds kReconnectBackoffMax{1000};

// What every connection of a run shares: read-only parts set before start(), plus the phase the
// runner advances and counters the connections advance.
struct RunShared {
  const BenchConfig* config = nullptr;
  const KeyChooser* key_chooser = nullptr;
  std::string put_body;
  std::string authorization;                       // "Bearer <token>", or empty
  std::shared_ptr<boost::asio::ssl::context> tls;  // null: plain HTTP
  std::atomic<Phase> phase{Phase::kPreload};
  std::atomic<uint64_t> next_preload_key{0};
  std::atomic<uint64_t> preload_finished{0};  // preload PUTs answered or failed
  // All phases, for the progress lines.
  std::atomic<uint64_t> successes{0};
  std::atomic<uint64_t> errors{0};
  // Called once, by the connection that finishes the last preload PUT, on that connection's strand.
  std::function<void()> on_preload_done;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `shared` must outlive the connection; `host` is the Host header ("127.0.0.1:8081").
  Connection(boost::asio::io_context& io, boost::asio::ip::tcp::endpoint endpoint, std::string host,
             RunShared* shared, uint64_t seed, uint64_t index);

  void start();
  // Wakes a connection parked at the end of preload; no-op otherwise.
  void resume();
  // Closes the socket and stops for good; an in-flight request is abandoned, not counted.
  void stop();

  const RunStats& stats() const { return stats_; }

 private:
  enum class Cause { kHttp, kConnect, kTimeout, kIo };
  // Concrete strand type rather than any_io_executor: type erasure showed up in profiles.
  using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;
  using Stream = boost::beast::basic_stream<boost::asio::ip::tcp, Strand>;
  using TlsStream = boost::beast::ssl_stream<Stream>;
  using Timer = boost::asio::basic_waitable_timer<
      std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>, Strand>;

  void connect();
  void on_connect(boost::beast::error_code ec);
  void on_handshake(boost::beast::error_code ec);
  Stream& lowest();
  template <class F>
  void with_stream(F&& f) {
    std::visit([&](auto& stream) { f(stream); }, stream_);
  }
  void next_request();
  void send(Op op, uint64_t key, Phase phase);
  void on_write(boost::beast::error_code ec, size_t bytes);
  void on_read(boost::beast::error_code ec, size_t bytes);
  void count(bool success, Cause cause, int http_status);
  void fail(Cause cause);
  void reconnect_later();

  boost::asio::ip::tcp::endpoint endpoint_;
  std::string host_;
  RunShared* shared_;
  Strand strand_;
  // Made anew for every connection attempt (TLS state is per connection).
  std::variant<Stream, TlsStream> stream_;
  Timer backoff_timer_;
  boost::beast::flat_buffer buffer_;
  boost::beast::http::request<boost::beast::http::string_body> request_;
  std::optional<boost::beast::http::response_parser<boost::beast::http::string_body>> parser_;
  std::mt19937_64 rng_;

  // The request in flight.
  Op op_ = Op::kGet;
  Phase request_phase_ = Phase::kPreload;
  std::chrono::steady_clock::time_point request_start_;

  std::chrono::milliseconds backoff_ = kReconnectBackoffMin;
  bool parked_ = false;
  bool stopped_ = false;
  RunStats stats_;
};

}  // namespace chorus::bench
