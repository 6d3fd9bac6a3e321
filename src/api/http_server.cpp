#include "api/http_server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <unordered_map>

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

#include "core/address.h"

namespace chorus {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// Connections beyond connections_max are answered 429 and closed. Answering costs a socket for up
// to a write + linger period, so those answers are bounded too; past this, excess connections are
// closed without a word.
constexpr size_t kRejectingConnectionsMax = 64;
// After the last response on a connection we stop sending but keep reading and discarding for a
// moment: closing a socket with unread request bytes makes the kernel send RST, which can destroy
// our (error) response before the client reads it. Bounded in time and bytes.
constexpr uint64_t kLingerMs = 1'000;
constexpr size_t kLingerBytesMax = 1 << 20;
constexpr size_t kReadChunkBytes = 4096;
// accept() fails transiently when the process is out of file descriptors; retrying at once would
// spin a thread.
constexpr uint64_t kAcceptRetryDelayMs = 100;
constexpr std::string_view kContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n";

std::string error_body(const char* code, const std::string& message) {
  return nlohmann::json{{"error", code}, {"message", message}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

HttpResponse error_response(int status, const char* code, const std::string& message) {
  return HttpResponse{status, "application/json", error_body(code, message), {}};
}

void bump(Counter* counter) {
  if (counter != nullptr) counter->inc();
}

std::string format_endpoint(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(endpoint.port());
}

struct ServerMetrics {
  Gauge* connections = nullptr;
  Counter* rejected = nullptr;
  Counter* header_too_large = nullptr;
  Counter* body_too_large = nullptr;
  Counter* bad_request = nullptr;
  Counter* header_timeout = nullptr;
  Counter* body_timeout = nullptr;
  Counter* write_timeout = nullptr;
  Counter* handler_timeout = nullptr;
  Counter* tls_handshake = nullptr;

  explicit ServerMetrics(MetricsRegistry* registry) {
    if (registry == nullptr) return;
    connections = registry->gauge("chorus_http_connections", "Open HTTP connections.");
    const std::string errors = "chorus_http_connection_errors_total";
    const std::string help = "HTTP connections ended or answered early, by reason.";
    rejected = registry->counter(errors, help, R"(reason="overloaded")");
    header_too_large = registry->counter(errors, help, R"(reason="header_too_large")");
    body_too_large = registry->counter(errors, help, R"(reason="too_large")");
    bad_request = registry->counter(errors, help, R"(reason="bad_request")");
    header_timeout = registry->counter(errors, help, R"(reason="header_timeout")");
    body_timeout = registry->counter(errors, help, R"(reason="body_timeout")");
    write_timeout = registry->counter(errors, help, R"(reason="write_timeout")");
    handler_timeout = registry->counter(errors, help, R"(reason="handler_timeout")");
    tls_handshake = registry->counter(errors, help, R"(reason="tls_handshake")");
  }
};

}  // namespace

// What the server needs of a connection whatever its stream (plain TCP or TLS).
class HttpSessionBase {
 public:
  virtual ~HttpSessionBase() = default;
  // Closes the connection from any thread (server shutdown).
  virtual void close() = 0;
};

// Everything the acceptor and the connections share. Connections hold a shared_ptr to it, so it
// outlives the HttpServer object if the io_context still holds connection handlers.
class HttpServerState : public std::enable_shared_from_this<HttpServerState> {
 public:
  HttpServerState(asio::io_context& io, HttpServerOptions options, HttpHandler handler,
                  MetricsRegistry* registry)
      : io_(io),
        options_(options),
        handler_(std::move(handler)),
        metrics_(registry),
        accept_strand_(asio::make_strand(io)),
        acceptor_(accept_strand_),
        accept_retry_timer_(accept_strand_) {}

  Status listen(const std::string& host_port);
  std::string local_address() const {
    std::lock_guard<std::mutex> lock(mu_);
    return local_address_;
  }
  void close();

  const HttpServerOptions& options() const { return options_; }
  const HttpHandler& handler() const { return handler_; }
  const ServerMetrics& metrics() const { return metrics_; }

  // Called by a connection when it starts and when it is destroyed. register_session() returns
  // false once the server is closed (the connection must then close at once).
  bool register_session(uint64_t id, const std::shared_ptr<HttpSessionBase>& session);
  void unregister_session(uint64_t id, bool rejected);

 private:
  void accept();
  void on_accept(const boost::system::error_code& ec, tcp::socket socket);
  template <class Session>
  void start_session(const std::shared_ptr<Session>& session) {
    if (register_session(session->id(), session)) session->start();
  }

  asio::io_context& io_;
  const HttpServerOptions options_;
  const HttpHandler handler_;
  const ServerMetrics metrics_;
  asio::strand<asio::io_context::executor_type> accept_strand_;
  tcp::acceptor acceptor_;  // used on accept_strand_ only, once listening
  asio::steady_timer accept_retry_timer_;
  // Written on accept_strand_, decremented by connection destructors on any thread.
  std::atomic<size_t> connections_{0};
  std::atomic<size_t> rejecting_{0};
  std::atomic<bool> closed_{false};
  uint64_t next_session_id_ = 0;  // accept_strand_ only

  mutable std::mutex mu_;  // guards the members below; never held across I/O
  bool listening_ = false;
  std::string local_address_;
  std::unordered_map<uint64_t, std::weak_ptr<HttpSessionBase>> sessions_;
};

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One accepted connection over Stream (beast::tcp_stream, or TlsStream when the server has a TLS
// context). All members are touched only on the connection's strand (the executor of stream_),
// except in the constructor and destructor.
template <class Stream>
class HttpSession final : public HttpSessionBase,
                          public std::enable_shared_from_this<HttpSession<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  // `tls` is the context a TLS connection is made with (held for the connection's life, so a
  // reload never pulls it from under a live connection); null for plain TCP.
  HttpSession(std::shared_ptr<HttpServerState> state, tcp::socket socket,
              std::shared_ptr<asio::ssl::context> tls, uint64_t id, bool rejected)
      : state_(std::move(state)),
        options_(state_->options()),
        tls_(std::move(tls)),
        stream_(make_stream(std::move(socket), tls_.get())),
        handler_timer_(stream_.get_executor()),
        id_(id),
        rejected_(rejected) {
    boost::system::error_code ec;
    const tcp::endpoint remote = lowest().socket().remote_endpoint(ec);
    peer_ = ec ? std::string("?") : format_endpoint(remote);
  }
  ~HttpSession() { state_->unregister_session(id_, rejected_); }

  uint64_t id() const { return id_; }
  // Starts serving on the connection's strand. May be called from any thread.
  void start() {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->begin(); });
  }
  void close() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] { self->close_now(); });
  }

 private:
  static Stream make_stream(tcp::socket socket, asio::ssl::context* tls) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *tls);
    } else {
      (void)tls;
      return Stream(std::move(socket));
    }
  }
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void begin();
  void on_handshake(const boost::system::error_code& ec);
  void serve();
  void wait_for_request();
  void read_header();
  void on_header(const boost::system::error_code& ec);
  void read_body();
  void on_read_error(const boost::system::error_code& ec, const char* phase);
  void dispatch_request();
  void on_response(uint64_t request_id, HttpResponse response);
  void write_response(HttpResponse response, bool keep_alive);
  void linger_close();
  void linger_read();
  void close_now();

  const std::shared_ptr<HttpServerState> state_;
  const HttpServerOptions& options_;
  const std::shared_ptr<asio::ssl::context> tls_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  asio::steady_timer handler_timer_;
  std::optional<http::response<http::string_body>> response_;  // alive while being written
  const uint64_t id_;
  const bool rejected_;
  std::string peer_;
  uint64_t request_id_ = 0;
  bool awaiting_response_ = false;
  bool keep_alive_ = false;
  bool head_request_ = false;
  unsigned version_ = 11;
  size_t lingered_bytes_ = 0;
  bool counted_in_gauge_ = false;
  bool closed_ = false;
};

