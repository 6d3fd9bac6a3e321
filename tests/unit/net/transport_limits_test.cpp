// Transport bounds: frame size (both directions), calls pending per peer, inbound connections,
// connect timeout.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <mutex>

#include "core/coding.h"
#include "net/frame.h"
#include "net/transport.h"
#include "net_test_util.h"

namespace chorus {
namespace {

using test::call_and_wait;
using test::IoRunner;
using test::PendingReply;
using test::poll_until;

boost::asio::ip::tcp::endpoint loopback_endpoint(const std::string& address) {
  const uint16_t port = static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
  return {boost::asio::ip::make_address("127.0.0.1"), port};
}

}  // namespace

TEST_CASE("a frame header above the limit closes that connection - others keep working") {
  MetricsRegistry server_metrics;
  IoRunner runner;
  TransportOptions options;
  options.frame_bytes_max = 1024;
  Transport server(runner.io(), options, &server_metrics);
  server.set_handler(test::echo_handler());
  REQUIRE(server.listen("127.0.0.1:0").ok());

  boost::asio::ip::tcp::socket raw(runner.io());
  raw.connect(loopback_endpoint(server.local_address()));
  std::string header;
  put_fixed32(&header, 4096);
  header += encode_request(1, 1, "rest of the bogus frame").substr(kFrameLengthBytes);
  boost::asio::write(raw, boost::asio::buffer(header));

  // The server must close: the read ends with EOF (or a reset), not with data or a hang.
  auto closed = std::make_shared<std::promise<boost::system::error_code>>();
  auto buffer = std::make_shared<std::array<char, 64>>();
  raw.async_read_some(
      boost::asio::buffer(*buffer),
      [closed, buffer](const boost::system::error_code& ec, size_t) { closed->set_value(ec); });
  auto closed_future = closed->get_future();
  REQUIRE(closed_future.wait_for(test::kWaitMax) == std::future_status::ready);
  const boost::system::error_code ec = closed_future.get();
  CHECK((ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset));

  Transport client(runner.io(), options, nullptr);
  Result<std::string> reply = call_and_wait(client, server.local_address(), 3, "still here");
  REQUIRE(reply.ok());
  CHECK(*reply == "3:still here");
  CHECK(poll_until([&] { return test::connections(server_metrics) == 1; }));
  boost::system::error_code close_ec;
  raw.close(close_ec);
}

TEST_CASE("call() refuses payloads that do not fit a frame with TooLarge") {
  MetricsRegistry client_metrics;
  IoRunner runner;
  TransportOptions options;
  options.frame_bytes_max = 1024;
  Transport server(runner.io(), options, nullptr);
  server.set_handler([](const std::string&, uint16_t, std::string payload, Responder respond) {
    respond(Status::OK(), std::to_string(payload.size()));
  });
  REQUIRE(server.listen("127.0.0.1:0").ok());
  Transport client(runner.io(), options, &client_metrics);

  const size_t fits = 1024 - kRequestHeaderBytes;
  Result<std::string> reply =
      call_and_wait(client, server.local_address(), 1, std::string(fits, 'x'));
  REQUIRE(reply.ok());
  CHECK(*reply == std::to_string(fits));

  reply = call_and_wait(client, server.local_address(), 1, std::string(fits + 1, 'x'));
  CHECK(reply.status().code() == Status::Code::kTooLarge);
  reply = call_and_wait(client, server.local_address(), 1, std::string(1 << 20, 'x'));
  CHECK(reply.status().code() == Status::Code::kTooLarge);
  CHECK(test::calls_total(client_metrics, "error") == 2);
}

TEST_CASE("a response that does not fit a frame reaches the caller as TooLarge") {
  IoRunner runner;
  TransportOptions options;
  options.frame_bytes_max = 1024;
  Transport server(runner.io(), options, nullptr);
  server.set_handler([](const std::string&, uint16_t, std::string, Responder respond) {
    respond(Status::OK(), std::string(2000, 'r'));
  });
  REQUIRE(server.listen("127.0.0.1:0").ok());
  Transport client(runner.io(), {}, nullptr);
  Result<std::string> reply = call_and_wait(client, server.local_address(), 1, "x");
  CHECK(reply.status().code() == Status::Code::kTooLarge);
}

TEST_CASE("an error message longer than the frame allows is cut - not fatal to the connection") {
  MetricsRegistry client_metrics;
  IoRunner runner;
  TransportOptions options;
  options.frame_bytes_max = 1024;
  Transport server(runner.io(), options, nullptr);
  server.set_handler(
      [](const std::string&, uint16_t method, std::string payload, Responder respond) {
        if (method == 2) return respond(Status::OK(), payload);
        respond(Status::InvalidArgument(std::string(5000, 'm')), {});
      });
  REQUIRE(server.listen("127.0.0.1:0").ok());
  Transport client(runner.io(), options, &client_metrics);

  Result<std::string> reply = call_and_wait(client, server.local_address(), 1, "x");
  CHECK(reply.status().code() == Status::Code::kInvalidArgument);
  CHECK(reply.status().message() == std::string(1024 - kResponseHeaderBytes, 'm'));
  reply = call_and_wait(client, server.local_address(), 2, "same connection");
  REQUIRE(reply.ok());
  CHECK(*reply == "same connection");
  CHECK(test::connections(client_metrics) == 1);
}

TEST_CASE("Busy once pending_calls_per_peer_max calls are queued or in flight") {
  constexpr size_t kPendingMax = 4;
  MetricsRegistry client_metrics;
  IoRunner runner;
  struct Held {
    std::mutex mu;
    std::vector<Responder> responders;
  };
  auto held = std::make_shared<Held>();
  Transport server(runner.io(), {}, nullptr);
  server.set_handler(
      [held](const std::string&, uint16_t method, std::string payload, Responder respond) {
        if (method == 2) return respond(Status::OK(), payload);
        std::lock_guard<std::mutex> lock(held->mu);
        held->responders.push_back(std::move(respond));
      });
  REQUIRE(server.listen("127.0.0.1:0").ok());
  TransportOptions options;
  options.pending_calls_per_peer_max = kPendingMax;
  Transport client(runner.io(), options, &client_metrics);

  std::vector<PendingReply> pending(kPendingMax);
  for (PendingReply& reply : pending) {
    client.call(server.local_address(), 1, "held", 60'000, reply.callback());
  }
  REQUIRE(poll_until([&] {
    std::lock_guard<std::mutex> lock(held->mu);
    return held->responders.size() == kPendingMax;
  }));

  Result<std::string> refused = call_and_wait(client, server.local_address(), 2, "one more");
  CHECK(refused.status().code() == Status::Code::kBusy);
  CHECK(test::calls_total(client_metrics, "busy") == 1);

  std::vector<Responder> responders;
  {
    std::lock_guard<std::mutex> lock(held->mu);
    responders.swap(held->responders);
  }
  for (Responder& respond : responders) respond(Status::OK(), "answered");
  for (PendingReply& reply : pending) {
    Result<std::string> result = reply.get();
    REQUIRE(result.ok());
    CHECK(*result == "answered");
  }
  // Completed calls free their slots.
  Result<std::string> reply = call_and_wait(client, server.local_address(), 2, "again");
  REQUIRE(reply.ok());
  CHECK(*reply == "again");
}

TEST_CASE("inbound_connections_max is enforced - a freed slot is usable again") {
  MetricsRegistry server_metrics;
  IoRunner runner;
  TransportOptions server_options;
  server_options.inbound_connections_max = 2;
  Transport server(runner.io(), server_options, &server_metrics);
  server.set_handler(test::echo_handler());
  REQUIRE(server.listen("127.0.0.1:0").ok());
  const std::string address = server.local_address();

  TransportOptions client_options;
  client_options.reconnect_backoff_min_ms = 10;
  client_options.reconnect_backoff_max_ms = 50;
  auto first = std::make_unique<Transport>(runner.io(), client_options, nullptr);
  Transport second(runner.io(), client_options, nullptr);
  Transport third(runner.io(), client_options, nullptr);
  REQUIRE(call_and_wait(*first, address, 1, "a").ok());
  REQUIRE(call_and_wait(second, address, 1, "b").ok());

  // Accepted by the kernel, closed by the server at once: the call fails, it does not time out.
  Result<std::string> refused = call_and_wait(third, address, 1, "c", 10'000);
  CHECK(refused.status().code() == Status::Code::kUnavailable);
  CHECK(test::connections(server_metrics) == 2);

  first->close();
  first.reset();
  CHECK(poll_until([&] {
    Result<std::string> reply = call_and_wait(third, address, 1, "c", 10'000);
    return reply.ok() && *reply == "1:c";
  }));
  CHECK(test::connections(server_metrics) == 2);
}

TEST_CASE("a connect that hangs fails with Unavailable after connect_timeout_ms") {
  IoRunner runner;
  // A listener that never accepts, with its accept queue filled: Linux then drops further SYNs, so
  // the next connect neither completes nor fails by itself.
  boost::asio::ip::tcp::acceptor acceptor(runner.io());
  acceptor.open(boost::asio::ip::tcp::v4());
  acceptor.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
  acceptor.listen(0);
  const auto endpoint = acceptor.local_endpoint();
  std::vector<std::unique_ptr<boost::asio::ip::tcp::socket>> fillers;
  for (int i = 0; i < 2; ++i) {
    auto socket = std::make_unique<boost::asio::ip::tcp::socket>(runner.io());
    // Asynchronous so the test does not block on the connect that is meant to hang; its outcome
    // does not matter, only that it occupies the queue.
    socket->async_connect(endpoint, [](const boost::system::error_code&) {});
    fillers.push_back(std::move(socket));
  }
  TransportOptions options;
  options.connect_timeout_ms = 200;
  Transport client(runner.io(), options, nullptr);
  const std::string peer = "127.0.0.1:" + std::to_string(endpoint.port());
  const auto start = std::chrono::steady_clock::now();
  Result<std::string> reply = call_and_wait(client, peer, 1, "x", 10'000);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(reply.status().code() == Status::Code::kUnavailable);
  CHECK(elapsed >= std::chrono::milliseconds(200));
  CHECK(elapsed < std::chrono::milliseconds(5000));
  CHECK(reply.status().message().find("timed out") != std::string::npos);
}

}  // namespace chorus
