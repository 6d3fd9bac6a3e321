// Helpers for the net tests: an io_context run by real threads, waiting for a callback with a
// deadline, polling a condition with a deadline, and reading transport metrics.
//
// Declare objects in this order so every callback outlives what it touches: MetricsRegistry, then
// IoRunner, then Transports. Callbacks capture test state through shared_ptr only.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/metrics.h"
#include "core/status.h"
#include "net/transport.h"

namespace chorus::test {

// Upper bound on any single wait in these tests; failing tests fail by this, never hang.
constexpr std::chrono::milliseconds kWaitMax{10'000};

class IoRunner {
 public:
  explicit IoRunner(int threads = 2) : work_(io_.get_executor()) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~IoRunner() { stop(); }
  IoRunner(const IoRunner&) = delete;
  IoRunner& operator=(const IoRunner&) = delete;

  boost::asio::io_context& io() { return io_; }
  void stop() {
    work_.reset();
    io_.stop();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

// A std::thread that joins when it goes out of scope (a failed REQUIRE must not terminate()).
class JoiningThread {
 public:
  explicit JoiningThread(std::function<void()> body) : thread_(std::move(body)) {}
  ~JoiningThread() { join(); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::thread thread_;
};

// A pending call's outcome, collected from its callback.
class PendingReply {
 public:
  PendingReply() : promise_(std::make_shared<std::promise<Result<std::string>>>()) {
    future_ = promise_->get_future();
  }
  RpcCallback callback() {
    auto promise = promise_;
    return [promise](Result<std::string> reply) { promise->set_value(std::move(reply)); };
  }
  bool ready_within(std::chrono::milliseconds wait) {
    return future_.wait_for(wait) == std::future_status::ready;
  }
  // The reply, or a test-side Timeout status when the callback did not run within kWaitMax.
  Result<std::string> get() {
    if (!ready_within(kWaitMax)) return Status::Timeout("test: callback did not run");
    return future_.get();
  }

 private:
  std::shared_ptr<std::promise<Result<std::string>>> promise_;
  std::future<Result<std::string>> future_;
};

inline Result<std::string> call_and_wait(Transport& transport, const std::string& peer,
                                         uint16_t method, std::string payload,
                                         uint64_t timeout_ms = 5000) {
  PendingReply reply;
  transport.call(peer, method, std::move(payload), timeout_ms, reply.callback());
  return reply.get();
}

// Polls `condition` until it holds or `wait` passes. Polling (with a short pause between checks so
// the io threads get the cores) is how these tests wait; nothing relies on a sleep being long
// enough.
inline bool poll_until(const std::function<bool()>& condition,
                       std::chrono::milliseconds wait = kWaitMax) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

inline uint64_t calls_total(MetricsRegistry& metrics, const std::string& result) {
  return metrics.counter("chorus_rpc_calls_total", "", "result=\"" + result + "\"")->value();
}

inline int64_t connections(MetricsRegistry& metrics) {
  return metrics.gauge("chorus_rpc_connections", "")->value();
}

inline uint64_t call_seconds_count(MetricsRegistry& metrics) {
  return metrics.histogram("chorus_rpc_call_seconds", "")->count();
}

// An echo server: answers every request with "<method>:<payload>".
inline RpcHandler echo_handler() {
  return [](uint16_t method, std::string payload, Responder respond) {
    respond(Status::OK(), std::to_string(method) + ":" + payload);
  };
}

}  // namespace chorus::test