// ---- HttpServerState -------------------------------------------------------------------------

Status HttpServerState::listen(const std::string& host_port) {
  std::string host;
  uint16_t port_number = 0;
  if (!parse_host_port(host_port, &host, &port_number).ok()) {
    return Status::InvalidArgument("http address must be host:port, got \"" + host_port + "\"");
  }
  if (host.empty()) host = "0.0.0.0";
  const std::string port = std::to_string(port_number);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return Status::InvalidArgument("http server is closed");
    if (listening_) return Status::InvalidArgument("http server is already listening");
    listening_ = true;
  }
  boost::system::error_code ec;
  tcp::resolver resolver(io_);
  const auto endpoints = resolver.resolve(host, port, tcp::resolver::passive, ec);
  if (ec || endpoints.empty()) {
    return Status::IOError("resolve " + host_port + ": " + (ec ? ec.message() : "no address"));
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  const auto fail = [&](const char* what) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    return Status::IOError(std::string(what) + " " + host_port + ": " + ec.message());
  };
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail("open");
  acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("configure");
  acceptor_.bind(endpoint, ec);
  if (ec) return fail("bind");
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  const tcp::endpoint bound = acceptor_.local_endpoint(ec);
  if (ec) return fail("local address of");
  {
    std::lock_guard<std::mutex> lock(mu_);
    local_address_ = format_endpoint(bound);
  }
  asio::post(accept_strand_, [self = shared_from_this()] { self->accept(); });
  return Status::OK();
}

