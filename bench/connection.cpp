// Connection: one closed-loop Beast HTTP client connection (see connection.h).
#include "bench/connection.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace chorus::bench {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

Connection::Connection(net::io_context& io, tcp::endpoint endpoint, std::string host,
                       RunShared* shared, uint64_t seed, uint64_t index)
    : endpoint_(endpoint),
      host_(std::move(host)),
      shared_(shared),
      strand_(net::make_strand(io)),
      stream_(std::in_place_index<0>, strand_),
      backoff_timer_(strand_) {
  // One stream per connection, derived from the run's seed, so a seed replays each connection's
  // sequence of operations and keys.
  std::seed_seq seq{seed, index};
  rng_.seed(seq);
}

void Connection::start() {
  net::post(strand_, [self = shared_from_this()] { self->connect(); });
}

void Connection::resume() {
  net::post(strand_, [self = shared_from_this()] {
    if (!self->parked_) return;
    self->parked_ = false;
    self->next_request();
  });
}

void Connection::stop() {
  net::post(strand_, [self = shared_from_this()] {
    self->stopped_ = true;
    self->backoff_timer_.cancel();
    beast::error_code ignored;  // the socket may already be closed; nothing to do then
    self->lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    self->lowest().close();
  });
}

void Connection::connect() {
  if (stopped_) return;
  buffer_.clear();
  if (shared_->tls) {
    stream_.emplace<TlsStream>(strand_, *shared_->tls);
    auto& tls = std::get<TlsStream>(stream_);
    tls.set_verify_mode(net::ssl::verify_peer);
    tls.set_verify_callback(net::ssl::host_name_verification(host_.substr(0, host_.rfind(':'))));
  } else {
    stream_.emplace<Stream>(strand_);
  }
  lowest().expires_after(std::chrono::milliseconds(shared_->config->timeout_ms));
  lowest().async_connect(endpoint_,
                         beast::bind_front_handler(&Connection::on_connect, shared_from_this()));
}

Connection::Stream& Connection::lowest() {
  return std::visit([](auto& stream) -> Stream& { return beast::get_lowest_layer(stream); },
                    stream_);
}

void Connection::on_connect(beast::error_code ec) {
  if (stopped_) return;
  if (ec) return fail(Cause::kConnect);
  backoff_ = kReconnectBackoffMin;
  beast::error_code ignored;  // Nagle only adds latency here; a failure to disable it is harmless
  lowest().socket().set_option(tcp::no_delay(true), ignored);
  if (auto* tls = std::get_if<TlsStream>(&stream_)) {
    tls->async_handshake(net::ssl::stream_base::client,
                         beast::bind_front_handler(&Connection::on_handshake, shared_from_this()));
    return;
  }
  next_request();
}

void Connection::on_handshake(beast::error_code ec) {
  if (stopped_) return;
  if (ec) return fail(Cause::kConnect);
  next_request();
}

void Connection::next_request() {
  if (stopped_) return;
  const Phase phase = shared_->phase.load(std::memory_order_acquire);
  if (phase == Phase::kDone) return;
  if (phase == Phase::kPreload) {
    const uint64_t key = shared_->next_preload_key.fetch_add(1, std::memory_order_relaxed);
    if (key >= shared_->config->keys) {
      parked_ = true;  // every key is claimed; the runner resumes us when the load starts
      return;
    }
    return send(Op::kPut, key, phase);
  }
  const Op op = choose_op(shared_->config->read_ratio, rng_);
  send(op, shared_->key_chooser->next(rng_), phase);
}

void Connection::send(Op op, uint64_t key, Phase phase) {
  const BenchConfig& config = *shared_->config;
  op_ = op;
  request_phase_ = phase;
  request_ = {};
  request_.version(11);
  request_.keep_alive(true);
  request_.set(http::field::host, host_);
  if (!shared_->authorization.empty()) {
    request_.set(http::field::authorization, shared_->authorization);
  }
  if (op == Op::kGet) {
    request_.method(http::verb::get);
    request_.target(kv_path(key, "r", config.read_quorum));
  } else {
    request_.method(http::verb::put);
    request_.target(kv_path(key, "w", config.write_quorum));
    request_.set(http::field::content_type, "application/json");
    request_.body() = shared_->put_body;
  }
  request_.prepare_payload();
  request_start_ = std::chrono::steady_clock::now();
  // One deadline for the whole exchange: the write and the read that follows it.
  lowest().expires_after(std::chrono::milliseconds(config.timeout_ms));
  with_stream([&](auto& stream) {
    http::async_write(stream, request_,
                      beast::bind_front_handler(&Connection::on_write, shared_from_this()));
  });
}

void Connection::on_write(beast::error_code ec, size_t /*bytes*/) {
  if (stopped_) return;
  if (ec) return fail(ec == beast::error::timeout ? Cause::kTimeout : Cause::kIo);
  parser_.emplace();
  parser_->body_limit(kResponseBytesMax);
  with_stream([&](auto& stream) {
    http::async_read(stream, buffer_, *parser_,
                     beast::bind_front_handler(&Connection::on_read, shared_from_this()));
  });
}

void Connection::on_read(beast::error_code ec, size_t /*bytes*/) {
  if (stopped_) return;
  if (ec) return fail(ec == beast::error::timeout ? Cause::kTimeout : Cause::kIo);
  const int status = static_cast<int>(parser_->get().result_int());
  const bool keep_alive = parser_->get().keep_alive();
  count(is_success(op_, status), Cause::kHttp, status);
  if (!keep_alive) {  // the server asked to close; reconnecting is not an error
    lowest().close();
    return connect();
  }
  next_request();
}

// Records the outcome of the request in flight in the counters of the phase it started in.
void Connection::count(bool success, Cause cause, int http_status) {
  (success ? shared_->successes : shared_->errors).fetch_add(1, std::memory_order_relaxed);
  if (request_phase_ == Phase::kPreload) {
    ++(success ? stats_.preload_ok : stats_.preload_errors);
    const uint64_t finished = shared_->preload_finished.fetch_add(1, std::memory_order_acq_rel) + 1;
    if (finished == shared_->config->keys && shared_->on_preload_done) shared_->on_preload_done();
    return;
  }
  if (request_phase_ != Phase::kMeasure) return;
  OpStats& op = stats_.ops[static_cast<int>(op_)];
  if (success) {
    const auto elapsed = std::chrono::steady_clock::now() - request_start_;
    op.latency.record(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count()));
    return;
  }
  ++op.errors;
  switch (cause) {
    case Cause::kHttp:
      if (http_status >= kHttpStatusMin && http_status < kHttpStatusEnd) {
        ++stats_.errors.by_status[http_status];
      } else {
        ++stats_.errors.io;
      }
      break;
    case Cause::kTimeout:
      ++stats_.errors.timeout;
      break;
    case Cause::kConnect:
      ++stats_.errors.connect;
      break;
    case Cause::kIo:
      ++stats_.errors.io;
      break;
  }
}

void Connection::fail(Cause cause) {
  if (cause == Cause::kConnect) {
    // No request was in flight: count against the current phase, outside any op.
    shared_->errors.fetch_add(1, std::memory_order_relaxed);
    if (shared_->phase.load(std::memory_order_acquire) == Phase::kMeasure) ++stats_.errors.connect;
  } else {
    count(false, cause, 0);
  }
  lowest().close();
  reconnect_later();
}

void Connection::reconnect_later() {
  backoff_timer_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, kReconnectBackoffMax);
  backoff_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec || self->stopped_) return;
    self->connect();
  });
}

}  // namespace chorus::bench
