// Test helpers for the api module: a tiny blocking HTTP/1.1 client over Beast with a deadline on
// every operation (so a misbehaving server fails a test instead of hanging it), a server harness
// that runs an HttpServer on 127.0.0.1:0 with its own io_context threads, and a polling helper.
//
// TestClient is single-threaded (one per test thread); it sends requests and raw bytes exactly as
// given so tests can speak malformed or hostile HTTP. Failures are returned, never thrown.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <nlohmann/json.hpp>

#include "api/http_server.h"
#include "core/metrics.h"

namespace chorus::test {

constexpr uint64_t kClientTimeoutMsDefault = 5'000;

struct TestResponse {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  bool keep_alive = false;

  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
  std::string error() const {
    const auto doc = json();
    return doc.is_object() && doc.contains("error") && doc["error"].is_string()
               ? doc["error"].get<std::string>()
               : std::string();
  }
};

class TestClient {
 public:
  explicit TestClient(const std::string& host_port, uint64_t timeout_ms = kClientTimeoutMsDefault);
  bool connected() const { return connected_; }

  // Writes bytes as given. False on error or timeout.
  bool send(std::string_view bytes, uint64_t timeout_ms = kClientTimeoutMsDefault);
  // Writes "METHOD target HTTP/1.x", Host, the extra headers, Content-Length when there is a body
  // (or the method is PUT/POST), and the body.
  bool send_request(const std::string& method, const std::string& target,
                    const std::string& body = {},
                    const std::vector<std::pair<std::string, std::string>>& headers = {},
                    int minor_version = 1);
  // Reads one response (a 1xx counts as one). nullopt on error, close or timeout.
  std::optional<TestResponse> read_response(uint64_t timeout_ms = kClientTimeoutMsDefault);
  std::optional<TestResponse> request(
      const std::string& method, const std::string& target, const std::string& body = {},
      const std::vector<std::pair<std::string, std::string>>& headers = {});
  // Reads until the server closes the connection (true) or the deadline passes (false). Bytes read
  // meanwhile are appended to *received.
  bool wait_closed(uint64_t timeout_ms, std::string* received = nullptr);

 private:
  boost::asio::io_context io_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  bool connected_ = false;
};

// One request on a fresh connection.
std::optional<TestResponse> http_request(
    const std::string& host_port, const std::string& method, const std::string& target,
    const std::string& body = {},
    const std::vector<std::pair<std::string, std::string>>& headers = {});

// Polls `condition` until it holds or `timeout_ms` passes; returns its last value.
bool eventually(const std::function<bool()>& condition, uint64_t timeout_ms = 5'000);

// An HttpServer on 127.0.0.1:0 served by its own io_context threads; stops them on destruction.
class ServerHarness {
 public:
  ServerHarness(HttpServerOptions options, HttpHandler handler, int threads = 2);
  ~ServerHarness();
  const std::string& address() const { return address_; }
  HttpServer& server() { return *server_; }
  MetricsRegistry& metrics() { return metrics_; }

 private:
  MetricsRegistry metrics_;  // outlives io_, whose destructor may destroy connections
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<HttpServer> server_;
  std::vector<std::thread> threads_;
  std::string address_;
};

}  // namespace chorus::test