void HttpServerState::accept() {
  if (closed_) return;
  acceptor_.async_accept(
      asio::make_strand(io_),
      [self = shared_from_this()](const boost::system::error_code& ec, tcp::socket socket) {
        self->on_accept(ec, std::move(socket));
      });
}

void HttpServerState::on_accept(const boost::system::error_code& ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || closed_) return;
  if (ec) {
    // Typically EMFILE/ENFILE: back off instead of spinning on a failing accept.
    spdlog::warn("http accept failed: {}; retrying in {} ms", ec.message(), kAcceptRetryDelayMs);
    accept_retry_timer_.expires_after(std::chrono::milliseconds(kAcceptRetryDelayMs));
    accept_retry_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& e) {
      if (!e) self->accept();
    });
    return;
  }
  boost::system::error_code option_ec;
  socket.set_option(tcp::no_delay(true), option_ec);
  if (option_ec) spdlog::debug("http: TCP_NODELAY failed: {}", option_ec.message());

  bool rejected = false;
  if (connections_ >= options_.connections_max) {
    bump(metrics_.rejected);
    if (rejecting_ >= kRejectingConnectionsMax) {
      boost::system::error_code ignored;
      socket.close(ignored);
      accept();
      return;
    }
    rejected = true;
    ++rejecting_;
  } else {
    ++connections_;
  }
  const uint64_t id = next_session_id_++;
  if (options_.tls_context) {
    start_session(std::make_shared<HttpSession<TlsStream>>(shared_from_this(), std::move(socket),
                                                           options_.tls_context(), id, rejected));
  } else {
    start_session(std::make_shared<HttpSession<beast::tcp_stream>>(
        shared_from_this(), std::move(socket), nullptr, id, rejected));
  }
  accept();
}

bool HttpServerState::register_session(uint64_t id,
                                       const std::shared_ptr<HttpSessionBase>& session) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return false;
  sessions_.emplace(id, session);
  return true;
}

void HttpServerState::unregister_session(uint64_t id, bool rejected) {
  if (rejected) {
    --rejecting_;
  } else {
    --connections_;
  }
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.erase(id);
}

