// HttpServer: a small HTTP/1.1 server (Boost.Beast) that hands each complete request to one
// handler.
//
// It runs on a caller-owned io_context that any number of threads may run; each connection's state
// lives on its own strand, so connections never block one another (DESIGN.md §8: hundreds of
// keep-alive connections without starvation). Every accepted socket gets TCP_NODELAY. A connection
// carries one request at a time: the next is read only after the response is written, and
// keep-alive / "Connection: close" are honoured.
//
// Everything is bounded (HttpServerOptions). Protocol problems are answered with a JSON error
// {"error": code, "message": ...} and the connection is closed where the byte stream can no longer
// be trusted: header too large -> 431 "header_too_large"; body too large (declared or chunked) ->
// 413 "too_large"; malformed HTTP -> 400 "bad_request"; more than connections_max connections ->
// 429 "overloaded". A client that misses the header/body deadline or idles past idle_timeout_ms is
// disconnected without an answer. A handler that has not responded after handler_timeout_ms gets
// 504 "timeout" sent on its behalf; its late response is dropped. With a TLS context
// (HttpServerOptions::tls_context) the same server speaks HTTPS only.
//
// Thread-safety: listen() is called once, before or while the io_context runs; local_address() and
// close() may be called from any thread. Ownership: the server owns its acceptor and connections;
// connections keep shared state alive, so destroying the server (which closes it) while the
// io_context still holds their handlers is safe. The handler and the metrics registry must stay
// valid while the io_context runs the server's handlers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>

#include "core/limits.h"
#include "core/metrics.h"
#include "core/status.h"

namespace chorus {

struct HttpRequest {
  std::string method;         // "GET", "PUT", ... as sent
  std::string target;         // the request target as sent: path and query
  std::string path;           // target up to '?', raw (not percent-decoded)
  std::string query;          // after '?', raw; empty if none
  std::string content_type;   // the Content-Type header, empty if absent
  std::string authorization;  // the Authorization header, empty if absent; never logged
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, e.g. Allow on 405
};

// Call exactly once, from any thread. Later calls, and calls after the connection closed, are
// ignored.
using HttpRespond = std::function<void(HttpResponse)>;
// Invoked on the connection's strand with each complete request; must not block.
using HttpHandler = std::function<void(HttpRequest, HttpRespond)>;

struct HttpServerOptions {
  // Each connection costs a socket, a strand and up to header + body bytes of buffer.
  size_t connections_max = 1024;
  size_t header_bytes_max = 16 * 1024;
  // The node derives it from --max-value-bytes the same way: base64 growth (4/3) plus room for
  // the JSON envelope. Values with many JSON-escaped characters should be sent as base64 or raw.
  size_t body_bytes_max = kValueBytesMaxDefault / 3 * 4 + 64 * 1024;
  uint64_t header_timeout_ms = 10'000;   // whole header, from accept or first byte (slowloris)
  uint64_t body_timeout_ms = 30'000;     // whole body, from the end of the header
  uint64_t idle_timeout_ms = 60'000;     // keep-alive idle between requests
  uint64_t handler_timeout_ms = 30'000;  // safety net if a handler never responds: 504
  uint64_t write_timeout_ms = 30'000;    // a client that does not read its response is dropped
  // Set: every connection is HTTPS, made with the context this returns at accept (so a reload
  // that swaps the context applies to new connections; live ones keep theirs). The TLS handshake
  // runs under header_timeout_ms; a failed one (plain HTTP, a stalled client) is closed without
  // an answer and counted. Unset: plain HTTP. Called on the accept strand; must not block.
  std::function<std::shared_ptr<boost::asio::ssl::context>()> tls_context;
};

class HttpServerState;  // defined in http_server.cpp; shared with the live connections

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, HttpServerOptions options, HttpHandler handler,
             MetricsRegistry* metrics /*nullable*/);
  ~HttpServer();  // close()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds "host:port" ("[::1]:0" for IPv6; port 0 picks a free port) and starts accepting. Returns
  // InvalidArgument for a malformed address or a second call, IOError when resolving or binding
  // fails (the server then stays closed to connections).
  Status listen(const std::string& host_port);

  // "host:port" actually bound (with the real port when 0 was asked); empty before listen().
  std::string local_address() const;

  // Stops accepting and closes every connection; pending handler responses are dropped. Idempotent;
  // returns without waiting (the work runs on the io_context).
  void close();

 private:
  std::shared_ptr<HttpServerState> state_;
};

}  // namespace chorus
