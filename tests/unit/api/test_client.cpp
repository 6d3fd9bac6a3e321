#include "test_client.h"

#include <cctype>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>

namespace chorus::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kResponseBodyBytesMax = 64 << 20;
constexpr size_t kReadChunkBytes = 4096;

// Runs one asynchronous operation on the client's private io_context until it completes. The
// stream's own deadline guarantees completion.
template <typename Start>
boost::system::error_code run_op(asio::io_context& io, beast::tcp_stream& stream,
                                 uint64_t timeout_ms, Start start, size_t* bytes = nullptr) {
  bool done = false;
  boost::system::error_code result;
  stream.expires_after(std::chrono::milliseconds(timeout_ms));
  start([&](const boost::system::error_code& ec, size_t n) {
    done = true;
    result = ec;
    if (bytes != nullptr) *bytes = n;
  });
  io.restart();
  while (!done && io.run_one() > 0) {
  }
  return result;
}

}  // namespace

TestClient::TestClient(const std::string& host_port, uint64_t timeout_ms) : stream_(io_) {
  const size_t colon = host_port.rfind(':');
  tcp::resolver resolver(io_);
  boost::system::error_code ec;
  const auto endpoints =
      resolver.resolve(host_port.substr(0, colon), host_port.substr(colon + 1), ec);
  if (ec) return;
  ec = run_op(io_, stream_, timeout_ms, [&](auto handler) {
    stream_.async_connect(endpoints, [handler](const boost::system::error_code& e,
                                               const tcp::endpoint&) { handler(e, 0); });
  });
  if (ec) return;
  stream_.socket().set_option(tcp::no_delay(true), ec);
  connected_ = !ec;
}

bool TestClient::send(std::string_view bytes, uint64_t timeout_ms) {
  if (!connected_) return false;
  const auto ec = run_op(io_, stream_, timeout_ms, [&](auto handler) {
    asio::async_write(stream_, asio::buffer(bytes.data(), bytes.size()), handler);
  });
  return !ec;
}

bool TestClient::send_request(const std::string& method, const std::string& target,
                              const std::string& body,
                              const std::vector<std::pair<std::string, std::string>>& headers,
                              int minor_version) {
  std::string text = method + " " + target + " HTTP/1." + std::to_string(minor_version) + "\r\n";
  text += "Host: test\r\n";
  for (const auto& header : headers) text += header.first + ": " + header.second + "\r\n";
  if (!body.empty() || method == "PUT" || method == "POST") {
    text += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  text += "\r\n";
  text += body;
  return send(text);
}

std::optional<TestResponse> TestClient::read_response(uint64_t timeout_ms) {
  if (!connected_) return std::nullopt;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kResponseBodyBytesMax);
  const auto ec = run_op(io_, stream_, timeout_ms, [&](auto handler) {
    http::async_read(stream_, buffer_, parser, handler);
  });
  if (ec) return std::nullopt;
  const auto& message = parser.get();
  TestResponse response;
  response.status = static_cast<int>(message.result_int());
  response.body = message.body();
  response.keep_alive = message.keep_alive();
  for (const auto& field : message) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    response.headers[name] = std::string(field.value());
  }
  return response;
}

std::optional<TestResponse> TestClient::request(
    const std::string& method, const std::string& target, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  if (!send_request(method, target, body, headers)) return std::nullopt;
  return read_response();
}

bool TestClient::wait_closed(uint64_t timeout_ms, std::string* received) {
  if (!connected_) return true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  if (received != nullptr) {
    const auto pending = buffer_.data();
    received->append(static_cast<const char*>(pending.data()), pending.size());
  }
  buffer_.consume(buffer_.size());
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    char chunk[kReadChunkBytes];
    size_t bytes = 0;
    const auto ec = run_op(
        io_, stream_, static_cast<uint64_t>(left.count()) + 1,
        [&](auto handler) { stream_.async_read_some(asio::buffer(chunk), handler); }, &bytes);
    if (received != nullptr) received->append(chunk, bytes);
    if (ec == beast::error::timeout) return false;
    if (ec) return true;  // eof or reset: the server closed the connection
  }
}

std::optional<TestResponse> http_request(
    const std::string& host_port, const std::string& method, const std::string& target,
    const std::string& body, const std::vector<std::pair<std::string, std::string>>& headers) {
  TestClient client(host_port);
  return client.request(method, target, body, headers);
}

bool eventually(const std::function<bool()>& condition, uint64_t timeout_ms) {
  // Polling interval of a wait-with-deadline, not a synchronisation sleep.
  constexpr auto kPollInterval = std::chrono::milliseconds(5);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return condition();
    std::this_thread::sleep_for(kPollInterval);
  }
  return true;
}

ServerHarness::ServerHarness(HttpServerOptions options, HttpHandler handler, int threads)
    : work_(asio::make_work_guard(io_)) {
  server_ = std::make_unique<HttpServer>(io_, options, std::move(handler), &metrics_);
  const Status status = server_->listen("127.0.0.1:0");
  REQUIRE(status.ok());
  address_ = server_->local_address();
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
}

ServerHarness::~ServerHarness() {
  server_->close();
  work_.reset();
  io_.stop();
  for (auto& thread : threads_) thread.join();
}

}  // namespace chorus::test