void HttpServerState::close() {
  std::vector<std::shared_ptr<HttpSessionBase>> live;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_.exchange(true)) return;
    for (const auto& entry : sessions_) {
      if (auto session = entry.second.lock()) live.push_back(std::move(session));
    }
  }
  asio::post(accept_strand_, [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
    self->accept_retry_timer_.cancel();
  });
  for (const auto& session : live) session->close();
}

// ---- HttpSession -----------------------------------------------------------------------------

template <class Stream>
void HttpSession<Stream>::begin() {
  if (closed_) return;  // the server closed before this connection started
  // The gauge moves in begin()/close_now() rather than in the constructor/destructor: a session
  // destroyed along with a stopped io_context must not touch a registry that may already be gone.
  Gauge* gauge = state_->metrics().connections;
  if (gauge != nullptr && !rejected_) {
    gauge->add(1);
    counted_in_gauge_ = true;
  }
  if constexpr (kTls) {
    // The handshake shares the header deadline: a client that stalls it is a slowloris too.
    lowest().expires_after(std::chrono::milliseconds(options_.header_timeout_ms));
    stream_.async_handshake(asio::ssl::stream_base::server,
                            [self = this->shared_from_this()](const boost::system::error_code& ec) {
                              self->on_handshake(ec);
                            });
  } else {
    serve();
  }
}

template <class Stream>
void HttpSession<Stream>::on_handshake(const boost::system::error_code& ec) {
  if (ec) {
    // Plain HTTP, another protocol or a stalled client on the HTTPS port: it gets nothing.
    bump(state_->metrics().tls_handshake);
    spdlog::debug("http {}: TLS handshake failed: {}", peer_, ec.message());
    close_now();
    return;
  }
  serve();
}

template <class Stream>
void HttpSession<Stream>::serve() {
  if (closed_) return;
  if (rejected_) {
    spdlog::debug("http {}: over {} connections, answering 429", peer_, options_.connections_max);
    write_response(error_response(429, "overloaded",
                                  "server is at its limit of " +
                                      std::to_string(options_.connections_max) + " connections"),
                   /*keep_alive=*/false);
    return;
  }
  // The first request's header deadline runs from accept (or the end of the TLS handshake): a
  // client that connects and stays silent is as much a slowloris as one that trickles bytes.
  read_header();
}

template <class Stream>
void HttpSession<Stream>::wait_for_request() {
  if (buffer_.size() > 0) {  // a pipelined request is already here
    read_header();
    return;
  }
  lowest().expires_after(std::chrono::milliseconds(options_.idle_timeout_ms));
  stream_.async_read_some(
      buffer_.prepare(kReadChunkBytes),
      [self = this->shared_from_this()](const boost::system::error_code& ec, size_t bytes) {
        self->buffer_.commit(bytes);
        if (ec) {
          if (ec == beast::error::timeout) spdlog::debug("http {}: idle timeout", self->peer_);
          self->close_now();
          return;
        }
        self->read_header();
      });
}

template <class Stream>
void HttpSession<Stream>::read_header() {
  if (closed_) return;
  parser_.emplace();
  parser_->header_limit(
      static_cast<uint32_t>(std::min<size_t>(options_.header_bytes_max, UINT32_MAX)));
  parser_->body_limit(options_.body_bytes_max);
  lowest().expires_after(std::chrono::milliseconds(options_.header_timeout_ms));
  http::async_read_header(stream_, buffer_, *parser_,
                          [self = this->shared_from_this()](const boost::system::error_code& ec,
                                                            size_t) { self->on_header(ec); });
}

template <class Stream>
void HttpSession<Stream>::on_header(const boost::system::error_code& ec) {
  if (ec) {
    on_read_error(ec, "header");
    return;
  }
  const auto& header = parser_->get();
  const bool expects_continue =
      beast::iequals(header[http::field::expect], "100-continue") && !parser_->is_done();
  if (!expects_continue) {
    read_body();
    return;
  }
  // Clients such as curl wait for "100 Continue" before sending a large body; without it they
  // stall for a second per request.
  lowest().expires_after(std::chrono::milliseconds(options_.write_timeout_ms));
  asio::async_write(stream_, asio::buffer(kContinueResponse.data(), kContinueResponse.size()),
                    [self = this->shared_from_this()](const boost::system::error_code& e, size_t) {
                      if (e) {
                        self->on_read_error(e, "continue");
                        return;
                      }
                      self->read_body();
                    });
}

