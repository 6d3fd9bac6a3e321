// Transport over real loopback sockets: round trips, many calls in flight, error propagation,
// deadlines, connection loss, reconnects and shutdown.
#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include "net/frame.h"
#include "net/transport.h"
#include "net_test_util.h"

namespace chorus {
namespace {

using test::call_and_wait;
using test::IoRunner;
using test::PendingReply;
using test::poll_until;

// A handler that keeps every request unanswered until the test answers it.
struct HeldRequests {
  std::mutex mu;
  std::condition_variable arrived;
  std::vector<std::pair<std::string, Responder>> requests;

  size_t count() {
    std::lock_guard<std::mutex> lock(mu);
    return requests.size();
  }
  // Waits until `n` requests are held or the deadline passes; returns whether they all arrived.
  bool wait_for(size_t n, std::chrono::milliseconds wait = test::kWaitMax) {
    std::unique_lock<std::mutex> lock(mu);
    return arrived.wait_for(lock, wait, [&] { return requests.size() >= n; });
  }
  std::vector<std::pair<std::string, Responder>> take() {
    std::lock_guard<std::mutex> lock(mu);
    return std::move(requests);
  }
};

RpcHandler hold_handler(const std::shared_ptr<HeldRequests>& held) {
  return [held](const std::string&, uint16_t, std::string payload, Responder respond) {
    std::lock_guard<std::mutex> lock(held->mu);
    held->requests.emplace_back(std::move(payload), std::move(respond));
    held->arrived.notify_all();
  };
}

// A port on 127.0.0.1 that nothing listens on (bound once by the kernel's choice, then released).
uint16_t unused_port(boost::asio::io_context& io) {
  boost::asio::ip::tcp::acceptor acceptor(
      io, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

}  // namespace

TEST_CASE("echo round trip over one persistent connection") {
  MetricsRegistry client_metrics;
  MetricsRegistry server_metrics;
  IoRunner runner;
  Transport server(runner.io(), {}, &server_metrics);
  server.set_handler(test::echo_handler());
  REQUIRE(server.listen("127.0.0.1:0").ok());
  const std::string address = server.local_address();
  CHECK(address.rfind("127.0.0.1:", 0) == 0);
  CHECK(address != "127.0.0.1:0");

  Transport client(runner.io(), {}, &client_metrics);
  Result<std::string> reply = call_and_wait(client, address, 7, "hello");
  REQUIRE(reply.ok());
  CHECK(*reply == "7:hello");

  const std::string binary("\0\x01\xff payload", 11);
  reply = call_and_wait(client, address, 65535, binary);
  REQUIRE(reply.ok());
  CHECK(*reply == "65535:" + binary);

  reply = call_and_wait(client, address, 0, "");
  REQUIRE(reply.ok());
  CHECK(*reply == "0:");

  const std::string big(1 << 20, 'v');  // several reads and writes per frame
  reply = call_and_wait(client, address, 1, big);
  REQUIRE(reply.ok());
  CHECK(*reply == "1:" + big);

  CHECK(test::calls_total(client_metrics, "ok") == 4);
  CHECK(test::call_seconds_count(client_metrics) == 4);
  CHECK(test::connections(client_metrics) == 1);  // every call used the same connection
  CHECK(test::connections(server_metrics) == 1);
  CHECK(client_metrics.render().find("chorus_rpc_calls_total{result=\"ok\"} 4") !=
        std::string::npos);
}

TEST_CASE("2000 calls in flight on one connection - answered out of order from another thread") {
  constexpr size_t kCalls = 2000;
  MetricsRegistry client_metrics;
  IoRunner runner;
  auto held = std::make_shared<HeldRequests>();
  Transport server(runner.io(), {}, nullptr);
  server.set_handler(hold_handler(held));
  REQUIRE(server.listen("127.0.0.1:0").ok());
  Transport client(runner.io(), {}, &client_metrics);

  // Answers only once every request has arrived, so all of them are in flight together.
  std::atomic<bool> all_arrived{false};
  test::JoiningThread answerer([&] {
    all_arrived = held->wait_for(kCalls);
    auto requests = held->take();
    std::shuffle(requests.begin(), requests.end(), std::mt19937(42));
    for (auto& [payload, respond] : requests) respond(Status::OK(), "re:" + payload);
  });

  struct Replies {
    std::mutex mu;
    std::vector<std::optional<Result<std::string>>> by_call{kCalls};
    size_t done = 0;
    std::promise<void> all_done;
  };
  auto replies = std::make_shared<Replies>();
  for (size_t i = 0; i < kCalls; ++i) {
    client.call(server.local_address(), 1, "p" + std::to_string(i), 20'000,
                [replies, i](Result<std::string> reply) {
                  std::lock_guard<std::mutex> lock(replies->mu);
                  replies->by_call[i] = std::move(reply);
                  if (++replies->done == kCalls) replies->all_done.set_value();
                });
  }
  std::future<void> all_done = replies->all_done.get_future();
  REQUIRE(all_done.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
  answerer.join();
  CHECK(all_arrived);

  std::lock_guard<std::mutex> lock(replies->mu);
  size_t matching = 0;
  for (size_t i = 0; i < kCalls; ++i) {
    const auto& reply = replies->by_call[i];
    if (reply && reply->ok() && reply->value() == "re:p" + std::to_string(i)) ++matching;
  }
  CHECK(matching == kCalls);
  CHECK(test::connections(client_metrics) == 1);
  CHECK(test::calls_total(client_metrics, "ok") == kCalls);
}

TEST_CASE("the remote handler's error status reaches the caller with code and message") {
  MetricsRegistry client_metrics;
  IoRunner runner;
  Transport server(runner.io(), {}, nullptr);
  server.set_handler(
      [](const std::string&, uint16_t method, std::string payload, Responder respond) {
        respond(make_status(static_cast<Status::Code>(method), "failed: " + payload), "ignored");
      });
  REQUIRE(server.listen("127.0.0.1:0").ok());
  Transport client(runner.io(), {}, &client_metrics);

  const Status::Code codes[] = {Status::Code::kNotFound,    Status::Code::kCorruption,
                                Status::Code::kIOError,     Status::Code::kInvalidArgument,
                                Status::Code::kUnavailable, Status::Code::kTimeout,
                                Status::Code::kTooLarge,    Status::Code::kBusy};
  for (Status::Code code : codes) {
    INFO(Status::code_name(code));
    Result<std::string> reply =
        call_and_wait(client, server.local_address(), static_cast<uint16_t>(code), "key k");
    REQUIRE_FALSE(reply.ok());
    CHECK(reply.status().code() == code);
    CHECK(reply.status().message() == "failed: key k");
  }
  CHECK(test::calls_total(client_metrics, "error") == std::size(codes));
  CHECK(test::calls_total(client_metrics, "unavailable") == 0);
}

TEST_CASE("a server without a handler answers Unavailable") {
  IoRunner runner;
  Transport server(runner.io(), {}, nullptr);
  REQUIRE(server.listen("127.0.0.1:0").ok());
  Transport client(runner.io(), {}, nullptr);
  Result<std::string> reply = call_and_wait(client, server.local_address(), 1, "x");
  CHECK(reply.status().code() == Status::Code::kUnavailable);
}

TEST_CASE("a call times out when the handler never answers - the late answer is dropped") {
  MetricsRegistry client_metrics;
  IoRunner runner;
  auto held = std::make_shared<HeldRequests>();
  Transport server(runner.io(), {}, nullptr);
  server.set_handler([held, echo = test::echo_handler()](const std::string& caller, uint16_t method,
                                                         std::string payload, Responder respond) {
    if (method == 1)
      return hold_handler(held)(caller, method, std::move(payload), std::move(respond));
    echo(caller, method, std::move(payload), std::move(respond));
  });
  REQUIRE(server.listen("127.0.0.1:0").ok());
  Transport client(runner.io(), {}, &client_metrics);

  const auto start = std::chrono::steady_clock::now();
  Result<std::string> reply = call_and_wait(client, server.local_address(), 1, "slow", 100);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE(reply.status().code() == Status::Code::kTimeout);
  CHECK(elapsed >= std::chrono::milliseconds(100));
  CHECK(elapsed < std::chrono::milliseconds(5000));

  // Answer now: the reply reaches the client after its call is gone and must be ignored.
  REQUIRE(held->wait_for(1));
  auto requests = held->take();
  requests[0].second(Status::OK(), "late");
  requests[0].second(Status::OK(), "twice");  // a second answer is dropped, not sent

  reply = call_and_wait(client, server.local_address(), 2, "after");
  REQUIRE(reply.ok());
  CHECK(*reply == "2:after");
  CHECK(test::calls_total(client_metrics, "timeout") == 1);
  CHECK(test::calls_total(client_metrics, "ok") == 1);
  CHECK(test::connections(client_metrics) == 1);
}

TEST_CASE("calls time out independently - each at its own deadline") {
  IoRunner runner;
  auto held = std::make_shared<HeldRequests>();
  Transport server(runner.io(), {}, nullptr);
  server.set_handler(hold_handler(held));
  REQUIRE(server.listen("127.0.0.1:0").ok());
  Transport client(runner.io(), {}, nullptr);

  PendingReply long_call;
  PendingReply short_call;
  client.call(server.local_address(), 1, "long", 60'000, long_call.callback());
  client.call(server.local_address(), 1, "short", 50, short_call.callback());
  Result<std::string> reply = short_call.get();
  CHECK(reply.status().code() == Status::Code::kTimeout);
  CHECK_FALSE(long_call.ready_within(std::chrono::milliseconds(0)));

  REQUIRE(held->wait_for(2));
  for (auto& [payload, respond] : held->take()) respond(Status::OK(), "done:" + payload);
  reply = long_call.get();
  REQUIRE(reply.ok());
  CHECK(*reply == "done:long");
}

TEST_CASE("Unavailable at once when nothing listens - then fail-fast during backoff") {
  MetricsRegistry metrics;
  IoRunner runner;
  TransportOptions options;
  options.connect_timeout_ms = 5000;
  options.reconnect_backoff_min_ms = 30'000;  // stays in backoff for the whole test
  options.reconnect_backoff_max_ms = 30'000;
  Transport client(runner.io(), options, &metrics);
  const std::string peer = "127.0.0.1:" + std::to_string(unused_port(runner.io()));

  auto start = std::chrono::steady_clock::now();
  Result<std::string> reply = call_and_wait(client, peer, 1, "x", 10'000);
  CHECK(reply.status().code() == Status::Code::kUnavailable);
  // Refused, not waited out: well below both the connect timeout and the call deadline.
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(2000));

  start = std::chrono::steady_clock::now();
  reply = call_and_wait(client, peer, 1, "x", 10'000);
  CHECK(reply.status().code() == Status::Code::kUnavailable);
  CHECK(reply.status().message().find("backoff") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(2000));
  CHECK(test::calls_total(metrics, "unavailable") == 2);
  CHECK(test::connections(metrics) == 0);
}

TEST_CASE("connection loss fails in-flight calls - calls succeed again once the peer is back") {
  IoRunner runner;
  TransportOptions client_options;
  client_options.reconnect_backoff_min_ms = 10;
  client_options.reconnect_backoff_max_ms = 50;
  Transport client(runner.io(), client_options, nullptr);

  auto held = std::make_shared<HeldRequests>();
  auto server = std::make_unique<Transport>(runner.io(), TransportOptions{}, nullptr);
  server->set_handler([held, echo = test::echo_handler()](const std::string& caller,
                                                          uint16_t method, std::string payload,
                                                          Responder respond) {
    if (method == 1)
      return hold_handler(held)(caller, method, std::move(payload), std::move(respond));
    echo(caller, method, std::move(payload), std::move(respond));
  });
  REQUIRE(server->listen("127.0.0.1:0").ok());
  const std::string address = server->local_address();
  REQUIRE(call_and_wait(client, address, 2, "up").ok());

  PendingReply in_flight;
  client.call(address, 1, "held", 60'000, in_flight.callback());
  REQUIRE(held->wait_for(1));
  server->close();
  server.reset();
  // Dropped with the connection, long before its deadline.
  CHECK(in_flight.get().status().code() == Status::Code::kUnavailable);

  CHECK(poll_until([&] {
    return call_and_wait(client, address, 2, "down").status().code() == Status::Code::kUnavailable;
  }));

  auto restarted = std::make_unique<Transport>(runner.io(), TransportOptions{}, nullptr);
  restarted->set_handler(test::echo_handler());
  // The old acceptor is closed by a handler on the io_context; poll until the port is free.
  CHECK(poll_until([&] { return restarted->listen(address).ok(); }));
  CHECK(poll_until([&] {
    Result<std::string> reply = call_and_wait(client, address, 2, "back");
    return reply.ok() && *reply == "2:back";
  }));
}

TEST_CASE("close() completes pending calls with Unavailable - and later calls too") {
  constexpr size_t kCalls = 10;
  MetricsRegistry client_metrics;
  IoRunner runner;
  auto held = std::make_shared<HeldRequests>();
  Transport server(runner.io(), {}, nullptr);
  server.set_handler(hold_handler(held));
  REQUIRE(server.listen("127.0.0.1:0").ok());
  Transport client(runner.io(), {}, &client_metrics);

  std::vector<PendingReply> replies(kCalls);
  for (PendingReply& reply : replies) {
    client.call(server.local_address(), 1, "x", 60'000, reply.callback());
  }
  REQUIRE(held->wait_for(kCalls));
  client.close();
  client.close();  // idempotent
  for (PendingReply& reply : replies) {
    CHECK(reply.get().status().code() == Status::Code::kUnavailable);
  }
  CHECK(call_and_wait(client, server.local_address(), 1, "x").status().code() ==
        Status::Code::kUnavailable);
  CHECK(poll_until([&] { return test::connections(client_metrics) == 0; }));
  // The server sees the connection go and answers into the void without harm.
  for (auto& [payload, respond] : held->take()) respond(Status::OK(), payload);
}

TEST_CASE("close() on the server stops accepting and closes inbound connections") {
  MetricsRegistry server_metrics;
  IoRunner runner;
  Transport server(runner.io(), {}, &server_metrics);
  server.set_handler(test::echo_handler());
  REQUIRE(server.listen("127.0.0.1:0").ok());
  const std::string address = server.local_address();
  Transport client(runner.io(), {}, nullptr);
  REQUIRE(call_and_wait(client, address, 1, "x").ok());
  REQUIRE(test::connections(server_metrics) == 1);

  server.close();
  CHECK(poll_until([&] { return test::connections(server_metrics) == 0; }));
  CHECK(server.listen("127.0.0.1:0").code() == Status::Code::kUnavailable);
  Transport fresh_client(runner.io(), {}, nullptr);
  CHECK(call_and_wait(fresh_client, address, 1, "x").status().code() == Status::Code::kUnavailable);
}

TEST_CASE("listen() reports bad addresses and ports in use") {
  IoRunner runner;
  Transport first(runner.io(), {}, nullptr);
  REQUIRE(first.listen("127.0.0.1:0").ok());
  CHECK(first.listen("127.0.0.1:0").code() == Status::Code::kInvalidArgument);

  Transport second(runner.io(), {}, nullptr);
  CHECK(second.listen(first.local_address()).code() == Status::Code::kIOError);
  CHECK(second.listen("127.0.0.1").code() == Status::Code::kInvalidArgument);
  CHECK(second.listen("127.0.0.1:99999").code() == Status::Code::kInvalidArgument);
  CHECK(second.local_address().empty());

  PendingReply reply;
  second.call("no-port", 1, "x", 1000, reply.callback());
  CHECK(reply.get().status().code() == Status::Code::kInvalidArgument);
}

}  // namespace chorus

namespace chorus {
namespace {

// Accepts connections and never reads from them, with a small receive buffer: what a stopped
// process (SIGSTOP) or a partition looks like to the sender once the buffers are full. It runs on
// its own io_context and thread, so nothing of it outlives its destructor.
class DeafPeer {
 public:
  DeafPeer() : acceptor_(io_) {
    const boost::asio::ip::tcp::endpoint endpoint(boost::asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(boost::asio::socket_base::receive_buffer_size(4096));
    acceptor_.bind(endpoint);
    acceptor_.listen();
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~DeafPeer() {
    io_.stop();
    thread_.join();
  }
  std::string address() const {
    return "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }
  int accepted() const { return accepted_.load(); }

 private:
  void accept() {
    auto socket = std::make_shared<boost::asio::ip::tcp::socket>(io_);
    acceptor_.async_accept(*socket, [this, socket](const boost::system::error_code& ec) {
      if (ec) return;
      sockets_.push_back(socket);
      ++accepted_;
      accept();
    });
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::vector<std::shared_ptr<boost::asio::ip::tcp::socket>> sockets_;  // its thread only
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

TEST_CASE("a connection whose writes make no progress is closed and its calls fail over") {
  MetricsRegistry metrics;
  IoRunner runner;
  TransportOptions options;
  options.stall_timeout_ms = 300;
  options.reconnect_backoff_min_ms = 10;
  options.reconnect_backoff_max_ms = 20;
  Transport client(runner.io(), options, &metrics);
  DeafPeer deaf;
  // Enough bytes to fill both sides' socket buffers: the writes stall.
  const std::string payload(4 << 20, 'x');
  std::vector<std::unique_ptr<PendingReply>> replies;
  for (int i = 0; i < 4; ++i) {
    replies.push_back(std::make_unique<PendingReply>());
    client.call(deaf.address(), 1, payload, 60'000, replies.back()->callback());
  }
  // Not held until their 60 s deadlines: the stalled connection is closed and they fail with why.
  for (auto& reply : replies) {
    const Result<std::string> r = reply->get();
    CHECK(r.status().code() == Status::Code::kUnavailable);
    CHECK(r.status().message().find("no progress sending") != std::string::npos);
  }
  CHECK(test::connections(metrics) == 0);
  // Later calls open a fresh connection (once the short backoff is over; the link never replied)
  // and, the peer still deaf, fail the same way.
  std::string last;
  CHECK(poll_until([&] {
    PendingReply next;
    client.call(deaf.address(), 1, payload, 60'000, next.callback());
    last = next.get().status().message();
    return deaf.accepted() >= 2 && last.find("no progress sending") != std::string::npos;
  }));
  INFO(last);
}

TEST_CASE("a quiet connection with nothing to send is not closed for being quiet") {
  MetricsRegistry metrics;
  IoRunner runner;
  TransportOptions options;
  options.stall_timeout_ms = 100;
  Transport client(runner.io(), options, &metrics);
  Transport server(runner.io(), TransportOptions{}, nullptr);
  server.set_handler(test::echo_handler());
  REQUIRE(server.listen("127.0.0.1:0").ok());
  REQUIRE(call_and_wait(client, server.local_address(), 2, "a").ok());
  // Idle for several stall timeouts: the same connection still answers.
  CHECK_FALSE(
      poll_until([&] { return test::connections(metrics) != 1; }, std::chrono::milliseconds(600)));
  REQUIRE(call_and_wait(client, server.local_address(), 2, "b").ok());
  CHECK(test::connections(metrics) == 1);
}

}  // namespace
}  // namespace chorus