template <class Stream>
void HttpSession<Stream>::read_body() {
  if (parser_->is_done()) {
    dispatch_request();
    return;
  }
  lowest().expires_after(std::chrono::milliseconds(options_.body_timeout_ms));
  http::async_read(stream_, buffer_, *parser_,
                   [self = this->shared_from_this()](const boost::system::error_code& ec, size_t) {
                     if (ec) {
                       self->on_read_error(ec, "body");
                       return;
                     }
                     self->dispatch_request();
                   });
}

template <class Stream>
void HttpSession<Stream>::on_read_error(const boost::system::error_code& ec, const char* phase) {
  const ServerMetrics& metrics = state_->metrics();
  if (ec == http::error::header_limit) {
    bump(metrics.header_too_large);
    spdlog::debug("http {}: header over {} bytes", peer_, options_.header_bytes_max);
    write_response(error_response(431, "header_too_large",
                                  "request header exceeds " +
                                      std::to_string(options_.header_bytes_max) + " bytes"),
                   false);
  } else if (ec == http::error::body_limit) {
    bump(metrics.body_too_large);
    spdlog::debug("http {}: body over {} bytes", peer_, options_.body_bytes_max);
    write_response(error_response(413, "too_large",
                                  "request body exceeds " +
                                      std::to_string(options_.body_bytes_max) + " bytes"),
                   false);
  } else if (ec == beast::error::timeout) {
    // The client is gone or hostile: no answer, just free the connection.
    bump(std::string_view(phase) == "header" ? metrics.header_timeout : metrics.body_timeout);
    spdlog::debug("http {}: {} deadline passed, closing", peer_, phase);
    close_now();
  } else if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
             ec.category() != http::make_error_code(http::error::bad_target).category()) {
    // The peer closed or reset the connection, or we closed it: nothing to answer.
    if (ec != asio::error::operation_aborted && ec != http::error::end_of_stream) {
      spdlog::debug("http {}: {} read ended: {}", peer_, phase, ec.message());
    }
    close_now();
  } else {
    bump(metrics.bad_request);
    spdlog::debug("http {}: malformed request: {}", peer_, ec.message());
    write_response(error_response(400, "bad_request", "malformed HTTP request: " + ec.message()),
                   false);
  }
}

template <class Stream>
void HttpSession<Stream>::dispatch_request() {
  auto& message = parser_->get();
  HttpRequest request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  const size_t question = request.target.find('?');
  request.path = request.target.substr(0, question);
  if (question != std::string::npos) request.query = request.target.substr(question + 1);
  request.content_type = std::string(message[http::field::content_type]);
  request.authorization = std::string(message[http::field::authorization]);
  request.body = std::move(message.body());
  keep_alive_ = message.keep_alive();
  version_ = message.version();
  head_request_ = message.method() == http::verb::head;
  parser_.reset();

  const uint64_t request_id = ++request_id_;
  awaiting_response_ = true;
  handler_timer_.expires_after(std::chrono::milliseconds(options_.handler_timeout_ms));
  handler_timer_.async_wait(
      [self = this->shared_from_this(), request_id](const boost::system::error_code& ec) {
        if (ec || self->request_id_ != request_id || !self->awaiting_response_) return;
        bump(self->state_->metrics().handler_timeout);
        spdlog::debug("http {}: handler did not answer within {} ms", self->peer_,
                      self->options_.handler_timeout_ms);
        self->on_response(request_id, error_response(504, "timeout", "request handler timed out"));
      });
  // Weak: a handler that holds on to `respond` must not keep a closed connection alive.
  HttpRespond respond = [weak = this->weak_from_this(), request_id](HttpResponse response) {
    const auto self = weak.lock();
    if (!self) return;
    asio::post(self->stream_.get_executor(),
               [self, request_id, response = std::move(response)]() mutable {
                 self->on_response(request_id, std::move(response));
               });
  };
  try {
    state_->handler()(std::move(request), std::move(respond));
  } catch (const std::exception& e) {
    // Handlers should not throw; if one does, the client still gets an answer.
    spdlog::error("http {}: handler threw: {}", peer_, e.what());
    on_response(request_id, error_response(500, "internal", "request handler failed"));
  }
}

template <class Stream>
void HttpSession<Stream>::on_response(uint64_t request_id, HttpResponse response) {
  if (closed_ || request_id != request_id_ || !awaiting_response_) return;  // late or duplicate
  awaiting_response_ = false;
  handler_timer_.cancel();
  write_response(std::move(response), keep_alive_);
}

template <class Stream>
void HttpSession<Stream>::write_response(HttpResponse response, bool keep_alive) {
  if (closed_) return;
  response_.emplace(static_cast<http::status>(response.status), version_);
  response_->set(http::field::content_type, response.content_type);
  for (const auto& header : response.headers) response_->set(header.first, header.second);
  response_->body() = std::move(response.body);
  response_->keep_alive(keep_alive);
  response_->prepare_payload();
  if (head_request_) response_->body().clear();  // Content-Length stays: HEAD sends no body
  lowest().expires_after(std::chrono::milliseconds(options_.write_timeout_ms));
  http::async_write(
      stream_, *response_,
      [self = this->shared_from_this(), keep_alive](const boost::system::error_code& ec, size_t) {
        self->response_.reset();
        if (ec) {
          if (ec == beast::error::timeout) bump(self->state_->metrics().write_timeout);
          spdlog::debug("http {}: write failed: {}", self->peer_, ec.message());
          self->close_now();
        } else if (keep_alive) {
          self->wait_for_request();
        } else {
          self->linger_close();
        }
      });
}

template <class Stream>
void HttpSession<Stream>::linger_close() {
  if constexpr (kTls) {
    // close_notify, then wait (bounded) for the peer's: the TLS form of the linger below.
    lowest().expires_after(std::chrono::milliseconds(kLingerMs));
    stream_.async_shutdown(
        [self = this->shared_from_this()](const boost::system::error_code&) { self->close_now(); });
    return;
  }
  boost::system::error_code ignored;
  lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
  lowest().expires_after(std::chrono::milliseconds(kLingerMs));
  buffer_.clear();
  linger_read();
}

template <class Stream>
void HttpSession<Stream>::linger_read() {
  stream_.async_read_some(
      buffer_.prepare(kReadChunkBytes),
      [self = this->shared_from_this()](const boost::system::error_code& ec, size_t bytes) {
        self->lingered_bytes_ += bytes;
        if (ec || self->lingered_bytes_ > kLingerBytesMax) {
          self->close_now();
          return;
        }
        self->linger_read();
      });
}

template <class Stream>
void HttpSession<Stream>::close_now() {
  if (closed_) return;
  closed_ = true;
  awaiting_response_ = false;
  if (counted_in_gauge_) state_->metrics().connections->add(-1);
  handler_timer_.cancel();
  boost::system::error_code ignored;
  lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
  lowest().close();
}

// ---- HttpServer ------------------------------------------------------------------------------

HttpServer::HttpServer(asio::io_context& io, HttpServerOptions options, HttpHandler handler,
                       MetricsRegistry* metrics)
    : state_(std::make_shared<HttpServerState>(io, options, std::move(handler), metrics)) {}

HttpServer::~HttpServer() {
  close();
}

Status HttpServer::listen(const std::string& host_port) {
  return state_->listen(host_port);
}

std::string HttpServer::local_address() const {
  return state_->local_address();
}

void HttpServer::close() {
  state_->close();
}

}  // namespace chorus
